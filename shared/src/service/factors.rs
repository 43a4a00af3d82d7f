//! `DELETE /admin/users/{id}/mfa`: an administrator removes a user's second factors (the
//! way back in for an owner who lost both the authenticator and the recovery codes). Every
//! factor goes, whatever its state, and every session of the user ends, in one transaction;
//! the action is audited and the user's address gets a notice.

use crate::clock::SharedClock;
use crate::config::{Source, StoreSettings};
use crate::domain::UserId;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::mail::SecurityChange;
use crate::retry::{self, Tries};
use crate::runtime::InitError;
use crate::service::admin::{Actor, Admin, audit_admin};
use crate::service::notices::Notices;
use crate::service::{Caller, audit_sessions_revoked};
use crate::store::{EpochChange, Store};

/// Removes a user's second factors.
#[derive(Debug, Clone)]
pub struct FactorRemoval {
    store: Store,
    notices: Notices,
    /// The administration service, for its check of the caller (permission, and a second
    /// factor with `ADMIN_REQUIRE_MFA`).
    admin: Admin,
}

impl FactorRemoval {
    pub fn new(store: Store, notices: Notices, admin: Admin) -> Self {
        Self {
            store,
            notices,
            admin,
        }
    }

    /// The caller of the route, checked as every admin route checks it.
    pub fn caller(
        &self,
        req: &lambda_http::Request,
        permission: &'static str,
    ) -> Result<Identity, ApiError> {
        self.admin.caller(req, permission)
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, sdk) = Store::connect(&StoreSettings::from_source(src)?).await;
        let admin = Admin::new(
            store.clone(),
            clock.clone(),
            crate::config::session_idle(src)?,
        )
        .requiring_mfa(crate::config::admin_require_mfa(src)?);
        Ok(Self::new(
            store,
            Notices::from_parts(&sdk, src, clock)?,
            admin,
        ))
    }

    /// Removes every second factor of the user `id` and ends its sessions: 404 for an unknown
    /// user; the same 204 when there was nothing to remove (the sessions end all the same).
    pub async fn remove(
        &self,
        actor: Actor<'_>,
        id: &str,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let id = UserId::parse(id).ok_or(ApiError::UserNotFound)?;
        let mut tries = Tries::new(retry::ADMIN);
        while tries.next().await {
            let user = self.store.user(&id).await?.ok_or(ApiError::UserNotFound)?;
            match self.store.remove_factors(&user).await? {
                EpochChange::Advanced { epoch } => {
                    audit_admin("admin_mfa_removed", caller, actor, user.id.as_str());
                    audit_sessions_revoked(caller, user.id.as_str(), epoch);
                    self.notices
                        .send(
                            SecurityChange::FactorsRemoved,
                            user.email.as_str(),
                            user.id.as_str(),
                            caller,
                        )
                        .await;
                    return Ok(());
                }
                // The epoch moved on meanwhile (or another transaction held an item): again,
                // from a fresh read.
                EpochChange::Stale | EpochChange::Conflict => continue,
            }
        }
        // Still contended after the jittered retries: 409 `conflict`, never a 5xx.
        Err(ApiError::Conflict)
    }
}
