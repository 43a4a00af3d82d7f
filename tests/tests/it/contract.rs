//! The HTTP contract, end to end through the local server against DynamoDB Local.

use integration_tests::{
    PASSWORD, Server, http, json, logged_in, me, post, registered, settings, unique_email,
};
use serde_json::{Value, json};
use shared::clock::ManualClock;

fn assert_problem(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected_status);
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "{member} missing in {body}");
    }
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn register_returns_the_profile_and_normalises_the_email() {
    let server = Server::start().await;
    let email = unique_email();
    let response = http()
        .post(server.url("/auth/register"))
        .json(&json!({"email": format!("  {}  ", email.to_uppercase()), "password": PASSWORD, "name": "  Ada Lovelace "}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let (status, body) = json(response).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email"], email);
    assert_eq!(body["name"], "Ada Lovelace");
    assert_eq!(body["roles"], json!([]));
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    let created = body["created_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    assert!(body.get("password_hash").is_none() && body.get("password").is_none());

    // Absent and blank names are null.
    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": unique_email(), "password": PASSWORD}),
    )
    .await;
    assert_eq!((status, &body["name"]), (201, &Value::Null));
    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": unique_email(), "password": PASSWORD, "name": "   "}),
    )
    .await;
    assert_eq!((status, &body["name"]), (201, &Value::Null));

    // The same email in another case and with spaces is taken.
    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": format!(" {} ", email.to_uppercase()), "password": PASSWORD}),
    )
    .await;
    assert_problem(status, &body, 409, "email_taken");
}

#[tokio::test]
async fn register_validation_lists_every_field_problem() {
    let server = Server::start().await;
    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": "not-an-email", "password": 12, "name": "x".repeat(101)}),
    )
    .await;
    assert_problem(status, &body, 400, "validation_failed");
    assert_eq!(fields(&body), ["email", "password", "name"]);

    let (status, body) = post(&server, "/auth/register", json!({})).await;
    assert_problem(status, &body, 400, "validation_failed");
    assert_eq!(fields(&body), ["email", "password"]);

    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": unique_email(), "password": PASSWORD, "name": "bell\u{7}"}),
    )
    .await;
    assert_problem(status, &body, 400, "validation_failed");
    assert_eq!(fields(&body), ["name"]);

    let long_email = format!("{}@example.com", "a".repeat(243));
    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": long_email, "password": PASSWORD}),
    )
    .await;
    assert_problem(status, &body, 400, "validation_failed");

    for not_object in [json!([1, 2]), json!("text"), json!(null)] {
        let (status, body) = post(&server, "/auth/register", not_object).await;
        assert_problem(status, &body, 400, "validation_failed");
    }
    // Unknown members are ignored.
    let (status, _) = post(
        &server,
        "/auth/register",
        json!({"email": unique_email(), "password": PASSWORD, "admin": true}),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn register_refuses_weak_passwords() {
    let server = Server::start().await;
    let email = format!("margaret.{}@example.com", uuid::Uuid::new_v4().simple());
    let local = email.split('@').next().unwrap().to_uppercase();
    for weak in [
        "short".to_owned(),
        "x".repeat(129),
        "password123".into(),
        "Qwertyuiop1".into(),
        format!("{local}-2024!"),
    ] {
        let (status, body) = post(
            &server,
            "/auth/register",
            json!({"email": email, "password": weak}),
        )
        .await;
        assert_problem(status, &body, 400, "weak_password");
        assert_eq!(fields(&body), ["password"]);
    }
    // 128 characters (multi-byte) is still accepted; lengths are characters, not bytes.
    let random: String = (0..4)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let longest: String = format!("é{random}").chars().take(128).collect();
    assert!(longest.len() > 128);
    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": email, "password": longest}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn bodies_are_checked_in_order_size_type_syntax_shape() {
    let server = Server::start().await;
    let send = |content_type: Option<&'static str>, body: String| {
        let mut request = http().post(server.url("/auth/register")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        async move { json(request.send().await.unwrap()).await }
    };
    let (status, body) = send(Some("text/plain"), "x".repeat(16 * 1024 + 1)).await;
    assert_problem(status, &body, 413, "payload_too_large");
    let (status, body) = send(None, "{}".into()).await;
    assert_problem(status, &body, 415, "unsupported_media_type");
    let (status, body) = send(Some("application/x-www-form-urlencoded"), "email=a".into()).await;
    assert_problem(status, &body, 415, "unsupported_media_type");
    let (status, body) = send(Some("application/json"), "{\"email\": ".into()).await;
    assert_problem(status, &body, 400, "malformed_request");
    let (status, body) = send(Some("APPLICATION/JSON; charset=utf-8"), "{}".into()).await;
    assert_problem(status, &body, 400, "validation_failed");

    // Exactly 16,384 bytes is accepted (and then judged on its fields).
    let prefix = format!(
        r#"{{"email":"{}","password":"{PASSWORD}","pad":""#,
        unique_email()
    );
    let body = format!("{prefix}{}\"}}", "p".repeat(16 * 1024 - prefix.len() - 2));
    assert_eq!(body.len(), 16 * 1024);
    let (status, response) = send(Some("application/json"), body).await;
    assert_eq!(status, 201, "{response}");

    let response = http()
        .post(server.url("/auth/login"))
        .body("x".repeat(20_000))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn login_answers_unknown_emails_like_wrong_passwords() {
    let server = Server::start().await;
    let email = registered(&server).await;
    let (status, body) = post(
        &server,
        "/auth/login",
        json!({"email": format!(" {} ", email.to_uppercase()), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    // `<user id>.<256 random bits, base64url>`.
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 36 + 1 + 43);

    let strip = |mut body: Value| {
        body.as_object_mut().unwrap().remove("request_id");
        body
    };
    let (s1, wrong_password) = post(
        &server,
        "/auth/login",
        json!({"email": email, "password": "Wrong-password-123"}),
    )
    .await;
    let (s2, unknown_email) = post(
        &server,
        "/auth/login",
        json!({"email": unique_email(), "password": "Wrong-password-123"}),
    )
    .await;
    let (s3, bad_email) = post(
        &server,
        "/auth/login",
        json!({"email": "not an email", "password": "Wrong-password-123"}),
    )
    .await;
    assert_problem(s1, &wrong_password, 401, "invalid_credentials");
    assert_eq!(
        (s1, strip(wrong_password.clone())),
        (s2, strip(unknown_email))
    );
    assert_eq!((s1, strip(wrong_password)), (s3, strip(bad_email)));

    let (status, body) = post(&server, "/auth/login", json!({"email": email})).await;
    assert_problem(status, &body, 400, "validation_failed");
    assert_eq!(fields(&body), ["password"]);
}

#[tokio::test]
async fn access_tokens_satisfy_rfc9068() {
    let server = Server::start().await;
    let (_, access, _) = logged_in(&server).await;
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert!(header.kid.is_some());
    let claims = integration_tests::verifier()
        .verify(
            &access,
            shared::clock::Clock::unix(&shared::clock::SystemClock),
        )
        .unwrap();
    assert_eq!(claims.iss, integration_tests::ISSUER);
    assert_eq!(claims.aud, integration_tests::AUDIENCE);
    assert_eq!(claims.client_id, integration_tests::CLIENT_ID);
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(
        claims.roles.is_empty(),
        "no role until one is granted: {:?}",
        claims.roles
    );
    assert!(!claims.jti.is_empty() && !claims.sid.is_empty() && !claims.sub.is_empty());
}

#[tokio::test]
async fn me_reads_the_profile_of_the_token_holder() {
    let server = Server::start().await;
    let (email, access, _) = logged_in(&server).await;
    let (status, body) = me(&server, Some(&format!("Bearer {access}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], email);
    assert_eq!(body["roles"], json!([]));
    // The scheme is case-insensitive.
    let (status, _) = me(&server, Some(&format!("bearer {access}"))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn gateway_answers_keep_api_gateway_bodies() {
    let server = Server::start().await;
    let (status, body) = me(&server, None).await;
    assert_eq!((status, body), (401, json!({"message": "Unauthorized"})));
    for bad in [
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Token abc",
    ] {
        let (status, body) = me(&server, Some(bad)).await;
        assert_eq!(
            (status, body),
            (403, json!({"message": "Forbidden"})),
            "{bad}"
        );
    }
    let response = http().get(server.url("/nope")).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(json(response).await, (404, json!({"message": "Not Found"})));
    let (status, body) = json(
        http()
            .delete(server.url("/auth/login"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (404, json!({"message": "Not Found"})));
}

#[tokio::test]
async fn refresh_rotates_and_detects_reuse() {
    let server = Server::start().await;
    let (_, _, first) = logged_in(&server).await;
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);

    // Presenting the rotated token again revokes the whole session...
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    assert_problem(status, &body, 401, "token_reused");
    // ...so the live descendant is dead, and the old one is now merely invalid.
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": second})).await;
    assert_problem(status, &body, 401, "invalid_token");
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    assert_problem(status, &body, 401, "invalid_token");
}

#[tokio::test]
async fn refresh_rejects_unknown_and_malformed_input() {
    let server = Server::start().await;
    for token in ["", "unknown", &"x".repeat(5000)] {
        let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": token})).await;
        assert_problem(status, &body, 401, "invalid_token");
    }
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": 42})).await;
    assert_problem(status, &body, 400, "validation_failed");
    let (status, body) = post(&server, "/auth/refresh", json!({})).await;
    assert_problem(status, &body, 400, "validation_failed");
    let response = http()
        .post(server.url("/auth/refresh"))
        .header("content-type", "application/json")
        .body("nope")
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_problem(status, &body, 400, "malformed_request");
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime() {
    let clock = ManualClock::starting_now();
    let mut src = settings();
    // Longer than the gaps below, so only the absolute end is tested here.
    src.insert(
        shared::config::SESSION_IDLE_SECONDS.into(),
        "2592000".into(),
    );
    let server = Server::start_with(&src, clock.clone()).await;
    let (_, _, mut token) = logged_in(&server).await;
    // Rotation keeps working until the end, and never extends it.
    for _ in 0..3 {
        clock.advance(10 * 24 * 3600 - 1);
        let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": token})).await;
        assert_eq!(status, 200, "{body}");
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }
    clock.advance(3);
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": token})).await;
    assert_problem(status, &body, 401, "invalid_token");
}

#[tokio::test]
async fn reuse_grace_forgives_a_client_that_raced_itself() {
    let clock = ManualClock::starting_now();
    let mut src = settings();
    src.insert(
        shared::config::REFRESH_REUSE_GRACE_SECONDS.into(),
        "10".into(),
    );
    let server = Server::start_with(&src, clock.clone()).await;
    let (_, _, first) = logged_in(&server).await;
    let (_, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    let second = body["refresh_token"].as_str().unwrap().to_owned();

    clock.advance(10);
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    assert_problem(status, &body, 401, "invalid_token");
    // Nothing was revoked: the current token still works.
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": second})).await;
    assert_eq!(status, 200, "{body}");

    // Past the grace, reuse is reuse.
    clock.advance(11);
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    assert_problem(status, &body, 401, "token_reused");
}

#[tokio::test]
async fn jwks_is_public_cacheable_json() {
    let server = Server::start().await;
    let response = http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(response.headers()["content-type"], "application/json");
    let (status, body) = json(response).await;
    assert_eq!(status, 200);
    for key in body["keys"].as_array().unwrap() {
        let members: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(members.len(), 6, "{key}");
        for member in ["kty", "crv", "x", "kid", "alg", "use"] {
            assert!(members.contains(&member));
        }
    }
}
