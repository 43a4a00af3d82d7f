//! `POST /auth/mfa/verify`: `{mfa_token, code}` or `{mfa_token, recovery_code}` (and optionally
//! `token_transport`) → 200 the token pair (the second step of a login with two-factor on).

use lambda_http::{Body, Request, Response};
use shared::browser::{Browser, WithBrowser};
use shared::http;
use shared::policy::rates::RouteGroup;
use shared::secrecy::ExposeSecret;
use shared::service::{Caller, Guarded, MfaLogins, MfaVerify};

/// The two-factor login service and its browser edge.
pub type State = Guarded<WithBrowser<MfaLogins>>;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    let inner = WithBrowser {
        service: MfaLogins::from_source(src, clock.clone()).await?,
        browser: Browser::from_source(src)?,
    };
    Guarded::from_source(src, clock, RouteGroup::Login, inner).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        state.guard.admit(&req).await?;
        let body = http::json_object(&req)?;
        let input = MfaVerify::from_body(&body)?;
        let transport = state.browser.requested_transport(&req, &body)?;
        let pair = state
            .service
            .verify(
                input.mfa_token.expose_secret(),
                input.factor,
                &Caller::of(&req),
            )
            .await?;
        Ok(state.browser.tokens(&pair, transport))
    }
    .await;
    http::respond(&req, result)
}
