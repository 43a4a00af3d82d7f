//! The bootstrap every function shares: JSON logs, state built once per cold start, then the
//! Lambda runtime loop calling the handler with that state.

use std::convert::Infallible;
use std::future::Future;

use lambda_http::{Body, Request, Response, service_fn};
use tracing_subscriber::EnvFilter;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{
    ConfigError, LogFormat, ProcessEnv, Source, log_filter, log_format, log_level,
    metrics_namespace,
};
use crate::keys::KeyError;

/// Why a function could not start. It fails its cold start loudly rather than serve wrongly.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The mail templates did not compile (a bug caught by the unit tests).
    #[error("mail templates: {0}")]
    Mail(#[from] minijinja::Error),
}

/// JSON log lines on stdout (CloudWatch reads them), at `LOG_LEVEL` (see
/// [`crate::config::log_filter`]), and the metrics' EMF lines beside them under
/// `METRICS_NAMESPACE` ([`crate::metrics`]). An invalid `LOG_LEVEL` fails the cold start with the
/// reason (logged at `info` first, so it reaches CloudWatch).
pub fn init_tracing(src: &dyn Source) -> Result<(), InitError> {
    let level = log_level(src);
    let filter = EnvFilter::try_new(log_filter(level.as_ref().map_or("info", |l| l)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .with_target(true)
        .try_init();
    if let Err(err) = &level {
        tracing::error!(error = %err, "invalid configuration");
    }
    let namespace = metrics_namespace(src);
    match &namespace {
        Ok(namespace) => crate::metrics::init(namespace.clone()),
        Err(err) => tracing::error!(error = %err, "invalid configuration"),
    }
    level?;
    namespace.map(|_| ()).map_err(InitError::from)
}

/// The local server's logs (`make dev`): with `LOG_FORMAT=json`, exactly what the functions
/// write on Lambda ([`init_tracing`]); otherwise (`text`, the default) one readable line per
/// event (time, level, target, message, fields), coloured when stdout is a terminal, and no
/// EMF lines (the local server still counts them: `GET /_local/metrics`).
pub fn init_local_tracing(src: &dyn Source) -> Result<(), InitError> {
    if log_format(src)? == LogFormat::Json {
        return init_tracing(src);
    }
    let level = log_level(src)?;
    metrics_namespace(src)?;
    let filter = EnvFilter::try_new(log_filter(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .compact()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_target(true)
        .try_init();
    Ok(())
}

/// The whole `main` of an HTTP function: JSON logs, its state built once from the process
/// environment and the wall clock, then [`run_http`] with `handler`. Every function's
/// `main.rs` is this one call, e.g. `shared::runtime::serve_http(login::state, login::handle)`.
///
/// One request at a time per Lambda instance: a current-thread runtime spends half the CPU per
/// DynamoDB call of a multi-thread one (`cargo run --release -p bench --bin sdk-cpu`).
pub fn serve_http<S, B, BFut, F, Fut>(build: B, handler: F) -> Result<(), lambda_http::Error>
where
    S: Send + Sync + 'static,
    B: FnOnce(&'static dyn Source, SharedClock) -> BFut,
    BFut: Future<Output = Result<S, InitError>>,
    F: Fn(&'static S, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    current_thread()?.block_on(async {
        init_tracing(&ProcessEnv)?;
        let state = build(&ProcessEnv, SystemClock::shared()).await?;
        run_http(state, handler).await
    })
}

/// The whole `main` of an event function (the authorizer), like [`serve_http`].
pub fn serve_event<S, E, R, B, BFut, F, Fut>(build: B, handler: F) -> Result<(), lambda_http::Error>
where
    S: Send + Sync + 'static,
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    B: FnOnce(&'static dyn Source, SharedClock) -> BFut,
    BFut: Future<Output = Result<S, InitError>>,
    F: Fn(&'static S, E) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    current_thread()?.block_on(async {
        init_tracing(&ProcessEnv)?;
        let state = build(&ProcessEnv, SystemClock::shared()).await?;
        run_event(state, handler).await
    })
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Serves an HTTP handler on the Lambda runtime. The state lives for the whole process, so it
/// is leaked once to a `'static` reference that every invocation borrows.
pub async fn run_http<S, F, Fut>(state: S, handler: F) -> Result<(), lambda_http::Error>
where
    S: Send + Sync + 'static,
    F: Fn(&'static S, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let state: &'static S = Box::leak(Box::new(state));
    lambda_http::run(service_fn(move |req| {
        let response = handler(state, req);
        async move { Ok::<_, Infallible>(response.await) }
    }))
    .await
}

/// Serves a non-HTTP event handler (the authorizer) on the Lambda runtime, like [`run_http`].
pub async fn run_event<S, E, R, F, Fut>(state: S, handler: F) -> Result<(), lambda_http::Error>
where
    S: Send + Sync + 'static,
    E: serde::de::DeserializeOwned + Send + 'static,
    R: serde::Serialize + Send + 'static,
    F: Fn(&'static S, E) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let state: &'static S = Box::leak(Box::new(state));
    lambda_http::lambda_runtime::run(service_fn(move |event: lambda_http::LambdaEvent<E>| {
        let response = handler(state, event.payload);
        async move { Ok::<_, Infallible>(response.await) }
    }))
    .await
}
