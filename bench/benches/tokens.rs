//! Token work alone, with no I/O: signing an access token, verifying one, the authorizer's whole
//! decision (event JSON in, response JSON out), and one Argon2id hash at the configured
//! parameters (`ARGON2_*`, OWASP's defaults when unset). Beside it, what a login's password
//! check costs: verifying an Argon2id hash at those parameters, and verifying a hash Django 5.2
//! made (PBKDF2-SHA256, 1,000,000 iterations: the first login of a user imported from Django).
//!
//! Each benchmark is named at the top level, so criterion writes its figures to
//! `target/criterion/<name>/new/estimates.json`, where the runner (`src/main.rs`) reads them.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::clock::{ManualClock, SharedClock};
use shared::config::{PasswordSettings, ProcessEnv, VerifierSettings};
use shared::domain::Password;
use shared::keys::{PublicJwkSet, SigningKey, VerificationKeys};
use shared::password::{PasswordHasher, Verified};
use shared::tokens::{TokenIssuer, TokenVerifier};

const ISSUER: &str = "https://auth.bench.invalid";
const AUDIENCE: &str = "auth-bench";
const NOW: i64 = 1_800_000_000;

type BoxError = Box<dyn std::error::Error>;

struct Fixture {
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    authorizer: authorizer::State,
    token: String,
    authorizer_event: String,
}

fn fixture() -> Result<Fixture, BoxError> {
    let (key, pem) = SigningKey::generate()?;
    let jwks = serde_json::to_string(&PublicJwkSet {
        keys: vec![key.public_jwk().clone()],
    })?;
    let issuer = TokenIssuer::new(key, ISSUER.into(), AUDIENCE.into(), "bench".into(), 900);
    let settings: HashMap<String, String> = [
        (shared::config::JWT_ISSUER, ISSUER.to_owned()),
        (shared::config::JWT_AUDIENCE, AUDIENCE.to_owned()),
        (shared::config::JWT_PUBLIC_JWKS, jwks.clone()),
        (shared::config::JWT_SIGNING_KEY, pem),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let verifier_settings = VerifierSettings::from_source(&settings)?;
    let verifier = TokenVerifier::new(
        VerificationKeys::from_jwks_json(&jwks)?,
        &verifier_settings.issuer,
        &verifier_settings.audience,
        verifier_settings.leeway,
    );
    let clock: SharedClock = ManualClock::new(NOW);
    // Token work alone: no revocation check (that is a DynamoDB read, measured by the runner).
    let authorizer = authorizer::State::new(verifier.clone(), clock, None);
    let token = issuer.issue(
        "0b7f3c1e-8a2d-4b7e-9a51-3c2d1e0f4a6b",
        &["user".to_owned()],
        "5f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
        NOW,
    )?;
    let authorizer_event = authorizer_event(&token)?;
    // Benchmark the allow path, the one every real request takes.
    let event = serde_json::from_str(&authorizer_event)?;
    if !futures::executor::block_on(authorizer::handle(&authorizer, event)).is_authorized {
        return Err("the authorizer denied the benchmark token".into());
    }
    Ok(Fixture {
        issuer,
        verifier,
        authorizer,
        token,
        authorizer_event,
    })
}

/// `events/authorizer.json` with a real token in place of the placeholder.
fn authorizer_event(token: &str) -> Result<String, BoxError> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/authorizer.json");
    let mut event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let bearer = serde_json::Value::String(format!("Bearer {token}"));
    if let Some(headers) = event.get_mut("headers").and_then(|h| h.as_object_mut()) {
        headers.insert("authorization".into(), bearer.clone());
    }
    let object = event
        .as_object_mut()
        .ok_or("events/authorizer.json is not an object")?;
    object.insert(
        "identitySource".into(),
        serde_json::Value::Array(vec![bearer]),
    );
    Ok(event.to_string())
}

/// A benchmark fixture that cannot be built ends the run with its reason.
fn or_exit<T>(result: Result<T, BoxError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => {
            eprintln!("benchmark setup failed: {err}");
            std::process::exit(1);
        }
    }
}

fn tokens(c: &mut Criterion) {
    let f = or_exit(fixture());
    let roles = vec!["user".to_owned()];
    c.bench_function("sign_access_token", |b| {
        b.iter(|| {
            f.issuer
                .issue(black_box("user-id"), &roles, black_box("session-id"), NOW)
        })
    });
    c.bench_function("verify_access_token", |b| {
        b.iter(|| f.verifier.verify(black_box(&f.token), NOW))
    });
    // What one authorizer invocation does after the runtime hands it the raw event: parse the
    // JSON, decide, serialise the answer.
    c.bench_function("authorizer_decision", |b| {
        b.iter(|| {
            let event: serde_json::Value =
                serde_json::from_str(black_box(&f.authorizer_event)).unwrap_or_default();
            let decision = futures::executor::block_on(authorizer::handle(&f.authorizer, event));
            serde_json::to_vec(&decision).map(|body| (decision.is_authorized, body.len()))
        })
    });
}

fn argon2id(c: &mut Criterion) {
    let settings = or_exit(PasswordSettings::from_source(&ProcessEnv).map_err(BoxError::from));
    let hasher = or_exit(PasswordHasher::new(&settings).map_err(BoxError::from));
    let password = Password::new("correct-horse-battery-staple");
    c.bench_function("argon2id_hash", |b| {
        b.iter(|| hasher.hash(black_box(&password)))
    });
    let stored = or_exit(hasher.hash(&password).map_err(BoxError::from));
    c.bench_function("argon2id_verify", |b| {
        b.iter(|| hasher.verify(black_box(&password), &stored))
    });
    // Django 5.2.20's `make_password(password, salt, "pbkdf2_sha256")`.
    let django =
        "pbkdf2_sha256$1000000$iR4AnTInbz2n40CX4h2F6t$G3Teh1hVjIlY8vIkj4CLgBS0lgpdkMQ7e8zCjEgFAeA=";
    if hasher.verify(&password, django) != (Verified::Match { needs_rehash: true }) {
        eprintln!("benchmark setup failed: the Django hash does not verify");
        std::process::exit(1);
    }
    c.bench_function("django_pbkdf2_sha256_verify", |b| {
        b.iter(|| hasher.verify(black_box(&password), django))
    });
}

criterion_group! {
    name = fast;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = tokens
}

// One hash takes tens of milliseconds (Django's PBKDF2 a few hundred): ten samples are plenty.
criterion_group! {
    name = slow;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = argon2id
}

criterion_main!(fast, slow);
