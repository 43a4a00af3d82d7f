//! Every single-table key is built here, with the conversions between items and domain values.
//! A record's attributes are its serde form (derived in `authcore`, serde_dynamo here), so the
//! names below are its fields' (renamed where the table says otherwise); this module adds the
//! key, `type` (on every item written whole) and `ttl`.
//!
//! | entity | PK | SK | other attributes |
//! |---|---|---|---|
//! | user profile | `USER#<user id>` | `PROFILE` | id, email, name?, roles, created_at (RFC 3339), epoch, active, rev (0 when created), last_login_at?, `GSI1PK`=`USERS`, `GSI1SK`=`<created, 12 digits>#<id>` |
//! | credentials (email uniqueness) | `EMAIL#<email>` | `CREDENTIALS` | user_id, email, password_hash, roles, epoch, mfa, active, permissions? |
//! | username (login-name uniqueness) | `USERNAME#<lower-cased username>` | `USERNAME` | username (as written), user_id, email |
//! | refresh session | `USER#<user id>` | `SESSION#<sid>` | sid, user_id, created_at, expires_at, last_used_at, epoch, revoked_at?, amr, active_token?, user_agent?, source_ip?, ttl |
//! | refresh token | `USER#<user id>` | `REFRESH#<sha256 of token>` | user_id, sid, session_expires_at, issued_at, epoch, state, rotated_at?, amr, ttl (the session's end at login; the token's horizon once an exchange wrote or used it) |
//! | roles catalog | `ROLES` | `CATALOG` | roles (map: name → description?, permissions), holders (map: name → count), admins, version |
//! | role stamps (read by the authorizer for tokens naming roles) | `ROLES` | `STAMPS` | `r:<role>` = the catalog version at which the role last lost a permission or was created |
//! | password- and code-check counter | `LOCKOUT#<sha256(email)>` | `LOCKOUT` | failures, window_start, locked_until?, pending (map: reservation id → reserved at), version, ttl |
//! | emailed link | `LINK#<sha256 of token>` | `LINK` | purpose, user_id, email, epoch, created_at, expires_at, ttl |
//! | mails sent to one address | `MAILQUOTA#<purpose>#<email>` | `MAILQUOTA` | count, window_start, ttl |
//! | per-source and registration-mail counters | `RATE#<scope>#<window index>` | `RATE` | hits, ttl |
//! | two-factor state | `USER#<user id>` | `MFA` | state, key_id, sealed, last_step?, created_at |
//! | recovery codes | `USER#<user id>` | `RECOVERY` | codes (string set of SHA-256, the one `SS`: every other list is an `L` of strings) |
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
//! Items of before an attribute existed read as they always did (the records' serde defaults:
//! no epoch is 0, no `amr` a password, no `active` active...); `stored_items` holds one of each
//! shape, as main wrote it.
//!
//! `epoch` is the user's credentials epoch: the profile holds the current one and the
//! credentials item a copy written in the same transactions; a session records the epoch it
//! was started under and is dead once the profile's has moved on.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::schema::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
use authcore::domain::{Credentials, User, UserId, UsernameAlias};
use authcore::policy::links::{Link, Purpose};
use authcore::policy::quota::Quota;
use authcore::policy::roles::Catalog;
pub use authcore::records::{
    Challenge, MfaRecord, RefreshRecord, Session, TokenState, password_amr,
};

pub type Item = HashMap<String, AttributeValue>;

pub const PROFILE: &str = "PROFILE";
pub const CREDENTIALS: &str = "CREDENTIALS";
pub const USERNAME: &str = "USERNAME";
pub const REFRESH: &str = "REFRESH";
pub const LOCKOUT: &str = "LOCKOUT";
pub const LINK: &str = "LINK";
pub const MAILQUOTA: &str = "MAILQUOTA";
pub const SESSION_PREFIX: &str = "SESSION#";
pub const REFRESH_PREFIX: &str = "REFRESH#";
pub use crate::schema::{
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
pub const MFA_SK: &str = "MFA";
pub const RECOVERY_SK: &str = "RECOVERY";
pub const CHALLENGE: &str = "MFACHALLENGE";
/// The credentials item's copy of "two-factor is on" (login reads only that item).
pub const MFA_FLAG: &str = "mfa";
/// A refresh token's `state` ([`TokenState`]), for update conditions.
pub const STATE_ACTIVE: &str = "active";
pub const STATE_ROTATED: &str = "rotated";
/// The attribute holding the reservations in flight (reservation id → when reserved).
pub const LOCKOUT_PENDING: &str = "pending";
/// The partition the cold-start connection read looks in. No item is ever written there; the
/// functions that otherwise never `GetItem` may read only this partition (`template.yaml`).
pub const PRECONNECT_PK: &str = "PRECONNECT";
/// The partition prefix of every fixed-window counter ([`authcore::policy::rates`]).
pub const RATE_PREFIX: &str = "RATE#";
pub const RATE: &str = "RATE";

/// The password-check counter of one normalised email (see [`authcore::policy::lockout`]).
pub type Lockout = authcore::policy::lockout::Counter;

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{email}")
}

/// `key`: [`authcore::domain::Username::key`], the lower-cased name.
pub fn username_pk(key: &str) -> String {
    format!("USERNAME#{key}")
}

pub fn session_sk(session_id: &str) -> String {
    format!("{SESSION_PREFIX}{session_id}")
}

pub fn lockout_pk(email: &str) -> String {
    // The SHA-256 of the address, never the address: a counter can outlive a deleted user (a
    // login racing the deletion reserves after the purge) until its `ttl`, and must not keep
    // the address in the table.
    format!("LOCKOUT#{}", authcore::digest::sha256_hex(email))
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

/// What the login lockout of an unknown username is kept under (`name_key`:
/// [`authcore::domain::Username::key`]): never a normalised email (those are lower-case), so an
/// unknown name has a counter of its own; a known one counts under its account's email.
pub fn username_lockout_name(name_key: &str) -> String {
    username_pk(name_key)
}

/// `name_key`: [`authcore::domain::Username::key`].
pub fn username_key(name_key: &str) -> Item {
    key(username_pk(name_key), USERNAME)
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

pub fn lockout_key(email: &str) -> Item {
    key(lockout_pk(email), LOCKOUT)
}

pub fn link_key(token_hash: &str) -> Item {
    key(link_pk(token_hash), LINK)
}

pub fn mail_quota_key(purpose: Purpose, email: &str) -> Item {
    key(mail_quota_pk(purpose, email), MAILQUOTA)
}

pub fn mfa_key(user_id: &str) -> Item {
    key(user_pk(user_id), MFA_SK)
}

pub fn recovery_key(user_id: &str) -> Item {
    key(user_pk(user_id), RECOVERY_SK)
}

pub fn challenge_key(token_hash: &str) -> Item {
    key(format!("{CHALLENGE}#{token_hash}"), CHALLENGE)
}

/// The key the cold-start read asks for (and never finds).
pub fn preconnect_key() -> Item {
    key(PRECONNECT_PK.to_owned(), PRECONNECT_PK)
}

/// The counter of one scope in one window: a new window is a new item. A per-address counter
/// is named by the SHA-256 of its scope, never the address itself: it outlives a deleted user
/// (until its window ends) and must not keep the address in the table.
pub fn rate_key(scope: &authcore::policy::rates::Scope, window: i64) -> Item {
    let name = match scope {
        authcore::policy::rates::Scope::RegistrationMailsTo(_) => {
            format!("mail-to#{}", authcore::digest::sha256_hex(&scope.name()))
        }
        _ => scope.name(),
    };
    key(format!("{RATE_PREFIX}{name}#{window}"), RATE)
}

// Items and records. A record's serde form is its stored attributes (derived in `authcore`,
// with the fallbacks for items of before an attribute); an item is that plus its key, its
// `type` and, where it expires, its `ttl`. Values that are part of the key (a token's hash) are
// set after reading.

/// The item of kind `kind` (its `type`) at `key` holding `record`.
fn to_item(record: &impl Serialize, key: Item, kind: &str) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(record)
        .map_err(|e| StoreError::Invalid(format!("the {kind} item could not be made: {e}")))?;
    item.extend(key);
    item.insert("type".into(), AttributeValue::S(kind.to_owned()));
    Ok(item)
}

/// The record a `kind` item holds (its key and the attributes the record lacks are ignored).
fn from_item<T: DeserializeOwned>(item: &Item, kind: &str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item.clone())
        .map_err(|e| StoreError::Corrupt(format!("the {kind} item does not read: {e}")))
}

/// One attribute, `None` when absent or null.
fn attribute<T: DeserializeOwned>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(value) => serde_dynamo::from_attribute_value(value.clone())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("attribute {name} does not read: {e}"))),
    }
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A new profile: `rev` 0, and the index keys.
pub fn user_item(user: &User) -> Result<Item, StoreError> {
    let mut item = to_item(user, user_key(user.id.as_str()), "user")?;
    item.insert(REV.into(), n(0));
    let created = user.created_at.unix_timestamp();
    let index_sk = users_index_sk(created, user.id.as_str());
    item.insert(
        USERS_INDEX_PK.into(),
        AttributeValue::S(USERS_INDEX_PARTITION.into()),
    );
    item.insert(USERS_INDEX_SK.into(), AttributeValue::S(index_sk));
    Ok(item)
}

/// A profile, or a page of the users index (its projection: no epoch, no last login).
pub fn user_from_item(item: &Item) -> Result<User, StoreError> {
    from_item(item, "user")
}

/// The epoch an item holds; items written before epochs existed hold epoch 0.
pub fn epoch_of(item: &Item) -> Result<i64, StoreError> {
    Ok(attribute(item, EPOCH)?.unwrap_or(0))
}

/// The profile's administration revision (0 when never changed by an administrator).
pub fn rev_of(item: &Item) -> Result<i64, StoreError> {
    Ok(attribute(item, REV)?.unwrap_or(0))
}

/// The roles a profile (or credentials) item holds (none when it holds no list of them).
pub fn roles_of(item: &Item) -> Vec<String> {
    attribute(item, "roles").ok().flatten().unwrap_or_default()
}

/// The hash of the newest link of `purpose` a profile item points at.
pub fn newest_link(item: &Item, purpose: Purpose) -> Option<String> {
    attribute(item, purpose.pointer()).ok().flatten()
}

pub fn credentials_item(creds: &Credentials) -> Result<Item, StoreError> {
    to_item(creds, credentials_key(creds.email.as_str()), "credentials")
}

pub fn credentials_from_item(item: &Item) -> Result<Credentials, StoreError> {
    from_item(item, "credentials")
}

pub fn username_item(alias: &UsernameAlias) -> Result<Item, StoreError> {
    to_item(alias, username_key(&alias.username.key()), "username")
}

pub fn username_from_item(item: &Item) -> Result<UsernameAlias, StoreError> {
    from_item(item, "username")
}

pub fn session_item(session: &Session) -> Result<Item, StoreError> {
    let key = session_key(session.user_id.as_str(), session.id.as_str());
    let mut item = to_item(session, key, "session")?;
    item.insert(TTL_ATTRIBUTE.into(), n(session.expires_at));
    Ok(item)
}

pub fn session_from_item(item: &Item) -> Result<Session, StoreError> {
    let mut session: Session = from_item(item, "session")?;
    // Sessions of before `last_used_at`: last used when they started.
    if attribute::<i64>(item, "last_used_at")?.is_none() {
        session.last_used_at = session.created_at;
    }
    Ok(session)
}

/// A refresh token's item, expiring (`ttl`) at the session's absolute end: what login writes.
pub fn refresh_item(record: &RefreshRecord) -> Result<Item, StoreError> {
    refresh_item_until(record, record.session_expires_at)
}

/// A refresh token's item expiring at `ttl` (an exchange writes the token's horizon, see
/// [`authcore::policy::rotation::horizon`]).
pub fn refresh_item_until(record: &RefreshRecord, ttl: i64) -> Result<Item, StoreError> {
    let key = refresh_key(record.user_id.as_str(), &record.token_hash);
    let mut item = to_item(record, key, "refresh_token")?;
    item.insert(TTL_ATTRIBUTE.into(), n(ttl));
    Ok(item)
}

pub fn refresh_from_item(token_hash: &str, item: &Item) -> Result<RefreshRecord, StoreError> {
    let record: RefreshRecord = from_item(item, "refresh token")?;
    Ok(RefreshRecord {
        token_hash: token_hash.to_owned(),
        ..record
    })
}

pub fn mfa_item(user_id: &str, record: &MfaRecord) -> Result<Item, StoreError> {
    to_item(record, mfa_key(user_id), "mfa")
}

pub fn mfa_from_item(item: &Item) -> Result<MfaRecord, StoreError> {
    from_item(item, "mfa")
}

/// The recovery codes' hashes, a string set (not a list like every other).
#[derive(Serialize, Deserialize)]
struct Recovery {
    #[serde(with = "serde_dynamo::string_set")]
    codes: Vec<String>,
}

pub fn recovery_item(user_id: &str, hashes: &[String]) -> Result<Item, StoreError> {
    let codes = hashes.to_vec();
    to_item(&Recovery { codes }, recovery_key(user_id), "recovery_codes")
}

/// The codes' hashes (none when the item holds no set of them).
pub fn recovery_from_item(item: &Item) -> Vec<String> {
    from_item::<Recovery>(item, "recovery codes").map_or_else(|_| Vec::new(), |r| r.codes)
}

pub fn challenge_item(challenge: &Challenge) -> Result<Item, StoreError> {
    let mut item = to_item(
        challenge,
        challenge_key(&challenge.token_hash),
        "mfa_challenge",
    )?;
    item.insert(TTL_ATTRIBUTE.into(), n(challenge.expires_at));
    Ok(item)
}

pub fn challenge_from_item(token_hash: &str, item: &Item) -> Result<Challenge, StoreError> {
    let challenge: Challenge = from_item(item, "mfa challenge")?;
    Ok(Challenge {
        token_hash: token_hash.to_owned(),
        ..challenge
    })
}

pub fn link_item(link: &Link) -> Result<Item, StoreError> {
    let mut item = to_item(link, link_key(&link.hash), "link")?;
    item.insert(TTL_ATTRIBUTE.into(), n(link.expires_at));
    Ok(item)
}

pub fn link_from_item(token_hash: &str, item: &Item) -> Result<Link, StoreError> {
    let link: Link = from_item(item, "link")?;
    Ok(Link {
        hash: token_hash.to_owned(),
        ..link
    })
}

pub fn mail_quota_item(
    purpose: Purpose,
    email: &str,
    quota: &Quota,
    ttl: i64,
) -> Result<Item, StoreError> {
    let mut item = to_item(quota, mail_quota_key(purpose, email), "mail_quota")?;
    item.insert(TTL_ATTRIBUTE.into(), n(ttl));
    Ok(item)
}

pub fn mail_quota_from_item(item: &Item) -> Result<Quota, StoreError> {
    from_item(item, "mail quota")
}

pub fn lockout_item(email: &str, counter: &Lockout, ttl: i64) -> Result<Item, StoreError> {
    let mut item = to_item(counter, lockout_key(email), "lockout")?;
    item.insert(TTL_ATTRIBUTE.into(), n(ttl));
    Ok(item)
}

/// The counter, from items of every shape it had (see [`Lockout`]).
pub fn lockout_from_item(item: &Item) -> Result<Lockout, StoreError> {
    from_item(item, "lockout")
}

/// The roles catalog (see [`authcore::policy::roles`]) as stored at `version`.
pub fn catalog_item(catalog: &Catalog, version: i64) -> Result<Item, StoreError> {
    let mut item = to_item(catalog, catalog_key(), "roles_catalog")?;
    item.insert("version".into(), n(version));
    Ok(item)
}

pub fn catalog_from_item(item: &Item) -> Result<Catalog, StoreError> {
    from_item(item, "roles catalog")
}

/// The stamps an item holds: role → catalog version (written attribute by attribute by the
/// catalog's updates, [`stamp_attribute`]).
pub fn stamps_from_item(item: &Item) -> Result<BTreeMap<String, i64>, StoreError> {
    item.keys()
        .filter_map(|name| name.strip_prefix(STAMP_PREFIX).map(|role| (name, role)))
        .map(|(name, role)| {
            let version = attribute(item, name)?;
            let version = version.ok_or_else(|| StoreError::Corrupt(format!("{name} is null")))?;
            Ok((role.to_owned(), version))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_per_address_counter_keeps_no_address_in_its_key() {
        use authcore::policy::rates::Scope;
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
    fn keys_hold_no_address_and_index_keys_name_their_user() {
        let pk = lockout_key("ada@example.com")["PK"].as_s().unwrap().clone();
        assert!(
            pk.starts_with("LOCKOUT#") && !pk.contains("example.com"),
            "{pk}"
        );
        let user = UserId::random();
        assert_eq!(
            user_of_index_sk(&users_index_sk(5, user.as_str())),
            Some(user)
        );
        assert_eq!(user_of_index_sk("5#x"), None);
    }

    /// A counter of the attempts era (`stored_items` reads it) reads sensibly under the rule:
    /// its lock runs; once over, a fresh count.
    #[test]
    fn a_counter_of_before_reservations_reads_sensibly_under_the_rule() {
        use authcore::policy::lockout::{Reservation, reserve};
        let mut item = lockout_key("old@example.com");
        item.insert("attempts".into(), n(4));
        item.insert("window_start".into(), n(1_000));
        item.insert("locked_until".into(), n(1_900));
        item.insert("version".into(), n(6));
        let counter = lockout_from_item(&item).unwrap();
        let settings = settings::LockoutSettings {
            max_failures: 5,
            window: 900,
        };
        assert_eq!(
            reserve(&settings, Some(&counter), 1_500, "r"),
            Reservation::Locked { retry_after: 400 }
        );
        match reserve(&settings, Some(&counter), 1_900, "r") {
            Reservation::Granted(next) => {
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
            reserve(&settings, Some(&counter), 1_100, "r"),
            Reservation::Granted(_)
        ));
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
        use authcore::policy::roles::{self, MAX_ROLES, catalog_bytes};
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
            let item = catalog_item(&catalog, 99_999_999).unwrap();
            let stored: usize = item.iter().map(|(k, v)| k.len() + dynamodb_size(v)).sum();
            assert!(
                catalog_bytes(&catalog) >= stored,
                "{} < {stored}",
                catalog_bytes(&catalog)
            );
        }
    }
}
