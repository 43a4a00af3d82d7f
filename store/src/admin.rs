//! Administration: the roles catalog, administrators' changes to accounts, listing users
//! through the sparse index, and erasing a user.
//!
//! Every change to the catalog is a whole-item `Put` conditioned on the version it was
//! computed from ([`authcore::policy::roles`] computes it); a change to an account writes the
//! profile (conditioned on its revision and epoch), the credentials copy and the catalog in one
//! transaction, so the counts the rules rely on never drift from the accounts. A change that
//! narrows, creates or deletes a role moves the role stamps item in the same transaction; the
//! authorizer reads that item (with the session and the profile, one `BatchGetItem`) only for
//! tokens that name a role.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::StreamExt;

use super::{NOT_EXISTS, Store, built, classify, classify_transaction, epoch_is, keys, n};
use crate::Session;
use crate::error::StoreError;
use crate::retry::{self, Tries};
use authcore::domain::{DisplayName, User, UserId};
use authcore::policy::links::Purpose;
use authcore::policy::roles::{Catalog, Holder, Stamps};

/// A user as an administrator reads it: the profile, and the revision changes are
/// conditioned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub user: User,
    pub rev: i64,
}

impl AdminUser {
    pub fn holder(&self) -> Holder {
        Holder {
            roles: self.user.roles.clone(),
            active: self.user.active,
        }
    }
}

/// A page of users, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersPage {
    pub users: Vec<User>,
    /// Where the next page starts (opaque to the caller); `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What [`Store::access_check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessCheck {
    pub session: Option<Session>,
    /// The profile's epoch; `None` when the user no longer exists.
    pub current_epoch: Option<i64>,
    /// The roles the user holds now.
    pub roles: Vec<String>,
    /// Role → the catalog version it was last stamped at (only read for tokens naming roles).
    pub stamps: std::collections::BTreeMap<String, i64>,
}

/// What a conditional write of the catalog (alone or with an account) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogWrite {
    Written,
    /// The catalog or the account changed since they were read: read again and decide again.
    Stale,
}

/// Items of one `BatchWriteItem` at most.
const BATCH_WRITE: usize = 25;
/// `BatchWriteItem`s of one purge step in flight at once.
const BATCH_PARALLEL: usize = 4;
/// Items of a user's partition one call of `DELETE /admin/users/{id}` deletes at most: 40
/// `BatchWriteItem`s, 1,000 write units, about a second of one partition's write throughput,
/// whatever the account holds (a bigger account takes more calls, each as bounded).
pub const PURGE_BUDGET: usize = 1_000;

/// What one [`Store::purge_user_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeStep {
    /// Every item but the profile and the credentials is gone.
    Done,
    /// It deleted its budget; more items are left for the next step.
    More,
}

impl Store {
    /// The user id an email belongs to (only that attribute of the credentials item is read).
    pub async fn user_id_of_email(&self, email: &str) -> Result<Option<UserId>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::credentials_key(email)))
            .projection_expression("user_id")
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| item.get("user_id"))
            .and_then(|v| v.as_s().ok())
            .and_then(|id| UserId::parse(id)))
    }

    /// A user and the roles catalog, in one strongly consistent `BatchGetItem`.
    pub async fn admin_user(
        &self,
        id: &UserId,
    ) -> Result<(Option<AdminUser>, Catalog), StoreError> {
        let items = self
            .batch_get(vec![keys::user_key(id.as_str()), keys::catalog_key()])
            .await?;
        let (mut user, mut catalog) = (None, Catalog::builtin());
        for item in &items {
            match super::sort_key(item) {
                Some(keys::PROFILE) => {
                    user = Some(AdminUser {
                        user: keys::user_from_item(item)?,
                        rev: keys::rev_of(item)?,
                    });
                }
                Some(keys::CATALOG) => catalog = keys::catalog_from_item(item)?,
                _ => {}
            }
        }
        Ok((user, catalog))
    }

    fn catalog_put(&self, next: &Catalog) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(keys::catalog_item(next, next.version + 1)?));
        let put = if next.version == 0 {
            put.condition_expression(NOT_EXISTS)
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", n(next.version))
        };
        Ok(TransactWriteItem::builder()
            .put(built(put.build())?)
            .build())
    }

    /// Writes `next` (computed from the catalog at `next.version`) only if it is still there,
    /// and in the same transaction stamps the roles of `stamps` with the version written.
    pub async fn write_catalog(
        &self,
        next: &Catalog,
        stamps: &Stamps,
    ) -> Result<CatalogWrite, StoreError> {
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(self.catalog_put(next)?);
        if !stamps.is_empty() {
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::stamps_key()))
                .expression_attribute_values(":v", n(next.version + 1));
            let mut set = Vec::new();
            let mut remove = Vec::new();
            for (i, role) in stamps.stamp.iter().enumerate() {
                update = update
                    .expression_attribute_names(format!("#s{i}"), keys::stamp_attribute(role));
                set.push(format!("#s{i} = :v"));
            }
            for (i, role) in stamps.drop.iter().enumerate() {
                update = update
                    .expression_attribute_names(format!("#d{i}"), keys::stamp_attribute(role));
                remove.push(format!("#d{i}"));
            }
            let mut expression = String::new();
            if !set.is_empty() {
                expression.push_str(&format!("SET {}", set.join(", ")));
            } else {
                // Every update needs a value it names; keep the version it was moved at.
                expression.push_str("SET version = :v");
            }
            if !remove.is_empty() {
                expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
            }
            request = request.transact_items(
                TransactWriteItem::builder()
                    .update(built(update.update_expression(expression).build())?)
                    .build(),
            );
        }
        catalog_write(request.send().await.map_err(classify_transaction))
    }

    /// What the authorizer checks a token against, in one strongly consistent `BatchGetItem`:
    /// the token's session, the user's profile (its credentials epoch and roles), and, only
    /// when `with_stamps` (the token names roles), the role stamps item. A token without roles
    /// costs what it did before: two items.
    pub async fn access_check(
        &self,
        user_id: &UserId,
        session_id: &str,
        with_stamps: bool,
    ) -> Result<AccessCheck, StoreError> {
        let mut wanted = vec![
            keys::session_key(user_id.as_str(), session_id),
            keys::user_key(user_id.as_str()),
        ];
        if with_stamps {
            wanted.push(keys::stamps_key());
        }
        let items = self.batch_get(wanted).await?;
        let mut check = AccessCheck::default();
        for item in &items {
            match super::sort_key(item) {
                Some(keys::PROFILE) => {
                    check.current_epoch = Some(keys::epoch_of(item)?);
                    check.roles = keys::roles_of(item);
                }
                Some(keys::STAMPS) => check.stamps = keys::stamps_from_item(item)?,
                Some(_) => check.session = Some(keys::session_from_item(item)?),
                None => {}
            }
        }
        Ok(check)
    }

    /// An administrator's change: the profile (only at the revision and epoch read) and the
    /// credentials copy take `after` (and `name` when given); with `end_sessions` the epoch
    /// moves on in both; with `catalog` the catalog's counts move in the same transaction.
    pub async fn change_account(
        &self,
        before: &AdminUser,
        after: &Holder,
        name: Option<Option<&DisplayName>>,
        end_sessions: bool,
        catalog: Option<&Catalog>,
    ) -> Result<CatalogWrite, StoreError> {
        let user = &before.user;
        let roles = AttributeValue::L(after.roles.iter().cloned().map(AttributeValue::S).collect());
        let epoch = if end_sessions {
            user.epoch + 1
        } else {
            user.epoch
        };
        let mut set =
            "SET #roles = :roles, #active = :active, #epoch = :next, #rev = :nextrev".to_owned();
        let mut remove = String::new();
        let mut profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::user_key(user.id.as_str())))
            .condition_expression(format!(
                "attribute_exists(PK) AND (attribute_not_exists(#rev) OR #rev = :rev) AND {}",
                epoch_is(user.epoch)
            ))
            .expression_attribute_names("#roles", "roles")
            .expression_attribute_names("#active", keys::ACTIVE)
            .expression_attribute_names("#epoch", keys::EPOCH)
            .expression_attribute_names("#rev", keys::REV)
            .expression_attribute_values(":roles", roles.clone())
            .expression_attribute_values(":active", AttributeValue::Bool(after.active))
            .expression_attribute_values(":next", n(epoch))
            .expression_attribute_values(":epoch", n(user.epoch))
            .expression_attribute_values(":rev", n(before.rev))
            .expression_attribute_values(":nextrev", n(before.rev + 1));
        match name {
            Some(Some(name)) => {
                set.push_str(", #name = :name");
                profile = profile
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_values(
                        ":name",
                        AttributeValue::S(name.as_str().to_owned()),
                    );
            }
            Some(None) => {
                remove.push_str(" REMOVE #name");
                profile = profile.expression_attribute_names("#name", "name");
            }
            None => {}
        }
        let profile = built(profile.update_expression(format!("{set}{remove}")).build())?;
        let credentials = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::credentials_key(user.email.as_str())))
                .update_expression("SET #roles = :roles, #active = :active, #epoch = :next")
                .condition_expression("user_id = :uid")
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_names("#active", keys::ACTIVE)
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_values(":roles", roles)
                .expression_attribute_values(":active", AttributeValue::Bool(after.active))
                .expression_attribute_values(":next", n(epoch))
                .expression_attribute_values(":uid", AttributeValue::S(user.id.to_string()))
                .build(),
        )?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(profile).build())
            .transact_items(TransactWriteItem::builder().update(credentials).build());
        if let Some(catalog) = catalog {
            request = request.transact_items(self.catalog_put(catalog)?);
        }
        catalog_write(request.send().await.map_err(classify_transaction))
    }

    /// A page of users, newest first, from the sparse index `GSI1` (one `Query` of `limit`
    /// + 1 items: the cost of a page follows the page, never the table).
    pub async fn users_page(
        &self,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<UsersPage, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::USERS_INDEX)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::USERS_INDEX_PK)
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(keys::USERS_INDEX_PARTITION.into()),
            )
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX));
        if let Some(cursor) = cursor {
            let sk = decode_cursor(cursor).ok_or(StoreError::Invalid("bad cursor".into()))?;
            let user =
                keys::user_of_index_sk(&sk).ok_or(StoreError::Invalid("bad cursor".into()))?;
            let mut start = keys::user_key(user.as_str());
            start.insert(
                keys::USERS_INDEX_PK.into(),
                AttributeValue::S(keys::USERS_INDEX_PARTITION.into()),
            );
            start.insert(keys::USERS_INDEX_SK.into(), AttributeValue::S(sk));
            query = query.set_exclusive_start_key(Some(start));
        }
        let output = query.send().await.map_err(classify)?;
        let items = output.items.unwrap_or_default();
        let more = items.len() > limit;
        let users = items
            .iter()
            .take(limit)
            .map(keys::user_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if more {
            items
                .get(limit.saturating_sub(1))
                .and_then(|item| item.get(keys::USERS_INDEX_SK))
                .and_then(|v| v.as_s().ok())
                .map(|sk| URL_SAFE_NO_PAD.encode(sk))
        } else {
            None
        };
        Ok(UsersPage { users, next_cursor })
    }

    /// Puts every profile written before the index existed into it (`authctl reindex`, once
    /// after upgrading). A `Scan` of the whole table, filtered to profiles without index keys:
    /// a one-off migration run by an operator, never by a request. Returns how many it indexed.
    pub async fn reindex_users(&self) -> Result<usize, StoreError> {
        let missing: Vec<keys::Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("SK = :profile AND attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::USERS_INDEX_PK)
            .expression_attribute_values(":profile", AttributeValue::S(keys::PROFILE.into()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(classify)?;
        let mut indexed = 0;
        for item in &missing {
            let user = keys::user_from_item(item)?;
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::user_key(user.id.as_str())))
                .update_expression("SET #pk = :pk, #sk = :sk")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_names("#pk", keys::USERS_INDEX_PK)
                .expression_attribute_names("#sk", keys::USERS_INDEX_SK)
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(keys::USERS_INDEX_PARTITION.into()),
                )
                .expression_attribute_values(
                    ":sk",
                    AttributeValue::S(keys::users_index_sk(
                        user.created_at.unix_timestamp(),
                        user.id.as_str(),
                    )),
                )
                .send()
                .await
                .map_err(classify);
            match result {
                Ok(_) => indexed += 1,
                // Deleted meanwhile.
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(indexed)
    }

    /// One bounded step of deleting every item of a disabled user except the profile and the
    /// credentials: at most `budget` items of the user's partition (sessions, refresh tokens,
    /// two-factor) per call, read with a `Query` that stops after `budget` + 1 of them. The
    /// call that finds the rest within its budget also deletes the email's password-check and
    /// mail counters and the pending emailed links the profile points at, and answers
    /// [`PurgeStep::Done`]; before that, [`PurgeStep::More`]. Idempotent: each call starts from
    /// what is left, so an interrupted purge resumes where it stopped. The user must be
    /// disabled first (no login or exchange adds an item then).
    pub async fn purge_user_step(
        &self,
        user: &User,
        budget: usize,
    ) -> Result<PurgeStep, StoreError> {
        let pk = keys::user_pk(user.id.as_str());
        let budget = budget.max(1);
        let mut partition: Vec<keys::Item> = Vec::new();
        let mut profile: Option<keys::Item> = None;
        let mut start: Option<keys::Item> = None;
        loop {
            let wanted = budget + 1 - partition.len();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .projection_expression("PK, SK, reset_link, verify_link, change_link")
                .consistent_read(true)
                // The profile may be among them: one more than wanted.
                .limit(i32::try_from(wanted + 1).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for item in output.items.unwrap_or_default() {
                let is_profile = item
                    .get(super::schema::SORT_KEY)
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|sk| sk == keys::PROFILE);
                if is_profile {
                    profile = Some(item);
                } else {
                    partition.push(keys::key(
                        pk.clone(),
                        item.get(super::schema::SORT_KEY)
                            .and_then(|v| v.as_s().ok())
                            .map(String::as_str)
                            .unwrap_or_default(),
                    ));
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() && partition.len() <= budget => start = Some(key),
                _ => break,
            }
        }
        if partition.len() > budget {
            partition.truncate(budget);
            self.delete_all(partition).await?;
            return Ok(PurgeStep::More);
        }
        let mut doomed = partition;
        let email = user.email.as_str();
        doomed.push(keys::lockout_key(email));
        if let Some(username) = &user.username {
            // The counter of logins that named the username before it existed.
            doomed.push(keys::lockout_key(&keys::username_lockout_name(
                &username.key(),
            )));
        }
        for purpose in [Purpose::Reset, Purpose::Verify, Purpose::EmailChange] {
            doomed.push(keys::mail_quota_key(purpose, email));
        }
        if let Some(item) = &profile {
            for purpose in [Purpose::Reset, Purpose::Verify, Purpose::EmailChange] {
                if let Some(hash) = keys::newest_link(item, purpose) {
                    if let Some(link) = self.link(&hash).await? {
                        // A pending change counts mails to the new address.
                        doomed.push(keys::mail_quota_key(purpose, &link.email));
                        doomed.push(keys::lockout_key(&link.email));
                    }
                    doomed.push(keys::link_key(&hash));
                }
            }
        }
        self.delete_all(doomed).await?;
        Ok(PurgeStep::Done)
    }

    /// `BatchWriteItem` deletes, 25 at a time and [`BATCH_PARALLEL`] batches at once,
    /// retrying what DynamoDB leaves unprocessed.
    async fn delete_all(&self, keys: Vec<keys::Item>) -> Result<(), StoreError> {
        let mut seen = std::collections::BTreeSet::new();
        let unique: Vec<keys::Item> = keys
            .into_iter()
            .filter(|key| {
                let text = |name: &str| {
                    key.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                seen.insert((
                    text(super::schema::PARTITION_KEY),
                    text(super::schema::SORT_KEY),
                ))
            })
            .collect();
        let mut batches: Vec<super::BoxedStep<'_>> = Vec::new();
        for chunk in unique.chunks(BATCH_WRITE) {
            batches.push(Box::pin(self.delete_batch(chunk)));
        }
        let mut results = futures::stream::iter(batches).buffer_unordered(BATCH_PARALLEL);
        while let Some(result) = results.next().await {
            result?;
        }
        Ok(())
    }

    /// One `BatchWriteItem` of at most 25 deletes, retrying what DynamoDB leaves unprocessed.
    async fn delete_batch(&self, chunk: &[keys::Item]) -> Result<(), StoreError> {
        let mut requests = chunk
            .iter()
            .map(|key| {
                built(DeleteRequest::builder().set_key(Some(key.clone())).build())
                    .map(|d| WriteRequest::builder().delete_request(d).build())
            })
            .collect::<Result<Vec<_>, _>>()?;
        // DynamoDB asks for a retry with backoff when it leaves items unprocessed.
        let mut tries = Tries::new(retry::UNPROCESSED);
        while tries.next().await {
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(classify)?;
            requests = output
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(
            "BatchWriteItem left items unprocessed".into(),
        ))
    }

    /// Erases a disabled, purged user: the profile (only at the revision read and still
    /// disabled), the credentials item, the username's alias, and the catalog's counts, in one
    /// transaction.
    pub async fn erase_user(
        &self,
        before: &AdminUser,
        catalog: &Catalog,
    ) -> Result<CatalogWrite, StoreError> {
        let user = &before.user;
        let profile = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::user_key(user.id.as_str())))
                .condition_expression(
                    "attribute_exists(PK) AND #active = :false AND (attribute_not_exists(#rev) OR #rev = :rev)",
                )
                .expression_attribute_names("#active", keys::ACTIVE)
                .expression_attribute_names("#rev", keys::REV)
                .expression_attribute_values(":false", AttributeValue::Bool(false))
                .expression_attribute_values(":rev", n(before.rev))
                .build(),
        )?;
        let credentials = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::credentials_key(user.email.as_str())))
                .condition_expression("attribute_not_exists(PK) OR user_id = :uid")
                .expression_attribute_values(":uid", AttributeValue::S(user.id.to_string()))
                .build(),
        )?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(profile).build())
            .transact_items(TransactWriteItem::builder().delete(credentials).build())
            .transact_items(self.catalog_put(catalog)?);
        if let Some(username) = &user.username {
            // The name is free again, unless someone else holds it (never: it is this user's).
            let alias = built(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::username_key(&username.key())))
                    .condition_expression("attribute_not_exists(PK) OR user_id = :uid")
                    .expression_attribute_values(":uid", AttributeValue::S(user.id.to_string()))
                    .build(),
            )?;
            request = request.transact_items(TransactWriteItem::builder().delete(alias).build());
        }
        let result = request.send().await.map_err(classify_transaction);
        catalog_write(result)
    }
}

fn catalog_write(
    result: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        StoreError,
    >,
) -> Result<CatalogWrite, StoreError> {
    match result {
        Ok(_) => Ok(CatalogWrite::Written),
        Err(StoreError::ConditionFailed { .. } | StoreError::Conflict) => Ok(CatalogWrite::Stale),
        Err(err) => Err(err),
    }
}

/// The index sort key a cursor names, if it is one this service made.
pub fn decode_cursor(cursor: &str) -> Option<String> {
    if cursor.len() > 128 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let sk = String::from_utf8(bytes).ok()?;
    keys::user_of_index_sk(&sk).map(|_| sk)
}
