//! `DELETE /me/sessions/{sid}` (behind the authorizer): ends one of the caller's own sessions → 204 (ASVS 7.5.2).

use lambda_http::{Body, Request, Response};
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;
use shared::service::Caller;

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
        let sid = http::path_param(&req, "sid").unwrap_or_default();
        state
            .end(&identity.user_id, &sid, &Caller::of(&req))
            .await?;
        Ok(http::no_content())
    }
    .await;
    http::respond(&req, result)
}
