//! Lambda entry point: the state once per cold start, then serve (`shared::runtime::serve_http`).

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_http(admin_remove_mfa::state, admin_remove_mfa::handle)
}
