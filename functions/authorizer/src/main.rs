//! Lambda entry point: the state once per cold start, then serve (`shared::runtime::serve_event`).

fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::serve_event(authorizer::state, authorizer::handle)
}
