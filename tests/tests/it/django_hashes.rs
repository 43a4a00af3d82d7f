//! A user whose stored hash Django made logs in with the password they had in Django, once:
//! the login replaces the hash with Argon2id (conditioned on the old hash still being there).
//! Through the local server against DynamoDB Local.

use futures::future::join_all;
use integration_tests::{PASSWORD, Server, login, registered, store};
use shared::config::PasswordSettings;
use shared::domain::Password;
use shared::password::{PasswordHasher, Verified};

/// `make_password(PASSWORD, salt, "pbkdf2_sha256")`, made by Django 5.2.20 (1,000,000
/// iterations, its default).
const DJANGO_PBKDF2: &str =
    "pbkdf2_sha256$1000000$iR4AnTInbz2n40CX4h2F6t$G3Teh1hVjIlY8vIkj4CLgBS0lgpdkMQ7e8zCjEgFAeA=";

/// A registered user whose credentials now hold Django's hash (as an import stores it),
/// written through the store's conditional hash replacement.
async fn user_with_django_hash(server: &Server) -> String {
    let email = registered(server).await;
    let store = store().await;
    let ours = store
        .credentials(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    let replaced = store
        .upgrade_password_hash(&email, &ours, DJANGO_PBKDF2)
        .await
        .unwrap();
    assert_eq!(replaced, shared::store::HashUpgrade::Upgraded);
    email
}

async fn stored_hash(email: &str) -> String {
    store()
        .await
        .credentials(email)
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

/// The stored hash is one Argon2id hash at the configured cost, of `PASSWORD`.
fn assert_current_argon2id(stored: &str) {
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    let hasher = PasswordHasher::new(&PasswordSettings::default()).unwrap();
    assert_eq!(
        hasher.verify(&Password::new(PASSWORD), stored),
        Verified::Match {
            needs_rehash: false
        },
        "{stored}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_django_pbkdf2_hash_logs_in_once_and_is_replaced_by_argon2id() {
    let server = Server::start().await;
    let email = user_with_django_hash(&server).await;

    let (status, body) = login(&server, &email, "correct-horse-battery-stapler").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials")),
        "{body}"
    );
    assert_eq!(
        stored_hash(&email).await,
        DJANGO_PBKDF2,
        "a wrong password changes nothing"
    );

    let (status, body) = login(&server, &email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    assert_current_argon2id(&stored_hash(&email).await);

    // The second login verifies the Argon2id hash.
    let (status, body) = login(&server, &email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
}

/// Two right-password logins at once: each either succeeds or fails cleanly (the one whose
/// conditional replacement lost answers 401), at least one succeeds, and the stored hash ends
/// as one valid Argon2id hash that the next login accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_first_logins_with_a_django_hash_leave_one_argon2id_hash() {
    let server = Server::start().await;
    for round in 0..3 {
        let email = user_with_django_hash(&server).await;
        let results = join_all((0..2).map(|_| login(&server, &email, PASSWORD))).await;
        for (status, body) in &results {
            assert!(
                *status == 200 || (*status == 401 && body["code"] == "invalid_credentials"),
                "round {round}: {status} {body}"
            );
        }
        assert!(
            results.iter().any(|(status, _)| *status == 200),
            "round {round}: {results:?}"
        );
        assert_current_argon2id(&stored_hash(&email).await);
        let (status, body) = login(&server, &email, PASSWORD).await;
        assert_eq!(status, 200, "round {round}: {body}");
    }
}
