//! `POST /auth/refresh`: `{refresh_token}` (or `{}` with the refresh-token cookie) → 200 token
//! pair with a rotated refresh token, in the body or the cookie as it came.

use lambda_http::{Body, Request, Response};
use shared::browser::{Browser, Transport, WithBrowser};
use shared::http;
use shared::service::{Caller, Refresher};

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
