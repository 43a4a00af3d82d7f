//! Throttling of password and second-factor checks per normalised email (whether or not an
//! account has it), as a pure state machine. Every check is *reserved* before it runs: the
//! reservation is one conditional write of the state [`reserve`] computes, so of any burst of
//! parallel attempts at most `max_failures` reach a check in one window, whatever the burst.
//! Once checked, the reservation is *resolved* ([`resolve`]): a wrong password or code becomes
//! a checked failure, a right one gives back only its own reservation, and a complete
//! authentication (a login that needs no second factor, or a right second factor) clears the
//! failures. Only checked failures lock; reservations in flight only make others wait a second.
//!
//! The counter holds `failures` (checked, in the window that began with the first of them),
//! `locked_until`, and `pending`: reservation id → when it was reserved.
//!
//! ```text
//! reserve:
//!   locked (now < locked_until) ───────────────▶ refused: Retry-After = the lock's rest;
//!                                                 a lockout (audited); nothing written
//!   failures ≥ max, no lock (max lowered) ─────▶ the same, until the window ends
//!   failures + live pending ≥ max ─────────────▶ refused: Retry-After = 1 s, no lockout
//!                                                 event, nothing written (checks in flight)
//!   otherwise ─────────────────────────────────▶ granted: pending + {id: now}
//! resolve (each removes the reservation's own id first; an id no longer there is never
//!          counted twice):
//!   wrong password or code ────────────────────▶ failures + 1 (the first opens the window);
//!                                                 the one reaching max sets
//!                                                 locked_until = now + window
//!   right password, second factor still due,
//!   or no check after all (disabled account,
//!   unverified address, an error) ─────────────▶ only the own id removed: the failures,
//!                                                 the lock and others' reservations stay
//!   complete authentication ───────────────────▶ failures = 0, no lock (others' stay)
//! time (applied whenever the counter is read, so the same stored state always means the same):
//!   a reservation older than PENDING_LIFETIME ─▶ a failure at reserved_at + PENDING_LIFETIME
//!                                                 (a check that never reported back, its
//!                                                  function crashed or timed out, is not free)
//!   window over and no running lock ───────────▶ failures = 0
//! ```
//!
//! A window that is over restarts the count, but a lock that is still running is never
//! erased by it: the lock is checked first. A right password never resets the count, so
//! with the password known an attacker still gets `max_failures` codes per window, not per
//! `mfa_token`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Login throttling per normalised email: `max_failures` failed logins within `window` seconds
/// lock further attempts until `window` seconds after the last counted failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutSettings {
    /// `LOCKOUT_MAX_FAILURES`, default 5, 1..=100.
    pub max_failures: i64,
    /// `LOCKOUT_WINDOW_SECONDS`, default 900, 60..=86400: the counting window and the lock length.
    pub window: i64,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: 900,
        }
    }
}

/// `Retry-After` of a refusal while the allowance is taken by checks still in flight: they end
/// within a second or two, and none of them may have failed.
pub const IN_FLIGHT_RETRY_AFTER: i64 = 1;

/// Seconds after which a reservation that was never resolved counts as a failure. Longer than
/// the timeout of every function that checks a password or a code (10 s in `template.yaml`; a
/// test holds the template to it), so a running check is never counted before it ends.
pub const PENDING_LIFETIME: i64 = 60;

/// One email's counter as stored. `version` is what the conditional write compares, so a
/// state computed from a stale read is never written.
///
/// Items of before this counter kept checked failures apart still read: one written before
/// reservations (`failures`, no `version`) reads as version 0; one written while reservations
/// were counted as attempts (`attempts`, `version`, no `pending`) reads its attempts as
/// failures (at rest they were: a right password deleted the counter) with nothing in flight.
/// No item holds both: every write since `attempts` puts the whole item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counter {
    /// Checked failures in the current window.
    #[serde(alias = "attempts")]
    pub failures: i64,
    /// When the current window began (its first failure).
    pub window_start: i64,
    /// Set by the failure that reached the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
    /// Checks reserved and not yet resolved: reservation id → when reserved.
    #[serde(default)]
    pub pending: BTreeMap<String, i64>,
    /// Bumped by every write; 1 for a new counter (0: an item of before versions).
    #[serde(default)]
    pub version: i64,
}

/// What [`reserve`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The check may run; persist this counter (conditional on the one it came from).
    Granted(Counter),
    /// Locked by checked failures: no check for `retry_after` seconds (a lockout, audited).
    Locked { retry_after: i64 },
    /// The allowance is taken by checks still in flight: try again in `retry_after` seconds.
    InFlight { retry_after: i64 },
}

/// How a reserved check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No failure: a right password before a second factor, or no check after all.
    GiveBack,
    /// A wrong password or code.
    Wrong,
    /// A complete authentication: every factor the account needs was right.
    Complete,
}

/// What [`resolve`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The counter to write (conditional on the one it came from); `None`: nothing to write.
    pub next: Option<Counter>,
    /// This resolution (or a lapsed reservation it counted) started a lock.
    pub lock_started: bool,
}

/// Seconds left on a running lock.
pub fn locked_for(counter: &Counter, now: i64) -> Option<i64> {
    counter
        .locked_until
        .filter(|until| now < *until)
        .map(|until| until - now)
}

/// One checked failure at `at`. `true` when it started a lock.
fn record_failure(settings: &LockoutSettings, counter: &mut Counter, at: i64) -> bool {
    if locked_for(counter, at).is_none() && at >= counter.window_start + settings.window {
        counter.failures = 0;
    }
    if counter.failures == 0 {
        counter.window_start = at;
    }
    counter.failures += 1;
    if counter.failures >= settings.max_failures && locked_for(counter, at).is_none() {
        counter.locked_until = Some(at + settings.window);
        return true;
    }
    false
}

/// The counter as it stands at `now`: lapsed reservations counted as failures (each at the
/// moment it lapsed, so the result does not depend on when it is read), and the failures of a
/// window that is over (with no running lock) forgotten. `true` when a lapsed reservation
/// started a lock.
pub fn at(settings: &LockoutSettings, counter: &Counter, now: i64) -> (Counter, bool) {
    let mut current = counter.clone();
    let mut lapsed: Vec<(i64, String)> = current
        .pending
        .iter()
        .filter(|(_, reserved)| **reserved + PENDING_LIFETIME <= now)
        .map(|(id, reserved)| (*reserved + PENDING_LIFETIME, id.clone()))
        .collect();
    lapsed.sort();
    let mut lock_started = false;
    for (lapsed_at, id) in lapsed {
        current.pending.remove(&id);
        lock_started |= record_failure(settings, &mut current, lapsed_at);
    }
    if locked_for(&current, now).is_none() && now >= current.window_start + settings.window {
        current.failures = 0;
        current.locked_until = None;
    }
    (current, lock_started)
}

/// Decides whether one more check, with the reservation id `id`, may run at `now`.
pub fn reserve(
    settings: &LockoutSettings,
    current: Option<&Counter>,
    now: i64,
    id: &str,
) -> Reservation {
    let (mut next, version) = match current {
        Some(counter) => (at(settings, counter, now).0, counter.version),
        None => (
            Counter {
                window_start: now,
                ..Counter::default()
            },
            0,
        ),
    };
    if let Some(retry_after) = locked_for(&next, now) {
        return Reservation::Locked { retry_after };
    }
    if next.failures >= settings.max_failures {
        return Reservation::Locked {
            retry_after: (next.window_start + settings.window - now).max(1),
        };
    }
    let in_flight = i64::try_from(next.pending.len()).unwrap_or(i64::MAX);
    if next.failures.saturating_add(in_flight) >= settings.max_failures {
        return Reservation::InFlight {
            retry_after: IN_FLIGHT_RETRY_AFTER,
        };
    }
    next.pending.insert(id.to_owned(), now);
    next.version = version + 1;
    Reservation::Granted(next)
}

/// Resolves the reservation `id` with `outcome` at `now`.
pub fn resolve(
    settings: &LockoutSettings,
    current: Option<&Counter>,
    now: i64,
    id: &str,
    outcome: Outcome,
) -> Resolution {
    let Some(counter) = current else {
        // Erased meanwhile (a password reset, the user deleted): nothing of ours is left to
        // give back or clear; a wrong check still counts, on a new counter.
        return match outcome {
            Outcome::GiveBack | Outcome::Complete => Resolution {
                next: None,
                lock_started: false,
            },
            Outcome::Wrong => {
                let mut fresh = Counter {
                    window_start: now,
                    ..Counter::default()
                };
                let lock_started = record_failure(settings, &mut fresh, now);
                fresh.version = 1;
                Resolution {
                    next: Some(fresh),
                    lock_started,
                }
            }
        };
    };
    let (mut next, mut lock_started) = at(settings, counter, now);
    // Absent: it lapsed and was counted already (a check longer than PENDING_LIFETIME).
    let own = next.pending.remove(id).is_some();
    let changed = match outcome {
        Outcome::GiveBack => own,
        Outcome::Wrong => {
            if own {
                lock_started |= record_failure(settings, &mut next, now);
            }
            own
        }
        Outcome::Complete => {
            let cleared = next.failures > 0 || next.locked_until.is_some();
            next.failures = 0;
            next.locked_until = None;
            own || cleared
        }
    };
    next.version = counter.version + 1;
    Resolution {
        next: changed.then_some(next),
        lock_started,
    }
}

/// When the counter may be forgotten (its TTL): once neither its window, nor its lock, nor the
/// failure a lapsed reservation would become (and the lock it might start) can matter.
pub fn expires_at(settings: &LockoutSettings, counter: &Counter) -> i64 {
    let window_end = (counter.failures > 0).then_some(counter.window_start + settings.window);
    let lapse_end = counter
        .pending
        .values()
        .map(|reserved| reserved + PENDING_LIFETIME + settings.window)
        .max();
    [window_end, counter.locked_until, lapse_end]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(counter.window_start)
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
            other => panic!("not granted: {other:?}"),
        }
    }

    fn written(r: Resolution) -> Counter {
        r.next.expect("something to write")
    }

    /// Reserves `id` and resolves it wrong at the same instant.
    fn fail(state: Option<&Counter>, now: i64, id: &str) -> Resolution {
        let reserved = granted(reserve(&S, state, now, id));
        resolve(&S, Some(&reserved), now, id, Outcome::Wrong)
    }

    #[test]
    fn the_failure_reaching_the_limit_locks_and_the_next_reservation_is_refused() {
        let a = written(fail(None, 1000, "a"));
        assert_eq!(
            (a.failures, a.window_start, a.locked_until, a.version),
            (1, 1000, None, 2)
        );
        assert!(a.pending.is_empty());
        let b = written(fail(Some(&a), 1010, "b"));
        assert_eq!((b.failures, b.locked_until, b.version), (2, None, 4));
        let c = fail(Some(&b), 1020, "c");
        assert!(c.lock_started);
        let c = written(c);
        assert_eq!((c.failures, c.locked_until), (3, Some(1120)));
        assert_eq!(
            reserve(&S, Some(&c), 1030, "d"),
            Reservation::Locked { retry_after: 90 }
        );
        assert_eq!(expires_at(&S, &c), 1120);
    }

    #[test]
    fn checks_in_flight_refuse_for_a_second_without_a_lock() {
        let a = granted(reserve(&S, None, 5000, "a"));
        assert_eq!((a.version, a.pending.get("a")), (1, Some(&5000)));
        let b = granted(reserve(&S, Some(&a), 5000, "b"));
        let c = granted(reserve(&S, Some(&b), 5000, "c"));
        assert_eq!(c.pending.len(), 3);
        assert_eq!(
            reserve(&S, Some(&c), 5000, "d"),
            Reservation::InFlight {
                retry_after: IN_FLIGHT_RETRY_AFTER
            }
        );
        assert_eq!(c.locked_until, None);
        // Right passwords give their reservations back: room again, no failure left.
        let back = written(resolve(&S, Some(&c), 5001, "a", Outcome::GiveBack));
        assert_eq!((back.failures, back.pending.len()), (0, 2));
        assert!(matches!(
            reserve(&S, Some(&back), 5001, "d"),
            Reservation::Granted(_)
        ));
    }

    #[test]
    fn a_burst_gets_at_most_max_reservations() {
        // Each granted reservation is the state the next one is computed from (the store's
        // conditional write serialises them); whatever the burst, only `max` are granted.
        let mut state = None;
        let mut granted_count = 0;
        for i in 0..40 {
            if let Reservation::Granted(c) = reserve(&S, state.as_ref(), 5000, &i.to_string()) {
                granted_count += 1;
                state = Some(c);
            }
        }
        assert_eq!(granted_count, 3);
    }

    #[test]
    fn a_right_password_gives_back_only_its_own_reservation() {
        let one = written(fail(None, 1000, "x"));
        let two = granted(reserve(&S, Some(&one), 1001, "mine"));
        let three = granted(reserve(&S, Some(&two), 1001, "theirs"));
        let back = resolve(&S, Some(&three), 1002, "mine", Outcome::GiveBack);
        assert!(!back.lock_started);
        let back = written(back);
        assert_eq!(back.failures, 1, "the failure stays");
        assert_eq!(back.pending.keys().collect::<Vec<_>>(), ["theirs"]);
        assert_eq!(back.version, three.version + 1);
        // Given back twice, or never reserved: nothing to write.
        assert_eq!(
            resolve(&S, Some(&back), 1003, "mine", Outcome::GiveBack).next,
            None
        );
        assert_eq!(
            resolve(&S, None, 1003, "mine", Outcome::GiveBack).next,
            None
        );
    }

    #[test]
    fn a_complete_authentication_clears_failures_and_lock_but_not_others_reservations() {
        let one = written(fail(None, 1000, "a"));
        let mine = granted(reserve(&S, Some(&one), 1002, "mine"));
        let others = granted(reserve(&S, Some(&mine), 1002, "other"));
        // The other check fails while mine runs.
        let failed = written(resolve(&S, Some(&others), 1003, "other", Outcome::Wrong));
        assert_eq!((failed.failures, failed.pending.len()), (2, 1));
        let cleared = written(resolve(&S, Some(&failed), 1004, "mine", Outcome::Complete));
        assert_eq!((cleared.failures, cleared.locked_until), (0, None));
        assert!(cleared.pending.is_empty());
        // A lock that started while mine ran (a lowered limit, or reservations that lapsed)
        // ends with it too: both factors were shown.
        let locked = Counter {
            failures: 3,
            window_start: 1000,
            locked_until: Some(1103),
            pending: [("mine".to_owned(), 1002)].into(),
            version: 9,
        };
        let cleared = written(resolve(&S, Some(&locked), 1004, "mine", Outcome::Complete));
        assert_eq!(
            (cleared.failures, cleared.locked_until, cleared.version),
            (0, None, 10)
        );
        // With another reservation in flight it stays.
        let a = granted(reserve(&S, Some(&one), 1002, "mine"));
        let b = granted(reserve(&S, Some(&a), 1002, "other"));
        let cleared = written(resolve(&S, Some(&b), 1004, "mine", Outcome::Complete));
        assert_eq!(cleared.pending.keys().collect::<Vec<_>>(), ["other"]);
        assert_eq!(cleared.failures, 0);
        // Nothing to clear and nothing of ours: nothing written.
        let empty = Counter {
            version: 3,
            ..Counter::default()
        };
        assert_eq!(
            resolve(&S, Some(&empty), 1004, "mine", Outcome::Complete).next,
            None
        );
    }

    #[test]
    fn a_reservation_that_never_reports_back_becomes_a_failure_when_it_lapses() {
        let a = granted(reserve(&S, None, 1000, "crashed"));
        // Still running: counted as in flight only.
        let (still, started) = at(&S, &a, 1000 + PENDING_LIFETIME - 1);
        assert_eq!(
            (still.failures, still.pending.len(), started),
            (0, 1, false)
        );
        // Lapsed: a failure at the moment it lapsed, whenever it is read.
        for read_at in [1000 + PENDING_LIFETIME, 1000 + PENDING_LIFETIME + 50] {
            let (lapsed, _) = at(&S, &a, read_at);
            assert_eq!(
                (lapsed.failures, lapsed.window_start, lapsed.pending.len()),
                (1, 1000 + PENDING_LIFETIME, 0)
            );
        }
        // Its late resolution is not counted twice.
        let late = resolve(
            &S,
            Some(&a),
            1000 + PENDING_LIFETIME,
            "crashed",
            Outcome::Wrong,
        );
        assert_eq!(late.next.map(|c| c.failures), None);
        // Three lapsed reservations lock, from a time fixed by the reservations, not the read.
        let mut state = None;
        for id in ["a", "b", "c"] {
            state = Some(granted(reserve(&S, state.as_ref(), 2000, id)));
        }
        let state = state.unwrap();
        let lock_at = 2000 + PENDING_LIFETIME;
        for read_at in [lock_at, lock_at + 30] {
            let (c, started) = at(&S, &state, read_at);
            assert!(started);
            assert_eq!(c.locked_until, Some(lock_at + S.window));
            assert_eq!(
                reserve(&S, Some(&state), read_at, "d"),
                Reservation::Locked {
                    retry_after: lock_at + S.window - read_at
                }
            );
        }
        // The item outlives the failure its reservations may become.
        assert_eq!(expires_at(&S, &state), lock_at + S.window);
    }

    #[test]
    fn a_new_window_restarts_the_count_but_never_erases_a_running_lock() {
        // One failure at 1000 opens the window; locked at 1080 until 1180 (window over at 1100).
        let mut state = written(fail(None, 1000, "a"));
        for (i, now) in [1080, 1080].into_iter().enumerate() {
            state = written(fail(Some(&state), now, &format!("b{i}")));
        }
        assert_eq!(state.locked_until, Some(1180));
        assert_eq!(
            reserve(&S, Some(&state), 1105, "x"),
            Reservation::Locked { retry_after: 75 }
        );
        let restarted = granted(reserve(&S, Some(&state), 1180, "y"));
        assert_eq!(
            (restarted.failures, restarted.locked_until),
            (0, None),
            "{restarted:?}"
        );
        // Failures older than the window no longer count.
        let one = written(fail(None, 1000, "a"));
        let two = written(fail(Some(&one), 1050, "b"));
        let later = written(fail(Some(&two), 1100, "c"));
        assert_eq!((later.failures, later.window_start), (1, 1100));
    }

    #[test]
    fn a_lowered_limit_refuses_until_the_window_ends() {
        let over = Counter {
            failures: 5,
            window_start: 1000,
            version: 5,
            ..Counter::default()
        };
        assert_eq!(
            reserve(&S, Some(&over), 1040, "a"),
            Reservation::Locked { retry_after: 60 }
        );
        assert!(matches!(
            reserve(&S, Some(&over), 1100, "a"),
            Reservation::Granted(_)
        ));
    }

    #[test]
    fn a_limit_of_one_locks_at_the_first_failure() {
        let one = LockoutSettings {
            max_failures: 1,
            window: 60,
        };
        let reserved = granted(reserve(&one, None, 0, "a"));
        assert_eq!(reserved.locked_until, None);
        assert_eq!(
            reserve(&one, Some(&reserved), 0, "b"),
            Reservation::InFlight {
                retry_after: IN_FLIGHT_RETRY_AFTER
            }
        );
        let c = written(resolve(&one, Some(&reserved), 0, "a", Outcome::Wrong));
        assert_eq!(c.locked_until, Some(60));
        assert_eq!(locked_for(&c, 59), Some(1));
        assert_eq!(locked_for(&c, 60), None);
    }

    #[test]
    fn a_wrong_check_on_an_erased_counter_starts_a_new_one() {
        let r = resolve(&S, None, 50, "gone", Outcome::Wrong);
        let c = written(r);
        assert_eq!((c.failures, c.window_start, c.version), (1, 50, 1));
        assert_eq!(expires_at(&S, &c), 150);
    }

    /// A state machine run: random interleavings of reservations and their outcomes, one
    /// account, a clock that moves. Whatever happens, the number of wrong checks the rule lets
    /// run within one window and lock never exceeds `max`, right answers never lock, and
    /// every state the store would hold stays bounded.
    #[test]
    fn no_interleaving_checks_more_than_max_wrong_answers_or_locks_on_right_ones() {
        // A small deterministic generator (no crate needed for a test).
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for run in 0..200 {
            let wrong_share = run % 3; // 0: only right answers; else some wrong ones
            let mut state: Option<Counter> = None;
            let mut now = 10_000;
            let mut in_flight: Vec<(String, Outcome)> = Vec::new();
            let mut wrong_checked_since_clear: Vec<i64> = Vec::new();
            for step in 0..300 {
                now += i64::try_from(next(3)).unwrap();
                if next(2) == 0 || in_flight.is_empty() {
                    let id = format!("{run}-{step}");
                    match reserve(&S, state.as_ref(), now, &id) {
                        Reservation::Granted(c) => {
                            assert!(
                                state.as_ref().and_then(|s| locked_for(s, now)).is_none(),
                                "granted during a lock"
                            );
                            let outcome = if wrong_share > 0 && next(3) < wrong_share {
                                Outcome::Wrong
                            } else if next(2) == 0 {
                                Outcome::Complete
                            } else {
                                Outcome::GiveBack
                            };
                            state = Some(c);
                            in_flight.push((id, outcome));
                        }
                        Reservation::Locked { retry_after } => {
                            assert!(wrong_share > 0, "right answers locked the account");
                            assert!(retry_after > 0 && retry_after <= S.window);
                        }
                        Reservation::InFlight { retry_after } => {
                            assert_eq!(retry_after, IN_FLIGHT_RETRY_AFTER);
                            assert!(!in_flight.is_empty());
                        }
                    }
                } else {
                    let pick =
                        usize::try_from(next(u64::try_from(in_flight.len()).unwrap())).unwrap();
                    let (id, outcome) = in_flight.swap_remove(pick);
                    let r = resolve(&S, state.as_ref(), now, &id, outcome);
                    if outcome != Outcome::Wrong {
                        assert!(!r.lock_started);
                    }
                    if let Some(c) = r.next {
                        state = Some(c);
                    }
                    match outcome {
                        Outcome::Wrong => wrong_checked_since_clear.push(now),
                        Outcome::Complete => wrong_checked_since_clear.clear(),
                        Outcome::GiveBack => {}
                    }
                }
                // Every stored state: failures and checks in flight together within the
                // limit, so no more than `max` wrong checks are ever granted in one window;
                // over any stretch of one window's length (two windows at most, since the last
                // complete authentication) at most twice that.
                if let Some(c) = &state {
                    assert!(
                        c.failures + i64::try_from(c.pending.len()).unwrap() <= 3,
                        "run {run}: {c:?}"
                    );
                    assert!(expires_at(&S, c) >= c.window_start);
                }
                let recent = wrong_checked_since_clear
                    .iter()
                    .filter(|t| **t > now - S.window)
                    .count();
                assert!(
                    recent <= 2 * 3,
                    "run {run}: {recent} wrong checks in a window"
                );
            }
        }
    }
}
