//! `authctl import-django` on dumps made by real Django (`make django-fixtures`: Django 5.2 in
//! `.tools/django` writes `target/django-fixtures`): every variant (JSON and JSON lines, natural
//! keys and integer keys, a custom email-based user model) into a table of its own; every
//! importable user logs in over HTTP with the password Django had and gets what Django's
//! `get_all_permissions()` answered; the report lists the skipped; a rerun imports nothing; a
//! dump cut in the middle writes nothing; an import racing registrations of its addresses
//! leaves one account per address.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use futures::future::join_all;
use integration_tests::{Server, link_token, post, wait_for_mail};
use serde_json::{Value, json};
use shared::clock::SystemClock;
use shared::config::StoreSettings;
use shared::policy::roles;
use shared::store::Store;

use crate::admin::{claims, own_table};

/// The fixtures' directory; fails with what to run when they are missing.
fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/django-fixtures");
    assert!(
        dir.join("default/expected.json").is_file() && dir.join("custom/expected.json").is_file(),
        "no Django fixtures in {}: run `make django-fixtures` (installs Django into .tools/django)",
        dir.display()
    );
    dir
}

/// One user as Django described it (`expected.json`).
#[derive(Debug, Clone, serde::Deserialize)]
struct Expected {
    case: String,
    username: Option<String>,
    email: String,
    password: Option<String>,
    is_active: bool,
    is_superuser: bool,
    is_staff: bool,
    groups: Vec<String>,
    permissions: Vec<String>,
}

fn expected(model: &str) -> Vec<Expected> {
    let path = fixtures().join(model).join("expected.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Why the import skips a case (none: imported).
fn skip_reason(case: &str) -> Option<&'static str> {
    match case {
        "duplicate" => Some("duplicate_email"),
        "invalid_email" => Some("invalid_email"),
        _ => None,
    }
}

/// The note the report lists an imported case under (weak hashes, unusable passwords).
fn note(case: &str) -> Option<&'static str> {
    match case {
        "md5" | "unsalted_md5" | "sha1" | "unsalted_sha1" | "crypt" => Some("weak_hash"),
        "unusable" => Some("unusable_password"),
        _ => None,
    }
}

async fn store_of(settings: &HashMap<String, String>) -> Store {
    Store::connect(&StoreSettings::from_source(settings).unwrap())
        .await
        .0
}

/// Runs `authctl import-django` on `file` (`--dry-run` with `dry_run`); (result, printed
/// lines, the JSON report).
async fn import(
    settings: &HashMap<String, String>,
    file: &Path,
    dry_run: bool,
) -> (Result<(), String>, String, Value) {
    let report = std::env::temp_dir().join(format!(
        "django-report-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    let command = authctl::Command::ImportDjango {
        file: file.to_owned(),
        dry_run,
        trust_emails: false,
        email_field: "email".to_owned(),
        name_field: None,
        report: Some(report.clone()),
    };
    let mut out = Vec::new();
    let result = authctl::run(command, settings, || unreachable!(), &mut out)
        .await
        .map_err(|e| e.to_string());
    let report = std::fs::read_to_string(&report)
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or(Value::Null);
    (result, String::from_utf8(out).unwrap(), report)
}

/// Logs a user in by email, or by username when Django had no email.
async fn log_in(server: &Server, user: &Expected, password: &str) -> (u16, Value) {
    let body = if user.email.is_empty() {
        json!({"username": user.username, "password": password})
    } else {
        json!({"email": user.email, "password": password})
    };
    post(server, "/auth/login", body).await
}

/// The import of `file` (a `model` dump) into a fresh table, checked against Django's answers
/// through the store and the report; the table's settings back.
async fn imported(model: &str, file: &str) -> HashMap<String, String> {
    let settings = own_table().await;
    let users = expected(model);
    let (result, out, report) = import(&settings, &fixtures().join(model).join(file), false).await;
    assert!(result.is_ok(), "{model}/{file}: {result:?}\n{out}");
    let importable: Vec<&Expected> = users
        .iter()
        .filter(|u| skip_reason(&u.case).is_none())
        .collect();
    assert_eq!(
        report["imported"],
        importable.len(),
        "{model}/{file}: {report:#}"
    );
    assert_eq!(report["users"], users.len());
    // The skipped, with their reasons; the notes.
    // (email, reason) of each line of one of the report's lists.
    let listed = |list: &str| -> BTreeSet<(String, String)> {
        report[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["email"].as_str().unwrap().to_owned(),
                    l["reason"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let skipped = listed("skipped");
    let wanted: BTreeSet<(String, String)> = users
        .iter()
        .filter_map(|u| skip_reason(&u.case).map(|r| (u.email.clone(), r.to_owned())))
        .collect();
    assert_eq!(skipped, wanted, "{model}/{file}");
    let notes = listed("notes");
    let wanted: BTreeSet<(String, String)> = users
        .iter()
        .filter_map(|u| note(&u.case).map(|r| (u.email.clone(), r.to_owned())))
        .collect();
    assert_eq!(notes, wanted, "{model}/{file}");
    assert!(
        out.contains(&format!("imported {} of", importable.len())),
        "{out}"
    );

    // The accounts, as stored.
    let store = store_of(&settings).await;
    let catalog = store.catalog().await.unwrap();
    let mut holders: BTreeMap<String, i64> = BTreeMap::new();
    let mut admins = 0;
    for user in &importable {
        let credentials = if user.email.is_empty() {
            let key = user.username.as_deref().unwrap().to_lowercase();
            let alias = store.username(&key).await.unwrap().expect("the alias");
            assert!(alias.email.is_unreachable());
            store.credentials(alias.email.as_str()).await.unwrap()
        } else {
            store
                .credentials(&user.email.trim().to_lowercase())
                .await
                .unwrap()
        };
        let credentials = credentials.unwrap_or_else(|| panic!("{}: not imported", user.case));
        let profile = store.user(&credentials.user_id).await.unwrap().unwrap();
        assert_eq!(profile.active, user.is_active, "{}", user.case);
        assert!(
            !profile.email_verified,
            "{}: unverified by default",
            user.case
        );
        assert_eq!(
            profile.username.as_ref().map(|u| u.as_str().to_owned()),
            user.username.clone(),
            "{}",
            user.case
        );
        let mut roles: Vec<String> = user.groups.clone();
        if user.is_superuser {
            roles.push(roles::ADMIN.to_owned());
        }
        if user.is_staff {
            roles.push("staff".to_owned());
        }
        roles.sort();
        assert_eq!(profile.roles, roles, "{}", user.case);
        assert_eq!(credentials.roles, roles, "{}", user.case);
        for role in &roles {
            *holders.entry(role.clone()).or_default() += 1;
        }
        admins += i64::from(user.is_active && user.is_superuser);
        if !user.is_superuser && user.is_active {
            // What Django answers (none for an inactive user) = the roles' permissions + the
            // direct ones.
            let mut all: BTreeSet<String> = catalog.entitlements(&roles).into_iter().collect();
            all.extend(credentials.permissions.iter().cloned());
            let all: Vec<String> = all.into_iter().collect();
            assert_eq!(all, user.permissions, "{}", user.case);
        }
        if note(&user.case).is_some() {
            assert_eq!(credentials.password_hash, "!", "{}", user.case);
        } else {
            assert!(!credentials.password_hash.starts_with('!'), "{}", user.case);
        }
    }
    // The catalog counts exactly the accounts written.
    assert_eq!(catalog.holders, holders, "{model}/{file}");
    assert_eq!(catalog.active_admins, admins, "{model}/{file}");
    settings
}

/// Every importable user with a usable password logs in (all at once), gets Django's
/// permissions, and their Django hash is Argon2id afterwards; the inactive user is refused
/// after the right password; the unusable one resets theirs.
async fn logs_everyone_in(model: &str, settings: &HashMap<String, String>) {
    let server = Server::start_with(settings, SystemClock::shared()).await;
    let users = expected(model);
    // No password: Django's unusable one, and the weak hashes. Forgot/reset sets one.
    if let Some(mary) = users.iter().find(|u| u.case == "unusable") {
        let (status, _) = post(
            &server,
            "/auth/password/forgot",
            json!({"email": mary.email}),
        )
        .await;
        assert_eq!(status, 202);
        let address = mary.email.to_lowercase();
        let mails = wait_for_mail(&address, 1).await;
        let token = link_token(mails.last().unwrap());
        let new_password = "a-brand-new-passphrase-42";
        let (status, body) = post(
            &server,
            "/auth/password/reset",
            json!({"token": token, "new_password": new_password}),
        )
        .await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(log_in(&server, mary, new_password).await.0, 200);
    }
    // A weak hash is not kept: Django's password no longer works (until a reset).
    for weak in users.iter().filter(|u| note(&u.case) == Some("weak_hash")) {
        let (status, body) = log_in(&server, weak, weak.password.as_deref().unwrap()).await;
        assert_eq!(status, 401, "{}: {body}", weak.case);
    }
    let usable: Vec<&Expected> = users
        .iter()
        .filter(|u| skip_reason(&u.case).is_none() && note(&u.case).is_none())
        .collect();
    let logins = join_all(usable.iter().map(|user| {
        let server = &server;
        async move {
            let password = user.password.as_deref().unwrap();
            (*user, log_in(server, user, password).await)
        }
    }))
    .await;
    let store = store_of(settings).await;
    for (user, (status, body)) in logins {
        if !user.is_active {
            assert_eq!(
                (status, &body["code"]),
                (403, &json!("account_disabled")),
                "{}: {body}",
                user.case
            );
            continue;
        }
        assert_eq!(status, 200, "{} ({model}): {body}", user.case);
        let granted = claims(body["access_token"].as_str().unwrap());
        if user.is_superuser {
            assert!(
                granted.roles.iter().any(|r| r == roles::ADMIN),
                "{}",
                user.case
            );
        } else {
            assert_eq!(granted.entitlements, user.permissions, "{}", user.case);
        }
        if !user.email.is_empty() {
            let credentials = store
                .credentials(&user.email.trim().to_lowercase())
                .await
                .unwrap()
                .unwrap();
            assert!(
                credentials.password_hash.starts_with("$argon2id$"),
                "{}: the Django hash is replaced after the first login: {}",
                user.case,
                credentials.password_hash
            );
        }
    }
}

#[tokio::test]
async fn every_form_of_a_django_dump_imports_its_users_roles_and_permissions() {
    let runs = ["natural.json", "natural.jsonl", "pk.json", "pk.jsonl"]
        .into_iter()
        .map(|file| ("default", file))
        .chain([("custom", "natural.json")])
        .map(|(model, file)| imported(model, file));
    assert_eq!(join_all(runs).await.len(), 5);
}

#[tokio::test]
async fn imported_users_log_in_with_djangos_password_and_get_djangos_permissions() {
    let (default, custom) = tokio::join!(
        imported("default", "natural.json"),
        imported("custom", "natural.json")
    );
    tokio::join!(
        logs_everyone_in("default", &default),
        logs_everyone_in("custom", &custom)
    );
}

#[tokio::test]
async fn a_rerun_imports_nothing_new_and_a_dry_run_writes_nothing() {
    let settings = own_table().await;
    let file = fixtures().join("default/natural.jsonl");
    let (result, out, _) = import(&settings, &file, true).await;
    assert!(
        result.is_ok() && out.contains("would import"),
        "{result:?} {out}"
    );
    let store = store_of(&settings).await;
    assert_eq!(
        store.catalog().await.unwrap().version,
        0,
        "a dry run writes nothing"
    );
    assert!(store.users_page(10, None).await.unwrap().users.is_empty());

    let (result, _, first) = import(&settings, &file, false).await;
    assert!(result.is_ok(), "{result:?}");
    let catalog = store.catalog().await.unwrap();
    let (result, out, again) = import(&settings, &file, false).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(again["imported"], 0, "{out}");
    let present: Vec<&Value> = again["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["reason"] == "already_present")
        .collect();
    assert_eq!(json!(present.len()), first["imported"], "{again:#}");
    assert_eq!(
        again["skipped_by_reason"]["already_present"], first["imported"],
        "{again:#}"
    );
    assert!(out.contains("already_present"), "{out}");
    assert!(again["roles_created"].as_array().unwrap().is_empty());
    let after = store.catalog().await.unwrap();
    assert_eq!(after.holders, catalog.holders, "the counts did not move");
    assert_eq!(after.active_admins, catalog.active_admins);
}

#[tokio::test]
async fn a_dump_cut_in_the_middle_names_the_record_and_writes_nothing() {
    let dir = std::env::temp_dir().join(format!("django-cut-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["natural.json", "pk.jsonl"] {
        let whole = std::fs::read(fixtures().join("default").join(file)).unwrap();
        // Cut inside the last user of pk.jsonl (users first) / in the middle of natural.json.
        let mut end = whole.len() * 3 / 5;
        while whole[end - 1] == b'\n' {
            end -= 1;
        }
        let cut = &whole[..end];
        let path = dir.join(file);
        std::fs::write(&path, cut).unwrap();
        let settings = own_table().await;
        let (result, _, _) = import(&settings, &path, false).await;
        let err = result.expect_err("a cut dump is an error");
        assert!(err.contains("record "), "{file}: {err}");
        let number: usize = err["record ".len()..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("{file}: no record number in {err}"));
        assert!(number > 1, "{file}: {err}");
        let store = store_of(&settings).await;
        assert_eq!(
            store.catalog().await.unwrap().version,
            0,
            "{file}: roles written"
        );
        assert!(
            store.users_page(10, None).await.unwrap().users.is_empty(),
            "{file}: users written"
        );
    }
    // A record that is no user record: named too.
    let path = dir.join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"model\": \"auth.user\", \"pk\": 1, \"fields\": {\"password\": \"!x\", \"email\": \"a@example.com\", \"groups\": [], \"user_permissions\": []}}\n{\"model\": \"auth.user\", \"pk\": 2, \"fields\": {\"password\": \"!x\", \"email\": 7}}\n",
    )
    .unwrap();
    let settings = own_table().await;
    let (result, _, _) = import(&settings, &path, false).await;
    let err = result.unwrap_err();
    assert!(err.starts_with("record 2: email"), "{err}");
    // A group the dump lacks.
    std::fs::write(
        &path,
        "{\"model\": \"auth.user\", \"pk\": 1, \"fields\": {\"password\": \"!x\", \"email\": \"a@example.com\", \"groups\": [3], \"user_permissions\": []}}\n",
    )
    .unwrap();
    let (result, _, _) = import(&settings, &path, false).await;
    assert!(result.unwrap_err().contains("group 3"));
}

/// A dump of `n` users at `domain` (a Django pbkdf2 hash each; only the addresses matter).
fn synthetic_dump(path: &Path, domain: &str, n: usize) -> Vec<String> {
    let emails: Vec<String> = (0..n).map(|i| format!("User.{i}@{domain}")).collect();
    let records: Vec<Value> = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            json!({"model": "auth.user", "pk": i + 1, "fields": {
                "password": "pbkdf2_sha256$1000000$salt$aGFzaA==",
                "username": format!("user{i}"), "email": email, "first_name": "", "last_name": "",
                "is_active": true, "is_staff": i % 3 == 0, "is_superuser": false,
                "date_joined": "2020-01-01T00:00:00Z", "groups": [], "user_permissions": []}})
        })
        .collect();
    std::fs::write(path, serde_json::to_string(&records).unwrap()).unwrap();
    emails.iter().map(|e| e.to_lowercase()).collect()
}

#[tokio::test]
async fn an_import_racing_registrations_of_its_addresses_leaves_one_account_per_address() {
    for round in 0..3 {
        let settings = own_table().await;
        let server = Server::start_with(&settings, SystemClock::shared()).await;
        let domain = format!("race{round}-{}.example.com", uuid::Uuid::new_v4().simple());
        let path = std::env::temp_dir().join(format!("{domain}.json"));
        let emails = synthetic_dump(&path, &domain, 40);
        let registrations = join_all(emails.iter().step_by(4).map(|email| {
            let server = &server;
            async move {
                post(
                    server,
                    "/auth/register",
                    json!({"email": email, "password": integration_tests::PASSWORD}),
                )
                .await
                .0
            }
        }));
        let (statuses, (result, out, report)) =
            tokio::join!(registrations, import(&settings, &path, false));
        assert!(result.is_ok(), "{result:?} {out}");
        let registered = statuses.iter().filter(|s| **s == 201).count();
        let present = report["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["reason"] == "already_present")
            .count();
        // Every address is one account: imported, or registered (and then reported present).
        assert_eq!(
            present, registered,
            "round {round}: {statuses:?} {report:#}"
        );
        assert_eq!(
            report["imported"].as_u64().unwrap() as usize + registered,
            emails.len(),
            "round {round}"
        );
        let store = store_of(&settings).await;
        let profiles = store.users_page(100, None).await.unwrap().users;
        assert_eq!(
            profiles.len(),
            emails.len(),
            "round {round}: one profile per address"
        );
        let owners: BTreeSet<String> = profiles.iter().map(|u| u.email.to_string()).collect();
        assert_eq!(owners.len(), emails.len(), "round {round}");
        for profile in &profiles {
            let credentials = store
                .credentials(profile.email.as_str())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(credentials.user_id, profile.id, "round {round}");
        }
        let staff = profiles
            .iter()
            .filter(|u| u.roles.iter().any(|r| r == "staff"))
            .count();
        assert_eq!(
            store.catalog().await.unwrap().holders_of("staff"),
            i64::try_from(staff).unwrap(),
            "round {round}: the counts follow what was written"
        );
        let _ = std::fs::remove_file(&path);
    }
}
