//! The HTTP edge shared by every handler: one body parser that enforces size, content type and
//! JSON in that order, a field reader that reports every problem at once, and the functions that
//! build responses (handlers use no status literals).

use lambda_http::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, DrfBody, FieldError, chain};

/// The largest body accepted, in bytes (16 KiB; exactly this many is accepted).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
pub const PROBLEM_JSON: &str = "application/problem+json";
pub const JSON: &str = "application/json";

/// Parses a request body: size (413) → content type (415) → JSON syntax (400
/// `malformed_request`) → an object (400 `validation_failed`).
pub fn json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(JSON));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    match serde_json::from_slice::<Value>(body) {
        Err(_) => Err(ApiError::MalformedRequest),
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::Validation(vec![FieldError::new(
            "",
            "the body must be a JSON object",
        )])),
    }
}

/// Reads members of a JSON object, collecting every problem before failing.
#[derive(Debug)]
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    /// A member that must be present and a string.
    pub fn required_str(&mut self, name: &str) -> Option<&'a str> {
        match self.object.get(name) {
            Some(Value::String(s)) => Some(s.as_str()),
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(_) => {
                self.errors.push(FieldError::new(name, "must be a string"));
                None
            }
        }
    }

    /// A member that must be present, and is a string or `null` (`Some(None)`).
    pub fn required_nullable_str(&mut self, name: &str) -> Option<Option<&'a str>> {
        match self.object.get(name) {
            Some(Value::String(s)) => Some(Some(s.as_str())),
            Some(Value::Null) => Some(None),
            None => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "must be a string or null"));
                None
            }
        }
    }

    /// A member that may be absent or `null`, and otherwise must be a string.
    pub fn optional_str(&mut self, name: &str) -> Option<&'a str> {
        match self.object.get(name) {
            Some(Value::String(s)) => Some(s.as_str()),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "must be a string or null"));
                None
            }
        }
    }

    /// A member that may be absent or `null`, and otherwise must be a boolean.
    pub fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.object.get(name) {
            Some(Value::Bool(b)) => Some(*b),
            None | Some(Value::Null) => None,
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "must be true or false"));
                None
            }
        }
    }

    /// A member that may be absent or `null`, and otherwise must be an array of strings.
    pub fn optional_str_list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            Some(_) => {
                self.errors
                    .push(FieldError::new(name, "must be an array of strings"));
                None
            }
        }
    }

    /// Whether the object has a member `name` (even `null`).
    pub fn has(&self, name: &str) -> bool {
        self.object.contains_key(name)
    }

    /// Rejects every member not in `known` (a typo in an administrator's change must not pass
    /// silently as "nothing to change").
    pub fn only(&mut self, known: &[&str]) {
        let unknown: Vec<String> = self
            .object
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for name in unknown {
            self.errors
                .push(FieldError::new(name, "is not a known member"));
        }
    }

    /// Records a problem found by a later check (for example a parse).
    pub fn reject(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    /// `Err(validation_failed)` listing every problem, if any was found.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

fn with_body(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => with_body(status, JSON, text),
        Err(err) => problem(&ApiError::Internal(Box::new(err)), None),
    }
}

/// A path parameter (`{id}` of the route), as API Gateway passes it.
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
}

/// A query-string parameter (its first value).
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
}

/// 200 with a JSON body.
pub fn ok<T: Serialize>(body: &T) -> Response<Body> {
    json(StatusCode::OK, body)
}

/// 201 with a JSON body.
pub fn created<T: Serialize>(body: &T) -> Response<Body> {
    json(StatusCode::CREATED, body)
}

/// 202 `{"status":"accepted"}`: the request is taken; what follows (a mail) is not told.
pub fn accepted() -> Response<Body> {
    json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "status": "accepted" }),
    )
}

/// 202 with a JSON body: part of the work is done, the body says what is left.
pub fn accepted_with<T: Serialize>(body: &T) -> Response<Body> {
    json(StatusCode::ACCEPTED, body)
}

/// 204, no body.
///
/// (Every response of this service that has no body is a 204.)
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// 200 with a JSON body that carries a token or a secret: no cache may keep it
/// (`Cache-Control: no-store` and `Pragma: no-cache`, RFC 6749 §5.1).
pub fn ok_no_store<T: Serialize>(body: &T) -> Response<Body> {
    let mut response = ok(body);
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// 200 with a JSON body that shared caches may keep for `max_age` seconds.
pub fn ok_cacheable(body: String, max_age: u32) -> Response<Body> {
    let mut response = with_body(StatusCode::OK, JSON, body);
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(CACHE_CONTROL, value);
    }
    response
}

/// 200 with a static text document (a page, a script, a style sheet) of this media type.
pub fn ok_static(content_type: &'static str, body: &'static str) -> Response<Body> {
    with_body(StatusCode::OK, content_type, body.to_owned())
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    /// Only with `mfa_required`: the token that continues the login.
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_token: Option<&'a str>,
}

/// The problem+json response for an error. 5xx causes go to the log with the request id; the
/// body says nothing about them.
pub fn problem(err: &ApiError, request_id: Option<&str>) -> Response<Body> {
    let parts = err.parts();
    log_server_error(err, parts.status, parts.code, request_id);
    let body = Problem {
        type_: format!("urn:problem:auth:{}", parts.code),
        title: parts.title,
        status: parts.status,
        detail: &parts.detail,
        code: parts.code,
        errors: parts.errors.as_deref(),
        request_id,
        mfa_token: mfa_token(err),
    };
    let text = serde_json::to_string(&body).unwrap_or_else(|_| {
        format!(r#"{{"type":"about:blank","title":"Internal error","status":500,"code":"internal_error","detail":"{}"}}"#, parts.code)
    });
    error_response(err, parts.status, PROBLEM_JSON, text)
}

/// The error in Django REST framework's and simplejwt's shape ([`ApiError::drf_parts`]), as
/// `application/json`, for simplejwt's routes: the same status, `Retry-After` and cache headers
/// as [`problem`], and simplejwt's `WWW-Authenticate: Bearer realm="api"` on a 401.
pub fn drf_problem(err: &ApiError, request_id: Option<&str>) -> Response<Body> {
    let parts = err.drf_parts();
    let body = match &parts.body {
        DrfBody::Detail { detail, code } => {
            log_server_error(err, parts.status, code, request_id);
            let mut object = Map::new();
            object.insert("detail".into(), Value::from(detail.as_str()));
            object.insert("code".into(), Value::from(*code));
            if let Some(token) = mfa_token(err) {
                object.insert("mfa_token".into(), Value::from(token));
            }
            object
        }
        DrfBody::Fields(errors) => {
            let mut object = Map::new();
            for error in errors {
                let field = if error.field.is_empty() {
                    "non_field_errors"
                } else {
                    error.field.as_str()
                };
                if let Value::Array(messages) = object
                    .entry(field)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    messages.push(Value::from(error.message.as_str()));
                }
            }
            object
        }
    };
    let text = Value::Object(body).to_string();
    let mut response = error_response(err, parts.status, JSON, text);
    if parts.status == StatusCode::UNAUTHORIZED.as_u16() {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(SIMPLEJWT_REALM));
    }
    response
}

/// What simplejwt's views send with a 401 (`WWW-Authenticate`).
pub const SIMPLEJWT_REALM: &str = r#"Bearer realm="api""#;

/// Only with `mfa_required`: the token that continues the login.
fn mfa_token(err: &ApiError) -> Option<&str> {
    match err {
        ApiError::MfaRequired { mfa_token } => Some(mfa_token),
        _ => None,
    }
}

/// A 5xx is counted and logged with its cause chain and the request id.
fn log_server_error(err: &ApiError, status: u16, code: &'static str, request_id: Option<&str>) {
    if status >= 500 {
        crate::metrics::count(crate::metrics::Metric::ServerError, code);
        tracing::error!(request_id, code, error = %chain(err), "request failed");
    }
}

/// The response of an error in either shape: its status, and the headers it carries whatever
/// the shape (`Retry-After`, and no caching of a body that holds a token).
fn error_response(
    err: &ApiError,
    status: u16,
    content_type: &'static str,
    text: String,
) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = with_body(status, content_type, text);
    let retry_after = match err {
        ApiError::ServiceUnavailable(_) | ApiError::MailUnavailable(_) | ApiError::Conflict => {
            Some(1)
        }
        ApiError::TooManyAttempts { retry_after }
        | ApiError::TooManyMails { retry_after }
        | ApiError::TooManyRequests { retry_after }
        | ApiError::MailBudgetSpent { retry_after } => Some((*retry_after).max(1)),
        _ => None,
    };
    if let Some(seconds) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        response.headers_mut().insert(RETRY_AFTER, seconds);
    }
    if matches!(err, ApiError::MfaRequired { .. }) {
        // It carries a token: no cache may keep it.
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

/// Like [`respond`], with errors in DRF's shape ([`drf_problem`]): simplejwt's routes.
pub fn respond_drf(req: &Request, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(err) => drf_problem(&err, request_id(req).as_deref()),
    }
}

/// API Gateway's own answer to a route it does not have: 404 `{"message":"Not Found"}`
/// (`application/json`). What a route that is switched off answers, so it cannot be told from
/// one that does not exist (the local server answers unknown routes with the same body).
pub fn gateway_not_found() -> Response<Body> {
    with_body(
        StatusCode::NOT_FOUND,
        JSON,
        r#"{"message":"Not Found"}"#.to_owned(),
    )
}

/// The API Gateway route key the request came in on (`POST /auth/login`), when it came
/// through API Gateway.
pub fn route_key(req: &Request) -> Option<&str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.as_deref(),
        _ => None,
    }
}

/// Turns a handler's result into the response: `Ok` as is, `Err` as problem+json.
pub fn respond(req: &Request, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(err) => problem(&err, request_id(req).as_deref()),
    }
}

/// API Gateway's request id, when the request came through it.
pub fn request_id(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => req.lambda_context_ref().map(|c| c.request_id.clone()),
    }
}

/// The caller's address as API Gateway saw it.
pub fn source_ip(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/x");
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(Body::Text(body.to_owned())).unwrap()
    }

    fn code(result: Result<Map<String, Value>, ApiError>) -> &'static str {
        result.map(|_| "ok").unwrap_or_else(|e| e.parts().code)
    }

    #[test]
    fn checks_run_in_the_documented_order() {
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        assert_eq!(
            code(json_object(&request(Some("text/plain"), &big))),
            "payload_too_large"
        );
        assert_eq!(
            code(json_object(&request(None, "{}"))),
            "unsupported_media_type"
        );
        assert_eq!(
            code(json_object(&request(Some("text/plain"), "{}"))),
            "unsupported_media_type"
        );
        assert_eq!(
            code(json_object(&request(Some(JSON), "{nope"))),
            "malformed_request"
        );
        assert_eq!(
            code(json_object(&request(Some(JSON), "[1]"))),
            "validation_failed"
        );
        assert_eq!(
            code(json_object(&request(
                Some("Application/JSON; charset=utf-8"),
                "{}"
            ))),
            "ok"
        );
    }

    #[test]
    fn exactly_the_limit_is_accepted() {
        let padding = MAX_BODY_BYTES - r#"{"a":""}"#.len();
        let body = format!(r#"{{"a":"{}"}}"#, "x".repeat(padding));
        assert_eq!(body.len(), MAX_BODY_BYTES);
        assert_eq!(code(json_object(&request(Some(JSON), &body))), "ok");
    }

    #[test]
    fn fields_report_every_problem() {
        let object: Map<String, Value> =
            serde_json::from_str(r#"{"email": 3, "name": []}"#).unwrap();
        let mut fields = Fields::new(&object);
        assert_eq!(fields.required_str("email"), None);
        assert_eq!(fields.required_str("password"), None);
        assert_eq!(fields.optional_str("name"), None);
        match fields.finish() {
            Err(ApiError::Validation(errors)) => {
                let names: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(names, ["email", "password", "name"]);
            }
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn problems_are_problem_json() {
        let response = problem(&ApiError::EmailTaken, Some("req-1"));
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["code"], "email_taken");
        assert_eq!(body["status"], 409);
        assert_eq!(body["request_id"], "req-1");
        for member in ["type", "title", "detail"] {
            assert!(body[member].is_string(), "{member} missing");
        }
    }

    fn drf(err: &ApiError) -> (u16, Option<String>, Option<String>, Value) {
        let response = drf_problem(err, Some("req-1"));
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(header(CONTENT_TYPE).as_deref(), Some(JSON));
        (
            response.status().as_u16(),
            header(WWW_AUTHENTICATE),
            header(RETRY_AFTER),
            body,
        )
    }

    #[test]
    fn drf_errors_take_drf_s_shapes_and_keep_the_headers() {
        let (status, realm, _, body) = drf(&ApiError::InvalidToken);
        assert_eq!(status, 401);
        assert_eq!(realm.as_deref(), Some(SIMPLEJWT_REALM));
        assert_eq!(
            body,
            serde_json::json!({"detail": crate::error::TOKEN_NOT_VALID, "code": "token_not_valid"})
        );
        let (status, realm, _, body) = drf(&ApiError::Validation(vec![
            FieldError::new("password", "This field is required."),
            FieldError::new("", "the body must be a JSON object"),
            FieldError::new("password", "twice"),
        ]));
        assert_eq!((status, realm), (400, None));
        assert_eq!(
            body,
            serde_json::json!({
                "password": ["This field is required.", "twice"],
                "non_field_errors": ["the body must be a JSON object"]
            })
        );
        let (status, _, retry_after, body) = drf(&ApiError::TooManyRequests { retry_after: 42 });
        assert_eq!((status, retry_after.as_deref()), (429, Some("42")));
        assert_eq!(body["code"], "too_many_requests");
        let response = drf_problem(
            &ApiError::MfaRequired {
                mfa_token: "challenge".into(),
            },
            None,
        );
        assert_eq!(response.headers().get(CACHE_CONTROL).unwrap(), "no-store");
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["mfa_token"], "challenge");
        assert_eq!(body["code"], "mfa_required");
    }

    #[test]
    fn a_switched_off_route_answers_as_the_gateway_does_for_none() {
        let response = gateway_not_found();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers().get(CONTENT_TYPE).unwrap(), JSON);
        assert_eq!(response.body().as_ref(), br#"{"message":"Not Found"}"#);
    }
}
