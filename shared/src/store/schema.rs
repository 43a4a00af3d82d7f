//! The one table's definition. `template.yaml` must describe the same table; a test compares them.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

use crate::error::StoreError;
use crate::store::classify;

/// Partition key: a string such as `USER#<id>`.
pub const PARTITION_KEY: &str = "PK";
/// Sort key: a string such as `PROFILE` or `SESSION#<sid>`.
pub const SORT_KEY: &str = "SK";
/// Epoch seconds after which DynamoDB may delete an item. Expiry is always also checked in code.
pub const TTL_ATTRIBUTE: &str = "ttl";
/// The table has no secondary indexes: every access pattern is a key lookup.
pub const GLOBAL_SECONDARY_INDEXES: &[&str] = &[];

/// Creates the table (on-demand, `PK`/`SK`, TTL on `ttl`) unless it exists. Used by the local
/// server and the tests; on AWS the SAM template creates it.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let exists = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok();
    if !exists {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PARTITION_KEY)?)
            .attribute_definitions(attr(SORT_KEY)?)
            .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(SORT_KEY, KeyType::Range)?)
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
