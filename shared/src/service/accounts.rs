//! Accounts: registration and password changes (the two operations that hash passwords under
//! the registration policy).

use crate::clock::SharedClock;
use crate::config::{PasswordSettings, Source, StoreSettings};
use crate::domain::{Credentials, DEFAULT_ROLE, DisplayName, Password, User, UserId};
use crate::error::{ApiError, StoreError};
use crate::password::{self, PasswordHasher, Verified};
use crate::runtime::InitError;
use crate::service::requests::Registration;
use crate::service::{Caller, audit, audit_sessions_revoked, blocking};
use crate::store::Store;

/// Registers users and changes their passwords.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
    hasher: PasswordHasher,
    clock: SharedClock,
}

impl Accounts {
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

    async fn hash(&self, password: Password) -> Result<String, ApiError> {
        let hasher = self.hasher.clone();
        blocking(move || hasher.hash(&password))
            .await?
            .map_err(|e| ApiError::Internal(Box::new(e)))
    }

    /// Checks the password policy, hashes, and writes the user and its email atomically.
    pub async fn register(&self, input: Registration, caller: &Caller) -> Result<User, ApiError> {
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
            roles: vec![DEFAULT_ROLE.to_owned()],
            created_at: now.replace_nanosecond(0).unwrap_or(now),
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

    /// Verifies the current password (a wrong one is 403 and does not count toward lockout),
    /// applies the registration policy to the new one, replaces the hash only if it is still
    /// the verified one, then revokes every refresh session of the user.
    pub async fn change_password(
        &self,
        user_id: &str,
        current: Password,
        new: Password,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        let user = self.store.user(&id).await?.ok_or(ApiError::UserNotFound)?;
        let credentials = self
            .store
            .credentials(user.email.as_str())
            .await?
            .ok_or(ApiError::UserNotFound)?;
        let hasher = self.hasher.clone();
        let stored = credentials.password_hash.clone();
        if blocking(move || hasher.verify(&current, &stored)).await? == Verified::Mismatch {
            audit("password_change_failed", caller, Some(id.as_str()), None);
            return Err(ApiError::WrongCurrentPassword);
        }
        password::check_policy(
            &new,
            &user.email,
            user.name.as_ref().map(DisplayName::as_str),
        )
        .map_err(ApiError::WeakPassword)?;
        let new_hash = self.hash(new).await?;
        match self
            .store
            .replace_password_hash(user.email.as_str(), &credentials.password_hash, &new_hash)
            .await
        {
            Ok(()) => {}
            // Changed by a concurrent request since we verified: the current password is stale.
            Err(StoreError::ConditionFailed { .. }) => return Err(ApiError::WrongCurrentPassword),
            Err(err) => return Err(err.into()),
        }
        let revoked = self
            .store
            .revoke_all_sessions(&id, self.clock.unix())
            .await?;
        audit("password_changed", caller, Some(id.as_str()), None);
        audit_sessions_revoked(caller, id.as_str(), revoked);
        Ok(())
    }
}
