//! simplejwt's routes (`SIMPLEJWT_COMPAT=true`), over HTTP through the local server: the
//! request/response pairs of simplejwt's tutorial (obtain a pair, refresh, verify, blacklist),
//! DRF's and simplejwt's error shapes, the same lockout, rotation and session end as the
//! service's own routes (a failure or a rotation on one route counts on the other), and off by
//! default: then the routes answer exactly what an unknown route answers.

use futures::future::join_all;
use integration_tests::{
    PASSWORD, Server, http, issuer, logged_in, post, registered, settings, simplejwt_settings,
    unique_email,
};
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};
use shared::config as cfg;

const OBTAIN: &str = "/api/token/";
const REFRESH: &str = "/api/token/refresh/";
const VERIFY: &str = "/api/token/verify/";
const BLACKLIST: &str = "/api/token/blacklist/";

/// simplejwt's answer to a token it refuses (`InvalidToken`).
fn token_not_valid() -> Value {
    json!({"detail": "Token is invalid or expired", "code": "token_not_valid"})
}

/// A POST as a simplejwt client sends it: (status, headers, JSON body).
async fn call(
    server: &Server,
    path: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = http()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, headers, value)
}

fn header<'h>(headers: &'h reqwest::header::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /api/token/` with the standard password: (access, refresh).
async fn obtain(server: &Server, email: &str) -> (String, String) {
    let (status, headers, body) = call(
        server,
        OBTAIN,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["access", "refresh"],
        "simplejwt's pair, nothing else: {body}"
    );
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    (
        body["access"].as_str().unwrap().to_owned(),
        body["refresh"].as_str().unwrap().to_owned(),
    )
}

async fn simplejwt_server() -> Server {
    Server::start_with(&simplejwt_settings(), SystemClock::shared()).await
}

async fn me_status(server: &Server, access: &str) -> u16 {
    integration_tests::me(server, Some(&format!("Bearer {access}")))
        .await
        .0
}

#[tokio::test]
async fn off_by_default_the_routes_answer_what_an_unknown_route_answers() {
    assert!(
        !cfg::simplejwt_compat(&settings()).unwrap(),
        "SIMPLEJWT_COMPAT must default to off"
    );
    let server = Server::start().await;
    let unknown = http()
        .post(server.url("/api/nothing/"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let unknown_type = header(unknown.headers(), "content-type").map(str::to_owned);
    let unknown_body = unknown.text().await.unwrap();
    assert_eq!(unknown_body, r#"{"message":"Not Found"}"#);
    let email = registered(&server).await;
    for (path, body) in [
        (OBTAIN, json!({"email": email, "password": PASSWORD})),
        (REFRESH, json!({"refresh": "x"})),
        (VERIFY, json!({"token": "x"})),
        (BLACKLIST, json!({"refresh": "x"})),
    ] {
        let response = http()
            .post(server.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            header(response.headers(), "content-type").map(str::to_owned),
            unknown_type,
            "{path}"
        );
        assert_eq!(response.text().await.unwrap(), unknown_body, "{path}");
    }
}

#[tokio::test]
async fn the_tutorial_session_obtain_refresh_verify_blacklist() {
    let server = simplejwt_server().await;
    let email = registered(&server).await;
    let (access, refresh) = obtain(&server, &email).await;
    // The access token is the service's own: the authorizer takes it.
    assert_eq!(me_status(&server, &access).await, 200);

    let (status, _, body) = call(&server, VERIFY, json!({"token": access})).await;
    assert_eq!((status, body), (200, json!({})));

    let (status, headers, body) = call(&server, REFRESH, json!({"refresh": refresh})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["access", "refresh"], "{body}");
    let (access2, refresh2) = (
        body["access"].as_str().unwrap().to_owned(),
        body["refresh"].as_str().unwrap().to_owned(),
    );
    assert_ne!(refresh2, refresh, "rotated");
    let (status, _, body) = call(&server, VERIFY, json!({"token": access2})).await;
    assert_eq!((status, body), (200, json!({})));

    let (status, _, body) = call(&server, BLACKLIST, json!({"refresh": refresh2})).await;
    assert_eq!((status, body), (200, json!({})));
    // The session is over, as after a logout: its refresh token and its access tokens too.
    let (status, headers, body) = call(&server, REFRESH, json!({"refresh": refresh2})).await;
    assert_eq!((status, body), (401, token_not_valid()));
    assert_eq!(
        header(&headers, "www-authenticate"),
        Some(r#"Bearer realm="api""#)
    );
    let (status, _, body) = call(&server, VERIFY, json!({"token": access2})).await;
    assert_eq!((status, body), (401, token_not_valid()));
    assert_eq!(me_status(&server, &access2).await, 403);
    // Blacklisting again, or anything, answers as logout does: nothing to tell.
    let (status, _, body) = call(&server, BLACKLIST, json!({"refresh": refresh2})).await;
    assert_eq!((status, body), (200, json!({})));
}

#[tokio::test]
async fn verify_refuses_bad_expired_tampered_and_refresh_tokens() {
    let server = simplejwt_server().await;
    let (_, access, refresh) = logged_in(&server).await;
    let claims = integration_tests::verifier()
        .verify(&access, time::OffsetDateTime::now_utc().unix_timestamp())
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Signed by the right key, for a live session, but expired an hour ago.
    let expired = issuer()
        .issue(&claims.sub, &[], &claims.sid, now - 7_200)
        .unwrap();
    // One character of the payload changed: the signature no longer holds.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let payload = parts[1].clone();
    let last = payload.chars().last().unwrap();
    parts[1] = format!(
        "{}{}",
        &payload[..payload.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    let tampered = parts.join(".");
    for token in [
        "not-a-token".to_owned(),
        String::new(),
        expired,
        tampered,
        refresh,
    ] {
        let (status, headers, body) = call(&server, VERIFY, json!({"token": token})).await;
        if token.is_empty() {
            // DRF's CharField: a blank string is a field error, not a token.
            assert_eq!(
                (status, body),
                (400, json!({"token": ["This field may not be blank."]}))
            );
            continue;
        }
        assert_eq!((status, body), (401, token_not_valid()), "{token}");
        assert_eq!(
            header(&headers, "www-authenticate"),
            Some(r#"Bearer realm="api""#)
        );
    }
    // The good one still verifies.
    let (status, _, body) = call(&server, VERIFY, json!({"token": access})).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, _, body) = call(&server, VERIFY, json!({})).await;
    assert_eq!(
        (status, body),
        (400, json!({"token": ["This field is required."]}))
    );
}

#[tokio::test]
async fn errors_take_drf_and_simplejwt_shapes() {
    let server = simplejwt_server().await;
    let email = registered(&server).await;
    let cases = [
        (
            OBTAIN,
            json!({"email": email}),
            400,
            json!({"password": ["This field is required."]}),
        ),
        (
            OBTAIN,
            json!({}),
            400,
            json!({"username": ["This field is required."], "password": ["This field is required."]}),
        ),
        (
            OBTAIN,
            json!({"email": email, "password": ""}),
            400,
            json!({"password": ["This field may not be blank."]}),
        ),
        (
            OBTAIN,
            json!({"email": email, "password": null}),
            400,
            json!({"password": ["This field may not be null."]}),
        ),
        (
            OBTAIN,
            json!({"email": email, "password": "wrong password, long enough"}),
            401,
            json!({"detail": "No active account found with the given credentials", "code": "no_active_account"}),
        ),
        (
            OBTAIN,
            json!({"email": unique_email(), "password": PASSWORD}),
            401,
            json!({"detail": "No active account found with the given credentials", "code": "no_active_account"}),
        ),
        (
            REFRESH,
            json!({}),
            400,
            json!({"refresh": ["This field is required."]}),
        ),
        (REFRESH, json!({"refresh": "nope"}), 401, token_not_valid()),
        (
            REFRESH,
            json!({"refresh": ["a"]}),
            400,
            json!({"refresh": ["Not a valid string."]}),
        ),
        (
            BLACKLIST,
            json!({}),
            400,
            json!({"refresh": ["This field is required."]}),
        ),
    ];
    for (path, request, status, expected) in cases {
        let (got, headers, body) = call(&server, path, request.clone()).await;
        assert_eq!((got, &body), (status, &expected), "{path} {request}");
        assert_eq!(header(&headers, "content-type"), Some("application/json"));
    }
    // Not JSON: DRF's parse error.
    let response = http()
        .post(server.url(OBTAIN))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"], "Malformed request.");
    assert_eq!(body["code"], "malformed_request");
}

#[tokio::test]
async fn an_unverified_address_is_refused_in_drf_s_shape() {
    let mut src = simplejwt_settings();
    src.insert(cfg::REQUIRE_VERIFIED_EMAIL.into(), "true".into());
    let server = Server::start_with(&src, SystemClock::shared()).await;
    let email = registered(&server).await;
    let (status, _, body) = call(
        &server,
        OBTAIN,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "email_not_verified");
    assert!(body["detail"].is_string(), "{body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "detail and code: {body}"
    );
}

#[tokio::test]
async fn the_lockout_is_shared_with_auth_login() {
    let server = simplejwt_server().await;
    let email = registered(&server).await;
    let wrong = "a wrong password, long enough";
    // Five failures (the default LOCKOUT_MAX_FAILURES), split between the two routes.
    for round in 0..5 {
        let (status, body) = if round % 2 == 0 {
            let (status, _, body) =
                call(&server, OBTAIN, json!({"email": email, "password": wrong})).await;
            (status, body)
        } else {
            integration_tests::login(&server, &email, wrong).await
        };
        assert_eq!(status, 401, "{body}");
    }
    // Locked on both, whichever route counted the failures.
    let (status, body) = integration_tests::login(&server, &email, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
    let (status, headers, body) = call(
        &server,
        OBTAIN,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    let retry_after: i64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0);
    assert_eq!(body["code"], "too_many_attempts");
    assert_eq!(
        body["detail"],
        format!("Request was throttled. Expected available in {retry_after} seconds."),
        "DRF's Throttled message"
    );
}

#[tokio::test]
async fn one_rotation_rule_on_both_refresh_routes() {
    let server = simplejwt_server().await;
    // Ours, then simplejwt's: the token rotated on /api/token/refresh/ is spent on /auth/refresh.
    let (_, _, refresh) = logged_in(&server).await;
    let (status, _, body) = call(&server, REFRESH, json!({"refresh": refresh})).await;
    assert_eq!(status, 200, "{body}");
    let next = body["refresh"].as_str().unwrap().to_owned();
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("token_reused")));
    // Reuse ended the session: the successor is dead too.
    let (status, _, body) = call(&server, REFRESH, json!({"refresh": next})).await;
    assert_eq!((status, body), (401, token_not_valid()));

    // simplejwt's, then ours: the token rotated on /auth/refresh is spent on /api/token/refresh/.
    let email = registered(&server).await;
    let (_, refresh) = obtain(&server, &email).await;
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!(status, 200, "{body}");
    let next = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, _, body) = call(&server, REFRESH, json!({"refresh": refresh})).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
        )
    );
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": next})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
}

#[tokio::test]
async fn a_blacklist_racing_refreshes_never_leaves_a_live_successor() {
    let server = simplejwt_server().await;
    let email = registered(&server).await;
    for round in 0..3 {
        let (access, refresh) = obtain(&server, &email).await;
        let refreshes =
            join_all((0..2).map(|_| call(&server, REFRESH, json!({"refresh": refresh}))));
        let blacklist = call(&server, BLACKLIST, json!({"refresh": refresh}));
        let (refreshed, (status, _, body)) = tokio::join!(refreshes, blacklist);
        assert_eq!((status, body), (200, json!({})), "round {round}");
        let successors: Vec<(String, String)> = refreshed
            .into_iter()
            .filter_map(|(status, _, body)| match status {
                200 => Some((
                    body["access"].as_str().unwrap().to_owned(),
                    body["refresh"].as_str().unwrap().to_owned(),
                )),
                401 => {
                    assert_eq!(body["code"], "token_not_valid", "{body}");
                    None
                }
                other => panic!("round {round}: refresh answered {other}: {body}"),
            })
            .collect();
        assert!(
            successors.len() <= 1,
            "round {round}: two successors of one token"
        );
        // Whatever the order, the blacklist ended the session: nothing of it lives on.
        for (next_access, next_refresh) in &successors {
            let (status, _, body) = call(&server, REFRESH, json!({"refresh": next_refresh})).await;
            assert_eq!((status, body), (401, token_not_valid()), "round {round}");
            let (status, _, _) = call(&server, VERIFY, json!({"token": next_access})).await;
            assert_eq!(status, 401, "round {round}");
        }
        let (status, _, _) = call(&server, VERIFY, json!({"token": access})).await;
        assert_eq!(status, 401, "round {round}");
    }
}

#[tokio::test]
async fn a_two_factor_account_gets_the_challenge_not_tokens() {
    let (server, clock) = crate::mfa::server_at_step_start(&simplejwt_settings()).await;
    let (email, secret, _, _, _) = crate::mfa::enrolled(&server, &clock).await;
    let (status, headers, body) = call(
        &server,
        OBTAIN,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "mfa_required");
    assert!(body["detail"].is_string());
    assert!(body.get("access").is_none() && body.get("refresh").is_none());
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    // The challenge continues where ours does.
    let token = body["mfa_token"].as_str().unwrap();
    let code = crate::mfa::code(&secret, clock.unix());
    let (status, body) = post(
        &server,
        "/auth/mfa/verify",
        json!({"mfa_token": token, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The sample events, as API Gateway sends them (the route told by `requestContext.routeKey`),
/// through the real handlers: 404 with the setting off, simplejwt's answers with it on.
#[tokio::test]
async fn the_sample_events_reach_simplejwt_s_routes_by_their_route_key() {
    let sample = |name: &str| {
        lambda_http::request::from_str(&integration_tests::event(name)).expect("payload 2.0 event")
    };
    let answer = |response: lambda_http::Response<lambda_http::Body>| {
        let status = response.status().as_u16();
        let body: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
        (status, body)
    };
    for (src, on) in [(settings(), false), (simplejwt_settings(), true)] {
        let clock = SystemClock::shared();
        let (login, refresh, logout) = tokio::join!(
            login::state(&src, clock.clone()),
            refresh::state(&src, clock.clone()),
            logout::state(&src, clock.clone())
        );
        let (login, refresh, logout) = (login.unwrap(), refresh.unwrap(), logout.unwrap());
        let answers = [
            answer(login::handle(&login, sample("simplejwt-token")).await),
            answer(refresh::handle(&refresh, sample("simplejwt-refresh")).await),
            answer(refresh::handle(&refresh, sample("simplejwt-verify")).await),
            answer(logout::handle(&logout, sample("simplejwt-blacklist")).await),
        ];
        if !on {
            for (status, body) in answers {
                assert_eq!((status, body), (404, json!({"message": "Not Found"})));
            }
            continue;
        }
        let no_account = json!({
            "detail": "No active account found with the given credentials",
            "code": "no_active_account"
        });
        assert_eq!(
            answers,
            [
                (401, no_account),
                (401, token_not_valid()),
                (401, token_not_valid()),
                (200, json!({})),
            ]
        );
    }
}

/// simplejwt's default user model logs in with a `username`: an account imported with one (and
/// no email) gets its pair on `/api/token/` as on `/auth/login`, the name in any case; a wrong
/// password or an unknown name is `no_active_account`, and both count on the one lockout.
#[tokio::test]
async fn a_username_logs_in_on_api_token() {
    let server = simplejwt_server().await;
    let username = crate::usernames::unique_username();
    crate::usernames::created(&integration_tests::store().await, &username, None, &[]).await;
    let (status, _, body) = call(
        &server,
        OBTAIN,
        json!({"username": username.to_lowercase(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access = body["access"].as_str().unwrap();
    assert_eq!(me_status(&server, access).await, 200);
    let (status, _, body) = call(&server, VERIFY, json!({"token": access})).await;
    assert_eq!((status, body), (200, json!({})));
    let no_account = json!({
        "detail": "No active account found with the given credentials",
        "code": "no_active_account"
    });
    for name in [username.clone(), crate::usernames::unique_username()] {
        let (status, _, body) = call(
            &server,
            OBTAIN,
            json!({"username": name, "password": "a wrong password, long enough"}),
        )
        .await;
        assert_eq!((status, &body), (401, &no_account));
    }
    // Four more failures on the two routes: the username is locked on both.
    for round in 0..4 {
        let body = json!({"username": username, "password": "a wrong password, long enough"});
        let status = if round % 2 == 0 {
            call(&server, OBTAIN, body).await.0
        } else {
            post(&server, "/auth/login", body).await.0
        };
        assert_eq!(status, 401);
    }
    let (status, _, body) = call(
        &server,
        OBTAIN,
        json!({"username": username, "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
}
