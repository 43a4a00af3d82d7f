//! Lambda entry point: parse the verification keys once per cold start, then decide.

use shared::clock::SystemClock;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_tracing(&ProcessEnv)?;
    let state = authorizer::state(&ProcessEnv, SystemClock::shared()).await?;
    shared::runtime::run_event(state, authorizer::handle).await
}
