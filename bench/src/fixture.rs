//! What every part of the run shares: one DynamoDB Local, one table, one signing key, the
//! settings the functions read, and helpers that seed users, mint refresh tokens and build the
//! API Gateway events from `events/*.json`.
//!
//! Seeding writes through the store's own methods (`create_user`, `start_session`) on a client
//! without the counting interceptor, so seeding never shows up in a round-trip count.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::Client;
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};
use shared::config::{
    self as cfg, IssuerSettings, LockoutSettings, PasswordSettings, ProcessEnv, Source,
    StoreSettings,
};
use shared::domain::{Credentials, Email, Password, SessionId, User, UserId};
use shared::keys::{PublicJwkSet, SigningKey};
use shared::password::PasswordHasher;
use shared::store::{RefreshRecord, Session, Store, TokenState, schema};
use shared::tokens::{RefreshToken, TokenIssuer};
use tokio::task::JoinSet;

use crate::Result;
use crate::counting::RoundTrips;

pub const ISSUER: &str = "https://auth.bench.invalid";
pub const AUDIENCE: &str = "auth-bench";
pub const CLIENT_ID: &str = "bench";
pub const PASSWORD: &str = "correct-horse-battery-staple";
/// Seeding writes this many items at once.
const SEED_CONCURRENCY: usize = 16;

/// The workspace root (the runner is always built from it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A user the run created, whose password is [`PASSWORD`].
#[derive(Debug, Clone)]
pub struct SeedUser {
    pub id: UserId,
    pub email: String,
}

pub struct Fixture {
    /// Every setting the service reads, pointing at this run's table.
    pub settings: HashMap<String, String>,
    pub table: String,
    pub issuer: IssuerSettings,
    pub password: PasswordSettings,
    pub lockout: LockoutSettings,
    /// Signs access tokens exactly as login does, for `/me` and the authorizer.
    pub token_issuer: TokenIssuer,
    /// Hashes at the configured parameters.
    pub hasher: PasswordHasher,
    /// A PHC string of [`PASSWORD`] at the configured parameters, shared by every seeded user.
    pub password_hash: String,
    /// A store for seeding, without the interceptor.
    pub seed: Store,
    /// The client the measured services use, with the interceptor, and the interceptor.
    pub counted: Client,
    pub round_trips: RoundTrips,
}

impl Fixture {
    /// Creates the table on DynamoDB Local at `endpoint`, a signing key, and the clients; mail
    /// goes to the SES v2 emulator at `ses_endpoint`.
    pub async fn new(endpoint: &str, ses_endpoint: &str) -> Result<Self> {
        let table = format!("auth-bench-{}", uuid::Uuid::new_v4().simple());
        let (key, pem) = SigningKey::generate()?;
        let jwks = serde_json::to_string(&PublicJwkSet {
            keys: vec![key.public_jwk().clone()],
        })?;
        let mut settings: HashMap<String, String> = [
            (cfg::TABLE_NAME, table.clone()),
            (cfg::DYNAMODB_ENDPOINT_URL, endpoint.to_owned()),
            (cfg::JWT_ISSUER, ISSUER.to_owned()),
            (cfg::JWT_AUDIENCE, AUDIENCE.to_owned()),
            (cfg::JWT_CLIENT_ID, CLIENT_ID.to_owned()),
            (cfg::JWT_SIGNING_KEY, pem),
            (cfg::JWT_PUBLIC_JWKS, jwks),
            (cfg::SES_ENDPOINT_URL, ses_endpoint.to_owned()),
            (cfg::MAIL_FROM, "no-reply@bench.invalid".to_owned()),
            (cfg::APP_BASE_URL, "https://app.bench.invalid".to_owned()),
            (
                cfg::MFA_KEYS,
                shared::mfa::SealingKeys::generate_entry("bench"),
            ),
            // Every load comes from 127.0.0.1: the per-source counters would refuse it. The
            // registration mail budget stays on (its writes are part of register's cost), out
            // of reach.
            (cfg::SOURCE_LIMITS, "off".to_owned()),
            (cfg::REGISTRATION_MAILS_PER_HOUR, "1000000".to_owned()),
            (
                cfg::REGISTRATION_MAILS_PER_ADDRESS_PER_HOUR,
                "100".to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // Argon2 cost is "the configured parameters": forward ARGON2_* when this run has them.
        for name in [
            cfg::ARGON2_MEMORY_KIB,
            cfg::ARGON2_ITERATIONS,
            cfg::ARGON2_PARALLELISM,
        ] {
            if let Some(value) = ProcessEnv.get(name) {
                settings.insert(name.to_owned(), value);
            }
        }
        let password = PasswordSettings::from_source(&settings)?;
        let issuer = IssuerSettings::from_source(&settings)?;
        let lockout = shared::config::lockout_settings(&settings)?;
        let token_issuer = TokenIssuer::new(
            key,
            issuer.issuer.clone(),
            issuer.audience.clone(),
            issuer.client_id.clone(),
            issuer.access_token_ttl,
        );
        let hasher = PasswordHasher::new(&password)?;
        let password_hash = hasher.hash(&Password::new(PASSWORD))?;

        // The table does not exist yet: nothing to preconnect to.
        let store_settings = StoreSettings {
            preconnect: false,
            ..StoreSettings::from_source(&settings)?
        };
        let (seed, sdk) = Store::connect(&store_settings).await;
        schema::ensure_table(seed.client(), seed.table()).await?;
        let round_trips = RoundTrips::default();
        let counted = Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(endpoint)
                .interceptor(round_trips.clone())
                .build(),
        );
        Ok(Self {
            settings,
            table,
            issuer,
            password,
            lockout,
            token_issuer,
            hasher,
            password_hash,
            seed,
            counted,
            round_trips,
        })
    }

    /// A store on the counted client, for the services being measured.
    pub fn counted_store(&self) -> Store {
        Store::new(self.counted.clone(), self.table.clone())
    }

    /// Creates `n` users (profile and credentials) with [`PASSWORD`], without hashing `n` times.
    pub async fn users(&self, n: usize) -> Result<Vec<SeedUser>> {
        let now = SystemClock.now();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let mut out = Vec::with_capacity(n);
        let mut tasks = JoinSet::new();
        for _ in 0..n {
            let email = Email::parse(&format!(
                "bench-{}@example.com",
                uuid::Uuid::new_v4().simple()
            ))?;
            let user = User {
                id: UserId::random(),
                email: email.clone(),
                name: None,
                roles: Vec::new(),
                created_at: now,
                epoch: 0,
                email_verified: false,
                active: true,
                last_login_at: None,
                username: None,
                permissions: Vec::new(),
            };
            let credentials = Credentials {
                email,
                user_id: user.id.clone(),
                password_hash: self.password_hash.clone(),
                roles: user.roles.clone(),
                epoch: 0,
                mfa: false,
                active: true,
                permissions: Vec::new(),
            };
            out.push(SeedUser {
                id: user.id.clone(),
                email: user.email.as_str().to_owned(),
            });
            let store = self.seed.clone();
            tasks.spawn(async move { store.create_user(&user, &credentials).await });
            while tasks.len() >= SEED_CONCURRENCY {
                if let Some(done) = tasks.join_next().await {
                    done??;
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(out)
    }

    /// Mints `n` unused refresh tokens for `user`, each in a session of its own, the way login
    /// stores them (`start_session`), but without a password check per token.
    pub async fn refresh_tokens(&self, user: &SeedUser, n: usize) -> Result<Vec<String>> {
        Ok(self
            .sessions(user, n)
            .await?
            .into_iter()
            .map(|(token, _)| token)
            .collect())
    }

    /// A new live session of `user` and its first refresh token, as login makes them (not
    /// yet written).
    pub fn new_session(&self, user: &SeedUser, now: i64) -> (RefreshToken, Session, RefreshRecord) {
        let session = Session {
            id: SessionId::random(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + self.issuer.session_ttl,
            last_used_at: now,
            epoch: 0,
            revoked_at: None,
            amr: vec!["pwd".to_owned()],
            active_token: None,
            user_agent: None,
            source_ip: None,
        };
        let token = RefreshToken::for_user(&user.id);
        let record = RefreshRecord {
            token_hash: token.hash(),
            user_id: user.id.clone(),
            session_id: session.id.clone(),
            session_expires_at: session.expires_at,
            issued_at: now,
            epoch: 0,
            state: TokenState::Active,
            amr: vec!["pwd".to_owned()],
        };
        (token, session, record)
    }

    /// Starts `n` sessions for `user`; returns each one's first refresh token and its id.
    async fn sessions(&self, user: &SeedUser, n: usize) -> Result<Vec<(String, SessionId)>> {
        let now = SystemClock.unix();
        let mut out = Vec::with_capacity(n);
        let mut tasks = JoinSet::new();
        for _ in 0..n {
            let (token, session, record) = self.new_session(user, now);
            out.push((token.expose().to_owned(), session.id.clone()));
            let store = self.seed.clone();
            tasks.spawn(async move { store.start_session(&session, &record, None).await });
            while tasks.len() >= SEED_CONCURRENCY {
                if let Some(done) = tasks.join_next().await {
                    done??;
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(out)
    }

    /// A valid access token for `user`, signed now, in a live session (the authorizer's
    /// revocation check reads it).
    pub async fn access_token(&self, user: &SeedUser) -> Result<String> {
        let (_, session) = self.sessions(user, 1).await?.pop().ok_or("no session")?;
        Ok(self
            .token_issuer
            .issue(user.id.as_str(), &[], session.as_str(), SystemClock.unix())?)
    }

    /// The settings a function gets in `template.yaml` (the signing key as a PEM here, where
    /// AWS has an SSM parameter name), plus the local endpoint.
    pub fn function_env(&self, function: &str) -> Vec<(String, String)> {
        let store = [cfg::TABLE_NAME, cfg::DYNAMODB_ENDPOINT_URL];
        let argon = [
            cfg::ARGON2_MEMORY_KIB,
            cfg::ARGON2_ITERATIONS,
            cfg::ARGON2_PARALLELISM,
        ];
        let issuer = [
            cfg::JWT_ISSUER,
            cfg::JWT_AUDIENCE,
            cfg::JWT_CLIENT_ID,
            cfg::JWT_SIGNING_KEY,
        ];
        let verifier = [cfg::JWT_ISSUER, cfg::JWT_AUDIENCE, cfg::JWT_PUBLIC_JWKS];
        let mail = [cfg::SES_ENDPOINT_URL, cfg::MAIL_FROM, cfg::APP_BASE_URL];
        let limits = [
            cfg::SOURCE_LIMITS,
            cfg::REGISTRATION_MAILS_PER_HOUR,
            cfg::REGISTRATION_MAILS_PER_ADDRESS_PER_HOUR,
        ];
        let names: Vec<&str> = match function {
            "register" => store
                .iter()
                .chain(&argon)
                .chain(&mail)
                .chain(&limits)
                .copied()
                .collect(),
            "login" => store
                .iter()
                .chain(&argon)
                .chain(&issuer)
                .chain(&limits)
                .copied()
                .collect(),
            "refresh" => store.iter().chain(&issuer).copied().collect(),
            "me" => store.to_vec(),
            // The revocation check (on by default) reads sessions from the table.
            "authorizer" => store.iter().chain(&verifier).copied().collect(),
            "authorizer_revocation_off" => verifier.to_vec(),
            "jwks" => vec![cfg::JWT_PUBLIC_JWKS],
            _ => Vec::new(),
        };
        let mut env: Vec<(String, String)> = names
            .into_iter()
            .filter_map(|name| {
                self.settings
                    .get(name)
                    .map(|v| (name.to_owned(), v.clone()))
            })
            .collect();
        if function == "authorizer_revocation_off" {
            env.push((cfg::REVOCATION_CHECK.to_owned(), "off".to_owned()));
        }
        env.push((cfg::LOG_LEVEL.to_owned(), "info".to_owned()));
        env
    }
}

/// A sample event from `events/` (the same files `sam local invoke -e` uses), as JSON.
pub fn sample_event(name: &str) -> Result<Value> {
    let path = workspace_root().join("events").join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("read events/{name}.json: {e}"))?;
    Ok(serde_json::from_str(&text)?)
}

fn object(value: &mut Value) -> Result<&mut serde_json::Map<String, Value>> {
    value
        .as_object_mut()
        .ok_or_else(|| "an event is not a JSON object".into())
}

/// `events/<name>.json` with this body (and its content length).
pub fn http_event(name: &str, body: Option<&Value>) -> Result<Value> {
    let mut event = sample_event(name)?;
    if let Some(body) = body {
        let text = body.to_string();
        if let Some(headers) = event.get_mut("headers").and_then(Value::as_object_mut) {
            headers.insert(
                "content-length".into(),
                Value::String(text.len().to_string()),
            );
        }
        object(&mut event)?.insert("body".into(), Value::String(text));
    }
    Ok(event)
}

/// `events/me.json` with the authorizer context of a real user.
pub fn me_event(user: &SeedUser) -> Result<Value> {
    let mut event = sample_event("me")?;
    let context = object(&mut event)?
        .get_mut("requestContext")
        .and_then(Value::as_object_mut)
        .ok_or("events/me.json has no requestContext")?;
    context.insert(
        "authorizer".into(),
        json!({ "lambda": {
            "user_id": user.id.as_str(),
            "roles": "",
            "sid": SessionId::random().as_str(),
            "jti": uuid::Uuid::new_v4().to_string(),
        }}),
    );
    Ok(event)
}

/// `events/authorizer.json` with a real bearer token.
pub fn authorizer_event(token: &str) -> Result<Value> {
    let mut event = sample_event("authorizer")?;
    let bearer = Value::String(format!("Bearer {token}"));
    if let Some(headers) = event.get_mut("headers").and_then(Value::as_object_mut) {
        headers.insert("authorization".into(), bearer.clone());
    }
    object(&mut event)?.insert("identitySource".into(), Value::Array(vec![bearer]));
    Ok(event)
}

pub fn register_body() -> Value {
    json!({ "email": format!("bench-{}@example.com", uuid::Uuid::new_v4().simple()), "password": PASSWORD })
}

pub fn login_body(user: &SeedUser) -> Value {
    json!({ "email": user.email, "password": PASSWORD })
}

pub fn refresh_body(token: &str) -> Value {
    json!({ "refresh_token": token })
}
