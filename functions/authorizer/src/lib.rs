//! The API Gateway HTTP API Lambda authorizer (payload 2.0, simple responses).
//!
//! It is total: every failure is a deny, never a panic or an error, and the token is never
//! logged. It reads `Authorization: Bearer <token>` (scheme matched case-insensitively), accepts
//! only EdDSA access tokens with `typ: at+jwt` and a known `kid`, checks signature, `iss`, `aud`,
//! `exp`/`nbf` with the configured leeway, and passes the identity on as context.
//!
//! The check of the token is `shared::service::AccessChecker` (simplejwt's
//! `POST /api/token/verify/` answers with the same code). With `REVOCATION_CHECK=session` (the
//! default) it then reads the token's session and the user's profile (one `BatchGetItem`, on
//! every request unless API Gateway caches decisions) and denies a token whose session was revoked (logout, refresh-token reuse, the session cap)
//! or has ended, or was started under an older credentials epoch (a password change, sign-out
//! everywhere), or whose user is gone. When that read fails, it denies: a revocation check that
//! cannot run fails closed. With `REVOCATION_CHECK=off` it never touches DynamoDB.
//!
//! A removed right stops at once: it denies a token naming a role its user no longer holds
//! (the profile it reads anyway), or a role that lost a permission (or was deleted and created
//! again) after the catalog version the token was computed at, from the role stamps item, which
//! the same `BatchGetItem` reads only for tokens that name a role: a token without roles costs
//! what it always did. The client refreshes and gets a token with what it holds now; the
//! session lives on.
//!
//! With `ROUTE_PERMISSIONS` (a JSON map from route key, `"PATCH /me"`, to a permission) it
//! denies a valid token whose `entitlements` lack the permission its route needs, so a route is
//! protected by configuration alone. The decision then depends on the route: the template adds
//! `$context.routeKey` to the identity sources, so a cached Allow is never reused for another
//! route.

use std::collections::BTreeMap;

use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::Value;
use shared::clock::SharedClock;
use shared::config::Source;
use shared::identity::Identity;
use shared::metrics::{self, Metric, authz};
use shared::runtime::InitError;
use shared::service::AccessChecker;
use shared::store::Store;
use shared::tokens::TokenVerifier;

pub type Decision = ApiGatewayV2CustomAuthorizerSimpleResponse<Value>;

#[derive(Debug, Clone)]
pub struct State {
    /// The token check (`shared::service::AccessChecker`, which simplejwt's verify route
    /// shares).
    checker: AccessChecker,
    /// `ROUTE_PERMISSIONS`: route key → the permission it needs.
    route_permissions: BTreeMap<String, String>,
}

impl State {
    pub fn new(verifier: TokenVerifier, clock: SharedClock, sessions: Option<Store>) -> Self {
        Self {
            checker: AccessChecker::new(verifier, clock, sessions),
            route_permissions: BTreeMap::new(),
        }
    }

    /// Routes that need a permission (route key → permission).
    pub fn with_route_permissions(mut self, permissions: BTreeMap<String, String>) -> Self {
        self.route_permissions = permissions;
        self
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        Ok(Self {
            checker: AccessChecker::from_source(src, clock, None).await?,
            route_permissions: shared::config::route_permissions(src)?,
        })
    }
}

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(src: &dyn Source, clock: SharedClock) -> Result<State, InitError> {
    State::from_source(src, clock).await
}

/// The Lambda entry point: any event that is not an authorizer request is denied.
pub async fn handle(state: &State, event: Value) -> Decision {
    match serde_json::from_value::<ApiGatewayV2CustomAuthorizerV2Request>(event) {
        Ok(request) => authorize(state, &request).await,
        Err(_) => {
            tracing::warn!(reason = "not an authorizer request", "deny");
            deny(authz::NOT_A_REQUEST)
        }
    }
}

/// The decision for one request, counted by its outcome ([`Metric::Authorizer`]: `allow` or
/// the reason of the deny).
pub async fn authorize(state: &State, request: &ApiGatewayV2CustomAuthorizerV2Request) -> Decision {
    let header = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            request
                .identity_source
                .as_ref()
                .and_then(|s| s.first().cloned())
        });
    let Some(token) = header.as_deref().and_then(bearer_token) else {
        tracing::info!(reason = "no bearer token", "deny");
        return deny(authz::NO_TOKEN);
    };
    let claims = match state.checker.check(token).await {
        Ok(claims) => claims,
        Err(denied) => {
            tracing::info!(reason = %denied.reason, "deny");
            return deny(denied.outcome);
        }
    };
    if let Some(permission) = request
        .route_key
        .as_deref()
        .and_then(|route| state.route_permissions.get(route))
        && !claims.entitlements.iter().any(|p| p == permission)
    {
        tracing::info!(reason = "missing the route's permission", permission = %permission, "deny");
        return deny(authz::MISSING_PERMISSION);
    }
    tracing::debug!(user_id = %claims.sub, session_id = %claims.sid, "allow");
    metrics::count(Metric::Authorizer, authz::ALLOW);
    let identity = Identity {
        user_id: claims.sub,
        roles: claims.roles,
        entitlements: claims.entitlements,
        session_id: claims.sid,
        token_id: claims.jti,
        amr: claims.amr,
    };
    let mut decision = Decision::default();
    decision.is_authorized = true;
    decision.context = Value::Object(identity.to_context());
    decision
}

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750 §2.1).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// A deny, counted with its outcome.
fn deny(outcome: &'static str) -> Decision {
    metrics::count(Metric::Authorizer, outcome);
    let mut decision = Decision::default();
    decision.is_authorized = false;
    decision.context = Value::Object(serde_json::Map::new());
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_value() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bEaReR abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer a b"), None);
    }
}
