//! `GET /.well-known/jwks.json`: the public verification keys, cacheable for five minutes.

use lambda_http::{Body, Request, Response};
use shared::clock::SharedClock;
use shared::config::{Source, public_jwks};
use shared::http;
use shared::keys::VerificationKeys;
use shared::runtime::InitError;

/// How long clients and CDNs may cache the key set, in seconds.
pub const MAX_AGE: u32 = 300;

/// The serialised key set, built once per cold start from `JWT_PUBLIC_JWKS`.
#[derive(Debug, Clone)]
pub struct State {
    body: String,
}

impl State {
    /// Parses and re-serialises the configured set, so only validated public members are served.
    pub fn from_source(src: &dyn Source) -> Result<Self, InitError> {
        let keys = VerificationKeys::from_jwks_json(&public_jwks(src)?)?;
        let body = serde_json::to_string(keys.published())
            .map_err(|e| shared::keys::KeyError::BadJwks(e.to_string()))?;
        Ok(Self { body })
    }
}

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(src: &dyn Source, _clock: SharedClock) -> Result<State, InitError> {
    State::from_source(src)
}

pub async fn handle(state: &State, _req: Request) -> Response<Body> {
    http::ok_cacheable(state.body.clone(), MAX_AGE)
}
