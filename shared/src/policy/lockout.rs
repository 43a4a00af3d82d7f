//! Throttling of password checks per normalised email (whether or not an account has it), as
//! a pure state machine. Every password check is *reserved* before it runs: the reservation is
//! one conditional write of the state [`reserve`] computes, so of any burst of parallel
//! attempts at most `max_failures` reach a password check in one window, whatever the burst.
//!
//! ```text
//! no counter, or window over, not locked ──reserve──▶ attempts = 1, window_start = now
//! attempts < max within the window ────────reserve──▶ attempts + 1
//!                                                      (the one reaching max also sets
//!                                                       locked_until = now + window)
//! locked (now < locked_until) ─────────────reserve──▶ refused: 429, Retry-After; nothing written
//! attempts ≥ max, no lock (max lowered) ───reserve──▶ refused until the window ends
//! right password ──────────────────────────────────▶ the counter is deleted (the reservation
//!                                                      is given back in the session's write)
//! ```
//!
//! A window that is over restarts the count, but a lock that is still running is never
//! erased by it: the lock is checked first.

use crate::config::LockoutSettings;

/// One email's counter as stored. `version` is what the conditional write compares, so a
/// state computed from a stale read is never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Password checks reserved in the current window (failed or still running).
    pub attempts: i64,
    /// When the current window began (its first reservation).
    pub window_start: i64,
    /// Set by the reservation that reached the limit.
    pub locked_until: Option<i64>,
    /// Bumped by every write; 1 for a new counter.
    pub version: i64,
}

/// What [`reserve`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The check may run; persist this counter (conditional on the one it came from).
    Granted(Counter),
    /// No check now; try again in `retry_after` seconds.
    Refused { retry_after: i64 },
}

/// Seconds left on a running lock.
pub fn locked_for(counter: &Counter, now: i64) -> Option<i64> {
    counter
        .locked_until
        .filter(|until| now < *until)
        .map(|until| until - now)
}

/// Decides whether one more password check may run at `now`.
pub fn reserve(settings: &LockoutSettings, current: Option<&Counter>, now: i64) -> Reservation {
    let window = settings.window;
    let fresh = |version: i64| Counter {
        attempts: 1,
        window_start: now,
        locked_until: (settings.max_failures <= 1).then_some(now + window),
        version,
    };
    let Some(counter) = current else {
        return Reservation::Granted(fresh(1));
    };
    if let Some(retry_after) = locked_for(counter, now) {
        return Reservation::Refused { retry_after };
    }
    let window_end = counter.window_start + window;
    if now >= window_end {
        return Reservation::Granted(fresh(counter.version + 1));
    }
    if counter.attempts >= settings.max_failures {
        return Reservation::Refused {
            retry_after: window_end - now,
        };
    }
    let attempts = counter.attempts + 1;
    Reservation::Granted(Counter {
        attempts,
        window_start: counter.window_start,
        locked_until: (attempts >= settings.max_failures).then_some(now + window),
        version: counter.version + 1,
    })
}

/// When the counter may be forgotten (its TTL): once neither its window nor its lock runs.
pub fn expires_at(settings: &LockoutSettings, counter: &Counter) -> i64 {
    let window_end = counter.window_start + settings.window;
    counter
        .locked_until
        .map_or(window_end, |l| l.max(window_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: LockoutSettings = LockoutSettings {
        max_failures: 3,
        window: 100,
    };

    fn granted(r: Reservation) -> Counter {
        match r {
            Reservation::Granted(c) => c,
            Reservation::Refused { .. } => panic!("refused: {r:?}"),
        }
    }

    #[test]
    fn the_reservation_reaching_the_limit_locks_and_the_next_is_refused() {
        let a = granted(reserve(&S, None, 1000));
        assert_eq!(
            (a.attempts, a.window_start, a.locked_until, a.version),
            (1, 1000, None, 1)
        );
        let b = granted(reserve(&S, Some(&a), 1010));
        assert_eq!((b.attempts, b.locked_until, b.version), (2, None, 2));
        let c = granted(reserve(&S, Some(&b), 1020));
        assert_eq!((c.attempts, c.locked_until), (3, Some(1120)));
        assert_eq!(
            reserve(&S, Some(&c), 1030),
            Reservation::Refused { retry_after: 90 }
        );
        assert_eq!(expires_at(&S, &c), 1120);
    }

    #[test]
    fn a_burst_gets_at_most_max_reservations() {
        // Each granted reservation is the state the next one is computed from (the store's
        // conditional write serialises them); whatever the burst, only `max` are granted.
        let mut state = None;
        let mut granted_count = 0;
        for _ in 0..40 {
            if let Reservation::Granted(c) = reserve(&S, state.as_ref(), 5000) {
                granted_count += 1;
                state = Some(c);
            }
        }
        assert_eq!(granted_count, 3);
    }

    #[test]
    fn a_new_window_restarts_the_count_but_never_erases_a_running_lock() {
        // Locked at 1020 until 1120 while the window (from 1000) ended at 1100.
        let locked = Counter {
            attempts: 3,
            window_start: 1000,
            locked_until: Some(1120),
            version: 3,
        };
        assert_eq!(
            reserve(&S, Some(&locked), 1105),
            Reservation::Refused { retry_after: 15 }
        );
        let restarted = granted(reserve(&S, Some(&locked), 1120));
        assert_eq!(
            (
                restarted.attempts,
                restarted.window_start,
                restarted.locked_until
            ),
            (1, 1120, None)
        );
        assert_eq!(restarted.version, 4);
    }

    #[test]
    fn a_lowered_limit_refuses_until_the_window_ends() {
        let over = Counter {
            attempts: 5,
            window_start: 1000,
            locked_until: None,
            version: 5,
        };
        assert_eq!(
            reserve(&S, Some(&over), 1040),
            Reservation::Refused { retry_after: 60 }
        );
        assert!(matches!(
            reserve(&S, Some(&over), 1100),
            Reservation::Granted(_)
        ));
    }

    #[test]
    fn a_limit_of_one_locks_at_the_first_reservation() {
        let one = LockoutSettings {
            max_failures: 1,
            window: 60,
        };
        let c = granted(reserve(&one, None, 0));
        assert_eq!(c.locked_until, Some(60));
        assert_eq!(locked_for(&c, 59), Some(1));
        assert_eq!(locked_for(&c, 60), None);
    }
}
