//! Errors, one enum per layer, and the one place that turns a domain error into
//! `application/problem+json` (RFC 9457). The `match` in [`ApiError::parts`] is exhaustive on
//! purpose: a new variant must decide its status and stable `code` here.

pub use store::error::{BoxError, StoreError, chain};

pub use authcore::FieldError;
use authcore::policy::roles::RoleRefusal;

/// Everything a request can fail with, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON")]
    MalformedRequest,
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("the password is too weak: {0}")]
    WeakPassword(String),
    #[error("the email is already registered")]
    EmailTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A wrong current password on a password change (the caller is authenticated: 403).
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("too many failed logins; retry in {retry_after} s")]
    TooManyAttempts { retry_after: i64 },
    #[error("the token is invalid")]
    InvalidToken,
    #[error("the refresh token was already used")]
    TokenReused,
    #[error("the request carries no verified identity")]
    Unauthenticated,
    #[error("the user does not exist")]
    UserNotFound,
    /// An emailed link's token that is unknown, used, expired, superseded or for another
    /// purpose (400: it is a field of the body, not the request's credentials).
    #[error("the link is invalid or has expired")]
    InvalidLink,
    #[error("too many mails of this kind; retry in {retry_after} s")]
    TooManyMails { retry_after: i64 },
    /// One source sent more requests to a group of costly routes than its window allows
    /// ([`crate::policy::rates`]): refused before any work, whoever the account.
    #[error("too many requests from this source; retry in {retry_after} s")]
    TooManyRequests { retry_after: i64 },
    /// The registration mail budget (per address, or the whole service's) is spent this hour.
    #[error("the registration mail budget is spent; retry in {retry_after} s")]
    MailBudgetSpent { retry_after: i64 },
    #[error("the email address is already verified")]
    AlreadyVerified,
    /// The account has no email address (a username-only account): nothing to verify.
    #[error("the account has no email address")]
    NoEmail,
    #[error("the email address is not verified")]
    EmailNotVerified,
    /// Mail could not be handed to SES where the caller must know (never where that would
    /// tell whether an account exists).
    #[error("mail could not be sent")]
    MailUnavailable(#[source] BoxError),
    /// The right password for an account with two-factor on: the login continues at
    /// `POST /auth/mfa/verify` with this single-use token.
    #[error("a second factor is required")]
    MfaRequired { mfa_token: String },
    /// A wrong, replayed or spent second-factor code at `POST /auth/mfa/verify` (401).
    #[error("the code is wrong or was already used")]
    InvalidCode,
    /// A wrong or replayed TOTP code from a signed-in user (403).
    #[error("the code is wrong or was already used")]
    WrongCode,
    /// An `mfa_token` that is unknown, used, expired or dead after too many wrong codes.
    #[error("the mfa_token is invalid")]
    InvalidChallenge,
    #[error("two-factor authentication is already on")]
    MfaAlreadyEnabled,
    #[error("two-factor authentication is not on")]
    MfaNotEnabled,
    /// A valid token without the permission the route needs.
    #[error("the caller lacks the permission {0}")]
    Forbidden(&'static str),
    /// The right password for an account an administrator disabled (403, only after the
    /// password check, so it tells nothing to anyone without the password).
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("no role is named {0:?}")]
    UnknownRole(String),
    #[error("no role is named {0:?}")]
    RoleNotFound(String),
    #[error("the role {0:?} is held by users")]
    RoleInUse(String),
    /// The built-in `admin` role cannot be deleted or lose its built-in permissions.
    #[error("the built-in role {0:?} cannot be deleted or emptied")]
    BuiltinRole(String),
    /// The change would leave no active user holding `admin`.
    #[error("the change would leave no active administrator")]
    LastAdmin,
    /// An administrator disabling, deleting or demoting themselves.
    #[error("an administrator cannot disable, delete or demote themselves")]
    SelfLockout,
    #[error("no such session")]
    SessionNotFound,
    /// The change would give permissions the caller does not hold (a role to a user, a
    /// permission to a role): nothing is written.
    #[error("the caller cannot give permissions it does not hold: {missing:?}")]
    PrivilegeEscalation { missing: Vec<String> },
    /// The roles would let a token carry more than `limit` bytes of permissions.
    #[error("the permissions would exceed {limit} bytes in a token")]
    TokenTooLarge { limit: usize },
    /// The role catalog would exceed its bounds.
    #[error("the role catalog would exceed {roles} roles or {bytes} bytes")]
    CatalogFull { roles: usize, bytes: usize },
    /// An admin route and a token without a second factor while `ADMIN_REQUIRE_MFA` is on.
    #[error("administration needs a second factor")]
    AdminMfaRequired,
    /// A write still contended after its retries (never the database being down: that is 503).
    #[error("the resource is being changed by another request")]
    Conflict,
    /// A request that carries (or asks for) the refresh-token cookie without an allowed
    /// `Origin` or without the `X-Requested-With` header: what a cross-site form or script
    /// would send.
    #[error("a cookie-carried token needs an allowed Origin and X-Requested-With")]
    CrossSiteRequest,
    /// A path no file or page answers (the web console).
    #[error("not found")]
    NotFound,
    #[error("the database is unavailable")]
    ServiceUnavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl From<RoleRefusal> for ApiError {
    fn from(refusal: RoleRefusal) -> Self {
        match refusal {
            RoleRefusal::Validation(errors) => Self::Validation(errors),
            RoleRefusal::UnknownRole(name) => Self::UnknownRole(name),
            RoleRefusal::SelfLockout => Self::SelfLockout,
            RoleRefusal::LastAdmin => Self::LastAdmin,
            RoleRefusal::BuiltinRole(name) => Self::BuiltinRole(name),
            RoleRefusal::RoleNotFound(name) => Self::RoleNotFound(name),
            RoleRefusal::RoleInUse(name) => Self::RoleInUse(name),
            RoleRefusal::TokenTooLarge { limit } => Self::TokenTooLarge { limit },
            RoleRefusal::CatalogFull { roles, bytes } => Self::CatalogFull { roles, bytes },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::Conflict => Self::ServiceUnavailable(err),
            StoreError::AlreadyExists
            | StoreError::UsernameTaken
            | StoreError::Refused(_)
            | StoreError::ConditionFailed { .. }
            | StoreError::Corrupt(_)
            | StoreError::Invalid(_) => Self::Internal(Box::new(err)),
        }
    }
}

/// The parts of a problem document that depend only on the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemParts {
    pub status: u16,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Option<Vec<FieldError>>,
}

impl ApiError {
    pub fn parts(&self) -> ProblemParts {
        let (status, code, title, detail, errors) = match self {
            Self::MalformedRequest => (
                400,
                "malformed_request",
                "Malformed request",
                self.to_string(),
                None,
            ),
            Self::UnsupportedMediaType => (
                415,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as application/json".to_owned(),
                None,
            ),
            Self::PayloadTooLarge { .. } => (
                413,
                "payload_too_large",
                "Payload too large",
                self.to_string(),
                None,
            ),
            Self::Validation(errors) => (
                400,
                "validation_failed",
                "Validation failed",
                "one or more fields are missing or invalid".to_owned(),
                Some(errors.clone()),
            ),
            Self::WeakPassword(reason) => (
                400,
                "weak_password",
                "Weak password",
                format!("the password {reason}"),
                Some(vec![FieldError::new("password", reason.clone())]),
            ),
            Self::EmailTaken => (
                409,
                "email_taken",
                "Email already registered",
                "an account with this email already exists".to_owned(),
                None,
            ),
            Self::InvalidCredentials => (
                401,
                "invalid_credentials",
                "Invalid credentials",
                "the email or password is incorrect".to_owned(),
                None,
            ),
            Self::WrongCurrentPassword => (
                403,
                "invalid_credentials",
                "Invalid credentials",
                "the current password is incorrect".to_owned(),
                None,
            ),
            Self::TooManyAttempts { retry_after } => (
                429,
                "too_many_attempts",
                "Too many attempts",
                format!(
                    "too many failed logins for this email; try again in {retry_after} seconds"
                ),
                None,
            ),
            Self::InvalidToken => (
                401,
                "invalid_token",
                "Invalid token",
                "the token is unknown, expired, revoked or malformed".to_owned(),
                None,
            ),
            Self::TokenReused => (
                401,
                "token_reused",
                "Token reused",
                "this refresh token was already used; the session has been revoked".to_owned(),
                None,
            ),
            Self::Unauthenticated => (
                401,
                "unauthenticated",
                "Unauthenticated",
                "this route needs a valid Bearer token".to_owned(),
                None,
            ),
            Self::UserNotFound => (
                404,
                "user_not_found",
                "User not found",
                self.to_string(),
                None,
            ),
            Self::InvalidLink => (
                400,
                "invalid_token",
                "Invalid token",
                "the link is unknown, already used, expired or superseded by a newer one".to_owned(),
                None,
            ),
            Self::TooManyMails { retry_after } => (
                429,
                "too_many_attempts",
                "Too many attempts",
                format!(
                    "too many mails of this kind to this address; try again in {retry_after} seconds"
                ),
                None,
            ),
            Self::TooManyRequests { retry_after } => (
                429,
                "too_many_requests",
                "Too many requests",
                format!(
                    "too many requests from this address to this kind of route; try again in {retry_after} seconds"
                ),
                None,
            ),
            Self::MailBudgetSpent { retry_after } => (
                429,
                "too_many_requests",
                "Too many requests",
                format!(
                    "too many sign-ups this hour, for this address or in all; try again in {retry_after} seconds"
                ),
                None,
            ),
            Self::AlreadyVerified => (
                409,
                "already_verified",
                "Already verified",
                "this email address is already verified".to_owned(),
                None,
            ),
            Self::NoEmail => (
                409,
                "no_email",
                "No email address",
                "the account has no email address: add one first (POST /me/email)".to_owned(),
                None,
            ),
            Self::EmailNotVerified => (
                403,
                "email_not_verified",
                "Email not verified",
                "verify your email address first: open the link in the mail we sent, or ask for a new one".to_owned(),
                None,
            ),
            Self::MailUnavailable(_) => (
                503,
                "service_unavailable",
                "Service unavailable",
                "the service is temporarily unavailable; try again shortly".to_owned(),
                None,
            ),
            Self::MfaRequired { .. } => (
                401,
                "mfa_required",
                "Second factor required",
                "the password is right; send a code from the authenticator app (or a recovery code) with mfa_token to /auth/mfa/verify".to_owned(),
                None,
            ),
            Self::InvalidCode => (
                401,
                "invalid_code",
                "Invalid code",
                "the code is wrong, expired or was already used".to_owned(),
                None,
            ),
            Self::WrongCode => (
                403,
                "invalid_code",
                "Invalid code",
                "the code is wrong, expired or was already used".to_owned(),
                None,
            ),
            Self::InvalidChallenge => (
                400,
                "invalid_token",
                "Invalid token",
                "the mfa_token is unknown, already used, expired, or ended by too many wrong codes: log in again".to_owned(),
                None,
            ),
            Self::MfaAlreadyEnabled => (
                409,
                "mfa_already_enabled",
                "Two-factor already on",
                "two-factor authentication is already on; turn it off first to enrol again".to_owned(),
                None,
            ),
            Self::MfaNotEnabled => (
                409,
                "mfa_not_enabled",
                "Two-factor not on",
                "two-factor authentication is not on (or nothing is waiting for confirmation)".to_owned(),
                None,
            ),
            Self::Forbidden(permission) => (
                403,
                "forbidden",
                "Forbidden",
                format!("this route needs the permission {permission}"),
                None,
            ),
            Self::AccountDisabled => (
                403,
                "account_disabled",
                "Account disabled",
                "this account has been disabled by an administrator".to_owned(),
                None,
            ),
            Self::UnknownRole(name) => (
                400,
                "unknown_role",
                "Unknown role",
                format!("no role is named {name:?}; create it first (PUT /admin/roles/{{name}})"),
                Some(vec![FieldError::new("roles", format!("unknown role {name:?}"))]),
            ),
            Self::RoleNotFound(_) => (
                404,
                "role_not_found",
                "Role not found",
                self.to_string(),
                None,
            ),
            Self::RoleInUse(name) => (
                409,
                "role_in_use",
                "Role in use",
                format!("users still hold the role {name:?}; take it from them first"),
                None,
            ),
            Self::BuiltinRole(name) => (
                409,
                "builtin_role",
                "Built-in role",
                format!("the built-in role {name:?} cannot be deleted and keeps its built-in permissions"),
                None,
            ),
            Self::LastAdmin => (
                409,
                "last_admin",
                "Last administrator",
                "the change would leave no active user with the admin role".to_owned(),
                None,
            ),
            Self::SelfLockout => (
                409,
                "self_lockout",
                "Cannot change yourself",
                "an administrator cannot disable, delete or remove the admin role from their own account; ask another administrator".to_owned(),
                None,
            ),
            Self::SessionNotFound => (
                404,
                "session_not_found",
                "Session not found",
                "no live session of yours has this id".to_owned(),
                None,
            ),
            Self::PrivilegeEscalation { missing } => (
                403,
                "privilege_escalation",
                "Privilege escalation",
                format!(
                    "you cannot give permissions you do not hold: {}",
                    missing.join(", ")
                ),
                None,
            ),
            Self::TokenTooLarge { limit } => (
                409,
                "token_too_large",
                "Token too large",
                format!(
                    "the roles' distinct permissions would exceed {limit} bytes, more than an access token can carry through API Gateway"
                ),
                None,
            ),
            Self::CatalogFull { roles, bytes } => (
                409,
                "catalog_full",
                "Role catalog full",
                format!("the role catalog holds at most {roles} roles and {bytes} bytes; delete or shrink a role first"),
                None,
            ),
            Self::AdminMfaRequired => (
                403,
                "admin_mfa_required",
                "Second factor required for administration",
                "administration needs a session signed in with a second factor: turn two-factor on, then log in again with a code".to_owned(),
                None,
            ),
            Self::Conflict => (
                409,
                "conflict",
                "Conflict",
                "other requests are changing the same thing; try again shortly".to_owned(),
                None,
            ),
            Self::CrossSiteRequest => (
                403,
                "cross_site_request",
                "Cross-site request",
                "a request that uses the refresh-token cookie must come from an allowed origin and carry the X-Requested-With header".to_owned(),
                None,
            ),
            Self::NotFound => (
                404,
                "not_found",
                "Not found",
                "nothing is here".to_owned(),
                None,
            ),
            Self::ServiceUnavailable(_) => (
                503,
                "service_unavailable",
                "Service unavailable",
                "the service is temporarily unavailable; try again shortly".to_owned(),
                None,
            ),
            Self::Internal(_) => (
                500,
                "internal_error",
                "Internal error",
                "the service failed to handle this request".to_owned(),
                None,
            ),
        };
        ProblemParts {
            status,
            code,
            title,
            detail,
            errors,
        }
    }
}

/// simplejwt's `detail` for a token it refuses (`InvalidToken`, code `token_not_valid`): the
/// text of simplejwt 5.0 to 5.4 (5.5 says "Token is invalid" or "Token is expired"; clients
/// match the code, which did not change).
pub const TOKEN_NOT_VALID: &str = "Token is invalid or expired";
/// simplejwt's `detail` for a refresh token already rotated or blacklisted.
pub const TOKEN_BLACKLISTED: &str = "Token is blacklisted";
/// simplejwt's `detail` for credentials that match no active account (`no_active_account`).
pub const NO_ACTIVE_ACCOUNT: &str = "No active account found with the given credentials";

/// An error as Django REST framework and simplejwt clients read it (simplejwt's routes,
/// `SIMPLEJWT_COMPAT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrfBody {
    /// `{"detail": ..., "code": ...}`: DRF's `APIException` with simplejwt's `DetailDictMixin`
    /// members. `detail` is DRF's or simplejwt's text where they have one for the case,
    /// otherwise this service's; `code` is simplejwt's where it has one (`token_not_valid`,
    /// `no_active_account`), otherwise this service's stable code.
    Detail { detail: String, code: &'static str },
    /// `{"field": ["message", ...]}`: a serializer's `ValidationError` (a member of the body
    /// itself is `non_field_errors`).
    Fields(Vec<FieldError>),
}

/// The status and body of an error in DRF's shape ([`ApiError::drf_parts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrfParts {
    pub status: u16,
    pub body: DrfBody,
}

impl ApiError {
    /// The error in DRF's and simplejwt's shape. The status is the problem's ([`Self::parts`]),
    /// but for what simplejwt answers otherwise; the `match` is exhaustive, like `parts`.
    pub fn drf_parts(&self) -> DrfParts {
        let parts = self.parts();
        let detail = |status: u16, detail: String, code: &'static str| DrfParts {
            status,
            body: DrfBody::Detail { detail, code },
        };
        let ours = || detail(parts.status, parts.detail.clone(), parts.code);
        match self {
            Self::Validation(errors) => DrfParts {
                status: parts.status,
                body: DrfBody::Fields(errors.clone()),
            },
            Self::WeakPassword(_) => DrfParts {
                status: parts.status,
                body: DrfBody::Fields(parts.errors.clone().unwrap_or_default()),
            },
            Self::InvalidCredentials => {
                detail(401, NO_ACTIVE_ACCOUNT.to_owned(), "no_active_account")
            }
            Self::InvalidToken => detail(401, TOKEN_NOT_VALID.to_owned(), "token_not_valid"),
            Self::TokenReused => detail(401, TOKEN_BLACKLISTED.to_owned(), "token_not_valid"),
            // DRF's `ParseError`.
            Self::MalformedRequest => {
                detail(parts.status, "Malformed request.".to_owned(), parts.code)
            }
            // DRF's `Throttled`.
            Self::TooManyAttempts { retry_after }
            | Self::TooManyMails { retry_after }
            | Self::TooManyRequests { retry_after }
            | Self::MailBudgetSpent { retry_after } => {
                let wait = (*retry_after).max(1);
                let unit = if wait == 1 { "second" } else { "seconds" };
                detail(
                    parts.status,
                    format!("Request was throttled. Expected available in {wait} {unit}."),
                    parts.code,
                )
            }
            Self::UnsupportedMediaType
            | Self::PayloadTooLarge { .. }
            | Self::EmailTaken
            | Self::WrongCurrentPassword
            | Self::Unauthenticated
            | Self::UserNotFound
            | Self::InvalidLink
            | Self::AlreadyVerified
            | Self::NoEmail
            | Self::EmailNotVerified
            | Self::MailUnavailable(_)
            | Self::MfaRequired { .. }
            | Self::InvalidCode
            | Self::WrongCode
            | Self::InvalidChallenge
            | Self::MfaAlreadyEnabled
            | Self::MfaNotEnabled
            | Self::Forbidden(_)
            | Self::AccountDisabled
            | Self::UnknownRole(_)
            | Self::RoleNotFound(_)
            | Self::RoleInUse(_)
            | Self::BuiltinRole(_)
            | Self::LastAdmin
            | Self::SelfLockout
            | Self::SessionNotFound
            | Self::PrivilegeEscalation { .. }
            | Self::TokenTooLarge { .. }
            | Self::CatalogFull { .. }
            | Self::AdminMfaRequired
            | Self::Conflict
            | Self::CrossSiteRequest
            | Self::NotFound
            | Self::ServiceUnavailable(_)
            | Self::Internal(_) => ours(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_say_nothing_about_internals() {
        let err = ApiError::from(StoreError::Unavailable(
            "connection refused to 10.0.0.1".into(),
        ));
        let parts = err.parts();
        assert_eq!((parts.status, parts.code), (503, "service_unavailable"));
        assert!(!parts.detail.contains("10.0.0.1"));
        let err = ApiError::from(StoreError::Corrupt("USER#x has no email".into()));
        let parts = err.parts();
        assert_eq!((parts.status, parts.code), (500, "internal_error"));
        assert!(!parts.detail.contains("USER#"));
        assert!(chain(&err).contains("USER#x has no email"));
    }

    #[test]
    fn drf_shapes_keep_the_status_but_for_simplejwt_s_own_answers() {
        let fields =
            ApiError::Validation(vec![FieldError::new("password", "This field is required.")]);
        assert_eq!(
            fields.drf_parts(),
            DrfParts {
                status: 400,
                body: DrfBody::Fields(vec![FieldError::new("password", "This field is required.")])
            }
        );
        let detail = |err: ApiError| match err.drf_parts() {
            DrfParts {
                status,
                body: DrfBody::Detail { detail, code },
            } => (status, detail, code),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            detail(ApiError::InvalidCredentials),
            (401, NO_ACTIVE_ACCOUNT.to_owned(), "no_active_account")
        );
        assert_eq!(
            detail(ApiError::TokenReused),
            (401, TOKEN_BLACKLISTED.to_owned(), "token_not_valid")
        );
        assert_eq!(
            detail(ApiError::TooManyRequests { retry_after: 1 }).1,
            "Request was throttled. Expected available in 1 second."
        );
        assert_eq!(
            detail(ApiError::TooManyAttempts { retry_after: 90 }),
            (
                429,
                "Request was throttled. Expected available in 90 seconds.".to_owned(),
                "too_many_attempts"
            )
        );
        assert_eq!(detail(ApiError::AccountDisabled).0, 403);
        let unavailable = detail(ApiError::from(StoreError::Unavailable("10.0.0.1".into())));
        assert_eq!((unavailable.0, unavailable.2), (503, "service_unavailable"));
        assert!(!unavailable.1.contains("10.0.0.1"));
    }

    #[test]
    fn weak_password_names_the_field() {
        let parts = ApiError::WeakPassword("is too short".into()).parts();
        assert_eq!(parts.errors.unwrap()[0].field, "password");
    }
}
