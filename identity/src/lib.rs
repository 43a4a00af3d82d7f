//! The caller's identity, as the authorizer hands it to every function behind it. A crate of
//! its own (`lambda_http`, `serde_json`, `thiserror`), so another team's Lambda that depends on
//! it pulls in no password hashing, AWS SDK or signing code.
//!
//! The authorizer puts the context below into its simple response; API Gateway places it at
//! `requestContext.authorizer.lambda`, and `lambda_http` exposes it on the request. Any Lambda
//! behind the same authorizer reads it with [`Identity::from_request`]:
//!
//! ```no_run
//! # use lambda_http::Request;
//! # fn handler(req: Request) {
//! match identity::Identity::from_request(&req) {
//!     Ok(me) => println!("user {} with roles {:?}", me.user_id, me.roles),
//!     Err(_) => { /* not behind the authorizer: answer 401 */ }
//! }
//! # }
//! ```

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::{Map, Value};

pub const USER_ID: &str = "user_id";
pub const ROLES: &str = "roles";
pub const SESSION_ID: &str = "sid";
pub const TOKEN_ID: &str = "jti";
pub const AMR: &str = "amr";
pub const ENTITLEMENTS: &str = "entitlements";

/// Who is calling: the verified access token's `sub`, `roles`, `entitlements`, `sid` and `jti`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub roles: Vec<String>,
    /// The permissions the roles give (RFC 9068 §2.2.3.1), as of the token's issue: a role
    /// given reaches tokens at the next refresh; one taken away or narrowed stops the token at
    /// the authorizer at once (with the session check on).
    pub entitlements: Vec<String>,
    pub session_id: String,
    pub token_id: String,
    /// How the caller authenticated (RFC 8176): `["pwd"]`, or `["pwd","otp"]` (and `"rec"`
    /// after a recovery code) once a second factor was given.
    pub amr: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("the request did not come through the Lambda authorizer")]
    NoAuthorizerContext,
    #[error("the authorizer context has no usable {0}")]
    MissingField(&'static str),
}

impl Identity {
    /// Reads the identity the authorizer passed with this request.
    pub fn from_request(req: &Request) -> Result<Self, IdentityError> {
        let fields = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .map(|a| &a.fields)
                .filter(|f| !f.is_empty()),
            _ => None,
        }
        .ok_or(IdentityError::NoAuthorizerContext)?;
        let text = |key: &'static str| {
            fields
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or(IdentityError::MissingField(key))
        };
        Ok(Self {
            user_id: text(USER_ID)?,
            roles: fields.get(ROLES).map(parse_roles).unwrap_or_default(),
            entitlements: fields
                .get(ENTITLEMENTS)
                .map(parse_roles)
                .unwrap_or_default(),
            session_id: text(SESSION_ID)?,
            token_id: text(TOKEN_ID)?,
            amr: fields.get(AMR).map(parse_roles).unwrap_or_default(),
        })
    }

    /// The authorizer context for this identity. Roles and entitlements travel as one
    /// comma-separated string each (neither may contain a comma), because API Gateway only
    /// promises to pass scalar context values through.
    pub fn to_context(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(USER_ID.into(), Value::String(self.user_id.clone()));
        map.insert(ROLES.into(), Value::String(self.roles.join(",")));
        map.insert(
            ENTITLEMENTS.into(),
            Value::String(self.entitlements.join(",")),
        );
        map.insert(SESSION_ID.into(), Value::String(self.session_id.clone()));
        map.insert(TOKEN_ID.into(), Value::String(self.token_id.clone()));
        map.insert(AMR.into(), Value::String(self.amr.join(",")));
        map
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the caller's roles give `permission` (Django's `user.has_perm`).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.entitlements.iter().any(|p| p == permission)
    }

    /// For a route that needs a permission (Django's `@permission_required`): `Ok` when the
    /// caller has it, otherwise the response to send, 403 `application/problem+json` with
    /// `code: "forbidden"`.
    #[allow(clippy::result_large_err)]
    pub fn require_permission(
        &self,
        permission: &str,
    ) -> Result<(), lambda_http::Response<lambda_http::Body>> {
        if self.has_permission(permission) {
            return Ok(());
        }
        Err(problem(
            "forbidden",
            "Forbidden",
            &format!("this route needs the permission {permission}"),
        ))
    }

    /// Whether the caller gave a second factor (a TOTP or recovery code) at login.
    pub fn has_mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "otp")
    }

    /// For a route that needs two-factor: `Ok` when the caller gave one, otherwise the
    /// response to send, 403 `application/problem+json` with `code: "mfa_required"`.
    // The error is the response itself, returned at most once per request: boxing it would
    // only make every caller unbox it.
    #[allow(clippy::result_large_err)]
    pub fn requires_mfa(&self) -> Result<(), lambda_http::Response<lambda_http::Body>> {
        if self.has_mfa() {
            return Ok(());
        }
        Err(problem(
            "mfa_required",
            "Second factor required",
            "this route needs a session that gave a second factor at login",
        ))
    }
}

/// A 403 `application/problem+json` with a stable `code`, shaped like the service's own.
fn problem(code: &str, title: &str, detail: &str) -> lambda_http::Response<lambda_http::Body> {
    let body = serde_json::json!({
        "type": format!("urn:problem:auth:{code}"),
        "title": title,
        "status": 403,
        "detail": detail,
        "code": code,
    });
    let mut response = lambda_http::Response::new(lambda_http::Body::Text(body.to_string()));
    *response.status_mut() = lambda_http::http::StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn parse_roles(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(authorizer: Value) -> Request {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /me", "rawPath": "/me", "rawQueryString": "",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "d", "requestId": "r", "routeKey": "GET /me",
                "stage": "$default", "time": "t", "timeEpoch": 0, "authorizer": authorizer,
                "http": {"method": "GET", "path": "/me", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "x"}
            }
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn reads_what_the_authorizer_wrote() {
        let me = Identity {
            user_id: "u".into(),
            roles: vec!["user".into(), "admin".into()],
            entitlements: vec!["auth.users.read".into(), "articles.publish".into()],
            session_id: "s".into(),
            token_id: "j".into(),
            amr: vec!["pwd".into()],
        };
        let req = event(serde_json::json!({ "lambda": me.to_context() }));
        assert_eq!(Identity::from_request(&req).unwrap(), me);
        assert!(me.has_role("admin"));
        assert!(me.has_permission("articles.publish") && !me.has_permission("articles"));
        assert!(me.require_permission("auth.users.read").is_ok());
        let denied = me.require_permission("auth.users.write").unwrap_err();
        assert_eq!(denied.status(), 403);
        let body = String::from_utf8(denied.body().to_vec()).unwrap();
        assert!(body.contains("\"code\":\"forbidden\""), "{body}");
        let denied = me.requires_mfa().unwrap_err();
        assert_eq!(denied.status(), 403);
        let with_otp = Identity {
            amr: vec!["pwd".into(), "otp".into()],
            ..me
        };
        assert!(with_otp.has_mfa() && with_otp.requires_mfa().is_ok());
    }

    #[test]
    fn no_context_is_an_error() {
        let req = event(serde_json::json!({}));
        assert_eq!(
            Identity::from_request(&req),
            Err(IdentityError::NoAuthorizerContext)
        );
        let req = event(serde_json::json!({"lambda": {"user_id": "u"}}));
        assert_eq!(
            Identity::from_request(&req),
            Err(IdentityError::MissingField(SESSION_ID))
        );
    }
}
