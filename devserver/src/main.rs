//! `make dev`: serves the whole API on http://127.0.0.1:$PORT against DynamoDB Local.
//!
//! Configuration is the functions' own (see the README). When `DYNAMODB_ENDPOINT_URL` is not
//! set, the server starts DynamoDB Local itself, in memory, and stops it on exit. The table is
//! created when missing. When `SES_ENDPOINT_URL` is not set, it starts the SES v2 emulator
//! (`aws-ses-v2-local`) on 127.0.0.1:`SES_PORT` (default 8005) the same way: mail the service
//! sends is shown there. Ctrl-C stops everything it started.

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
    shared::runtime::init_tracing(&ProcessEnv)?;
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
    let port = dev_port(&overlay)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "Serving the API on http://127.0.0.1:{port} (table {}); Ctrl-C stops",
        settings.table_name
    );
    devserver::serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
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
