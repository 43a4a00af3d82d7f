//! `POST /auth/login`: `{email | username, password[, token_transport]}` → 200 token pair (in
//! cookie mode the refresh token is set as an `HttpOnly` cookie instead).
//!
//! Also simplejwt's `POST /api/token/` (`SIMPLEJWT_COMPAT`, [`shared::simplejwt`]): the same
//! login, guard and lockout, `{"username"|"email", "password"}` → `{"access", "refresh"}`.

use lambda_http::{Body, Request, Response};
use shared::browser::{Browser, WithBrowser};
use shared::error::ApiError;
use shared::http;
use shared::policy::rates::RouteGroup;
use shared::service::{Caller, Guarded, LoginRequest, Logins, TokenPair};
use shared::simplejwt;

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
    if simplejwt::is_route(&req, simplejwt::OBTAIN) {
        return obtain_pair(state, req).await;
    }
    let result = async {
        state.guard.admit(&req).await?;
        let body = http::json_object(&req)?;
        let input = LoginRequest::from_body(&body)?;
        let transport = state.browser.requested_transport(&req, &body)?;
        let tokens = log_in(state, &req, input).await?;
        Ok(state.browser.tokens(&tokens, transport))
    }
    .await;
    http::respond(&req, result)
}

/// simplejwt's `POST /api/token/`: the login above in simplejwt's shapes (an account with
/// two-factor on gets the challenge, 401 `mfa_required`, never tokens).
async fn obtain_pair(state: &State, req: Request) -> Response<Body> {
    if !state.browser.simplejwt() {
        return http::gateway_not_found();
    }
    let result = async {
        state.guard.admit(&req).await?;
        let body = http::json_object(&req)?;
        simplejwt::obtain_fields(&body)?;
        let input = LoginRequest::from_body(&body)?;
        let tokens = log_in(state, &req, input).await?;
        Ok(simplejwt::pair(&tokens))
    }
    .await;
    http::respond_drf(&req, result)
}

/// The one login both routes run, whatever the body named (`LoginRequest`).
async fn log_in(state: &State, req: &Request, input: LoginRequest) -> Result<TokenPair, ApiError> {
    state
        .service
        .login_as(&input.name, input.password, &Caller::of(req))
        .await
}
