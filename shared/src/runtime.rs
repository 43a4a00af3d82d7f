//! The bootstrap every function shares: JSON logs, state built once per cold start, then the
//! Lambda runtime loop calling the handler with that state.

use std::convert::Infallible;
use std::future::Future;

use lambda_http::{Body, Request, Response, service_fn};
use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, Source, log_filter, log_level};
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
/// [`crate::config::log_filter`]). An invalid `LOG_LEVEL` fails the cold start with the
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
    level.map(|_| ()).map_err(InitError::from)
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
