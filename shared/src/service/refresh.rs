//! Refresh-token rotation with reuse detection (the state machine is in the module docs above).

use crate::clock::SharedClock;
use crate::config::{IssuerSettings, Source, StoreSettings};
use crate::error::{ApiError, StoreError};
use crate::runtime::InitError;
use crate::service::tokens::{TokenPair, issuer, pair, sign_error};
use crate::service::{Caller, audit};
use crate::store::{RefreshRecord, Store, TokenState};
use crate::tokens::{RefreshToken, TokenIssuer, hash_refresh_token};

/// Exchanges refresh tokens (rotation with reuse detection; see the module docs).
#[derive(Debug, Clone)]
pub struct Refresher {
    store: Store,
    issuer: TokenIssuer,
    clock: SharedClock,
    reuse_grace: i64,
}

/// Presented strings longer than this cannot be tokens we issued (43 characters).
pub(crate) const MAX_REFRESH_TOKEN_LEN: usize = 256;
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
