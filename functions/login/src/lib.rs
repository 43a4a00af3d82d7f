//! `POST /auth/login`: `{email, password}` → 200 token pair.

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::service::{Caller, LoginRequest};

pub use shared::service::Logins as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src, clock).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let input = LoginRequest::from_body(&http::json_object(&req)?)?;
        let tokens = state
            .login(&input.email, input.password, &Caller::of(&req))
            .await?;
        Ok(http::ok_no_store(&tokens))
    }
    .await;
    http::respond(&req, result)
}
