//! `POST /me/email` (behind the authorizer): `{new_email, current_password}` → 202; a
//! confirmation link goes to the new address and a notice to the old one. Nothing changes
//! until the link is used (`POST /auth/email/confirm-change`).

use lambda_http::{Body, Request, Response};
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;
use shared::service::{Caller, EmailChange};

pub use shared::service::EmailChanges as State;

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
        let change = EmailChange::from_body(&http::json_object(&req)?)?;
        state
            .request(&identity.user_id, change, &Caller::of(&req))
            .await?;
        Ok(http::accepted())
    }
    .await;
    http::respond(&req, result)
}
