//! `POST /auth/mfa/verify`: `{mfa_token, code}` or `{mfa_token, recovery_code}` → 200 the token
//! pair (the second step of a login with two-factor on).

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::service::{Caller, MfaVerify};

pub use shared::service::MfaLogins as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src, clock).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let input = MfaVerify::from_body(&http::json_object(&req)?)?;
        let pair = state
            .verify(&input.mfa_token, input.factor, &Caller::of(&req))
            .await?;
        Ok(http::ok_no_store(&pair))
    }
    .await;
    http::respond(&req, result)
}
