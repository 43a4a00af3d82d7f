//! The local server (`target/release/devserver`) under HTTP load from wrk, on 127.0.0.1 only.
//!
//! * spawn → first answer: from the instant before `spawn` until `GET /.well-known/jwks.json`
//!   first answers 200 (polled every millisecond; the server is given DynamoDB Local's endpoint,
//!   so it starts no Java of its own).
//! * each load: a bounded number of requests at 16 connections (`bench/wrk/load.lua`); the
//!   server's CPU time (utime + stime of the devserver process, from `/proc/<pid>/stat`, not
//!   DynamoDB Local's) before and after, divided by the requests answered; then its `VmHWM`;
//!   and the bytes the server wrote to stdout meanwhile (the JSON log lines and EMF metric lines
//!   at `LOG_LEVEL=info`, what CloudWatch Logs would ingest), divided by the requests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Result;
use crate::fixture::Fixture;
use crate::rss::peak_rss_kib;

pub const CONNECTIONS: usize = 16;
pub const THREADS: usize = 2;
/// A load that has not finished by then has stalled (wrk's `-d`).
const LOAD_CAP: Duration = Duration::from_secs(120);

/// The running local server. Dropping it kills the process.
pub struct Server {
    child: tokio::process::Child,
    pub pid: u32,
    pub port: u16,
    /// Where its stdout goes (removed when the server stops).
    log: PathBuf,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

async fn answers_200(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let request =
        "GET /.well-known/jwks.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Spawns the local server and waits for its first answer; returns it with that time.
pub async fn spawn_server(bin: &Path, fx: &Fixture) -> Result<(Server, Duration)> {
    let port = free_port()?;
    let log = std::env::temp_dir().join(format!("bench-devserver-{port}.log"));
    let stdout = std::fs::File::create(&log)?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .env_clear()
        .envs(fx.settings.iter())
        .env(shared::config::PORT, port.to_string())
        .env(shared::config::LOG_LEVEL, "info")
        // The JSON log and EMF lines the functions write on Lambda, not the readable text.
        .env(shared::config::LOG_FORMAT, "json")
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let pid = child.id().ok_or("the local server exited at once")?;
    loop {
        if answers_200(port).await {
            let elapsed = started.elapsed();
            return Ok((
                Server {
                    child,
                    pid,
                    port,
                    log,
                },
                elapsed,
            ));
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("the local server exited ({status}) before answering").into());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("the local server did not answer within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

impl Server {
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let _ = std::fs::remove_file(&self.log);
    }

    /// The bytes it has written to stdout so far.
    pub fn log_bytes(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.log)?.len())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`; Linux's 100 otherwise).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// utime + stime (ticks) from the text of `/proc/<pid>/stat`.
pub fn cpu_ticks_of(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces; fields after its ')' are space-separated,
    // starting with field 3 (state). utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    cpu_ticks_of(&stat).ok_or_else(|| "cannot parse /proc/<pid>/stat".into())
}

/// One load: `total` requests, each with a body from `bodies` when given.
pub struct Load<'a> {
    pub name: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub headers: Vec<String>,
    pub bodies: Option<Vec<String>>,
    pub total: usize,
    pub expected: u16,
    pub work_dir: &'a Path,
}

/// What wrk and `/proc` said about one load.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub name: &'static str,
    pub requests: u64,
    pub duration: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub cpu: Duration,
    pub peak_rss_kib: u64,
    /// Bytes the server wrote to stdout (logs and metrics) during the load.
    pub log_bytes: u64,
    pub wrk: Value,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    /// Log and metric bytes per request, at `LOG_LEVEL=info`.
    pub fn log_bytes_per_request(&self) -> f64 {
        self.log_bytes as f64 / self.requests.max(1) as f64
    }

    pub fn cpu_per_request(&self) -> Duration {
        self.cpu / u32::try_from(self.requests.max(1)).unwrap_or(u32::MAX)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "connections": CONNECTIONS,
            "requests": self.requests,
            "duration_s": crate::stats::round(self.duration.as_secs_f64(), 3),
            "requests_per_second": crate::stats::round(self.rps(), 1),
            "p50_ms": crate::stats::millis(self.p50),
            "p99_ms": crate::stats::millis(self.p99),
            "server_cpu_ms_total": crate::stats::millis(self.cpu),
            "server_cpu_ms_per_request": crate::stats::round(self.cpu_per_request().as_secs_f64() * 1e3, 4),
            "server_peak_rss_kib_after": self.peak_rss_kib,
            "log_bytes_per_request": crate::stats::round(self.log_bytes_per_request(), 1),
            "wrk": self.wrk,
        })
    }
}

/// Where wrk is: `BENCH_WRK` (the Makefile's wrapper in `.tools/`), else `wrk` on `PATH`.
pub fn wrk_path() -> PathBuf {
    std::env::var_os("BENCH_WRK")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("wrk"))
}

fn wrk_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wrk/load.lua")
}

/// Runs one load against the server and measures the server around it.
pub async fn run(server: &Server, load: Load<'_>, ticks_per_second: u64) -> Result<LoadResult> {
    let bodies_arg = match &load.bodies {
        Some(bodies) => {
            if bodies.len() != load.total {
                return Err(format!(
                    "{}: {} bodies for {} requests",
                    load.name,
                    bodies.len(),
                    load.total
                )
                .into());
            }
            let file = load.work_dir.join(format!("{}.bodies", load.name));
            std::fs::write(&file, bodies.join("\n") + "\n")?;
            file.display().to_string()
        }
        None => "-".to_owned(),
    };
    if load.total < THREADS {
        return Err(format!("{}: at least {THREADS} requests", load.name).into());
    }
    let marker = load.work_dir.join(format!("{}.done.", load.name));
    let markers: Vec<PathBuf> = (0..THREADS)
        .map(|t| PathBuf::from(format!("{}{t}", marker.display())))
        .collect();
    for m in &markers {
        let _ = std::fs::remove_file(m);
    }
    let mut command = tokio::process::Command::new(wrk_path());
    command
        .arg("-t")
        .arg(THREADS.to_string())
        .arg("-c")
        .arg(CONNECTIONS.to_string())
        .arg("-d")
        .arg(format!("{}s", LOAD_CAP.as_secs()))
        .arg("--timeout")
        .arg("30s")
        .arg("-s")
        .arg(wrk_script());
    for header in &load.headers {
        command.arg("-H").arg(header);
    }
    command
        .arg(server.url(load.path))
        .arg("--")
        .arg(&bodies_arg)
        .arg(load.total.to_string())
        .arg(load.method)
        .arg(load.expected.to_string())
        .arg(THREADS.to_string())
        .arg(marker.display().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);

    let before = cpu_ticks(server.pid)?;
    let log_before = server.log_bytes()?;
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| {
        format!(
            "cannot run wrk ({}): {e}; `make bench` installs it",
            wrk_path().display()
        )
    })?;
    // Every thread writes its marker once all of its requests are answered: then nothing is in
    // flight, and the server's CPU time and the elapsed time are read at once.
    let (elapsed, after) = loop {
        if markers.iter().all(|m| m.exists()) {
            break (started.elapsed(), cpu_ticks(server.pid)?);
        }
        if child.try_wait()?.is_some() {
            break (started.elapsed(), cpu_ticks(server.pid)?);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    // wrk sleeps for its whole duration unless interrupted; SIGINT makes it report and exit.
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .arg("-INT")
            .arg(pid.to_string())
            .status()
            .await;
    }
    let output = child.wait_with_output().await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_JSON "))
        .ok_or_else(|| format!("no BENCH_JSON line from wrk: {stdout}"))?;
    let wrk: Value = serde_json::from_str(line)?;
    let number = |key: &str| wrk.get(key).and_then(Value::as_u64).unwrap_or(0);
    let requests = number("requests");
    let bad = number("unexpected_status") + number("overrun");
    let socket_errors: u64 = ["connect", "read", "write", "timeout"]
        .iter()
        .map(|k| {
            wrk.get("errors")
                .and_then(|e| e.get(*k))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        })
        .sum();
    if requests != load.total as u64
        || number("sent") != load.total as u64
        || bad > 0
        || socket_errors > 0
    {
        return Err(format!(
            "{}: wanted {} answers of {}, wrk reported {line}",
            load.name, load.total, load.expected
        )
        .into());
    }
    let ticks = after.saturating_sub(before);
    Ok(LoadResult {
        name: load.name,
        requests,
        duration: elapsed,
        p50: Duration::from_micros(number("p50_us")),
        p99: Duration::from_micros(number("p99_us")),
        cpu: Duration::from_secs_f64(ticks as f64 / ticks_per_second.max(1) as f64),
        peak_rss_kib: peak_rss_kib(server.pid)?,
        log_bytes: server.log_bytes()?.saturating_sub(log_before),
        wrk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_even_with_spaces_in_the_name() {
        let stat =
            "1234 (dev server) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 40 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_ticks_of(stat), Some(290));
        assert_eq!(cpu_ticks_of("garbage"), None);
    }

    #[test]
    fn reads_our_own_cpu_time() {
        assert!(cpu_ticks(std::process::id()).is_ok());
    }
}
