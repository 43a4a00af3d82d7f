//! What happens to a presented refresh token, as a pure function of its stored record and `now`.
//!
//! ```text
//! login ──▶ Active ──(presented, transaction wins)──▶ Rotated      (a new Active token is issued)
//!             │                                         │
//!             │ session ended, epoch moved on,          │ presented again (reuse)
//!             │ absolute end, or idle too long          ▼
//!             ▼                                first time: revoke the session → token_reused
//!        invalid_token                         afterwards (session revoked)   → invalid_token
//!                                              within REFRESH_REUSE_GRACE_SECONDS → invalid_token,
//!                                                                                nothing revoked
//! ```
//!
//! The exchange itself is one `TransactWriteItems` (see `Store::rotate`): it holds only while the
//! old token is active, the session is live, and the user's credentials epoch is still the one
//! the session was started with.

use crate::store::{RefreshRecord, TokenState};

/// How long a refresh session may live and idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationSettings {
    /// `REFRESH_REUSE_GRACE_SECONDS`: a rotated token presented again within this many seconds
    /// is refused without revoking the session (0: never).
    pub reuse_grace: i64,
    /// `SESSION_IDLE_SECONDS`: an active token not exchanged for this long is dead.
    pub idle: i64,
}

/// What to do with a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Exchange it for a new one (conditionally: another exchange may win).
    Rotate,
    /// Dead (the session's absolute end, or idle too long): `invalid_token`, nothing changes.
    Expired,
    /// A rotated token presented again within the grace period: `invalid_token`, nothing changes.
    GraceRetry,
    /// A rotated token presented again: revoke the session.
    Reuse,
}

pub fn decide(settings: &RotationSettings, record: &RefreshRecord, now: i64) -> Decision {
    if now >= record.session_expires_at {
        return Decision::Expired;
    }
    match record.state {
        TokenState::Active if now - record.issued_at >= settings.idle => Decision::Expired,
        TokenState::Active => Decision::Rotate,
        TokenState::Rotated { at }
            if settings.reuse_grace > 0 && now - at <= settings.reuse_grace =>
        {
            Decision::GraceRetry
        }
        TokenState::Rotated { .. } => Decision::Reuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SessionId, UserId};

    fn record(issued_at: i64, state: TokenState) -> RefreshRecord {
        RefreshRecord {
            token_hash: "h".into(),
            user_id: UserId::random(),
            session_id: SessionId::random(),
            session_expires_at: 10_000,
            issued_at,
            epoch: 0,
            state,
            amr: vec!["pwd".into()],
        }
    }

    const S: RotationSettings = RotationSettings {
        reuse_grace: 0,
        idle: 100,
    };

    #[test]
    fn active_tokens_rotate_until_idle_or_the_absolute_end() {
        let r = record(1000, TokenState::Active);
        assert_eq!(decide(&S, &r, 1000), Decision::Rotate);
        assert_eq!(decide(&S, &r, 1099), Decision::Rotate);
        assert_eq!(decide(&S, &r, 1100), Decision::Expired);
        let late = record(9_990, TokenState::Active);
        assert_eq!(decide(&S, &late, 9_999), Decision::Rotate);
        assert_eq!(decide(&S, &late, 10_000), Decision::Expired);
    }

    #[test]
    fn rotated_tokens_are_reuse_except_within_the_grace() {
        let r = record(1000, TokenState::Rotated { at: 1010 });
        assert_eq!(decide(&S, &r, 1011), Decision::Reuse);
        // Idle does not excuse reuse: an old stolen token presented late still revokes.
        assert_eq!(decide(&S, &r, 5000), Decision::Reuse);
        let graceful = RotationSettings {
            reuse_grace: 5,
            idle: 100,
        };
        assert_eq!(decide(&graceful, &r, 1015), Decision::GraceRetry);
        assert_eq!(decide(&graceful, &r, 1016), Decision::Reuse);
        assert_eq!(decide(&graceful, &r, 10_000), Decision::Expired);
    }
}
