//! Integration tests, one binary (every extra binary costs a link): handlers fed the sample
//! events, store invariants and flows against DynamoDB Local, and end-to-end HTTP tests through
//! the local server.

// Test code: a failed expectation panics with its reason, which is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod abuse;
mod account;
mod admin;
mod attacks;
mod audit;
mod concurrency;
mod console;
mod contract;
mod cookies;
mod django;
mod django_hashes;
mod docs;
mod escalation;
mod events;
mod growth;
mod handlers;
mod jose;
mod lockout;
mod metrics;
mod mfa;
mod openapi;
mod outage;
mod ownership;
mod races;
mod recovery;
mod simplejwt;
mod store;
mod template;
mod usernames;
