//! Which sessions are live, and which ones a login beyond `MAX_SESSIONS_PER_USER` ends.
//!
//! A session is live while it is not revoked, has not reached its absolute end, has been used
//! within `SESSION_IDLE_SECONDS`, and was started under the user's current credentials epoch
//! (a password change or sign-out everywhere moves the epoch on, ending every session at once).
//!
//! A session that has ended for good ([`has_ended`]) is cleanup: the login that next reads the
//! user's sessions deletes it, so what that read (and the sessions list) finds stays bounded by
//! the cap, not by the account's history.

use crate::records::Session;

/// Whether a session may still be used at `now`, given the user's current epoch.
pub fn is_live(session: &Session, current_epoch: i64, idle: i64, now: i64) -> bool {
    session.revoked_at.is_none()
        && now < session.expires_at
        && now - session.last_used_at < idle
        && session.epoch == current_epoch
}

/// Whether a session can never be live again, judged against an epoch read at or before `now`:
/// revoked, past its absolute end, idle too long, or started under an older epoch. (A session
/// of a *newer* epoch than the one read was carried over by a change that landed since: not
/// ended.) Deleting such a session changes nothing a caller can observe.
pub fn has_ended(session: &Session, current_epoch: i64, idle: i64, now: i64) -> bool {
    session.revoked_at.is_some()
        || now >= session.expires_at
        || now - session.last_used_at >= idle
        || session.epoch < current_epoch
}

/// The live sessions to end so that at most `max` remain: the oldest ones (by start time, then
/// id, so every concurrent login picks the same ones).
pub fn beyond_cap<'a>(live: &[&'a Session], max: usize) -> Vec<&'a Session> {
    if live.len() <= max {
        return Vec::new();
    }
    let mut ordered = live.to_vec();
    ordered.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
    ordered.truncate(live.len() - max);
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SessionId, UserId};

    fn session(created_at: i64) -> Session {
        Session {
            id: SessionId::random(),
            user_id: UserId::random(),
            created_at,
            expires_at: created_at + 1000,
            last_used_at: created_at,
            epoch: 2,
            revoked_at: None,
            amr: vec!["pwd".into()],
            active_token: None,
            user_agent: None,
            source_ip: None,
        }
    }

    #[test]
    fn live_means_unrevoked_unexpired_recently_used_and_current_epoch() {
        let s = session(100);
        assert!(is_live(&s, 2, 50, 149));
        assert!(!is_live(&s, 2, 50, 150), "idle");
        assert!(!is_live(&s, 3, 50, 120), "epoch moved on");
        assert!(!is_live(&s, 2, 5000, 1100), "absolute end");
        let revoked = Session {
            revoked_at: Some(120),
            ..s
        };
        assert!(!is_live(&revoked, 2, 50, 121));
    }

    #[test]
    fn ended_means_never_live_again_and_a_newer_epoch_is_not_ended() {
        let s = session(100);
        assert!(!has_ended(&s, 2, 50, 149));
        assert!(has_ended(&s, 2, 50, 150), "idle");
        assert!(has_ended(&s, 3, 50, 120), "epoch moved on");
        assert!(has_ended(&s, 2, 5000, 1100), "absolute end");
        let revoked = Session {
            revoked_at: Some(120),
            ..s.clone()
        };
        assert!(has_ended(&revoked, 2, 50, 121));
        // Carried over to epoch 2 by a change the reader (epoch 1) has not seen: neither
        // live for that reader nor ended.
        assert!(!is_live(&s, 1, 50, 120));
        assert!(!has_ended(&s, 1, 50, 120));
        // Whatever is live has not ended.
        for now in [100, 120, 149, 150, 1100] {
            for epoch in [1, 2, 3] {
                assert!(!(is_live(&s, epoch, 50, now) && has_ended(&s, epoch, 50, now)));
            }
        }
    }

    #[test]
    fn the_oldest_beyond_the_cap_are_ended() {
        let sessions: Vec<Session> = [50, 10, 40, 20, 30].into_iter().map(session).collect();
        let live: Vec<&Session> = sessions.iter().collect();
        let ended: Vec<i64> = beyond_cap(&live, 3).iter().map(|s| s.created_at).collect();
        assert_eq!(ended, [10, 20]);
        assert!(beyond_cap(&live, 5).is_empty());
    }
}
