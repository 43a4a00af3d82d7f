//! The domain operations, one per route. A handler parses its request, calls exactly one of
//! these, and turns the result into a response; expected failures are `Err(ApiError)` values.
//!
//! Refresh-token rotation, as a state machine per token:
//!
//! ```text
//! login ──▶ Active ──(presented, transaction wins)──▶ Rotated      (a new Active token is issued)
//!             │                                         │
//!             │ session revoked / expired               │ presented again (reuse)
//!             ▼                                         ▼
//!        invalid_token                     first time: revoke the session → token_reused
//!                                          afterwards (session revoked)   → invalid_token
//!                                          within REFRESH_REUSE_GRACE_SECONDS → invalid_token, nothing revoked
//! ```
//!
//! The exchange is one `TransactWriteItems`: mark the old token rotated *if it is active*, put the
//! new token, and check the session exists and is not revoked. Of concurrent exchanges of one
//! token exactly one can win; the losers then see a rotated token and count as reuse.
//!
//! Login throttling, per normalised email (whether or not an account has it):
//!
//! ```text
//! failures < max within the window ──(wrong password)──▶ count + 1        → 401 invalid_credentials
//! the failure that reaches max      ──────────────────▶ locked_until = now + window → 401
//! locked (now < locked_until)       ──(any attempt)───▶ 429 too_many_attempts, Retry-After;
//!                                                       not counted, lock not extended
//! window over                       ──(wrong password)──▶ count starts again at 1
//! any state                         ──(right password, not locked)──▶ count deleted (same transaction as the session)
//! ```

mod accounts;
mod logins;
mod profiles;
mod refresh;
mod requests;
mod sessions;
mod tokens;

pub use accounts::Accounts;
pub use logins::Logins;
pub use profiles::Profiles;
pub use refresh::Refresher;
pub use requests::{
    LoginRequest, NameChange, PasswordChange, Registration, refresh_token_from_body,
};
pub use sessions::Sessions;
pub use tokens::TokenPair;

use tracing::info;

use crate::error::ApiError;

/// Who asked, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

impl Caller {
    pub fn of(req: &lambda_http::Request) -> Self {
        Self {
            request_id: crate::http::request_id(req),
            source_ip: crate::http::source_ip(req),
        }
    }
}

/// One structured line per security event. Never a password, token, hash or key.
pub(crate) fn audit(
    event: &'static str,
    caller: &Caller,
    user_id: Option<&str>,
    session_id: Option<&str>,
) {
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

/// The `sessions_revoked` event, with how many sessions this request ended.
pub(crate) fn audit_sessions_revoked(caller: &Caller, user_id: &str, count: usize) {
    info!(
        target: "audit",
        event = "sessions_revoked",
        user_id,
        count,
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
