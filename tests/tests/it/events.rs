//! The sample events (`events/<binary>.json`, the files `sam local invoke -e` and
//! `cargo lambda invoke --data-file` use): one per route of `devserver::ROUTES`, shaped as API
//! Gateway sends that route (a concrete path with its `pathParameters`, the query string and
//! `queryStringParameters` agreeing, the authorizer's whole context on protected routes), with
//! a body exactly where `openapi.yaml` documents one and one it accepts (`DELETE /me/mfa/totp`
//! has one, `DELETE /me/sessions` none), and path and query parameters it documents; and those
//! of the session, profile, account and administration functions run through the real
//! handlers, first as written, then carrying a real user or token, so the samples cannot rot.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use devserver::ROUTES;
use integration_tests::{
    PASSWORD, event, link_token, mails_to, settings, unique_email, wait_for_mail,
};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};
use shared::clock::SystemClock;
use shared::identity::Identity;

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

/// A sample event changed by `change` (which sees the parsed JSON).
fn edit(name: &str, change: impl FnOnce(&mut Value)) -> Request {
    let mut event: Value = serde_json::from_str(&event(name)).expect("event JSON");
    change(&mut event);
    lambda_http::request::from_str(&event.to_string()).expect("payload 2.0 event")
}

/// The authorizer context of a sample event, to change.
fn caller(event: &mut Value) -> &mut Value {
    &mut event["requestContext"]["authorizer"]["lambda"]
}

/// Sets a path parameter of a sample event (and its paths).
fn set_path_parameter(event: &mut Value, name: &str, value: &str) {
    event["pathParameters"][name] = value.into();
    let route_key = event["routeKey"].as_str().expect("routeKey").to_owned();
    let (_, pattern) = route_key.split_once(' ').expect("METHOD /path");
    let path = concrete_path(pattern, &event["pathParameters"]);
    event["rawPath"] = path.clone().into();
    event["requestContext"]["http"]["path"] = path.into();
}

/// The names of a route pattern's `{parameters}`.
fn path_names(pattern: &str) -> BTreeSet<&str> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        // A greedy `{proxy+}` is named `proxy`.
        .map(|s| s.strip_suffix('+').unwrap_or(s))
        .collect()
}

/// The pattern with each `{name}` replaced by its value in `parameters`.
fn concrete_path(pattern: &str, parameters: &Value) -> String {
    pattern
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => parameters[name.strip_suffix('+').unwrap_or(name)]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// A raw query string as name → value (the samples need no percent-encoding).
fn query_pairs(raw: &str) -> Map<String, Value> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), Value::String(value.to_owned()))
        })
        .collect()
}

/// What `openapi.yaml` says of `body` under `#/components/schemas/{schema}`, one line each.
fn refused_by_document(schema: &str, body: &Value) -> Vec<String> {
    let document: Value = serde_norway::from_str(devserver::OPENAPI).expect("openapi.yaml is YAML");
    let mut found = Vec::new();
    let schema = json!({ "$ref": format!("#/components/schemas/{schema}") });
    refusals(&document, &schema, body, "body", &mut found);
    found
}

/// Asserts a 200 whose JSON body `openapi.yaml` documents as `schema`; returns the body.
fn assert_documented(response: &Response<Body>, schema: &str) -> Value {
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer = body(response);
    let refused = refused_by_document(schema, &answer);
    assert!(
        refused.is_empty(),
        "not a {schema}: {refused:#?}\n{answer:#}"
    );
    answer
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
    let state = register::state(&settings(), SystemClock::shared())
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
    let state = login::state(&settings(), SystemClock::shared())
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
    let state = refresh::state(&settings(), SystemClock::shared())
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
    let state = logout::state(&settings(), SystemClock::shared())
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

#[tokio::test]
async fn session_list_and_end_events_are_404_for_their_unknown_user_and_run_for_a_real_one() {
    let settings = settings();
    let (list, end) = tokio::try_join!(
        list_sessions::state(&settings, SystemClock::shared()),
        end_session::state(&settings, SystemClock::shared()),
    )
    .unwrap();
    // The samples as written: their user (from the authorizer context) was never registered.
    assert_problem(
        &list_sessions::handle(&list, sample("list-sessions")).await,
        404,
        "user_not_found",
    );
    assert_problem(
        &end_session::handle(&end, sample("end-session")).await,
        404,
        "user_not_found",
    );

    // A real user with two sessions (logins through the login sample, so with its user agent
    // and address), listing them from the second one.
    let (email, id) = register().await;
    let tokens = |response: Response<Body>| {
        assert_eq!(response.status(), 200, "{:?}", response.body());
        let pair = body(&response);
        let access = pair["access_token"].as_str().unwrap();
        let now = shared::clock::Clock::unix(&SystemClock);
        let sid = integration_tests::verifier()
            .verify(access, now)
            .expect("a valid access token")
            .sid;
        (sid, pair["refresh_token"].as_str().unwrap().to_owned())
    };
    let (first_sid, first_refresh) = tokens(login(&email, PASSWORD).await);
    let (second_sid, _) = tokens(login(&email, PASSWORD).await);
    let as_second = |name: &str| {
        edit(name, |event| {
            caller(event)["user_id"] = id.as_str().into();
            caller(event)["sid"] = second_sid.as_str().into();
        })
    };
    let listed = assert_documented(
        &list_sessions::handle(&list, as_second("list-sessions")).await,
        "SessionList",
    );
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed:#}");
    let login_sample: Value = serde_json::from_str(&event("login")).unwrap();
    for session in sessions {
        assert_eq!(
            session["current"],
            session["id"] == second_sid.as_str(),
            "{session}"
        );
        assert_eq!(session["user_agent"], login_sample["headers"]["user-agent"]);
        assert_eq!(
            session["source_ip"],
            login_sample["requestContext"]["http"]["sourceIp"]
        );
        assert_eq!(session["amr"], json!(["pwd"]));
    }

    // Ending the first session from the second: its refresh token is dead; twice is 404.
    let end_first = || {
        edit("end-session", |event| {
            caller(event)["user_id"] = id.as_str().into();
            caller(event)["sid"] = second_sid.as_str().into();
            set_path_parameter(event, "sid", &first_sid);
        })
    };
    assert_no_content(&end_session::handle(&end, end_first()).await);
    assert_problem(&refresh(&first_refresh).await, 401, "invalid_token");
    assert_problem(
        &end_session::handle(&end, end_first()).await,
        404,
        "session_not_found",
    );
    let listed = assert_documented(
        &list_sessions::handle(&list, as_second("list-sessions")).await,
        "SessionList",
    );
    assert_eq!(
        listed["sessions"].as_array().unwrap().len(),
        1,
        "{listed:#}"
    );
    assert_eq!(listed["sessions"][0]["id"], second_sid.as_str());
}

#[tokio::test]
async fn admin_events_answer_as_documented_as_written_and_for_a_real_user() {
    // Every administration function has the same state; each crate builds it the same way.
    let admin = admin_get_user::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    // The samples as written: an administrator's context; their target user (the other
    // samples' user) was never registered here.
    for (name, response) in [
        (
            "admin-get-user",
            admin_get_user::handle(&admin, sample("admin-get-user")).await,
        ),
        (
            "admin-update-user",
            admin_update_user::handle(&admin, sample("admin-update-user")).await,
        ),
        (
            "admin-end-sessions",
            admin_end_sessions::handle(&admin, sample("admin-end-sessions")).await,
        ),
        (
            "admin-delete-user",
            admin_delete_user::handle(&admin, sample("admin-delete-user")).await,
        ),
    ] {
        assert_eq!(response.status(), 404, "{name}: {:?}", response.body());
        assert_eq!(body(&response)["code"], "user_not_found", "{name}");
    }
    let roles = assert_documented(
        &admin_list_roles::handle(&admin, sample("admin-list-roles")).await,
        "RoleList",
    );
    let builtin = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["name"] == "admin")
        .unwrap_or_else(|| panic!("no admin role: {roles:#}"));
    assert_eq!(builtin["builtin"], true);
    // The sample's entitlements are exactly the built-in role's permissions.
    let sample_event: Value = serde_json::from_str(&event("admin-list-roles")).unwrap();
    let entitlements = sample_event["requestContext"]["authorizer"]["lambda"]["entitlements"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|p| Value::String(p.to_owned()))
        .collect::<Vec<_>>();
    assert_eq!(builtin["permissions"], Value::Array(entitlements));
    let page = assert_documented(
        &admin_list_users::handle(&admin, sample("admin-list-users")).await,
        "UsersPage",
    );
    assert!(page["users"].as_array().unwrap().len() <= 20, "{page:#}");

    // Without the permission the route needs: 403 `forbidden`, whatever else is asked.
    let without = |name: &str, entitlements: &str| {
        let entitlements = entitlements.to_owned();
        edit(name, move |event| {
            caller(event)["entitlements"] = entitlements.into();
        })
    };
    assert_problem(
        &admin_get_user::handle(&admin, without("admin-get-user", "auth.users.write")).await,
        403,
        "forbidden",
    );
    assert_problem(
        &admin_list_roles::handle(&admin, without("admin-list-roles", "")).await,
        403,
        "forbidden",
    );
    assert_problem(
        &admin_update_user::handle(&admin, without("admin-update-user", "auth.users.read")).await,
        403,
        "forbidden",
    );
    assert_problem(
        &admin_put_role::handle(&admin, without("admin-put-role", "auth.users.write")).await,
        403,
        "forbidden",
    );

    // A real user: found by id and by email, then disabled by the update sample.
    let (email, id) = register().await;
    assert_eq!(login(&email, PASSWORD).await.status(), 200);
    let on_user = |name: &str| edit(name, |event| set_path_parameter(event, "id", &id));
    let user = assert_documented(
        &admin_get_user::handle(&admin, on_user("admin-get-user")).await,
        "AdminUser",
    );
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["active"], true);
    assert_eq!(user["sessions"], 1);
    assert!(user["last_login_at"].is_string(), "{user:#}");
    let by_email = edit("admin-list-users", |event| {
        event["rawQueryString"] = format!("email={email}").into();
        event["queryStringParameters"] = json!({ "email": email });
    });
    let page = assert_documented(
        &admin_list_users::handle(&admin, by_email).await,
        "UsersPage",
    );
    assert_eq!(page["users"].as_array().unwrap().len(), 1, "{page:#}");
    assert_eq!(page["users"][0]["id"], id.as_str());
    assert_eq!(page["next_cursor"], Value::Null);
    let bad_limit = edit("admin-list-users", |event| {
        event["rawQueryString"] = "limit=0".into();
        event["queryStringParameters"] = json!({ "limit": "0" });
    });
    assert_problem(
        &admin_list_users::handle(&admin, bad_limit).await,
        400,
        "validation_failed",
    );

    assert_eq!(sample_body("admin-update-user"), json!({"active": false}));
    let user = assert_documented(
        &admin_update_user::handle(&admin, on_user("admin-update-user")).await,
        "AdminUser",
    );
    assert_eq!(user["active"], false);
    assert_eq!(user["sessions"], 0);
    assert_problem(&login(&email, PASSWORD).await, 403, "account_disabled");

    assert_no_content(&admin_end_sessions::handle(&admin, on_user("admin-end-sessions")).await);
    // The removal of second factors has a state of its own (it mails a notice).
    let removal = admin_remove_mfa::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    assert_problem(
        &admin_remove_mfa::handle(&removal, sample("admin-remove-mfa")).await,
        404,
        "user_not_found",
    );
    assert_problem(
        &admin_remove_mfa::handle(&removal, without("admin-remove-mfa", "auth.users.read")).await,
        403,
        "forbidden",
    );
    assert_no_content(&admin_remove_mfa::handle(&removal, on_user("admin-remove-mfa")).await);
    assert_no_content(&admin_delete_user::handle(&admin, on_user("admin-delete-user")).await);
    assert_problem(
        &admin_get_user::handle(&admin, on_user("admin-get-user")).await,
        404,
        "user_not_found",
    );
    assert_problem(&login(&email, PASSWORD).await, 401, "invalid_credentials");
}

#[tokio::test]
async fn role_events_save_and_delete_the_sample_role() {
    let admin = admin_put_role::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let name = path_parameter("admin-put-role", "name");
    assert_eq!(name, path_parameter("admin-delete-role", "name"));
    let role = assert_documented(
        &admin_put_role::handle(&admin, sample("admin-put-role")).await,
        "Role",
    );
    let sent = sample_body("admin-put-role");
    assert_eq!(role["name"], name.as_str());
    assert_eq!(role["permissions"], sent["permissions"]);
    assert_eq!(role["description"], sent["description"]);
    assert_eq!(
        (role["users"].as_i64(), &role["builtin"]),
        (Some(0), &json!(false))
    );
    assert_no_content(&admin_delete_role::handle(&admin, sample("admin-delete-role")).await);
    assert_problem(
        &admin_delete_role::handle(&admin, sample("admin-delete-role")).await,
        404,
        "role_not_found",
    );
    // The built-in role stays.
    let builtin = edit("admin-delete-role", |event| {
        set_path_parameter(event, "name", "admin")
    });
    assert_problem(
        &admin_delete_role::handle(&admin, builtin).await,
        409,
        "builtin_role",
    );
}

/// A path parameter of a sample event.
fn path_parameter(name: &str, parameter: &str) -> String {
    let sample: Value = serde_json::from_str(&event(name)).expect("event JSON");
    sample["pathParameters"][parameter]
        .as_str()
        .unwrap_or_else(|| panic!("events/{name}.json: no path parameter {parameter}"))
        .to_owned()
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
    // The keys of the context the authorizer hands every protected route.
    let context_keys: BTreeSet<String> = Identity {
        user_id: "u".into(),
        roles: Vec::new(),
        entitlements: Vec::new(),
        session_id: "s".into(),
        token_id: "j".into(),
        amr: Vec::new(),
    }
    .to_context()
    .keys()
    .cloned()
    .collect();

    for route in ROUTES {
        let name = route.sample;
        let route_key = format!("{} {}", route.method, route.path);
        assert!(
            files.remove(name),
            "{route_key}: no sample event events/{name}.json"
        );
        let sample: Value = serde_json::from_str(&event(name))
            .unwrap_or_else(|e| panic!("events/{name}.json is not JSON: {e}"));
        let context = &sample["requestContext"];
        assert_eq!(sample["version"], "2.0", "events/{name}.json: payload 2.0");
        // A concrete path: the route's pattern with its `pathParameters` filled in.
        let names = path_names(route.path);
        match sample.get("pathParameters") {
            None => assert!(
                names.is_empty(),
                "events/{name}.json: {route_key} has path parameters {names:?}, the sample none"
            ),
            Some(parameters) => {
                let given: BTreeSet<&str> = parameters
                    .as_object()
                    .unwrap_or_else(|| panic!("events/{name}.json: pathParameters is no object"))
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(
                    given, names,
                    "events/{name}.json: pathParameters are not {route_key}'s"
                );
                for (parameter, value) in parameters.as_object().unwrap() {
                    assert!(
                        value
                            .as_str()
                            .is_some_and(|v| !v.is_empty() && !v.contains('/')),
                        "events/{name}.json: path parameter {parameter} is not one path segment"
                    );
                }
            }
        }
        let path = concrete_path(route.path, &sample["pathParameters"]);
        for (field, value) in [
            (&sample["routeKey"], route_key.as_str()),
            (&context["routeKey"], route_key.as_str()),
            (&sample["rawPath"], path.as_str()),
            (&context["http"]["path"], path.as_str()),
            (&context["http"]["method"], route.method),
        ] {
            assert_eq!(
                field, value,
                "events/{name}.json is not a {route_key} event"
            );
        }
        // The query string, raw and parsed, agree.
        let raw_query = sample["rawQueryString"]
            .as_str()
            .unwrap_or_else(|| panic!("events/{name}.json: no rawQueryString"));
        let query = query_pairs(raw_query);
        match sample.get("queryStringParameters") {
            None => assert!(
                query.is_empty(),
                "events/{name}.json: a query string without queryStringParameters"
            ),
            Some(parameters) => assert_eq!(
                parameters,
                &Value::Object(query),
                "events/{name}.json: queryStringParameters are not the rawQueryString's"
            ),
        }
        let headers = &sample["headers"];
        let authorized = context["authorizer"]["lambda"]["user_id"].is_string();
        assert_eq!(
            authorized, route.protected,
            "events/{name}.json: a protected route's event carries the authorizer's context \
             (requestContext.authorizer.lambda), a public one's does not"
        );
        if authorized {
            let lambda = context["authorizer"]["lambda"].as_object().unwrap();
            let keys: BTreeSet<String> = lambda.keys().cloned().collect();
            assert_eq!(
                keys, context_keys,
                "events/{name}.json: the authorizer's context has other keys than it sends"
            );
            assert!(
                lambda.values().all(Value::is_string),
                "events/{name}.json: the authorizer's context values are strings \
                 (comma-separated lists)"
            );
        }
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
/// enough for the request bodies, parameters and the answers of `openapi.yaml` checked here
/// (`$ref`, `oneOf`, `type`, `const`, `enum`, `required`, `properties`, `items`, `maxItems`,
/// string lengths; `pattern` and `format` are not checked). Stricter than JSON Schema in one
/// way: a member an object schema does not list is refused, so a sample carries only what its
/// route reads (and an answer only what the document says).
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
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        found.push(format!("{at}: {value}, not {expected}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        found.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(items) = value.as_array() {
        if let Some(max) = schema["maxItems"].as_u64()
            && items.len() as u64 > max
        {
            found.push(format!("{at}: {} items, more than {max}", items.len()));
        }
        if schema["items"].is_object() {
            for (i, item) in items.iter().enumerate() {
                refusals(
                    document,
                    &schema["items"],
                    item,
                    &format!("{at}[{i}]"),
                    found,
                );
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

/// `value`, or what its `$ref` points at.
fn resolved<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => document
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer} resolves to nothing")),
        None => value,
    }
}

/// The parameters `openapi.yaml` documents for an operation (its path item's and its own):
/// (location, name) → schema.
fn parameters(
    document: &Value,
    path: &str,
    method: &str,
) -> BTreeMap<(&'static str, String), Value> {
    let item = &document["paths"][path];
    let mut found = BTreeMap::new();
    for parameter in item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(item[method]["parameters"].as_array().into_iter().flatten())
    {
        let parameter = resolved(document, parameter);
        let location = match parameter["in"].as_str() {
            Some("path") => "path",
            Some("query") => "query",
            _ => continue,
        };
        let name = parameter["name"]
            .as_str()
            .expect("a parameter's name")
            .to_owned();
        found.insert((location, name), parameter["schema"].clone());
    }
    found
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

    // The console's pages are not in the JSON API's document (openapi.rs).
    for route in ROUTES
        .iter()
        .filter(|r| r.function != devserver::Function::Console)
    {
        let name = route.sample;
        let route_key = format!("{} {}", route.method, route.path);
        let operation = &document["paths"][route.path][route.method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{route_key} is not in openapi.yaml (openapi.rs says why)"
        );
        let sample: Value = serde_json::from_str(&event(name))
            .unwrap_or_else(|e| panic!("events/{name}.json is not JSON: {e}"));
        // Every path and query parameter of the sample is documented, with a value it allows.
        let documented = parameters(&document, route.path, &route.method.to_lowercase());
        for location in ["path", "query"] {
            let given = match location {
                "path" => &sample["pathParameters"],
                _ => &sample["queryStringParameters"],
            };
            for (parameter, value) in given.as_object().into_iter().flatten() {
                let schema = documented
                    .get(&(location, parameter.clone()))
                    .unwrap_or_else(|| {
                        panic!(
                            "events/{name}.json: openapi.yaml documents no {location} parameter \
                             {parameter} for {route_key}"
                        )
                    });
                let raw = value.as_str().unwrap_or_default();
                // Parameters travel as text; a number's schema sees the number.
                let value = match resolved(&document, schema)["type"].as_str() {
                    Some("integer" | "number" | "boolean") => {
                        serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
                    }
                    _ => Value::String(raw.to_owned()),
                };
                let mut found = Vec::new();
                refusals(&document, schema, &value, parameter, &mut found);
                assert!(
                    found.is_empty(),
                    "events/{name}.json: openapi.yaml refuses its {location} parameter: {found:#?}"
                );
            }
        }
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
