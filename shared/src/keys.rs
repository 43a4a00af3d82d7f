//! Keys in one module. The service signs with one Ed25519 private key and verifies with any
//! number of public keys, published as a JWK Set. A key's `kid` is its RFC 7638 thumbprint, so
//! the id can never disagree with the key.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{DecodingKey, EncodingKey};

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

/// One public key as published in the JWK Set (`jsonwebtoken`'s JWK: no private members by
/// construction).
pub type PublicJwk = Jwk;

/// A JWK Set of public keys.
pub type PublicJwkSet = JwkSet;

/// The published JWK of an Ed25519 public key (`x`, base64url): `use` sig, `alg` EdDSA and, as
/// its `kid`, its RFC 7638 thumbprint.
fn public_jwk(x: String) -> Result<Jwk, KeyError> {
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x,
        }),
    };
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| KeyError::BadJwks(e.to_string()))?;
    jwk.common.key_id = Some(kid);
    Ok(jwk)
}

/// The `kid` of a JWK this module made (always its thumbprint).
fn kid_of(jwk: &Jwk) -> String {
    jwk.common.key_id.clone().unwrap_or_default()
}

/// The private key the issuer signs with. Its `Debug` shows only the `kid`.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public: PublicJwk,
}

// Kept by hand: `EncodingKey` (jsonwebtoken) is neither Debug nor Zeroize: secrecy can't wrap it.
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
        let public = public_jwk(URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()))?;
        Ok(Self {
            kid: kid_of(&public),
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

// Kept by hand: nothing secret (public keys); this lists the kids instead of the whole JWK set.
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
        let bad = |e: &dyn fmt::Display| KeyError::BadJwks(e.to_string());
        let raw: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(&e))?;
        // A JWK's parameters would silently drop a private member: refuse it before parsing.
        let members = raw.get("keys").and_then(serde_json::Value::as_array);
        if members.is_some_and(|keys| keys.iter().any(|key| key.get("d").is_some())) {
            return Err(KeyError::BadJwks(
                "a key has private members (\"d\"): publish only public keys".into(),
            ));
        }
        let set: JwkSet = serde_json::from_value(raw).map_err(|e| bad(&e))?;
        let mut by_kid = HashMap::new();
        let mut published = PublicJwkSet::default();
        for key in set.keys {
            let AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                curve: EllipticCurve::Ed25519,
                x,
                ..
            }) = &key.algorithm
            else {
                return Err(KeyError::BadJwks(
                    "only OKP/Ed25519 keys are supported".into(),
                ));
            };
            if key
                .common
                .key_algorithm
                .is_some_and(|a| a != KeyAlgorithm::EdDSA)
                || key
                    .common
                    .public_key_use
                    .as_ref()
                    .is_some_and(|u| *u != PublicKeyUse::Signature)
            {
                return Err(KeyError::BadJwks(
                    "keys must have alg EdDSA and use sig".into(),
                ));
            }
            let bytes = URL_SAFE_NO_PAD
                .decode(x)
                .map_err(|_| KeyError::BadJwks("\"x\" is not base64url".into()))?;
            if bytes.len() != 32 {
                return Err(KeyError::BadJwks(
                    "\"x\" is not a 32-byte Ed25519 key".into(),
                ));
            }
            let jwk = public_jwk(x.clone())?;
            let kid = kid_of(&jwk);
            if key
                .common
                .key_id
                .as_ref()
                .is_some_and(|given| *given != kid)
            {
                return Err(KeyError::BadJwks(format!(
                    "kid of key {x} is not its RFC 7638 thumbprint"
                )));
            }
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| bad(&e))?;
            if by_kid.insert(kid, decoding).is_none() {
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
        let jwk = public_jwk("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into()).unwrap();
        assert_eq!(kid_of(&jwk), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        let published = serde_json::to_value(&jwk).unwrap();
        assert_eq!(
            published,
            serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", "alg": "EdDSA", "use": "sig"
            })
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
        let AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters { x, .. }) =
            &key.public_jwk().algorithm
        else {
            panic!("an Ed25519 key");
        };
        let with_d =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"secret"}}]}}"#);
        assert!(VerificationKeys::from_jwks_json(&with_d).is_err());
        let wrong_kid =
            format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"mine"}}]}}"#);
        assert!(VerificationKeys::from_jwks_json(&wrong_kid).is_err());
        assert!(VerificationKeys::from_jwks_json(r#"{"keys":[]}"#).is_err());
        for other in [
            format!(r#"{{"kty":"OKP","crv":"X25519","x":"{x}"}}"#),
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}"#),
            format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"RS256"}}"#),
            format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","use":"enc"}}"#),
            r#"{"kty":"OKP","crv":"Ed25519","x":"c2hvcnQ"}"#.to_owned(),
        ] {
            let set = format!(r#"{{"keys":[{other}]}}"#);
            assert!(VerificationKeys::from_jwks_json(&set).is_err(), "{set}");
        }
        let plain = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}]}}"#);
        let keys = VerificationKeys::from_jwks_json(&plain).unwrap();
        assert!(keys.get(key.kid()).is_some());
        assert_eq!(keys.published().keys, vec![key.public_jwk().clone()]);
        assert!(SigningKey::from_pkcs8_pem("not a pem").is_err());
    }
}
