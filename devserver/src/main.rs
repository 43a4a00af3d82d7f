//! `make dev`: serves the whole API on http://127.0.0.1:$PORT against DynamoDB Local.
//!
//! Configuration is the functions' own (see the README). When `DYNAMODB_ENDPOINT_URL` is not
//! set, the server starts DynamoDB Local itself, in memory, and stops it on exit. The table is
//! created when missing. Ctrl-C stops everything it started.

use std::collections::HashMap;
use std::sync::Arc;

use devserver::{App, dynamodb_local};
use shared::clock::SystemClock;
use shared::config::{DYNAMODB_ENDPOINT_URL, ProcessEnv, Source, StoreSettings, dev_port};
use shared::store::{Store, schema};

/// The process environment with a few values put on top.
struct Overlay(HashMap<String, String>);

impl Source for Overlay {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned().or_else(|| ProcessEnv.get(key))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::runtime::init_tracing(&ProcessEnv)?;
    let mut overlay = Overlay(HashMap::new());
    let _dynamodb = if ProcessEnv.get(DYNAMODB_ENDPOINT_URL).is_none() {
        let local = tokio::task::spawn_blocking(dynamodb_local::start).await??;
        eprintln!("DynamoDB Local (in memory) at {}", local.endpoint());
        overlay.0.insert(
            DYNAMODB_ENDPOINT_URL.to_owned(),
            local.endpoint().to_owned(),
        );
        Some(local)
    } else {
        None
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
