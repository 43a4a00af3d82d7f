//! Costs that stay flat as an account ages (data-volume tests). After a long history an account's
//! session reads (the session cap's at login, the sessions list) read what a fresh account's
//! read; refresh and the authorizer read the same few keys of the same size; the refresh-token
//! items a session keeps are those of its reuse-detection horizon; and deleting a user of
//! 20,000 items takes calls that each delete a bounded share, and leaves nothing. No test here
//! asserts a time (times depend on the machine): each asserts the bounded quantity, and prints
//! the times it saw (`-- --nocapture` shows them).
//!
//! `make test` proves each bound on a history several times the bound ([`Scale::quick`]:
//! 120 logins, 150 exchanges, a 3,000-item user), which takes seconds; `make growth` (part of
//! `make bench`) runs the same tests at the sizes the figures are quoted for
//! (`GROWTH_SCALE=full`: 1,000 logins, 1,000 exchanges, a 20,000-item user).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, PutRequest, ReturnConsumedCapacity, Select, WriteRequest,
};
use futures::StreamExt;
use futures::future::join_all;
use integration_tests::{
    PASSWORD, Server, http, json, logged_in, login, post, registered, settings, store, with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::config as cfg;
use shared::domain::{SessionId, UserId};
use shared::store::{PURGE_BUDGET, RefreshRecord, Session, Store, TokenState, keys, schema};

/// The most items one call of `DELETE /admin/users/{id}` may delete (about a second of one
/// partition's write throughput on AWS): the bound the deletion test holds the code to.
const ITEMS_PER_CALL: usize = 1_000;

/// How long the histories are.
struct Scale {
    logins: usize,
    exchanges: usize,
    items: usize,
}

impl Scale {
    /// `GROWTH_SCALE=full`: the sizes; anything else: the quick ones, still past every
    /// bound (ten times the cap, the idle window of 120 exchanges, three deletion calls).
    fn get() -> Self {
        if std::env::var("GROWTH_SCALE").as_deref() == Ok("full") {
            Self {
                logins: 1_000,
                exchanges: 1_000,
                items: 20_000,
            }
        } else {
            Self::quick()
        }
    }

    fn quick() -> Self {
        Self {
            logins: 120,
            exchanges: 150,
            items: 3_000,
        }
    }
}
use shared::tokens::{RefreshToken, hash_refresh_token};

/// These tests write thousands of items each: one at a time, so that DynamoDB Local, shared
/// with every other test of the binary, is not swamped by all three at once (a refresh that
/// times out there answers 503, and whether its exchange landed is then unknown).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `MAX_SESSIONS_PER_USER` in these tests.
const CAP: usize = 10;
/// `SESSION_IDLE_SECONDS` in these tests.
const IDLE: i64 = 1_200;

fn aged_settings() -> HashMap<String, String> {
    let mut src = settings();
    src.insert(cfg::MAX_SESSIONS_PER_USER.into(), CAP.to_string());
    src.insert(cfg::SESSION_IDLE_SECONDS.into(), IDLE.to_string());
    src
}

/// Logs in (200 expected); returns (access, refresh).
async fn logged(server: &Server, email: &str) -> (String, String) {
    let (status, body) = login(server, email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(server: &Server, token: &str) -> (u16, Value) {
    post(server, "/auth/refresh", json!({"refresh_token": token})).await
}

fn user_of(refresh: &str) -> UserId {
    RefreshToken::user_of(refresh).unwrap()
}

/// The items of a user's partition (whose sort key starts with `prefix`, when given), as a
/// `Query` of our own counts them (strongly consistent, every page).
async fn count(store: &Store, user: &UserId, prefix: Option<&str>) -> usize {
    let mut total = 0;
    let mut start = None;
    loop {
        let query = store
            .client()
            .query()
            .table_name(store.table())
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(user.as_str())));
        let query = match prefix {
            Some(prefix) => query
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned())),
            None => query.key_condition_expression("PK = :pk"),
        };
        // Pages of 2,000: DynamoDB Local takes seconds for a 1 MB page on a busy machine.
        let output = query
            .select(Select::Count)
            .limit(2_000)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        total += usize::try_from(output.count()).unwrap();
        start = output.last_evaluated_key;
        if start.is_none() {
            return total;
        }
    }
}

/// The refresh-token items of a user: (state, issued_at, ttl) each.
async fn token_items(store: &Store, user: &UserId) -> Vec<(String, i64, i64)> {
    store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(user.as_str())))
        .expression_attribute_values(":prefix", AttributeValue::S(keys::REFRESH_PREFIX.into()))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .map(|item| {
            let n = |name: &str| item[name].as_n().unwrap().parse::<i64>().unwrap();
            (
                item["state"].as_s().unwrap().clone(),
                n("issued_at"),
                n(schema::TTL_ATTRIBUTE),
            )
        })
        .collect()
}

/// The read units a strongly consistent `BatchGetItem` of these keys consumes (what refresh's
/// and the authorizer's reads cost: they read these keys and nothing else).
async fn read_units(store: &Store, keys: Vec<keys::Item>) -> f64 {
    let request = KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .consistent_read(true)
        .build()
        .unwrap();
    let output = store
        .client()
        .batch_get_item()
        .request_items(store.table(), request)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .unwrap();
    output
        .consumed_capacity()
        .iter()
        .filter_map(|c| c.capacity_units())
        .sum()
}

/// The medians of `n` timings each of `a` and `b`, run in turn (so that a change in the
/// machine's load weighs on both alike), in milliseconds.
async fn medians_ms<A, FutA, B, FutB>(n: usize, mut a: A, mut b: B) -> (f64, f64)
where
    A: FnMut() -> FutA,
    FutA: std::future::Future<Output = ()>,
    B: FnMut() -> FutB,
    FutB: std::future::Future<Output = ()>,
{
    let (mut times_a, mut times_b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let started = Instant::now();
        a().await;
        times_a.push(started.elapsed());
        let started = Instant::now();
        b().await;
        times_b.push(started.elapsed());
    }
    times_a.sort();
    times_b.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(times_a[n / 2]), ms(times_b[n / 2]))
}

#[tokio::test]
async fn after_a_long_history_of_logins_the_session_reads_are_a_fresh_accounts() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let clock = ManualClock::starting_now();
    let server = Server::start_with(&aged_settings(), clock.clone()).await;
    let store = store().await;

    // An aged account: 1,000 logins (120 in the quick scale), four at a time (under the lockout's five reservations),
    // with everything that ends sessions in between: logouts, refreshes, sign-out everywhere,
    // and sessions left to idle out.
    let aged = registered(&server).await;
    let mut logins = 0;
    let mut round = 0;
    let scale = Scale::get();
    while logins < scale.logins - (CAP + 1) {
        round += 1;
        clock.advance(1);
        let batch = join_all((0..4).map(|_| logged(&server, &aged))).await;
        logins += batch.len();
        let (status, _) = post(
            &server,
            "/auth/logout",
            json!({"refresh_token": batch[0].1}),
        )
        .await;
        assert_eq!(status, 204);
        let (status, body) = refresh(&server, &batch[1].1).await;
        assert_eq!(status, 200, "{body}");
        if round % 10 == 0 {
            let (status, body) =
                with_bearer(&server, Method::DELETE, "/me/sessions", &batch[2].0, None).await;
            assert_eq!(status, 204, "{body}");
        }
        if round % 14 == 0 {
            clock.advance(IDLE);
        }
    }
    // A fresh account (made now, so that its tokens are as new as the aged one's): one
    // login beyond the cap.
    let fresh = registered(&server).await;
    // A second apart, so the cap ends the oldest (sessions of one second are ordered by id).
    let mut fresh_tokens = (String::new(), String::new());
    for _ in 0..=CAP {
        clock.advance(1);
        fresh_tokens = logged(&server, &fresh).await;
    }
    let fresh_id = user_of(&fresh_tokens.1);
    let fresh_read = store.sessions_read(&fresh_id).await.unwrap();

    // The last ones one at a time, as the fresh account's were.
    let mut aged_tokens = (String::new(), String::new());
    for _ in 0..=CAP {
        clock.advance(1);
        aged_tokens = logged(&server, &aged).await;
        logins += 1;
    }
    assert!(logins >= scale.logins);
    let aged_id = user_of(&aged_tokens.1);
    let aged_read = store.sessions_read(&aged_id).await.unwrap();

    // What the session cap's query reads (the sessions list and the admin's view run the same
    // one): the live sessions and the one the last login ended, for both accounts.
    assert_eq!(fresh_read.scanned, CAP + 1, "fresh: {fresh_read:?}");
    assert_eq!(
        (aged_read.scanned, aged_read.sessions.len()),
        (fresh_read.scanned, fresh_read.sessions.len()),
        "after {logins} logins the session query reads {} items, a fresh account's {}",
        aged_read.scanned,
        fresh_read.scanned
    );
    assert_eq!(aged_read.read_units, fresh_read.read_units);
    // The partition, counted by a query of our own, holds no other session, and no refresh
    // token of an ended session is left active.
    assert_eq!(
        count(&store, &aged_id, Some(keys::SESSION_PREFIX)).await,
        CAP + 1
    );
    let active = token_items(&store, &aged_id)
        .await
        .into_iter()
        .filter(|(state, _, _)| state == keys::STATE_ACTIVE)
        .count();
    assert_eq!(active, CAP + 1, "active tokens beyond the sessions kept");
    for (access, expect) in [(&fresh_tokens.0, CAP), (&aged_tokens.0, CAP)] {
        let (status, body) = with_bearer(&server, Method::GET, "/me/sessions", access, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["sessions"].as_array().unwrap().len(), expect);
    }

    // Figures, not assertions: login and the sessions list, fresh against aged.
    let time_login = |email: String| {
        let server = &server;
        move || {
            let email = email.clone();
            async move {
                logged(server, &email).await;
            }
        }
    };
    let time_list = |access: String| {
        let server = &server;
        move || {
            let access = access.clone();
            async move {
                let (status, _) =
                    with_bearer(server, Method::GET, "/me/sessions", &access, None).await;
                assert_eq!(status, 200);
            }
        }
    };
    // The lists first: the timed logins end older sessions, the listing ones' among them.
    let (fresh_list, aged_list) = medians_ms(
        41,
        time_list(fresh_tokens.0.clone()),
        time_list(aged_tokens.0.clone()),
    )
    .await;
    let (fresh_login, aged_login) =
        medians_ms(21, time_login(fresh.clone()), time_login(aged.clone())).await;
    eprintln!(
        "figures: after {logins} logins, login median {aged_login:.1} ms (fresh {fresh_login:.1}); \
         GET /me/sessions median {aged_list:.1} ms (fresh {fresh_list:.1}); session query reads \
         {} items, {} read units (fresh {}, {})",
        aged_read.scanned, aged_read.read_units, fresh_read.scanned, fresh_read.read_units
    );
}

#[tokio::test]
async fn after_a_long_history_of_exchanges_refresh_and_the_authorizer_read_what_they_did_at_first()
{
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let clock = ManualClock::starting_now();
    let server = Server::start_with(&aged_settings(), clock.clone()).await;
    let store = store().await;
    let (_, mut access, first) = logged_in(&server).await;
    let user = user_of(&first);
    let record = store
        .refresh_record(&user, &hash_refresh_token(&first))
        .await
        .unwrap()
        .unwrap();
    let sid = record.session_id.clone();
    let refresh_keys = |token: &str| {
        vec![
            keys::refresh_key(user.as_str(), &hash_refresh_token(token)),
            keys::user_key(user.as_str()),
            keys::catalog_key(),
        ]
    };
    let authorizer_keys = vec![
        keys::session_key(user.as_str(), sid.as_str()),
        keys::user_key(user.as_str()),
    ];
    let refresh_units = read_units(&store, refresh_keys(&first)).await;
    let authorizer_units = read_units(&store, authorizer_keys.clone()).await;
    let started_at = clock.unix();

    // 1,000 exchanges (150 in the quick scale), ten seconds apart: 10,000 s (1,500 s), beyond
    // the 20-minute idle window.
    let scale = Scale::get();
    let mut tokens = vec![first];
    let started = Instant::now();
    for _ in 0..scale.exchanges {
        clock.advance(10);
        let (status, body) = refresh(&server, tokens.last().unwrap()).await;
        assert_eq!(status, 200, "{body}");
        tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
        access = body["access_token"].as_str().unwrap().to_owned();
    }
    let exchanges = started.elapsed();
    let newest = tokens.last().unwrap().clone();
    assert_eq!(
        read_units(&store, refresh_keys(&newest)).await,
        refresh_units,
        "refresh reads its token, the profile and the catalog: their size does not grow"
    );
    assert_eq!(
        read_units(&store, authorizer_keys).await,
        authorizer_units,
        "the authorizer reads the session and the profile: their size does not grow"
    );
    let (status, _) = integration_tests::me(&server, Some(&format!("Bearer {access}"))).await;
    assert_eq!(status, 200);

    // Every token's item expires at its horizon (idle after its issue), the login's one too
    // once exchanged, not at the session's end: what still matters is the last idle window.
    let now = clock.unix();
    let items = token_items(&store, &user).await;
    assert_eq!(items.len(), scale.exchanges + 1);
    for (state, issued_at, ttl) in &items {
        assert_eq!(
            *ttl,
            issued_at + IDLE,
            "a {state} token issued at {issued_at} expires at {ttl}"
        );
    }
    let mattering = items.iter().filter(|(_, _, ttl)| *ttl > now).count();
    assert_eq!(
        mattering,
        usize::try_from(IDLE / 10).unwrap(),
        "tokens of the last idle window"
    );
    assert!(now - started_at > IDLE);

    // A token past its horizon is refused like an expired one: nothing is revoked...
    let (status, body) = refresh(&server, &tokens[0]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    let (status, body) = refresh(&server, &newest).await;
    assert_eq!(status, 200, "the session lives on: {body}");
    let newest = body["refresh_token"].as_str().unwrap().to_owned();
    // ...while a used token within it is reuse and ends the session.
    let (status, body) = refresh(&server, &tokens[tokens.len() - 10]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("token_reused")),
        "{body}"
    );
    let (status, body) = refresh(&server, &newest).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    eprintln!(
        "figures: {} exchanges in {:.1} s ({:.1} ms each); refresh reads {refresh_units} \
         read units and the authorizer {authorizer_units}, first and last",
        scale.exchanges,
        exchanges.as_secs_f64(),
        exchanges.as_secs_f64() * 1000.0 / scale.exchanges as f64
    );
}

/// Writes `n` items into a user's partition straight into the table (`BatchWriteItem`, eight
/// batches at once): ended sessions and exchanged refresh tokens, an old account's history.
async fn write_history(store: &Store, user: &UserId, n: usize, now: i64) {
    let items: Vec<keys::Item> = (0..n)
        .map(|i| {
            let sid = SessionId::random();
            if i % 10 == 0 {
                keys::session_item(&Session {
                    id: sid,
                    user_id: user.clone(),
                    created_at: now,
                    expires_at: now + 86_400,
                    last_used_at: now,
                    epoch: 0,
                    revoked_at: Some(now),
                    amr: keys::password_amr(),
                    active_token: None,
                    user_agent: Some("history".into()),
                    source_ip: Some("192.0.2.1".into()),
                })
                .unwrap()
            } else {
                keys::refresh_item(&RefreshRecord {
                    token_hash: RefreshToken::for_user(user).hash(),
                    user_id: user.clone(),
                    session_id: sid,
                    session_expires_at: now + 86_400,
                    issued_at: now,
                    epoch: 0,
                    state: TokenState::Rotated { at: now },
                    amr: keys::password_amr(),
                })
                .unwrap()
            }
        })
        .collect();
    let batches = items.chunks(25).map(|chunk| async move {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        // Puts are idempotent: a batch that timed out (DynamoDB Local beside the other
        // tests can take seconds) is sent again.
        let mut attempts = 0;
        while !requests.is_empty() {
            attempts += 1;
            match store
                .client()
                .batch_write_item()
                .request_items(store.table(), requests.clone())
                .send()
                .await
            {
                Ok(output) => {
                    requests = output
                        .unprocessed_items
                        .and_then(|mut u| u.remove(store.table()))
                        .unwrap_or_default();
                }
                Err(err) if attempts < 5 => eprintln!("history batch again: {err}"),
                Err(err) => panic!("history batch: {err}"),
            }
        }
    });
    futures::stream::iter(batches)
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test]
async fn deleting_a_user_of_thousands_of_items_is_bounded_per_call_and_leaves_nothing() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = Server::start().await;
    let store = store().await;
    let (admin_email, _) = crate::admin::new_admin(&settings()).await;
    let (admin_access, _) = logged(&server, &admin_email).await;
    let (email, _, refresh_token) = logged_in(&server).await;
    let user = user_of(&refresh_token);
    let started = Instant::now();
    let items = Scale::get().items;
    write_history(&store, &user, items, shared::clock::SystemClock.unix()).await;
    let written = started.elapsed();
    let total = count(&store, &user, None).await;
    assert!(total > items, "{total} items");

    let path = format!("/admin/users/{}", user.as_str());
    let mut calls: Vec<Duration> = Vec::new();
    let mut left = total;
    let mut unavailable = 0;
    loop {
        let started = Instant::now();
        let (status, body) = with_bearer(&server, Method::DELETE, &path, &admin_access, None).await;
        calls.push(started.elapsed());
        let now_left = count(&store, &user, None).await;
        // Each call deletes a bounded share (and the last one the profile too).
        assert!(
            left - now_left <= ITEMS_PER_CALL + 1,
            "one call deleted {} items",
            left - now_left
        );
        match status {
            202 => {
                assert_eq!(body, json!({"status": "deleting"}));
                assert!(now_left < left, "a call made no progress");
                assert!(now_left > 0, "202 with nothing left");
            }
            204 => {
                assert_eq!(now_left, 0);
                break;
            }
            // DynamoDB Local overloaded by the tests beside this one: the same request
            // again finishes the job (the contract), a few times at most.
            503 if unavailable < 3 => unavailable += 1,
            other => panic!("DELETE answered {other}: {body}"),
        }
        left = now_left;
        assert!(
            calls.len() <= total / PURGE_BUDGET.min(ITEMS_PER_CALL) + 2 + unavailable,
            "more calls than the items need"
        );
    }
    assert!(
        calls.len() > total / ITEMS_PER_CALL,
        "{} calls",
        calls.len()
    );

    // Nothing of the user is left: no item names them, the address is free, the login fails.
    let mut left_behind = Vec::new();
    let mut start = None;
    loop {
        let output = store
            .client()
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        left_behind.extend(
            output
                .items()
                .iter()
                .filter(|item| {
                    let text = format!("{item:?}");
                    text.contains(user.as_str()) || text.contains(&email)
                })
                .cloned(),
        );
        start = output.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    assert!(
        left_behind.is_empty(),
        "items of the deleted user remain: {left_behind:#?}"
    );
    assert_eq!(login(&server, &email, PASSWORD).await.0, 401);
    let (status, _) = json(
        http()
            .get(server.url(&path))
            .header("authorization", format!("Bearer {admin_access}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    let slowest = calls.iter().max().unwrap();
    let sum: Duration = calls.iter().sum();
    eprintln!(
        "figures: {total} items written in {:.1} s; deleted by {} calls of at most {PURGE_BUDGET} \
         items, {:.1} s in all, the slowest call {:.0} ms",
        written.as_secs_f64(),
        calls.len(),
        sum.as_secs_f64(),
        slowest.as_secs_f64() * 1000.0
    );
}
