//! The benchmark runner behind `make bench` (after the release build of the functions it starts and
//! `cargo bench -p bench`). It starts one DynamoDB Local and then, in order:
//!
//! 1. in-process handler invocations of every function, with the DynamoDB round trips of each
//!    invocation counted by an interceptor on the SDK client (`inproc`, `counting`);
//! 2. cold starts of each release function binary against a local Runtime API (`lambda`);
//! 3. the release local server under wrk load, with its CPU time and peak RSS (`load`);
//! 4. memory under sustained logins: the login function's binary for 20,000 logins in one
//!    process, then the local server for 5 minutes of logins, each sampling its resident set
//!    and reporting the slope after warm-up (`soak`); `bench soak` runs this stage alone and
//!    writes `target/bench/soak.json`;
//!
//! 5. `authctl import-django` of 10,000 synthetic users (`import`); `bench import` runs this
//!    stage alone;
//!
//! then reads criterion's estimates for the token benchmarks, prints one table and writes the
//! same figures to `target/bench/report.json` (`report`). A missed target is reported, not an
//! error: the run fails only when something could not be measured.
//!
//! Every count and duration is bounded; every load targets 127.0.0.1 only.

mod counting;
mod fixture;
mod import;
mod inproc;
mod lambda;
mod load;
mod report;
mod rss;
mod soak;
mod stats;

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use crate::fixture::Fixture;
use crate::load::Load;
use crate::stats::Summary;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Cold starts per function, and invocations per start (the first cold, the rest warm).
const STARTS: usize = 5;
const INVOCATIONS_PER_START: usize = 4;
/// Spawns of the local server for its start-up time (the last one stays up for the loads).
const SERVER_SPAWNS: usize = 5;
/// Requests per HTTP load (measured), and per warm-up load before it (not measured).
const ME_REQUESTS: usize = 10_000;
const REFRESH_REQUESTS: usize = 4_000;
const LOGIN_REQUESTS: usize = 960;
const LOGIN_USERS: usize = 48;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

fn run() -> Result<()> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    step("starting DynamoDB Local (in memory)");
    let dynamodb = devserver::dynamodb_local::start()?;
    step("starting the SES v2 emulator (registration mails its verification link)");
    let ses = devserver::ses_local::start(None)?;
    if std::env::args().nth(1).as_deref() == Some("soak") {
        let result = runtime.block_on(soak_only(dynamodb.endpoint(), ses.endpoint()));
        drop(ses);
        drop(dynamodb);
        return result;
    }
    if std::env::args().nth(1).as_deref() == Some("import") {
        let result = runtime.block_on(import_only(dynamodb.endpoint(), ses.endpoint()));
        drop(ses);
        drop(dynamodb);
        return result;
    }
    if std::env::args().nth(1).as_deref() == Some("http") {
        let result = runtime.block_on(http_only(dynamodb.endpoint(), ses.endpoint()));
        drop(ses);
        drop(dynamodb);
        return result;
    }
    // `bench quick`: every stage but the 15-minute soak (`make bench` runs them all).
    let soak = std::env::args().nth(1).as_deref() != Some("quick");
    let result = runtime.block_on(stages(dynamodb.endpoint(), ses.endpoint(), soak));
    drop(ses);
    drop(dynamodb);
    let (results, meta) = result?;
    let targets = report::targets(&results);
    let text = report::render(&results, &targets);
    println!("{text}");
    let dir = fixture::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let mut meta = meta;
    if let Some(m) = meta.as_object_mut() {
        m.insert(
            "runner_seconds".into(),
            json!(stats::round(started.elapsed().as_secs_f64(), 1)),
        );
    }
    let path = dir.join("report.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report::json(&results, &targets, meta))? + "\n",
    )?;
    println!("Wrote target/bench/report.json");
    Ok(())
}

fn meta(fx: &Fixture) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc();
    let git = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(fixture::workspace_root())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    json!({
        "generated_at": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "git_commit": git,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "profile": "release",
        "argon2id": {
            "memory_kib": fx.password.memory_kib,
            "iterations": fx.password.iterations,
            "parallelism": fx.password.parallelism,
        },
        "round_trips_counting": "read_before_transmit per attempt: a retried call counts each attempt; retries are listed separately",
    })
}

async fn stages(
    endpoint: &str,
    ses_endpoint: &str,
    soak: bool,
) -> Result<(report::Results, serde_json::Value)> {
    let fx = Fixture::new(endpoint, ses_endpoint).await?;
    let release = fixture::target_dir().join("release");
    let work_dir = fixture::target_dir().join("bench/work");
    std::fs::create_dir_all(&work_dir)?;

    step("in-process handlers, round trips and baselines");
    let inproc = inproc::run(&fx, inproc::SIZES).await?;

    step("cold starts of the release binaries");
    let cold = cold_starts(&fx, &release).await?;

    step("init of every function's release binary");
    let inits = inits(&fx, &release).await?;

    step("Argon2id memory retention in one login process");
    let growth = growth(&fx, &release).await?;

    step("local server: start-up and HTTP load (wrk)");
    let (server_spawn, loads, server_peak_rss_kib) = http(&fx, &release, &work_dir).await?;

    let soaks = if soak {
        step("memory under sustained logins (about 15 minutes on 2 cores)");
        soaks(
            &fx,
            &release,
            soak::FUNCTION_INVOCATIONS,
            soak::SERVER_DURATION,
        )
        .await?
    } else {
        Vec::new()
    };
    step("authctl import-django: 10,000 users into DynamoDB Local");
    let import = import::run(&fx, &work_dir).await?;

    let server_size_bytes = std::fs::metadata(release.join("devserver"))?.len();

    let target_dir = fixture::target_dir();
    let criterion = report::CRITERION
        .iter()
        .map(|name| (*name, report::criterion_estimate(&target_dir, name)))
        .collect();
    Ok((
        report::Results {
            inproc,
            criterion,
            cold,
            inits,
            growth,
            server_spawn,
            loads,
            server_peak_rss_kib,
            server_size_bytes,
            soaks,
            import,
        },
        meta(&fx),
    ))
}

/// `bench import`: the import's stage alone, its figures printed as JSON.
async fn import_only(endpoint: &str, ses_endpoint: &str) -> Result<()> {
    let fx = Fixture::new(endpoint, ses_endpoint).await?;
    let work_dir = fixture::target_dir().join("bench/work");
    std::fs::create_dir_all(&work_dir)?;
    let import = import::run(&fx, &work_dir).await?;
    println!("import_django {}", import.to_json());
    Ok(())
}

/// `bench http`: the local server's stage alone (start-up, then the wrk loads), each load's
/// figures printed as JSON (server CPU, p50/p99, log bytes per request).
async fn http_only(endpoint: &str, ses_endpoint: &str) -> Result<()> {
    let fx = Fixture::new(endpoint, ses_endpoint).await?;
    let release = fixture::target_dir().join("release");
    let work_dir = fixture::target_dir().join("bench/work");
    std::fs::create_dir_all(&work_dir)?;
    let (_, loads, _) = http(&fx, &release, &work_dir).await?;
    for l in &loads {
        println!("{} {}", l.name, l.to_json());
    }
    Ok(())
}

/// `bench soak [LOGINS [SECONDS]]`: the soak stage alone (by default 20,000 logins and 300 s;
/// fewer only for a quick look), with the binaries beside the runner (`target/release` for
/// `make bench-soak`), its figures printed and `target/bench/soak.json` written.
async fn soak_only(endpoint: &str, ses_endpoint: &str) -> Result<()> {
    let fx = Fixture::new(endpoint, ses_endpoint).await?;
    let bin_dir = std::env::current_exe()?
        .parent()
        .ok_or("the runner has no directory")?
        .to_path_buf();
    let arg = |n: usize| {
        std::env::args()
            .nth(n)
            .map(|a| a.parse::<u64>())
            .transpose()
    };
    let invocations = arg(2)?.map_or(soak::FUNCTION_INVOCATIONS, |n| n as usize);
    let duration = arg(3)?.map_or(soak::SERVER_DURATION, std::time::Duration::from_secs);
    let soaks = soaks(&fx, &bin_dir, invocations, duration).await?;
    for s in &soaks {
        let (first, last) = s.span_kib().unwrap_or((0, 0));
        println!(
            "{}: {} logins in {:.0} s; RSS {:.1} MiB after warm-up, {:.1} MiB at the end; \
             slope {} KiB per 1,000 logins ({})",
            s.name,
            s.logins,
            s.seconds,
            first as f64 / 1024.0,
            last as f64 / 1024.0,
            s.slope_kib_per_1000()
                .map_or_else(|| "?".to_owned(), |v| format!("{v:.1}")),
            if s.is_flat() { "flat" } else { "GROWING" }
        );
    }
    let dir = fixture::target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let report: serde_json::Map<String, serde_json::Value> = soaks
        .iter()
        .map(|s| (s.name.to_owned(), s.to_json()))
        .collect();
    std::fs::write(
        dir.join("soak.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    println!("Wrote target/bench/soak.json");
    if soaks.iter().all(soak::Soak::is_flat) {
        Ok(())
    } else {
        Err("resident memory grew under sustained logins".into())
    }
}

/// The login function's binary for [`soak::FUNCTION_INVOCATIONS`] logins, then a fresh local
/// server for [`soak::SERVER_DURATION`] of logins, each sampling its resident memory.
async fn soaks(
    fx: &Fixture,
    release: &std::path::Path,
    invocations: usize,
    duration: std::time::Duration,
) -> Result<Vec<soak::Soak>> {
    step(&format!(
        "  login function: {invocations} logins in one process"
    ));
    let function = soak::function(fx, release, invocations).await?;
    step(&format!(
        "  local server: {} s of logins at {} connections",
        duration.as_secs(),
        soak::SERVER_CONNECTIONS
    ));
    let (server, _) = load::spawn_server(&release.join("devserver"), fx).await?;
    let result = soak::server(fx, &server, duration).await;
    server.stop().await;
    Ok(vec![function, result?])
}

/// Starts per function for its init alone.
pub const INIT_STARTS: usize = 3;

/// The init of every function (the local server's list, and the authorizer), each given every
/// setting the local server gets: it reads what it needs and asks for its first event.
async fn inits(fx: &Fixture, release: &std::path::Path) -> Result<Vec<lambda::Init>> {
    let mut binaries: Vec<&'static str> = devserver::ROUTES
        .iter()
        .map(|r| r.function.binary())
        .chain([inproc::AUTHORIZER])
        .collect();
    binaries.sort_unstable();
    binaries.dedup();
    let env: Vec<(String, String)> = fx.settings.clone().into_iter().collect();
    let mut out = Vec::with_capacity(binaries.len());
    for binary in binaries {
        out.push(lambda::init_only(release, binary, &env, INIT_STARTS).await?);
    }
    Ok(out)
}

/// Events for each start of each function: `STARTS` × `INVOCATIONS_PER_START`.
/// Invocations of the one login process whose peak RSS is followed.
const GROWTH_INVOCATIONS: usize = 24;
/// glibc's `M_MMAP_THRESHOLD` fixed at its default (128 KiB): every Argon2id buffer is then its
/// own `mmap`, returned to the system when freed.
const MMAP_THRESHOLD: (&str, &str) = ("MALLOC_MMAP_THRESHOLD_", "131072");

/// The login binary answering `GROWTH_INVOCATIONS` logins in one process, as deployed and with
/// glibc's mmap threshold fixed.
async fn growth(fx: &Fixture, release: &std::path::Path) -> Result<Vec<lambda::Growth>> {
    let users = fx.users(GROWTH_INVOCATIONS).await?;
    let events = || -> Result<Vec<String>> {
        users
            .iter()
            .map(|u| Ok(fixture::http_event("login", Some(&fixture::login_body(u)))?.to_string()))
            .collect()
    };
    let env = fx.function_env("login");
    let mut fixed = env.clone();
    fixed.push((MMAP_THRESHOLD.0.to_owned(), MMAP_THRESHOLD.1.to_owned()));
    Ok(vec![
        lambda::growth(release, "login (as built)", "login", &env, 200, events()?).await?,
        lambda::growth(
            release,
            "login (MALLOC_MMAP_THRESHOLD_=131072)",
            "login",
            &fixed,
            200,
            events()?,
        )
        .await?,
    ])
}

/// Cold-start variants with `DYNAMODB_PRECONNECT=on` (the default is off).
pub const ME_PRECONNECT: &str = "me_preconnect_on";
pub const AUTHORIZER_PRECONNECT: &str = "authorizer_preconnect_on";

fn preconnect_env(mut env: Vec<(String, String)>) -> Vec<(String, String)> {
    env.push((
        shared::config::DYNAMODB_PRECONNECT.to_owned(),
        "on".to_owned(),
    ));
    env
}

async fn cold_starts(fx: &Fixture, release: &std::path::Path) -> Result<Vec<lambda::ColdStart>> {
    let users = fx.users(STARTS).await?;
    let user = users.first().ok_or("no user")?.clone();
    let per_start =
        |f: &mut dyn FnMut(usize) -> Result<serde_json::Value>| -> Result<Vec<Vec<String>>> {
            (0..STARTS)
                .map(|s| {
                    (0..INVOCATIONS_PER_START)
                        .map(|i| f(s * INVOCATIONS_PER_START + i).map(|e| e.to_string()))
                        .collect()
                })
                .collect()
        };
    let tokens = fx
        .refresh_tokens(&user, STARTS * INVOCATIONS_PER_START)
        .await?;
    let access = fx.access_token(&user).await?;

    let plans: Vec<(&'static str, u16, Vec<Vec<String>>)> = vec![
        (
            inproc::AUTHORIZER,
            200,
            per_start(&mut |_| fixture::authorizer_event(&access))?,
        ),
        (
            inproc::AUTHORIZER_OFF,
            200,
            per_start(&mut |_| fixture::authorizer_event(&access))?,
        ),
        (
            "jwks",
            200,
            per_start(&mut |_| fixture::http_event("jwks", None))?,
        ),
        ("me", 200, per_start(&mut |_| fixture::me_event(&user))?),
        (
            "refresh",
            200,
            per_start(&mut |i| {
                let token = tokens.get(i).ok_or("not enough refresh tokens")?;
                fixture::http_event("refresh", Some(&fixture::refresh_body(token)))
            })?,
        ),
        (
            "login",
            200,
            per_start(&mut |i| {
                let u = users.get(i % users.len()).ok_or("no user")?;
                fixture::http_event("login", Some(&fixture::login_body(u)))
            })?,
        ),
        (
            "register",
            201,
            per_start(&mut |_| fixture::http_event("register", Some(&fixture::register_body())))?,
        ),
    ];
    // The same binaries again with the connection opened by the cold start.
    let preconnect: Vec<(&'static str, u16, Vec<Vec<String>>)> = vec![
        (
            AUTHORIZER_PRECONNECT,
            200,
            per_start(&mut |_| fixture::authorizer_event(&access))?,
        ),
        (
            ME_PRECONNECT,
            200,
            per_start(&mut |_| fixture::me_event(&user))?,
        ),
    ];
    let mut out = Vec::new();
    for (name, expected, starts) in plans.into_iter().chain(preconnect) {
        let (binary, env) = match name {
            inproc::AUTHORIZER_OFF => (inproc::AUTHORIZER, fx.function_env(name)),
            AUTHORIZER_PRECONNECT => (
                inproc::AUTHORIZER,
                preconnect_env(fx.function_env(inproc::AUTHORIZER)),
            ),
            ME_PRECONNECT => ("me", preconnect_env(fx.function_env("me"))),
            _ => (name, fx.function_env(name)),
        };
        out.push(lambda::cold_start(release, name, binary, &env, expected, starts).await?);
    }
    // Report in route order.
    let order = [
        "register",
        "login",
        "refresh",
        "me",
        ME_PRECONNECT,
        "jwks",
        inproc::AUTHORIZER,
        AUTHORIZER_PRECONNECT,
        inproc::AUTHORIZER_OFF,
    ];
    out.sort_by_key(|c| order.iter().position(|n| *n == c.name));
    Ok(out)
}

async fn http(
    fx: &Fixture,
    release: &std::path::Path,
    work_dir: &std::path::Path,
) -> Result<(Summary, Vec<load::LoadResult>, u64)> {
    let bin = release.join("devserver");
    let mut spawns = Vec::with_capacity(SERVER_SPAWNS);
    let mut server = None;
    for _ in 0..SERVER_SPAWNS {
        if let Some(previous) = server.take() {
            load::Server::stop(previous).await;
        }
        let (s, elapsed) = load::spawn_server(&bin, fx).await?;
        spawns.push(elapsed);
        server = Some(s);
    }
    let server = server.ok_or("no server")?;
    let spawn = Summary::of(&spawns).ok_or("no spawns")?;
    let ticks = load::clock_ticks();

    let users = fx.users(LOGIN_USERS).await?;
    // The /me and refresh loads' user is none of the login load's: the refresh load mints its
    // thousands of sessions straight into the table, past the per-user cap, and each login of
    // that user would read them all for the cap (it made the login load's RSS 85-89 MiB).
    let first = fx.users(1).await?.first().ok_or("no user")?.clone();
    let bearer = format!("Authorization: Bearer {}", fx.access_token(&first).await?);
    let me = |total| Load {
        name: "me",
        method: "GET",
        path: "/me",
        headers: vec![bearer.clone()],
        bodies: None,
        total,
        expected: 200,
        work_dir,
    };
    let refresh = |tokens: Vec<String>| Load {
        name: "refresh",
        method: "POST",
        path: "/auth/refresh",
        headers: Vec::new(),
        total: tokens.len(),
        bodies: Some(
            tokens
                .iter()
                .map(|t| fixture::refresh_body(t).to_string())
                .collect(),
        ),
        expected: 200,
        work_dir,
    };
    let login = |total: usize| Load {
        name: "login",
        method: "POST",
        path: "/auth/login",
        headers: Vec::new(),
        total,
        bodies: Some(
            (0..total)
                .filter_map(|i| users.get(i % users.len()))
                .map(|u| fixture::login_body(u).to_string())
                .collect(),
        ),
        expected: 200,
        work_dir,
    };

    let result = async {
        let mut loads = Vec::new();
        step("  /me");
        load::run(&server, me(ME_REQUESTS / 20), ticks).await?;
        loads.push(load::run(&server, me(ME_REQUESTS), ticks).await?);

        step("  /auth/refresh (minting one unused token per request)");
        let warm = fx.refresh_tokens(&first, REFRESH_REQUESTS / 20).await?;
        let tokens = fx.refresh_tokens(&first, REFRESH_REQUESTS).await?;
        load::run(&server, refresh(warm), ticks).await?;
        loads.push(load::run(&server, refresh(tokens), ticks).await?);

        step("  /auth/login");
        load::run(&server, login(load::CONNECTIONS * 2), ticks).await?;
        loads.push(load::run(&server, login(LOGIN_REQUESTS), ticks).await?);
        let peak = rss::peak_rss_kib(server.pid)?;
        Ok::<_, Error>((loads, peak))
    }
    .await;
    server.stop().await;
    let (loads, peak) = result?;
    Ok((spawn, loads, peak))
}
