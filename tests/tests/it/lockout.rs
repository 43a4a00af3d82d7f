//! The per-email lock as an attacker holding the password meets it, and as a crowd of right
//! passwords meets it, over HTTP against DynamoDB Local: wrong second-factor codes count
//! toward a limit a right password does not reset (login challenges and the Bearer routes,
//! one at a time and in parallel); right passwords in flight never lock (a short
//! `Retry-After`, no lockout event); the counter's store operations; and `session_evicted`
//! logged once per evicted session, by the login that ended it.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use integration_tests::{
    PASSWORD, Server, capture_logs, captured_logs, login, post, post_with_retry_after, registered,
    settings, store, verifier, with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};
use shared::config as cfg;
use shared::policy::lockout::{Counter, PENDING_LIFETIME};
use shared::store::{LockoutWrite, keys};

use crate::mfa::{challenge, code, enrolled, server_at_step_start};

/// The default `LOCKOUT_MAX_FAILURES`.
const MAX: usize = 5;

/// A code that is not `secret`'s at `unix` (nor a step either side).
fn wrong_code(secret: &str, unix: i64) -> String {
    let right: Vec<String> = (-1..=1).map(|d| code(secret, unix + 30 * d)).collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !right.iter().any(|r| r == c))
        .unwrap()
        .to_owned()
}

/// How the answers to wrong codes (and the logins around them) split.
#[derive(Debug, Default)]
struct Tally {
    /// Wrong codes that were checked: 401 or 403 `invalid_code`.
    checked: usize,
    /// 429 `too_many_attempts`.
    refused: usize,
}

impl Tally {
    /// Counts one answer to a wrong code; anything but a checked wrong code or a 429 fails.
    fn code(&mut self, status: u16, body: &Value) {
        match (status, body["code"].as_str()) {
            (401 | 403, Some("invalid_code")) => self.checked += 1,
            (429, Some("too_many_attempts")) => self.refused += 1,
            other => panic!("unexpected answer to a wrong code {other:?}: {body}"),
        }
    }
}

/// Logs in with the right password of a two-factor account: the `mfa_token`, or `None` when
/// refused with 429.
async fn try_challenge(server: &Server, email: &str) -> Option<String> {
    let (status, body) = login(server, email, PASSWORD).await;
    match (status, body["code"].as_str()) {
        (401, Some("mfa_required")) => Some(body["mfa_token"].as_str().unwrap().to_owned()),
        (429, Some("too_many_attempts")) => None,
        other => panic!("unexpected login answer {other:?}: {body}"),
    }
}

#[tokio::test]
async fn with_the_password_known_fresh_challenges_never_buy_more_codes() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, secret, _, _, _) = enrolled(&server, &clock).await;
    let wrong = wrong_code(&secret, clock.unix());
    let mut tally = Tally::default();
    let mut refused_logins = 0;
    // Ten cycles of login → four wrong codes: forty codes tried.
    for _ in 0..10 {
        let Some(token) = try_challenge(&server, &email).await else {
            refused_logins += 1;
            continue;
        };
        for _ in 0..4 {
            let (status, body) = post(
                &server,
                "/auth/mfa/verify",
                json!({"mfa_token": token, "code": wrong}),
            )
            .await;
            tally.code(status, &body);
        }
    }
    assert!(
        tally.checked <= MAX,
        "{tally:?}: more than {MAX} wrong codes were checked (logins refused: {refused_logins})"
    );
    assert!(
        refused_logins > 0,
        "{tally:?}: the lock never reached login"
    );
    // A real lock: the full window, the right password refused with it.
    let (status, retry_after, body) = post_with_retry_after(
        &server,
        "/auth/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
    assert!(retry_after.is_some_and(|s| s > 2), "{retry_after:?}");
    // The window over, the password and a right code log in, and clear the count.
    clock.advance(901);
    let token = challenge(&server, &email).await;
    let (status, body) = post(
        &server,
        "/auth/mfa/verify",
        json!({"mfa_token": token, "code": code(&secret, clock.unix())}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let counter = store().await.lockout(&email).await.unwrap().unwrap();
    assert_eq!((counter.failures, counter.locked_until), (0, None));
}

#[tokio::test]
async fn turning_two_factor_off_with_the_right_password_never_buys_more_codes() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, secret, _, access, _) = enrolled(&server, &clock).await;
    let wrong = wrong_code(&secret, clock.unix());
    let mut tally = Tally::default();
    for _ in 0..20 {
        let (status, body) = with_bearer(
            &server,
            Method::DELETE,
            "/me/mfa/totp",
            &access,
            Some(json!({"current_password": PASSWORD, "code": wrong})),
        )
        .await;
        tally.code(status, &body);
    }
    assert!(tally.checked <= MAX, "{tally:?}");
    assert_eq!(tally.checked + tally.refused, 20, "{tally:?}");
    // And the same count reaches the other two-factor routes and login.
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/mfa/recovery-codes",
        &access,
        Some(json!({"code": code(&secret, clock.unix())})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
    assert_eq!(login(&server, &email, PASSWORD).await.0, 429);
}

#[tokio::test]
async fn new_recovery_codes_and_confirmation_count_wrong_codes_too() {
    let (server, clock) = server_at_step_start(&settings()).await;
    let (email, secret, _, access, _) = enrolled(&server, &clock).await;
    let wrong = wrong_code(&secret, clock.unix());
    let mut tally = Tally::default();
    for _ in 0..3 {
        let (status, body) = with_bearer(
            &server,
            Method::POST,
            "/me/mfa/recovery-codes",
            &access,
            Some(json!({"code": wrong})),
        )
        .await;
        tally.code(status, &body);
    }
    // Two more through login challenges reach the limit.
    for _ in 0..2 {
        let token = challenge(&server, &email).await;
        let (status, body) = post(
            &server,
            "/auth/mfa/verify",
            json!({"mfa_token": token, "code": wrong}),
        )
        .await;
        tally.code(status, &body);
    }
    assert_eq!((tally.checked, tally.refused), (MAX, 0));
    assert_eq!(login(&server, &email, PASSWORD).await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_codes_over_fresh_challenges_reach_at_most_max_checks() {
    let (server, clock) = server_at_step_start(&settings()).await;
    for round in 0..3 {
        let (email, secret, _, _, _) = enrolled(&server, &clock).await;
        let wrong = wrong_code(&secret, clock.unix());
        // Eight attackers, each: login with the known password → a wrong code, four times.
        let attackers = (0..8).map(|_| {
            let (server, email, wrong) = (&server, email.clone(), wrong.clone());
            async move {
                let mut tally = Tally::default();
                for _ in 0..4 {
                    let Some(token) = try_challenge(server, &email).await else {
                        tally.refused += 1;
                        continue;
                    };
                    let (status, body) = post(
                        server,
                        "/auth/mfa/verify",
                        json!({"mfa_token": token, "code": wrong}),
                    )
                    .await;
                    tally.code(status, &body);
                }
                tally
            }
        });
        let tallies = join_all(attackers).await;
        let checked: usize = tallies.iter().map(|t| t.checked).sum();
        assert!(
            (1..=MAX).contains(&checked),
            "round {round}: {checked} wrong codes checked: {tallies:?}"
        );
    }
}

/// Logs in, honouring `Retry-After` like a client (at most ten tries); every answer is
/// returned, the last one a 200 unless the tries ran out.
async fn login_until_in(server: &Server, email: &str) -> Vec<(u16, Option<i64>, Value)> {
    let mut answers = Vec::new();
    for _ in 0..10 {
        let answer = post_with_retry_after(
            server,
            "/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        let (status, retry_after, _) = answer;
        answers.push(answer.clone());
        if status != 429 {
            break;
        }
        // The client honours the server's answer: this is the contract under test.
        let wait = u64::try_from(retry_after.unwrap_or(1)).unwrap().min(2);
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn right_passwords_in_flight_never_lock_an_account() {
    capture_logs();
    let server = Server::start_with(&settings(), SystemClock::shared()).await;
    for round in 0..3 {
        let email = registered(&server).await;
        let answers = join_all((0..16).map(|_| login_until_in(&server, &email))).await;
        let mut user_id = None;
        let mut waited = 0;
        for tries in &answers {
            for (status, retry_after, body) in tries {
                match (status, body["code"].as_str()) {
                    (200, _) => {
                        let access = body["access_token"].as_str().unwrap();
                        user_id = Some(verifier().verify(access, SystemClock.unix()).unwrap().sub);
                    }
                    (429, Some("too_many_attempts")) => {
                        waited += 1;
                        assert!(
                            retry_after.is_some_and(|s| (1..=2).contains(&s)),
                            "round {round}: a right password got Retry-After {retry_after:?}"
                        );
                    }
                    other => panic!("round {round}: {other:?}: {body}"),
                }
            }
            assert_eq!(
                tries.last().map(|t| t.0),
                Some(200),
                "round {round}: never let in: {tries:?}"
            );
        }
        eprintln!("round {round}: {waited} answers of 16 logins were 'a moment'");
        let user_id = user_id.unwrap();
        let (_, lines) = captured_logs();
        let lockouts: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                l["target"] == "audit"
                    && l["fields"]["user_id"] == user_id.as_str()
                    && ["login_locked_out", "login_lockout_started"]
                        .contains(&l["fields"]["event"].as_str().unwrap_or(""))
            })
            .collect();
        assert!(lockouts.is_empty(), "round {round}: {lockouts:?}");
        let counter = store().await.lockout(&email).await.unwrap().unwrap();
        assert_eq!(
            (
                counter.failures,
                counter.locked_until,
                counter.pending.len()
            ),
            (0, None, 0),
            "round {round}: {counter:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_evicted_session_is_logged_once_by_the_login_that_ended_it() {
    capture_logs();
    let mut src = settings();
    src.insert(cfg::MAX_SESSIONS_PER_USER.into(), "2".into());
    // Every racer reaches its password check (the in-flight allowance is not what is tested).
    src.insert(cfg::LOCKOUT_MAX_FAILURES.into(), "50".into());
    let server = Server::start_with(&src, SystemClock::shared()).await;
    let email = registered(&server).await;
    let mut user_id = None;
    let mut started = Vec::new();
    for round in 0..3 {
        let answers = join_all((0..8).map(|_| login(&server, &email, PASSWORD))).await;
        for (status, body) in answers {
            assert_eq!(status, 200, "round {round}: {body}");
            let claims = verifier()
                .verify(body["access_token"].as_str().unwrap(), SystemClock.unix())
                .unwrap();
            user_id = Some(claims.sub);
            started.push((
                claims.sid,
                body["refresh_token"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let user_id = user_id.unwrap();
    // The sessions that ended: their refresh tokens no longer refresh.
    let mut evicted = Vec::new();
    for (sid, refresh) in &started {
        let (status, body) =
            post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
        match status {
            200 => {}
            401 => evicted.push(sid.clone()),
            _ => panic!("{status}: {body}"),
        }
    }
    // 24 sessions started, 2 live at most: the rest were evicted.
    assert!(evicted.len() >= 22, "{} of 24 evicted", evicted.len());
    let (_, lines) = captured_logs();
    let evictions: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["target"] == "audit"
                && l["fields"]["event"] == "session_evicted"
                && l["fields"]["user_id"] == user_id.as_str()
        })
        .collect();
    let mut per_session: HashMap<&str, usize> = HashMap::new();
    for line in &evictions {
        let fields = &line["fields"];
        assert!(
            fields["request_id"].is_string() && fields["source_ip"] == "127.0.0.1",
            "{line}"
        );
        *per_session
            .entry(fields["session_id"].as_str().unwrap())
            .or_default() += 1;
    }
    // Each evicted session logged exactly once, and nothing else logged as evicted.
    assert_eq!(evictions.len(), evicted.len(), "{per_session:?}");
    for sid in &evicted {
        assert_eq!(
            per_session.get(sid.as_str()),
            Some(&1),
            "session {sid}: {per_session:?}"
        );
    }
}

#[tokio::test]
async fn a_give_back_removes_only_its_own_reservation_and_the_item_can_expire() {
    let store = store().await;
    let email = integration_tests::unique_email();
    let now = SystemClock.unix();
    let counter = Counter {
        failures: 1,
        window_start: now,
        locked_until: None,
        pending: [("mine".to_owned(), now), ("theirs".to_owned(), now)].into(),
        version: 1,
    };
    let ttl = now + 10;
    assert_eq!(
        store
            .write_lockout(&email, None, &counter, ttl)
            .await
            .unwrap(),
        LockoutWrite::Written
    );
    assert!(store.give_back_reservation(&email, "mine").await.unwrap());
    assert!(!store.give_back_reservation(&email, "mine").await.unwrap());
    assert!(!store.give_back_reservation(&email, "never").await.unwrap());
    let after = store.lockout(&email).await.unwrap().unwrap();
    assert_eq!(after.failures, 1);
    assert_eq!(after.pending.keys().collect::<Vec<_>>(), ["theirs"]);
    assert_eq!(after.version, 2);
    // A decision computed from the counter before the give-back is not written.
    match store
        .write_lockout(&email, Some(&counter), &counter, ttl)
        .await
        .unwrap()
    {
        LockoutWrite::Changed { current } => assert_eq!(current, Some(after)),
        other => panic!("{other:?}"),
    }
    // The TTL attribute stays a number DynamoDB expires the item by.
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::lockout_key(&email)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["ttl"].as_n().unwrap(), &ttl.to_string());
}

#[tokio::test]
async fn a_counter_of_before_still_reads_through_login() {
    let server = Server::start_with(&settings(), SystemClock::shared()).await;
    let store = store().await;
    let now = SystemClock.unix();
    // Written by the rule that counted checks in flight: four attempts, no lock.
    let email = registered(&server).await;
    let legacy = |email: &str, locked_until: Option<i64>| {
        let mut item = keys::lockout_key(email);
        let n = |v: i64| aws_sdk_dynamodb::types::AttributeValue::N(v.to_string());
        item.insert("attempts".into(), n(4));
        item.insert("window_start".into(), n(now - 10));
        item.insert("version".into(), n(4));
        item.insert("ttl".into(), n(now + 900));
        if let Some(until) = locked_until {
            item.insert("locked_until".into(), n(until));
        }
        item
    };
    for (email, locked_until) in [(&email, None), (&email, Some(now + 600))] {
        store
            .client()
            .put_item()
            .table_name(store.table())
            .set_item(Some(legacy(email, locked_until)))
            .send()
            .await
            .unwrap();
        let (status, retry_after, body) = post_with_retry_after(
            &server,
            "/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        match locked_until {
            // Not locked: the right password logs in and clears the count.
            None => {
                assert_eq!(status, 200, "{body}");
                let counter = store.lockout(email).await.unwrap().unwrap();
                assert_eq!((counter.failures, counter.pending.len()), (0, 0));
            }
            // Locked: still locked, for the rest of it.
            Some(_) => {
                assert_eq!(status, 429, "{body}");
                assert!(retry_after.is_some_and(|s| (590..=600).contains(&s)));
            }
        }
    }
}

#[test]
fn a_reservation_lapses_only_after_every_checking_function_has_timed_out() {
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .unwrap();
    let timeouts: Vec<i64> = template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Timeout:"))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert!(!timeouts.is_empty());
    let longest = timeouts.into_iter().max().unwrap();
    assert!(
        longest * 2 <= PENDING_LIFETIME,
        "a function may run {longest} s; reservations lapse after {PENDING_LIFETIME} s"
    );
}
