//! The DynamoDB store: one table, keys built in [`keys`], every invariant enforced by a
//! condition or a transaction in DynamoDB itself (never read-then-write).

mod admin;
pub mod error;
mod import;
pub mod keys;
mod links;
mod mfa;
mod rates;
pub mod retry;
pub mod schema;
#[cfg(test)]
mod stored_items;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials as AwsCredentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::error::StoreError;
use crate::retry::Tries;
pub use admin::{
    AccessCheck, AdminUser, CatalogWrite, PURGE_BUDGET, PurgeStep, UsersPage, decode_cursor,
};
use authcore::domain::{Credentials, DisplayName, User, UserId, UsernameAlias};
use authcore::policy::roles::Catalog;
pub use import::{IMPORT_BATCH, Imported, NewAccount};
pub use keys::{Challenge, MfaRecord};
pub use keys::{Lockout, RefreshRecord, Session, TokenState};
pub use links::{Consumed, LinkIssue, QuotaWrite};
pub use mfa::{KeptSession, SecondFactor};
pub use rates::HitOutcome;
use settings::StoreSettings;

/// Loads the AWS configuration with the timeouts and retries the service relies on: a DynamoDB
/// outage answers 503 after at most 3 attempts of 1 s each (3 s overall), never hangs.
pub async fn sdk_config(settings: &StoreSettings) -> aws_config::SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
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

/// The SDK's HTTPS client: hyper with rustls on `ring` (TLS 1.2/1.3, the platform's roots),
/// the same client the SDK's default builds, without compiling `aws-lc` from C.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
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

    /// Registers a user: the profile, the email-uniqueness item and, when the user has a
    /// username, its alias (naming the credentials' email) are written together or not at all.
    /// `AlreadyExists` when the email is taken, `UsernameTaken` when the username is (the email
    /// is reported first when both are); `Refused` when the direct permissions break their
    /// bound or the credentials' copy differs from the profile's.
    pub async fn create_user(
        &self,
        user: &User,
        credentials: &Credentials,
    ) -> Result<(), StoreError> {
        self.create_user_and(user, credentials, None).await
    }

    /// [`Store::create_user`], with a first emailed link (the profile points at it) in the same
    /// transaction when there is one.
    async fn create_user_and(
        &self,
        user: &User,
        credentials: &Credentials,
        link: Option<&authcore::policy::links::Link>,
    ) -> Result<(), StoreError> {
        match authcore::policy::roles::direct_permissions(&user.permissions) {
            Ok(permissions)
                if permissions == user.permissions && credentials.permissions == permissions => {}
            Ok(_) => {
                return Err(StoreError::Refused(
                    "direct permissions must be sorted, distinct, and the same on the credentials"
                        .into(),
                ));
            }
            Err(refusal) => return Err(StoreError::Refused(refusal.to_string())),
        }
        let mut profile = keys::user_item(user)?;
        if let Some(link) = link {
            profile.insert(
                link.purpose.pointer().to_owned(),
                AttributeValue::S(link.hash.clone()),
            );
        }
        let mut items = vec![
            self.put(profile, NOT_EXISTS)?,
            self.put(keys::credentials_item(credentials)?, NOT_EXISTS)?,
        ];
        // Item 2 when there is one.
        if let Some(username) = &user.username {
            let alias = UsernameAlias {
                username: username.clone(),
                user_id: user.id.clone(),
                email: credentials.email.clone(),
            };
            items.push(self.put(keys::username_item(&alias)?, NOT_EXISTS)?);
        }
        if let Some(link) = link {
            items.push(self.put(keys::link_item(link)?, NOT_EXISTS)?);
        }
        // Two claims of one name or address at once: DynamoDB may cancel both as conflicting;
        // again, the condition then tells who holds it.
        let mut result = Err(StoreError::Conflict);
        let mut tries = Tries::new(retry::CONTENDED);
        while tries.next().await {
            result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
                .map_err(classify_transaction);
            if !matches!(result, Err(StoreError::Conflict)) {
                break;
            }
        }
        match result {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed { failed }) if failed.contains(&1) => {
                Err(StoreError::AlreadyExists)
            }
            Err(StoreError::ConditionFailed { failed })
                if user.username.is_some() && failed.contains(&2) =>
            {
                Err(StoreError::UsernameTaken)
            }
            Err(err) => Err(err),
        }
    }

    /// One item by its key, strongly consistent.
    async fn get_consistent(&self, key: keys::Item) -> Result<Option<keys::Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output.item)
    }

    /// A user's profile (strongly consistent).
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.get_consistent(keys::user_key(id.as_str()))
            .await?
            .as_ref()
            .map(keys::user_from_item)
            .transpose()
    }

    /// Whose a username is (`name_key`: [`authcore::domain::Username::key`]; strongly
    /// consistent).
    pub async fn username(&self, name_key: &str) -> Result<Option<UsernameAlias>, StoreError> {
        self.get_consistent(keys::username_key(name_key))
            .await?
            .as_ref()
            .map(keys::username_from_item)
            .transpose()
    }

    /// The credentials for a normalised email (strongly consistent).
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        self.get_consistent(keys::credentials_key(email))
            .await?
            .as_ref()
            .map(keys::credentials_from_item)
            .transpose()
    }

    /// Replaces a password hash with one of the same password at the current parameters (the
    /// upgrade after a login), only if it is still the one that was verified. The epoch stays:
    /// the credentials did not change.
    pub async fn upgrade_password_hash(
        &self,
        email: &str,
        old: &str,
        new: &str,
    ) -> Result<HashUpgrade, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::credentials_key(email)))
            .update_expression("SET password_hash = :new")
            .condition_expression("password_hash = :old")
            .expression_attribute_values(":new", AttributeValue::S(new.to_owned()))
            .expression_attribute_values(":old", AttributeValue::S(old.to_owned()))
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(_) => Ok(HashUpgrade::Upgraded),
            Err(StoreError::ConditionFailed { .. }) => Ok(HashUpgrade::Stale),
            Err(err) => Err(err),
        }
    }

    /// A password change: the new hash and the next epoch on the credentials item (only if the
    /// hash and epoch are still those that were verified) and the next epoch on the profile
    /// (only if it is still the verified one), in one transaction. Moving the epoch on ends
    /// every session of the user at once. (The check of the current password gave its
    /// reservation back already; the email's failures stay.)
    pub async fn change_password(
        &self,
        verified: &Credentials,
        new_hash: &str,
    ) -> Result<EpochChange, StoreError> {
        let next = verified.epoch + 1;
        let credentials = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::credentials_key(verified.email.as_str())))
                .update_expression("SET password_hash = :new, #epoch = :next")
                .condition_expression(format!(
                    "password_hash = :old AND {}",
                    epoch_is(verified.epoch)
                ))
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_values(":new", AttributeValue::S(new_hash.to_owned()))
                .expression_attribute_values(
                    ":old",
                    AttributeValue::S(verified.password_hash.clone()),
                )
                .expression_attribute_values(":epoch", n(verified.epoch))
                .expression_attribute_values(":next", n(next))
                .build(),
        )?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(credentials).build())
            .transact_items(self.epoch_update(&verified.user_id, verified.epoch)?);
        epoch_change(request.send().await.map_err(classify_transaction), next)
    }

    /// Sign-out everywhere: the profile's and the credentials item's epoch move on together,
    /// only if both still hold `user.epoch`. One write, whatever the number of sessions.
    pub async fn advance_epoch(&self, user: &User) -> Result<EpochChange, StoreError> {
        let next = user.epoch + 1;
        let credentials = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::credentials_key(user.email.as_str())))
                .update_expression("SET #epoch = :next")
                .condition_expression(format!("user_id = :uid AND {}", epoch_is(user.epoch)))
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_values(":uid", AttributeValue::S(user.id.to_string()))
                .expression_attribute_values(":epoch", n(user.epoch))
                .expression_attribute_values(":next", n(next))
                .build(),
        )?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(credentials).build())
            .transact_items(self.epoch_update(&user.id, user.epoch)?);
        epoch_change(request.send().await.map_err(classify_transaction), next)
    }

    /// The profile's epoch moved from `epoch` to the next one (a transaction item).
    fn epoch_update(&self, user_id: &UserId, epoch: i64) -> Result<TransactWriteItem, StoreError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::user_key(user_id.as_str())))
                .update_expression("SET #epoch = :next")
                .condition_expression(format!("attribute_exists(PK) AND {}", epoch_is(epoch)))
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_values(":epoch", n(epoch))
                .expression_attribute_values(":next", n(epoch + 1))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The profile still holds `epoch` (a transaction item).
    fn epoch_check(&self, user_id: &UserId, epoch: i64) -> Result<TransactWriteItem, StoreError> {
        let check = built(
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(keys::user_key(user_id.as_str())))
                .condition_expression(format!("attribute_exists(PK) AND {}", epoch_is(epoch)))
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_values(":epoch", n(epoch))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The profile records a login at `now`, only while it holds `epoch` and is active (a
    /// transaction item).
    fn login_mark(
        &self,
        user_id: &UserId,
        epoch: i64,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::user_key(user_id.as_str())))
                .update_expression("SET last_login_at = :now")
                .condition_expression(format!(
                    "attribute_exists(PK) AND (attribute_not_exists(#active) OR #active = :true) AND {}",
                    epoch_is(epoch)
                ))
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_names("#active", keys::ACTIVE)
                .expression_attribute_values(":epoch", n(epoch))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":now", n(now))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn delete(&self, key: keys::Item) -> Result<TransactWriteItem, StoreError> {
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Starts a session with its first refresh token, in one transaction that holds only while
    /// the user's credentials epoch is still the session's (a password change that landed
    /// after the password was checked wins); with a second factor, the same transaction uses it
    /// up (the challenge deleted, the TOTP step or the recovery code spent), so of two racing
    /// verifications one starts a session.
    pub async fn start_session(
        &self,
        session: &Session,
        token: &RefreshRecord,
        factor: Option<&SecondFactor<'_>>,
    ) -> Result<StartOutcome, StoreError> {
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(self.put(keys::session_item(session)?, NOT_EXISTS)?)
            .transact_items(self.put(keys::refresh_item(token)?, NOT_EXISTS)?)
            .transact_items(self.login_mark(
                &session.user_id,
                session.epoch,
                session.created_at,
            )?);
        let factor_items = 3;
        if let Some(factor) = factor {
            for item in self.second_factor_items(&session.user_id, factor)? {
                request = request.transact_items(item);
            }
        }
        match request.send().await.map_err(classify_transaction) {
            Ok(_) => Ok(StartOutcome::Started),
            Err(StoreError::ConditionFailed { failed })
                if failed.iter().any(|i| *i >= factor_items) =>
            {
                Ok(StartOutcome::FactorSpent)
            }
            Err(StoreError::ConditionFailed { failed }) if failed.contains(&2) => {
                Ok(StartOutcome::CredentialsChanged)
            }
            Err(StoreError::Conflict) => Ok(StartOutcome::Conflict),
            Err(err) => Err(err),
        }
    }

    /// What login needs in one round trip: the email's credentials and its reservation counter
    /// (a strongly consistent `BatchGetItem`).
    pub async fn login_lookup(
        &self,
        email: &str,
    ) -> Result<(Option<Credentials>, Option<Lockout>), StoreError> {
        let items = self
            .batch_get(vec![keys::credentials_key(email), keys::lockout_key(email)])
            .await?;
        let mut credentials = None;
        let mut lockout = None;
        for item in &items {
            match sort_key(item) {
                Some(keys::CREDENTIALS) => credentials = Some(keys::credentials_from_item(item)?),
                Some(keys::LOCKOUT) => lockout = Some(keys::lockout_from_item(item)?),
                _ => {}
            }
        }
        Ok((credentials, lockout))
    }

    /// Strongly consistent `BatchGetItem` of a few keys of this table.
    async fn batch_get(&self, keys: Vec<keys::Item>) -> Result<Vec<keys::Item>, StoreError> {
        let request = built(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
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
        Ok(output
            .responses()
            .and_then(|r| r.get(&self.table))
            .cloned()
            .unwrap_or_default())
    }

    /// An email's reservation counter (strongly consistent).
    pub async fn lockout(&self, email: &str) -> Result<Option<Lockout>, StoreError> {
        self.get_consistent(keys::lockout_key(email))
            .await?
            .as_ref()
            .map(keys::lockout_from_item)
            .transpose()
    }

    /// Gives back the reservation `id` on an email's counter: removes it, and only it, if it is
    /// still there (never another reservation, never a failure; the version moves on, so a
    /// decision computed from the counter with it is not written). One `UpdateItem` that needs
    /// no read; `false` when the reservation was not there (lapsed, or the counter erased).
    /// This is [`authcore::policy::lockout::resolve`] with `Outcome::GiveBack`, minus the lapsed
    /// reservations it counts, which any later read counts the same way.
    pub async fn give_back_reservation(&self, email: &str, id: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::lockout_key(email)))
            .update_expression("REMOVE #pending.#id SET version = version + :one")
            .condition_expression("attribute_exists(#pending.#id)")
            .expression_attribute_names("#pending", keys::LOCKOUT_PENDING)
            .expression_attribute_names("#id", id)
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Writes the counter [`authcore::policy::lockout`] computed (a reservation or a resolution),
    /// only if the stored one is still `expected` (same version, or still absent). When it is
    /// not, DynamoDB hands back the counter that is there, so the caller can decide again
    /// without another read.
    pub async fn write_lockout(
        &self,
        email: &str,
        expected: Option<&Lockout>,
        next: &Lockout,
        ttl: i64,
    ) -> Result<LockoutWrite, StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keys::lockout_item(email, next, ttl)?))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match expected {
            None => request.condition_expression(NOT_EXISTS),
            Some(counter) if counter.version == 0 => request
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(version)"),
            Some(counter) => request
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(counter.version)),
        };
        match request.send().await {
            Ok(_) => Ok(LockoutWrite::Written),
            Err(SdkError::ServiceError(service)) => match service.err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    Ok(LockoutWrite::Changed {
                        current: failed.item().map(keys::lockout_from_item).transpose()?,
                    })
                }
                PutItemError::TransactionConflictException(_) => Ok(LockoutWrite::Contended),
                _ => Err(StoreError::Unavailable(Box::new(SdkError::ServiceError(
                    service,
                )))),
            },
            Err(err) => Err(classify(err)),
        }
    }

    /// Sets or clears a user's display name; `None` when the user does not exist. The update
    /// returns nothing (the function may write only `name`: `dynamodb:Attributes` in the
    /// template), and the profile is read back.
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
            .expression_attribute_names("#name", "name");
        let request = match name {
            Some(name) => request
                .update_expression("SET #name = :name")
                .expression_attribute_values(":name", AttributeValue::S(name.as_str().to_owned())),
            None => request.update_expression("REMOVE #name"),
        };
        match request.send().await.map_err(classify) {
            Ok(_) => self.user(id).await,
            Err(StoreError::ConditionFailed { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Every session of a user (one `Query` on the user's partition, paginated). What it
    /// reads is bounded by the cap, not by the account's history: see [`Store::prune_sessions`].
    pub async fn sessions(&self, user_id: &UserId) -> Result<Vec<Session>, StoreError> {
        Ok(self.sessions_read(user_id).await?.sessions)
    }

    /// [`Store::sessions`], with what the `Query` cost: the items DynamoDB read (`scanned`;
    /// the query has no filter, so it is also what it returned) and the read units it
    /// consumed. The same request the session cap, the sessions list and the admin's view run.
    pub async fn sessions_read(&self, user_id: &UserId) -> Result<SessionsRead, StoreError> {
        let mut read = SessionsRead::default();
        let mut start: Option<keys::Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(keys::user_pk(user_id.as_str())),
                )
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(keys::SESSION_PREFIX.into()),
                )
                .consistent_read(true)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            read.scanned += usize::try_from(output.scanned_count()).unwrap_or(0);
            read.read_units += output
                .consumed_capacity()
                .and_then(|c| c.capacity_units())
                .unwrap_or(0.0);
            for item in output.items() {
                read.sessions.push(keys::session_from_item(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(read)
    }

    /// The sessions of a user that have not ended for good, after deleting those that have
    /// ([`authcore::policy::sessions::has_ended`], judged against `current_epoch` and `idle` at
    /// `now`) together with their active refresh token. Login runs it after each session start
    /// (the session cap's read), so the user's `SESSION#` items are the live ones plus those
    /// ended since the last login: never more than a few beyond `MAX_SESSIONS_PER_USER`,
    /// whatever the number of logins before. Each delete holds only if the session is still
    /// as read (same last use, same epoch), so a session a concurrent exchange or carry-over
    /// touched is left for the next login. Best effort: a delete that fails leaves the
    /// session for the next login (the session is dead either way).
    pub async fn prune_sessions(
        &self,
        user_id: &UserId,
        current_epoch: i64,
        idle: i64,
        now: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let all = self.sessions(user_id).await?;
        let (ended, standing): (Vec<Session>, Vec<Session>) = all
            .into_iter()
            .partition(|s| authcore::policy::sessions::has_ended(s, current_epoch, idle, now));
        // Boxed with their type spelled out: a `map` closure's future in an `async fn` trips
        // the compiler's `Send` inference for the router that awaits it.
        let mut deletes: Vec<BoxedStep<'_>> = Vec::with_capacity(ended.len());
        for session in &ended {
            deletes.push(Box::pin(self.delete_ended_session(session)));
        }
        for result in futures::future::join_all(deletes).await {
            if let Err(err) = result {
                tracing::warn!(error = %crate::error::chain(&err), "ended session not deleted");
            }
        }
        Ok(standing)
    }

    /// Deletes an ended session if it is still as read, then its active refresh token.
    async fn delete_ended_session(&self, session: &Session) -> Result<(), StoreError> {
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::session_key(
                session.user_id.as_str(),
                session.id.as_str(),
            )))
            .condition_expression(format!(
                "attribute_exists(PK) AND (last_used_at = :used OR (attribute_not_exists(last_used_at) AND created_at = :used)) AND {}",
                epoch_is(session.epoch)
            ))
            .expression_attribute_names("#epoch", keys::EPOCH)
            .expression_attribute_values(":used", n(session.last_used_at))
            .expression_attribute_values(":epoch", n(session.epoch));
        match request.send().await.map_err(classify) {
            Ok(_) => {}
            // Changed or gone since it was read: the next login decides again.
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(err) => return Err(err),
        }
        if let Some(token) = &session.active_token {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(keys::refresh_key(session.user_id.as_str(), token)))
                .send()
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// The stored record of a presented refresh token (strongly consistent).
    pub async fn refresh_record(
        &self,
        user_id: &UserId,
        token_hash: &str,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        self.get_consistent(keys::refresh_key(user_id.as_str(), token_hash))
            .await?
            .as_ref()
            .map(|item| keys::refresh_from_item(token_hash, item))
            .transpose()
    }

    /// What refresh needs in one round trip: the token's record, its user's profile and the
    /// roles catalog (a strongly consistent `BatchGetItem` of three keys).
    pub async fn refresh_lookup(
        &self,
        user_id: &UserId,
        token_hash: &str,
    ) -> Result<(Option<RefreshRecord>, Option<User>, Catalog), StoreError> {
        let items = self
            .batch_get(vec![
                keys::refresh_key(user_id.as_str(), token_hash),
                keys::user_key(user_id.as_str()),
                keys::catalog_key(),
            ])
            .await?;
        let (mut record, mut user, mut catalog) = (None, None, Catalog::builtin());
        for item in &items {
            match sort_key(item) {
                Some(keys::PROFILE) => user = Some(keys::user_from_item(item)?),
                Some(keys::CATALOG) => catalog = keys::catalog_from_item(item)?,
                Some(_) => record = Some(keys::refresh_from_item(token_hash, item)?),
                None => {}
            }
        }
        Ok((record, user, catalog))
    }

    /// The roles catalog (strongly consistent); the built-in one while none is stored.
    pub async fn catalog(&self) -> Result<Catalog, StoreError> {
        self.get_consistent(keys::catalog_key())
            .await?
            .as_ref()
            .map_or_else(|| Ok(Catalog::builtin()), keys::catalog_from_item)
    }

    /// Exchanges `old` for `new` in one transaction that holds only if `old` is still active,
    /// its session exists, is not revoked and is still of the user's current epoch (the session
    /// also records its last use), and the profile still holds that epoch. Each token's item
    /// expires (`ttl`) at its horizon ([`authcore::policy::rotation::horizon`]): `old` keeps what
    /// reuse detection needs until `horizons.old`, then DynamoDB removes it.
    pub async fn rotate(
        &self,
        old: &RefreshRecord,
        new: &RefreshRecord,
        now: i64,
        horizons: Horizons,
    ) -> Result<RotateOutcome, StoreError> {
        let mark_rotated = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::refresh_key(
                    old.user_id.as_str(),
                    &old.token_hash,
                )))
                .update_expression("SET #state = :rotated, rotated_at = :now, #ttl = :ttl")
                .condition_expression("#state = :active")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#ttl", schema::TTL_ATTRIBUTE)
                .expression_attribute_values(":ttl", n(horizons.old))
                .expression_attribute_values(
                    ":rotated",
                    AttributeValue::S(keys::STATE_ROTATED.into()),
                )
                .expression_attribute_values(
                    ":active",
                    AttributeValue::S(keys::STATE_ACTIVE.into()),
                )
                .expression_attribute_values(":now", n(now))
                .build(),
        )?;
        let session_used = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::session_key(
                    old.user_id.as_str(),
                    old.session_id.as_str(),
                )))
                .update_expression("SET last_used_at = :now, active_token = :token")
                .condition_expression(format!(
                    "attribute_exists(PK) AND attribute_not_exists(revoked_at) AND {}",
                    epoch_is(old.epoch)
                ))
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_values(":epoch", n(old.epoch))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":token", AttributeValue::S(new.token_hash.clone()))
                .build(),
        )?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_rotated).build())
            .transact_items(self.put(keys::refresh_item_until(new, horizons.new)?, NOT_EXISTS)?)
            .transact_items(TransactWriteItem::builder().update(session_used).build())
            .transact_items(self.epoch_check(&old.user_id, old.epoch)?)
            .send()
            .await
            .map_err(classify_transaction);
        match result {
            Ok(_) => Ok(RotateOutcome::Rotated),
            Err(StoreError::ConditionFailed { failed }) if failed.contains(&0) => {
                Ok(RotateOutcome::AlreadyRotated)
            }
            Err(StoreError::ConditionFailed { .. }) => Ok(RotateOutcome::SessionGone),
            Err(StoreError::Conflict) => Ok(RotateOutcome::Conflict),
            Err(err) => Err(err),
        }
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
        self.get_consistent(keys::session_key(user_id.as_str(), session_id))
            .await?
            .as_ref()
            .map(keys::session_from_item)
            .transpose()
    }
}

/// A store step in flight, of a known type (see [`Store::prune_sessions`]).
pub(crate) type BoxedStep<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// When the two tokens of an exchange stop mattering (their items' `ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizons {
    /// The exchanged token's: how long a replay of it is still reuse.
    pub old: i64,
    /// The new token's.
    pub new: i64,
}

/// What [`Store::sessions_read`] read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionsRead {
    pub sessions: Vec<Session>,
    /// Items DynamoDB read for the query (its `ScannedCount`, every page).
    pub scanned: usize,
    /// Read units the query consumed (`ConsumedCapacity`, every page).
    pub read_units: f64,
}

/// What [`Store::write_lockout`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockoutWrite {
    /// The counter was written.
    Written,
    /// The stored counter was not the expected one; this is the one there now.
    Changed { current: Option<Lockout> },
    /// A transaction held the item; read it again.
    Contended,
}

/// What [`Store::upgrade_password_hash`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashUpgrade {
    Upgraded,
    /// The hash changed since it was verified (a password change won).
    Stale,
}

/// What a write that moves the credentials epoch on did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochChange {
    /// The epoch is now `epoch`; every older session is dead.
    Advanced { epoch: i64 },
    /// The hash or the epoch changed since they were read (another change won).
    Stale,
    /// Another transaction held an item; nothing was written.
    Conflict,
}

/// What [`Store::start_session`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    /// The second factor was already used: the challenge is gone or dead, the TOTP step was
    /// spent by another verification, or the recovery code by another login.
    FactorSpent,
    /// The credentials epoch moved on since the password was checked: no session.
    CredentialsChanged,
    /// Another transaction held an item; nothing was written.
    Conflict,
}

/// What [`Store::rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    Rotated,
    /// The old token is no longer active (another exchange won).
    AlreadyRotated,
    /// The session is revoked, gone, or of an old epoch.
    SessionGone,
    /// Another transaction held an item; nothing was written.
    Conflict,
}

fn epoch_change(
    result: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        StoreError,
    >,
    next: i64,
) -> Result<EpochChange, StoreError> {
    match result {
        Ok(_) => Ok(EpochChange::Advanced { epoch: next }),
        Err(StoreError::ConditionFailed { .. }) => Ok(EpochChange::Stale),
        Err(StoreError::Conflict) => Ok(EpochChange::Conflict),
        Err(err) => Err(err),
    }
}

/// The condition "the item's epoch is `epoch`" (items from before epochs hold epoch 0), with
/// `#epoch` and `:epoch` to bind.
fn epoch_is(epoch: i64) -> &'static str {
    if epoch == 0 {
        "(attribute_not_exists(#epoch) OR #epoch = :epoch)"
    } else {
        "#epoch = :epoch"
    }
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn sort_key(item: &keys::Item) -> Option<&str> {
    item.get(schema::SORT_KEY)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}
