//! Emailed links and mail quotas: the writes that make a link, consume one, and count mails.
//! Every rule is decided in [`authcore::policy::links`] and [`authcore::policy::quota`]; each
//! write here repeats the facts the decision rested on as conditions, so a state that changed
//! since it was read is never overwritten.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::{NOT_EXISTS, Store, built, classify, classify_transaction, epoch_is, keys, n};
use crate::error::StoreError;
use authcore::domain::{Credentials, Email, User, UserId};
use authcore::policy::links::{Link, Purpose};
use authcore::policy::quota::{Counter, Quota};

/// The address part of a mail counter's key: the address itself for the account's counter,
/// `to:<address>` for the recipient's (`MAILQUOTA#<purpose>#to:<address>`), so mails others
/// ask for to an address never spend that address's own account's allowance.
fn counted_address(counter: Counter, email: &str) -> std::borrow::Cow<'_, str> {
    match counter {
        Counter::Account => std::borrow::Cow::Borrowed(email),
        Counter::Recipient => std::borrow::Cow::Owned(format!("to:{email}")),
    }
}

/// What [`Store::issue_link`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkIssue {
    /// The link is stored and is now the profile's newest of its purpose.
    Issued,
    /// The user is gone or the credentials epoch moved on since it was read: no link.
    CredentialsChanged,
    /// Another transaction held an item; nothing was written.
    Conflict,
}

/// What a write that consumes a link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// Used up; `epoch` is the user's credentials epoch now.
    Done { epoch: i64 },
    /// Already used, superseded, or the account changed since the link was checked (a racing
    /// use won).
    Dead,
    /// The new address was taken meanwhile (email change only).
    EmailTaken,
    /// Another transaction held an item; nothing was written.
    Conflict,
}

/// What [`Store::count_mail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaWrite {
    Counted,
    /// The stored counter was not the expected one; this is the one there now.
    Changed {
        current: Option<Quota>,
    },
    /// A transaction held the item; read it again.
    Contended,
}

impl Store {
    fn transact_item_update(
        update: Result<Update, StoreError>,
    ) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder().update(update?).build())
    }

    /// Deletes a link, only if it is still there (of two racing uses, one finds it gone).
    fn consume(&self, link: &Link) -> Result<TransactWriteItem, StoreError> {
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::link_key(&link.hash)))
                .condition_expression("attribute_exists(PK) AND purpose = :purpose")
                .expression_attribute_values(
                    ":purpose",
                    AttributeValue::S(link.purpose.as_str().to_owned()),
                )
                .build(),
        )?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Registers a user with the first verification link: profile (pointing at the link),
    /// email-uniqueness item and link, all or nothing. `AlreadyExists` when the email is taken.
    pub async fn create_user_with_link(
        &self,
        user: &User,
        credentials: &Credentials,
        link: &Link,
    ) -> Result<(), StoreError> {
        self.create_user_and(user, credentials, Some(link)).await
    }

    /// A stored link by its token's hash (strongly consistent).
    pub async fn link(&self, token_hash: &str) -> Result<Option<Link>, StoreError> {
        self.get_consistent(keys::link_key(token_hash))
            .await?
            .as_ref()
            .map(|item| keys::link_from_item(token_hash, item))
            .transpose()
    }

    /// A profile and the hash of its newest link of `purpose` (strongly consistent).
    pub async fn user_with_newest_link(
        &self,
        id: &UserId,
        purpose: Purpose,
    ) -> Result<Option<(User, Option<String>)>, StoreError> {
        self.get_consistent(keys::user_key(id.as_str()))
            .await?
            .as_ref()
            .map(|item| {
                Ok((
                    keys::user_from_item(item)?,
                    keys::newest_link(item, purpose),
                ))
            })
            .transpose()
    }

    /// Stores a link and makes it the profile's newest of its purpose (older ones stop
    /// matching), only while the user exists under the link's epoch.
    pub async fn issue_link(&self, link: &Link) -> Result<LinkIssue, StoreError> {
        let user_id = UserId::parse(&link.user_id)
            .ok_or_else(|| StoreError::Invalid("link user_id is not a UUID".into()))?;
        let point = Self::transact_item_update(built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::user_key(user_id.as_str())))
                .update_expression("SET #pointer = :hash")
                .condition_expression(format!("attribute_exists(PK) AND {}", epoch_is(link.epoch)))
                .expression_attribute_names("#pointer", link.purpose.pointer())
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_values(":hash", AttributeValue::S(link.hash.clone()))
                .expression_attribute_values(":epoch", n(link.epoch))
                .build(),
        ))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put(keys::link_item(link)?, NOT_EXISTS)?)
            .transact_items(point)
            .send()
            .await
            .map_err(classify_transaction);
        match result {
            Ok(_) => Ok(LinkIssue::Issued),
            Err(StoreError::ConditionFailed { .. }) => Ok(LinkIssue::CredentialsChanged),
            Err(StoreError::Conflict) => Ok(LinkIssue::Conflict),
            Err(err) => Err(err),
        }
    }

    /// A password reset: the link consumed, the new hash and the next epoch on the credentials
    /// (only if still of the link's user and epoch), the next epoch on the profile with the
    /// address marked verified (only if it still points at this link), and the email's
    /// password-check counter cleared, in one transaction. The new epoch ends every session.
    ///
    /// With `unverified` (the address was never proven before: whoever set the account up may
    /// not own it), the same transaction removes every second factor (TOTP in any state,
    /// recovery codes) and turns the credentials' two-factor flag off, only while the profile
    /// is still unverified: the owner gets a clean account.
    pub async fn reset_password(
        &self,
        link: &Link,
        email: &Email,
        new_hash: &str,
        unverified: bool,
    ) -> Result<Consumed, StoreError> {
        let next = link.epoch + 1;
        let still_unverified = if unverified {
            " AND (attribute_not_exists(#verified) OR #verified = :false)"
        } else {
            ""
        };
        let mut profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::user_key(&link.user_id)))
            .update_expression("SET #epoch = :next, #verified = :true REMOVE #pointer")
            .condition_expression(format!(
                "attribute_exists(PK) AND #pointer = :hash AND #email = :email AND {}{still_unverified}",
                epoch_is(link.epoch)
            ));
        if unverified {
            profile = profile.expression_attribute_values(":false", AttributeValue::Bool(false));
        }
        let profile = Self::transact_item_update(built(
            profile
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_names("#verified", keys::EMAIL_VERIFIED)
                .expression_attribute_names("#pointer", Purpose::Reset.pointer())
                .expression_attribute_names("#email", "email")
                .expression_attribute_values(":next", n(next))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":hash", AttributeValue::S(link.hash.clone()))
                .expression_attribute_values(":email", AttributeValue::S(email.as_str().to_owned()))
                .expression_attribute_values(":epoch", n(link.epoch))
                .build(),
        ))?;
        let mut credentials = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::credentials_key(email.as_str())))
            .update_expression(if unverified {
                "SET password_hash = :new, #epoch = :next, #mfa = :false"
            } else {
                "SET password_hash = :new, #epoch = :next"
            })
            .condition_expression(format!("user_id = :uid AND {}", epoch_is(link.epoch)))
            .expression_attribute_names("#epoch", keys::EPOCH)
            .expression_attribute_values(":new", AttributeValue::S(new_hash.to_owned()))
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":uid", AttributeValue::S(link.user_id.clone()))
            .expression_attribute_values(":epoch", n(link.epoch));
        if unverified {
            credentials = credentials
                .expression_attribute_names("#mfa", keys::MFA_FLAG)
                .expression_attribute_values(":false", AttributeValue::Bool(false));
        }
        let credentials = Self::transact_item_update(built(credentials.build()))?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(self.consume(link)?)
            .transact_items(profile)
            .transact_items(credentials)
            .transact_items(self.delete(keys::lockout_key(email.as_str()))?);
        if unverified {
            for item in self.factor_removal_items(&link.user_id)? {
                request = request.transact_items(item);
            }
        }
        let result = request.send().await.map_err(classify_transaction);
        consumed(result, next, None)
    }

    /// An email verification: the link consumed and the profile marked verified, only if it
    /// still points at this link under the link's epoch and address, and is still unverified.
    ///
    /// An address proven for the first time wins over whatever was set up before it: with
    /// `had_factors` (the account had a second factor when read), the same transaction removes
    /// every factor, turns the credentials' two-factor flag off and moves the epoch on (every
    /// session set up with them ends); without, it holds only while there is still no factor
    /// (one set up meanwhile makes it [`Consumed::Conflict`]: read again).
    pub async fn verify_email(
        &self,
        link: &Link,
        had_factors: bool,
    ) -> Result<Consumed, StoreError> {
        let next = link.epoch + 1;
        let mut profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::user_key(&link.user_id)))
            .update_expression(if had_factors {
                "SET #verified = :true, #epoch = :next REMOVE #pointer"
            } else {
                "SET #verified = :true REMOVE #pointer"
            })
            .condition_expression(format!(
                "attribute_exists(PK) AND #pointer = :hash AND #email = :email AND {} \
                 AND (attribute_not_exists(#verified) OR #verified = :false)",
                epoch_is(link.epoch)
            ))
            .expression_attribute_names("#verified", keys::EMAIL_VERIFIED)
            .expression_attribute_names("#pointer", Purpose::Verify.pointer())
            .expression_attribute_names("#email", "email")
            .expression_attribute_names("#epoch", keys::EPOCH)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":hash", AttributeValue::S(link.hash.clone()))
            .expression_attribute_values(":email", AttributeValue::S(link.email.clone()))
            .expression_attribute_values(":epoch", n(link.epoch));
        if had_factors {
            profile = profile.expression_attribute_values(":next", n(next));
        }
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(self.consume(link)?)
            .transact_items(Self::transact_item_update(built(profile.build()))?);
        if had_factors {
            let credentials = Self::transact_item_update(built(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::credentials_key(&link.email)))
                    .update_expression("SET #epoch = :next, #mfa = :false")
                    .condition_expression(format!("user_id = :uid AND {}", epoch_is(link.epoch)))
                    .expression_attribute_names("#epoch", keys::EPOCH)
                    .expression_attribute_names("#mfa", keys::MFA_FLAG)
                    .expression_attribute_values(":next", n(next))
                    .expression_attribute_values(":false", AttributeValue::Bool(false))
                    .expression_attribute_values(":uid", AttributeValue::S(link.user_id.clone()))
                    .expression_attribute_values(":epoch", n(link.epoch))
                    .build(),
            ))?;
            request = request.transact_items(credentials);
            for item in self.factor_removal_items(&link.user_id)? {
                request = request.transact_items(item);
            }
        } else {
            for item in self.no_factor_items(&link.user_id)? {
                request = request.transact_items(item);
            }
        }
        let result = request.send().await.map_err(classify_transaction);
        match result {
            // Items 2 and 3 are the checks that there is no factor: one was set up meanwhile.
            Err(StoreError::ConditionFailed { failed })
                if !had_factors && !failed.is_empty() && failed.iter().all(|i| *i >= 2) =>
            {
                Ok(Consumed::Conflict)
            }
            result => consumed(result, if had_factors { next } else { link.epoch }, None),
        }
    }

    /// An email change, atomically: the link consumed; the profile moved to the new address
    /// (verified: the change was confirmed from it) with the next epoch, only if it still
    /// points at this link under the link's epoch and the old address; the old address's
    /// credentials item removed (only if it is still the one that was read) and the new one
    /// created with the same hash and the next epoch (only if nobody holds the address); the
    /// username's alias, if the user has one, names the new address (only while it names this
    /// user).
    pub async fn change_email(
        &self,
        link: &Link,
        user: &User,
        credentials: &Credentials,
    ) -> Result<Consumed, StoreError> {
        let next = link.epoch + 1;
        let new_email = Email::from_stored(link.email.clone());
        let profile = Self::transact_item_update(built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::user_key(user.id.as_str())))
                .update_expression(
                    "SET #email = :new, #epoch = :next, #verified = :true REMOVE #pointer, verify_link, reset_link",
                )
                .condition_expression(format!(
                    "attribute_exists(PK) AND #pointer = :hash AND #email = :old AND {}",
                    epoch_is(link.epoch)
                ))
                .expression_attribute_names("#email", "email")
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_names("#verified", keys::EMAIL_VERIFIED)
                .expression_attribute_names("#pointer", Purpose::EmailChange.pointer())
                .expression_attribute_values(":new", AttributeValue::S(link.email.clone()))
                .expression_attribute_values(":old", AttributeValue::S(user.email.as_str().to_owned()))
                .expression_attribute_values(":next", n(next))
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":hash", AttributeValue::S(link.hash.clone()))
                .expression_attribute_values(":epoch", n(link.epoch))
                .build(),
        ))?;
        let old = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::credentials_key(credentials.email.as_str())))
                .condition_expression(format!(
                    "user_id = :uid AND password_hash = :hash AND {}",
                    epoch_is(link.epoch)
                ))
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_values(":uid", AttributeValue::S(user.id.to_string()))
                .expression_attribute_values(
                    ":hash",
                    AttributeValue::S(credentials.password_hash.clone()),
                )
                .expression_attribute_values(":epoch", n(link.epoch))
                .build(),
        )?;
        let moved = Credentials {
            email: new_email,
            user_id: credentials.user_id.clone(),
            password_hash: credentials.password_hash.clone(),
            roles: credentials.roles.clone(),
            epoch: next,
            // Two-factor moves with the account.
            mfa: credentials.mfa,
            active: credentials.active,
            permissions: credentials.permissions.clone(),
        };
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(self.consume(link)?)
            .transact_items(profile)
            .transact_items(TransactWriteItem::builder().delete(old).build())
            .transact_items(self.put(keys::credentials_item(&moved)?, NOT_EXISTS)?);
        if let Some(username) = &user.username {
            // The username leads to the credentials' new address, if it is still this user's.
            request = request.transact_items(Self::transact_item_update(built(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::username_key(&username.key())))
                    .update_expression("SET #email = :new")
                    .condition_expression("user_id = :uid")
                    .expression_attribute_names("#email", "email")
                    .expression_attribute_values(":new", AttributeValue::S(link.email.clone()))
                    .expression_attribute_values(":uid", AttributeValue::S(user.id.to_string()))
                    .build(),
            ))?);
        }
        let result = request.send().await.map_err(classify_transaction);
        consumed(result, next, Some(3))
    }

    /// An address's mail counter for `purpose` (strongly consistent).
    pub async fn mail_quota(
        &self,
        purpose: Purpose,
        counter: Counter,
        email: &str,
    ) -> Result<Option<Quota>, StoreError> {
        self.get_consistent(keys::mail_quota_key(
            purpose,
            &counted_address(counter, email),
        ))
        .await?
        .as_ref()
        .map(keys::mail_quota_from_item)
        .transpose()
    }

    /// Writes the counter [`authcore::policy::quota::admit`] computed, only if the stored one is
    /// still `expected` (or still absent); otherwise DynamoDB hands back the one there.
    pub async fn count_mail(
        &self,
        purpose: Purpose,
        counter: Counter,
        email: &str,
        expected: Option<&Quota>,
        next: &Quota,
        ttl: i64,
    ) -> Result<QuotaWrite, StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keys::mail_quota_item(
                purpose,
                &counted_address(counter, email),
                next,
                ttl,
            )?))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match expected {
            None => request.condition_expression(NOT_EXISTS),
            Some(quota) => request
                .condition_expression("#count = :count AND window_start = :start")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":count", n(quota.count))
                .expression_attribute_values(":start", n(quota.window_start)),
        };
        match request.send().await {
            Ok(_) => Ok(QuotaWrite::Counted),
            Err(SdkError::ServiceError(service)) => match service.err() {
                PutItemError::ConditionalCheckFailedException(failed) => Ok(QuotaWrite::Changed {
                    current: failed.item().map(keys::mail_quota_from_item).transpose()?,
                }),
                PutItemError::TransactionConflictException(_) => Ok(QuotaWrite::Contended),
                _ => Err(StoreError::Unavailable(Box::new(SdkError::ServiceError(
                    service,
                )))),
            },
            Err(err) => Err(classify(err)),
        }
    }
}

/// Reads a consuming transaction's result: a failed condition on `taken` (the new address's
/// item) alone means the address was taken; any other failed condition means the link is dead.
fn consumed(
    result: Result<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput,
        StoreError,
    >,
    epoch: i64,
    taken: Option<usize>,
) -> Result<Consumed, StoreError> {
    match result {
        Ok(_) => Ok(Consumed::Done { epoch }),
        Err(StoreError::ConditionFailed { failed }) => {
            if taken.is_some_and(|i| failed == [i]) {
                Ok(Consumed::EmailTaken)
            } else {
                Ok(Consumed::Dead)
            }
        }
        Err(StoreError::Conflict) => Ok(Consumed::Conflict),
        Err(err) => Err(err),
    }
}
