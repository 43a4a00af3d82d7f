//! `POST /me/mfa/recovery-codes` (behind the authorizer): `{code}` → 200 a new set of ten
//! recovery codes; the old set stops working.

use lambda_http::{Body, Request, Response};
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;
use shared::service::{Caller, code_from_body};

pub use shared::service::TwoFactor as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    // The change is reported to the account's address (a security notice).
    let notices = shared::service::Notices::from_source(src, clock.clone()).await?;
    Ok(State::from_source(src, clock).await?.with_notices(notices))
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let identity = Identity::from_request(&req).map_err(|_| ApiError::Unauthenticated)?;
        let code = code_from_body(&http::json_object(&req)?)?;
        let codes = state
            .regenerate(&identity.user_id, &code, &Caller::of(&req))
            .await?;
        Ok(http::ok_no_store(&codes))
    }
    .await;
    http::respond(&req, result)
}
