//! Lambda entry point: build the state once per cold start, then serve.

use shared::clock::SystemClock;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_tracing(&ProcessEnv)?;
    let state = refresh::state(&ProcessEnv, SystemClock::shared()).await?;
    shared::runtime::run_http(state, refresh::handle).await
}
