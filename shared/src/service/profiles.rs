//! Profiles: read and rename.

use crate::config::{Source, StoreSettings};
use crate::domain::{DisplayName, User, UserId};
use crate::error::ApiError;
use crate::runtime::InitError;
use crate::store::Store;

/// Reads and updates profiles.
#[derive(Debug, Clone)]
pub struct Profiles {
    store: Store,
}

impl Profiles {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn from_source(src: &dyn Source) -> Result<Self, InitError> {
        let (store, _) = Store::connect(&StoreSettings::from_source(src)?).await;
        Ok(Self::new(store))
    }

    /// One `GetItem`.
    pub async fn profile(&self, user_id: &str) -> Result<User, ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        self.store.user(&id).await?.ok_or(ApiError::UserNotFound)
    }

    /// One conditional `UpdateItem` returning the new profile; `None` clears the name.
    pub async fn rename(
        &self,
        user_id: &str,
        name: Option<&DisplayName>,
    ) -> Result<User, ApiError> {
        let id = UserId::parse(user_id).ok_or(ApiError::UserNotFound)?;
        self.store
            .update_name(&id, name)
            .await?
            .ok_or(ApiError::UserNotFound)
    }
}
