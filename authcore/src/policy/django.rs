//! A Django user as an account of this service: the mapping `authctl import-django` applies to
//! each user of a `dumpdata` export, once its groups and permissions are resolved from the dump.
//!
//! | Django | here |
//! |---|---|
//! | `email` | trimmed, lower-cased, valid ([`Email::parse`]); empty with a username: a username-only account ([`Email::unreachable`]); empty without one: skipped `no_email`; invalid: skipped `invalid_email`; seen before in the dump: skipped `duplicate_email` (the first wins) |
//! | `username` | [`Username`] (Django's rules), unique case-insensitively: seen before: skipped `duplicate_username`; refused by the rules: skipped `invalid_username` |
//! | `password` | what login verifies (`pbkdf2_sha256`, `pbkdf2_sha1`, `argon2` (argon2id, argon2i), `bcrypt_sha256`, `bcrypt`, `scrypt`, within their work limits): kept as Django wrote it (replaced by Argon2id at the first login); `!…` (unusable): no password, listed `unusable_password`; any other (md5, sha1, unsalted_*, crypt, malformed): no password, listed `weak_hash` |
//! | `is_active` | `active` |
//! | `is_superuser` | role [`roles::ADMIN`] |
//! | `is_staff` | role [`STAFF`] |
//! | `groups` | one role per group, of the group's name, holding its permissions as `app_label.codename` |
//! | `user_permissions` | the account's direct `permissions` (`app_label.codename`; one that is no permission here or is built in is dropped and listed; more than [`roles::MAX_DIRECT_PERMISSION_BYTES`] of them: skipped `too_many_permissions`) |
//! | `date_joined` / `created_at` | `created_at` (the import's time when absent) |
//! | `first_name` + `last_name` / `name` | `name` |
//! | `--trust-emails` | `email_verified` (otherwise unverified) |
//!
//! "No password" is the stored hash [`UNUSABLE`]: no password ever matches it, and forgot /
//! reset sets one.

use std::collections::{BTreeSet, HashSet};

use time::OffsetDateTime;

use crate::domain::{Credentials, DisplayName, Email, User, UserId, Username, UsernameAlias};
use crate::policy::roles;

/// The role an `is_staff` user gets (created without permissions when missing).
pub const STAFF: &str = "staff";

/// The stored hash of an account without a usable password (Django's own prefix for one).
pub const UNUSABLE: &str = "!";

/// One user of the dump, its references resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DjangoUser {
    pub username: Option<String>,
    /// As Django stored it ("" when none).
    pub email: String,
    /// `first_name last_name`, or the custom model's name field ("" when none).
    pub name: String,
    pub password: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub joined: Option<OffsetDateTime>,
    /// The names of the user's groups.
    pub groups: Vec<String>,
    /// Direct `user_permissions`, as `app_label.codename`.
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Addresses count as verified.
    pub trust_emails: bool,
}

/// Why a user is not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    NoEmail,
    InvalidEmail,
    InvalidUsername,
    DuplicateEmail,
    DuplicateUsername,
    TooManyRoles,
    TooManyPermissions,
}

impl Skip {
    /// The reason as the summary and the report name it.
    pub fn code(self) -> &'static str {
        match self {
            Skip::NoEmail => "no_email",
            Skip::InvalidEmail => "invalid_email",
            Skip::InvalidUsername => "invalid_username",
            Skip::DuplicateEmail => "duplicate_email",
            Skip::DuplicateUsername => "duplicate_username",
            Skip::TooManyRoles => "too_many_roles",
            Skip::TooManyPermissions => "too_many_permissions",
        }
    }
}

/// What became of the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordImport {
    /// A format login verifies: kept.
    Kept,
    /// Django's unusable password (`!…`): none.
    Unusable,
    /// A weak legacy format: dropped, none.
    Weak,
}

impl PasswordImport {
    /// The note the report lists the user under (none when kept).
    pub fn note(self) -> Option<&'static str> {
        match self {
            PasswordImport::Kept => None,
            PasswordImport::Unusable => Some("unusable_password"),
            PasswordImport::Weak => Some("weak_hash"),
        }
    }
}

/// What a stored Django hash imports as, `accepted` saying whether login verifies it (the
/// service's `shared::password::is_accepted_django_hash`: Django 5.2's PBKDF2, Argon2, bcrypt
/// and scrypt forms within their work limits).
pub fn classify_hash(stored: &str, accepted: bool) -> PasswordImport {
    if stored.starts_with('!') {
        PasswordImport::Unusable
    } else if accepted {
        PasswordImport::Kept
    } else {
        PasswordImport::Weak
    }
}

/// An account to write, and what the report says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub user: User,
    pub credentials: Credentials,
    pub alias: Option<UsernameAlias>,
    pub password: PasswordImport,
    /// Groups of the user that are no role (their names were refused): not carried over.
    pub dropped_groups: Vec<String>,
    /// Direct permissions that are no valid permission here: not carried over.
    pub dropped_permissions: Vec<String>,
}

/// The account `record` becomes, with id `id`, imported at `now`; `roles_available` are the
/// roles of the catalog once the dump's groups were put into it (a group missing from it was
/// refused); `accepts` says whether login verifies a stored hash. A skip says why not.
pub fn plan(
    record: &DjangoUser,
    id: UserId,
    now: OffsetDateTime,
    roles_available: &BTreeSet<String>,
    options: Options,
    accepts: &dyn Fn(&str) -> bool,
) -> Result<Planned, Skip> {
    let username = match record.username.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(Username::parse(raw).map_err(|_| Skip::InvalidUsername)?),
    };
    let email = if record.email.trim().is_empty() {
        if username.is_none() {
            return Err(Skip::NoEmail);
        }
        Email::unreachable(&id)
    } else {
        Email::parse(&record.email).map_err(|_| Skip::InvalidEmail)?
    };
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut dropped_groups = Vec::new();
    for group in &record.groups {
        if roles_available.contains(group) {
            wanted.insert(group.clone());
        } else {
            dropped_groups.push(group.clone());
        }
    }
    if record.is_superuser {
        wanted.insert(roles::ADMIN.to_owned());
    }
    if record.is_staff {
        wanted.insert(STAFF.to_owned());
    }
    if wanted.len() > roles::MAX_ROLES_PER_USER {
        return Err(Skip::TooManyRoles);
    }
    let roles: Vec<String> = wanted.into_iter().collect();
    // Those the rules for direct permissions refuse one by one (not a permission here, or a
    // built-in one) are dropped and listed; too many bytes of them skip the user.
    let (valid, dropped_permissions): (Vec<String>, Vec<String>) = record
        .permissions
        .iter()
        .cloned()
        .partition(|p| roles::direct_permissions(std::slice::from_ref(p)).is_ok());
    let permissions = roles::direct_permissions(&valid).map_err(|_| Skip::TooManyPermissions)?;
    let password = classify_hash(&record.password, accepts(&record.password));
    let password_hash = match password {
        PasswordImport::Kept => record.password.clone(),
        PasswordImport::Unusable | PasswordImport::Weak => UNUSABLE.to_owned(),
    };
    let created = record.joined.unwrap_or(now);
    let user = User {
        id: id.clone(),
        email: email.clone(),
        name: display_name(&record.name),
        roles: roles.clone(),
        created_at: created.replace_nanosecond(0).unwrap_or(created),
        epoch: 0,
        email_verified: options.trust_emails && !email.is_unreachable(),
        active: record.is_active,
        last_login_at: None,
        username: username.clone(),
        permissions: permissions.clone(),
    };
    let credentials = Credentials {
        email: email.clone(),
        user_id: id.clone(),
        password_hash,
        roles,
        epoch: 0,
        mfa: false,
        active: record.is_active,
        permissions,
    };
    let alias = username.map(|username| UsernameAlias {
        username,
        user_id: id,
        email,
    });
    Ok(Planned {
        user,
        credentials,
        alias,
        password,
        dropped_groups,
        dropped_permissions,
    })
}

/// A name as the profile keeps it: trimmed, at most [`DisplayName::MAX_CHARS`] characters,
/// without control characters (none when nothing is left).
fn display_name(raw: &str) -> Option<DisplayName> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(DisplayName::MAX_CHARS)
        .collect();
    DisplayName::parse(&cleaned).ok().flatten()
}

/// The addresses and usernames of the dump seen so far: the first user to claim one keeps it.
#[derive(Debug, Default)]
pub struct Claims {
    emails: HashSet<String>,
    usernames: HashSet<String>,
}

impl Claims {
    /// Claims the planned account's address and username, or says which one an earlier user
    /// of the dump holds (then neither is claimed).
    pub fn claim(&mut self, planned: &Planned) -> Result<(), Skip> {
        let email = planned.user.email.as_str();
        if self.emails.contains(email) {
            return Err(Skip::DuplicateEmail);
        }
        let name = planned.alias.as_ref().map(|a| a.username.key());
        if let Some(name) = &name
            && self.usernames.contains(name)
        {
            return Err(Skip::DuplicateUsername);
        }
        self.emails.insert(email.to_owned());
        if let Some(name) = name {
            self.usernames.insert(name);
        }
        Ok(())
    }
}

/// The catalog's change the dump's groups and `is_staff` ask for: each group becomes a role of
/// its name holding its permissions (an existing role of that name keeps its own and gains the
/// group's: no holder of it loses a right); [`STAFF`] is created without permissions when
/// missing and `staff` is true. Names and permissions the role rules refuse are listed with
/// the refusal, not put.
pub fn put_groups(
    catalog: &roles::Catalog,
    groups: &[(String, Vec<String>)],
    staff: bool,
) -> (roles::Catalog, Vec<String>, Vec<(String, String)>) {
    let mut next = catalog.clone();
    let mut created = Vec::new();
    let mut refused = Vec::new();
    let mut wanted: Vec<(String, Vec<String>, String)> = groups
        .iter()
        .map(|(name, permissions)| {
            (
                name.clone(),
                permissions.clone(),
                format!("Django group {name}"),
            )
        })
        .collect();
    if staff && !groups.iter().any(|(name, _)| name == STAFF) {
        wanted.push((STAFF.to_owned(), Vec::new(), "Django's is_staff".to_owned()));
    }
    for (name, permissions, description) in wanted {
        let existing = next.roles.get(&name).cloned();
        let mut merged: BTreeSet<String> = permissions.into_iter().collect();
        if let Some(role) = &existing {
            if merged.is_subset(&role.permissions) {
                continue;
            }
            merged.extend(role.permissions.iter().cloned());
        }
        let description = existing.map_or(Some(description), |role| role.description);
        let merged: Vec<String> = merged.into_iter().collect();
        match roles::put_role(&next, &name, description, &merged) {
            Ok(after) => {
                if !catalog.roles.contains_key(&name) {
                    created.push(name);
                }
                next = after;
            }
            Err(refusal) => refused.push((name, refusal_text(&refusal))),
        }
    }
    (next, created, refused)
}

fn refusal_text(refusal: &roles::RoleRefusal) -> String {
    match refusal {
        roles::RoleRefusal::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ada() -> DjangoUser {
        DjangoUser {
            username: Some("ada".into()),
            email: " Ada.Lovelace@Example.com ".into(),
            name: "Ada Lovelace".into(),
            password: "pbkdf2_sha256$1000000$salt$hash=".into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            joined: Some(datetime!(2021-03-18 10:31:11.5 UTC)),
            groups: vec!["Sales".into(), "Accounting".into()],
            permissions: vec!["shop.delete_invoice".into()],
        }
    }

    fn available() -> BTreeSet<String> {
        ["Sales", "Accounting", "admin", "staff"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn now() -> OffsetDateTime {
        datetime!(2026-12-08 01:00 UTC)
    }

    /// A stand-in for the login's check: the forms Django 5.2 makes.
    fn accepts(stored: &str) -> bool {
        [
            "pbkdf2_sha256$",
            "pbkdf2_sha1$",
            "argon2$argon2id$",
            "argon2$argon2i$",
            "bcrypt_sha256$",
            "bcrypt$",
            "scrypt$",
        ]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
    }

    fn planned(user: &DjangoUser, options: Options) -> Result<Planned, Skip> {
        plan(
            user,
            UserId::random(),
            now(),
            &available(),
            options,
            &accepts,
        )
    }

    #[test]
    fn a_default_user_keeps_address_name_groups_permissions_hash_and_join_date() {
        let p = planned(&ada(), Options::default()).unwrap();
        assert_eq!(p.user.email.as_str(), "ada.lovelace@example.com");
        assert_eq!(p.user.name.as_ref().unwrap().as_str(), "Ada Lovelace");
        assert_eq!(p.user.roles, vec!["Accounting", "Sales"]);
        assert_eq!(p.user.permissions, vec!["shop.delete_invoice"]);
        assert_eq!(p.credentials.permissions, p.user.permissions);
        assert_eq!(p.credentials.roles, p.user.roles);
        assert_eq!(
            p.credentials.password_hash,
            "pbkdf2_sha256$1000000$salt$hash="
        );
        assert_eq!(p.password, PasswordImport::Kept);
        assert_eq!(p.user.created_at, datetime!(2021-03-18 10:31:11 UTC));
        assert!(!p.user.email_verified, "unverified unless trusted");
        assert!(p.user.active && p.credentials.active);
        let alias = p.alias.unwrap();
        assert_eq!(
            (alias.username.as_str(), &alias.user_id),
            ("ada", &p.user.id)
        );
        assert_eq!(alias.email, p.user.email);
        let trusted = planned(&ada(), Options { trust_emails: true }).unwrap();
        assert!(trusted.user.email_verified);
    }

    #[test]
    fn superusers_get_admin_staff_get_staff_and_inactive_users_are_disabled() {
        let root = DjangoUser {
            is_superuser: true,
            is_staff: true,
            is_active: false,
            groups: vec![],
            ..ada()
        };
        let p = planned(&root, Options::default()).unwrap();
        assert_eq!(p.user.roles, vec!["admin", "staff"]);
        assert!(!p.user.active && !p.credentials.active);
    }

    #[test]
    fn no_email_needs_a_username_and_invalid_ones_are_skipped() {
        let nikola = DjangoUser {
            username: Some("Nikola_T".into()),
            email: String::new(),
            ..ada()
        };
        let p = planned(&nikola, Options { trust_emails: true }).unwrap();
        assert!(p.user.email.is_unreachable());
        assert_eq!(p.user.email, Email::unreachable(&p.user.id));
        assert!(!p.user.email_verified, "a stand-in is never verified");
        assert_eq!(p.alias.unwrap().username.key(), "nikola_t");
        let nobody = DjangoUser {
            username: None,
            email: "  ".into(),
            ..ada()
        };
        assert_eq!(planned(&nobody, Options::default()), Err(Skip::NoEmail));
        let bad = DjangoUser {
            email: "not-an-email".into(),
            ..ada()
        };
        assert_eq!(planned(&bad, Options::default()), Err(Skip::InvalidEmail));
        let name = DjangoUser {
            username: Some("two words".into()),
            ..ada()
        };
        assert_eq!(
            planned(&name, Options::default()),
            Err(Skip::InvalidUsername)
        );
        // The custom model: no username at all.
        let custom = DjangoUser {
            username: None,
            ..ada()
        };
        assert!(
            planned(&custom, Options::default())
                .unwrap()
                .alias
                .is_none()
        );
    }

    #[test]
    fn accepted_hashes_are_kept_and_the_others_stored_unusable() {
        assert_eq!(
            classify_hash("pbkdf2_sha256$1$s$h", true),
            PasswordImport::Kept
        );
        assert_eq!(classify_hash("md5$s$h", false), PasswordImport::Weak);
        assert_eq!(classify_hash("!abc", false), PasswordImport::Unusable);
        // Unusable whatever a check says of it.
        assert_eq!(classify_hash("!abc", true), PasswordImport::Unusable);
        let md5 = DjangoUser {
            password: "md5$salt$hash".into(),
            ..ada()
        };
        let p = planned(&md5, Options::default()).unwrap();
        assert_eq!(p.credentials.password_hash, UNUSABLE);
        assert_eq!(p.password.note(), Some("weak_hash"));
        let unusable = DjangoUser {
            password: "!tb6GhOJwnnOzElW7GUtuQawMlm8aNTLWC2lfrYDB".into(),
            ..ada()
        };
        let p = planned(&unusable, Options::default()).unwrap();
        assert_eq!(p.credentials.password_hash, UNUSABLE);
        assert_eq!(p.password.note(), Some("unusable_password"));
    }

    #[test]
    fn refused_groups_and_permissions_are_dropped_and_listed() {
        let user = DjangoUser {
            groups: vec!["Sales".into(), "Content editors".into()],
            permissions: vec![
                "shop.view_order".into(),
                "shop.bad,one".into(),
                roles::USERS_WRITE.into(),
                "shop.view_order".into(),
            ],
            ..ada()
        };
        let p = planned(&user, Options::default()).unwrap();
        assert_eq!(p.user.roles, vec!["Sales"]);
        assert_eq!(p.dropped_groups, vec!["Content editors"]);
        assert_eq!(p.user.permissions, vec!["shop.view_order"]);
        assert_eq!(
            p.dropped_permissions,
            vec!["shop.bad,one".to_owned(), roles::USERS_WRITE.to_owned()]
        );
        let heaps = DjangoUser {
            permissions: (0..200)
                .map(|i| format!("shop.permission_{i:03}"))
                .collect(),
            ..ada()
        };
        assert_eq!(
            planned(&heaps, Options::default()),
            Err(Skip::TooManyPermissions)
        );
        let many = DjangoUser {
            groups: (0..21).map(|i| format!("g{i}")).collect(),
            ..ada()
        };
        let roles_available = (0..21).map(|i| format!("g{i}")).collect();
        assert_eq!(
            plan(
                &many,
                UserId::random(),
                now(),
                &roles_available,
                Options::default(),
                &accepts
            ),
            Err(Skip::TooManyRoles)
        );
    }

    #[test]
    fn the_first_claim_of_an_address_or_username_wins() {
        let mut claims = Claims::default();
        let first = planned(&ada(), Options::default()).unwrap();
        claims.claim(&first).unwrap();
        let same_address = DjangoUser {
            username: Some("ada2".into()),
            email: "ADA.lovelace@example.COM".into(),
            ..ada()
        };
        let p = planned(&same_address, Options::default()).unwrap();
        assert_eq!(claims.claim(&p), Err(Skip::DuplicateEmail));
        let same_name = DjangoUser {
            username: Some("ADA".into()),
            email: "other@example.com".into(),
            ..ada()
        };
        let p = planned(&same_name, Options::default()).unwrap();
        assert_eq!(claims.claim(&p), Err(Skip::DuplicateUsername));
        // A refused claim claimed nothing: the address stays free.
        let other = DjangoUser {
            username: Some("grace".into()),
            email: "other@example.com".into(),
            ..ada()
        };
        claims
            .claim(&planned(&other, Options::default()).unwrap())
            .unwrap();
    }

    #[test]
    fn groups_become_roles_without_narrowing_an_existing_one() {
        let mut catalog = roles::Catalog::builtin();
        catalog = roles::put_role(&catalog, "Sales", None, &["crm.read".into()]).unwrap();
        let groups = vec![
            ("Sales".to_owned(), vec!["shop.view_order".to_owned()]),
            (
                "Accounting".to_owned(),
                vec!["shop.view_invoice".to_owned()],
            ),
            ("Content editors".to_owned(), vec![]),
        ];
        let (next, created, refused) = put_groups(&catalog, &groups, true);
        assert_eq!(created, vec!["Accounting", "staff"]);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "Content editors");
        let sales: Vec<&String> = next.roles["Sales"].permissions.iter().collect();
        assert_eq!(sales, vec!["crm.read", "shop.view_order"]);
        assert!(next.roles["staff"].permissions.is_empty());
        // Again: nothing left to do.
        let (again, created, refused) = put_groups(&next, &groups, true);
        assert_eq!(again, next);
        assert!(created.is_empty() && refused.len() == 1);
    }
}
