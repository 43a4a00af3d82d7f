//! Typed configuration, read once per cold start. Every variable the service reads is named in
//! this file, with its default and bounds; secrets have no default and are never printed.
//!
//! Settings are read from a [`Source`]: the process environment on Lambda and in the local
//! server, a plain map in tests (so no test calls `env::set_var`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Where settings come from.
pub trait Source {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub const TABLE_NAME: &str = "TABLE_NAME";
pub const DYNAMODB_ENDPOINT_URL: &str = "DYNAMODB_ENDPOINT_URL";
pub const DYNAMODB_PRECONNECT: &str = "DYNAMODB_PRECONNECT";
pub const JWT_ISSUER: &str = "JWT_ISSUER";
pub const JWT_AUDIENCE: &str = "JWT_AUDIENCE";
pub const JWT_CLIENT_ID: &str = "JWT_CLIENT_ID";
pub const JWT_SIGNING_KEY: &str = "JWT_SIGNING_KEY";
pub const JWT_SIGNING_KEY_PARAMETER: &str = "JWT_SIGNING_KEY_PARAMETER";
pub const JWT_PUBLIC_JWKS: &str = "JWT_PUBLIC_JWKS";
pub const JWT_LEEWAY_SECONDS: &str = "JWT_LEEWAY_SECONDS";
pub const ACCESS_TOKEN_TTL_SECONDS: &str = "ACCESS_TOKEN_TTL_SECONDS";
pub const SESSION_TTL_SECONDS: &str = "SESSION_TTL_SECONDS";
pub const SESSION_IDLE_SECONDS: &str = "SESSION_IDLE_SECONDS";
pub const MAX_SESSIONS_PER_USER: &str = "MAX_SESSIONS_PER_USER";
pub const REFRESH_REUSE_GRACE_SECONDS: &str = "REFRESH_REUSE_GRACE_SECONDS";
pub const ARGON2_MEMORY_KIB: &str = "ARGON2_MEMORY_KIB";
pub const ARGON2_ITERATIONS: &str = "ARGON2_ITERATIONS";
pub const ARGON2_PARALLELISM: &str = "ARGON2_PARALLELISM";
pub const LOG_LEVEL: &str = "LOG_LEVEL";
pub const LOCKOUT_MAX_FAILURES: &str = "LOCKOUT_MAX_FAILURES";
pub const LOCKOUT_WINDOW_SECONDS: &str = "LOCKOUT_WINDOW_SECONDS";
pub const REVOCATION_CHECK: &str = "REVOCATION_CHECK";
pub const PORT: &str = "PORT";
pub const SES_ENDPOINT_URL: &str = "SES_ENDPOINT_URL";
pub const MAIL_FROM: &str = "MAIL_FROM";
pub const PRODUCT_NAME: &str = "PRODUCT_NAME";
pub const APP_BASE_URL: &str = "APP_BASE_URL";
pub const RESET_PATH: &str = "RESET_PATH";
pub const VERIFY_PATH: &str = "VERIFY_PATH";
pub const CONFIRM_EMAIL_PATH: &str = "CONFIRM_EMAIL_PATH";
pub const RESET_LINK_TTL_SECONDS: &str = "RESET_LINK_TTL_SECONDS";
pub const VERIFY_LINK_TTL_SECONDS: &str = "VERIFY_LINK_TTL_SECONDS";
pub const EMAIL_CHANGE_LINK_TTL_SECONDS: &str = "EMAIL_CHANGE_LINK_TTL_SECONDS";
pub const RESET_MAX_PER_HOUR: &str = "RESET_MAX_PER_HOUR";
pub const REQUIRE_VERIFIED_EMAIL: &str = "REQUIRE_VERIFIED_EMAIL";
pub const MFA_ISSUER: &str = "MFA_ISSUER";
pub const MFA_KEYS: &str = "MFA_KEYS";
pub const MFA_KEYS_PARAMETER: &str = "MFA_KEYS_PARAMETER";
pub const ROUTE_PERMISSIONS: &str = "ROUTE_PERMISSIONS";
pub const ADMIN_REQUIRE_MFA: &str = "ADMIN_REQUIRE_MFA";
pub const AUTHORIZER_CACHE_TTL_SECONDS: &str = "AUTHORIZER_CACHE_TTL_SECONDS";
pub const BOOTSTRAP_ADMIN_EMAIL: &str = "BOOTSTRAP_ADMIN_EMAIL";
pub const BOOTSTRAP_ADMIN_PASSWORD: &str = "BOOTSTRAP_ADMIN_PASSWORD";
pub const CORS_ALLOWED_ORIGINS: &str = "CORS_ALLOWED_ORIGINS";
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
pub const LOG_FORMAT: &str = "LOG_FORMAT";
pub const SIMPLEJWT_COMPAT: &str = "SIMPLEJWT_COMPAT";

/// The CloudWatch namespace of the service's metrics when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_METRICS_NAMESPACE: &str = "AuthService";

fn required(src: &dyn Source, name: &'static str) -> Result<String, ConfigError> {
    match src.get(name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(ConfigError::Missing(name)),
    }
}

fn optional(src: &dyn Source, name: &'static str) -> Option<String> {
    src.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A number with a documented default, rejected (not clamped) outside `min..=max`.
fn bounded<T>(
    src: &dyn Source,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Copy + fmt::Display,
{
    let value = match optional(src, name) {
        None => default,
        Some(raw) => raw.parse::<T>().map_err(|_| ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not a whole number"),
        })?,
    };
    if value < min || value > max {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{value} is outside {min}..={max}"),
        });
    }
    Ok(value)
}

/// The DynamoDB table, and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// `TABLE_NAME`, required.
    pub table_name: String,
    /// `DYNAMODB_ENDPOINT_URL`, unset on AWS. When set (DynamoDB Local) the client uses static
    /// placeholder credentials and the region `local`, because DynamoDB Local checks neither.
    pub endpoint_url: Option<String>,
    /// `DYNAMODB_PRECONNECT`, `off` (default) or `on`: whether the cold start opens the
    /// DynamoDB connection (TCP + TLS) with one cheap read, so the first invocation finds it
    /// open. `make bench` measures both: the read costs the cold start more than the first
    /// invocation saves, so it pays only where init runs ahead of traffic (provisioned
    /// concurrency).
    pub preconnect: bool,
}

impl StoreSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let preconnect = match optional(src, DYNAMODB_PRECONNECT).as_deref() {
            Some("on") => true,
            None | Some("off") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: DYNAMODB_PRECONNECT,
                    reason: format!("{other:?} is neither \"on\" nor \"off\""),
                });
            }
        };
        Ok(Self {
            table_name: required(src, TABLE_NAME)?,
            endpoint_url: optional(src, DYNAMODB_ENDPOINT_URL),
            preconnect,
        })
    }
}

/// Argon2id cost. Defaults are OWASP's minimum (m = 19 MiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl PasswordSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        let s = Self {
            memory_kib: bounded(src, ARGON2_MEMORY_KIB, d.memory_kib, 7_168, 1_048_576)?,
            iterations: bounded(src, ARGON2_ITERATIONS, d.iterations, 1, 20)?,
            parallelism: bounded(src, ARGON2_PARALLELISM, d.parallelism, 1, 16)?,
        };
        // OWASP's table trades memory for passes: m × t must stay at or above 19 MiB × 2.
        if u64::from(s.memory_kib) * u64::from(s.iterations) < 19_456 * 2 {
            return Err(ConfigError::Invalid {
                name: ARGON2_MEMORY_KIB,
                reason: "ARGON2_MEMORY_KIB × ARGON2_ITERATIONS must be at least 38912 (OWASP)"
                    .into(),
            });
        }
        Ok(s)
    }
}

/// Where the private signing key comes from. The PEM itself never prints.
#[derive(Clone, PartialEq, Eq)]
pub enum SigningKeySource {
    /// `JWT_SIGNING_KEY`: the PKCS#8 PEM itself (local development).
    Pem(String),
    /// `JWT_SIGNING_KEY_PARAMETER`: the name of an SSM SecureString holding the PEM (AWS).
    SsmParameter(String),
}

// Kept by hand: the enum derives PartialEq (tests compare it), which SecretString lacks.
impl fmt::Debug for SigningKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem(_) => f.write_str("Pem(<redacted>)"),
            Self::SsmParameter(name) => f.debug_tuple("SsmParameter").field(name).finish(),
        }
    }
}

impl SigningKeySource {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        // Empty means unset: the template declares JWT_SIGNING_KEY empty, so that
        // `sam local invoke --env-vars` can give a local key where there is no SSM.
        match (
            optional(src, JWT_SIGNING_KEY),
            optional(src, JWT_SIGNING_KEY_PARAMETER),
        ) {
            (Some(pem), None) => Ok(Self::Pem(pem)),
            (None, Some(name)) => Ok(Self::SsmParameter(name)),
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                name: JWT_SIGNING_KEY,
                reason: "set JWT_SIGNING_KEY or JWT_SIGNING_KEY_PARAMETER, not both".into(),
            }),
            _ => Err(ConfigError::Missing(JWT_SIGNING_KEY_PARAMETER)),
        }
    }
}

/// What the token issuer (login, refresh) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    pub issuer: String,
    pub audience: String,
    pub client_id: String,
    /// `ACCESS_TOKEN_TTL_SECONDS`, default 900, 60..=900: an access token outlives a role
    /// change, a disable or a deletion by at most its lifetime where nothing checks it again
    /// (the authorizer's revocation check off, or its decisions cached), so it is short.
    pub access_token_ttl: i64,
    /// `SESSION_TTL_SECONDS`, default 30 days, 5 minutes..=365 days. Fixed at login.
    pub session_ttl: i64,
    /// `REFRESH_REUSE_GRACE_SECONDS`, default 0, at most 60.
    pub refresh_reuse_grace: i64,
    /// `SESSION_IDLE_SECONDS`, default 7 days, 5 minutes..=365 days: a refresh token not
    /// exchanged for this long is dead.
    pub session_idle: i64,
    /// `MAX_SESSIONS_PER_USER`, default 50, 1..=1000: a login beyond it ends the oldest session.
    pub max_sessions_per_user: usize,
    pub signing_key: SigningKeySource,
}

impl IssuerSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: required(src, JWT_ISSUER)?,
            audience: required(src, JWT_AUDIENCE)?,
            client_id: required(src, JWT_CLIENT_ID)?,
            access_token_ttl: bounded(src, ACCESS_TOKEN_TTL_SECONDS, 900, 60, 900)?,
            session_ttl: session_ttl(src)?,
            refresh_reuse_grace: bounded(src, REFRESH_REUSE_GRACE_SECONDS, 0, 0, 60)?,
            session_idle: bounded(src, SESSION_IDLE_SECONDS, 604_800, 300, 31_536_000)?,
            max_sessions_per_user: bounded(src, MAX_SESSIONS_PER_USER, 50, 1, 1_000)?,
            signing_key: SigningKeySource::from_source(src)?,
        })
    }

    /// The refresh-token rotation rule's settings.
    pub fn rotation(&self) -> authcore::policy::rotation::RotationSettings {
        authcore::policy::rotation::RotationSettings {
            reuse_grace: self.refresh_reuse_grace,
            idle: self.session_idle,
        }
    }
}

pub use authcore::policy::lockout::LockoutSettings;

/// The lockout settings from `LOCKOUT_MAX_FAILURES` and `LOCKOUT_WINDOW_SECONDS`.
pub fn lockout_settings(src: &dyn Source) -> Result<LockoutSettings, ConfigError> {
    let d = LockoutSettings::default();
    Ok(LockoutSettings {
        max_failures: bounded(src, LOCKOUT_MAX_FAILURES, d.max_failures, 1, 100)?,
        window: bounded(src, LOCKOUT_WINDOW_SECONDS, d.window, 60, 86_400)?,
    })
}

/// Whether the authorizer checks that an access token's session is still live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationCheck {
    /// `session` (default): one `GetItem` per authorizer cache miss; logout, sign-out
    /// everywhere, a password change and reuse detection reach access tokens at once.
    Session,
    /// `off`: the authorizer never touches DynamoDB; a revoked session's access tokens live
    /// until they expire.
    Off,
}

impl RevocationCheck {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        match optional(src, REVOCATION_CHECK).as_deref() {
            None | Some("session") => Ok(Self::Session),
            Some("off") => Ok(Self::Off),
            Some(other) => Err(ConfigError::Invalid {
                name: REVOCATION_CHECK,
                reason: format!("{other:?} is neither \"session\" nor \"off\""),
            }),
        }
    }
}

/// What the verifiers (authorizer, key set) need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierSettings {
    pub issuer: String,
    pub audience: String,
    /// `JWT_LEEWAY_SECONDS`, default 30, at most 60.
    pub leeway: i64,
    /// `JWT_PUBLIC_JWKS`: the public JWK Set (JSON), every key that may have signed a live token.
    pub public_jwks: String,
}

impl VerifierSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: required(src, JWT_ISSUER)?,
            audience: required(src, JWT_AUDIENCE)?,
            leeway: bounded(src, JWT_LEEWAY_SECONDS, 30, 0, 60)?,
            public_jwks: required(src, JWT_PUBLIC_JWKS)?,
        })
    }
}

/// Where mail goes and what its links point at (every function that sends mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// `SES_ENDPOINT_URL`, unset on AWS: the local SES v2 emulator (`make dev`, tests).
    pub endpoint_url: Option<String>,
    /// `MAIL_FROM`, required: the sender, an address of an SES-verified identity.
    pub from: String,
    /// `PRODUCT_NAME`, default `Auth service`: how the mail names the product.
    pub product_name: String,
    /// `APP_BASE_URL`, required, `https://` (or `http://` on a loopback host): where the
    /// pages that take a link's token live. A link is `{APP_BASE_URL}{path}?token=…`.
    pub app_base_url: String,
    /// `RESET_PATH`, default `/reset-password`.
    pub reset_path: String,
    /// `VERIFY_PATH`, default `/verify-email`.
    pub verify_path: String,
    /// `CONFIRM_EMAIL_PATH`, default `/confirm-email`.
    pub confirm_email_path: String,
}

impl MailSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let from = required(src, MAIL_FROM)?;
        if email_address::EmailAddress::parse_with_options(
            &from,
            email_address::Options::default().without_display_text(),
        )
        .is_err()
        {
            return Err(ConfigError::Invalid {
                name: MAIL_FROM,
                reason: format!("{from:?} is not an email address"),
            });
        }
        let app_base_url = required(src, APP_BASE_URL)?
            .trim_end_matches('/')
            .to_owned();
        if !app_base_url.starts_with("https://") && !is_loopback_http(&app_base_url) {
            return Err(ConfigError::Invalid {
                name: APP_BASE_URL,
                reason: format!(
                    "{app_base_url:?} must start with https:// (http:// only on a loopback host)"
                ),
            });
        }
        let path = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            let value = optional(src, name).unwrap_or_else(|| default.to_owned());
            if !value.starts_with('/') || value.contains(['?', '#', ' ']) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: format!("{value:?} must be a path starting with / without ? or #"),
                });
            }
            Ok(value)
        };
        Ok(Self {
            endpoint_url: optional(src, SES_ENDPOINT_URL),
            from,
            product_name: optional(src, PRODUCT_NAME).unwrap_or_else(|| "Auth service".to_owned()),
            app_base_url,
            reset_path: path(RESET_PATH, "/reset-password")?,
            verify_path: path(VERIFY_PATH, "/verify-email")?,
            confirm_email_path: path(CONFIRM_EMAIL_PATH, "/confirm-email")?,
        })
    }
}

/// How long an emailed link lives, and how often one address may be sent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSettings {
    /// `RESET_LINK_TTL_SECONDS`, default 1800 (30 minutes), 300..=86400.
    pub reset_ttl: i64,
    /// `VERIFY_LINK_TTL_SECONDS`, default 86400 (24 hours), 300..=604800.
    pub verify_ttl: i64,
    /// `EMAIL_CHANGE_LINK_TTL_SECONDS`, default 3600 (1 hour), 300..=86400.
    pub email_change_ttl: i64,
    /// `RESET_MAX_PER_HOUR`, default 3, 1..=100: mails of one kind to one normalised address
    /// per hour (reset requests, verification resends, email-change requests).
    pub max_per_hour: i64,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            reset_ttl: 1_800,
            verify_ttl: 86_400,
            email_change_ttl: 3_600,
            max_per_hour: 3,
        }
    }
}

impl LinkSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            reset_ttl: bounded(src, RESET_LINK_TTL_SECONDS, d.reset_ttl, 300, 86_400)?,
            verify_ttl: bounded(src, VERIFY_LINK_TTL_SECONDS, d.verify_ttl, 300, 604_800)?,
            email_change_ttl: bounded(
                src,
                EMAIL_CHANGE_LINK_TTL_SECONDS,
                d.email_change_ttl,
                300,
                86_400,
            )?,
            max_per_hour: bounded(src, RESET_MAX_PER_HOUR, d.max_per_hour, 1, 100)?,
        })
    }
}

/// `REQUIRE_VERIFIED_EMAIL`, `false` (default) or `true`: whether login refuses a right
/// password for an address nobody has verified yet (403 `email_not_verified`).
pub fn require_verified_email(src: &dyn Source) -> Result<bool, ConfigError> {
    match optional(src, REQUIRE_VERIFIED_EMAIL).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name: REQUIRE_VERIFIED_EMAIL,
            reason: format!("{other:?} is neither \"true\" nor \"false\""),
        }),
    }
}

/// Where the keys that seal TOTP secrets come from. The keys themselves never print.
#[derive(Clone, PartialEq, Eq)]
pub enum MfaKeysSource {
    /// `MFA_KEYS`: the keys themselves, `kid:base64url(32 bytes)`, comma-separated, the first
    /// one sealing (local development and tests).
    Inline(String),
    /// `MFA_KEYS_PARAMETER`: the name of an SSM SecureString holding that text (AWS).
    SsmParameter(String),
}

// Kept by hand: the enum derives PartialEq (tests compare it), which SecretString lacks.
impl fmt::Debug for MfaKeysSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::SsmParameter(name) => f.debug_tuple("SsmParameter").field(name).finish(),
        }
    }
}

/// What the two-factor functions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSettings {
    /// `MFA_ISSUER`, default `Auth service`: the issuer authenticator apps show.
    pub issuer: String,
    pub keys: MfaKeysSource,
}

impl MfaSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let keys = match (optional(src, MFA_KEYS), optional(src, MFA_KEYS_PARAMETER)) {
            (Some(keys), None) => MfaKeysSource::Inline(keys),
            (None, Some(name)) => MfaKeysSource::SsmParameter(name),
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: MFA_KEYS,
                    reason: "set MFA_KEYS or MFA_KEYS_PARAMETER, not both".into(),
                });
            }
            (None, None) => return Err(ConfigError::Missing(MFA_KEYS_PARAMETER)),
        };
        let issuer = optional(src, MFA_ISSUER).unwrap_or_else(|| "Auth service".to_owned());
        if issuer.contains(':') || issuer.chars().count() > 100 {
            return Err(ConfigError::Invalid {
                name: MFA_ISSUER,
                reason:
                    "must be at most 100 characters, without ':' (the otpauth label's separator)"
                        .into(),
            });
        }
        Ok(Self { issuer, keys })
    }
}

/// `JWT_PUBLIC_JWKS` alone (the key-set function needs nothing else).
pub fn public_jwks(src: &dyn Source) -> Result<String, ConfigError> {
    required(src, JWT_PUBLIC_JWKS)
}

/// `SESSION_IDLE_SECONDS` alone (what decides which sessions are live, for the lists).
pub fn session_idle(src: &dyn Source) -> Result<i64, ConfigError> {
    bounded(src, SESSION_IDLE_SECONDS, 604_800, 300, 31_536_000)
}

/// The route keys of this API, exactly as `template.yaml` declares them (a template test
/// checks the two agree, route by route): the only keys `ROUTE_PERMISSIONS` may name.
pub const API_ROUTES: &[&str] = &[
    "POST /auth/register",
    "POST /auth/login",
    "POST /auth/refresh",
    "POST /auth/logout",
    "GET /me",
    "PATCH /me",
    "POST /me/password",
    "DELETE /me/sessions",
    "GET /.well-known/jwks.json",
    "POST /auth/password/forgot",
    "POST /auth/password/reset",
    "POST /auth/email/verify",
    "POST /me/email/verification",
    "POST /me/email",
    "POST /auth/email/confirm-change",
    "POST /me/mfa/totp",
    "POST /me/mfa/totp/confirm",
    "DELETE /me/mfa/totp",
    "POST /me/mfa/recovery-codes",
    "POST /auth/mfa/verify",
    "GET /me/sessions",
    "DELETE /me/sessions/{sid}",
    "GET /admin/users",
    "GET /admin/users/{id}",
    "PATCH /admin/users/{id}",
    "DELETE /admin/users/{id}",
    "DELETE /admin/users/{id}/sessions",
    "DELETE /admin/users/{id}/mfa",
    "GET /admin/roles",
    "PUT /admin/roles/{name}",
    "DELETE /admin/roles/{name}",
    "GET /console/{proxy+}",
    // simplejwt's routes (`SIMPLEJWT_COMPAT`): its paths end with a slash.
    "POST /api/token/",
    "POST /api/token/refresh/",
    "POST /api/token/verify/",
    "POST /api/token/blacklist/",
];

/// Why a `ROUTE_PERMISSIONS` key is refused, or `None` when it is a route of `routes`.
/// Refused: anything but `METHOD /path` with an upper-case method and one space, a trailing
/// slash (but on simplejwt's routes, whose paths have one), and a key naming no route (a typo, another case, a path parameter of another name):
/// API Gateway would never match it, and the route it meant would run unchecked.
pub fn route_key_problem(key: &str, routes: &[&str]) -> Option<String> {
    let Some((method, path)) = key.split_once(' ') else {
        return Some("expected \"METHOD /path\"".to_owned());
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Some("the method must be upper case (GET, POST, ...)".to_owned());
    }
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Some("the path must start with / and hold no spaces".to_owned());
    }
    // A trailing slash only where a route has one (simplejwt's).
    if path.len() > 1 && path.ends_with('/') && !routes.contains(&key) {
        return Some("the path must not end with /".to_owned());
    }
    if !routes.contains(&key) {
        return Some(
            "no route of this API has this key (method and path, with the path parameters named as the template names them)"
                .to_owned(),
        );
    }
    None
}

/// `ROUTE_PERMISSIONS`: a JSON object from API Gateway route key (`"PATCH /me"`) to the
/// permission a token must carry in `entitlements` for the authorizer to allow it. Empty or
/// unset: no route needs a permission. A malformed value, or a key that names no route of this
/// API ([`API_ROUTES`], [`route_key_problem`]), stops the cold start: it fails closed.
pub fn route_permissions(
    src: &dyn Source,
) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
    let Some(raw) = optional(src, ROUTE_PERMISSIONS) else {
        return Ok(Default::default());
    };
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&raw).map_err(|e| ConfigError::Invalid {
            name: ROUTE_PERMISSIONS,
            reason: format!("not a JSON object of strings: {e}"),
        })?;
    for (route, permission) in &map {
        if let Some(problem) = route_key_problem(route, API_ROUTES) {
            return Err(ConfigError::Invalid {
                name: ROUTE_PERMISSIONS,
                reason: format!("{route:?}: {problem}"),
            });
        }
        if !authcore::policy::roles::valid_permission(permission) {
            return Err(ConfigError::Invalid {
                name: ROUTE_PERMISSIONS,
                reason: format!("{route:?} → {permission:?}: not a permission"),
            });
        }
    }
    Ok(map)
}

/// `ADMIN_REQUIRE_MFA`, `false` (default, `make dev`) or `true` (the template's default on
/// AWS): whether the admin routes refuse a token whose `amr` shows no second factor (403
/// `admin_mfa_required`).
pub fn admin_require_mfa(src: &dyn Source) -> Result<bool, ConfigError> {
    match optional(src, ADMIN_REQUIRE_MFA).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name: ADMIN_REQUIRE_MFA,
            reason: format!("{other:?} is neither \"true\" nor \"false\""),
        }),
    }
}

/// `SESSION_TTL_SECONDS`, default 30 days, 5 minutes..=365 days: a session's fixed lifetime
/// (and the refresh-token cookie's `Max-Age`).
fn session_ttl(src: &dyn Source) -> Result<i64, ConfigError> {
    bounded(src, SESSION_TTL_SECONDS, 2_592_000, 300, 31_536_000)
}

/// Whether `url` is a plain-http URL on a loopback host (`http://127.0.0.1…`, `http://localhost…`,
/// `http://[::1]…`): the only place this service accepts `http://` or drops `Secure` cookies.
pub fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            url == *p || url.starts_with(&format!("{p}:")) || url.starts_with(&format!("{p}/"))
        })
}

/// What the functions that speak to browsers need: who may call with credentials (CORS) and
/// how the refresh-token cookie is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSettings {
    /// `CORS_ALLOWED_ORIGINS`, default none: comma-separated origins (`scheme://host[:port]`,
    /// lowercased, no path) that may call the API from a browser with credentials. `*` is
    /// refused: credentials are allowed, and `*` with credentials lets every site in.
    pub allowed_origins: Vec<String>,
    /// `Secure` on the cookie, and the `__Secure-` name: off only when `JWT_ISSUER` is a
    /// loopback `http://` URL (`make dev`), where a browser would drop a `Secure` cookie sent
    /// over plain http.
    pub secure_cookie: bool,
    /// The cookie's `Max-Age`: `SESSION_TTL_SECONDS` (a session never outlives it anyway).
    pub cookie_max_age: i64,
    /// `SIMPLEJWT_COMPAT` ([`simplejwt_compat`]): whether simplejwt's routes answer.
    pub simplejwt_compat: bool,
}

impl BrowserSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            allowed_origins: allowed_origins(src)?,
            secure_cookie: !is_loopback_http(&required(src, JWT_ISSUER)?),
            cookie_max_age: session_ttl(src)?,
            simplejwt_compat: simplejwt_compat(src)?,
        })
    }
}

/// `SIMPLEJWT_COMPAT`, `false` (default) or `true`: whether the routes of
/// djangorestframework-simplejwt (`POST /api/token/`, `/api/token/refresh/`,
/// `/api/token/verify/`, `/api/token/blacklist/`) answer, in simplejwt's shapes, for frontends
/// written for it. Off, they answer what an unknown route answers (404).
pub fn simplejwt_compat(src: &dyn Source) -> Result<bool, ConfigError> {
    match optional(src, SIMPLEJWT_COMPAT).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name: SIMPLEJWT_COMPAT,
            reason: format!("{other:?} is neither \"true\" nor \"false\""),
        }),
    }
}

/// `CORS_ALLOWED_ORIGINS`, parsed and checked (also read by the local server, which answers
/// CORS the way API Gateway does from the template's `CorsAllowedOrigins`).
pub fn allowed_origins(src: &dyn Source) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = optional(src, CORS_ALLOWED_ORIGINS) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let lower = origin.to_ascii_lowercase();
            let host = lower
                .strip_prefix("https://")
                .or_else(|| lower.strip_prefix("http://"));
            let well_formed = host.is_some_and(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
            });
            if well_formed {
                Ok(lower)
            } else {
                Err(ConfigError::Invalid {
                    name: CORS_ALLOWED_ORIGINS,
                    reason: format!(
                        "{origin:?} is not an origin (scheme://host[:port], no path, no *)"
                    ),
                })
            }
        })
        .collect()
}

/// `AUTHORIZER_CACHE_TTL_SECONDS` of the local server (API Gateway's authorizer result cache),
/// default 0 (off, as the template's default), at most 3600.
pub fn authorizer_cache_ttl(src: &dyn Source) -> Result<u64, ConfigError> {
    bounded(src, AUTHORIZER_CACHE_TTL_SECONDS, 0, 0, 3_600)
}

/// `PORT` of the local development server, default 3000.
pub fn dev_port(src: &dyn Source) -> Result<u16, ConfigError> {
    bounded(src, PORT, 3000, 1, u16::MAX)
}

/// `METRICS_NAMESPACE`, default [`DEFAULT_METRICS_NAMESPACE`]: the CloudWatch namespace the
/// functions' embedded-metric lines name. At most 255 of letters, digits and `. - _ / # :`
/// (what CloudWatch accepts, less the space), not starting with `AWS/` (AWS's own).
pub fn metrics_namespace(src: &dyn Source) -> Result<String, ConfigError> {
    let Some(value) = optional(src, METRICS_NAMESPACE) else {
        return Ok(DEFAULT_METRICS_NAMESPACE.to_owned());
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#:".contains(c);
    if value.len() > 255 || !value.chars().all(allowed) || value.starts_with("AWS/") {
        return Err(ConfigError::Invalid {
            name: METRICS_NAMESPACE,
            reason: format!(
                "{value:?} is not a CloudWatch namespace (at most 255 of letters, digits and \
                 . - _ / # :, not starting with AWS/)"
            ),
        });
    }
    Ok(value)
}

/// How the local server writes its log lines (`LOG_FORMAT`); the functions on Lambda always
/// write JSON and never read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `text` (default): one readable line per event, coloured on a terminal; the metrics are
    /// counted (`GET /_local/metrics`) but their EMF lines are not printed.
    Text,
    /// `json`: what Lambda writes, JSON log lines and the metrics' EMF lines.
    Json,
}

/// `LOG_FORMAT` of the local server: `text` (default) or `json`.
pub fn log_format(src: &dyn Source) -> Result<LogFormat, ConfigError> {
    match optional(src, LOG_FORMAT).as_deref() {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError::Invalid {
            name: LOG_FORMAT,
            reason: format!("{other:?} is not one of text, json"),
        }),
    }
}

/// `LOG_LEVEL`: `error`, `warn`, `info` (default) or `debug`.
pub fn log_level(src: &dyn Source) -> Result<&'static str, ConfigError> {
    match optional(src, LOG_LEVEL).as_deref() {
        None | Some("info") => Ok("info"),
        Some("error") => Ok("error"),
        Some("warn") => Ok("warn"),
        Some("debug") => Ok("debug"),
        Some(other) => Err(ConfigError::Invalid {
            name: LOG_LEVEL,
            reason: format!("{other:?} is not one of error, warn, info, debug"),
        }),
    }
}

/// The log filter for a level: ours at `level`; the Lambda runtime, the HTTP stack and the AWS
/// SDK never below `info`, whatever the level, because at `debug` they log request and response
/// bodies (tokens, passwords, DynamoDB items).
pub fn log_filter(level: &str) -> String {
    let quiet = match level {
        "error" | "warn" => level,
        _ => "info",
    };
    let mut filter = level.to_owned();
    for target in [
        "lambda_runtime",
        "lambda_runtime_api_client",
        "lambda_http",
        "aws_smithy_runtime",
        "aws_smithy_runtime_api",
        "aws_smithy_http_client",
        "aws_smithy_types",
        "aws_sdk_dynamodb",
        "aws_sdk_ssm",
        "aws_sdk_sesv2",
        "aws_config",
        "aws_runtime",
        "aws_sigv4",
        "hyper",
        "hyper_util",
        "h2",
        "rustls",
        "tower",
        "axum",
        "reqwest",
    ] {
        filter.push_str(&format!(",{target}={quiet}"));
    }
    filter
}

/// Per-source limits on the costly public routes, and the registration mail budget (see
/// [`authcore::policy::rates`]). Every limit counts in fixed windows, one conditional write per
/// request; set `SOURCE_LIMITS=off` only where another layer (the CloudFront + WAF
/// distribution of `template.yaml`) limits per client instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimitSettings {
    /// `SOURCE_LIMITS`, `on` (default) or `off`: the per-source counters (the mail budget
    /// below always applies).
    pub enabled: bool,
    /// `SOURCE_LIMIT_WINDOW_SECONDS`, default 60, 10..=3600: the length of each window.
    pub window: i64,
    /// `SOURCE_LIMIT_LOGIN`, default 30, 1..=100000: login and two-factor verify requests per
    /// source per window (one counter for both routes).
    pub login: i64,
    /// `SOURCE_LIMIT_REGISTER`, default 5, 1..=100000: registrations per source per window.
    pub register: i64,
    /// `SOURCE_LIMIT_RECOVERY`, default 10, 1..=100000: forgot-password, reset-password and
    /// resend-verification requests per source per window (one counter for the three).
    pub recovery: i64,
    /// `REGISTRATION_MAILS_PER_ADDRESS_PER_HOUR`, default 10, 1..=100: registration attempts
    /// per normalised address per clock hour, counted before any work (a successful one mails
    /// a verification link; a taken address or a weak password counts too, so the default
    /// leaves room for typos). Also bounds how often one address can be probed for `email_taken`.
    pub mails_per_address: i64,
    /// `REGISTRATION_MAILS_PER_HOUR`, default 1000, 1..=1000000: registrations per clock hour
    /// for the whole service, whoever asks: the ceiling on what an attacker spread over many
    /// addresses can make SES send (and what legitimate sign-ups may reach in an hour).
    pub mails_per_hour: i64,
}

pub const SOURCE_LIMITS: &str = "SOURCE_LIMITS";
pub const SOURCE_LIMIT_WINDOW_SECONDS: &str = "SOURCE_LIMIT_WINDOW_SECONDS";
pub const SOURCE_LIMIT_LOGIN: &str = "SOURCE_LIMIT_LOGIN";
pub const SOURCE_LIMIT_REGISTER: &str = "SOURCE_LIMIT_REGISTER";
pub const SOURCE_LIMIT_RECOVERY: &str = "SOURCE_LIMIT_RECOVERY";
pub const REGISTRATION_MAILS_PER_ADDRESS_PER_HOUR: &str = "REGISTRATION_MAILS_PER_ADDRESS_PER_HOUR";
pub const REGISTRATION_MAILS_PER_HOUR: &str = "REGISTRATION_MAILS_PER_HOUR";

impl Default for SourceLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window: 60,
            login: 30,
            register: 5,
            recovery: 10,
            mails_per_address: 10,
            mails_per_hour: 1_000,
        }
    }
}

impl SourceLimitSettings {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let d = Self::default();
        let enabled = match optional(src, SOURCE_LIMITS).as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: SOURCE_LIMITS,
                    reason: format!("{other:?} is neither \"on\" nor \"off\""),
                });
            }
        };
        Ok(Self {
            enabled,
            window: bounded(src, SOURCE_LIMIT_WINDOW_SECONDS, d.window, 10, 3_600)?,
            login: bounded(src, SOURCE_LIMIT_LOGIN, d.login, 1, 100_000)?,
            register: bounded(src, SOURCE_LIMIT_REGISTER, d.register, 1, 100_000)?,
            recovery: bounded(src, SOURCE_LIMIT_RECOVERY, d.recovery, 1, 100_000)?,
            mails_per_address: bounded(
                src,
                REGISTRATION_MAILS_PER_ADDRESS_PER_HOUR,
                d.mails_per_address,
                1,
                100,
            )?,
            mails_per_hour: bounded(
                src,
                REGISTRATION_MAILS_PER_HOUR,
                d.mails_per_hour,
                1,
                1_000_000,
            )?,
        })
    }
}

#[cfg(test)]
mod source_limit_tests {
    use super::*;

    #[test]
    fn source_limits_are_on_by_default_and_bounded() {
        let none: HashMap<String, String> = HashMap::new();
        assert_eq!(
            SourceLimitSettings::from_source(&none).unwrap(),
            SourceLimitSettings::default()
        );
        let off: HashMap<String, String> =
            HashMap::from([(SOURCE_LIMITS.to_owned(), "off".to_owned())]);
        assert!(!SourceLimitSettings::from_source(&off).unwrap().enabled);
        for (name, bad) in [
            (SOURCE_LIMITS, "maybe"),
            (SOURCE_LIMIT_LOGIN, "0"),
            (SOURCE_LIMIT_WINDOW_SECONDS, "5"),
            (REGISTRATION_MAILS_PER_HOUR, "0"),
        ] {
            let src: HashMap<String, String> = HashMap::from([(name.to_owned(), bad.to_owned())]);
            assert!(
                matches!(
                    SourceLimitSettings::from_source(&src),
                    Err(ConfigError::Invalid { name: n, .. }) if n == name
                ),
                "{name}={bad} accepted"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn route_permissions_fail_closed_on_a_key_that_matches_no_route() {
        let parse = |raw: &str| route_permissions(&src(&[(ROUTE_PERMISSIONS, raw)]));
        let ok =
            parse(r#"{"PATCH /me": "profile.edit", "DELETE /admin/users/{id}": "x.y"}"#).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(parse("").unwrap().is_empty());
        for bad in [
            r#"{"get /me": "p"}"#,
            r#"{"Get /me": "p"}"#,
            r#"{"GET /me/": "p"}"#,
            r#"{"GET  /me": "p"}"#,
            r#"{"GET me": "p"}"#,
            r#"{"GET /admin/users/{userId}": "p"}"#,
            r#"{"POST /articles": "p"}"#,
            r#"{"$default": "p"}"#,
            r#"{"/me": "p"}"#,
            r#"{"PATCH /me": "not a permission"}"#,
            r#"["PATCH /me"]"#,
        ] {
            assert!(
                matches!(
                    parse(bad),
                    Err(ConfigError::Invalid {
                        name: ROUTE_PERMISSIONS,
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            route_key_problem("GET /me/", API_ROUTES).unwrap(),
            "the path must not end with /"
        );
        assert!(route_key_problem("GET /", &["GET /"]).is_none());
    }

    #[test]
    fn simplejwt_compat_is_off_unless_set_and_only_true_or_false() {
        assert!(!simplejwt_compat(&src(&[])).unwrap());
        assert!(!simplejwt_compat(&src(&[(SIMPLEJWT_COMPAT, "")])).unwrap());
        assert!(simplejwt_compat(&src(&[(SIMPLEJWT_COMPAT, "true")])).unwrap());
        assert!(!simplejwt_compat(&src(&[(SIMPLEJWT_COMPAT, "false")])).unwrap());
        assert!(matches!(
            simplejwt_compat(&src(&[(SIMPLEJWT_COMPAT, "on")])),
            Err(ConfigError::Invalid {
                name: SIMPLEJWT_COMPAT,
                ..
            })
        ));
    }

    #[test]
    fn admin_mfa_is_off_unless_set_and_only_true_or_false() {
        assert!(!admin_require_mfa(&src(&[])).unwrap());
        assert!(admin_require_mfa(&src(&[(ADMIN_REQUIRE_MFA, "true")])).unwrap());
        assert!(!admin_require_mfa(&src(&[(ADMIN_REQUIRE_MFA, "false")])).unwrap());
        assert!(admin_require_mfa(&src(&[(ADMIN_REQUIRE_MFA, "yes")])).is_err());
    }

    #[test]
    fn issuer_settings_use_documented_defaults() {
        let s = IssuerSettings::from_source(&src(&[
            (JWT_ISSUER, "https://auth.example.com"),
            (JWT_AUDIENCE, "api"),
            (JWT_CLIENT_ID, "web"),
            (JWT_SIGNING_KEY_PARAMETER, "/auth/key"),
        ]))
        .unwrap();
        assert_eq!(s.access_token_ttl, 900);
        assert_eq!(s.session_ttl, 30 * 24 * 3600);
        assert_eq!(s.refresh_reuse_grace, 0);
        assert_eq!(s.session_idle, 7 * 24 * 3600);
        assert_eq!(s.max_sessions_per_user, 50);
        assert_eq!(
            s.signing_key,
            SigningKeySource::SsmParameter("/auth/key".into())
        );
    }

    #[test]
    fn missing_and_out_of_range_values_are_errors_not_fallbacks() {
        assert_eq!(
            StoreSettings::from_source(&src(&[])),
            Err(ConfigError::Missing(TABLE_NAME))
        );
        let err = VerifierSettings::from_source(&src(&[
            (JWT_ISSUER, "i"),
            (JWT_AUDIENCE, "a"),
            (JWT_PUBLIC_JWKS, "{}"),
            (JWT_LEEWAY_SECONDS, "120"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: JWT_LEEWAY_SECONDS,
                ..
            }
        ));
        // Access tokens live at most 15 minutes: a role change reaches them within that.
        let err = IssuerSettings::from_source(&src(&[
            (JWT_ISSUER, "i"),
            (JWT_AUDIENCE, "a"),
            (JWT_CLIENT_ID, "c"),
            (JWT_SIGNING_KEY_PARAMETER, "/k"),
            (ACCESS_TOKEN_TTL_SECONDS, "901"),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: ACCESS_TOKEN_TTL_SECONDS,
                ..
            }
        ));
        // An empty key is no key (the template declares it empty for `sam local`).
        let s = IssuerSettings::from_source(&src(&[
            (JWT_ISSUER, "i"),
            (JWT_AUDIENCE, "a"),
            (JWT_CLIENT_ID, "c"),
            (JWT_SIGNING_KEY, ""),
            (JWT_SIGNING_KEY_PARAMETER, "/k"),
        ]))
        .unwrap();
        assert_eq!(s.signing_key, SigningKeySource::SsmParameter("/k".into()));
        let err = PasswordSettings::from_source(&src(&[(ARGON2_ITERATIONS, "1")])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: ARGON2_MEMORY_KIB,
                ..
            }
        ));
    }

    #[test]
    fn the_metrics_namespace_defaults_and_refuses_what_cloudwatch_would() {
        assert_eq!(metrics_namespace(&src(&[])), Ok("AuthService".to_owned()));
        assert_eq!(
            metrics_namespace(&src(&[(METRICS_NAMESPACE, "Auth/prod-1")])),
            Ok("Auth/prod-1".to_owned())
        );
        for bad in ["AWS/Lambda", "a\"b", "with space", "x".repeat(256).as_str()] {
            assert!(
                metrics_namespace(&src(&[(METRICS_NAMESPACE, bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_log_format_is_text_or_json() {
        assert_eq!(log_format(&src(&[])), Ok(LogFormat::Text));
        assert_eq!(
            log_format(&src(&[(LOG_FORMAT, "json")])),
            Ok(LogFormat::Json)
        );
        assert_eq!(
            log_format(&src(&[(LOG_FORMAT, "text")])),
            Ok(LogFormat::Text)
        );
        assert!(log_format(&src(&[(LOG_FORMAT, "pretty")])).is_err());
    }

    #[test]
    fn log_level_is_one_of_four_and_never_opens_the_sdk_to_debug() {
        assert_eq!(log_level(&src(&[])), Ok("info"));
        assert_eq!(log_level(&src(&[(LOG_LEVEL, "debug")])), Ok("debug"));
        assert!(log_level(&src(&[(LOG_LEVEL, "trace")])).is_err());
        assert!(log_level(&src(&[(LOG_LEVEL, "aws_smithy_runtime=trace")])).is_err());
        let filter = log_filter("debug");
        assert!(filter.starts_with("debug,"));
        assert!(filter.contains("aws_smithy_runtime=info"));
        assert!(filter.contains("lambda_runtime=info"));
        assert!(log_filter("error").contains("aws_sdk_dynamodb=error"));
    }

    #[test]
    fn preconnect_is_off_unless_turned_on() {
        let store = |pairs: &[(&str, &str)]| {
            let mut all = vec![(TABLE_NAME, "t")];
            all.extend_from_slice(pairs);
            StoreSettings::from_source(&src(&all))
        };
        assert!(!store(&[]).unwrap().preconnect);
        assert!(store(&[(DYNAMODB_PRECONNECT, "on")]).unwrap().preconnect);
        assert!(!store(&[(DYNAMODB_PRECONNECT, "off")]).unwrap().preconnect);
        assert!(matches!(
            store(&[(DYNAMODB_PRECONNECT, "yes")]),
            Err(ConfigError::Invalid {
                name: DYNAMODB_PRECONNECT,
                ..
            })
        ));
    }

    #[test]
    fn lockout_and_revocation_have_safe_defaults() {
        assert_eq!(
            crate::lockout_settings(&src(&[])).unwrap(),
            LockoutSettings {
                max_failures: 5,
                window: 900
            }
        );
        assert_eq!(
            RevocationCheck::from_source(&src(&[])).unwrap(),
            RevocationCheck::Session
        );
        assert_eq!(
            RevocationCheck::from_source(&src(&[(REVOCATION_CHECK, "off")])).unwrap(),
            RevocationCheck::Off
        );
        assert!(RevocationCheck::from_source(&src(&[(REVOCATION_CHECK, "maybe")])).is_err());
    }

    #[test]
    fn signing_key_needs_exactly_one_source_and_never_prints() {
        let both = src(&[
            (JWT_SIGNING_KEY, "pem"),
            (JWT_SIGNING_KEY_PARAMETER, "name"),
        ]);
        assert!(SigningKeySource::from_source(&both).is_err());
        assert_eq!(
            SigningKeySource::from_source(&src(&[])),
            Err(ConfigError::Missing(JWT_SIGNING_KEY_PARAMETER))
        );
        let pem = SigningKeySource::from_source(&src(&[(JWT_SIGNING_KEY, "SECRET")])).unwrap();
        assert!(!format!("{pem:?}").contains("SECRET"));
    }

    #[test]
    fn browser_settings_refuse_a_wildcard_and_drop_secure_only_on_loopback_http() {
        let s = BrowserSettings::from_source(&src(&[
            (JWT_ISSUER, "https://auth.example.com"),
            (
                CORS_ALLOWED_ORIGINS,
                " https://App.example.com , http://localhost:5173,",
            ),
        ]))
        .unwrap();
        assert_eq!(
            s.allowed_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert!(s.secure_cookie);
        assert_eq!(s.cookie_max_age, 2_592_000);
        let local =
            BrowserSettings::from_source(&src(&[(JWT_ISSUER, "http://127.0.0.1:3000")])).unwrap();
        assert!(!local.secure_cookie);
        assert!(local.allowed_origins.is_empty());
        // An http issuer that is not loopback keeps Secure.
        let remote =
            BrowserSettings::from_source(&src(&[(JWT_ISSUER, "http://auth.example.com")])).unwrap();
        assert!(remote.secure_cookie);
        for bad in [
            "*",
            "https://*.example.com",
            "https://app.example.com/path",
            "app.example.com",
            "null",
        ] {
            assert!(
                matches!(
                    BrowserSettings::from_source(&src(&[
                        (JWT_ISSUER, "https://auth.example.com"),
                        (CORS_ALLOWED_ORIGINS, bad),
                    ])),
                    Err(ConfigError::Invalid {
                        name: CORS_ALLOWED_ORIGINS,
                        ..
                    })
                ),
                "{bad} accepted"
            );
        }
    }
}
