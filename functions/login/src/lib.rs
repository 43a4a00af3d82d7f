//! `POST /auth/login`: `{email | username, password[, token_transport]}` → 200 token pair (in cookie mode
//! the refresh token is set as an `HttpOnly` cookie instead).

use lambda_http::{Body, Request, Response};
use shared::browser::{Browser, WithBrowser};
use shared::http;
use shared::policy::rates::RouteGroup;
use shared::service::{Caller, Guarded, LoginRequest, Logins};

/// The logins service and its browser edge.
pub type State = Guarded<WithBrowser<Logins>>;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    let inner = WithBrowser {
        service: Logins::from_source(src, clock.clone()).await?,
        browser: Browser::from_source(src)?,
    };
    Guarded::from_source(src, clock, RouteGroup::Login, inner).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        state.guard.admit(&req).await?;
        let body = http::json_object(&req)?;
        let input = LoginRequest::from_body(&body)?;
        let transport = state.browser.requested_transport(&req, &body)?;
        let tokens = state
            .service
            .login_as(&input.name, input.password, &Caller::of(&req))
            .await?;
        Ok(state.browser.tokens(&tokens, transport))
    }
    .await;
    http::respond(&req, result)
}
