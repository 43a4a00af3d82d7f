//! djangorestframework-simplejwt's routes, for the frontends written for it
//! (`SIMPLEJWT_COMPAT=true`; off by default, when they answer what an unknown route answers).
//! They are served by the functions of the service's own routes, with the same rules, lockout,
//! rotation and session end; only the shapes differ:
//!
//! - `POST /api/token/` (login): `{"username"|"email", "password"}` → `{"access", "refresh"}`;
//! - `POST /api/token/refresh/` (refresh): `{"refresh"}` → `{"access", "refresh"}`, rotated;
//! - `POST /api/token/verify/` (refresh's function): `{"token"}` → `{}`, or 401 when the
//!   authorizer would deny the access token ([`crate::service::AccessChecker`]);
//! - `POST /api/token/blacklist/` (logout): `{"refresh"}` → `{}`, the session ends.
//!
//! Bodies are read as DRF's `CharField`s read them (its messages), errors are in DRF's shape
//! ([`crate::error::ApiError::drf_parts`]).

use lambda_http::{Body, Request, Response};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};
use crate::http;
use crate::service::TokenPair;

/// The route keys, as API Gateway passes them (`requestContext.routeKey`).
pub const OBTAIN: &str = "POST /api/token/";
pub const REFRESH: &str = "POST /api/token/refresh/";
pub const VERIFY: &str = "POST /api/token/verify/";
pub const BLACKLIST: &str = "POST /api/token/blacklist/";

/// Whether `req` came in on the route `route_key` (one of the constants above).
pub fn is_route(req: &Request, route_key: &str) -> bool {
    http::route_key(req) == Some(route_key)
}

/// A member read as DRF's `CharField` reads it: present, not `null`, a string, not blank.
fn char_field<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    let message = match body.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => return Some(s),
        Some(Value::String(_)) => "This field may not be blank.",
        None => "This field is required.",
        Some(Value::Null) => "This field may not be null.",
        Some(_) => "Not a valid string.",
    };
    errors.push(FieldError::new(name, message));
    None
}

fn finish<T>(value: Option<T>, errors: Vec<FieldError>) -> Result<T, ApiError> {
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// `POST /api/token/`'s body as simplejwt's serializer checks it: `password` and the login
/// name, `email` when the body has one, else `username` (Django's default `USERNAME_FIELD`).
/// The body then goes to [`crate::service::LoginRequest`], as `POST /auth/login`'s does.
pub fn obtain_fields(body: &Map<String, Value>) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let name = if body.contains_key("email") {
        "email"
    } else {
        "username"
    };
    let login = char_field(body, name, &mut errors);
    let password = char_field(body, "password", &mut errors);
    finish(login.zip(password).map(|_| ()), errors)
}

/// A token member (`refresh`, `token`) as simplejwt's serializers read it.
pub fn token_field(body: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    let token = char_field(body, name, &mut errors).map(str::to_owned);
    finish(token, errors)
}

/// simplejwt's token pair.
#[derive(Serialize)]
struct Pair<'a> {
    access: &'a str,
    refresh: &'a str,
}

/// 200 `{"access", "refresh"}`, uncacheable: what `/api/token/` and `/api/token/refresh/`
/// answer (with `ROTATE_REFRESH_TOKENS`, as this service always rotates).
pub fn pair(tokens: &TokenPair) -> Response<Body> {
    http::ok_no_store(&Pair {
        access: tokens.access_token.expose_secret(),
        refresh: tokens.refresh_token.expose_secret(),
    })
}

/// 200 `{}`: what `/api/token/verify/` and `/api/token/blacklist/` answer.
pub fn done() -> Response<Body> {
    http::ok(&Map::new())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn messages(result: Result<(), ApiError>) -> Vec<(String, String)> {
        match result {
            Ok(()) => Vec::new(),
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| (e.field, e.message)).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn fields_are_read_as_drf_reads_a_char_field() {
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert!(
            messages(obtain_fields(&body(
                json!({"username": "u", "password": "p"})
            )))
            .is_empty()
        );
        assert!(messages(obtain_fields(&body(json!({"email": "e", "password": "p"})))).is_empty());
        assert_eq!(
            messages(obtain_fields(&body(json!({})))),
            [
                pair("username", "This field is required."),
                pair("password", "This field is required.")
            ]
        );
        assert_eq!(
            messages(obtain_fields(&body(
                json!({"email": " ", "password": null})
            ))),
            [
                pair("email", "This field may not be blank."),
                pair("password", "This field may not be null.")
            ]
        );
        assert_eq!(
            messages(token_field(&body(json!({"refresh": 3})), "refresh").map(|_| ())),
            [pair("refresh", "Not a valid string.")]
        );
        assert_eq!(
            token_field(&body(json!({"token": "t"})), "token").unwrap(),
            "t"
        );
    }
}
