//! `PUT /admin/roles/{name}` (behind the authorizer; needs `auth.roles.write`): `{description?, permissions}`: creates or replaces a role.
//!
//! The permission is checked here, from the token's `entitlements`, whatever the gateway's
//! `ROUTE_PERMISSIONS` say; with `ADMIN_REQUIRE_MFA` the token's `amr` must show a second
//! factor (403 `admin_mfa_required`).

use lambda_http::{Body, Request, Response};
use shared::http;
use shared::policy::roles;
use shared::service::{Actor, Caller, RolePut};

pub use shared::service::Admin as State;

/// The permission this route needs.
pub const PERMISSION: &str = roles::ROLES_WRITE;

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
        let put = RolePut::from_body(&http::json_object(&req)?)?;
        let name = http::path_param(&req, "name").unwrap_or_default();
        let role = state
            .put_role(Actor::Admin(&me), &name, &put, &Caller::of(&req))
            .await?;
        Ok(http::ok(&role))
    }
    .await;
    http::respond(&req, result)
}
