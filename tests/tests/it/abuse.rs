//! One caller cannot exhaust a route for everyone: the per-source limits on the costly public
//! routes and the registration mail budget, over HTTP through the local server against
//! DynamoDB Local, fired in parallel. Each client connects from its own loopback address
//! (127.x.y.z), which the local server passes on as the request's `sourceIp`, as API Gateway
//! does with the caller's address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use futures::future::join_all;
use integration_tests::{
    PASSWORD, Server, mails_to, settings, store, unique_email, with_retry_after,
};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::config as cfg;
use shared::policy::rates::{self, Limit, RouteGroup, Scope};
use shared::store::keys;

/// A loopback address no other test uses (never 127.0.0.1, every other test's source).
fn fresh_source() -> IpAddr {
    let b = *uuid::Uuid::new_v4().as_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 1 + b[0] % 250, b[1], 1 + b[2] % 250))
}

/// An HTTP client whose connections come from `source`.
fn client_from(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .build()
        .expect("client")
}

/// POSTs `body` to `path` from `source`: (status, `Retry-After`, body).
async fn post_from(
    server: &Server,
    source: IpAddr,
    path: &str,
    body: Value,
) -> (u16, Option<i64>, Value) {
    let response = client_from(source)
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    with_retry_after(response).await
}

fn with(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut src = settings();
    for (k, v) in pairs {
        src.insert((*k).to_owned(), (*v).to_owned());
    }
    src
}

/// A counter's stored `hits` and `ttl`.
async fn counter(scope: &Scope, window: i64) -> Option<(i64, i64)> {
    let store = store().await;
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::rate_key(scope, window)))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item?;
    let number = |name: &str| item[name].as_n().unwrap().parse::<i64>().unwrap();
    Some((number("hits"), number("ttl")))
}

fn is_too_many_requests(result: &(u16, Option<i64>, Value), window: i64) -> bool {
    let (status, retry_after, body) = result;
    *status == 429
        && body["code"] == "too_many_requests"
        && retry_after.is_some_and(|s| (1..=window).contains(&s))
}

#[tokio::test]
async fn one_source_past_its_recovery_limit_is_refused_while_another_is_served() {
    const LIMIT: usize = 5;
    const WINDOW: i64 = 60;
    // A clock that stands still: every request of a round falls in one window.
    let clock = ManualClock::starting_now();
    let server = Server::start_with(
        &with(&[
            (cfg::SOURCE_LIMITS, "on"),
            (cfg::SOURCE_LIMIT_RECOVERY, "5"),
            (cfg::SOURCE_LIMIT_WINDOW_SECONDS, "60"),
        ]),
        clock.clone(),
    )
    .await;
    for round in 0..3 {
        let (noisy, quiet) = (fresh_source(), fresh_source());
        // Each request names another address, so the per-address mail quota never answers.
        let requests = (0..LIMIT + 4)
            .map(|_| (noisy, unique_email()))
            .chain((0..2).map(|_| (quiet, unique_email())));
        let results = join_all(requests.map(|(source, email)| {
            let server = &server;
            async move {
                let result = post_from(
                    server,
                    source,
                    "/auth/password/forgot",
                    json!({"email": email}),
                )
                .await;
                (source, result)
            }
        }))
        .await;
        let of = |source| results.iter().filter(move |(s, _)| *s == source);
        let accepted = of(noisy).filter(|(_, r)| r.0 == 202).count();
        let refused = of(noisy)
            .filter(|(_, r)| is_too_many_requests(r, WINDOW))
            .count();
        assert_eq!(
            (accepted, refused),
            (LIMIT, 4),
            "round {round}: {results:?}"
        );
        assert!(
            of(quiet).all(|(_, r)| r.0 == 202),
            "round {round}: the other source was refused: {results:?}"
        );
        // The counter holds exactly the limit and goes when its window ends.
        let limit = Limit {
            max: LIMIT as i64,
            window: WINDOW,
        };
        let window = rates::window(&limit, clock.unix());
        let scope = Scope::Source {
            group: RouteGroup::Recovery,
            source: noisy.to_string(),
        };
        assert_eq!(
            counter(&scope, window.index).await,
            Some((LIMIT as i64, window.ends_at)),
            "round {round}"
        );
        // The same source is served again in the next window.
        clock.advance(WINDOW);
        let (status, _, body) = post_from(
            &server,
            noisy,
            "/auth/password/forgot",
            json!({"email": unique_email()}),
        )
        .await;
        assert_eq!(status, 202, "round {round}: {body}");
    }
}

#[tokio::test]
async fn login_and_two_factor_verify_share_one_limit_per_source() {
    const LIMIT: usize = 3;
    let clock = ManualClock::starting_now();
    let server = Server::start_with(
        &with(&[
            (cfg::SOURCE_LIMITS, "on"),
            (cfg::SOURCE_LIMIT_LOGIN, "3"),
            (cfg::SOURCE_LIMIT_REGISTER, "100"),
        ]),
        clock.clone(),
    )
    .await;
    for round in 0..3 {
        let (noisy, quiet) = (fresh_source(), fresh_source());
        let email = unique_email();
        let (status, _, body) = post_from(
            &server,
            quiet,
            "/auth/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        // Unknown addresses: each a 401 that reaches the password check, never a lockout.
        let burst = (0..LIMIT + 3).map(|_| {
            post_from(
                &server,
                noisy,
                "/auth/login",
                json!({"email": unique_email(), "password": "wrong-password-123"}),
            )
        });
        let right = post_from(
            &server,
            quiet,
            "/auth/login",
            json!({"email": email, "password": PASSWORD}),
        );
        let (results, right) = tokio::join!(join_all(burst), right);
        let checked = results.iter().filter(|r| r.0 == 401).count();
        let refused = results
            .iter()
            .filter(|r| is_too_many_requests(r, 60))
            .count();
        assert_eq!((checked, refused), (LIMIT, 3), "round {round}: {results:?}");
        assert_eq!(right.0, 200, "round {round}: {right:?}");
        // The second step of a login counts in the same window: refused before the token is
        // even looked at.
        let verify = post_from(
            &server,
            noisy,
            "/auth/mfa/verify",
            json!({"mfa_token": "x", "code": "123456"}),
        )
        .await;
        assert!(
            is_too_many_requests(&verify, 60),
            "round {round}: {verify:?}"
        );
        clock.advance(60);
    }
}

#[tokio::test]
async fn registration_mails_stay_within_the_per_address_and_the_hourly_budget() {
    // An hour of its own, far from the wall clock's, so no other test's registrations share
    // the service-wide counter.
    let b = *uuid::Uuid::new_v4().as_bytes();
    let hours_ahead = 10_000 + i64::from(u16::from_be_bytes([b[0], b[1]]));
    let clock =
        ManualClock::new((ManualClock::starting_now().unix() / 3_600 + hours_ahead) * 3_600);
    let server = Server::start_with(
        &with(&[
            (cfg::SOURCE_LIMITS, "on"),
            (cfg::SOURCE_LIMIT_REGISTER, "100"),
            (cfg::REGISTRATION_MAILS_PER_ADDRESS_PER_HOUR, "2"),
            (cfg::REGISTRATION_MAILS_PER_HOUR, "4"),
        ]),
        clock.clone(),
    )
    .await;
    for round in 0..3 {
        // One address asked for 4 times at once, from 4 sources: 2 reach the registration
        // (one account, one `email_taken`), 2 are refused by the address's budget.
        let target = unique_email();
        let same = join_all((0..4).map(|_| {
            post_from(
                &server,
                fresh_source(),
                "/auth/register",
                json!({"email": target, "password": PASSWORD}),
            )
        }))
        .await;
        let statuses = |results: &[(u16, Option<i64>, Value)], status: u16| {
            results.iter().filter(|r| r.0 == status).count()
        };
        assert_eq!(
            (
                statuses(&same, 201),
                statuses(&same, 409),
                same.iter()
                    .filter(|r| is_too_many_requests(r, 3_600))
                    .count()
            ),
            (1, 1, 2),
            "round {round}: {same:?}"
        );
        // The service's budget (4) has 2 left this hour: of 5 new addresses at once, 2
        // register, 3 are refused, and only the 2 get a mail.
        let others: Vec<String> = (0..5).map(|_| unique_email()).collect();
        let results = join_all(others.iter().map(|email| {
            post_from(
                &server,
                fresh_source(),
                "/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
        }))
        .await;
        assert_eq!(
            (
                statuses(&results, 201),
                results
                    .iter()
                    .filter(|r| is_too_many_requests(r, 3_600))
                    .count()
            ),
            (2, 3),
            "round {round}: {results:?}"
        );
        let mut mailed = 0;
        for (email, result) in others.iter().zip(&results) {
            let mails = mails_to(email).await.len();
            assert_eq!(
                mails,
                usize::from(result.0 == 201),
                "round {round}: {email}"
            );
            mailed += mails;
        }
        assert_eq!(mailed, 2);
        assert_eq!(mails_to(&target).await.len(), 1, "round {round}");
        // The budget's counter holds 4 and goes at the end of its hour.
        let hour = rates::window(
            &Limit {
                max: 4,
                window: 3_600,
            },
            clock.unix(),
        );
        assert_eq!(
            counter(&Scope::RegistrationMails, hour.index).await,
            Some((4, hour.ends_at))
        );
        // The next hour has a budget again.
        clock.advance(3_600);
    }
}
