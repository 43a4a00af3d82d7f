//! Two-factor authentication's cryptography: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps)
//! through `totp-rs`, the enrolment QR code (`qrcode`, SVG), recovery codes, and the AEAD
//! (XChaCha20-Poly1305, associated data = the user id) that seals every TOTP secret before
//! it reaches the table. Which step a code may use is decided in [`crate::policy::totp`].
//!
//! Recovery codes are stored as password-grade secrets: each as HMAC-SHA-256 under a key
//! derived from a sealing key, over a random salt of its set (one per user and set) and the
//! user id, so a dump of the table alone gives nothing to guess against, and the same code
//! of two users never hashes alike. A stored entry names its key and salt:
//! `v2$<key id>$<salt>$<mac>` (base64url). Entries of the earlier form (bare SHA-256 hex of
//! the code) are still matched, so sets made before keep working until spent or replaced.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::config::MfaKeysSource;
use crate::keys::KeyError;

/// The step length, in seconds.
pub use authcore::policy::totp::STEP;
/// Digits of a code.
pub const DIGITS: usize = 6;
/// Bytes of a TOTP secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes per set.
pub const RECOVERY_CODES: usize = 10;

/// A TOTP secret in the clear: only in memory, never printed (its `Debug` is redacted), wiped
/// when dropped.
#[derive(Debug)]
pub struct Secret(SecretSlice<u8>);

impl Secret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes.into())
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<TOTP, totp_rs::TotpUrlError> {
        TOTP::new(
            Algorithm::SHA1,
            DIGITS,
            1,
            STEP,
            self.0.expose_secret().to_vec(),
            Some(issuer.to_owned()),
            account.to_owned(),
        )
    }

    /// The code of one step (`step` = unix time / 30).
    pub fn code_at(&self, step: i64) -> String {
        let time = u64::try_from(step).unwrap_or(0) * STEP;
        // The account and issuer do not enter the code.
        TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            1,
            STEP,
            self.0.expose_secret().to_vec(),
            None,
            String::new(),
        )
        .generate(time)
    }

    /// Whether `code` is this secret's code for `step`, compared in constant time.
    pub fn matches(&self, code: &str, step: i64) -> bool {
        self.code_at(step).as_bytes().ct_eq(code.as_bytes()).into()
    }

    /// A secret as an authenticator app holds it (base32), e.g. to compute a code in a test
    /// or a script.
    pub fn from_base32(text: &str) -> Option<Self> {
        totp_rs::Secret::Encoded(text.to_owned())
            .to_bytes()
            .ok()
            .filter(|b| !b.is_empty())
            .map(|bytes| Self(bytes.into()))
    }

    /// What the user types into an authenticator app: base32 without padding.
    pub fn base32(&self) -> String {
        base32_encode(self.0.expose_secret())
    }

    /// The `otpauth://totp/…` URI and its QR code as an SVG document.
    pub fn enrolment(&self, issuer: &str, account: &str) -> Result<(String, String), BoxedError> {
        // `:` separates issuer and account in the label; an address could hold one (quoted).
        let account = account.replace(':', "_");
        let uri = self
            .totp(issuer, &account)
            .map_err(|e| e.to_string())?
            .get_url();
        let svg = qrcode::QrCode::new(uri.as_bytes())
            .map_err(|e| e.to_string())?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        Ok((uri, svg))
    }
}

type BoxedError = crate::error::BoxError;

/// RFC 4648 base32, upper case, no padding (what authenticator apps take).
fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let index = ((buffer >> bits) & 31) as usize;
            out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
        }
    }
    if bits > 0 {
        let index = ((buffer << (5 - bits)) & 31) as usize;
        out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
    }
    out
}

pub use authcore::records::Sealed;

/// The keys that seal TOTP secrets: the first seals, every one opens (so a new key can be put
/// first while secrets sealed with an older one still open). Never printed (its `Debug` shows the
/// key ids only), wiped from memory when dropped.
#[derive(Clone, Debug)]
pub struct SealingKeys {
    current: String,
    keys: HashMap<String, SecretSlice<u8>>,
}

impl SealingKeys {
    /// `kid:base64url(32 bytes)`, comma-separated; the first seals.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut keys = HashMap::new();
        let mut current = None;
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, key) = entry
                .split_once(':')
                .ok_or_else(|| KeyError::BadMfaKeys("an entry is not kid:key".into()))?;
            if kid.is_empty()
                || !kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(KeyError::BadMfaKeys(
                    "a key id is empty or not [A-Za-z0-9_-]".into(),
                ));
            }
            let bytes = URL_SAFE_NO_PAD
                .decode(key.trim_end_matches('='))
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| {
                    KeyError::BadMfaKeys(format!("key {kid} is not 32 bytes of base64url"))
                })?;
            if keys
                .insert(kid.to_owned(), SecretSlice::from(bytes))
                .is_some()
            {
                return Err(KeyError::BadMfaKeys(format!("key id {kid} appears twice")));
            }
            current.get_or_insert_with(|| kid.to_owned());
        }
        let current = current.ok_or_else(|| KeyError::BadMfaKeys("no key".into()))?;
        Ok(Self { current, keys })
    }

    /// A new random key in the configuration's format (the tests and the benchmarks use it).
    pub fn generate_entry(kid: &str) -> String {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        format!("{kid}:{}", URL_SAFE_NO_PAD.encode(key))
    }

    /// The keys from their configured source (the text itself, or an SSM SecureString).
    pub async fn load(
        source: &MfaKeysSource,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, KeyError> {
        match source {
            MfaKeysSource::Inline(text) => Self::parse(text),
            MfaKeysSource::SsmParameter(name) => {
                Self::parse(&crate::keys::secure_parameter(sdk, name).await?)
            }
        }
    }

    /// Seals a secret for one user (the user id is the associated data: a sealed secret
    /// copied to another user's item does not open).
    pub fn seal(&self, user_id: &str, secret: &Secret) -> Result<Sealed, SealError> {
        let key = self.keys.get(&self.current).ok_or(SealError)?;
        let cipher =
            XChaCha20Poly1305::new_from_slice(key.expose_secret()).map_err(|_| SealError)?;
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.0.expose_secret(),
                    aad: user_id.as_bytes(),
                },
            )
            .map_err(|_| SealError)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: self.current.clone(),
            blob: STANDARD.encode(blob),
        })
    }

    /// Opens a sealed secret of `user_id`.
    pub fn open(&self, user_id: &str, sealed: &Sealed) -> Result<Secret, SealError> {
        let key = self.keys.get(&sealed.key_id).ok_or(SealError)?;
        let blob = STANDARD.decode(&sealed.blob).map_err(|_| SealError)?;
        let (nonce, ciphertext) = blob.split_at_checked(24).ok_or(SealError)?;
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SealError)?;
        XChaCha20Poly1305::new_from_slice(key.expose_secret())
            .map_err(|_| SealError)?
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: user_id.as_bytes(),
                },
            )
            .map(|bytes| Secret(bytes.into()))
            .map_err(|_| SealError)
    }
}

/// The prefix of a recovery code hash in the keyed form.
const RECOVERY_V2: &str = "v2";
/// Bytes of a recovery code set's salt.
const RECOVERY_SALT_BYTES: usize = 16;

type HmacSha256 = Hmac<sha2::Sha256>;

impl SealingKeys {
    /// The key recovery codes are hashed with under sealing key `kid`: HMAC-SHA-256 of a
    /// label under it (the sealing key itself never hashes, the hash key never seals).
    fn recovery_key(&self, kid: &str) -> Option<[u8; 32]> {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(self.keys.get(kid)?.expose_secret()).ok()?;
        mac.update(b"recovery-code-hash-v2");
        Some(mac.finalize().into_bytes().into())
    }

    fn recovery_mac(&self, kid: &str, salt: &[u8], user_id: &str, code: &str) -> Option<Vec<u8>> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.recovery_key(kid)?).ok()?;
        mac.update(salt);
        mac.update(user_id.as_bytes());
        mac.update(&[0]);
        mac.update(normalize_recovery_code(code).as_bytes());
        Some(mac.finalize().into_bytes().to_vec())
    }

    /// The stored form of a user's set of recovery codes: keyed with the current sealing key,
    /// over one fresh salt for the set.
    pub fn hash_recovery_codes(
        &self,
        user_id: &str,
        codes: &[String],
    ) -> Result<Vec<String>, SealError> {
        let mut salt = [0u8; RECOVERY_SALT_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let salt_text = URL_SAFE_NO_PAD.encode(salt);
        codes
            .iter()
            .map(|code| {
                let mac = self
                    .recovery_mac(&self.current, &salt, user_id, code)
                    .ok_or(SealError)?;
                Ok(format!(
                    "{RECOVERY_V2}${}${salt_text}${}",
                    self.current,
                    URL_SAFE_NO_PAD.encode(mac)
                ))
            })
            .collect()
    }

    /// The stored entry (as stored: what the spend deletes) that the typed code `raw` is, if
    /// any. Every entry is compared in constant time; an entry of the earlier unsalted form
    /// is compared with [`hash_recovery_code`]; an entry under a key no longer configured
    /// matches nothing.
    pub fn find_recovery_code(
        &self,
        user_id: &str,
        raw: &str,
        stored: &[String],
    ) -> Option<String> {
        let mut found = None;
        for entry in stored {
            let matches = match entry.split('$').collect::<Vec<_>>().as_slice() {
                [RECOVERY_V2, kid, salt, mac] => URL_SAFE_NO_PAD
                    .decode(salt)
                    .ok()
                    .and_then(|salt| self.recovery_mac(kid, &salt, user_id, raw))
                    .is_some_and(|expected| {
                        URL_SAFE_NO_PAD
                            .encode(expected)
                            .as_bytes()
                            .ct_eq(mac.as_bytes())
                            .into()
                    }),
                _ => hash_recovery_code(raw)
                    .as_bytes()
                    .ct_eq(entry.as_bytes())
                    .into(),
            };
            if matches && found.is_none() {
                found = Some(entry.clone());
            }
        }
        found
    }
}

/// A secret could not be sealed or opened (unknown key id, tampered blob, another user's).
#[derive(Debug, thiserror::Error)]
#[error("the TOTP secret could not be sealed or opened")]
pub struct SealError;

/// A set of recovery codes in the clear (shown once) and their hashes (stored).
pub struct RecoveryCodes {
    pub codes: Vec<String>,
    pub hashes: Vec<String>,
}

// Kept by hand: existing tests index `codes` as a Vec; RecoveryCodesBody is the secrecy-typed form.
impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCodes(<redacted>)")
    }
}

/// The alphabet of recovery codes: lower-case letters and digits without 0/o, 1/l/i.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

impl RecoveryCodes {
    /// Ten codes `xxxx-xxxx-xxxx` (12 characters of a 31-letter alphabet: 59 bits each), and
    /// their stored form for `user_id` ([`SealingKeys::hash_recovery_codes`]).
    pub fn generate(keys: &SealingKeys, user_id: &str) -> Result<Self, SealError> {
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        let mut rng = rand::rngs::OsRng;
        for _ in 0..RECOVERY_CODES {
            let chars: Vec<char> = (0..12)
                .map(|_| {
                    let i = (rng.next_u32() as usize) % RECOVERY_ALPHABET.len();
                    char::from(RECOVERY_ALPHABET.get(i).copied().unwrap_or(b'a'))
                })
                .collect();
            let text: String = chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-");
            codes.push(text);
        }
        let hashes = keys.hash_recovery_codes(user_id, &codes)?;
        Ok(Self { codes, hashes })
    }
}

/// A recovery code as typed, normalised: case, spaces and dashes do not matter.
fn normalize_recovery_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The earlier stored form of a recovery code: SHA-256 (hex) of the normalised code, without
/// salt or key. Only matched, never written any more.
pub fn hash_recovery_code(raw: &str) -> String {
    crate::tokens::hash_refresh_token(&normalize_recovery_code(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vectors_sha1() {
        // RFC 6238 appendix B: the 20-byte ASCII secret "12345678901234567890", 8 digits;
        // our codes are the last 6 of those.
        let secret = Secret(b"12345678901234567890".to_vec().into());
        for (time, code8) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(secret.code_at(time / 30), code8[2..], "time {time}");
            assert!(secret.matches(&code8[2..], time / 30));
            assert!(!secret.matches(&code8[2..], time / 30 + 1));
        }
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_encode(b"f"), "MY");
        let secret = Secret::generate();
        assert_eq!(secret.base32().len(), 32);
        assert_eq!(
            Secret::from_base32(&secret.base32())
                .unwrap()
                .0
                .expose_secret(),
            secret.0.expose_secret()
        );
    }

    #[test]
    fn enrolment_gives_an_otpauth_uri_and_an_svg() {
        let secret = Secret::generate();
        let (uri, svg) = secret.enrolment("Acme Auth", "ada@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Acme%20Auth:ada%40example.com?secret="),
            "{uri}"
        );
        assert!(uri.contains(&secret.base32()));
        assert!(uri.contains("issuer=Acme%20Auth"));
        assert!(svg.contains("<svg"));
    }

    #[test]
    fn sealed_secrets_open_only_for_their_user_and_with_a_known_key() {
        let k1 = SealingKeys::generate_entry("k1");
        let old = SealingKeys::parse(&k1).unwrap();
        let secret = Secret::generate();
        let sealed = old.seal("user-1", &secret).unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(
            old.open("user-1", &sealed).unwrap().0.expose_secret(),
            secret.0.expose_secret()
        );
        assert!(old.open("user-2", &sealed).is_err());
        // Rotation: a new key first seals; the old one, kept, still opens.
        let rotated =
            SealingKeys::parse(&format!("{},{k1}", SealingKeys::generate_entry("k2"))).unwrap();
        assert_eq!(
            rotated.open("user-1", &sealed).unwrap().0.expose_secret(),
            secret.0.expose_secret()
        );
        assert_eq!(rotated.seal("user-1", &secret).unwrap().key_id, "k2");
        let without_k1 = SealingKeys::parse(&SealingKeys::generate_entry("k2")).unwrap();
        assert!(without_k1.open("user-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.blob.replace_range(0..4, "AAAA");
        assert!(old.open("user-1", &tampered).is_err());
        let key_text = k1.split_once(':').unwrap().1;
        assert!(!format!("{old:?}").contains(key_text));
    }

    #[test]
    fn keys_parse_strictly() {
        for bad in ["", "k1", "k1:short", ":AAAA", "k 1:AAAA"] {
            assert!(SealingKeys::parse(bad).is_err(), "{bad:?}");
        }
        let one = SealingKeys::generate_entry("a");
        assert!(SealingKeys::parse(&format!("{one},{one}")).is_err());
        let keys =
            SealingKeys::parse(&format!("{},{one}", SealingKeys::generate_entry("b"))).unwrap();
        assert_eq!(keys.current, "b");
    }

    #[test]
    fn debug_shows_key_ids_never_keys() {
        let entry = SealingKeys::generate_entry("k1");
        let keys = SealingKeys::parse(&entry).unwrap();
        let debug = format!("{keys:?}");
        let (_, key) = entry.split_once(':').unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(key).unwrap();
        assert!(
            debug.contains("k1") && debug.contains("REDACTED"),
            "{debug}"
        );
        assert!(
            !debug.contains(key) && !debug.contains(&format!("{bytes:?}")),
            "{debug}"
        );
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_matched_loosely() {
        let keys = SealingKeys::parse(&SealingKeys::generate_entry("k1")).unwrap();
        let set = RecoveryCodes::generate(&keys, "user-1").unwrap();
        assert_eq!(set.codes.len(), 10);
        let unique: std::collections::HashSet<_> = set.codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let code = &set.codes[0];
        assert_eq!(code.len(), 14);
        let found = |raw: &str| keys.find_recovery_code("user-1", raw, &set.hashes);
        assert_eq!(found(code).as_ref(), Some(&set.hashes[0]));
        assert_eq!(
            found(&code.to_uppercase().replace('-', " ")).as_ref(),
            Some(&set.hashes[0])
        );
        assert_eq!(found(&set.codes[9]).as_ref(), Some(&set.hashes[9]));
        assert_eq!(found("aaaa-aaaa-aaaa"), None);
        assert!(!format!("{set:?}").contains(code.as_str()));
    }

    #[test]
    fn recovery_code_hashes_are_keyed_salted_and_bound_to_their_user() {
        let k1 = SealingKeys::generate_entry("k1");
        let keys = SealingKeys::parse(&k1).unwrap();
        let codes = vec!["abcd-efgh-jkmn".to_owned()];
        let a = keys.hash_recovery_codes("user-1", &codes).unwrap();
        let b = keys.hash_recovery_codes("user-1", &codes).unwrap();
        // A fresh salt per set: the same code never hashes alike twice.
        assert_ne!(a, b);
        assert!(a[0].starts_with("v2$k1$"), "{a:?}");
        assert_ne!(a[0], hash_recovery_code(&codes[0]));
        // Another user's set, or keys without k1, match nothing.
        assert_eq!(keys.find_recovery_code("user-2", &codes[0], &a), None);
        let other = SealingKeys::parse(&SealingKeys::generate_entry("k1")).unwrap();
        assert_eq!(other.find_recovery_code("user-1", &codes[0], &a), None);
        // After a rotation the old key, kept, still matches; new sets use the new key.
        let rotated =
            SealingKeys::parse(&format!("{},{k1}", SealingKeys::generate_entry("k2"))).unwrap();
        assert_eq!(
            rotated.find_recovery_code("user-1", &codes[0], &a),
            Some(a[0].clone())
        );
        assert!(rotated.hash_recovery_codes("u", &codes).unwrap()[0].starts_with("v2$k2$"));
        // Malformed entries match nothing.
        let broken = vec!["v2$k1$!!$x".to_owned(), "v2$k1".to_owned(), String::new()];
        assert_eq!(keys.find_recovery_code("user-1", &codes[0], &broken), None);
    }

    #[test]
    fn recovery_codes_stored_unsalted_before_still_match() {
        let keys = SealingKeys::parse(&SealingKeys::generate_entry("k1")).unwrap();
        let legacy = vec![hash_recovery_code("abcd-efgh-jkmn")];
        assert_eq!(
            keys.find_recovery_code("user-1", "ABCD EFGH JKMN", &legacy),
            Some(legacy[0].clone())
        );
        assert_eq!(
            keys.find_recovery_code("user-1", "abcd-efgh-jkmm", &legacy),
            None
        );
    }
}
