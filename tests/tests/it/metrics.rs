//! The metrics a scripted flow writes, read back from the local server's `GET /_local/metrics`:
//! exact counts per metric and `Outcome` (each test server counts only its own requests, so
//! the tests running beside this one never mix in), and every EMF line it kept is a valid
//! embedded-metric document under the configured namespace that counts what the counts say.

use std::collections::BTreeMap;

use integration_tests::{PASSWORD, Server, logged_in, login, me, post, registered, settings};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};
use shared::config as cfg;
use shared::metrics::{Metric, Snapshot};

use crate::admin::{new_admin, tokens};

const NAMESPACE: &str = "AuthService/IntegrationTests";

async fn snapshot(server: &Server) -> Snapshot {
    let response = integration_tests::http()
        .get(server.url(devserver::LOCAL_METRICS))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// (metric, outcome) → count; the outcome is empty for a metric without dimensions.
fn counts(snapshot: &Snapshot) -> BTreeMap<(String, String), u64> {
    snapshot
        .counts
        .iter()
        .map(|c| {
            let outcome = c.dimensions.get("Outcome").cloned().unwrap_or_default();
            ((c.metric.clone(), outcome), c.count)
        })
        .collect()
}

/// Checks one line against the EMF specification; returns (metric, outcome) for each metric
/// it declares.
fn emf(line: &str, namespace: &str, now_ms: u64) -> Vec<(String, String)> {
    let value: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    assert!(!line.contains('\n'), "{line}");
    let root = value.as_object().expect("a JSON object");
    let aws = &root["_aws"];
    let timestamp = aws["Timestamp"].as_u64().expect("an integer Timestamp");
    assert!(
        timestamp <= now_ms && now_ms - timestamp < 600_000,
        "Timestamp {timestamp} is not the time of writing (now {now_ms})"
    );
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics");
    assert!(!directives.is_empty(), "{line}");
    let mut found = Vec::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], namespace, "{line}");
        let mut dimension_names = Vec::new();
        for set in directive["Dimensions"].as_array().expect("Dimensions") {
            let set = set.as_array().expect("a dimension set");
            assert!(set.len() <= 30, "{line}");
            for name in set {
                let name = name.as_str().expect("a dimension name");
                assert!(
                    root.get(name).is_some_and(Value::is_string),
                    "dimension {name} is not a top-level string member: {line}"
                );
                dimension_names.push(name.to_owned());
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics");
        assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
        for metric in metrics {
            let name = metric["Name"].as_str().expect("a metric Name");
            assert_eq!(
                root.get(name).and_then(Value::as_f64),
                Some(1.0),
                "metric {name} has no top-level value 1: {line}"
            );
            assert_eq!(metric["Unit"], "Count", "{line}");
            let outcome = if dimension_names.iter().any(|d| d == "Outcome") {
                root["Outcome"].as_str().unwrap_or_default().to_owned()
            } else {
                String::new()
            };
            found.push((name.to_owned(), outcome));
        }
    }
    found
}

#[tokio::test]
async fn a_scripted_flow_writes_exact_counts_as_valid_emf_lines() {
    let mut settings = settings();
    settings.insert(cfg::METRICS_NAMESPACE.to_owned(), NAMESPACE.to_owned());
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    // Created directly in the table (not through the server): not this server's to count.
    let (admin_email, _) = new_admin(&settings).await;

    // A user registers (a verification mail), logs in, refreshes, and the old refresh token is
    // presented again: reuse, which ends the session.
    let (_, access, first) = logged_in(&server).await;
    let user_id = integration_tests::verifier()
        .verify(&access, SystemClock.unix())
        .unwrap()
        .sub;
    let bearer = format!("Bearer {access}");
    assert_eq!(me(&server, Some(&bearer)).await.0, 200);
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": first})).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("token_reused")));
    assert_eq!(me(&server, Some(&bearer)).await.0, 403);
    assert_eq!(me(&server, Some("Bearer not-a-token")).await.0, 403);

    // Another user is guessed at until the lock, then refused even with the right password.
    let victim = registered(&server).await;
    for _ in 0..5 {
        let (status, body) = login(&server, &victim, "Wrong-password-123").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_credentials"))
        );
    }
    let (status, body) = login(&server, &victim, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );

    // An administrator disables the first user.
    let (admin_access, _) = tokens(&server, &admin_email).await;
    let (status, body) = integration_tests::with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{user_id}"),
        &admin_access,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let snapshot = snapshot(&server).await;
    assert_eq!(snapshot.namespace, NAMESPACE);
    let expected: BTreeMap<(String, String), u64> = [
        ("Login", "succeeded", 2),
        ("Login", "failed", 5),
        ("Login", "lockout_started", 1),
        ("Login", "locked", 1),
        ("Refresh", "rotated", 1),
        ("Refresh", "reuse_detected", 1),
        ("Authorizer", "allow", 2),
        ("Authorizer", "session_ended", 1),
        ("Authorizer", "invalid_token", 1),
        ("Account", "registered", 2),
        ("Account", "verification_sent", 2),
        ("Mail", "sent", 2),
        ("Admin", "user_disabled", 1),
    ]
    .into_iter()
    .map(|(m, o, n)| ((m.to_owned(), o.to_owned()), n))
    .collect();
    assert_eq!(counts(&snapshot), expected);

    // Every line is valid EMF, and the lines add up to the counts: one emission path.
    let now_ms = u64::try_from(SystemClock.unix()).unwrap() * 1000 + 1000;
    let mut from_lines: BTreeMap<(String, String), u64> = BTreeMap::new();
    for line in &snapshot.lines {
        for key in emf(line, NAMESPACE, now_ms) {
            *from_lines.entry(key).or_default() += 1;
        }
    }
    assert_eq!(from_lines, expected);
}

#[tokio::test]
async fn every_counted_metric_and_outcome_is_one_the_metrics_module_declares() {
    let server = Server::start().await;
    let (email, access, _) = logged_in(&server).await;
    let (status, _) = login(&server, &email, "Wrong-password-123").await;
    assert_eq!(status, 401);
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);
    let snapshot = snapshot(&server).await;
    assert_eq!(snapshot.namespace, cfg::DEFAULT_METRICS_NAMESPACE);
    assert!(!snapshot.counts.is_empty());
    for count in &snapshot.counts {
        let metric = Metric::ALL
            .into_iter()
            .find(|m| m.name() == count.metric)
            .unwrap_or_else(|| panic!("{} is not in Metric::ALL", count.metric));
        match count.dimensions.get("Outcome") {
            Some(outcome) => assert!(
                metric.outcomes().contains(&outcome.as_str()),
                "{}[{outcome}] is not a declared outcome",
                count.metric
            ),
            None => assert!(metric.dimensions().is_empty(), "{count:?}"),
        }
    }
}
