//! The local API: every function's handler served in-process on localhost, the way API Gateway
//! (HTTP API, payload 2.0) would serve it. Requests become the same JSON events API Gateway
//! sends and are turned into `lambda_http` requests by `lambda_http` itself; protected routes
//! first get the authorizer's decision. There is no second implementation of any route here.
//!
//! Gateway answers keep API Gateway's bodies: 401 `{"message":"Unauthorized"}` when the
//! `Authorization` header is missing, 403 `{"message":"Forbidden"}` when the authorizer denies,
//! 404 `{"message":"Not Found"}` for an unknown route or method, 431 when the request line and
//! header values pass API Gateway's 10,240 bytes.
//!
//! Authorizer decisions are cached the way API Gateway caches them when
//! `AUTHORIZER_CACHE_TTL_SECONDS` is above 0 (default 0, as in the template): keyed by the
//! identity sources `template.yaml` declares, the `Authorization` header and the route key, so
//! an Allow cached for one route is never reused for another (with `ROUTE_PERMISSIONS` the
//! decision depends on the route).

pub mod dynamodb_local;
mod guard;
pub mod ses_local;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use std::panic::AssertUnwindSafe;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response as AxumResponse};
use futures::FutureExt;
use http_body_util::BodyExt;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
    ApiGatewayV2httpRequestContext,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::clock::SharedClock;
use shared::config::Source;
use shared::error::ApiError;
use shared::runtime::InitError;
use time::OffsetDateTime;

/// The CORS answer the template's `CorsConfiguration` declares (the template test checks they
/// agree).
pub const CORS_METHODS: &str = "GET,POST,PUT,PATCH,DELETE";
pub const CORS_HEADERS: &str = "authorization,content-type,x-requested-with";
pub const CORS_EXPOSE: &str = "retry-after";
pub const CORS_MAX_AGE: &str = "600";

/// The local server's own route (not API Gateway's, not on AWS): the counts of the metrics the
/// functions wrote, per metric and dimensions, and their last EMF lines
/// ([`shared::metrics::Snapshot`]).
pub const LOCAL_METRICS: &str = "/_local/metrics";

/// API Gateway's own payload limit for HTTP APIs (10 MB); the functions enforce their own 16 KiB.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

/// API Gateway's quota for HTTP APIs on the request line and header values together (10,240
/// bytes): a larger request never reaches the authorizer or a function, so the local server
/// refuses it too (an access token near the limit is found here, not on AWS).
pub const GATEWAY_MAX_HEADER_BYTES: usize = 10_240;

/// The bytes API Gateway counts against [`GATEWAY_MAX_HEADER_BYTES`]: the request line and
/// every header value.
fn header_bytes(parts: &axum::http::request::Parts) -> usize {
    let line = parts.method.as_str().len() + 1 + parts.uri.to_string().len() + " HTTP/1.1".len();
    line + parts.headers.values().map(|v| v.len()).sum::<usize>()
}

/// Generates, from one table, everything the local server knows about the functions: the
/// [`Function`] enum with each one's binary name, [`ROUTES`], the [`App`] holding every state
/// (built concurrently, as each Lambda would at cold start) and the dispatch to each handler.
macro_rules! functions {
    ($( $variant:ident => $krate:ident ($binary:literal): $method:literal $path:literal, $protected:literal
        $(, also $also_method:literal $also_path:literal as $also_sample:literal)*; )*) => {
        /// Which function a route invokes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Function {
            $( $variant, )*
        }

        impl Function {
            /// The function's binary (its crate's `[[bin]]`, and `Metadata.BuildProperties.Binary`
            /// in `template.yaml`).
            pub fn binary(self) -> &'static str {
                match self {
                    $( Self::$variant => $binary, )*
                }
            }
        }

        /// The routes, as `template.yaml` declares them.
        pub const ROUTES: &[Route] = &[
            $(
                route($method, $path, $protected, Function::$variant, $binary),
                $( route($also_method, $also_path, false, Function::$variant, $also_sample), )*
            )*
        ];

        /// Every function's state, built once, as each Lambda would at cold start; the
        /// authorizer's too.
        #[derive(Debug)]
        pub struct App {
            $( pub $krate: $krate::State, )*
            pub authorizer: authorizer::State,
            pub gateway: Gateway,
            /// What the functions counted ([`shared::metrics`]): `GET /_local/metrics`.
            pub metrics: Arc<shared::metrics::Recorder>,
        }

        impl App {
            /// Builds every state at once (each its own SDK client, as on Lambda),
            /// concurrently: the server's start-up is the slowest cold start, not their sum.
            pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
                // Boxed: side by side, the unboxed futures of every cold start overflow a
                // test thread's stack in debug builds.
                let (authorizer, $( $krate, )*) = tokio::try_join!(
                    Box::pin(authorizer::state(src, clock.clone())),
                    $( Box::pin($krate::state(src, clock.clone())), )*
                )?;
                let metrics = shared::metrics::Recorder::new(shared::config::metrics_namespace(src)?);
                Ok(Self { authorizer, gateway: Gateway::from_source(src)?, metrics, $( $krate, )* })
            }
        }

        /// Calls the function a route invokes.
        async fn invoke(app: &App, function: Function, request: lambda_http::Request) -> Response<Body> {
            match function {
                $( Function::$variant => Box::pin($krate::handle(&app.$krate, request)).await, )*
            }
        }
    };
}

// The one list of functions behind routes. A new function is its crate (with `state` and
// `handle`), one line here, and its resource in template.yaml; the template test checks that
// the two agree, route by route and binary by binary; tests/it/docs.rs that the README and
// docs/deploy.md route tables list exactly these routes. `also METHOD PATH as SAMPLE`: one more
// public route of the same function (simplejwt's, `SIMPLEJWT_COMPAT`), whose sample event is
// `events/SAMPLE.json`; the function tells its routes apart by the route key.
functions! {
    Register => register ("register"): "POST" "/auth/register", false;
    Login => login ("login"): "POST" "/auth/login", false,
        also "POST" "/api/token/" as "simplejwt-token";
    Refresh => refresh ("refresh"): "POST" "/auth/refresh", false,
        also "POST" "/api/token/refresh/" as "simplejwt-refresh",
        also "POST" "/api/token/verify/" as "simplejwt-verify";
    Logout => logout ("logout"): "POST" "/auth/logout", false,
        also "POST" "/api/token/blacklist/" as "simplejwt-blacklist";
    Me => me ("me"): "GET" "/me", true;
    UpdateProfile => update_profile ("update-profile"): "PATCH" "/me", true;
    ChangePassword => change_password ("change-password"): "POST" "/me/password", true;
    RevokeSessions => revoke_sessions ("revoke-sessions"): "DELETE" "/me/sessions", true;
    Jwks => jwks ("jwks"): "GET" "/.well-known/jwks.json", false;
    ForgotPassword => forgot_password ("forgot-password"): "POST" "/auth/password/forgot", false;
    ResetPassword => reset_password ("reset-password"): "POST" "/auth/password/reset", false;
    VerifyEmail => verify_email ("verify-email"): "POST" "/auth/email/verify", false;
    ResendVerification => resend_verification ("resend-verification"): "POST" "/me/email/verification", true;
    ChangeEmail => change_email ("change-email"): "POST" "/me/email", true;
    ConfirmEmailChange => confirm_email_change ("confirm-email-change"): "POST" "/auth/email/confirm-change", false;
    MfaEnroll => mfa_enroll ("mfa-enroll"): "POST" "/me/mfa/totp", true;
    MfaConfirm => mfa_confirm ("mfa-confirm"): "POST" "/me/mfa/totp/confirm", true;
    MfaDisable => mfa_disable ("mfa-disable"): "DELETE" "/me/mfa/totp", true;
    MfaRecoveryCodes => mfa_recovery_codes ("mfa-recovery-codes"): "POST" "/me/mfa/recovery-codes", true;
    MfaVerify => mfa_verify ("mfa-verify"): "POST" "/auth/mfa/verify", false;
    ListSessions => list_sessions ("list-sessions"): "GET" "/me/sessions", true;
    EndSession => end_session ("end-session"): "DELETE" "/me/sessions/{sid}", true;
    AdminListUsers => admin_list_users ("admin-list-users"): "GET" "/admin/users", true;
    AdminGetUser => admin_get_user ("admin-get-user"): "GET" "/admin/users/{id}", true;
    AdminUpdateUser => admin_update_user ("admin-update-user"): "PATCH" "/admin/users/{id}", true;
    AdminDeleteUser => admin_delete_user ("admin-delete-user"): "DELETE" "/admin/users/{id}", true;
    AdminEndSessions => admin_end_sessions ("admin-end-sessions"): "DELETE" "/admin/users/{id}/sessions", true;
    AdminRemoveMfa => admin_remove_mfa ("admin-remove-mfa"): "DELETE" "/admin/users/{id}/mfa", true;
    AdminListRoles => admin_list_roles ("admin-list-roles"): "GET" "/admin/roles", true;
    AdminPutRole => admin_put_role ("admin-put-role"): "PUT" "/admin/roles/{name}", true;
    AdminDeleteRole => admin_delete_role ("admin-delete-role"): "DELETE" "/admin/roles/{name}", true;
    Console => console ("console"): "GET" "/console/{proxy+}", false;
}

/// What API Gateway itself does around the authorizer: its result cache.
#[derive(Debug)]
pub struct Gateway {
    /// `CORS_ALLOWED_ORIGINS` (the template's `CorsAllowedOrigins`): API Gateway answers
    /// preflights and adds the CORS headers itself when it is set.
    cors: Vec<String>,
    cache_ttl: std::time::Duration,
    cache: std::sync::Mutex<DecisionCache>,
}

/// The authorizer decisions cached, keyed as API Gateway keys them, with when each was made.
/// Every new access token is a new key, so expired entries are swept out as it grows (API
/// Gateway's own cache is bounded too): its size follows the tokens used within one TTL, not
/// every token ever seen.
#[derive(Debug, Default)]
struct DecisionCache {
    entries: std::collections::HashMap<String, (std::time::Instant, Value)>,
    /// The size at which the next insert first sweeps out the expired entries.
    sweep_at: usize,
}

impl DecisionCache {
    /// The fewest entries before a sweep; then twice what a sweep left.
    const MIN_SWEEP: usize = 1024;

    fn get(&self, key: &str, ttl: std::time::Duration, now: std::time::Instant) -> Option<Value> {
        let (at, context) = self.entries.get(key)?;
        (now.saturating_duration_since(*at) < ttl).then(|| context.clone())
    }

    fn insert(
        &mut self,
        key: String,
        context: Value,
        ttl: std::time::Duration,
        now: std::time::Instant,
    ) {
        if self.entries.len() >= self.sweep_at.max(Self::MIN_SWEEP) {
            self.entries
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
            self.sweep_at = (self.entries.len() * 2).max(Self::MIN_SWEEP);
        }
        self.entries.insert(key, (now, context));
    }
}

impl Gateway {
    pub fn from_source(src: &dyn Source) -> Result<Self, InitError> {
        Ok(Self {
            cors: shared::config::allowed_origins(src)?,
            cache_ttl: std::time::Duration::from_secs(shared::config::authorizer_cache_ttl(src)?),
            cache: std::sync::Mutex::new(DecisionCache::default()),
        })
    }

    /// The cache key: the identity sources' values (`$request.header.Authorization` and
    /// `$context.routeKey`, as the template declares them).
    fn key(&self, authorization: &str, route_key: &str) -> String {
        format!("{authorization}\n{route_key}")
    }

    fn cached(&self, key: &str) -> Option<Value> {
        if self.cache_ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().ok()?;
        cache.get(key, self.cache_ttl, std::time::Instant::now())
    }

    /// The request's `Origin` when CORS allows it.
    fn cors_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let lower = origin.to_str().ok()?.trim().to_ascii_lowercase();
        self.cors.contains(&lower).then(|| origin.clone())
    }

    /// API Gateway's answer to a CORS preflight (it never reaches a route or the authorizer):
    /// 204, with the CORS headers only for an allowed origin.
    fn preflight(&self, headers: &HeaderMap) -> AxumResponse {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if self.allow_origin(headers, &mut response) {
            let out = response.headers_mut();
            for (name, value) in [
                (header::ACCESS_CONTROL_ALLOW_METHODS, CORS_METHODS),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, CORS_HEADERS),
                (header::ACCESS_CONTROL_MAX_AGE, CORS_MAX_AGE),
            ] {
                out.insert(name, HeaderValue::from_static(value));
            }
        }
        response
    }

    /// The CORS headers API Gateway adds to any answer to an allowed origin.
    fn add_cors(&self, request: &HeaderMap, response: &mut AxumResponse) {
        if self.allow_origin(request, response) {
            response.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(CORS_EXPOSE),
            );
        }
    }

    /// Allows the request's origin (with credentials) when CORS lists it; whether it did.
    fn allow_origin(&self, request: &HeaderMap, response: &mut AxumResponse) -> bool {
        let Some(origin) = self.cors_origin(request) else {
            return false;
        };
        let out = response.headers_mut();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        out.append(header::VARY, HeaderValue::from_static("origin"));
        true
    }

    fn remember(&self, key: String, context: Value) {
        if self.cache_ttl.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, context, self.cache_ttl, std::time::Instant::now());
        }
    }
}

/// The path parameters of `path` under a route pattern with `{name}` segments (`None`: no match).
fn match_path(pattern: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let (mut want, mut have) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(h)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix("+}")) {
                    // A greedy parameter (`{proxy+}`): the rest of the path, at least one character.
                    let rest: Vec<&str> = std::iter::once(h).chain(have).collect();
                    let rest = rest.join("/");
                    if rest.is_empty() {
                        return None;
                    }
                    params.insert(name.to_owned(), rest);
                    return Some(params);
                }
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if h.is_empty() {
                        return None;
                    }
                    params.insert(name.to_owned(), h.to_owned());
                } else if w != h {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// One API Gateway route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// Behind the Lambda authorizer.
    pub protected: bool,
    pub function: Function,
    /// Its sample event: `events/<sample>.json` (the function's binary name for its first
    /// route).
    pub sample: &'static str,
}

const fn route(
    method: &'static str,
    path: &'static str,
    protected: bool,
    function: Function,
    sample: &'static str,
) -> Route {
    Route {
        method,
        path,
        protected,
        function,
        sample,
    }
}

/// The OpenAPI document of the service, served at `/openapi.yaml`.
pub const OPENAPI: &str = include_str!("../../openapi.yaml");

/// What the dispatcher needs: the functions, and the address the server listens on (API
/// Gateway's `Host` and `X-Forwarded-Port` come from where it serves, never from the client).
#[derive(Debug, Clone)]
pub struct Edge {
    app: Arc<App>,
    local: SocketAddr,
}

/// The router serving [`ROUTES`] on `local`.
pub fn router(app: Arc<App>, local: SocketAddr) -> axum::Router {
    axum::Router::new()
        .fallback(dispatch)
        .with_state(Edge { app, local })
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    axum::serve(
        listener,
        router(app, local).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

fn gateway(status: StatusCode, message: &str) -> AxumResponse {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

async fn dispatch(
    State(edge): State<Edge>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> AxumResponse {
    let gateway_settings = &edge.app.gateway;
    let (parts, body) = request.into_parts();
    if header_bytes(&parts) > GATEWAY_MAX_HEADER_BYTES {
        return gateway(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        );
    }
    if parts.method == axum::http::Method::OPTIONS
        && !gateway_settings.cors.is_empty()
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return gateway_settings.preflight(&parts.headers);
    }
    let mut response = match http_body_util::Limited::new(body, GATEWAY_MAX_BODY)
        .collect()
        .await
    {
        // What the authorizer and the function count goes to this server's recorder.
        Ok(collected) => {
            edge.app
                .metrics
                .scope(route_request(&edge, peer, &parts, &collected.to_bytes()))
                .await
        }
        Err(_) => gateway(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    gateway_settings.add_cors(&parts.headers, &mut response);
    response
}

/// What API Gateway does with a request once it is read: the route, the authorizer, the function.
async fn route_request(
    edge: &Edge,
    peer: SocketAddr,
    parts: &axum::http::request::Parts,
    bytes: &[u8],
) -> AxumResponse {
    let app = &edge.app;
    let path = parts.uri.path();
    if parts.method == axum::http::Method::GET && path == "/openapi.yaml" {
        return ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI).into_response();
    }
    if parts.method == axum::http::Method::GET && path == LOCAL_METRICS {
        let body = serde_json::to_string(&app.metrics.snapshot()).unwrap_or_default();
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let Some((route, params)) = ROUTES
        .iter()
        .filter(|r| r.method == parts.method.as_str())
        .find_map(|r| match_path(r.path, path).map(|p| (r, p)))
    else {
        return gateway(StatusCode::NOT_FOUND, "Not Found");
    };
    let headers = edge_headers(&parts.headers, peer, edge.local);
    let context = RequestContext::new(route, parts, &headers, peer, params);
    let mut authorizer_context = None;
    if route.protected {
        let Some(authorization) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
        else {
            return gateway(StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        let key = app.gateway.key(authorization, &context.route_key);
        let lambda = match app.gateway.cached(&key) {
            Some(cached) => Some(cached),
            None => {
                let decision = authorizer::authorize(
                    &app.authorizer,
                    &context.authorizer_event(&headers, authorization),
                )
                .await;
                // API Gateway caches denials too; only an Allow matters to the routes here.
                decision.is_authorized.then(|| {
                    app.gateway.remember(key, decision.context.clone());
                    decision.context
                })
            }
        };
        let Some(lambda) = lambda else {
            return gateway(StatusCode::FORBIDDEN, "Forbidden");
        };
        // API Gateway hands the function the context as `requestContext.authorizer.lambda`.
        authorizer_context = Some(match lambda {
            Value::Object(fields) => fields.into_iter().collect(),
            _ => HashMap::new(),
        });
    }
    let event = context.http_event(&headers, bytes, authorizer_context);
    // `lambda_http` panics on some header values API Gateway would never pass on; the headers
    // above are already API Gateway's, and anything left that cannot become a request is the
    // 400 API Gateway answers to a request it cannot parse.
    let parsed = std::panic::catch_unwind(|| {
        lambda_http::Request::from(lambda_http::request::LambdaRequest::ApiGatewayV2(event))
    });
    let Ok(request) = parsed else {
        return gateway(StatusCode::BAD_REQUEST, "Bad Request");
    };
    let request_id = shared::http::request_id(&request);
    // A function that panics answers 500 problem+json, as its Lambda would be retried or fail;
    // the server keeps serving.
    let response = AssertUnwindSafe(invoke(app, route.function, request))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            shared::http::problem(
                &ApiError::Internal("the function panicked".into()),
                request_id.as_deref(),
            )
        });
    into_axum(response)
}

/// The request headers as API Gateway passes them on: the client's own `Host` and
/// `X-Forwarded-*` are dropped and set from the connection, the way API Gateway sets them, so
/// no request header reaches a function that API Gateway would not have sent.
fn edge_headers(headers: &HeaderMap, peer: SocketAddr, local: SocketAddr) -> HeaderMap {
    let mut out = headers.clone();
    for name in [
        header::HOST.as_str(),
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-port",
        "forwarded",
    ] {
        out.remove(name);
    }
    let set = |out: &mut HeaderMap, name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    };
    // A browser on `localhost:PORT` and one on `127.0.0.1:PORT` are different origins; keep
    // the name the client used when it is a loopback name for this port (API Gateway likewise
    // passes the domain name the request came in on).
    let loopback_name = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|host| {
            ["localhost", "127.0.0.1", "[::1]"]
                .iter()
                .any(|name| *host == format!("{name}:{}", local.port()))
        })
        .map(str::to_owned);
    set(
        &mut out,
        "host",
        loopback_name.unwrap_or_else(|| local.to_string()),
    );
    set(&mut out, "x-forwarded-for", peer.ip().to_string());
    set(&mut out, "x-forwarded-proto", "http".to_owned());
    set(&mut out, "x-forwarded-port", local.port().to_string());
    out
}

/// What API Gateway knows about a request, shared by the authorizer and the function events,
/// as `aws_lambda_events`' payload 2.0 types (the ones the functions deserialize).
struct RequestContext {
    route_key: String,
    raw_path: String,
    raw_query: String,
    path_parameters: HashMap<String, String>,
    context: ApiGatewayV2httpRequestContext,
}

impl RequestContext {
    fn new(
        route: &Route,
        parts: &axum::http::request::Parts,
        headers: &HeaderMap,
        peer: SocketAddr,
        path_parameters: HashMap<String, String>,
    ) -> Self {
        let now = OffsetDateTime::now_utc();
        let route_key = format!("{} {}", route.method, route.path);
        let header = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.account_id = Some("000000000000".into());
        context.apiid = Some("local".into());
        context.domain_name = Some(header(header::HOST).unwrap_or_else(|| "localhost".into()));
        context.domain_prefix = Some("local".into());
        context.http.method = parts.method.clone();
        context.http.path = Some(parts.uri.path().to_owned());
        context.http.protocol = Some("HTTP/1.1".into());
        context.http.source_ip = Some(peer.ip().to_string());
        context.http.user_agent = Some(header(header::USER_AGENT).unwrap_or_default());
        context.request_id = Some(uuid::Uuid::new_v4().to_string());
        context.route_key = Some(route_key.clone());
        context.stage = Some("$default".into());
        context.time = now
            .format(&time::format_description::well_known::Rfc2822)
            .ok();
        context.time_epoch = now.unix_timestamp() * 1000;
        Self {
            route_key,
            raw_path: parts.uri.path().to_owned(),
            raw_query: parts.uri.query().unwrap_or_default().to_owned(),
            path_parameters,
            context,
        }
    }

    /// The payload-2.0 authorizer request API Gateway sends.
    fn authorizer_event(
        &self,
        headers: &HeaderMap,
        authorization: &str,
    ) -> ApiGatewayV2CustomAuthorizerV2Request {
        let mut event = ApiGatewayV2CustomAuthorizerV2Request::default();
        event.version = Some("2.0".into());
        event.type_ = Some("REQUEST".into());
        event.route_arn = Some(format!(
            "arn:aws:execute-api:local:000000000000:local/$default/{}",
            self.route_key.replace(' ', "")
        ));
        event.identity_source = Some(vec![authorization.to_owned()]);
        event.route_key = Some(self.route_key.clone());
        event.raw_path = Some(self.raw_path.clone());
        event.raw_query_string = Some(self.raw_query.clone());
        event.headers = gateway_headers(headers);
        event.cookies = cookies(headers);
        event.query_string_parameters = self.query_parameters();
        event.path_parameters = self.path_parameters.clone();
        event.request_context = self.context.clone();
        event
    }

    /// The payload-2.0 event the function receives, with the authorizer's context.
    fn http_event(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        authorizer: Option<HashMap<String, Value>>,
    ) -> ApiGatewayV2httpRequest {
        let mut context = self.context.clone();
        if let Some(fields) = authorizer {
            let mut described = ApiGatewayRequestAuthorizer::default();
            described.fields = fields;
            context.authorizer = Some(described);
        }
        let (body, base64) = match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => {
                use base64::Engine;
                (base64::engine::general_purpose::STANDARD.encode(body), true)
            }
        };
        let cookies = cookies(headers);
        let mut event = ApiGatewayV2httpRequest::default();
        event.version = Some("2.0".into());
        event.route_key = Some(self.route_key.clone());
        event.raw_path = Some(self.raw_path.clone());
        event.raw_query_string = Some(self.raw_query.clone());
        event.headers = gateway_headers(headers);
        event.request_context = context;
        event.is_base64_encoded = base64;
        event.cookies = (!cookies.is_empty()).then_some(cookies);
        event.query_string_parameters = QueryMap::from(self.query_parameters());
        event.path_parameters = self.path_parameters.clone();
        event.body = (!body.is_empty()).then_some(body);
        event
    }

    /// The query string as API Gateway passes it: decoded, repeated names joined by commas.
    fn query_parameters(&self) -> HashMap<String, String> {
        let mut out: HashMap<String, String> = HashMap::new();
        for (name, value) in form_urlencoded::parse(self.raw_query.as_bytes()) {
            out.entry(name.into_owned())
                .and_modify(|existing| {
                    existing.push(',');
                    existing.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        out
    }
}

/// The request's cookies as payload 2.0 passes them: one `cookies` entry per cookie, no
/// `Cookie` header.
fn cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Headers as API Gateway passes them: lowercased names, repeated values joined by commas;
/// cookies go to the event's `cookies`.
fn gateway_headers(headers: &HeaderMap) -> HeaderMap {
    let mut joined: Vec<(&header::HeaderName, String)> = Vec::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        if name == header::COOKIE {
            continue;
        }
        match joined.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            None => joined.push((name, value.to_owned())),
        }
    }
    joined
        .into_iter()
        .filter_map(|(name, value)| Some((name.clone(), HeaderValue::from_str(&value).ok()?)))
        .collect()
}

fn into_axum(response: Response<Body>) -> AxumResponse {
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn the_decision_cache_keeps_what_is_live_and_sweeps_what_expired() {
        let ttl = Duration::from_secs(300);
        let start = Instant::now();
        let mut cache = DecisionCache::default();
        // A token per login, each used once: 50,000 keys over ten TTLs.
        for i in 0..50_000u64 {
            let now = start + Duration::from_millis(i * 60);
            cache.insert(format!("token-{i}"), json!({"n": i}), ttl, now);
            assert_eq!(
                cache.get(&format!("token-{i}"), ttl, now),
                Some(json!({"n": i}))
            );
        }
        let end = start + Duration::from_millis(49_999 * 60);
        // At most the keys of one TTL (5,000) live, plus at most as many again awaiting a sweep.
        assert!(
            cache.entries.len() <= 2 * 5_000 + DecisionCache::MIN_SWEEP,
            "{} entries kept",
            cache.entries.len()
        );
        // An expired decision is never answered, a live one is.
        assert_eq!(cache.get("token-0", ttl, end), None);
        assert!(cache.get("token-49000", ttl, end).is_some());
    }
}
