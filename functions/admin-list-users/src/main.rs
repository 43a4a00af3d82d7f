//! Lambda entry point: the state once per cold start, then serve (`shared::runtime::serve_http`).

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_http(admin_list_users::state, admin_list_users::handle)
}
