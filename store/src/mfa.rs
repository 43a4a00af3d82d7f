//! Two-factor state: enrolment, turning it on and off (each moving the credentials epoch on,
//! so every other session ends, while the caller's own session is carried over), recovery
//! codes, and the challenges logins answer with. The rules are [`authcore::policy::totp`].

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};

use super::{
    EpochChange, NOT_EXISTS, Store, built, classify, classify_transaction, epoch_change, epoch_is,
    keys, n,
};
use crate::error::StoreError;
use authcore::domain::{User, UserId};
use authcore::policy::totp::CHALLENGE_MAX_FAILURES;
use keys::{Challenge, MfaRecord};

/// The second factor a session start spends.
#[derive(Debug, Clone, Copy)]
pub enum SecondFactor<'a> {
    /// A TOTP code of `step`, answering the challenge `challenge` (its token's hash).
    Totp { challenge: &'a str, step: i64 },
    /// A recovery code (its hash), answering the challenge `challenge`.
    Recovery { challenge: &'a str, code: &'a str },
}

/// The caller's own session, to be carried over an epoch change that ends every other one:
/// its id and the hash of its current refresh token (both re-stamped with the new epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptSession {
    pub session_id: String,
    pub token_hash: String,
}

impl Store {
    /// A put that replaces whatever is there (a transaction item).
    fn put_always(&self, item: keys::Item) -> Result<TransactWriteItem, StoreError> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update_item(update: Result<Update, StoreError>) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder().update(update?).build())
    }

    /// The transaction items that spend a second factor (see [`Store::start_session`]).
    pub(super) fn second_factor_items(
        &self,
        user_id: &UserId,
        factor: &SecondFactor<'_>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let challenge = match factor {
            SecondFactor::Totp { challenge, .. } | SecondFactor::Recovery { challenge, .. } => {
                challenge
            }
        };
        let consume = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::challenge_key(challenge)))
                .condition_expression("attribute_exists(PK) AND failures < :max")
                .expression_attribute_values(":max", n(CHALLENGE_MAX_FAILURES))
                .build(),
        )?;
        let spend = match factor {
            SecondFactor::Totp { step, .. } => self.spend_step(user_id, *step)?,
            SecondFactor::Recovery { code, .. } => Self::update_item(built(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::recovery_key(user_id.as_str())))
                    .update_expression("DELETE codes :set")
                    .condition_expression("contains(codes, :code)")
                    .expression_attribute_values(
                        ":set",
                        AttributeValue::Ss(vec![(*code).to_owned()]),
                    )
                    .expression_attribute_values(":code", AttributeValue::S((*code).to_owned()))
                    .build(),
            ))?,
        };
        Ok(vec![
            TransactWriteItem::builder().delete(consume).build(),
            spend,
        ])
    }

    /// Spends a TOTP step of an enabled two-factor: only a later step than the last one spent.
    fn spend_step(&self, user_id: &UserId, step: i64) -> Result<TransactWriteItem, StoreError> {
        Self::update_item(built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::mfa_key(user_id.as_str())))
                .update_expression("SET last_step = :step")
                .condition_expression(
                    "#state = :enabled AND (attribute_not_exists(last_step) OR last_step < :step)",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":enabled", AttributeValue::S("enabled".into()))
                .expression_attribute_values(":step", n(step))
                .build(),
        ))
    }

    /// A user's two-factor state (strongly consistent).
    pub async fn mfa(&self, user_id: &UserId) -> Result<Option<MfaRecord>, StoreError> {
        self.get_consistent(keys::mfa_key(user_id.as_str()))
            .await?
            .as_ref()
            .map(keys::mfa_from_item)
            .transpose()
    }

    /// A user's two-factor state and recovery code hashes, in one `BatchGetItem`.
    pub async fn mfa_and_recovery(
        &self,
        user_id: &UserId,
    ) -> Result<(Option<MfaRecord>, Vec<String>), StoreError> {
        let items = self
            .batch_get(vec![
                keys::mfa_key(user_id.as_str()),
                keys::recovery_key(user_id.as_str()),
            ])
            .await?;
        let mut record = None;
        let mut codes = Vec::new();
        for item in &items {
            match super::sort_key(item) {
                Some(keys::MFA_SK) => record = Some(keys::mfa_from_item(item)?),
                Some(keys::RECOVERY_SK) => codes = keys::recovery_from_item(item),
                _ => {}
            }
        }
        Ok((record, codes))
    }

    /// Stores a new, not yet confirmed secret, replacing a pending one. `false` when two-factor
    /// is already on (nothing written).
    pub async fn put_pending_mfa(
        &self,
        user_id: &UserId,
        record: &MfaRecord,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keys::mfa_item(user_id.as_str(), record)?))
            .condition_expression("attribute_not_exists(PK) OR #state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The items that move the credentials epoch from `user.epoch` on (profile and credentials,
    /// the credentials' two-factor flag set to `mfa`), and carry `keep` over.
    fn epoch_items(
        &self,
        user: &User,
        mfa: bool,
        keep: Option<&KeptSession>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let next = user.epoch + 1;
        let credentials = Self::update_item(built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::credentials_key(user.email.as_str())))
                .update_expression("SET #epoch = :next, #mfa = :mfa")
                .condition_expression(format!("user_id = :uid AND {}", epoch_is(user.epoch)))
                .expression_attribute_names("#epoch", keys::EPOCH)
                .expression_attribute_names("#mfa", keys::MFA_FLAG)
                .expression_attribute_values(":uid", AttributeValue::S(user.id.to_string()))
                .expression_attribute_values(":epoch", n(user.epoch))
                .expression_attribute_values(":next", n(next))
                .expression_attribute_values(":mfa", AttributeValue::Bool(mfa))
                .build(),
        ))?;
        let mut items = vec![credentials, self.epoch_update(&user.id, user.epoch)?];
        if let Some(keep) = keep {
            items.push(Self::update_item(built(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::session_key(user.id.as_str(), &keep.session_id)))
                    .update_expression("SET #epoch = :next")
                    .condition_expression(format!(
                        "active_token = :token AND attribute_not_exists(revoked_at) AND {}",
                        epoch_is(user.epoch)
                    ))
                    .expression_attribute_names("#epoch", keys::EPOCH)
                    .expression_attribute_values(
                        ":token",
                        AttributeValue::S(keep.token_hash.clone()),
                    )
                    .expression_attribute_values(":epoch", n(user.epoch))
                    .expression_attribute_values(":next", n(next))
                    .build(),
            ))?);
            items.push(Self::update_item(built(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(keys::refresh_key(user.id.as_str(), &keep.token_hash)))
                    .update_expression("SET #epoch = :next")
                    .condition_expression(format!(
                        "#state = :active AND sid = :sid AND {}",
                        epoch_is(user.epoch)
                    ))
                    .expression_attribute_names("#epoch", keys::EPOCH)
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(
                        ":active",
                        AttributeValue::S(keys::STATE_ACTIVE.into()),
                    )
                    .expression_attribute_values(":sid", AttributeValue::S(keep.session_id.clone()))
                    .expression_attribute_values(":epoch", n(user.epoch))
                    .expression_attribute_values(":next", n(next))
                    .build(),
            ))?);
        }
        Ok(items)
    }

    /// Turns two-factor on: the pending secret (only if still the one checked) becomes enabled
    /// with `step` spent, the recovery codes are stored, and the epoch moves on (every other
    /// session ends; `keep` is carried over), in one transaction.
    pub async fn enable_mfa(
        &self,
        user: &User,
        pending: &MfaRecord,
        step: i64,
        recovery: &[String],
        keep: Option<&KeptSession>,
    ) -> Result<EpochChange, StoreError> {
        let enable = Self::update_item(built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::mfa_key(user.id.as_str())))
                .update_expression("SET #state = :enabled, last_step = :step")
                .condition_expression("#state = :pending AND sealed = :sealed")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":enabled", AttributeValue::S("enabled".into()))
                .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
                .expression_attribute_values(
                    ":sealed",
                    AttributeValue::S(pending.sealed.blob.clone()),
                )
                .expression_attribute_values(":step", n(step))
                .build(),
        ))?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(enable)
            .transact_items(self.put_always(keys::recovery_item(user.id.as_str(), recovery)?)?);
        for item in self.epoch_items(user, true, keep)? {
            request = request.transact_items(item);
        }
        epoch_change(
            request.send().await.map_err(classify_transaction),
            user.epoch + 1,
        )
    }

    /// The items that remove every second factor of a user, whatever their state: the TOTP
    /// secret (enabled or pending) and the recovery codes.
    pub(super) fn factor_removal_items(
        &self,
        user_id: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        Ok(vec![
            self.delete(keys::mfa_key(user_id))?,
            self.delete(keys::recovery_key(user_id))?,
        ])
    }

    /// The items that hold only while a user has no second factor (no TOTP secret in any
    /// state, no recovery codes).
    pub(super) fn no_factor_items(
        &self,
        user_id: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        [keys::mfa_key(user_id), keys::recovery_key(user_id)]
            .into_iter()
            .map(|key| {
                let check = built(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key))
                        .condition_expression("attribute_not_exists(PK)")
                        .build(),
                )?;
                Ok(TransactWriteItem::builder().condition_check(check).build())
            })
            .collect()
    }

    /// `DELETE /admin/users/{id}/mfa`: every second factor removed (whatever is there), the
    /// credentials' two-factor flag off, and the epoch moved on (every session ends), in one
    /// transaction that holds only while the epoch is still `user.epoch`.
    pub async fn remove_factors(&self, user: &User) -> Result<EpochChange, StoreError> {
        let mut request = self.client.transact_write_items();
        for item in self
            .factor_removal_items(user.id.as_str())?
            .into_iter()
            .chain(self.epoch_items(user, false, None)?)
        {
            request = request.transact_items(item);
        }
        epoch_change(
            request.send().await.map_err(classify_transaction),
            user.epoch + 1,
        )
    }

    /// Turns two-factor off: the TOTP step spent (a code works once, here too), the secret and
    /// the recovery codes deleted, the epoch moved on (`keep` carried over), in one transaction.
    pub async fn disable_mfa(
        &self,
        user: &User,
        step: i64,
        keep: Option<&KeptSession>,
    ) -> Result<EpochChange, StoreError> {
        let remove = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::mfa_key(user.id.as_str())))
                .condition_expression(
                    "#state = :enabled AND (attribute_not_exists(last_step) OR last_step < :step)",
                )
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":enabled", AttributeValue::S("enabled".into()))
                .expression_attribute_values(":step", n(step))
                .build(),
        )?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(remove).build())
            .transact_items(self.delete(keys::recovery_key(user.id.as_str()))?);
        for item in self.epoch_items(user, false, keep)? {
            request = request.transact_items(item);
        }
        epoch_change(
            request.send().await.map_err(classify_transaction),
            user.epoch + 1,
        )
    }

    /// A new set of recovery codes (the old set dead), with `step` spent. `false` when the
    /// step was spent already or two-factor is off.
    pub async fn replace_recovery_codes(
        &self,
        user_id: &UserId,
        step: i64,
        recovery: &[String],
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.spend_step(user_id, step)?)
            .transact_items(self.put_always(keys::recovery_item(user_id.as_str(), recovery)?)?)
            .send()
            .await
            .map_err(classify_transaction);
        match result {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Stores a login's challenge.
    pub async fn create_challenge(&self, challenge: &Challenge) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keys::challenge_item(challenge)?))
            .condition_expression(NOT_EXISTS)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// A challenge by its token's hash (strongly consistent).
    pub async fn challenge(&self, token_hash: &str) -> Result<Option<Challenge>, StoreError> {
        self.get_consistent(keys::challenge_key(token_hash))
            .await?
            .as_ref()
            .map(|item| keys::challenge_from_item(token_hash, item))
            .transpose()
    }

    /// Counts one wrong code against a challenge (at most up to the limit, where it is dead).
    pub async fn challenge_failed(&self, token_hash: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::challenge_key(token_hash)))
            .update_expression("ADD failures :one")
            .condition_expression("attribute_exists(PK) AND failures < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(CHALLENGE_MAX_FAILURES))
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
