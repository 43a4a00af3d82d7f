//! Who an address belongs to, against DynamoDB Local and the SES v2 emulator: mail to one
//! address is limited whoever asks for it; whoever proves an address that was never verified
//! gets a clean account (no factor or session of whoever registered it); an administrator can
//! remove a user's second factors; recovery codes are stored keyed and salted; and the owner
//! hears about every security change by a notice without a link.

use futures::future::join_all;
use integration_tests::{
    Mail, PASSWORD, Server, capture_logs, captured_logs, http, json as body_of, link_token,
    logged_in, login, mails_to, me, post, settings, store, unique_email, wait_for_mail,
    with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::config as cfg;
use shared::domain::UserId;
use shared::mfa::Secret;

const NEW_PASSWORD: &str = "a-brand-new-passphrase-42";
const AGENT: &str = "notice-test-agent/1.0";

async fn mails_about(address: &str, subject: &str) -> Vec<Mail> {
    mails_to(address)
        .await
        .into_iter()
        .filter(|m| m.subject.contains(subject))
        .collect()
}

async fn change_email(server: &Server, access: &str, new_email: &str) -> (u16, Value) {
    with_bearer(
        server,
        Method::POST,
        "/me/email",
        access,
        Some(json!({"new_email": new_email, "current_password": PASSWORD})),
    )
    .await
}

// ------------------------------------------------------------------ one address, one allowance

#[tokio::test]
async fn mail_to_one_address_is_limited_whoever_asks() {
    let server = Server::start().await;
    // Round 0 one request after another; rounds 1-3 all at once.
    for round in 0..4 {
        let target = unique_email();
        let mut accounts = Vec::new();
        for _ in 0..3 {
            accounts.push(logged_in(&server).await.1);
        }
        let requests = accounts
            .iter()
            .flat_map(|access| [access.clone(), access.clone()]);
        let results: Vec<(u16, Value)> = if round == 0 {
            let mut results = Vec::new();
            for access in requests {
                results.push(change_email(&server, &access, &target).await);
            }
            results
        } else {
            join_all(
                requests
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|access| change_email(&server, access, &target)),
            )
            .await
        };
        let accepted = results.iter().filter(|r| r.0 == 202).count();
        for (status, body) in results.iter().filter(|r| r.0 != 202) {
            assert_eq!(
                (*status, body["code"].as_str()),
                (429, Some("too_many_attempts")),
                "round {round}: {results:?}"
            );
        }
        assert_eq!(accepted, 3, "round {round}: {results:?}");
        let confirmations = mails_about(&target, "Confirm your new email").await;
        assert_eq!(confirmations.len(), 3, "round {round}");
    }
}

#[tokio::test]
async fn mail_others_ask_for_never_spends_the_addresss_own_accounts_allowance() {
    let server = Server::start().await;
    let target = unique_email();
    for _ in 0..3 {
        let (_, access, _) = logged_in(&server).await;
        assert_eq!(change_email(&server, &access, &target).await.0, 202);
    }
    // The address's recipient allowance is spent; its owner signs up and still has the
    // account's own allowance for a change of their own.
    let (status, _) = post(
        &server,
        "/auth/register",
        json!({"email": target, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = login(&server, &target, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let (status, body) = change_email(&server, access, &unique_email()).await;
    assert_eq!(status, 202, "{body}");
}

// ------------------------------------------------------------------ two-factor helpers

/// The code of `secret` (base32) at `unix`.
fn code(secret: &str, unix: i64) -> String {
    Secret::from_base32(secret)
        .unwrap()
        .code_at(unix.div_euclid(30))
}

/// A server whose clock sits at the start of a 30 s step.
async fn server_at_step_start(
    config: &std::collections::HashMap<String, String>,
) -> (Server, std::sync::Arc<ManualClock>) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let clock = ManualClock::new(now - now.rem_euclid(30));
    (Server::start_with(config, clock.clone()).await, clock)
}

/// Sends a request with a Bearer token, a `User-Agent` and an optional JSON body.
async fn as_agent(
    server: &Server,
    method: Method,
    path: &str,
    access: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http()
        .request(method, server.url(path))
        .header("authorization", format!("Bearer {access}"))
        .header("user-agent", AGENT);
    if let Some(body) = body {
        request = request.json(&body);
    }
    body_of(request.send().await.unwrap()).await
}

/// Turns two-factor on for a signed-in user; returns (secret, recovery codes). The clock is
/// moved to the next step (the confirmation spent this one).
async fn enrol(server: &Server, clock: &ManualClock, access: &str) -> (String, Vec<String>) {
    let (status, body) = with_bearer(
        server,
        Method::POST,
        "/me/mfa/totp",
        access,
        Some(json!({"current_password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    let (status, body) = with_bearer(
        server,
        Method::POST,
        "/me/mfa/totp/confirm",
        access,
        Some(json!({"code": code(&secret, clock.unix())})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let codes = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    clock.advance(30);
    (secret, codes)
}

/// Logs in with two-factor on: the challenge's token.
async fn challenge(server: &Server, email: &str, password: &str) -> String {
    let (status, body) = login(server, email, password).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("mfa_required")),
        "{body}"
    );
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn user_id(server: &Server, access: &str) -> String {
    let (status, body) = me(server, Some(&format!("Bearer {access}"))).await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn forgot_and_reset(server: &Server, email: &str, password: &str) -> (u16, Value) {
    let before = mails_about(email, "Reset your").await.len();
    let (status, body) = post(server, "/auth/password/forgot", json!({ "email": email })).await;
    assert_eq!(status, 202, "{body}");
    let mails = mails_about(email, "Reset your").await;
    assert_eq!(mails.len(), before + 1);
    let token = link_token(mails.last().unwrap());
    post(
        server,
        "/auth/password/reset",
        json!({"token": token, "new_password": password}),
    )
    .await
}

// ------------------------------------------------------------------ the owner always wins

#[tokio::test]
async fn the_owner_who_resets_a_squatted_address_gets_a_clean_account() {
    let (server, clock) = server_at_step_start(&settings()).await;
    // Someone registers the owner's address (never verified) and turns two-factor on, and
    // leaves a login waiting for its second factor.
    let (address, squatter, squatter_refresh) = logged_in(&server).await;
    let (secret, codes) = enrol(&server, &clock, &squatter).await;
    let waiting = challenge(&server, &address, PASSWORD).await;

    // The owner asks for a reset and sets a password.
    let (status, body) = forgot_and_reset(&server, &address, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{body}");
    // The password alone signs the owner in: no factor of the squatter's is left.
    let (status, body) = login(&server, &address, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let owner = body["access_token"].as_str().unwrap().to_owned();
    // Every session and the waiting login of the squatter are dead.
    assert_eq!(
        me(&server, Some(&format!("Bearer {squatter}"))).await.0,
        403
    );
    let (status, _) = post(
        &server,
        "/auth/refresh",
        json!({"refresh_token": squatter_refresh}),
    )
    .await;
    assert_eq!(status, 401);
    for factor in [
        json!({"mfa_token": waiting, "code": code(&secret, clock.unix())}),
        json!({"mfa_token": waiting, "recovery_code": codes[0]}),
    ] {
        let (status, body) = post(&server, "/auth/mfa/verify", factor).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_token")),
            "{body}"
        );
    }
    // Nothing pending either: the owner enrols from scratch.
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp",
        &owner,
        Some(json!({"current_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let profile = me(&server, Some(&format!("Bearer {owner}"))).await.1;
    assert_eq!(profile["email_verified"], true);
}

#[tokio::test]
async fn the_owner_who_verifies_a_squatted_address_removes_the_factors_set_up_before() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (address, squatter, _) = logged_in(&server).await;
    enrol(&server, &clock, &squatter).await;
    // Turning two-factor on moved the credentials epoch (the first link died with it); the
    // squatter's resend mails the owner a new one.
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/email/verification",
        &squatter,
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let verify = link_token(
        mails_about(&address, "Verify your email")
            .await
            .last()
            .unwrap(),
    );
    let (status, body) = post(&server, "/auth/email/verify", json!({"token": verify})).await;
    assert_eq!(status, 204, "{body}");
    // The factors and the sessions set up with them are gone; the password alone signs in.
    assert_eq!(
        me(&server, Some(&format!("Bearer {squatter}"))).await.0,
        403
    );
    let (status, body) = login(&server, &address, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn verifying_an_address_without_factors_keeps_its_sessions() {
    let server = Server::start().await;
    let (address, access, _) = logged_in(&server).await;
    let verify = link_token(
        mails_about(&address, "Verify your email")
            .await
            .first()
            .unwrap(),
    );
    assert_eq!(
        post(&server, "/auth/email/verify", json!({"token": verify}))
            .await
            .0,
        204
    );
    let (status, body) = me(&server, Some(&format!("Bearer {access}"))).await;
    assert_eq!((status, &body["email_verified"]), (200, &json!(true)));
}

#[tokio::test]
async fn a_reset_of_a_verified_account_keeps_its_second_factor() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (address, access, _) = logged_in(&server).await;
    let verify = link_token(
        mails_about(&address, "Verify your email")
            .await
            .first()
            .unwrap(),
    );
    assert_eq!(
        post(&server, "/auth/email/verify", json!({"token": verify}))
            .await
            .0,
        204
    );
    enrol(&server, &clock, &access).await;
    let (status, body) = forgot_and_reset(&server, &address, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{body}");
    // The address was proven before the factor was set up: the reset does not remove it.
    challenge(&server, &address, NEW_PASSWORD).await;
}

// ------------------------------------------------------------------ DELETE /admin/users/{id}/mfa

#[tokio::test]
async fn an_administrator_removes_a_users_second_factors_and_ends_its_sessions() {
    capture_logs();
    let config = settings();
    let (admin_email, _) = crate::admin::new_admin(&config).await;
    let (server, clock) = server_at_step_start(&config).await;
    let (address, access, refresh) = logged_in(&server).await;
    enrol(&server, &clock, &access).await;
    let id = user_id(&server, &access).await;
    let path = format!("/admin/users/{id}/mfa");

    // Not without auth.users.write (the user itself, say).
    let (status, body) = with_bearer(&server, Method::DELETE, &path, &access, None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    challenge(&server, &address, PASSWORD).await;

    let (status, body) = login(&server, &admin_email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let admin = body["access_token"].as_str().unwrap().to_owned();
    let unknown = format!("/admin/users/{}/mfa", uuid::Uuid::new_v4());
    let (status, body) = with_bearer(&server, Method::DELETE, &unknown, &admin, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("user_not_found"))
    );
    let (status, body) = as_agent(&server, Method::DELETE, &path, &admin, None).await;
    assert_eq!((status, &body), (204, &Value::Null));

    // The user's sessions ended; the password alone signs in.
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 403);
    let (status, _) = post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!(status, 401);
    let (status, body) = login(&server, &address, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // Again: nothing to remove, still 204.
    let (status, _) = with_bearer(&server, Method::DELETE, &path, &admin, None).await;
    assert_eq!(status, 204);

    let notice = mails_about(&address, "removed").await;
    assert_eq!(notice.len(), 2, "{notice:#?}");
    assert_notice(&notice[0]);
    let (_, lines) = captured_logs();
    let events: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["target"] == "audit"
                && l["fields"]["target"] == id.as_str()
                && l["fields"]["event"] == "admin_mfa_removed"
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events[0]["fields"]["actor"].is_string(), "{:#?}", events[0]);
}

// ------------------------------------------------------------------ recovery codes at rest

/// The recovery code hashes stored for a user.
async fn stored_codes(id: &str) -> Vec<String> {
    store()
        .await
        .mfa_and_recovery(&UserId::parse(id).unwrap())
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn recovery_codes_are_stored_salted_and_keyed_and_work_once() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (address, access, _) = logged_in(&server).await;
    let (_, codes) = enrol(&server, &clock, &access).await;
    let id = user_id(&server, &access).await;
    let stored = stored_codes(&id).await;
    assert_eq!(stored.len(), 10);
    for code in &codes {
        // Not the plain SHA-256 of the code (one offline pass over a dump finds those).
        let plain = shared::mfa::hash_recovery_code(code);
        assert!(!stored.contains(&plain), "{code} is stored unsalted");
        assert!(
            stored.iter().all(|s| !s.contains(code.as_str())),
            "{code} in the clear"
        );
    }
    // Each works once, also when two logins race with it (3 rounds).
    for code in codes.iter().take(3) {
        let challenges = [
            challenge(&server, &address, PASSWORD).await,
            challenge(&server, &address, PASSWORD).await,
        ];
        let results = join_all(challenges.iter().map(|token| {
            post(
                &server,
                "/auth/mfa/verify",
                json!({"mfa_token": token, "recovery_code": code}),
            )
        }))
        .await;
        let mut statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401], "{results:?}");
    }
    assert_eq!(stored_codes(&id).await.len(), 7);
}

#[tokio::test]
async fn recovery_codes_stored_unsalted_by_an_older_version_still_work_once() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (address, access, _) = logged_in(&server).await;
    enrol(&server, &clock, &access).await;
    let id = user_id(&server, &access).await;
    // What the previous version stored: the plain SHA-256 of each code.
    let legacy = "abcd-efgh-jkmn";
    let store = store().await;
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(
            shared::store::keys::recovery_item(&id, &[shared::mfa::hash_recovery_code(legacy)])
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let token = challenge(&server, &address, PASSWORD).await;
    let (status, body) = post(
        &server,
        "/auth/mfa/verify",
        json!({"mfa_token": token, "recovery_code": "ABCD EFGH JKMN"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = challenge(&server, &address, PASSWORD).await;
    let (status, body) = post(
        &server,
        "/auth/mfa/verify",
        json!({"mfa_token": token, "recovery_code": legacy}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_code")),
        "{body}"
    );
}

// ------------------------------------------------------------------ security notices

/// A notice: says when and from where, and holds no link that does anything.
fn assert_notice(mail: &Mail) {
    assert!(!mail.text.contains("token="), "{}", mail.text);
    assert!(!mail.text.contains("http"), "{}", mail.text);
    assert!(!mail.html.contains("<a "), "{}", mail.html);
    assert!(mail.text.contains("UTC"), "{}", mail.text);
    assert!(mail.text.contains(AGENT), "{}", mail.text);
    assert!(mail.text.contains("127.0.0.1"), "{}", mail.text);
}

#[tokio::test]
async fn every_security_change_sends_the_address_a_notice() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (address, access, _) = logged_in(&server).await;
    let (secret, _) = enrol(&server, &clock, &access).await;

    let (status, body) = as_agent(
        &server,
        Method::POST,
        "/me/mfa/recovery-codes",
        &access,
        Some(json!({"code": code(&secret, clock.unix())})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    clock.advance(30);
    let notices = mails_about(&address, "recovery codes").await;
    assert_eq!(notices.len(), 1);
    assert_notice(&notices[0]);

    let (status, body) = as_agent(
        &server,
        Method::DELETE,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": PASSWORD, "code": code(&secret, clock.unix())})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let notices = mails_about(&address, "Two-factor").await;
    assert_eq!(notices.len(), 1);
    assert_notice(&notices[0]);

    let (status, body) = as_agent(
        &server,
        Method::POST,
        "/me/password",
        &access,
        Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let notices = mails_about(&address, "password was changed").await;
    assert_eq!(notices.len(), 1);
    assert_notice(&notices[0]);

    let (status, body) = post(
        &server,
        "/auth/password/forgot",
        json!({ "email": address }),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let token = link_token(mails_about(&address, "Reset your").await.last().unwrap());
    let response = http()
        .post(server.url("/auth/password/reset"))
        .header("user-agent", AGENT)
        .json(&json!({"token": token, "new_password": "yet-another-passphrase-7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let notices = mails_about(&address, "password was reset").await;
    assert_eq!(notices.len(), 1);
    assert_notice(&notices[0]);
    // Every mail so far: verification, the four notices, the reset link.
    assert_eq!(wait_for_mail(&address, 6).await.len(), 6);
}

#[tokio::test]
async fn a_notice_that_cannot_be_sent_does_not_fail_the_change() {
    let mut config = settings();
    // Nothing listens there: every SendEmail fails.
    config.insert(cfg::SES_ENDPOINT_URL.into(), "http://127.0.0.1:9".into());
    let server = Server::start_with(&config, shared::clock::SystemClock::shared()).await;
    let working = Server::start().await;
    let (address, access, _) = logged_in(&working).await;
    let (status, body) = as_agent(
        &server,
        Method::POST,
        "/me/password",
        &access,
        Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert!(
        mails_about(&address, "password was changed")
            .await
            .is_empty()
    );
    assert_eq!(login(&working, &address, NEW_PASSWORD).await.0, 200);
}

// ------------------------------------------------------------------ a notice that cannot go

/// An SES v2 stand-in that refuses every mail to `refused` and records the others' recipients.
async fn refusing_ses(refused: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::StatusCode;
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = sent.clone();
    let app = axum::Router::new().route(
        "/v2/email/outbound-emails",
        axum::routing::post(move |body: String| {
            let record = record.clone();
            let refused = refused.clone();
            async move {
                let request: Value = serde_json::from_str(&body).unwrap();
                let to: Vec<String> = request["Destination"]["ToAddresses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect();
                if to.contains(&refused) {
                    return (
                        StatusCode::BAD_REQUEST,
                        r#"{"__type":"MessageRejected","message":"refused"}"#.to_owned(),
                    );
                }
                record.lock().unwrap().extend(to);
                (StatusCode::OK, r#"{"MessageId":"m-1"}"#.to_owned())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, sent)
}

#[tokio::test]
async fn an_email_change_waits_while_the_current_address_cannot_be_told() {
    let working = Server::start().await;
    let (old, access, _) = logged_in(&working).await;
    let (ses, sent) = refusing_ses(old.clone()).await;
    let mut config = settings();
    config.insert(cfg::SES_ENDPOINT_URL.into(), ses);
    let refusing = Server::start_with(&config, shared::clock::SystemClock::shared()).await;
    let new = unique_email();
    let (status, body) = change_email(&refusing, &access, &new).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("service_unavailable")),
        "{body}"
    );
    // No confirmation went to the new address while the owner could not be told.
    assert!(
        sent.lock().unwrap().is_empty(),
        "{:?}",
        sent.lock().unwrap()
    );
    // Once the notice can go, the same request goes through.
    let (status, body) = change_email(&working, &access, &new).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(mails_about(&old, "being changed").await.len(), 1);
    assert_eq!(mails_about(&new, "Confirm your new email").await.len(), 1);
}
