//! Two-factor authentication against DynamoDB Local with an injected clock: enrolment and
//! confirmation, the login challenge, replay protection (a code works once, also when two
//! verifications race), the ±1-step window, recovery codes, the challenge's expiry and death
//! after five wrong codes, lockout counting, turning it off, new recovery codes, `amr` in
//! tokens, and no TOTP secret in the table in the clear.

use futures::future::join_all;
use integration_tests::{
    PASSWORD, Server, logged_in, login, me, post, settings, store, verifier, with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::config as cfg;
use shared::mfa::Secret;

/// The code of `secret` (base32) at `unix`.
pub(crate) fn code(secret: &str, unix: i64) -> String {
    Secret::from_base32(secret)
        .unwrap()
        .code_at(unix.div_euclid(30))
}

/// A server whose clock sits at the start of a 30 s step (so `+30` is the next step).
pub(crate) async fn server_at_step_start(
    config: &std::collections::HashMap<String, String>,
) -> (Server, std::sync::Arc<ManualClock>) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let clock = ManualClock::new(now - now.rem_euclid(30));
    (Server::start_with(config, clock.clone()).await, clock)
}

/// Registers, logs in and turns two-factor on; returns (email, secret, recovery codes,
/// access and refresh tokens of the session that confirmed it).
pub(crate) async fn enrolled(
    server: &Server,
    clock: &ManualClock,
) -> (String, String, Vec<String>, String, String) {
    let (email, access, refresh) = logged_in(server).await;
    let (status, body) = with_bearer(
        server,
        Method::POST,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(
        body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(body["qr_svg"].as_str().unwrap().contains("<svg"));
    let (status, body) = with_bearer(
        server,
        Method::POST,
        "/me/mfa/totp/confirm",
        &access,
        Some(json!({"code": code(&secret, clock.unix())})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    // The step the confirmation spent is gone: move to the next one.
    clock.advance(30);
    (email, secret, codes, access, refresh)
}

/// Logs in with two-factor on: the challenge's token.
pub(crate) async fn challenge(server: &Server, email: &str) -> String {
    let (status, body) = login(server, email, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("mfa_required")),
        "{body}"
    );
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn verify(server: &Server, body: Value) -> (u16, Value) {
    post(server, "/auth/mfa/verify", body).await
}

fn amr_of(access: &str) -> Vec<String> {
    verifier()
        .verify(access, time::OffsetDateTime::now_utc().unix_timestamp())
        .unwrap()
        .amr
}

#[tokio::test]
async fn enrolment_then_login_needs_the_code_and_tokens_say_so() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, secret, _, access, refresh) = enrolled(&server, &clock).await;
    // The confirming session lives on (its access and refresh tokens); every other ended.
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!(status, 200, "{body}");

    let token = challenge(&server, &email).await;
    let (status, body) = verify(
        &server,
        json!({"mfa_token": token, "code": code(&secret, clock.unix())}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(amr_of(access), ["pwd", "otp"]);
    // The authorizer (with its revocation check) hands `amr` to the function behind it.
    let mut event: Value = serde_json::from_str(&integration_tests::event("authorizer")).unwrap();
    event["headers"]["authorization"] = Value::String(format!("Bearer {access}"));
    event["identitySource"] = json!([format!("Bearer {access}")]);
    let decision = authorizer::handle(&server.app.authorizer, event).await;
    assert!(decision.is_authorized);
    assert_eq!(decision.context["amr"], "pwd,otp");
    // Refresh keeps the session's amr.
    let (status, body) = post(
        &server,
        "/auth/refresh",
        json!({"refresh_token": body["refresh_token"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        amr_of(body["access_token"].as_str().unwrap()),
        ["pwd", "otp"]
    );
    // The mfa_token is single use.
    let (status, body) = verify(
        &server,
        json!({"mfa_token": token, "code": code(&secret, clock.unix() + 30)}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );
}

#[tokio::test]
async fn confirming_ends_every_other_session() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, access, _) = logged_in(&server).await;
    let (_, body) = login(&server, &email, PASSWORD).await;
    let other_access = body["access_token"].as_str().unwrap().to_owned();
    let other_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let (_, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": PASSWORD})),
    )
    .await;
    let secret = body["secret"].as_str().unwrap().to_owned();
    let (status, _) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp/confirm",
        &access,
        Some(json!({"code": code(&secret, clock.unix())})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);
    assert_eq!(
        me(&server, Some(&format!("Bearer {other_access}"))).await.0,
        403
    );
    assert_eq!(
        post(
            &server,
            "/auth/refresh",
            json!({"refresh_token": other_refresh})
        )
        .await
        .0,
        401
    );
}

#[tokio::test]
async fn a_code_works_once_even_when_two_verifications_race() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, secret, _, _, _) = enrolled(&server, &clock).await;
    let now_code = code(&secret, clock.unix());
    let tokens = [
        challenge(&server, &email).await,
        challenge(&server, &email).await,
    ];
    let results = join_all(
        tokens
            .iter()
            .map(|t| verify(&server, json!({"mfa_token": t, "code": now_code}))),
    )
    .await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{results:?}");
    // The same code in the same step, later: refused.
    let token = challenge(&server, &email).await;
    let (status, body) = verify(&server, json!({"mfa_token": token, "code": now_code})).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("invalid_code")));
}

#[tokio::test]
async fn one_step_either_side_is_accepted_two_steps_off_is_not() {
    let mut config = settings();
    config.insert(cfg::LOCKOUT_MAX_FAILURES.into(), "20".into());
    let (server, clock) = server_at_step_start(&config).await;
    let (email, secret, _, _, _) = enrolled(&server, &clock).await;
    let now = clock.unix();
    for (offset, expected) in [(60, 401), (-60, 401), (30, 200)] {
        let token = challenge(&server, &email).await;
        let (status, body) = verify(
            &server,
            json!({"mfa_token": token, "code": code(&secret, now + offset)}),
        )
        .await;
        assert_eq!(status, expected, "offset {offset}: {body}");
    }
    // The next step was spent, so the current one (older) is refused too.
    let token = challenge(&server, &email).await;
    let (status, _) = verify(
        &server,
        json!({"mfa_token": token, "code": code(&secret, now)}),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn recovery_codes_work_once_each_and_can_be_replaced() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, secret, codes, access, _) = enrolled(&server, &clock).await;
    let token = challenge(&server, &email).await;
    let (status, body) = verify(
        &server,
        json!({"mfa_token": token, "recovery_code": codes[0].to_uppercase()}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        amr_of(body["access_token"].as_str().unwrap()),
        ["pwd", "otp", "rec"]
    );
    let token = challenge(&server, &email).await;
    let (status, _) = verify(
        &server,
        json!({"mfa_token": token, "recovery_code": codes[0]}),
    )
    .await;
    assert_eq!(status, 401);
    // A new set: the old codes are dead, the new ones work.
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/recovery-codes",
        &access,
        Some(json!({"code": code(&secret, clock.unix())})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["recovery_codes"][3].as_str().unwrap().to_owned();
    let token = challenge(&server, &email).await;
    assert_eq!(
        verify(
            &server,
            json!({"mfa_token": token, "recovery_code": codes[1]})
        )
        .await
        .0,
        401
    );
    let token = challenge(&server, &email).await;
    assert_eq!(
        verify(&server, json!({"mfa_token": token, "recovery_code": fresh}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn an_mfa_token_dies_after_five_minutes_or_five_wrong_codes() {
    // Wrong codes also count toward the email's lockout (5 by default), which would answer
    // 429 before the token's own limit shows: the lockout is raised for this test.
    let mut config = settings();
    config.insert(cfg::LOCKOUT_MAX_FAILURES.into(), "20".into());
    let (server, clock) = server_at_step_start(&config).await;
    let (email, secret, _, _, _) = enrolled(&server, &clock).await;
    let token = challenge(&server, &email).await;
    clock.advance(300);
    let (status, body) = verify(
        &server,
        json!({"mfa_token": token, "code": code(&secret, clock.unix())}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );

    let token = challenge(&server, &email).await;
    let wrong = if code(&secret, clock.unix()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let (status, body) = verify(&server, json!({"mfa_token": token, "code": wrong})).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("invalid_code")));
    }
    let (status, body) = verify(
        &server,
        json!({"mfa_token": token, "code": code(&secret, clock.unix())}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, secret, _, _, _) = enrolled(&server, &clock).await;
    let wrong = if code(&secret, clock.unix()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let token = challenge(&server, &email).await;
    let results =
        join_all((0..8).map(|_| verify(&server, json!({"mfa_token": token, "code": wrong})))).await;
    let checked = results.iter().filter(|r| r.0 == 401).count();
    let locked = results.iter().filter(|r| r.0 == 429).count();
    assert!(checked <= 5 && checked + locked == 8, "{results:?}");
    // Locked: the right password is refused too.
    assert_eq!(login(&server, &email, PASSWORD).await.0, 429);
}

#[tokio::test]
async fn turning_it_off_needs_the_password_and_a_code() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, secret, _, access, _) = enrolled(&server, &clock).await;
    let (status, body) = with_bearer(
        &server,
        Method::DELETE,
        "/me/mfa/totp",
        &access,
        Some(
            json!({"current_password": "Wrong-password-123", "code": code(&secret, clock.unix())}),
        ),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("invalid_credentials"))
    );
    let (status, body) = with_bearer(
        &server,
        Method::DELETE,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": PASSWORD, "code": code(&secret, clock.unix())})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(login(&server, &email, PASSWORD).await.0, 200);
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/recovery-codes",
        &access,
        Some(json!({"code": code(&secret, clock.unix() + 30)})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("mfa_not_enabled"))
    );
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp/confirm",
        &access,
        Some(json!({"code": "123456"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("mfa_not_enabled"))
    );
}

#[tokio::test]
async fn enrolment_checks_the_password_and_refuses_a_second_one() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (_, access, _) = logged_in(&server).await;
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": "Wrong-password-123"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("invalid_credentials"))
    );
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp/confirm",
        &access,
        Some(json!({"code": "12345"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let (_, _, _, access, _) = enrolled(&server, &clock).await;
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": PASSWORD})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("mfa_already_enabled"))
    );
}

#[tokio::test]
async fn the_table_never_holds_a_totp_secret_in_the_clear() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (_, secret, codes, _, _) = enrolled(&server, &clock).await;
    let store = store().await;
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", items.items());
    assert!(!dump.contains(&secret), "the base32 secret is in the table");
    // What is there is sealed: nonce (24 bytes), the 20-byte secret encrypted, the tag (16).
    let sealed: Vec<String> = items
        .items()
        .iter()
        .filter(|i| {
            i.get("type")
                .and_then(|t| t.as_s().ok())
                .is_some_and(|t| t == "mfa")
        })
        .map(|i| i["sealed"].as_s().unwrap().clone())
        .collect();
    assert!(!sealed.is_empty());
    for blob in sealed {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(blob)
            .unwrap();
        assert_eq!(bytes.len(), 24 + 20 + 16);
    }
    for code in &codes {
        assert!(
            !dump.contains(code.as_str()),
            "a recovery code is in the table"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_racing_the_confirmation_never_outlive_it() {
    // Eight parallel password checks: the default lockout (5) would refuse some (the rule
    // working as meant); a higher limit lets every racer reach its check.
    let mut config = settings();
    config.insert(cfg::LOCKOUT_MAX_FAILURES.into(), "20".into());
    let (server, clock) = server_at_step_start(&config).await;
    let (email, access, _) = logged_in(&server).await;
    let (_, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": PASSWORD})),
    )
    .await;
    let secret = body["secret"].as_str().unwrap().to_owned();
    let logins = join_all((0..8).map(|_| login(&server, &email, PASSWORD)));
    let confirm = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp/confirm",
        &access,
        Some(json!({"code": code(&secret, clock.unix())})),
    );
    let (logins, (status, body)) = tokio::join!(logins, confirm);
    assert_eq!(status, 200, "{body}");
    for (status, body) in &logins {
        match *status {
            // A password-only session from before the confirmation: ended by it.
            200 => {
                let (status, _) = post(
                    &server,
                    "/auth/refresh",
                    json!({"refresh_token": body["refresh_token"]}),
                )
                .await;
                assert_eq!(
                    status, 401,
                    "a password-only session outlived the confirmation"
                );
                let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
                assert_eq!(me(&server, Some(&bearer)).await.0, 403);
            }
            401 => assert!(
                ["mfa_required", "invalid_credentials"].contains(&body["code"].as_str().unwrap()),
                "{body}"
            ),
            other => panic!("{other} {body}"),
        }
    }
    assert_eq!(
        login(&server, &email, PASSWORD).await.1["code"],
        "mfa_required"
    );
}
