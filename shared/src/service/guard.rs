//! The per-source guard in front of the costly public routes (register, login, two-factor
//! verify, forgot, reset, resend-verification), and the registration mail budget. The rules are
//! [`crate::policy::rates`]; each check is one conditional `UpdateItem` that reserves the hit
//! before the route does any work, so a burst of parallel requests from one source gets
//! exactly the limit through, and one caller cannot spend a route's API Gateway throttle (shared
//! by everyone) for long: past its limit it is answered 429 `too_many_requests` after one
//! write, with no password hash, no lookup and no mail.
//!
//! A handler calls [`SourceGuard::admit`] first; its state is the service wrapped in
//! [`Guarded`], which reads as the service itself.

use std::ops::Deref;

use lambda_http::Request;

use crate::clock::SharedClock;
use crate::config::{Source, SourceLimitSettings};
use crate::domain::Email;
use crate::error::ApiError;
use crate::policy::rates::{self, Limit, RouteGroup, Scope};
use crate::runtime::InitError;
use crate::store::{HitOutcome, Store};

/// The registration mail budget counts per clock hour.
const MAIL_WINDOW: i64 = 3_600;

/// Counts requests per source for one group of routes.
#[derive(Debug, Clone)]
pub struct SourceGuard {
    store: Store,
    clock: SharedClock,
    settings: SourceLimitSettings,
    group: RouteGroup,
}

impl SourceGuard {
    pub fn new(
        store: Store,
        clock: SharedClock,
        settings: SourceLimitSettings,
        group: RouteGroup,
    ) -> Self {
        Self {
            store,
            clock,
            settings,
            group,
        }
    }

    /// The guard's settings from `src`, on the store (client and connection pool) of the
    /// service it guards: no second client, no second connection at cold start.
    pub fn from_source(
        src: &dyn Source,
        store: Store,
        clock: SharedClock,
        group: RouteGroup,
    ) -> Result<Self, InitError> {
        let settings = SourceLimitSettings::from_source(src)?;
        Ok(Self::new(store, clock, settings, group))
    }

    /// The group's limit per source.
    fn source_limit(&self) -> Limit {
        let max = match self.group {
            RouteGroup::Login => self.settings.login,
            RouteGroup::Register => self.settings.register,
            RouteGroup::Recovery => self.settings.recovery,
        };
        Limit {
            max,
            window: self.settings.window,
        }
    }

    /// Reserves this request in its source's counter for the group, or refuses it: 429
    /// `too_many_requests` with `Retry-After` = the window's end. Nothing when
    /// `SOURCE_LIMITS=off`.
    pub async fn admit(&self, req: &Request) -> Result<(), ApiError> {
        if !self.settings.enabled {
            return Ok(());
        }
        let source = rates::source_key(crate::http::source_ip(req).as_deref());
        let scope = Scope::Source {
            group: self.group,
            source,
        };
        match self.hit(&scope, &self.source_limit()).await? {
            None => Ok(()),
            Some(retry_after) => {
                tracing::info!(
                    request_id = crate::http::request_id(req).as_deref(),
                    counter = scope.name(),
                    retry_after,
                    "source_limited: refused before any work"
                );
                Err(ApiError::TooManyRequests { retry_after })
            }
        }
    }

    /// Counts one registration mail to `email`: against the address's hourly budget first
    /// (so one address hammered does not spend everyone's), then the service's. Refused: 429
    /// `too_many_requests` until the hour ends. Called before the registration does any work.
    pub async fn registration_mail(&self, email: &Email) -> Result<(), ApiError> {
        let budgets = [
            (
                Scope::RegistrationMailsTo(email.as_str().to_owned()),
                self.settings.mails_per_address,
            ),
            (Scope::RegistrationMails, self.settings.mails_per_hour),
        ];
        for (scope, max) in budgets {
            let limit = Limit {
                max,
                window: MAIL_WINDOW,
            };
            if let Some(retry_after) = self.hit(&scope, &limit).await? {
                tracing::warn!(
                    budget = match scope {
                        Scope::RegistrationMails => "all",
                        _ => "address",
                    },
                    retry_after,
                    "registration_mail_budget_spent"
                );
                return Err(ApiError::MailBudgetSpent { retry_after });
            }
        }
        Ok(())
    }

    /// Adds one hit to `scope` under `limit`; `Some(retry_after)` when its window is full.
    async fn hit(&self, scope: &Scope, limit: &Limit) -> Result<Option<i64>, ApiError> {
        let now = self.clock.unix();
        let window = rates::window(limit, now);
        match self.store.hit(scope, &window, limit).await? {
            HitOutcome::Counted => Ok(None),
            HitOutcome::Full => Ok(Some(rates::retry_after(&window, now))),
        }
    }
}

/// A function's state behind the per-source guard: reads as the service itself.
#[derive(Debug)]
pub struct Guarded<S> {
    pub guard: SourceGuard,
    pub inner: S,
}

/// A service whose store the guard in front of it shares.
pub trait HasStore {
    fn store(&self) -> &Store;
}

impl<S: HasStore> HasStore for crate::browser::WithBrowser<S> {
    fn store(&self) -> &Store {
        self.service.store()
    }
}

impl<S: HasStore> Guarded<S> {
    /// The guard for `group`, in front of `inner`, on `inner`'s store.
    pub async fn from_source(
        src: &dyn Source,
        clock: SharedClock,
        group: RouteGroup,
        inner: S,
    ) -> Result<Self, InitError> {
        Ok(Self {
            guard: SourceGuard::from_source(src, inner.store().clone(), clock, group)?,
            inner,
        })
    }
}

impl<S> Deref for Guarded<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.inner
    }
}
