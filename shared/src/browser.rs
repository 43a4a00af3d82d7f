//! The edge for browser apps: the refresh token carried in an `HttpOnly` cookie instead of the
//! JSON body (opt-in per request, `"token_transport": "cookie"`), and the cross-site check every
//! request that uses that cookie passes.
//!
//! A cookie is sent by the browser whoever wrote the page, so a request that sets or reads it
//! must show it was made by a page allowed to: an `Origin` that is the API's own or one of
//! `CORS_ALLOWED_ORIGINS`, and an `X-Requested-With` header, which a form cannot send and a
//! script on another origin can send only after a CORS preflight the API refuses it.
//! `SameSite=Strict` alone is not enough: two ports of one host are the same site.

use cookie::{Cookie, SameSite};
use lambda_http::http::HeaderValue;
use lambda_http::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{BrowserSettings, ConfigError, Source};
use crate::error::{ApiError, FieldError};
use crate::http::{self, Fields};
use crate::service::TokenPair;

/// The cookie's name where it is `Secure` (the `__Secure-` prefix makes browsers refuse it
/// otherwise); `Path=/auth` rules out the `__Host-` prefix, which requires `Path=/`.
pub const SECURE_COOKIE: &str = "__Secure-refresh_token";
/// Its name on a loopback `http://` issuer (`make dev`), where it cannot be `Secure`.
pub const LOOPBACK_COOKIE: &str = "refresh_token";
/// Only the routes that take a refresh token see the cookie.
pub const COOKIE_PATH: &str = "/auth";
/// The header a cookie-mode request must carry.
pub const REQUESTED_WITH: &str = "x-requested-with";

/// Where a refresh token travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// In the JSON bodies (the default, for servers and native apps).
    Body,
    /// In the `HttpOnly` cookie; the body carries the access token only.
    Cookie,
}

/// The cross-site rule, apart from any request: a cookie-mode request needs a non-empty
/// `X-Requested-With` and an `Origin` that is the API's own or an allowed one.
pub fn may_use_cookie(
    origin: Option<&str>,
    own_origin: Option<&str>,
    allowed: &[String],
    requested_with: Option<&str>,
) -> bool {
    if requested_with.is_none_or(|v| v.trim().is_empty()) {
        return false;
    }
    let Some(origin) = origin.map(|o| o.trim().to_ascii_lowercase()) else {
        return false;
    };
    own_origin.is_some_and(|own| own.eq_ignore_ascii_case(&origin)) || allowed.contains(&origin)
}

/// The access token alone: what login and refresh answer in cookie mode.
#[derive(Serialize)]
struct AccessToken<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
}

/// The state of a function that hands out or takes refresh tokens: its service, and the
/// browser edge in front of it.
#[derive(Debug)]
pub struct WithBrowser<S> {
    pub service: S,
    pub browser: Browser,
}

/// The browser edge of login, two-factor verify, refresh and logout.
#[derive(Debug, Clone)]
pub struct Browser {
    settings: BrowserSettings,
}

impl Browser {
    pub fn new(settings: BrowserSettings) -> Self {
        Self { settings }
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        BrowserSettings::from_source(src).map(Self::new)
    }

    /// Whether simplejwt's routes answer (`SIMPLEJWT_COMPAT`, [`crate::simplejwt`]).
    pub fn simplejwt(&self) -> bool {
        self.settings.simplejwt_compat
    }

    fn cookie_name(&self) -> &'static str {
        if self.settings.secure_cookie {
            SECURE_COOKIE
        } else {
            LOOPBACK_COOKIE
        }
    }

    /// The transport a login or two-factor verify body asks for (`token_transport`: `body`,
    /// the default, or `cookie`); asking for the cookie passes the cross-site check.
    pub fn requested_transport(
        &self,
        req: &Request,
        body: &Map<String, Value>,
    ) -> Result<Transport, ApiError> {
        let mut fields = Fields::new(body);
        let transport = match fields.optional_str("token_transport") {
            None | Some("body") => Transport::Body,
            Some("cookie") => Transport::Cookie,
            Some(_) => {
                fields.reject("token_transport", "must be \"body\" or \"cookie\"");
                Transport::Body
            }
        };
        fields.finish()?;
        if transport == Transport::Cookie {
            self.check_same_origin(req)?;
        }
        Ok(transport)
    }

    /// The refresh token of a refresh or logout: `refresh_token` from the body, or else the
    /// cookie (which passes the cross-site check).
    pub fn presented_refresh_token(
        &self,
        req: &Request,
        body: &Map<String, Value>,
    ) -> Result<(String, Transport), ApiError> {
        let mut fields = Fields::new(body);
        let token = fields.optional_str("refresh_token");
        fields.finish()?;
        if let Some(token) = token {
            return Ok((token.to_owned(), Transport::Body));
        }
        let Some(token) = self.cookie(req) else {
            return Err(ApiError::Validation(vec![FieldError::new(
                "refresh_token",
                "is required (in the body, or as the refresh-token cookie)",
            )]));
        };
        self.check_same_origin(req)?;
        Ok((token, Transport::Cookie))
    }

    /// 200 with the token pair, or in cookie mode the access token with the refresh token set
    /// as the cookie.
    pub fn tokens(&self, pair: &TokenPair, transport: Transport) -> Response<Body> {
        match transport {
            Transport::Body => http::ok_no_store(pair),
            Transport::Cookie => {
                let mut response = http::ok_no_store(&AccessToken {
                    access_token: pair.access_token.expose_secret(),
                    token_type: pair.token_type,
                    expires_in: pair.expires_in,
                });
                self.set_cookie(
                    &mut response,
                    pair.refresh_token.expose_secret(),
                    self.settings.cookie_max_age,
                );
                response
            }
        }
    }

    /// 204 after a logout; in cookie mode the cookie is cleared.
    pub fn logged_out(&self, transport: Transport) -> Response<Body> {
        let mut response = http::no_content();
        if transport == Transport::Cookie {
            self.set_cookie(&mut response, "", 0);
        }
        response
    }

    /// The handler's result as the response; a cookie whose token is dead (401) is cleared
    /// with the error, so the browser stops sending it.
    pub fn respond(
        &self,
        req: &Request,
        transport: Transport,
        result: Result<Response<Body>, ApiError>,
    ) -> Response<Body> {
        let dead = matches!(result, Err(ApiError::InvalidToken | ApiError::TokenReused));
        let mut response = http::respond(req, result);
        if dead && transport == Transport::Cookie {
            self.set_cookie(&mut response, "", 0);
        }
        response
    }

    fn set_cookie(&self, response: &mut Response<Body>, value: &str, max_age: i64) {
        let cookie = Cookie::build((self.cookie_name(), value))
            .http_only(true)
            .secure(self.settings.secure_cookie)
            .same_site(SameSite::Strict)
            .path(COOKIE_PATH)
            .max_age(time::Duration::seconds(max_age))
            .build();
        if let Ok(header) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(SET_COOKIE, header);
        }
    }

    /// The refresh token the browser sent as the cookie (API Gateway passes a payload-2.0
    /// event's `cookies` on as a `Cookie` header).
    fn cookie(&self, req: &Request) -> Option<String> {
        let name = self.cookie_name();
        req.headers()
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name && !c.value().is_empty())
            .map(|c| c.value().to_owned())
    }

    fn check_same_origin(&self, req: &Request) -> Result<(), ApiError> {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let allowed = may_use_cookie(
            header(ORIGIN.as_str()),
            own_origin(req).as_deref(),
            &self.settings.allowed_origins,
            header(REQUESTED_WITH),
        );
        if allowed {
            Ok(())
        } else {
            Err(ApiError::CrossSiteRequest)
        }
    }
}

/// The API's own origin as the request reached it: the scheme API Gateway forwards
/// (`X-Forwarded-Proto`, `https` on AWS) and the domain name it was called on.
fn own_origin(req: &Request) -> Option<String> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let scheme = header("x-forwarded-proto")
        .and_then(|p| p.split(',').next())
        .map_or("https", str::trim);
    let domain = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.domain_name.clone(),
        _ => None,
    }
    .or_else(|| header(HOST.as_str()).map(str::to_owned))?;
    Some(format!("{scheme}://{domain}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_needs_the_header_and_an_allowed_origin() {
        let allowed = ["https://app.example.com".to_owned()];
        let own = Some("https://api.example.com");
        let check = |origin, with| may_use_cookie(origin, own, &allowed, with);
        assert!(check(Some("https://api.example.com"), Some("console")));
        assert!(check(
            Some("https://APP.example.com"),
            Some("XMLHttpRequest")
        ));
        // A form post: no custom header.
        assert!(!check(Some("https://api.example.com"), None));
        assert!(!check(Some("https://app.example.com"), Some(" ")));
        // Another origin, even on the same site (another port), or none at all.
        assert!(!check(Some("https://api.example.com:8443"), Some("x")));
        assert!(!check(Some("https://evil.example"), Some("x")));
        assert!(!check(Some("null"), Some("x")));
        assert!(!check(None, Some("x")));
        assert!(!may_use_cookie(
            Some("https://api.example.com"),
            None,
            &[],
            Some("x")
        ));
    }
}
