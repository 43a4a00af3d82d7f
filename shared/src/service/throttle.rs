//! Reserving a password check before it runs (the rule is [`crate::policy::lockout`]): every
//! path that verifies a password (login, a password change) goes through [`Throttle::reserve`],
//! so a wrong password anywhere counts toward the same per-email lock.

use crate::clock::SharedClock;
use crate::config::LockoutSettings;
use crate::error::ApiError;
use crate::policy::lockout::{self, Reservation};
use crate::store::{Lockout, ReserveOutcome, Store};

/// Rounds of decide-and-write beyond `max_failures` before giving up on a contended counter.
/// A round lost means another request's reservation landed, and at most `max_failures` land
/// before the email is locked (more only when successful logins give theirs back meanwhile),
/// so a request needs about `max_failures + 1` rounds; the margin covers give-backs.
const EXTRA_ROUNDS: usize = 8;

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
        let rounds = usize::try_from(self.settings.max_failures).unwrap_or(100) + EXTRA_ROUNDS;
        for _ in 0..rounds {
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
