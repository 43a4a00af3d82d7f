//! Reserving a password or code check before it runs, and resolving it after (the rule is
//! [`crate::policy::lockout`]): every path that verifies a password (login, a password or
//! email change, enrolment, turning two-factor off) or a second-factor code (the login's
//! second step, and the Bearer two-factor routes) goes through [`Throttle::reserve`] and
//! [`Throttle::settle`], so a wrong password or code anywhere counts toward the same
//! per-email lock, and a right password does not reset it.

use crate::clock::SharedClock;
use crate::config::LockoutSettings;
use crate::error::ApiError;
use crate::policy::lockout::{self, Outcome, Reservation};
use crate::retry::{Backoff, Tries};
use crate::service::{Caller, audit};
use crate::store::{Lockout, LockoutWrite, Store};

/// Rounds of decide-and-write beyond `max_failures` before giving up on a contended counter.
/// A round lost means another request's write landed: at most `max_failures` reservations
/// land before the allowance is taken, each resolved once, so a request needs about
/// `max_failures + 1` rounds; the margin covers resolutions landing meanwhile.
const EXTRA_ROUNDS: usize = 8;

/// A reserved check: give it to [`Throttle::settle`] once the check has ended, whatever its
/// end (a reservation never settled becomes a failure when it lapses).
#[derive(Debug)]
#[must_use = "a reservation is settled, or it becomes a failure when it lapses"]
pub(crate) struct Ticket {
    email: String,
    id: String,
    /// The counter as this reservation wrote it.
    seen: Lockout,
}

/// Why no check may run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Locked by checked failures (a lockout).
    Locked { retry_after: i64 },
    /// The allowance is taken by checks in flight, or the counter is contended: a moment.
    Busy { retry_after: i64 },
}

impl Refused {
    /// The answer (429 `too_many_attempts` with `Retry-After`), and the audit event `event`
    /// when it is a lockout (never for checks in flight: nothing failed).
    pub(crate) fn answer(
        self,
        event: &'static str,
        caller: &Caller,
        user_id: Option<&str>,
    ) -> ApiError {
        match self {
            Self::Locked { retry_after } => {
                audit(event, caller, user_id, None);
                ApiError::TooManyAttempts { retry_after }
            }
            Self::Busy { retry_after } => ApiError::TooManyAttempts { retry_after },
        }
    }
}

/// What [`Throttle::settle`] did that the caller may log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Settled {
    /// This failure started the lock.
    pub lock_started: bool,
}

/// Reserves and resolves checks per normalised email.
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

    fn rounds(&self) -> usize {
        usize::try_from(self.settings.max_failures).unwrap_or(100) + EXTRA_ROUNDS
    }

    /// Reserves one check for `email`. `Ok(Err(refused))` when no check may run now: locked,
    /// or the allowance taken by checks in flight, or the counter contended (a burst is under
    /// way: it waits a second, like checks in flight).
    pub(crate) async fn reserve(&self, email: &str) -> Result<Result<Ticket, Refused>, ApiError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // First as if there were no counter: the conditional write that fails hands back the
        // one there is, so a reservation costs one write and no read when all is quiet.
        let mut seen: Option<Lockout> = None;
        let mut tries = Tries::new(Backoff::immediate(self.rounds()));
        while tries.next().await {
            let now = self.clock.unix();
            let next = match lockout::reserve(&self.settings, seen.as_ref(), now, &id) {
                Reservation::Granted(next) => next,
                Reservation::Locked { retry_after } => {
                    return Ok(Err(Refused::Locked { retry_after }));
                }
                Reservation::InFlight { retry_after } => {
                    return Ok(Err(Refused::Busy { retry_after }));
                }
            };
            let ttl = lockout::expires_at(&self.settings, &next);
            match self
                .store
                .write_lockout(email, seen.as_ref(), &next, ttl)
                .await?
            {
                LockoutWrite::Written => {
                    return Ok(Ok(Ticket {
                        email: email.to_owned(),
                        id,
                        seen: next,
                    }));
                }
                LockoutWrite::Changed { current } => seen = current,
                LockoutWrite::Contended => seen = self.store.lockout(email).await?,
            }
        }
        Ok(Err(Refused::Busy {
            retry_after: lockout::IN_FLIGHT_RETRY_AFTER,
        }))
    }

    /// Resolves a reservation once its check has ended. Never fails the request: a write that
    /// cannot be made is logged, and the reservation left behind counts as a failure once it
    /// lapses (so an outage never makes a check free).
    pub(crate) async fn settle(&self, ticket: Ticket, outcome: Outcome) -> Settled {
        match self.try_settle(&ticket, outcome).await {
            Ok(settled) => settled,
            Err(err) => {
                tracing::warn!(error = %crate::error::chain(&err), ?outcome, "reservation not resolved");
                Settled::default()
            }
        }
    }

    async fn try_settle(&self, ticket: &Ticket, outcome: Outcome) -> Result<Settled, ApiError> {
        let quiet = ticket.seen.failures == 0 && ticket.seen.locked_until.is_none();
        if outcome == Outcome::GiveBack || (outcome == Outcome::Complete && quiet) {
            // Nothing to clear when the reservation was made (a complete login with no failure
            // before it): giving back its own reservation is the whole change, and a one-item
            // update that needs no read and never contends with the logins running beside it.
            self.store
                .give_back_reservation(&ticket.email, &ticket.id)
                .await?;
            return Ok(Settled::default());
        }
        let mut seen = Some(ticket.seen.clone());
        let mut tries = Tries::new(Backoff::immediate(self.rounds()));
        while tries.next().await {
            let now = self.clock.unix();
            let resolution =
                lockout::resolve(&self.settings, seen.as_ref(), now, &ticket.id, outcome);
            let Some(next) = resolution.next else {
                return Ok(Settled::default());
            };
            let ttl = lockout::expires_at(&self.settings, &next);
            match self
                .store
                .write_lockout(&ticket.email, seen.as_ref(), &next, ttl)
                .await?
            {
                LockoutWrite::Written => {
                    return Ok(Settled {
                        lock_started: resolution.lock_started,
                    });
                }
                LockoutWrite::Changed { current } => seen = current,
                LockoutWrite::Contended => seen = self.store.lockout(&ticket.email).await?,
            }
        }
        Err(ApiError::ServiceUnavailable(
            crate::error::StoreError::Conflict,
        ))
    }
}
