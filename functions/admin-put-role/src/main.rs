//! Lambda entry point: the state once per cold start, then serve (`shared::runtime::serve_http`).

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_http(admin_put_role::state, admin_put_role::handle)
}
