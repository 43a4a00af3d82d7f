//! `cargo run --release -p bench --bin sdk-cpu`: the client CPU of one DynamoDB `GetItem`
//! through our store (the AWS SDK, hyper, rustls-free HTTP to DynamoDB Local) on a
//! multi-thread Tokio runtime, on a current-thread one (what every Lambda binary now runs),
//! and on a current-thread one without the SDK's retries and stalled-stream protection.
//! Process CPU from `/proc/self/stat` over 3,000 sequential calls after 300 to warm up, two
//! rounds, DynamoDB Local in its own process (not counted). docs/build.md quotes it.

// A measuring tool: failing loudly is its job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use shared::config::StoreSettings;
use shared::domain::{Credentials, Email, User, UserId};
use shared::store::{Store, schema};

fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = stat.rsplit(')').next().unwrap();
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

async fn measure(endpoint: &str, label: &str, tweak: bool) {
    let settings = StoreSettings {
        table_name: "sdkcpu".into(),
        endpoint_url: Some(endpoint.into()),
        preconnect: false,
    };
    let (store, sdk) = Store::connect(&settings).await;
    let store = if tweak {
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(endpoint)
            .stalled_stream_protection(
                aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
            )
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(conf), "sdkcpu")
    } else {
        store
    };
    schema::ensure_table(store.client(), store.table())
        .await
        .unwrap();
    let user = User {
        id: UserId::random(),
        email: Email::parse("a@example.com").unwrap(),
        name: None,
        roles: vec![],
        created_at: time::OffsetDateTime::now_utc(),
        epoch: 0,
        email_verified: false,
        active: true,
        last_login_at: None,
        username: None,
        permissions: Vec::new(),
    };
    let creds = Credentials {
        email: user.email.clone(),
        user_id: user.id.clone(),
        password_hash: "x".into(),
        roles: vec![],
        epoch: 0,
        mfa: false,
        active: true,
        permissions: Vec::new(),
    };
    let _ = store.create_user(&user, &creds).await;
    for _ in 0..300 {
        store.user(&user.id).await.unwrap();
    }
    let n = CALLS;
    let c0 = cpu_ticks();
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        store.user(&user.id).await.unwrap();
    }
    let c1 = cpu_ticks();
    println!(
        "{label}: {:.0} us CPU per GetItem, {:.0} us wall",
        (c1 - c0) as f64 * 10_000.0 / f64::from(n),
        t0.elapsed().as_micros() as f64 / f64::from(n)
    );
}

/// Calls per measurement.
const CALLS: u32 = 3000;

fn main() {
    let local = devserver::dynamodb_local::start().unwrap();
    let ep = local.endpoint().to_owned();
    for round in 0..2 {
        for (label, multi, tweak) in [
            ("multi_thread", true, false),
            ("current_thread", false, false),
            ("current_thread, no retry/stall protection", false, true),
        ] {
            let rt = if multi {
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .unwrap()
            } else {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
            };
            rt.block_on(measure(&ep, &format!("round {round} {label}"), tweak));
        }
    }
}
