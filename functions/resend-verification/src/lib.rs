//! `POST /me/email/verification` (behind the authorizer): → 202; a new verification link is
//! mailed to the address, unless it is verified already (409). No body is read.

use lambda_http::{Body, Request, Response};
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;
use shared::service::Caller;

use shared::policy::rates::RouteGroup;
use shared::service::{Guarded, Outbox};

/// The service, behind the per-source guard.
pub type State = Guarded<Outbox>;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    let service = Outbox::from_source(src, clock.clone()).await?;
    Guarded::from_source(src, clock, RouteGroup::Recovery, service).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        state.guard.admit(&req).await?;
        let identity = Identity::from_request(&req).map_err(|_| ApiError::Unauthenticated)?;
        state
            .resend_verification(&identity.user_id, &Caller::of(&req))
            .await?;
        Ok(http::accepted())
    }
    .await;
    http::respond(&req, result)
}
