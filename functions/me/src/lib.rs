//! `GET /me` (behind the authorizer): the caller's profile, read from DynamoDB.

use lambda_http::{Body, Request, Response};
use shared::domain::ProfileBody;
use shared::error::ApiError;
use shared::http;
use shared::identity::Identity;

pub use shared::service::Profiles as State;

pub async fn handle(state: &State, req: Request) -> Response<Body> {
    let result = async {
        let identity = Identity::from_request(&req).map_err(|_| ApiError::Unauthenticated)?;
        let user = state.profile(&identity.user_id).await?;
        Ok(http::ok(&ProfileBody::from(&user)))
    }
    .await;
    http::respond(&req, result)
}
