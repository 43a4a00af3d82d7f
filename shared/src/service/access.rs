//! Whether an access token is good right now: the one check the authorizer makes on every
//! protected request, and simplejwt's `POST /api/token/verify/` answers with (the same code, so
//! the two can never disagree).
//!
//! The token: EdDSA, `typ: at+jwt`, a known `kid`, signature, `iss`, `aud`, `exp`/`nbf` with
//! the configured leeway ([`TokenVerifier`]). Then, with `REVOCATION_CHECK=session` (the
//! default), its session and its user's profile (one `BatchGetItem`): a token whose session was
//! revoked (logout, refresh-token reuse, the session cap) or has ended, or was started under an
//! older credentials epoch (a password change, sign-out everywhere), or whose user is gone, is
//! refused; so is a token naming a role its user no longer holds, or a role that lost a
//! permission after the catalog version the token was computed at (the role stamps, read in
//! the same `BatchGetItem` only for tokens that name a role). When that read fails, the token
//! is refused: a revocation check that cannot run fails closed. With `REVOCATION_CHECK=off` no
//! table is read.

use std::borrow::Cow;

use crate::clock::SharedClock;
use crate::config::{RevocationCheck, Source, StoreSettings, VerifierSettings};
use crate::domain::UserId;
use crate::keys::VerificationKeys;
use crate::metrics::authz;
use crate::policy::roles::{self, Stale};
use crate::runtime::InitError;
use crate::store::{AccessCheck, Store};
use crate::tokens::{AccessClaims, TokenVerifier};

/// Why a token is refused: the log's reason and the authorizer metric's outcome
/// ([`crate::metrics::authz`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub reason: Cow<'static, str>,
    pub outcome: &'static str,
}

const fn denied(reason: &'static str, outcome: &'static str) -> Denied {
    Denied {
        reason: Cow::Borrowed(reason),
        outcome,
    }
}

/// Checks access tokens (see the module docs).
#[derive(Debug, Clone)]
pub struct AccessChecker {
    verifier: TokenVerifier,
    clock: SharedClock,
    /// The store sessions are checked in; `None` when `REVOCATION_CHECK=off`.
    sessions: Option<Store>,
}

impl AccessChecker {
    pub fn new(verifier: TokenVerifier, clock: SharedClock, sessions: Option<Store>) -> Self {
        Self {
            verifier,
            clock,
            sessions,
        }
    }

    /// The verifier's settings from `src`; with `REVOCATION_CHECK=session` the sessions are read
    /// through `store` when one is given (a function that already has a client), else through a
    /// client of its own.
    pub async fn from_source(
        src: &dyn Source,
        clock: SharedClock,
        store: Option<Store>,
    ) -> Result<Self, InitError> {
        let settings = VerifierSettings::from_source(src)?;
        let keys = VerificationKeys::from_jwks_json(&settings.public_jwks)?;
        let verifier =
            TokenVerifier::new(keys, &settings.issuer, &settings.audience, settings.leeway);
        let sessions = match RevocationCheck::from_source(src)? {
            RevocationCheck::Session => Some(match store {
                Some(store) => store,
                None => Store::connect(&StoreSettings::from_source(src)?).await.0,
            }),
            RevocationCheck::Off => None,
        };
        Ok(Self::new(verifier, clock, sessions))
    }

    /// The token's claims when it is good now; why not otherwise. Never logs the token.
    pub async fn check(&self, token: &str) -> Result<AccessClaims, Denied> {
        let now = self.clock.unix();
        let claims = self.verifier.verify(token, now).map_err(|reason| Denied {
            reason: Cow::Owned(reason.to_string()),
            outcome: authz::INVALID_TOKEN,
        })?;
        self.session_is_live(&claims, now).await?;
        Ok(claims)
    }

    /// With the revocation check on: the token's session exists, is not revoked, has not
    /// ended, is of the current epoch, and the token's roles still grant what it says.
    async fn session_is_live(&self, claims: &AccessClaims, now: i64) -> Result<(), Denied> {
        let Some(store) = &self.sessions else {
            return Ok(());
        };
        let user_id = UserId::parse(&claims.sub)
            .ok_or(denied("sub is not a user id", authz::INVALID_TOKEN))?;
        let with_stamps = !claims.roles.is_empty();
        match store.access_check(&user_id, &claims.sid, with_stamps).await {
            Ok(AccessCheck {
                session: Some(session),
                current_epoch: Some(epoch),
                roles: held,
                stamps,
            }) => {
                if session.revoked_at.is_some() || now >= session.expires_at {
                    Err(denied("session revoked or ended", authz::SESSION_ENDED))
                } else if session.epoch != epoch {
                    Err(denied(
                        "credentials changed since the session started",
                        authz::CREDENTIALS_CHANGED,
                    ))
                } else {
                    match roles::token_still_grants(&claims.roles, claims.cv, &held, &stamps) {
                        Ok(()) => Ok(()),
                        Err(Stale::RoleRevoked) => Err(denied(
                            "a role of the token was taken away",
                            authz::ROLE_REVOKED,
                        )),
                        Err(Stale::RoleNarrowed) => Err(denied(
                            "a role of the token lost a permission since it was issued",
                            authz::ROLE_NARROWED,
                        )),
                    }
                }
            }
            Ok(AccessCheck { session: None, .. }) => {
                Err(denied("no such session", authz::NO_SESSION))
            }
            Ok(AccessCheck {
                current_epoch: None,
                ..
            }) => Err(denied("no such user", authz::NO_USER)),
            Err(err) => {
                tracing::error!(error = %crate::error::chain(&err), "revocation check failed");
                Err(denied("revocation check unavailable", authz::CHECK_FAILED))
            }
        }
    }
}
