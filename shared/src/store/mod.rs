//! The DynamoDB store: one table, keys built in [`keys`], every invariant enforced by a
//! condition or a transaction in DynamoDB itself (never read-then-write).

pub mod keys;
pub mod schema;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials as AwsCredentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem,
    Update,
};

use crate::config::StoreSettings;
use crate::domain::{Credentials, DisplayName, User, UserId};
use crate::error::StoreError;
pub use keys::{Lockout, RefreshRecord, Session, TokenState};

/// Loads the AWS configuration with the timeouts and retries the service relies on: a DynamoDB
/// outage answers 503 after at most 3 attempts of 1 s each (3 s overall), never hangs.
pub async fn sdk_config(settings: &StoreSettings) -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if settings.endpoint_url.is_some() {
        // DynamoDB Local checks neither region nor credentials.
        loader = loader
            .region(Region::new("local"))
            .credentials_provider(AwsCredentials::new(
                "local",
                "local",
                None,
                None,
                "dynamodb-local",
            ));
    }
    loader.load().await
}

/// A DynamoDB client for the configured endpoint.
pub fn client(sdk: &aws_config::SdkConfig, settings: &StoreSettings) -> Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(url) = &settings.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    Client::from_conf(builder.build())
}

/// Maps an SDK error: conditional failures keep their meaning, everything else (network,
/// timeouts, throttling, 5xx, a missing table) is "unavailable", with the source kept for the log.
pub(crate) fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err
        && service.err().code() == Some("ConditionalCheckFailedException")
    {
        return StoreError::ConditionFailed { failed: vec![0] };
    }
    StoreError::Unavailable(Box::new(err))
}

fn classify_transaction<R>(err: SdkError<TransactWriteItemsError, R>) -> StoreError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        if let TransactWriteItemsError::TransactionCanceledException(cancel) = service.err() {
            let codes: Vec<&str> = cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            if codes.contains(&"TransactionConflict") {
                return StoreError::Conflict;
            }
            let failed: Vec<usize> = codes
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == "ConditionalCheckFailed")
                .map(|(i, _)| i)
                .collect();
            if !failed.is_empty() {
                return StoreError::ConditionFailed { failed };
            }
        }
        if service.err().code() == Some("TransactionConflictException") {
            return StoreError::Conflict;
        }
    }
    StoreError::Unavailable(Box::new(err))
}

fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The table, with one method per access pattern.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

const NOT_EXISTS: &str = "attribute_not_exists(PK)";

/// How long a cold start waits for [`Store::preconnect`] at most.
pub const PRECONNECT_TIMEOUT: Duration = Duration::from_secs(1);

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Connects with [`sdk_config`] (used by every function's cold start). With
    /// `settings.preconnect`, it also opens the connection: see [`Store::preconnect`].
    pub async fn connect(settings: &StoreSettings) -> (Self, aws_config::SdkConfig) {
        let sdk = sdk_config(settings).await;
        let store = Self::new(client(&sdk, settings), settings.table_name.clone());
        if settings.preconnect {
            store.preconnect().await;
        }
        (store, sdk)
    }

    /// One eventually consistent `GetItem` of [`keys::preconnect_key`] (an item that never
    /// exists; 0.5 RCU), so the cold start pays for the TCP and TLS handshakes, the endpoint
    /// resolution and the credentials lookup, and the first invocation finds the connection in
    /// the pool. Bounded by [`PRECONNECT_TIMEOUT`] and never fatal: a failure is logged and the
    /// first invocation connects as it would have anyway.
    pub async fn preconnect(&self) {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::preconnect_key()))
            .send();
        match tokio::time::timeout(PRECONNECT_TIMEOUT, read).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "DynamoDB preconnect failed; the first request will connect");
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = PRECONNECT_TIMEOUT.as_millis() as u64,
                    "DynamoDB preconnect timed out; the first request will connect"
                );
            }
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, item: keys::Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Registers a user: the profile and the email-uniqueness item are written together or not
    /// at all. `AlreadyExists` when the email is taken.
    pub async fn create_user(
        &self,
        user: &User,
        credentials: &Credentials,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(keys::user_item(user), NOT_EXISTS)?)
            .transact_items(self.put(keys::credentials_item(credentials), NOT_EXISTS)?)
            .send()
            .await;
        match result.map_err(classify_transaction) {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed { failed }) if failed.contains(&1) => {
                Err(StoreError::AlreadyExists)
            }
            Err(err) => Err(err),
        }
    }

    /// A user's profile (strongly consistent).
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::user_key(id.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item().map(keys::user_from_item).transpose()
    }

    /// The credentials for a normalised email (strongly consistent).
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::credentials_key(email)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item().map(keys::credentials_from_item).transpose()
    }

    /// Replaces a password hash, only if it is still the one that was verified.
    pub async fn replace_password_hash(
        &self,
        email: &str,
        old: &str,
        new: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::credentials_key(email)))
            .update_expression("SET password_hash = :new")
            .condition_expression("password_hash = :old")
            .expression_attribute_values(":new", AttributeValue::S(new.to_owned()))
            .expression_attribute_values(":old", AttributeValue::S(old.to_owned()))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Starts a session with its first refresh token, in one transaction; with
    /// `clear_lockout_of`, the same transaction forgets that email's failed logins.
    pub async fn start_session(
        &self,
        session: &Session,
        token: &RefreshRecord,
        clear_lockout_of: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(self.put(keys::session_item(session), NOT_EXISTS)?)
            .transact_items(self.put(keys::refresh_item(token), NOT_EXISTS)?);
        if let Some(email) = clear_lockout_of {
            let delete = built(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::lockout_key(email)))
                    .build(),
            )?;
            request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
        }
        request.send().await.map_err(classify_transaction)?;
        Ok(())
    }

    /// What login needs in one round trip: the email's credentials and its failure count
    /// (a strongly consistent `BatchGetItem`).
    pub async fn login_lookup(
        &self,
        email: &str,
    ) -> Result<(Option<Credentials>, Option<Lockout>), StoreError> {
        let request = built(
            KeysAndAttributes::builder()
                .keys(keys::credentials_key(email))
                .keys(keys::lockout_key(email))
                .consistent_read(true)
                .build(),
        )?;
        let output = self
            .client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(classify)?;
        if output.unprocessed_keys().is_some_and(|u| !u.is_empty()) {
            // Throttled part-way: DynamoDB asks us to retry; treat it like any throttling.
            return Err(StoreError::Unavailable(
                "BatchGetItem left keys unprocessed".into(),
            ));
        }
        let mut credentials = None;
        let mut lockout = None;
        let items = output.responses().and_then(|r| r.get(&self.table));
        for item in items.into_iter().flatten() {
            match item
                .get(schema::SORT_KEY)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some(keys::CREDENTIALS) => credentials = Some(keys::credentials_from_item(item)?),
                Some(keys::LOCKOUT) => lockout = Some(keys::lockout_from_item(item)?),
                _ => {}
            }
        }
        Ok((credentials, lockout))
    }

    /// Counts one failed login, atomically: within the window the count goes up by one; a
    /// window that has passed starts over at one. Returns the state after this failure.
    pub async fn record_failure(
        &self,
        email: &str,
        now: i64,
        window: i64,
    ) -> Result<Lockout, StoreError> {
        let n = |v: i64| AttributeValue::N(v.to_string());
        for _ in 0..3 {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::lockout_key(email)))
                .update_expression(
                    "SET failures = if_not_exists(failures, :zero) + :one, \
                     window_start = if_not_exists(window_start, :now), #ttl = :ttl",
                )
                .condition_expression("attribute_not_exists(PK) OR window_start > :floor")
                .expression_attribute_names("#ttl", schema::TTL_ATTRIBUTE)
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":floor", n(now - window))
                .expression_attribute_values(":ttl", n(now + 2 * window))
                .return_values(ReturnValue::AllNew)
                .send()
                .await
                .map_err(classify);
            match counted {
                Ok(output) => {
                    return output
                        .attributes()
                        .map(keys::lockout_from_item)
                        .transpose()?
                        .ok_or_else(|| StoreError::Corrupt("UpdateItem returned nothing".into()));
                }
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(err) => return Err(err),
            }
            // The window has passed: start a new one, unless another request just did.
            let mut item = keys::lockout_key(email);
            item.insert("failures".into(), n(1));
            item.insert("window_start".into(), n(now));
            item.insert(schema::TTL_ATTRIBUTE.into(), n(now + 2 * window));
            let restarted = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK) OR window_start <= :floor")
                .expression_attribute_values(":floor", n(now - window))
                .send()
                .await
                .map_err(classify);
            match restarted {
                Ok(_) => {
                    return Ok(Lockout {
                        failures: 1,
                        window_start: now,
                        locked_until: None,
                    });
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Locks an email until `until`. Only the failure that reached the limit calls this.
    pub async fn lock(&self, email: &str, until: i64, ttl: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::lockout_key(email)))
            .update_expression("SET locked_until = :until, #ttl = :ttl")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#ttl", schema::TTL_ATTRIBUTE)
            .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Sets or clears a user's display name; `None` when the user does not exist.
    pub async fn update_name(
        &self,
        id: &UserId,
        name: Option<&DisplayName>,
    ) -> Result<Option<User>, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::user_key(id.as_str())))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#name", "name")
            .return_values(ReturnValue::AllNew);
        let request = match name {
            Some(name) => request
                .update_expression("SET #name = :name")
                .expression_attribute_values(":name", AttributeValue::S(name.as_str().to_owned())),
            None => request.update_expression("REMOVE #name"),
        };
        match request.send().await.map_err(classify) {
            Ok(output) => output.attributes().map(keys::user_from_item).transpose(),
            Err(StoreError::ConditionFailed { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Every session of a user (one `Query` on the user's partition, paginated).
    pub async fn sessions(&self, user_id: &UserId) -> Result<Vec<Session>, StoreError> {
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(user_id.as_str())))
            .expression_attribute_values(":prefix", AttributeValue::S(keys::SESSION_PREFIX.into()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let items: Vec<keys::Item> = pages
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(classify)?;
        items.iter().map(keys::session_from_item).collect()
    }

    /// Revokes every live session of a user; returns how many this call revoked.
    pub async fn revoke_all_sessions(
        &self,
        user_id: &UserId,
        now: i64,
    ) -> Result<usize, StoreError> {
        let live: Vec<Session> = self
            .sessions(user_id)
            .await?
            .into_iter()
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
            .collect();
        let mut revoked = 0;
        for chunk in live.chunks(16) {
            let results = futures::future::join_all(
                chunk
                    .iter()
                    .map(|s| self.revoke_session(user_id, s.id.as_str(), now)),
            )
            .await;
            for result in results {
                if result? {
                    revoked += 1;
                }
            }
        }
        Ok(revoked)
    }

    /// The stored record of a presented refresh token (strongly consistent).
    pub async fn refresh_record(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::refresh_key(token_hash)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output
            .item()
            .map(|item| keys::refresh_from_item(token_hash, item))
            .transpose()
    }

    /// Exchanges `old` for `new` in one transaction that holds only if `old` is still active
    /// and its session exists and is not revoked. On failure, `ConditionFailed { failed }`
    /// names the item that failed: 0 the old token (already rotated), 2 the session.
    pub async fn rotate(
        &self,
        old: &RefreshRecord,
        new: &RefreshRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        let mark_rotated = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::refresh_key(&old.token_hash)))
                .update_expression("SET #state = :rotated, rotated_at = :now")
                .condition_expression("#state = :active")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(
                    ":rotated",
                    AttributeValue::S(keys::STATE_ROTATED.into()),
                )
                .expression_attribute_values(
                    ":active",
                    AttributeValue::S(keys::STATE_ACTIVE.into()),
                )
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .build(),
        )?;
        let session_live = built(
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(keys::session_key(
                    old.user_id.as_str(),
                    old.session_id.as_str(),
                )))
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(revoked_at)")
                .build(),
        )?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_rotated).build())
            .transact_items(self.put(keys::refresh_item(new), NOT_EXISTS)?)
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(session_live)
                    .build(),
            )
            .send()
            .await
            .map_err(classify_transaction)?;
        Ok(())
    }

    /// Revokes a session. `Ok(true)` if this call revoked it, `Ok(false)` if it was already
    /// revoked or does not exist.
    pub async fn revoke_session(
        &self,
        user_id: &UserId,
        session_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::session_key(user_id.as_str(), session_id)))
            .update_expression("SET revoked_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// A session (strongly consistent).
    pub async fn session(
        &self,
        user_id: &UserId,
        session_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::session_key(user_id.as_str(), session_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        output.item().map(keys::session_from_item).transpose()
    }
}
