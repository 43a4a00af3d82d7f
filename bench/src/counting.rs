//! Counts DynamoDB round trips with an interceptor on the benchmark's own SDK client.
//!
//! A round trip is one HTTP request to DynamoDB: the SDK calls `read_before_transmit` once per
//! *attempt*, so a retried operation counts once per attempt. That is deliberate: every attempt
//! costs a network round trip and its latency. Operations (`read_before_execution`, once per
//! call whatever its retries) are counted beside it, so `attempts - operations` is the number of
//! retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// What one stretch of work sent to DynamoDB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// HTTP requests sent (one per attempt).
    pub attempts: u64,
    /// SDK operations started (one per call, whatever its retries).
    pub operations: u64,
    /// Attempts by DynamoDB operation (`GetItem`, `TransactWriteItems`, …).
    pub by_operation: BTreeMap<String, u64>,
}

impl Counts {
    pub fn retries(&self) -> u64 {
        self.attempts.saturating_sub(self.operations)
    }

    /// `GetItem×1 + TransactWriteItems×1`, or `none`.
    pub fn describe(&self) -> String {
        if self.by_operation.is_empty() {
            return "none".to_owned();
        }
        self.by_operation
            .iter()
            .map(|(op, n)| format!("{op}×{n}"))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// The interceptor. Clones share one count: one goes to the client, one stays with the runner.
#[derive(Debug, Clone, Default)]
pub struct RoundTrips {
    counts: Arc<Mutex<Counts>>,
}

impl RoundTrips {
    /// Returns what was counted since the last call, and starts again from zero.
    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .operations += 1;
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // DynamoDB's JSON protocol names the operation in `X-Amz-Target: DynamoDB_20120810.GetItem`.
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit_once('.'))
            .map_or("unknown", |(_, op)| op)
            .to_owned();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.attempts += 1;
        *counts.by_operation.entry(operation).or_default() += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_and_derives_retries() {
        let counts = Counts {
            attempts: 3,
            operations: 2,
            by_operation: [
                ("GetItem".to_owned(), 1),
                ("TransactWriteItems".to_owned(), 2),
            ]
            .into(),
        };
        assert_eq!(counts.retries(), 1);
        assert_eq!(counts.describe(), "GetItem×1 + TransactWriteItems×2");
        assert_eq!(Counts::default().describe(), "none");
    }
}
