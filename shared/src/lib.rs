//! The common crate every function is built on: configuration, domain types, password hashing,
//! token issuing and verification, the DynamoDB store, the domain operations and the one mapping
//! from errors to `application/problem+json`.
//!
//! Other teams' Lambdas behind the authorizer need only [`identity::Identity::from_request`].

pub mod browser;
/// The pure core (types, records, rules, clock) is its own crate; re-exported so the paths
/// `shared::domain`, `shared::policy` and `shared::clock` keep working.
pub use authcore::{clock, domain, policy};
/// The identity helper lives in its own crate; re-exported so `shared::identity` keeps working.
pub use identity;
/// Typed configuration is its own crate (`settings`); re-exported as `shared::config`.
pub use settings as config;
pub mod error;
pub mod http;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod password;
/// The optimistic-write retry helper lives with the store; re-exported as `shared::retry`.
pub use store::retry;
pub mod runtime;
/// Secrets in request bodies are `secrecy::SecretString`s; read them with `ExposeSecret`.
pub use secrecy;
pub mod service;
pub mod simplejwt;
/// The DynamoDB store is its own crate (`store`); re-exported as `shared::store`.
pub use store;
pub mod tokens;
