//! Keys in one module. The service signs with one Ed25519 private key and verifies with any
//! number of public keys, published as a JWK Set. A key's `kid` is its RFC 7638 thumbprint, so
//! the id can never disagree with the key.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "EdDSA";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the signing key is not an Ed25519 PKCS#8 PEM private key")]
    BadPrivateKey,
    #[error("JWT_PUBLIC_JWKS is not a JWK Set: {0}")]
    BadJwks(String),
    #[error("could not fetch the SSM SecureString parameter {name}")]
    Fetch {
        name: String,
        #[source]
        source: crate::error::BoxError,
    },
    #[error("the two-factor sealing keys are invalid: {0}")]
    BadMfaKeys(String),
}

/// One public key as published in the JWK Set. It has no private members by construction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

impl PublicJwk {
    fn from_x(x: String) -> Self {
        Self {
            kid: thumbprint(&x),
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x,
            alg: ALGORITHM.into(),
            use_: "sig".into(),
        }
    }
}

/// A JWK Set of public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PublicJwkSet {
    pub keys: Vec<PublicJwk>,
}

/// RFC 7638 thumbprint of an Ed25519 public key (`x`, base64url).
pub fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The private key the issuer signs with. Its `Debug` shows only the `kid`.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem.trim())
            .map_err(|_| KeyError::BadPrivateKey)?;
        Self::from_dalek(&key)
    }

    fn from_dalek(key: &ed25519_dalek::SigningKey) -> Result<Self, KeyError> {
        let der = key.to_pkcs8_der().map_err(|_| KeyError::BadPrivateKey)?;
        let public = PublicJwk::from_x(URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()));
        Ok(Self {
            kid: public.kid.clone(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            public,
        })
    }

    /// A new random key and its PKCS#8 PEM (for the key tool and tests).
    pub fn generate() -> Result<(Self, String), KeyError> {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|_| KeyError::BadPrivateKey)?;
        Ok((Self::from_dalek(&key)?, pem.to_string()))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }
}

/// Every key a token may be verified with, by `kid`.
#[derive(Clone)]
pub struct VerificationKeys {
    by_kid: HashMap<String, DecodingKey>,
    published: PublicJwkSet,
}

impl fmt::Debug for VerificationKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKeys")
            .field("kids", &self.by_kid.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl VerificationKeys {
    /// Parses `JWT_PUBLIC_JWKS`. Only Ed25519 signing keys are accepted; a `kid`, when given,
    /// must be the key's thumbprint; a key with private members (`d`) is refused outright.
    pub fn from_jwks_json(json: &str) -> Result<Self, KeyError> {
        let set: serde_json::Value =
            serde_json::from_str(json).map_err(|e| KeyError::BadJwks(e.to_string()))?;
        let keys = set
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| KeyError::BadJwks("no \"keys\" array".into()))?;
        let mut by_kid = HashMap::new();
        let mut published = PublicJwkSet::default();
        for key in keys {
            let member = |name: &str| key.get(name).and_then(|v| v.as_str());
            if key.get("d").is_some() {
                return Err(KeyError::BadJwks(
                    "a key has private members (\"d\"): publish only public keys".into(),
                ));
            }
            if member("kty") != Some("OKP") || member("crv") != Some("Ed25519") {
                return Err(KeyError::BadJwks(
                    "only OKP/Ed25519 keys are supported".into(),
                ));
            }
            if member("alg").is_some_and(|a| a != ALGORITHM)
                || member("use").is_some_and(|u| u != "sig")
            {
                return Err(KeyError::BadJwks(
                    "keys must have alg EdDSA and use sig".into(),
                ));
            }
            let x = member("x").ok_or_else(|| KeyError::BadJwks("a key has no \"x\"".into()))?;
            let raw = URL_SAFE_NO_PAD
                .decode(x)
                .map_err(|_| KeyError::BadJwks("\"x\" is not base64url".into()))?;
            if raw.len() != 32 {
                return Err(KeyError::BadJwks(
                    "\"x\" is not a 32-byte Ed25519 key".into(),
                ));
            }
            let jwk = PublicJwk::from_x(x.to_owned());
            if member("kid").is_some_and(|kid| kid != jwk.kid) {
                return Err(KeyError::BadJwks(format!(
                    "kid of key {x} is not its RFC 7638 thumbprint"
                )));
            }
            let decoding =
                DecodingKey::from_ed_components(x).map_err(|e| KeyError::BadJwks(e.to_string()))?;
            if by_kid.insert(jwk.kid.clone(), decoding).is_none() {
                published.keys.push(jwk);
            }
        }
        if by_kid.is_empty() {
            return Err(KeyError::BadJwks("the set has no keys".into()));
        }
        Ok(Self { by_kid, published })
    }

    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.by_kid.get(kid)
    }

    /// The set as published at `/.well-known/jwks.json`.
    pub fn published(&self) -> &PublicJwkSet {
        &self.published
    }
}

/// Resolves the signing key from its configured source (the PEM, or an SSM SecureString).
pub async fn load_signing_key(
    source: &crate::config::SigningKeySource,
    sdk: &aws_config::SdkConfig,
) -> Result<SigningKey, KeyError> {
    match source {
        crate::config::SigningKeySource::Pem(pem) => SigningKey::from_pkcs8_pem(pem),
        crate::config::SigningKeySource::SsmParameter(name) => {
            SigningKey::from_pkcs8_pem(&secure_parameter(sdk, name).await?)
        }
    }
}

/// The decrypted value of an SSM SecureString (the signing key, the two-factor sealing keys).
pub async fn secure_parameter(sdk: &aws_config::SdkConfig, name: &str) -> Result<String, KeyError> {
    let output = aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| KeyError::Fetch {
            name: name.to_owned(),
            source: Box::new(e),
        })?;
    output
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .ok_or_else(|| KeyError::Fetch {
            name: name.to_owned(),
            source: "the parameter has no value".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 8037, appendix A.3: the thumbprint of the example Ed25519 key.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_generated_key_round_trips_through_pem_and_jwks() {
        let (key, pem) = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(key.kid(), again.kid());
        let jwks = serde_json::to_string(&PublicJwkSet {
            keys: vec![key.public_jwk().clone()],
        })
        .unwrap();
        let keys = VerificationKeys::from_jwks_json(&jwks).unwrap();
        assert!(keys.get(key.kid()).is_some());
        assert!(!jwks.contains("\"d\""));
    }

    #[test]
    fn private_members_and_wrong_kids_are_refused() {
        let (key, _) = SigningKey::generate().unwrap();
        let x = &key.public_jwk().x;
        let with_d =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"secret"}}]}}"#);
        assert!(VerificationKeys::from_jwks_json(&with_d).is_err());
        let wrong_kid =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"mine"}}]}}"#);
        assert!(VerificationKeys::from_jwks_json(&wrong_kid).is_err());
        assert!(VerificationKeys::from_jwks_json(r#"{"keys":[]}"#).is_err());
        assert!(SigningKey::from_pkcs8_pem("not a pem").is_err());
    }
}
