//! Tokens. Access tokens are RFC 9068 JWTs (`typ: at+jwt`) signed with Ed25519; refresh tokens
//! are 256-bit random strings prefixed with their user's id (`<user id>.<random>`, so refresh
//! reads the token and the user in one round trip), stored only as the SHA-256 of the whole
//! string, and leave the service only in a response body.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::keys::{SigningKey, VerificationKeys};

/// The media type of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// `typ` names an access token: exactly `at+jwt`, or its full form `application/at+jwt`, the
/// two values RFC 9068 §4 tells resource servers to accept (no other spelling).
pub fn is_access_token_typ(typ: &str) -> bool {
    typ == ACCESS_TOKEN_TYP || typ.strip_prefix("application/") == Some(ACCESS_TOKEN_TYP)
}

/// The claims of an access token (RFC 9068 §2.2, plus `roles` and `sid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The union of the roles' permissions (RFC 9068 §2.2.3.1).
    #[serde(default)]
    pub entitlements: Vec<String>,
    pub sid: String,
    /// How the user authenticated (RFC 8176 §2): `["pwd"]`, `["pwd","otp"]` after a TOTP
    /// code, `["pwd","otp","rec"]` after a recovery code. Tokens from before it read `[]`.
    #[serde(default)]
    pub amr: Vec<String>,
    /// The roles catalog version `entitlements` were computed at (only when `roles` is not
    /// empty): the authorizer refuses the token once one of its roles lost a permission after
    /// it (see [`crate::policy::roles::token_still_grants`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cv: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, thiserror::Error)]
#[error("could not sign the access token")]
pub struct SignError(#[source] jsonwebtoken::errors::Error);

/// Signs access tokens.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    key: SigningKey,
    issuer: String,
    audience: String,
    client_id: String,
    ttl: i64,
}

impl TokenIssuer {
    pub fn new(
        key: SigningKey,
        issuer: String,
        audience: String,
        client_id: String,
        ttl: i64,
    ) -> Self {
        Self {
            key,
            issuer,
            audience,
            client_id,
            ttl,
        }
    }

    /// Access-token lifetime in seconds (`expires_in`).
    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    pub fn claims(
        &self,
        user_id: &str,
        roles: &[String],
        session_id: &str,
        now: i64,
    ) -> AccessClaims {
        AccessClaims {
            iss: self.issuer.clone(),
            sub: user_id.to_owned(),
            aud: self.audience.clone(),
            client_id: self.client_id.clone(),
            iat: now,
            exp: now + self.ttl,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
            roles: roles.to_vec(),
            entitlements: Vec::new(),
            sid: session_id.to_owned(),
            amr: vec!["pwd".to_owned()],
            cv: 0,
        }
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, SignError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(self.key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, self.key.encoding_key()).map_err(SignError)
    }

    pub fn issue(
        &self,
        user_id: &str,
        roles: &[String],
        session_id: &str,
        now: i64,
    ) -> Result<String, SignError> {
        self.sign(&self.claims(user_id, roles, session_id, now))
    }

    /// An access token for a session whose `amr` is `amr`, with the user's roles and
    /// their permissions.
    pub fn issue_for(
        &self,
        user_id: &str,
        grants: &Grants,
        session_id: &str,
        amr: &[String],
        now: i64,
    ) -> Result<String, SignError> {
        let mut claims = self.claims(user_id, &grants.roles, session_id, now);
        claims.entitlements = grants.entitlements.clone();
        if !grants.roles.is_empty() {
            claims.cv = grants.catalog_version;
        }
        claims.amr = amr.to_vec();
        self.sign(&claims)
    }
}

/// What a token grants: the user's roles, the union of their permissions and the user's direct
/// ones, and the catalog version they were computed at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub roles: Vec<String>,
    pub entitlements: Vec<String>,
    pub catalog_version: i64,
}

impl Grants {
    /// The grants of `roles` under the current roles catalog, with the user's direct
    /// `permissions`.
    pub fn of(
        roles: &[String],
        permissions: &[String],
        catalog: &crate::policy::roles::Catalog,
    ) -> Self {
        Self {
            roles: roles.to_vec(),
            entitlements: catalog.entitlements_with(roles, permissions),
            catalog_version: catalog.version,
        }
    }
}

/// Why a token was refused. Only ever logged, never shown to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a JWT")]
    Malformed,
    #[error("algorithm not accepted")]
    Algorithm,
    #[error("typ is not at+jwt")]
    Type,
    #[error("unknown kid")]
    UnknownKey,
    #[error("bad signature or claims: {0}")]
    Invalid(String),
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
}

/// Verifies access tokens: only EdDSA, only `typ: at+jwt`, only known `kid`s, then signature,
/// `iss`, `aud`, and the times against an injected `now` with a leeway.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    keys: VerificationKeys,
    validation: Validation,
    leeway: i64,
}

impl TokenVerifier {
    pub fn new(keys: VerificationKeys, issuer: &str, audience: &str, leeway: i64) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.required_spec_claims = ["iss", "aud", "sub", "exp"]
            .iter()
            .map(|c| (*c).to_owned())
            .collect::<HashSet<_>>();
        // Times are checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            keys,
            validation,
            leeway,
        }
    }

    pub fn keys(&self) -> &VerificationKeys {
        &self.keys
    }

    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(VerifyError::Algorithm);
        }
        if !header.typ.as_deref().is_some_and(is_access_token_typ) {
            return Err(VerifyError::Type);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(VerifyError::UnknownKey)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        let claims = data.claims;
        if now > claims.exp + self.leeway {
            return Err(VerifyError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now + self.leeway < nbf) || now + self.leeway < claims.iat {
            return Err(VerifyError::NotYetValid);
        }
        Ok(claims)
    }
}

/// A refresh token as handed to the client. Never printed (its `Debug` is redacted).
#[derive(Clone, Debug)]
pub struct RefreshToken(SecretString);

impl RefreshToken {
    /// 256 bits from the operating system's CSPRNG, base64url (43 characters). Used alone for
    /// single-use tokens looked up by their hash (the two-factor challenge).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes).into())
    }

    /// A refresh token of `user`: `<user id>.<256 random bits>`. The hash covers the whole
    /// string, so altering the id finds nothing.
    pub fn for_user(user: &crate::domain::UserId) -> Self {
        Self(format!("{user}.{}", Self::generate().expose()).into())
    }

    /// The user a presented refresh token names (`None`: not one of ours).
    pub fn user_of(presented: &str) -> Option<crate::domain::UserId> {
        let (user, random) = presented.split_once('.')?;
        (random.len() == 43).then(|| crate::domain::UserId::parse(user))?
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The only form that is stored.
    pub fn hash(&self) -> String {
        hash_refresh_token(self.expose())
    }
}

/// SHA-256 (hex) of a presented refresh token. A fast hash is right here: the token carries 256
/// random bits, so there is nothing to brute-force, and lookups stay one `GetItem`.
pub fn hash_refresh_token(raw: &str) -> String {
    authcore::digest::sha256_hex(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PublicJwkSet;

    const NOW: i64 = 1_800_000_000;

    fn pair() -> (TokenIssuer, TokenVerifier) {
        let (key, _) = SigningKey::generate().unwrap();
        let jwks = serde_json::to_string(&PublicJwkSet {
            keys: vec![key.public_jwk().clone()],
        })
        .unwrap();
        let keys = VerificationKeys::from_jwks_json(&jwks).unwrap();
        (
            TokenIssuer::new(key, "iss".into(), "aud".into(), "client".into(), 900),
            TokenVerifier::new(keys, "iss", "aud", 30),
        )
    }

    #[test]
    fn issued_tokens_verify_and_carry_rfc9068_claims() {
        let (issuer, verifier) = pair();
        let token = issuer
            .issue("user-1", &["user".into()], "sid-1", NOW)
            .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(issuer.kid()));
        let claims = verifier.verify(&token, NOW).unwrap();
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.sid.as_str(),
                claims.client_id.as_str()
            ),
            ("user-1", "sid-1", "client")
        );
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn expiry_honours_the_leeway_exactly() {
        let (issuer, verifier) = pair();
        let token = issuer.issue("u", &[], "s", NOW).unwrap();
        assert!(verifier.verify(&token, NOW + 900 + 30).is_ok());
        assert_eq!(
            verifier.verify(&token, NOW + 900 + 31),
            Err(VerifyError::Expired)
        );
        assert!(verifier.verify(&token, NOW - 30).is_ok());
        assert_eq!(
            verifier.verify(&token, NOW - 31),
            Err(VerifyError::NotYetValid)
        );
    }

    #[test]
    fn wrong_audience_issuer_or_key_is_refused() {
        let (issuer, verifier) = pair();
        let (other_issuer, _) = pair();
        let token = other_issuer.issue("u", &[], "s", NOW).unwrap();
        assert_eq!(verifier.verify(&token, NOW), Err(VerifyError::UnknownKey));
        let mut claims = issuer.claims("u", &[], "s", NOW);
        claims.aud = "someone-else".into();
        assert!(matches!(
            verifier.verify(&issuer.sign(&claims).unwrap(), NOW),
            Err(VerifyError::Invalid(_))
        ));
        let mut claims = issuer.claims("u", &[], "s", NOW);
        claims.iss = "evil".into();
        assert!(matches!(
            verifier.verify(&issuer.sign(&claims).unwrap(), NOW),
            Err(VerifyError::Invalid(_))
        ));
    }

    /// The README states this size; roles and permissions travel in every request's header.
    #[test]
    fn a_token_with_10_roles_and_50_permissions_stays_small() {
        let (key, _) = SigningKey::generate().unwrap();
        let issuer = TokenIssuer::new(
            key,
            "https://auth.example.com".into(),
            "https://api.example.com".into(),
            "auth-service".into(),
            900,
        );
        // Names of the README's assumption: roles of 10 characters, permissions of 18.
        let grants = Grants {
            roles: (0..10).map(|i| format!("role-{i:05}")).collect(),
            entitlements: (0..50).map(|i| format!("service.action{i:04}")).collect(),
            catalog_version: 1_234,
        };
        assert!(grants.roles.iter().all(|r| r.len() == 10));
        assert!(grants.entitlements.iter().all(|p| p.len() == 18));
        let user = uuid::Uuid::new_v4().to_string();
        let sid = uuid::Uuid::new_v4().to_string();
        let token = issuer
            .issue_for(&user, &grants, &sid, &["pwd".to_owned()], NOW)
            .unwrap();
        let bare = issuer
            .issue_for(&user, &Grants::default(), &sid, &["pwd".to_owned()], NOW)
            .unwrap();
        assert_eq!((token.len(), bare.len()), (2189, 605));
    }

    /// The worst token the bounds allow: the most roles a user may hold, each of the longest
    /// name, and permissions filling the catalog's entitlement bytes plus a user's direct
    /// permissions' bytes, with an issuer and
    /// an audience of 100 characters each: within 8 KiB, so the `Authorization` header fits API
    /// Gateway's 10,240 bytes of request line and headers with 2 KB to spare.
    #[test]
    fn a_token_at_the_bounds_fits_the_gateway() {
        use crate::policy::roles::{
            MAX_DIRECT_PERMISSION_BYTES, MAX_ENTITLEMENT_BYTES, MAX_NAME_LEN, MAX_PERMISSION_LEN,
            MAX_ROLES_PER_USER, entitlement_bytes,
        };
        let (key, _) = SigningKey::generate().unwrap();
        let long = |c: char| format!("https://{}.example.com", c.to_string().repeat(80));
        let issuer = TokenIssuer::new(key, long('i'), long('a'), "auth-service".into(), 900);
        let roles: Vec<String> = (0..MAX_ROLES_PER_USER)
            .map(|i| format!("{i:02}{}", "r".repeat(MAX_NAME_LEN - 2)))
            .collect();
        let mut entitlements: Vec<String> = Vec::new();
        let bound = MAX_ENTITLEMENT_BYTES + MAX_DIRECT_PERMISSION_BYTES;
        while entitlement_bytes(&entitlements) + MAX_PERMISSION_LEN + 3 <= bound {
            let i = entitlements.len();
            entitlements.push(format!("{i:03}{}", "p".repeat(MAX_PERMISSION_LEN - 3)));
        }
        let grants = Grants {
            roles,
            entitlements,
            catalog_version: i64::from(u32::MAX),
        };
        let amr: Vec<String> = ["pwd", "otp", "rec"].map(String::from).to_vec();
        let user = uuid::Uuid::new_v4().to_string();
        let token = issuer.issue_for(&user, &grants, &user, &amr, NOW).unwrap();
        assert!(token.len() <= 8_192, "{} bytes", token.len());
        assert_eq!(token.len(), 8_045);
    }

    #[test]
    fn refresh_tokens_are_256_bit_and_stored_hashed() {
        let token = RefreshToken::generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(token.expose()).unwrap().len(), 32);
        assert_ne!(token.expose(), RefreshToken::generate().expose());
        assert_eq!(token.hash().len(), 64);
        assert!(!token.hash().contains(token.expose()));
        assert!(!format!("{token:?}").contains(token.expose()));
        let user = crate::domain::UserId::random();
        let token = RefreshToken::for_user(&user);
        assert_eq!(RefreshToken::user_of(token.expose()), Some(user));
        assert_eq!(RefreshToken::user_of("x.y"), None);
        assert_eq!(
            RefreshToken::user_of(RefreshToken::generate().expose()),
            None
        );
    }
}
