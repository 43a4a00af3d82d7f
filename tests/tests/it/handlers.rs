//! Handlers fed the `events/*.json` files that `sam local invoke -e` and `cargo lambda invoke`
//! use, so the samples cannot rot.

use integration_tests::{event, settings, signing_key};
use lambda_http::Body;
use serde_json::Value;
use shared::clock::SystemClock;

fn body(response: &lambda_http::Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("JSON body")
}

fn with_body(name: &str, body: &Value) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(&event(name)).expect("event JSON");
    event["body"] = Value::String(body.to_string());
    lambda_http::request::from_str(&event.to_string()).expect("payload 2.0 event")
}

#[tokio::test]
async fn register_and_login_events_run_as_on_lambda() {
    let src = settings();
    let register = register::state(&src, SystemClock::shared()).await.unwrap();
    let login = login::state(&src, SystemClock::shared()).await.unwrap();

    // The sample as written: a fresh DynamoDB Local has no ada@example.com yet.
    let sample = lambda_http::request::from_str(&event("register")).unwrap();
    let response = register::handle(&register, sample).await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    assert_eq!(body(&response)["email"], "ada@example.com");
    let again = lambda_http::request::from_str(&event("register")).unwrap();
    assert_eq!(register::handle(&register, again).await.status(), 409);

    let sample = lambda_http::request::from_str(&event("login")).unwrap();
    let response = login::handle(&login, sample).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    let tokens = body(&response);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);

    let wrong = with_body(
        "login",
        &serde_json::json!({"email": "ada@example.com", "password": "not-the-password"}),
    );
    let response = login::handle(&login, wrong).await;
    assert_eq!(response.status(), 401);
    assert_eq!(body(&response)["code"], "invalid_credentials");
}

#[tokio::test]
async fn refresh_event_with_its_placeholder_token_is_invalid() {
    let state = refresh::state(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let response = refresh::handle(
        &state,
        lambda_http::request::from_str(&event("refresh")).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(body(&response)["code"], "invalid_token");
}

#[tokio::test]
async fn me_event_reads_the_authorizer_context() {
    let state = me::State::from_source(&settings()).await.unwrap();
    // The sample's user id was never registered in this table.
    let response = me::handle(
        &state,
        lambda_http::request::from_str(&event("me")).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 404);
    assert_eq!(body(&response)["code"], "user_not_found");

    // Without the authorizer's context the function refuses, rather than guessing.
    let mut bare: Value = serde_json::from_str(&event("me")).unwrap();
    bare["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let response = me::handle(
        &state,
        lambda_http::request::from_str(&bare.to_string()).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_eq!(body(&response)["code"], "unauthenticated");
}

#[tokio::test]
async fn jwks_event_serves_the_public_keys_only() {
    let state = jwks::State::from_source(&settings()).unwrap();
    let response = jwks::handle(
        &state,
        lambda_http::request::from_str(&event("jwks")).unwrap(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(response.headers()["content-type"], "application/json");
    let published = body(&response);
    let configured: Value = serde_json::from_str(&signing_key().1).unwrap();
    assert_eq!(published, configured);
    let key = &published["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("OKP"), Some("EdDSA"), Some("sig"))
    );
    assert!(key.get("d").is_none());
}

#[tokio::test]
async fn authorizer_event_with_its_placeholder_token_is_denied() {
    // This token has no session in the table: judge it on the token alone.
    let mut src = settings();
    src.insert(shared::config::REVOCATION_CHECK.into(), "off".into());
    let state = authorizer::State::from_source(&src, SystemClock::shared())
        .await
        .unwrap();
    let sample: Value = serde_json::from_str(&event("authorizer")).unwrap();
    let decision = authorizer::handle(&state, sample.clone()).await;
    assert!(!decision.is_authorized);

    // The same event carrying a real token is allowed, with the identity as context.
    let token = integration_tests::issuer()
        .issue(
            "0b7f3c1e-8a2d-4b7e-9a51-3c2d1e0f4a6b",
            &["user".into(), "admin".into()],
            "sid-1",
            shared::clock::Clock::unix(&SystemClock),
        )
        .unwrap();
    let mut real = sample;
    real["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
    real["identitySource"] = serde_json::json!([format!("Bearer {token}")]);
    let decision = authorizer::handle(&state, real).await;
    assert!(decision.is_authorized);
    assert_eq!(
        decision.context["user_id"],
        "0b7f3c1e-8a2d-4b7e-9a51-3c2d1e0f4a6b"
    );
    assert_eq!(decision.context["roles"], "user,admin");
    assert_eq!(decision.context["sid"], "sid-1");
    assert!(decision.context["jti"].is_string());

    // Anything that is not an authorizer request is a deny, not an error.
    assert!(
        !authorizer::handle(&state, serde_json::json!({"surprise": true}))
            .await
            .is_authorized
    );
}

#[tokio::test]
async fn authorizer_with_the_revocation_check_denies_a_token_without_a_live_session() {
    let state = authorizer::State::from_source(&settings(), SystemClock::shared())
        .await
        .unwrap();
    let token = integration_tests::issuer()
        .issue(
            "0b7f3c1e-8a2d-4b7e-9a51-3c2d1e0f4a6b",
            &[],
            "no-such-session",
            shared::clock::Clock::unix(&SystemClock),
        )
        .unwrap();
    let mut event: Value = serde_json::from_str(&event("authorizer")).unwrap();
    event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
    assert!(!authorizer::handle(&state, event).await.is_authorized);
}
