//! `GET /admin/users/{id}` (behind the authorizer; needs `auth.users.read`): one user, with roles, permissions, last login and live sessions.
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
        let id = http::path_param(&req, "id").unwrap_or_default();
        Ok(http::ok(&state.user(&id).await?))
    }
    .await;
    http::respond(&req, result)
}
