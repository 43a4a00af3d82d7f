//! The records the rules decide on and the store persists: a user's sessions and refresh
//! tokens, two-factor state and login challenges. Plain data whose serde form is its stored
//! attributes, read as they always were from items of before an attribute existed; the keys,
//! `type` and `ttl` (and which values come from the key) are the store's business
//! (`store::keys`).

use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{SessionId, UserId};

/// A sealed TOTP secret as stored: the sealing key's id and `base64(nonce ‖ ciphertext)` (the
/// attribute `sealed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub key_id: String,
    #[serde(rename = "sealed")]
    pub blob: String,
}

/// A user's two-factor state (`USER#<id>` / `MFA`): `state` (`enabled` or `pending`), the
/// sealed secret's `key_id` and `sealed` beside it, `last_step?`, `created_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaRecord {
    /// `false` between enrolment and confirmation.
    #[serde(rename = "state", with = "mfa_state")]
    pub enabled: bool,
    #[serde(flatten)]
    pub sealed: Sealed,
    /// The last TOTP step accepted (each step at most once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<i64>,
    pub created_at: i64,
}

/// [`MfaRecord::enabled`] as stored.
mod mfa_state {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(enabled: &bool, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(if *enabled { "enabled" } else { "pending" })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(stored: D) -> Result<bool, D::Error> {
        match String::deserialize(stored)?.as_str() {
            "enabled" => Ok(true),
            "pending" => Ok(false),
            other => Err(D::Error::custom(format!("unknown mfa state {other:?}"))),
        }
    }
}

/// A login waiting for its second factor (`MFACHALLENGE#<sha256 of mfa_token>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// In the key, not an attribute.
    #[serde(skip)]
    pub token_hash: String,
    pub user_id: UserId,
    pub email: String,
    /// The credentials epoch the password was checked under.
    #[serde(default)]
    pub epoch: i64,
    pub expires_at: i64,
    pub failures: i64,
}

/// A refresh session: one login, and every token rotated from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "sid")]
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    /// Absolute end, fixed at login; rotation never extends it.
    pub expires_at: i64,
    /// The last login or token exchange (the idle timeout counts from here). Sessions of
    /// before it lack it: the store reads those as last used at `created_at`.
    #[serde(default)]
    pub last_used_at: i64,
    /// The user's credentials epoch when the session started.
    #[serde(default)]
    pub epoch: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// How the user authenticated (RFC 8176): `["pwd"]`, or with a second factor.
    #[serde(default = "password_amr", deserialize_with = "stored_amr")]
    pub amr: Vec<String>,
    /// The hash of the session's current refresh token (set by login and every rotation), so
    /// the session can be carried over an epoch change that must keep it (two-factor on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_token: Option<String>,
    /// The `User-Agent` of the login (at most 256 characters), for the sessions list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The address the login came from, for the sessions list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
}

/// The `amr` of sessions and tokens from before two-factor existed.
pub fn password_amr() -> Vec<String> {
    vec!["pwd".to_owned()]
}

/// A stored `amr`: empty (or absent) in sessions and tokens from before two-factor existed.
fn stored_amr<'de, D: Deserializer<'de>>(stored: D) -> Result<Vec<String>, D::Error> {
    let amr = Vec::<String>::deserialize(stored)?;
    Ok(if amr.is_empty() { password_amr() } else { amr })
}

/// Where a refresh token is in its life: stored as `state` (`active` or `rotated`), with
/// `rotated_at` beside it once rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum TokenState {
    /// The session's current token: it may be exchanged once.
    Active,
    /// Exchanged at `at`; presenting it again is reuse.
    Rotated {
        #[serde(rename = "rotated_at")]
        at: i64,
    },
}

/// A stored refresh token (its hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// In the key, not an attribute.
    #[serde(skip)]
    pub token_hash: String,
    pub user_id: UserId,
    #[serde(rename = "sid")]
    pub session_id: SessionId,
    pub session_expires_at: i64,
    /// When this token was issued (login or the exchange that made it); tokens of before it
    /// read as old as their session allows (0).
    #[serde(default)]
    pub issued_at: i64,
    /// The session's credentials epoch.
    #[serde(default)]
    pub epoch: i64,
    #[serde(flatten)]
    pub state: TokenState,
    /// The session's `amr`, carried into every access token it issues.
    #[serde(default = "password_amr", deserialize_with = "stored_amr")]
    pub amr: Vec<String>,
}
