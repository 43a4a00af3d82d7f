//! Lambda entry point: build the state once per cold start, then serve.

use shared::clock::SystemClock;
use shared::config::ProcessEnv;

// One request at a time per Lambda instance: a current-thread runtime spends half the CPU per
// DynamoDB call of a multi-thread one (`cargo run --release -p bench --bin sdk-cpu`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_tracing(&ProcessEnv)?;
    let state = admin_remove_mfa::state(&ProcessEnv, SystemClock::shared()).await?;
    shared::runtime::run_http(state, admin_remove_mfa::handle).await
}
