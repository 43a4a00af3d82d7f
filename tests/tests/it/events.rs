//! The sample events (`events/<binary>.json`, the files `sam local invoke -e` and
//! `cargo lambda invoke --data-file` use): one per route of `devserver::ROUTES`, shaped as API
//! Gateway sends that route, with a body exactly where `openapi.yaml` documents one and one it
//! accepts (`DELETE /me/mfa/totp` has one, `DELETE /me/sessions` none); and those of the
//! session, profile and account functions run through the real handlers, first as written,
//! then carrying a real user or token, so the samples cannot rot.

use std::collections::BTreeSet;
use std::time::Duration;

use devserver::ROUTES;
use integration_tests::{
    PASSWORD, event, link_token, mails_to, settings, unique_email, wait_for_mail,
};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::clock::SystemClock;

fn body(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("JSON body")
}

/// A sample event as written.
fn sample(name: &str) -> Request {
    lambda_http::request::from_str(&event(name)).expect("payload 2.0 event")
}

/// A sample event with another body and, for protected routes, another caller.
fn edited(name: &str, body: Option<&Value>, user_id: Option<&str>) -> Request {
    let mut event: Value = serde_json::from_str(&event(name)).expect("event JSON");
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
        event["headers"]
            .as_object_mut()
            .unwrap()
            .remove("content-length");
    }
    if let Some(user_id) = user_id {
        event["requestContext"]["authorizer"]["lambda"]["user_id"] = user_id.into();
    }
    lambda_http::request::from_str(&event.to_string()).expect("payload 2.0 event")
}

/// Asserts a problem response with this status and code.
fn assert_problem(response: &Response<Body>, status: u16, code: &str) {
    assert_eq!(response.status(), status, "{:?}", response.body());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(body(response)["code"], code);
}

/// Asserts 204 with an empty body.
fn assert_no_content(response: &Response<Body>) {
    assert_eq!(response.status(), 204, "{:?}", response.body());
    assert!(response.body().is_empty(), "{:?}", response.body());
}

/// Registers a new user through the register handler; returns (email, user id).
async fn register() -> (String, String) {
    let state = register::State::from_source(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let email = unique_email();
    let request = edited(
        "register",
        Some(&json!({"email": email, "password": PASSWORD})),
        None,
    );
    let response = register::handle(&state, request).await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    let id = body(&response)["id"].as_str().unwrap().to_owned();
    (email, id)
}

/// Logs in through the login handler; returns the response.
async fn login(email: &str, password: &str) -> Response<Body> {
    let state = login::State::from_source(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let request = edited(
        "login",
        Some(&json!({"email": email, "password": password})),
        None,
    );
    login::handle(&state, request).await
}

/// A fresh refresh token of `email`.
async fn refresh_token(email: &str) -> String {
    let response = login(email, PASSWORD).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    body(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// What the refresh handler answers for this token.
async fn refresh(token: &str) -> Response<Body> {
    let state = refresh::State::from_source(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let request = edited("refresh", Some(&json!({"refresh_token": token})), None);
    refresh::handle(&state, request).await
}

/// The JSON body of a sample event.
fn sample_body(name: &str) -> Value {
    let sample: Value = serde_json::from_str(&event(name)).expect("event JSON");
    serde_json::from_str(sample["body"].as_str().expect("a body")).expect("body JSON")
}

/// A sample event whose body carries `token` in place of its placeholder.
fn with_token(name: &str, token: &str) -> Request {
    let mut sent = sample_body(name);
    sent["token"] = token.into();
    edited(name, Some(&sent), None)
}

/// Asserts 202 `{"status":"accepted"}`.
fn assert_accepted(response: &Response<Body>) {
    assert_eq!(response.status(), 202, "{:?}", response.body());
    assert_eq!(body(response), json!({"status": "accepted"}));
}

/// The token of the newest mail to `address` with a link to the app's `path` (the default
/// paths: the harness sets none), waiting for it briefly.
async fn mailed_token(address: &str, path: &str) -> String {
    let link = format!("{path}?token=");
    for _ in 0..100 {
        if let Some(mail) = mails_to(address)
            .await
            .iter()
            .rev()
            .find(|mail| mail.text.contains(&link))
        {
            return link_token(mail);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no mail to {address} with a {path} link: {:#?}",
        mails_to(address).await
    );
}

#[tokio::test]
async fn logout_event_answers_204_and_ends_the_session_of_a_real_token() {
    let state = logout::State::from_source(&settings(), SystemClock::shared())
        .await
        .unwrap();
    // The sample as written: its placeholder token is no token, and logout never says so.
    assert_no_content(&logout::handle(&state, sample("logout")).await);

    let (email, _) = register().await;
    let token = refresh_token(&email).await;
    let request = edited("logout", Some(&json!({"refresh_token": token})), None);
    assert_no_content(&logout::handle(&state, request).await);
    assert_problem(&refresh(&token).await, 401, "invalid_token");
}

#[tokio::test]
async fn update_profile_event_is_404_for_its_unknown_user_and_renames_a_real_one() {
    let state = update_profile::State::from_source(&settings())
        .await
        .unwrap();
    // The sample's user id (from the authorizer context) was never registered here.
    assert_problem(
        &update_profile::handle(&state, sample("update-profile")).await,
        404,
        "user_not_found",
    );

    let (email, id) = register().await;
    let response = update_profile::handle(&state, edited("update-profile", None, Some(&id))).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    let profile = body(&response);
    assert_eq!(profile["id"], id.as_str());
    assert_eq!(profile["email"], email.as_str());
    assert_eq!(profile["name"], "Ada King");
}

#[tokio::test]
async fn change_password_event_is_404_for_its_unknown_user_and_changes_a_real_password() {
    let state = change_password::State::from_source(&settings(), SystemClock::shared())
        .await
        .unwrap();
    assert_problem(
        &change_password::handle(&state, sample("change-password")).await,
        404,
        "user_not_found",
    );

    // The sample's current password is the one the harness registers users with.
    let (email, id) = register().await;
    let response =
        change_password::handle(&state, edited("change-password", None, Some(&id))).await;
    assert_no_content(&response);
    let sample: Value = serde_json::from_str(&event("change-password")).unwrap();
    let sent: Value = serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    let new_password = sent["new_password"].as_str().unwrap();
    assert_eq!(login(&email, new_password).await.status(), 200);
    assert_problem(&login(&email, PASSWORD).await, 401, "invalid_credentials");
}

#[tokio::test]
async fn revoke_sessions_event_answers_204_and_ends_every_session_of_a_real_user() {
    let state = revoke_sessions::State::from_source(&settings(), SystemClock::shared())
        .await
        .unwrap();
    // The sample's user does not exist in this table.
    assert_problem(
        &revoke_sessions::handle(&state, sample("revoke-sessions")).await,
        404,
        "user_not_found",
    );

    let (email, id) = register().await;
    let first = refresh_token(&email).await;
    let second = refresh_token(&email).await;
    let response =
        revoke_sessions::handle(&state, edited("revoke-sessions", None, Some(&id))).await;
    assert_no_content(&response);
    assert_problem(&refresh(&first).await, 401, "invalid_token");
    assert_problem(&refresh(&second).await, 401, "invalid_token");
}

#[tokio::test]
async fn forgot_password_event_is_accepted_and_the_reset_event_takes_the_mailed_token() {
    let forgot = forgot_password::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let reset = reset_password::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    // The samples as written: forgot answers 202 whether or not its address has an account;
    // the reset sample's placeholder token is no token.
    assert_accepted(&forgot_password::handle(&forgot, sample("forgot-password")).await);
    assert_problem(
        &reset_password::handle(&reset, sample("reset-password")).await,
        400,
        "invalid_token",
    );

    let (email, _) = register().await;
    let request = edited("forgot-password", Some(&json!({"email": email})), None);
    assert_accepted(&forgot_password::handle(&forgot, request).await);
    let token = mailed_token(&email, "/reset-password").await;
    assert_no_content(&reset_password::handle(&reset, with_token("reset-password", &token)).await);
    let new_password = sample_body("reset-password")["new_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(login(&email, &new_password).await.status(), 200);
    assert_problem(&login(&email, PASSWORD).await, 401, "invalid_credentials");
    // Single use.
    assert_problem(
        &reset_password::handle(&reset, with_token("reset-password", &token)).await,
        400,
        "invalid_token",
    );
}

#[tokio::test]
async fn resend_verification_event_supersedes_a_real_link_the_verify_event_takes() {
    let resend = resend_verification::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let verify = verify_email::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    assert_problem(
        &resend_verification::handle(&resend, sample("resend-verification")).await,
        404,
        "user_not_found",
    );
    assert_problem(
        &verify_email::handle(&verify, sample("verify-email")).await,
        400,
        "invalid_token",
    );

    // Registration mailed the first link; the resend a second, which supersedes it.
    let (email, id) = register().await;
    let first = mailed_token(&email, "/verify-email").await;
    let request = edited("resend-verification", None, Some(&id));
    assert_accepted(&resend_verification::handle(&resend, request).await);
    let second = link_token(wait_for_mail(&email, 2).await.last().unwrap());
    assert_ne!(first, second);
    assert_problem(
        &verify_email::handle(&verify, with_token("verify-email", &first)).await,
        400,
        "invalid_token",
    );
    assert_no_content(&verify_email::handle(&verify, with_token("verify-email", &second)).await);

    let me = me::State::from_source(&settings()).await.unwrap();
    let profile = me::handle(&me, edited("me", None, Some(&id))).await;
    assert_eq!(body(&profile)["email_verified"], true);
    let request = edited("resend-verification", None, Some(&id));
    assert_problem(
        &resend_verification::handle(&resend, request).await,
        409,
        "already_verified",
    );
}

#[tokio::test]
async fn change_email_event_is_404_for_its_unknown_user_and_the_confirm_event_moves_a_real_one() {
    let change = change_email::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let confirm = confirm_email_change::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    assert_problem(
        &change_email::handle(&change, sample("change-email")).await,
        404,
        "user_not_found",
    );
    assert_problem(
        &confirm_email_change::handle(&confirm, sample("confirm-email-change")).await,
        400,
        "invalid_token",
    );

    // The sample's current password is the one the harness registers users with; its new
    // address is the sample's own (no other test uses it).
    let (email, id) = register().await;
    let request = edited("change-email", None, Some(&id));
    assert_accepted(&change_email::handle(&change, request).await);
    let new_email = sample_body("change-email")["new_email"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = mailed_token(&new_email, "/confirm-email").await;
    assert!(
        mails_to(&email)
            .await
            .iter()
            .any(|mail| mail.subject.contains("email address is being changed")),
        "no notice to the old address: {:#?}",
        mails_to(&email).await
    );
    let request = with_token("confirm-email-change", &token);
    assert_no_content(&confirm_email_change::handle(&confirm, request).await);
    assert_eq!(login(&new_email, PASSWORD).await.status(), 200);
    assert_problem(&login(&email, PASSWORD).await, 401, "invalid_credentials");
}

#[tokio::test]
async fn two_factor_events_are_refused_as_written_and_enrolment_runs_for_a_real_user() {
    let settings = settings();
    let (enroll, confirm, disable, recovery, verify) = tokio::try_join!(
        mfa_enroll::state(&settings, SystemClock::shared()),
        mfa_confirm::state(&settings, SystemClock::shared()),
        mfa_disable::state(&settings, SystemClock::shared()),
        mfa_recovery_codes::state(&settings, SystemClock::shared()),
        mfa_verify::state(&settings, SystemClock::shared()),
    )
    .unwrap();
    // The samples as written: their user (from the authorizer context) was never registered
    // here; the verify sample's placeholder mfa_token is no token.
    assert_problem(
        &mfa_enroll::handle(&enroll, sample("mfa-enroll")).await,
        404,
        "user_not_found",
    );
    assert_problem(
        &mfa_confirm::handle(&confirm, sample("mfa-confirm")).await,
        404,
        "user_not_found",
    );
    assert_problem(
        &mfa_disable::handle(&disable, sample("mfa-disable")).await,
        404,
        "user_not_found",
    );
    assert_problem(
        &mfa_recovery_codes::handle(&recovery, sample("mfa-recovery-codes")).await,
        404,
        "user_not_found",
    );
    assert_problem(
        &mfa_verify::handle(&verify, sample("mfa-verify")).await,
        400,
        "invalid_token",
    );

    // A real user: nothing to confirm yet; the enrolment sample's current password is the one
    // the harness registers users with; a pending enrolment is not two-factor on.
    let (_, id) = register().await;
    let as_user = |name: &str| edited(name, None, Some(&id));
    assert_problem(
        &mfa_confirm::handle(&confirm, as_user("mfa-confirm")).await,
        409,
        "mfa_not_enabled",
    );
    let response = mfa_enroll::handle(&enroll, as_user("mfa-enroll")).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let enrolment = body(&response);
    assert!(enrolment["secret"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        enrolment["otpauth_uri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("otpauth://totp/")),
        "{enrolment}"
    );
    assert!(
        enrolment["qr_svg"]
            .as_str()
            .is_some_and(|svg| svg.contains("<svg"))
    );
    assert_problem(
        &mfa_disable::handle(&disable, as_user("mfa-disable")).await,
        409,
        "mfa_not_enabled",
    );
    assert_problem(
        &mfa_recovery_codes::handle(&recovery, as_user("mfa-recovery-codes")).await,
        409,
        "mfa_not_enabled",
    );
}

#[test]
fn every_route_has_a_sample_event_shaped_as_api_gateway_sends_it() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect();
    // The authorizer is behind no route: its sample is an authorizer request.
    assert!(files.remove("authorizer"), "no events/authorizer.json");

    for route in ROUTES {
        let name = route.function.binary();
        let route_key = format!("{} {}", route.method, route.path);
        assert!(
            files.remove(name),
            "{route_key}: no sample event events/{name}.json"
        );
        let sample: Value = serde_json::from_str(&event(name))
            .unwrap_or_else(|e| panic!("events/{name}.json is not JSON: {e}"));
        let context = &sample["requestContext"];
        assert_eq!(sample["version"], "2.0", "events/{name}.json: payload 2.0");
        for (field, value) in [
            (&sample["routeKey"], route_key.as_str()),
            (&context["routeKey"], route_key.as_str()),
            (&sample["rawPath"], route.path),
            (&context["http"]["path"], route.path),
            (&context["http"]["method"], route.method),
        ] {
            assert_eq!(
                field, value,
                "events/{name}.json is not a {route_key} event"
            );
        }
        let headers = &sample["headers"];
        let authorized = context["authorizer"]["lambda"]["user_id"].is_string();
        assert_eq!(
            authorized, route.protected,
            "events/{name}.json: a protected route's event carries the authorizer's context \
             (requestContext.authorizer.lambda), a public one's does not"
        );
        assert_eq!(
            headers["authorization"].is_string(),
            route.protected,
            "events/{name}.json: the Authorization header is there exactly on protected routes"
        );
        match sample["body"].as_str() {
            Some(body) => {
                assert_eq!(
                    headers["content-length"],
                    body.len().to_string(),
                    "events/{name}.json: content-length is not the body's length"
                );
                assert_eq!(headers["content-type"], "application/json");
                serde_json::from_str::<Value>(body)
                    .unwrap_or_else(|e| panic!("events/{name}.json: the body is not JSON: {e}"));
            }
            None => assert!(
                headers.get("content-length").is_none(),
                "events/{name}.json: content-length without a body"
            ),
        }
        // What the handlers parse it with.
        lambda_http::request::from_str(&event(name))
            .unwrap_or_else(|e| panic!("events/{name}.json is not a payload 2.0 event: {e}"));
    }
    assert!(
        files.is_empty(),
        "events/ holds samples of no route: {files:?}"
    );
}

/// What `schema` (in `document`) refuses in `value`, one line each: a small JSON Schema check,
/// enough for the request bodies of `openapi.yaml` (`$ref`, `oneOf`, `type`, `required`,
/// `properties`, string lengths; `pattern` and `format` are not checked). Stricter than JSON
/// Schema in one way: a member an object schema does not list is refused, so a sample carries
/// only what its route reads.
fn refusals(document: &Value, schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: {reference} is not a local $ref"));
        let target = document
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{at}: {reference} resolves to nothing"));
        return refusals(document, target, value, at, found);
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let matching = branches
            .iter()
            .filter(|branch| {
                let mut refused = Vec::new();
                refusals(document, branch, value, at, &mut refused);
                refused.is_empty()
            })
            .count();
        if matching != 1 {
            found.push(format!(
                "{at}: matches {matching} of the {} oneOf branches, not exactly one",
                branches.len()
            ));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty()
        && !types
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"))
    {
        found.push(format!("{at}: a {actual}, not {types:?}"));
        return;
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                found.push(format!("{at}: no {name} (required)"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (name, member) in object {
                match properties.get(name) {
                    Some(property) => {
                        refusals(document, property, member, &format!("{at}.{name}"), found);
                    }
                    None => found.push(format!("{at}: {name} is not a documented member")),
                }
            }
        }
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as u64;
        if let Some(min) = schema["minLength"].as_u64()
            && length < min
        {
            found.push(format!("{at}: {length} characters, fewer than {min}"));
        }
        if let Some(max) = schema["maxLength"].as_u64()
            && length > max
        {
            found.push(format!("{at}: {length} characters, more than {max}"));
        }
    }
}

#[test]
fn every_sample_body_is_one_the_openapi_document_accepts() {
    let document: Value = serde_norway::from_str(devserver::OPENAPI).expect("openapi.yaml is YAML");
    let refused = |schema: &str, body: Value| {
        let mut found = Vec::new();
        let schema = json!({ "$ref": format!("#/components/schemas/{schema}") });
        refusals(&document, &schema, &body, "body", &mut found);
        found
    };
    // The check itself refuses what the document refuses.
    assert!(refused("MfaCode", json!({"code": "123456"})).is_empty());
    assert!(!refused("MfaCode", json!({"code": 123456})).is_empty());
    assert!(!refused("MfaCode", json!({})).is_empty());
    assert!(!refused("MfaVerifyRequest", json!({"mfa_token": "t"})).is_empty());
    assert!(
        !refused(
            "MfaVerifyRequest",
            json!({"mfa_token": "t", "code": "123456", "recovery_code": "r"})
        )
        .is_empty()
    );
    assert!(
        refused(
            "MfaVerifyRequest",
            json!({"mfa_token": "t", "recovery_code": "r"})
        )
        .is_empty()
    );
    assert!(
        !refused(
            "MfaVerifyRequest",
            json!({"mfa_token": "", "code": "123456"})
        )
        .is_empty()
    );

    for route in ROUTES {
        let name = route.function.binary();
        let route_key = format!("{} {}", route.method, route.path);
        let operation = &document["paths"][route.path][route.method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{route_key} is not in openapi.yaml (openapi.rs says why)"
        );
        let sample: Value = serde_json::from_str(&event(name))
            .unwrap_or_else(|e| panic!("events/{name}.json is not JSON: {e}"));
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        match sample["body"].as_str() {
            None => assert!(
                operation.get("requestBody").is_none(),
                "events/{name}.json has no body, but openapi.yaml says {route_key} takes one"
            ),
            Some(body) => {
                assert!(
                    schema.is_object(),
                    "events/{name}.json has a body, but openapi.yaml documents none for \
                     {route_key} (as application/json)"
                );
                let body: Value = serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("events/{name}.json: the body is not JSON: {e}"));
                let mut found = Vec::new();
                refusals(&document, schema, &body, "body", &mut found);
                assert!(
                    found.is_empty(),
                    "events/{name}.json: openapi.yaml refuses the body of this {route_key} \
                     sample: {found:#?}"
                );
            }
        }
    }
}
