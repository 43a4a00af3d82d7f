//! Security notices: a mail to the account's address, without any link, when something about
//! its security changed (the password changed or reset, two-factor turned off, new recovery
//! codes, an administrator removing the second factors), saying when and from which address
//! and user agent. A notice never decides anything: one that cannot be sent is logged, and
//! the change it reports stands.

use time::OffsetDateTime;
use time::macros::format_description;

use crate::clock::SharedClock;
use crate::config::{MailSettings, Source, StoreSettings};
use crate::mail::{Mail, Mailer, SecurityChange};
use crate::runtime::InitError;
use crate::service::Caller;

/// Sends security notices (or, built with [`Notices::off`], none: the operations of functions
/// that do not report a change build their service without a mailer).
#[derive(Debug, Clone)]
pub struct Notices {
    mailer: Option<Mailer>,
    clock: SharedClock,
}

impl Notices {
    /// Sends nothing.
    pub fn off(clock: SharedClock) -> Self {
        Self {
            mailer: None,
            clock,
        }
    }

    pub fn new(mailer: Mailer, clock: SharedClock) -> Self {
        Self {
            mailer: Some(mailer),
            clock,
        }
    }

    /// With the mail settings (`MAIL_FROM`, `APP_BASE_URL`, … required).
    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let sdk = crate::store::sdk_config(&StoreSettings::from_source(src)?).await;
        Self::from_parts(&sdk, src, clock)
    }

    /// The same, with an AWS configuration already loaded (a store's).
    pub fn from_parts(
        sdk: &aws_config::SdkConfig,
        src: &dyn Source,
        clock: SharedClock,
    ) -> Result<Self, InitError> {
        Ok(Self::new(
            Mailer::new(sdk, MailSettings::from_source(src)?)?,
            clock,
        ))
    }

    /// Mails the notice of `change` to `to`, the address of `user_id`. A failure is logged
    /// (without the address) and otherwise ignored.
    pub(crate) async fn send(
        &self,
        change: SecurityChange,
        to: &str,
        user_id: &str,
        caller: &Caller,
    ) {
        let Some(mailer) = &self.mailer else {
            return;
        };
        let when = OffsetDateTime::from_unix_timestamp(self.clock.unix())
            .ok()
            .and_then(|at| {
                at.format(format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
                ))
                .ok()
            })
            .unwrap_or_default();
        let mail = Mail::Notice {
            to,
            change,
            when: &when,
            ip: caller.source_ip.as_deref(),
            agent: caller.user_agent.as_deref(),
        };
        if let Err(err) = mailer.send(&mail).await {
            tracing::error!(
                request_id = caller.request_id.as_deref(),
                user_id,
                notice = ?change,
                error = %err,
                "security notice not sent"
            );
        }
    }
}
