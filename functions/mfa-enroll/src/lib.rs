//! `POST /me/mfa/totp` (behind the authorizer): `{current_password}` → 200 `{secret,
//! otpauth_uri, qr_svg}`; the secret waits, sealed, until a code confirms it.

use lambda_http::{Body, Request, Response};
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;
use shared::service::{Caller, current_password_from_body};

pub use shared::service::TwoFactor as State;

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
        let current = current_password_from_body(&http::json_object(&req)?)?;
        let enrolment = state
            .enrol(&identity.user_id, current, &Caller::of(&req))
            .await?;
        Ok(http::ok_no_store(&enrolment))
    }
    .await;
    http::respond(&req, result)
}
