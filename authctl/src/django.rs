//! `authctl import-django FILE`: the users, groups and permissions of a Django `dumpdata`
//! export as accounts and roles (the mapping: [`shared::policy::django`]).
//!
//! The file is read twice, streamed (a JSON array through a `SeqAccess` visitor, or `jsonl`
//! line by line; never the whole file in memory). Pass 1 parses and checks every record and
//! keeps the groups, permissions and content types (small): a dump cut in the middle, a bad
//! record or a reference to a group or permission the dump lacks is an error naming the
//! record, and nothing is written. Then the groups become roles (one conditional write of the
//! catalog). Pass 2 streams the users (dumpdata writes the user model before the groups
//! without natural keys) and writes them in batches (`Store::import_accounts`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;
use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::{Map, Value};
use shared::clock::SharedClock;
use shared::domain::UserId;
use shared::policy::django::{self, Claims, DjangoUser, Options, Planned};
use shared::policy::roles::{self, Catalog};
use shared::retry::{self, Tries};
use shared::store::error::chain;
use shared::store::{CatalogWrite, IMPORT_BATCH, Imported, NewAccount, Store};

use crate::Failure;

/// Users per transaction, and transactions in flight. Measured with `bench import` (10,000
/// users into DynamoDB Local on 2 cores, debug build): 32 × 1: 510 users/s, 8 × 1: 390,
/// 8 × 4: 541, 16 × 2: 723, 32 × 2: 701, 16 × 4: 511, and 32 × 4 timed out (every batch
/// moves the catalog item, so concurrent transactions wait for each other).
pub const USERS_PER_BATCH: usize = 16;
pub const BATCHES_IN_FLIGHT: usize = 2;
const _: () = assert!(USERS_PER_BATCH <= IMPORT_BATCH);

/// What the command was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    pub file: PathBuf,
    pub dry_run: bool,
    pub trust_emails: bool,
    /// The user model's email field (`email`).
    pub email_field: String,
    /// The user model's name field (`name` when the model has one, else `first_name` +
    /// `last_name`).
    pub name_field: Option<String>,
}

/// Where the import reports its progress (a bar on a terminal).
pub trait Progress: Send + Sync {
    /// The users of the dump, once pass 1 counted them.
    fn start(&self, users: u64);
    /// `users` more were handled.
    fn advance(&self, users: u64);
    fn finish(&self);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// One user the report lists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    /// The record's number in the dump (1 = the first record).
    pub record: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// As the dump has it.
    pub email: String,
    pub reason: String,
}

/// A group that is no role: the role rules refused it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    pub group: String,
    pub reason: String,
}

/// What the import did (`--report` writes it as JSON).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// The dump's user model (`auth.user`, `accounts.user`...).
    pub user_model: String,
    /// Users in the dump.
    pub users: usize,
    /// Accounts written (with `--dry-run`: that would be written).
    pub imported: usize,
    /// Users not imported, with the reason: `no_email`, `invalid_email`, `invalid_username`,
    /// `duplicate_email`, `duplicate_username`, `too_many_roles`, `already_present`.
    pub skipped: Vec<Listed>,
    /// Imported users with something not carried over: `weak_hash`, `unusable_password` (no
    /// password: forgot/reset sets one), `group_not_imported:<name>`,
    /// `permission_not_imported:<perm>`.
    pub notes: Vec<Listed>,
    /// How many users were skipped for each reason, and how many were imported with each
    /// note (`group_not_imported`, not per group): exact even when the lists are cut.
    pub skipped_by_reason: BTreeMap<String, usize>,
    pub notes_by_kind: BTreeMap<String, usize>,
    /// The lists stop at [`MAX_LISTED`] users each (a rerun of a dump of millions reports
    /// them all `already_present`): the counts above stay exact.
    pub lists_cut: bool,
    pub roles_created: Vec<String>,
    /// Roles that gained a group's permissions.
    pub roles_extended: Vec<String>,
    pub groups_refused: Vec<Refused>,
    pub seconds: f64,
}

/// Most users each list of the report holds.
pub const MAX_LISTED: usize = 100_000;

impl Report {
    fn skip(&mut self, listed: Listed) {
        *self
            .skipped_by_reason
            .entry(listed.reason.clone())
            .or_default() += 1;
        if self.skipped.len() < MAX_LISTED {
            self.skipped.push(listed);
        } else {
            self.lists_cut = true;
        }
    }

    fn note(&mut self, listed: Listed) {
        let kind = listed.reason.split(':').next().unwrap_or_default();
        *self.notes_by_kind.entry(kind.to_owned()).or_default() += 1;
        if self.notes.len() < MAX_LISTED {
            self.notes.push(listed);
        } else {
            self.lists_cut = true;
        }
    }

    /// The summary printed at the end.
    pub fn summary(&self) -> Vec<String> {
        let verb = if self.dry_run {
            "would import"
        } else {
            "imported"
        };
        let mut lines = vec![format!(
            "{verb} {} of {} users ({}) in {:.1} s",
            self.imported, self.users, self.user_model, self.seconds
        )];
        let counts = |map: &BTreeMap<String, usize>| {
            map.iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.skipped_by_reason.is_empty() {
            lines.push(format!(
                "skipped {}: {}",
                self.skipped_by_reason.values().sum::<usize>(),
                counts(&self.skipped_by_reason)
            ));
        }
        if !self.notes_by_kind.is_empty() {
            lines.push(format!(
                "imported with notes: {}",
                counts(&self.notes_by_kind)
            ));
        }
        let created = if self.dry_run {
            "roles to create"
        } else {
            "roles created"
        };
        lines.push(format!("{created}: {}", list_or_none(&self.roles_created)));
        if !self.roles_extended.is_empty() {
            lines.push(format!(
                "roles extended: {}",
                self.roles_extended.join(", ")
            ));
        }
        for refused in &self.groups_refused {
            lines.push(format!(
                "group {:?} refused as a role: {}",
                refused.group, refused.reason
            ));
        }
        lines
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// One record of the dump.
#[derive(Debug, Deserialize)]
struct Record {
    model: String,
    #[serde(default)]
    pk: Option<Value>,
    #[serde(default)]
    fields: Map<String, Value>,
}

/// Calls `each` with every record of the dump at `path` (its number, from 1), streamed.
fn for_each_record(
    path: &Path,
    mut each: impl FnMut(usize, Record) -> Result<(), String>,
) -> Result<usize, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let first = loop {
        let buffer = reader
            .fill_buf()
            .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
        let Some(&byte) = buffer.first() else {
            return Err(Failure(format!(
                "{} is empty: not a dumpdata export",
                path.display()
            )));
        };
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => {
                let byte = buffer.get(at).copied().unwrap_or(byte);
                reader.consume(at);
                break byte;
            }
            None => {
                let len = buffer.len();
                reader.consume(len);
            }
        }
    };
    match first {
        b'[' => for_each_in_array(reader, &mut each),
        b'{' => for_each_line(reader, &mut each),
        other => Err(Failure(format!(
            "{} is neither a JSON array nor JSON lines (it starts with {:?})",
            path.display(),
            char::from(other)
        ))),
    }
}

fn for_each_line(
    reader: impl BufRead,
    each: &mut dyn FnMut(usize, Record) -> Result<(), String>,
) -> Result<usize, Failure> {
    let mut number = 0;
    for line in reader.lines() {
        let line = line.map_err(|e| Failure(format!("record {}: {e}", number + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        number += 1;
        let record: Record =
            serde_json::from_str(&line).map_err(|e| Failure(format!("record {number}: {e}")))?;
        each(number, record).map_err(|e| Failure(format!("record {number}: {e}")))?;
    }
    Ok(number)
}

/// The array's elements, one at a time, handed to a closure (serde's `SeqAccess`).
struct Records<'a> {
    each: &'a mut dyn FnMut(usize, Record) -> Result<(), String>,
    /// The records read so far (the number of the one that failed, on an error).
    count: &'a mut usize,
    /// The closure's own error (serde's would prefix it with a position).
    failed: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of dumpdata records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            *self.count += 1;
            let Some(record) = seq.next_element::<Record>()? else {
                *self.count -= 1;
                return Ok(());
            };
            if let Err(err) = (self.each)(*self.count, record) {
                *self.failed = Some(err.clone());
                return Err(serde::de::Error::custom(err));
            }
        }
    }
}

fn for_each_in_array(
    reader: impl Read,
    each: &mut dyn FnMut(usize, Record) -> Result<(), String>,
) -> Result<usize, Failure> {
    let mut count = 0;
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = Records {
        each,
        count: &mut count,
        failed: &mut failed,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match (result, failed) {
        (Ok(()), _) => Ok(count),
        (Err(_), Some(err)) => Err(Failure(format!("record {count}: {err}"))),
        (Err(err), None) if err.is_eof() => Err(Failure(format!(
            "record {count}: the dump ends in the middle of it ({err}): nothing was imported"
        ))),
        (Err(err), None) => Err(Failure(format!("record {count}: {err}"))),
    }
}

/// A reference to a group: its name (natural keys) or its `pk`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GroupRef {
    Name(String),
    Pk(i64),
}

/// A reference to a permission: `app_label.codename` (natural keys) or its `pk`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum PermissionRef {
    Named(String),
    Pk(i64),
}

fn group_ref(value: &Value) -> Result<GroupRef, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(GroupRef::Pk)
            .ok_or_else(|| format!("group reference {value} is no key")),
        Value::Array(parts) => match parts.as_slice() {
            [Value::String(name)] => Ok(GroupRef::Name(name.clone())),
            _ => Err(format!("group reference {value} is not [\"name\"]")),
        },
        other => Err(format!(
            "group reference {other} is neither a key nor [\"name\"]"
        )),
    }
}

fn permission_ref(value: &Value) -> Result<PermissionRef, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(PermissionRef::Pk)
            .ok_or_else(|| format!("permission reference {value} is no key")),
        Value::Array(parts) => match parts.as_slice() {
            [
                Value::String(codename),
                Value::String(app_label),
                Value::String(_model),
            ] => Ok(PermissionRef::Named(format!("{app_label}.{codename}"))),
            _ => Err(format!(
                "permission reference {value} is not [codename, app_label, model]"
            )),
        },
        other => Err(format!(
            "permission reference {other} is neither a key nor [codename, app_label, model]"
        )),
    }
}

fn refs<T>(
    fields: &Map<String, Value>,
    name: &str,
    each: impl Fn(&Value) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(values)) => values.iter().map(each).collect(),
        Some(other) => Err(format!("{name} is {other}, not a list")),
    }
}

fn text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{name} is {other}, not a string")),
    }
}

fn flag(fields: &Map<String, Value>, name: &str, default: bool) -> Result<bool, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("{name} is {other}, not true or false")),
    }
}

fn pk(record: &Record) -> Option<i64> {
    record.pk.as_ref().and_then(Value::as_i64)
}

/// A user record, checked; its references not yet resolved.
struct RawUser {
    user: DjangoUser,
    groups: Vec<GroupRef>,
    permissions: Vec<PermissionRef>,
}

fn raw_user(fields: &Map<String, Value>, options: &ImportOptions) -> Result<RawUser, String> {
    let password = text(fields, "password")?.ok_or_else(|| "password is missing".to_owned())?;
    let name = match &options.name_field {
        Some(field) => text(fields, field)?.unwrap_or_default(),
        None => match text(fields, "name")? {
            Some(name) => name,
            None => {
                let first = text(fields, "first_name")?.unwrap_or_default();
                let last = text(fields, "last_name")?.unwrap_or_default();
                format!("{first} {last}")
            }
        },
    };
    let joined = match text(fields, "date_joined")?.or(text(fields, "created_at")?) {
        None => None,
        Some(when) => Some(timestamp(&when)?),
    };
    Ok(RawUser {
        user: DjangoUser {
            username: text(fields, "username")?,
            email: text(fields, &options.email_field)?.unwrap_or_default(),
            name,
            password,
            is_active: flag(fields, "is_active", true)?,
            is_staff: flag(fields, "is_staff", false)?,
            is_superuser: flag(fields, "is_superuser", false)?,
            joined,
            groups: Vec::new(),
            permissions: Vec::new(),
        },
        groups: refs(fields, "groups", group_ref)?,
        permissions: refs(fields, "user_permissions", permission_ref)?,
    })
}

/// A date as `DjangoJSONEncoder` writes it: RFC 3339, or without an offset when the project
/// ran with `USE_TZ = False` (read as UTC).
fn timestamp(raw: &str) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(raw, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&format!("{raw}Z"), &Rfc3339))
        .map_err(|_| format!("{raw:?} is not a date and time"))
}

/// What pass 1 keeps: everything but the users, and what the users refer to.
#[derive(Default)]
struct Scan {
    user_model: Option<String>,
    users: usize,
    /// Group name → its permission references; and pk → name.
    groups: BTreeMap<String, Vec<PermissionRef>>,
    group_pks: HashMap<i64, String>,
    /// Permission pk → (codename, content type reference).
    permissions: HashMap<i64, (String, Value)>,
    /// Content type pk → app label.
    content_types: HashMap<i64, String>,
    /// References made by users, checked once the whole dump is read.
    group_refs: HashSet<GroupRef>,
    permission_pks: HashSet<i64>,
    /// Whether some user is staff.
    staff: bool,
}

/// The dump's groups and permissions, resolved: what pass 2 needs.
struct Resolved {
    user_model: String,
    users: usize,
    /// Group name → `app_label.codename`s.
    groups: BTreeMap<String, Vec<String>>,
    group_pks: HashMap<i64, String>,
    permissions: HashMap<i64, String>,
    staff: bool,
}

impl Scan {
    fn take(&mut self, record: Record, options: &ImportOptions) -> Result<(), String> {
        let model = record.model.to_lowercase();
        let is_user = match &self.user_model {
            Some(user_model) => *user_model == model,
            None if record.fields.contains_key("password") => {
                self.user_model = Some(model.clone());
                true
            }
            None => false,
        };
        if is_user {
            let raw = raw_user(&record.fields, options)?;
            self.users += 1;
            self.staff |= raw.user.is_staff;
            self.group_refs.extend(raw.groups);
            for permission in raw.permissions {
                if let PermissionRef::Pk(pk) = permission {
                    self.permission_pks.insert(pk);
                }
            }
            return Ok(());
        }
        if record.fields.contains_key("password") {
            return Err(format!(
                "two user models: {model} and {}",
                self.user_model.as_deref().unwrap_or_default()
            ));
        }
        match model.as_str() {
            "auth.group" => {
                let name = text(&record.fields, "name")?
                    .ok_or_else(|| "the group has no name".to_owned())?;
                let permissions = refs(&record.fields, "permissions", permission_ref)?;
                if let Some(pk) = pk(&record) {
                    self.group_pks.insert(pk, name.clone());
                }
                self.groups.insert(name, permissions);
            }
            "auth.permission" => {
                let codename = text(&record.fields, "codename")?
                    .ok_or_else(|| "the permission has no codename".to_owned())?;
                let content_type = record
                    .fields
                    .get("content_type")
                    .cloned()
                    .ok_or_else(|| "the permission has no content_type".to_owned())?;
                if let Some(pk) = pk(&record) {
                    self.permissions.insert(pk, (codename, content_type));
                }
            }
            "contenttypes.contenttype" => {
                let app_label = text(&record.fields, "app_label")?
                    .ok_or_else(|| "the content type has no app_label".to_owned())?;
                if let Some(pk) = pk(&record) {
                    self.content_types.insert(pk, app_label);
                }
            }
            // Other models of the dump are not ours.
            _ => {}
        }
        Ok(())
    }

    fn resolve(self) -> Result<Resolved, Failure> {
        let user_model = self.user_model.ok_or_else(|| {
            Failure("the dump holds no users (no model with a password field)".to_owned())
        })?;
        let mut permissions = HashMap::new();
        for (pk, (codename, content_type)) in &self.permissions {
            let app_label = match content_type {
                Value::Array(parts) => match parts.as_slice() {
                    [Value::String(app_label), Value::String(_)] => app_label.clone(),
                    _ => {
                        return Err(Failure(format!(
                            "permission {pk}: content_type {content_type} is not [app_label, model]"
                        )));
                    }
                },
                Value::Number(n) => n
                    .as_i64()
                    .and_then(|ct| self.content_types.get(&ct))
                    .cloned()
                    .ok_or_else(|| {
                        Failure(format!(
                            "permission {pk} ({codename}) names content type {n}, which the dump lacks: dump contenttypes.ContentType too, or use --natural-foreign"
                        ))
                    })?,
                other => {
                    return Err(Failure(format!(
                        "permission {pk}: content_type {other} is neither a key nor [app_label, model]"
                    )));
                }
            };
            permissions.insert(*pk, format!("{app_label}.{codename}"));
        }
        let lookup = |permission: &PermissionRef| match permission {
            PermissionRef::Named(name) => Ok(name.clone()),
            PermissionRef::Pk(pk) => permissions.get(pk).cloned().ok_or_else(|| {
                Failure(format!(
                    "permission {pk} is not in the dump: dump auth.Permission too"
                ))
            }),
        };
        let mut groups = BTreeMap::new();
        for (name, refs) in &self.groups {
            let resolved = refs.iter().map(lookup).collect::<Result<Vec<_>, _>>()?;
            groups.insert(name.clone(), resolved);
        }
        for group in &self.group_refs {
            let known = match group {
                GroupRef::Name(name) => groups.contains_key(name),
                GroupRef::Pk(pk) => self.group_pks.contains_key(pk),
            };
            if !known {
                let named = match group {
                    GroupRef::Name(name) => format!("{name:?}"),
                    GroupRef::Pk(pk) => pk.to_string(),
                };
                return Err(Failure(format!(
                    "a user is in group {named}, which is not in the dump: dump auth.Group too"
                )));
            }
        }
        for pk in &self.permission_pks {
            lookup(&PermissionRef::Pk(*pk))?;
        }
        Ok(Resolved {
            user_model,
            users: self.users,
            groups,
            group_pks: self.group_pks,
            permissions,
            staff: self.staff,
        })
    }
}

impl Resolved {
    fn user(&self, raw: RawUser) -> Result<DjangoUser, String> {
        let mut user = raw.user;
        for group in raw.groups {
            let name = match group {
                GroupRef::Name(name) => name,
                GroupRef::Pk(pk) => self
                    .group_pks
                    .get(&pk)
                    .cloned()
                    .ok_or_else(|| format!("group {pk} is not in the dump"))?,
            };
            user.groups.push(name);
        }
        for permission in raw.permissions {
            user.permissions.push(match permission {
                PermissionRef::Named(name) => name,
                PermissionRef::Pk(pk) => self
                    .permissions
                    .get(&pk)
                    .cloned()
                    .ok_or_else(|| format!("permission {pk} is not in the dump"))?,
            });
        }
        Ok(user)
    }
}

fn blocking_failure(err: tokio::task::JoinError) -> Failure {
    Failure(format!("the dump reader stopped: {err}"))
}

/// Imports the dump `options.file` into `store`.
pub async fn import(
    store: &Store,
    clock: SharedClock,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<Report, Failure> {
    let started = Instant::now();
    // Pass 1: every record checked, the small models kept.
    let scanned = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            let mut scan = Scan::default();
            for_each_record(&options.file, |_, record| scan.take(record, &options))?;
            scan.resolve()
        })
        .await
        .map_err(blocking_failure)??
    };
    let scanned = std::sync::Arc::new(scanned);
    let mut report = Report {
        dry_run: options.dry_run,
        user_model: scanned.user_model.clone(),
        users: scanned.users,
        ..Report::default()
    };
    progress.start(u64::try_from(scanned.users).unwrap_or(u64::MAX));

    // The roles, first: one conditional write of the catalog.
    let groups: Vec<(String, Vec<String>)> = scanned
        .groups
        .iter()
        .map(|(name, permissions)| (name.clone(), permissions.clone()))
        .collect();
    let catalog = put_roles(store, &groups, scanned.staff, options.dry_run, &mut report).await?;
    let available: BTreeSet<String> = catalog.roles.keys().cloned().collect();

    // Pass 2: the users, streamed from a reader thread, written in batches.
    let (send, mut receive) =
        tokio::sync::mpsc::channel::<(usize, DjangoUser)>(USERS_PER_BATCH * 8);
    let reader = {
        let options = options.clone();
        let scanned = scanned.clone();
        tokio::task::spawn_blocking(move || {
            let user_model = scanned.user_model.clone();
            for_each_record(&options.file, |number, record| {
                if record.model.to_lowercase() != user_model {
                    return Ok(());
                }
                let user = scanned.user(raw_user(&record.fields, &options)?)?;
                send.blocking_send((number, user))
                    .map_err(|_| "the import stopped".to_owned())
            })
        })
    };
    let mapping = Options {
        trust_emails: options.trust_emails,
    };
    let mut claims = Claims::default();
    let mut batch: Vec<(usize, DjangoUser, Planned)> = Vec::new();
    let mut writes = futures::stream::FuturesUnordered::new();
    let mut outcome: Result<(), Failure> = Ok(());
    while let Some((number, user)) = receive.recv().await {
        let planned = django::plan(
            &user,
            UserId::random(),
            clock.now(),
            &available,
            mapping,
            &shared::password::is_accepted_django_hash,
        )
        .and_then(|planned| claims.claim(&planned).map(|()| planned));
        match planned {
            Ok(planned) => batch.push((number, user, planned)),
            Err(skip) => {
                report.skip(listed(number, &user, skip.code()));
                progress.advance(1);
            }
        }
        if batch.len() >= USERS_PER_BATCH {
            writes.push(write_batch(
                store,
                std::mem::take(&mut batch),
                options.dry_run,
            ));
            if writes.len() >= BATCHES_IN_FLIGHT
                && let Some(done) = writes.next().await
                && let Err(err) = settle(done, &mut report, progress)
            {
                outcome = Err(err);
                break;
            }
        }
    }
    if outcome.is_ok() && !batch.is_empty() {
        writes.push(write_batch(
            store,
            std::mem::take(&mut batch),
            options.dry_run,
        ));
    }
    while let Some(done) = writes.next().await {
        if let Err(err) = settle(done, &mut report, progress)
            && outcome.is_ok()
        {
            outcome = Err(err);
        }
    }
    drop(receive);
    let read = reader.await.map_err(blocking_failure)?;
    outcome?;
    read?;
    progress.finish();
    report.skipped.sort_by_key(|l| l.record);
    report.notes.sort_by_key(|l| l.record);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn listed(number: usize, user: &DjangoUser, reason: &str) -> Listed {
    Listed {
        record: number,
        username: user.username.clone().filter(|u| !u.is_empty()),
        email: user.email.clone(),
        reason: reason.to_owned(),
    }
}

type Written = (Vec<(usize, DjangoUser, Planned)>, Vec<Imported>);

async fn write_batch(
    store: &Store,
    batch: Vec<(usize, DjangoUser, Planned)>,
    dry_run: bool,
) -> Result<Written, Failure> {
    if dry_run {
        let outcome = vec![Imported::Written; batch.len()];
        return Ok((batch, outcome));
    }
    let accounts: Vec<NewAccount> = batch
        .iter()
        .map(|(_, _, planned)| NewAccount {
            user: planned.user.clone(),
            credentials: planned.credentials.clone(),
            alias: planned.alias.clone(),
        })
        .collect();
    let outcome = store
        .import_accounts(&accounts)
        .await
        .map_err(|e| Failure(format!("writing users failed: {}", chain(&e))))?;
    Ok((batch, outcome))
}

fn settle(
    done: Result<Written, Failure>,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<(), Failure> {
    let (batch, outcome) = done?;
    progress.advance(u64::try_from(batch.len()).unwrap_or(u64::MAX));
    for ((number, user, planned), imported) in batch.iter().zip(outcome) {
        match imported {
            Imported::AlreadyPresent => {
                report.skip(listed(*number, user, "already_present"));
            }
            Imported::Written => {
                report.imported += 1;
                if let Some(note) = planned.password.note() {
                    report.note(listed(*number, user, note));
                }
                for group in &planned.dropped_groups {
                    report.note(listed(
                        *number,
                        user,
                        &format!("group_not_imported:{group}"),
                    ));
                }
                for permission in &planned.dropped_permissions {
                    report.note(listed(
                        *number,
                        user,
                        &format!("permission_not_imported:{permission}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Puts the dump's groups (and `staff`) into the catalog, through the role rules, in one
/// conditional write (read again and decided again when it went stale); the catalog is
/// written even when nothing changes, so the import's counts have an item to move.
async fn put_roles(
    store: &Store,
    groups: &[(String, Vec<String>)],
    staff: bool,
    dry_run: bool,
    report: &mut Report,
) -> Result<Catalog, Failure> {
    let failed =
        |e: shared::store::error::StoreError| Failure(format!("roles catalog: {}", chain(&e)));
    let mut tries = Tries::new(retry::ADMIN);
    while tries.next().await {
        let catalog = store.catalog().await.map_err(failed)?;
        let (next, created, refused) = django::put_groups(&catalog, groups, staff);
        report.roles_created = created;
        report.roles_extended = next
            .roles
            .keys()
            .filter(|name| {
                catalog
                    .roles
                    .get(*name)
                    .is_some_and(|before| next.roles.get(*name) != Some(before))
            })
            .cloned()
            .collect();
        report.groups_refused = refused
            .into_iter()
            .map(|(group, reason)| Refused { group, reason })
            .collect();
        if dry_run || (next == catalog && catalog.version > 0) {
            return Ok(next);
        }
        let stamps = roles::stamps(&catalog, &next);
        if store.write_catalog(&next, &stamps).await.map_err(failed)? == CatalogWrite::Written {
            return Ok(next);
        }
    }
    Err(Failure(
        "the roles catalog kept changing while the roles were put: try again".to_owned(),
    ))
}
