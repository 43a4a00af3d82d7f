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

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{ApiError, FieldError};

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

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleDef {
    pub description: Option<String>,
    pub permissions: BTreeSet<String>,
}

/// Every role, and the counts that keep changes safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub roles: BTreeMap<String, RoleDef>,
    /// How many users hold each role (absent: none).
    pub holders: BTreeMap<String, i64>,
    /// How many active users hold [`ADMIN`].
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
) -> Result<(Catalog, Holder), ApiError> {
    let roles = match &change.roles {
        Some(roles) => normalise_roles(catalog, roles)?,
        None => before.roles.clone(),
    };
    let after = Holder {
        roles,
        active: change.active.unwrap_or(before.active),
    };
    if self_change && before.is_active_admin() && !after.is_active_admin() {
        return Err(ApiError::SelfLockout);
    }
    Ok((moved(catalog, before, &after)?, after))
}

/// The catalog once `holder` is erased (an account deleted).
pub fn remove_user(
    catalog: &Catalog,
    holder: &Holder,
    self_change: bool,
) -> Result<Catalog, ApiError> {
    if self_change {
        return Err(ApiError::SelfLockout);
    }
    let gone = Holder {
        roles: Vec::new(),
        active: false,
    };
    moved(catalog, holder, &gone)
}

fn moved(catalog: &Catalog, before: &Holder, after: &Holder) -> Result<Catalog, ApiError> {
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
        return Err(ApiError::LastAdmin);
    }
    Ok(next)
}

/// The roles of a request, deduplicated and sorted; each must exist and be well-formed.
pub fn normalise_roles(catalog: &Catalog, roles: &[String]) -> Result<Vec<String>, ApiError> {
    if roles.len() > MAX_ROLES_PER_USER {
        return Err(ApiError::Validation(vec![FieldError::new(
            "roles",
            format!("at most {MAX_ROLES_PER_USER} roles"),
        )]));
    }
    let set: BTreeSet<&String> = roles.iter().collect();
    for role in &set {
        if !catalog.roles.contains_key(*role) {
            return Err(ApiError::UnknownRole((*role).clone()));
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
) -> Result<Catalog, ApiError> {
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
        return Err(ApiError::Validation(errors));
    }
    let permissions: BTreeSet<String> = permissions.iter().cloned().collect();
    if name == ADMIN && !BUILTIN_PERMISSIONS.iter().all(|p| permissions.contains(*p)) {
        return Err(ApiError::BuiltinRole(ADMIN.to_owned()));
    }
    let mut next = catalog.clone();
    next.roles.insert(
        name.to_owned(),
        RoleDef {
            description: description.filter(|d| !d.trim().is_empty()),
            permissions,
        },
    );
    Ok(next)
}

/// Deletes a role nobody holds: 404 `role_not_found`, 409 `role_in_use`, 409 `builtin_role`.
pub fn delete_role(catalog: &Catalog, name: &str) -> Result<Catalog, ApiError> {
    if name == ADMIN {
        return Err(ApiError::BuiltinRole(ADMIN.to_owned()));
    }
    if !catalog.roles.contains_key(name) {
        return Err(ApiError::RoleNotFound(name.to_owned()));
    }
    if catalog.holders_of(name) > 0 {
        return Err(ApiError::RoleInUse(name.to_owned()));
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
            Err(ApiError::UnknownRole(r)) if r == "nope"
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
            Err(ApiError::LastAdmin)
        ));
        assert!(matches!(
            change_user(&one, &admin, &disable, true),
            Err(ApiError::SelfLockout)
        ));
        assert!(matches!(
            remove_user(&one, &admin, false),
            Err(ApiError::LastAdmin)
        ));
        // With a second admin, either may go, but not both.
        let (two, second) = change_user(&one, &holder(&[], true), &grant, false).unwrap();
        assert_eq!(two.active_admins, 2);
        let (after, _) = change_user(&two, &second, &disable, false).unwrap();
        assert_eq!(after.active_admins, 1);
        assert!(matches!(
            change_user(&after, &admin, &disable, false),
            Err(ApiError::LastAdmin)
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
            Err(ApiError::RoleInUse(_))
        ));
        assert!(delete_role(&catalog, "editor").is_ok());
        assert!(matches!(
            delete_role(&catalog, "nope"),
            Err(ApiError::RoleNotFound(_))
        ));
        assert!(matches!(
            delete_role(&catalog, ADMIN),
            Err(ApiError::BuiltinRole(_))
        ));
        assert!(matches!(
            put_role(&catalog, ADMIN, None, &[]),
            Err(ApiError::BuiltinRole(_))
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
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            put_role(&Catalog::builtin(), "bad name", None, &[]),
            Err(ApiError::Validation(_))
        ));
    }
}
