//! `POST /auth/refresh`: `{refresh_token}` (or `{}` with the refresh-token cookie) → 200 token
//! pair with a rotated refresh token, in the body or the cookie as it came.
//!
//! Also simplejwt's `POST /api/token/refresh/` (the same rotation, `{"refresh"}` →
//! `{"access", "refresh"}`) and `POST /api/token/verify/` (`{"token"}` → `{}` when the
//! authorizer would allow that access token) with `SIMPLEJWT_COMPAT` ([`shared::simplejwt`]).
//! Verify lives here: this function already reads what the authorizer reads (its
//! `BatchGetItem` grant on the user's partition and the roles) and links the token code, so it
//! costs no new function, no new grant and nothing on the authorizer's path.

use lambda_http::{Body, Request, Response};
use shared::browser::{Browser, Transport, WithBrowser};
use shared::http;
use shared::service::{Caller, Refresher};
use shared::simplejwt;

/// The refresher service and its browser edge.
pub type State = WithBrowser<Refresher>;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    Ok(WithBrowser {
        service: Refresher::from_source(src, clock).await?,
        browser: Browser::from_source(src)?,
    })
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    if simplejwt::is_route(&req, simplejwt::REFRESH) {
        return compat(state, req, Compat::Refresh).await;
    }
    if simplejwt::is_route(&req, simplejwt::VERIFY) {
        return compat(state, req, Compat::Verify).await;
    }
    let mut transport = Transport::Body;
    let result = async {
        let (token, from) = state
            .browser
            .presented_refresh_token(&req, &http::json_object(&req)?)?;
        transport = from;
        let tokens = state.service.refresh(&token, &Caller::of(&req)).await?;
        Ok(state.browser.tokens(&tokens, from))
    }
    .await;
    state.browser.respond(&req, transport, result)
}

/// simplejwt's routes this function serves.
#[derive(Debug, Clone, Copy)]
enum Compat {
    Refresh,
    Verify,
}

/// simplejwt's refresh (the rotation above) or verify, in simplejwt's shapes.
async fn compat(state: &State, req: Request, route: Compat) -> Response<Body> {
    if !state.browser.simplejwt() {
        return http::gateway_not_found();
    }
    let result = async {
        let body = http::json_object(&req)?;
        match route {
            Compat::Refresh => {
                let token = simplejwt::token_field(&body, "refresh")?;
                let tokens = state.service.refresh(&token, &Caller::of(&req)).await?;
                Ok(simplejwt::pair(&tokens))
            }
            Compat::Verify => {
                let token = simplejwt::token_field(&body, "token")?;
                state.service.verify_access(&token).await?;
                Ok(simplejwt::done())
            }
        }
    }
    .await;
    http::respond_drf(&req, result)
}
