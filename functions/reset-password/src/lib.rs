//! `POST /auth/password/reset`: `{token, new_password}` → 204; the password is replaced and
//! every session of the user ends.

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::service::{Caller, PasswordReset};

use shared::policy::rates::RouteGroup;
use shared::service::{Guarded, Redeemer};

/// The service, behind the per-source guard.
pub type State = Guarded<Redeemer>;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    // The change is reported to the account's address (a security notice).
    let notices = shared::service::Notices::from_source(src, clock.clone()).await?;
    let service = Redeemer::from_source(src, clock.clone())
        .await?
        .with_notices(notices);
    Guarded::from_source(src, clock, RouteGroup::Recovery, service).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        state.guard.admit(&req).await?;
        let reset = PasswordReset::from_body(&http::json_object(&req)?)?;
        state.reset_password(reset, &Caller::of(&req)).await?;
        Ok(http::no_content())
    }
    .await;
    http::respond(&req, result)
}
