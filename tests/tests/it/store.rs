//! Store invariants against DynamoDB Local: conditions and transactions, not application checks.

use integration_tests::{PASSWORD, Server, logged_in, post, registered, settings, store};
use serde_json::json;
use shared::clock::SystemClock;
use shared::config::{ARGON2_ITERATIONS, PasswordSettings};
use shared::domain::{Credentials, Email, User, UserId};
use shared::error::StoreError;
use shared::password::PasswordHasher;
use shared::store::keys;
use shared::store::{Horizons, RefreshRecord, RotateOutcome, TokenState};
use shared::tokens::{RefreshToken, hash_refresh_token};

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_hashes() {
    let server = Server::start().await;
    let (_, _, refresh) = logged_in(&server).await;
    let store = store().await;
    let record = store
        .refresh_record(
            &RefreshToken::user_of(&refresh).unwrap(),
            &hash_refresh_token(&refresh),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.state, TokenState::Active);
    // Nothing in the table contains the raw token.
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    for item in items.items() {
        assert!(
            !format!("{item:?}").contains(&refresh),
            "raw refresh token stored in {item:?}"
        );
    }
    // The session and its tokens carry a TTL at the session's absolute end.
    let session = store
        .session(&record.user_id, record.session_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.expires_at, record.session_expires_at);
    assert_eq!(session.expires_at - session.created_at, 30 * 24 * 3600);
    let raw = store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(keys::refresh_key(
            record.user_id.as_str(),
            &record.token_hash,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw.item().unwrap()["ttl"].as_n().unwrap(),
        &record.session_expires_at.to_string()
    );
}

const HORIZONS: Horizons = Horizons {
    old: 2_000_000_000,
    new: 2_000_000_000,
};

#[tokio::test]
async fn a_rotated_token_cannot_be_rotated_again() {
    let server = Server::start().await;
    let (_, _, refresh) = logged_in(&server).await;
    let store = store().await;
    let old = store
        .refresh_record(
            &RefreshToken::user_of(&refresh).unwrap(),
            &hash_refresh_token(&refresh),
        )
        .await
        .unwrap()
        .unwrap();
    let next = |n: u8| RefreshRecord {
        token_hash: format!("{n:064x}"),
        ..old.clone()
    };
    assert_eq!(
        store.rotate(&old, &next(1), 1, HORIZONS).await.unwrap(),
        RotateOutcome::Rotated
    );
    assert_eq!(
        store.rotate(&old, &next(2), 2, HORIZONS).await.unwrap(),
        RotateOutcome::AlreadyRotated,
        "second rotation of one token must fail its condition"
    );
    // A revoked session refuses rotation of its live token.
    assert!(
        store
            .revoke_session(&old.user_id, old.session_id.as_str(), 3)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(&old.user_id, old.session_id.as_str(), 4)
            .await
            .unwrap()
    );
    assert_eq!(
        store.rotate(&next(1), &next(3), 5, HORIZONS).await.unwrap(),
        RotateOutcome::SessionGone,
        "rotation in a revoked session must fail"
    );
}

#[tokio::test]
async fn a_duplicate_email_leaves_no_orphan_profile() {
    let server = Server::start().await;
    let email = registered(&server).await;
    let store = store().await;
    let hasher = PasswordHasher::new(&PasswordSettings::default()).unwrap();
    let user = User {
        id: UserId::random(),
        email: Email::parse(&email).unwrap(),
        name: None,
        roles: vec![],
        created_at: time::OffsetDateTime::now_utc(),
        epoch: 0,
        email_verified: false,
        active: true,
        last_login_at: None,
        username: None,
        permissions: Vec::new(),
    };
    let credentials = Credentials {
        email: user.email.clone(),
        user_id: user.id.clone(),
        password_hash: hasher
            .hash(&shared::domain::Password::new(PASSWORD))
            .unwrap(),
        roles: vec![],
        epoch: 0,
        mfa: false,
        active: true,
        permissions: Vec::new(),
    };
    assert!(matches!(
        store.create_user(&user, &credentials).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        store.user(&user.id).await.unwrap(),
        None,
        "the profile half must not be written"
    );
}

#[tokio::test]
async fn login_upgrades_a_hash_made_with_older_parameters() {
    // Register under t = 2, then log in with a service configured for t = 3.
    let server = Server::start().await;
    let email = registered(&server).await;
    let store = store().await;
    let before = store
        .credentials(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(before.contains("t=2"), "{before}");

    let mut stronger = settings();
    stronger.insert(ARGON2_ITERATIONS.into(), "3".into());
    let upgraded = Server::start_with(&stronger, SystemClock::shared()).await;
    let (status, body) = post(
        &upgraded,
        "/auth/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let after = store
        .credentials(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(
        after.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"),
        "{after}"
    );
    // The new hash still verifies, and a wrong password still fails.
    let (status, _) = post(
        &upgraded,
        "/auth/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &upgraded,
        "/auth/login",
        json!({"email": email, "password": "Wrong-password-123"}),
    )
    .await;
    assert_eq!(status, 401);
}
