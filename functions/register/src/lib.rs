//! `POST /auth/register`: `{email, password, name?}` → 201 profile.

use lambda_http::{Body, Request, Response};
use shared::domain::ProfileBody;
use shared::http;
use shared::service::{Caller, Registration};

pub use shared::service::Registrar as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src, clock).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let input = Registration::from_body(&http::json_object(&req)?)?;
        let user = state.register(input, &Caller::of(&req)).await?;
        Ok(http::created(&ProfileBody::from(&user)))
    }
    .await;
    http::respond(&req, result)
}
