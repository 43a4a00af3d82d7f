//! The test harness shared by the integration tests: one DynamoDB Local per test binary (AWS's
//! own, started on a free port; the run fails loudly when it cannot start), one table per binary,
//! one SES v2 emulator per binary (`aws-ses-v2-local`, on a free port; the mail the service sends
//! is read back from it), settings from a plain map, and the local server in-process on a free
//! port.

// A test harness: failing loudly (panicking with the reason) is its job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use devserver::App;
use devserver::dynamodb_local::{self, DynamoDbLocal};
use devserver::ses_local::{self, SesLocal};
use shared::clock::SharedClock;
use shared::config::{self as cfg, StoreSettings};
use shared::keys::{PublicJwkSet, SigningKey};
use shared::store::{Store, schema};
use shared::tokens::{TokenIssuer, TokenVerifier};

pub const ISSUER: &str = "https://auth.test.invalid";
pub const AUDIENCE: &str = "auth-tests";
pub const CLIENT_ID: &str = "integration-tests";
pub const PASSWORD: &str = "correct-horse-battery-staple";

static DYNAMODB: OnceLock<Result<DynamoDbLocal, String>> = OnceLock::new();
static SES: OnceLock<Result<SesLocal, String>> = OnceLock::new();
static TABLE: OnceLock<String> = OnceLock::new();
static KEY: OnceLock<(String, String)> = OnceLock::new();

/// The endpoint of this test binary's DynamoDB Local, started on first use.
pub fn endpoint() -> String {
    match DYNAMODB.get_or_init(|| dynamodb_local::start().map_err(|e| e.to_string())) {
        Ok(local) => local.endpoint().to_owned(),
        Err(err) => panic!("cannot start DynamoDB Local: {err}"),
    }
}

/// The endpoint of this test binary's SES v2 emulator, started on first use.
pub fn ses_endpoint() -> String {
    match SES.get_or_init(|| ses_local::start(None).map_err(|e| e.to_string())) {
        Ok(local) => local.endpoint().to_owned(),
        Err(err) => panic!("cannot start the SES v2 emulator: {err}"),
    }
}

/// A mail the service sent, as the SES v2 emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The text body (empty when the mail had none).
    pub text: String,
    /// The HTML body (empty when the mail had none).
    pub html: String,
}

/// `GET /store` of `aws-ses-v2-local`: every mail since it started, oldest first.
#[derive(serde::Deserialize)]
struct MailStore {
    emails: Vec<StoredMail>,
}

#[derive(serde::Deserialize)]
struct StoredMail {
    from: String,
    destination: Destination,
    subject: String,
    #[serde(default)]
    body: StoredBody,
}

#[derive(serde::Deserialize)]
struct Destination {
    #[serde(default)]
    to: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
struct StoredBody {
    text: Option<String>,
    html: Option<String>,
}

/// Every mail the emulator has received, oldest first.
async fn all_mails() -> Vec<Mail> {
    let url = format!("{}/store", ses_endpoint());
    let response = reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let text = response.text().await.expect("store body");
    assert!(status.is_success(), "GET {url}: {status} {text}");
    let store: MailStore = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {url}: not a store ({e}): {text}"));
    store
        .emails
        .into_iter()
        .map(|m| Mail {
            from: m.from,
            to: m.destination.to,
            subject: m.subject,
            text: m.body.text.unwrap_or_default(),
            html: m.body.html.unwrap_or_default(),
        })
        .collect()
}

/// The mails sent to `address` (among the To addresses, ignoring ASCII case), oldest first.
pub async fn mails_to(address: &str) -> Vec<Mail> {
    all_mails()
        .await
        .into_iter()
        .filter(|m| m.to.iter().any(|to| to.eq_ignore_ascii_case(address)))
        .collect()
}

/// The mails sent to `address`, once there are at least `count` (polling for up to 5 s; the
/// service sends before it answers, so normally they are there at once). Panics with what it
/// found otherwise.
pub async fn wait_for_mail(address: &str, count: usize) -> Vec<Mail> {
    let started = Instant::now();
    loop {
        let mails = mails_to(address).await;
        if mails.len() >= count {
            return mails;
        }
        if started.elapsed() > Duration::from_secs(5) {
            panic!(
                "expected at least {count} mail(s) to {address} within 5 s, found {}: {mails:#?}",
                mails.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The token of the link in a mail: the `token=` value in its text body.
pub fn link_token(mail: &Mail) -> String {
    let Some(start) = mail.text.find("token=") else {
        panic!("no token= link in the mail's text body: {mail:#?}");
    };
    let token: String = mail.text[start + "token=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(
        !token.is_empty(),
        "empty token= value in the mail's text body: {mail:#?}"
    );
    token
}

/// This test binary's table, created on first use.
pub fn table() -> String {
    TABLE
        .get_or_init(|| {
            let name = format!("auth-it-{}", uuid::Uuid::new_v4().simple());
            let settings = StoreSettings {
                table_name: name.clone(),
                endpoint_url: Some(endpoint()),
                preconnect: false,
            };
            // Tests run on many runtimes; create the table on a runtime of its own.
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let (store, _) = Store::connect(&settings).await;
                    // On a loaded machine the SDK may time out a CreateTable that DynamoDB
                    // Local then completes, and its retry finds the table there: a second
                    // look sees it (and fails loudly for any other cause).
                    if schema::ensure_table(store.client(), store.table())
                        .await
                        .is_err()
                    {
                        schema::ensure_table(store.client(), store.table())
                            .await
                            .expect("create the test table");
                    }
                });
            })
            .join()
            .expect("table creation thread");
            name
        })
        .clone()
}

/// The test signing key: (PKCS#8 PEM, public JWK Set JSON).
pub fn signing_key() -> &'static (String, String) {
    KEY.get_or_init(|| {
        let (key, pem) = SigningKey::generate().expect("generate key");
        let jwks = serde_json::to_string(&PublicJwkSet {
            keys: vec![key.public_jwk().clone()],
        })
        .expect("jwks");
        (pem, jwks)
    })
}

/// This test binary's two-factor sealing keys (`MFA_KEYS`).
pub fn mfa_keys() -> &'static str {
    static KEYS: OnceLock<String> = OnceLock::new();
    KEYS.get_or_init(|| shared::mfa::SealingKeys::generate_entry("test"))
}

/// Every setting the service reads, pointing at this binary's DynamoDB Local table and SES v2
/// emulator.
pub fn settings() -> HashMap<String, String> {
    let (pem, jwks) = signing_key();
    [
        (cfg::TABLE_NAME, table()),
        (cfg::DYNAMODB_ENDPOINT_URL, endpoint()),
        (cfg::JWT_ISSUER, ISSUER.to_owned()),
        (cfg::JWT_AUDIENCE, AUDIENCE.to_owned()),
        (cfg::JWT_CLIENT_ID, CLIENT_ID.to_owned()),
        (cfg::JWT_SIGNING_KEY, pem.clone()),
        (cfg::JWT_PUBLIC_JWKS, jwks.clone()),
        (cfg::MFA_KEYS, mfa_keys().to_owned()),
        (cfg::SES_ENDPOINT_URL, ses_endpoint()),
        (cfg::MAIL_FROM, "no-reply@auth.test.invalid".to_owned()),
        (cfg::APP_BASE_URL, "https://app.test.invalid".to_owned()),
        // Every test's client is 127.0.0.1 and registers freely: the per-source limits and the
        // registration mail budget are off or out of reach here; `tests/it/abuse.rs` sets them.
        (cfg::SOURCE_LIMITS, "off".to_owned()),
        (
            cfg::REGISTRATION_MAILS_PER_ADDRESS_PER_HOUR,
            "100".to_owned(),
        ),
        (cfg::REGISTRATION_MAILS_PER_HOUR, "1000000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// [`settings`] with simplejwt's routes on (`SIMPLEJWT_COMPAT=true`; off by default): for the
/// servers of `tests/it/simplejwt.rs` alone, so no other test pays for it.
pub fn simplejwt_settings() -> HashMap<String, String> {
    let mut settings = settings();
    settings.insert(cfg::SIMPLEJWT_COMPAT.to_owned(), "true".to_owned());
    settings
}

/// A store on this binary's table.
pub async fn store() -> Store {
    Store::connect(&StoreSettings::from_source(&settings()).expect("settings"))
        .await
        .0
}

/// An issuer with the test key, for minting tokens at chosen times.
pub fn issuer() -> TokenIssuer {
    let key = SigningKey::from_pkcs8_pem(&signing_key().0).expect("key");
    TokenIssuer::new(key, ISSUER.into(), AUDIENCE.into(), CLIENT_ID.into(), 900)
}

/// A verifier with the test key set.
pub fn verifier() -> TokenVerifier {
    let keys = shared::keys::VerificationKeys::from_jwks_json(&signing_key().1).expect("jwks");
    TokenVerifier::new(keys, ISSUER, AUDIENCE, 30)
}

/// An email no other test uses.
pub fn unique_email() -> String {
    format!("user-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A sample event from `events/`, the same file `sam local invoke -e` uses.
pub fn event(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The local server, running in-process on a free port until dropped.
pub struct Server {
    pub base: String,
    pub app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Server {
    /// Starts the local server with these settings and this clock.
    pub async fn start_with(settings: &HashMap<String, String>, clock: SharedClock) -> Self {
        Self::start_at(|_| settings.clone(), clock).await
    }

    /// Starts the local server with the settings `settings` gives for its address (for the
    /// settings that name it: the issuer, the links' base URL).
    pub async fn start_at(
        settings: impl FnOnce(&str) -> HashMap<String, String>,
        clock: SharedClock,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Arc::new(
            App::from_source(&settings(&base), clock)
                .await
                .expect("build the app"),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(devserver::serve(listener, app.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            base,
            app,
            stop: Some(stop),
        }
    }

    /// Starts the local server with the default test settings and the wall clock.
    pub async fn start() -> Self {
        Self::start_with(&settings(), shared::clock::SystemClock::shared()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// An HTTP client for the local server.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client")
}

/// A response's status and JSON body (`Value::Null` when the body is empty).
pub async fn json(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, value)
}

/// POSTs a JSON body.
pub async fn post(
    server: &Server,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    json(
        http()
            .post(server.url(path))
            .json(&body)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// POSTs a JSON body; returns (status, `Retry-After` in seconds, body).
pub async fn post_with_retry_after(
    server: &Server,
    path: &str,
    body: serde_json::Value,
) -> (u16, Option<i64>, serde_json::Value) {
    let response = http()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    with_retry_after(response).await
}

/// A response as (status, `Retry-After` in seconds, body).
pub async fn with_retry_after(
    response: reqwest::Response,
) -> (u16, Option<i64>, serde_json::Value) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").parse().expect("seconds"));
    let (status, body) = json(response).await;
    (status, retry_after, body)
}

/// Registers a user with the standard password; returns the email.
pub async fn registered(server: &Server) -> String {
    let email = unique_email();
    let (status, body) = post(
        server,
        "/auth/register",
        serde_json::json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    email
}

/// Registers and logs in a user; returns (email, access token, refresh token).
pub async fn logged_in(server: &Server) -> (String, String, String) {
    let email = registered(server).await;
    let (status, body) = post(
        server,
        "/auth/login",
        serde_json::json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        email,
        body["access_token"].as_str().expect("access").to_owned(),
        body["refresh_token"].as_str().expect("refresh").to_owned(),
    )
}

/// GET /me with an Authorization header.
pub async fn me(server: &Server, authorization: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = http().get(server.url("/me"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    json(request.send().await.expect("request")).await
}

/// Sends a request with a Bearer token and an optional JSON body.
pub async fn with_bearer(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    access: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = http()
        .request(method, server.url(path))
        .header("authorization", format!("Bearer {access}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    json(request.send().await.expect("request")).await
}

/// Logs in; returns (status, body).
pub async fn login(server: &Server, email: &str, password: &str) -> (u16, serde_json::Value) {
    post(
        server,
        "/auth/login",
        serde_json::json!({"email": email, "password": password}),
    )
    .await
}

static LOG: OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line of this test binary from now on, in the service's JSON format, at
/// `LOG_LEVEL=debug` with the service's own filter (so the secrets check covers debug logs).
pub fn capture_logs() {
    LOG.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                shared::config::log_filter("debug"),
            ))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buffer
    });
}

/// Everything logged since [`capture_logs`], one JSON value per line.
pub fn captured_logs() -> (String, Vec<serde_json::Value>) {
    let buffer = LOG.get().expect("call capture_logs first");
    let text = String::from_utf8_lossy(&buffer.lock().expect("log buffer")).into_owned();
    let lines = text
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
        })
        .collect();
    (text, lines)
}
