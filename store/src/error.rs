//! What the store can report, and the cause chain of an error for the log.

/// Any error, boxed, keeping its source chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What the DynamoDB store can report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional put found the item already there.
    #[error("the item already exists")]
    AlreadyExists,
    /// A new account's username is someone else's (compared without case).
    #[error("the username is taken")]
    UsernameTaken,
    /// A record breaks a rule of the domain that its writer should have checked first (direct
    /// permissions past their bound: `authcore::policy::roles::direct_permissions`).
    #[error("the record was refused: {0}")]
    Refused(String),
    /// A condition of a write or transaction did not hold; `failed` names which of the
    /// transaction's items (by index) had a failed condition.
    #[error("a write condition did not hold (items {failed:?})")]
    ConditionFailed { failed: Vec<usize> },
    /// Two transactions touched the same item at once; the caller may read again and retry.
    #[error("the transaction conflicted with another one")]
    Conflict,
    /// DynamoDB could not be reached or refused the call (network, timeout, throttling, 5xx).
    #[error("DynamoDB is unavailable")]
    Unavailable(#[source] BoxError),
    /// An item did not have the shape this code writes.
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
    /// A request to DynamoDB could not be built (a bug, never the caller's input).
    #[error("a DynamoDB request could not be built: {0}")]
    Invalid(String),
}

/// The full cause chain of an error, for the log (never for a response body).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
