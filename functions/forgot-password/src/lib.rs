//! `POST /auth/password/forgot`: `{email}` → 202, the same body and about the same time
//! whether or not an account has the address; when one does, a reset link is mailed.

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::service::{Caller, email_from_body};

pub use shared::service::Outbox as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src, clock).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let email = email_from_body(&http::json_object(&req)?)?;
        state.forgot_password(&email, &Caller::of(&req)).await?;
        Ok(http::accepted())
    }
    .await;
    http::respond(&req, result)
}
