//! `POST /auth/refresh`: `{refresh_token}` → 200 token pair with a rotated refresh token.

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::service::{Caller, refresh_token_from_body};

pub use shared::service::Refresher as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src, clock).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let token = refresh_token_from_body(&http::json_object(&req)?)?;
        let tokens = state.refresh(&token, &Caller::of(&req)).await?;
        Ok(http::ok_no_store(&tokens))
    }
    .await;
    http::respond(&req, result)
}
