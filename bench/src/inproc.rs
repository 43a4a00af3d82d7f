//! In-process handler invocations against DynamoDB Local, one at a time, with the DynamoDB
//! round trips of each invocation counted; and the baselines measured in the same run, each in
//! blocks interleaved with the function it is compared with: a bare `GetItem` (with `me`), a
//! bare two-put `TransactWriteItems` (with `refresh`), one Argon2id hash at the configured
//! parameters (with `login`).
//!
//! Each sample is one `handle(&state, request)` call, timed from the parsed request to the
//! response: building the request from the event JSON (the runtime's job) is outside the timing.
//! Every answer is checked (201/200, or an allow): an error path is never benchmarked. The
//! process's own CPU time around the timed blocks gives the client-side CPU per call.

use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::clock::{Clock, SharedClock, SystemClock};
use shared::config::VerifierSettings;
use shared::domain::Password;
use shared::keys::VerificationKeys;
use shared::policy::rates::RouteGroup;
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
    /// CPU time of this whole process per call (the client side: handler, SDK, runtime),
    /// from `/proc/self/stat` around the timed blocks.
    pub cpu_per_call: Duration,
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
            o.insert(
                "client_cpu_us_per_call".into(),
                json!(crate::stats::micros(self.cpu_per_call)),
            );
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct InProcess {
    pub handlers: Vec<Handler>,
    /// Bare `GetItem`, measured in blocks interleaved with `me`'s.
    pub get_item: Handler,
    /// Bare `TransactWriteItems` (two conditional puts), interleaved with `refresh`'s blocks.
    pub transact_write: Handler,
    /// One Argon2id hash at the configured parameters, interleaved with `login`'s blocks.
    pub argon2id_hash: Handler,
}

impl InProcess {
    pub fn handler(&self, name: &str) -> Option<&Handler> {
        self.handlers.iter().find(|h| h.name == name)
    }

    pub fn baselines(&self) -> [&Handler; 3] {
        [&self.get_item, &self.transact_write, &self.argon2id_hash]
    }
}

fn request(event: &Value) -> Result<Request> {
    Ok(lambda_http::request::from_str(&event.to_string())?)
}

/// Checks a handler's answer, and passes its timing through.
fn expect(
    name: &str,
    expected: u16,
    response: &Response<Body>,
    elapsed: Duration,
) -> Result<Duration> {
    let status = response.status().as_u16();
    if status == expected {
        return Ok(elapsed);
    }
    let body = match response.body() {
        Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    Err(format!("{name}: expected {expected}, got {status}: {body}").into())
}

/// CPU time (utime + stime) of this whole process so far, in clock ticks.
fn own_cpu_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    crate::load::cpu_ticks_of(&stat).ok_or_else(|| "cannot parse /proc/self/stat".into())
}

/// Samples of one function or baseline, gathered over one or more blocks.
struct Samples {
    name: &'static str,
    times: Vec<Duration>,
    round_trips: Vec<Counts>,
    cpu_ticks: u64,
    done: usize,
}

impl Samples {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            times: Vec::new(),
            round_trips: Vec::new(),
            cpu_ticks: 0,
            done: 0,
        }
    }

    /// Runs `n` calls; each returns the time of its measured part. Recorded unless `warmup`.
    async fn block(
        &mut self,
        fx: &Fixture,
        n: usize,
        warmup: bool,
        call: &mut impl AsyncFnMut(usize) -> Result<Duration>,
    ) -> Result<()> {
        let cpu_before = own_cpu_ticks()?;
        for _ in 0..n {
            let index = self.done;
            self.done += 1;
            fx.round_trips.take();
            let elapsed = call(index).await?;
            let counts = fx.round_trips.take();
            if !warmup {
                self.times.push(elapsed);
                self.round_trips.push(counts);
            }
        }
        if !warmup {
            self.cpu_ticks += own_cpu_ticks()?.saturating_sub(cpu_before);
        }
        Ok(())
    }

    fn finish(self, ticks_per_second: u64) -> Result<Handler> {
        let summary =
            Summary::of(&self.times).ok_or_else(|| format!("{}: no samples", self.name))?;
        let cpu = Duration::from_secs_f64(self.cpu_ticks as f64 / ticks_per_second.max(1) as f64);
        Ok(Handler {
            name: self.name,
            summary,
            round_trips: self.round_trips,
            cpu_per_call: cpu / u32::try_from(self.times.len().max(1)).unwrap_or(u32::MAX),
        })
    }
}

/// Measures `a` and `b` in alternating blocks, so that both see the same DynamoDB Local (its
/// JIT, its garbage collector) and the same machine load: the ratio between them is fair.
async fn interleaved(
    fx: &Fixture,
    (a, mut call_a): (&'static str, impl AsyncFnMut(usize) -> Result<Duration>),
    (b, mut call_b): (&'static str, impl AsyncFnMut(usize) -> Result<Duration>),
    warmup: usize,
    samples: usize,
    rounds: usize,
    ticks: u64,
) -> Result<(Handler, Handler)> {
    let (mut sa, mut sb) = (Samples::new(a), Samples::new(b));
    sa.block(fx, warmup, true, &mut call_a).await?;
    sb.block(fx, warmup, true, &mut call_b).await?;
    let per_round = samples.div_ceil(rounds.max(1));
    for _ in 0..rounds {
        sa.block(fx, per_round, false, &mut call_a).await?;
        sb.block(fx, per_round, false, &mut call_b).await?;
    }
    Ok((sa.finish(ticks)?, sb.finish(ticks)?))
}

/// Measures one function alone.
async fn alone(
    fx: &Fixture,
    name: &'static str,
    mut call: impl AsyncFnMut(usize) -> Result<Duration>,
    warmup: usize,
    samples: usize,
    ticks: u64,
) -> Result<Handler> {
    let mut s = Samples::new(name);
    s.block(fx, warmup, true, &mut call).await?;
    s.block(fx, samples, false, &mut call).await?;
    s.finish(ticks)
}

/// Blocks per interleaved pair.
const ROUNDS: usize = 5;

pub async fn run(fx: &Fixture, sizes: Sizes) -> Result<InProcess> {
    let ticks = crate::load::clock_ticks();
    let clock: SharedClock = SystemClock::shared();
    let store = fx.counted_store();
    let users = fx.users(32).await?;
    let first = users.first().ok_or("no users")?.clone();
    let mut handlers = Vec::new();

    // DynamoDB Local is a JVM: warm it up before anything is timed.
    for _ in 0..sizes.warmup * 25 {
        bare_get_item(fx, &first).await?;
    }

    // Registration mails its verification link: through the SES v2 emulator here.
    let sdk =
        shared::store::sdk_config(&shared::config::StoreSettings::from_source(&fx.settings)?).await;
    // Both guarded like the deployed functions, with the bench's limits (the per-source counters
    // off: every request comes from one address; the registration mail budget on, out of reach).
    let limits = shared::config::SourceLimitSettings::from_source(&fx.settings)?;
    let guard =
        |group| shared::service::SourceGuard::new(store.clone(), clock.clone(), limits, group);
    let register = shared::service::Guarded {
        guard: guard(RouteGroup::Register),
        inner: shared::service::Registrar::new(
            shared::service::Accounts::new(
                store.clone(),
                fx.hasher.clone(),
                clock.clone(),
                fx.lockout,
            ),
            shared::service::Outbox::from_parts(store.clone(), &sdk, &fx.settings, clock.clone())?,
        ),
    };
    handlers.push(
        alone(
            fx,
            "register",
            async |_| {
                let req = request(&fixture::http_event(
                    "register",
                    Some(&fixture::register_body()),
                )?)?;
                let started = Instant::now();
                let response = register::handle(&register, req).await;
                expect("register", 201, &response, started.elapsed())
            },
            2,
            sizes.slow,
            ticks,
        )
        .await?,
    );

    let login = shared::service::Guarded {
        guard: guard(RouteGroup::Login),
        inner: shared::browser::WithBrowser {
            service: shared::service::Logins::new(
                store.clone(),
                fx.hasher.clone(),
                fx.token_issuer.clone(),
                clock.clone(),
                fx.issuer.clone(),
                fx.lockout,
            ),
            browser: browser(fx),
        },
    };
    let (argon2id_hash, login_handler) = interleaved(
        fx,
        ("Argon2id hash", async |_| argon2id_hash(fx).await),
        ("login", async |i| {
            let user = users.get(i % users.len()).ok_or("no user")?;
            let req = request(&fixture::http_event(
                "login",
                Some(&fixture::login_body(user)),
            )?)?;
            let started = Instant::now();
            let response = login::handle(&login, req).await;
            expect("login", 200, &response, started.elapsed())
        }),
        2,
        sizes.slow,
        ROUNDS,
        ticks,
    )
    .await?;
    handlers.push(login_handler);

    let refresh = refresh::State {
        service: shared::service::Refresher::new(
            store.clone(),
            fx.token_issuer.clone(),
            clock.clone(),
            fx.issuer.rotation(),
        ),
        browser: browser(fx),
    };
    let tokens = fx.refresh_tokens(&first, sizes.warmup + sizes.db).await?;
    let (transact_write, refresh_handler) = interleaved(
        fx,
        ("bare TransactWriteItems", async |_| {
            bare_transact_write(fx, &store, &first).await
        }),
        ("refresh", async |i| {
            let token = tokens.get(i).ok_or("not enough refresh tokens")?;
            let req = request(&fixture::http_event(
                "refresh",
                Some(&fixture::refresh_body(token)),
            )?)?;
            let started = Instant::now();
            let response = refresh::handle(&refresh, req).await;
            expect("refresh", 200, &response, started.elapsed())
        }),
        sizes.warmup,
        sizes.db,
        ROUNDS,
        ticks,
    )
    .await?;
    handlers.push(refresh_handler);

    let me = me::State::new(store.clone());
    let me_event = fixture::me_event(&first)?;
    let (get_item, me_handler) = interleaved(
        fx,
        ("bare GetItem", async |_| bare_get_item(fx, &first).await),
        ("me", async |_| {
            let req = request(&me_event)?;
            let started = Instant::now();
            let response = me::handle(&me, req).await;
            expect("me", 200, &response, started.elapsed())
        }),
        sizes.warmup,
        sizes.db,
        ROUNDS,
        ticks,
    )
    .await?;
    handlers.push(me_handler);

    let jwks = jwks::State::from_source(&fx.settings)?;
    let jwks_event = fixture::http_event("jwks", None)?;
    handlers.push(
        alone(
            fx,
            "jwks",
            async |_| {
                let req = request(&jwks_event)?;
                let started = Instant::now();
                let response = jwks::handle(&jwks, req).await;
                expect("jwks", 200, &response, started.elapsed())
            },
            sizes.warmup * 10,
            sizes.cpu,
            ticks,
        )
        .await?,
    );

    let token = fx.access_token(&first).await?;
    for (name, sessions, samples) in [
        (AUTHORIZER, Some(store.clone()), sizes.db),
        (AUTHORIZER_OFF, None, sizes.cpu),
    ] {
        let state = authorizer_state(fx, sessions, clock.clone())?;
        let event = fixture::authorizer_event(&token)?;
        handlers.push(
            alone(
                fx,
                name,
                async |_| {
                    let input = event.clone();
                    let started = Instant::now();
                    let decision = authorizer::handle(&state, input).await;
                    let elapsed = started.elapsed();
                    if decision.is_authorized {
                        Ok(elapsed)
                    } else {
                        Err(format!("{name}: the authorizer denied a valid token").into())
                    }
                },
                sizes.warmup * 10,
                samples,
                ticks,
            )
            .await?,
        );
    }
    Ok(InProcess {
        handlers,
        get_item,
        transact_write,
        argon2id_hash,
    })
}

/// A bare strongly consistent `GetItem` of an existing user profile, on the counted client.
async fn bare_get_item(fx: &Fixture, user: &SeedUser) -> Result<Duration> {
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
    Ok(elapsed)
}

/// A bare `TransactWriteItems` of two conditional puts (a session and its first token, as
/// `Store::start_session` writes them), on the counted client.
async fn bare_transact_write(fx: &Fixture, store: &Store, user: &SeedUser) -> Result<Duration> {
    let (_, session, record) = fx.new_session(user, SystemClock.unix());
    let started = Instant::now();
    store.start_session(&session, &record, None).await?;
    Ok(started.elapsed())
}

/// One Argon2id hash at the configured parameters, on a blocking thread like the service does
/// (timed on that thread).
async fn argon2id_hash(fx: &Fixture) -> Result<Duration> {
    let hasher = fx.hasher.clone();
    let (elapsed, ok) = tokio::task::spawn_blocking(move || {
        let password = Password::new(fixture::PASSWORD);
        let started = Instant::now();
        let result = hasher.hash(&password);
        (started.elapsed(), result.is_ok())
    })
    .await?;
    if ok {
        Ok(elapsed)
    } else {
        Err("Argon2id hashing failed".into())
    }
}

/// The authorizer's entry point takes the event as JSON (`authorizer::handle`); the sample is
/// that call, from the deserialised event to the decision. `sessions` is the store of the
/// revocation check (`REVOCATION_CHECK=session`, the default), `None` for `off`.
fn authorizer_state(
    fx: &Fixture,
    sessions: Option<Store>,
    clock: SharedClock,
) -> Result<authorizer::State> {
    let settings = VerifierSettings::from_source(&fx.settings)?;
    let verifier = TokenVerifier::new(
        VerificationKeys::from_jwks_json(&settings.public_jwks)?,
        &settings.issuer,
        &settings.audience,
        settings.leeway,
    );
    Ok(authorizer::State::new(verifier, clock, sessions))
}

/// The authorizer as deployed by default (`REVOCATION_CHECK=session`).
pub const AUTHORIZER: &str = "authorizer";
/// The authorizer with `REVOCATION_CHECK=off`: no DynamoDB at all.
pub const AUTHORIZER_OFF: &str = "authorizer_revocation_off";

/// The browser edge of login and refresh; the bench sends bodies, so it is never used.
fn browser(fx: &Fixture) -> shared::browser::Browser {
    shared::browser::Browser::new(shared::config::BrowserSettings {
        allowed_origins: Vec::new(),
        secure_cookie: true,
        cookie_max_age: fx.issuer.session_ttl,
        simplejwt_compat: false,
    })
}
