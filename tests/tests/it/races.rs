//! Races decided by DynamoDB's conditions, through the local server.

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use integration_tests::{PASSWORD, Server, logged_in, post, store, unique_email};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_registrations_of_one_email_make_one_user() {
    let server = Server::start().await;
    let email = unique_email();
    let attempts = (0..30).map(|i| {
        // Each racer spells the email a little differently; all normalise to one.
        let spelled = if i % 2 == 0 {
            email.to_uppercase()
        } else {
            format!(" {email}")
        };
        post(
            &server,
            "/auth/register",
            json!({"email": spelled, "password": PASSWORD}),
        )
    });
    let results = join_all(attempts).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let taken = results
        .iter()
        .filter(|(s, b)| *s == 409 && b["code"] == "email_taken")
        .count();
    assert_eq!((created, taken), (1, 29), "{results:?}");

    // Exactly one profile, one credentials item and one verification link exist for the
    // email: no orphans (the losers' links were never written).
    let store = store().await;
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .filter_expression("email = :e")
        .expression_attribute_values(":e", AttributeValue::S(email.clone()))
        .send()
        .await
        .unwrap();
    let mut kinds: Vec<String> = items
        .items()
        .iter()
        .map(|i| i["type"].as_s().unwrap().clone())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["credentials", "link", "user"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_with_one_token_have_one_winner() {
    let server = Server::start().await;
    let (_, _, token) = logged_in(&server).await;
    let results =
        join_all((0..20).map(|_| post(&server, "/auth/refresh", json!({"refresh_token": token}))))
            .await;
    let winners: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    // The losers count as reuse: the first of them revokes the session, the rest find it revoked.
    let reused = results
        .iter()
        .filter(|(s, b)| *s == 401 && b["code"] == "token_reused")
        .count();
    let invalid = results
        .iter()
        .filter(|(s, b)| *s == 401 && b["code"] == "invalid_token")
        .count();
    assert_eq!((reused, invalid), (1, 18), "{results:?}");
    // And so the winner's new token died with the session.
    let new_token = winners[0].1["refresh_token"].as_str().unwrap();
    let (status, body) = post(
        &server,
        "/auth/refresh",
        json!({"refresh_token": new_token}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
}
