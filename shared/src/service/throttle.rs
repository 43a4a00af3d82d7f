//! Reserving a password check before it runs (the rule is [`crate::policy::lockout`]): every
//! path that verifies a password (login, a password change) goes through [`Throttle::reserve`],
//! so a wrong password anywhere counts toward the same per-email lock.

use crate::clock::SharedClock;
use crate::config::LockoutSettings;
use crate::error::ApiError;
use crate::policy::lockout::{self, Reservation};
use crate::store::{Lockout, ReserveOutcome, Store};

/// Rounds of decide-and-write before giving up on a contended counter. Each round that loses
/// does so because another request's reservation landed, and at most `max_failures` can land
/// before the email is locked, so an honest request needs at most `max_failures + 1` rounds.
const RESERVE_ROUNDS: usize = 8;

/// Reserves password checks per normalised email.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    store: Store,
    settings: LockoutSettings,
    clock: SharedClock,
}

impl Throttle {
    pub(crate) fn new(store: Store, settings: LockoutSettings, clock: SharedClock) -> Self {
        Self {
            store,
            settings,
            clock,
        }
    }

    /// Reserves one password check for `email`, starting from the counter `seen` (or none).
    /// Returns the counter as written; `Err(TooManyAttempts)` when the email is locked, or
    /// when the counter stays contended (a burst is under way: it waits like a lock would).
    pub(crate) async fn reserve(
        &self,
        email: &str,
        mut seen: Option<Lockout>,
    ) -> Result<Lockout, ApiError> {
        for _ in 0..RESERVE_ROUNDS {
            let now = self.clock.unix();
            let next = match lockout::reserve(&self.settings, seen.as_ref(), now) {
                Reservation::Refused { retry_after } => {
                    return Err(ApiError::TooManyAttempts { retry_after });
                }
                Reservation::Granted(next) => next,
            };
            let ttl = lockout::expires_at(&self.settings, &next);
            match self
                .store
                .reserve_attempt(email, seen.as_ref(), &next, ttl)
                .await?
            {
                ReserveOutcome::Reserved => return Ok(next),
                ReserveOutcome::Changed { current } => seen = current,
                ReserveOutcome::Contended => seen = self.store.lockout(email).await?,
            }
        }
        Err(ApiError::TooManyAttempts { retry_after: 1 })
    }
}
