//! `POST /auth/login`: `{email, password[, token_transport]}` → 200 token pair (in cookie mode
//! the refresh token is set as an `HttpOnly` cookie instead).

use lambda_http::{Body, Request, Response};
use shared::browser::{Browser, WithBrowser};
use shared::http;
use shared::service::{Caller, LoginRequest, Logins};

/// The logins service and its browser edge.
pub type State = WithBrowser<Logins>;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    Ok(WithBrowser {
        service: Logins::from_source(src, clock).await?,
        browser: Browser::from_source(src)?,
    })
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let body = http::json_object(&req)?;
        let input = LoginRequest::from_body(&body)?;
        let transport = state.browser.requested_transport(&req, &body)?;
        let tokens = state
            .service
            .login(&input.email, input.password, &Caller::of(&req))
            .await?;
        Ok(state.browser.tokens(&tokens, transport))
    }
    .await;
    http::respond(&req, result)
}
