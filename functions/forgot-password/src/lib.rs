//! `POST /auth/password/forgot`: `{email}` → 202, the same body and about the same time
//! whether or not an account has the address; when one does, a reset link is mailed.

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::service::{Caller, email_from_body};

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
        let email = email_from_body(&http::json_object(&req)?)?;
        state.forgot_password(&email, &Caller::of(&req)).await?;
        Ok(http::accepted())
    }
    .await;
    http::respond(&req, result)
}
