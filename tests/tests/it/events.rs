//! The sample events of the session and profile functions (`events/logout.json`,
//! `update-profile.json`, `change-password.json`, `revoke-sessions.json`, the files
//! `sam local invoke -e` and `cargo lambda invoke --data-file` use) run through the real
//! handlers: first as written, then carrying a real user or token, so the samples cannot rot.

use integration_tests::{PASSWORD, event, settings, unique_email};
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
