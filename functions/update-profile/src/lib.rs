//! `PATCH /me` (behind the authorizer): `{name}` → 200 updated profile.

use lambda_http::{Body, Request, Response};
use shared::domain::ProfileBody;
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;
use shared::service::NameChange;

pub use shared::service::Profiles as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    _clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let identity = Identity::from_request(&req).map_err(|_| ApiError::Unauthenticated)?;
        let NameChange(name) = NameChange::from_body(&http::json_object(&req)?)?;
        let user = state.rename(&identity.user_id, name.as_ref()).await?;
        Ok(http::ok(&ProfileBody::from(&user)))
    }
    .await;
    http::respond(&req, result)
}
