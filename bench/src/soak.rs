//! Memory under sustained load: a process that serves logins for a long time keeps a flat
//! resident set once warm.
//!
//! * the login function's own release binary, through its Lambda runtime loop (the runtime API
//!   emulator of [`crate::lambda`]), answering [`FUNCTION_INVOCATIONS`] logins in one process;
//! * the release local server under [`SERVER_CONNECTIONS`] connections of back-to-back logins
//!   for [`SERVER_DURATION`].
//!
//! Both sample the process's current resident set (`VmRSS`, not the peak) as the logins go and
//! report the least-squares slope of RSS over logins after [`WARM_UP`] of the run, and the
//! growth from the first to the last sample after it. Each user logs in at most
//! [`LOGINS_PER_USER`] times (under the session cap), in blocks of fresh users
//! ([`user_of`]), so the data each login reads (its user's sessions) follows the same pattern
//! in every block: what is measured is the process, not the table growing under it. (A user
//! logging in for ever makes every login read more: see the README, Performance.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Result;
use crate::fixture::{self, Fixture};
use crate::load::Server;

/// Logins answered by one login process.
pub const FUNCTION_INVOCATIONS: usize = 20_000;
/// How long the local server is kept busy.
pub const SERVER_DURATION: Duration = Duration::from_secs(300);
pub const SERVER_CONNECTIONS: usize = 16;
/// Logins per user at most: under the per-user session cap (50), so no login ends another.
pub const LOGINS_PER_USER: usize = 40;
/// The share of the samples (from the start) left out as warm-up.
pub const WARM_UP: f64 = 0.2;
/// What counts as flat: less than this much resident growth per 1,000 logins after warm-up
/// (the server grew 1,700 KiB per 1,000 logins).
pub const FLAT_KIB_PER_1000: f64 = 50.0;

/// One soak's samples and what they say.
#[derive(Debug, Clone)]
pub struct Soak {
    pub name: &'static str,
    pub logins: u64,
    pub seconds: f64,
    /// (logins answered so far, `VmRSS` KiB).
    pub samples: Vec<(u64, u64)>,
}

impl Soak {
    fn after_warm_up(&self) -> &[(u64, u64)] {
        let skip = (self.samples.len() as f64 * WARM_UP).floor() as usize;
        self.samples.get(skip..).unwrap_or_default()
    }

    /// Least-squares slope of RSS over logins after warm-up, in KiB per 1,000 logins.
    pub fn slope_kib_per_1000(&self) -> Option<f64> {
        slope(self.after_warm_up()).map(|s| s * 1_000.0)
    }

    /// RSS (KiB) at the first and last sample after warm-up.
    pub fn span_kib(&self) -> Option<(u64, u64)> {
        let kept = self.after_warm_up();
        Some((kept.first()?.1, kept.last()?.1))
    }

    pub fn is_flat(&self) -> bool {
        self.slope_kib_per_1000()
            .is_some_and(|s| s < FLAT_KIB_PER_1000)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "logins": self.logins,
            "seconds": crate::stats::round(self.seconds, 1),
            "warm_up_share": WARM_UP,
            "slope_kib_per_1000_logins": self.slope_kib_per_1000().map(|s| crate::stats::round(s, 2)),
            "rss_kib_first_and_last_after_warm_up": self.span_kib(),
            "flat_below_kib_per_1000_logins": FLAT_KIB_PER_1000,
            "samples_logins_rss_kib": self.samples,
        })
    }
}

/// Least-squares slope of y over x.
fn slope(points: &[(u64, u64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0 as f64).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1 as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in points {
        let dx = *x as f64 - mean_x;
        sxy += dx * (*y as f64 - mean_y);
        sxx += dx * dx;
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Which user the `i`th login is, so that the work per login is periodic: users come in blocks
/// of [`SERVER_CONNECTIONS`] (logins in flight together are of different users), each user of a
/// block logs in [`LOGINS_PER_USER`] times, then a block of fresh users follows. A user's
/// sessions (what each of its logins reads) grow from 1 to `LOGINS_PER_USER` within every
/// block alike, instead of growing over the whole run.
fn user_of(i: usize) -> usize {
    let block = i / (SERVER_CONNECTIONS * LOGINS_PER_USER);
    block * SERVER_CONNECTIONS + i % SERVER_CONNECTIONS
}

/// Login bodies for `total` logins in the order of [`user_of`].
async fn login_bodies(fx: &Fixture, total: usize) -> Result<Vec<String>> {
    let users = fx
        .users(user_of(total.saturating_sub(1)) + SERVER_CONNECTIONS)
        .await?;
    (0..total)
        .map(|i| {
            users
                .get(user_of(i))
                .map(|u| fixture::login_body(u).to_string())
                .ok_or_else(|| "not enough users".into())
        })
        .collect()
}

/// The login binary answering `invocations` logins in one process.
pub async fn function(fx: &Fixture, release: &std::path::Path, invocations: usize) -> Result<Soak> {
    let events = login_bodies(fx, invocations)
        .await?
        .iter()
        .map(|body| {
            let body: Value = serde_json::from_str(body)?;
            Ok(fixture::http_event("login", Some(&body))?.to_string())
        })
        .collect::<Result<Vec<String>>>()?;
    let started = Instant::now();
    let rss =
        crate::lambda::rss_over(release, "login", &fx.function_env("login"), 200, events).await?;
    let every = (invocations / 200).max(1);
    let samples = rss
        .iter()
        .enumerate()
        .filter(|(i, _)| (i + 1) % every == 0)
        .map(|(i, kib)| (i as u64 + 1, *kib))
        .collect();
    Ok(Soak {
        name: "login function (runtime loop)",
        logins: rss.len() as u64,
        seconds: started.elapsed().as_secs_f64(),
        samples,
    })
}

/// The local server under back-to-back logins for `duration`, sampled every 5 s.
pub async fn server(fx: &Fixture, server: &Server, duration: Duration) -> Result<Soak> {
    // More bodies than the run can use at the expected rate (about 40 logins/s on 2 cores).
    let bodies = Arc::new(login_bodies(fx, 24_000).await?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(SERVER_CONNECTIONS)
        .build()?;
    let url = server.url("/auth/login");
    let answered = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..SERVER_CONNECTIONS {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        let (answered, next, stop) = (answered.clone(), next.clone(), stop.clone());
        workers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = bodies.get(i % bodies.len()) else {
                    return Err::<(), crate::Error>("no bodies".into());
                };
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let status = response.status().as_u16();
                let _ = response.bytes().await?;
                if status != 200 {
                    return Err(format!("login answered {status} during the soak").into());
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut samples = Vec::new();
    let result = async {
        while started.elapsed() < duration {
            tokio::time::sleep(Duration::from_secs(5)).await;
            if let Some(done) = workers.try_join_next() {
                done??;
                return Err::<(), crate::Error>("a soak worker stopped early".into());
            }
            samples.push((
                answered.load(Ordering::Relaxed),
                crate::rss::rss_kib(server.pid)?,
            ));
        }
        Ok(())
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = workers.join_next().await {
        done??;
    }
    result?;
    Ok(Soak {
        name: "local server (HTTP logins)",
        logins: answered.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_is_growth_per_login_after_warm_up() {
        let flat = Soak {
            name: "flat",
            logins: 1_000,
            seconds: 1.0,
            // A warm-up climb, then flat within noise.
            samples: (0..100u64)
                .map(|i| {
                    (
                        i * 10,
                        if i < 10 {
                            60_000 + i * 500
                        } else {
                            65_000 + i % 3
                        },
                    )
                })
                .collect(),
        };
        assert!(flat.is_flat(), "{:?}", flat.slope_kib_per_1000());
        let growing = Soak {
            name: "growing",
            logins: 1_000,
            seconds: 1.0,
            // 1.7 KiB per login, as the issue measured.
            samples: (0..100u64).map(|i| (i * 10, 60_000 + i * 17)).collect(),
        };
        let s = growing.slope_kib_per_1000().unwrap();
        assert!((s - 1_700.0).abs() < 1.0, "{s}");
        assert!(!growing.is_flat());
        assert_eq!(
            growing.span_kib(),
            Some((60_000 + 20 * 17, 60_000 + 99 * 17))
        );
    }

    #[test]
    fn logins_in_flight_are_of_different_users_and_each_user_stays_under_the_cap() {
        let mut per_user = std::collections::HashMap::new();
        for i in 0..20_000 {
            *per_user.entry(user_of(i)).or_insert(0) += 1;
            let window: std::collections::HashSet<_> =
                (i..i + SERVER_CONNECTIONS).map(user_of).collect();
            assert!(window.len() >= SERVER_CONNECTIONS - 1 || i % SERVER_CONNECTIONS != 0);
        }
        assert!(per_user.values().all(|n| *n <= LOGINS_PER_USER));
        assert_eq!(user_of(0), 0);
        assert_eq!(
            user_of(SERVER_CONNECTIONS * LOGINS_PER_USER),
            SERVER_CONNECTIONS
        );
    }
}
