//! `GET /console/{proxy+}`: the web console, static files compiled into the binary (no build
//! step, no CDN). `app.js`, `style.css` and `favicon.svg` are served as themselves; every other path without
//! a dot is a page of the single-page app and gets `index.html`; anything else is 404.
//!
//! Every answer carries a strict Content-Security-Policy (scripts and styles from this origin
//! only, nothing inline, no framing), `Referrer-Policy: no-referrer` (a page opened from an
//! emailed link has the link's token in its URL) and `nosniff`.

use lambda_http::http::HeaderValue;
use lambda_http::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use lambda_http::{Body, Request, Response};
use shared::clock::SharedClock;
use shared::config::Source;
use shared::error::ApiError;
use shared::http;
use shared::runtime::InitError;

/// The policy of every console response.
pub const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const INDEX: &str = include_str!("../static/index.html");
const APP: &str = include_str!("../static/app.js");
const STYLE: &str = include_str!("../static/style.css");
const ICON: &str = include_str!("../static/favicon.svg");

/// The console has no state: its files are in the binary.
#[derive(Debug, Clone, Copy)]
pub struct State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(_src: &dyn Source, _clock: SharedClock) -> Result<State, InitError> {
    Ok(State)
}

/// The file a path under `/console/` names, with its media type.
pub fn file(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "app.js" => Some(("text/javascript; charset=utf-8", APP)),
        "style.css" => Some(("text/css; charset=utf-8", STYLE)),
        "favicon.svg" => Some(("image/svg+xml", ICON)),
        page if !page.is_empty() && !page.contains('.') => {
            Some(("text/html; charset=utf-8", INDEX))
        }
        _ => None,
    }
}

pub async fn handle(_state: &State, req: Request) -> Response<Body> {
    let path = http::path_param(&req, "proxy").unwrap_or_default();
    let mut response = match file(&path) {
        Some((media, body)) => http::ok_static(media, body),
        None => http::respond(&req, Err(ApiError::NotFound)),
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Revalidated on every load, so a deploy is seen at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
