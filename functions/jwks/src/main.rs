//! Lambda entry point: build the key set once per cold start, then serve.

use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_tracing(&ProcessEnv)?;
    let state = jwks::State::from_source(&ProcessEnv)?;
    shared::runtime::run_http(state, jwks::handle).await
}
