//! Roles and permissions (Django's groups and permissions), and the rules every change to them
//! follows.
//!
//! A role is a named set of permissions (`articles.publish`); a user holds any number of roles,
//! and an access token carries the roles and their permissions' union (`entitlements`, RFC 9068
//! §2.2.3.1). The built-in role [`ADMIN`] holds the three built-in permissions and can neither
//! be deleted nor lose them.
//!
//! State: the [`Catalog`] is every role, how many users hold each one (`holders`), how many
//! active users hold `admin` (`active_admins`) and its stored `version`. Every change is
//! computed here from the catalog that was read, and the store writes the result only if the
//! catalog is still at that version, in the same transaction as the user it concerns, so:
//! a role in use is never deleted, a deleted role is never granted, and of two administrators
//! disabling each other at once, one wins and one active administrator remains.
//!
//! No one grants what they do not hold: a caller gives a role only when it holds every
//! permission of it, and puts into a role only permissions it holds ([`roles_given`],
//! [`permissions_put`]); a full administrator (every built-in permission) gives anything.
//!
//! A removed right stops at once: a token carries the catalog version it was computed at, and
//! the catalog's stamps record, per role, the version at which it last lost a permission (or
//! was created); the authorizer refuses a token naming a role its user no longer holds, or a
//! role stamped after the token's version ([`token_still_grants`]).
//!
//! Bounds: at most [`MAX_ROLES`] roles, [`MAX_ENTITLEMENT_BYTES`] bytes of distinct
//! permissions across the catalog (so every token fits API Gateway's header limit whatever
//! roles its user holds) and [`MAX_CATALOG_BYTES`] for the whole catalog item (read by every
//! login and refresh).
//!
//! Direct permissions: a user may also hold permissions of their own, outside any role
//! (Django's `user_permissions`, imported); a token's `entitlements` are the union of the
//! roles' and the direct ones ([`Catalog::entitlements_with`]). They are bounded apart
//! ([`MAX_DIRECT_PERMISSION_BYTES`], checked by [`direct_permissions`] where they are written),
//! so the catalog's bound plus theirs still fits every token, and they never name a built-in
//! permission (administration is granted only through roles, under the rules above).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Why a change to the role catalog or to an account's roles is refused (the edge maps each to
/// its problem+json: 400 `validation_error`/`unknown_role`, 404 `role_not_found`, 409 for the
/// rest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefusal {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("an administrator cannot disable, demote or delete themselves")]
    SelfLockout,
    #[error("the change would leave no active administrator")]
    LastAdmin,
    #[error("role {0:?} is built in")]
    BuiltinRole(String),
    #[error("role {0:?} not found")]
    RoleNotFound(String),
    #[error("role {0:?} is held by users")]
    RoleInUse(String),
    #[error("the permissions would make tokens larger than {limit} bytes")]
    TokenTooLarge { limit: usize },
    #[error("the role catalog would exceed {roles} roles or {bytes} bytes")]
    CatalogFull { roles: usize, bytes: usize },
}

/// The built-in administrator role.
pub const ADMIN: &str = "admin";
/// Read users and roles (`GET /admin/users`, `GET /admin/users/{id}`, `GET /admin/roles`).
pub const USERS_READ: &str = "auth.users.read";
/// Change, disable and delete users, end their sessions.
pub const USERS_WRITE: &str = "auth.users.write";
/// Create, change and delete roles.
pub const ROLES_WRITE: &str = "auth.roles.write";
/// The permissions [`ADMIN`] always holds.
pub const BUILTIN_PERMISSIONS: [&str; 3] = [USERS_READ, USERS_WRITE, ROLES_WRITE];

/// Longest role name and permission (they travel in every access token).
pub const MAX_NAME_LEN: usize = 64;
pub const MAX_PERMISSION_LEN: usize = 128;
pub const MAX_PERMISSIONS_PER_ROLE: usize = 100;
pub const MAX_ROLES_PER_USER: usize = 20;
pub const MAX_DESCRIPTION_LEN: usize = 256;
/// Most roles in the catalog (the stamps item, read by the authorizer, stays under 4 KB).
pub const MAX_ROLES: usize = 50;
/// Most bytes of the distinct permissions of the whole catalog, as a token's JSON carries them
/// (each permission's length plus 3: quotes and comma). Whatever roles a user holds, its
/// `entitlements` claim stays within it, so an access token stays under 8 KiB (the
/// `a_token_at_the_bounds_fits_the_gateway` test in `tokens.rs` measures it).
pub const MAX_ENTITLEMENT_BYTES: usize = 3_072;
/// Most bytes of one user's direct permissions, counted like [`MAX_ENTITLEMENT_BYTES`]: with
/// the catalog's bound, the worst token still fits (the same test measures it).
pub const MAX_DIRECT_PERMISSION_BYTES: usize = 1_024;
/// Most bytes of the stored catalog item, as [`catalog_bytes`] counts them (never less than
/// DynamoDB does): a strongly consistent read of it costs at most 3 read units.
pub const MAX_CATALOG_BYTES: usize = 12_288;

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub permissions: BTreeSet<String>,
}

/// Every role, and the counts that keep changes safe. Serde: the stored catalog's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    #[serde(default)]
    pub roles: BTreeMap<String, RoleDef>,
    /// How many users hold each role (absent: none).
    #[serde(default)]
    pub holders: BTreeMap<String, i64>,
    /// How many active users hold [`ADMIN`] (absent in catalogs of before the count: 0).
    #[serde(rename = "admins", default)]
    pub active_admins: i64,
    /// The stored version this was read at (0: never written).
    pub version: i64,
}

impl Catalog {
    /// The catalog of a table nobody has written roles to: only [`ADMIN`], held by nobody.
    pub fn builtin() -> Self {
        let admin = RoleDef {
            description: Some("Manages users and roles".to_owned()),
            permissions: BUILTIN_PERMISSIONS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
        };
        Self {
            roles: BTreeMap::from([(ADMIN.to_owned(), admin)]),
            holders: BTreeMap::new(),
            active_admins: 0,
            version: 0,
        }
    }

    /// The union of the permissions of `roles`, sorted (roles that no longer exist give none).
    pub fn entitlements(&self, roles: &[String]) -> Vec<String> {
        let set: BTreeSet<&String> = roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|r| r.permissions.iter())
            .collect();
        set.into_iter().cloned().collect()
    }

    /// [`Catalog::entitlements`] of `roles` and the user's direct `permissions`: their union,
    /// sorted, without duplicates.
    pub fn entitlements_with(&self, roles: &[String], permissions: &[String]) -> Vec<String> {
        let set: BTreeSet<&String> = roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|r| r.permissions.iter())
            .chain(permissions)
            .collect();
        set.into_iter().cloned().collect()
    }

    pub fn holders_of(&self, role: &str) -> i64 {
        self.holders.get(role).copied().unwrap_or(0)
    }
}

/// A role name: 1 to 64 of `a-z A-Z 0-9 _ - .`, starting with a letter or digit (so never
/// `.` or `..`, which no URL path can carry).
pub fn valid_role_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A permission: 1 to 128 of `a-z A-Z 0-9 _ - . :` (never a comma: the authorizer passes
/// them on comma-separated).
pub fn valid_permission(permission: &str) -> bool {
    !permission.is_empty()
        && permission.len() <= MAX_PERMISSION_LEN
        && permission
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// A user's direct permissions as they are stored: sorted, without duplicates. Refused: one
/// that is not a permission or is built in (400 `validation_failed` on `permissions`), and more
/// than [`MAX_DIRECT_PERMISSION_BYTES`] of them (409 `token_too_large`).
pub fn direct_permissions(permissions: &[String]) -> Result<Vec<String>, RoleRefusal> {
    if let Some(bad) = permissions.iter().find(|p| !valid_permission(p)) {
        return Err(RoleRefusal::Validation(vec![FieldError::new(
            "permissions",
            format!(
                "{bad:?} is not a permission: 1 to {MAX_PERMISSION_LEN} of a-z A-Z 0-9 _ - . :"
            ),
        )]));
    }
    if let Some(builtin) = permissions
        .iter()
        .find(|p| BUILTIN_PERMISSIONS.contains(&p.as_str()))
    {
        return Err(RoleRefusal::Validation(vec![FieldError::new(
            "permissions",
            format!("{builtin:?} is given only through a role"),
        )]));
    }
    let set: BTreeSet<&String> = permissions.iter().collect();
    if entitlement_bytes(set.iter().copied()) > MAX_DIRECT_PERMISSION_BYTES {
        return Err(RoleRefusal::TokenTooLarge {
            limit: MAX_DIRECT_PERMISSION_BYTES,
        });
    }
    Ok(set.into_iter().cloned().collect())
}

/// What the rules need to know of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub roles: Vec<String>,
    pub active: bool,
}

impl Holder {
    fn is_active_admin(&self) -> bool {
        self.active && self.roles.iter().any(|r| r == ADMIN)
    }
}

/// An administrator's change to an account (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// Applies `change` to `before`: the account after it and the catalog with its counts moved.
/// `self_change` says the acting administrator is the account. Refuses unknown roles (400
/// `unknown_role`), an administrator disabling or demoting themselves (409 `self_lockout`)
/// and anything leaving no active administrator where there was one (409 `last_admin`).
pub fn change_user(
    catalog: &Catalog,
    before: &Holder,
    change: &Change,
    self_change: bool,
) -> Result<(Catalog, Holder), RoleRefusal> {
    let roles = match &change.roles {
        Some(roles) => normalise_roles(catalog, roles)?,
        None => before.roles.clone(),
    };
    let after = Holder {
        roles,
        active: change.active.unwrap_or(before.active),
    };
    if self_change && before.is_active_admin() && !after.is_active_admin() {
        return Err(RoleRefusal::SelfLockout);
    }
    Ok((moved(catalog, before, &after)?, after))
}

/// The catalog once `holder` is erased (an account deleted).
pub fn remove_user(
    catalog: &Catalog,
    holder: &Holder,
    self_change: bool,
) -> Result<Catalog, RoleRefusal> {
    if self_change {
        return Err(RoleRefusal::SelfLockout);
    }
    let gone = Holder {
        roles: Vec::new(),
        active: false,
    };
    moved(catalog, holder, &gone)
}

fn moved(catalog: &Catalog, before: &Holder, after: &Holder) -> Result<Catalog, RoleRefusal> {
    let mut next = catalog.clone();
    let old: BTreeSet<&String> = before.roles.iter().collect();
    let new: BTreeSet<&String> = after.roles.iter().collect();
    for role in old.difference(&new) {
        let count = next.holders_of(role) - 1;
        if count > 0 {
            next.holders.insert((*role).clone(), count);
        } else {
            next.holders.remove(*role);
        }
    }
    for role in new.difference(&old) {
        let count = next.holders_of(role) + 1;
        next.holders.insert((*role).clone(), count);
    }
    let delta = i64::from(after.is_active_admin()) - i64::from(before.is_active_admin());
    next.active_admins = (catalog.active_admins + delta).max(0);
    if before.is_active_admin() && !after.is_active_admin() && next.active_admins < 1 {
        return Err(RoleRefusal::LastAdmin);
    }
    Ok(next)
}

/// The roles of a request, deduplicated and sorted; each must exist and be well-formed.
pub fn normalise_roles(catalog: &Catalog, roles: &[String]) -> Result<Vec<String>, RoleRefusal> {
    if roles.len() > MAX_ROLES_PER_USER {
        return Err(RoleRefusal::Validation(vec![FieldError::new(
            "roles",
            format!("at most {MAX_ROLES_PER_USER} roles"),
        )]));
    }
    let set: BTreeSet<&String> = roles.iter().collect();
    for role in &set {
        if !catalog.roles.contains_key(*role) {
            return Err(RoleRefusal::UnknownRole((*role).clone()));
        }
    }
    Ok(set.into_iter().cloned().collect())
}

/// Creates or replaces a role. [`ADMIN`] keeps its built-in permissions (409 `builtin_role`).
pub fn put_role(
    catalog: &Catalog,
    name: &str,
    description: Option<String>,
    permissions: &[String],
) -> Result<Catalog, RoleRefusal> {
    let mut errors = Vec::new();
    if !valid_role_name(name) {
        errors.push(FieldError::new(
            "name",
            format!("1 to {MAX_NAME_LEN} of the characters a-z A-Z 0-9 _ - ., starting with a letter or digit"),
        ));
    }
    if permissions.len() > MAX_PERMISSIONS_PER_ROLE {
        errors.push(FieldError::new(
            "permissions",
            format!("at most {MAX_PERMISSIONS_PER_ROLE} permissions"),
        ));
    }
    if let Some(bad) = permissions.iter().find(|p| !valid_permission(p)) {
        errors.push(FieldError::new(
            "permissions",
            format!(
                "{bad:?} is not a permission: 1 to {MAX_PERMISSION_LEN} of a-z A-Z 0-9 _ - . :"
            ),
        ));
    }
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN || d.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "description",
            format!("at most {MAX_DESCRIPTION_LEN} characters, no control characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(RoleRefusal::Validation(errors));
    }
    let permissions: BTreeSet<String> = permissions.iter().cloned().collect();
    if name == ADMIN && !BUILTIN_PERMISSIONS.iter().all(|p| permissions.contains(*p)) {
        return Err(RoleRefusal::BuiltinRole(ADMIN.to_owned()));
    }
    let mut next = catalog.clone();
    next.roles.insert(
        name.to_owned(),
        RoleDef {
            description: description.filter(|d| !d.trim().is_empty()),
            permissions,
        },
    );
    within_bounds(catalog, &next)?;
    Ok(next)
}

/// The JSON bytes of these permissions in a token's `entitlements` (each one's length plus its
/// quotes and comma).
pub fn entitlement_bytes<'a>(permissions: impl IntoIterator<Item = &'a String>) -> usize {
    permissions.into_iter().map(|p| p.len() + 3).sum()
}

/// The distinct permissions of every role.
fn all_permissions(catalog: &Catalog) -> BTreeSet<&String> {
    catalog
        .roles
        .values()
        .flat_map(|r| r.permissions.iter())
        .collect()
}

/// An upper bound of the stored catalog item's size under DynamoDB's rules (attribute names
/// plus values; 3 bytes per map or list and 1 per element; numbers counted at 21 bytes).
pub fn catalog_bytes(catalog: &Catalog) -> usize {
    const FIXED: usize = 200; // keys, type, admins, version, the maps themselves
    let roles: usize = catalog
        .roles
        .iter()
        .map(|(name, role)| {
            name.len()
                + 4
                + "permissions".len()
                + 4
                + role.permissions.iter().map(|p| p.len() + 1).sum::<usize>()
                + role
                    .description
                    .as_ref()
                    .map_or(0, |d| "description".len() + d.len() + 1)
        })
        .sum();
    let holders: usize = catalog.holders.keys().map(|name| name.len() + 22).sum();
    FIXED + roles + holders
}

/// Refuses a change that grows the catalog past a bound (one already past it may still
/// shrink): 409 `token_too_large` for the permissions' bytes, 409 `catalog_full` for the
/// number of roles or the item's size.
fn within_bounds(before: &Catalog, after: &Catalog) -> Result<(), RoleRefusal> {
    let tokens = entitlement_bytes(all_permissions(after));
    if tokens > MAX_ENTITLEMENT_BYTES && tokens > entitlement_bytes(all_permissions(before)) {
        return Err(RoleRefusal::TokenTooLarge {
            limit: MAX_ENTITLEMENT_BYTES,
        });
    }
    let grows = |measure: &dyn Fn(&Catalog) -> usize, bound: usize| {
        measure(after) > bound && measure(after) > measure(before)
    };
    if grows(&|c| c.roles.len(), MAX_ROLES) || grows(&catalog_bytes, MAX_CATALOG_BYTES) {
        return Err(RoleRefusal::CatalogFull {
            roles: MAX_ROLES,
            bytes: MAX_CATALOG_BYTES,
        });
    }
    Ok(())
}

/// A refusal: the change would give permissions the caller does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// The permissions given that the caller lacks, sorted.
    pub missing: Vec<String>,
}

/// The permissions a caller holds for granting: those its token carries that its token's
/// roles still give in `catalog` (the catalog the change is computed from and conditioned on).
pub fn held(catalog: &Catalog, roles: &[String], entitlements: &[String]) -> BTreeSet<String> {
    let now: BTreeSet<String> = catalog.entitlements(roles).into_iter().collect();
    entitlements
        .iter()
        .filter(|p| now.contains(*p))
        .cloned()
        .collect()
}

/// A full administrator holds every built-in permission: it could give itself any role, so
/// it may give anything (and it is how application permissions enter the catalog).
pub fn is_full_admin(held: &BTreeSet<String>) -> bool {
    BUILTIN_PERMISSIONS.iter().all(|p| held.contains(*p))
}

fn refuse_missing<'a>(
    held: &BTreeSet<String>,
    given: impl IntoIterator<Item = &'a String>,
) -> Result<(), Escalation> {
    if is_full_admin(held) {
        return Ok(());
    }
    let missing: BTreeSet<String> = given
        .into_iter()
        .filter(|p| !held.contains(*p))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Escalation {
            missing: missing.into_iter().collect(),
        })
    }
}

/// An account going from `before` to `after` may be changed by a caller holding `held` only
/// if every permission of every role it gains is held; enabling a disabled account gives it
/// all its roles again. Removing roles is never an escalation.
pub fn roles_given(
    catalog: &Catalog,
    held: &BTreeSet<String>,
    before: &Holder,
    after: &Holder,
) -> Result<(), Escalation> {
    let given: Vec<String> = if after.active && !before.active {
        after.roles.clone()
    } else if after.active {
        after
            .roles
            .iter()
            .filter(|r| !before.roles.contains(r))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    refuse_missing(held, &catalog.entitlements(&given))
}

/// Putting `permissions` into role `name` (created or replaced) may be done by a caller
/// holding `held` only if every permission the role gains is held. Narrowing is never an
/// escalation.
pub fn permissions_put(
    catalog: &Catalog,
    held: &BTreeSet<String>,
    name: &str,
    permissions: &[String],
) -> Result<(), Escalation> {
    let had = catalog.roles.get(name).map(|r| &r.permissions);
    refuse_missing(
        held,
        permissions
            .iter()
            .filter(|p| !had.is_some_and(|had| had.contains(*p))),
    )
}

/// What a catalog change does to the stamps: the roles to stamp with the version being
/// written (they lost a permission, or were created: a token naming them from before carries
/// rights they no longer give), and the stamps to drop (roles deleted: nobody holds them, and a
/// role created again under the name is stamped then).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stamps {
    pub stamp: Vec<String>,
    pub drop: Vec<String>,
}

impl Stamps {
    pub fn is_empty(&self) -> bool {
        self.stamp.is_empty() && self.drop.is_empty()
    }
}

/// The stamps `before` → `after` moves.
pub fn stamps(before: &Catalog, after: &Catalog) -> Stamps {
    let stamp = after
        .roles
        .iter()
        .filter(|(name, role)| {
            before
                .roles
                .get(*name)
                .is_none_or(|had| !had.permissions.is_subset(&role.permissions))
        })
        .map(|(name, _)| name.clone())
        .collect();
    let drop = before
        .roles
        .keys()
        .filter(|name| !after.roles.contains_key(*name))
        .cloned()
        .collect();
    Stamps { stamp, drop }
}

/// Why a verified token no longer grants what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// It names a role its user no longer holds.
    RoleRevoked,
    /// It names a role that lost a permission (or was deleted and created again) after the
    /// catalog version it was computed at.
    RoleNarrowed,
}

/// Whether a token naming `token_roles`, computed at catalog version `token_version`, still
/// grants only what its user holds: each role still held (`held_roles`, the profile's) and not
/// stamped after `token_version`.
pub fn token_still_grants(
    token_roles: &[String],
    token_version: i64,
    held_roles: &[String],
    stamps: &BTreeMap<String, i64>,
) -> Result<(), Stale> {
    for role in token_roles {
        if !held_roles.contains(role) {
            return Err(Stale::RoleRevoked);
        }
        if stamps.get(role).is_some_and(|at| *at > token_version) {
            return Err(Stale::RoleNarrowed);
        }
    }
    Ok(())
}

/// `amr` values (RFC 8176 §2) that are a second factor: a one-time code, or a key.
const SECOND_FACTORS: [&str; 4] = ["otp", "mfa", "hwk", "swk"];

/// Whether a token's `amr` shows a second factor (tokens from before `amr` read `[]`: none).
pub fn has_second_factor(amr: &[String]) -> bool {
    amr.iter().any(|m| SECOND_FACTORS.contains(&m.as_str()))
}

/// Deletes a role nobody holds: 404 `role_not_found`, 409 `role_in_use`, 409 `builtin_role`.
pub fn delete_role(catalog: &Catalog, name: &str) -> Result<Catalog, RoleRefusal> {
    if name == ADMIN {
        return Err(RoleRefusal::BuiltinRole(ADMIN.to_owned()));
    }
    if !catalog.roles.contains_key(name) {
        return Err(RoleRefusal::RoleNotFound(name.to_owned()));
    }
    if catalog.holders_of(name) > 0 {
        return Err(RoleRefusal::RoleInUse(name.to_owned()));
    }
    let mut next = catalog.clone();
    next.roles.remove(name);
    next.holders.remove(name);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(roles: &[&str], active: bool) -> Holder {
        Holder {
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            active,
        }
    }

    fn with_editor() -> Catalog {
        put_role(
            &Catalog::builtin(),
            "editor",
            None,
            &["articles.publish".into(), "articles.read".into()],
        )
        .unwrap()
    }

    #[test]
    fn entitlements_are_the_sorted_union_of_existing_roles() {
        let catalog = with_editor();
        let roles = vec!["editor".into(), "admin".into(), "gone".into()];
        assert_eq!(
            catalog.entitlements(&roles),
            vec![
                "articles.publish",
                "articles.read",
                "auth.roles.write",
                "auth.users.read",
                "auth.users.write"
            ]
        );
        assert!(catalog.entitlements(&[]).is_empty());
    }

    #[test]
    fn direct_permissions_join_the_roles_ones_sorted_and_bounded() {
        let catalog = with_editor();
        let direct: Vec<String> = vec!["shop.view_order".into(), "articles.read".into()];
        assert_eq!(
            catalog.entitlements_with(&["editor".into(), "gone".into()], &direct),
            vec!["articles.publish", "articles.read", "shop.view_order"]
        );
        assert_eq!(
            catalog.entitlements_with(&[], &direct),
            vec!["articles.read", "shop.view_order"]
        );
        assert_eq!(
            direct_permissions(&["b.x".into(), "a.y".into(), "b.x".into()]).unwrap(),
            vec!["a.y", "b.x"]
        );
        assert!(direct_permissions(&[]).unwrap().is_empty());
        for bad in ["", "two words", "a,b", USERS_WRITE] {
            assert!(
                matches!(
                    direct_permissions(&[bad.to_owned()]),
                    Err(RoleRefusal::Validation(errors)) if errors[0].field == "permissions"
                ),
                "{bad:?}"
            );
        }
        // Exactly at the bound, and one byte past it.
        let at_bound: Vec<String> = (0..8).map(|i| format!("{i}{}", "p".repeat(124))).collect();
        assert_eq!(entitlement_bytes(&at_bound), MAX_DIRECT_PERMISSION_BYTES);
        assert!(direct_permissions(&at_bound).is_ok());
        let mut past = at_bound.clone();
        past[0].push('p');
        assert_eq!(
            direct_permissions(&past),
            Err(RoleRefusal::TokenTooLarge {
                limit: MAX_DIRECT_PERMISSION_BYTES
            })
        );
    }

    #[test]
    fn granting_counts_holders_and_refuses_unknown_roles() {
        let catalog = with_editor();
        let change = Change {
            roles: Some(vec!["editor".into(), "editor".into()]),
            active: None,
        };
        let (next, after) = change_user(&catalog, &holder(&[], true), &change, false).unwrap();
        assert_eq!(after.roles, vec!["editor"]);
        assert_eq!(next.holders_of("editor"), 1);
        let unknown = Change {
            roles: Some(vec!["nope".into()]),
            active: None,
        };
        assert!(matches!(
            change_user(&catalog, &holder(&[], true), &unknown, false),
            Err(RoleRefusal::UnknownRole(r)) if r == "nope"
        ));
    }

    #[test]
    fn the_last_active_admin_stays() {
        let grant = Change {
            roles: Some(vec![ADMIN.into()]),
            active: None,
        };
        let (one, admin) =
            change_user(&Catalog::builtin(), &holder(&[], true), &grant, false).unwrap();
        assert_eq!(one.active_admins, 1);
        let disable = Change {
            roles: None,
            active: Some(false),
        };
        assert!(matches!(
            change_user(&one, &admin, &disable, false),
            Err(RoleRefusal::LastAdmin)
        ));
        assert!(matches!(
            change_user(&one, &admin, &disable, true),
            Err(RoleRefusal::SelfLockout)
        ));
        assert!(matches!(
            remove_user(&one, &admin, false),
            Err(RoleRefusal::LastAdmin)
        ));
        // With a second admin, either may go, but not both.
        let (two, second) = change_user(&one, &holder(&[], true), &grant, false).unwrap();
        assert_eq!(two.active_admins, 2);
        let (after, _) = change_user(&two, &second, &disable, false).unwrap();
        assert_eq!(after.active_admins, 1);
        assert!(matches!(
            change_user(&after, &admin, &disable, false),
            Err(RoleRefusal::LastAdmin)
        ));
        // A disabled admin coming back counts again; removing a disabled admin is free.
        let disabled = holder(&[ADMIN], false);
        let enable = Change {
            roles: None,
            active: Some(true),
        };
        let (back, _) = change_user(&after, &disabled, &enable, false).unwrap();
        assert_eq!(back.active_admins, 2);
        assert_eq!(
            remove_user(&after, &disabled, false).unwrap().active_admins,
            1
        );
    }

    #[test]
    fn roles_in_use_and_the_builtin_role_are_kept() {
        let catalog = with_editor();
        let (held, _) = change_user(
            &catalog,
            &holder(&[], true),
            &Change {
                roles: Some(vec!["editor".into()]),
                active: None,
            },
            false,
        )
        .unwrap();
        assert!(matches!(
            delete_role(&held, "editor"),
            Err(RoleRefusal::RoleInUse(_))
        ));
        assert!(delete_role(&catalog, "editor").is_ok());
        assert!(matches!(
            delete_role(&catalog, "nope"),
            Err(RoleRefusal::RoleNotFound(_))
        ));
        assert!(matches!(
            delete_role(&catalog, ADMIN),
            Err(RoleRefusal::BuiltinRole(_))
        ));
        assert!(matches!(
            put_role(&catalog, ADMIN, None, &[]),
            Err(RoleRefusal::BuiltinRole(_))
        ));
        let more: Vec<String> = BUILTIN_PERMISSIONS
            .iter()
            .map(|p| (*p).to_owned())
            .chain(["reports.read".to_owned()])
            .collect();
        assert!(put_role(&catalog, ADMIN, None, &more).is_ok());
    }

    #[test]
    fn names_and_permissions_are_validated() {
        assert!(valid_role_name("support-tier.2"));
        assert!(!valid_role_name("a,b") && !valid_role_name("") && !valid_role_name("a b"));
        assert!(!valid_role_name(".") && !valid_role_name("..") && !valid_role_name("-x"));
        assert!(valid_permission("articles:publish.any"));
        assert!(!valid_permission("a,b") && !valid_permission(&"x".repeat(129)));
        assert!(matches!(
            put_role(&Catalog::builtin(), "ok", None, &["bad,one".into()]),
            Err(RoleRefusal::Validation(_))
        ));
        assert!(matches!(
            put_role(&Catalog::builtin(), "bad name", None, &[]),
            Err(RoleRefusal::Validation(_))
        ));
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn no_one_gives_a_role_with_a_permission_it_does_not_hold() {
        let catalog = with_editor();
        let writer = set(&[USERS_WRITE, USERS_READ]);
        let before = holder(&[], true);
        // admin holds auth.roles.write, which the writer lacks.
        let err = roles_given(&catalog, &writer, &before, &holder(&[ADMIN], true)).unwrap_err();
        assert_eq!(err.missing, vec![ROLES_WRITE]);
        let err = roles_given(&catalog, &writer, &before, &holder(&["editor"], true)).unwrap_err();
        assert_eq!(err.missing, vec!["articles.publish", "articles.read"]);
        // Holding them all, it may; keeping or removing roles is never refused.
        let editor = set(&["articles.publish", "articles.read"]);
        assert!(roles_given(&catalog, &editor, &before, &holder(&["editor"], true)).is_ok());
        let admin = holder(&[ADMIN, "editor"], true);
        assert!(roles_given(&catalog, &editor, &admin, &holder(&["editor"], true)).is_ok());
        assert!(roles_given(&catalog, &set(&[]), &admin, &admin).is_ok());
        // Enabling an account gives it its roles back; disabling gives nothing.
        let disabled = holder(&[ADMIN], false);
        assert!(roles_given(&catalog, &writer, &disabled, &holder(&[ADMIN], true)).is_err());
        assert!(roles_given(&catalog, &writer, &admin, &holder(&[ADMIN], false)).is_ok());
        // A full administrator gives anything.
        let full = set(&BUILTIN_PERMISSIONS);
        assert!(is_full_admin(&full) && !is_full_admin(&writer));
        assert!(roles_given(&catalog, &full, &before, &holder(&["editor"], true)).is_ok());
    }

    #[test]
    fn no_one_puts_a_permission_it_does_not_hold_into_a_role() {
        let catalog = with_editor();
        let roles_writer = set(&[ROLES_WRITE, "articles.read"]);
        let put = |perms: &[&str]| perms.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        // Creating, widening its own or another role, widening admin: refused.
        let err =
            permissions_put(&catalog, &roles_writer, "new", &put(&[USERS_WRITE])).unwrap_err();
        assert_eq!(err.missing, vec![USERS_WRITE]);
        assert!(
            permissions_put(
                &catalog,
                &roles_writer,
                "editor",
                &put(&["articles.publish", "articles.read", "articles.delete"])
            )
            .is_err()
        );
        let mut admin_more = put(&BUILTIN_PERMISSIONS);
        admin_more.push("x.y".into());
        assert!(permissions_put(&catalog, &roles_writer, ADMIN, &admin_more).is_err());
        // What it holds, what the role already has, and narrowing: allowed.
        assert!(permissions_put(&catalog, &roles_writer, "new", &put(&["articles.read"])).is_ok());
        assert!(
            permissions_put(
                &catalog,
                &roles_writer,
                "editor",
                &put(&["articles.publish", "articles.read"])
            )
            .is_ok()
        );
        assert!(permissions_put(&catalog, &roles_writer, "editor", &put(&[])).is_ok());
        assert!(
            permissions_put(
                &catalog,
                &set(&BUILTIN_PERMISSIONS),
                "new",
                &put(&["any.thing"])
            )
            .is_ok()
        );
    }

    #[test]
    fn held_permissions_are_those_the_token_carries_and_its_roles_still_give() {
        let catalog = with_editor();
        let roles = vec!["editor".to_owned()];
        let carried = vec!["articles.publish".to_owned(), USERS_WRITE.to_owned()];
        assert_eq!(held(&catalog, &roles, &carried), set(&["articles.publish"]));
        assert!(held(&catalog, &[], &carried).is_empty());
    }

    #[test]
    fn stamps_follow_narrowing_creation_and_deletion() {
        let catalog = with_editor();
        let created = put_role(&catalog, "viewer", None, &["articles.read".into()]).unwrap();
        assert_eq!(
            stamps(&catalog, &created),
            Stamps {
                stamp: vec!["viewer".into()],
                drop: vec![]
            }
        );
        let widened = put_role(
            &catalog,
            "editor",
            None,
            &[
                "articles.publish".into(),
                "articles.read".into(),
                "x.y".into(),
            ],
        )
        .unwrap();
        assert!(stamps(&catalog, &widened).is_empty());
        let described = put_role(
            &catalog,
            "editor",
            Some("Edits".into()),
            &["articles.publish".into(), "articles.read".into()],
        )
        .unwrap();
        assert!(stamps(&catalog, &described).is_empty());
        let narrowed = put_role(&catalog, "editor", None, &["articles.read".into()]).unwrap();
        assert_eq!(stamps(&catalog, &narrowed).stamp, vec!["editor"]);
        let deleted = delete_role(&catalog, "editor").unwrap();
        assert_eq!(
            stamps(&catalog, &deleted),
            Stamps {
                stamp: vec![],
                drop: vec!["editor".into()]
            }
        );
    }

    #[test]
    fn a_token_grants_only_roles_still_held_and_not_narrowed_since() {
        let roles = vec!["editor".to_owned()];
        let none = BTreeMap::new();
        assert_eq!(token_still_grants(&roles, 4, &roles, &none), Ok(()));
        assert_eq!(token_still_grants(&[], 0, &[], &none), Ok(()));
        assert_eq!(
            token_still_grants(&roles, 4, &[], &none),
            Err(Stale::RoleRevoked)
        );
        // Granted more since: still fine.
        let more = vec!["editor".to_owned(), ADMIN.to_owned()];
        assert_eq!(token_still_grants(&roles, 4, &more, &none), Ok(()));
        let stamped = BTreeMap::from([("editor".to_owned(), 5)]);
        assert_eq!(
            token_still_grants(&roles, 4, &roles, &stamped),
            Err(Stale::RoleNarrowed)
        );
        // A token computed at the stamped version (or later) already has the narrower rights.
        assert_eq!(token_still_grants(&roles, 5, &roles, &stamped), Ok(()));
        // A stamp of a role the token does not name costs it nothing.
        let other = BTreeMap::from([("other".to_owned(), 9)]);
        assert_eq!(token_still_grants(&roles, 4, &roles, &other), Ok(()));
    }

    #[test]
    fn a_second_factor_is_a_code_or_a_key_never_the_password_alone() {
        let amr = |v: &[&str]| v.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>();
        assert!(has_second_factor(&amr(&["pwd", "otp"])));
        assert!(has_second_factor(&amr(&["pwd", "otp", "rec"])));
        assert!(has_second_factor(&amr(&["hwk"])));
        assert!(!has_second_factor(&amr(&["pwd"])));
        assert!(!has_second_factor(&amr(&[])));
        assert!(!has_second_factor(&amr(&["pwd", "rec"])));
    }

    #[test]
    fn the_catalog_is_bounded_in_permission_bytes_roles_and_size() {
        // 100 permissions of 128 characters, each allowed alone: too many bytes for a token.
        let big: Vec<String> = (0..100)
            .map(|i| format!("p{i:03}.{}", "x".repeat(123)))
            .collect();
        assert!(big.iter().all(|p| valid_permission(p) && p.len() == 128));
        assert!(matches!(
            put_role(&Catalog::builtin(), "big", None, &big),
            Err(RoleRefusal::TokenTooLarge { .. })
        ));
        // Up to the bound, exactly.
        let builtin_bytes = entitlement_bytes(all_permissions(&Catalog::builtin()));
        let room = MAX_ENTITLEMENT_BYTES - builtin_bytes;
        let mut fits: Vec<String> = Vec::new();
        let mut used = 0;
        let mut i = 0;
        while used + 128 + 3 <= room {
            fits.push(format!("q{i:03}.{}", "y".repeat(123)));
            used += 131;
            i += 1;
        }
        let at_bound = put_role(&Catalog::builtin(), "fits", None, &fits).unwrap();
        assert!(entitlement_bytes(all_permissions(&at_bound)) <= MAX_ENTITLEMENT_BYTES);
        // Roles: at most MAX_ROLES.
        let mut catalog = Catalog::builtin();
        for i in 1..MAX_ROLES {
            catalog = put_role(&catalog, &format!("r{i}"), None, &[format!("p.{i}")]).unwrap();
        }
        assert_eq!(catalog.roles.len(), MAX_ROLES);
        assert!(matches!(
            put_role(&catalog, "one-more", None, &[]),
            Err(RoleRefusal::CatalogFull { .. })
        ));
        // Replacing a role of a full catalog is fine; so is deleting one.
        assert!(put_role(&catalog, "r1", None, &["p.1".into(), "p.2".into()]).is_ok());
        assert!(delete_role(&catalog, "r1").is_ok());
        // Size: 12 KB of roles sharing the same permissions (few token bytes, many pairs).
        let shared: Vec<String> = (0..20)
            .map(|i| format!("s{i:02}.{}", "z".repeat(100)))
            .collect();
        let mut catalog = Catalog::builtin();
        let mut refused = false;
        for i in 0..MAX_ROLES {
            match put_role(&catalog, &format!("role-{i}"), None, &shared) {
                Ok(next) => {
                    assert!(catalog_bytes(&next) <= MAX_CATALOG_BYTES);
                    catalog = next;
                }
                Err(RoleRefusal::CatalogFull { .. }) => {
                    refused = true;
                    break;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        assert!(
            refused,
            "the catalog grew to {} bytes",
            catalog_bytes(&catalog)
        );
    }

    /// The estimate never undercounts DynamoDB's own size of the item (checked against the
    /// stored item's attributes in `store::keys` tests).
    #[test]
    fn catalog_bytes_grow_with_every_part() {
        let base = catalog_bytes(&Catalog::builtin());
        let with = with_editor();
        assert!(catalog_bytes(&with) > base + "editor".len() + "articles.publish".len());
    }
}
