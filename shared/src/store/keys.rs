//! Every single-table key is built here, with the conversions between items and domain values.
//!
//! | entity | PK | SK | other attributes |
//! |---|---|---|---|
//! | user profile | `USER#<user id>` | `PROFILE` | id, email, name, roles, created_at, epoch, active, rev, last_login_at?, `GSI1PK`=`USERS`, `GSI1SK`=`<created, 12 digits>#<id>` |
//! | credentials (email uniqueness) | `EMAIL#<email>` | `CREDENTIALS` | user_id, email, password_hash, roles, epoch, active |
//! | refresh session | `USER#<user id>` | `SESSION#<sid>` | created_at, expires_at, last_used_at, epoch, revoked_at?, user_agent?, source_ip?, ttl |
//! | refresh token | `USER#<user id>` | `REFRESH#<sha256 of token>` | user_id, sid, session_expires_at, issued_at, epoch, state, rotated_at?, ttl (the session's end at login; the token's horizon once an exchange wrote or used it) |
//! | roles catalog | `ROLES` | `CATALOG` | roles (map: name → description, permissions), holders (map: name → count), admins, version |
//! | role stamps (read by the authorizer for tokens naming roles) | `ROLES` | `STAMPS` | `r:<role>` = the catalog version at which the role last lost a permission or was created |
//! | password- and code-check counter | `LOCKOUT#<sha256(email)>` | `LOCKOUT` | failures, window_start, locked_until?, pending (map: reservation id → reserved at), version, ttl |
//! | emailed link | `LINK#<sha256 of token>` | `LINK` | purpose, user_id, email, epoch, created_at, expires_at, ttl |
//! | mails sent to one address | `MAILQUOTA#<purpose>#<email>` | `MAILQUOTA` | count, window_start, ttl |
//! | per-source and registration-mail counters | `RATE#<scope>#<window index>` | `RATE` | hits, ttl |
//! | two-factor state | `USER#<user id>` | `MFA` | state, key_id, sealed, last_step?, created_at |
//! | recovery codes | `USER#<user id>` | `RECOVERY` | codes (string set of SHA-256) |
//! | login waiting for a second factor | `MFACHALLENGE#<sha256 of mfa_token>` | `MFACHALLENGE` | user_id, email, epoch, expires_at, failures, ttl |
//!
//! The profile also holds `email_verified` and, per link purpose, the hash of the newest link
//! sent (`reset_link`, `verify_link`, `change_link`): an older link no longer matches it.
//!
//! A session that has ended for good is deleted, with its active token, by the next login of
//! its user (`Store::prune_sessions`): the `SESSION#` items of a partition are the live
//! sessions plus those ended since that user's last login, whatever the account's age.
//!
//! Every item of a user but the credentials (keyed by email), the password-check counter and
//! the mail counters (keyed by email too) and the emailed links (keyed by their token) lives in
//! the user's partition, so deleting a user is one query of that partition plus those few keys.
//! A refresh token names its user (`<user id>.<256 random bits>`), so refresh reads the token
//! and the profile in one `BatchGetItem`.
//!
//! Only profiles carry `GSI1PK`/`GSI1SK`: the sparse index `GSI1` lists users newest first
//! without a `Scan`.
//!
//! `epoch` is the user's credentials epoch: the profile holds the current one and the
//! credentials item a copy written in the same transactions; a session records the epoch it
//! was started under and is dead once the profile's has moved on.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::{Credentials, DisplayName, Email, SessionId, User, UserId};
use crate::error::StoreError;
use crate::policy::links::{Link, Purpose};
use crate::policy::quota::Quota;
use crate::policy::roles::{Catalog, RoleDef};
use crate::store::schema::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
pub use authcore::records::{
    Challenge, MfaRecord, RefreshRecord, Session, TokenState, password_amr,
};

pub type Item = HashMap<String, AttributeValue>;

pub const PROFILE: &str = "PROFILE";
pub const CREDENTIALS: &str = "CREDENTIALS";
pub const REFRESH: &str = "REFRESH";
pub const LOCKOUT: &str = "LOCKOUT";
pub const LINK: &str = "LINK";
pub const MAILQUOTA: &str = "MAILQUOTA";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const REFRESH_PREFIX: &str = "REFRESH#";
pub use crate::store::schema::{
    EMAIL_VERIFIED, USERS_INDEX, USERS_INDEX_PARTITION, USERS_INDEX_PK, USERS_INDEX_PROJECTION,
    USERS_INDEX_SK,
};
pub const ROLES_PK: &str = "ROLES";
pub const CATALOG: &str = "CATALOG";
pub const STAMPS: &str = "STAMPS";
/// A role's attribute in the stamps item.
const STAMP_PREFIX: &str = "r:";
pub const ACTIVE: &str = "active";
/// The profile's administration revision: every administrator's change is conditioned on it.
pub const REV: &str = "rev";
/// The credentials-epoch attribute (profile, credentials, session, refresh token).
pub const EPOCH: &str = "epoch";

/// The epoch an item holds; items written before epochs existed hold epoch 0.
pub fn epoch_of(item: &Item) -> Result<i64, StoreError> {
    Ok(get_opt_n(item, EPOCH)?.unwrap_or(0))
}

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}

pub fn session_sk(session_id: &str) -> String {
    format!("{SESSION_PREFIX}{session_id}")
}

pub fn lockout_pk(email: &str) -> String {
    // The SHA-256 of the address, never the address: a counter can outlive a deleted user (a
    // login racing the deletion reserves after the purge) until its `ttl`, and must not keep
    // the address in the table.
    format!("LOCKOUT#{}", crate::tokens::hash_refresh_token(email))
}

pub fn link_pk(token_hash: &str) -> String {
    format!("LINK#{token_hash}")
}

pub fn mail_quota_pk(purpose: Purpose, email: &str) -> String {
    format!("MAILQUOTA#{}#{email}", purpose.as_str())
}

pub fn refresh_sk(token_hash: &str) -> String {
    format!("{REFRESH_PREFIX}{token_hash}")
}

/// The index sort key of a profile: creation second, then id (newest first when descending).
pub fn users_index_sk(created_at: i64, user_id: &str) -> String {
    format!("{:012}#{user_id}", created_at.max(0))
}

/// The user id in an index sort key built by [`users_index_sk`] (`None` for anything else).
pub fn user_of_index_sk(sk: &str) -> Option<UserId> {
    let (created, id) = sk.split_once('#')?;
    (created.len() == 12 && created.bytes().all(|b| b.is_ascii_digit()))
        .then(|| UserId::parse(id))
        .flatten()
}

/// The primary key of an item, as a map for `GetItem`/`UpdateItem`.
pub fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
        (SORT_KEY.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

pub fn user_key(user_id: &str) -> Item {
    key(user_pk(user_id), PROFILE)
}

pub fn credentials_key(email: &str) -> Item {
    key(email_pk(email), CREDENTIALS)
}

pub fn session_key(user_id: &str, session_id: &str) -> Item {
    key(user_pk(user_id), &session_sk(session_id))
}

pub fn refresh_key(user_id: &str, token_hash: &str) -> Item {
    key(user_pk(user_id), &refresh_sk(token_hash))
}

pub fn catalog_key() -> Item {
    key(ROLES_PK.to_owned(), CATALOG)
}

pub fn stamps_key() -> Item {
    key(ROLES_PK.to_owned(), STAMPS)
}

/// The stamps item's attribute of `role`.
pub fn stamp_attribute(role: &str) -> String {
    format!("{STAMP_PREFIX}{role}")
}

/// The stamps an item holds: role → catalog version.
pub fn stamps_from_item(
    item: &Item,
) -> Result<std::collections::BTreeMap<String, i64>, StoreError> {
    item.keys()
        .filter_map(|name| name.strip_prefix(STAMP_PREFIX).map(|role| (name, role)))
        .map(|(name, role)| Ok((role.to_owned(), get_n(item, name)?)))
        .collect()
}

/// The roles a profile (or credentials) item holds.
pub fn roles_of(item: &Item) -> Vec<String> {
    get_list(item, "roles")
}

pub fn lockout_key(email: &str) -> Item {
    key(lockout_pk(email), LOCKOUT)
}

pub fn link_key(token_hash: &str) -> Item {
    key(link_pk(token_hash), LINK)
}

pub fn mail_quota_key(purpose: Purpose, email: &str) -> Item {
    key(mail_quota_pk(purpose, email), MAILQUOTA)
}

pub fn link_item(link: &Link) -> Item {
    let mut item = link_key(&link.hash);
    item.insert("type".into(), s("link"));
    item.insert("purpose".into(), s(link.purpose.as_str()));
    item.insert("user_id".into(), s(link.user_id.clone()));
    item.insert("email".into(), s(link.email.clone()));
    item.insert(EPOCH.into(), n(link.epoch));
    item.insert("created_at".into(), n(link.created_at));
    item.insert("expires_at".into(), n(link.expires_at));
    item.insert(TTL_ATTRIBUTE.into(), n(link.expires_at));
    item
}

pub fn link_from_item(token_hash: &str, item: &Item) -> Result<Link, StoreError> {
    let purpose = get_s(item, "purpose")?;
    Ok(Link {
        hash: token_hash.to_owned(),
        purpose: Purpose::parse(&purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown link purpose {purpose:?}")))?,
        user_id: get_s(item, "user_id")?,
        email: get_s(item, "email")?,
        epoch: epoch_of(item)?,
        created_at: get_n(item, "created_at")?,
        expires_at: get_n(item, "expires_at")?,
    })
}

pub fn mail_quota_item(purpose: Purpose, email: &str, quota: &Quota, ttl: i64) -> Item {
    let mut item = mail_quota_key(purpose, email);
    item.insert("type".into(), s("mail_quota"));
    item.insert("count".into(), n(quota.count));
    item.insert("window_start".into(), n(quota.window_start));
    item.insert(TTL_ATTRIBUTE.into(), n(ttl));
    item
}

pub fn mail_quota_from_item(item: &Item) -> Result<Quota, StoreError> {
    Ok(Quota {
        count: get_n(item, "count")?,
        window_start: get_n(item, "window_start")?,
    })
}

/// The hash of the newest link of `purpose` a profile item points at.
pub fn newest_link(item: &Item, purpose: Purpose) -> Option<String> {
    get_opt_s(item, purpose.pointer())
}

/// The partition the cold-start connection read looks in. No item is ever written there; the
/// functions that otherwise never `GetItem` may read only this partition (`template.yaml`).
pub const PRECONNECT_PK: &str = "PRECONNECT";

/// The key the cold-start read asks for (and never finds).
pub fn preconnect_key() -> Item {
    key(PRECONNECT_PK.to_owned(), PRECONNECT_PK)
}

/// The partition prefix of every fixed-window counter ([`crate::policy::rates`]).
pub const RATE_PREFIX: &str = "RATE#";
pub const RATE: &str = "RATE";

/// The counter of one scope in one window: a new window is a new item. A per-address counter
/// is named by the SHA-256 of its scope, never the address itself: it outlives a deleted user
/// (until its window ends) and must not keep the address in the table.
pub fn rate_key(scope: &crate::policy::rates::Scope, window: i64) -> Item {
    let name = match scope {
        crate::policy::rates::Scope::RegistrationMailsTo(_) => {
            format!(
                "mail-to#{}",
                crate::tokens::hash_refresh_token(&scope.name())
            )
        }
        _ => scope.name(),
    };
    key(format!("{RATE_PREFIX}{name}#{window}"), RATE)
}

/// The password-check counter of one normalised email (see [`crate::policy::lockout`]).
pub type Lockout = crate::policy::lockout::Counter;

/// The attribute holding the reservations in flight (reservation id → when reserved).
pub const LOCKOUT_PENDING: &str = "pending";

/// Items of before this counter kept checked failures apart still read: one written before
/// reservations (`failures`, no `version`) reads as version 0; one written while reservations
/// were counted as attempts (`attempts`, `version`, no `pending`) reads its attempts as
/// failures (at rest they were: a right password deleted the counter) with nothing in flight.
pub fn lockout_from_item(item: &Item) -> Result<Lockout, StoreError> {
    let failures = match get_opt_n(item, "failures")? {
        Some(n) => n,
        None => get_n(item, "attempts")?,
    };
    let pending = match item.get(LOCKOUT_PENDING) {
        None => Default::default(),
        Some(value) => {
            let map = value
                .as_m()
                .map_err(|_| StoreError::Corrupt("attribute pending is not a map".into()))?;
            map.keys()
                .map(|id| Ok((id.clone(), get_n(map, id)?)))
                .collect::<Result<_, StoreError>>()?
        }
    };
    Ok(Lockout {
        failures,
        window_start: get_n(item, "window_start")?,
        locked_until: get_opt_n(item, "locked_until")?,
        pending,
        version: get_opt_n(item, "version")?.unwrap_or(0),
    })
}

pub fn lockout_item(email: &str, counter: &Lockout, ttl: i64) -> Item {
    let mut item = lockout_key(email);
    item.insert("type".into(), s("lockout"));
    item.insert("failures".into(), n(counter.failures));
    item.insert("window_start".into(), n(counter.window_start));
    if let Some(until) = counter.locked_until {
        item.insert("locked_until".into(), n(until));
    }
    let pending = counter
        .pending
        .iter()
        .map(|(id, at)| (id.clone(), n(*at)))
        .collect();
    item.insert(LOCKOUT_PENDING.into(), AttributeValue::M(pending));
    item.insert("version".into(), n(counter.version));
    item.insert(TTL_ATTRIBUTE.into(), n(ttl));
    item
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect())
}

fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} is missing or not a string")))
}

fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    get_opt_n(item, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} is missing")))
}

fn get_opt_n(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not an integer"))),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute {name} is not a number"
        ))),
    }
}

fn get_list(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|v| v.as_s().ok()).cloned().collect())
        .unwrap_or_default()
}

pub fn user_item(user: &User) -> Item {
    let mut item = user_key(user.id.as_str());
    item.insert("type".into(), s("user"));
    item.insert("id".into(), s(user.id.as_str()));
    item.insert("email".into(), s(user.email.as_str()));
    if let Some(name) = &user.name {
        item.insert("name".into(), s(name.as_str()));
    }
    item.insert("roles".into(), list(&user.roles));
    item.insert(
        "created_at".into(),
        s(user.created_at.format(&Rfc3339).unwrap_or_default()),
    );
    item.insert(EPOCH.into(), n(user.epoch));
    item.insert(
        EMAIL_VERIFIED.into(),
        AttributeValue::Bool(user.email_verified),
    );
    item.insert(ACTIVE.into(), AttributeValue::Bool(user.active));
    item.insert(REV.into(), n(0));
    if let Some(at) = user.last_login_at {
        item.insert("last_login_at".into(), n(at));
    }
    item.insert(USERS_INDEX_PK.into(), s(USERS_INDEX_PARTITION));
    item.insert(
        USERS_INDEX_SK.into(),
        s(users_index_sk(
            user.created_at.unix_timestamp(),
            user.id.as_str(),
        )),
    );
    item
}

pub fn user_from_item(item: &Item) -> Result<User, StoreError> {
    let id = get_s(item, "id")?;
    let created_at = get_s(item, "created_at")?;
    Ok(User {
        id: UserId::parse(&id)
            .ok_or_else(|| StoreError::Corrupt("user id is not a UUID".into()))?,
        email: Email::from_stored(get_s(item, "email")?),
        name: get_opt_s(item, "name").map(DisplayName::from_stored),
        roles: get_list(item, "roles"),
        created_at: OffsetDateTime::parse(&created_at, &Rfc3339)
            .map_err(|_| StoreError::Corrupt("created_at is not RFC 3339".into()))?,
        epoch: epoch_of(item)?,
        // Accounts from before verification existed read as unverified.
        email_verified: item
            .get(EMAIL_VERIFIED)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        active: get_active(item),
        last_login_at: get_opt_n(item, "last_login_at")?,
    })
}

/// `active`, true when absent (accounts from before the flag).
fn get_active(item: &Item) -> bool {
    item.get(ACTIVE)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(true)
}

/// The profile's administration revision (0 when never changed by an administrator).
pub fn rev_of(item: &Item) -> Result<i64, StoreError> {
    Ok(get_opt_n(item, REV)?.unwrap_or(0))
}

pub fn credentials_item(creds: &Credentials) -> Item {
    let mut item = credentials_key(creds.email.as_str());
    item.insert("type".into(), s("credentials"));
    item.insert("user_id".into(), s(creds.user_id.as_str()));
    item.insert("email".into(), s(creds.email.as_str()));
    item.insert("password_hash".into(), s(creds.password_hash.clone()));
    item.insert("roles".into(), list(&creds.roles));
    item.insert(EPOCH.into(), n(creds.epoch));
    item.insert(MFA_FLAG.into(), AttributeValue::Bool(creds.mfa));
    item.insert(ACTIVE.into(), AttributeValue::Bool(creds.active));
    item
}

pub fn credentials_from_item(item: &Item) -> Result<Credentials, StoreError> {
    Ok(Credentials {
        email: Email::from_stored(get_s(item, "email")?),
        user_id: UserId::parse(&get_s(item, "user_id")?)
            .ok_or_else(|| StoreError::Corrupt("credentials user_id is not a UUID".into()))?,
        password_hash: get_s(item, "password_hash")?,
        roles: get_list(item, "roles"),
        epoch: epoch_of(item)?,
        mfa: get_bool(item, MFA_FLAG),
        active: get_active(item),
    })
}

fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

pub const MFA_SK: &str = "MFA";
pub const RECOVERY_SK: &str = "RECOVERY";
pub const CHALLENGE: &str = "MFACHALLENGE";
/// The credentials item's copy of "two-factor is on" (login reads only that item).
pub const MFA_FLAG: &str = "mfa";

pub fn mfa_key(user_id: &str) -> Item {
    key(user_pk(user_id), MFA_SK)
}

pub fn recovery_key(user_id: &str) -> Item {
    key(user_pk(user_id), RECOVERY_SK)
}

pub fn challenge_key(token_hash: &str) -> Item {
    key(format!("{CHALLENGE}#{token_hash}"), CHALLENGE)
}

pub fn mfa_item(user_id: &str, record: &MfaRecord) -> Item {
    let mut item = mfa_key(user_id);
    item.insert("type".into(), s("mfa"));
    item.insert(
        "state".into(),
        s(if record.enabled { "enabled" } else { "pending" }),
    );
    item.insert("key_id".into(), s(record.sealed.key_id.clone()));
    item.insert("sealed".into(), s(record.sealed.blob.clone()));
    if let Some(step) = record.last_step {
        item.insert("last_step".into(), n(step));
    }
    item.insert("created_at".into(), n(record.created_at));
    item
}

pub fn mfa_from_item(item: &Item) -> Result<MfaRecord, StoreError> {
    let enabled = match get_s(item, "state")?.as_str() {
        "enabled" => true,
        "pending" => false,
        other => return Err(StoreError::Corrupt(format!("unknown mfa state {other:?}"))),
    };
    Ok(MfaRecord {
        enabled,
        sealed: crate::mfa::Sealed {
            key_id: get_s(item, "key_id")?,
            blob: get_s(item, "sealed")?,
        },
        last_step: get_opt_n(item, "last_step")?,
        created_at: get_n(item, "created_at")?,
    })
}

pub fn recovery_item(user_id: &str, hashes: &[String]) -> Item {
    let mut item = recovery_key(user_id);
    item.insert("type".into(), s("recovery_codes"));
    item.insert("codes".into(), AttributeValue::Ss(hashes.to_vec()));
    item
}

pub fn recovery_from_item(item: &Item) -> Vec<String> {
    item.get("codes")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default()
}

pub fn challenge_item(challenge: &Challenge) -> Item {
    let mut item = challenge_key(&challenge.token_hash);
    item.insert("type".into(), s("mfa_challenge"));
    item.insert("user_id".into(), s(challenge.user_id.as_str()));
    item.insert("email".into(), s(challenge.email.clone()));
    item.insert(EPOCH.into(), n(challenge.epoch));
    item.insert("expires_at".into(), n(challenge.expires_at));
    item.insert("failures".into(), n(challenge.failures));
    item.insert(TTL_ATTRIBUTE.into(), n(challenge.expires_at));
    item
}

pub fn challenge_from_item(token_hash: &str, item: &Item) -> Result<Challenge, StoreError> {
    Ok(Challenge {
        token_hash: token_hash.to_owned(),
        user_id: UserId::parse(&get_s(item, "user_id")?)
            .ok_or_else(|| StoreError::Corrupt("challenge user_id is not a UUID".into()))?,
        email: get_s(item, "email")?,
        epoch: epoch_of(item)?,
        expires_at: get_n(item, "expires_at")?,
        failures: get_n(item, "failures")?,
    })
}

pub fn session_item(session: &Session) -> Item {
    let mut item = session_key(session.user_id.as_str(), session.id.as_str());
    item.insert("type".into(), s("session"));
    item.insert("sid".into(), s(session.id.as_str()));
    item.insert("user_id".into(), s(session.user_id.as_str()));
    item.insert("created_at".into(), n(session.created_at));
    item.insert("expires_at".into(), n(session.expires_at));
    item.insert("last_used_at".into(), n(session.last_used_at));
    item.insert(EPOCH.into(), n(session.epoch));
    item.insert(TTL_ATTRIBUTE.into(), n(session.expires_at));
    if let Some(at) = session.revoked_at {
        item.insert("revoked_at".into(), n(at));
    }
    item.insert("amr".into(), list(&session.amr));
    if let Some(token) = &session.active_token {
        item.insert("active_token".into(), s(token.clone()));
    }
    if let Some(agent) = &session.user_agent {
        item.insert("user_agent".into(), s(agent.clone()));
    }
    if let Some(ip) = &session.source_ip {
        item.insert("source_ip".into(), s(ip.clone()));
    }
    item
}

pub fn session_from_item(item: &Item) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId::from_stored(get_s(item, "sid")?),
        user_id: UserId::parse(&get_s(item, "user_id")?)
            .ok_or_else(|| StoreError::Corrupt("session user_id is not a UUID".into()))?,
        created_at: get_n(item, "created_at")?,
        expires_at: get_n(item, "expires_at")?,
        last_used_at: match get_opt_n(item, "last_used_at")? {
            Some(at) => at,
            None => get_n(item, "created_at")?,
        },
        epoch: epoch_of(item)?,
        revoked_at: get_opt_n(item, "revoked_at")?,
        amr: amr_of(item),
        active_token: get_opt_s(item, "active_token"),
        user_agent: get_opt_s(item, "user_agent"),
        source_ip: get_opt_s(item, "source_ip"),
    })
}

fn amr_of(item: &Item) -> Vec<String> {
    let amr = get_list(item, "amr");
    if amr.is_empty() { password_amr() } else { amr }
}

pub const STATE_ACTIVE: &str = "active";
pub const STATE_ROTATED: &str = "rotated";

/// A refresh token's item, expiring (`ttl`) at the session's absolute end: what login writes.
pub fn refresh_item(record: &RefreshRecord) -> Item {
    refresh_item_until(record, record.session_expires_at)
}

/// A refresh token's item expiring at `ttl` (an exchange writes the token's horizon, see
/// [`crate::policy::rotation::horizon`]).
pub fn refresh_item_until(record: &RefreshRecord, ttl: i64) -> Item {
    let mut item = refresh_key(record.user_id.as_str(), &record.token_hash);
    item.insert("type".into(), s("refresh_token"));
    item.insert("user_id".into(), s(record.user_id.as_str()));
    item.insert("sid".into(), s(record.session_id.as_str()));
    item.insert("session_expires_at".into(), n(record.session_expires_at));
    item.insert("issued_at".into(), n(record.issued_at));
    item.insert(EPOCH.into(), n(record.epoch));
    item.insert(TTL_ATTRIBUTE.into(), n(ttl));
    item.insert("amr".into(), list(&record.amr));
    match record.state {
        TokenState::Active => {
            item.insert("state".into(), s(STATE_ACTIVE));
        }
        TokenState::Rotated { at } => {
            item.insert("state".into(), s(STATE_ROTATED));
            item.insert("rotated_at".into(), n(at));
        }
    }
    item
}

pub fn refresh_from_item(token_hash: &str, item: &Item) -> Result<RefreshRecord, StoreError> {
    let state = match get_s(item, "state")?.as_str() {
        STATE_ACTIVE => TokenState::Active,
        STATE_ROTATED => TokenState::Rotated {
            at: get_n(item, "rotated_at")?,
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown refresh token state {other:?}"
            )));
        }
    };
    Ok(RefreshRecord {
        token_hash: token_hash.to_owned(),
        user_id: UserId::parse(&get_s(item, "user_id")?)
            .ok_or_else(|| StoreError::Corrupt("refresh user_id is not a UUID".into()))?,
        session_id: SessionId::from_stored(get_s(item, "sid")?),
        session_expires_at: get_n(item, "session_expires_at")?,
        // Tokens issued before these attributes existed: as old as their session allows.
        issued_at: get_opt_n(item, "issued_at")?.unwrap_or(0),
        epoch: epoch_of(item)?,
        state,
        amr: amr_of(item),
    })
}

/// The roles catalog (see [`crate::policy::roles`]) as stored at `version`.
pub fn catalog_item(catalog: &Catalog, version: i64) -> Item {
    let mut item = catalog_key();
    item.insert("type".into(), s("roles_catalog"));
    let roles = catalog
        .roles
        .iter()
        .map(|(name, role)| {
            let mut def = HashMap::from([(
                "permissions".to_owned(),
                list(&role.permissions.iter().cloned().collect::<Vec<_>>()),
            )]);
            if let Some(description) = &role.description {
                def.insert("description".to_owned(), s(description.clone()));
            }
            (name.clone(), AttributeValue::M(def))
        })
        .collect();
    item.insert("roles".into(), AttributeValue::M(roles));
    let holders = catalog
        .holders
        .iter()
        .map(|(name, count)| (name.clone(), n(*count)))
        .collect();
    item.insert("holders".into(), AttributeValue::M(holders));
    item.insert("admins".into(), n(catalog.active_admins));
    item.insert("version".into(), n(version));
    item
}

pub fn catalog_from_item(item: &Item) -> Result<Catalog, StoreError> {
    let map = |name: &str| item.get(name).and_then(|v| v.as_m().ok());
    let roles = map("roles")
        .into_iter()
        .flatten()
        .map(|(name, def)| {
            let def = def
                .as_m()
                .map_err(|_| StoreError::Corrupt(format!("role {name:?} is not a map")))?;
            let role = RoleDef {
                description: get_opt_s(def, "description"),
                permissions: get_list(def, "permissions").into_iter().collect(),
            };
            Ok((name.clone(), role))
        })
        .collect::<Result<_, StoreError>>()?;
    let holders = map("holders")
        .into_iter()
        .flat_map(|holders| holders.keys().map(move |name| (holders, name)))
        .map(|(holders, name)| Ok((name.clone(), get_n(holders, name)?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(Catalog {
        roles,
        holders,
        active_admins: get_opt_n(item, "admins")?.unwrap_or(0),
        version: get_n(item, "version")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_per_address_counter_keeps_no_address_in_its_key() {
        use crate::policy::rates::Scope;
        let to = rate_key(&Scope::RegistrationMailsTo("ada@example.com".into()), 7);
        let pk = to["PK"].as_s().unwrap();
        assert!(
            pk.starts_with("RATE#mail-to#") && pk.ends_with("#7"),
            "{pk}"
        );
        assert!(!pk.contains("ada") && !pk.contains("example.com"), "{pk}");
        let other = rate_key(&Scope::RegistrationMailsTo("bob@example.com".into()), 7);
        assert_ne!(to, other);
        assert_eq!(
            rate_key(&Scope::RegistrationMails, 7)["PK"].as_s().unwrap(),
            "RATE#mail-all#7"
        );
    }

    #[test]
    fn items_round_trip() {
        let user = User {
            id: UserId::random(),
            email: Email::parse("ada@example.com").unwrap(),
            name: DisplayName::parse("Ada").unwrap(),
            roles: vec!["editor".into()],
            created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            epoch: 4,
            email_verified: true,
            active: false,
            last_login_at: Some(1_700_000_500),
        };
        let item = user_item(&user);
        assert_eq!(item["PK"].as_s().unwrap(), &format!("USER#{}", user.id));
        assert_eq!(user_from_item(&item).unwrap(), user);

        let record = RefreshRecord {
            token_hash: "ab".repeat(32),
            user_id: user.id.clone(),
            session_id: SessionId::random(),
            session_expires_at: 1_800_000_000,
            issued_at: 1_700_000_000,
            epoch: 4,
            state: TokenState::Rotated { at: 1_700_000_100 },
            amr: vec!["pwd".into(), "otp".into()],
        };
        let item = refresh_item(&record);
        assert_eq!(item["ttl"].as_n().unwrap(), "1800000000");
        assert_eq!(
            refresh_from_item(&record.token_hash, &item).unwrap(),
            record
        );

        let session = Session {
            id: record.session_id.clone(),
            user_id: user.id.clone(),
            created_at: 1,
            expires_at: 2,
            last_used_at: 1,
            epoch: 4,
            revoked_at: Some(3),
            amr: password_amr(),
            active_token: Some(record.token_hash.clone()),
            user_agent: Some("curl/8".into()),
            source_ip: Some("192.0.2.1".into()),
        };
        let item = session_item(&session);
        assert_eq!(
            item["SK"].as_s().unwrap(),
            &format!("SESSION#{}", session.id)
        );
        assert_eq!(session_from_item(&item).unwrap(), session);

        let counter = Lockout {
            failures: 2,
            window_start: 10,
            locked_until: Some(40),
            pending: [("r1".to_owned(), 12), ("r2".to_owned(), 13)].into(),
            version: 7,
        };
        let item = lockout_item("a@example.com", &counter, 99);
        let pk = item["PK"].as_s().unwrap();
        assert!(
            pk.starts_with("LOCKOUT#") && !pk.contains("example.com"),
            "{pk}"
        );
        assert_eq!(item["ttl"].as_n().unwrap(), "99");
        assert_eq!(lockout_from_item(&item).unwrap(), counter);
        let empty = Lockout {
            version: 1,
            ..Lockout::default()
        };
        assert_eq!(
            lockout_from_item(&lockout_item("a@example.com", &empty, 1)).unwrap(),
            empty
        );

        let token = crate::policy::links::LinkToken::generate();
        let link = crate::policy::links::issue(
            &token,
            Purpose::EmailChange,
            user.id.as_str(),
            "new@example.com",
            4,
            1_700_000_000,
            3_600,
        );
        let item = link_item(&link);
        assert_eq!(
            item["PK"].as_s().unwrap(),
            &format!("LINK#{}", token.hash())
        );
        assert_eq!(item["ttl"].as_n().unwrap(), "1700003600");
        assert!(!format!("{item:?}").contains(token.expose()));
        assert_eq!(link_from_item(&link.hash, &item).unwrap(), link);

        let catalog = crate::policy::roles::put_role(
            &Catalog::builtin(),
            "editor",
            Some("Writes".into()),
            &["articles.publish".into()],
        )
        .unwrap();
        let mut catalog = Catalog {
            active_admins: 2,
            ..catalog
        };
        catalog.holders.insert("editor".into(), 3);
        let item = catalog_item(&catalog, 7);
        assert_eq!(item["PK"].as_s().unwrap(), "ROLES");
        assert_eq!(
            catalog_from_item(&item).unwrap(),
            Catalog {
                version: 7,
                ..catalog
            }
        );
        assert_eq!(
            user_of_index_sk(&users_index_sk(5, user.id.as_str())),
            Some(user.id.clone())
        );
        assert_eq!(user_of_index_sk("5#x"), None);

        let quota = Quota {
            count: 2,
            window_start: 5,
        };
        let item = mail_quota_item(Purpose::Reset, "a@example.com", &quota, 3_605);
        assert_eq!(item["PK"].as_s().unwrap(), "MAILQUOTA#reset#a@example.com");
        assert_eq!(mail_quota_from_item(&item).unwrap(), quota);
    }

    #[test]
    fn items_written_before_epochs_and_reservations_still_read() {
        let mut item = lockout_key("old@example.com");
        item.insert("failures".into(), n(3));
        item.insert("window_start".into(), n(5));
        let counter = lockout_from_item(&item).unwrap();
        assert_eq!((counter.failures, counter.version), (3, 0));
        assert!(counter.pending.is_empty());
        // An item of the reservation counter that counted checks in flight as attempts.
        let mut item = lockout_key("old@example.com");
        item.insert("attempts".into(), n(4));
        item.insert("window_start".into(), n(1_000));
        item.insert("locked_until".into(), n(1_900));
        item.insert("version".into(), n(6));
        item.insert("ttl".into(), n(1_900));
        let counter = lockout_from_item(&item).unwrap();
        assert_eq!(
            counter,
            Lockout {
                failures: 4,
                window_start: 1_000,
                locked_until: Some(1_900),
                pending: Default::default(),
                version: 6,
            }
        );
        // It reads sensibly under the rule: its lock runs; once over, a fresh count.
        let settings = crate::config::LockoutSettings {
            max_failures: 5,
            window: 900,
        };
        assert_eq!(
            crate::policy::lockout::reserve(&settings, Some(&counter), 1_500, "r"),
            crate::policy::lockout::Reservation::Locked { retry_after: 400 }
        );
        match crate::policy::lockout::reserve(&settings, Some(&counter), 1_900, "r") {
            crate::policy::lockout::Reservation::Granted(next) => {
                assert_eq!(
                    (next.failures, next.locked_until, next.version),
                    (0, None, 7)
                );
                assert_eq!(next.pending.get("r"), Some(&1_900));
            }
            other => panic!("{other:?}"),
        }
        // Not locked, four attempts: one more check may run, then the allowance is in flight.
        item.remove("locked_until");
        let counter = lockout_from_item(&item).unwrap();
        assert!(matches!(
            crate::policy::lockout::reserve(&settings, Some(&counter), 1_100, "r"),
            crate::policy::lockout::Reservation::Granted(_)
        ));
        let mut item = session_key(&UserId::random().to_string(), "s");
        item.insert("sid".into(), s("s"));
        item.insert("user_id".into(), s(UserId::random().as_str()));
        item.insert("created_at".into(), n(5));
        item.insert("expires_at".into(), n(9));
        let session = session_from_item(&item).unwrap();
        assert_eq!((session.epoch, session.last_used_at), (0, 5));
    }

    #[test]
    fn malformed_items_are_errors_not_panics() {
        let mut item = user_key("nope");
        item.insert("id".into(), s("not-a-uuid"));
        assert!(matches!(user_from_item(&item), Err(StoreError::Corrupt(_))));
        let mut item = refresh_key(&UserId::random().to_string(), "h");
        item.insert("state".into(), s("weird"));
        assert!(refresh_from_item("h", &item).is_err());
    }

    /// DynamoDB's size of an item: attribute names, strings by their UTF-8 bytes, numbers up
    /// to 21 bytes, maps and lists 3 bytes plus 1 per element (map keys count as names).
    fn dynamodb_size(value: &AttributeValue) -> usize {
        match value {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => (n.trim_start_matches('-').len() / 2 + 1).min(21),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + dynamodb_size(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m
                    .iter()
                    .map(|(k, v)| 1 + k.len() + dynamodb_size(v))
                    .sum::<usize>()
            }
            other => panic!("not in the catalog: {other:?}"),
        }
    }

    /// `policy::roles::catalog_bytes`, which bounds the catalog, never undercounts the item.
    #[test]
    fn the_catalog_bound_counts_at_least_what_dynamodb_counts() {
        use crate::policy::roles::{self, MAX_ROLES, catalog_bytes};
        let mut catalog = Catalog::builtin();
        for i in 1..MAX_ROLES {
            let permissions: Vec<String> = (0..(i % 7) * 3)
                .map(|p| format!("perm{p}.{}", "x".repeat(i)))
                .collect();
            let description = (i % 2 == 0).then(|| "d".repeat(i * 5));
            catalog = roles::put_role(&catalog, &format!("role-{i:02}"), description, &permissions)
                .unwrap_or(catalog);
            catalog.holders.insert(
                format!("role-{i:02}"),
                1_000_000_000 + i64::try_from(i).unwrap(),
            );
        }
        catalog.active_admins = 12_345;
        for catalog in [Catalog::builtin(), catalog] {
            let item = catalog_item(&catalog, 99_999_999);
            let stored: usize = item.iter().map(|(k, v)| k.len() + dynamodb_size(v)).sum();
            assert!(
                catalog_bytes(&catalog) >= stored,
                "{} < {stored}",
                catalog_bytes(&catalog)
            );
        }
    }
}
