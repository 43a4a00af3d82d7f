//! The rules that decide, apart from persistence: pure functions of their inputs and `now`,
//! unit-tested alone. The store persists what they decide with one conditional write that
//! fails if the state it was computed from changed.

pub mod django;
pub mod links;
pub mod lockout;
pub mod quota;
pub mod rates;
pub mod roles;
pub mod rotation;
pub mod sessions;
pub mod totp;
