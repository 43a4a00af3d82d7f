//! Fixed-window counters ([`authcore::policy::rates`]): one conditional `UpdateItem` adds a hit
//! only while the window's count is below its maximum. No read comes first, so parallel
//! requests cannot overshoot.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use super::{Store, keys, n};
use crate::error::StoreError;
use crate::schema::TTL_ATTRIBUTE;
use authcore::policy::rates::{Limit, Scope, Window};

/// What adding a hit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitOutcome {
    /// Counted: the caller may go on.
    Counted,
    /// The window already holds `max` hits: nothing was written.
    Full,
}

impl Store {
    /// Adds one hit to `scope`'s counter of `window` if it holds fewer than `limit.max`
    /// (`ADD hits 1`, condition `hits < max`; the first hit creates the item with its TTL).
    pub async fn hit(
        &self,
        scope: &Scope,
        window: &Window,
        limit: &Limit,
    ) -> Result<HitOutcome, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::rate_key(scope, window.index)))
            .update_expression("ADD hits :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(hits) OR hits < :max")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(limit.max))
            .expression_attribute_values(":ttl", n(window.ends_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(HitOutcome::Counted),
            Err(SdkError::ServiceError(service))
                if matches!(
                    service.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(HitOutcome::Full)
            }
            Err(err) => Err(super::classify(err)),
        }
    }
}
