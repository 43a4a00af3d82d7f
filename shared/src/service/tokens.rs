//! The token pair login and refresh answer, and the issuer they sign with.

use secrecy::SecretString;
use serde::Serialize;

use crate::config::IssuerSettings;
use crate::error::ApiError;
use crate::keys::load_signing_key;
use crate::runtime::InitError;
use crate::tokens::{RefreshToken, TokenIssuer};

/// What login and refresh answer (its `Debug` redacts both tokens).
#[derive(Debug, Serialize)]
pub struct TokenPair {
    #[serde(serialize_with = "super::exposed")]
    pub access_token: SecretString,
    #[serde(serialize_with = "super::exposed")]
    pub refresh_token: SecretString,
    pub token_type: &'static str,
    pub expires_in: i64,
}

pub(crate) fn pair(
    access_token: String,
    refresh: &RefreshToken,
    issuer: &TokenIssuer,
) -> TokenPair {
    TokenPair {
        access_token: access_token.into(),
        refresh_token: refresh.expose().into(),
        token_type: "Bearer",
        expires_in: issuer.ttl(),
    }
}

pub(crate) fn sign_error(err: crate::tokens::SignError) -> ApiError {
    ApiError::Internal(Box::new(err))
}

pub(crate) async fn issuer(
    settings: &IssuerSettings,
    sdk: &aws_config::SdkConfig,
) -> Result<TokenIssuer, InitError> {
    let key = load_signing_key(&settings.signing_key, sdk).await?;
    Ok(TokenIssuer::new(
        key,
        settings.issuer.clone(),
        settings.audience.clone(),
        settings.client_id.clone(),
        settings.access_token_ttl,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_both_tokens_and_the_body_still_carries_them() {
        let pair = TokenPair {
            access_token: "access-secret".into(),
            refresh_token: "refresh-secret".into(),
            token_type: "Bearer",
            expires_in: 900,
        };
        let debug = format!("{pair:?}");
        assert!(
            !debug.contains("access-secret") && !debug.contains("refresh-secret"),
            "{debug}"
        );
        assert!(debug.contains("900"), "{debug}");
        assert_eq!(
            serde_json::to_string(&pair).unwrap(),
            r#"{"access_token":"access-secret","refresh_token":"refresh-secret","token_type":"Bearer","expires_in":900}"#
        );
    }
}
