//! Two-factor authentication (TOTP, RFC 6238): enrolment, confirmation with recovery codes,
//! turning it off, new recovery codes ([`TwoFactor`]), and the second step of a login
//! ([`MfaLogins`]). Every code tried is reserved like a password check (the same per-email
//! lockout); which step a code may spend is [`crate::policy::totp`]; the secret is sealed
//! ([`crate::mfa::SealingKeys`]) before it is stored.

use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Serialize;

use crate::clock::SharedClock;
use crate::config::{MfaSettings, PasswordSettings, Source, StoreSettings};
use crate::domain::{Credentials, Password, User, UserId};
use crate::error::{ApiError, StoreError};
use crate::mail::SecurityChange;
use crate::mfa::{RecoveryCodes, SealingKeys, Secret};
use crate::password::PasswordHasher;
use crate::policy::lockout::Outcome;
use crate::policy::totp::{self, Verdict};
use crate::retry::{self, Tries};
use crate::runtime::InitError;
use crate::service::accounts::{Accounts, CheckEvents};
use crate::service::logins::Logins;
use crate::service::notices::Notices;
use crate::service::tokens::TokenPair;
use crate::service::{Caller, audit, audit_sessions_revoked};
use crate::store::{Challenge, EpochChange, KeptSession, MfaRecord, SecondFactor, Store};
use crate::tokens::hash_refresh_token;

/// What enrolment answers: the secret (base32, for typing), the `otpauth://` URI and its QR
/// code. Shown once; nothing is on until a code confirms it. All three hold the secret, so
/// its `Debug` redacts all three.
#[derive(Debug, Serialize)]
pub struct Enrolment {
    #[serde(serialize_with = "super::exposed")]
    pub secret: SecretString,
    #[serde(serialize_with = "super::exposed")]
    pub otpauth_uri: SecretString,
    #[serde(serialize_with = "super::exposed")]
    pub qr_svg: SecretString,
}

/// A set of recovery codes, shown once (its `Debug` redacts them).
#[derive(Debug, Serialize)]
pub struct RecoveryCodesBody {
    #[serde(serialize_with = "super::exposed")]
    pub recovery_codes: SecretBox<Vec<String>>,
}

const ENROL_EVENTS: CheckEvents = CheckEvents {
    locked_out: "mfa_enrol_locked_out",
    failed: "mfa_enrol_failed",
};

const DISABLE_EVENTS: CheckEvents = CheckEvents {
    locked_out: "mfa_disable_locked_out",
    failed: "mfa_disable_failed",
};

/// Turns two-factor on and off for the signed-in user.
#[derive(Debug, Clone)]
pub struct TwoFactor {
    accounts: Accounts,
    keys: SealingKeys,
    issuer: String,
    clock: SharedClock,
    notices: Notices,
}

impl TwoFactor {
    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let hasher = PasswordHasher::new(&PasswordSettings::from_source(src)?)?;
        let lockout = crate::config::lockout_settings(src)?;
        let settings = MfaSettings::from_source(src)?;
        let keys = SealingKeys::load(&settings.keys, &sdk).await?;
        Ok(Self {
            accounts: Accounts::new(store, hasher, clock.clone(), lockout),
            keys,
            issuer: settings.issuer,
            notices: Notices::off(clock.clone()),
            clock,
        })
    }

    /// The same, mailing a notice when two-factor is turned off or recovery codes replaced.
    pub fn with_notices(self, notices: Notices) -> Self {
        Self { notices, ..self }
    }

    fn store(&self) -> &Store {
        self.accounts.store()
    }

    async fn user(&self, user_id: &str) -> Result<User, ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        self.store().user(&id).await?.ok_or(ApiError::UserNotFound)
    }

    /// `POST /me/mfa/totp`: after the current password (checked like a login's), a new secret
    /// is sealed and stored as pending (replacing an unconfirmed one). 409 when already on.
    pub async fn enrol(
        &self,
        user_id: &str,
        current: Password,
        caller: &Caller,
    ) -> Result<Enrolment, ApiError> {
        let user = self.user(user_id).await?;
        self.accounts
            .check_current_password(&user, current, caller, ENROL_EVENTS)
            .await?;
        let secret = Secret::generate();
        let sealed = self
            .keys
            .seal(user.id.as_str(), &secret)
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        // Made before anything is stored, so a failure leaves nothing pending.
        let (otpauth_uri, qr_svg) = secret
            .enrolment(&self.issuer, user.email.as_str())
            .map_err(ApiError::Internal)?;
        let record = MfaRecord {
            enabled: false,
            sealed,
            last_step: None,
            created_at: self.clock.unix(),
        };
        if !self.store().put_pending_mfa(&user.id, &record).await? {
            return Err(ApiError::MfaAlreadyEnabled);
        }
        audit(
            "mfa_enrolment_started",
            caller,
            Some(user.id.as_str()),
            None,
        );
        Ok(Enrolment {
            secret: secret.base32().into(),
            otpauth_uri: otpauth_uri.into(),
            qr_svg: qr_svg.into(),
        })
    }

    /// Checks a TOTP code against `record`, reserved like a password check: the step it may
    /// spend, or 403 `invalid_code` (a failure toward the email's lock). A right code is a
    /// complete authentication (the password, or the session, and the second factor): it
    /// clears the email's failures.
    async fn check_code(
        &self,
        user: &User,
        record: &MfaRecord,
        code: &str,
        caller: &Caller,
    ) -> Result<i64, ApiError> {
        let email = user.email.as_str();
        let throttle = self.accounts.throttle();
        let ticket = match throttle.reserve(email).await? {
            Ok(ticket) => ticket,
            Err(refused) => {
                return Err(refused.answer("mfa_locked_out", caller, Some(user.id.as_str())));
            }
        };
        let secret = match self.keys.open(user.id.as_str(), &record.sealed) {
            Ok(secret) => secret,
            Err(e) => {
                throttle.settle(ticket, Outcome::GiveBack).await;
                return Err(ApiError::Internal(Box::new(e)));
            }
        };
        let matched: Vec<i64> = totp::window(self.clock.unix())
            .into_iter()
            .filter(|step| secret.matches(code, *step))
            .collect();
        match totp::decide(&matched, record.last_step) {
            Verdict::Accept { step } => {
                throttle.settle(ticket, Outcome::Complete).await;
                Ok(step)
            }
            Verdict::Replayed | Verdict::Wrong => {
                throttle.settle(ticket, Outcome::Wrong).await;
                audit("mfa_code_failed", caller, Some(user.id.as_str()), None);
                Err(ApiError::WrongCode)
            }
        }
    }

    /// The caller's session, if it can be carried over an epoch change.
    async fn kept(&self, user: &User, session_id: &str) -> Result<Option<KeptSession>, ApiError> {
        let session = self.store().session(&user.id, session_id).await?;
        Ok(session.and_then(|s| {
            let token = s.active_token.clone()?;
            (s.revoked_at.is_none() && s.epoch == user.epoch).then(|| KeptSession {
                session_id: session_id.to_owned(),
                token_hash: token,
            })
        }))
    }

    /// `POST /me/mfa/totp/confirm`: a code from the pending secret turns two-factor on;
    /// recovery codes are made (shown once, stored hashed); every other session ends.
    pub async fn confirm(
        &self,
        user_id: &str,
        session_id: &str,
        code: &str,
        caller: &Caller,
    ) -> Result<RecoveryCodesBody, ApiError> {
        let user = self.user(user_id).await?;
        let record = match self.store().mfa(&user.id).await? {
            Some(record) if !record.enabled => record,
            _ => return Err(ApiError::MfaNotEnabled),
        };
        let step = self.check_code(&user, &record, code, caller).await?;
        let codes = RecoveryCodes::generate(&self.keys, user.id.as_str())
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        let mut user = user;
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            let keep = self.kept(&user, session_id).await?;
            match self
                .store()
                .enable_mfa(&user, &record, step, &codes.hashes, keep.as_ref())
                .await?
            {
                EpochChange::Advanced { epoch } => {
                    audit(
                        "mfa_enabled",
                        caller,
                        Some(user.id.as_str()),
                        Some(session_id),
                    );
                    audit_sessions_revoked(caller, user.id.as_str(), epoch);
                    return Ok(RecoveryCodesBody {
                        recovery_codes: SecretBox::new(Box::new(codes.codes)),
                    });
                }
                // The caller's own session rotated its refresh token meanwhile (read it again),
                // or the pending secret was replaced or confirmed, or the credentials changed.
                EpochChange::Stale | EpochChange::Conflict => {
                    let still_pending = self
                        .store()
                        .mfa(&user.id)
                        .await?
                        .is_some_and(|r| !r.enabled && r.sealed == record.sealed);
                    if !still_pending {
                        return Err(ApiError::MfaNotEnabled);
                    }
                    user = self.user(user_id).await?;
                }
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }

    /// `DELETE /me/mfa/totp`: the current password and a code turn two-factor off; the
    /// recovery codes go with it; every other session ends.
    pub async fn disable(
        &self,
        user_id: &str,
        session_id: &str,
        current: Password,
        code: &str,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let user = self.user(user_id).await?;
        let record = match self.store().mfa(&user.id).await? {
            Some(record) if record.enabled => record,
            _ => return Err(ApiError::MfaNotEnabled),
        };
        self.accounts
            .check_current_password(&user, current, caller, DISABLE_EVENTS)
            .await?;
        // The password was right: its reservation was given back (the email's failures stay);
        // the code gets its own.
        let step = self.check_code(&user, &record, code, caller).await?;
        let mut user = user;
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            let keep = self.kept(&user, session_id).await?;
            match self.store().disable_mfa(&user, step, keep.as_ref()).await? {
                EpochChange::Advanced { epoch } => {
                    audit(
                        "mfa_disabled",
                        caller,
                        Some(user.id.as_str()),
                        Some(session_id),
                    );
                    audit_sessions_revoked(caller, user.id.as_str(), epoch);
                    self.notices
                        .send(
                            SecurityChange::TwoFactorDisabled,
                            user.email.as_str(),
                            user.id.as_str(),
                            caller,
                        )
                        .await;
                    return Ok(());
                }
                // The caller's own session rotated its refresh token meanwhile (read it again),
                // or the step was spent (a replay), or it was turned off already.
                EpochChange::Stale | EpochChange::Conflict => {
                    let usable =
                        self.store().mfa(&user.id).await?.is_some_and(|r| {
                            r.enabled && r.last_step.is_none_or(|last| last < step)
                        });
                    if !usable {
                        return Err(ApiError::WrongCode);
                    }
                    user = self.user(user_id).await?;
                }
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }

    /// `POST /me/mfa/recovery-codes`: a code proves the authenticator; a new set replaces the
    /// old one (which stops working).
    pub async fn regenerate(
        &self,
        user_id: &str,
        code: &str,
        caller: &Caller,
    ) -> Result<RecoveryCodesBody, ApiError> {
        let user = self.user(user_id).await?;
        let record = match self.store().mfa(&user.id).await? {
            Some(record) if record.enabled => record,
            _ => return Err(ApiError::MfaNotEnabled),
        };
        let step = self.check_code(&user, &record, code, caller).await?;
        let codes = RecoveryCodes::generate(&self.keys, user.id.as_str())
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        if !self
            .store()
            .replace_recovery_codes(&user.id, step, &codes.hashes)
            .await?
        {
            return Err(ApiError::WrongCode);
        }
        audit(
            "recovery_codes_regenerated",
            caller,
            Some(user.id.as_str()),
            None,
        );
        self.notices
            .send(
                SecurityChange::RecoveryCodesRegenerated,
                user.email.as_str(),
                user.id.as_str(),
                caller,
            )
            .await;
        Ok(RecoveryCodesBody {
            recovery_codes: SecretBox::new(Box::new(codes.codes)),
        })
    }
}

/// The second factor a login answers its challenge with (its `Debug` is redacted).
#[derive(Debug)]
pub enum Factor {
    Code(SecretString),
    RecoveryCode(SecretString),
}

/// `POST /auth/mfa/verify`: the second step of a login.
#[derive(Debug, Clone)]
pub struct MfaLogins {
    logins: Logins,
    keys: SealingKeys,
}

impl MfaLogins {
    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let logins = Logins::from_source(src, clock).await?;
        let settings = MfaSettings::from_source(src)?;
        let sdk = crate::store::sdk_config(&StoreSettings::from_source(src)?).await;
        let keys = SealingKeys::load(&settings.keys, &sdk).await?;
        Ok(Self { logins, keys })
    }

    /// The challenge must be alive and still match the account (same user, same credentials
    /// epoch, two-factor on); each code is reserved like a password; a wrong one counts
    /// against the challenge too (dead at five). A right one starts the session in the
    /// transaction that spends the challenge and the code, and clears the email's failures
    /// (a complete authentication); a wrong or spent one is a failure toward the email's lock.
    pub async fn verify(
        &self,
        mfa_token: &str,
        factor: Factor,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        let store = self.logins.store();
        if mfa_token.len() > 256 {
            return Err(ApiError::InvalidChallenge);
        }
        let hash = hash_refresh_token(mfa_token);
        let now = self.logins.clock().unix();
        let challenge = store
            .challenge(&hash)
            .await?
            .filter(|c| totp::challenge_alive(c.expires_at, c.failures, now))
            .ok_or(ApiError::InvalidChallenge)?;
        let throttle = self.logins.throttle();
        let ticket = match throttle.reserve(&challenge.email).await? {
            Ok(ticket) => ticket,
            Err(refused) => {
                return Err(refused.answer(
                    "mfa_locked_out",
                    caller,
                    Some(challenge.user_id.as_str()),
                ));
            }
        };
        let result = self.answer(&challenge, hash, factor, now, caller).await;
        let outcome = match &result {
            Ok(_) => Outcome::Complete,
            // A wrong code, or one another verification spent first.
            Err(ApiError::InvalidCode) => Outcome::Wrong,
            // No code was judged (the challenge no longer matches the account), or the
            // session could not start: nothing failed.
            Err(_) => Outcome::GiveBack,
        };
        throttle.settle(ticket, outcome).await;
        result
    }

    /// The reserved part of [`MfaLogins::verify`]: the factor judged, and the session started.
    async fn answer(
        &self,
        challenge: &Challenge,
        hash: String,
        factor: Factor,
        now: i64,
        caller: &Caller,
    ) -> Result<TokenPair, ApiError> {
        let store = self.logins.store();
        let credentials: Credentials = store
            .credentials(&challenge.email)
            .await?
            .filter(|c| c.user_id == challenge.user_id && c.epoch == challenge.epoch && c.mfa)
            .ok_or(ApiError::InvalidChallenge)?;
        let user_id = challenge.user_id.as_str();
        let recovery_hash;
        let accepted = match &factor {
            Factor::Code(code) => {
                let record = store
                    .mfa(&challenge.user_id)
                    .await?
                    .filter(|r| r.enabled)
                    .ok_or(ApiError::InvalidChallenge)?;
                let secret = self
                    .keys
                    .open(user_id, &record.sealed)
                    .map_err(|e| ApiError::Internal(Box::new(e)))?;
                let matched: Vec<i64> = totp::window(now)
                    .into_iter()
                    .filter(|step| secret.matches(code.expose_secret(), *step))
                    .collect();
                match totp::decide(&matched, record.last_step) {
                    Verdict::Accept { step } => Some((
                        SecondFactor::Totp {
                            challenge: &hash,
                            step,
                        },
                        vec!["pwd".to_owned(), "otp".to_owned()],
                    )),
                    Verdict::Replayed | Verdict::Wrong => None,
                }
            }
            Factor::RecoveryCode(raw) => {
                let (_, codes) = store.mfa_and_recovery(&challenge.user_id).await?;
                // The stored entry it is (keyed and salted, or of the earlier unsalted form).
                recovery_hash = self
                    .keys
                    .find_recovery_code(user_id, raw.expose_secret(), &codes);
                recovery_hash.as_deref().map(|stored| {
                    (
                        // Spent in the session's transaction.
                        SecondFactor::Recovery {
                            challenge: &hash,
                            code: stored,
                        },
                        vec!["pwd".to_owned(), "otp".to_owned(), "rec".to_owned()],
                    )
                })
            }
        };
        let Some((second, amr)) = accepted else {
            store.challenge_failed(&hash).await?;
            audit("mfa_challenge_failed", caller, Some(user_id), None);
            return Err(ApiError::InvalidCode);
        };
        let pair = self
            .logins
            .finish_with_factor(&credentials, &amr, &second, caller)
            .await?;
        if matches!(factor, Factor::RecoveryCode(_)) {
            audit("mfa_recovery_code_used", caller, Some(user_id), None);
        }
        audit("mfa_verified", caller, Some(user_id), None);
        Ok(pair)
    }
}

impl crate::service::guard::HasStore for MfaLogins {
    fn store(&self) -> &Store {
        self.logins.store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_enrolment_secret_and_the_body_still_carries_it() {
        let enrolment = Enrolment {
            secret: "JBSWY3DPEHPK3PXP".into(),
            otpauth_uri: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP".into(),
            qr_svg: "<svg>JBSWY3DPEHPK3PXP</svg>".into(),
        };
        let debug = format!("{enrolment:?}");
        assert!(
            !debug.contains("JBSWY3DPEHPK3PXP") && !debug.contains("otpauth://"),
            "{debug}"
        );
        assert_eq!(
            serde_json::to_string(&enrolment).unwrap(),
            r#"{"secret":"JBSWY3DPEHPK3PXP","otpauth_uri":"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP","qr_svg":"<svg>JBSWY3DPEHPK3PXP</svg>"}"#
        );
    }

    #[test]
    fn debug_hides_recovery_codes_and_the_body_still_carries_them() {
        let body = RecoveryCodesBody {
            recovery_codes: SecretBox::new(Box::new(vec![
                "abcd-efgh-jkmn".to_owned(),
                "pqrs-tuvw-xyz2".to_owned(),
            ])),
        };
        let debug = format!("{body:?}");
        assert!(
            !debug.contains("abcd-efgh-jkmn") && !debug.contains("pqrs"),
            "{debug}"
        );
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"recovery_codes":["abcd-efgh-jkmn","pqrs-tuvw-xyz2"]}"#
        );
    }
}
