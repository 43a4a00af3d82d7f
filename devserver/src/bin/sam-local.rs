//! `make sam-local`: what `sam local invoke` needs to run every function for real.
//!
//! Starts DynamoDB Local (in memory; it listens on every interface, so the functions'
//! containers reach it at the address Docker's bridge gives the host, `SAM_LOCAL_HOST_IP`,
//! default 172.17.0.1) and the SES v2 emulator on that address, creates the table, and writes
//! into `.dev/sam-local/`:
//! - `events/<binary>.json`: each sample event of `events/`, carrying live data: a real user
//!   and session in the authorizer context, real refresh tokens, link tokens, role names and
//!   user ids, so each function answers what `expected.json` says (201, 200, 204...);
//! - `env.json`: the `--env-vars` file pointing every function at those endpoints, with the
//!   development keys of `make dev`;
//! - `expected.json` (binary → status, or `authorized` for the authorizer) and `api.json`
//!   (a live access token, for `sam local start-api`);
//! - `ready` once all of it is written.
//!
//! Then it prints the `sam local invoke` commands and keeps running (DynamoDB Local with it)
//! until Ctrl-C or its standard input closes. Samples that hold a time-bound code (two-factor)
//! are written anew every 20 s with fresh accounts, so they answer as documented whenever they
//! are invoked. Most samples work once (a refresh token is rotated, a link is used): run
//! `make sam-local` again for fresh ones.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use devserver::{ROUTES, dynamodb_local, ses_local};
use serde_json::{Value, json};
use shared::clock::{SharedClock, SystemClock};
use shared::config::{self as cfg, StoreSettings};
use shared::domain::{Email, Password, UserId};
use shared::keys::VerificationKeys;
use shared::mfa::Secret;
use shared::policy::links::{self, LinkToken, Purpose};
use shared::policy::totp;
use shared::secrecy::ExposeSecret;
use shared::service::{
    Accounts, Actor, Admin, Caller, Logins, Registrar, RolePut, TwoFactor, ensure_admin,
};
use shared::store::{Store, schema};
use shared::tokens::TokenVerifier;

type Error = Box<dyn std::error::Error + Send + Sync>;

const OUT: &str = ".dev/sam-local";
const TABLE: &str = "auth-sam-local";
const PASSWORD: &str = "sam-local-passphrase-2026";
const NEW_PASSWORD: &str = "another-sam-local-passphrase";
const ISSUER: &str = "http://127.0.0.1:3000";
const AUDIENCE: &str = "auth-service";
const CLIENT_ID: &str = "sam-local";
/// The two-factor samples are written anew this often.
const REFRESH_EVERY: Duration = Duration::from_secs(20);

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// An administration sample: its binary, the status it answers, its path parameters.
type AdminSample<'a> = (&'a str, u16, Vec<(&'a str, &'a str)>);

/// One signed-in session, as the authorizer would pass it on.
struct Session {
    user_id: String,
    access: String,
    refresh: String,
    sid: String,
    jti: String,
    roles: Vec<String>,
    entitlements: Vec<String>,
    amr: Vec<String>,
}

struct Samples {
    verifier: TokenVerifier,
    registrar: Registrar,
    logins: Logins,
    two_factor: TwoFactor,
    admin: Admin,
    accounts: Accounts,
    store: Store,
    clock: SharedClock,
    out: PathBuf,
    expected: BTreeMap<String, Value>,
}

async fn run() -> Result<(), Error> {
    let host_ip = std::env::var("SAM_LOCAL_HOST_IP").unwrap_or_else(|_| "172.17.0.1".to_owned());
    let dynamodb = tokio::task::spawn_blocking(dynamodb_local::start).await??;
    let ses_host = host_ip.clone();
    let host_ip_for_errors = host_ip.clone();
    // SES_PORT as `make dev` (default 8005): the mail is read at http://<host ip>:8005/.
    let ses_port = match std::env::var(ses_local::PORT_VARIABLE) {
        Ok(port) => port
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("{} must be a port number", ses_local::PORT_VARIABLE))?,
        Err(_) => ses_local::DEFAULT_PORT,
    };
    let ses = tokio::task::spawn_blocking(move || ses_local::start_at(&ses_host, Some(ses_port)))
        .await?
        .map_err(|e| {
            format!(
                "{e} (the SES emulator listens on {host_ip_for_errors}, where Docker's bridge gives this host an address: is Docker running? Set SAM_LOCAL_HOST_IP to another address)"
            )
        })?;
    let dynamodb_port = dynamodb
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (pem, jwks, mfa_keys) = (
        read(".dev/signing-key.pem")?,
        read(".dev/jwks.json")?,
        read(".dev/mfa-keys")?,
    );
    let common = [
        (cfg::TABLE_NAME, TABLE.to_owned()),
        (cfg::JWT_ISSUER, ISSUER.to_owned()),
        (cfg::JWT_AUDIENCE, AUDIENCE.to_owned()),
        (cfg::JWT_CLIENT_ID, CLIENT_ID.to_owned()),
        (cfg::JWT_SIGNING_KEY, pem.trim().to_owned()),
        (cfg::JWT_SIGNING_KEY_PARAMETER, String::new()),
        (cfg::JWT_PUBLIC_JWKS, jwks.trim().to_owned()),
        (cfg::MFA_KEYS, mfa_keys.trim().to_owned()),
        (cfg::MFA_KEYS_PARAMETER, String::new()),
        (cfg::MAIL_FROM, "no-reply@example.com".to_owned()),
        (cfg::APP_BASE_URL, ISSUER.to_owned()),
        (cfg::SES_ENDPOINT_URL, ses.endpoint().to_owned()),
        // The admin samples sign in with a password alone, as under `make dev` (the template's
        // default, `true`, is tested in-process: tests/tests/it/escalation.rs).
        (cfg::ADMIN_REQUIRE_MFA, "false".to_owned()),
    ];
    let mut settings: HashMap<String, String> = common
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    settings.insert(
        cfg::DYNAMODB_ENDPOINT_URL.to_owned(),
        dynamodb.endpoint().to_owned(),
    );
    // What the containers get: the same, with DynamoDB Local at the bridge address.
    let mut container: serde_json::Map<String, Value> = common
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    container.insert(
        cfg::DYNAMODB_ENDPOINT_URL.to_owned(),
        Value::String(format!("http://{host_ip}:{dynamodb_port}")),
    );

    let (store, _) = Store::connect(&StoreSettings {
        preconnect: false,
        ..StoreSettings::from_source(&settings)?
    })
    .await;
    schema::ensure_table(store.client(), store.table()).await?;
    let clock = SystemClock::shared();
    let out = PathBuf::from(OUT);
    std::fs::create_dir_all(out.join("events"))?;
    let _ = std::fs::remove_file(out.join("ready"));
    let mut samples = Samples {
        verifier: TokenVerifier::new(
            VerificationKeys::from_jwks_json(jwks.trim())?,
            ISSUER,
            AUDIENCE,
            30,
        ),
        registrar: Registrar::from_source(&settings, clock.clone()).await?,
        logins: Logins::from_source(&settings, clock.clone()).await?,
        two_factor: TwoFactor::from_source(&settings, clock.clone()).await?,
        admin: Admin::from_source(&settings, clock.clone()).await?,
        accounts: Accounts::from_source(&settings, clock.clone()).await?,
        store,
        clock,
        out: out.clone(),
        expected: BTreeMap::new(),
    };
    let api = samples.write_all().await?;
    samples.write_two_factor().await?;
    write_json(&out.join("expected.json"), &json!(samples.expected))?;
    write_json(
        &out.join("api.json"),
        &json!({ "access_token": api.access }),
    )?;
    write_json(&out.join("env.json"), &json!({ "Parameters": container }))?;
    // authctl finds this table the way it finds `make dev`'s.
    write_json(
        Path::new(".dev/local-endpoints.json"),
        &json!({"dynamodb": dynamodb.endpoint(), "table": TABLE}),
    )?;
    std::fs::write(out.join("ready"), "")?;
    print_commands(&samples.expected);

    let stop = async {
        // Ctrl-C, or the end of standard input (the CI script closes it to stop us).
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        let terminated = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stdin_closed => {}
            () = terminated => {}
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(REFRESH_EVERY) => {
                if let Err(err) = samples.write_two_factor().await {
                    eprintln!("could not renew the two-factor samples: {err}");
                }
            }
        }
    }
    let _ = std::fs::remove_file(out.join("ready"));
    let _ = std::fs::remove_file(".dev/local-endpoints.json");
    drop((dynamodb, ses));
    Ok(())
}

fn read(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{path}: {e} (run `make sam-local`, which creates it)").into())
}

/// Writes through a temporary file, so an invocation never reads half a sample.
fn write_json(path: &Path, value: &Value) -> Result<(), Error> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, serde_json::to_string_pretty(value)?)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

fn sample(binary: &str) -> Result<Value, Error> {
    Ok(serde_json::from_str(&read(&format!(
        "events/{binary}.json"
    ))?)?)
}

/// Sets the member at `path` (objects made on the way), whatever the sample holds there.
fn set(event: &mut Value, path: &[&str], value: Value) {
    let mut at = event;
    for name in path {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(object) = at.as_object_mut() else {
            return;
        };
        at = object.entry((*name).to_owned()).or_insert(Value::Null);
    }
    *at = value;
}

fn set_body(event: &mut Value, body: Value) {
    set(event, &["body"], Value::String(body.to_string()));
    if let Some(headers) = event.get_mut("headers").and_then(Value::as_object_mut) {
        headers.remove("content-length");
    }
}

/// Fills the route's `{parameters}` in `pathParameters` and `rawPath`.
fn set_path(event: &mut Value, parameters: &[(&str, &str)]) {
    let route = event
        .get("routeKey")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut path = route
        .split_once(' ')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    let mut map = serde_json::Map::new();
    for (name, value) in parameters {
        path = path.replace(&format!("{{{name}}}"), value);
        map.insert((*name).to_owned(), Value::String((*value).to_owned()));
    }
    set(event, &["pathParameters"], Value::Object(map));
    set(event, &["rawPath"], Value::String(path.clone()));
    set(
        event,
        &["requestContext", "http", "path"],
        Value::String(path),
    );
}

fn set_caller(event: &mut Value, session: &Session) {
    let caller = json!({
        "user_id": session.user_id,
        "roles": session.roles.join(","),
        "entitlements": session.entitlements.join(","),
        "sid": session.sid,
        "jti": session.jti,
        "amr": session.amr.join(","),
    });
    set(event, &["requestContext", "authorizer", "lambda"], caller);
}

impl Samples {
    fn expect(&mut self, binary: &str, answer: Value) {
        self.expected.insert(binary.to_owned(), answer);
    }

    fn write(&self, binary: &str, event: &Value) -> Result<(), Error> {
        write_json(
            &self.out.join("events").join(format!("{binary}.json")),
            event,
        )
    }

    /// A registered account (its verification mail goes to the SES emulator).
    async fn user(&self, tag: &str) -> Result<(String, String), Error> {
        let email = format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple());
        let registration = shared::service::Registration {
            email: Email::parse(&email)?,
            password: Password::new(PASSWORD),
            name: None,
        };
        let user = self
            .registrar
            .register(registration, &Caller::default())
            .await
            .map_err(api)?;
        Ok((email, user.id.to_string()))
    }

    async fn session(&self, email: &str) -> Result<Session, Error> {
        let pair = self
            .logins
            .login(email, Password::new(PASSWORD), &Caller::default())
            .await
            .map_err(api)?;
        let claims = self
            .verifier
            .verify(pair.access_token.expose_secret(), self.clock.unix())?;
        Ok(Session {
            user_id: claims.sub,
            access: pair.access_token.expose_secret().to_owned(),
            refresh: pair.refresh_token.expose_secret().to_owned(),
            sid: claims.sid,
            jti: claims.jti,
            roles: claims.roles,
            entitlements: claims.entitlements,
            amr: claims.amr,
        })
    }

    async fn signed_in(&self, tag: &str) -> Result<Session, Error> {
        let (email, _) = self.user(tag).await?;
        self.session(&email).await
    }

    /// A link of `purpose` for the user (as the mail would carry it); returns its token.
    async fn link(&self, user_id: &str, email: &str, purpose: Purpose) -> Result<String, Error> {
        let id = UserId::parse(user_id).ok_or("bad user id")?;
        let user = self.store.user(&id).await?.ok_or("no such user")?;
        let token = LinkToken::generate();
        let link = links::issue(
            &token,
            purpose,
            user_id,
            email,
            user.epoch,
            self.clock.unix(),
            3_600,
        );
        self.store.issue_link(&link).await?;
        Ok(token.expose().to_owned())
    }

    /// Every sample but the two-factor ones; returns a session for `sam local start-api`.
    async fn write_all(&mut self) -> Result<Session, Error> {
        let ok = |status: u16| json!(status);

        let mut event = sample("register")?;
        set_body(
            &mut event,
            json!({"email": format!("new-{}@example.com", uuid::Uuid::new_v4().simple()), "password": PASSWORD, "name": "Sam Local"}),
        );
        self.write("register", &event)?;
        self.expect("register", ok(201));

        let (email, _) = self.user("login").await?;
        let mut event = sample("login")?;
        set_body(&mut event, json!({"email": email, "password": PASSWORD}));
        self.write("login", &event)?;
        self.expect("login", ok(200));

        for (binary, status) in [("refresh", 200), ("logout", 204)] {
            let session = self.signed_in(binary).await?;
            let mut event = sample(binary)?;
            set_body(&mut event, json!({"refresh_token": session.refresh}));
            self.write(binary, &event)?;
            self.expect(binary, ok(status));
        }

        let plain: [(&str, u16, Option<Value>); 6] = [
            ("me", 200, None),
            ("update-profile", 200, Some(json!({"name": "Sam Local"}))),
            (
                "change-password",
                204,
                Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
            ),
            ("revoke-sessions", 204, None),
            ("resend-verification", 202, None),
            ("list-sessions", 200, None),
        ];
        for (binary, status, body) in plain {
            let session = self.signed_in(binary).await?;
            let mut event = sample(binary)?;
            set_caller(&mut event, &session);
            if let Some(body) = body {
                set_body(&mut event, body);
            }
            self.write(binary, &event)?;
            self.expect(binary, ok(status));
        }

        let session = self.signed_in("change-email").await?;
        let mut event = sample("change-email")?;
        set_caller(&mut event, &session);
        set_body(
            &mut event,
            json!({"new_email": format!("moved-{}@example.com", uuid::Uuid::new_v4().simple()), "current_password": PASSWORD}),
        );
        self.write("change-email", &event)?;
        self.expect("change-email", ok(202));

        let session = self.signed_in("mfa-enroll").await?;
        let mut event = sample("mfa-enroll")?;
        set_caller(&mut event, &session);
        set_body(&mut event, json!({"current_password": PASSWORD}));
        self.write("mfa-enroll", &event)?;
        self.expect("mfa-enroll", ok(200));

        // Ending one session of two: the sample ends the other one.
        let (email, _) = self.user("end-session").await?;
        let (mine, other) = (self.session(&email).await?, self.session(&email).await?);
        let mut event = sample("end-session")?;
        set_caller(&mut event, &mine);
        set_path(&mut event, &[("sid", &other.sid)]);
        self.write("end-session", &event)?;
        self.expect("end-session", ok(204));

        let session = self.signed_in("authorizer").await?;
        let mut event = sample("authorizer")?;
        let bearer = format!("Bearer {}", session.access);
        let route = event.get("routeKey").cloned().unwrap_or_default();
        set(
            &mut event,
            &["headers", "authorization"],
            Value::String(bearer.clone()),
        );
        set(&mut event, &["identitySource"], json!([bearer, route]));
        self.write("authorizer", &event)?;
        self.expect("authorizer", json!("authorized"));

        self.write("jwks", &sample("jwks")?)?;
        self.expect("jwks", ok(200));
        self.write("console", &sample("console")?)?;
        self.expect("console", ok(200));

        let (email, _) = self.user("forgot").await?;
        let mut event = sample("forgot-password")?;
        set_body(&mut event, json!({"email": email}));
        self.write("forgot-password", &event)?;
        self.expect("forgot-password", ok(202));

        let (email, id) = self.user("reset").await?;
        let token = self.link(&id, &email, Purpose::Reset).await?;
        let mut event = sample("reset-password")?;
        set_body(
            &mut event,
            json!({"token": token, "new_password": NEW_PASSWORD}),
        );
        self.write("reset-password", &event)?;
        self.expect("reset-password", ok(204));

        let (email, id) = self.user("verify").await?;
        let token = self.link(&id, &email, Purpose::Verify).await?;
        let mut event = sample("verify-email")?;
        set_body(&mut event, json!({"token": token}));
        self.write("verify-email", &event)?;
        self.expect("verify-email", ok(204));

        let (_, id) = self.user("confirm-change").await?;
        let new_email = format!("confirmed-{}@example.com", uuid::Uuid::new_v4().simple());
        let token = self.link(&id, &new_email, Purpose::EmailChange).await?;
        let mut event = sample("confirm-email-change")?;
        set_body(&mut event, json!({"token": token}));
        self.write("confirm-email-change", &event)?;
        self.expect("confirm-email-change", ok(204));

        // Administration, as an administrator, on accounts of its own.
        let admin_email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        ensure_admin(
            &self.accounts,
            &self.admin,
            Email::parse(&admin_email)?,
            Password::new(PASSWORD),
            &Caller::default(),
        )
        .await
        .map_err(api)?;
        let admin = self.session(&admin_email).await?;
        let temporary = format!("sam-local-{}", uuid::Uuid::new_v4().simple());
        self.admin
            .put_role(
                Actor::Cli,
                &temporary,
                &RolePut {
                    description: None,
                    permissions: vec!["samples.read".to_owned()],
                },
                &Caller::default(),
            )
            .await
            .map_err(api)?;
        let (_, target) = self.user("target").await?;
        let (_, disabled) = self.user("disabled").await?;
        let (_, deleted) = self.user("deleted").await?;
        let admin_samples: [AdminSample; 9] = [
            ("admin-list-users", 200, vec![]),
            ("admin-get-user", 200, vec![("id", &target)]),
            ("admin-update-user", 200, vec![("id", &disabled)]),
            ("admin-delete-user", 204, vec![("id", &deleted)]),
            ("admin-end-sessions", 204, vec![("id", &target)]),
            ("admin-remove-mfa", 204, vec![("id", &target)]),
            ("admin-list-roles", 200, vec![]),
            ("admin-put-role", 200, vec![("name", "editor")]),
            ("admin-delete-role", 204, vec![("name", &temporary)]),
        ];
        for (binary, status, parameters) in admin_samples {
            let mut event = sample(binary)?;
            set_caller(&mut event, &admin);
            if !parameters.is_empty() {
                set_path(&mut event, &parameters);
            }
            self.write(binary, &event)?;
            self.expect(binary, ok(status));
        }
        self.signed_in("api").await
    }

    /// The samples that carry a TOTP code or a two-factor login challenge, with fresh accounts
    /// (a code is good for its 30 s step and the next; a challenge for 5 minutes).
    async fn write_two_factor(&mut self) -> Result<(), Error> {
        // The TOTP step is read again right before each code is made: the accounts' set-up
        // takes seconds, and a step read at the start may be two steps old by then.
        let clock = self.clock.clone();
        let current_step = move || totp::step_of(clock.unix());

        // Enrolled, not yet confirmed: the sample confirms with the current code.
        let pending = self.signed_in("mfa-confirm").await?;
        let secret = self.enrol(&pending).await?;
        let step = current_step();
        let mut event = sample("mfa-confirm")?;
        set_caller(&mut event, &pending);
        set_body(&mut event, json!({"code": secret.code_at(step)}));
        self.write("mfa-confirm", &event)?;
        self.expect("mfa-confirm", json!(200));

        // Two-factor on (confirmed with the previous step's code, so the current one is
        // still unspent).
        for (binary, status) in [("mfa-disable", 204), ("mfa-recovery-codes", 200)] {
            let session = self.signed_in(binary).await?;
            let secret = self.enrol(&session).await?;
            let step = current_step();
            self.two_factor
                .confirm(
                    &session.user_id,
                    &session.sid,
                    &secret.code_at(step - 1),
                    &Caller::default(),
                )
                .await
                .map_err(api)?;
            let mut event = sample(binary)?;
            set_caller(&mut event, &session);
            let code = secret.code_at(step);
            let body = if binary == "mfa-disable" {
                json!({"current_password": PASSWORD, "code": code})
            } else {
                json!({"code": code})
            };
            set_body(&mut event, body);
            self.write(binary, &event)?;
            self.expect(binary, json!(status));
        }

        // A login waiting for its second factor, and a recovery code to give it.
        let (email, _) = self.user("mfa-verify").await?;
        let session = self.session(&email).await?;
        let secret = self.enrol(&session).await?;
        let step = current_step();
        let codes = self
            .two_factor
            .confirm(
                &session.user_id,
                &session.sid,
                &secret.code_at(step),
                &Caller::default(),
            )
            .await
            .map_err(api)?;
        let mfa_token = match self
            .logins
            .login(&email, Password::new(PASSWORD), &Caller::default())
            .await
        {
            Err(shared::error::ApiError::MfaRequired { mfa_token }) => mfa_token,
            Ok(_) => return Err("two-factor login opened a session without a code".into()),
            Err(err) => return Err(api(err)),
        };
        let recovery = codes
            .recovery_codes
            .expose_secret()
            .first()
            .cloned()
            .ok_or("no recovery codes")?;
        let mut event = sample("mfa-verify")?;
        set_body(
            &mut event,
            json!({"mfa_token": mfa_token, "recovery_code": recovery}),
        );
        self.write("mfa-verify", &event)?;
        self.expect("mfa-verify", json!(200));
        Ok(())
    }

    async fn enrol(&self, session: &Session) -> Result<Secret, Error> {
        let enrolment = self
            .two_factor
            .enrol(
                &session.user_id,
                Password::new(PASSWORD),
                &Caller::default(),
            )
            .await
            .map_err(api)?;
        Secret::from_base32(enrolment.secret.expose_secret())
            .ok_or_else(|| "enrolment secret is not base32".into())
    }
}

fn api(err: shared::error::ApiError) -> Error {
    format!("{err}: {}", shared::error::chain(&err)).into()
}

fn mail_url() -> String {
    let host = std::env::var("SAM_LOCAL_HOST_IP").unwrap_or_else(|_| "172.17.0.1".to_owned());
    let port = std::env::var(ses_local::PORT_VARIABLE)
        .unwrap_or_else(|_| ses_local::DEFAULT_PORT.to_string());
    format!("http://{host}:{port}")
}

/// The template's `Architecture` for this host's binaries.
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    }
}

fn print_commands(expected: &BTreeMap<String, Value>) {
    let arch = architecture();
    let common = format!(
        "-t {OUT}/build/template.yaml --env-vars {OUT}/env.json --parameter-overrides Architecture={arch}"
    );
    println!(
        "Samples written to {OUT}/events; DynamoDB Local and the SES emulator run until Ctrl-C."
    );
    println!("In another shell (Docker running), each answers as noted:\n");
    // One line per function: its first route (simplejwt's routes share their function's).
    for route in ROUTES.iter().filter(|r| r.sample == r.function.binary()) {
        let binary = route.function.binary();
        let id = logical_id(binary);
        let answer = expected
            .get(binary)
            .map(Value::to_string)
            .unwrap_or_default();
        println!("sam local invoke {id} -e {OUT}/events/{binary}.json {common}    # {answer}");
    }
    println!(
        "sam local invoke AuthorizerFunction -e {OUT}/events/authorizer.json {common}    # isAuthorized: true"
    );
    println!(
        "\nThe whole API, with the authorizer in front of the protected routes:\nsam local start-api {common} --port 3001"
    );
    println!(
        "\nWithout internet access to pull AWS's image, add --invoke-image IMAGE --skip-pull-image (see the README)."
    );
    println!(
        "Mail the functions send: {ses}/ (JSON: {ses}/store)",
        ses = mail_url()
    );
}

/// `update-profile` → `UpdateProfileFunction` (the template's naming; its test holds to it).
fn logical_id(binary: &str) -> String {
    let mut id: String = binary
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    id.push_str("Function");
    id
}
