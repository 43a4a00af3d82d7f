//! `GET /admin/users` (behind the authorizer; needs `auth.users.read`): a page of users, newest first (`?limit=&cursor=&email=`).
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
        let page = state
            .list_users(
                http::query_param(&req, "limit").as_deref(),
                http::query_param(&req, "cursor").as_deref(),
                http::query_param(&req, "email").as_deref(),
            )
            .await?;
        Ok(http::ok(&page))
    }
    .await;
    http::respond(&req, result)
}
