//! Passwords: the registration policy, and Argon2id hashing. The stored form is the PHC string;
//! a hash made with other parameters than the configured ones is upgraded on the next successful
//! login. Unknown emails are verified against a dummy hash so that they cost the same time.
//!
//! Users imported from Django keep the hash Django made (PBKDF2, Argon2, bcrypt, scrypt:
//! [`django`]); it verifies once, asks for a rehash, and the login stores Argon2id in its place.
//!
//! Memory: an Argon2id hash works in `m` KiB. The buffers hashes have run in are kept in one pool
//! per process and reused, so a process holds one buffer per hash it has run *at once* (one on
//! Lambda; at most one per CPU in the local server, where the service layer lets no more run),
//! instead of leaving a freed 19 MiB in every allocator arena a blocking thread touched, and no
//! hash pays for faulting in fresh pages. The pool is the process's, not a hasher's: the local
//! server builds a hasher per function (register, login, password change, reset, …), and per-
//! hasher pools kept up to two buffers for each of them (107 MiB after registrations and logins).

use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use zxcvbn::{Score, zxcvbn};

use crate::config::{ConfigError, PasswordSettings};
use crate::domain::{Email, Password};

mod django;

/// Whether `stored` is a Django password hash that [`PasswordHasher::verify`] accepts (Django
/// 5.2's PBKDF2, Argon2, bcrypt and scrypt forms within their work limits), as an import from
/// Django keeps it. Unusable (`!…`), weak (`md5`, `sha1`, `unsalted_*`, `crypt`) and malformed
/// hashes are not: an import stores those accounts without a password. Parsing only, no hashing.
pub fn is_accepted_django_hash(stored: &str) -> bool {
    django::parse(stored).is_some()
}

/// Why a password is refused at registration. The text completes "the password …".
pub fn check_policy(password: &Password, email: &Email, name: Option<&str>) -> Result<(), String> {
    let chars = password.chars();
    if chars < Password::MIN_CHARS {
        return Err(format!(
            "must be at least {} characters",
            Password::MIN_CHARS
        ));
    }
    if chars > Password::MAX_CHARS {
        return Err(format!(
            "must be at most {} characters",
            Password::MAX_CHARS
        ));
    }
    let lowered = password.expose().to_lowercase();
    let local = email.local_part();
    if local.chars().count() >= 3 && lowered.contains(local) {
        return Err("must not contain your email address".to_owned());
    }
    let mut inputs = vec![email.as_str(), local];
    if let Some(name) = name {
        inputs.push(name);
    }
    // zxcvbn's dictionaries hold the 30,000 most common passwords plus names and words;
    // score 3 means "safely unguessable: moderate protection from offline slow-hash attacks".
    if zxcvbn(password.expose(), &inputs).score() < Score::Three {
        return Err("is too common or too easy to guess".to_owned());
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Match { needs_rehash: bool },
    Mismatch,
}

/// Argon2id at the configured cost. Cheap to clone; clones share the buffer pool.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    dummy_hash: String,
    /// Where finished hashes leave their work buffers for the next ones: [`BUFFERS`].
    pool: &'static BufferPool,
}

/// Argon2 work buffers of finished hashes, reused by the next ones.
type BufferPool = Mutex<Vec<Vec<Block>>>;

/// The process's buffers, shared by every hasher in it.
static BUFFERS: BufferPool = Mutex::new(Vec::new());

// Kept by hand: nothing secret; shows the Argon2 parameters, not the dummy hash or buffer pool.
impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .finish()
    }
}

fn hash_error(e: impl std::fmt::Display) -> HashError {
    HashError(e.to_string())
}

impl PasswordHasher {
    /// Builds the hasher and its dummy hash. The dummy is a PHC string at the configured
    /// parameters whose output is all zeros: verifying against it costs one full hash, like a
    /// real verification, and never matches; making it costs nothing at cold start.
    pub fn new(settings: &PasswordSettings) -> Result<Self, ConfigError> {
        Self::with_pool(settings, &BUFFERS)
    }

    fn with_pool(
        settings: &PasswordSettings,
        pool: &'static BufferPool,
    ) -> Result<Self, ConfigError> {
        let invalid = |e: &dyn std::fmt::Display| ConfigError::Invalid {
            name: crate::config::ARGON2_MEMORY_KIB,
            reason: e.to_string(),
        };
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| invalid(&e))?;
        let salt = SaltString::encode_b64(b"dummy-salt-16-by").map_err(|e| invalid(&e))?;
        let zeros = [0u8; Params::DEFAULT_OUTPUT_LEN];
        let dummy_hash = phc(&params, &salt, &zeros).map_err(|e| invalid(&e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                dummy_hash,
                pool,
            }),
        })
    }

    /// A new PHC string with a fresh random salt. CPU-bound: call from a blocking thread.
    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_bytes = [0u8; 64];
        let decoded = salt.decode_b64(&mut salt_bytes).map_err(hash_error)?;
        let p = &self.inner.params;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.inner.run(
            Algorithm::Argon2id,
            Version::V0x13,
            p.clone(),
            password.expose().as_bytes(),
            decoded,
            &mut out,
        )?;
        phc(p, &salt, &out)
    }

    /// Checks a password against a stored PHC string, with the parameters, algorithm and
    /// version written in it. CPU-bound: call from a blocking thread.
    ///
    /// A hash Django made ([`django`]) verifies too, and always asks for a rehash.
    pub fn verify(&self, password: &Password, phc: &str) -> Verified {
        if let Some(format) = django::parse(phc) {
            let matched = match &format {
                // argon2-cffi reads a PHC string without `v=` as version 0x10.
                django::Format::Argon2(parsed) => {
                    self.inner.matches(password, parsed, Version::V0x10) == Some(true)
                }
                other => django::matches(password.expose().as_bytes(), other),
            };
            return if matched {
                Verified::Match { needs_rehash: true }
            } else {
                Verified::Mismatch
            };
        }
        let Ok(parsed) = PasswordHash::new(phc) else {
            return Verified::Mismatch;
        };
        let Some(true) = self.inner.matches(password, &parsed, Version::default()) else {
            return Verified::Mismatch;
        };
        Verified::Match {
            needs_rehash: !self.is_current(&parsed),
        }
    }

    /// Whether a stored PHC string was made with the configured parameters. Verifying one
    /// that was not (older, cheaper parameters) costs less than [`Self::verify_dummy`], so a
    /// failed login pays the difference (see `Logins::login`). Django's hashes never are
    /// current.
    pub fn is_current_hash(&self, phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|parsed| self.is_current(&parsed))
    }

    /// Spends the same time as a real verification, for an email with no account.
    pub fn verify_dummy(&self, password: &Password) {
        let _ = self.verify(password, &self.inner.dummy_hash);
    }

    fn is_current(&self, parsed: &PasswordHash<'_>) -> bool {
        let Ok(stored) = Params::try_from(parsed) else {
            return false;
        };
        let p = &self.inner.params;
        parsed.algorithm.as_str() == "argon2id"
            && parsed.version == Some(0x13)
            && stored.m_cost() == p.m_cost()
            && stored.t_cost() == p.t_cost()
            && stored.p_cost() == p.p_cost()
    }
}

/// The PHC string of an Argon2id v19 hash (what `argon2`'s own `hash_password` writes).
fn phc(params: &Params, salt: &SaltString, output: &[u8]) -> Result<String, HashError> {
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(hash_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(output).map_err(hash_error)?),
    }
    .to_string())
}

impl Inner {
    /// One Argon2 computation in a pooled buffer.
    fn run(
        &self,
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), HashError> {
        let blocks = params.block_count();
        let argon = Argon2::new(algorithm, version, params);
        let mut memory = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let result = argon.hash_password_into_with_memory(password, salt, out, &mut memory);
        // A hash that needed more memory than the configured cost (Django's Argon2 runs in
        // 100 MiB, once per imported user) leaves no oversized buffer behind.
        let configured = self.params.block_count();
        if memory.len() > configured {
            memory.truncate(configured);
            memory.shrink_to_fit();
        }
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        result.map_err(hash_error)
    }

    /// Whether `password` hashes to the output in `stored` (compared in constant time, by
    /// `Output`'s `PartialEq`). `None` when the string is not a usable Argon2 hash. A string
    /// without `v=` is of `unversioned`.
    fn matches(
        &self,
        password: &Password,
        stored: &PasswordHash<'_>,
        unversioned: Version,
    ) -> Option<bool> {
        let expected = stored.hash?;
        let algorithm = Algorithm::try_from(stored.algorithm).ok()?;
        let version = stored
            .version
            .map_or(Ok(unversioned), Version::try_from)
            .ok()?;
        let params = Params::try_from(stored).ok()?;
        let mut salt = [0u8; 64];
        let salt = stored.salt?.decode_b64(&mut salt).ok()?;
        let computed = Output::init_with(expected.len(), |out| {
            self.run(
                algorithm,
                version,
                params,
                password.expose().as_bytes(),
                salt,
                out,
            )
            .map_err(|_| argon2::password_hash::Error::Password)
        })
        .ok()?;
        Some(computed == expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("grace.hopper@example.com").unwrap()
    }

    #[test]
    fn policy_rejects_short_long_common_and_personal_passwords() {
        let check = |p: &str| check_policy(&Password::new(p), &email(), Some("Grace Hopper"));
        assert!(check("short").unwrap_err().contains("at least 10"));
        assert!(check(&"a".repeat(129)).unwrap_err().contains("at most 128"));
        assert!(check("password123").unwrap_err().contains("common"));
        assert!(check("Password1234").unwrap_err().contains("common"));
        assert!(check("xGRACE.HOPPERx77!").unwrap_err().contains("email"));
        assert!(check("correct-horse-battery-staple").is_ok());
        // Lengths are counted in characters, not bytes.
        assert!(check("ééééééééé").unwrap_err().contains("at least 10"));
    }

    #[test]
    fn hashes_are_the_argon2_crates_own_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let settings = PasswordSettings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        };
        // A pool of its own, so the count below is not another test's.
        let ours = PasswordHasher::with_pool(&settings, Box::leak(Box::default())).unwrap();
        let stock = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19_456, 2, 1, None).unwrap(),
        );
        let pw = Password::new("correct-horse-battery-staple");
        // Ours verifies with the crate's verifier...
        let mine = ours.hash(&pw).unwrap();
        stock
            .verify_password(pw.expose().as_bytes(), &PasswordHash::new(&mine).unwrap())
            .unwrap();
        // ...the crate's PHC string is byte for byte what `phc` writes for the same salt and
        // output...
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = stock
            .hash_password(pw.expose().as_bytes(), &salt)
            .unwrap()
            .to_string();
        let mut raw_salt = [0u8; 64];
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        stock
            .hash_password_into(
                pw.expose().as_bytes(),
                salt.decode_b64(&mut raw_salt).unwrap(),
                &mut out,
            )
            .unwrap();
        assert_eq!(phc(&ours.inner.params, &salt, &out).unwrap(), theirs);
        // ...and ours verifies the crate's.
        assert_eq!(
            ours.verify(&pw, &theirs),
            Verified::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            ours.verify(&Password::new("correct-horse-battery-stapl3"), &theirs),
            Verified::Mismatch
        );
        // An argon2i hash (other algorithm) still verifies, and asks for an upgrade.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(pw.expose().as_bytes(), &salt)
        .unwrap()
        .to_string();
        assert_eq!(
            ours.verify(&pw, &argon2i),
            Verified::Match { needs_rehash: true }
        );
        // Hashes at other parameters are told apart, so a failed login against one pays the
        // dummy hash too (login time never depends on a hash's age).
        assert!(!ours.is_current_hash(&argon2i));
        assert!(ours.is_current_hash(&ours.hash(&pw).unwrap()));
        assert!(!ours.is_current_hash("not a PHC string"));
        // The dummy hash never matches, and costs a full verification at the configured cost.
        assert!(
            ours.inner
                .dummy_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        assert_eq!(ours.verify(&pw, &ours.inner.dummy_hash), Verified::Mismatch);
        // One buffer was enough for all of the above, run one at a time.
        assert_eq!(ours.inner.pool.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_django_argon2_hash_leaves_no_oversized_buffer_in_the_pool() {
        let settings = PasswordSettings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let pool: &'static BufferPool = Box::leak(Box::default());
        let hasher = PasswordHasher::with_pool(&settings, pool).unwrap();
        // Django's default Argon2 cost (m=100 MiB), from Django's test suite.
        let django =
            "argon2$argon2id$v=19$m=102400,t=2,p=8$Y041dExhNkljRUUy$TMa6A8fPJhCAUXRhJXCXdw";
        assert_eq!(
            hasher.verify(&Password::new("secret"), django),
            Verified::Match { needs_rehash: true }
        );
        let kept: Vec<usize> = pool.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(kept, [1024], "blocks of the buffers kept");
    }

    #[test]
    fn every_hasher_of_a_process_shares_one_pool_of_buffers() {
        let settings = |iterations| PasswordSettings {
            memory_kib: 1024,
            iterations,
            parallelism: 1,
        };
        let pool: &'static BufferPool = Box::leak(Box::default());
        // Two functions' hashers (the local server builds one per function), at other costs.
        let register = PasswordHasher::with_pool(&settings(1), pool).unwrap();
        let login = PasswordHasher::with_pool(&settings(2), pool).unwrap();
        let pw = Password::new("correct-horse-battery-staple");
        let phc = register.hash(&pw).unwrap();
        assert_eq!(
            login.verify(&pw, &phc),
            Verified::Match { needs_rehash: true }
        );
        login.verify_dummy(&pw);
        // One after another, they ran in one buffer: the second hasher kept none of its own.
        assert_eq!(pool.lock().unwrap().len(), 1);
        // Two threads hashing side by side leave at most two, whatever their hasher.
        std::thread::scope(|s| {
            for hasher in [&register, &login] {
                s.spawn(|| {
                    for _ in 0..20 {
                        let _ = hasher.hash(&pw).unwrap();
                    }
                });
            }
        });
        let kept = pool.lock().unwrap().len();
        assert!((1..=2).contains(&kept), "{kept} buffers for two threads");
        // Every hasher made by `new` uses the process's pool.
        assert!(std::ptr::eq(
            PasswordHasher::new(&settings(1)).unwrap().inner.pool,
            &BUFFERS
        ));
    }

    #[test]
    fn hashes_verify_and_are_upgraded_when_parameters_change() {
        let old = PasswordHasher::new(&PasswordSettings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        let new = PasswordHasher::new(&PasswordSettings {
            memory_kib: 19_456,
            iterations: 3,
            parallelism: 1,
        })
        .unwrap();
        let pw = Password::new("correct-horse-battery-staple");
        let phc = old.hash(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            old.verify(&pw, &phc),
            Verified::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            new.verify(&pw, &phc),
            Verified::Match { needs_rehash: true }
        );
        assert_eq!(
            old.verify(&Password::new("wrong-horse-battery"), &phc),
            Verified::Mismatch
        );
        assert_eq!(old.verify(&pw, "not a phc string"), Verified::Mismatch);
    }
}
