//! Django's password hashes, as `django.contrib.auth.hashers` (Django 5.2) writes them in
//! `auth_user.password`, verified so that users imported from Django log in with the password
//! they have. A match always asks for a rehash: the login stores Argon2id in its place.
//!
//! | algorithm       | stored form                                                   |
//! |-----------------|---------------------------------------------------------------|
//! | `pbkdf2_sha256` | `pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>`      |
//! | `pbkdf2_sha1`   | `pbkdf2_sha1$<iterations>$<salt>$<base64 of 20 bytes>`        |
//! | `argon2`        | `argon2` + the PHC string of argon2-cffi (`$argon2id$v=19$…`, `$argon2i$…`; no `v=` is version 0x10) |
//! | `bcrypt_sha256` | `bcrypt_sha256$` + bcrypt (`$2b$12$…`) of the lower-case hex SHA-256 of the password |
//! | `bcrypt`        | `bcrypt$` + bcrypt of the password (its first 72 bytes)       |
//! | `scrypt`        | `scrypt$<N>$<salt>$<r>$<p>$<base64 of 64 bytes>`              |
//!
//! The salt of PBKDF2 and scrypt is the salt text's UTF-8 bytes, the password's too. Anything
//! else never matches: an unusable password (`!…`), Django's weak formats (`md5`, `sha1`,
//! `unsalted_md5`, `unsalted_sha1`, `crypt`), a malformed string, or work factors beyond
//! [`limits`] (about 16 times Django 5.2's defaults), which keep a crafted hash from holding a
//! login for minutes. Parsing is total: any string is either one of the forms above or `None`.

use argon2::password_hash::PasswordHash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The most work a Django hash may ask for; beyond it the hash never matches (the user resets
/// their password). Django 5.2's defaults: PBKDF2 1,000,000 iterations, bcrypt cost 12, scrypt
/// N=2^14 r=8 p=5 (16 MiB), Argon2 m=100 MiB t=2 p=8.
pub(crate) mod limits {
    pub const PBKDF2_ITERATIONS: u32 = 16_000_000;
    pub const BCRYPT_COST: u32 = 16;
    /// log2 of scrypt's N.
    pub const SCRYPT_LOG_N: u8 = 20;
    pub const SCRYPT_R: u32 = 32;
    pub const SCRYPT_P: u32 = 64;
    /// scrypt's memory, 128 * r * N bytes.
    pub const SCRYPT_MEMORY: u64 = 256 << 20;
    /// scrypt's work, N * r * p (Django: 655,360).
    pub const SCRYPT_WORK: u64 = 16 * (1 << 14) * 8 * 5;
    /// Argon2's memory in KiB.
    pub const ARGON2_MEMORY_KIB: u32 = 1 << 20;
    /// Argon2's work, m * t in KiB (Django: 204,800).
    pub const ARGON2_WORK: u64 = 16 * 102_400 * 2;
}

/// PBKDF2's pseudo-random function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prf {
    Sha256,
    Sha1,
}

/// A parsed Django hash, borrowing from the stored string.
#[derive(Debug)]
pub(crate) enum Format<'a> {
    Pbkdf2 {
        prf: Prf,
        iterations: u32,
        salt: &'a str,
        hash: Vec<u8>,
    },
    /// argon2-cffi's PHC string (the stored form less its `argon2` prefix).
    Argon2(PasswordHash<'a>),
    Bcrypt {
        /// `bcrypt_sha256`: bcrypt of the hex SHA-256 of the password.
        prehash: bool,
        /// bcrypt's own form, `$2b$12$<salt><hash>`.
        bcrypt: &'a str,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: &'a str,
        hash: Vec<u8>,
    },
}

/// The Django hash `encoded` is, if it is one this service verifies.
pub(crate) fn parse(encoded: &str) -> Option<Format<'_>> {
    let (algorithm, rest) = encoded.split_once('$')?;
    match algorithm {
        "pbkdf2_sha256" => pbkdf2(Prf::Sha256, rest),
        "pbkdf2_sha1" => pbkdf2(Prf::Sha1, rest),
        // Django drops the PHC string's leading `$`: what follows "argon2" is the PHC string.
        "argon2" => argon2(encoded.strip_prefix("argon2")?),
        "bcrypt_sha256" => bcrypt(true, rest),
        "bcrypt" => bcrypt(false, rest),
        "scrypt" => scrypt(rest),
        _ => None,
    }
}

/// A decimal number as Django's `%d` writes it: ASCII digits only (no sign, no spaces).
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A salt as Django accepts one: not empty, no `$`.
fn salt(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

fn pbkdf2(prf: Prf, rest: &str) -> Option<Format<'_>> {
    let mut parts = rest.split('$');
    let iterations = number(parts.next()?)?;
    let salt = salt(parts.next()?)?;
    let hash = STANDARD.decode(parts.next()?).ok()?;
    let length = match prf {
        Prf::Sha256 => 32,
        Prf::Sha1 => 20,
    };
    let ok = parts.next().is_none()
        && (1..=limits::PBKDF2_ITERATIONS).contains(&iterations)
        && hash.len() == length;
    ok.then_some(Format::Pbkdf2 {
        prf,
        iterations,
        salt,
        hash,
    })
}

fn argon2(phc: &str) -> Option<Format<'_>> {
    let parsed = PasswordHash::new(phc).ok()?;
    if !matches!(
        parsed.algorithm.as_str(),
        "argon2id" | "argon2i" | "argon2d"
    ) {
        return None;
    }
    let params = argon2::Params::try_from(&parsed).ok()?;
    let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
    let ok = params.m_cost() <= limits::ARGON2_MEMORY_KIB
        && work <= limits::ARGON2_WORK
        && parsed.salt.is_some()
        && parsed.hash.is_some();
    ok.then_some(Format::Argon2(parsed))
}

fn bcrypt(prehash: bool, rest: &str) -> Option<Format<'_>> {
    // `$2b$12$` + 22 characters of salt + 31 of hash, all ASCII.
    if rest.len() != 60 || !rest.is_ascii() {
        return None;
    }
    let mut parts = rest.split('$');
    let (empty, version, cost, data) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let cost = number(cost)?;
    let ok = parts.next().is_none()
        && empty.is_empty()
        && matches!(version, "2a" | "2b" | "2y")
        && (4..=limits::BCRYPT_COST).contains(&cost)
        && data.len() == 53;
    ok.then_some(Format::Bcrypt {
        prehash,
        bcrypt: rest,
    })
}

fn scrypt(rest: &str) -> Option<Format<'_>> {
    let mut parts = rest.split('$');
    let n = number(parts.next()?)?;
    let salt = salt(parts.next()?)?;
    let r = number(parts.next()?)?;
    let p = number(parts.next()?)?;
    let hash = STANDARD.decode(parts.next()?).ok()?;
    if parts.next().is_some() || !n.is_power_of_two() || n < 2 {
        return None;
    }
    let log_n = u8::try_from(n.trailing_zeros()).ok()?;
    let memory = 128 * u64::from(r) * u64::from(n);
    let work = u64::from(n) * u64::from(r) * u64::from(p);
    let ok = log_n <= limits::SCRYPT_LOG_N
        && (1..=limits::SCRYPT_R).contains(&r)
        && (1..=limits::SCRYPT_P).contains(&p)
        && memory <= limits::SCRYPT_MEMORY
        && work <= limits::SCRYPT_WORK
        && hash.len() == 64;
    ok.then_some(Format::Scrypt {
        log_n,
        r,
        p,
        salt,
        hash,
    })
}

/// Whether `password` is the one hashed in `format`, compared in constant time. Argon2 is not
/// here: the hasher runs it in its pooled buffers (`Inner::matches`).
pub(crate) fn matches(password: &[u8], format: &Format<'_>) -> bool {
    match format {
        Format::Pbkdf2 {
            prf,
            iterations,
            salt,
            hash,
        } => {
            let algorithm = match prf {
                Prf::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
                Prf::Sha1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
            };
            let Some(iterations) = std::num::NonZeroU32::new(*iterations) else {
                return false;
            };
            // ring compares the derived key in constant time.
            ring::pbkdf2::verify(algorithm, iterations, salt.as_bytes(), password, hash).is_ok()
        }
        Format::Bcrypt { prehash, bcrypt } => {
            // bcrypt compares its output in constant time (`subtle`).
            let verified = if *prehash {
                bcrypt::verify(hex::encode(Sha256::digest(password)), bcrypt)
            } else {
                bcrypt::verify(password, bcrypt)
            };
            verified.unwrap_or(false)
        }
        Format::Scrypt {
            log_n,
            r,
            p,
            salt,
            hash,
        } => {
            let Ok(params) = scrypt::Params::new(*log_n, *r, *p, hash.len()) else {
                return false;
            };
            let mut out = [0u8; 64];
            let Some(out) = out.get_mut(..hash.len()) else {
                return false;
            };
            scrypt::scrypt(password, salt.as_bytes(), &params, out).is_ok()
                && bool::from(out.ct_eq(hash))
        }
        Format::Argon2(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    use rand::{Rng as _, SeedableRng as _};

    use super::*;
    use crate::config::PasswordSettings;
    use crate::domain::Password;
    use crate::password::{PasswordHasher, Verified};

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(&PasswordSettings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap()
    }

    const MATCH: Verified = Verified::Match { needs_rehash: true };

    /// Hashes from Django's own test suite (tests/auth_tests/test_hashers.py), and a few that
    /// Django 5.2.20 made (bcrypt 5.0.0) for formats whose tests use random salts: the formats
    /// stay pinned without the fixtures `make django-fixtures` makes.
    const DJANGO_VECTORS: &[(&str, &str)] = &[
        (
            "lètmein",
            "pbkdf2_sha256$390000$seasalt$8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c=",
        ),
        (
            "lètmein",
            "pbkdf2_sha256$390000$seasalt2$geC/uZ92nRXDSjSxeoiBqYyRcrLzMm8xK3ro1QS1uo8=",
        ),
        (
            "lètmein",
            "pbkdf2_sha1$390000$seasalt2$aDapRanzW8aHTz97v2TcfHzWD+I=",
        ),
        // Django 5.2's default cost.
        (
            "lètmein",
            "pbkdf2_sha256$1000000$seasalt$r1uLUxoxpP2Ued/qxvmje7UH9PUJBkRrvf9gGPL7Cps=",
        ),
        // argon2-cffi's old form without a version: Argon2 1.0 (0x10).
        (
            "secret",
            "argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg",
        ),
        (
            "secret",
            "argon2$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q",
        ),
        (
            "secret",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$Y041dExhNkljRUUy$TMa6A8fPJhCAUXRhJXCXdw",
        ),
        (
            "lètmein",
            "scrypt$16384$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==",
        ),
        (
            "lètmein",
            "scrypt$16384$seasalt$8$5$ECMIUp+LMxMSK8xB/IVyba+KYGTI7FTnet025q/1f/vBAVnnP3hdYqJuRi+mJn6ji6ze3Fbb7JEFPKGpuEf5vw==",
        ),
        (
            "lètmein",
            "bcrypt$$2b$04$abcdefghijklmnopqrstuuanVo7Xut1CH8VGIGlz1JovQh9GJbbtG",
        ),
        (
            "lètmein",
            "bcrypt_sha256$$2b$04$abcdefghijklmnopqrstuulyx/yrfLnuLCi6gwFG5mrkJjuQKpL6S",
        ),
        (
            "lètmein",
            "bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuuVrQ4zCyEDfwKOXCre954in7jn/y/.ua",
        ),
    ];

    /// Django's weak and legacy forms (its test suite's vectors): never accepted, even with the
    /// right password.
    const WEAK: &[(&str, &str)] = &[
        ("lètmein", "md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3"),
        ("lètmein", "88a434c88cca4e900f7874cd98123f43"),
        ("lètmein", "md5$$88a434c88cca4e900f7874cd98123f43"),
        (
            "lètmein",
            "sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8",
        ),
        ("lètmein", "sha1$$6d138ca3ae545631b3abd71a4f076ce759c5700b"),
        ("lètmei", "crypt$$ab1Hv2Lg7ltQo"),
        ("lètmein", "!voHIsJcjflFDU3f248RHkhFxXkl6soR7W7MXwYMh"),
        ("", "!"),
    ];

    #[test]
    fn django_test_suite_vectors_verify_and_ask_for_a_rehash() {
        let hasher = hasher();
        std::thread::scope(|s| {
            for (password, encoded) in DJANGO_VECTORS {
                let hasher = &hasher;
                s.spawn(move || {
                    assert!(parse(encoded).is_some(), "{encoded} does not parse");
                    assert!(!hasher.is_current_hash(encoded), "{encoded}");
                    let right = Password::new(*password);
                    assert_eq!(hasher.verify(&right, encoded), MATCH, "{encoded}");
                    let wrong = Password::new(format!("{password}z"));
                    assert_eq!(
                        hasher.verify(&wrong, encoded),
                        Verified::Mismatch,
                        "{encoded}"
                    );
                });
            }
        });
    }

    #[test]
    fn weak_and_unusable_django_hashes_never_match() {
        let hasher = hasher();
        for (_, encoded) in DJANGO_VECTORS {
            assert!(
                crate::password::is_accepted_django_hash(encoded),
                "{encoded}"
            );
        }
        for (password, encoded) in WEAK {
            assert!(parse(encoded).is_none(), "{encoded}");
            assert!(
                !crate::password::is_accepted_django_hash(encoded),
                "{encoded}"
            );
            assert_eq!(
                hasher.verify(&Password::new(*password), encoded),
                Verified::Mismatch,
                "{encoded}"
            );
            assert!(!hasher.is_current_hash(encoded));
        }
    }

    #[test]
    fn malformed_and_oversized_django_hashes_do_not_parse() {
        let sha256 = "8xBlGd3jVgvJ+92hWPxi5ww0uuAuAnKgC45eudxro7c=";
        let scrypt = "Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==";
        let bcrypt = "abcdefghijklmnopqrstuuanVo7Xut1CH8VGIGlz1JovQh9GJbbtG";
        let table = [
            String::new(),
            "$".into(),
            "pbkdf2_sha256".into(),
            "pbkdf2_sha256$".into(),
            "pbkdf2_sha256$$$".into(),
            format!("pbkdf2_sha256$0$seasalt${sha256}"),
            format!("pbkdf2_sha256$-1$seasalt${sha256}"),
            format!("pbkdf2_sha256$+5$seasalt${sha256}"),
            format!("pbkdf2_sha256$ 5$seasalt${sha256}"),
            format!("pbkdf2_sha256$99999999999$seasalt${sha256}"),
            format!("pbkdf2_sha256$16000001$seasalt${sha256}"),
            format!("pbkdf2_sha256$1000$${sha256}"),
            format!("pbkdf2_sha256$1000$seasalt${sha256}$"),
            "pbkdf2_sha256$1000$seasalt$not base64!".into(),
            // A SHA-1-sized output under SHA-256, and the other way round.
            "pbkdf2_sha256$1000$seasalt$aDapRanzW8aHTz97v2TcfHzWD+I=".into(),
            format!("pbkdf2_sha1$1000$seasalt${sha256}"),
            "argon2".into(),
            "argon2$".into(),
            "argon2$argon2id".into(),
            "argon2$argon2id$v=19$m=8,t=1,p=1".into(),
            "argon2$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ".into(),
            "argon2$balloon$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q".into(),
            "argon2$argon2id$v=19$m=2097152,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q".into(),
            "argon2$argon2id$v=19$m=102400,t=40,p=8$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q".into(),
            "argon2argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q".into(),
            // Our own PHC string is not Django's form (it verifies on the Argon2 path).
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q".into(),
            "bcrypt$".into(),
            format!("bcrypt$$2b$04${bcrypt}x"),
            format!("bcrypt$$2b$03${bcrypt}"),
            format!("bcrypt$$2b$17${bcrypt}"),
            format!("bcrypt$$2b$+4${bcrypt}"),
            format!("bcrypt$$2x$04${bcrypt}"),
            format!("bcrypt$x2b$04${bcrypt}"),
            "bcrypt$$2b$04$abcdefghijklmnopqrstuuanVo7Xut1CH8VGIGlz1JovQh9GJbbt\u{e9}".into(),
            format!("bcrypt_sha256$$2b$04$${bcrypt}"),
            format!("scrypt$16384$seasalt$8$1${scrypt}$"),
            format!("scrypt$16385$seasalt$8$1${scrypt}"),
            format!("scrypt$1$seasalt$8$1${scrypt}"),
            format!("scrypt$0$seasalt$8$1${scrypt}"),
            format!("scrypt$2097152$seasalt$8$1${scrypt}"),
            format!("scrypt$16384$seasalt$0$1${scrypt}"),
            format!("scrypt$16384$seasalt$8$0${scrypt}"),
            format!("scrypt$16384$seasalt$33$1${scrypt}"),
            format!("scrypt$16384$seasalt$8$65${scrypt}"),
            format!("scrypt$16384$seasalt$8$4294967295${scrypt}"),
            format!("scrypt$1048576$seasalt$8$1${scrypt}"),
            format!("scrypt$16384$$8$1${scrypt}"),
            format!("scrypt$16384$seasalt$8$1${sha256}"),
            "md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3".into(),
            "unsalted_md5$$x".into(),
            "unsalted_sha1$$x".into(),
            "crypt$$ab1Hv2Lg7ltQo".into(),
            "!".into(),
        ];
        let hasher = hasher();
        let password = Password::new("lètmein");
        for encoded in &table {
            assert!(parse(encoded).is_none(), "{encoded:?} parses");
            // Our own PHC string is the one string here that is a hash at all.
            if !encoded.starts_with("$argon2id$") {
                assert_eq!(hasher.verify(&password, encoded), Verified::Mismatch);
            }
        }
    }

    /// Garbage and mutations of valid hashes (bytes dropped, replaced, repeated; `$` moved):
    /// parsing never panics, whatever the string. (Parsing only: a mutation that still parses
    /// may ask for up to the limits' work.)
    #[test]
    fn parsing_is_total_on_garbage_and_mutations() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(24);
        let alphabet: Vec<char> = "$=+/.,0123456789abcdefmnpqrtvxyzABC_-é!\u{0}\u{1F600}"
            .chars()
            .collect();
        let seeds: Vec<&str> = DJANGO_VECTORS
            .iter()
            .chain(WEAK)
            .map(|(_, encoded)| *encoded)
            .collect();
        let mut parsed = 0;
        for round in 0..20_000 {
            let mut text: Vec<char> = if round % 4 == 0 {
                Vec::new()
            } else {
                seeds[rng.gen_range(0..seeds.len())].chars().collect()
            };
            for _ in 0..rng.gen_range(0..6) {
                let at = rng.gen_range(0..=text.len());
                let c = alphabet[rng.gen_range(0..alphabet.len())];
                match rng.gen_range(0..4) {
                    0 if at < text.len() => {
                        text.remove(at);
                    }
                    1 if at < text.len() => text[at] = c,
                    2 => text.truncate(at),
                    _ => text.insert(at, c),
                }
            }
            let text: String = text.into_iter().collect();
            parsed += usize::from(parse(&text).is_some());
        }
        // The mutations reached the checks past the prefix, not only the garbage.
        assert!(parsed > 100, "{parsed} parsed");
    }

    /// What `make django-fixtures` wrote, or a failure that says how to make it.
    fn fixtures(model: &str) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/django-fixtures")
            .join(model);
        let read = |name: &str| -> Vec<serde_json::Value> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}: run `make django-fixtures` (installs Django into .tools/django)",
                    path.display()
                )
            });
            serde_json::from_str(&text).unwrap()
        };
        (read("expected.json"), read("natural.json"))
    }

    /// Every user Django made (`make django-fixtures`), with the password Django had: each
    /// usable hash verifies and asks for a rehash, a wrong password is a mismatch (once per
    /// algorithm: each costs what Django's hash costs), weak and unusable ones never match.
    #[test]
    fn every_hash_django_made_verifies_with_its_password() {
        let hasher = hasher();
        let mut algorithms = BTreeSet::new();
        // Each usable form, by its prefix (argon2id and argon2i apart): a wrong password is
        // tried once per form.
        let mut forms = BTreeSet::new();
        for (model, key) in [("default", "username"), ("custom", "email")] {
            let (expected, dump) = fixtures(model);
            let hashes: BTreeMap<&str, &str> = dump
                .iter()
                .filter(|r| r["model"] == "auth.user" || r["model"] == "accounts.user")
                .map(|r| {
                    let fields = &r["fields"];
                    (
                        fields[key].as_str().unwrap(),
                        fields["password"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(hashes.len(), expected.len(), "{model}: users in the dump");
            std::thread::scope(|s| {
                for user in &expected {
                    let case = user["case"].as_str().unwrap();
                    let algorithm = user["algorithm"].as_str().unwrap();
                    let encoded = hashes[user[key].as_str().unwrap()];
                    let password = user["password"].as_str().map(Password::new);
                    let usable =
                        password.is_some() && !matches!(algorithm, "md5" | "unsalted_md5" | "sha1");
                    let form: Vec<&str> = encoded.split('$').take(2).collect();
                    let try_wrong = usable && forms.insert(form.join("$"));
                    algorithms.insert(algorithm.to_owned());
                    let hasher = &hasher;
                    s.spawn(move || {
                        let right = password.unwrap_or_else(|| Password::new("anything-at-all"));
                        let verified = hasher.verify(&right, encoded);
                        if usable {
                            assert_eq!(verified, MATCH, "{model} {case}: {encoded}");
                            assert!(!hasher.is_current_hash(encoded));
                        } else {
                            assert_eq!(verified, Verified::Mismatch, "{model} {case}");
                        }
                        if try_wrong {
                            let wrong = Password::new(format!("{}x", right.expose()));
                            assert_eq!(hasher.verify(&wrong, encoded), Verified::Mismatch);
                        }
                    });
                }
            });
        }
        let all = [
            "pbkdf2_sha256",
            "pbkdf2_sha1",
            "argon2",
            "bcrypt_sha256",
            "bcrypt",
            "scrypt",
            "md5",
            "unsalted_md5",
            "sha1",
            "!",
        ];
        assert_eq!(algorithms, all.into_iter().map(str::to_owned).collect());
        let usable = [
            "argon2$argon2i",
            "argon2$argon2id",
            "bcrypt$",
            "bcrypt_sha256$",
            "pbkdf2_sha1$1000000",
            "pbkdf2_sha256$1000000",
            "scrypt$16384",
        ];
        assert_eq!(forms, usable.into_iter().map(str::to_owned).collect());
    }
}
