//! Administration under attack, over HTTP against DynamoDB Local: no one grants what they do
//! not hold (roles to users, permissions to roles, for themselves or others), a removed role or
//! permission stops live access tokens at once while unaffected sessions live on, admin writes
//! answer 409 `conflict` (never 5xx) under contention, administrators can be made to use a
//! second factor, and tokens and the role catalog stay within their bounds.

use std::collections::HashMap;

use futures::future::join_all;
use integration_tests::{
    PASSWORD, Server, http, issuer, json, logged_in, me, registered, with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::SystemClock;
use shared::policy::roles;

use crate::admin::{
    admin_service, claims, new_admin, own_table, put_role, refresh, set_roles, tokens, user_id,
};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The roles of the user with this email, as the store has them.
async fn roles_of(settings: &HashMap<String, String>, email: &str) -> Vec<String> {
    let admin = admin_service(settings).await;
    let id = admin.id_of(email).await.unwrap();
    admin.user(id.as_str()).await.unwrap().summary.roles
}

async fn role_permissions(settings: &HashMap<String, String>, name: &str) -> Option<Vec<String>> {
    admin_service(settings)
        .await
        .roles()
        .await
        .unwrap()
        .roles
        .into_iter()
        .find(|r| r.name == name)
        .map(|r| r.permissions)
}

fn assert_escalation(status: u16, body: &Value) {
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("privilege_escalation")),
        "{body}"
    );
}

#[tokio::test]
async fn a_holder_of_users_write_gives_no_role_it_does_not_hold_to_itself_or_others() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let admin = admin_service(&settings).await;
    // Someone must stay administrator for the counts to be real.
    new_admin(&settings).await;
    let writer_role = unique("user-writer");
    put_role(
        &admin,
        &writer_role,
        &[roles::USERS_READ, roles::USERS_WRITE],
    )
    .await;
    let reports = unique("reports");
    put_role(&admin, &reports, &["reports.read"]).await;
    let email = registered(&server).await;
    set_roles(&admin, &email, vec![writer_role.clone()]).await;
    let (access, _) = tokens(&server, &email).await;
    let me_id = user_id(&server, &access).await;
    let other = registered(&server).await;
    let other_id = admin.id_of(&other).await.unwrap().to_string();

    // Itself: admin, or a role with a permission it lacks.
    for wanted in [
        vec![writer_role.clone(), roles::ADMIN.to_owned()],
        vec![writer_role.clone(), reports.clone()],
    ] {
        let (status, body) = with_bearer(
            &server,
            Method::PATCH,
            &format!("/admin/users/{me_id}"),
            &access,
            Some(json!({"roles": wanted})),
        )
        .await;
        assert_escalation(status, &body);
        assert_eq!(roles_of(&settings, &email).await, vec![writer_role.clone()]);
    }
    // Another account: the same.
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{other_id}"),
        &access,
        Some(json!({"roles": [roles::ADMIN], "name": "Promoted"})),
    )
    .await;
    assert_escalation(status, &body);
    assert!(roles_of(&settings, &other).await.is_empty());
    // What it holds, it may give.
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{other_id}"),
        &access,
        Some(json!({"roles": [writer_role]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A full administrator gives anything.
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_access, _) = tokens(&server, &admin_email).await;
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{other_id}"),
        &admin_access,
        Some(json!({"roles": [reports]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_disabled_administrator_is_enabled_only_by_someone_holding_its_rights() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let admin = admin_service(&settings).await;
    new_admin(&settings).await;
    let (dormant, dormant_id) = new_admin(&settings).await;
    let disable = json!({"active": false});
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_access, _) = tokens(&server, &admin_email).await;
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{dormant_id}"),
        &admin_access,
        Some(disable),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let writer_role = unique("user-writer");
    put_role(
        &admin,
        &writer_role,
        &[roles::USERS_READ, roles::USERS_WRITE],
    )
    .await;
    let email = registered(&server).await;
    set_roles(&admin, &email, vec![writer_role]).await;
    let (access, _) = tokens(&server, &email).await;
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{dormant_id}"),
        &access,
        Some(json!({"active": true})),
    )
    .await;
    assert_escalation(status, &body);
    let id = admin.id_of(&dormant).await.unwrap();
    assert!(!admin.user(id.as_str()).await.unwrap().summary.active);
}

#[tokio::test]
async fn a_holder_of_roles_write_puts_no_permission_it_does_not_hold() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let admin = admin_service(&settings).await;
    new_admin(&settings).await;
    let own_role = unique("role-writer");
    let held = [roles::ROLES_WRITE, roles::USERS_READ];
    put_role(&admin, &own_role, &held).await;
    let email = registered(&server).await;
    set_roles(&admin, &email, vec![own_role.clone()]).await;
    let (access, _) = tokens(&server, &email).await;

    // Widening its own role, creating a role, widening another's: refused, nothing written.
    let other_role = unique("reader");
    put_role(&admin, &other_role, &[roles::USERS_READ]).await;
    for (name, permissions) in [
        (
            own_role.clone(),
            json!([roles::ROLES_WRITE, roles::USERS_READ, roles::USERS_WRITE]),
        ),
        (unique("fresh"), json!([roles::USERS_WRITE])),
        (
            other_role.clone(),
            json!([roles::USERS_READ, "reports.read"]),
        ),
        (
            roles::ADMIN.to_owned(),
            json!([
                roles::ROLES_WRITE,
                roles::USERS_READ,
                roles::USERS_WRITE,
                "x.y"
            ]),
        ),
    ] {
        let before = role_permissions(&settings, &name).await;
        let (status, body) = with_bearer(
            &server,
            Method::PUT,
            &format!("/admin/roles/{name}"),
            &access,
            Some(json!({"permissions": permissions})),
        )
        .await;
        assert_escalation(status, &body);
        assert_eq!(role_permissions(&settings, &name).await, before, "{name}");
    }
    // What it holds it may put, and it may narrow.
    let fresh = unique("fresh");
    let (status, body) = with_bearer(
        &server,
        Method::PUT,
        &format!("/admin/roles/{fresh}"),
        &access,
        Some(json!({"permissions": [roles::USERS_READ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A full administrator puts application permissions nobody holds yet.
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_access, _) = tokens(&server, &admin_email).await;
    let (status, body) = with_bearer(
        &server,
        Method::PUT,
        &format!("/admin/roles/{}", unique("editor")),
        &admin_access,
        Some(json!({"permissions": ["articles.publish"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_revoked_role_stops_the_live_token_at_once_and_others_live_on() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let admin = admin_service(&settings).await;
    new_admin(&settings).await;
    let (demoted, demoted_id) = new_admin(&settings).await;
    let (stale, stale_refresh) = tokens(&server, &demoted).await;
    let (bystander, _) = new_admin(&settings).await;
    let (bystander_access, _) = tokens(&server, &bystander).await;
    let (_, plain_access, _) = logged_in(&server).await;
    assert_eq!(
        with_bearer(&server, Method::GET, "/admin/users", &stale, None)
            .await
            .0,
        200
    );

    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{demoted_id}"),
        &bystander_access,
        Some(json!({"roles": []})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The demoted admin's live token: nothing on the admin routes, and it cannot re-grant.
    let (status, _) = with_bearer(&server, Method::GET, "/admin/users", &stale, None).await;
    assert!(status == 401 || status == 403, "{status}");
    let (status, _) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{demoted_id}"),
        &stale,
        Some(json!({"roles": [roles::ADMIN]})),
    )
    .await;
    assert!(status == 401 || status == 403, "{status}");
    assert!(roles_of(&settings, &demoted).await.is_empty());
    // Its session lives on: a refresh gives a token with what it holds now.
    let (status, body) = refresh(&server, &stale_refresh).await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap().to_owned();
    assert!(claims(&fresh).roles.is_empty());
    assert_eq!(me(&server, Some(&format!("Bearer {fresh}"))).await.0, 200);
    // Unaffected users' tokens live on.
    assert_eq!(
        with_bearer(
            &server,
            Method::GET,
            "/admin/users",
            &bystander_access,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        me(&server, Some(&format!("Bearer {plain_access}"))).await.0,
        200
    );
    let _ = admin;
}

#[tokio::test]
async fn a_narrowed_or_deleted_role_stops_its_holders_tokens_at_once() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let admin = admin_service(&settings).await;
    new_admin(&settings).await;
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_access, _) = tokens(&server, &admin_email).await;
    let narrowed = unique("support");
    put_role(&admin, &narrowed, &[roles::USERS_READ, roles::USERS_WRITE]).await;
    let kept = unique("auditor");
    put_role(&admin, &kept, &[roles::USERS_READ]).await;
    let holder = registered(&server).await;
    set_roles(&admin, &holder, vec![narrowed.clone()]).await;
    let (stale, stale_refresh) = tokens(&server, &holder).await;
    let bystander = registered(&server).await;
    set_roles(&admin, &bystander, vec![kept.clone()]).await;
    let (bystander_access, _) = tokens(&server, &bystander).await;
    let target = registered(&server).await;
    let target_id = admin.id_of(&target).await.unwrap().to_string();
    let rename = |name: &str| Some(json!({"name": name}));
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{target_id}"),
        &stale,
        rename("Before"),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The role loses auth.users.write: the holder's token no longer writes, at once.
    let (status, body) = with_bearer(
        &server,
        Method::PUT,
        &format!("/admin/roles/{narrowed}"),
        &admin_access,
        Some(json!({"permissions": [roles::USERS_READ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{target_id}"),
        &stale,
        rename("After"),
    )
    .await;
    assert!(status == 401 || status == 403, "{status} {body}");
    // The session lives on: refreshed, it reads and cannot write.
    let (status, body) = refresh(&server, &stale_refresh).await;
    assert_eq!(status, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&fresh).entitlements, vec![roles::USERS_READ]);
    assert_eq!(
        with_bearer(&server, Method::GET, "/admin/users", &fresh, None)
            .await
            .0,
        200
    );
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{target_id}"),
        &fresh,
        rename("After"),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    // The holder of another role was not touched.
    assert_eq!(
        with_bearer(
            &server,
            Method::GET,
            "/admin/users",
            &bystander_access,
            None
        )
        .await
        .0,
        200
    );

    // Deleted (after being taken from its holder) and created again under the same name with
    // more: a token from before carries none of it.
    let (stale2, _) = tokens(&server, &holder).await;
    set_roles(&admin, &holder, vec![]).await;
    let (status, _) = with_bearer(
        &server,
        Method::DELETE,
        &format!("/admin/roles/{narrowed}"),
        &admin_access,
        None,
    )
    .await;
    assert_eq!(status, 204);
    put_role(&admin, &narrowed, &[roles::USERS_READ, roles::USERS_WRITE]).await;
    set_roles(&admin, &holder, vec![narrowed.clone()]).await;
    let (status, _) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{target_id}"),
        &stale2,
        rename("Again"),
    )
    .await;
    assert!(status == 401 || status == 403, "{status}");
}

/// 10 parallel `DELETE /admin/users/{id}/sessions` and 10 parallel PATCHes of one user: no
/// 5xx; a write still contended after its retries answers 409 `conflict` with `Retry-After`.
#[tokio::test]
async fn parallel_admin_writes_never_answer_5xx() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    new_admin(&settings).await;
    let (admin_email, _) = new_admin(&settings).await;
    let (access, _) = tokens(&server, &admin_email).await;
    for round in 0..3 {
        let (target, target_access, _) = logged_in(&server).await;
        let id = user_id(&server, &target_access).await;
        let send = |method: Method, body: Option<Value>| {
            let mut request = http()
                .request(method, server.url(&format!("/admin/users/{id}/sessions")))
                .header("authorization", format!("Bearer {access}"));
            if let Some(body) = body {
                request = request.json(&body);
            }
            request.send()
        };
        let ends = join_all((0..10).map(|_| send(Method::DELETE, None))).await;
        let patches = join_all((0..10).map(|i| {
            http()
                .patch(server.url(&format!("/admin/users/{id}")))
                .header("authorization", format!("Bearer {access}"))
                .json(&json!({"name": format!("Name {i}")}))
                .send()
        }))
        .await;
        for response in ends.into_iter().chain(patches) {
            let response = response.unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            let (_, body) = json(response).await;
            assert!(status < 500, "round {round}: {status} {body}");
            if status == 409 {
                assert_eq!(body["code"], "conflict", "{body}");
                assert!(retry_after.is_some());
            } else {
                assert!(
                    status == 200 || status == 204,
                    "round {round}: {status} {body}"
                );
            }
        }
        // The sessions did end.
        assert_ne!(
            me(&server, Some(&format!("Bearer {target_access}")))
                .await
                .0,
            200,
            "{target}"
        );
    }
}

/// A token whose `amr` says a second factor was given, for the same session.
fn with_second_factor(access: &str) -> String {
    let mut claims = claims(access);
    claims.amr = vec!["pwd".to_owned(), "otp".to_owned()];
    claims.jti = uuid::Uuid::new_v4().to_string();
    issuer().sign(&claims).unwrap()
}

#[tokio::test]
async fn administrators_can_be_made_to_use_a_second_factor() {
    let mut settings = own_table().await;
    new_admin(&settings).await;
    let (admin_email, _) = new_admin(&settings).await;
    // Off (the local default): a password alone opens the admin routes.
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let (access, _) = tokens(&server, &admin_email).await;
    let (status, body) = with_bearer(&server, Method::GET, "/admin/users", &access, None).await;
    assert_eq!(status, 200, "{body}");
    drop(server);
    // On: a password alone gets 403 admin_mfa_required, on every admin route.
    settings.insert("ADMIN_REQUIRE_MFA".to_owned(), "true".to_owned());
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let (access, _) = tokens(&server, &admin_email).await;
    let id = user_id(&server, &access).await;
    for (method, path, body) in [
        (Method::GET, "/admin/users".to_owned(), None),
        (Method::GET, format!("/admin/users/{id}"), None),
        (
            Method::PATCH,
            format!("/admin/users/{id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, "/admin/roles".to_owned(), None),
        (
            Method::PUT,
            format!("/admin/roles/{}", unique("r")),
            Some(json!({"permissions": []})),
        ),
        (Method::DELETE, "/admin/roles/nope".to_owned(), None),
        (Method::DELETE, format!("/admin/users/{id}/sessions"), None),
        (Method::DELETE, format!("/admin/users/{id}"), None),
    ] {
        let (status, answer) = with_bearer(&server, method.clone(), &path, &access, body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("admin_mfa_required")),
            "{method} {path}: {answer}"
        );
    }
    // With a second factor in the token, they open.
    let strong = with_second_factor(&access);
    let (status, body) = with_bearer(&server, Method::GET, "/admin/users", &strong, None).await;
    assert_eq!(status, 200, "{body}");
    // Routes that are not admin routes do not ask.
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);
}

#[tokio::test]
async fn tokens_stay_within_the_gateway_header_limit_and_the_catalog_stays_bounded() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    new_admin(&settings).await;
    let (admin_email, _) = new_admin(&settings).await;
    let (access, _) = tokens(&server, &admin_email).await;
    // 100 permissions of 128 characters (each one allowed alone): refused, nothing written.
    let big: Vec<String> = (0..100)
        .map(|i| format!("p{i:03}.{}", "x".repeat(123)))
        .collect();
    let name = unique("huge");
    let (status, body) = with_bearer(
        &server,
        Method::PUT,
        &format!("/admin/roles/{name}"),
        &access,
        Some(json!({"permissions": big})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("token_too_large")),
        "{body}"
    );
    assert_eq!(role_permissions(&settings, &name).await, None);
    // Many roles, each small: the catalog stops at its bound, with its own code.
    let mut last = (0, Value::Null);
    for i in 0..80 {
        last = with_bearer(
            &server,
            Method::PUT,
            &format!("/admin/roles/many-{i:03}"),
            &access,
            Some(json!({"permissions": [format!("m.{i:03}")]})),
        )
        .await;
        if last.0 != 200 {
            break;
        }
    }
    assert_eq!(
        (last.0, last.1["code"].as_str()),
        (409, Some("catalog_full")),
        "{}",
        last.1
    );
    // The local server refuses request headers API Gateway would refuse.
    let response = http()
        .get(server.url("/me"))
        .header("authorization", format!("Bearer {access}"))
        .header("x-padding", "y".repeat(10_240))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 431);
    let _ = PASSWORD;
}

/// A `ROUTE_PERMISSIONS` key that would never match (another case, a trailing slash, a path
/// parameter of another name) stops the authorizer's cold start instead of leaving its route
/// unchecked; a right one starts.
#[tokio::test]
async fn a_route_permission_naming_no_route_stops_the_authorizers_cold_start() {
    use shared::config as cfg;
    // The verifier's settings alone: with the session check off the authorizer reads no table.
    let mut settings: HashMap<String, String> = [
        (cfg::JWT_ISSUER, integration_tests::ISSUER.to_owned()),
        (cfg::JWT_AUDIENCE, integration_tests::AUDIENCE.to_owned()),
        (
            cfg::JWT_PUBLIC_JWKS,
            integration_tests::signing_key().1.clone(),
        ),
        (cfg::REVOCATION_CHECK, "off".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for key in [
        "get /me",
        "GET /me/",
        "GET /admin/users/{userId}",
        "POST /articles",
    ] {
        settings.insert(
            shared::config::ROUTE_PERMISSIONS.to_owned(),
            json!({ key: "p.q" }).to_string(),
        );
        assert!(
            authorizer::state(&settings, SystemClock::shared())
                .await
                .is_err(),
            "{key}"
        );
    }
    settings.insert(
        shared::config::ROUTE_PERMISSIONS.to_owned(),
        json!({"GET /admin/users/{id}": "p.q"}).to_string(),
    );
    assert!(
        authorizer::state(&settings, SystemClock::shared())
            .await
            .is_ok()
    );
}
