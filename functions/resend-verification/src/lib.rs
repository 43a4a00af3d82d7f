//! `POST /me/email/verification` (behind the authorizer): → 202; a new verification link is
//! mailed to the address, unless it is verified already (409). No body is read.

use lambda_http::{Body, Request, Response};
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;
use shared::service::Caller;

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
        let identity = Identity::from_request(&req).map_err(|_| ApiError::Unauthenticated)?;
        state
            .resend_verification(&identity.user_id, &Caller::of(&req))
            .await?;
        Ok(http::accepted())
    }
    .await;
    http::respond(&req, result)
}
