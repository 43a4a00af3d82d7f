//! `authctl import-django` of [`USERS`] synthetic users into DynamoDB Local: its throughput
//! (`bench import` runs this stage alone). The dump is a JSON array as `dumpdata` writes it
//! (natural keys), the users spread over a few groups, some staff, a superuser, direct
//! permissions on some: every batch moves the catalog's counts, as a real import's do.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::Result;
use crate::fixture::Fixture;

/// Users imported.
pub const USERS: usize = 10_000;
/// The throughput the issue asks for (users per second, on 2 cores).
pub const TARGET_PER_SECOND: f64 = 200.0;

/// What one import measured.
#[derive(Debug, Clone)]
pub struct Import {
    pub users: usize,
    pub imported: usize,
    pub seconds: f64,
}

impl Import {
    pub fn per_second(&self) -> f64 {
        self.imported as f64 / self.seconds.max(f64::EPSILON)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "users": self.users,
            "imported": self.imported,
            "seconds": crate::stats::round(self.seconds, 2),
            "users_per_second": crate::stats::round(self.per_second(), 1),
        })
    }
}

/// Writes a `dumpdata` JSON array of `n` users (and their groups) to `path`.
fn write_dump(path: &Path, n: usize) -> Result<()> {
    let groups = ["Sales", "Accounting", "Support", "Warehouse"];
    let mut records: Vec<Value> = groups
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({"model": "auth.group", "fields": {"name": name, "permissions": [
                [format!("view_thing{i}"), "shop", "thing"],
                [format!("change_thing{i}"), "shop", "thing"],
            ]}})
        })
        .collect();
    for i in 0..n {
        let group = groups.get(i % groups.len()).copied().unwrap_or("Sales");
        let direct: Vec<Value> = if i % 5 == 0 {
            vec![json!(["delete_thing", "shop", "thing"])]
        } else {
            Vec::new()
        };
        records.push(json!({"model": "auth.user", "fields": {
            "password": format!("pbkdf2_sha256$1000000$salt{i}$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g="),
            "last_login": null, "is_superuser": i == 0, "username": format!("user{i}"),
            "first_name": "Bench", "last_name": format!("User {i}"),
            "email": format!("Bench.User{i}@Example.com"), "is_staff": i % 10 == 0,
            "is_active": i % 50 != 1, "date_joined": "2021-03-18T10:31:11Z",
            "groups": [[group]], "user_permissions": direct,
        }}));
    }
    std::fs::write(path, serde_json::to_vec(&records)?)?;
    Ok(())
}

/// Imports [`USERS`] users into the fixture's table (fresh addresses each run).
pub async fn run(fx: &Fixture, work_dir: &Path) -> Result<Import> {
    let path = work_dir.join("django-dump.json");
    write_dump(&path, USERS)?;
    let command = authctl::Command::ImportDjango {
        file: path.clone(),
        dry_run: false,
        trust_emails: false,
        email_field: "email".to_owned(),
        name_field: None,
        report: None,
    };
    let mut out = Vec::new();
    let started = Instant::now();
    authctl::run(
        command,
        &fx.settings,
        || Err(authctl::Failure("no password".into())),
        &mut out,
    )
    .await
    .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out);
    let imported = text
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no count in the import's summary: {text}"))?;
    Ok(Import {
        users: USERS,
        imported,
        seconds,
    })
}
