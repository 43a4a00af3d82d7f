//! `POST /auth/logout`: `{refresh_token}` (or `{}` with the refresh-token cookie) → 204; that
//! token's session ends (and the cookie is cleared).
//!
//! Also simplejwt's `POST /api/token/blacklist/` (`SIMPLEJWT_COMPAT`, [`shared::simplejwt`]):
//! `{"refresh"}` → 200 `{}`, the session ends as above.

use lambda_http::{Body, Request, Response};
use shared::browser::{Browser, Transport, WithBrowser};
use shared::http;
use shared::service::{Caller, Sessions};
use shared::simplejwt;

/// The sessions service and its browser edge.
pub type State = WithBrowser<Sessions>;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    Ok(WithBrowser {
        service: Sessions::from_source(src, clock).await?,
        browser: Browser::from_source(src)?,
    })
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    if simplejwt::is_route(&req, simplejwt::BLACKLIST) {
        return blacklist(state, req).await;
    }
    let mut transport = Transport::Body;
    let result = async {
        let (token, from) = state
            .browser
            .presented_refresh_token(&req, &http::json_object(&req)?)?;
        transport = from;
        state.service.logout(&token, &Caller::of(&req)).await?;
        Ok(state.browser.logged_out(from))
    }
    .await;
    state.browser.respond(&req, transport, result)
}

/// simplejwt's `POST /api/token/blacklist/`: the logout above in simplejwt's shapes.
async fn blacklist(state: &State, req: Request) -> Response<Body> {
    if !state.browser.simplejwt() {
        return http::gateway_not_found();
    }
    let result = async {
        let body = http::json_object(&req)?;
        let token = simplejwt::token_field(&body, "refresh")?;
        state.service.logout(&token, &Caller::of(&req)).await?;
        Ok(simplejwt::done())
    }
    .await;
    http::respond_drf(&req, result)
}
