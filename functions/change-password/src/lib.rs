//! `POST /me/password` (behind the authorizer): `{current_password, new_password}` → 204; every
//! refresh session of the user is revoked.

use lambda_http::{Body, Request, Response};
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;
use shared::service::{Caller, PasswordChange};

pub use shared::service::Accounts as State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    // The change is reported to the account's address (a security notice).
    let notices = shared::service::Notices::from_source(src, clock.clone()).await?;
    Ok(State::from_source(src, clock).await?.with_notices(notices))
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let identity = Identity::from_request(&req).map_err(|_| ApiError::Unauthenticated)?;
        let change = PasswordChange::from_body(&http::json_object(&req)?)?;
        state
            .change_password(
                &identity.user_id,
                change.current,
                change.new,
                &Caller::of(&req),
            )
            .await?;
        Ok(http::no_content())
    }
    .await;
    http::respond(&req, result)
}
