//! `make dev`: serves the whole API on http://127.0.0.1:$PORT against DynamoDB Local.
//!
//! Configuration is the functions' own (see the README). When `DYNAMODB_ENDPOINT_URL` is not
//! set, the server starts DynamoDB Local itself, in memory, and stops it on exit. The table is
//! created when missing. When `SES_ENDPOINT_URL` is not set, it starts the SES v2 emulator
//! (`aws-ses-v2-local`) on 127.0.0.1:`SES_PORT` (default 8005) the same way: mail the service
//! sends is shown there. Ctrl-C stops everything it started.
//!
//! While it runs against a DynamoDB Local, it writes the endpoint and table to
//! `.dev/local-endpoints.json` (removed at exit), where `authctl` finds them. With
//! `BOOTSTRAP_ADMIN_EMAIL` and `BOOTSTRAP_ADMIN_PASSWORD` it creates that administrator at
//! start (an existing account with that email just gets the `admin` role).
//!
//! The metrics the functions write (CloudWatch EMF lines, on stdout beside the logs) are counted
//! too: `GET /_local/metrics` shows the counts and the last lines, and Ctrl-C prints a one-line
//! summary.
//!
//! Its log lines are readable text (`LOG_FORMAT=json`: the JSON lines and EMF lines the
//! functions write on Lambda).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use devserver::{App, dynamodb_local, ses_local};
use shared::clock::SystemClock;
use shared::config::{
    DYNAMODB_ENDPOINT_URL, ProcessEnv, SES_ENDPOINT_URL, Source, StoreSettings, dev_port,
};
use shared::store::{Store, schema};

/// The process environment with a few values put on top.
struct Overlay(HashMap<String, String>);

impl Source for Overlay {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned().or_else(|| ProcessEnv.get(key))
    }
}

/// Errors are printed as sentences (`Display`), not as `Debug` structures.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run() -> Result<(), Box<dyn std::error::Error>> {
    shared::runtime::init_local_tracing(&ProcessEnv)?;
    let mut overlay = Overlay(HashMap::new());
    // Both emulators start at once; both are awaited before any error is returned, so neither
    // is left starting in the background.
    let ses_port = match ProcessEnv.get(SES_ENDPOINT_URL) {
        None => Some(ses_port(&ProcessEnv)?),
        Some(_) => None,
    };
    let dynamodb = ProcessEnv
        .get(DYNAMODB_ENDPOINT_URL)
        .is_none()
        .then(|| tokio::task::spawn_blocking(dynamodb_local::start));
    let ses =
        ses_port.map(|port| tokio::task::spawn_blocking(move || ses_local::start(Some(port))));
    let (dynamodb, ses) = tokio::join!(
        async {
            match dynamodb {
                Some(task) => Some(task.await),
                None => None,
            }
        },
        async {
            match ses {
                Some(task) => Some(task.await),
                None => None,
            }
        }
    );
    let _dynamodb = match dynamodb {
        Some(started) => {
            let local = started??;
            eprintln!("DynamoDB Local (in memory) at {}", local.endpoint());
            overlay.0.insert(
                DYNAMODB_ENDPOINT_URL.to_owned(),
                local.endpoint().to_owned(),
            );
            Some(local)
        }
        None => None,
    };
    let _ses = match ses {
        Some(started) => {
            let local = started??;
            let endpoint = local.endpoint();
            eprintln!("SES v2 emulator at {endpoint} (mail: {endpoint}/, JSON: {endpoint}/store)");
            overlay
                .0
                .insert(SES_ENDPOINT_URL.to_owned(), endpoint.to_owned());
            Some(local)
        }
        None => None,
    };
    let settings = StoreSettings::from_source(&overlay)?;
    if settings.endpoint_url.is_some() {
        // The table may not exist yet: nothing to preconnect to.
        let setup = StoreSettings {
            preconnect: false,
            ..settings.clone()
        };
        let (store, _) = Store::connect(&setup).await;
        schema::ensure_table(store.client(), store.table()).await?;
    }
    let app = Arc::new(App::from_source(&overlay, SystemClock::shared()).await?);
    bootstrap_admin(&overlay).await?;
    let _endpoints = match &settings.endpoint_url {
        Some(url) => Some(LocalEndpoints::write(url, &settings.table_name)?),
        None => None,
    };
    let port = dev_port(&overlay)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "Serving the API on http://127.0.0.1:{port} (table {}); Ctrl-C stops",
        settings.table_name
    );
    eprintln!(
        "Metrics counted so far: http://127.0.0.1:{port}{}",
        devserver::LOCAL_METRICS
    );
    let metrics = app.metrics.clone();
    devserver::serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    let summary = metrics.summary();
    eprintln!(
        "metrics: {}",
        if summary.is_empty() { "none" } else { &summary }
    );
    eprintln!("stopped");
    Ok(())
}

/// `SES_PORT`: the SES v2 emulator's port (default 8005; 0 picks a free one).
fn ses_port(src: &dyn Source) -> Result<u16, String> {
    match src.get(ses_local::PORT_VARIABLE) {
        None => Ok(ses_local::DEFAULT_PORT),
        Some(value) => value.trim().parse().map_err(|_| {
            format!(
                "{} must be a port number (0-65535; 0 picks a free one), got {value:?}",
                ses_local::PORT_VARIABLE
            )
        }),
    }
}

/// `BOOTSTRAP_ADMIN_EMAIL` and `BOOTSTRAP_ADMIN_PASSWORD`: an administrator at start.
async fn bootstrap_admin(src: &dyn Source) -> Result<(), Box<dyn std::error::Error>> {
    use shared::config::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD};
    let (email, password) = match (
        src.get(BOOTSTRAP_ADMIN_EMAIL),
        src.get(BOOTSTRAP_ADMIN_PASSWORD),
    ) {
        (None, None) => return Ok(()),
        (Some(email), Some(password)) if !email.trim().is_empty() && !password.is_empty() => {
            (email, password)
        }
        _ => {
            return Err(format!(
                "set both {BOOTSTRAP_ADMIN_EMAIL} and {BOOTSTRAP_ADMIN_PASSWORD}, or neither"
            )
            .into());
        }
    };
    let email = shared::domain::Email::parse(&email)
        .map_err(|m| format!("{BOOTSTRAP_ADMIN_EMAIL} {email:?}: {m}"))?;
    let clock = SystemClock::shared();
    let accounts = shared::service::Accounts::from_source(src, clock.clone()).await?;
    let admin = shared::service::Admin::from_source(src, clock).await?;
    let (id, created) = shared::service::ensure_admin(
        &accounts,
        &admin,
        email.clone(),
        shared::domain::Password::new(password),
        &shared::service::Caller::default(),
    )
    .await
    .map_err(|e| format!("bootstrap administrator: {}", e.parts().detail))?;
    eprintln!(
        "Administrator {} ({id}) {}",
        email.as_str(),
        if created {
            "created"
        } else {
            "holds the admin role"
        }
    );
    Ok(())
}

/// `.dev/local-endpoints.json` while the server runs (for `authctl`); removed on drop.
struct LocalEndpoints(std::path::PathBuf);

impl LocalEndpoints {
    fn write(endpoint: &str, table: &str) -> std::io::Result<Self> {
        let path = std::path::PathBuf::from(".dev/local-endpoints.json");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let body = serde_json::json!({ "dynamodb": endpoint, "table": table });
        std::fs::write(&path, body.to_string())?;
        Ok(Self(path))
    }
}

impl Drop for LocalEndpoints {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
