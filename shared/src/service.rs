//! The domain operations, one per route. A handler parses its request, calls exactly one of
//! these, and turns the result into a response; expected failures are `Err(ApiError)` values.
//!
//! Refresh-token rotation, as a state machine per token:
//!
//! ```text
//! login ──▶ Active ──(presented, transaction wins)──▶ Rotated      (a new Active token is issued)
//!             │                                         │
//!             │ session revoked / expired               │ presented again (reuse)
//!             ▼                                         ▼
//!        invalid_token                     first time: revoke the session → token_reused
//!                                          afterwards (session revoked)   → invalid_token
//!                                          within REFRESH_REUSE_GRACE_SECONDS → invalid_token, nothing revoked
//! ```
//!
//! The exchange is one `TransactWriteItems`: mark the old token rotated *if it is active*, put the
//! new token, and check the session exists and is not revoked. Of concurrent exchanges of one
//! token exactly one can win; the losers then see a rotated token and count as reuse.

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::info;

use crate::clock::SharedClock;
use crate::config::{IssuerSettings, PasswordSettings, Source, StoreSettings};
use crate::domain::{
    Credentials, DEFAULT_ROLE, DisplayName, Email, Password, SessionId, User, UserId,
};
use crate::error::{ApiError, StoreError};
use crate::http::Fields;
use crate::keys::load_signing_key;
use crate::password::{self, PasswordHasher, Verified};
use crate::runtime::InitError;
use crate::store::{RefreshRecord, Session, Store, TokenState};
use crate::tokens::{RefreshToken, TokenIssuer, hash_refresh_token};

/// Who asked, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

impl Caller {
    pub fn of(req: &lambda_http::Request) -> Self {
        Self {
            request_id: crate::http::request_id(req),
            source_ip: crate::http::source_ip(req),
        }
    }
}

/// One structured line per security event. Never a password, token, hash or key.
fn audit(event: &'static str, caller: &Caller, user_id: Option<&str>, session_id: Option<&str>) {
    info!(
        target: "audit",
        event,
        user_id,
        session_id,
        request_id = caller.request_id.as_deref(),
        source_ip = caller.source_ip.as_deref(),
        "security event"
    );
}

/// Runs CPU-bound password work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

/// A validated registration request.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub name: Option<DisplayName>,
}

impl Registration {
    /// `{email, password, name?}`; every field problem is reported at once.
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let email = match fields.required_str("email").map(Email::parse) {
            Some(Ok(email)) => Some(email),
            Some(Err(message)) => {
                fields.reject("email", message);
                None
            }
            None => None,
        };
        let password = fields.required_str("password");
        let name = match fields.optional_str("name").map(DisplayName::parse) {
            Some(Ok(name)) => name,
            Some(Err(message)) => {
                fields.reject("name", message);
                None
            }
            None => None,
        };
        fields.finish()?;
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self {
                email,
                password: Password::new(password),
                name,
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// `{email, password}` for login. The email is not validated here: a malformed one simply
/// matches no account and answers `invalid_credentials` like any other.
#[derive(Debug)]
pub struct LoginRequest {
    pub email: String,
    pub password: Password,
}

impl LoginRequest {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let email = fields.required_str("email");
        let password = fields.required_str("password");
        fields.finish()?;
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self {
                email: email.to_owned(),
                password: Password::new(password),
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// `{refresh_token}` for refresh (and, later, logout).
pub fn refresh_token_from_body(body: &Map<String, Value>) -> Result<String, ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.required_str("refresh_token");
    fields.finish()?;
    token
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Validation(Vec::new()))
}

/// Registers users.
#[derive(Debug, Clone)]
pub struct Registrar {
    store: Store,
    hasher: PasswordHasher,
    clock: SharedClock,
}

impl Registrar {
    pub fn new(store: Store, hasher: PasswordHasher, clock: SharedClock) -> Self {
        Self {
            store,
            hasher,
            clock,
        }
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, _) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        Ok(Self::new(store, hasher, clock))
    }

    /// Checks the password policy, hashes, and writes the user and its email atomically.
    pub async fn register(&self, input: Registration, caller: &Caller) -> Result<User, ApiError> {
        password::check_policy(
            &input.password,
            &input.email,
            input.name.as_ref().map(DisplayName::as_str),
        )
        .map_err(ApiError::WeakPassword)?;
        let hasher = self.hasher.clone();
        let pw = input.password;
        let password_hash = blocking(move || hasher.hash(&pw))
            .await?
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        let user = User {
            id: UserId::random(),
            email: input.email,
            name: input.name,
            roles: vec![DEFAULT_ROLE.to_owned()],
            created_at: self
                .clock
                .now()
                .replace_nanosecond(0)
                .unwrap_or(self.clock.now()),
        };
        let credentials = Credentials {
            email: user.email.clone(),
            user_id: user.id.clone(),
            password_hash,
            roles: user.roles.clone(),
        };
        match self.store.create_user(&user, &credentials).await {
            Ok(()) => {
                audit("user_registered", caller, Some(user.id.as_str()), None);
                Ok(user)
            }
            Err(StoreError::AlreadyExists) => Err(ApiError::EmailTaken),
            Err(err) => Err(err.into()),
        }
    }
}

/// Reads profiles.
#[derive(Debug, Clone)]
pub struct Profiles {
    store: Store,
}

impl Profiles {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn from_source(src: &dyn Source) -> Result<Self, InitError> {
        let (store, _) = Store::connect(&StoreSettings::from_source(src)?).await;
        Ok(Self::new(store))
    }

    pub async fn profile(&self, user_id: &str) -> Result<User, ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        self.store.user(&id).await?.ok_or(ApiError::UserNotFound)
    }
}

/// What login and refresh answer.
#[derive(Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

fn pair(access_token: String, refresh: &RefreshToken, issuer: &TokenIssuer) -> TokenPair {
    TokenPair {
        access_token,
        refresh_token: refresh.expose().to_owned(),
        token_type: "Bearer",
        expires_in: issuer.ttl(),
    }
}

fn sign_error(err: crate::tokens::SignError) -> ApiError {
    ApiError::Internal(Box::new(err))
}

/// Logs users in: verifies the password and starts a refresh session.
#[derive(Debug, Clone)]
pub struct Logins {
    store: Store,
    hasher: PasswordHasher,
    issuer: TokenIssuer,
    clock: SharedClock,
    session_ttl: i64,
}

impl Logins {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        clock: SharedClock,
        session_ttl: i64,
    ) -> Self {
        Self {
            store,
            hasher,
            issuer,
            clock,
            session_ttl,
        }
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        let settings = IssuerSettings::from_source(src)?;
        let issuer = issuer(&settings, &sdk).await?;
        Ok(Self::new(
            store,
            hasher,
            issuer,
            clock,
            settings.session_ttl,
        ))
    }

    /// One read (the credentials) and one write (the session and its first token). An unknown
    /// email costs one dummy Argon2id verification, so it answers like a wrong password.
    pub async fn login(
        &self,
        email: &str,
        password: Password,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        let credentials = match Email::parse(email) {
            Ok(email) => self.store.credentials(email.as_str()).await?,
            Err(_) => None,
        };
        let hasher = self.hasher.clone();
        let Some(credentials) = credentials else {
            blocking(move || hasher.verify_dummy(&password)).await?;
            audit("login_failed", caller, None, None);
            return Err(ApiError::InvalidCredentials);
        };
        let stored = credentials.password_hash.clone();
        let (verified, password) =
            blocking(move || (hasher.verify(&password, &stored), password)).await?;
        let needs_rehash = match verified {
            Verified::Mismatch => {
                audit(
                    "login_failed",
                    caller,
                    Some(credentials.user_id.as_str()),
                    None,
                );
                return Err(ApiError::InvalidCredentials);
            }
            Verified::Match { needs_rehash } => needs_rehash,
        };
        if needs_rehash {
            self.upgrade_hash(&credentials, password).await;
        }

        let now = self.clock.unix();
        let session = Session {
            id: SessionId::random(),
            user_id: credentials.user_id.clone(),
            created_at: now,
            expires_at: now + self.session_ttl,
            revoked_at: None,
        };
        let refresh = RefreshToken::generate();
        let record = RefreshRecord {
            token_hash: refresh.hash(),
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
            roles: credentials.roles.clone(),
            session_expires_at: session.expires_at,
            state: TokenState::Active,
        };
        let access = self
            .issuer
            .issue(
                session.user_id.as_str(),
                &record.roles,
                session.id.as_str(),
                now,
            )
            .map_err(sign_error)?;
        self.store.start_session(&session, &record).await?;
        audit(
            "login_succeeded",
            caller,
            Some(session.user_id.as_str()),
            Some(session.id.as_str()),
        );
        Ok(pair(access, &refresh, &self.issuer))
    }

    /// Re-hashes with the configured parameters. Best effort: a failure leaves the old hash,
    /// which still verifies, and is retried at the next login.
    async fn upgrade_hash(&self, credentials: &Credentials, password: Password) {
        let hasher = self.hasher.clone();
        match blocking(move || hasher.hash(&password)).await {
            Ok(Ok(new_hash)) => {
                let result = self
                    .store
                    .replace_password_hash(
                        credentials.email.as_str(),
                        &credentials.password_hash,
                        &new_hash,
                    )
                    .await;
                match result {
                    Ok(()) => info!(
                        user_id = credentials.user_id.as_str(),
                        "password hash upgraded"
                    ),
                    Err(err) => {
                        tracing::warn!(error = %crate::error::chain(&err), "password hash upgrade skipped")
                    }
                }
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "password re-hash failed"),
            Err(err) => tracing::warn!(error = %err, "password re-hash failed"),
        }
    }
}

/// Exchanges refresh tokens (rotation with reuse detection; see the module docs).
#[derive(Debug, Clone)]
pub struct Refresher {
    store: Store,
    issuer: TokenIssuer,
    clock: SharedClock,
    reuse_grace: i64,
}

/// Presented strings longer than this cannot be tokens we issued (43 characters).
const MAX_REFRESH_TOKEN_LEN: usize = 256;
/// Attempts when a concurrent exchange of the same token conflicts.
const ROTATE_ATTEMPTS: usize = 3;

impl Refresher {
    pub fn new(store: Store, issuer: TokenIssuer, clock: SharedClock, reuse_grace: i64) -> Self {
        Self {
            store,
            issuer,
            clock,
            reuse_grace,
        }
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let settings = IssuerSettings::from_source(src)?;
        let issuer = issuer(&settings, &sdk).await?;
        Ok(Self::new(
            store,
            issuer,
            clock,
            settings.refresh_reuse_grace,
        ))
    }

    /// One read and one transaction on the happy path.
    pub async fn refresh(&self, presented: &str, caller: &Caller) -> Result<TokenPair, ApiError> {
        if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(ApiError::InvalidToken);
        }
        let hash = hash_refresh_token(presented);
        for _ in 0..ROTATE_ATTEMPTS {
            let now = self.clock.unix();
            let Some(record) = self.store.refresh_record(&hash).await? else {
                return Err(ApiError::InvalidToken);
            };
            if now >= record.session_expires_at {
                return Err(ApiError::InvalidToken);
            }
            match record.state {
                TokenState::Rotated { at } => return self.reused(&record, at, now, caller).await,
                TokenState::Active => {
                    let refresh = RefreshToken::generate();
                    let next = RefreshRecord {
                        token_hash: refresh.hash(),
                        state: TokenState::Active,
                        ..record.clone()
                    };
                    let access = self
                        .issuer
                        .issue(
                            record.user_id.as_str(),
                            &record.roles,
                            record.session_id.as_str(),
                            now,
                        )
                        .map_err(sign_error)?;
                    match self.store.rotate(&record, &next, now).await {
                        Ok(()) => {
                            audit(
                                "token_refreshed",
                                caller,
                                Some(record.user_id.as_str()),
                                Some(record.session_id.as_str()),
                            );
                            return Ok(pair(access, &refresh, &self.issuer));
                        }
                        // The session is revoked or gone, and the token was still active.
                        Err(StoreError::ConditionFailed { failed }) if !failed.contains(&0) => {
                            return Err(ApiError::InvalidToken);
                        }
                        // Another exchange of this token won or is in flight: read again.
                        Err(StoreError::ConditionFailed { .. } | StoreError::Conflict) => continue,
                        Err(err) => return Err(err.into()),
                    }
                }
            }
        }
        Err(ApiError::InvalidToken)
    }

    async fn reused(
        &self,
        record: &RefreshRecord,
        rotated_at: i64,
        now: i64,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        if self.reuse_grace > 0 && now - rotated_at <= self.reuse_grace {
            return Err(ApiError::InvalidToken);
        }
        if self
            .store
            .revoke_session(&record.user_id, record.session_id.as_str(), now)
            .await?
        {
            audit(
                "token_reuse_detected",
                caller,
                Some(record.user_id.as_str()),
                Some(record.session_id.as_str()),
            );
            return Err(ApiError::TokenReused);
        }
        Err(ApiError::InvalidToken)
    }
}

async fn issuer(
    settings: &IssuerSettings,
    sdk: &aws_config::SdkConfig,
) -> Result<TokenIssuer, InitError> {
    let key = load_signing_key(&settings.signing_key, sdk).await?;
    Ok(TokenIssuer::new(
        key,
        settings.issuer.clone(),
        settings.audience.clone(),
        settings.client_id.clone(),
        settings.access_token_ttl,
    ))
}
