//! Mail: the messages this service sends (password reset, email verification, email change)
//! rendered from the templates in `shared/templates/` and sent through Amazon SES v2
//! (`SendEmail`). Locally and in tests the same client talks to an SES v2 emulator
//! (`SES_ENDPOINT_URL`). A link's token appears in the message body only: never in a log line.

use std::time::Duration;

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::{Credentials as AwsCredentials, Region};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use minijinja::{Environment, context};

use crate::config::MailSettings;
use crate::error::BoxError;
use crate::metrics;

/// One message to one address.
#[derive(Clone)]
pub enum Mail<'a> {
    /// The password-reset link.
    Reset {
        to: &'a str,
        link: &'a str,
        ttl: i64,
    },
    /// The email-verification link.
    Verify {
        to: &'a str,
        link: &'a str,
        ttl: i64,
    },
    /// The link that confirms an email change, to the new address.
    ConfirmChange {
        to: &'a str,
        link: &'a str,
        ttl: i64,
    },
    /// The notice to the old address that a change was asked for (no link).
    ChangeNotice { to: &'a str, new_email: &'a str },
    /// A security notice (no link): what changed on the account, when, and from where.
    Notice {
        to: &'a str,
        change: SecurityChange,
        /// When, as `YYYY-MM-DD HH:MM:SS UTC`.
        when: &'a str,
        ip: Option<&'a str>,
        agent: Option<&'a str>,
    },
}

/// What a security notice tells the address about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityChange {
    PasswordChanged,
    PasswordReset,
    TwoFactorDisabled,
    RecoveryCodesRegenerated,
    /// An administrator removed the account's second factors.
    FactorsRemoved,
}

impl SecurityChange {
    fn subject(self, product: &str) -> String {
        match self {
            Self::PasswordChanged => format!("Your {product} password was changed"),
            Self::PasswordReset => format!("Your {product} password was reset"),
            Self::TwoFactorDisabled => {
                format!("Two-factor authentication was turned off for your {product} account")
            }
            Self::RecoveryCodesRegenerated => {
                format!("New recovery codes were made for your {product} account")
            }
            Self::FactorsRemoved => format!(
                "An administrator removed two-factor authentication from your {product} account"
            ),
        }
    }

    /// The sentence saying what happened.
    fn what(self, product: &str) -> String {
        match self {
            Self::PasswordChanged => format!(
                "the password of your {product} account was changed, and every session ended."
            ),
            Self::PasswordReset => format!(
                "the password of your {product} account was reset from a link mailed to this address, and every session ended."
            ),
            Self::TwoFactorDisabled => format!(
                "two-factor authentication was turned off for your {product} account; its recovery codes no longer work."
            ),
            Self::RecoveryCodesRegenerated => format!(
                "a new set of recovery codes was made for your {product} account; the earlier ones no longer work."
            ),
            Self::FactorsRemoved => format!(
                "an administrator removed two-factor authentication from your {product} account, and every session ended."
            ),
        }
    }

    /// What to do if it was not the owner.
    fn advice(self) -> &'static str {
        match self {
            Self::PasswordChanged | Self::PasswordReset => {
                "If this was not you, ask for a password reset from the sign-in page at once and tell your administrator."
            }
            Self::TwoFactorDisabled | Self::RecoveryCodesRegenerated | Self::FactorsRemoved => {
                "If this was not you, change your password from the sign-in page at once (that ends every session) and tell your administrator."
            }
        }
    }
}

// Kept by hand: borrowed links (&str) can't be secrecy types; a derive would print addresses.
impl std::fmt::Debug for Mail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the link: it holds the token.
        f.write_str(self.template())
    }
}

impl Mail<'_> {
    fn template(&self) -> &'static str {
        match self {
            Self::Reset { .. } => "reset",
            Self::Verify { .. } => "verify",
            Self::ConfirmChange { .. } => "confirm_change",
            Self::ChangeNotice { .. } => "change_notice",
            Self::Notice { .. } => "security_notice",
        }
    }

    fn to(&self) -> &str {
        match self {
            Self::Reset { to, .. }
            | Self::Verify { to, .. }
            | Self::ConfirmChange { to, .. }
            | Self::ChangeNotice { to, .. }
            | Self::Notice { to, .. } => to,
        }
    }

    fn subject(&self, product: &str) -> String {
        match self {
            Self::Reset { .. } => format!("Reset your {product} password"),
            Self::Verify { .. } => format!("Verify your email address for {product}"),
            Self::ConfirmChange { .. } => format!("Confirm your new email address for {product}"),
            Self::ChangeNotice { .. } => format!("Your {product} email address is being changed"),
            Self::Notice { change, .. } => change.subject(product),
        }
    }
}

/// `ada@example.com` → `a***@example.com`: enough for the owner to recognise, not a copy.
pub fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// A `User-Agent` as a notice shows it: at most 120 characters of letters, digits and
/// ` ./;()_,+-` (no `:`: nothing a mail reader turns into a link from what a client sent).
pub fn plain_agent(agent: &str) -> String {
    agent
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ./;()_,+-".contains(c) {
                c
            } else {
                ' '
            }
        })
        .take(120)
        .collect()
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders and sends mail.
#[derive(Clone)]
pub struct Mailer {
    client: Client,
    settings: MailSettings,
    templates: std::sync::Arc<Environment<'static>>,
}

// Kept by hand: nothing secret; the SDK client and compiled templates are only noise in a log.
impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The templates, compiled into the binary. Names ending `.html` are auto-escaped.
fn templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in [
        ("reset.txt", include_str!("../templates/reset.txt")),
        ("reset.html", include_str!("../templates/reset.html")),
        ("verify.txt", include_str!("../templates/verify.txt")),
        ("verify.html", include_str!("../templates/verify.html")),
        (
            "confirm_change.txt",
            include_str!("../templates/confirm_change.txt"),
        ),
        (
            "confirm_change.html",
            include_str!("../templates/confirm_change.html"),
        ),
        (
            "change_notice.txt",
            include_str!("../templates/change_notice.txt"),
        ),
        (
            "change_notice.html",
            include_str!("../templates/change_notice.html"),
        ),
        (
            "security_notice.txt",
            include_str!("../templates/security_notice.txt"),
        ),
        (
            "security_notice.html",
            include_str!("../templates/security_notice.html"),
        ),
    ] {
        env.add_template(name, source)?;
    }
    Ok(env)
}

impl Mailer {
    /// An SES v2 client from the function's AWS configuration; with `SES_ENDPOINT_URL`, the
    /// emulator (which checks neither region nor credentials).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        settings: MailSettings,
    ) -> Result<Self, minijinja::Error> {
        let mut builder = aws_sdk_sesv2::config::Builder::from(sdk);
        if let Some(url) = &settings.endpoint_url {
            builder = builder
                .endpoint_url(url)
                .region(Region::new("local"))
                .credentials_provider(AwsCredentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "ses-local",
                ));
        }
        Ok(Self {
            client: Client::from_conf(builder.build()),
            settings,
            templates: std::sync::Arc::new(templates()?),
        })
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// `{APP_BASE_URL}{path}?token=…` (the token is base64url: nothing to escape).
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.settings.app_base_url)
    }

    /// The subject, text and HTML of a message.
    pub fn render(&self, mail: &Mail<'_>) -> Result<Rendered, minijinja::Error> {
        let product = self.settings.product_name.as_str();
        let ctx = match mail {
            Mail::Reset { link, ttl, .. } | Mail::ConfirmChange { link, ttl, .. } => {
                context! { product, link, minutes => ttl / 60, email => mail.to() }
            }
            Mail::Verify { link, ttl, .. } => {
                context! { product, link, hours => ttl / 3600, email => mail.to() }
            }
            Mail::ChangeNotice { new_email, .. } => {
                context! { product, new_email => mask(new_email) }
            }
            Mail::Notice {
                change,
                when,
                ip,
                agent,
                ..
            } => context! {
                product,
                what => change.what(product),
                advice => change.advice(),
                when,
                ip => ip.unwrap_or("unknown"),
                agent => agent.map_or_else(|| "unknown".to_owned(), plain_agent),
            },
        };
        let name = mail.template();
        Ok(Rendered {
            subject: mail.subject(product),
            text: self
                .templates
                .get_template(&format!("{name}.txt"))?
                .render(&ctx)?,
            html: self
                .templates
                .get_template(&format!("{name}.html"))?
                .render(&ctx)?,
        })
    }

    /// Sends one message (`SendEmail`, simple content, text and HTML). The error keeps its
    /// source for the log; it never holds the body.
    ///
    /// Nothing goes to the stand-in address of an account without an email
    /// ([`crate::domain::Email::unreachable`]): the send is skipped and logged, not an error.
    pub async fn send(&self, mail: &Mail<'_>) -> Result<(), BoxError> {
        if crate::domain::Email::from_stored(mail.to().to_owned()).is_unreachable() {
            tracing::info!(
                template = mail.template(),
                "mail skipped: the account has no email address"
            );
            return Ok(());
        }
        let rendered = self.render(mail)?;
        let content = |data: String| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| -> BoxError { Box::new(e) })
        };
        let message = Message::builder()
            .subject(content(rendered.subject)?)
            .body(
                Body::builder()
                    .text(content(rendered.text)?)
                    .html(content(rendered.html)?)
                    .build(),
            )
            .build();
        let send = self
            .client
            .send_email()
            .from_email_address(&self.settings.from)
            .destination(Destination::builder().to_addresses(mail.to()).build())
            .content(EmailContent::builder().simple(message).build())
            .send();
        // SES answers in tens of milliseconds; a stuck call must not hold the request.
        let sent: Result<(), BoxError> = match tokio::time::timeout(SEND_TIMEOUT, send).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(aws_sdk_sesv2::error::DisplayErrorContext(err)
                .to_string()
                .into()),
            Err(elapsed) => Err(Box::new(elapsed)),
        };
        let outcome = if sent.is_ok() {
            metrics::MAIL_SENT
        } else {
            metrics::MAIL_FAILED
        };
        metrics::count(metrics::Metric::Mail, outcome);
        sent
    }
}

/// The longest a `SendEmail` may take before it counts as failed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer() -> Mailer {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let settings = MailSettings {
            endpoint_url: Some("http://127.0.0.1:1".into()),
            from: "no-reply@example.com".into(),
            product_name: "Acme <Auth>".into(),
            app_base_url: "https://app.example.com".into(),
            reset_path: "/reset".into(),
            verify_path: "/verify".into(),
            confirm_email_path: "/confirm".into(),
        };
        Mailer::new(&sdk, settings).unwrap()
    }

    /// The mailer's endpoint accepts no connection: a send that tried would fail.
    #[tokio::test]
    async fn nothing_is_mailed_to_an_account_without_an_address() {
        let m = mailer();
        let id = crate::domain::UserId::random();
        let stand_in = crate::domain::Email::unreachable(&id);
        let notice = Mail::ChangeNotice {
            to: stand_in.as_str(),
            new_email: "new@example.com",
        };
        assert!(m.send(&notice).await.is_ok());
    }

    #[test]
    fn every_message_renders_its_link_in_text_and_escaped_html() {
        let m = mailer();
        let link = m.link("/reset", "abc_-123");
        assert_eq!(link, "https://app.example.com/reset?token=abc_-123");
        let r = m
            .render(&Mail::Reset {
                to: "a@example.com",
                link: &link,
                ttl: 1_800,
            })
            .unwrap();
        assert_eq!(r.subject, "Reset your Acme <Auth> password");
        assert!(r.text.lines().any(|l| l == link), "{}", r.text);
        assert!(r.text.contains("30 minutes"));
        let html = r.html.replace("&#x2f;", "/");
        assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
        assert!(r.html.contains("Acme &lt;Auth&gt;"), "{}", r.html);
        let r = m
            .render(&Mail::Verify {
                to: "a@example.com",
                link: &link,
                ttl: 86_400,
            })
            .unwrap();
        assert!(r.text.contains("24 hours") && r.text.contains("a@example.com"));
        let r = m
            .render(&Mail::ConfirmChange {
                to: "n@example.com",
                link: &link,
                ttl: 3_600,
            })
            .unwrap();
        assert!(r.text.contains("60 minutes") && r.text.lines().any(|l| l == link));
        let r = m
            .render(&Mail::ChangeNotice {
                to: "a@example.com",
                new_email: "new@example.com",
            })
            .unwrap();
        assert!(r.text.contains("n***@example.com") && !r.text.contains("new@example.com"));
        assert!(!r.text.contains("token="));
    }

    #[test]
    fn a_security_notice_says_what_when_and_from_where_without_a_link() {
        let m = mailer();
        for change in [
            SecurityChange::PasswordChanged,
            SecurityChange::PasswordReset,
            SecurityChange::TwoFactorDisabled,
            SecurityChange::RecoveryCodesRegenerated,
            SecurityChange::FactorsRemoved,
        ] {
            let r = m
                .render(&Mail::Notice {
                    to: "a@example.com",
                    change,
                    when: "2026-12-07 16:00:00 UTC",
                    ip: Some("192.0.2.1"),
                    agent: Some("<script>x</script>"),
                })
                .unwrap();
            assert_eq!(r.subject, change.subject("Acme <Auth>"));
            for needle in ["2026-12-07 16:00:00 UTC", "192.0.2.1", " script x /script "] {
                assert!(r.text.contains(needle), "{needle}: {}", r.text);
            }
            assert!(!r.html.contains("<script>"), "{}", r.html);
            assert!(!r.text.contains("http") && !r.html.contains("<a "));
        }
        let r = m
            .render(&Mail::Notice {
                to: "a@example.com",
                change: SecurityChange::PasswordChanged,
                when: "2026-12-07 16:00:00 UTC",
                ip: None,
                agent: None,
            })
            .unwrap();
        assert!(r.text.contains("From: unknown"), "{}", r.text);
        assert_eq!(
            plain_agent("Mozilla/5.0 (X11) see https://evil.example"),
            "Mozilla/5.0 (X11) see https //evil.example"
        );
    }

    #[test]
    fn a_mail_never_prints_its_link() {
        let m = Mail::Reset {
            to: "a@example.com",
            link: "https://x/?token=SECRET",
            ttl: 60,
        };
        assert!(!format!("{m:?}").contains("SECRET"));
        assert_eq!(mask("ada@example.com"), "a***@example.com");
        assert_eq!(mask("nope"), "***");
    }
}
