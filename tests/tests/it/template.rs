//! `template.yaml` deploys what the code defines: one function per binary crate under
//! `functions/`, exactly the routes of `devserver::ROUTES` with the same protection, inline
//! policies without wildcard actions, `ses:SendEmail` for the mail-sending functions alone and
//! only as the configured identity, `ssm:GetParameter` on each secret's parameter for exactly
//! the functions that use it (the signing key, the keys sealing TOTP secrets), edge throttling
//! and memory for every route that runs Argon2id, checks a two-factor code or sends mail, no key
//! material in parameter defaults, only environment variables `shared::config` reads (with
//! parameter defaults and bounds it accepts), the table `shared::store::schema` creates
//! locally (with its sparse users index), the administration functions' narrow grants (no
//! password-hash reads, deletes for admin-delete-user alone) and an authorizer whose cached
//! decisions are kept per route (`RoutePermissions`); and, for `sam local invoke --env-vars`
//! (which sets only the variables a function declares), the local endpoints and the secrets'
//! local forms declared empty (unset, so nothing changes on AWS) and the architecture a
//! parameter defaulting to arm64.
//!
//! CloudFormation short forms (`!Ref`, `!GetAtt`, `!If`, `!Sub`) arrive as tagged values;
//! indexing and `as_str` look through the tag, and the walks below descend into tagged values.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use devserver::ROUTES;
use serde_norway::Value;
use shared::config as cfg;
use shared::store::{keys, schema};

const FUNCTION: &str = "AWS::Serverless::Function";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn template() -> Value {
    serde_norway::from_str(&read("template.yaml"))
        .unwrap_or_else(|e| panic!("template.yaml is not YAML: {e}"))
}

/// `(logical id, resource)` of every resource of one type, in template order.
fn resources<'t>(template: &'t Value, kind: &str) -> Vec<(&'t str, &'t Value)> {
    template["Resources"]
        .as_mapping()
        .expect("template.yaml has a Resources mapping")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(id, resource)| (id.as_str().expect("logical ids are strings"), resource))
        .collect()
}

/// The binary crates under `functions/`: binary name → directory. The binary of a crate is its
/// package name (the default `src/main.rs` target).
fn function_binaries() -> BTreeMap<String, String> {
    let dir = repo_root().join("functions");
    let mut binaries = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let manifest = path.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&manifest).unwrap();
        if !path.join("src/main.rs").is_file() {
            continue; // a library crate, not a function
        }
        let package = package_name(&text, "[package]")
            .unwrap_or_else(|| panic!("functions/{name}/Cargo.toml has no [package] name"));
        // A declared binary (to turn its test harness off) keeps the package's name.
        assert!(
            text.matches("[[bin]]").count() <= 1
                && package_name(&text, "[[bin]]").is_none_or(|bin| bin == package),
            "functions/{name}/Cargo.toml: one binary, named like the package ({package})"
        );
        if let Some(other) = binaries.insert(package.clone(), name.clone()) {
            panic!("functions/{other} and functions/{name} both build a binary named {package}");
        }
    }
    assert!(
        !binaries.is_empty(),
        "no binary crate found under {}",
        dir.display()
    );
    binaries
}

/// `name` in the first `table` (`[package]`, `[[bin]]`) of a Cargo manifest.
fn package_name(manifest: &str, table: &str) -> Option<String> {
    let mut section = "";
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == table
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// The binary a function resource builds (its `Metadata.BuildProperties.Binary`).
/// The binary a function resource ships: `BuildMethod: makefile` with `lambda/Makefile`,
/// which copies the binary named by the logical id without `Function`, in kebab case (the same
/// rule, written in make there).
fn built_binary(id: &str, function: &Value) -> String {
    assert_eq!(
        function["Metadata"]["BuildMethod"].as_str(),
        Some("makefile"),
        "{id}: Metadata.BuildMethod must be makefile (lambda/Makefile copies what make build built)"
    );
    let stem = id
        .strip_suffix("Function")
        .unwrap_or_else(|| panic!("{id}: a function's logical id ends in Function"));
    let mut binary = String::new();
    for (i, c) in stem.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            binary.push('-');
        }
        binary.push(c.to_ascii_lowercase());
    }
    binary
}

#[test]
fn every_function_crate_is_exactly_one_function_and_every_function_a_crate() {
    let template = template();
    let crates = function_binaries();
    let mut built: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (id, function) in resources(&template, FUNCTION) {
        built
            .entry(built_binary(id, function))
            .or_default()
            .push(id);
    }
    for (binary, dir) in &crates {
        let ids = built.get(binary).cloned().unwrap_or_default();
        assert_eq!(
            ids.len(),
            1,
            "functions/{dir} (binary `{binary}`) must be built by exactly one {FUNCTION} in \
             template.yaml, found {ids:?}"
        );
    }
    for (binary, ids) in &built {
        assert!(
            crates.contains_key(binary),
            "{ids:?} in template.yaml build binary `{binary}`, which no crate under functions/ \
             defines (crates: {:?})",
            crates.keys().collect::<Vec<_>>()
        );
    }
}

/// One HTTP API route of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TemplateRoute {
    function: String,
    binary: String,
    protected: bool,
}

#[test]
fn the_template_routes_exactly_what_the_local_server_serves() {
    let template = template();
    let apis = resources(&template, "AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1, "template.yaml must define one HttpApi");
    let (api_id, api) = apis[0];
    let auth = &api["Properties"]["Auth"];
    let authorizers: BTreeSet<&str> = auth["Authorizers"]
        .as_mapping()
        .map(|m| m.keys().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let default_authorizer = auth["DefaultAuthorizer"].as_str();

    let mut routes: BTreeMap<(String, String), TemplateRoute> = BTreeMap::new();
    for (id, function) in resources(&template, FUNCTION) {
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (event_id, event) in events {
            let event_id = event_id.as_str().unwrap();
            assert_eq!(
                event["Type"].as_str(),
                Some("HttpApi"),
                "{id}.{event_id}: every event must be an HttpApi route"
            );
            let properties = &event["Properties"];
            let api_ref = match &properties["ApiId"] {
                Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
                _ => None,
            };
            assert_eq!(
                api_ref,
                Some(api_id),
                "{id}.{event_id}: ApiId must be !Ref {api_id} (without it SAM makes an API of its own)"
            );
            let method = properties["Method"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}.{event_id}: no Method"))
                .to_uppercase();
            let path = properties["Path"]
                .as_str()
                .unwrap_or_else(|| panic!("{id}.{event_id}: no Path"))
                .to_owned();
            let protected = match properties["Auth"]["Authorizer"].as_str() {
                Some("NONE") => false,
                Some(name) => {
                    assert!(
                        authorizers.contains(name),
                        "{id}.{event_id}: authorizer {name} is not defined on {api_id} \
                         (defined: {authorizers:?})"
                    );
                    true
                }
                None => default_authorizer.is_some(),
            };
            let route = TemplateRoute {
                function: id.to_owned(),
                binary: built_binary(id, function),
                protected,
            };
            if let Some(other) = routes.insert((method.clone(), path.clone()), route) {
                panic!(
                    "{method} {path} is routed twice: {} and {id}",
                    other.function
                );
            }
        }
    }

    for route in ROUTES {
        let key = (route.method.to_owned(), route.path.to_owned());
        let expected = route.function.binary();
        let found = routes.get(&key).unwrap_or_else(|| {
            panic!(
                "devserver::ROUTES serves {} {} but template.yaml has no HttpApi event for it",
                route.method, route.path
            )
        });
        assert_eq!(
            found.binary, expected,
            "{} {}: template.yaml routes it to {} (binary `{}`), devserver::ROUTES to `{expected}`",
            route.method, route.path, found.function, found.binary
        );
        assert_eq!(
            found.protected,
            route.protected,
            "{} {}: protected in devserver::ROUTES = {}, but in template.yaml {}",
            route.method,
            route.path,
            route.protected,
            if found.protected {
                "it names an authorizer"
            } else {
                "it names no authorizer (set Auth: Authorizer: AccessToken)"
            }
        );
    }
    for ((method, path), route) in &routes {
        assert!(
            ROUTES.iter().any(|r| r.method == method && r.path == path),
            "template.yaml routes {method} {path} to {}, but devserver::ROUTES does not serve it",
            route.function
        );
    }
    // The route keys ROUTE_PERMISSIONS may name (any other key stops the authorizer's cold
    // start) are exactly the template's.
    let template_keys: BTreeSet<String> = routes
        .keys()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    let allowed: BTreeSet<String> = cfg::API_ROUTES.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(
        allowed, template_keys,
        "shared::config::API_ROUTES must list exactly the template's route keys"
    );
    for key in &template_keys {
        assert_eq!(cfg::route_key_problem(key, cfg::API_ROUTES), None, "{key}");
    }
}

/// Every IAM statement anywhere under `value` (policy documents, `!If` branches included).
fn statements<'t>(value: &'t Value, found: &mut Vec<&'t Value>) {
    match value {
        Value::Mapping(mapping) => {
            if let Some(statement) = mapping.get("Statement") {
                match statement {
                    Value::Sequence(list) => found.extend(list),
                    single => found.push(single),
                }
            }
            for child in mapping.values() {
                statements(child, found);
            }
        }
        Value::Sequence(list) => list.iter().for_each(|child| statements(child, found)),
        Value::Tagged(tagged) => statements(&tagged.value, found),
        _ => {}
    }
}

#[test]
fn policies_are_inline_and_grant_no_wildcard_action() {
    let template = template();
    let mut all = Vec::new();
    // IAM statements only: a WAF web ACL's rules have a `Statement` of their own.
    for resource in template["Resources"]
        .as_mapping()
        .expect("template.yaml has a Resources mapping")
        .values()
        .filter(|r| r["Type"].as_str() != Some("AWS::WAFv2::WebACL"))
    {
        statements(resource, &mut all);
    }
    for (id, function) in resources(&template, FUNCTION) {
        let Some(policies) = function["Properties"]["Policies"].as_sequence() else {
            continue;
        };
        for policy in policies {
            // A managed policy or SAM policy template (a bare name, or a one-key mapping such as
            // `DynamoDBCrudPolicy: {...}`) hides its actions from this test.
            let inline = match policy {
                Value::Tagged(tagged) if tagged.tag == "If" => true,
                other => other.get("Statement").is_some(),
            };
            assert!(
                inline,
                "{id}: every policy must be an inline document with a Statement (or !If of \
                 one), not a managed policy or policy template: {policy:?}"
            );
        }
    }
    assert!(
        !all.is_empty(),
        "found no policy statement in template.yaml; the walk is broken"
    );
    for statement in all {
        assert!(
            statement.get("NotAction").is_none(),
            "NotAction grants everything it does not list: {statement:?}"
        );
        let actions: Vec<&str> = match &statement["Action"] {
            Value::Sequence(list) => list.iter().filter_map(Value::as_str).collect(),
            single => single.as_str().into_iter().collect(),
        };
        assert!(
            !actions.is_empty(),
            "a statement without a literal Action: {statement:?}"
        );
        for action in actions {
            assert!(
                !action.contains('*'),
                "policy statement grants wildcard action {action:?}: list the actions the code \
                 calls instead ({statement:?})"
            );
        }
    }
}

/// The `dynamodb:LeadingKeys` patterns of a statement's condition (any operator).
fn leading_keys(statement: &Value) -> Vec<String> {
    let Some(condition) = statement.get("Condition").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    condition
        .values()
        .filter_map(|op| op.get("dynamodb:LeadingKeys"))
        .flat_map(|keys| match keys {
            Value::Sequence(list) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            single => single
                .as_str()
                .map(str::to_owned)
                .into_iter()
                .collect::<Vec<_>>(),
        })
        .collect()
}

#[test]
fn every_table_grant_is_limited_to_the_partitions_its_function_uses() {
    let template = template();
    // Refresh tokens live in their user's partition (`USER#<id>`, `REFRESH#<hash>`): no
    // function reaches a `REFRESH#` partition any more. `USERS` is the users index's one
    // partition, `ROLES` the roles catalog's.
    let known_partitions = [
        "USER#*",
        "EMAIL#*",
        "USERNAME#*",
        "LOCKOUT#*",
        "LINK#*",
        "MAILQUOTA#*",
        "RATE#*",
        "MFACHALLENGE#*",
        "PRECONNECT",
        "ROLES",
        keys::USERS_INDEX_PARTITION,
    ];
    let users_index = format!("${{Table.Arn}}/index/{}", keys::USERS_INDEX);
    let mut checked = 0;
    for (id, function) in resources(&template, FUNCTION) {
        let mut found = Vec::new();
        statements(&function["Properties"]["Policies"], &mut found);
        for statement in found {
            let actions: Vec<&str> = match &statement["Action"] {
                Value::Sequence(list) => list.iter().filter_map(Value::as_str).collect(),
                single => single.as_str().into_iter().collect(),
            };
            if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
                continue;
            }
            checked += 1;
            let keys = leading_keys(statement);
            assert!(
                !keys.is_empty(),
                "{id}: a DynamoDB grant without a dynamodb:LeadingKeys condition: {statement:?}"
            );
            for key in &keys {
                assert!(
                    known_partitions.contains(&key.as_str()),
                    "{id}: unknown partition pattern {key:?}"
                );
            }
            // The users index is read by a Query of that index, its one partition only.
            let on_index = match &statement["Resource"] {
                Value::Tagged(tagged) if tagged.tag == "Sub" => {
                    tagged.value.as_str() == Some(users_index.as_str())
                }
                _ => false,
            };
            if on_index || keys.iter().any(|k| k == keys::USERS_INDEX_PARTITION) {
                assert!(
                    on_index
                        && keys == [keys::USERS_INDEX_PARTITION]
                        && actions == ["dynamodb:Query"],
                    "{id}: the users index is read with dynamodb:Query alone, on Resource \
                     !Sub {users_index}, LeadingKeys [{}]: {statement:?}",
                    keys::USERS_INDEX_PARTITION
                );
            }
            // The functions in front of every request, and those showing a caller their own
            // sessions, never read password hashes.
            if [
                "MeFunction",
                "AuthorizerFunction",
                "UpdateProfileFunction",
                "ListSessionsFunction",
                "EndSessionFunction",
            ]
            .contains(&id)
            {
                assert!(
                    keys.iter().all(|k| k == "USER#*"
                        || k == "PRECONNECT"
                        // The authorizer reads the role stamps (never a password hash).
                        || (id == "AuthorizerFunction" && k == "ROLES")),
                    "{id} may reach {keys:?}: only its users' partitions"
                );
            }
            if id == "UpdateProfileFunction" && actions.contains(&"dynamodb:UpdateItem") {
                let attributes =
                    &statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"];
                assert_eq!(
                    attributes,
                    &serde_norway::from_str::<Value>("[PK, SK, name]").unwrap(),
                    "update-profile may write only the name"
                );
            }
        }
    }
    assert!(
        checked >= 15,
        "only {checked} DynamoDB grants found; the walk is broken"
    );
}

/// What a private key looks like in text: PEM armour, a JWK's private member `"d"`, or a key
/// sealing TOTP secrets (`MFA_KEYS`: `kid:` and 32 bytes in base64url, 43 characters).
fn key_material(text: &str) -> Option<&'static str> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if text.contains("PRIVATE KEY") {
        Some("PRIVATE KEY")
    } else if text.contains("BEGIN") {
        Some("BEGIN (PEM armour)")
    } else if compact.contains("\"d\":") || compact.contains("\\\"d\\\":") {
        Some("a JWK \"d\" member (private key)")
    } else if has_sealing_key(text) {
        Some("a sealing key (kid:<32 bytes in base64url>, as MFA_KEYS holds)")
    } else {
        None
    }
}

/// Whether `text` holds a `kid:key` pair whose key is 32 bytes in base64 or base64url (43
/// characters without padding), the format of `MFA_KEYS`.
fn has_sealing_key(text: &str) -> bool {
    let base64 = |c: char| c.is_ascii_alphanumeric() || "-_+/".contains(c);
    text.split(|c: char| !(base64(c) || c == ':'))
        .filter_map(|token| token.rsplit_once(':'))
        .any(|(kid, key)| !kid.is_empty() && key.len() == 43 && key.chars().all(base64))
}

#[test]
fn no_parameter_default_or_deploy_setting_holds_key_material() {
    let template = template();
    let parameters = template["Parameters"]
        .as_mapping()
        .expect("template.yaml has Parameters");
    for (name, parameter) in parameters {
        let Some(default) = parameter.get("Default") else {
            continue;
        };
        let text = match default {
            Value::String(s) => s.clone(),
            other => serde_norway::to_string(other).unwrap(),
        };
        if let Some(what) = key_material(&text) {
            panic!(
                "parameter {} has a default containing {what}; secrets never live in the \
                 template (the signing key is an SSM parameter, only its name is a parameter)",
                name.as_str().unwrap_or("?")
            );
        }
    }
    let samconfig = read("samconfig.toml");
    if let Some(what) = key_material(&samconfig) {
        panic!("samconfig.toml contains {what}; secrets never live in deploy settings");
    }
    // The check itself recognises key material.
    assert!(key_material("-----BEGIN PRIVATE KEY-----").is_some());
    assert!(key_material(r#"{"keys":[{"kty":"OKP","d" : "secret"}]}"#).is_some());
    assert!(key_material(r#"{"keys":[{"kty":"OKP","x":"public"}]}"#).is_none());
    let sealing_key = "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    assert!(key_material(sealing_key).is_some());
    assert!(key_material(&format!("k3:{}=,{sealing_key}", &sealing_key[3..])).is_some());
    assert!(key_material(&format!("MfaKeysParameter={sealing_key}")).is_some());
    assert!(key_material("/auth-service/mfa-keys").is_none());
    assert!(key_material("Issuer=https://auth.example.com").is_none());

    // The sealing keys' parameter defaults to a name, as the signing key's does: same pattern.
    let names = &template["Parameters"]["SigningKeyParameterName"]["AllowedPattern"];
    assert!(
        names.is_string(),
        "SigningKeyParameterName has no AllowedPattern"
    );
    assert_eq!(
        &template["Parameters"]["MfaKeysParameter"]["AllowedPattern"], names,
        "MfaKeysParameter takes an SSM parameter name, as SigningKeyParameterName does"
    );
    let default = parameter_value(&template, "MfaKeysParameter", "Default");
    assert!(
        default.starts_with('/') && !default.contains(':') && !default.contains(','),
        "MfaKeysParameter must default to a parameter name, not {default:?}"
    );
}

#[test]
fn the_table_matches_the_schema_the_code_uses() {
    let template = template();
    let tables = resources(&template, "AWS::DynamoDB::Table");
    assert_eq!(
        tables.len(),
        1,
        "template.yaml must define exactly one table"
    );
    let (id, table) = tables[0];
    let properties = &table["Properties"];

    let key_schema: Vec<(&str, &str)> = properties["KeySchema"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{id}: no KeySchema"))
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap_or("?"),
                k["KeyType"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        key_schema,
        [(schema::PARTITION_KEY, "HASH"), (schema::SORT_KEY, "RANGE")],
        "{id}: KeySchema differs from shared::store::schema"
    );

    // ensure_table declares the key attributes of the table and of its index as strings, and
    // nothing else.
    let attributes: BTreeMap<&str, &str> = properties["AttributeDefinitions"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{id}: no AttributeDefinitions"))
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or("?"),
                a["AttributeType"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        attributes,
        BTreeMap::from([
            (schema::PARTITION_KEY, "S"),
            (schema::SORT_KEY, "S"),
            (keys::USERS_INDEX_PK, "S"),
            (keys::USERS_INDEX_SK, "S"),
        ]),
        "{id}: AttributeDefinitions differ from shared::store::schema"
    );

    let ttl = &properties["TimeToLiveSpecification"];
    assert_eq!(
        (ttl["AttributeName"].as_str(), ttl["Enabled"].as_bool()),
        (Some(schema::TTL_ATTRIBUTE), Some(true)),
        "{id}: TTL must be enabled on shared::store::schema::TTL_ATTRIBUTE"
    );

    let indexes: Vec<&str> = properties["GlobalSecondaryIndexes"]
        .as_sequence()
        .map(|list| {
            list.iter()
                .map(|index| index["IndexName"].as_str().unwrap_or("?"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        indexes,
        schema::GLOBAL_SECONDARY_INDEXES,
        "{id}: GlobalSecondaryIndexes differ from shared::store::schema"
    );
    // The users index: its keys and the attributes it projects, as ensure_table makes it.
    let index = properties["GlobalSecondaryIndexes"]
        .as_sequence()
        .and_then(|list| {
            list.iter()
                .find(|index| index["IndexName"].as_str() == Some(keys::USERS_INDEX))
        })
        .unwrap_or_else(|| panic!("{id}: no index {}", keys::USERS_INDEX));
    let index_keys: Vec<(&str, &str)> = index["KeySchema"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{id}: {} has no KeySchema", keys::USERS_INDEX))
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap_or("?"),
                k["KeyType"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        index_keys,
        [
            (keys::USERS_INDEX_PK, "HASH"),
            (keys::USERS_INDEX_SK, "RANGE")
        ],
        "{id}: {}'s KeySchema differs from shared::store::schema",
        keys::USERS_INDEX
    );
    let projection = &index["Projection"];
    let projected: Vec<&str> = projection["NonKeyAttributes"]
        .as_sequence()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        (projection["ProjectionType"].as_str(), projected.as_slice()),
        (Some("INCLUDE"), keys::USERS_INDEX_PROJECTION),
        "{id}: {} must project (INCLUDE) exactly shared::store::keys::USERS_INDEX_PROJECTION, \
         in its order",
        keys::USERS_INDEX
    );
    assert!(
        index.get("ProvisionedThroughput").is_none()
            && properties["BillingMode"].as_str() == Some("PAY_PER_REQUEST"),
        "{id}: an on-demand table, its index without throughput of its own"
    );
    assert!(
        properties.get("LocalSecondaryIndexes").is_none(),
        "{id}: ensure_table creates no local secondary index"
    );
}

#[test]
fn every_environment_variable_is_one_the_code_reads() {
    let known: BTreeSet<&str> = [
        cfg::TABLE_NAME,
        cfg::DYNAMODB_ENDPOINT_URL,
        cfg::DYNAMODB_PRECONNECT,
        cfg::JWT_ISSUER,
        cfg::JWT_AUDIENCE,
        cfg::JWT_CLIENT_ID,
        cfg::JWT_SIGNING_KEY,
        cfg::JWT_SIGNING_KEY_PARAMETER,
        cfg::JWT_PUBLIC_JWKS,
        cfg::JWT_LEEWAY_SECONDS,
        cfg::ACCESS_TOKEN_TTL_SECONDS,
        cfg::SESSION_TTL_SECONDS,
        cfg::REFRESH_REUSE_GRACE_SECONDS,
        cfg::SESSION_IDLE_SECONDS,
        cfg::MAX_SESSIONS_PER_USER,
        cfg::ARGON2_MEMORY_KIB,
        cfg::ARGON2_ITERATIONS,
        cfg::ARGON2_PARALLELISM,
        cfg::LOG_LEVEL,
        cfg::LOCKOUT_MAX_FAILURES,
        cfg::LOCKOUT_WINDOW_SECONDS,
        cfg::REVOCATION_CHECK,
        cfg::SES_ENDPOINT_URL,
        cfg::MAIL_FROM,
        cfg::PRODUCT_NAME,
        cfg::APP_BASE_URL,
        cfg::RESET_PATH,
        cfg::VERIFY_PATH,
        cfg::CONFIRM_EMAIL_PATH,
        cfg::RESET_LINK_TTL_SECONDS,
        cfg::VERIFY_LINK_TTL_SECONDS,
        cfg::EMAIL_CHANGE_LINK_TTL_SECONDS,
        cfg::RESET_MAX_PER_HOUR,
        cfg::REQUIRE_VERIFIED_EMAIL,
        cfg::MFA_ISSUER,
        cfg::MFA_KEYS,
        cfg::MFA_KEYS_PARAMETER,
        cfg::ROUTE_PERMISSIONS,
        cfg::ADMIN_REQUIRE_MFA,
        cfg::CORS_ALLOWED_ORIGINS,
        cfg::SOURCE_LIMITS,
        cfg::SOURCE_LIMIT_LOGIN,
        cfg::SOURCE_LIMIT_REGISTER,
        cfg::SOURCE_LIMIT_RECOVERY,
        cfg::REGISTRATION_MAILS_PER_HOUR,
        cfg::METRICS_NAMESPACE,
        cfg::SIMPLEJWT_COMPAT,
    ]
    .into();
    let template = template();
    let mut owners = vec![("Globals", &template["Globals"]["Function"])];
    owners.extend(
        resources(&template, FUNCTION)
            .into_iter()
            .map(|(id, f)| (id, &f["Properties"])),
    );
    for (id, owner) in owners {
        let Some(variables) = owner["Environment"]["Variables"].as_mapping() else {
            continue;
        };
        for name in variables.keys().filter_map(Value::as_str) {
            assert!(
                known.contains(name),
                "{id} sets {name}, which shared::config does not read (a typo?)"
            );
        }
    }
}

/// The literal actions of a policy statement.
fn actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::Sequence(list) => list.iter().filter_map(Value::as_str).collect(),
        single => single.as_str().into_iter().collect(),
    }
}

/// The parameter a `!Ref` names.
fn ref_name(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        _ => None,
    }
}

/// The binaries that send mail (and so need `ses:SendEmail` and the mail settings): the links,
/// and the security notices (a password changed or reset, two-factor off, new recovery codes,
/// factors removed by an administrator).
const MAIL_SENDERS: [&str; 9] = [
    "register",
    "forgot-password",
    "resend-verification",
    "change-email",
    "change-password",
    "reset-password",
    "mfa-disable",
    "mfa-recovery-codes",
    "admin-remove-mfa",
];

/// The one SES resource a function may send as: the identity named by `MailFromIdentity`.
const SES_IDENTITY_ARN: &str =
    "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${MailFromIdentity}";

#[test]
fn only_the_mail_senders_may_send_mail_and_only_as_the_configured_identity() {
    let template = template();
    let parameters = &template["Parameters"];
    for name in ["MailFrom", "MailFromIdentity"] {
        assert!(
            parameters.get(name).is_some(),
            "template.yaml has no {name} parameter"
        );
    }
    let is_ses = |action: &&str| action.to_ascii_lowercase().starts_with("ses:");

    let mut senders = BTreeSet::new();
    let mut ses_statements_in_functions = 0;
    for (id, function) in resources(&template, FUNCTION) {
        let binary = built_binary(id, function);
        let mut found = Vec::new();
        statements(&function["Properties"]["Policies"], &mut found);
        for statement in found {
            let actions = actions(statement);
            if !actions.iter().any(is_ses) {
                continue;
            }
            ses_statements_in_functions += 1;
            assert!(
                MAIL_SENDERS.contains(&binary.as_str()),
                "{id} may call {actions:?}, but {binary} sends no mail: only {MAIL_SENDERS:?} may"
            );
            assert_eq!(
                actions,
                ["ses:SendEmail"],
                "{id}: the SES grant is ses:SendEmail alone, in a statement of its own"
            );
            assert_eq!(
                statement["Effect"].as_str(),
                Some("Allow"),
                "{id}: {statement:?}"
            );
            assert!(
                statement.get("NotResource").is_none(),
                "{id}: NotResource grants every other identity: {statement:?}"
            );
            let resource = match &statement["Resource"] {
                Value::Tagged(tagged) if tagged.tag == "Sub" => tagged.value.as_str(),
                _ => None,
            };
            assert_eq!(
                resource,
                Some(SES_IDENTITY_ARN),
                "{id}: ses:SendEmail must be limited to the MailFromIdentity identity \
                 (Resource: !Sub {SES_IDENTITY_ARN}), not \"*\" or a list: {statement:?}"
            );
            // The sender address too: the grant cannot send as another address of the domain.
            assert_eq!(
                ref_name(&statement["Condition"]["StringEquals"]["ses:FromAddress"]),
                Some("MailFrom"),
                "{id}: ses:SendEmail must be conditioned on ses:FromAddress = !Ref MailFrom"
            );
            senders.insert(binary.clone());
        }

        // A mail sender needs its sender and link base (required settings: the cold start
        // fails without them); nothing else gets them.
        let variables = &function["Properties"]["Environment"]["Variables"];
        let sends = MAIL_SENDERS.contains(&binary.as_str());
        for (variable, parameter) in [
            (cfg::MAIL_FROM, "MailFrom"),
            (cfg::APP_BASE_URL, "AppBaseUrl"),
            (cfg::PRODUCT_NAME, "ProductName"),
        ] {
            let set = variables.get(variable).map(ref_name);
            if sends {
                assert_eq!(
                    set,
                    Some(Some(parameter)),
                    "{id} sends mail: it must set {variable}: !Ref {parameter}"
                );
            } else {
                assert!(set.is_none(), "{id} sends no mail, yet sets {variable}");
            }
        }
    }
    assert_eq!(
        senders,
        MAIL_SENDERS.iter().map(|b| (*b).to_owned()).collect(),
        "exactly the mail-sending functions hold ses:SendEmail"
    );

    // No SES grant hides elsewhere (a role or policy resource of its own).
    let mut all = Vec::new();
    statements(&template, &mut all);
    let everywhere = all
        .iter()
        .filter(|statement| actions(statement).iter().any(is_ses))
        .count();
    assert_eq!(
        everywhere, ses_statements_in_functions,
        "an SES grant outside the functions' own policies"
    );
}

/// The routes whose function runs Argon2id (it reads the Argon2 settings) are throttled like
/// the password routes and get login's memory; so are, for their throttling, the routes that
/// check a two-factor code (the functions reading the sealing keys: a six-digit code is
/// guessable); the other routes that send mail are throttled too (each request may cost an SES
/// message).
#[test]
fn costly_routes_are_throttled_at_the_edge() {
    let template = template();
    let apis = resources(&template, "AWS::Serverless::HttpApi");
    let (_, api) = apis[0];
    let settings = &api["Properties"]["RouteSettings"];
    let login_memory = template["Resources"]["LoginFunction"]["Properties"]["MemorySize"]
        .as_u64()
        .expect("LoginFunction has a MemorySize");
    for (id, function) in resources(&template, FUNCTION) {
        let binary = built_binary(id, function);
        let properties = &function["Properties"];
        let hashes = properties["Environment"]["Variables"]
            .get(cfg::ARGON2_MEMORY_KIB)
            .is_some();
        let checks_codes = properties["Environment"]["Variables"]
            .get(cfg::MFA_KEYS_PARAMETER)
            .is_some();
        let sends = MAIL_SENDERS.contains(&binary.as_str());
        if hashes {
            assert!(
                properties["MemorySize"].as_u64() >= Some(login_memory),
                "{id} runs Argon2id: it needs login's memory ({login_memory} MB) for login's CPU"
            );
        }
        let Some(events) = properties["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            let route = format!(
                "{} {}",
                event["Properties"]["Method"]
                    .as_str()
                    .unwrap_or("?")
                    .to_uppercase(),
                event["Properties"]["Path"].as_str().unwrap_or("?")
            );
            let rate = ref_name(&settings[route.as_str()]["ThrottlingRateLimit"]);
            let burst = ref_name(&settings[route.as_str()]["ThrottlingBurstLimit"]);
            if hashes {
                assert_eq!(
                    (rate, burst),
                    (
                        Some("PasswordRouteRateLimit"),
                        Some("PasswordRouteBurstLimit")
                    ),
                    "{route} ({id}) runs Argon2id: RouteSettings must throttle it like the \
                     password routes"
                );
            } else if checks_codes {
                assert_eq!(
                    (rate, burst),
                    (
                        Some("PasswordRouteRateLimit"),
                        Some("PasswordRouteBurstLimit")
                    ),
                    "{route} ({id}) checks a two-factor code: RouteSettings must throttle it like \
                     the password routes"
                );
            } else if sends {
                assert_eq!(
                    (rate, burst),
                    (Some("MailRouteRateLimit"), Some("MailRouteBurstLimit")),
                    "{route} ({id}) sends mail: RouteSettings must throttle it like the mail \
                     routes"
                );
            }
        }
    }
}

/// A parameter's `Default`, `MinValue` or `MaxValue`, as the text an environment variable holds.
fn parameter_value(template: &Value, name: &str, field: &str) -> String {
    match &template["Parameters"][name][field] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("parameter {name} has no {field} (found {other:?})"),
    }
}

/// The parameter every function passes as `variable` (all functions that set it must agree).
fn parameter_of(template: &Value, variable: &str) -> String {
    let mut names = BTreeSet::new();
    for (_, function) in resources(template, FUNCTION) {
        if let Some(value) = function["Properties"]["Environment"]["Variables"].get(variable) {
            names.insert(
                ref_name(value)
                    .unwrap_or_else(|| panic!("{variable} must be a !Ref of a parameter"))
                    .to_owned(),
            );
        }
    }
    assert_eq!(
        names.len(),
        1,
        "{variable} must come from one parameter, found {names:?}"
    );
    names.pop_first().unwrap()
}

fn source(pairs: &[(&str, String)]) -> std::collections::HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn mail_and_link_parameters_are_values_the_code_accepts() {
    let template = template();

    // The defaults of the mail parameters make valid mail settings, equal to the code's own
    // defaults where it has one.
    let mail_variables = [
        cfg::MAIL_FROM,
        cfg::PRODUCT_NAME,
        cfg::APP_BASE_URL,
        cfg::RESET_PATH,
        cfg::VERIFY_PATH,
        cfg::CONFIRM_EMAIL_PATH,
    ];
    let defaults: Vec<(&str, String)> = mail_variables
        .iter()
        .map(|v| {
            (
                *v,
                parameter_value(&template, &parameter_of(&template, v), "Default"),
            )
        })
        .collect();
    let mail = cfg::MailSettings::from_source(&source(&defaults))
        .unwrap_or_else(|e| panic!("the mail parameters' defaults are refused: {e}"));
    let code_defaults = cfg::MailSettings::from_source(&source(&[
        (cfg::MAIL_FROM, mail.from.clone()),
        (cfg::APP_BASE_URL, mail.app_base_url.clone()),
    ]))
    .unwrap();
    assert_eq!(
        mail, code_defaults,
        "ProductName and the path parameters must default to the code's defaults"
    );

    // Link lifetimes and the hourly limit: the template's default and bounds are the code's.
    let code = cfg::LinkSettings::default();
    for (variable, code_default) in [
        (cfg::RESET_LINK_TTL_SECONDS, code.reset_ttl),
        (cfg::VERIFY_LINK_TTL_SECONDS, code.verify_ttl),
        (cfg::EMAIL_CHANGE_LINK_TTL_SECONDS, code.email_change_ttl),
        (cfg::RESET_MAX_PER_HOUR, code.max_per_hour),
    ] {
        let parameter = parameter_of(&template, variable);
        let value = |field: &str| -> i64 {
            parameter_value(&template, &parameter, field)
                .parse()
                .unwrap_or_else(|_| panic!("{parameter}.{field} is not a whole number"))
        };
        assert_eq!(
            value("Default"),
            code_default,
            "{parameter}'s Default differs from the code's default of {variable}"
        );
        let accepts =
            |n: i64| cfg::LinkSettings::from_source(&source(&[(variable, n.to_string())])).is_ok();
        let (min, max) = (value("MinValue"), value("MaxValue"));
        assert!(
            accepts(min) && accepts(max),
            "{parameter} allows {min}..={max}, the code refuses an end of it ({variable})"
        );
        assert!(
            !accepts(min - 1) && !accepts(max + 1),
            "{parameter} allows only {min}..={max}, but the code accepts more ({variable}): \
             keep the bounds equal"
        );
    }

    // REQUIRE_VERIFIED_EMAIL: every allowed value is one the code reads, the default false.
    let parameter = parameter_of(&template, cfg::REQUIRE_VERIFIED_EMAIL);
    let allowed: Vec<String> = template["Parameters"][parameter.as_str()]["AllowedValues"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{parameter} has no AllowedValues"))
        .iter()
        .map(|v| v.as_str().expect("string values").to_owned())
        .collect();
    for value in &allowed {
        assert!(
            cfg::require_verified_email(&source(&[(cfg::REQUIRE_VERIFIED_EMAIL, value.clone())]))
                .is_ok(),
            "{parameter} allows {value:?}, which the code refuses"
        );
    }
    let default = parameter_value(&template, &parameter, "Default");
    assert_eq!(
        cfg::require_verified_email(&source(&[(cfg::REQUIRE_VERIFIED_EMAIL, default)])),
        Ok(false),
        "{parameter} must default to false"
    );
}

/// The binaries of the two-factor functions: the only ones that may read the keys sealing TOTP
/// secrets.
const MFA_FUNCTIONS: [&str; 5] = [
    "mfa-enroll",
    "mfa-confirm",
    "mfa-disable",
    "mfa-recovery-codes",
    "mfa-verify",
];

/// The binaries that sign access tokens: the only ones that may read the signing key.
const TOKEN_SIGNERS: [&str; 3] = ["login", "refresh", "mfa-verify"];

/// The secrets in SSM Parameter Store (SecureStrings the deployer creates): the parameter
/// naming each, the variable passing that name to a function, the condition choosing the ARN's
/// form, the binaries that may read it, and the variable holding the secret itself (declared
/// empty beside the name, for `sam local invoke --env-vars`).
const SECRETS: [(&str, &str, &str, &[&str], &str); 2] = [
    (
        "SigningKeyParameterName",
        cfg::JWT_SIGNING_KEY_PARAMETER,
        "SigningKeyNameHasLeadingSlash",
        &TOKEN_SIGNERS,
        cfg::JWT_SIGNING_KEY,
    ),
    (
        "MfaKeysParameter",
        cfg::MFA_KEYS_PARAMETER,
        "MfaKeysNameHasLeadingSlash",
        &MFA_FUNCTIONS,
        cfg::MFA_KEYS,
    ),
];

/// Whether a variable's value is the empty literal `""` (not a `!Ref`, not any other value).
fn is_empty_literal(value: &Value) -> bool {
    matches!(value, Value::String(s) if s.is_empty())
}

/// How the code reads a secret from a function's environment: with the template's values (the
/// name from the parameter's default, the secret's own variable empty) it must read the SSM
/// parameter; with a local env-vars file's (the secret given, the name emptied) the secret.
fn check_secret_sources(id: &str, inline: &str, variable: &str, name: &str) {
    let aws = source(&[(variable, name.to_owned()), (inline, String::new())]);
    let local = source(&[
        (variable, String::new()),
        (inline, "development value".to_owned()),
    ]);
    let refused = |what: &str, e: cfg::ConfigError| -> bool {
        panic!("{id}: the code refuses the {what} form of {inline}/{variable}: {e}")
    };
    let (on_aws, locally) = match inline {
        cfg::JWT_SIGNING_KEY => (
            cfg::SigningKeySource::from_source(&aws).map_or_else(
                |e| refused("AWS", e),
                |s| s == cfg::SigningKeySource::SsmParameter(name.to_owned()),
            ),
            cfg::SigningKeySource::from_source(&local).map_or_else(
                |e| refused("local", e),
                |s| matches!(s, cfg::SigningKeySource::Pem(_)),
            ),
        ),
        cfg::MFA_KEYS => (
            cfg::MfaSettings::from_source(&aws).map_or_else(
                |e| refused("AWS", e),
                |s| s.keys == cfg::MfaKeysSource::SsmParameter(name.to_owned()),
            ),
            cfg::MfaSettings::from_source(&local).map_or_else(
                |e| refused("local", e),
                |s| matches!(s.keys, cfg::MfaKeysSource::Inline(_)),
            ),
        ),
        other => panic!("no check of how the code reads {other}"),
    };
    assert!(
        on_aws,
        "{id}: with {inline}: \"\" and {variable} set, the code must read the SSM parameter \
         (empty means unset)"
    );
    assert!(
        locally,
        "{id}: with {inline} set and {variable}: \"\", the code must use {inline} itself"
    );
}

/// Which secret's parameter an SSM grant's `Resource` is, if it is exactly
/// `!If [<condition>, !Sub <arn>:parameter${P}, !Sub <arn>:parameter/${P}]` for one of
/// [`SECRETS`]: one parameter's ARN, whether its name starts with a slash or not.
fn secret_of(resource: &Value) -> Option<&'static str> {
    let Value::Tagged(tagged) = resource else {
        return None;
    };
    if tagged.tag != "If" {
        return None;
    }
    let [condition, with_slash, without_slash] = tagged.value.as_sequence()?.as_slice() else {
        return None;
    };
    let sub = |value: &Value| match value {
        Value::Tagged(tagged) if tagged.tag == "Sub" => tagged.value.as_str().map(str::to_owned),
        _ => None,
    };
    let arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter";
    SECRETS
        .iter()
        .find(|(parameter, _, name_condition, ..)| {
            condition.as_str() == Some(*name_condition)
                && sub(with_slash) == Some(format!("{arn}${{{parameter}}}"))
                && sub(without_slash) == Some(format!("{arn}/${{{parameter}}}"))
        })
        .map(|(parameter, ..)| *parameter)
}

/// The parameters every `!Ref` under `value` names.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => {
            found.extend(tagged.value.as_str().map(str::to_owned));
        }
        Value::Tagged(tagged) => refs(&tagged.value, found),
        Value::Sequence(list) => list.iter().for_each(|child| refs(child, found)),
        Value::Mapping(mapping) => mapping.values().for_each(|child| refs(child, found)),
        _ => {}
    }
}

#[test]
fn only_the_functions_that_use_a_secret_may_read_it_and_none_holds_it_in_its_environment() {
    let template = template();
    let is_ssm = |action: &&str| action.to_ascii_lowercase().starts_with("ssm:");
    let is_kms = |action: &&str| action.to_ascii_lowercase().starts_with("kms:");

    let mut readers: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut ssm_statements_in_functions = 0;
    for (id, function) in resources(&template, FUNCTION) {
        let binary = built_binary(id, function);
        let variables = &function["Properties"]["Environment"]["Variables"];
        let mut told = BTreeSet::new();
        for (parameter, variable, _, _, inline) in SECRETS {
            let named = variables.get(variable);
            if let Some(value) = named {
                assert_eq!(
                    ref_name(value),
                    Some(parameter),
                    "{id}: {variable} must be !Ref {parameter}"
                );
                told.insert(parameter);
            }
            // On AWS a secret stays in SSM: a function gets its parameter's name, never the
            // value. The value's variable is declared beside the name, as the empty literal
            // (unset for the code), only so that `sam local invoke --env-vars`, which sets
            // declared variables alone, can give a development key where there is no SSM.
            match variables.get(inline) {
                Some(value) => {
                    assert!(
                        is_empty_literal(value),
                        "{id} sets {inline} to {value:?}: the secret belongs in SSM, the \
                         function gets its parameter's name; the template may declare {inline} \
                         only as the empty literal \"\" (for sam local)"
                    );
                    assert!(
                        named.is_some(),
                        "{id} declares {inline} but is not given {variable}: only the functions \
                         that read the secret declare it"
                    );
                }
                None => assert!(
                    named.is_none(),
                    "{id} is given {variable} but does not declare {inline}: \"\" (sam local \
                     invoke --env-vars can set only declared variables)"
                ),
            }
            if named.is_some() {
                let name = parameter_value(&template, parameter, "Default");
                check_secret_sources(id, inline, variable, &name);
            }
        }

        let mut found = Vec::new();
        statements(&function["Properties"]["Policies"], &mut found);
        let mut reads = BTreeSet::new();
        for statement in found {
            let actions = actions(statement);
            if !actions.iter().any(is_ssm) {
                continue;
            }
            ssm_statements_in_functions += 1;
            assert_eq!(
                actions,
                ["ssm:GetParameter"],
                "{id}: an SSM grant is ssm:GetParameter alone, in a statement of its own (no \
                 GetParameters, no reads by path): {statement:?}"
            );
            assert_eq!(
                statement["Effect"].as_str(),
                Some("Allow"),
                "{id}: {statement:?}"
            );
            assert!(
                statement.get("NotResource").is_none() && statement.get("Condition").is_none(),
                "{id}: an SSM grant names its parameter in Resource, nothing else: {statement:?}"
            );
            let parameter = secret_of(&statement["Resource"]).unwrap_or_else(|| {
                panic!(
                    "{id}: ssm:GetParameter must be limited to one secret parameter's ARN \
                     (Resource: !If [<Name>HasLeadingSlash, ...parameter${{P}}, \
                     ...parameter/${{P}}] for P in {:?}), not {:?}",
                    SECRETS.map(|(parameter, ..)| parameter),
                    statement["Resource"]
                )
            });
            assert!(reads.insert(parameter), "{id} is granted {parameter} twice");
        }
        assert_eq!(
            reads, told,
            "{id}: the secrets a function may read are exactly those whose parameter name it \
             is given"
        );
        for parameter in reads {
            readers.entry(parameter).or_default().insert(binary.clone());
        }
    }

    // Globals would hand a secret's name, or its value, to every function, past the checks above.
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    for (_, variable, _, _, inline) in SECRETS {
        for name in [variable, inline] {
            assert!(
                globals.get(name).is_none(),
                "Globals.Function sets {name}: only the functions that read the secret may"
            );
        }
    }

    for (parameter, variable, condition, expected, _) in SECRETS {
        assert_eq!(
            readers.get(parameter).cloned().unwrap_or_default(),
            expected.iter().map(|b| (*b).to_owned()).collect(),
            "exactly {expected:?} may read {parameter} (and get {variable})"
        );
        // The ARN's form follows the parameter's own name.
        let chooser = &template["Conditions"][condition];
        let mut named = Vec::new();
        refs(chooser, &mut named);
        assert!(
            matches!(chooser, Value::Tagged(tagged) if tagged.tag == "Equals")
                && named == [parameter],
            "Conditions.{condition} must test whether {parameter} starts with a slash \
             (!Equals [!Select [0, !Split [\"/\", !Ref {parameter}]], \"\"]): {chooser:?}"
        );
    }

    // No SSM grant hides elsewhere (a role or policy resource of its own).
    let mut all = Vec::new();
    statements(&template, &mut all);
    let everywhere = all
        .iter()
        .filter(|statement| actions(statement).iter().any(is_ssm))
        .count();
    assert_eq!(
        everywhere, ssm_statements_in_functions,
        "an SSM grant outside the functions' own policies"
    );
    // Both SecureStrings are encrypted with the account's aws/ssm key, which SSM uses for any
    // reader allowed ssm:GetParameter, without an IAM grant of its own (docs/deploy.md). A
    // customer managed key would need kms:Decrypt on that key alone, for the same readers.
    let kms: Vec<_> = all
        .iter()
        .filter(|statement| actions(statement).iter().any(is_kms))
        .collect();
    assert!(
        kms.is_empty(),
        "a KMS grant, while both secrets use the aws/ssm key: if a customer managed key \
         replaces it, grant kms:Decrypt on that key to the readers above and check it here: \
         {kms:?}"
    );
}

#[test]
fn two_factor_parameters_are_values_the_code_accepts() {
    let template = template();
    let issuer = parameter_of(&template, cfg::MFA_ISSUER);
    let keys = parameter_of(&template, cfg::MFA_KEYS_PARAMETER);
    let default = |parameter: &str| parameter_value(&template, parameter, "Default");

    for (id, function) in resources(&template, FUNCTION) {
        let binary = built_binary(id, function);
        let variables = &function["Properties"]["Environment"]["Variables"];
        let two_factor = MFA_FUNCTIONS.contains(&binary.as_str());
        assert_eq!(
            variables.get(cfg::MFA_KEYS_PARAMETER).is_some(),
            two_factor,
            "{id}: the two-factor functions {MFA_FUNCTIONS:?}, and only they, get {}",
            cfg::MFA_KEYS_PARAMETER
        );
        // The issuer goes where the otpauth URI is made.
        assert_eq!(
            variables.get(cfg::MFA_ISSUER).is_some(),
            binary == "mfa-enroll",
            "{id}: only mfa-enroll makes otpauth URIs and gets {}",
            cfg::MFA_ISSUER
        );
        if !two_factor {
            continue;
        }
        // Its environment, with the parameters' defaults, makes valid two-factor settings.
        let mut environment = Vec::new();
        for variable in [cfg::MFA_ISSUER, cfg::MFA_KEYS_PARAMETER] {
            if let Some(value) = variables.get(variable) {
                let parameter = ref_name(value)
                    .unwrap_or_else(|| panic!("{id}: {variable} must be a !Ref of a parameter"));
                environment.push((variable, default(parameter)));
            }
        }
        // The sealing keys' own variable, declared empty for sam local, is unset for the code.
        if let Some(Value::String(keys)) = variables.get(cfg::MFA_KEYS) {
            environment.push((cfg::MFA_KEYS, keys.clone()));
        }
        let settings = cfg::MfaSettings::from_source(&source(&environment))
            .unwrap_or_else(|e| panic!("{id}: the code refuses its two-factor settings: {e}"));
        assert_eq!(
            settings.keys,
            cfg::MfaKeysSource::SsmParameter(default(&keys)),
            "{id} reads the sealing keys from the parameter {keys} names"
        );
    }

    // MfaIssuer defaults to the code's own default, and that default fits its pattern.
    let code_default =
        cfg::MfaSettings::from_source(&source(&[(cfg::MFA_KEYS_PARAMETER, default(&keys))]))
            .unwrap()
            .issuer;
    assert_eq!(
        default(&issuer),
        code_default,
        "{issuer}'s Default differs from the code's default of {}",
        cfg::MFA_ISSUER
    );
    assert!(
        !code_default.contains(':'),
        "{issuer} allows no colon (the otpauth label's separator), but the code's default has one"
    );
}

#[test]
fn every_function_that_reads_the_table_may_make_its_preconnect_read() {
    // With DynamoDbPreconnect=on, every function with a table grant makes one GetItem of the
    // PRECONNECT partition at cold start; without its grant that read is denied and the
    // setting does nothing for the function.
    let template = template();
    for (id, function) in resources(&template, FUNCTION) {
        let mut found = Vec::new();
        statements(&function["Properties"]["Policies"], &mut found);
        let table = found.iter().any(|s| {
            s["Action"].as_sequence().is_some_and(|a| {
                a.iter()
                    .any(|a| a.as_str().is_some_and(|a| a.starts_with("dynamodb:")))
            })
        });
        if !table {
            continue;
        }
        let preconnect = found.iter().any(|s| {
            s["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
                .as_sequence()
                .is_some_and(|keys| keys.iter().any(|k| k.as_str() == Some("PRECONNECT")))
                && s["Action"]
                    .as_sequence()
                    .is_some_and(|a| a.iter().any(|a| a.as_str() == Some("dynamodb:GetItem")))
        });
        assert!(
            preconnect,
            "{id} reads the table but may not make its preconnect read"
        );
    }
}

/// The DynamoDB actions a function's policies grant, each with the partitions (its
/// statement's `dynamodb:LeadingKeys`) it is granted on.
fn table_grants(function: &Value) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    statements(&function["Properties"]["Policies"], &mut found);
    found
        .into_iter()
        .flat_map(|statement| {
            let keys = leading_keys(statement);
            actions(statement)
                .into_iter()
                .filter(|action| action.starts_with("dynamodb:"))
                .map(move |action| (action.to_owned(), keys.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The administration functions (`Admin…Function`), with their resources.
fn admin_functions(template: &Value) -> Vec<(&str, &Value)> {
    let admins: Vec<_> = resources(template, FUNCTION)
        .into_iter()
        .filter(|(id, _)| id.starts_with("Admin"))
        .collect();
    assert!(
        admins.len() >= 8,
        "found only {} Admin*Function resources; the walk is broken",
        admins.len()
    );
    admins
}

#[test]
fn only_admin_delete_user_may_batch_write_and_only_it_among_the_admin_functions_may_delete() {
    // BatchWriteItem writes or deletes any item of the partitions it is granted without a
    // condition: only the erasure of a user needs it. Among the administration functions,
    // which change accounts and the roles catalog by conditional updates and whole-catalog
    // Puts, only the erasure deletes an item.
    let template = template();
    let mut batch_writers = BTreeSet::new();
    for (id, function) in resources(&template, FUNCTION) {
        for (action, keys) in table_grants(function) {
            if action == "dynamodb:BatchWriteItem" {
                assert!(
                    !keys.iter().any(|k| k == "EMAIL#*" || k == "ROLES"),
                    "{id}: BatchWriteItem must not reach the credentials or the roles catalog \
                     (they change in conditional transactions): {keys:?}"
                );
                batch_writers.insert(id);
            }
        }
    }
    assert_eq!(
        batch_writers,
        BTreeSet::from(["AdminDeleteUserFunction"]),
        "exactly AdminDeleteUserFunction may use dynamodb:BatchWriteItem"
    );

    let mut deleters = BTreeSet::new();
    for (id, function) in admin_functions(&template) {
        for (action, keys) in table_grants(function) {
            if action == "dynamodb:DeleteItem" {
                assert!(
                    !keys.iter().any(|k| k == "ROLES"),
                    "{id}: the roles catalog is never deleted, only replaced: {keys:?}"
                );
                if id == "AdminRemoveMfaFunction" {
                    // The removal of second factors deletes the MFA and RECOVERY items of
                    // the user's own partition, nothing else.
                    assert_eq!(keys, ["USER#*"], "{id}");
                }
                deleters.insert(id);
            }
        }
    }
    assert_eq!(
        deleters,
        BTreeSet::from(["AdminDeleteUserFunction", "AdminRemoveMfaFunction"]),
        "among the administration functions only AdminDeleteUserFunction (and \
         AdminRemoveMfaFunction, in the user's partition) may use dynamodb:DeleteItem"
    );
}

#[test]
fn the_admin_functions_never_read_password_hashes_but_for_the_lookup_by_email() {
    // EMAIL# items hold the password hashes. An administrator's read of a user goes through
    // the profile and the users index, which hold none; only `GET /admin/users?email=` reads
    // an address's credentials (for its user id), with GetItem. Writes to EMAIL# items (the
    // credentials' copy of roles, active flag and epoch) return nothing of them.
    let reads = [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    ];
    let template = template();
    let mut hash_reads = BTreeSet::new();
    for (id, function) in admin_functions(&template) {
        for (action, keys) in table_grants(function) {
            assert_ne!(
                action, "dynamodb:Scan",
                "{id}: no administration function scans the table"
            );
            if reads.contains(&action.as_str()) && keys.iter().any(|k| k == "EMAIL#*") {
                hash_reads.insert((id, action));
            }
        }
    }
    assert_eq!(
        hash_reads,
        BTreeSet::from([("AdminListUsersFunction", "dynamodb:GetItem".to_owned())]),
        "the administration functions may read EMAIL# items (password hashes) only for \
         admin-list-users' lookup by email, with GetItem"
    );
}

#[test]
fn the_authorizer_gets_the_route_permissions_and_caches_per_route() {
    let template = template();

    // The parameter defaults to no route permissions, a value the code accepts as such.
    let default = parameter_value(&template, "RoutePermissions", "Default");
    assert_eq!(
        cfg::route_permissions(&source(&[(cfg::ROUTE_PERMISSIONS, default.clone())])),
        Ok(BTreeMap::new()),
        "RoutePermissions must default to none ({default:?})"
    );

    // The authorizer, and nothing else, gets it.
    for (id, function) in resources(&template, FUNCTION) {
        let value = function["Properties"]["Environment"]["Variables"].get(cfg::ROUTE_PERMISSIONS);
        if id == "AuthorizerFunction" {
            assert_eq!(
                value.and_then(ref_name),
                Some("RoutePermissions"),
                "AuthorizerFunction must set {}: !Ref RoutePermissions",
                cfg::ROUTE_PERMISSIONS
            );
        } else {
            assert!(
                value.is_none(),
                "{id} sets {}: only the authorizer reads it",
                cfg::ROUTE_PERMISSIONS
            );
        }
    }

    // With route permissions the authorizer's decision depends on the route: its cached
    // decisions must be kept per route ($context.routeKey among the identity sources), or an
    // Allow cached for one route would be reused for another that needs a permission the token
    // lacks. SAM builds the identity sources from these lists at transform time (no intrinsic
    // function there), so routeKey is always one; without route permissions it only keys the
    // cache per route. The Authorization header stays one: without it API Gateway answers 401
    // before invoking the authorizer.
    let apis = resources(&template, "AWS::Serverless::HttpApi");
    let (api_id, api) = apis[0];
    let authorizers = api["Properties"]["Auth"]["Authorizers"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{api_id} defines no Auth.Authorizers"));
    let mut checked = 0;
    for (name, authorizer) in authorizers {
        let identity = &authorizer["Identity"];
        let list = |field: &str| -> Vec<&str> {
            match &identity[field] {
                Value::Sequence(list) => list
                    .iter()
                    .map(|v| {
                        v.as_str().unwrap_or_else(|| {
                            panic!("{name:?}: Identity.{field} must list plain strings: {v:?}")
                        })
                    })
                    .collect(),
                Value::Null => Vec::new(),
                other => panic!(
                    "{name:?}: Identity.{field} must be a list (SAM refuses an intrinsic \
                     function there): {other:?}"
                ),
            }
        };
        assert_eq!(
            list("Headers"),
            ["Authorization"],
            "{name:?}: the Authorization header is an identity source"
        );
        assert!(
            list("Context").contains(&"routeKey"),
            "{name:?}: $context.routeKey must be an identity source (Identity.Context: \
             [routeKey]), so a cached decision is never reused for another route"
        );
        checked += 1;
    }
    assert_eq!(checked, 1, "{api_id} defines one authorizer");
}

/// A function's environment as SAM deploys it: `Globals.Function.Environment.Variables`
/// merged with its own (its own win, as in SAM).
fn effective_variables<'t>(
    template: &'t Value,
    function: &'t Value,
) -> BTreeMap<&'t str, &'t Value> {
    let mut merged = BTreeMap::new();
    for owner in [&template["Globals"]["Function"], &function["Properties"]] {
        if let Some(variables) = owner["Environment"]["Variables"].as_mapping() {
            for (name, value) in variables {
                merged.insert(name.as_str().expect("variable names are strings"), value);
            }
        }
    }
    merged
}

#[test]
fn sam_local_can_point_the_functions_at_local_services_and_build_for_the_host() {
    // `sam local invoke --env-vars` sets only the variables a function declares: the local
    // endpoints must be declared, as the empty literal (unset for the code, so nothing changes
    // on AWS): never a parameter, which a deploy could set, nor a value.
    let template = template();
    let owners = std::iter::once(("Globals", &template["Globals"]["Function"])).chain(
        resources(&template, FUNCTION)
            .into_iter()
            .map(|(id, f)| (id, &f["Properties"])),
    );
    for (id, owner) in owners {
        for endpoint in [cfg::DYNAMODB_ENDPOINT_URL, cfg::SES_ENDPOINT_URL] {
            if let Some(value) = owner["Environment"]["Variables"].get(endpoint) {
                assert!(
                    is_empty_literal(value),
                    "{id} sets {endpoint} to {value:?}: declare it only as \"\" (unset on \
                     AWS; `sam local invoke --env-vars` gives the local endpoint)"
                );
            }
        }
    }

    let mut table_users = 0;
    for (id, function) in resources(&template, FUNCTION) {
        let binary = built_binary(id, function);
        let variables = effective_variables(&template, function);
        let uses_table =
            variables.contains_key(cfg::TABLE_NAME) || !table_grants(function).is_empty();
        if uses_table {
            table_users += 1;
            assert!(
                variables
                    .get(cfg::DYNAMODB_ENDPOINT_URL)
                    .is_some_and(|v| is_empty_literal(v)),
                "{id} uses the table: it must declare {}: \"\" (directly or in Globals), so \
                 `sam local invoke --env-vars` can point it at DynamoDB Local",
                cfg::DYNAMODB_ENDPOINT_URL
            );
        }
        let sends = MAIL_SENDERS.contains(&binary.as_str());
        let ses = variables.get(cfg::SES_ENDPOINT_URL);
        if sends {
            assert!(
                ses.is_some_and(|v| is_empty_literal(v)),
                "{id} sends mail: it must declare {}: \"\", so `sam local invoke --env-vars` \
                 can point it at a local SES",
                cfg::SES_ENDPOINT_URL
            );
        } else {
            assert!(
                ses.is_none(),
                "{id} sends no mail, yet declares {}",
                cfg::SES_ENDPOINT_URL
            );
        }
    }
    assert!(
        table_users >= 25,
        "only {table_users} functions use the table; the walk is broken"
    );

    // One architecture for every function, a parameter: arm64 (what `make build` builds and
    // deploys) by default, x86_64 for invoking the functions locally on an x86 machine.
    let architectures = &template["Globals"]["Function"]["Architectures"];
    assert!(
        architectures
            .as_sequence()
            .is_some_and(|list| list.len() == 1 && ref_name(&list[0]) == Some("Architecture")),
        "Globals.Function.Architectures must be [!Ref Architecture], not {architectures:?}"
    );
    for (id, function) in resources(&template, FUNCTION) {
        assert!(
            function["Properties"].get("Architectures").is_none(),
            "{id} sets Architectures itself: every function takes Globals' [!Ref Architecture]"
        );
    }
    let parameter = &template["Parameters"]["Architecture"];
    assert_eq!(
        parameter["Type"].as_str(),
        Some("String"),
        "the Architecture parameter is a String"
    );
    assert_eq!(
        parameter_value(&template, "Architecture", "Default"),
        "arm64",
        "Architecture must default to arm64, what `make build` builds and deploys"
    );
    let allowed: Vec<&str> = parameter["AllowedValues"]
        .as_sequence()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        allowed,
        ["arm64", "x86_64"],
        "Architecture allows exactly arm64 and x86_64"
    );

    // No other value (a layer's CompatibleArchitectures, an output) names an architecture.
    fn literal_architectures(value: &Value, path: String, found: &mut Vec<String>) {
        match value {
            Value::String(s) if s == "arm64" || s == "x86_64" => found.push(path),
            Value::Mapping(mapping) => {
                for (key, child) in mapping {
                    let key = key.as_str().unwrap_or("?");
                    literal_architectures(child, format!("{path}.{key}"), found);
                }
            }
            Value::Sequence(list) => {
                for (i, child) in list.iter().enumerate() {
                    literal_architectures(child, format!("{path}[{i}]"), found);
                }
            }
            Value::Tagged(tagged) => literal_architectures(&tagged.value, path, found),
            _ => {}
        }
    }
    let mut found = Vec::new();
    literal_architectures(&template, String::new(), &mut found);
    found.retain(|path| !path.starts_with(".Parameters.Architecture."));
    assert!(
        found.is_empty(),
        "an architecture written outside the Architecture parameter: {found:?}"
    );
}

#[test]
fn cors_is_declared_as_the_local_server_answers_it_and_the_console_holds_no_privilege() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let Value::Tagged(cors) = &api["CorsConfiguration"] else {
        panic!("CorsConfiguration must be an !If on HasCorsOrigins");
    };
    assert_eq!(cors.tag, "If");
    let branches = cors.value.as_sequence().unwrap();
    assert_eq!(branches[0].as_str(), Some("HasCorsOrigins"));
    assert_eq!(
        ref_name(&branches[2]),
        Some("AWS::NoValue"),
        "no origins listed = no CORS"
    );
    let config = &branches[1];
    let joined = |key: &str| {
        config[key]
            .as_sequence()
            .unwrap_or_else(|| panic!("{key} is a list"))
            .iter()
            .map(|v| v.as_str().unwrap().to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        joined("AllowMethods"),
        devserver::CORS_METHODS.to_ascii_lowercase()
    );
    assert_eq!(joined("AllowHeaders"), devserver::CORS_HEADERS);
    assert_eq!(joined("ExposeHeaders"), devserver::CORS_EXPOSE);
    assert_eq!(
        config["MaxAge"].as_u64().map(|m| m.to_string()).as_deref(),
        Some(devserver::CORS_MAX_AGE)
    );
    assert_eq!(config["AllowCredentials"].as_bool(), Some(true));
    let Value::Tagged(split) = &config["AllowOrigins"] else {
        panic!("AllowOrigins must split CorsAllowedOrigins");
    };
    assert_eq!(split.tag, "Split");
    assert_eq!(
        ref_name(&split.value.as_sequence().unwrap()[1]),
        Some("CorsAllowedOrigins")
    );
    // The functions read the same list (for the cookie's Origin check); its default is a
    // value the code accepts (none), and the code refuses a wildcard whatever the pattern says.
    assert_eq!(
        ref_name(
            &template["Globals"]["Function"]["Environment"]["Variables"][cfg::CORS_ALLOWED_ORIGINS]
        ),
        Some("CorsAllowedOrigins")
    );
    let default = parameter_value(&template, "CorsAllowedOrigins", "Default");
    assert_eq!(
        cfg::allowed_origins(&source(&[(cfg::CORS_ALLOWED_ORIGINS, default)])),
        Ok(Vec::new())
    );
    let pattern = parameter_value(&template, "CorsAllowedOrigins", "AllowedPattern");
    assert!(
        !pattern.contains("\\*") && !pattern.contains("[*"),
        "{pattern}"
    );

    // The console serves files: no policy, no variable of its own, no authorizer.
    let console = &template["Resources"]["ConsoleFunction"]["Properties"];
    assert!(
        console.get("Policies").is_none(),
        "the console needs no permission"
    );
    assert!(
        console["Environment"].is_null(),
        "the console reads no setting"
    );
    let event = &console["Events"]["Console"]["Properties"];
    assert_eq!(event["Path"].as_str(), Some("/console/{proxy+}"));
    assert!(event.get("Auth").is_none());
}

/// The search strings of every `ByteMatchStatement` under a WAF statement.
fn byte_matches<'t>(value: &'t Value, found: &mut Vec<&'t str>) {
    match value {
        Value::Mapping(map) => {
            for (key, inner) in map {
                if key.as_str() == Some("ByteMatchStatement")
                    && let Some(s) = inner["SearchString"].as_str()
                {
                    found.push(s);
                }
                byte_matches(inner, found);
            }
        }
        Value::Sequence(list) => list.iter().for_each(|v| byte_matches(v, found)),
        Value::Tagged(tagged) => byte_matches(&tagged.value, found),
        _ => {}
    }
}

/// One caller cannot exhaust a costly public route for everyone: each of those routes is
/// limited per source twice, by the functions' counters in the table (their grant to the
/// `RATE#` partitions and their settings) and, with `EdgeProtection=on`, by AWS WAF rate-based
/// rules per client IP on a CloudFront distribution in front of the API. The web ACL is of
/// scope CLOUDFRONT, so it is made only in us-east-1; both are off unless enabled.
#[test]
fn the_costly_public_routes_are_limited_per_source_in_both_layers() {
    let template = template();
    let guarded = [
        (
            "RegisterFunction",
            "/auth/register",
            cfg::SOURCE_LIMIT_REGISTER,
        ),
        ("LoginFunction", "/auth/login", cfg::SOURCE_LIMIT_LOGIN),
        ("LoginFunction", "/api/token/", cfg::SOURCE_LIMIT_LOGIN),
        (
            "MfaVerifyFunction",
            "/auth/mfa/verify",
            cfg::SOURCE_LIMIT_LOGIN,
        ),
        (
            "ForgotPasswordFunction",
            "/auth/password/forgot",
            cfg::SOURCE_LIMIT_RECOVERY,
        ),
        (
            "ResetPasswordFunction",
            "/auth/password/reset",
            cfg::SOURCE_LIMIT_RECOVERY,
        ),
        (
            "ResendVerificationFunction",
            "/me/email/verification",
            cfg::SOURCE_LIMIT_RECOVERY,
        ),
    ];
    let resources_map = &template["Resources"];
    for (id, _, limit) in guarded {
        let properties = &resources_map[id]["Properties"];
        let variables = &properties["Environment"]["Variables"];
        assert!(
            variables.get(limit).is_some() && variables.get(cfg::SOURCE_LIMITS).is_some(),
            "{id} must be given {limit} and {}",
            cfg::SOURCE_LIMITS
        );
        let mut found = Vec::new();
        statements(&properties["Policies"], &mut found);
        assert!(
            found.iter().any(|s| {
                leading_keys(s) == ["RATE#*"] && actions(s) == ["dynamodb:UpdateItem"]
            }),
            "{id} needs dynamodb:UpdateItem on the RATE#* partitions alone"
        );
    }
    assert!(
        resources_map["RegisterFunction"]["Properties"]["Environment"]["Variables"]
            .get(cfg::REGISTRATION_MAILS_PER_HOUR)
            .is_some(),
        "register must be given the hourly mail budget"
    );

    // The edge: off by default; the web ACL only in us-east-1.
    let parameters = &template["Parameters"];
    assert_eq!(
        parameters["EdgeProtection"]["Default"].as_str(),
        Some("off")
    );
    let distribution = &resources_map["EdgeDistribution"];
    assert_eq!(
        distribution["Type"].as_str(),
        Some("AWS::CloudFront::Distribution")
    );
    assert_eq!(distribution["Condition"].as_str(), Some("EdgeOn"));
    assert!(
        distribution["Properties"]["DistributionConfig"]
            .get("WebACLId")
            .is_some(),
        "the distribution must carry the web ACL"
    );
    let acl = &resources_map["EdgeWebAcl"];
    assert_eq!(acl["Type"].as_str(), Some("AWS::WAFv2::WebACL"));
    assert_eq!(acl["Properties"]["Scope"].as_str(), Some("CLOUDFRONT"));
    assert_eq!(acl["Condition"].as_str(), Some("EdgeWebAclInStack"));
    let in_stack = serde_norway::to_string(&template["Conditions"]["EdgeWebAclInStack"]).unwrap();
    assert!(
        in_stack.contains("us-east-1") && in_stack.contains("EdgeOn"),
        "the web ACL is made only with EdgeProtection=on and in us-east-1: {in_stack}"
    );
    // Outside us-east-1 the edge needs a web ACL made there: refused without its ARN.
    let rule = serde_norway::to_string(&template["Rules"]["EdgeWebAclOutsideUsEast1"]).unwrap();
    assert!(
        rule.contains("us-east-1") && rule.contains("EdgeWebAclArn"),
        "EdgeProtection=on outside us-east-1 must require EdgeWebAclArn: {rule}"
    );
    let rules = acl["Properties"]["Rules"].as_sequence().expect("rules");
    let mut limited = Vec::new();
    for rule in rules {
        let rate = &rule["Statement"]["RateBasedStatement"];
        assert_eq!(
            rate["AggregateKeyType"].as_str(),
            Some("IP"),
            "{rule:?} is not per client IP"
        );
        let limit = ref_name(&rate["Limit"]).expect("a parameter for the rate");
        assert!(
            parameters[limit]["MinValue"].as_u64() >= Some(10),
            "{limit}: WAF's smallest rate limit is 10"
        );
        assert_eq!(
            rule["Action"]["Block"]["CustomResponse"]["ResponseCode"].as_u64(),
            Some(429)
        );
        byte_matches(&rate["ScopeDownStatement"], &mut limited);
    }
    for (id, path, _) in guarded {
        assert!(
            limited.contains(&path),
            "{path} ({id}) has no per-IP rule at the edge"
        );
    }
}

/// A CloudWatch metric an alarm or a dashboard names: (namespace as written, metric name,
/// dimensions as name → value).
type Named = (String, String, BTreeMap<String, String>);

/// The metrics an alarm watches: its own (`Namespace`, `MetricName`, `Dimensions`) or those
/// of its metric-math queries.
fn alarm_metrics(alarm: &Value) -> Vec<Named> {
    let namespace = |value: &Value| match ref_name(value) {
        Some(parameter) => format!("Ref:{parameter}"),
        None => value.as_str().unwrap_or("?").to_owned(),
    };
    let dimensions = |value: &Value| -> BTreeMap<String, String> {
        value
            .as_sequence()
            .map(|dims| {
                dims.iter()
                    .map(|d| {
                        let value = match ref_name(&d["Value"]) {
                            Some(r) => format!("Ref:{r}"),
                            None => d["Value"].as_str().unwrap_or("?").to_owned(),
                        };
                        (d["Name"].as_str().unwrap_or("?").to_owned(), value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let properties = &alarm["Properties"];
    if let Some(queries) = properties["Metrics"].as_sequence() {
        return queries
            .iter()
            .filter(|q| !q["MetricStat"].is_null())
            .map(|q| {
                let metric = &q["MetricStat"]["Metric"];
                (
                    namespace(&metric["Namespace"]),
                    metric["MetricName"].as_str().unwrap_or("?").to_owned(),
                    dimensions(&metric["Dimensions"]),
                )
            })
            .collect();
    }
    vec![(
        namespace(&properties["Namespace"]),
        properties["MetricName"].as_str().unwrap_or("?").to_owned(),
        dimensions(&properties["Dimensions"]),
    )]
}

/// Every alarm on the service's own metrics names a metric the code writes
/// (`shared::metrics::Metric`), with the dimensions it writes and an `Outcome` it writes, under
/// the namespace the functions are given (`METRICS_NAMESPACE` from the same parameter, whose
/// default is the code's); every other alarm watches an AWS namespace. Each alarm notifies the
/// topic only when one is given.
#[test]
fn every_alarm_watches_a_metric_the_code_writes() {
    use shared::metrics::Metric;
    let template = template();
    assert_eq!(
        ref_name(
            &template["Globals"]["Function"]["Environment"]["Variables"][cfg::METRICS_NAMESPACE]
        ),
        Some("MetricsNamespace"),
        "every function must get METRICS_NAMESPACE from the MetricsNamespace parameter"
    );
    assert_eq!(
        parameter_value(&template, "MetricsNamespace", "Default"),
        cfg::DEFAULT_METRICS_NAMESPACE
    );
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 10, "{} alarms", alarms.len());
    let mut custom = 0;
    for (id, alarm) in &alarms {
        for action in ["AlarmActions", "OKActions"] {
            let text = format!("{:?}", alarm["Properties"][action]);
            assert!(
                text.contains("HasAlarmTopic") && text.contains("AlarmTopicArn"),
                "{id}: {action} must be the AlarmTopicArn topic under HasAlarmTopic: {text}"
            );
        }
        for (namespace, name, dimensions) in alarm_metrics(alarm) {
            if namespace == "Ref:MetricsNamespace" {
                custom += 1;
                let metric = Metric::ALL
                    .into_iter()
                    .find(|m| m.name() == name)
                    .unwrap_or_else(|| {
                        panic!("{id} watches {name}, a metric the code never writes")
                    });
                let names: Vec<&str> = dimensions.keys().map(String::as_str).collect();
                assert_eq!(
                    names,
                    metric.dimensions(),
                    "{id}: {name} is written with exactly these dimensions"
                );
                if let Some(outcome) = dimensions.get(shared::metrics::OUTCOME) {
                    assert!(
                        metric.outcomes().contains(&outcome.as_str()),
                        "{id} watches {name} Outcome={outcome}, which the code never writes \
                         (it writes {:?})",
                        metric.outcomes()
                    );
                }
            } else {
                assert!(
                    namespace.starts_with("AWS/"),
                    "{id} watches {name} in {namespace}: neither AWS's nor MetricsNamespace"
                );
            }
        }
    }
    assert!(custom >= 5, "{custom} alarms on the service's own metrics");
}

/// The dashboard's widgets on the service's own metrics name metrics and outcomes the code
/// writes too.
#[test]
fn the_dashboard_shows_only_metrics_the_code_writes() {
    use shared::metrics::Metric;
    let template = template();
    let dashboards = resources(&template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let (_, dashboard) = dashboards[0];
    let body = dashboard["Properties"]["DashboardBody"]
        .as_str()
        .expect("a DashboardBody (!Sub) string");
    // `${...}` only stands in for names; the body is JSON once they are filled.
    let mut filled = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        filled.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        filled.push_str(&rest[start..=end].replace(['$', '{', '}'], "_"));
        rest = &rest[end + 1..];
    }
    filled.push_str(rest);
    let body: serde_json::Value = serde_json::from_str(&filled)
        .unwrap_or_else(|e| panic!("the dashboard body is not JSON ({e}): {filled}"));
    let mut custom = 0;
    for widget in body["widgets"].as_array().expect("widgets") {
        for line in widget["properties"]["metrics"].as_array().expect("metrics") {
            let line: Vec<&str> = line
                .as_array()
                .expect("a metric line")
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect();
            if line.first() != Some(&"__MetricsNamespace_") {
                continue;
            }
            custom += 1;
            let name = line[1];
            let metric = Metric::ALL
                .into_iter()
                .find(|m| m.name() == name)
                .unwrap_or_else(|| panic!("the dashboard shows {name}, which nobody writes"));
            let dimensions: Vec<&str> = line[2..].chunks(2).map(|c| c[0]).collect();
            assert_eq!(dimensions, metric.dimensions(), "{line:?}");
            for pair in line[2..].chunks(2) {
                assert!(
                    metric.outcomes().contains(&pair[1]),
                    "the dashboard shows {name} Outcome={}, which the code never writes",
                    pair[1]
                );
            }
        }
    }
    assert!(custom >= 10, "{custom} lines of the service's own metrics");
}

/// `SimpleJwtCompat` is off by default, takes only values the code accepts, and reaches as
/// `SIMPLEJWT_COMPAT` exactly the functions that serve simplejwt's routes (the routes always
/// exist: SAM cannot make an event conditional; off, the functions answer them 404).
#[test]
fn simplejwt_compat_is_off_by_default_and_reaches_the_functions_of_its_routes() {
    let template = template();
    let parameter = &template["Parameters"]["SimpleJwtCompat"];
    assert_eq!(parameter["Default"].as_str(), Some("false"));
    let allowed: Vec<&str> = parameter["AllowedValues"]
        .as_sequence()
        .expect("AllowedValues")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(allowed, ["false", "true"]);
    for value in &allowed {
        let src = source(&[(cfg::SIMPLEJWT_COMPAT, (*value).to_owned())]);
        assert_eq!(cfg::simplejwt_compat(&src).unwrap(), *value == "true");
    }
    let serving: BTreeSet<&str> = ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/api/token/"))
        .map(|r| r.function.binary())
        .collect();
    assert_eq!(serving, BTreeSet::from(["login", "logout", "refresh"]));
    for (id, function) in resources(&template, FUNCTION) {
        let binary = built_binary(id, function);
        let variables = &function["Properties"]["Environment"]["Variables"];
        let given = ref_name(&variables[cfg::SIMPLEJWT_COMPAT]);
        if serving.contains(binary.as_str()) {
            assert_eq!(
                given,
                Some("SimpleJwtCompat"),
                "{id} serves simplejwt's routes"
            );
        } else {
            assert!(
                variables.get(cfg::SIMPLEJWT_COMPAT).is_none(),
                "{id} serves none of simplejwt's routes"
            );
        }
    }
    // Verify checks tokens as the authorizer does: its settings, from the same parameters.
    let authorizer =
        &template["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"];
    let refresh =
        &template["Resources"]["RefreshFunction"]["Properties"]["Environment"]["Variables"];
    for name in [
        cfg::JWT_ISSUER,
        cfg::JWT_AUDIENCE,
        cfg::JWT_PUBLIC_JWKS,
        cfg::JWT_LEEWAY_SECONDS,
        cfg::REVOCATION_CHECK,
    ] {
        assert_eq!(
            ref_name(&refresh[name]),
            ref_name(&authorizer[name]),
            "RefreshFunction's {name} must be the authorizer's"
        );
        assert!(
            ref_name(&refresh[name]).is_some(),
            "RefreshFunction needs {name}"
        );
    }
}

/// Lambda refuses a reservation that leaves an account fewer than 100 unreserved executions,
/// and new accounts can have a quota of 10: the default stack must reserve nothing, and a
/// function may reserve only through the one parameter, behind its condition.
#[test]
fn the_default_stack_reserves_no_concurrency_so_it_deploys_on_any_account() {
    let template = template();
    assert_eq!(
        parameter_value(&template, "PasswordReservedConcurrency", "Default"),
        "0"
    );
    let condition = format!("{:?}", template["Conditions"]["ReservePasswordConcurrency"]);
    assert!(
        condition.contains("Not")
            && condition.contains("Equals")
            && condition.contains("PasswordReservedConcurrency"),
        "ReservePasswordConcurrency must be `PasswordReservedConcurrency != 0`: {condition}"
    );
    let mut reserving = Vec::new();
    for (id, function) in resources(&template, FUNCTION) {
        let Some(reserved) = function["Properties"].get("ReservedConcurrentExecutions") else {
            continue;
        };
        let text = format!("{reserved:?}");
        assert!(
            text.contains("ReservePasswordConcurrency")
                && text.contains("PasswordReservedConcurrency")
                && text.contains("AWS::NoValue"),
            "{id}: ReservedConcurrentExecutions must be !If [ReservePasswordConcurrency, \
             !Ref PasswordReservedConcurrency, !Ref AWS::NoValue], found {text}"
        );
        reserving.push(id);
    }
    assert_eq!(reserving, ["RegisterFunction", "LoginFunction"]);
}
