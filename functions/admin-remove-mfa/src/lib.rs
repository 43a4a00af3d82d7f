//! `DELETE /admin/users/{id}/mfa` (behind the authorizer; needs `auth.users.write`): removes
//! every second factor of the user and ends its sessions → 204 (404 for an unknown user).
//!
//! The permission is checked here, from the token's `entitlements`, whatever the gateway's
//! `ROUTE_PERMISSIONS` say; with `ADMIN_REQUIRE_MFA` the token's `amr` must show a second
//! factor (403 `admin_mfa_required`).

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::policy::roles;
use shared::service::{Actor, Caller};

pub use shared::service::FactorRemoval as State;

/// The permission this route needs.
pub const PERMISSION: &str = roles::USERS_WRITE;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    State::from_source(src, clock).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let me = state.caller(&req, PERMISSION)?;
        let id = http::path_param(&req, "id").unwrap_or_default();
        state
            .remove(Actor::Admin(&me), &id, &Caller::of(&req))
            .await?;
        Ok(http::no_content())
    }
    .await;
    http::respond(&req, result)
}
