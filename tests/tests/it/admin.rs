//! Groups, permissions and administration against DynamoDB Local: route permissions at the
//! gateway (and the authorizer cache), roles reaching tokens at the next refresh, disabled and
//! deleted accounts, pagination, the last-admin guard under parallel requests, `authctl`, and
//! the caller's own sessions list.

use std::collections::{BTreeSet, HashMap};

use futures::future::join_all;
use integration_tests::{
    PASSWORD, Server, endpoint, http, json, logged_in, login, me, post, registered, settings,
    unique_email, verifier, with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::clock::SystemClock;
use shared::config::{self as cfg, StoreSettings};
use shared::domain::{Email, Password};
use shared::policy::roles;
use shared::service::{Accounts, Actor, Admin, Caller, RolePut, ensure_admin};
use shared::store::{Store, schema};

/// The test settings on a table of its own (for the tests that count administrators).
pub(crate) async fn own_table() -> HashMap<String, String> {
    let mut settings = settings();
    let name = format!("auth-it-admin-{}", uuid::Uuid::new_v4().simple());
    let (store, _) = Store::connect(&StoreSettings {
        table_name: name.clone(),
        endpoint_url: Some(endpoint()),
        preconnect: false,
    })
    .await;
    schema::ensure_table(store.client(), store.table())
        .await
        .expect("create a table");
    settings.insert(cfg::TABLE_NAME.to_owned(), name);
    settings
}

pub(crate) async fn admin_service(settings: &HashMap<String, String>) -> Admin {
    Admin::from_source(settings, SystemClock::shared())
        .await
        .expect("admin service")
}

/// A new administrator on the settings' table; returns (email, user id).
pub(crate) async fn new_admin(settings: &HashMap<String, String>) -> (String, String) {
    let email = unique_email();
    let accounts = Accounts::from_source(settings, SystemClock::shared())
        .await
        .expect("accounts");
    let admin = admin_service(settings).await;
    let (id, created) = ensure_admin(
        &accounts,
        &admin,
        Email::parse(&email).unwrap(),
        Password::new(PASSWORD),
        &Caller::default(),
    )
    .await
    .expect("create an administrator");
    assert!(created);
    (email, id.to_string())
}

/// Logs in; returns (access, refresh).
pub(crate) async fn tokens(server: &Server, email: &str) -> (String, String) {
    let (status, body) = login(server, email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn user_id(server: &Server, access: &str) -> String {
    let (status, body) = me(server, Some(&format!("Bearer {access}"))).await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn put_role(admin: &Admin, name: &str, permissions: &[&str]) {
    let put = RolePut {
        description: None,
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
    };
    admin
        .put_role(Actor::Cli, name, &put, &Caller::default())
        .await
        .expect("put a role");
}

/// Gives the user with this email exactly these roles (as an administrator would).
pub(crate) async fn set_roles(admin: &Admin, email: &str, roles: Vec<String>) {
    let id = admin.id_of(email).await.unwrap();
    let patch = shared::service::UserPatch {
        name: None,
        change: roles::Change {
            roles: Some(roles),
            active: None,
        },
    };
    admin
        .update_user(Actor::Cli, id.as_str(), &patch, &Caller::default())
        .await
        .unwrap();
}

pub(crate) async fn refresh(server: &Server, token: &str) -> (u16, Value) {
    post(server, "/auth/refresh", json!({"refresh_token": token})).await
}

pub(crate) fn claims(access: &str) -> shared::tokens::AccessClaims {
    verifier()
        .verify(access, SystemClock::shared().unix())
        .expect("a valid access token")
}

#[tokio::test]
async fn a_route_permission_is_enforced_and_a_cached_allow_never_crosses_routes() {
    let mut settings = settings();
    settings.insert(
        cfg::ROUTE_PERMISSIONS.to_owned(),
        json!({"PATCH /me": "profile.edit"}).to_string(),
    );
    settings.insert(
        cfg::AUTHORIZER_CACHE_TTL_SECONDS.to_owned(),
        "300".to_owned(),
    );
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let admin = admin_service(&settings).await;
    let role = format!("profile-editor-{}", uuid::Uuid::new_v4().simple());
    put_role(&admin, &role, &["profile.edit"]).await;

    let (_, without, without_refresh) = logged_in(&server).await;
    // An Allow for GET /me is cached under (token, route)...
    assert_eq!(me(&server, Some(&format!("Bearer {without}"))).await.0, 200);
    // ...and the cache is live: after logout the same token still passes GET /me from it.
    let (status, _) = post(
        &server,
        "/auth/logout",
        json!({"refresh_token": without_refresh}),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(me(&server, Some(&format!("Bearer {without}"))).await.0, 200);
    // The route that needs the permission is decided anew, and denied.
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        "/me",
        &without,
        Some(json!({"name": "Nope"})),
    )
    .await;
    assert_eq!((status, &body), (403, &json!({"message": "Forbidden"})));

    // With the role (granted before login), the route is allowed.
    let email = registered(&server).await;
    set_roles(&admin, &email, vec![role.clone()]).await;
    let (with, _) = tokens(&server, &email).await;
    assert_eq!(claims(&with).entitlements, vec!["profile.edit"]);
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        "/me",
        &with,
        Some(json!({"name": "Editor"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The cache is per route whatever the configuration (the template's identity sources are
    // the header and the route key): a cached Allow for GET /me does not open /me/sessions.
    let (_, access, refresh_token) = logged_in(&server).await;
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);
    post(
        &server,
        "/auth/logout",
        json!({"refresh_token": refresh_token}),
    )
    .await;
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 200);
    let (status, _) = with_bearer(&server, Method::GET, "/me/sessions", &access, None).await;
    assert_eq!(status, 403, "a cached Allow was reused for another route");
}

#[tokio::test]
async fn roles_and_permissions_reach_tokens_on_the_next_refresh() {
    let server = Server::start().await;
    let admin = admin_service(&settings()).await;
    let (email, access, refresh_token) = logged_in(&server).await;
    assert!(claims(&access).roles.is_empty() && claims(&access).entitlements.is_empty());
    let role = format!("editor-{}", uuid::Uuid::new_v4().simple());
    put_role(&admin, &role, &["articles.publish"]).await;
    set_roles(&admin, &email, vec![role.clone()]).await;

    let (status, body) = refresh(&server, &refresh_token).await;
    assert_eq!(status, 200, "{body}");
    let claims1 = claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims1.roles, vec![role.clone()]);
    assert_eq!(claims1.entitlements, vec!["articles.publish"]);

    // The role's permissions change: the next refresh carries them.
    put_role(&admin, &role, &["articles.publish", "articles.review"]).await;
    let (status, body) = refresh(&server, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap()).entitlements,
        vec!["articles.publish", "articles.review"]
    );

    // Taken away: the next token has neither.
    set_roles(&admin, &email, vec![]).await;
    let (status, body) = refresh(&server, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let last = claims(body["access_token"].as_str().unwrap());
    assert!(last.roles.is_empty() && last.entitlements.is_empty());
    // The role is free again and can go.
    admin
        .delete_role(Actor::Cli, &role, &Caller::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_disabled_account_loses_its_sessions_its_refresh_and_its_login() {
    let server = Server::start().await;
    let settings = settings();
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_token, _) = tokens(&server, &admin_email).await;
    let (email, access, refresh_token) = logged_in(&server).await;
    let id = user_id(&server, &access).await;

    // Logins racing the disable: none of the tokens they get outlives it. (Four: a burst of
    // more than the lockout's five reserved checks at once is refused 429 by design.)
    let racing = join_all((0..4).map(|_| login(&server, &email, PASSWORD)));
    let target = format!("/admin/users/{id}");
    let disable = with_bearer(
        &server,
        Method::PATCH,
        &target,
        &admin_token,
        Some(json!({"active": false})),
    );
    let (logins, (status, body)) = tokio::join!(racing, disable);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(body["sessions"], 0, "{body}");
    for (status, body) in logins {
        match status {
            200 => {
                let token = body["access_token"].as_str().unwrap();
                assert_eq!(me(&server, Some(&format!("Bearer {token}"))).await.0, 403);
                let (status, _) = refresh(&server, body["refresh_token"].as_str().unwrap()).await;
                assert_eq!(status, 401);
            }
            403 => assert_eq!(body["code"], "account_disabled"),
            // The disable landed between the password check and the session.
            401 => assert_eq!(body["code"], "invalid_credentials"),
            other => panic!("login racing a disable answered {other}: {body}"),
        }
    }
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 403);
    let (status, body) = refresh(&server, &refresh_token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    // A wrong password says nothing about the account; the right one says it is disabled.
    let (status, body) = login(&server, &email, "Wrong-password-123").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (status, body) = login(&server, &email, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("account_disabled"))
    );
    assert_eq!(body["status"], 403);

    // Enabled again, the account logs in.
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{id}"),
        &admin_token,
        Some(json!({"active": true})),
    )
    .await;
    assert_eq!(
        (status, body["active"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(login(&server, &email, PASSWORD).await.0, 200);
}

#[tokio::test]
async fn deleting_a_user_erases_every_item_of_it() {
    let server = Server::start().await;
    let settings = settings();
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_token, _) = tokens(&server, &admin_email).await;
    // A user with every kind of item: a pending verification link and its mail counter,
    // sessions, a rotated and a live refresh token, a password-check counter, a pending reset
    // link and its mail counter.
    let (email, access, refresh_token) = logged_in(&server).await;
    let id = user_id(&server, &access).await;
    let (status, body) = refresh(&server, &refresh_token).await;
    assert_eq!(status, 200, "{body}");
    let live_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    tokens(&server, &email).await;
    assert_eq!(login(&server, &email, "Wrong-password-123").await.0, 401);
    let (status, _) = post(&server, "/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(status, 202);
    let store = integration_tests::store().await;
    let mentions = |items: &[HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]| {
        items
            .iter()
            .filter(|item| {
                let text = format!("{item:?}");
                text.contains(&id) || text.contains(&email)
            })
            .count()
    };
    let before = scan(&store).await;
    assert!(
        mentions(&before) >= 8,
        "the user has few items: {}",
        mentions(&before)
    );

    let path = format!("/admin/users/{id}");
    let (status, body) = with_bearer(&server, Method::DELETE, &path, &admin_token, None).await;
    assert_eq!(status, 204, "{body}");
    assert_no_item_of(&store, &id, &email).await;

    let (status, body) = with_bearer(&server, Method::DELETE, &path, &admin_token, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("user_not_found"))
    );
    assert_eq!(me(&server, Some(&format!("Bearer {access}"))).await.0, 403);
    assert_eq!(refresh(&server, &live_refresh).await.0, 401);
    assert_eq!(login(&server, &email, PASSWORD).await.0, 401);
    // The address is free again.
    let (status, _) = post(
        &server,
        "/auth/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn logins_racing_a_delete_leave_no_session_and_no_item() {
    let server = Server::start().await;
    let (admin_email, _) = new_admin(&settings()).await;
    let (admin_token, _) = tokens(&server, &admin_email).await;
    let store = integration_tests::store().await;
    for _ in 0..3 {
        let (email, access, _) = logged_in(&server).await;
        let id = user_id(&server, &access).await;
        let path = format!("/admin/users/{id}");
        // Four logins (under the lockout's five reserved checks) against the delete.
        let racing = join_all((0..4).map(|_| login(&server, &email, PASSWORD)));
        let delete = with_bearer(&server, Method::DELETE, &path, &admin_token, None);
        let (logins, (status, body)) = tokio::join!(racing, delete);
        assert_eq!(status, 204, "{body}");
        for (status, body) in logins {
            match status {
                200 => {
                    let token = body["access_token"].as_str().unwrap();
                    assert_eq!(me(&server, Some(&format!("Bearer {token}"))).await.0, 403);
                    let refresh_token = body["refresh_token"].as_str().unwrap();
                    assert_eq!(refresh(&server, refresh_token).await.0, 401);
                }
                401 | 403 => {}
                other => panic!("login racing a delete answered {other}: {body}"),
            }
        }
        assert_no_item_of(&store, &id, &email).await;
    }
}

/// Fails when any item of the table mentions the user's id or email.
async fn assert_no_item_of(store: &Store, id: &str, email: &str) {
    let left: Vec<_> = scan(store)
        .await
        .into_iter()
        .filter(|item| {
            let text = format!("{item:?}");
            text.contains(id) || text.contains(email)
        })
        .collect();
    assert!(
        left.is_empty(),
        "items of the deleted user remain: {left:#?}"
    );
}

async fn scan(store: &Store) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    store
        .client()
        .scan()
        .table_name(store.table())
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("scan")
}

#[tokio::test]
async fn pages_list_every_user_once_newest_first_while_users_register() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let (admin_email, admin_id) = new_admin(&settings).await;
    let (admin_token, _) = tokens(&server, &admin_email).await;
    let store = Store::connect(&StoreSettings::from_source(&settings).unwrap())
        .await
        .0;
    let created = seed_users(&store, 23).await;
    let mut expected: BTreeSet<String> = created.into_iter().collect();
    expected.insert(admin_id);

    // More users arrive while the pages are read: nobody listed twice, nobody of before missed.
    let arriving = tokio::spawn({
        let store = store.clone();
        async move { seed_users(&store, 10).await }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut created_at: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/users?limit=5&cursor={c}"),
            None => "/admin/users?limit=5".to_owned(),
        };
        let (status, body) = with_bearer(&server, Method::GET, &path, &admin_token, None).await;
        assert_eq!(status, 200, "{body}");
        let users = body["users"].as_array().unwrap();
        assert!(users.len() <= 5);
        for user in users {
            seen.push(user["id"].as_str().unwrap().to_owned());
            created_at.push(user["created_at"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 20, "pagination does not end");
    }
    arriving.await.unwrap();
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a user was listed twice");
    for id in &expected {
        assert!(seen.contains(id), "user {id} missing from the pages");
    }
    let mut sorted = created_at.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created_at, sorted, "not newest first");

    // Exact email lookup, and what the parameters refuse.
    let (status, body) = with_bearer(
        &server,
        Method::GET,
        &format!("/admin/users?email={}", admin_email.to_uppercase()),
        &admin_token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["users"][0]["email"], admin_email.as_str());
    assert_eq!(body["users"].as_array().unwrap().len(), 1);
    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "cursor=nope",
        "email=not-an-email",
    ] {
        let (status, body) = with_bearer(
            &server,
            Method::GET,
            &format!("/admin/users?{query}"),
            &admin_token,
            None,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("validation_failed")),
            "{query}: {body}"
        );
    }
}

/// `n` users written as registration writes them (without hashing `n` passwords).
async fn seed_users(store: &Store, n: usize) -> Vec<String> {
    join_all((0..n).map(|_| async {
        let now = time::OffsetDateTime::now_utc();
        let user = shared::domain::User {
            id: shared::domain::UserId::random(),
            email: Email::parse(&unique_email()).unwrap(),
            name: None,
            roles: vec![],
            created_at: now.replace_nanosecond(0).unwrap(),
            epoch: 0,
            email_verified: false,
            active: true,
            last_login_at: None,
            username: None,
            permissions: Vec::new(),
        };
        let credentials = shared::domain::Credentials {
            email: user.email.clone(),
            user_id: user.id.clone(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
            roles: vec![],
            epoch: 0,
            mfa: false,
            active: true,
            permissions: Vec::new(),
        };
        store.create_user(&user, &credentials).await.unwrap();
        user.id.to_string()
    }))
    .await
}

/// Disabling `target`, giving it only `roles` (no `admin`) and deleting it are each refused
/// 409 `code`.
async fn assert_cannot_remove(
    server: &Server,
    token: &str,
    target: &str,
    roles: &[&str],
    code: &str,
) {
    for (method, body) in [
        (Method::PATCH, Some(json!({"active": false}))),
        (Method::PATCH, Some(json!({"roles": roles}))),
        (Method::DELETE, None),
    ] {
        let path = format!("/admin/users/{target}");
        let (status, answer) = with_bearer(server, method, &path, token, body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (409, Some(code)),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn the_last_active_admin_stays_even_when_two_admins_disable_each_other_at_once() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let (a_email, a_id) = new_admin(&settings).await;
    let (b_email, b_id) = new_admin(&settings).await;
    let (a_token, _) = tokens(&server, &a_email).await;
    let (b_token, _) = tokens(&server, &b_email).await;

    // Nobody disables, deletes or demotes themselves.
    assert_cannot_remove(&server, &a_token, &a_id, &[], "self_lockout").await;

    // Each disables the other at the same moment: one wins, one active admin remains.
    let (a_path, b_path) = (
        format!("/admin/users/{a_id}"),
        format!("/admin/users/{b_id}"),
    );
    let (one, two) = tokio::join!(
        with_bearer(
            &server,
            Method::PATCH,
            &b_path,
            &a_token,
            Some(json!({"active": false})),
        ),
        with_bearer(
            &server,
            Method::PATCH,
            &a_path,
            &b_token,
            Some(json!({"active": false})),
        ),
    );
    let wins = [&one, &two].iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(wins, 1, "{one:?} {two:?}");
    for (status, body) in [&one, &two] {
        assert!(
            *status == 200 || (*status == 409 && body["code"] == "last_admin") || *status == 403,
            "{status}: {body}"
        );
    }
    let admin = admin_service(&settings).await;
    let active: Vec<bool> = join_all([&a_id, &b_id].map(|id| admin.user(id)))
        .await
        .into_iter()
        .map(|u| u.unwrap().summary.active)
        .collect();
    assert_eq!(active.iter().filter(|a| **a).count(), 1, "{active:?}");
    assert_eq!(admin.store().catalog().await.unwrap().active_admins, 1);

    // Someone allowed to manage users without being an admin cannot remove the last one.
    let (last_email, last_id) = if active[0] {
        (&a_email, &a_id)
    } else {
        (&b_email, &b_id)
    };
    put_role(&admin, "helpdesk", &[roles::USERS_WRITE, roles::USERS_READ]).await;
    let (_, helper_access, _) = logged_in(&server).await;
    let helper_id = user_id(&server, &helper_access).await;
    let (last_token, _) = tokens(&server, last_email).await;
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{helper_id}"),
        &last_token,
        Some(json!({"roles": ["helpdesk"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (helper_token, _) = tokens(&server, body["email"].as_str().unwrap()).await;
    assert_cannot_remove(&server, &helper_token, last_id, &["helpdesk"], "last_admin").await;
    // A role in use cannot go; `admin` never.
    let (status, body) = with_bearer(
        &server,
        Method::DELETE,
        "/admin/roles/helpdesk",
        &last_token,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("role_in_use")));
    let (status, body) = with_bearer(
        &server,
        Method::DELETE,
        "/admin/roles/admin",
        &last_token,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("builtin_role")));
    let (status, body) = with_bearer(
        &server,
        Method::PUT,
        "/admin/roles/admin",
        &last_token,
        Some(json!({"permissions": []})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("builtin_role")));
    let (status, body) = with_bearer(
        &server,
        Method::PATCH,
        &format!("/admin/users/{helper_id}"),
        &last_token,
        Some(json!({"roles": ["no-such-role"]})),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("unknown_role")));
}

#[tokio::test]
async fn a_role_deleted_while_it_is_granted_is_never_both_gone_and_held() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_token, _) = tokens(&server, &admin_email).await;
    let admin = admin_service(&settings).await;
    for round in 0..4 {
        let role = format!("racing-{round}");
        put_role(&admin, &role, &["x.y"]).await;
        let store = admin.store().clone();
        let users = seed_users(&store, 3).await;
        let paths: Vec<String> = users
            .iter()
            .map(|id| format!("/admin/users/{id}"))
            .collect();
        let grants = join_all(paths.iter().map(|path| {
            with_bearer(
                &server,
                Method::PATCH,
                path,
                &admin_token,
                Some(json!({"roles": [role]})),
            )
        }));
        let role_path = format!("/admin/roles/{role}");
        let delete = with_bearer(&server, Method::DELETE, &role_path, &admin_token, None);
        let (grants, (deleted, body)) = tokio::join!(grants, delete);
        let granted = grants.iter().filter(|(s, _)| *s == 200).count();
        for (status, body) in &grants {
            assert!(
                *status == 200 || (*status == 400 && body["code"] == "unknown_role"),
                "{status}: {body}"
            );
        }
        let catalog = store.catalog().await.unwrap();
        match deleted {
            204 => {
                assert_eq!(granted, 0, "a deleted role was granted");
                assert!(!catalog.roles.contains_key(&role));
            }
            409 => {
                assert_eq!(body["code"], "role_in_use");
                assert!(granted > 0);
                assert_eq!(catalog.holders_of(&role), granted as i64);
            }
            other => panic!("delete answered {other}: {body}"),
        }
    }
}

#[tokio::test]
async fn authctl_creates_the_first_admin_in_a_fresh_table_it_finds_by_itself() {
    let settings = own_table().await;
    let server = Server::start_with(&settings, SystemClock::shared()).await;
    // What a running `make dev` leaves for authctl, in a checkout authctl runs inside of.
    let checkout = std::env::temp_dir().join(format!("authctl-{}", uuid::Uuid::new_v4().simple()));
    let nested = checkout.join("functions/me");
    std::fs::create_dir_all(checkout.join(".dev")).unwrap();
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(
        checkout.join(authctl::LOCAL_ENDPOINTS),
        json!({"dynamodb": endpoint(), "table": settings[cfg::TABLE_NAME]}).to_string(),
    )
    .unwrap();
    // Only what a developer's shell has: nothing about the table.
    let shell: HashMap<String, String> = HashMap::new();
    let found = authctl::Settings::discover(&shell, &nested).expect("finds make dev's table");
    let email = unique_email();
    let run = |command: authctl::Command| {
        let found = &found;
        async move {
            let mut out = Vec::new();
            let result = authctl::run(command, found, || Ok(PASSWORD.to_owned()), &mut out).await;
            (
                result.map_err(|e| e.to_string()),
                String::from_utf8(out).unwrap(),
            )
        }
    };
    let (result, out) = run(authctl::Command::CreateAdmin {
        email: email.clone(),
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert!(out.starts_with("created administrator"), "{out}");
    let (result, out) = run(authctl::Command::CreateAdmin {
        email: email.clone(),
    })
    .await;
    assert!(result.is_ok() && out.contains("already existed"), "{out}");

    let (access, _) = tokens(&server, &email).await;
    let granted = claims(&access);
    assert_eq!(granted.roles, vec![roles::ADMIN]);
    assert_eq!(
        granted.entitlements,
        vec![roles::ROLES_WRITE, roles::USERS_READ, roles::USERS_WRITE]
    );
    let (status, body) = with_bearer(&server, Method::GET, "/admin/users", &access, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["users"][0]["email"], email.as_str());

    let (result, out) = run(authctl::Command::ListUsers { limit: 10 }).await;
    assert!(result.is_ok() && out.contains(&email), "{out}");
    let (result, _) = run(authctl::Command::GrantRole {
        email: email.clone(),
        role: "missing".into(),
    })
    .await;
    assert!(result.unwrap_err().contains("unknown_role"));
    let (result, _) = run(authctl::Command::PutRole {
        name: "support".into(),
        permissions: vec!["tickets.read".into()],
        description: None,
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    let user = registered(&server).await;
    let (result, _) = run(authctl::Command::GrantRole {
        email: user.clone(),
        role: "support".into(),
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    let (result, _) = run(authctl::Command::Disable {
        email: user.clone(),
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(login(&server, &user, PASSWORD).await.0, 403);
    // The last admin stays, from the command line too.
    let (result, _) = run(authctl::Command::Disable {
        email: email.clone(),
    })
    .await;
    assert!(result.unwrap_err().contains("last_admin"));

    // Users from before the index: listed once `authctl reindex` has run.
    let old = registered(&server).await;
    let old_id = admin_service(&settings).await.id_of(&old).await.unwrap();
    let store = Store::connect(&StoreSettings::from_source(&settings).unwrap())
        .await
        .0;
    store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(shared::store::keys::user_key(old_id.as_str())))
        .update_expression("REMOVE GSI1PK, GSI1SK")
        .send()
        .await
        .unwrap();
    let (_, out) = run(authctl::Command::ListUsers { limit: 100 }).await;
    assert!(!out.contains(&old), "{out}");
    let (result, out) = run(authctl::Command::Reindex).await;
    assert!(result.is_ok() && out.contains("indexed 1 users"), "{out}");
    let (_, out) = run(authctl::Command::ListUsers { limit: 100 }).await;
    assert!(out.contains(&old), "{out}");

    // Nothing to find: a sentence saying what to do.
    let empty =
        std::env::temp_dir().join(format!("authctl-none-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&empty).unwrap();
    let err = authctl::Settings::discover(&shell, &empty).err().unwrap();
    assert!(err.to_string().contains("make dev"), "{err}");
    std::fs::remove_dir_all(checkout).ok();
    std::fs::remove_dir_all(empty).ok();
}

#[tokio::test]
async fn admin_routes_refuse_tokens_without_their_permission() {
    let server = Server::start().await;
    let settings = settings();
    let (_, access, _) = logged_in(&server).await;
    let id = user_id(&server, &access).await;
    let routes = [
        (
            Method::GET,
            "/admin/users".to_owned(),
            None,
            roles::USERS_READ,
        ),
        (
            Method::GET,
            format!("/admin/users/{id}"),
            None,
            roles::USERS_READ,
        ),
        (
            Method::PATCH,
            format!("/admin/users/{id}"),
            Some(json!({"name": "x"})),
            roles::USERS_WRITE,
        ),
        (
            Method::DELETE,
            format!("/admin/users/{id}"),
            None,
            roles::USERS_WRITE,
        ),
        (
            Method::DELETE,
            format!("/admin/users/{id}/sessions"),
            None,
            roles::USERS_WRITE,
        ),
        (
            Method::GET,
            "/admin/roles".to_owned(),
            None,
            roles::USERS_READ,
        ),
        (
            Method::PUT,
            "/admin/roles/sneaky".to_owned(),
            Some(json!({"permissions": ["auth.users.write"]})),
            roles::ROLES_WRITE,
        ),
        (
            Method::DELETE,
            "/admin/roles/admin".to_owned(),
            None,
            roles::ROLES_WRITE,
        ),
    ];
    for (method, path, body, _) in &routes {
        let (status, answer) =
            with_bearer(&server, method.clone(), path, &access, body.clone()).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}: {answer}"
        );
    }
    // A reader reads and cannot write.
    let admin = admin_service(&settings).await;
    let role = format!("reader-{}", uuid::Uuid::new_v4().simple());
    put_role(&admin, &role, &[roles::USERS_READ]).await;
    let email = registered(&server).await;
    set_roles(&admin, &email, vec![role]).await;
    let (reader_token, _) = tokens(&server, &email).await;
    for (method, path, body, permission) in &routes {
        let (status, answer) =
            with_bearer(&server, method.clone(), path, &reader_token, body.clone()).await;
        if *permission == roles::USERS_READ {
            assert_eq!(status, 200, "{method} {path}: {answer}");
        } else {
            assert_eq!(
                (status, answer["code"].as_str()),
                (403, Some("forbidden")),
                "{path}"
            );
        }
    }
    // The user the writes were aimed at is untouched.
    let (status, body) = me(&server, Some(&format!("Bearer {access}"))).await;
    assert_eq!((status, &body["name"]), (200, &Value::Null));
}

#[tokio::test]
async fn the_sessions_list_shows_live_sessions_and_ends_one() {
    let server = Server::start().await;
    let email = registered(&server).await;
    let client = http();
    let mut sessions = Vec::new();
    for agent in ["phone/1.0", "laptop/2.0", "tablet/3.0"] {
        let response = client
            .post(server.url("/auth/login"))
            .header("user-agent", agent)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let (status, body) = json(response).await;
        assert_eq!(status, 200, "{body}");
        sessions.push(body);
    }
    let access = sessions[0]["access_token"].as_str().unwrap();
    let (status, body) = with_bearer(&server, Method::GET, "/me/sessions", access, None).await;
    assert_eq!(status, 200, "{body}");
    let listed = body["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{body}");
    let agents: BTreeSet<&str> = listed
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(
        agents,
        BTreeSet::from(["laptop/2.0", "phone/1.0", "tablet/3.0"])
    );
    let current: Vec<&Value> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "phone/1.0");
    assert_eq!(current[0]["source_ip"], "127.0.0.1");
    assert_eq!(current[0]["amr"], json!(["pwd"]));
    let laptop = listed
        .iter()
        .find(|s| s["user_agent"] == "laptop/2.0")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("/me/sessions/{laptop}");
    let (status, _) = with_bearer(&server, Method::DELETE, &path, access, None).await;
    assert_eq!(status, 204);
    let (_, body) = with_bearer(&server, Method::GET, "/me/sessions", access, None).await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 2);
    let laptop_refresh = sessions[1]["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&server, laptop_refresh).await.0, 401);
    let laptop_access = sessions[1]["access_token"].as_str().unwrap();
    assert_eq!(
        me(&server, Some(&format!("Bearer {laptop_access}")))
            .await
            .0,
        403
    );
    let (status, body) = with_bearer(&server, Method::DELETE, &path, access, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("session_not_found"))
    );
    // Another user's session is not the caller's to end.
    let (_, other_access, _) = logged_in(&server).await;
    let tablet = sessions[2]["access_token"].as_str().unwrap();
    let tablet_sid = claims(tablet).sid;
    let (status, _) = with_bearer(
        &server,
        Method::DELETE,
        &format!("/me/sessions/{tablet_sid}"),
        &other_access,
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(me(&server, Some(&format!("Bearer {tablet}"))).await.0, 200);

    // An administrator ends every session of a user at once.
    let settings = settings();
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_token, _) = tokens(&server, &admin_email).await;
    let id = user_id(&server, tablet).await;
    let (status, body) = with_bearer(
        &server,
        Method::GET,
        &format!("/admin/users/{id}"),
        &admin_token,
        None,
    )
    .await;
    assert_eq!(
        (status, body["sessions"].as_u64()),
        (200, Some(2)),
        "{body}"
    );
    assert!(body["last_login_at"].is_string());
    let (status, _) = with_bearer(
        &server,
        Method::DELETE,
        &format!("/admin/users/{id}/sessions"),
        &admin_token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(me(&server, Some(&format!("Bearer {tablet}"))).await.0, 403);
    let (_, body) = with_bearer(
        &server,
        Method::GET,
        &format!("/admin/users/{id}"),
        &admin_token,
        None,
    )
    .await;
    assert_eq!(body["sessions"], 0);
}
