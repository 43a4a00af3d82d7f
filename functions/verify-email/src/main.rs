//! Lambda entry point: the state once per cold start, then serve (`shared::runtime::serve_http`).

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_http(verify_email::state, verify_email::handle)
}
