//! The audit log: one JSON line per security event, with the event name, user and session ids,
//! request id and source IP, and never a password, token, hash or key.

use integration_tests::{
    PASSWORD, Server, capture_logs, captured_logs, logged_in, login, post, settings, signing_key,
    store, with_bearer,
};
use reqwest::Method;
use serde_json::json;
use shared::clock::{Clock, ManualClock};

#[tokio::test]
async fn a_full_flow_logs_every_security_event_and_no_secret() {
    capture_logs();
    let clock = ManualClock::starting_now();
    let server = Server::start_with(&settings(), clock.clone()).await;
    let (email, access, first) = logged_in(&server).await;
    let (_, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    let second_access = body["access_token"].as_str().unwrap().to_owned();
    post(&server, "/auth/refresh", json!({"refresh_token": first})).await; // reuse
    let (_, body) = login(&server, &email, PASSWORD).await;
    let third = body["refresh_token"].as_str().unwrap().to_owned();
    let third_access = body["access_token"].as_str().unwrap().to_owned();
    post(&server, "/auth/logout", json!({"refresh_token": third})).await;
    let (_, body) = login(&server, &email, PASSWORD).await;
    let fourth_access = body["access_token"].as_str().unwrap().to_owned();
    let new_password = "yet-another-long-passphrase-9";
    let (status, _) = with_bearer(
        &server,
        Method::POST,
        "/me/password",
        &fourth_access,
        Some(json!({"current_password": "Wrong-password-123", "new_password": new_password})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = with_bearer(
        &server,
        Method::POST,
        "/me/password",
        &fourth_access,
        Some(json!({"current_password": PASSWORD, "new_password": new_password})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, body) = login(&server, &email, new_password).await;
    let fifth_access = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) =
        with_bearer(&server, Method::DELETE, "/me/sessions", &fifth_access, None).await;
    assert_eq!(status, 204);
    // The successful change gave the failed one's reservation back: five failures lock, the
    // sixth attempt is refused.
    for _ in 0..6 {
        login(&server, &email, "Wrong-password-123").await;
    }
    let hash = store()
        .await
        .credentials(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash;

    let (text, lines) = captured_logs();
    // Logged at debug: the check below covers what debug adds.
    assert!(
        lines.iter().any(|l| l["level"] == "DEBUG"),
        "no debug line was captured"
    );
    let user_id = integration_tests::verifier()
        .verify(&access, shared::clock::Clock::unix(&*clock))
        .unwrap()
        .sub;
    let events: Vec<&str> = lines
        .iter()
        .filter(|l| l["target"] == "audit" && l["fields"]["user_id"] == user_id.as_str())
        .map(|l| l["fields"]["event"].as_str().unwrap())
        .collect();
    for expected in [
        "user_registered",
        "login_succeeded",
        "token_refreshed",
        "token_reuse_detected",
        "logout",
        "password_changed",
        "sessions_revoked",
        "login_failed",
        "login_lockout_started",
        "login_locked_out",
        "password_change_failed",
    ] {
        assert!(events.contains(&expected), "no {expected} in {events:?}");
    }
    for line in lines
        .iter()
        .filter(|l| l["target"] == "audit" && l["fields"]["user_id"] == user_id.as_str())
    {
        let fields = &line["fields"];
        assert!(
            fields["request_id"].is_string() && fields["source_ip"] == "127.0.0.1",
            "{line}"
        );
        if [
            "login_succeeded",
            "token_refreshed",
            "token_reuse_detected",
            "logout",
        ]
        .contains(&fields["event"].as_str().unwrap())
        {
            assert!(fields["session_id"].is_string(), "{line}");
        }
    }
    let secrets = [
        PASSWORD.to_owned(),
        new_password.to_owned(),
        "Wrong-password-123".to_owned(),
        first,
        second,
        third,
        access,
        second_access,
        third_access,
        fourth_access,
        fifth_access,
        hash,
        signing_key().0.lines().nth(1).unwrap().to_owned(),
    ];
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret reached the log");
    }
}

#[tokio::test]
async fn recovery_and_email_changes_log_their_events_and_never_a_link_token() {
    capture_logs();
    let server = Server::start().await;
    let (email, access, _) = logged_in(&server).await;
    let user_id = integration_tests::verifier()
        .verify(&access, time::OffsetDateTime::now_utc().unix_timestamp())
        .unwrap()
        .sub;
    let token_of = |mails: Vec<integration_tests::Mail>, subject: &str| {
        let mail = mails
            .iter()
            .rev()
            .find(|m| m.subject.contains(subject))
            .unwrap_or_else(|| panic!("no {subject} mail"))
            .clone();
        integration_tests::link_token(&mail)
    };
    let verify = token_of(integration_tests::mails_to(&email).await, "Verify");
    assert_eq!(
        post(&server, "/auth/email/verify", json!({"token": verify}))
            .await
            .0,
        204
    );
    let (status, _) = post(&server, "/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(status, 202);
    let reset = token_of(integration_tests::mails_to(&email).await, "Reset");
    let new_password = "recovered-long-passphrase-3";
    let (status, _) = post(
        &server,
        "/auth/password/reset",
        json!({"token": reset, "new_password": new_password}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, body) = login(&server, &email, new_password).await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    let new_email = integration_tests::unique_email();
    let (status, _) = with_bearer(
        &server,
        Method::POST,
        "/me/email",
        &access,
        Some(json!({"new_email": new_email, "current_password": new_password})),
    )
    .await;
    assert_eq!(status, 202);
    let change = token_of(integration_tests::mails_to(&new_email).await, "Confirm");
    assert_eq!(
        post(
            &server,
            "/auth/email/confirm-change",
            json!({"token": change})
        )
        .await
        .0,
        204
    );

    let (text, lines) = captured_logs();
    let events: Vec<&str> = lines
        .iter()
        .filter(|l| l["target"] == "audit" && l["fields"]["user_id"] == user_id.as_str())
        .map(|l| l["fields"]["event"].as_str().unwrap())
        .collect();
    for expected in [
        "email_verification_sent",
        "email_verified",
        "password_reset_requested",
        "password_reset",
        "email_change_requested",
        "email_changed",
        "sessions_revoked",
    ] {
        assert!(events.contains(&expected), "no {expected} in {events:?}");
    }
    for secret in [&verify, &reset, &change, &access, &new_password.to_owned()] {
        assert!(!text.contains(secret.as_str()), "a secret reached the log");
    }
}

#[tokio::test]
async fn two_factor_logs_its_events_and_never_a_secret_code_or_mfa_token() {
    capture_logs();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let clock = ManualClock::new(now - now.rem_euclid(30));
    let server = Server::start_with(&settings(), clock.clone()).await;
    let (email, access, _) = logged_in(&server).await;
    let code = |secret: &str, at: i64| {
        shared::mfa::Secret::from_base32(secret)
            .unwrap()
            .code_at(at.div_euclid(30))
    };
    let (_, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": PASSWORD})),
    )
    .await;
    let secret = body["secret"].as_str().unwrap().to_owned();
    let uri = body["otpauth_uri"].as_str().unwrap().to_owned();
    let first = code(&secret, clock.unix());
    let (_, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/totp/confirm",
        &access,
        Some(json!({"code": first})),
    )
    .await;
    let recovery: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let (_, body) = login(&server, &email, PASSWORD).await;
    let token = body["mfa_token"].as_str().unwrap().to_owned();
    post(
        &server,
        "/auth/mfa/verify",
        json!({"mfa_token": token, "code": first}),
    )
    .await;
    let (status, _) = post(
        &server,
        "/auth/mfa/verify",
        json!({"mfa_token": token, "recovery_code": recovery[0]}),
    )
    .await;
    assert_eq!(status, 200);
    clock.advance(30);
    let second = code(&secret, clock.unix());
    let (status, _) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/recovery-codes",
        &access,
        Some(json!({"code": second})),
    )
    .await;
    assert_eq!(status, 200);
    clock.advance(30);
    let third = code(&secret, clock.unix());
    let (status, _) = with_bearer(
        &server,
        Method::DELETE,
        "/me/mfa/totp",
        &access,
        Some(json!({"current_password": PASSWORD, "code": third})),
    )
    .await;
    assert_eq!(status, 204);

    let (text, lines) = captured_logs();
    let user_id = integration_tests::verifier()
        .verify(&access, clock.unix())
        .unwrap()
        .sub;
    let events: Vec<&str> = lines
        .iter()
        .filter(|l| l["target"] == "audit" && l["fields"]["user_id"] == user_id.as_str())
        .map(|l| l["fields"]["event"].as_str().unwrap())
        .collect();
    for expected in [
        "mfa_enabled",
        "mfa_challenge_issued",
        "mfa_challenge_failed",
        "mfa_recovery_code_used",
        "recovery_codes_regenerated",
        "mfa_disabled",
    ] {
        assert!(events.contains(&expected), "no {expected} in {events:?}");
    }
    for secret in [
        &secret,
        &uri,
        &first,
        &second,
        &third,
        &token,
        &recovery[0],
        &recovery[1],
    ] {
        assert!(!text.contains(secret.as_str()), "a secret reached the log");
    }
}
