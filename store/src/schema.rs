//! The one table's definition. `template.yaml` must describe the same table; a test compares them.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use crate::classify;
use crate::error::StoreError;

/// Partition key: a string such as `USER#<id>`.
pub const PARTITION_KEY: &str = "PK";
/// Sort key: a string such as `PROFILE` or `SESSION#<sid>`.
pub const SORT_KEY: &str = "SK";
/// Epoch seconds after which DynamoDB may delete an item. Expiry is always also checked in code.
pub const TTL_ATTRIBUTE: &str = "ttl";
/// The sparse index of profiles, newest first.
pub const USERS_INDEX: &str = "GSI1";
pub const USERS_INDEX_PK: &str = "GSI1PK";
pub const USERS_INDEX_SK: &str = "GSI1SK";
/// The one partition value of [`USERS_INDEX`].
pub const USERS_INDEX_PARTITION: &str = "USERS";
/// The profile's "address confirmed" flag (projected: a page of users shows it).
pub const EMAIL_VERIFIED: &str = "email_verified";
/// The attributes the index projects besides its keys (what a page of users shows).
pub const USERS_INDEX_PROJECTION: &[&str] = &[
    "id",
    "email",
    "name",
    "roles",
    "created_at",
    "active",
    EMAIL_VERIFIED,
];
/// One sparse global secondary index: only profiles carry its keys (`GSI1PK` = `USERS`,
/// `GSI1SK` = creation time and id), so `GET /admin/users` pages through users newest first
/// without a `Scan`. It projects the few attributes a page shows
/// ([`USERS_INDEX_PROJECTION`]), so a profile write that changes none of them (a login's
/// `last_login_at`, the epoch, a link pointer) costs no index write. Every other access
/// pattern is a key lookup or a query of one partition.
pub const GLOBAL_SECONDARY_INDEXES: &[&str] = &[USERS_INDEX];

fn users_index() -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(USERS_INDEX)
        .key_schema(key(USERS_INDEX_PK, KeyType::Hash)?)
        .key_schema(key(USERS_INDEX_SK, KeyType::Range)?)
        .projection(projection())
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

fn projection() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::Include)
        .set_non_key_attributes(Some(
            USERS_INDEX_PROJECTION
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
        ))
        .build()
}

fn attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Creates the table (on-demand, `PK`/`SK`, TTL on `ttl`) unless it exists. Used by the local
/// server and the tests; on AWS the SAM template creates it.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let existing = client.describe_table().table_name(table).send().await.ok();
    if let Some(described) = existing {
        // A table from before the index (a developer's `.dev` data): add it.
        let has_index = described
            .table()
            .map(|t| t.global_secondary_indexes())
            .is_some_and(|gsis| gsis.iter().any(|g| g.index_name() == Some(USERS_INDEX)));
        if !has_index {
            let create = CreateGlobalSecondaryIndexAction::builder()
                .index_name(USERS_INDEX)
                .key_schema(key(USERS_INDEX_PK, KeyType::Hash)?)
                .key_schema(key(USERS_INDEX_SK, KeyType::Range)?)
                .projection(projection())
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            client
                .update_table()
                .table_name(table)
                .attribute_definitions(attr(USERS_INDEX_PK)?)
                .attribute_definitions(attr(USERS_INDEX_SK)?)
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder().create(create).build(),
                )
                .send()
                .await
                .map_err(classify)?;
        }
    } else {
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PARTITION_KEY)?)
            .attribute_definitions(attr(SORT_KEY)?)
            .attribute_definitions(attr(USERS_INDEX_PK)?)
            .attribute_definitions(attr(USERS_INDEX_SK)?)
            .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(SORT_KEY, KeyType::Range)?)
            .global_secondary_indexes(users_index()?)
            .send()
            .await
            .map_err(classify)?;
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    // Enabling TTL twice is an error in DynamoDB; only the first call matters.
    let _ = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await;
    Ok(())
}
