//! Ending sessions: logout (one session, by its refresh token) and sign-out everywhere.

use crate::clock::SharedClock;
use crate::config::{Source, StoreSettings};
use crate::domain::UserId;
use crate::error::{ApiError, StoreError};
use crate::runtime::InitError;
use crate::service::accounts::EPOCH_ATTEMPTS;
use crate::service::refresh::MAX_REFRESH_TOKEN_LEN;
use crate::service::{Caller, audit, audit_sessions_revoked};
use crate::store::{EpochChange, Store};
use crate::tokens::hash_refresh_token;

/// Revokes sessions. Needs no signing key.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Store,
    clock: SharedClock,
}

impl Sessions {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, _) = Store::connect(&StoreSettings::from_source(src)?).await;
        Ok(Self::new(store, clock))
    }

    /// Ends the session of a live or already-rotated refresh token. Any other string, and a
    /// second call, succeed too: logout never tells a caller what a token was.
    pub async fn logout(&self, presented: &str, caller: &Caller) -> Result<(), ApiError> {
        if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
            return Ok(());
        }
        let Some(record) = self
            .store
            .refresh_record(&hash_refresh_token(presented))
            .await?
        else {
            return Ok(());
        };
        let now = self.clock.unix();
        if self
            .store
            .revoke_session(&record.user_id, record.session_id.as_str(), now)
            .await?
        {
            audit(
                "logout",
                caller,
                Some(record.user_id.as_str()),
                Some(record.session_id.as_str()),
            );
        }
        Ok(())
    }

    /// Ends every session of the user (sign out everywhere): the credentials epoch moves on
    /// in one write, whatever the number of sessions; the session items become cleanup.
    pub async fn revoke_all(&self, user_id: &str, caller: &Caller) -> Result<(), ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        for _ in 0..EPOCH_ATTEMPTS {
            let user = self.store.user(&id).await?.ok_or(ApiError::UserNotFound)?;
            match self.store.advance_epoch(&user).await? {
                EpochChange::Advanced { epoch } => {
                    audit_sessions_revoked(caller, id.as_str(), epoch);
                    return Ok(());
                }
                // Another change moved the epoch on meanwhile: read it again and move it on.
                EpochChange::Stale | EpochChange::Conflict => continue,
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }
}
