//! Injected time. Production code asks a [`Clock`]; tests and benchmarks move a [`ManualClock`]
//! by hand, so expiry, leeway and TTLs are tested exactly and without sleeping.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// A source of the current time, in whole seconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> OffsetDateTime;

    fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// The clock shared by a function's state.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

impl SystemClock {
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    unix: AtomicI64,
}

impl ManualClock {
    pub fn new(unix: i64) -> Arc<Self> {
        Arc::new(Self {
            unix: AtomicI64::new(unix),
        })
    }

    /// Starts at the current wall-clock second.
    pub fn starting_now() -> Arc<Self> {
        Self::new(OffsetDateTime::now_utc().unix_timestamp())
    }

    pub fn advance(&self, seconds: i64) {
        self.unix.fetch_add(seconds, Ordering::SeqCst);
    }

    pub fn set(&self, unix: i64) {
        self.unix.store(unix, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.unix.load(Ordering::SeqCst))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.unix(), 1_000);
        clock.advance(60);
        assert_eq!(clock.unix(), 1_060);
        clock.set(5);
        assert_eq!(clock.unix(), 5);
    }
}
