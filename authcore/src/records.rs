//! The records the rules decide on and the store persists: a user's sessions and refresh
//! tokens, two-factor state and login challenges. Plain data; how each is stored (its key and
//! attribute names) is the store's business (`shared::store::keys`).

use crate::domain::{SessionId, UserId};

/// A sealed TOTP secret as stored: the sealing key's id and `base64(nonce ‖ ciphertext)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub blob: String,
}

/// A user's two-factor state (`USER#<id>` / `MFA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaRecord {
    /// `false` between enrolment and confirmation.
    pub enabled: bool,
    pub sealed: Sealed,
    /// The last TOTP step accepted (each step at most once).
    pub last_step: Option<i64>,
    pub created_at: i64,
}

/// A login waiting for its second factor (`MFACHALLENGE#<sha256 of mfa_token>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub token_hash: String,
    pub user_id: UserId,
    pub email: String,
    /// The credentials epoch the password was checked under.
    pub epoch: i64,
    pub expires_at: i64,
    pub failures: i64,
}

/// A refresh session: one login, and every token rotated from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    /// Absolute end, fixed at login; rotation never extends it.
    pub expires_at: i64,
    /// The last login or token exchange (the idle timeout counts from here).
    pub last_used_at: i64,
    /// The user's credentials epoch when the session started.
    pub epoch: i64,
    pub revoked_at: Option<i64>,
    /// How the user authenticated (RFC 8176): `["pwd"]`, or with a second factor.
    pub amr: Vec<String>,
    /// The hash of the session's current refresh token (set by login and every rotation), so
    /// the session can be carried over an epoch change that must keep it (two-factor on).
    pub active_token: Option<String>,
    /// The `User-Agent` of the login (at most 256 characters), for the sessions list.
    pub user_agent: Option<String>,
    /// The address the login came from, for the sessions list.
    pub source_ip: Option<String>,
}

/// The `amr` of sessions and tokens from before two-factor existed.
pub fn password_amr() -> Vec<String> {
    vec!["pwd".to_owned()]
}

/// Where a refresh token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// The session's current token: it may be exchanged once.
    Active,
    /// Exchanged at `at`; presenting it again is reuse.
    Rotated { at: i64 },
}

/// A stored refresh token (its hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub session_expires_at: i64,
    /// When this token was issued (login or the exchange that made it).
    pub issued_at: i64,
    /// The session's credentials epoch.
    pub epoch: i64,
    pub state: TokenState,
    /// The session's `amr`, carried into every access token it issues.
    pub amr: Vec<String>,
}
