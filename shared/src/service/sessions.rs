//! Sessions: logout (one session, by its refresh token), sign-out everywhere, and the caller's
//! own list of live sessions with ending one of them (ASVS 7.5.2).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::clock::SharedClock;
use crate::config::{Source, StoreSettings};
use crate::domain::UserId;
use crate::error::{ApiError, StoreError};
use crate::policy::sessions::is_live;
use crate::retry::{self, Tries};
use crate::runtime::InitError;
use crate::service::refresh::MAX_REFRESH_TOKEN_LEN;
use crate::service::{Caller, audit, audit_sessions_revoked};
use crate::store::{EpochChange, Store};
use crate::tokens::{RefreshToken, hash_refresh_token};

/// One live session, as its owner sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionBody {
    pub id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub user_agent: Option<String>,
    pub source_ip: Option<String>,
    /// How the login authenticated (RFC 8176).
    pub amr: Vec<String>,
    /// The session of the token making this request.
    pub current: bool,
}

/// `GET /me/sessions`: newest first.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionsBody {
    pub sessions: Vec<SessionBody>,
}

fn rfc3339(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Revokes sessions. Needs no signing key.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Store,
    clock: SharedClock,
    /// `SESSION_IDLE_SECONDS`: which sessions the list shows as live.
    idle: i64,
}

impl Sessions {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            idle: 604_800,
        }
    }

    /// The idle timeout sessions are judged by (`SESSION_IDLE_SECONDS`).
    pub fn with_idle(mut self, idle: i64) -> Self {
        self.idle = idle;
        self
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, _) = Store::connect(&StoreSettings::from_source(src)?).await;
        Ok(Self::new(store, clock).with_idle(crate::config::session_idle(src)?))
    }

    /// The caller's live sessions (one read of the profile and one query, at once).
    pub async fn list(&self, user_id: &str, current: &str) -> Result<SessionsBody, ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        let (user, all) = tokio::join!(self.store.user(&id), self.store.sessions(&id));
        let user = user?.ok_or(ApiError::UserNotFound)?;
        let now = self.clock.unix();
        let mut live: Vec<_> = all?
            .into_iter()
            .filter(|s| is_live(s, user.epoch, self.idle, now))
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(SessionsBody {
            sessions: live
                .into_iter()
                .map(|s| SessionBody {
                    current: s.id.as_str() == current,
                    id: s.id.to_string(),
                    created_at: rfc3339(s.created_at),
                    last_used_at: rfc3339(s.last_used_at),
                    expires_at: rfc3339(s.expires_at),
                    user_agent: s.user_agent,
                    source_ip: s.source_ip,
                    amr: s.amr,
                })
                .collect(),
        })
    }

    /// Ends one of the caller's own live sessions (404 `session_not_found` for any other id).
    pub async fn end(
        &self,
        user_id: &str,
        session_id: &str,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        if session_id.is_empty() || session_id.len() > 64 {
            return Err(ApiError::SessionNotFound);
        }
        let (user, session) =
            tokio::join!(self.store.user(&id), self.store.session(&id, session_id));
        let user = user?.ok_or(ApiError::UserNotFound)?;
        let now = self.clock.unix();
        match session? {
            Some(s) if is_live(&s, user.epoch, self.idle, now) => {}
            _ => return Err(ApiError::SessionNotFound),
        }
        if self.store.revoke_session(&id, session_id, now).await? {
            audit("session_ended", caller, Some(id.as_str()), Some(session_id));
            Ok(())
        } else {
            Err(ApiError::SessionNotFound)
        }
    }

    /// Ends the session of a live or already-rotated refresh token. Any other string, and a
    /// second call, succeed too: logout never tells a caller what a token was.
    pub async fn logout(&self, presented: &str, caller: &Caller) -> Result<(), ApiError> {
        if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
            return Ok(());
        }
        let Some(user) = RefreshToken::user_of(presented) else {
            return Ok(());
        };
        let Some(record) = self
            .store
            .refresh_record(&user, &hash_refresh_token(presented))
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
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
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
