//! Passwords: the registration policy, and Argon2id hashing. The stored form is the PHC string;
//! a hash made with other parameters than the configured ones is upgraded on the next successful
//! login. Unknown emails are verified against a dummy hash so that they cost the same time.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zxcvbn::{Score, zxcvbn};

use crate::config::{ConfigError, PasswordSettings};
use crate::domain::{Email, Password};

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

/// Argon2id at the configured cost. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon: Argon2<'static>,
    params: Params,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .finish()
    }
}

impl PasswordHasher {
    /// Builds the hasher and its dummy hash (one hash at cold start).
    pub fn new(settings: &PasswordSettings) -> Result<Self, ConfigError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| ConfigError::Invalid {
            name: crate::config::ARGON2_MEMORY_KIB,
            reason: e.to_string(),
        })?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut inner = Inner {
            argon,
            params,
            dummy_hash: String::new(),
        };
        inner.dummy_hash = inner
            .hash(b"dummy password that never matches")
            .map_err(|e| ConfigError::Invalid {
                name: crate::config::ARGON2_MEMORY_KIB,
                reason: e.0,
            })?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// A new PHC string with a fresh random salt. CPU-bound: call from a blocking thread.
    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        self.inner.hash(password.expose().as_bytes())
    }

    /// Checks a password against a stored PHC string. CPU-bound: call from a blocking thread.
    pub fn verify(&self, password: &Password, phc: &str) -> Verified {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return Verified::Mismatch;
        };
        // Verify with the parameters the hash was made with (they are in the PHC string).
        if Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_err()
        {
            return Verified::Mismatch;
        }
        Verified::Match {
            needs_rehash: !self.is_current(&parsed),
        }
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

impl Inner {
    fn hash(&self, password: &[u8]) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        self.argon
            .hash_password(password, &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
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
