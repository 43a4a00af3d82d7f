//! Lambda entry point: parse the verification keys once per cold start, then decide.

use shared::clock::SystemClock;
use shared::config::ProcessEnv;

// One request at a time per Lambda instance: a current-thread runtime spends half the CPU per
// DynamoDB call of a multi-thread one (`cargo run --release -p bench --bin sdk-cpu`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_tracing(&ProcessEnv)?;
    let state = authorizer::state(&ProcessEnv, SystemClock::shared()).await?;
    shared::runtime::run_event(state, authorizer::handle).await
}
