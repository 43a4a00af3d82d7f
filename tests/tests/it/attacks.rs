//! Token attacks against the real authorizer code, through the local server: every forged,
//! confused or stale token is a 403, and the function behind it never runs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use integration_tests::{Server, issuer, logged_in, me, signing_key};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};
use shared::keys::SigningKey;
use shared::tokens::{AccessClaims, TokenIssuer};

async fn assert_forbidden(server: &Server, token: &str, what: &str) {
    let (status, body) = me(server, Some(&format!("Bearer {token}"))).await;
    assert_eq!(
        (status, body),
        (403, json!({"message": "Forbidden"})),
        "{what} was not denied"
    );
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn kid() -> String {
    SigningKey::from_pkcs8_pem(&signing_key().0)
        .unwrap()
        .kid()
        .to_owned()
}

#[tokio::test]
async fn forged_and_confused_tokens_are_denied() {
    let server = Server::start().await;
    let (_, access, refresh) = logged_in(&server).await;
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);
    let claims = claims_of(&access);

    // alg: none, with and without a trailing signature part.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid()})),
        b64(&claims)
    );
    assert_forbidden(&server, &none, "alg none").await;
    assert_forbidden(
        &server,
        none.trim_end_matches('.'),
        "alg none without signature",
    )
    .await;

    // HS256 signed with the public key (its JWK x, and its raw bytes) as the HMAC secret.
    let jwks: Value = serde_json::from_str(&signing_key().1).unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    for secret in [
        x.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(&x).unwrap(),
        signing_key().1.as_bytes().to_vec(),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid());
        let hs =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_forbidden(&server, &hs, "HS256 with the public key as secret").await;
    }

    // The refresh token is not an access token.
    assert_forbidden(&server, &refresh, "refresh token as bearer").await;

    // Tampered payload, original signature.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut evil = claims.clone();
    evil["roles"] = json!(["admin"]);
    parts[1] = b64(&evil);
    assert_forbidden(&server, &parts.join("."), "tampered payload").await;
    // Tampered signature.
    let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    sig[0] ^= 1;
    let tampered = format!(
        "{}.{}.{}",
        access.split('.').next().unwrap(),
        access.split('.').nth(1).unwrap(),
        URL_SAFE_NO_PAD.encode(sig)
    );
    assert_forbidden(&server, &tampered, "tampered signature").await;

    // A key we never published, with its own kid and with ours.
    let (stranger, _) = SigningKey::generate().unwrap();
    let foreign = TokenIssuer::new(
        stranger.clone(),
        integration_tests::ISSUER.into(),
        integration_tests::AUDIENCE.into(),
        "x".into(),
        900,
    );
    let now = SystemClock.unix();
    assert_forbidden(
        &server,
        &foreign.issue("u", &[], "s", now).unwrap(),
        "unknown kid",
    )
    .await;
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid());
    let spoofed = jsonwebtoken::encode(&header, &claims, stranger.encoding_key()).unwrap();
    assert_forbidden(&server, &spoofed, "foreign key claiming our kid").await;
    // No kid at all.
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    let no_kid = jsonwebtoken::encode(
        &header,
        &claims,
        SigningKey::from_pkcs8_pem(&signing_key().0)
            .unwrap()
            .encoding_key(),
    )
    .unwrap();
    assert_forbidden(&server, &no_kid, "no kid").await;
}

fn sign_with_our_key(typ: Option<&str>, claims: &AccessClaims) -> String {
    let key = SigningKey::from_pkcs8_pem(&signing_key().0).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = typ.map(str::to_owned);
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, key.encoding_key()).unwrap()
}

#[tokio::test]
async fn tokens_with_the_wrong_type_audience_issuer_or_time_are_denied() {
    // Tokens minted here have no session: judge them on the token alone.
    let mut src = integration_tests::settings();
    src.insert(shared::config::REVOCATION_CHECK.into(), "off".into());
    let server = Server::start_with(&src, SystemClock::shared()).await;
    let issuer = issuer();
    let now = SystemClock.unix();
    let good = issuer.claims("0b7f3c1e-8a2d-4b7e-9a51-3c2d1e0f4a6b", &[], "sid", now);

    for typ in [
        Some("JWT"),
        Some("AT+JWT"),
        Some("application/jwt"),
        Some("application/at+jwt+x"),
        None,
    ] {
        assert_forbidden(
            &server,
            &sign_with_our_key(typ, &good),
            &format!("typ {typ:?}"),
        )
        .await;
    }
    let mut wrong_aud = good.clone();
    wrong_aud.aud = "another-api".into();
    assert_forbidden(&server, &issuer.sign(&wrong_aud).unwrap(), "wrong aud").await;
    let mut wrong_iss = good.clone();
    wrong_iss.iss = "https://evil.example".into();
    assert_forbidden(&server, &issuer.sign(&wrong_iss).unwrap(), "wrong iss").await;

    // Expired beyond the 30 s leeway; and issued in the future beyond it.
    let expired = issuer.issue("u", &[], "s", now - 900 - 31).unwrap();
    assert_forbidden(&server, &expired, "expired").await;
    let future = issuer.issue("u", &[], "s", now + 120).unwrap();
    assert_forbidden(&server, &future, "issued in the future").await;
    let mut not_yet = good.clone();
    not_yet.nbf = Some(now + 120);
    assert_forbidden(
        &server,
        &issuer.sign(&not_yet).unwrap(),
        "nbf in the future",
    )
    .await;

    // Both spellings RFC 9068 §4 names are accepted (the function then answers; no such user).
    for typ in ["at+jwt", "application/at+jwt"] {
        let (status, body) = me(
            &server,
            Some(&format!("Bearer {}", sign_with_our_key(Some(typ), &good))),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("user_not_found")),
            "typ {typ}"
        );
    }

    // Within the leeway it is still accepted (the function then answers; this user does not exist).
    let just_expired = issuer
        .issue(
            "0b7f3c1e-8a2d-4b7e-9a51-3c2d1e0f4a6b",
            &[],
            "s",
            now - 900 - 5,
        )
        .unwrap();
    let (status, body) = me(&server, Some(&format!("Bearer {just_expired}"))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("user_not_found"))
    );
}
