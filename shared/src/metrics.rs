//! Counters as CloudWatch Embedded Metric Format (EMF): one JSON line per counted event on
//! stdout, written directly (not through `tracing`, whose JSON formatter nests the fields where
//! CloudWatch would not find them). CloudWatch Logs turns each line into a value of 1 for its
//! metric, under the namespace `METRICS_NAMESPACE` (default `AuthService`).
//!
//! Every count comes from one of four places: the audit events of the services
//! ([`count_event`], called by `service::audit` and `service::admin::audit_admin`), the
//! authorizer's decision ([`count`] with [`Metric::Authorizer`]), each mail sent or not
//! (`mail::Mailer::send`) and each 5xx answered (`http::problem`). A metric has at most one
//! dimension, `Outcome`, whose values are fixed strings in the code, so the number of metrics
//! stays bounded (about 70).
//!
//! The local server runs each request inside [`Recorder::scope`]: the line is then counted in
//! that server's [`Recorder`] (what `GET /_local/metrics` shows), kept among its last lines, and
//! echoed to stdout only when the process called [`init`] (`make dev`, and every function on
//! Lambda); the integration tests' servers never write to stdout.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

/// The namespace when `METRICS_NAMESPACE` is not set.
pub use settings::DEFAULT_METRICS_NAMESPACE;

/// The one dimension a metric may have.
pub const OUTCOME: &str = "Outcome";

/// What is counted. Each is one metric name; most are split by `Outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// `POST /auth/login` and its second step: `succeeded`, `failed`, `locked`, ...
    Login,
    /// `POST /auth/refresh`: `rotated`, `reuse_detected`.
    Refresh,
    /// The authorizer's decisions: `allow`, or the reason of a deny.
    Authorizer,
    /// Password changes, resets and reset requests.
    Password,
    /// Two-factor enrolment, removal, codes.
    TwoFactor,
    /// Registration and email-address changes.
    Account,
    /// Sessions ended: logout, one session, all of them, evicted by the cap.
    Session,
    /// Administration actions (the API and `authctl`).
    Admin,
    /// Mail handed to SES: `sent` or `failed`.
    Mail,
    /// Answers with a 5xx status (no dimension; the problem code is the line's `Outcome`
    /// member, for Logs Insights).
    ServerError,
}

impl Metric {
    /// Every metric the code writes.
    pub const ALL: [Metric; 10] = [
        Metric::Login,
        Metric::Refresh,
        Metric::Authorizer,
        Metric::Password,
        Metric::TwoFactor,
        Metric::Account,
        Metric::Session,
        Metric::Admin,
        Metric::Mail,
        Metric::ServerError,
    ];

    /// The metric name in CloudWatch.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::Login => "Login",
            Metric::Refresh => "Refresh",
            Metric::Authorizer => "Authorizer",
            Metric::Password => "Password",
            Metric::TwoFactor => "TwoFactor",
            Metric::Account => "Account",
            Metric::Session => "Session",
            Metric::Admin => "Admin",
            Metric::Mail => "Mail",
            Metric::ServerError => "ServerError",
        }
    }

    /// The dimension names of its one dimension set: `Outcome`, or none.
    pub const fn dimensions(self) -> &'static [&'static str] {
        match self {
            Metric::ServerError => &[],
            _ => &[OUTCOME],
        }
    }

    /// The `Outcome` values the code writes for this metric (for the template test, the
    /// dashboard and the docs); empty for a metric without dimensions.
    pub fn outcomes(self) -> Vec<&'static str> {
        if self.dimensions().is_empty() {
            return Vec::new();
        }
        let mut found: Vec<&'static str> = EVENTS
            .iter()
            .filter(|(_, metric, _)| *metric == self)
            .map(|(_, _, outcome)| *outcome)
            .chain(
                EXTRA_OUTCOMES
                    .iter()
                    .filter(|(metric, _)| *metric == self)
                    .map(|(_, outcome)| *outcome),
            )
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Every audit event the services write, and the metric and `Outcome` it counts as.
pub const EVENTS: &[(&str, Metric, &str)] = &[
    ("login_succeeded", Metric::Login, "succeeded"),
    ("login_failed", Metric::Login, "failed"),
    ("login_locked_out", Metric::Login, "locked"),
    ("login_lockout_started", Metric::Login, "lockout_started"),
    ("login_account_disabled", Metric::Login, "disabled"),
    ("login_unverified_email", Metric::Login, "unverified"),
    (
        "login_stale_credentials",
        Metric::Login,
        "stale_credentials",
    ),
    ("mfa_challenge_issued", Metric::Login, "mfa_required"),
    ("mfa_challenge_failed", Metric::Login, "mfa_failed"),
    ("mfa_verified", Metric::Login, "mfa_succeeded"),
    ("token_refreshed", Metric::Refresh, "rotated"),
    ("token_reuse_detected", Metric::Refresh, "reuse_detected"),
    ("password_changed", Metric::Password, "changed"),
    ("password_change_failed", Metric::Password, "change_failed"),
    (
        "password_change_locked_out",
        Metric::Password,
        "change_locked",
    ),
    (
        "password_reset_requested",
        Metric::Password,
        "reset_requested",
    ),
    ("password_reset", Metric::Password, "reset"),
    (
        "mfa_enrolment_started",
        Metric::TwoFactor,
        "enrolment_started",
    ),
    ("mfa_enabled", Metric::TwoFactor, "enabled"),
    ("mfa_disabled", Metric::TwoFactor, "disabled"),
    ("mfa_code_failed", Metric::TwoFactor, "code_failed"),
    ("mfa_locked_out", Metric::TwoFactor, "locked"),
    ("mfa_enrol_failed", Metric::TwoFactor, "enrol_failed"),
    ("mfa_enrol_locked_out", Metric::TwoFactor, "enrol_locked"),
    ("mfa_disable_failed", Metric::TwoFactor, "disable_failed"),
    (
        "mfa_disable_locked_out",
        Metric::TwoFactor,
        "disable_locked",
    ),
    (
        "mfa_recovery_code_used",
        Metric::TwoFactor,
        "recovery_code_used",
    ),
    (
        "recovery_codes_regenerated",
        Metric::TwoFactor,
        "recovery_codes_regenerated",
    ),
    (
        "mfa_removed_on_address_proof",
        Metric::TwoFactor,
        "removed_on_address_proof",
    ),
    ("user_registered", Metric::Account, "registered"),
    (
        "email_verification_sent",
        Metric::Account,
        "verification_sent",
    ),
    ("email_verified", Metric::Account, "email_verified"),
    (
        "email_change_requested",
        Metric::Account,
        "email_change_requested",
    ),
    (
        "email_change_failed",
        Metric::Account,
        "email_change_failed",
    ),
    (
        "email_change_locked_out",
        Metric::Account,
        "email_change_locked",
    ),
    ("email_changed", Metric::Account, "email_changed"),
    ("logout", Metric::Session, "logout"),
    ("session_ended", Metric::Session, "ended"),
    ("session_evicted", Metric::Session, "evicted"),
    ("sessions_revoked", Metric::Session, "revoked_all"),
    ("admin_roles_changed", Metric::Admin, "roles_changed"),
    ("admin_user_disabled", Metric::Admin, "user_disabled"),
    ("admin_user_enabled", Metric::Admin, "user_enabled"),
    ("admin_user_renamed", Metric::Admin, "user_renamed"),
    ("admin_user_deleted", Metric::Admin, "user_deleted"),
    ("admin_sessions_revoked", Metric::Admin, "sessions_revoked"),
    ("admin_mfa_removed", Metric::Admin, "mfa_removed"),
    ("admin_role_saved", Metric::Admin, "role_saved"),
    ("admin_role_deleted", Metric::Admin, "role_deleted"),
    ("admin_created", Metric::Admin, "created"),
];

/// The `Outcome`s written outside the audit events: the authorizer's and the mail's.
const EXTRA_OUTCOMES: &[(Metric, &str)] = &[
    (Metric::Authorizer, authz::ALLOW),
    (Metric::Authorizer, authz::NO_TOKEN),
    (Metric::Authorizer, authz::NOT_A_REQUEST),
    (Metric::Authorizer, authz::INVALID_TOKEN),
    (Metric::Authorizer, authz::MISSING_PERMISSION),
    (Metric::Authorizer, authz::SESSION_ENDED),
    (Metric::Authorizer, authz::CREDENTIALS_CHANGED),
    (Metric::Authorizer, authz::ROLE_REVOKED),
    (Metric::Authorizer, authz::ROLE_NARROWED),
    (Metric::Authorizer, authz::NO_SESSION),
    (Metric::Authorizer, authz::NO_USER),
    (Metric::Authorizer, authz::CHECK_FAILED),
    (Metric::Mail, MAIL_SENT),
    (Metric::Mail, MAIL_FAILED),
];

/// The authorizer's `Outcome`s: `allow`, or why it denied.
pub mod authz {
    pub const ALLOW: &str = "allow";
    pub const NO_TOKEN: &str = "no_token";
    pub const NOT_A_REQUEST: &str = "not_a_request";
    pub const INVALID_TOKEN: &str = "invalid_token";
    pub const MISSING_PERMISSION: &str = "missing_permission";
    pub const SESSION_ENDED: &str = "session_ended";
    pub const CREDENTIALS_CHANGED: &str = "credentials_changed";
    pub const ROLE_REVOKED: &str = "role_revoked";
    pub const ROLE_NARROWED: &str = "role_narrowed";
    pub const NO_SESSION: &str = "no_session";
    pub const NO_USER: &str = "no_user";
    /// The revocation check could not read the table (the authorizer denies: fails closed).
    pub const CHECK_FAILED: &str = "check_failed";
}

/// A mail SES accepted.
pub const MAIL_SENT: &str = "sent";
/// A mail SES refused, or that timed out.
pub const MAIL_FAILED: &str = "failed";

/// The metric and `Outcome` of an audit event (`None` for an event not in [`EVENTS`]).
pub fn of_event(event: &str) -> Option<(Metric, &'static str)> {
    EVENTS
        .iter()
        .find(|(name, _, _)| *name == event)
        .map(|(_, metric, outcome)| (*metric, *outcome))
}

/// Counts an audit event (see [`EVENTS`]). An event without a metric is a bug the debug
/// builds (every test) catch.
pub fn count_event(event: &str) {
    let counted = of_event(event);
    debug_assert!(
        counted.is_some(),
        "audit event {event} has no metric (metrics::EVENTS)"
    );
    if let Some((metric, outcome)) = counted {
        count(metric, outcome);
    }
}

/// Whether lines outside a [`Recorder`]'s scope go to stdout (set by [`init`]).
static STDOUT: AtomicBool = AtomicBool::new(false);
static NAMESPACE: OnceLock<String> = OnceLock::new();

/// For a process that writes its metrics to stdout (every function on Lambda, `make dev`):
/// the namespace, and lines to stdout from now on.
pub fn init(namespace: String) {
    let _ = NAMESPACE.set(namespace);
    STDOUT.store(true, Ordering::Relaxed);
}

fn namespace() -> &'static str {
    NAMESPACE
        .get()
        .map_or(DEFAULT_METRICS_NAMESPACE, String::as_str)
}

tokio::task_local! {
    static RECORDER: Arc<Recorder>;
}

/// Adds 1 to `metric` with this `Outcome`: one EMF line.
pub fn count(metric: Metric, outcome: &'static str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let recorded = RECORDER.try_with(|recorder| {
        let line = line(&recorder.namespace, metric, outcome, now);
        if STDOUT.load(Ordering::Relaxed) {
            write_stdout(&line);
        }
        recorder.record(metric, outcome, line);
    });
    if recorded.is_err() && STDOUT.load(Ordering::Relaxed) {
        write_stdout(&line(namespace(), metric, outcome, now));
    }
}

fn write_stdout(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes());
    let _ = out.write_all(b"\n");
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "_aws")]
    aws: Aws<'a>,
    #[serde(rename = "Outcome")]
    outcome: &'a str,
    /// The metric's value: `"<Name>": 1`.
    #[serde(flatten)]
    value: BTreeMap<&'a str, u8>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Aws<'a> {
    timestamp: u64,
    #[serde(rename = "CloudWatchMetrics")]
    cloudwatch_metrics: [Directive<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    namespace: &'a str,
    dimensions: [&'a [&'a str]; 1],
    metrics: [MetricDefinition<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDefinition<'a> {
    name: &'a str,
    unit: &'a str,
}

/// The EMF line (without its newline) for one count of `metric` at `timestamp_ms`.
pub fn line(namespace: &str, metric: Metric, outcome: &str, timestamp_ms: u64) -> String {
    let line = Line {
        aws: Aws {
            timestamp: timestamp_ms,
            cloudwatch_metrics: [Directive {
                namespace,
                dimensions: [metric.dimensions()],
                metrics: [MetricDefinition {
                    name: metric.name(),
                    unit: "Count",
                }],
            }],
        },
        outcome,
        value: BTreeMap::from([(metric.name(), 1)]),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// How many lines a [`Recorder`] keeps (the newest).
pub const KEPT_LINES: usize = 1000;

/// A local server's counts and its last lines.
#[derive(Debug)]
pub struct Recorder {
    namespace: String,
    state: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    counts: BTreeMap<(Metric, &'static str), u64>,
    lines: VecDeque<String>,
}

/// One metric's count, as `GET /_local/metrics` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Count {
    pub metric: String,
    /// Dimension name → value (empty for a metric without dimensions).
    pub dimensions: BTreeMap<String, String>,
    pub count: u64,
}

/// What `GET /_local/metrics` answers.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub namespace: String,
    pub counts: Vec<Count>,
    /// The last [`KEPT_LINES`] EMF lines, oldest first, as written.
    pub lines: Vec<String>,
}

impl Recorder {
    pub fn new(namespace: String) -> Arc<Self> {
        Arc::new(Self {
            namespace,
            state: Mutex::new(Recorded::default()),
        })
    }

    /// Runs `work` with its counts going to this recorder.
    pub async fn scope<F: std::future::Future>(self: &Arc<Self>, work: F) -> F::Output {
        RECORDER.scope(self.clone(), work).await
    }

    fn record(&self, metric: Metric, outcome: &'static str, line: String) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let key = if metric.dimensions().is_empty() {
            ""
        } else {
            outcome
        };
        *state.counts.entry((metric, key)).or_default() += 1;
        if state.lines.len() >= KEPT_LINES {
            state.lines.pop_front();
        }
        state.lines.push_back(line);
    }

    /// The counts so far and the kept lines.
    pub fn snapshot(&self) -> Snapshot {
        let Ok(state) = self.state.lock() else {
            return Snapshot {
                namespace: self.namespace.clone(),
                counts: Vec::new(),
                lines: Vec::new(),
            };
        };
        let counts = state
            .counts
            .iter()
            .map(|((metric, outcome), count)| Count {
                metric: metric.name().to_owned(),
                dimensions: metric
                    .dimensions()
                    .iter()
                    .map(|d| ((*d).to_owned(), (*outcome).to_owned()))
                    .collect(),
                count: *count,
            })
            .collect();
        Snapshot {
            namespace: self.namespace.clone(),
            counts,
            lines: state.lines.iter().cloned().collect(),
        }
    }

    /// One line per metric and outcome counted, for a terminal.
    pub fn summary(&self) -> String {
        self.snapshot()
            .counts
            .iter()
            .map(|c| match c.dimensions.get(OUTCOME) {
                Some(outcome) => format!("{}[{outcome}]={}", c.metric, c.count),
                None => format!("{}={}", c.metric, c.count),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_line_is_the_exact_emf_document() {
        let text = line("AuthService", Metric::Login, "failed", 1_733_612_345_678);
        assert!(!text.contains('\n'));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({
                "_aws": {
                    "Timestamp": 1_733_612_345_678_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "AuthService",
                        "Dimensions": [["Outcome"]],
                        "Metrics": [{"Name": "Login", "Unit": "Count"}]
                    }]
                },
                "Outcome": "failed",
                "Login": 1
            })
        );
    }

    #[test]
    fn a_metric_without_dimensions_declares_an_empty_dimension_set() {
        let value: Value =
            serde_json::from_str(&line("Auth/Prod", Metric::ServerError, "internal_error", 5))
                .unwrap();
        assert_eq!(
            value["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(value["ServerError"], 1);
        assert_eq!(value["Outcome"], "internal_error");
    }

    /// What the specification asks of a document: `_aws` with an integer `Timestamp` and
    /// directives whose namespace is a non-empty string, every dimension a top-level string
    /// member and every metric a top-level number; at most 30 dimensions and 100 metrics.
    #[test]
    fn every_line_the_code_can_write_is_valid_emf() {
        for metric in Metric::ALL {
            let outcomes = match metric.outcomes() {
                o if o.is_empty() => vec!["internal_error"],
                o => o,
            };
            for outcome in outcomes {
                let value: Value =
                    serde_json::from_str(&line(DEFAULT_METRICS_NAMESPACE, metric, outcome, 1))
                        .unwrap();
                assert!(value["_aws"]["Timestamp"].is_u64());
                for directive in value["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                    assert!(!directive["Namespace"].as_str().unwrap().is_empty());
                    for set in directive["Dimensions"].as_array().unwrap() {
                        let set = set.as_array().unwrap();
                        assert!(set.len() <= 30);
                        for name in set {
                            assert!(value[name.as_str().unwrap()].is_string());
                        }
                    }
                    let metrics = directive["Metrics"].as_array().unwrap();
                    assert!(!metrics.is_empty() && metrics.len() <= 100);
                    for m in metrics {
                        assert!(value[m["Name"].as_str().unwrap()].is_number());
                    }
                }
            }
        }
    }

    #[test]
    fn event_names_are_unique_and_outcomes_bounded() {
        let mut names: Vec<&str> = EVENTS.iter().map(|(e, _, _)| *e).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "an audit event is listed twice");
        let total: usize = Metric::ALL.iter().map(|m| m.outcomes().len().max(1)).sum();
        assert!(total < 100, "{total} metrics");
        for (event, metric, outcome) in EVENTS {
            assert_eq!(of_event(event), Some((*metric, *outcome)));
        }
        assert_eq!(of_event("no_such_event"), None);
    }

    #[tokio::test]
    async fn a_recorder_counts_what_its_scope_writes_and_keeps_the_lines() {
        let recorder = Recorder::new("Test".to_owned());
        recorder
            .scope(async {
                count_event("login_failed");
                count_event("login_failed");
                count(Metric::ServerError, "internal_error");
            })
            .await;
        // Outside the scope: not this recorder's.
        count_event("login_failed");
        let snapshot = recorder.snapshot();
        assert_eq!(snapshot.namespace, "Test");
        assert_eq!(
            snapshot.counts,
            vec![
                Count {
                    metric: "Login".into(),
                    dimensions: BTreeMap::from([("Outcome".into(), "failed".into())]),
                    count: 2,
                },
                Count {
                    metric: "ServerError".into(),
                    dimensions: BTreeMap::new(),
                    count: 1,
                },
            ]
        );
        assert_eq!(snapshot.lines.len(), 3);
        let first: Value = serde_json::from_str(&snapshot.lines[0]).unwrap();
        assert_eq!(first["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Test");
        assert_eq!(recorder.summary(), "Login[failed]=2 ServerError=1");
    }
}
