//! `POST /auth/register`: `{email, password, name?}` → 201 profile.

use lambda_http::{Body, Request, Response};
use shared::domain::ProfileBody;
use shared::http;
use shared::policy::rates::RouteGroup;
use shared::service::{Caller, Guarded, Registrar, Registration};

/// Registration, behind the per-source guard.
pub type State = Guarded<Registrar>;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(
    src: &dyn shared::config::Source,
    clock: shared::clock::SharedClock,
) -> Result<State, shared::runtime::InitError> {
    let registrar = Registrar::from_source(src, clock.clone()).await?;
    Guarded::from_source(src, clock, RouteGroup::Register, registrar).await
}

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        state.guard.admit(&req).await?;
        let input = Registration::from_body(&http::json_object(&req)?)?;
        state.guard.registration_mail(&input.email).await?;
        let user = state.register(input, &Caller::of(&req)).await?;
        Ok(http::created(&ProfileBody::from(&user)))
    }
    .await;
    http::respond(&req, result)
}
