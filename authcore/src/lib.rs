//! The core: the domain's types and records, the rules that decide (`policy`) and the clock.
//! Pure code: it depends on no AWS SDK, no `lambda_http`, no password hashing and no async
//! runtime, so the compiler keeps persistence and HTTP out of the rules (docs/architecture.md).

pub mod clock;
pub mod digest;
pub mod domain;
pub mod policy;
pub mod records;

use serde::Serialize;

/// One problem with one member of a JSON body. `field` is the member's name; `""` (the JSON
/// Pointer of the whole document) when the body itself is wrong.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
