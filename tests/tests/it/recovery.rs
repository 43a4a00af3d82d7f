//! Account recovery and email ownership against DynamoDB Local and the SES v2 emulator: the
//! reset flow, verification, the email change, and every way a link dies (expiry, reuse,
//! a racing use, a newer link, a credentials change), with the races fired in parallel.

use std::time::Instant;

use futures::future::join_all;
use integration_tests::{
    Mail, PASSWORD, Server, link_token, logged_in, login, mails_to, me, post,
    post_with_retry_after, registered, settings, unique_email, wait_for_mail, with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::ManualClock;
use shared::config as cfg;

const NEW_PASSWORD: &str = "a-brand-new-passphrase-42";

/// The mails to `address` whose subject contains `subject`.
async fn mails_about(address: &str, subject: &str) -> Vec<Mail> {
    mails_to(address)
        .await
        .into_iter()
        .filter(|m| m.subject.contains(subject))
        .collect()
}

/// The token of the newest mail to `address` about `subject`.
async fn newest_token(address: &str, subject: &str) -> String {
    let mails = mails_about(address, subject).await;
    let mail = mails
        .last()
        .unwrap_or_else(|| panic!("no mail about {subject:?} to {address}"));
    link_token(mail)
}

async fn forgot(server: &Server, email: &str) -> (u16, Option<i64>, Value) {
    post_with_retry_after(server, "/auth/password/forgot", json!({ "email": email })).await
}

async fn reset(server: &Server, token: &str, password: &str) -> (u16, Value) {
    post(
        server,
        "/auth/password/reset",
        json!({ "token": token, "new_password": password }),
    )
    .await
}

async fn refresh(server: &Server, token: &str) -> (u16, Value) {
    post(server, "/auth/refresh", json!({ "refresh_token": token })).await
}

#[tokio::test]
async fn the_reset_flow_replaces_the_password_and_ends_every_session() {
    let server = Server::start().await;
    let (email, access, refresh_token) = logged_in(&server).await;
    let (status, _, body) = forgot(&server, &email).await;
    assert_eq!((status, &body), (202, &json!({"status": "accepted"})));
    let mails = wait_for_mail(&email, 2).await;
    let mail = mails.iter().find(|m| m.subject.contains("Reset")).unwrap();
    assert_eq!(mail.from, "no-reply@auth.test.invalid");
    assert!(
        mail.text
            .contains("https://app.test.invalid/reset-password?token="),
        "{}",
        mail.text
    );
    // The HTML is auto-escaped (`/` as `&#x2f;`); a browser decodes the attribute.
    let html = mail.html.replace("&#x2f;", "/");
    assert!(
        html.contains("href=\"https://app.test.invalid/reset-password?token="),
        "{html}"
    );
    let token = link_token(mail);
    assert_eq!(token.len(), 43);

    assert_eq!(reset(&server, &token, NEW_PASSWORD).await.0, 204);
    assert_eq!(login(&server, &email, PASSWORD).await.0, 401);
    let (status, body) = refresh(&server, &refresh_token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    // The access token's session ended too (the authorizer's revocation check).
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 403);
    let (status, body) = login(&server, &email, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
    // Reading the mail proved the address.
    assert_eq!(me(&server, Some(&bearer)).await.1["email_verified"], true);
    // Used once.
    let (status, body) = reset(&server, &token, "yet-another-passphrase-7").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );
}

#[tokio::test]
async fn forgot_answers_the_same_for_an_unknown_address_and_sends_nothing() {
    let server = Server::start().await;
    let known = registered(&server).await;
    let unknown = unique_email();
    let started = Instant::now();
    let (status_unknown, _, body_unknown) = forgot(&server, &unknown).await;
    let unknown_took = started.elapsed();
    let started = Instant::now();
    let (status_known, _, body_known) = forgot(&server, &known).await;
    let known_took = started.elapsed();
    assert_eq!((status_unknown, status_known), (202, 202));
    assert_eq!(body_unknown, body_known);
    // Neither answers before the floor that hides the difference in work.
    for took in [unknown_took, known_took] {
        assert!(took >= shared::service::FORGOT_MIN_DURATION, "{took:?}");
    }
    assert!(mails_to(&unknown).await.is_empty());
    assert_eq!(mails_about(&known, "Reset").await.len(), 1);
}

#[tokio::test]
async fn forgot_is_limited_per_address_even_in_a_burst_and_for_unknown_addresses() {
    let server = Server::start().await;
    for email in [registered(&server).await, unique_email()] {
        let results = join_all((0..10).map(|_| forgot(&server, &email))).await;
        let accepted = results.iter().filter(|r| r.0 == 202).count();
        let refused: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
        assert_eq!((accepted, refused.len()), (3, 7), "{results:?}");
        for (_, retry_after, body) in refused {
            assert_eq!(body["code"], "too_many_attempts");
            assert!(retry_after.is_some_and(|s| (1..=3600).contains(&s)));
        }
    }
    let (status, _, body) = forgot(&server, "not an email").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
}

#[tokio::test]
async fn a_reset_link_expires_after_30_minutes() {
    let clock = ManualClock::starting_now();
    let server = Server::start_with(&settings(), clock.clone()).await;
    let email = registered(&server).await;
    assert_eq!(forgot(&server, &email).await.0, 202);
    let token = newest_token(&email, "Reset").await;
    clock.advance(30 * 60);
    let (status, body) = reset(&server, &token, NEW_PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );
    assert_eq!(login(&server, &email, PASSWORD).await.0, 200);
}

#[tokio::test]
async fn of_two_racing_uses_of_one_link_exactly_one_succeeds() {
    let server = Server::start().await;
    let email = registered(&server).await;
    assert_eq!(forgot(&server, &email).await.0, 202);
    let token = newest_token(&email, "Reset").await;
    let passwords = ["racing-passphrase-one-1", "racing-passphrase-two-2"];
    let results = join_all(passwords.iter().map(|p| reset(&server, &token, p))).await;
    let mut statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 400], "{results:?}");
    let winner = passwords
        .iter()
        .zip(&results)
        .find(|(_, r)| r.0 == 204)
        .map(|(p, _)| *p)
        .unwrap();
    let loser = passwords.iter().find(|p| **p != winner).unwrap();
    assert_eq!(login(&server, &email, winner).await.0, 200);
    assert_eq!(login(&server, &email, loser).await.0, 401);
}

#[tokio::test]
async fn a_newer_request_or_a_password_change_kills_older_links() {
    let server = Server::start().await;
    let (email, access, _) = logged_in(&server).await;
    assert_eq!(forgot(&server, &email).await.0, 202);
    let first = newest_token(&email, "Reset").await;
    assert_eq!(forgot(&server, &email).await.0, 202);
    let second = newest_token(&email, "Reset").await;
    assert_ne!(first, second);
    assert_eq!(reset(&server, &first, NEW_PASSWORD).await.0, 400);

    // A password change moves the credentials epoch on: the newest link dies with it.
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/password",
        &access,
        Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = reset(&server, &second, "another-passphrase-99").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );
    assert_eq!(login(&server, &email, NEW_PASSWORD).await.0, 200);
}

#[tokio::test]
async fn a_weak_password_leaves_the_link_usable_and_bad_tokens_are_invalid() {
    let server = Server::start().await;
    let email = registered(&server).await;
    assert_eq!(forgot(&server, &email).await.0, 202);
    let token = newest_token(&email, "Reset").await;
    let (status, body) = reset(&server, &token, "password").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("weak_password"))
    );
    for bad in ["", "x", &"A".repeat(43), &token[..42]] {
        let (status, body) = reset(&server, bad, NEW_PASSWORD).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(
            ["invalid_token", "validation_failed"].contains(&body["code"].as_str().unwrap()),
            "{body}"
        );
    }
    // A verification link is no reset link.
    let verify = newest_token(&email, "Verify").await;
    assert_eq!(reset(&server, &verify, NEW_PASSWORD).await.0, 400);
    let (status, body) = post(&server, "/auth/password/reset", json!({"token": token})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    assert_eq!(reset(&server, &token, NEW_PASSWORD).await.0, 204);
}

#[tokio::test]
async fn verification_resend_and_already_verified() {
    let server = Server::start().await;
    let (email, access, _) = logged_in(&server).await;
    let bearer = format!("Bearer {access}");
    assert_eq!(me(&server, Some(&bearer)).await.1["email_verified"], false);
    let first = newest_token(&email, "Verify").await;
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/email/verification",
        &access,
        None,
    )
    .await;
    assert_eq!((status, body), (202, json!({"status": "accepted"})));
    let second = newest_token(&email, "Verify").await;
    assert_ne!(first, second);
    // The resend superseded the first link.
    let (status, body) = post(&server, "/auth/email/verify", json!({"token": first})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );
    assert_eq!(
        post(&server, "/auth/email/verify", json!({"token": second}))
            .await
            .0,
        204
    );
    assert_eq!(me(&server, Some(&bearer)).await.1["email_verified"], true);
    assert_eq!(
        post(&server, "/auth/email/verify", json!({"token": second}))
            .await
            .0,
        400
    );
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/email/verification",
        &access,
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_verified"))
    );
}

#[tokio::test]
async fn resends_are_limited_like_forgot() {
    let server = Server::start().await;
    let (_, access, _) = logged_in(&server).await;
    let results = join_all((0..6).map(|_| {
        with_bearer(
            &server,
            Method::POST,
            "/me/email/verification",
            &access,
            None,
        )
    }))
    .await;
    let statuses: Vec<u16> = results.iter().map(|r| r.0).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        3,
        "{results:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{results:?}"
    );
}

#[tokio::test]
async fn require_verified_email_refuses_a_right_password_until_verified() {
    let mut config = settings();
    config.insert(cfg::REQUIRE_VERIFIED_EMAIL.into(), "true".into());
    let server = Server::start_with(&config, shared::clock::SystemClock::shared()).await;
    let email = registered(&server).await;
    let (status, body) = login(&server, &email, "Wrong-password-123").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (status, body) = login(&server, &email, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("email_not_verified"))
    );
    // A right password gives its reservation back: six of them never lock the address.
    for _ in 0..6 {
        assert_eq!(login(&server, &email, PASSWORD).await.0, 403);
    }
    let token = newest_token(&email, "Verify").await;
    assert_eq!(
        post(&server, "/auth/email/verify", json!({"token": token}))
            .await
            .0,
        204
    );
    assert_eq!(login(&server, &email, PASSWORD).await.0, 200);
}

async fn change_email(
    server: &Server,
    access: &str,
    new_email: &str,
    password: &str,
) -> (u16, Value) {
    with_bearer(
        server,
        Method::POST,
        "/me/email",
        access,
        Some(json!({"new_email": new_email, "current_password": password})),
    )
    .await
}

#[tokio::test]
async fn an_email_change_is_confirmed_from_the_new_address_and_ends_every_session() {
    let server = Server::start().await;
    let (old, access, refresh_token) = logged_in(&server).await;
    let new = unique_email();
    let (status, body) = change_email(&server, &access, &new, "Wrong-password-123").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("invalid_credentials"))
    );
    let taken = registered(&server).await;
    let (status, body) = change_email(&server, &access, &taken, PASSWORD).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("email_taken")));
    let (status, body) = change_email(&server, &access, &new, PASSWORD).await;
    assert_eq!((status, body), (202, json!({"status": "accepted"})));

    let notice = mails_about(&old, "being changed").await;
    assert_eq!(notice.len(), 1);
    assert!(!notice[0].text.contains("token="));
    // Nothing changed yet.
    assert_eq!(login(&server, &old, PASSWORD).await.0, 200);
    let token = newest_token(&new, "Confirm your new email").await;
    assert_eq!(
        post(
            &server,
            "/auth/email/confirm-change",
            json!({"token": token})
        )
        .await
        .0,
        204
    );
    assert_eq!(login(&server, &old, PASSWORD).await.0, 401);
    let (status, body) = login(&server, &new, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let profile = me(
        &server,
        Some(&format!(
            "Bearer {}",
            body["access_token"].as_str().unwrap()
        )),
    )
    .await
    .1;
    assert_eq!(
        (profile["email"].as_str(), &profile["email_verified"]),
        (Some(new.as_str()), &json!(true))
    );
    assert_eq!(refresh(&server, &refresh_token).await.0, 401);
    // The old address is free again; the link is used up.
    let (status, _) = post(
        &server,
        "/auth/register",
        json!({"email": old, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        post(
            &server,
            "/auth/email/confirm-change",
            json!({"token": token})
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn a_confirmation_racing_a_registration_of_the_same_address_has_one_winner() {
    let server = Server::start().await;
    for _ in 0..3 {
        let (old, access, _) = logged_in(&server).await;
        let new = unique_email();
        assert_eq!(change_email(&server, &access, &new, PASSWORD).await.0, 202);
        let token = newest_token(&new, "Confirm your new email").await;
        let (confirm, register) = tokio::join!(
            post(
                &server,
                "/auth/email/confirm-change",
                json!({"token": token})
            ),
            post(
                &server,
                "/auth/register",
                json!({"email": new, "password": "someone-elses-passphrase-1"}),
            )
        );
        match (confirm.0, register.0) {
            (204, 409) => {
                assert_eq!(login(&server, &new, PASSWORD).await.0, 200);
                assert_eq!(login(&server, &old, PASSWORD).await.0, 401);
            }
            (409, 201) => {
                assert_eq!(confirm.1["code"], "email_taken");
                assert_eq!(login(&server, &old, PASSWORD).await.0, 200);
                assert_eq!(
                    login(&server, &new, "someone-elses-passphrase-1").await.0,
                    200
                );
            }
            other => panic!("both or neither won: {other:?} {confirm:?} {register:?}"),
        }
    }
}

#[tokio::test]
async fn mail_failures_never_tell_whether_an_account_exists() {
    let mut config = settings();
    // Nothing listens there: every SendEmail fails.
    config.insert(cfg::SES_ENDPOINT_URL.into(), "http://127.0.0.1:9".into());
    let server = Server::start_with(&config, shared::clock::SystemClock::shared()).await;
    let email = unique_email();
    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for address in [email.as_str(), "nobody-here@example.com"] {
        let (status, _, body) = forgot(&server, address).await;
        assert_eq!((status, body), (202, json!({"status": "accepted"})));
    }
    let (status, body) = login(&server, &email, PASSWORD).await;
    assert_eq!(status, 200);
    let access = body["access_token"].as_str().unwrap();
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/email/verification",
        access,
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("service_unavailable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_racing_a_password_reset_never_outlive_it() {
    let mut config = settings();
    // Eight parallel password checks: the default lockout (5) would refuse some of them (the
    // rule working as meant); a higher limit lets every racer reach its check.
    config.insert(cfg::LOCKOUT_MAX_FAILURES.into(), "20".into());
    let server = Server::start_with(&config, shared::clock::SystemClock::shared()).await;
    let email = registered(&server).await;
    let mut current = PASSWORD.to_owned();
    for round in 0..3 {
        assert_eq!(forgot(&server, &email).await.0, 202);
        let token = newest_token(&email, "Reset").await;
        let next = format!("round-{round}-a-reset-passphrase");
        let logins = join_all((0..8).map(|_| login(&server, &email, &current)));
        let (logins, (status, body)) = tokio::join!(logins, reset(&server, &token, &next));
        assert_eq!(status, 204, "round {round}: {body}");
        for (status, body) in &logins {
            assert!(
                [200, 401].contains(status),
                "round {round}: {status} {body}"
            );
            if *status != 200 {
                continue;
            }
            let (status, refreshed) =
                refresh(&server, body["refresh_token"].as_str().unwrap()).await;
            assert_eq!(
                (status, refreshed["code"].as_str()),
                (401, Some("invalid_token")),
                "round {round}: a refresh token from before the reset still refreshes"
            );
            let access = body["access_token"].as_str().unwrap();
            assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 403);
        }
        assert_eq!(login(&server, &email, &current).await.0, 401);
        current = next;
        assert_eq!(login(&server, &email, &current).await.0, 200);
    }
}
