//! DynamoDB unreachable: every route that needs it answers 503 `service_unavailable` within the
//! SDK's configured timeouts (3 attempts, 3 s overall), never panics, never hangs.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use integration_tests::{PASSWORD, Server, issuer, me, post, settings, unique_email};
use serde_json::json;
use shared::clock::{Clock, SystemClock};

fn closed_port_endpoint() -> String {
    // Bind and release a port: nothing listens there afterwards.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_not_a_crash() {
    let mut src = settings();
    src.insert(
        shared::config::DYNAMODB_ENDPOINT_URL.into(),
        closed_port_endpoint(),
    );
    let server = Server::start_with(&src, SystemClock::shared()).await;

    let started = Instant::now();
    let (status, body) = post(
        &server,
        "/auth/register",
        json!({"email": unique_email(), "password": PASSWORD}),
    )
    .await;
    // The SDK's own budget is 3 s; allow generous slack for a loaded CI machine.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("service_unavailable")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "the body leaks internals: {body}"
    );

    let (status, body) = post(
        &server,
        "/auth/login",
        json!({"email": unique_email(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("service_unavailable")),
        "{body}"
    );
    let (status, body) = post(
        &server,
        "/auth/refresh",
        json!({"refresh_token": format!("{}.{}", uuid::Uuid::new_v4(), "a".repeat(43))}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("service_unavailable")),
        "{body}"
    );

    // With the revocation check on, the authorizer cannot confirm the session: it fails closed.
    let token = issuer()
        .issue(
            "0b7f3c1e-8a2d-4b7e-9a51-3c2d1e0f4a6b",
            &[],
            "s",
            SystemClock.unix(),
        )
        .unwrap();
    let (status, body) = me(&server, Some(&format!("Bearer {token}"))).await;
    assert_eq!((status, body), (403, json!({"message": "Forbidden"})));
    // With it off the authorizer needs no database; the function behind it does.
    src.insert(shared::config::REVOCATION_CHECK.into(), "off".into());
    let unchecked = Server::start_with(&src, SystemClock::shared()).await;
    let (status, body) = me(&unchecked, Some(&format!("Bearer {token}"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("service_unavailable")),
        "{body}"
    );
    // Validation still answers without the database.
    let (status, body) = post(&server, "/auth/register", json!({"email": "nope"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
}
