//! Starts a local Amazon SES v2 emulator, the npm package `aws-ses-v2-local` (which `make tools`
//! installs into `.tools/ses`), on a loopback port.
//!
//! It accepts SES v2 `SendEmail` (`POST /v2/email/outbound-emails`) from the AWS SDK (any
//! `Authorization: AWS…` header passes; signatures are not checked), keeps every mail in memory,
//! shows them at `/` and returns them as JSON at `GET /store`.
//!
//! Node runs under a small `sh` guard whose standard input is a pipe from this process: when
//! this process exits, however it exits, the pipe closes and the guard stops Node. The guard
//! also exits when Node does, so a failed start is reported at once, with Node's output. It is
//! ready when the CLI says it listens (not when the port answers: that could be another server).
//! Nothing is left running.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use crate::guard::Guarded;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Where `make tools` installs the npm package, relative to the workspace root.
pub const INSTALL_DIR: &str = ".tools/ses/node_modules/aws-ses-v2-local";
/// Overrides the package directory (the one holding `dist/cli.js`).
pub const DIR_VARIABLE: &str = "SES_LOCAL_DIR";
/// The port `make dev` runs the emulator on.
pub const PORT_VARIABLE: &str = "SES_PORT";
pub const DEFAULT_PORT: u16 = 8005;

const CLI: &str = "dist/cli.js";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// What the emulator's CLI prints once it listens (`aws-ses-v2-local: server running at …`).
const READY_LINE: &str = "server running at";
const PREFIX: &str = "aws-ses-v2-local: ";
/// How much of Node's early output an error message quotes.
const OUTPUT_LIMIT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "the SES v2 emulator is not installed (looked for {cli} in {0}). Run `make tools`: it installs the npm package aws-ses-v2-local into .tools/ses (needs Node.js 20+ and npm).",
        cli = CLI
    )]
    NotInstalled(PathBuf),
    #[error(
        "node not found ({0}): install Node.js 20+ (20.19 or newer); the SES v2 emulator aws-ses-v2-local runs on it"
    )]
    NoNode(String),
    #[error(
        "Node.js {0} is too old for the SES v2 emulator aws-ses-v2-local: install Node.js 20.19+, 22.12+ or 23+"
    )]
    OldNode(String),
    #[error(
        "port {0} is already in use ({1}): set {var} to another port, or SES_ENDPOINT_URL to an emulator that is already running",
        var = PORT_VARIABLE
    )]
    PortInUse(u16, std::io::Error),
    #[error("the SES v2 emulator (aws-ses-v2-local) exited during start-up ({0}): {1}")]
    Exited(ExitStatus, String),
    #[error("the SES v2 emulator did not start listening on {0} within 30 s")]
    NotReady(SocketAddr),
    #[error("could not find a free port: {0}")]
    Port(std::io::Error),
    #[error("could not start the SES v2 emulator: {0}")]
    Spawn(std::io::Error),
}

/// A running SES v2 emulator. Dropping it (or exiting) stops the Node process.
#[derive(Debug)]
pub struct SesLocal(Guarded);

impl SesLocal {
    /// The base URL, e.g. `http://127.0.0.1:8005`: the SDK's endpoint, the mail viewer (`/`)
    /// and the JSON of every mail received (`/store`).
    pub fn endpoint(&self) -> &str {
        &self.0.endpoint
    }
}

/// The package directory (holding `dist/cli.js`).
pub fn find_install() -> Result<PathBuf, StartError> {
    let dir = match std::env::var(DIR_VARIABLE) {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => crate::guard::workspace_root().join(INSTALL_DIR),
    };
    if dir.join(CLI).is_file() {
        Ok(dir)
    } else {
        Err(StartError::NotInstalled(dir))
    }
}

/// Whether this Node.js version (`v20.19.0`) runs the emulator: its dependencies want
/// `^20.19.0 || ^22.12.0 || >=23`.
pub fn node_supported(version: &str) -> bool {
    let mut parts = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        return false;
    };
    match major {
        20 => minor >= 19,
        22 => minor >= 12,
        m => m >= 23,
    }
}

fn check_node() -> Result<(), StartError> {
    let output = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| StartError::NoNode(e.to_string()))?;
    if !output.status.success() {
        return Err(StartError::NoNode(output.status.to_string()));
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if node_supported(&version) {
        Ok(())
    } else {
        Err(StartError::OldNode(version))
    }
}

/// Starts the emulator on 127.0.0.1:`port` (a free port when `None` or `Some(0)`) and waits
/// until it listens.
pub fn start(port: Option<u16>) -> Result<SesLocal, StartError> {
    start_at("127.0.0.1", port)
}

/// [`start`] listening on `host` instead (`make sam-local`: the address Docker's bridge gives
/// the host, where the functions' containers reach it).
pub fn start_at(host: &str, port: Option<u16>) -> Result<SesLocal, StartError> {
    let dir = find_install()?;
    check_node()?;
    match port.filter(|&p| p != 0) {
        Some(port) => {
            // Something else on this port would answer in the emulator's stead.
            drop(
                TcpListener::bind(("127.0.0.1", port))
                    .map_err(|e| StartError::PortInUse(port, e))?,
            );
            start_on(&dir, host, port)
        }
        None => {
            // A free port may be taken before Node binds it: try another.
            let mut attempt = 0;
            loop {
                attempt += 1;
                match start_on(
                    &dir,
                    host,
                    crate::guard::free_port().map_err(StartError::Port)?,
                ) {
                    Err(StartError::Exited(..)) if attempt < 3 => continue,
                    result => return result,
                }
            }
        }
    }
}

fn start_on(dir: &Path, host: &str, port: u16) -> Result<SesLocal, StartError> {
    // Node's output (stdout and stderr) comes through the guard's stdout; nothing else writes
    // there, so its end means Node has exited.
    let mut guard = Command::new("sh")
        .arg("-c")
        .arg(
            r#"exec 3<&0
node "$1/dist/cli.js" --host "$3" --port "$2" </dev/null 2>&1 3<&- &
pid=$!
(read _ignored <&3 || true; kill $pid 2>/dev/null) >/dev/null 2>&1 &
reader=$!
exec 3<&- >/dev/null 2>&1
trap 'kill $pid $reader 2>/dev/null' EXIT INT TERM HUP
wait $pid"#,
        )
        .arg("ses-local")
        .arg(dir)
        .arg(port.to_string())
        .arg(host)
        // The emulator must not forward mail anywhere.
        .env_remove("SMTP_TRANSPORT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(StartError::Spawn)?;
    let output = guard.stdout.take();
    let mut local = SesLocal(Guarded {
        endpoint: format!("http://{host}:{port}"),
        guard,
    });
    let Some(output) = output else {
        return Err(StartError::Spawn(std::io::Error::other(
            "no pipe from the guard",
        )));
    };
    // Lines up to the ready line come here; later ones are passed on to stderr.
    let (lines, received) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut output = BufReader::new(output).lines();
        for line in output.by_ref() {
            let Ok(line) = line else { return };
            let ready = line.contains(READY_LINE);
            if lines.send(line).is_err() || ready {
                break;
            }
        }
        for line in output {
            let Ok(line) = line else { return };
            let line = line.strip_prefix(PREFIX).unwrap_or(&line);
            let _ = writeln!(std::io::stderr(), "{PREFIX}{line}");
        }
    });
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut early = String::new();
    loop {
        match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains(READY_LINE) => return Ok(local),
            Ok(line) => {
                if early.len() < OUTPUT_LIMIT {
                    early.push_str(&line);
                    early.push('\n');
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(StartError::NotReady(SocketAddr::from((
                    [127, 0, 0, 1],
                    port,
                ))));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = local.0.guard.wait().map_err(StartError::Spawn)?;
                let early = early.trim();
                let early = if early.is_empty() { "no output" } else { early };
                return Err(StartError::Exited(status, early.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::node_supported;

    #[test]
    fn node_versions() {
        for ok in [
            "v20.19.0",
            "v20.20.2",
            "v22.12.0",
            "v23.0.0",
            "v24.1.0\n",
            "v30.0.0",
        ] {
            assert!(node_supported(ok), "{ok}");
        }
        for old in [
            "v18.20.0", "v20.18.3", "v21.7.0", "v22.11.0", "", "v", "nonsense",
        ] {
            assert!(!node_supported(old), "{old}");
        }
    }
}
