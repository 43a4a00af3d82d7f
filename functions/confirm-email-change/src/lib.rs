//! `POST /auth/email/confirm-change`: `{token}` → 204; the address changes atomically and
//! every session of the user ends.

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::service::{Caller, link_token_from_body};

pub use shared::service::Redeemer as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src, clock).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let token = link_token_from_body(&http::json_object(&req)?)?;
        state
            .confirm_email_change(&token, &Caller::of(&req))
            .await?;
        Ok(http::no_content())
    }
    .await;
    http::respond(&req, result)
}
