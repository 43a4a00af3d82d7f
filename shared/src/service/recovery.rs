//! Account recovery and email ownership: the mails with links ([`Outbox`]), registration with
//! its verification mail ([`Registrar`]), the request of an email change ([`EmailChanges`]) and
//! the use of a link ([`Redeemer`]). The rules are [`crate::policy::links`] (when a link is
//! good) and [`crate::policy::quota`] (how many mails one address gets); every write is one
//! conditional transaction in [`crate::store`].

use std::time::Duration;

use secrecy::ExposeSecret;

use crate::clock::SharedClock;
use crate::config::{LinkSettings, MailSettings, PasswordSettings, Source, StoreSettings};
use crate::domain::{DisplayName, Email, User, UserId};
use crate::error::{ApiError, StoreError};
use crate::mail::{Mail, Mailer, SecurityChange};
use crate::password::{self, PasswordHasher};
use crate::policy::links::{self, Dead, Holder, Link, LinkToken, Purpose};
use crate::policy::quota::{self, Admission, Counter};
use crate::retry::{self, Backoff, Tries};
use crate::runtime::InitError;
use crate::service::accounts::{Accounts, CheckEvents};
use crate::service::notices::Notices;
use crate::service::requests::{EmailChange, PasswordReset, Registration};
use crate::service::{Caller, audit, audit_sessions_revoked, blocking};
use crate::store::{Consumed, LinkIssue, QuotaWrite, Store};

/// A forgot-password request takes at least this long, whether or not the account exists and
/// whether or not a mail was sent, so its time tells nothing (an SES call and a transaction
/// take tens of milliseconds; a slower one shows in the `slow_forgot` log line).
pub const FORGOT_MIN_DURATION: Duration = Duration::from_millis(300);

/// The quota window: one hour.
const QUOTA_WINDOW: i64 = 3_600;

/// Rounds of decide-and-write on a contended mail counter beyond its maximum.
const QUOTA_EXTRA_ROUNDS: usize = 4;

/// Sends the mails that carry links, under the per-address quota.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Store,
    mailer: Mailer,
    clock: SharedClock,
    links: LinkSettings,
}

impl Outbox {
    pub fn new(store: Store, mailer: Mailer, clock: SharedClock, links: LinkSettings) -> Self {
        Self {
            store,
            mailer,
            clock,
            links,
        }
    }

    /// With a store already connected (its AWS configuration serves SES too).
    pub fn from_parts(
        store: Store,
        sdk: &aws_config::SdkConfig,
        src: &dyn Source,
        clock: SharedClock,
    ) -> Result<Self, InitError> {
        let mailer = Mailer::new(sdk, MailSettings::from_source(src)?)?;
        Ok(Self::new(
            store,
            mailer,
            clock,
            LinkSettings::from_source(src)?,
        ))
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        Self::from_parts(store, &sdk, src, clock)
    }

    fn ttl(&self, purpose: Purpose) -> i64 {
        match purpose {
            Purpose::Reset => self.links.reset_ttl,
            Purpose::Verify => self.links.verify_ttl,
            Purpose::EmailChange => self.links.email_change_ttl,
        }
    }

    fn path(&self, purpose: Purpose) -> &str {
        let settings = self.mailer.settings();
        match purpose {
            Purpose::Reset => &settings.reset_path,
            Purpose::Verify => &settings.verify_path,
            Purpose::EmailChange => &settings.confirm_email_path,
        }
    }

    /// Counts one mail of `purpose` asked for by the account with the address `account` and
    /// going to `to`, against every counter it spends ([`Counter::spent`]: the account's, and
    /// the recipient's when that is another address), or refuses it (429) at the first that
    /// had its quota this hour. Counted before anything is looked up, so unknown addresses
    /// count too.
    async fn admit(&self, purpose: Purpose, account: &str, to: &str) -> Result<(), ApiError> {
        for counter in Counter::spent(account == to) {
            let address = match counter {
                Counter::Account => account,
                Counter::Recipient => to,
            };
            self.admit_one(purpose, *counter, address).await?;
        }
        Ok(())
    }

    /// Counts one mail against one counter (reserve first: a conditional write of the next
    /// count, retried from the count there when another request moved it).
    async fn admit_one(
        &self,
        purpose: Purpose,
        counter: Counter,
        email: &str,
    ) -> Result<(), ApiError> {
        let max = self.links.max_per_hour;
        let rounds = usize::try_from(max).unwrap_or(100) + QUOTA_EXTRA_ROUNDS;
        // Start from "no counter": the conditional write either lands or hands back the one
        // there (one request when the address had no mail this hour, two otherwise).
        let mut seen = None;
        let mut tries = Tries::new(Backoff::immediate(rounds));
        while tries.next().await {
            let now = self.clock.unix();
            let next = match quota::admit(seen.as_ref(), now, max, QUOTA_WINDOW) {
                Admission::Refused { retry_after } => {
                    return Err(ApiError::TooManyMails { retry_after });
                }
                Admission::Admitted(next) => next,
            };
            let ttl = quota::expires_at(&next, QUOTA_WINDOW);
            match self
                .store
                .count_mail(purpose, counter, email, seen.as_ref(), &next, ttl)
                .await?
            {
                QuotaWrite::Counted => return Ok(()),
                QuotaWrite::Changed { current } => seen = current,
                QuotaWrite::Contended => {
                    seen = self.store.mail_quota(purpose, counter, email).await?;
                }
            }
        }
        Err(ApiError::TooManyMails { retry_after: 1 })
    }

    /// A new link of `purpose` for the user, stored and made the newest of its kind while the
    /// credentials epoch is still `epoch`. `None` when the credentials changed meanwhile.
    async fn issue(
        &self,
        purpose: Purpose,
        user_id: &UserId,
        email: &str,
        epoch: i64,
    ) -> Result<Option<(LinkToken, Link)>, ApiError> {
        let token = LinkToken::generate();
        let link = links::issue(
            &token,
            purpose,
            user_id.as_str(),
            email,
            epoch,
            self.clock.unix(),
            self.ttl(purpose),
        );
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            match self.store.issue_link(&link).await? {
                LinkIssue::Issued => return Ok(Some((token, link))),
                LinkIssue::CredentialsChanged => return Ok(None),
                LinkIssue::Conflict => continue,
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }

    /// A link's mail for `to`.
    fn mail<'a>(&self, purpose: Purpose, to: &'a str, link: &'a str) -> Mail<'a> {
        let ttl = self.ttl(purpose);
        match purpose {
            Purpose::Reset => Mail::Reset { to, link, ttl },
            Purpose::Verify => Mail::Verify { to, link, ttl },
            Purpose::EmailChange => Mail::ConfirmChange { to, link, ttl },
        }
    }

    /// Sends a link's mail. The error is for the log: it never holds the link.
    async fn send_link(
        &self,
        purpose: Purpose,
        to: &str,
        token: &LinkToken,
    ) -> Result<(), crate::error::BoxError> {
        let url = self.mailer.link(self.path(purpose), token.expose());
        self.mailer.send(&self.mail(purpose, to, &url)).await
    }

    /// `POST /auth/password/forgot`: the same 202 whatever happens after validation and the
    /// quota, in at least [`FORGOT_MIN_DURATION`]. For a known address, a reset link (which
    /// supersedes older ones) is mailed; an SES failure is logged, never shown.
    pub async fn forgot_password(&self, email: &Email, caller: &Caller) -> Result<(), ApiError> {
        self.admit(Purpose::Reset, email.as_str(), email.as_str())
            .await?;
        let started = tokio::time::Instant::now();
        let result = self.send_reset(email, caller).await;
        let elapsed = started.elapsed();
        if elapsed > FORGOT_MIN_DURATION {
            tracing::warn!(
                request_id = caller.request_id.as_deref(),
                elapsed_ms = elapsed.as_millis() as u64,
                "slow_forgot: the answer took longer than the floor that hides whether an account exists"
            );
        }
        tokio::time::sleep_until(started + FORGOT_MIN_DURATION).await;
        result
    }

    async fn send_reset(&self, email: &Email, caller: &Caller) -> Result<(), ApiError> {
        let Some(credentials) = self.store.credentials(email.as_str()).await? else {
            audit("password_reset_requested", caller, None, None);
            return Ok(());
        };
        let user_id = credentials.user_id.as_str();
        audit("password_reset_requested", caller, Some(user_id), None);
        let Some((token, _)) = self
            .issue(
                Purpose::Reset,
                &credentials.user_id,
                email.as_str(),
                credentials.epoch,
            )
            .await?
        else {
            return Ok(());
        };
        if let Err(err) = self.send_link(Purpose::Reset, email.as_str(), &token).await {
            tracing::error!(
                request_id = caller.request_id.as_deref(),
                user_id,
                error = %err,
                "password reset mail not sent"
            );
        }
        Ok(())
    }

    /// `POST /me/email/verification`: a new verification link (superseding older ones) for
    /// an address not yet verified, under the quota.
    pub async fn resend_verification(
        &self,
        user_id: &str,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        let user = self.store.user(&id).await?.ok_or(ApiError::UserNotFound)?;
        if user.email_verified {
            return Err(ApiError::AlreadyVerified);
        }
        if user.email.is_unreachable() {
            // A username-only account: nothing to verify until it adds an address.
            return Err(ApiError::NoEmail);
        }
        self.admit(Purpose::Verify, user.email.as_str(), user.email.as_str())
            .await?;
        let (token, _) = self
            .issue(Purpose::Verify, &user.id, user.email.as_str(), user.epoch)
            .await?
            // The credentials changed since the profile was read: as if it had come first.
            .ok_or(ApiError::ServiceUnavailable(StoreError::Conflict))?;
        self.send_link(Purpose::Verify, user.email.as_str(), &token)
            .await
            .map_err(ApiError::MailUnavailable)?;
        audit(
            "email_verification_sent",
            caller,
            Some(user.id.as_str()),
            None,
        );
        Ok(())
    }
}

/// Registration, with its verification mail.
#[derive(Debug, Clone)]
pub struct Registrar {
    accounts: Accounts,
    outbox: Outbox,
}

impl Registrar {
    pub fn new(accounts: Accounts, outbox: Outbox) -> Self {
        Self { accounts, outbox }
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        let lockout = crate::config::lockout_settings(src)?;
        let outbox = Outbox::from_parts(store.clone(), &sdk, src, clock.clone())?;
        Ok(Self {
            accounts: Accounts::new(store, hasher, clock, lockout),
            outbox,
        })
    }

    /// Checks the password policy, hashes, and writes the user, its email and its first
    /// verification link atomically; then mails the link. 201 even when the mail fails (the
    /// failure is logged; `POST /me/email/verification` sends another).
    pub async fn register(&self, input: Registration, caller: &Caller) -> Result<User, ApiError> {
        let (user, credentials) = self.accounts.prepare(input).await?;
        let token = LinkToken::generate();
        let link = links::issue(
            &token,
            Purpose::Verify,
            user.id.as_str(),
            user.email.as_str(),
            user.epoch,
            self.outbox.clock.unix(),
            self.outbox.ttl(Purpose::Verify),
        );
        match self
            .accounts
            .store()
            .create_user_with_link(&user, &credentials, &link)
            .await
        {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Err(ApiError::EmailTaken),
            Err(err) => return Err(err.into()),
        }
        audit("user_registered", caller, Some(user.id.as_str()), None);
        match self
            .outbox
            .send_link(Purpose::Verify, user.email.as_str(), &token)
            .await
        {
            Ok(()) => audit(
                "email_verification_sent",
                caller,
                Some(user.id.as_str()),
                None,
            ),
            Err(err) => tracing::error!(
                request_id = caller.request_id.as_deref(),
                user_id = user.id.as_str(),
                error = %err,
                "verification mail not sent"
            ),
        }
        Ok(user)
    }
}

const EMAIL_CHANGE_EVENTS: CheckEvents = CheckEvents {
    locked_out: "email_change_locked_out",
    failed: "email_change_failed",
};

/// `POST /me/email`: asks for an email change.
#[derive(Debug, Clone)]
pub struct EmailChanges {
    accounts: Accounts,
    outbox: Outbox,
}

impl EmailChanges {
    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        let lockout = crate::config::lockout_settings(src)?;
        let outbox = Outbox::from_parts(store.clone(), &sdk, src, clock.clone())?;
        Ok(Self {
            accounts: Accounts::new(store, hasher, clock, lockout),
            outbox,
        })
    }

    /// The current password is checked like a login's (reserved, counted when wrong); the new
    /// address must be free; then a notice goes to the current address and, once it was sent,
    /// a confirmation link to the new one (503 when either cannot be sent). Nothing changes
    /// until the link is used.
    pub async fn request(
        &self,
        user_id: &str,
        change: EmailChange,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        let store = self.accounts.store();
        let user = store.user(&id).await?.ok_or(ApiError::UserNotFound)?;
        if change.new_email == user.email {
            return Err(ApiError::Validation(vec![crate::error::FieldError::new(
                "new_email",
                "is already the account's address",
            )]));
        }
        let credentials = self
            .accounts
            .check_current_password(&user, change.current, caller, EMAIL_CHANGE_EVENTS)
            .await?;
        let new_email = change.new_email.as_str();
        if store.credentials(new_email).await?.is_some() {
            return Err(ApiError::EmailTaken);
        }
        // The account's allowance and the new address's: others asking to move to the same
        // address share its one allowance.
        self.outbox
            .admit(Purpose::EmailChange, user.email.as_str(), new_email)
            .await?;
        let (token, _) = self
            .outbox
            .issue(Purpose::EmailChange, &user.id, new_email, credentials.epoch)
            .await?
            .ok_or(ApiError::WrongCurrentPassword)?;
        // The notice to the current address goes first, and the confirmation only after it
        // was sent: when the owner's own address cannot be told, the change waits (503; the
        // request can be made again) rather than go ahead unannounced. A confirmed change moves
        // the sign-in away from the current address, so a notice kept for "the next sign-in"
        // would never reach an owner who lost the account that way.
        let notice = Mail::ChangeNotice {
            to: user.email.as_str(),
            new_email,
        };
        if let Err(err) = self.outbox.mailer.send(&notice).await {
            tracing::error!(
                request_id = caller.request_id.as_deref(),
                user_id = user.id.as_str(),
                error = %err,
                "email change notice not sent: the change waits"
            );
            return Err(ApiError::MailUnavailable(err));
        }
        self.outbox
            .send_link(Purpose::EmailChange, new_email, &token)
            .await
            .map_err(ApiError::MailUnavailable)?;
        audit(
            "email_change_requested",
            caller,
            Some(user.id.as_str()),
            None,
        );
        Ok(())
    }
}

/// Uses emailed links: password reset, email verification, email-change confirmation.
#[derive(Debug, Clone)]
pub struct Redeemer {
    store: Store,
    hasher: PasswordHasher,
    clock: SharedClock,
    notices: Notices,
}

impl Redeemer {
    pub fn new(store: Store, hasher: PasswordHasher, clock: SharedClock) -> Self {
        Self {
            store,
            hasher,
            notices: Notices::off(clock.clone()),
            clock,
        }
    }

    /// The same, mailing a notice when a password is reset.
    pub fn with_notices(self, notices: Notices) -> Self {
        Self { notices, ..self }
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, _) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        Ok(Self::new(store, hasher, clock))
    }

    /// The link a presented token names, with its user, if [`links::check`] finds it good for
    /// `purpose` now. Every failure is the same 400 `invalid_token`; the reason is logged.
    async fn good_link(&self, raw: &str, purpose: Purpose) -> Result<(Link, User), ApiError> {
        let token = LinkToken::parse(raw).ok_or(ApiError::InvalidLink)?;
        let link = self
            .store
            .link(&token.hash())
            .await?
            .ok_or(ApiError::InvalidLink)?;
        let found = match UserId::parse(&link.user_id) {
            Some(id) => self.store.user_with_newest_link(&id, purpose).await?,
            None => None,
        };
        let verdict = match &found {
            None => Err(Dead::NoSuchUser),
            Some((user, newest)) => links::check(
                &link,
                purpose,
                &Holder {
                    user_id: user.id.as_str(),
                    email: user.email.as_str(),
                    epoch: user.epoch,
                    newest: newest.as_deref(),
                },
                self.clock.unix(),
            ),
        };
        match (verdict, found) {
            (Ok(()), Some((user, _))) => Ok((link, user)),
            (verdict, _) => {
                tracing::info!(
                    purpose = purpose.as_str(),
                    user_id = link.user_id.as_str(),
                    reason = ?verdict.err(),
                    "link refused"
                );
                Err(ApiError::InvalidLink)
            }
        }
    }

    /// `POST /auth/password/reset`: the link is checked, then the new password (a weak one
    /// leaves the link usable), then one transaction replaces the hash, moves the credentials
    /// epoch on (every session ends), marks the address verified, clears the email's lockout
    /// and consumes the link; of two racing uses one wins, the other is `invalid_token`. On an
    /// account whose address was never verified, the same transaction removes every second
    /// factor: the owner of the address gets a clean account, whoever registered it.
    pub async fn reset_password(
        &self,
        input: PasswordReset,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let (link, user) = self
            .good_link(input.token.expose_secret(), Purpose::Reset)
            .await?;
        password::check_policy(
            &input.new,
            &user.email,
            user.name.as_ref().map(DisplayName::as_str),
        )
        .map_err(ApiError::WeakPassword)?;
        let hasher = self.hasher.clone();
        let new = input.new;
        let new_hash = blocking(move || hasher.hash(&new))
            .await?
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            match self
                .store
                .reset_password(&link, &user.email, &new_hash, !user.email_verified)
                .await?
            {
                Consumed::Done { epoch } => {
                    audit("password_reset", caller, Some(user.id.as_str()), None);
                    audit_sessions_revoked(caller, user.id.as_str(), epoch);
                    self.notices
                        .send(
                            SecurityChange::PasswordReset,
                            user.email.as_str(),
                            user.id.as_str(),
                            caller,
                        )
                        .await;
                    return Ok(());
                }
                Consumed::Dead | Consumed::EmailTaken => return Err(ApiError::InvalidLink),
                Consumed::Conflict => continue,
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }

    /// `POST /auth/email/verify`: the profile's address becomes verified. A second factor set
    /// up before (by whoever registered the address) goes, with every session: the address's
    /// owner wins. Without one, the sessions live on.
    pub async fn verify_email(&self, token: &str, caller: &Caller) -> Result<(), ApiError> {
        let (link, user) = self.good_link(token, Purpose::Verify).await?;
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            let (record, codes) = self.store.mfa_and_recovery(&user.id).await?;
            let had_factors = record.is_some() || !codes.is_empty();
            match self.store.verify_email(&link, had_factors).await? {
                Consumed::Done { epoch } => {
                    audit("email_verified", caller, Some(user.id.as_str()), None);
                    if had_factors {
                        audit(
                            "mfa_removed_on_address_proof",
                            caller,
                            Some(user.id.as_str()),
                            None,
                        );
                        audit_sessions_revoked(caller, user.id.as_str(), epoch);
                    }
                    return Ok(());
                }
                Consumed::Dead | Consumed::EmailTaken => return Err(ApiError::InvalidLink),
                Consumed::Conflict => continue,
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }

    /// `POST /auth/email/confirm-change`: the address changes in one transaction (old
    /// email item removed, new one created only if free, profile updated, link consumed) and
    /// every session ends. 409 `email_taken` when someone registered the address meanwhile.
    pub async fn confirm_email_change(&self, token: &str, caller: &Caller) -> Result<(), ApiError> {
        let (link, user) = self.good_link(token, Purpose::EmailChange).await?;
        let credentials = self
            .store
            .credentials(user.email.as_str())
            .await?
            .filter(|c| c.user_id == user.id)
            .ok_or(ApiError::InvalidLink)?;
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            match self.store.change_email(&link, &user, &credentials).await? {
                Consumed::Done { epoch } => {
                    audit("email_changed", caller, Some(user.id.as_str()), None);
                    audit_sessions_revoked(caller, user.id.as_str(), epoch);
                    return Ok(());
                }
                Consumed::EmailTaken => return Err(ApiError::EmailTaken),
                Consumed::Dead => return Err(ApiError::InvalidLink),
                Consumed::Conflict => continue,
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }
}

impl crate::service::guard::HasStore for Outbox {
    fn store(&self) -> &Store {
        &self.store
    }
}

impl crate::service::guard::HasStore for Registrar {
    fn store(&self) -> &Store {
        &self.outbox.store
    }
}

impl crate::service::guard::HasStore for Redeemer {
    fn store(&self) -> &Store {
        &self.store
    }
}
