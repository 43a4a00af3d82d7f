//! The token pair login and refresh answer, and the issuer they sign with.

use serde::Serialize;

use crate::config::IssuerSettings;
use crate::error::ApiError;
use crate::keys::load_signing_key;
use crate::runtime::InitError;
use crate::tokens::{RefreshToken, TokenIssuer};

/// What login and refresh answer.
#[derive(Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

pub(crate) fn pair(
    access_token: String,
    refresh: &RefreshToken,
    issuer: &TokenIssuer,
) -> TokenPair {
    TokenPair {
        access_token,
        refresh_token: refresh.expose().to_owned(),
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
