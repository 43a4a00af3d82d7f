//! Accounts: registration and password changes (the two operations that hash passwords under
//! the registration policy).

use crate::clock::SharedClock;
use crate::config::{LockoutSettings, PasswordSettings, Source, StoreSettings};
use crate::domain::{Credentials, DisplayName, Password, User, UserId};
use crate::error::{ApiError, StoreError};
use crate::mail::SecurityChange;
use crate::password::{self, PasswordHasher, Verified};
use crate::policy::lockout::Outcome;
use crate::retry::{self, Tries};
use crate::runtime::InitError;
use crate::service::notices::Notices;
use crate::service::requests::Registration;
use crate::service::throttle::Throttle;
use crate::service::{Caller, audit, audit_sessions_revoked, blocking};
use crate::store::{EpochChange, Store};

/// Registers users and changes their passwords.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
    hasher: PasswordHasher,
    clock: SharedClock,
    throttle: Throttle,
    notices: Notices,
}

impl Accounts {
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        clock: SharedClock,
        lockout: LockoutSettings,
    ) -> Self {
        let throttle = Throttle::new(store.clone(), lockout, clock.clone());
        Self {
            store,
            hasher,
            notices: Notices::off(clock.clone()),
            clock,
            throttle,
        }
    }

    /// The same, mailing a notice when a password changes.
    pub fn with_notices(self, notices: Notices) -> Self {
        Self { notices, ..self }
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, _) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        let lockout = crate::config::lockout_settings(src)?;
        Ok(Self::new(store, hasher, clock, lockout))
    }

    async fn hash(&self, password: Password) -> Result<String, ApiError> {
        let hasher = self.hasher.clone();
        blocking(move || hasher.hash(&password))
            .await?
            .map_err(|e| ApiError::Internal(Box::new(e)))
    }

    /// Checks the password policy and hashes: the new user and its credentials, not yet written.
    pub(crate) async fn prepare(
        &self,
        input: Registration,
    ) -> Result<(User, Credentials), ApiError> {
        password::check_policy(
            &input.password,
            &input.email,
            input.name.as_ref().map(DisplayName::as_str),
        )
        .map_err(ApiError::WeakPassword)?;
        let password_hash = self.hash(input.password).await?;
        let now = self.clock.now();
        let user = User {
            id: UserId::random(),
            email: input.email,
            name: input.name,
            // No role until one is granted.
            roles: Vec::new(),
            created_at: now.replace_nanosecond(0).unwrap_or(now),
            epoch: 0,
            email_verified: false,
            active: true,
            last_login_at: None,
            username: None,
            permissions: Vec::new(),
        };
        let credentials = Credentials {
            email: user.email.clone(),
            user_id: user.id.clone(),
            password_hash,
            roles: user.roles.clone(),
            epoch: user.epoch,
            mfa: false,
            active: true,
            permissions: Vec::new(),
        };
        Ok((user, credentials))
    }

    /// The check of a signed-in user's current password, reserved like a login's: 429 when
    /// the email is locked, 403 (counted) when wrong; the credentials that matched otherwise,
    /// with the check's reservation given back (a right password never resets the count: it
    /// is no second factor). `events` are the audit events of a lock and of a wrong password.
    pub(crate) async fn check_current_password(
        &self,
        user: &User,
        current: Password,
        caller: &Caller,
        events: CheckEvents,
    ) -> Result<Credentials, ApiError> {
        let id = user.id.as_str();
        let email = user.email.as_str();
        let (credentials, reserved) =
            tokio::join!(self.store.credentials(email), self.throttle.reserve(email));
        let ticket = match reserved? {
            Ok(ticket) => ticket,
            Err(refused) => return Err(refused.answer(events.locked_out, caller, Some(id))),
        };
        let credentials = match credentials {
            Ok(Some(credentials)) => credentials,
            other => {
                self.throttle.settle(ticket, Outcome::GiveBack).await;
                return Err(other.map_or_else(ApiError::from, |_| ApiError::UserNotFound));
            }
        };
        let hasher = self.hasher.clone();
        let stored = credentials.password_hash.clone();
        let verified = blocking(move || hasher.verify(&current, &stored)).await;
        let outcome = match verified {
            Ok(Verified::Mismatch) => Outcome::Wrong,
            Ok(Verified::Match { .. }) | Err(_) => Outcome::GiveBack,
        };
        self.throttle.settle(ticket, outcome).await;
        if verified? == Verified::Mismatch {
            audit(events.failed, caller, Some(id), None);
            return Err(ApiError::WrongCurrentPassword);
        }
        Ok(credentials)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// A password change, in the order that reveals nothing: the new password is judged first
    /// (400 `weak_password` says nothing about the current one), then the check of the current
    /// password is reserved like a login's (429 when the email is locked), then checked (403,
    /// counted; a right one gives its reservation back), and the new hash and the next
    /// credentials epoch are written in one transaction that holds only if nothing changed
    /// since the check. The new
    /// epoch ends every session of the user at once, including logins racing this change.
    pub async fn change_password(
        &self,
        user_id: &str,
        current: Password,
        new: Password,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        let user = self.store.user(&id).await?.ok_or(ApiError::UserNotFound)?;
        password::check_policy(
            &new,
            &user.email,
            user.name.as_ref().map(DisplayName::as_str),
        )
        .map_err(ApiError::WeakPassword)?;
        let credentials = self
            .check_current_password(&user, current, caller, PASSWORD_CHANGE_EVENTS)
            .await?;
        let new_hash = self.hash(new).await?;
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            match self.store.change_password(&credentials, &new_hash).await? {
                EpochChange::Advanced { epoch } => {
                    audit("password_changed", caller, Some(id.as_str()), None);
                    audit_sessions_revoked(caller, id.as_str(), epoch);
                    self.notices
                        .send(
                            SecurityChange::PasswordChanged,
                            user.email.as_str(),
                            id.as_str(),
                            caller,
                        )
                        .await;
                    return Ok(());
                }
                // Changed by a concurrent request since we verified: the current password is stale.
                EpochChange::Stale => return Err(ApiError::WrongCurrentPassword),
                EpochChange::Conflict => continue,
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }
}

/// The audit events of one kind of current-password check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckEvents {
    pub locked_out: &'static str,
    pub failed: &'static str,
}

const PASSWORD_CHANGE_EVENTS: CheckEvents = CheckEvents {
    locked_out: "password_change_locked_out",
    failed: "password_change_failed",
};
