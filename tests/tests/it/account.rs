//! Account security end to end through the local server: logout, profile update, password
//! change, sign-out everywhere, revocation reaching access tokens, lockout, key rotation.

use integration_tests::{
    PASSWORD, Server, http, json, logged_in, login, me, post, registered, settings, unique_email,
    with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::{ManualClock, SystemClock};
use shared::config as cfg;
use shared::keys::{PublicJwkSet, SigningKey};

const NEW_PASSWORD: &str = "a-whole-new-passphrase-42";

fn code(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

#[tokio::test]
async fn logout_ends_the_session_and_its_access_tokens() {
    let server = Server::start().await;
    let (_, access, refresh) = logged_in(&server).await;
    let (status, body) = post(&server, "/auth/logout", json!({"refresh_token": refresh})).await;
    assert_eq!((status, body), (204, Value::Null));
    // The refresh token is dead, and so (with the revocation check) is the access token.
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!((status, code(&body)), (401, Some("invalid_token")));
    let (status, body) = me(&server, Some(&format!("Bearer {access}"))).await;
    assert_eq!((status, body), (403, json!({"message": "Forbidden"})));
    // Again, and with strings that are no token: still 204.
    for token in [refresh.as_str(), "", "nothing", &"x".repeat(3000)] {
        let (status, _) = post(&server, "/auth/logout", json!({"refresh_token": token})).await;
        assert_eq!(status, 204);
    }
    let (status, body) = post(&server, "/auth/logout", json!({"refresh_token": 7})).await;
    assert_eq!((status, code(&body)), (400, Some("validation_failed")));
    let (status, body) = post(&server, "/auth/logout", json!({})).await;
    assert_eq!((status, code(&body)), (400, Some("validation_failed")));
    let response = http()
        .post(server.url("/auth/logout"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!((status, code(&body)), (400, Some("malformed_request")));
}

#[tokio::test]
async fn logout_with_a_rotated_token_ends_its_session() {
    let server = Server::start().await;
    let (_, _, first) = logged_in(&server).await;
    let (_, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = post(&server, "/auth/logout", json!({"refresh_token": first})).await;
    assert_eq!(status, 204);
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": second})).await;
    assert_eq!((status, code(&body)), (401, Some("invalid_token")));
}

#[tokio::test]
async fn revocation_check_off_keeps_the_authorizer_database_free() {
    let mut src = settings();
    src.insert(cfg::REVOCATION_CHECK.into(), "off".into());
    let server = Server::start_with(&src, SystemClock::shared()).await;
    let (_, access, refresh) = logged_in(&server).await;
    let (status, _) = post(&server, "/auth/logout", json!({"refresh_token": refresh})).await;
    assert_eq!(status, 204);
    // Without the check, the access token lives until it expires.
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);
}

#[tokio::test]
async fn patch_me_renames_and_clears() {
    let server = Server::start().await;
    let (email, access, _) = logged_in(&server).await;
    let patch = |body: Value| with_bearer(&server, Method::PATCH, "/me", &access, Some(body));
    let (status, body) = patch(json!({"name": "  Grace Hopper "})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["email"].as_str()),
        (Some("Grace Hopper"), Some(email.as_str()))
    );
    assert_eq!(
        me(&server, Some(&format!("Bearer {access}"))).await.1["name"],
        "Grace Hopper"
    );
    let (status, body) = patch(json!({"name": null})).await;
    assert_eq!((status, &body["name"]), (200, &Value::Null));
    for bad in [
        json!({}),
        json!({"name": 5}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "tab\tname"}),
    ] {
        let (status, body) = patch(bad.clone()).await;
        assert_eq!(
            (status, code(&body)),
            (400, Some("validation_failed")),
            "{bad}"
        );
        assert_eq!(body["errors"][0]["field"], "name");
    }
    let (status, body) = json(
        http()
            .patch(server.url("/me"))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (401, json!({"message": "Unauthorized"})));
}

#[tokio::test]
async fn password_change_checks_in_order_and_revokes_every_session() {
    let server = Server::start().await;
    let (email, access, refresh) = logged_in(&server).await;
    let (_, other) = login(&server, &email, PASSWORD).await;
    let other_refresh = other["refresh_token"].as_str().unwrap().to_owned();
    let change =
        |body: Value| with_bearer(&server, Method::POST, "/me/password", &access, Some(body));

    let (status, body) = change(json!({"current_password": PASSWORD})).await;
    assert_eq!((status, code(&body)), (400, Some("validation_failed")));
    // The new password's strength is judged before the current one is checked, so a weak new
    // password tells nothing about the current one, right or wrong.
    for current in ["Wrong-password-123", PASSWORD] {
        let (status, body) =
            change(json!({"current_password": current, "new_password": "password1234"})).await;
        assert_eq!(
            (status, code(&body)),
            (400, Some("weak_password")),
            "{current}"
        );
    }
    // A wrong current password is 403 (and counted: see the lockout tests).
    let (status, body) =
        change(json!({"current_password": "Wrong-password-123", "new_password": NEW_PASSWORD}))
            .await;
    assert_eq!((status, code(&body)), (403, Some("invalid_credentials")));

    let (status, body) =
        change(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(login(&server, &email, PASSWORD).await.0, 401);
    // Every refresh session is revoked, and the access tokens of those sessions with them.
    for token in [&refresh, &other_refresh] {
        let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": token})).await;
        assert_eq!((status, code(&body)), (401, Some("invalid_token")));
    }
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 403);
    let (status, body) = login(&server, &email, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // The new password may equal the old one.
    let access = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = with_bearer(
        &server,
        Method::POST,
        "/me/password",
        &access,
        Some(json!({"current_password": NEW_PASSWORD, "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn sign_out_everywhere_revokes_every_session() {
    let server = Server::start().await;
    let (email, access, refresh) = logged_in(&server).await;
    let (_, second) = login(&server, &email, PASSWORD).await;
    let second_access = second["access_token"].as_str().unwrap().to_owned();
    let (status, body) = with_bearer(&server, Method::DELETE, "/me/sessions", &access, None).await;
    assert_eq!((status, body), (204, Value::Null));
    for token in [refresh.as_str(), second["refresh_token"].as_str().unwrap()] {
        let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": token})).await;
        assert_eq!((status, code(&body)), (401, Some("invalid_token")));
    }
    for token in [&access, &second_access] {
        assert_eq!(me(&server, Some(&format!("Bearer {token}"))).await.0, 403);
    }
    // A fresh login works.
    assert_eq!(login(&server, &email, PASSWORD).await.0, 200);
}

#[tokio::test]
async fn five_failures_lock_the_email_for_fifteen_minutes_after_the_fifth() {
    let clock = ManualClock::starting_now();
    let server = Server::start_with(&settings(), clock.clone()).await;
    let known = registered(&server).await;
    let unknown = unique_email();
    for email in [&known, &unknown] {
        for _ in 0..5 {
            let (status, body) = login(&server, email, "Wrong-password-123").await;
            assert_eq!((status, code(&body)), (401, Some("invalid_credentials")));
            clock.advance(10);
        }
        // From the 6th attempt on, even the right password is refused, for known and unknown
        // emails alike, with the seconds left until 15 minutes after the 5th failure.
        let response = http()
            .post(server.url("/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["retry-after"], "890");
        let (status, body) = json(response).await;
        assert_eq!((status, code(&body)), (429, Some("too_many_attempts")));
        // 429s neither count nor extend the lock.
        clock.advance(600);
        let response = http()
            .post(server.url("/auth/login"))
            .json(&json!({"email": email, "password": "Wrong-password-123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["retry-after"], "290");
        clock.advance(290);
    }
    // The lock is over: the right password works and resets the count.
    let (status, body) = login(&server, &known, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..4 {
        assert_eq!(login(&server, &known, "Wrong-password-123").await.0, 401);
    }
    assert_eq!(login(&server, &known, PASSWORD).await.0, 200);
    for _ in 0..4 {
        assert_eq!(login(&server, &known, "Wrong-password-123").await.0, 401);
    }
    // Failures older than the window no longer count.
    clock.advance(901);
    assert_eq!(login(&server, &known, "Wrong-password-123").await.0, 401);
    assert_eq!(login(&server, &known, PASSWORD).await.0, 200);
}

#[tokio::test]
async fn lockout_numbers_are_configuration() {
    let clock = ManualClock::starting_now();
    let mut src = settings();
    src.insert(cfg::LOCKOUT_MAX_FAILURES.into(), "2".into());
    src.insert(cfg::LOCKOUT_WINDOW_SECONDS.into(), "60".into());
    let server = Server::start_with(&src, clock.clone()).await;
    let email = registered(&server).await;
    for _ in 0..2 {
        assert_eq!(login(&server, &email, "Wrong-password-123").await.0, 401);
    }
    let (status, _) = login(&server, &email, PASSWORD).await;
    assert_eq!(status, 429);
    clock.advance(60);
    assert_eq!(login(&server, &email, PASSWORD).await.0, 200);
}

#[tokio::test]
async fn long_inputs_are_bounded() {
    let server = Server::start().await;
    let email = registered(&server).await;
    // The longest body's worth of password still answers promptly, like any wrong password.
    let (status, body) = login(&server, &email, &"p".repeat(16_000)).await;
    assert_eq!((status, code(&body)), (401, Some("invalid_credentials")));
    let (status, body) = login(
        &server,
        &format!("{}@example.com", "a".repeat(250)),
        PASSWORD,
    )
    .await;
    assert_eq!((status, code(&body)), (400, Some("validation_failed")));
}

fn key_pair() -> (String, SigningKey) {
    let (key, pem) = SigningKey::generate().unwrap();
    (pem, key)
}

#[tokio::test]
async fn rotated_keys_keep_old_tokens_valid_until_they_expire() {
    let clock = ManualClock::starting_now();
    let (old_pem, old_key) = key_pair();
    let (new_pem, new_key) = key_pair();
    let jwks = |keys: &[&SigningKey]| {
        serde_json::to_string(&PublicJwkSet {
            keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
        })
        .unwrap()
    };
    let mut before = settings();
    before.insert(cfg::JWT_SIGNING_KEY.into(), old_pem);
    before.insert(cfg::JWT_PUBLIC_JWKS.into(), jwks(&[&old_key]));
    let old_server = Server::start_with(&before, clock.clone()).await;
    let (email, old_access, _) = logged_in(&old_server).await;

    // Rotation: the new key signs; both keys verify.
    let mut after = settings();
    after.insert(cfg::JWT_SIGNING_KEY.into(), new_pem);
    after.insert(cfg::JWT_PUBLIC_JWKS.into(), jwks(&[&new_key, &old_key]));
    let server = Server::start_with(&after, clock.clone()).await;
    let (_, body) = json(
        http()
            .get(server.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let kids: Vec<&str> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [new_key.kid(), old_key.kid()]);
    let (_, tokens) = login(&server, &email, PASSWORD).await;
    let new_access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(new_access)
            .unwrap()
            .kid
            .as_deref(),
        Some(new_key.kid())
    );
    assert_eq!(
        jsonwebtoken::decode_header(&old_access)
            .unwrap()
            .kid
            .as_deref(),
        Some(old_key.kid())
    );
    assert_eq!(
        me(&server, Some(&format!("Bearer {old_access}"))).await.0,
        200
    );
    assert_eq!(
        me(&server, Some(&format!("Bearer {new_access}"))).await.0,
        200
    );
    // Until the old token expires (900 s + 30 s leeway).
    clock.advance(931);
    assert_eq!(
        me(&server, Some(&format!("Bearer {old_access}"))).await.0,
        403
    );
    // Once the old key is withdrawn, nothing it signed verifies.
    let mut withdrawn = after.clone();
    withdrawn.insert(cfg::JWT_PUBLIC_JWKS.into(), jwks(&[&new_key]));
    let server = Server::start_with(&withdrawn, SystemClock::shared()).await;
    let (_, tokens) = login(&old_server, &email, PASSWORD).await;
    let old_signed = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        me(&server, Some(&format!("Bearer {old_signed}"))).await.0,
        403
    );
}
