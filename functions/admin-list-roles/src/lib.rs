//! `GET /admin/roles` (behind the authorizer; needs `auth.users.read`): every role with its permissions and how many users hold it.
//!
//! The permission is checked here, from the token's `entitlements`, whatever the gateway's
//! `ROUTE_PERMISSIONS` say; with `ADMIN_REQUIRE_MFA` the token's `amr` must show a second
//! factor (403 `admin_mfa_required`).

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::policy::roles;

pub use shared::service::Admin as State;

/// The permission this route needs.
pub const PERMISSION: &str = roles::USERS_READ;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src, clock).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let _me = state.caller(&req, PERMISSION)?;
        Ok(http::ok(&state.roles().await?))
    }
    .await;
    http::respond(&req, result)
}
