//! One way to retry an optimistic write that found the state moved on, used by every such loop:
//! a bounded number of attempts with "full jitter" backoff between them (a delay drawn
//! uniformly from zero to an exponentially growing cap), so writers that collided once do not
//! collide again in lockstep. A loop whose failed conditional write hands back the state it
//! lost to (the lockout and mail counters) retries at once ([`Backoff::immediate`]): it has
//! nothing to wait for. When the attempts run out the caller answers what its route says (409
//! `conflict` with `Retry-After` for an administrator, 429 for a contended counter), never 503
//! (503 means the database is down).
//!
//! ```ignore
//! let mut tries = Tries::new(ADMIN);
//! while tries.next().await {
//!     // read, decide, conditional write; `continue` when it went stale
//! }
//! Err(ApiError::Conflict)
//! ```

use std::time::Duration;

/// How many attempts, and the backoff between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub attempts: u32,
    /// The cap of the first delay; it doubles per attempt...
    pub base: Duration,
    /// ...up to this.
    pub cap: Duration,
}

/// Administrators' writes: 10 attempts, delays capped at 10, 20, 40 ... 320 ms (at most about
/// 1.6 s of waiting in all, 0.8 s on average), enough for 10 writers of one item at once.
pub const ADMIN: Backoff = Backoff {
    attempts: 10,
    base: Duration::from_millis(10),
    cap: Duration::from_millis(320),
};

/// A write that re-reads after losing a race to another request of the same user (a password
/// change, a session start, a token exchange, two-factor on or off): 3 attempts, delays capped
/// at 5 then 10 ms.
pub const CONTENDED: Backoff = Backoff {
    attempts: 3,
    base: Duration::from_millis(5),
    cap: Duration::from_millis(40),
};

/// Deleting a user while their logins write the same items: 5 attempts, delays capped at 40,
/// 80, 160, 320 ms (at most 0.6 s of waiting in all), so the racing logins finish first.
pub const PURGE: Backoff = Backoff {
    attempts: 5,
    base: Duration::from_millis(40),
    cap: Duration::from_millis(320),
};

/// A batch write DynamoDB left partly unprocessed: 5 attempts, delays capped at 100, 200,
/// 400, 800 ms, as DynamoDB asks (exponential backoff).
pub const UNPROCESSED: Backoff = Backoff {
    attempts: 5,
    base: Duration::from_millis(100),
    cap: Duration::from_millis(800),
};

impl Backoff {
    /// `attempts` attempts with no delay between them: for a compare-and-set loop whose failed
    /// write returned the newer state to decide on.
    pub const fn immediate(attempts: usize) -> Self {
        Self {
            attempts: if attempts > u32::MAX as usize {
                u32::MAX
            } else {
                attempts as u32
            },
            base: Duration::ZERO,
            cap: Duration::ZERO,
        }
    }

    /// The same backoff with `attempts` attempts.
    pub const fn times(self, attempts: u32) -> Self {
        Self { attempts, ..self }
    }

    /// The delay before retry number `retry` (0 for the first retry), given `unit`, a random
    /// number in `[0, 1)`: `unit × min(cap, base × 2^retry)`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// The attempts of one operation.
#[derive(Debug)]
pub struct Tries {
    backoff: Backoff,
    done: u32,
}

impl Tries {
    pub fn new(backoff: Backoff) -> Self {
        Self { backoff, done: 0 }
    }

    /// Whether another attempt may run; sleeps the jittered delay before every attempt but
    /// the first.
    pub async fn next(&mut self) -> bool {
        if self.done >= self.backoff.attempts {
            return false;
        }
        if self.done > 0 && !self.backoff.cap.is_zero() {
            let unit: f64 = rand::random();
            tokio::time::sleep(self.backoff.delay(self.done - 1, unit)).await;
        }
        self.done += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_jittered_below_a_doubling_capped_ceiling() {
        let b = ADMIN;
        assert_eq!(b.delay(0, 0.0), Duration::ZERO);
        assert_eq!(b.delay(0, 0.5), Duration::from_millis(5));
        assert_eq!(b.delay(1, 0.5), Duration::from_millis(10));
        assert_eq!(b.delay(3, 0.999).as_millis(), 79);
        // Capped, also for absurd retry numbers.
        assert_eq!(b.delay(9, 1.0), Duration::from_millis(320));
        assert_eq!(b.delay(400, 1.0), Duration::from_millis(320));
        assert_eq!(b.delay(2, 7.0), Duration::from_millis(40));
        let total: Duration = (0..b.attempts - 1).map(|r| b.delay(r, 1.0)).sum();
        assert!(total <= Duration::from_millis(1_700), "{total:?}");
    }

    #[tokio::test]
    async fn tries_run_out_after_the_attempts() {
        let mut tries = Tries::new(Backoff::immediate(3));
        let mut n = 0;
        while tries.next().await {
            n += 1;
        }
        assert_eq!(n, 3);
        assert!(!tries.next().await);
    }
}
