//! The domain operations, one per route. A handler parses its request, calls exactly one of
//! these, and turns the result into a response; expected failures are `Err(ApiError)` values.
//!
//! The rules these operations apply are in [`crate::policy`]: refresh-token rotation and reuse
//! detection ([`crate::policy::rotation`]), the reservation of every password check
//! ([`crate::policy::lockout`]), and which sessions are live ([`crate::policy::sessions`]).

mod access;
mod accounts;
pub mod admin;
mod factors;
mod guard;
mod logins;
mod mfa;
mod notices;
mod profiles;
mod recovery;
mod refresh;
mod requests;
mod sessions;
mod throttle;
mod tokens;

pub use access::{AccessChecker, Denied};
pub use accounts::Accounts;
pub use admin::{Actor, Admin, DeletingBody, Deletion, RolePut, UserPatch, ensure_admin};
pub use factors::FactorRemoval;
pub use guard::{Guarded, HasStore, SourceGuard};
pub use logins::Logins;
pub use mfa::{Enrolment, Factor, MfaLogins, RecoveryCodesBody, TwoFactor};
pub use notices::Notices;
pub use profiles::Profiles;
pub use recovery::{EmailChanges, FORGOT_MIN_DURATION, Outbox, Redeemer, Registrar};
pub use refresh::Refresher;
pub use requests::{
    EmailChange, LoginName, LoginRequest, MfaDisable, MfaVerify, NameChange, PasswordChange,
    PasswordReset, Registration, code_from_body, current_password_from_body, email_from_body,
    link_token_from_body,
};
pub use sessions::{SessionBody, Sessions, SessionsBody};
pub use tokens::TokenPair;

use secrecy::ExposeSecret;
use serde::{Serialize, Serializer};
use tracing::info;

use crate::error::ApiError;

/// `serialize_with` for a secret a response body carries on purpose (tokens, a new TOTP
/// secret, recovery codes): the bytes of the secret itself; its `Debug` stays redacted.
pub(crate) fn exposed<S, T, Ser>(secret: &S, serializer: Ser) -> Result<Ser::Ok, Ser::Error>
where
    S: ExposeSecret<T>,
    T: Serialize + ?Sized,
    Ser: Serializer,
{
    secret.expose_secret().serialize(serializer)
}

/// Who asked, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    /// The `User-Agent` (at most 256 characters), recorded on the sessions a login starts.
    pub user_agent: Option<String>,
}

/// The longest `User-Agent` kept on a session.
const MAX_USER_AGENT: usize = 256;

impl Caller {
    pub fn of(req: &lambda_http::Request) -> Self {
        let user_agent = req
            .headers()
            .get(lambda_http::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect::<String>())
            .filter(|ua| !ua.trim().is_empty());
        Self {
            request_id: crate::http::request_id(req),
            source_ip: crate::http::source_ip(req),
            user_agent,
        }
    }
}

/// One structured line per security event, and its count ([`crate::metrics::EVENTS`]). Never
/// a password, token, hash or key.
pub(crate) fn audit(
    event: &'static str,
    caller: &Caller,
    user_id: Option<&str>,
    session_id: Option<&str>,
) {
    crate::metrics::count_event(event);
    info!(
        target: "audit",
        event,
        user_id,
        session_id,
        request_id = caller.request_id.as_deref(),
        source_ip = caller.source_ip.as_deref(),
        "security event"
    );
}

/// The `sessions_revoked` event: every session of the user ended, because its credentials
/// epoch moved on to `epoch`.
pub(crate) fn audit_sessions_revoked(caller: &Caller, user_id: &str, epoch: i64) {
    crate::metrics::count_event("sessions_revoked");
    info!(
        target: "audit",
        event = "sessions_revoked",
        user_id,
        epoch,
        request_id = caller.request_id.as_deref(),
        source_ip = caller.source_ip.as_deref(),
        "security event"
    );
}

/// How many password hashes run at once in this process: one per CPU. Each Argon2id hash holds
/// `ARGON2_MEMORY_KIB` for its whole run, so this bounds the process's hashing memory (cores ×
/// m) and keeps a burst of logins from thrashing the CPUs; the rest wait their turn. On Lambda a
/// process serves one request at a time and never waits here.
static PASSWORD_WORK: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();

fn password_work() -> &'static tokio::sync::Semaphore {
    PASSWORD_WORK.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cpus)
    })
}

/// Runs CPU-bound password work off the async threads, at most one per CPU at a time.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = password_work()
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))
}
