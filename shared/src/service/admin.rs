//! Administration (Django's admin and `is_active`): users listed, read, changed, disabled and
//! deleted; roles created, changed and deleted. The rules are [`crate::policy::roles`]; every
//! write is conditioned on what was read and retried from a fresh read when it went stale
//! ([`crate::retry`], jittered backoff; 409 `conflict` with `Retry-After` once the attempts run
//! out). Every action is an audit event naming the acting administrator and the target.
//!
//! A caller gives only what it holds (403 `privilege_escalation`, nothing written), and with
//! `ADMIN_REQUIRE_MFA` every admin route wants a token whose `amr` shows a second factor (403
//! `admin_mfa_required`).

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::clock::SharedClock;
use crate::config::{Source, StoreSettings};
use crate::domain::{DisplayName, Email, User, UserId};
use crate::error::{ApiError, FieldError, StoreError};
use crate::http::Fields;
use crate::identity::Identity;
use crate::policy::roles::{self, Catalog, Change, Escalation, RoleDef};
use crate::policy::sessions;
use crate::retry::{self, Tries};
use crate::runtime::InitError;
use crate::service::Caller;
use crate::store::{AdminUser, CatalogWrite, EpochChange, Store};

/// Where `DELETE /admin/users/{id}` got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The user and every item of theirs are gone (204).
    Deleted,
    /// The account is disabled and this call deleted its share of the user's items; more are
    /// left (202 `{"status":"deleting"}`): the same request again goes on.
    InProgress,
}

/// The body of a 202 from `DELETE /admin/users/{id}`: `{"status":"deleting"}`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct DeletingBody {
    pub status: &'static str,
}

impl Default for DeletingBody {
    fn default() -> Self {
        Self { status: "deleting" }
    }
}

/// Users per page: default and most.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 100;

impl From<Escalation> for ApiError {
    fn from(refused: Escalation) -> Self {
        ApiError::PrivilegeEscalation {
            missing: refused.missing,
        }
    }
}

/// One user in a page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserSummary {
    pub id: String,
    /// `None` for an account without an email (only a username).
    pub email: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub roles: Vec<String>,
    pub active: bool,
    pub email_verified: bool,
    pub created_at: String,
}

impl From<&User> for UserSummary {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: (!user.email.is_unreachable()).then(|| user.email.as_str().to_owned()),
            username: user.username.as_ref().map(|u| u.as_str().to_owned()),
            name: user.name.as_ref().map(|n| n.as_str().to_owned()),
            roles: user.roles.clone(),
            active: user.active,
            email_verified: user.email_verified,
            created_at: user.created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// `GET /admin/users`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UsersPageBody {
    pub users: Vec<UserSummary>,
    pub next_cursor: Option<String>,
}

/// `GET /admin/users/{id}` (and the answer to a change).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AdminUserBody {
    #[serde(flatten)]
    pub summary: UserSummary,
    /// The user's direct permissions (imported from Django's `user_permissions`; read-only).
    pub permissions: Vec<String>,
    /// The permissions the roles give, with the direct ones (what the next token will carry).
    pub entitlements: Vec<String>,
    pub last_login_at: Option<String>,
    /// Live sessions right now.
    pub sessions: usize,
}

/// One role as `GET /admin/roles` and `PUT /admin/roles/{name}` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoleBody {
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
    /// How many users hold it.
    pub users: i64,
    pub builtin: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RolesBody {
    pub roles: Vec<RoleBody>,
}

fn role_body(catalog: &Catalog, name: &str, role: &RoleDef) -> RoleBody {
    RoleBody {
        name: name.to_owned(),
        description: role.description.clone(),
        permissions: role.permissions.iter().cloned().collect(),
        users: catalog.holders_of(name),
        builtin: name == roles::ADMIN,
    }
}

/// `{name?, active?, roles?}` for `PATCH /admin/users/{id}` (at least one).
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// `Some(None)` clears the name.
    pub name: Option<Option<DisplayName>>,
    pub change: Change,
}

impl UserPatch {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        fields.only(&["name", "active", "roles"]);
        let name = if fields.has("name") {
            match body.get("name") {
                Some(Value::String(raw)) => match DisplayName::parse(raw) {
                    Ok(name) => Some(name),
                    Err(message) => {
                        fields.reject("name", message);
                        None
                    }
                },
                Some(Value::Null) => Some(None),
                _ => {
                    fields.reject("name", "must be a string or null");
                    None
                }
            }
        } else {
            None
        };
        let active = fields.optional_bool("active");
        let roles = fields.optional_str_list("roles");
        for member in ["active", "roles"] {
            if body.get(member).is_some_and(Value::is_null) {
                fields.reject(member, "cannot be null; leave it out to keep it");
            }
        }
        if body.is_empty() {
            fields.reject("", "give at least one of name, active, roles");
        }
        fields.finish()?;
        Ok(Self {
            name,
            change: Change { roles, active },
        })
    }
}

/// `{description?, permissions}` for `PUT /admin/roles/{name}`.
#[derive(Debug, Clone)]
pub struct RolePut {
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

impl RolePut {
    pub fn from_body(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut fields = Fields::new(body);
        fields.only(&["description", "permissions"]);
        let description = fields.optional_str("description").map(str::to_owned);
        let permissions = fields.optional_str_list("permissions");
        if body.get("permissions").is_none_or(Value::is_null) {
            fields.reject("permissions", "is required (an array of permissions)");
        }
        fields.finish()?;
        Ok(Self {
            description,
            permissions: permissions.unwrap_or_default(),
        })
    }
}

/// Who acts: an administrator (the identity its token carries: id, roles, permissions), or
/// the command-line tool (the operator, who may give anything).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Admin(&'a Identity),
    Cli,
}

impl Actor<'_> {
    fn is(&self, user: &UserId) -> bool {
        matches!(self, Actor::Admin(me) if me.user_id == user.as_str())
    }

    fn name(&self) -> &str {
        match self {
            Actor::Admin(me) => &me.user_id,
            Actor::Cli => "authctl",
        }
    }

    /// What the actor holds for granting under `catalog` (`None`: no limit, the operator).
    fn held(&self, catalog: &Catalog) -> Option<std::collections::BTreeSet<String>> {
        match self {
            Actor::Admin(me) => Some(roles::held(catalog, &me.roles, &me.entitlements)),
            Actor::Cli => None,
        }
    }
}

/// One structured line per administration action, and its count ([`crate::metrics::EVENTS`]).
pub(crate) fn audit_admin(event: &'static str, caller: &Caller, actor: Actor<'_>, target: &str) {
    crate::metrics::count_event(event);
    tracing::info!(
        target: "audit",
        event,
        actor = actor.name(),
        target,
        request_id = caller.request_id.as_deref(),
        source_ip = caller.source_ip.as_deref(),
        "security event"
    );
}

/// The administration operations.
#[derive(Debug, Clone)]
pub struct Admin {
    store: Store,
    clock: SharedClock,
    session_idle: i64,
    /// `ADMIN_REQUIRE_MFA`: admin routes want a second factor in the token's `amr`.
    require_mfa: bool,
}

impl Admin {
    pub fn new(store: Store, clock: SharedClock, session_idle: i64) -> Self {
        Self {
            store,
            clock,
            session_idle,
            require_mfa: false,
        }
    }

    /// Admin routes want a second factor (`ADMIN_REQUIRE_MFA`).
    pub fn requiring_mfa(mut self, require: bool) -> Self {
        self.require_mfa = require;
        self
    }

    pub async fn from_source(src: &dyn Source, clock: SharedClock) -> Result<Self, InitError> {
        let (store, _) = Store::connect(&StoreSettings::from_source(src)?).await;
        Ok(Self::new(store, clock, crate::config::session_idle(src)?)
            .requiring_mfa(crate::config::admin_require_mfa(src)?))
    }

    /// The caller of an admin route: 401 without an authorizer context, 403 `forbidden` when
    /// its token lacks `permission`, 403 `admin_mfa_required` when `ADMIN_REQUIRE_MFA` is on
    /// and its token's `amr` shows no second factor.
    pub fn caller(
        &self,
        req: &lambda_http::Request,
        permission: &'static str,
    ) -> Result<Identity, ApiError> {
        let me = Identity::from_request(req).map_err(|_| ApiError::Unauthenticated)?;
        if !me.has_permission(permission) {
            return Err(ApiError::Forbidden(permission));
        }
        if self.require_mfa && !roles::has_second_factor(&me.amr) {
            return Err(ApiError::AdminMfaRequired);
        }
        Ok(me)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `GET /admin/users?limit=&cursor=&email=`.
    pub async fn list_users(
        &self,
        limit: Option<&str>,
        cursor: Option<&str>,
        email: Option<&str>,
    ) -> Result<UsersPageBody, ApiError> {
        let limit = match limit {
            None => DEFAULT_PAGE,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(ApiError::Validation(vec![FieldError::new(
                        "limit",
                        format!("a whole number from 1 to {MAX_PAGE}"),
                    )]));
                }
            },
        };
        if let Some(email) = email {
            let Ok(email) = Email::parse(email) else {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "email",
                    "is not an email address",
                )]));
            };
            let users = match self.store.user_id_of_email(email.as_str()).await? {
                Some(id) => self
                    .store
                    .user(&id)
                    .await?
                    .map(|u| vec![UserSummary::from(&u)])
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            return Ok(UsersPageBody {
                users,
                next_cursor: None,
            });
        }
        if cursor.is_some_and(|c| crate::store::decode_cursor(c).is_none()) {
            return Err(ApiError::Validation(vec![FieldError::new(
                "cursor",
                "is not a cursor this service returned",
            )]));
        }
        let page = self.store.users_page(limit, cursor).await?;
        Ok(UsersPageBody {
            users: page.users.iter().map(UserSummary::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn read(&self, id: &str) -> Result<(AdminUser, Catalog), ApiError> {
        let id = UserId::parse(id).ok_or(ApiError::UserNotFound)?;
        match self.store.admin_user(&id).await? {
            (Some(user), catalog) => Ok((user, catalog)),
            (None, _) => Err(ApiError::UserNotFound),
        }
    }

    async fn body(&self, user: &User, catalog: &Catalog) -> Result<AdminUserBody, ApiError> {
        let now = self.clock.unix();
        let live = self
            .store
            .sessions(&user.id)
            .await?
            .iter()
            .filter(|s| sessions::is_live(s, user.epoch, self.session_idle, now))
            .count();
        Ok(AdminUserBody {
            summary: UserSummary::from(user),
            permissions: user.permissions.clone(),
            entitlements: catalog.entitlements_with(&user.roles, &user.permissions),
            last_login_at: user
                .last_login_at
                .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
                .and_then(|at| at.format(&Rfc3339).ok()),
            sessions: live,
        })
    }

    /// `GET /admin/users/{id}`.
    pub async fn user(&self, id: &str) -> Result<AdminUserBody, ApiError> {
        let (user, catalog) = self.read(id).await?;
        self.body(&user.user, &catalog).await
    }

    /// `PATCH /admin/users/{id}`: name, active flag and roles. Disabling moves the credentials
    /// epoch on (every session ends at once); a role taken away stops the user's live access
    /// tokens at once (the authorizer compares their roles with the profile's), a role given
    /// reaches them at their next refresh. Only roles whose permissions the actor holds can
    /// be given (403 `privilege_escalation`).
    pub async fn update_user(
        &self,
        actor: Actor<'_>,
        id: &str,
        patch: &UserPatch,
        caller: &Caller,
    ) -> Result<AdminUserBody, ApiError> {
        let mut tries = Tries::new(retry::ADMIN);
        while tries.next().await {
            let (before, catalog) = self.read(id).await?;
            let (next, after) = roles::change_user(
                &catalog,
                &before.holder(),
                &patch.change,
                actor.is(&before.user.id),
            )?;
            if let Some(held) = actor.held(&catalog) {
                roles::roles_given(&catalog, &held, &before.holder(), &after)?;
            }
            let disabling = before.user.active && !after.active;
            let counts_moved = next != catalog;
            let name = patch.name.as_ref().map(Option::as_ref);
            let written = self
                .store
                .change_account(
                    &before,
                    &after,
                    name,
                    disabling,
                    counts_moved.then_some(&next),
                )
                .await?;
            if written == CatalogWrite::Stale {
                continue;
            }
            let target = before.user.id.as_str();
            if before.user.roles != after.roles {
                audit_admin("admin_roles_changed", caller, actor, target);
            }
            if disabling {
                audit_admin("admin_user_disabled", caller, actor, target);
            } else if !before.user.active && after.active {
                audit_admin("admin_user_enabled", caller, actor, target);
            }
            if patch.name.is_some() {
                audit_admin("admin_user_renamed", caller, actor, target);
            }
            // The account as written (no second read): the change applied to what was read.
            let user = User {
                roles: after.roles,
                active: after.active,
                name: patch.name.clone().unwrap_or(before.user.name),
                epoch: before.user.epoch + i64::from(disabling),
                ..before.user
            };
            return self.body(&user, &next).await;
        }
        Err(ApiError::Conflict)
    }

    /// `DELETE /admin/users/{id}`: the account is disabled (its sessions end), its items are
    /// deleted, at most [`crate::store::PURGE_BUDGET`] per call ([`Deletion::InProgress`]
    /// while more are left: the same request again goes on), then the profile and
    /// credentials go with the catalog's counts ([`Deletion::Deleted`]). A retry after a
    /// failure part-way finds the profile and finishes.
    pub async fn delete_user(
        &self,
        actor: Actor<'_>,
        id: &str,
        caller: &Caller,
    ) -> Result<Deletion, ApiError> {
        // Logins racing the delete write the same items; let them finish.
        let mut tries = Tries::new(retry::PURGE);
        while tries.next().await {
            let (before, catalog) = self.read(id).await?;
            if actor.is(&before.user.id) {
                return Err(ApiError::SelfLockout);
            }
            if before.user.active {
                let disable = Change {
                    roles: None,
                    active: Some(false),
                };
                let (next, after) =
                    roles::change_user(&catalog, &before.holder(), &disable, false)?;
                let counts_moved = next != catalog;
                self.store
                    .change_account(&before, &after, None, true, counts_moved.then_some(&next))
                    .await?;
                continue;
            }
            match self
                .store
                .purge_user_step(&before.user, crate::store::PURGE_BUDGET)
                .await
            {
                // An item of the user in a login's transaction at that moment: again.
                Err(StoreError::Conflict) => continue,
                Ok(crate::store::PurgeStep::More) => return Ok(Deletion::InProgress),
                other => other?,
            };
            let next = roles::remove_user(&catalog, &before.holder(), false)?;
            if self.store.erase_user(&before, &next).await? == CatalogWrite::Written {
                audit_admin("admin_user_deleted", caller, actor, before.user.id.as_str());
                return Ok(Deletion::Deleted);
            }
        }
        Err(ApiError::ServiceUnavailable(StoreError::Conflict))
    }

    /// `DELETE /admin/users/{id}/sessions`: the user's credentials epoch moves on. When
    /// another request moved it on since it was read, every session that was live then is
    /// already dead: done, without a second move.
    pub async fn end_sessions(
        &self,
        actor: Actor<'_>,
        id: &str,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let mut tries = Tries::new(retry::ADMIN);
        while tries.next().await {
            let (before, _) = self.read(id).await?;
            match self.store.advance_epoch(&before.user).await? {
                EpochChange::Advanced { .. } => {
                    audit_admin(
                        "admin_sessions_revoked",
                        caller,
                        actor,
                        before.user.id.as_str(),
                    );
                    return Ok(());
                }
                EpochChange::Stale => return Ok(()),
                EpochChange::Conflict => continue,
            }
        }
        Err(ApiError::Conflict)
    }

    /// `GET /admin/roles`.
    pub async fn roles(&self) -> Result<RolesBody, ApiError> {
        let catalog = self.store.catalog().await?;
        Ok(RolesBody {
            roles: catalog
                .roles
                .iter()
                .map(|(name, role)| role_body(&catalog, name, role))
                .collect(),
        })
    }

    /// `PUT /admin/roles/{name}`: creates or replaces a role. Its holders' tokens carry added
    /// permissions from their next refresh; a permission taken away stops their live tokens at
    /// once (the role is stamped in the same transaction). Only permissions the actor holds can
    /// be added (403 `privilege_escalation`); the catalog's bounds hold (409 `token_too_large`,
    /// 409 `catalog_full`).
    pub async fn put_role(
        &self,
        actor: Actor<'_>,
        name: &str,
        put: &RolePut,
        caller: &Caller,
    ) -> Result<RoleBody, ApiError> {
        let mut tries = Tries::new(retry::ADMIN);
        while tries.next().await {
            let catalog = self.store.catalog().await?;
            let next = roles::put_role(&catalog, name, put.description.clone(), &put.permissions)?;
            if let Some(held) = actor.held(&catalog) {
                roles::permissions_put(&catalog, &held, name, &put.permissions)?;
            }
            let stamps = roles::stamps(&catalog, &next);
            if self.store.write_catalog(&next, &stamps).await? == CatalogWrite::Written {
                audit_admin("admin_role_saved", caller, actor, name);
                let role = next
                    .roles
                    .get(name)
                    .ok_or(ApiError::RoleNotFound(name.to_owned()))?;
                return Ok(role_body(&next, name, role));
            }
        }
        Err(ApiError::Conflict)
    }

    /// `DELETE /admin/roles/{name}`: only a role nobody holds.
    pub async fn delete_role(
        &self,
        actor: Actor<'_>,
        name: &str,
        caller: &Caller,
    ) -> Result<(), ApiError> {
        let mut tries = Tries::new(retry::ADMIN);
        while tries.next().await {
            let catalog = self.store.catalog().await?;
            let next = roles::delete_role(&catalog, name)?;
            let stamps = roles::stamps(&catalog, &next);
            if self.store.write_catalog(&next, &stamps).await? == CatalogWrite::Written {
                audit_admin("admin_role_deleted", caller, actor, name);
                return Ok(());
            }
        }
        Err(ApiError::Conflict)
    }

    /// The id of the user with this email (for the command-line tool).
    pub async fn id_of(&self, email: &str) -> Result<UserId, ApiError> {
        let email = Email::parse(email)
            .map_err(|m| ApiError::Validation(vec![FieldError::new("email", m)]))?;
        self.store
            .user_id_of_email(email.as_str())
            .await?
            .ok_or(ApiError::UserNotFound)
    }
}

/// Creates an administrator, or gives an existing account the `admin` role (Django's
/// `createsuperuser`, Keycloak's bootstrap admin): idempotent. A new account's address counts
/// as verified (the operator vouches for it); an existing account keeps its password. `true`
/// when the account was created.
pub async fn ensure_admin(
    accounts: &crate::service::Accounts,
    admin: &Admin,
    email: Email,
    password: crate::domain::Password,
    caller: &Caller,
) -> Result<(UserId, bool), ApiError> {
    let registration = crate::service::requests::Registration {
        email: email.clone(),
        password,
        name: None,
    };
    let created = match admin.store.credentials(email.as_str()).await? {
        Some(_) => false,
        None => {
            let (user, credentials) = accounts.prepare(registration).await?;
            let user = User {
                email_verified: true,
                ..user
            };
            match admin.store.create_user(&user, &credentials).await {
                Ok(()) => true,
                Err(StoreError::AlreadyExists) => false,
                Err(err) => return Err(err.into()),
            }
        }
    };
    let id = admin.id_of(email.as_str()).await?;
    let (user, _) = admin.read(id.as_str()).await?;
    if !user.user.roles.iter().any(|r| r == roles::ADMIN) || !user.user.active {
        let mut wanted = user.user.roles.clone();
        wanted.push(roles::ADMIN.to_owned());
        let patch = UserPatch {
            name: None,
            change: Change {
                roles: Some(wanted),
                active: Some(true),
            },
        };
        admin
            .update_user(Actor::Cli, id.as_str(), &patch, caller)
            .await?;
    }
    if created {
        audit_admin("admin_created", caller, Actor::Cli, id.as_str());
    }
    Ok((id, created))
}
