//! Types parsed at the edge. An [`Email`] is trimmed, lowercased and valid; a [`Password`] never
//! prints; a [`DisplayName`] is trimmed, 1 to 100 characters, without control characters.

use std::fmt;

use email_address::{EmailAddress, Options};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A normalised, valid email address (trimmed, lowercased, at most 254 characters, a dot in the domain).
/// No `Deserialize`: an address from a request goes through [`Email::parse`]; the store reads
/// its own back as [`User`] and [`Credentials`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    /// The form emails are compared and stored in.
    pub fn normalise(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = Self::normalise(raw);
        if email.is_empty() {
            return Err("must not be empty");
        }
        if email.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 254 characters");
        }
        let options = Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        match EmailAddress::parse_with_options(&email, options) {
            // `.invalid` never resolves (RFC 6761); it also marks the accounts without an
            // address ([`Email::unreachable`]), which nobody can claim by typing one.
            Ok(parsed)
                if parsed.domain().contains('.')
                    && !parsed.domain().ends_with('.')
                    && !parsed.domain().ends_with(".invalid") =>
            {
                Ok(Self(email))
            }
            _ => Err("must be a valid email address"),
        }
    }

    /// The stand-in address of an account that has none (a Django user with only a
    /// username): unique per user, never mailed, refused by [`Email::parse`], so no request
    /// can name it. The account keeps its credentials under it until it adds a real address.
    pub fn unreachable(user_id: &UserId) -> Self {
        Self(format!("{}@{}", user_id.as_str(), Self::UNREACHABLE_DOMAIN))
    }

    /// The domain of [`Email::unreachable`] addresses.
    pub const UNREACHABLE_DOMAIN: &'static str = "no-email.invalid";

    /// Whether this is an [`Email::unreachable`] stand-in: no mail goes there.
    pub fn is_unreachable(&self) -> bool {
        self.0
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain == Self::UNREACHABLE_DOMAIN)
    }

    /// Trusted constructor for values read back from the store.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The local part before any `+tag`.
    pub fn local_part(&self) -> &str {
        let local = self.0.split('@').next().unwrap_or_default();
        local.split('+').next().unwrap_or_default()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login name, as Django's default user model has (`username`): 1 to 150 characters, each a
/// letter, a digit or one of `@ . + - _` (Django's `UnicodeUsernameValidator`). Kept as written;
/// compared and unique case-insensitively through [`Username::key`]. No `Deserialize`, like
/// [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 150;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty");
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 150 characters");
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_'))
        {
            return Err("may contain only letters, digits and @/./+/-/_");
        }
        Ok(Self(name.to_owned()))
    }

    /// The form usernames are compared and stored under: lower-cased.
    pub fn key(&self) -> String {
        Self::normalise(&self.0)
    }

    /// [`Username::key`] of a raw string (a login request's `username`).
    pub fn normalise(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as the user typed it: never trimmed, never case-changed, never printed (its
/// `Debug` is redacted) and wiped from memory when dropped.
#[derive(Clone, Debug)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    pub fn new(raw: impl Into<String>) -> Self {
        Self(SecretString::from(raw.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn chars(&self) -> usize {
        self.expose().chars().count()
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters. No `Deserialize`, like
/// [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    /// `Ok(None)` when the name is empty after trimming (stored as `null`).
    pub fn parse(raw: &str) -> Result<Option<Self>, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Ok(None);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err("must be at most 100 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Some(Self(name.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(value: String) -> Self {
        Self(value)
    }
}

/// A user's id: a random UUID (v4), so ids reveal nothing about sign-up order. Read (serde) only
/// if it is one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw)
            .ok()
            .map(|u| Self(u.hyphenated().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = &'static str;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or("user id is not a UUID")
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        id.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A refresh session's id (the `sid` claim): a random UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered user's profile. Its serde form is its stored attributes (`store::keys`):
/// what accounts of before an attribute lack reads as they always did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    #[serde(deserialize_with = "stored::email")]
    pub email: Email,
    #[serde(
        default,
        deserialize_with = "stored::name",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<DisplayName>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The credentials epoch: moved on by every change that must end all sessions (a password
    /// change, sign-out everywhere); a session started under an older epoch is dead.
    #[serde(default)]
    pub epoch: i64,
    /// Whether someone proved they read mail at `email` (a verification link, or a password
    /// reset, which is mailed there too). False at registration and after an email change
    /// until the new address's link is used (the change itself is confirmed from it, so true).
    /// Accounts from before verification existed are unverified.
    #[serde(default)]
    pub email_verified: bool,
    /// Django's `is_active`: a disabled account cannot log in or refresh (an administrator's
    /// `PATCH /admin/users/{id}`). Accounts from before the flag existed are active.
    #[serde(default = "stored::active")]
    pub active: bool,
    /// The last session start (epoch seconds), `None` before the first login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<i64>,
    /// A login name besides the email (Django's `username`, imported); unique through its
    /// [`UsernameAlias`] item.
    #[serde(
        default,
        deserialize_with = "stored::username",
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<Username>,
    /// Permissions granted to this user directly, besides those of their roles (Django's
    /// `user_permissions`, imported), as `app_label.codename`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

/// What `/auth/register` and `/me` answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProfileBody {
    pub id: String,
    /// `None` for an account without an email (only a username): it may add one.
    pub email: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub roles: Vec<String>,
    pub email_verified: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<&User> for ProfileBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_str().to_owned(),
            email: (!user.email.is_unreachable()).then(|| user.email.as_str().to_owned()),
            username: user.username.as_ref().map(|u| u.as_str().to_owned()),
            name: user.name.as_ref().map(|n| n.as_str().to_owned()),
            roles: user.roles.clone(),
            email_verified: user.email_verified,
            created_at: user.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// A user's stored credentials, kept on the email-uniqueness item so that login is one read
/// (serde form: its stored attributes, like [`User`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(deserialize_with = "stored::email")]
    pub email: Email,
    pub user_id: UserId,
    /// The Argon2id PHC string.
    pub password_hash: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// A copy of the profile's epoch, written in the same transactions, so login reads it
    /// with the hash.
    #[serde(default)]
    pub epoch: i64,
    /// Whether two-factor is on (written with the epoch when it is turned on or off).
    #[serde(default)]
    pub mfa: bool,
    /// A copy of the profile's `active`, written in the same transactions.
    #[serde(default = "stored::active")]
    pub active: bool,
    /// A copy of the profile's direct `permissions`, so login computes the token's
    /// entitlements from this item and the roles catalog.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

/// The item that makes a [`Username`] unique and leads a username login to the credentials
/// (keyed by email).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernameAlias {
    #[serde(deserialize_with = "stored::username_required")]
    pub username: Username,
    pub user_id: UserId,
    #[serde(deserialize_with = "stored::email")]
    pub email: Email,
}

/// How stored values read back: trusted like `from_stored` (they were parsed when written).
mod stored {
    use super::{Deserialize, Deserializer, DisplayName, Email, Username};

    pub fn username<'de, D: Deserializer<'de>>(stored: D) -> Result<Option<Username>, D::Error> {
        Option::<String>::deserialize(stored).map(|name| name.map(Username::from_stored))
    }

    pub fn username_required<'de, D: Deserializer<'de>>(stored: D) -> Result<Username, D::Error> {
        String::deserialize(stored).map(Username::from_stored)
    }

    pub fn email<'de, D: Deserializer<'de>>(stored: D) -> Result<Email, D::Error> {
        String::deserialize(stored).map(Email::from_stored)
    }

    pub fn name<'de, D: Deserializer<'de>>(stored: D) -> Result<Option<DisplayName>, D::Error> {
        Option::<String>::deserialize(stored).map(|name| name.map(DisplayName::from_stored))
    }

    /// `active` where it is absent: accounts from before the flag.
    pub fn active() -> bool {
        true
    }
}

// Kept by hand: `password_hash` is a stored field (serde both ways, ~50 uses); no clean swap.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .field("user_id", &self.user_id)
            .field("password_hash", &"<redacted>")
            .field("roles", &self.roles)
            .field("epoch", &self.epoch)
            .field("mfa", &self.mfa)
            .field("active", &self.active)
            .field("permissions", &self.permissions)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_djangos_rules_and_compare_without_case() {
        let name = Username::parse(" Grace.Hopper+navy@x_1 ").unwrap();
        assert_eq!(name.as_str(), "Grace.Hopper+navy@x_1");
        assert_eq!(name.key(), "grace.hopper+navy@x_1");
        assert_eq!(Username::parse("Zoë").unwrap().key(), "zoë");
        assert!(Username::parse("").is_err());
        assert!(Username::parse("two words").is_err());
        assert!(Username::parse("semi;colon").is_err());
        assert!(Username::parse(&"a".repeat(150)).is_ok());
        assert!(Username::parse(&"a".repeat(151)).is_err());
    }

    #[test]
    fn accounts_without_an_address_get_one_nobody_can_type() {
        let id = UserId::try_from("0f8fad5b-d9cb-469f-a165-70867728950e".to_owned()).unwrap();
        let stand_in = Email::unreachable(&id);
        assert!(stand_in.is_unreachable());
        assert_eq!(
            stand_in.as_str(),
            "0f8fad5b-d9cb-469f-a165-70867728950e@no-email.invalid"
        );
        // No request can name it, nor any other `.invalid` address.
        assert!(Email::parse(stand_in.as_str()).is_err());
        assert!(Email::parse("grace@example.invalid").is_err());
        assert!(!Email::parse("grace@example.com").unwrap().is_unreachable());
    }

    #[test]
    fn link_tokens_never_show_in_debug_output() {
        let token = crate::policy::links::LinkToken::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn emails_are_trimmed_lowercased_and_validated() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "Ada <ada@example.com>",
            "ada@[127.0.0.1]",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err("must be at most 254 characters"));
    }

    #[test]
    fn local_part_drops_plus_tags() {
        assert_eq!(
            Email::parse("ada+news@example.com").unwrap().local_part(),
            "ada"
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            DisplayName::parse("  Ada  ").unwrap().unwrap().as_str(),
            "Ada"
        );
        assert_eq!(DisplayName::parse("   ").unwrap(), None);
        assert!(DisplayName::parse(&"é".repeat(100)).unwrap().is_some());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
        assert!(DisplayName::parse("Ada\u{7}").is_err());
    }

    #[test]
    fn secrets_never_print() {
        assert!(!format!("{:?}", Password::new("hunter2hunter2")).contains("hunter2"));
        let creds = Credentials {
            email: Email::parse("a@b.co").unwrap(),
            user_id: UserId::random(),
            password_hash: "$argon2id$SECRET".into(),
            roles: vec![],
            epoch: 0,
            mfa: false,
            active: true,
            permissions: Vec::new(),
        };
        assert!(!format!("{creds:?}").contains("SECRET"));
    }
}
