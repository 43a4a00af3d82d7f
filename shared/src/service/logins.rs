//! Login: a reserved password check (see [`crate::policy::lockout`]), the start of a refresh
//! session tied to the credentials epoch that was checked, and the per-user session cap.

use crate::clock::SharedClock;
use crate::config::{IssuerSettings, LockoutSettings, PasswordSettings, Source, StoreSettings};
use crate::domain::{Credentials, Email, Password, SessionId, Username};
use crate::error::ApiError;
use crate::password::{PasswordHasher, Verified};
use crate::policy::lockout::Outcome;
use crate::policy::sessions;
use crate::policy::totp;
use crate::retry::{self, Tries};
use crate::runtime::InitError;
use crate::service::LoginName;
use crate::service::throttle::Throttle;
use crate::service::tokens::{TokenPair, issuer, pair, sign_error};
use crate::service::{Caller, audit, blocking};
use crate::store::keys::{self, password_amr};
use crate::store::{
    Challenge, HashUpgrade, RefreshRecord, SecondFactor, Session, StartOutcome, Store, TokenState,
};
use crate::tokens::{Grants, RefreshToken, TokenIssuer};

/// Attempts of the session transaction when another transaction holds one of its items (the
/// profile's `last_login_at`, written by a login of the same user at the same moment).
const START_ATTEMPTS: u32 = 4;

/// Logs users in.
#[derive(Debug, Clone)]
pub struct Logins {
    store: Store,
    hasher: PasswordHasher,
    issuer: TokenIssuer,
    clock: SharedClock,
    throttle: Throttle,
    settings: IssuerSettings,
    /// `REQUIRE_VERIFIED_EMAIL`.
    require_verified: bool,
}

impl Logins {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        clock: SharedClock,
        settings: IssuerSettings,
        lockout: LockoutSettings,
    ) -> Self {
        let throttle = Throttle::new(store.clone(), lockout, clock.clone());
        Self {
            store,
            hasher,
            issuer,
            clock,
            throttle,
            settings,
            require_verified: false,
        }
    }

    /// Refuse a right password for an address nobody verified (403 `email_not_verified`).
    pub fn require_verified_email(mut self, require: bool) -> Self {
        self.require_verified = require;
        self
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        let settings = IssuerSettings::from_source(src)?;
        let issuer = issuer(&settings, &sdk).await?;
        let lockout = crate::config::lockout_settings(src)?;
        Ok(Self::new(store, hasher, issuer, clock, settings, lockout)
            .require_verified_email(crate::config::require_verified_email(src)?))
    }

    /// The credentials read and the reservation of the password check run at once (two
    /// requests, one round trip); the check runs only once the reservation is written. Then
    /// one transaction starts the session (only while the credentials epoch is the one that
    /// was read), one query enforces the session cap, and the reservation is resolved: a
    /// wrong password is a failure; a login complete with the password alone clears the
    /// email's failures; any other end of a right password (a second factor due, a disabled
    /// account, an unverified address, a race lost) gives back only its own reservation.
    ///
    /// An unknown email costs one dummy Argon2id verification and is reserved like a known
    /// one, so neither the answer, nor its time, nor the lockout tells whether an account exists.
    pub async fn login(
        &self,
        email: &str,
        password: Password,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        self.login_as(&LoginName::Email(email.to_owned()), password, caller)
            .await
    }

    /// [`Logins::login`] by an email or a username. A known username (compared without case)
    /// logs in exactly as its account's email would: the same reservation (so failures through
    /// either name count together), the same answers. An unknown one is reserved under a key of
    /// its own and costs the same dummy verification as an unknown email, so neither the
    /// answer, nor its time, nor the lockout tells whether the name exists. The stand-in
    /// address of an account without an email ([`Email::unreachable`]) names no account.
    pub async fn login_as(
        &self,
        name: &LoginName,
        password: Password,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        // The key of the reservation, the address whose credentials to read, and the user
        // they must belong to (a username's).
        let (lock, account, owner) = match name {
            LoginName::Email(raw) => {
                let email = Email::normalise(raw);
                let reachable = !Email::from_stored(email.clone()).is_unreachable();
                (email.clone(), reachable.then_some(email), None)
            }
            LoginName::Username(raw) => {
                let key = Username::normalise(raw);
                match self.store.username(&key).await? {
                    Some(alias) => {
                        let email = alias.email.as_str().to_owned();
                        (email.clone(), Some(email), Some(alias.user_id))
                    }
                    None => (keys::username_lockout_name(&key), None, None),
                }
            }
        };
        let lookup = async {
            match &account {
                Some(email) => self.store.credentials(email).await.map(|found| {
                    // An email change that moved the name's account since the alias was read:
                    // whoever holds the old address now is not this name's account.
                    found.filter(|c| owner.as_ref().is_none_or(|id| *id == c.user_id))
                }),
                None => Ok(None),
            }
        };
        // The roles catalog is read in the same round trip: the token needs the permissions
        // of the roles the credentials name.
        let (credentials, reserved, catalog) =
            tokio::join!(lookup, self.throttle.reserve(&lock), self.store.catalog());
        let user_id = match &credentials {
            Ok(c) => c.as_ref().map(|c| c.user_id.as_str().to_owned()),
            Err(_) => None,
        };
        let ticket = match reserved? {
            Ok(ticket) => ticket,
            Err(refused) => {
                return Err(refused.answer("login_locked_out", caller, user_id.as_deref()));
            }
        };
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(err) => {
                self.throttle.settle(ticket, Outcome::GiveBack).await;
                return Err(err.into());
            }
        };

        let hasher = self.hasher.clone();
        let stored = credentials.as_ref().map(|c| c.password_hash.clone());
        // A password longer than any we accept cannot match; it costs the same dummy work.
        let plausible = password.chars() <= Password::MAX_CHARS;
        let checked = blocking(move || {
            let verified = match stored {
                Some(stored) if plausible => {
                    let verified = hasher.verify(&password, &stored);
                    // A hash made with cheaper, older parameters must not answer faster than
                    // an unknown email does: pay the difference.
                    if verified == Verified::Mismatch && !hasher.is_current_hash(&stored) {
                        hasher.verify_dummy(&password);
                    }
                    verified
                }
                _ => {
                    hasher.verify_dummy(&password);
                    Verified::Mismatch
                }
            };
            (verified, password)
        })
        .await;
        let (verified, password) = match checked {
            Ok(checked) => checked,
            Err(err) => {
                self.throttle.settle(ticket, Outcome::GiveBack).await;
                return Err(err);
            }
        };
        let (credentials, needs_rehash) = match (verified, credentials) {
            (Verified::Match { needs_rehash }, Some(credentials)) => (credentials, needs_rehash),
            _ => {
                let settled = self.throttle.settle(ticket, Outcome::Wrong).await;
                audit("login_failed", caller, user_id.as_deref(), None);
                if settled.lock_started {
                    audit("login_lockout_started", caller, user_id.as_deref(), None);
                }
                return Err(ApiError::InvalidCredentials);
            }
        };
        let result = self
            .after_right_password(&credentials, needs_rehash, password, catalog, caller)
            .await;
        if result.is_err() {
            self.throttle.settle(ticket, Outcome::GiveBack).await;
            return result;
        }
        // A session started with the password alone: a complete authentication. The counter's
        // write and the session cap's query run side by side (no round trip added).
        tokio::join!(
            self.throttle.settle(ticket, Outcome::Complete),
            self.enforce_session_cap(&credentials, caller)
        );
        result
    }

    /// What follows a right password: the account's state, the hash's upgrade, then a
    /// challenge (two-factor on) or the session (the caller enforces the session cap).
    async fn after_right_password(
        &self,
        credentials: &Credentials,
        needs_rehash: bool,
        password: Password,
        catalog: Result<crate::policy::roles::Catalog, crate::error::StoreError>,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        let user_id = Some(credentials.user_id.as_str());
        if !credentials.active {
            // Only now, after the right password: the answer tells nothing to anyone else.
            audit("login_account_disabled", caller, user_id, None);
            return Err(ApiError::AccountDisabled);
        }
        if self.require_verified {
            // Only now, after the right password: the answer tells nothing to anyone else.
            let verified = self
                .store
                .user(&credentials.user_id)
                .await?
                .is_some_and(|user| user.email_verified);
            if !verified {
                audit("login_unverified_email", caller, user_id, None);
                return Err(ApiError::EmailNotVerified);
            }
        }
        if needs_rehash && !self.upgrade_hash(credentials, password).await {
            // The hash changed since it was verified: a password change won the race.
            return Err(ApiError::InvalidCredentials);
        }
        if credentials.mfa {
            return Err(self.challenge(credentials, caller).await?);
        }
        let grants = Grants::of(&credentials.roles, &credentials.permissions, &catalog?);
        self.start_session(credentials, &grants, &password_amr(), None, caller)
            .await
    }

    /// The right password for an account with two-factor on: no session yet, but a
    /// single-use challenge (its token answered in the 401), bound to this login (the user
    /// and the credentials epoch checked). The password check's reservation is given back
    /// (the email's failures stay: only the second factor clears them); each code tried
    /// against the challenge is reserved like a password.
    async fn challenge(
        &self,
        credentials: &Credentials,
        caller: &Caller,
    ) -> Result<ApiError, ApiError> {
        let token = RefreshToken::generate();
        let challenge = Challenge {
            token_hash: token.hash(),
            user_id: credentials.user_id.clone(),
            email: credentials.email.as_str().to_owned(),
            epoch: credentials.epoch,
            expires_at: self.clock.unix() + totp::CHALLENGE_TTL,
            failures: 0,
        };
        self.store.create_challenge(&challenge).await?;
        audit(
            "mfa_challenge_issued",
            caller,
            Some(credentials.user_id.as_str()),
            None,
        );
        Ok(ApiError::MfaRequired {
            mfa_token: token.expose().to_owned(),
        })
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// After a second factor: the session starts (spending the factor in the same
    /// transaction) and the session cap is enforced.
    pub(crate) async fn finish_with_factor(
        &self,
        credentials: &Credentials,
        amr: &[String],
        factor: &SecondFactor<'_>,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        let catalog = self.store.catalog().await?;
        let pair = self
            .start_session(
                credentials,
                &Grants::of(&credentials.roles, &credentials.permissions, &catalog),
                amr,
                Some(factor),
                caller,
            )
            .await?;
        self.enforce_session_cap(credentials, caller).await;
        Ok(pair)
    }

    async fn start_session(
        &self,
        credentials: &Credentials,
        grants: &Grants,
        amr: &[String],
        factor: Option<&SecondFactor<'_>>,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        let now = self.clock.unix();
        let session = Session {
            id: SessionId::random(),
            user_id: credentials.user_id.clone(),
            created_at: now,
            expires_at: now + self.settings.session_ttl,
            last_used_at: now,
            epoch: credentials.epoch,
            revoked_at: None,
            amr: amr.to_vec(),
            active_token: None,
            user_agent: caller.user_agent.clone(),
            source_ip: caller.source_ip.clone(),
        };
        let refresh = RefreshToken::for_user(&session.user_id);
        let record = RefreshRecord {
            token_hash: refresh.hash(),
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
            session_expires_at: session.expires_at,
            issued_at: now,
            epoch: session.epoch,
            state: TokenState::Active,
            amr: amr.to_vec(),
        };
        let session = Session {
            active_token: Some(record.token_hash.clone()),
            ..session
        };
        let access = self
            .issuer
            .issue_for(
                session.user_id.as_str(),
                grants,
                session.id.as_str(),
                amr,
                now,
            )
            .map_err(sign_error)?;
        let mut outcome = StartOutcome::Conflict;
        let mut tries = Tries::new(retry::CONTENDED.times(START_ATTEMPTS));
        while tries.next().await {
            outcome = self.store.start_session(&session, &record, factor).await?;
            if outcome != StartOutcome::Conflict {
                break;
            }
        }
        match outcome {
            StartOutcome::Started => {}
            StartOutcome::CredentialsChanged => {
                audit(
                    "login_stale_credentials",
                    caller,
                    Some(session.user_id.as_str()),
                    None,
                );
                // The password was right for the credentials it was checked against (a change,
                // a disable or a reset won the race): the caller gives the reservation back.
                return Err(ApiError::InvalidCredentials);
            }
            StartOutcome::FactorSpent => {
                audit(
                    "mfa_challenge_failed",
                    caller,
                    Some(session.user_id.as_str()),
                    None,
                );
                return Err(ApiError::InvalidCode);
            }
            StartOutcome::Conflict => {
                return Err(ApiError::ServiceUnavailable(
                    crate::error::StoreError::Conflict,
                ));
            }
        }
        audit(
            "login_succeeded",
            caller,
            Some(session.user_id.as_str()),
            Some(session.id.as_str()),
        );
        Ok(pair(access, &refresh, &self.issuer))
    }

    /// Ends the oldest live sessions beyond `MAX_SESSIONS_PER_USER` (the new one included, so
    /// concurrent logins all trim to the same newest ones). Best effort: the login has already
    /// succeeded; a failure is logged and the next login trims again. Of concurrent logins
    /// trimming the same session, only the one whose conditional revoke ended it logs
    /// `session_evicted` (with its request's id and source IP).
    async fn enforce_session_cap(&self, credentials: &Credentials, caller: &Caller) {
        let now = self.clock.unix();
        let all = match self
            .store
            .prune_sessions(
                &credentials.user_id,
                credentials.epoch,
                self.settings.session_idle,
                now,
            )
            .await
        {
            Ok(all) => all,
            Err(err) => {
                tracing::warn!(error = %crate::error::chain(&err), "session cap not enforced");
                return;
            }
        };
        let live: Vec<&Session> = all
            .iter()
            .filter(|s| sessions::is_live(s, credentials.epoch, self.settings.session_idle, now))
            .collect();
        for session in sessions::beyond_cap(&live, self.settings.max_sessions_per_user) {
            match self
                .store
                .revoke_session(&session.user_id, session.id.as_str(), now)
                .await
            {
                Ok(true) => audit(
                    "session_evicted",
                    caller,
                    Some(session.user_id.as_str()),
                    Some(session.id.as_str()),
                ),
                // Another login (or a logout) ended it first, and said so.
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %crate::error::chain(&err), "session cap not enforced");
                    return;
                }
            }
        }
    }

    /// Re-hashes with the configured parameters. `false` when the stored hash changed since it
    /// was verified (a concurrent password change: this login must not start a session). Any
    /// other failure leaves the old hash, which still verifies, to be upgraded next time.
    async fn upgrade_hash(&self, credentials: &Credentials, password: Password) -> bool {
        let hasher = self.hasher.clone();
        let new_hash = match blocking(move || hasher.hash(&password)).await {
            Ok(Ok(new_hash)) => new_hash,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "password re-hash failed");
                return true;
            }
            Err(err) => {
                tracing::warn!(error = %err, "password re-hash failed");
                return true;
            }
        };
        match self
            .store
            .upgrade_password_hash(
                credentials.email.as_str(),
                &credentials.password_hash,
                &new_hash,
            )
            .await
        {
            Ok(HashUpgrade::Upgraded) => {
                tracing::info!(
                    user_id = credentials.user_id.as_str(),
                    "password hash upgraded"
                );
                true
            }
            Ok(HashUpgrade::Stale) => false,
            Err(err) => {
                tracing::warn!(error = %crate::error::chain(&err), "password hash upgrade skipped");
                true
            }
        }
    }
}

impl crate::service::guard::HasStore for Logins {
    fn store(&self) -> &Store {
        &self.store
    }
}
