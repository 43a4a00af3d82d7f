//! Lambda entry point: the state once per cold start, then serve (`shared::runtime::serve_http`).

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_http(confirm_email_change::state, confirm_email_change::handle)
}
