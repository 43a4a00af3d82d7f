//! The report: criterion's estimates read back, every target with PASS/MISS, the printed
//! table, and `target/bench/report.json` with the same figures.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::inproc::InProcess;
use crate::lambda::ColdStart;
use crate::load::LoadResult;
use crate::stats::{Summary, human, micros, millis, round};

/// The criterion benchmarks (`benches/tokens.rs`), by the name criterion stores them under.
pub const CRITERION: &[&str] = &[
    "sign_access_token",
    "verify_access_token",
    "authorizer_decision",
    "argon2id_hash",
    "argon2id_verify",
    "django_pbkdf2_sha256_verify",
];

/// One criterion estimate (nanoseconds).
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    pub median_ns: f64,
    pub mean_ns: f64,
}

/// Reads `target/criterion/<name>/new/estimates.json`; `None` when the benchmark has not run.
pub fn criterion_estimate(target_dir: &Path, name: &str) -> Option<Estimate> {
    let path = target_dir
        .join("criterion")
        .join(name)
        .join("new/estimates.json");
    let value: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let point = |key: &str| value.get(key)?.get("point_estimate")?.as_f64();
    Some(Estimate {
        median_ns: point("median")?,
        mean_ns: point("mean")?,
    })
}

pub struct Results {
    pub inproc: InProcess,
    pub criterion: Vec<(&'static str, Option<Estimate>)>,
    pub cold: Vec<ColdStart>,
    /// Every function's init alone.
    pub inits: Vec<crate::lambda::Init>,
    pub growth: Vec<crate::lambda::Growth>,
    pub server_spawn: Summary,
    pub loads: Vec<LoadResult>,
    pub server_peak_rss_kib: u64,
    pub server_size_bytes: u64,
    /// Resident memory under sustained logins (`soak`).
    pub soaks: Vec<crate::soak::Soak>,
    /// `authctl import-django` of synthetic users.
    pub import: crate::import::Import,
}

/// One target, measured.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub target: String,
    pub measured: String,
    pub pass: bool,
}

impl Target {
    /// `value <= limit`.
    fn at_most(
        name: impl Into<String>,
        limit: f64,
        value: f64,
        show: impl Fn(f64) -> String,
    ) -> Self {
        Self {
            name: name.into(),
            target: format!("≤ {}", show(limit)),
            measured: show(value),
            pass: value <= limit,
        }
    }

    fn verdict(&self) -> &'static str {
        if self.pass { "PASS" } else { "MISS" }
    }
}

fn us(v: f64) -> String {
    format!("{v:.1} µs")
}

fn ms(v: f64) -> String {
    format!("{v:.2} ms")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn show_mib(v: f64) -> String {
    format!("{v:.1} MiB")
}

/// Round-trip targets: exact for most routes, "at most" for refresh.
const ROUND_TRIPS: &[(&str, u64, bool)] = &[
    // The registration mail budget's two conditional UpdateItems (the address's, then the
    // service's hour), then the 3-item transaction. (The per-source counter, one more
    // UpdateItem, is off here: every bench request comes from one address.)
    ("register", 3, true),
    // The credentials GetItem and the reservation PutItem (sent together: one round trip of
    // latency), the session transaction, the session-cap Query.
    ("login", 4, true),
    ("refresh", 2, false),
    ("me", 1, true),
    // The session revocation check (the default): one BatchGetItem (session and epoch).
    ("authorizer", 1, true),
    ("authorizer_revocation_off", 0, true),
    ("jwks", 0, true),
];

pub fn targets(r: &Results) -> Vec<Target> {
    let mut out = Vec::new();
    let handler = |name: &str| r.inproc.handler(name);
    // The target is for the decision without any database; the session check's
    // GetItem is listed in the table beside the bare GetItem.
    for name in ["authorizer_revocation_off"] {
        if let Some(a) = handler(name) {
            out.push(Target::at_most(
                format!("{name} decision, in-process median"),
                100.0,
                micros(a.summary.median),
                us,
            ));
        }
    }
    for name in [
        "authorizer",
        crate::AUTHORIZER_PRECONNECT,
        "authorizer_revocation_off",
    ] {
        if let Some(c) = r.cold.iter().find(|c| c.name == name) {
            out.push(Target::at_most(
                format!("{name} binary init (spawn → first /next), median"),
                20.0,
                millis(c.init.median),
                ms,
            ));
        }
    }
    if let Some(slowest) = r.inits.iter().max_by_key(|i| i.init.median) {
        out.push(Target::at_most(
            format!(
                "init of every function ({}), the slowest median: {}",
                r.inits.len(),
                slowest.binary
            ),
            20.0,
            millis(slowest.init.median),
            ms,
        ));
    }
    for c in &r.cold {
        out.push(Target::at_most(
            format!("{} peak RSS", c.name),
            40.0,
            mib(c.peak_rss_kib),
            show_mib,
        ));
    }
    // A binary that runs under several settings has its size listed once. The deployable
    // arm64 artifact counts when `make build` has made it; otherwise the host's binary.
    for c in r.cold.iter().filter(|c| c.name == c.binary) {
        let (which, bytes) = match c.artifact_bytes {
            Some(bytes) => ("arm64 artifact", bytes),
            None => ("x86_64 release, no arm64 artifact yet", c.size_bytes),
        };
        out.push(Target::at_most(
            format!("{} stripped size ({which})", c.name),
            12.0,
            bytes as f64 / (1024.0 * 1024.0),
            show_mib,
        ));
    }
    out.push(Target {
        name: format!(
            "authctl import-django, {} users into DynamoDB Local",
            r.import.users
        ),
        target: format!("≥ {:.0} users/s", crate::import::TARGET_PER_SECOND),
        measured: format!(
            "{:.0} users/s ({} in {:.1} s)",
            r.import.per_second(),
            r.import.imported,
            r.import.seconds
        ),
        pass: r.import.imported == r.import.users
            && r.import.per_second() >= crate::import::TARGET_PER_SECOND,
    });
    let get_item = micros(r.inproc.get_item.summary.median);
    for name in ["refresh", "me"] {
        if let Some(h) = handler(name) {
            let ratio = micros(h.summary.median) / get_item;
            out.push(Target {
                name: format!(
                    "{name} handler median vs bare GetItem median ({})",
                    human(r.inproc.get_item.summary.median)
                ),
                target: "≤ 3.00×".into(),
                measured: format!("{ratio:.2}× ({})", human(h.summary.median)),
                pass: ratio <= 3.0,
            });
        }
    }
    if let Some(h) = handler("login") {
        let hash = r.inproc.argon2id_hash.summary.median;
        let ratio = h.summary.median.as_secs_f64() / hash.as_secs_f64();
        out.push(Target {
            name: format!(
                "login handler median vs one Argon2id hash ({})",
                human(hash)
            ),
            target: "≤ 1.20×".into(),
            measured: format!("{ratio:.2}× ({})", human(h.summary.median)),
            pass: ratio <= 1.2,
        });
    }
    for (name, limit) in [("me", 0.1), ("refresh", 0.27), ("login", 60.0)] {
        if let Some(l) = r.loads.iter().find(|l| l.name == name) {
            let value = l.cpu_per_request().as_secs_f64() * 1e3;
            out.push(Target::at_most(
                format!("server CPU per request, {name}"),
                limit,
                value,
                |v| format!("{v:.3} ms"),
            ));
        }
    }
    for soak in &r.soaks {
        let slope = soak.slope_kib_per_1000().unwrap_or(f64::INFINITY);
        out.push(Target::at_most(
            format!(
                "RSS growth after warm-up, {} ({} logins)",
                soak.name, soak.logins
            ),
            crate::soak::FLAT_KIB_PER_1000,
            slope,
            |v| format!("{v:.1} KiB / 1,000 logins"),
        ));
    }
    out.push(Target::at_most(
        "local server spawn → first answer, median",
        30.0,
        millis(r.server_spawn.median),
        ms,
    ));
    // Base + the hashes in flight × m: about 19 MiB at start, and one 19 MiB Argon2id buffer
    // per CPU (the most that hash at once), so about 60 MiB on two cores.
    out.push(Target::at_most(
        "local server peak RSS under load",
        60.0,
        mib(r.server_peak_rss_kib),
        show_mib,
    ));
    for (name, target, exact) in ROUND_TRIPS {
        if let Some(h) = handler(name) {
            let (max, min) = (h.max_round_trips(), h.min_round_trips());
            let measured = if max == min {
                format!("{max} ({})", h.operations())
            } else {
                format!("{min}–{max} ({})", h.operations())
            };
            out.push(Target {
                name: format!("DynamoDB round trips, {name}"),
                target: if *exact {
                    format!("= {target}")
                } else {
                    format!("≤ {target}")
                },
                measured,
                pass: if *exact {
                    max == *target && min == *target
                } else {
                    max <= *target
                },
            });
        }
    }
    out
}

fn line(out: &mut String, cells: &[String], widths: &[usize]) {
    let mut text = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        let _ = write!(text, "{cell:<width$}  ");
    }
    let _ = writeln!(out, "{}", text.trim_end());
}

fn table(out: &mut String, title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let _ = writeln!(out, "\n{title}");
    line(
        out,
        &header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>(),
        &widths,
    );
    line(
        out,
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
        &widths,
    );
    for row in rows {
        line(out, row, &widths);
    }
}

/// Figures from the same run that say what a missed ratio is made of: each function's median
/// against the sum of the baselines it cannot do without, and the SDK's own CPU per call.
pub fn context(r: &Results) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let get = r.inproc.get_item.summary.median;
    let transact = r.inproc.transact_write.summary.median;
    let hash = r.inproc.argon2id_hash.summary.median;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
    if let Some(h) = r.inproc.handler("refresh") {
        out.push((
            "refresh median vs bare GetItem + bare TransactWriteItems (its two round trips)".into(),
            format!(
                "{:.2}× ({} vs {} + {})",
                ratio(h.summary.median, get + transact),
                human(h.summary.median),
                human(get),
                human(transact)
            ),
        ));
    }
    if let Some(h) = r.inproc.handler("login") {
        out.push((
            "login median vs Argon2id hash + bare GetItem + bare TransactWriteItems".into(),
            format!(
                "{:.2}× ({} vs {} + {} + {})",
                ratio(h.summary.median, hash + get + transact),
                human(h.summary.median),
                human(hash),
                human(get),
                human(transact)
            ),
        ));
    }
    out.push((
        "client CPU of one bare GetItem (the AWS SDK's share of every round trip)".into(),
        human(r.inproc.get_item.cpu_per_call),
    ));
    if let Some(h) = r.inproc.handler("me") {
        out.push((
            "me handler CPU beyond its one GetItem (ours)".into(),
            human(
                h.cpu_per_call
                    .saturating_sub(r.inproc.get_item.cpu_per_call),
            ),
        ));
    }
    out
}

/// The printed report.
pub fn render(r: &Results, targets: &[Target]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {} CPUs, {} {}. Every figure below was measured in this run; each ratio is to a baseline measured in it too.\n",
        std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get),
        std::env::consts::OS,
        std::env::consts::ARCH,
    );
    let row = |h: &crate::inproc::Handler, label: String| {
        vec![
            label,
            h.summary.samples.to_string(),
            human(h.summary.median),
            human(h.summary.p99),
            human(h.cpu_per_call),
            format!(
                "{} ({}), retries {}",
                h.max_round_trips(),
                h.operations(),
                h.retries()
            ),
        ]
    };
    let rows: Vec<Vec<String>> = r
        .inproc
        .handlers
        .iter()
        .map(|h| row(h, h.name.to_owned()))
        .chain(
            r.inproc
                .baselines()
                .iter()
                .map(|h| row(h, format!("{} (baseline)", h.name))),
        )
        .collect();
    table(
        &mut out,
        "In-process handler invocations, one at a time, DynamoDB Local behind them",
        &[
            "function",
            "samples",
            "median",
            "p99",
            "client CPU/call",
            "DynamoDB round trips per request (counted)",
        ],
        &rows,
    );

    let rows: Vec<Vec<String>> = r
        .criterion
        .iter()
        .map(|(name, e)| match e {
            Some(e) => vec![
                (*name).to_owned(),
                human(Duration::from_secs_f64(e.median_ns / 1e9)),
                human(Duration::from_secs_f64(e.mean_ns / 1e9)),
            ],
            None => vec![(*name).to_owned(), "not run".into(), "not run".into()],
        })
        .collect();
    table(
        &mut out,
        "Token and password work alone (criterion)",
        &["benchmark", "median", "mean"],
        &rows,
    );

    let rows: Vec<Vec<String>> = r
        .cold
        .iter()
        .map(|c| {
            vec![
                c.name.to_owned(),
                human(c.init.median),
                human(c.first_answer.median),
                human(c.first_invocation.median),
                human(c.warm_invocation.median),
                show_mib(mib(c.peak_rss_kib)),
                show_mib(c.size_bytes as f64 / (1024.0 * 1024.0)),
                c.artifact_bytes.map_or_else(
                    || "(make build)".to_owned(),
                    |b| show_mib(b as f64 / (1024.0 * 1024.0)),
                ),
            ]
        })
        .collect();
    let starts = r.cold.first().map_or(0, |c| c.starts);
    table(
        &mut out,
        &format!(
            "Cold start of the release binaries (local Runtime API emulator; medians of {starts} starts)"
        ),
        &[
            "function",
            "init",
            "first answer",
            "1st invocation",
            "warm invocation",
            "peak RSS",
            "size (x86_64)",
            "size (arm64 artifact)",
        ],
        &rows,
    );

    let rows: Vec<Vec<String>> = r
        .inits
        .iter()
        .map(|i| {
            vec![
                i.binary.to_owned(),
                human(i.init.median),
                human(i.init.max),
                show_mib(mib(i.peak_rss_kib)),
            ]
        })
        .collect();
    table(
        &mut out,
        &format!(
            "Init of every function alone (spawn → first /next; {} starts each, no event)",
            crate::INIT_STARTS
        ),
        &["function", "median", "max", "peak RSS"],
        &rows,
    );

    let rows: Vec<Vec<String>> = r
        .soaks
        .iter()
        .map(|s| {
            let (first, last) = s.span_kib().unwrap_or((0, 0));
            vec![
                s.name.to_owned(),
                s.logins.to_string(),
                format!("{:.0} s", s.seconds),
                show_mib(mib(first)),
                show_mib(mib(last)),
                s.slope_kib_per_1000()
                    .map_or_else(String::new, |v| format!("{v:.1} KiB")),
            ]
        })
        .collect();
    table(
        &mut out,
        "Resident memory under sustained logins (VmRSS; after the first 20 % of samples)",
        &[
            "process",
            "logins",
            "time",
            "RSS after warm-up",
            "RSS at the end",
            "slope / 1,000 logins",
        ],
        &rows,
    );

    let marks = [1usize, 4, 8, 16, 24];
    let rows: Vec<Vec<String>> = r
        .growth
        .iter()
        .map(|g| {
            let mut row = vec![g.label.to_owned()];
            row.extend(marks.iter().map(|n| {
                g.peak_rss_after_each
                    .get(n - 1)
                    .map_or_else(String::new, |kib| show_mib(mib(*kib)))
            }));
            row.push(human(g.warm_invocation.median));
            row
        })
        .collect();
    table(
        &mut out,
        "Peak RSS of one login process after n invocations (Argon2id buffers and glibc malloc)",
        &[
            "process",
            "n=1",
            "n=4",
            "n=8",
            "n=16",
            "n=24",
            "warm invocation",
        ],
        &rows,
    );

    let rows: Vec<Vec<String>> = r
        .loads
        .iter()
        .map(|l| {
            vec![
                l.name.to_owned(),
                l.requests.to_string(),
                format!("{:.0}", l.rps()),
                human(l.p50),
                human(l.p99),
                format!("{:.3} ms", l.cpu_per_request().as_secs_f64() * 1e3),
                show_mib(mib(l.peak_rss_kib)),
                format!("{:.0} B", l.log_bytes_per_request()),
            ]
        })
        .collect();
    table(
        &mut out,
        &format!(
            "Local server over HTTP (wrk, {} connections, 127.0.0.1)",
            crate::load::CONNECTIONS
        ),
        &[
            "route",
            "requests",
            "req/s",
            "p50",
            "p99",
            "server CPU/request",
            "server peak RSS so far",
            "log bytes/request (info)",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "local server: spawn → first answer {} (median of {}), peak RSS under load {}, binary {}",
        human(r.server_spawn.median),
        r.server_spawn.samples,
        show_mib(mib(r.server_peak_rss_kib)),
        show_mib(r.server_size_bytes as f64 / (1024.0 * 1024.0)),
    );

    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.target.clone(),
                t.measured.clone(),
                t.verdict().to_owned(),
            ]
        })
        .collect();
    table(
        &mut out,
        "Targets",
        &["target", "limit", "measured", ""],
        &rows,
    );
    let missed = targets.iter().filter(|t| !t.pass).count();
    let _ = writeln!(
        out,
        "\n{} of {} targets met; {missed} missed.",
        targets.len() - missed,
        targets.len()
    );
    let rows: Vec<Vec<String>> = context(r).into_iter().map(|(k, v)| vec![k, v]).collect();
    table(
        &mut out,
        "What the ratios are made of (same run)",
        &["comparison", "measured"],
        &rows,
    );
    out
}

/// The JSON report.
pub fn json(r: &Results, targets: &[Target], meta: Value) -> Value {
    let handlers: serde_json::Map<String, Value> = r
        .inproc
        .handlers
        .iter()
        .map(|h| (h.name.to_owned(), h.to_json()))
        .collect();
    let criterion: serde_json::Map<String, Value> =
        r.criterion
            .iter()
            .map(|(name, e)| {
                let v = e.map_or(Value::Null, |e| {
                json!({ "median_ns": round(e.median_ns, 1), "mean_ns": round(e.mean_ns, 1) })
            });
                ((*name).to_owned(), v)
            })
            .collect();
    let cold: serde_json::Map<String, Value> = r
        .cold
        .iter()
        .map(|c| (c.name.to_owned(), c.to_json()))
        .collect();
    let loads: serde_json::Map<String, Value> = r
        .loads
        .iter()
        .map(|l| (l.name.to_owned(), l.to_json()))
        .collect();
    json!({
        "meta": meta,
        "in_process": {
            "handlers": handlers,
            "baselines": {
                "dynamodb_get_item": r.inproc.get_item.to_json(),
                "dynamodb_transact_write_items_2_puts": r.inproc.transact_write.to_json(),
                "argon2id_hash": r.inproc.argon2id_hash.to_json(),
            },
        },
        "criterion": criterion,
        "cold_start": cold,
        "init_of_every_function": r.inits.iter().map(|i| (i.binary.to_owned(), i.to_json())).collect::<serde_json::Map<_, _>>(),
        "memory_growth": r.growth.iter().map(|g| (g.label.to_owned(), g.to_json())).collect::<serde_json::Map<_, _>>(),
        "import_django": r.import.to_json(),
        "soak": r.soaks.iter().map(|s| (s.name.to_owned(), s.to_json())).collect::<serde_json::Map<_, _>>(),
        "http": {
            "routes": loads,
            "server": {
                "spawn_to_first_answer": r.server_spawn.to_json(),
                "peak_rss_kib": r.server_peak_rss_kib,
                "size_bytes": r.server_size_bytes,
            },
        },
        "context": context(r).into_iter().map(|(k, v)| (k, Value::String(v))).collect::<serde_json::Map<_, _>>(),
        "targets": targets.iter().map(|t| json!({
            "name": t.name, "target": t.target, "measured": t.measured, "pass": t.pass,
        })).collect::<Vec<_>>(),
    })
}
