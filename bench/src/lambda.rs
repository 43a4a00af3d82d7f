//! Cold starts of the release function binaries against a minimal Lambda Runtime API emulator.
//!
//! The emulator is an HTTP server on 127.0.0.1 implementing the runtime API a bootstrap uses:
//! `GET /2018-06-01/runtime/invocation/next` hands out the next queued event with the
//! `Lambda-Runtime-*` headers (and holds the request open once the queue is empty, as Lambda
//! does between invocations); `POST …/invocation/{id}/response`, `…/{id}/error` and
//! `…/init/error` record the answer. For each start the runner spawns the binary with
//! `AWS_LAMBDA_RUNTIME_API` pointing at a fresh emulator and the function's own settings, and
//! records, from the instant before `spawn`:
//!
//! * init: until the first `GET …/next` (the state is built and the runtime loop is polling);
//! * first answer: until the first invocation's response is posted;
//! * each invocation: from handing out the event to its response (the first one pays for any
//!   lazily opened DynamoDB connection, the later ones are warm);
//!
//! then reads the peak RSS (`VmHWM`) after the last invocation and kills the process.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};

use crate::Result;
use crate::stats::Summary;

/// How long any one step of a start may take before the start is declared failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// What the emulator saw, in order.
#[derive(Debug)]
enum Seen {
    Next { at: Instant },
    Delivered { at: Instant },
    Answered { at: Instant, ok: bool, body: String },
    InitError { body: String },
}

#[derive(Clone)]
struct Emulator {
    function: String,
    queue: Arc<Mutex<VecDeque<(String, String)>>>,
    seen: mpsc::UnboundedSender<Seen>,
}

async fn next(State(em): State<Emulator>) -> Response {
    let _ = em.seen.send(Seen::Next { at: Instant::now() });
    let item = em
        .queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop_front();
    let Some((id, event)) = item else {
        // No more work: hold the poll open until the process is stopped.
        return std::future::pending().await;
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(Duration::from_secs(30))
        .as_millis()
        .to_string();
    let arn = format!("arn:aws:lambda:local:000000000000:function:{}", em.function);
    let trace = format!(
        "Root=1-00000000-{};Parent=0000000000000000;Sampled=0",
        &uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..24)
            .unwrap_or("0")
    );
    let _ = em.seen.send(Seen::Delivered { at: Instant::now() });
    (
        StatusCode::OK,
        [
            ("content-type", "application/json".to_owned()),
            ("lambda-runtime-aws-request-id", id),
            ("lambda-runtime-deadline-ms", deadline),
            ("lambda-runtime-invoked-function-arn", arn),
            ("lambda-runtime-trace-id", trace),
        ],
        event,
    )
        .into_response()
}

async fn answered(
    State(em): State<Emulator>,
    UrlPath(_id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = em.seen.send(Seen::Answered {
        at: Instant::now(),
        ok: true,
        body,
    });
    StatusCode::ACCEPTED
}

async fn failed(
    State(em): State<Emulator>,
    UrlPath(_id): UrlPath<String>,
    body: String,
) -> StatusCode {
    let _ = em.seen.send(Seen::Answered {
        at: Instant::now(),
        ok: false,
        body,
    });
    StatusCode::ACCEPTED
}

async fn init_failed(State(em): State<Emulator>, body: String) -> StatusCode {
    let _ = em.seen.send(Seen::InitError { body });
    StatusCode::ACCEPTED
}

/// One start of one binary.
#[derive(Debug, Clone)]
struct Start {
    init: Duration,
    /// `None` when the start was given no event (an init alone).
    first_answer: Option<Duration>,
    invocations: Vec<Duration>,
    peak_rss_kib: u64,
    /// `VmHWM` right after each answer.
    peak_rss_after_each: Vec<u64>,
    /// `VmRSS` right after each answer.
    rss_after_each: Vec<u64>,
}

/// A function's cold-start figures over several starts.
#[derive(Debug, Clone)]
pub struct ColdStart {
    pub name: &'static str,
    /// The release binary (one binary runs under several names with other settings).
    pub binary: &'static str,
    pub starts: usize,
    pub init: Summary,
    pub first_answer: Summary,
    pub first_invocation: Summary,
    pub warm_invocation: Summary,
    /// The highest `VmHWM` over the starts.
    pub peak_rss_kib: u64,
    /// The host (x86_64) release binary.
    pub size_bytes: u64,
    /// The deployable arm64 artifact, `.aws-sam/build/<Name>Function/bootstrap`, when
    /// `make build` has made it.
    pub artifact_bytes: Option<u64>,
}

/// The SAM logical id of a function binary: `change-password` → `ChangePasswordFunction`.
pub fn logical_id(binary: &str) -> String {
    let name: String = binary
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    format!("{name}Function")
}

/// The size of the arm64 bootstrap `make build` (sam build) left for `binary`, if any.
pub fn artifact_bytes(binary: &str) -> Option<u64> {
    let path = crate::fixture::workspace_root()
        .join(".aws-sam/build")
        .join(logical_id(binary))
        .join("bootstrap");
    std::fs::metadata(path).ok().map(|m| m.len())
}

impl ColdStart {
    pub fn to_json(&self) -> Value {
        json!({
            "starts": self.starts,
            "init": self.init.to_json(),
            "first_answer": self.first_answer.to_json(),
            "first_invocation": self.first_invocation.to_json(),
            "warm_invocation": self.warm_invocation.to_json(),
            "peak_rss_kib": self.peak_rss_kib,
            "size_bytes": self.size_bytes,
            "arm64_artifact_bytes": self.artifact_bytes,
        })
    }
}

/// Checks an answer: an HTTP function's `statusCode`, or the authorizer's `isAuthorized`.
fn check_answer(function: &str, expected: u16, body: &str) -> Result<()> {
    let value: Value = serde_json::from_str(body)?;
    let ok = match value.get("isAuthorized") {
        Some(allowed) => allowed.as_bool() == Some(true),
        None => value.get("statusCode").and_then(Value::as_u64) == Some(u64::from(expected)),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{function}: unexpected answer {body}").into())
    }
}

async fn start_once(
    bin: &Path,
    function: &'static str,
    env: &[(String, String)],
    events: Vec<String>,
    expected: u16,
) -> Result<Start> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let total = events.len();
    let emulator = Emulator {
        function: function.to_owned(),
        queue: Arc::new(Mutex::new(
            events
                .into_iter()
                .map(|event| (uuid::Uuid::new_v4().to_string(), event))
                .collect(),
        )),
        seen: seen_tx,
    };
    let router = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(answered),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(failed))
        .route("/2018-06-01/runtime/init/error", post(init_failed))
        .with_state(emulator);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the function exited at once")?;

    let result = async {
        let mut init = None;
        let mut delivered = None;
        let mut first_answer = None;
        let mut invocations = Vec::with_capacity(total);
        let mut peak_rss_after_each = Vec::with_capacity(total);
        let mut rss_after_each = Vec::with_capacity(total);
        while invocations.len() < total || init.is_none() {
            let seen = tokio::select! {
                seen = seen.recv() => seen.ok_or("the emulator stopped")?,
                status = child.wait() => {
                    return Err(format!("{function} exited ({}) before answering", status?).into());
                }
                () = tokio::time::sleep(STEP_TIMEOUT) => {
                    return Err(format!("{function}: no progress within {STEP_TIMEOUT:?}").into());
                }
            };
            match seen {
                Seen::Next { at } => {
                    init.get_or_insert(at - started);
                }
                Seen::Delivered { at } => delivered = Some(at),
                Seen::Answered { at, ok, body } => {
                    if !ok {
                        return Err(
                            format!("{function} reported an invocation error: {body}").into()
                        );
                    }
                    check_answer(function, expected, &body)?;
                    let from = delivered.take().ok_or("an answer before any event")?;
                    invocations.push(at - from);
                    peak_rss_after_each.push(crate::rss::peak_rss_kib(pid)?);
                    rss_after_each.push(crate::rss::rss_kib(pid)?);
                    first_answer.get_or_insert(at - started);
                }
                Seen::InitError { body } => {
                    return Err(format!("{function} failed its init: {body}").into());
                }
            }
        }
        Ok::<_, crate::Error>(Start {
            init: init.ok_or("no init")?,
            first_answer,
            invocations,
            peak_rss_kib: crate::rss::peak_rss_kib(pid)?,
            peak_rss_after_each,
            rss_after_each,
        })
    }
    .await;

    let _ = child.start_kill();
    let _ = child.wait().await;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr).await;
    }
    let _ = stop.send(());
    server.abort();
    result.map_err(|e| {
        if stderr.trim().is_empty() {
            e
        } else {
            format!("{e}; its stderr: {}", stderr.trim()).into()
        }
    })
}

/// One cold start of `target/release/<function>` per entry of `starts`, each answering that
/// entry's events in order.
pub async fn cold_start(
    release_dir: &Path,
    function: &'static str,
    binary: &'static str,
    env: &[(String, String)],
    expected: u16,
    starts: Vec<Vec<String>>,
) -> Result<ColdStart> {
    let bin = release_dir.join(binary);
    let size_bytes = std::fs::metadata(&bin)
        .map_err(|e| format!("{}: {e} (`make bench` builds it)", bin.display()))?
        .len();
    let mut runs = Vec::with_capacity(starts.len());
    for events in starts {
        runs.push(start_once(&bin, function, env, events, expected).await?);
    }
    let pick = |f: &dyn Fn(&Start) -> Vec<Duration>| -> Result<Summary> {
        Summary::of(&runs.iter().flat_map(f).collect::<Vec<_>>()).ok_or_else(|| "no samples".into())
    };
    Ok(ColdStart {
        name: function,
        binary,
        starts: runs.len(),
        init: pick(&|s| vec![s.init])?,
        first_answer: pick(&|s| s.first_answer.into_iter().collect())?,
        first_invocation: pick(&|s| s.invocations.first().copied().into_iter().collect())?,
        warm_invocation: pick(&|s| s.invocations.iter().skip(1).copied().collect())?,
        peak_rss_kib: runs.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0),
        size_bytes,
        artifact_bytes: artifact_bytes(binary),
    })
}

/// One function's init alone (spawn → its first `GET /next`), over several starts.
#[derive(Debug, Clone)]
pub struct Init {
    pub binary: &'static str,
    pub init: Summary,
    /// The highest `VmHWM` over the starts, right after init.
    pub peak_rss_kib: u64,
}

impl Init {
    pub fn to_json(&self) -> Value {
        json!({
            "init": self.init.to_json(),
            "peak_rss_kib": self.peak_rss_kib,
        })
    }
}

/// `starts` cold starts of `target/release/<binary>` that are given no event: each ends when
/// the binary first asks for one, so it measures the init and nothing else.
pub async fn init_only(
    release_dir: &Path,
    binary: &'static str,
    env: &[(String, String)],
    starts: usize,
) -> Result<Init> {
    let bin = release_dir.join(binary);
    let mut inits = Vec::with_capacity(starts);
    let mut peak_rss_kib = 0;
    for _ in 0..starts {
        let start = start_once(&bin, binary, env, Vec::new(), 0).await?;
        inits.push(start.init);
        peak_rss_kib = peak_rss_kib.max(start.peak_rss_kib);
    }
    Ok(Init {
        binary,
        init: Summary::of(&inits).ok_or("no starts")?,
        peak_rss_kib,
    })
}

/// Peak RSS of one long-lived process as invocations accumulate.
#[derive(Debug, Clone)]
pub struct Growth {
    pub label: &'static str,
    /// `VmHWM` (KiB) after each invocation.
    pub peak_rss_after_each: Vec<u64>,
    pub warm_invocation: Summary,
}

impl Growth {
    pub fn to_json(&self) -> Value {
        json!({
            "peak_rss_kib_after_each_invocation": self.peak_rss_after_each,
            "warm_invocation": self.warm_invocation.to_json(),
        })
    }
}

/// One start of `target/release/<binary>` answering every event in one process: its current
/// RSS (`VmRSS`, KiB) after each answer.
pub async fn rss_over(
    release_dir: &Path,
    binary: &'static str,
    env: &[(String, String)],
    expected: u16,
    events: Vec<String>,
) -> Result<Vec<u64>> {
    let start = start_once(&release_dir.join(binary), binary, env, events, expected).await?;
    Ok(start.rss_after_each)
}

/// One start of `target/release/<binary>` that answers every event, with `env` (which may add
/// allocator settings), recording the peak RSS after each answer.
pub async fn growth(
    release_dir: &Path,
    label: &'static str,
    binary: &'static str,
    env: &[(String, String)],
    expected: u16,
    events: Vec<String>,
) -> Result<Growth> {
    let start = start_once(&release_dir.join(binary), binary, env, events, expected).await?;
    let warm: Vec<Duration> = start.invocations.iter().skip(1).copied().collect();
    Ok(Growth {
        label,
        peak_rss_after_each: start.peak_rss_after_each,
        warm_invocation: Summary::of(&warm).ok_or("no warm invocations")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_benchmarked_binary_maps_to_a_function_of_the_template() {
        assert_eq!(logical_id("change-password"), "ChangePasswordFunction");
        let template =
            std::fs::read_to_string(crate::fixture::workspace_root().join("template.yaml"))
                .unwrap();
        for binary in ["register", "login", "refresh", "me", "jwks", "authorizer"] {
            let resource = format!(
                "\n  {}:\n    Type: AWS::Serverless::Function",
                logical_id(binary)
            );
            assert!(
                template.contains(&resource),
                "no {resource} in template.yaml"
            );
        }
    }

    #[test]
    fn answers_are_checked() {
        assert!(check_answer("me", 200, r#"{"statusCode":200,"body":"{}"}"#).is_ok());
        assert!(check_answer("me", 200, r#"{"statusCode":401}"#).is_err());
        assert!(check_answer("authorizer", 200, r#"{"isAuthorized":true,"context":{}}"#).is_ok());
        assert!(check_answer("authorizer", 200, r#"{"isAuthorized":false}"#).is_err());
    }
}
