//! Login: password verification, throttling per email (see the module docs above), and the
//! start of a refresh session.

use crate::clock::SharedClock;
use crate::config::{IssuerSettings, LockoutSettings, PasswordSettings, Source, StoreSettings};
use crate::domain::{Credentials, Email, Password, SessionId};
use crate::error::ApiError;
use crate::password::{PasswordHasher, Verified};
use crate::runtime::InitError;
use crate::service::tokens::{TokenPair, issuer, pair, sign_error};
use crate::service::{Caller, audit, blocking};
use crate::store::{Lockout, RefreshRecord, Session, Store, TokenState};
use crate::tokens::{RefreshToken, TokenIssuer};

/// Logs users in.
#[derive(Debug, Clone)]
pub struct Logins {
    store: Store,
    hasher: PasswordHasher,
    issuer: TokenIssuer,
    clock: SharedClock,
    session_ttl: i64,
    lockout: LockoutSettings,
}

impl Logins {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        clock: SharedClock,
        session_ttl: i64,
        lockout: LockoutSettings,
    ) -> Self {
        Self {
            store,
            hasher,
            issuer,
            clock,
            session_ttl,
            lockout,
        }
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        let settings = IssuerSettings::from_source(src)?;
        let issuer = issuer(&settings, &sdk).await?;
        let lockout = LockoutSettings::from_source(src)?;
        Ok(Self::new(
            store,
            hasher,
            issuer,
            clock,
            settings.session_ttl,
            lockout,
        ))
    }

    /// One read (credentials and failure count, in one `BatchGetItem`) and one write (the
    /// session, its first token, and the reset of the count, in one transaction). An unknown
    /// email costs one dummy Argon2id verification and is counted like a known one, so neither
    /// the answer, nor its time, nor the lockout tells whether an account exists.
    pub async fn login(
        &self,
        email: &str,
        password: Password,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        let email = Email::normalise(email);
        let (credentials, lockout) = self.store.login_lookup(&email).await?;
        let user_id = credentials.as_ref().map(|c| c.user_id.as_str().to_owned());
        if let Some(retry_after) = self.locked_for(lockout.as_ref()) {
            audit("login_locked_out", caller, user_id.as_deref(), None);
            return Err(ApiError::TooManyAttempts { retry_after });
        }

        let hasher = self.hasher.clone();
        let stored = credentials.as_ref().map(|c| c.password_hash.clone());
        // A password longer than any we accept cannot match; it costs the same dummy work.
        let plausible = password.chars() <= Password::MAX_CHARS;
        let (verified, password) = blocking(move || {
            let verified = match stored {
                Some(stored) if plausible => hasher.verify(&password, &stored),
                _ => {
                    hasher.verify_dummy(&password);
                    Verified::Mismatch
                }
            };
            (verified, password)
        })
        .await?;
        let (credentials, needs_rehash) = match (verified, credentials) {
            (Verified::Match { needs_rehash }, Some(credentials)) => (credentials, needs_rehash),
            _ => return Err(self.failed(&email, user_id.as_deref(), caller).await),
        };
        if needs_rehash {
            self.upgrade_hash(&credentials, password).await;
        }
        self.start_session(
            &credentials,
            lockout.is_some().then_some(email.as_str()),
            caller,
        )
        .await
    }

    /// Seconds left on a lock, if the email is locked now.
    fn locked_for(&self, lockout: Option<&Lockout>) -> Option<i64> {
        let lockout = lockout?;
        let now = self.clock.unix();
        match lockout.locked_until {
            Some(until) if now < until => Some(until - now),
            Some(_) => None,
            // Reached the limit, but the locking write has not landed yet (a concurrent failure).
            None if lockout.failures >= self.lockout.max_failures
                && now < lockout.window_start + self.lockout.window =>
            {
                Some(self.lockout.window)
            }
            None => None,
        }
    }

    /// Counts a failure; the one that reaches the limit starts the lock.
    async fn failed(&self, email: &str, user_id: Option<&str>, caller: &Caller) -> ApiError {
        audit("login_failed", caller, user_id, None);
        let now = self.clock.unix();
        let window = self.lockout.window;
        match self.store.record_failure(email, now, window).await {
            Ok(count) if count.failures == self.lockout.max_failures => {
                if let Err(err) = self.store.lock(email, now + window, now + 2 * window).await {
                    return err.into();
                }
                audit("login_lockout_started", caller, user_id, None);
                ApiError::InvalidCredentials
            }
            Ok(_) => ApiError::InvalidCredentials,
            Err(err) => err.into(),
        }
    }

    async fn start_session(
        &self,
        credentials: &Credentials,
        clear_lockout_of: Option<&str>,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
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
        self.store
            .start_session(&session, &record, clear_lockout_of)
            .await?;
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
                    Ok(()) => tracing::info!(
                        user_id = credentials.user_id.as_str(),
                        "password hash upgraded"
                    ),
                    Err(err) => tracing::warn!(
                        error = %crate::error::chain(&err),
                        "password hash upgrade skipped"
                    ),
                }
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "password re-hash failed"),
            Err(err) => tracing::warn!(error = %err, "password re-hash failed"),
        }
    }
}
