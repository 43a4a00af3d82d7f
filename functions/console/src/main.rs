//! Lambda entry point: the console's files are compiled in; serve them.

use shared::clock::SystemClock;
use shared::config::ProcessEnv;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::init_tracing(&ProcessEnv)?;
    let state = console::state(&ProcessEnv, SystemClock::shared()).await?;
    shared::runtime::run_http(state, console::handle).await
}
