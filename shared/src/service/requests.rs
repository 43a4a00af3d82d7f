//! Request bodies, parsed and validated at the edge. Every field problem is reported at once.

use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::domain::{DisplayName, Email, Password, Username};
use crate::error::ApiError;
use crate::http::Fields;

/// A validated registration request.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub name: Option<DisplayName>,
}

impl Registration {
    /// `{email, password, name?}`; every field problem is reported at once.
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let email = match fields.required_str("email").map(Email::parse) {
            Some(Ok(email)) => Some(email),
            Some(Err(message)) => {
                fields.reject("email", message);
                None
            }
            None => None,
        };
        let password = fields.required_str("password");
        let name = match fields.optional_str("name").map(DisplayName::parse) {
            Some(Ok(name)) => name,
            Some(Err(message)) => {
                fields.reject("name", message);
                None
            }
            None => None,
        };
        fields.finish()?;
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self {
                email,
                password: Password::new(password),
                name,
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// The name a login gives: an email, or a username (Django's login name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    Email(String),
    Username(String),
}

/// `{email, password}` or `{username, password}` for login (both names at once are refused:
/// which one counts would be a guess). Neither name is validated here beyond its length: a
/// malformed one simply matches no account and answers `invalid_credentials` like any other.
#[derive(Debug)]
pub struct LoginRequest {
    pub name: LoginName,
    pub password: Password,
}

impl LoginRequest {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let name = if body.contains_key("username") {
            if body.contains_key("email") {
                fields.reject("username", "send email or username, not both");
                None
            } else {
                let username = fields.required_str("username");
                if username
                    .is_some_and(|u| Username::normalise(u).chars().count() > Username::MAX_CHARS)
                {
                    fields.reject("username", "must be at most 150 characters");
                }
                username.map(|u| LoginName::Username(u.to_owned()))
            }
        } else {
            let email = fields.required_str("email");
            if email.is_some_and(|e| Email::normalise(e).chars().count() > Email::MAX_CHARS) {
                fields.reject("email", "must be at most 254 characters");
            }
            email.map(|e| LoginName::Email(e.to_owned()))
        };
        let password = fields.required_str("password");
        fields.finish()?;
        match (name, password) {
            (Some(name), Some(password)) => Ok(Self {
                name,
                password: Password::new(password),
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// `{name}` for `PATCH /me`: a string under the registration rules, or `null` to clear it.
#[derive(Debug)]
pub struct NameChange(pub Option<DisplayName>);

impl NameChange {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let name = match fields.required_nullable_str("name") {
            Some(Some(raw)) => match DisplayName::parse(raw) {
                Ok(name) => name,
                Err(message) => {
                    fields.reject("name", message);
                    None
                }
            },
            Some(None) | None => None,
        };
        fields.finish()?;
        Ok(Self(name))
    }
}

/// `{current_password, new_password}` for `POST /me/password`.
#[derive(Debug)]
pub struct PasswordChange {
    pub current: Password,
    pub new: Password,
}

impl PasswordChange {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let current = fields.required_str("current_password");
        let new = fields.required_str("new_password");
        fields.finish()?;
        match (current, new) {
            (Some(current), Some(new)) => Ok(Self {
                current: Password::new(current),
                new: Password::new(new),
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// A required email field, validated like registration's.
fn email_field(fields: &mut Fields<'_>, name: &str) -> Option<Email> {
    match fields.required_str(name).map(Email::parse) {
        Some(Ok(email)) => Some(email),
        Some(Err(message)) => {
            fields.reject(name, message);
            None
        }
        None => None,
    }
}

/// `{email}` for `POST /auth/password/forgot`.
pub fn email_from_body(body: &Map<String, Value>) -> Result<Email, ApiError> {
    let mut fields = Fields::new(body);
    let email = email_field(&mut fields, "email");
    fields.finish()?;
    email.ok_or_else(|| ApiError::Validation(Vec::new()))
}

/// `{token}` for the routes that take an emailed link's token. Any string is accepted here;
/// one that is not a token this service made answers `invalid_token`, like an unknown one.
pub fn link_token_from_body(body: &Map<String, Value>) -> Result<String, ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.required_str("token");
    fields.finish()?;
    token
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Validation(Vec::new()))
}

/// `{token, new_password}` for `POST /auth/password/reset` (its `Debug` is redacted).
#[derive(Debug)]
pub struct PasswordReset {
    pub token: SecretString,
    pub new: Password,
}

impl PasswordReset {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let token = fields.required_str("token");
        let new = fields.required_str("new_password");
        fields.finish()?;
        match (token, new) {
            (Some(token), Some(new)) => Ok(Self {
                token: token.into(),
                new: Password::new(new),
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// `{new_email, current_password}` for `POST /me/email`.
#[derive(Debug)]
pub struct EmailChange {
    pub new_email: Email,
    pub current: Password,
}

impl EmailChange {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let new_email = email_field(&mut fields, "new_email");
        let current = fields.required_str("current_password");
        fields.finish()?;
        match (new_email, current) {
            (Some(new_email), Some(current)) => Ok(Self {
                new_email,
                current: Password::new(current),
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// A TOTP code field: exactly six ASCII digits.
fn code_field<'a>(fields: &mut Fields<'a>, name: &str) -> Option<&'a str> {
    match fields.required_str(name) {
        Some(code) if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) => Some(code),
        Some(_) => {
            fields.reject(name, "must be the 6 digits the authenticator app shows");
            None
        }
        None => None,
    }
}

/// `{current_password}` for `POST /me/mfa/totp`.
pub fn current_password_from_body(body: &Map<String, Value>) -> Result<Password, ApiError> {
    let mut fields = Fields::new(body);
    let current = fields.required_str("current_password");
    fields.finish()?;
    current
        .map(Password::new)
        .ok_or_else(|| ApiError::Validation(Vec::new()))
}

/// `{code}` for `POST /me/mfa/totp/confirm` and `POST /me/mfa/recovery-codes`.
pub fn code_from_body(body: &Map<String, Value>) -> Result<String, ApiError> {
    let mut fields = Fields::new(body);
    let code = code_field(&mut fields, "code");
    fields.finish()?;
    code.map(str::to_owned)
        .ok_or_else(|| ApiError::Validation(Vec::new()))
}

/// `{current_password, code}` for `DELETE /me/mfa/totp` (its `Debug` is redacted).
#[derive(Debug)]
pub struct MfaDisable {
    pub current: Password,
    pub code: SecretString,
}

impl MfaDisable {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let current = fields.required_str("current_password");
        let code = code_field(&mut fields, "code");
        fields.finish()?;
        match (current, code) {
            (Some(current), Some(code)) => Ok(Self {
                current: Password::new(current),
                code: code.into(),
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

/// `{mfa_token, code}` or `{mfa_token, recovery_code}` for `POST /auth/mfa/verify`.
#[derive(Debug)]
pub struct MfaVerify {
    pub mfa_token: SecretString,
    pub factor: crate::service::Factor,
}

impl MfaVerify {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        let token = fields.required_str("mfa_token");
        let has_code = body.contains_key("code");
        let has_recovery = body.contains_key("recovery_code");
        let factor = match (has_code, has_recovery) {
            (true, false) => {
                code_field(&mut fields, "code").map(|c| crate::service::Factor::Code(c.into()))
            }
            (false, true) => match fields.required_str("recovery_code") {
                Some(code) if code.chars().count() <= 64 => {
                    Some(crate::service::Factor::RecoveryCode(code.into()))
                }
                Some(_) => {
                    fields.reject("recovery_code", "must be at most 64 characters");
                    None
                }
                None => None,
            },
            (true, true) => {
                fields.reject("code", "send code or recovery_code, not both");
                None
            }
            (false, false) => {
                fields.reject("code", "is required (or recovery_code)");
                None
            }
        };
        fields.finish()?;
        match (token, factor) {
            (Some(token), Some(factor)) => Ok(Self {
                mfa_token: token.into(),
                factor,
            }),
            _ => Err(ApiError::Validation(Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_login_names_an_email_or_a_username_never_both() {
        let parsed = |v: Value| LoginRequest::from_body(&body(v));
        assert_eq!(
            parsed(json!({"email": "A@x.io", "password": "p"}))
                .unwrap()
                .name,
            LoginName::Email("A@x.io".into())
        );
        assert_eq!(
            parsed(json!({"username": "Ada", "password": "p"}))
                .unwrap()
                .name,
            LoginName::Username("Ada".into())
        );
        let field_of = |v: Value| match parsed(v) {
            Err(ApiError::Validation(errors)) => {
                errors.iter().map(|e| e.field.clone()).collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field_of(json!({"email": "a@x.io", "username": "Ada", "password": "p"})),
            ["username"]
        );
        assert_eq!(field_of(json!({"password": "p"})), ["email"]);
        assert_eq!(
            field_of(json!({"username": 7, "password": "p"})),
            ["username"]
        );
        assert_eq!(
            field_of(json!({"username": "a".repeat(151), "password": "p"})),
            ["username"]
        );
        assert_eq!(field_of(json!({"username": "Ada"})), ["password"]);
    }

    #[test]
    fn secrets_in_bodies_never_show_in_debug_output() {
        let token = "A".repeat(43);
        let reset = PasswordReset::from_body(&body(
            json!({"token": token, "new_password": "a long new passphrase"}),
        ))
        .unwrap();
        let shown = format!("{reset:?}");
        assert!(
            !shown.contains(&token) && !shown.contains("passphrase"),
            "{shown}"
        );
        assert_eq!(reset.token.expose_secret(), token);

        let verify =
            MfaVerify::from_body(&body(json!({"mfa_token": token, "code": "123456"}))).unwrap();
        let shown = format!("{verify:?}");
        assert!(
            !shown.contains(&token) && !shown.contains("123456"),
            "{shown}"
        );

        let disable = MfaDisable::from_body(&body(
            json!({"current_password": "the old passphrase", "code": "654321"}),
        ))
        .unwrap();
        let shown = format!("{disable:?}");
        assert!(
            !shown.contains("passphrase") && !shown.contains("654321"),
            "{shown}"
        );
    }
}
