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
//!                                              past its horizon → invalid_token, nothing revoked
//! ```
//!
//! The exchange itself is one `TransactWriteItems` (see `Store::rotate`): it holds only while the
//! old token is active, the session is live, and the user's credentials epoch is still the one
//! the session was started with.
//!
//! Every token has a [`horizon`]: `SESSION_IDLE_SECONDS` after it was issued, at most the
//! session's absolute end. Before it, an active token may be exchanged and a rotated one
//! presented again is reuse; from it on, either is `invalid_token`, exactly what that token
//! would have got had it never been exchanged (so whoever still holds it, the client or a
//! thief, must log in again either way). The horizon is also the token item's `ttl` (set when
//! the exchange writes it, and on the exchanged one), so the items a session leaves behind are
//! those of the last `SESSION_IDLE_SECONDS`, not of its whole life.

use crate::records::{RefreshRecord, TokenState};

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

/// When a token issued at `issued_at` in a session ending at `session_expires_at` stops
/// mattering: from then on it is `invalid_token` whatever its state, and its item may go.
pub fn horizon(settings: &RotationSettings, issued_at: i64, session_expires_at: i64) -> i64 {
    issued_at
        .saturating_add(settings.idle)
        .min(session_expires_at)
}

pub fn decide(settings: &RotationSettings, record: &RefreshRecord, now: i64) -> Decision {
    if now >= horizon(settings, record.issued_at, record.session_expires_at) {
        return Decision::Expired;
    }
    match record.state {
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
    fn rotated_tokens_are_reuse_until_their_horizon_except_within_the_grace() {
        let r = record(1000, TokenState::Rotated { at: 1010 });
        assert_eq!(decide(&S, &r, 1011), Decision::Reuse);
        // Reuse is detected for as long as the token could have been exchanged had it not
        // been: until idle after its issue...
        assert_eq!(decide(&S, &r, 1099), Decision::Reuse);
        // ...and from then on it is as dead as an unused token of that age.
        assert_eq!(decide(&S, &r, 1100), Decision::Expired);
        assert_eq!(
            decide(&S, &record(1000, TokenState::Active), 1100),
            Decision::Expired
        );
        let graceful = RotationSettings {
            reuse_grace: 5,
            idle: 100,
        };
        assert_eq!(decide(&graceful, &r, 1015), Decision::GraceRetry);
        assert_eq!(decide(&graceful, &r, 1016), Decision::Reuse);
        assert_eq!(decide(&graceful, &r, 10_000), Decision::Expired);
    }

    #[test]
    fn the_horizon_is_idle_after_issue_at_most_the_session_end() {
        assert_eq!(horizon(&S, 1000, 10_000), 1100);
        assert_eq!(horizon(&S, 9_950, 10_000), 10_000);
        assert_eq!(horizon(&S, i64::MAX - 1, i64::MAX), i64::MAX);
        // A token presented at its horizon is refused in either state: the item's ttl
        // (the horizon) never outlives what the rule accepts.
        for state in [TokenState::Active, TokenState::Rotated { at: 1001 }] {
            let r = record(1000, state);
            let h = horizon(&S, r.issued_at, r.session_expires_at);
            assert_ne!(decide(&S, &r, h - 1), Decision::Expired);
            assert_eq!(decide(&S, &r, h), Decision::Expired);
        }
    }
}
