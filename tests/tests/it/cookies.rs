//! Browser apps over HTTP: CORS answered the way API Gateway answers it from the template's
//! setting, the refresh token carried in an `HttpOnly` cookie (opt-in), the cross-site checks on
//! every request that uses the cookie, cookie refreshes racing, and the console's headers.
//! (`console.rs` drives the same in a real browser.)

use std::collections::HashMap;

use integration_tests::*;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use shared::config as cfg;

const APP_ORIGIN: &str = "http://app.test.invalid:8080";

async fn start(issuer: Option<&str>) -> Server {
    let issuer = issuer.map(str::to_owned);
    Server::start_at(
        move |base| {
            let mut s: HashMap<String, String> = settings();
            s.insert(cfg::CORS_ALLOWED_ORIGINS.into(), APP_ORIGIN.into());
            if let Some(issuer) = issuer {
                s.insert(
                    cfg::JWT_ISSUER.into(),
                    if issuer == "self" {
                        base.to_owned()
                    } else {
                        issuer
                    },
                );
            }
            s
        },
        shared::clock::SystemClock::shared(),
    )
    .await
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The value the one `Set-Cookie` of `name` sets.
fn cookie_value(headers: &HeaderMap, name: &str) -> String {
    let cookies = set_cookies(headers);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let first = cookies[0].split(';').next().unwrap();
    let (n, v) = first.split_once('=').unwrap();
    assert_eq!(n, name, "{cookies:?}");
    v.to_owned()
}

/// A POST as a browser page sends it: JSON, an `Origin`, optionally `X-Requested-With` and
/// the cookie.
async fn browser_post(
    server: &Server,
    path: &str,
    body: Value,
    origin: Option<&str>,
    requested_with: bool,
    cookie: Option<(&str, &str)>,
) -> (u16, HeaderMap, Value) {
    let mut request = http().post(server.url(path)).json(&body);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if requested_with {
        request = request.header("x-requested-with", "tests");
    }
    if let Some((name, value)) = cookie {
        request = request.header("cookie", format!("other=1; {name}={value}"));
    }
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    let (status, body) = json(response).await;
    (status, headers, body)
}

/// Registers a user and signs in in cookie mode from the API's own origin; returns (email, the
/// cookie's token).
async fn cookie_login(server: &Server, name: &str) -> (String, String) {
    let email = registered(server).await;
    let body = json!({"email": email, "password": PASSWORD, "token_transport": "cookie"});
    let (status, headers, tokens) =
        browser_post(server, "/auth/login", body, Some(&server.base), true, None).await;
    assert_eq!(status, 200, "{tokens}");
    (email, cookie_value(&headers, name))
}

/// A refresh from the cookie, as the API's own pages send it.
async fn cookie_refresh(server: &Server, name: &str, token: &str) -> (u16, HeaderMap, Value) {
    let own = server.base.clone();
    browser_post(
        server,
        "/auth/refresh",
        json!({}),
        Some(&own),
        true,
        Some((name, token)),
    )
    .await
}

#[tokio::test]
async fn login_in_cookie_mode_sets_an_httponly_secure_strict_cookie_and_keeps_it_out_of_the_body() {
    let server = start(None).await;
    let own = server.base.clone();
    let email = registered(&server).await;
    let body = json!({"email": email, "password": PASSWORD, "token_transport": "cookie"});
    let (status, headers, tokens) =
        browser_post(&server, "/auth/login", body, Some(&own), true, None).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(headers["cache-control"], "no-store");
    let cookie = &set_cookies(&headers)[0];
    assert!(cookie.starts_with("__Secure-refresh_token="), "{cookie}");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/auth",
        "Max-Age=2592000",
    ] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute} missing: {cookie}"
        );
    }
    // The cookie's token is a refresh token that works (in body mode too).
    let refresh = cookie_value(&headers, "__Secure-refresh_token");
    let (status, body) = post(&server, "/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!(status, 200, "{body}");
    // Body mode is unchanged.
    let (status, body) = login(&server, &email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());
    // An unknown transport is a validation error.
    let (status, _, body) = browser_post(
        &server,
        "/auth/login",
        json!({"email": email, "password": PASSWORD, "token_transport": "localStorage"}),
        Some(&own),
        true,
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
}

#[tokio::test]
async fn on_a_loopback_http_issuer_the_cookie_is_not_secure_and_drops_the_prefix() {
    let server = start(Some("self")).await;
    let own = server.base.clone();
    let email = registered(&server).await;
    let body = json!({"email": email, "password": PASSWORD, "token_transport": "cookie"});
    let (status, headers, _) =
        browser_post(&server, "/auth/login", body, Some(&own), true, None).await;
    assert_eq!(status, 200);
    let cookie = &set_cookies(&headers)[0];
    assert!(cookie.starts_with("refresh_token="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}

#[tokio::test]
async fn a_cookie_refresh_rotates_the_cookie_and_logout_clears_it() {
    let server = start(None).await;
    let own = server.base.clone();
    let name = "__Secure-refresh_token";
    let (email, first) = cookie_login(&server, name).await;

    // From an allowed other origin, with the header: rotated, in the cookie again.
    let (status, headers, body) = browser_post(
        &server,
        "/auth/refresh",
        json!({}),
        Some(APP_ORIGIN),
        true,
        Some((name, &first)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none() && body["access_token"].is_string());
    let second = cookie_value(&headers, name);
    assert_ne!(first, second);

    // The spent cookie is reuse: 401, the cookie cleared, and the session ends (the rotated one
    // stops working too).
    let (status, headers, body) = cookie_refresh(&server, name, &first).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("token_reused")),
        "{body}"
    );
    let cleared = &set_cookies(&headers)[0];
    assert!(
        cleared.starts_with(&format!("{name}=;")) && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let (status, _, _) = cookie_refresh(&server, name, &second).await;
    assert_eq!(status, 401);

    // Logout from the cookie: 204, cleared, and the session's token is dead.
    let body = json!({"email": email, "password": PASSWORD, "token_transport": "cookie"});
    let (_, headers, _) = browser_post(&server, "/auth/login", body, Some(&own), true, None).await;
    let live = cookie_value(&headers, name);
    let (status, headers, _) = browser_post(
        &server,
        "/auth/logout",
        json!({}),
        Some(&own),
        true,
        Some((name, &live)),
    )
    .await;
    assert_eq!(status, 204);
    assert!(set_cookies(&headers)[0].contains("Max-Age=0"));
    let (status, _) = post(&server, "/auth/refresh", json!({"refresh_token": live})).await;
    assert_eq!(status, 401);

    // Neither a body token nor a cookie: the field is required, as before.
    let (status, _, body) =
        browser_post(&server, "/auth/refresh", json!({}), Some(&own), true, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
}

#[tokio::test]
async fn every_cookie_request_needs_an_allowed_origin_and_the_custom_header() {
    let server = start(None).await;
    let own = server.base.clone();
    let name = "__Secure-refresh_token";
    let (email, token) = cookie_login(&server, name).await;
    let login_body = json!({"email": email, "password": PASSWORD, "token_transport": "cookie"});
    // Another port of the same host is the same site (SameSite lets the cookie through) but
    // not the same origin.
    let same_site = server.base.replace("127.0.0.1:", "127.0.0.1:1");
    let refused: [(Option<&str>, bool); 5] = [
        (Some(own.as_str()), false), // a form post: no custom header
        (Some("https://evil.test.invalid"), true), // another origin
        (Some(same_site.as_str()), true),
        (Some("null"), true), // a sandboxed frame or a redirect
        (None, true),
    ];
    for (origin, header) in refused {
        for path in ["/auth/refresh", "/auth/logout"] {
            let (status, headers, body) = browser_post(
                &server,
                path,
                json!({}),
                origin,
                header,
                Some((name, &token)),
            )
            .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (403, Some("cross_site_request")),
                "{path} from {origin:?} (header {header}): {body}"
            );
            assert!(set_cookies(&headers).is_empty());
        }
        let (status, _, body) = browser_post(
            &server,
            "/auth/login",
            login_body.clone(),
            origin,
            header,
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("cross_site_request"))
        );
    }
    // None of the refused requests used the token: it still refreshes.
    let (status, _, body) = cookie_refresh(&server, name, &token).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn racing_cookie_refreshes_rotate_once() {
    let server = start(None).await;
    let name = "__Secure-refresh_token";
    for _ in 0..3 {
        let (_, token) = cookie_login(&server, name).await;
        let results =
            futures::future::join_all((0..4).map(|_| cookie_refresh(&server, name, &token))).await;
        let ok: Vec<_> = results.iter().filter(|(s, _, _)| *s == 200).collect();
        assert_eq!(
            ok.len(),
            1,
            "{:?}",
            results.iter().map(|r| r.0).collect::<Vec<_>>()
        );
        assert!(results.iter().all(|(s, _, _)| *s == 200 || *s == 401));
        // Every loser was reuse of a spent token: the session is over, the winner's cookie too.
        let winner = cookie_value(&ok[0].1, name);
        let (status, _, _) = cookie_refresh(&server, name, &winner).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn cors_is_answered_for_allowed_origins_only() {
    let server = start(None).await;
    let preflight = |origin: &'static str| {
        http()
            .request(reqwest::Method::OPTIONS, server.url("/auth/refresh"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-requested-with",
            )
            .send()
    };
    let allowed = preflight(APP_ORIGIN).await.unwrap();
    assert_eq!(allowed.status(), 204);
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-headers"], devserver::CORS_HEADERS);
    assert_eq!(h["access-control-allow-methods"], devserver::CORS_METHODS);
    let other = preflight("https://evil.test.invalid").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Actual answers, errors included, carry the headers for an allowed origin only.
    for (origin, expected) in [
        (APP_ORIGIN, Some(APP_ORIGIN)),
        ("https://evil.test.invalid", None),
    ] {
        let response = http()
            .get(server.url("/me"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            expected
        );
    }
    // Without CORS configured there is no preflight answer: OPTIONS is an unknown route.
    let plain = Server::start().await;
    let response = http()
        .request(reqwest::Method::OPTIONS, plain.url("/auth/refresh"))
        .header("origin", APP_ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy() {
    let server = Server::start().await;
    for (path, media) in [
        ("/console/account", "text/html"),
        ("/console/admin/users/some-id", "text/html"),
        ("/console/reset-password", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/style.css", "text/css"),
    ] {
        let response = http().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let h = response.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(media),
            "{path}"
        );
        assert_eq!(h["content-security-policy"], console::CSP);
        assert!(console::CSP.starts_with("default-src 'self';"));
        assert!(console::CSP.contains("frame-ancestors 'none'"));
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(
            !response.text().await.unwrap().trim().is_empty(),
            "{path} is empty"
        );
    }
    let response = http()
        .get(server.url("/console/secret.env"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["content-security-policy"], console::CSP);
    // The page loads nothing from elsewhere and runs no inline script or style.
    let page = http()
        .get(server.url("/console/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"src="/console/app.js""#), "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    assert!(
        !page.contains("style=\"") && !page.contains("<style"),
        "{page}"
    );
    assert!(
        page.matches("<script").count() == page.matches("<script type=\"module\" src=").count()
    );
}
