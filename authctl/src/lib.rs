//! `authctl`: the operator's command line (Django's `createsuperuser` and `manage.py`, kanidm's
//! CLI). Every command runs through the same service code as the API, against the table
//! `TABLE_NAME` names (with the AWS credential chain), or against the DynamoDB Local a running
//! `make dev` started: it finds that one in `.dev/local-endpoints.json` without being told.
//!
//! Passwords are never arguments (they would land in the shell history and `ps`): the binary
//! prompts for them, or reads one line from standard input when it is not a terminal.

pub mod django;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use shared::clock::SystemClock;
use shared::config::{DYNAMODB_ENDPOINT_URL, Source, TABLE_NAME};
use shared::domain::{Email, Password};
use shared::error::ApiError;
use shared::policy::roles::Change;
use shared::service::{Accounts, Actor, Admin, Caller, RolePut, UserPatch, ensure_admin};

/// What `make dev` writes while it runs, and `authctl` reads.
pub const LOCAL_ENDPOINTS: &str = ".dev/local-endpoints.json";

#[derive(Debug, Parser)]
#[command(
    name = "authctl",
    version,
    about = "Manage the users and roles of the auth service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an administrator (the password is prompted for, or read from stdin), or give an
    /// existing account the admin role.
    CreateAdmin {
        #[arg(long)]
        email: String,
    },
    /// Give a user a role.
    GrantRole {
        #[arg(long)]
        email: String,
        role: String,
    },
    /// Take a role from a user.
    RevokeRole {
        #[arg(long)]
        email: String,
        role: String,
    },
    /// Create or replace a role: `authctl put-role editor articles.publish articles.read`.
    PutRole {
        name: String,
        permissions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Disable an account: its sessions end at once; it cannot log in or refresh.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Put the users created before the user index existed into it (once, after upgrading;
    /// scans the whole table).
    Reindex,
    /// List users, newest first.
    ListUsers {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Import the users, groups and permissions of a Django `dumpdata` export (JSON or JSON
    /// lines): `manage.py dumpdata auth.User auth.Group auth.Permission --natural-foreign
    /// --natural-primary > users.json`. Addresses already present are left untouched, so a
    /// rerun imports the rest.
    ImportDjango {
        file: PathBuf,
        /// Read, check and map everything; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Count the imported addresses as verified.
        #[arg(long)]
        trust_emails: bool,
        /// The user model's email field.
        #[arg(long, default_value = "email")]
        email_field: String,
        /// The user model's name field (default: `name`, else `first_name` + `last_name`).
        #[arg(long)]
        name_field: Option<String>,
        /// Write the report (every user skipped or imported with a note, and why) as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

impl Command {
    /// Whether the command needs a password.
    pub fn needs_password(&self) -> bool {
        matches!(self, Command::CreateAdmin { .. })
    }
}

/// Errors, as sentences.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        let parts = err.parts();
        let fields = parts
            .errors
            .map(|e| {
                e.iter()
                    .map(|f| format!(" {}: {}.", f.field, f.message))
                    .collect::<String>()
            })
            .unwrap_or_default();
        Self(format!(
            "{} ({}): {}.{fields}",
            parts.title, parts.code, parts.detail
        ))
    }
}

impl From<shared::runtime::InitError> for Failure {
    fn from(err: shared::runtime::InitError) -> Self {
        Self(err.to_string())
    }
}

/// The environment, with the endpoint and table of a running `make dev` when neither
/// `DYNAMODB_ENDPOINT_URL` nor `TABLE_NAME` is set.
pub struct Settings<'a> {
    base: &'a dyn Source,
    found: HashMap<String, String>,
}

impl Source for Settings<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.found.get(key).cloned().or_else(|| self.base.get(key))
    }
}

impl<'a> Settings<'a> {
    /// From `src` (the process environment), looking for [`LOCAL_ENDPOINTS`] from `dir` up.
    pub fn discover(src: &'a dyn Source, dir: &Path) -> Result<Self, Failure> {
        let mut values: HashMap<String, String> = HashMap::new();
        if src.get(DYNAMODB_ENDPOINT_URL).is_none() && src.get(TABLE_NAME).is_none() {
            let Some(file) = find_up(dir, LOCAL_ENDPOINTS) else {
                return Err(Failure(format!(
                    "no table: set TABLE_NAME (and AWS credentials) for a table on AWS, or start `make dev` (it writes {LOCAL_ENDPOINTS}, where authctl finds its DynamoDB Local)"
                )));
            };
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure(format!("read {}: {e}", file.display())))?;
            let local: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| {
                Failure(format!(
                    "{} is not what make dev writes: {e}",
                    file.display()
                ))
            })?;
            for (key, name) in [("dynamodb", DYNAMODB_ENDPOINT_URL), ("table", TABLE_NAME)] {
                let value = local
                    .get(key)
                    .ok_or_else(|| Failure(format!("{} has no {key:?}", file.display())))?;
                values.insert(name.to_owned(), value.clone());
            }
        }
        Ok(Self {
            base: src,
            found: values,
        })
    }
}

fn find_up(dir: &Path, relative: &str) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(relative))
        .find(|candidate| candidate.is_file())
}

/// Runs one command; `password` is asked only by the commands that need one.
pub async fn run(
    command: Command,
    src: &dyn Source,
    password: impl FnOnce() -> Result<String, Failure>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    run_with(command, src, password, out, &django::Quiet).await
}

/// [`run`], showing the progress of a long command on `progress`.
pub async fn run_with(
    command: Command,
    src: &dyn Source,
    password: impl FnOnce() -> Result<String, Failure>,
    out: &mut dyn Write,
    progress: &dyn django::Progress,
) -> Result<(), Failure> {
    let clock = SystemClock::shared();
    let admin = Admin::from_source(src, clock.clone()).await?;
    let caller = Caller::default();
    let write = |out: &mut dyn Write, line: String| {
        writeln!(out, "{line}").map_err(|e| Failure(format!("write: {e}")))
    };
    match command {
        Command::CreateAdmin { email } => {
            let email =
                Email::parse(&email).map_err(|m| Failure(format!("--email {email:?}: {m}")))?;
            let accounts = Accounts::from_source(src, clock).await?;
            let password = Password::new(password()?);
            let (id, created) =
                ensure_admin(&accounts, &admin, email.clone(), password, &caller).await?;
            if created {
                write(
                    out,
                    format!("created administrator {} ({id})", email.as_str()),
                )
            } else {
                write(
                    out,
                    format!(
                        "{} ({id}) already existed and now holds the admin role",
                        email.as_str()
                    ),
                )
            }
        }
        Command::GrantRole { email, role } => {
            let id = admin.id_of(&email).await?;
            let mut roles = admin.user(id.as_str()).await?.summary.roles;
            roles.push(role.clone());
            change(&admin, id.as_str(), Some(roles), None, &caller).await?;
            write(out, format!("{email} now holds {role}"))
        }
        Command::RevokeRole { email, role } => {
            let id = admin.id_of(&email).await?;
            let mut roles = admin.user(id.as_str()).await?.summary.roles;
            roles.retain(|r| *r != role);
            change(&admin, id.as_str(), Some(roles), None, &caller).await?;
            write(out, format!("{email} no longer holds {role}"))
        }
        Command::PutRole {
            name,
            permissions,
            description,
        } => {
            let put = RolePut {
                description,
                permissions,
            };
            let role = admin.put_role(Actor::Cli, &name, &put, &caller).await?;
            write(
                out,
                format!("role {} → {}", role.name, role.permissions.join(" ")),
            )
        }
        Command::Disable { email } => {
            let id = admin.id_of(&email).await?;
            change(&admin, id.as_str(), None, Some(false), &caller).await?;
            write(out, format!("{email} is disabled; its sessions have ended"))
        }
        Command::Enable { email } => {
            let id = admin.id_of(&email).await?;
            change(&admin, id.as_str(), None, Some(true), &caller).await?;
            write(out, format!("{email} is enabled"))
        }
        Command::Reindex => {
            let indexed = admin
                .store()
                .reindex_users()
                .await
                .map_err(|e| Failure::from(ApiError::from(e)))?;
            write(out, format!("indexed {indexed} users"))
        }
        Command::ListUsers { limit } => {
            let page = admin
                .list_users(Some(&limit.to_string()), None, None)
                .await?;
            for user in page.users {
                write(
                    out,
                    format!(
                        "{}  {:<40} {:<8} {}",
                        user.id,
                        // An account without an email shows its username.
                        user.email
                            .as_deref()
                            .or(user.username.as_deref())
                            .unwrap_or("-"),
                        if user.active { "active" } else { "disabled" },
                        user.roles.join(",")
                    ),
                )?;
            }
            Ok(())
        }
        Command::ImportDjango {
            file,
            dry_run,
            trust_emails,
            email_field,
            name_field,
            report,
        } => {
            let options = django::ImportOptions {
                file,
                dry_run,
                trust_emails,
                email_field,
                name_field,
            };
            let done = django::import(admin.store(), clock, &options, progress).await?;
            for line in done.summary() {
                write(out, line)?;
            }
            if let Some(path) = report {
                let json = serde_json::to_string_pretty(&done)
                    .map_err(|e| Failure(format!("report: {e}")))?;
                std::fs::write(&path, json + "\n")
                    .map_err(|e| Failure(format!("write {}: {e}", path.display())))?;
                write(out, format!("report written to {}", path.display()))?;
            }
            Ok(())
        }
    }
}

async fn change(
    admin: &Admin,
    id: &str,
    roles: Option<Vec<String>>,
    active: Option<bool>,
    caller: &Caller,
) -> Result<(), Failure> {
    let patch = UserPatch {
        name: None,
        change: Change { roles, active },
    };
    admin.update_user(Actor::Cli, id, &patch, caller).await?;
    Ok(())
}
