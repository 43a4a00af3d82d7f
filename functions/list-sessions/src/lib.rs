//! `GET /me/sessions` (behind the authorizer): the caller's live sessions, newest first.

use lambda_http::{Body, Request, Response};
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;

pub use shared::service::Sessions as State;

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
        let sessions = state.list(&identity.user_id, &identity.session_id).await?;
        Ok(http::ok(&sessions))
    }
    .await;
    http::respond(&req, result)
}
