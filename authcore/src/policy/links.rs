//! Emailed links (password reset, email verification, email change), as pure rules.
//!
//! A link carries a token of 256 random bits; only its SHA-256 is stored, in an item that
//! names the link's purpose, its user, the address it was sent for, the user's credentials
//! epoch when it was made, and when it expires. A link is good only while all of these hold:
//!
//! ```text
//! purpose is the one the route expects        (a verification link cannot reset a password)
//! now < expires_at                            (reset 30 min, verification 24 h, change 1 h)
//! the user's epoch is still the link's        (a password change, a reset, sign-out
//!                                              everywhere or an email change kills it)
//! the profile still points at this link       (a newer request of the same kind supersedes it)
//! the address is still the profile's          (verification only: a link for an old address
//!                                              verifies nothing)
//! ```
//!
//! [`check`] decides; the store then consumes the link in one transaction whose conditions
//! repeat the same facts, so of two racing uses exactly one succeeds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// What a link is for (serde: its stored name, [`Purpose::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Reset,
    Verify,
    EmailChange,
}

impl Purpose {
    pub const ALL: [Self; 3] = [Self::Reset, Self::Verify, Self::EmailChange];

    /// The stored name (also used in mail-quota keys).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Verify => "verify",
            Self::EmailChange => "email_change",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// The profile attribute holding the hash of the newest link of this purpose.
    pub fn pointer(self) -> &'static str {
        match self {
            Self::Reset => "reset_link",
            Self::Verify => "verify_link",
            Self::EmailChange => "change_link",
        }
    }
}

/// A link's token: 256 bits from the operating system's CSPRNG, base64url (43 characters).
/// It is sent once, in the mail, and never stored, logged or printed (its `Debug` is redacted).
#[derive(Debug)]
pub struct LinkToken(SecretString);

/// The length of every token this service makes.
pub const TOKEN_CHARS: usize = 43;

impl LinkToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    /// A presented token, if it has the shape of one this service makes (anything else is
    /// answered `invalid_token` without a read).
    pub fn parse(raw: &str) -> Option<Self> {
        let shaped = raw.len() == TOKEN_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD.decode(raw).is_ok_and(|b| b.len() == 32);
        shaped.then(|| Self(raw.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The only form that is stored: SHA-256, hex.
    pub fn hash(&self) -> String {
        crate::digest::sha256_hex(self.expose())
    }
}

/// A stored link (its token's hash, never the token); serde: its stored attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// In the key, not an attribute.
    #[serde(skip)]
    pub hash: String,
    pub purpose: Purpose,
    pub user_id: String,
    /// The address the link is for: the account's for a reset or verification, the new one
    /// for an email change.
    pub email: String,
    /// The user's credentials epoch when the link was made (0 in links of before epochs).
    #[serde(default)]
    pub epoch: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A new link for `purpose`, made at `now`, living `ttl` seconds.
pub fn issue(
    token: &LinkToken,
    purpose: Purpose,
    user_id: &str,
    email: &str,
    epoch: i64,
    now: i64,
    ttl: i64,
) -> Link {
    Link {
        hash: token.hash(),
        purpose,
        user_id: user_id.to_owned(),
        email: email.to_owned(),
        epoch,
        created_at: now,
        expires_at: now + ttl,
    }
}

/// What the user's profile says now, as far as links are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub epoch: i64,
    /// The hash the profile holds for the link's purpose ([`Purpose::pointer`]).
    pub newest: Option<&'a str>,
}

/// Why a link is no good. Every reason answers the same `invalid_token`; the reason goes to
/// the log only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dead {
    WrongPurpose,
    Expired,
    /// The credentials changed since the link was made.
    CredentialsChanged,
    /// A newer link of the same purpose was sent.
    Superseded,
    /// The account's address is no longer the one the link verifies.
    AddressChanged,
    /// The user is gone, or the link names another user.
    NoSuchUser,
}

/// Whether `link` may be used for `purpose` at `now` by the user `holder` describes.
pub fn check(link: &Link, purpose: Purpose, holder: &Holder<'_>, now: i64) -> Result<(), Dead> {
    if link.purpose != purpose {
        return Err(Dead::WrongPurpose);
    }
    if now >= link.expires_at {
        return Err(Dead::Expired);
    }
    if link.user_id != holder.user_id {
        return Err(Dead::NoSuchUser);
    }
    if link.epoch != holder.epoch {
        return Err(Dead::CredentialsChanged);
    }
    if holder.newest != Some(link.hash.as_str()) {
        return Err(Dead::Superseded);
    }
    if purpose == Purpose::Verify && link.email != holder.email {
        return Err(Dead::AddressChanged);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn link(purpose: Purpose) -> (LinkToken, Link) {
        let token = LinkToken::generate();
        let link = issue(&token, purpose, "u1", "a@example.com", 3, NOW, 1_800);
        (token, link)
    }

    fn holder(newest: &str) -> Holder<'_> {
        Holder {
            user_id: "u1",
            email: "a@example.com",
            epoch: 3,
            newest: Some(newest),
        }
    }

    #[test]
    fn a_fresh_link_is_good_until_it_expires() {
        let (_, link) = link(Purpose::Reset);
        assert_eq!(
            check(&link, Purpose::Reset, &holder(&link.hash), NOW),
            Ok(())
        );
        assert_eq!(
            check(&link, Purpose::Reset, &holder(&link.hash), NOW + 1_799),
            Ok(())
        );
        assert_eq!(
            check(&link, Purpose::Reset, &holder(&link.hash), NOW + 1_800),
            Err(Dead::Expired)
        );
    }

    #[test]
    fn a_link_serves_only_its_purpose() {
        let (_, link) = link(Purpose::Verify);
        assert_eq!(
            check(&link, Purpose::Reset, &holder(&link.hash), NOW),
            Err(Dead::WrongPurpose)
        );
    }

    #[test]
    fn a_credentials_change_or_a_newer_link_kills_it() {
        let (_, link) = link(Purpose::Reset);
        let mut h = holder(&link.hash);
        h.epoch = 4;
        assert_eq!(
            check(&link, Purpose::Reset, &h, NOW),
            Err(Dead::CredentialsChanged)
        );
        let (_, newer) = self::link(Purpose::Reset);
        assert_eq!(
            check(&link, Purpose::Reset, &holder(&newer.hash), NOW),
            Err(Dead::Superseded)
        );
        let none = Holder {
            newest: None,
            ..holder(&link.hash)
        };
        assert_eq!(
            check(&link, Purpose::Reset, &none, NOW),
            Err(Dead::Superseded)
        );
    }

    #[test]
    fn a_verification_link_verifies_only_the_address_it_was_sent_to() {
        let (_, link) = link(Purpose::Verify);
        let moved = Holder {
            email: "b@example.com",
            ..holder(&link.hash)
        };
        assert_eq!(
            check(&link, Purpose::Verify, &moved, NOW),
            Err(Dead::AddressChanged)
        );
        let other = Holder {
            user_id: "u2",
            ..holder(&link.hash)
        };
        assert_eq!(
            check(&link, Purpose::Verify, &other, NOW),
            Err(Dead::NoSuchUser)
        );
    }

    #[test]
    fn tokens_are_256_bits_and_only_their_shape_parses() {
        let token = LinkToken::generate();
        assert_eq!(token.expose().len(), TOKEN_CHARS);
        assert!(LinkToken::parse(token.expose()).is_some());
        assert_ne!(token.hash(), token.expose());
        assert_eq!(token.hash().len(), 64);
        assert!(!format!("{token:?}").contains(token.expose()));
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &"+".repeat(43),
            &"=".repeat(43),
        ] {
            assert!(LinkToken::parse(bad).is_none(), "{bad:?}");
        }
        assert_ne!(LinkToken::generate().expose(), token.expose());
    }

    #[test]
    fn purposes_round_trip() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(Purpose::parse("other"), None);
    }
}
