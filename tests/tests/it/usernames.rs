//! Django's users over HTTP against DynamoDB Local: a username logs in like the account's
//! email (any case, same lockout counter, fired in parallel), an unknown username answers like
//! an unknown email, direct permissions reach tokens beside the roles' ones, an account without
//! an email adds one and can then recover, and the username alias lives and dies with its user
//! (one winner of two parallel claims, gone after a delete).

use futures::future::join_all;
use integration_tests::{
    PASSWORD, Server, link_token, login, mails_to, me, post, post_with_retry_after, settings,
    store, unique_email, wait_for_mail, with_bearer,
};
use reqwest::Method;
use serde_json::{Value, json};
use shared::config::PasswordSettings;
use shared::domain::{Credentials, Email, Password, User, UserId, Username};
use shared::error::StoreError;
use shared::password::PasswordHasher;
use shared::store::Store;

use crate::admin::{admin_service, claims, new_admin, put_role, refresh, set_roles, tokens};

const WRONG: &str = "Wrong-password-123";

/// A unique username in mixed case.
pub(crate) fn unique_username() -> String {
    format!("Ada.Lovelace_{}", uuid::Uuid::new_v4().simple())
}

/// A user and its credentials as an import writes them: `email` `None` gives the account the
/// stand-in address of an account without one.
fn account(username: &str, email: Option<&str>, permissions: &[&str]) -> (User, Credentials) {
    let hasher = PasswordHasher::new(&PasswordSettings::from_source(&settings()).unwrap()).unwrap();
    let id = UserId::random();
    let email = email.map_or_else(|| Email::unreachable(&id), |e| Email::parse(e).unwrap());
    let permissions: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
    let user = User {
        id: id.clone(),
        email: email.clone(),
        name: None,
        roles: vec![],
        created_at: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap(),
        epoch: 0,
        email_verified: false,
        active: true,
        last_login_at: None,
        username: Some(Username::parse(username).unwrap()),
        permissions: permissions.clone(),
    };
    let credentials = Credentials {
        email,
        user_id: id,
        password_hash: hasher.hash(&Password::new(PASSWORD)).unwrap(),
        roles: vec![],
        epoch: 0,
        mfa: false,
        active: true,
        permissions,
    };
    (user, credentials)
}

/// Writes an account through the store (as the import does); returns its user.
pub(crate) async fn created(
    store: &Store,
    username: &str,
    email: Option<&str>,
    permissions: &[&str],
) -> User {
    let (user, credentials) = account(username, email, permissions);
    store.create_user(&user, &credentials).await.unwrap();
    user
}

async fn login_as(server: &Server, username: &str, password: &str) -> (u16, Option<i64>, Value) {
    post_with_retry_after(
        server,
        "/auth/login",
        json!({"username": username, "password": password}),
    )
    .await
}

fn bearer(body: &Value) -> String {
    format!("Bearer {}", body["access_token"].as_str().unwrap())
}

#[tokio::test]
async fn a_username_logs_in_like_its_email_in_any_case() {
    let server = Server::start().await;
    let store = store().await;
    let name = unique_username();
    let email = unique_email();
    let user = created(&store, &name, Some(&email), &[]).await;
    for login_name in [
        name.clone(),
        name.to_uppercase(),
        format!(" {} ", name.to_lowercase()),
    ] {
        let (status, _, body) = login_as(&server, &login_name, PASSWORD).await;
        assert_eq!(status, 200, "{login_name}: {body}");
        assert_eq!(
            claims(body["access_token"].as_str().unwrap()).sub,
            user.id.as_str()
        );
    }
    let (status, _, body) =
        crate::concurrency::login_with_retry_after(&server, &email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (status, profile) = me(&server, Some(&bearer(&body))).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(
        (profile["email"].as_str(), profile["username"].as_str()),
        (Some(email.as_str()), Some(name.as_str()))
    );
    // A wrong password through the username is the same 401 as through the email.
    let (status, _, body) = login_as(&server, &name, WRONG).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    // Both names at once, or neither: 400 naming the field.
    let (status, body) = post(
        &server,
        "/auth/login",
        json!({"email": email, "username": name, "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    assert_eq!(body["errors"][0]["field"], "username", "{body}");
    let (status, body) = post(&server, "/auth/login", json!({"password": PASSWORD})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    assert_eq!(body["errors"][0]["field"], "email", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_username_answers_and_locks_like_an_unknown_email() {
    let server = Server::start().await;
    let (status_name, _, mut body_name) = login_as(&server, &unique_username(), WRONG).await;
    let (status_email, _, mut body_email) =
        crate::concurrency::login_with_retry_after(&server, &unique_email(), WRONG).await;
    for body in [&mut body_name, &mut body_email] {
        body.as_object_mut().unwrap().remove("request_id");
    }
    assert_eq!((status_name, &body_name), (status_email, &body_email));
    assert_eq!(status_name, 401);
    // The unknown name is reserved and locked like an unknown address.
    let name = unique_username();
    let results = join_all((0..30).map(|_| login_as(&server, &name, WRONG))).await;
    let (checked, locked) = crate::concurrency::tally(&results, 401);
    assert!(
        (1..=5).contains(&checked) && checked + locked == 30,
        "{checked} password checks, {locked} refused"
    );
    let (status, _, body) = login_as(&server, &name.to_uppercase(), PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_through_the_username_and_the_email_count_into_one_lock() {
    let server = Server::start().await;
    let store = store().await;
    for round in 0..3 {
        let name = unique_username();
        let email = unique_email();
        created(&store, &name, Some(&email), &[]).await;
        let through_name = (0..15).map(|_| login_as(&server, &name, WRONG));
        let through_email =
            (0..15).map(|_| crate::concurrency::login_with_retry_after(&server, &email, WRONG));
        let (by_name, by_email) = tokio::join!(join_all(through_name), join_all(through_email));
        let (checked_a, locked_a) = crate::concurrency::tally(&by_name, 401);
        let (checked_b, locked_b) = crate::concurrency::tally(&by_email, 401);
        let checked = checked_a + checked_b;
        assert!(
            (1..=5).contains(&checked) && checked + locked_a + locked_b == 30,
            "round {round}: {checked} password checks, {} refused",
            locked_a + locked_b
        );
        // Locked through either name, the right password too.
        for (status, _, body) in [
            login_as(&server, &name, PASSWORD).await,
            crate::concurrency::login_with_retry_after(&server, &email, PASSWORD).await,
        ] {
            assert_eq!(
                (status, body["code"].as_str()),
                (429, Some("too_many_attempts"))
            );
        }
    }
}

#[tokio::test]
async fn tokens_carry_the_roles_and_the_direct_permissions_across_refresh() {
    let settings = settings();
    let server = Server::start().await;
    let store = store().await;
    let admin = admin_service(&settings).await;
    let role = format!("editor-{}", uuid::Uuid::new_v4().simple());
    put_role(&admin, &role, &["shop.change_order", "shop.view_order"]).await;
    let name = unique_username();
    let email = unique_email();
    let user = created(
        &store,
        &name,
        Some(&email),
        &["shop.add_invoice", "shop.view_order"],
    )
    .await;
    // Direct permissions are bounded and never administration: refused where written.
    let too_many: Vec<String> = (0..9).map(|i| format!("{i}{}", "p".repeat(124))).collect();
    for refused in [
        vec!["auth.users.write"],
        too_many.iter().map(String::as_str).collect(),
    ] {
        let (user, credentials) = account(&unique_username(), Some(&unique_email()), &refused);
        assert!(matches!(
            store.create_user(&user, &credentials).await,
            Err(StoreError::Refused(_))
        ));
        assert_eq!(store.user(&user.id).await.unwrap(), None);
    }
    set_roles(&admin, &email, vec![role.clone()]).await;
    let expected = ["shop.add_invoice", "shop.change_order", "shop.view_order"];
    let (status, _, body) =
        crate::concurrency::login_with_retry_after(&server, &email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap()).entitlements,
        expected
    );
    let (status, _, body) = login_as(&server, &name, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap()).entitlements,
        expected
    );
    assert_eq!(
        claims(body["access_token"].as_str().unwrap()).roles,
        vec![role.clone()]
    );
    let (status, body) = refresh(&server, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap()).entitlements,
        expected
    );
    // The administrator's view shows them.
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_token, _) = tokens(&server, &admin_email).await;
    let path = format!("/admin/users/{}", user.id.as_str());
    let (status, view) = with_bearer(&server, Method::GET, &path, &admin_token, None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        view["permissions"],
        json!(["shop.add_invoice", "shop.view_order"])
    );
    assert_eq!(view["entitlements"], json!(expected));
    assert_eq!(view["username"], json!(name));
}

#[tokio::test]
async fn an_account_without_an_email_adds_one_and_can_then_recover() {
    let server = Server::start().await;
    let store = store().await;
    let name = unique_username();
    let user = created(&store, &name, None, &[]).await;
    let stand_in = user.email.as_str().to_owned();
    let (status, _, body) = login_as(&server, &name, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let (status, profile) = me(&server, Some(&format!("Bearer {access}"))).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(
        (&profile["email"], profile["username"].as_str()),
        (&Value::Null, Some(name.as_str()))
    );
    // Nothing to verify, nowhere to mail.
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/email/verification",
        &access,
        None,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("no_email")));
    // Nobody can name the stand-in address.
    let (status, body) = post(&server, "/auth/password/forgot", json!({"email": stand_in})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let (status, _, body) =
        crate::concurrency::login_with_retry_after(&server, &stand_in, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );

    let new = unique_email();
    let (status, body) = with_bearer(
        &server,
        Method::POST,
        "/me/email",
        &access,
        Some(json!({"new_email": new, "current_password": PASSWORD})),
    )
    .await;
    assert_eq!((status, &body), (202, &json!({"status": "accepted"})));
    let mail = wait_for_mail(&new, 1).await;
    let (status, _) = post(
        &server,
        "/auth/email/confirm-change",
        json!({"token": link_token(&mail[0])}),
    )
    .await;
    assert_eq!(status, 204);
    // The alias follows the credentials to the new address.
    let alias = store
        .username(&Username::normalise(&name))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (alias.email.as_str(), &alias.user_id),
        (new.as_str(), &user.id)
    );

    let (status, _) = post(&server, "/auth/password/forgot", json!({"email": new})).await;
    assert_eq!(status, 202);
    let mails = wait_for_mail(&new, 2).await;
    let reset_token = link_token(mails.last().unwrap());
    let new_password = "a-brand-new-passphrase-42";
    let (status, body) = post(
        &server,
        "/auth/password/reset",
        json!({"token": reset_token, "new_password": new_password}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, _, body) = login_as(&server, &name, new_password).await;
    assert_eq!(status, 200, "{body}");
    let (status, profile) = me(&server, Some(&bearer(&body))).await;
    assert_eq!(status, 200);
    assert_eq!(
        (profile["email"].as_str(), profile["username"].as_str()),
        (Some(new.as_str()), Some(name.as_str()))
    );
    assert_eq!(login(&server, &new, new_password).await.0, 200);
    // Nothing was ever mailed to the stand-in address.
    assert!(mails_to(&stand_in).await.is_empty());
}

#[tokio::test]
async fn a_deleted_users_username_is_free_again() {
    let settings = settings();
    let server = Server::start().await;
    let store = store().await;
    let name = unique_username();
    let user = created(&store, &name, None, &[]).await;
    assert_eq!(login_as(&server, &name, PASSWORD).await.0, 200);
    let (admin_email, _) = new_admin(&settings).await;
    let (admin_token, _) = tokens(&server, &admin_email).await;
    let path = format!("/admin/users/{}", user.id.as_str());
    let (status, body) = with_bearer(&server, Method::GET, &path, &admin_token, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["email"], body["username"].as_str()),
        (&Value::Null, Some(name.as_str()))
    );
    let (status, body) = with_bearer(&server, Method::DELETE, &path, &admin_token, None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        store.username(&Username::normalise(&name)).await.unwrap(),
        None
    );
    let (status, _, body) = login_as(&server, &name, PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    // The name can be claimed again.
    created(&store, &name.to_lowercase(), None, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_username_claimed_twice_at_once_has_one_owner() {
    let store = store().await;
    for round in 0..3 {
        let name = unique_username();
        let (first, first_creds) = account(&name, Some(&unique_email()), &[]);
        let (second, second_creds) = account(&name.to_uppercase(), None, &[]);
        let (a, b) = tokio::join!(
            store.create_user(&first, &first_creds),
            store.create_user(&second, &second_creds)
        );
        let winners = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {a:?} {b:?}");
        let (loser, winner) = if a.is_ok() {
            (&second, &first)
        } else {
            (&first, &second)
        };
        assert!(
            matches!(
                if a.is_ok() { &b } else { &a },
                Err(StoreError::UsernameTaken)
            ),
            "round {round}: {a:?} {b:?}"
        );
        assert_eq!(
            store.user(&loser.id).await.unwrap(),
            None,
            "no half-written account"
        );
        let alias = store
            .username(&Username::normalise(&name))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alias.user_id, winner.id);
    }
}

#[tokio::test]
async fn a_username_gets_the_challenge_and_refusals_its_email_gets() {
    let server = Server::start().await;
    let store = store().await;
    // Two-factor on (as the credentials say): the right password opens no session.
    let (two_factor, mut creds) = account(&unique_username(), Some(&unique_email()), &[]);
    creds.mfa = true;
    store.create_user(&two_factor, &creds).await.unwrap();
    // Disabled by an administrator.
    let (mut disabled, mut disabled_creds) =
        account(&unique_username(), Some(&unique_email()), &[]);
    disabled.active = false;
    disabled_creds.active = false;
    store.create_user(&disabled, &disabled_creds).await.unwrap();
    for (user, status, code) in [
        (&two_factor, 401, "mfa_required"),
        (&disabled, 403, "account_disabled"),
    ] {
        let name = user.username.as_ref().unwrap().as_str();
        let (by_name, _, body_name) = login_as(&server, name, PASSWORD).await;
        let (by_email, _, body_email) =
            crate::concurrency::login_with_retry_after(&server, user.email.as_str(), PASSWORD)
                .await;
        assert_eq!(
            [
                (by_name, body_name["code"].as_str()),
                (by_email, body_email["code"].as_str())
            ],
            [(status, Some(code)); 2],
            "{body_name} {body_email}"
        );
    }
}
