//! In-process handler invocations against DynamoDB Local, one at a time, with the DynamoDB
//! round trips of each invocation counted; and the two baselines measured in the same run: a
//! bare `GetItem` and one Argon2id hash at the configured parameters.
//!
//! Each sample is one `handle(&state, request)` call, timed from the parsed request to the
//! response: building the request from the event JSON (the runtime's job) is outside the timing.
//! Every answer is checked (201/200, or an allow): an error path is never benchmarked.

use std::future::Future;
use std::time::Instant;

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::clock::{SharedClock, SystemClock};
use shared::config::VerifierSettings;
use shared::domain::Password;
use shared::keys::VerificationKeys;
use shared::store::{Store, keys};
use shared::tokens::TokenVerifier;

use crate::Result;
use crate::counting::Counts;
use crate::fixture::{self, Fixture, SeedUser};
use crate::stats::Summary;

/// Samples per function: bounded so the whole stage takes well under a minute.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub slow: usize,
    pub db: usize,
    pub cpu: usize,
    pub warmup: usize,
}

pub const SIZES: Sizes = Sizes {
    slow: 25,
    db: 400,
    cpu: 5_000,
    warmup: 20,
};

/// One function's in-process figures.
#[derive(Debug, Clone)]
pub struct Handler {
    pub name: &'static str,
    pub summary: Summary,
    /// Round trips of each invocation.
    pub round_trips: Vec<Counts>,
}

impl Handler {
    /// The most round trips any invocation made (the figure held against the target).
    pub fn max_round_trips(&self) -> u64 {
        self.round_trips
            .iter()
            .map(|c| c.attempts)
            .max()
            .unwrap_or(0)
    }

    pub fn min_round_trips(&self) -> u64 {
        self.round_trips
            .iter()
            .map(|c| c.attempts)
            .min()
            .unwrap_or(0)
    }

    pub fn retries(&self) -> u64 {
        self.round_trips.iter().map(Counts::retries).sum()
    }

    /// The operations of the invocation with the most round trips.
    pub fn operations(&self) -> String {
        self.round_trips
            .iter()
            .max_by_key(|c| c.attempts)
            .map(Counts::describe)
            .unwrap_or_else(|| "none".to_owned())
    }

    pub fn to_json(&self) -> Value {
        let mut v = self.summary.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "dynamodb_round_trips".into(),
                json!({
                    "max": self.max_round_trips(),
                    "min": self.min_round_trips(),
                    "retries": self.retries(),
                    "operations": self.operations(),
                }),
            );
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct InProcess {
    pub handlers: Vec<Handler>,
    pub get_item: Summary,
    pub argon2id_hash: Summary,
}

impl InProcess {
    pub fn handler(&self, name: &str) -> Option<&Handler> {
        self.handlers.iter().find(|h| h.name == name)
    }
}

fn request(event: &Value) -> Result<Request> {
    Ok(lambda_http::request::from_str(&event.to_string())?)
}

/// Times `samples` invocations (after `warmup` untimed ones), each with its own request.
async fn measure<F, Fut>(
    fx: &Fixture,
    name: &'static str,
    expected: u16,
    warmup: usize,
    samples: usize,
    mut make: impl FnMut(usize) -> Result<Request>,
    call: F,
) -> Result<Handler>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let mut times = Vec::with_capacity(samples);
    let mut round_trips = Vec::with_capacity(samples);
    for i in 0..warmup + samples {
        let req = make(i)?;
        fx.round_trips.take();
        let started = Instant::now();
        let response = call(req).await;
        let elapsed = started.elapsed();
        let counts = fx.round_trips.take();
        let status = response.status().as_u16();
        if status != expected {
            let body = match response.body() {
                Body::Text(t) => t.clone(),
                _ => String::new(),
            };
            return Err(format!("{name}: expected {expected}, got {status}: {body}").into());
        }
        if i >= warmup {
            times.push(elapsed);
            round_trips.push(counts);
        }
    }
    let summary = Summary::of(&times).ok_or("no samples")?;
    Ok(Handler {
        name,
        summary,
        round_trips,
    })
}

/// A bare strongly consistent `GetItem` of an existing user profile, on the counted client.
async fn get_item(fx: &Fixture, user: &SeedUser, warmup: usize, samples: usize) -> Result<Summary> {
    let mut times = Vec::with_capacity(samples);
    for i in 0..warmup + samples {
        let started = Instant::now();
        let output = fx
            .counted
            .get_item()
            .table_name(&fx.table)
            .set_key(Some(keys::user_key(user.id.as_str())))
            .consistent_read(true)
            .send()
            .await?;
        let elapsed = started.elapsed();
        if output.item().is_none() {
            return Err("bare GetItem found no item".into());
        }
        if i >= warmup {
            times.push(elapsed);
        }
    }
    fx.round_trips.take();
    Summary::of(&times).ok_or_else(|| "no samples".into())
}

/// One Argon2id hash at the configured parameters, on a blocking thread like the service does.
async fn argon2id_hash(fx: &Fixture, samples: usize) -> Result<Summary> {
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + 2 {
        let hasher = fx.hasher.clone();
        let elapsed = tokio::task::spawn_blocking(move || {
            let password = Password::new(fixture::PASSWORD);
            let started = Instant::now();
            let result = hasher.hash(&password);
            (started.elapsed(), result.is_ok())
        })
        .await?;
        if !elapsed.1 {
            return Err("Argon2id hashing failed".into());
        }
        if i >= 2 {
            times.push(elapsed.0);
        }
    }
    Summary::of(&times).ok_or_else(|| "no samples".into())
}

pub async fn run(fx: &Fixture, sizes: Sizes) -> Result<InProcess> {
    let clock: SharedClock = SystemClock::shared();
    let store = fx.counted_store();
    let users = fx.users(32).await?;
    let first = users.first().ok_or("no users")?.clone();

    let get_item = get_item(fx, &first, sizes.warmup * 5, sizes.db).await?;
    let argon2id_hash = argon2id_hash(fx, sizes.slow).await?;
    let mut handlers = Vec::new();

    let register = register::State::new(store.clone(), fx.hasher.clone(), clock.clone());
    handlers.push(
        measure(
            fx,
            "register",
            201,
            2,
            sizes.slow,
            |_| {
                request(&fixture::http_event(
                    "register",
                    Some(&fixture::register_body()),
                )?)
            },
            |req| register::handle(&register, req),
        )
        .await?,
    );

    let login = login::State::new(
        store.clone(),
        fx.hasher.clone(),
        fx.token_issuer.clone(),
        clock.clone(),
        fx.issuer.session_ttl,
        fx.lockout,
    );
    handlers.push(
        measure(
            fx,
            "login",
            200,
            2,
            sizes.slow,
            |i| {
                let user = users.get(i % users.len()).ok_or("no user")?;
                request(&fixture::http_event(
                    "login",
                    Some(&fixture::login_body(user)),
                )?)
            },
            |req| login::handle(&login, req),
        )
        .await?,
    );

    let refresh = refresh::State::new(
        store.clone(),
        fx.token_issuer.clone(),
        clock.clone(),
        fx.issuer.refresh_reuse_grace,
    );
    let tokens = fx.refresh_tokens(&first, sizes.warmup + sizes.db).await?;
    handlers.push(
        measure(
            fx,
            "refresh",
            200,
            sizes.warmup,
            sizes.db,
            |i| {
                let token = tokens.get(i).ok_or("not enough refresh tokens")?;
                request(&fixture::http_event(
                    "refresh",
                    Some(&fixture::refresh_body(token)),
                )?)
            },
            |req| refresh::handle(&refresh, req),
        )
        .await?,
    );

    let me = me::State::new(store.clone());
    let me_event = fixture::me_event(&first)?;
    handlers.push(
        measure(
            fx,
            "me",
            200,
            sizes.warmup,
            sizes.db,
            |_| request(&me_event),
            |req| me::handle(&me, req),
        )
        .await?,
    );

    let jwks = jwks::State::from_source(&fx.settings)?;
    let jwks_event = fixture::http_event("jwks", None)?;
    handlers.push(
        measure(
            fx,
            "jwks",
            200,
            sizes.warmup * 10,
            sizes.cpu,
            |_| request(&jwks_event),
            |req| jwks::handle(&jwks, req),
        )
        .await?,
    );

    let token = fx.access_token(&first).await?;
    handlers.push(
        authorizer(
            fx,
            AUTHORIZER,
            &token,
            Some(store.clone()),
            clock.clone(),
            sizes,
        )
        .await?,
    );
    handlers.push(authorizer(fx, AUTHORIZER_OFF, &token, None, clock, sizes).await?);
    Ok(InProcess {
        handlers,
        get_item,
        argon2id_hash,
    })
}

/// The authorizer's entry point takes the event as JSON (`authorizer::handle`); the sample is
/// that call, from the deserialised event to the decision. `sessions` is the store of the
/// revocation check (`REVOCATION_CHECK=session`, the default), `None` for `off`.
async fn authorizer(
    fx: &Fixture,
    name: &'static str,
    token: &str,
    sessions: Option<Store>,
    clock: SharedClock,
    sizes: Sizes,
) -> Result<Handler> {
    let settings = VerifierSettings::from_source(&fx.settings)?;
    let verifier = TokenVerifier::new(
        VerificationKeys::from_jwks_json(&settings.public_jwks)?,
        &settings.issuer,
        &settings.audience,
        settings.leeway,
    );
    let state = authorizer::State::new(verifier, clock, sessions);
    let event = fixture::authorizer_event(token)?;
    let (warmup, samples) = (
        sizes.warmup * 10,
        if state_uses_db(name) {
            sizes.db
        } else {
            sizes.cpu
        },
    );
    let mut times = Vec::with_capacity(samples);
    let mut round_trips = Vec::with_capacity(samples);
    for i in 0..warmup + samples {
        let input = event.clone();
        fx.round_trips.take();
        let started = Instant::now();
        let decision = authorizer::handle(&state, input).await;
        let elapsed = started.elapsed();
        let counts = fx.round_trips.take();
        if !decision.is_authorized {
            return Err(format!("{name}: the authorizer denied a valid token").into());
        }
        if i >= warmup {
            times.push(elapsed);
            round_trips.push(counts);
        }
    }
    Ok(Handler {
        name,
        summary: Summary::of(&times).ok_or("no samples")?,
        round_trips,
    })
}

fn state_uses_db(name: &str) -> bool {
    name == AUTHORIZER
}

/// The authorizer as deployed by default (`REVOCATION_CHECK=session`).
pub const AUTHORIZER: &str = "authorizer";
/// The authorizer with `REVOCATION_CHECK=off`: no DynamoDB at all.
pub const AUTHORIZER_OFF: &str = "authorizer_revocation_off";
