//! Lambda entry point: build the state once per cold start, then serve.

use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_tracing(&ProcessEnv)?;
    let state = me::State::from_source(&ProcessEnv).await?;
    shared::runtime::run_http(state, me::handle).await
}
