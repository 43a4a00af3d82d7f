//! Refresh-token rotation with reuse detection (the rule is [`crate::policy::rotation`]).

use crate::clock::SharedClock;
use crate::config::{IssuerSettings, Source, StoreSettings};
use crate::error::ApiError;
use crate::policy::rotation::{self, Decision, RotationSettings};
use crate::retry::{self, Tries};
use crate::runtime::InitError;
use crate::service::tokens::{TokenPair, issuer, pair, sign_error};
use crate::service::{AccessChecker, Caller, audit};
use crate::store::{Horizons, RefreshRecord, RotateOutcome, Store, TokenState};
use crate::tokens::{Grants, RefreshToken, TokenIssuer, hash_refresh_token};

/// Exchanges refresh tokens (rotation with reuse detection; see the module docs).
#[derive(Debug, Clone)]
pub struct Refresher {
    store: Store,
    issuer: TokenIssuer,
    clock: SharedClock,
    settings: RotationSettings,
    /// simplejwt's verify route (`SIMPLEJWT_COMPAT`): the authorizer's check, on this store.
    access: Option<AccessChecker>,
}

/// Presented strings longer than this cannot be tokens we issued (43 characters).
pub(crate) const MAX_REFRESH_TOKEN_LEN: usize = 256;

impl Refresher {
    pub fn new(
        store: Store,
        issuer: TokenIssuer,
        clock: SharedClock,
        settings: RotationSettings,
    ) -> Self {
        Self {
            store,
            issuer,
            clock,
            settings,
            access: None,
        }
    }

    /// Answers simplejwt's verify route with `access` (the authorizer's check).
    pub fn with_access_check(mut self, access: AccessChecker) -> Self {
        self.access = Some(access);
        self
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let settings = IssuerSettings::from_source(src)?;
        let issuer = issuer(&settings, &sdk).await?;
        // simplejwt's verify route reads what the authorizer reads (the session, the profile,
        // the role stamps: this function's own `BatchGetItem` grant), through this store.
        let access = if crate::config::simplejwt_compat(src)? {
            Some(AccessChecker::from_source(src, clock.clone(), Some(store.clone())).await?)
        } else {
            None
        };
        let refresher = Self::new(store, issuer, clock, settings.rotation());
        Ok(match access {
            Some(access) => refresher.with_access_check(access),
            None => refresher,
        })
    }

    /// simplejwt's `POST /api/token/verify/`: `Ok` exactly when the authorizer would allow
    /// this access token now (whatever the route's permission); 401 `invalid_token` otherwise,
    /// and without the check (`SIMPLEJWT_COMPAT` off): it fails closed.
    pub async fn verify_access(&self, token: &str) -> Result<(), ApiError> {
        let Some(access) = &self.access else {
            return Err(ApiError::InvalidToken);
        };
        match access.check(token).await {
            Ok(_) => Ok(()),
            Err(denied) => {
                tracing::info!(reason = %denied.reason, outcome = denied.outcome, "token refused");
                Err(ApiError::InvalidToken)
            }
        }
    }

    /// One read (the token, its user and the roles catalog in one `BatchGetItem`: three keys,
    /// whatever the number of tokens the session has had) and one transaction on the happy path. The new access token carries the user's roles and
    /// permissions as they are now; a disabled or deleted user gets 401 `invalid_token`.
    pub async fn refresh(&self, presented: &str, caller: &Caller) -> Result<TokenPair, ApiError> {
        if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
            return Err(ApiError::InvalidToken);
        }
        let Some(user_id) = RefreshToken::user_of(presented) else {
            return Err(ApiError::InvalidToken);
        };
        let hash = hash_refresh_token(presented);
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            let now = self.clock.unix();
            let (record, user, catalog) = self.store.refresh_lookup(&user_id, &hash).await?;
            let Some(record) = record else {
                return Err(ApiError::InvalidToken);
            };
            let Some(user) = user.filter(|u| u.active) else {
                return Err(ApiError::InvalidToken);
            };
            match rotation::decide(&self.settings, &record, now) {
                Decision::Expired | Decision::GraceRetry => return Err(ApiError::InvalidToken),
                Decision::Reuse => return self.reused(&record, now, caller).await,
                Decision::Rotate => {}
            }
            let refresh = RefreshToken::for_user(&record.user_id);
            let next = RefreshRecord {
                token_hash: refresh.hash(),
                issued_at: now,
                state: TokenState::Active,
                ..record.clone()
            };
            let access = self
                .issuer
                .issue_for(
                    record.user_id.as_str(),
                    &Grants::of(&user.roles, &user.permissions, &catalog),
                    record.session_id.as_str(),
                    &record.amr,
                    now,
                )
                .map_err(sign_error)?;
            let horizons = Horizons {
                old: rotation::horizon(&self.settings, record.issued_at, record.session_expires_at),
                new: rotation::horizon(&self.settings, now, record.session_expires_at),
            };
            match self.store.rotate(&record, &next, now, horizons).await? {
                RotateOutcome::Rotated => {
                    audit(
                        "token_refreshed",
                        caller,
                        Some(record.user_id.as_str()),
                        Some(record.session_id.as_str()),
                    );
                    return Ok(pair(access, &refresh, &self.issuer));
                }
                // Revoked, gone, or started under credentials that have since changed.
                RotateOutcome::SessionGone => return Err(ApiError::InvalidToken),
                // Another exchange of this token won or is in flight: read again.
                RotateOutcome::AlreadyRotated | RotateOutcome::Conflict => continue,
            }
        }
        Err(ApiError::InvalidToken)
    }

    async fn reused(
        &self,
        record: &RefreshRecord,
        now: i64,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
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
