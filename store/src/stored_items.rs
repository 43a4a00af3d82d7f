//! Items exactly as the hand-written conversions of main wrote them before the records derived
//! their stored form (serde_dynamo): every entity, with and without its optional attributes,
//! plus the older shapes still in tables. Each must read into the same value, and each value
//! must be written back as the same item (attribute names, `N` vs `S`, `L` vs `SS`, `M`).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::keys::*;
use authcore::domain::{Credentials, DisplayName, Email, SessionId, User, UserId};
use authcore::policy::links::{Link, Purpose};
use authcore::policy::quota::Quota;
use authcore::policy::roles::{Catalog, RoleDef};

const USER: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const SID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

fn hash(c: char) -> String {
    c.to_string().repeat(64)
}

fn item(attributes: &[(&str, AttributeValue)]) -> Item {
    attributes
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

fn l(values: &[AttributeValue]) -> AttributeValue {
    AttributeValue::L(values.to_vec())
}

fn m(attributes: &[(&str, AttributeValue)]) -> AttributeValue {
    AttributeValue::M(item(attributes))
}

fn ss(values: &[&str]) -> AttributeValue {
    AttributeValue::Ss(values.iter().map(|v| (*v).to_owned()).collect())
}

fn user_id() -> UserId {
    UserId::parse(USER).unwrap()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn user() -> User {
    User {
        id: user_id(),
        email: Email::parse("ada@example.com").unwrap(),
        name: DisplayName::parse("Ada Lovelace").unwrap(),
        roles: strings(&["admin", "editor"]),
        created_at: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap(),
        epoch: 4,
        email_verified: true,
        active: false,
        last_login_at: Some(1_700_000_500),
        username: None,
        permissions: Vec::new(),
    }
}

fn new_user() -> User {
    User {
        name: None,
        roles: vec![],
        created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        epoch: 0,
        email_verified: false,
        active: true,
        last_login_at: None,
        username: None,
        permissions: Vec::new(),
        ..user()
    }
}

fn credentials() -> Credentials {
    Credentials {
        email: Email::parse("ada@example.com").unwrap(),
        user_id: user_id(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        roles: strings(&["editor"]),
        epoch: 4,
        mfa: true,
        active: true,
        permissions: Vec::new(),
    }
}

fn session() -> Session {
    Session {
        id: SessionId::from_stored(SID.into()),
        user_id: user_id(),
        created_at: 1_700_000_000,
        expires_at: 1_702_592_000,
        last_used_at: 1_700_000_600,
        epoch: 4,
        revoked_at: Some(1_700_000_700),
        amr: strings(&["pwd", "otp"]),
        active_token: Some(hash('a')),
        user_agent: Some("curl/8.5".into()),
        source_ip: Some("192.0.2.1".into()),
    }
}

fn bare_session() -> Session {
    Session {
        last_used_at: 1_700_000_000,
        epoch: 0,
        revoked_at: None,
        amr: password_amr(),
        active_token: None,
        user_agent: None,
        source_ip: None,
        ..session()
    }
}

fn refresh() -> RefreshRecord {
    RefreshRecord {
        token_hash: hash('a'),
        user_id: user_id(),
        session_id: SessionId::from_stored(SID.into()),
        session_expires_at: 1_702_592_000,
        issued_at: 1_700_000_000,
        epoch: 4,
        state: TokenState::Active,
        amr: password_amr(),
    }
}

fn rotated() -> RefreshRecord {
    RefreshRecord {
        state: TokenState::Rotated { at: 1_700_000_100 },
        amr: strings(&["pwd", "otp"]),
        ..refresh()
    }
}

fn challenge() -> Challenge {
    Challenge {
        token_hash: hash('c'),
        user_id: user_id(),
        email: "ada@example.com".into(),
        epoch: 4,
        expires_at: 1_700_000_300,
        failures: 1,
    }
}

fn mfa(enabled: bool) -> MfaRecord {
    MfaRecord {
        enabled,
        sealed: authcore::records::Sealed {
            key_id: "k1".into(),
            blob: "bm9uY2VjaXBoZXJ0ZXh0".into(),
        },
        last_step: enabled.then_some(56_666_668),
        created_at: 1_700_000_000,
    }
}

fn link() -> Link {
    Link {
        hash: hash('d'),
        purpose: Purpose::EmailChange,
        user_id: USER.into(),
        email: "new@example.com".into(),
        epoch: 4,
        created_at: 1_700_000_000,
        expires_at: 1_700_003_600,
    }
}

fn quota() -> Quota {
    Quota {
        count: 2,
        window_start: 1_700_000_000,
    }
}

fn lockout() -> Lockout {
    Lockout {
        failures: 2,
        window_start: 1_700_000_000,
        locked_until: Some(1_700_000_900),
        pending: [
            ("r1".to_owned(), 1_700_000_010),
            ("r2".to_owned(), 1_700_000_020),
        ]
        .into(),
        version: 7,
    }
}

fn fresh_lockout() -> Lockout {
    Lockout {
        failures: 0,
        window_start: 1_700_000_000,
        locked_until: None,
        pending: [("r1".to_owned(), 1_700_000_000)].into(),
        version: 1,
    }
}

fn catalog() -> Catalog {
    let mut catalog = Catalog::builtin();
    catalog.roles.insert(
        "editor".into(),
        RoleDef {
            description: Some("Writes".into()),
            permissions: BTreeSet::from(["articles.edit".into(), "articles.publish".into()]),
        },
    );
    catalog.roles.insert(
        "viewer".into(),
        RoleDef {
            description: None,
            permissions: BTreeSet::new(),
        },
    );
    catalog.holders = BTreeMap::from([("admin".into(), 1), ("editor".into(), 3)]);
    catalog.active_admins = 1;
    catalog.version = 7;
    catalog
}

// The items main wrote for the values above, attribute by attribute.

fn stored_user() -> Item {
    item(&[
        ("GSI1PK", s("USERS")),
        (
            "GSI1SK",
            s("001700000000#0f8fad5b-d9cb-469f-a165-70867728950e"),
        ),
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("SK", s("PROFILE")),
        ("active", b(false)),
        ("created_at", s("2023-11-14T22:13:20.123456789Z")),
        ("email", s("ada@example.com")),
        ("email_verified", b(true)),
        ("epoch", n("4")),
        ("id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("last_login_at", n("1700000500")),
        ("name", s("Ada Lovelace")),
        ("rev", n("0")),
        ("roles", l(&[s("admin"), s("editor")])),
        ("type", s("user")),
    ])
}

fn stored_new_user() -> Item {
    item(&[
        ("GSI1PK", s("USERS")),
        (
            "GSI1SK",
            s("001700000000#0f8fad5b-d9cb-469f-a165-70867728950e"),
        ),
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("SK", s("PROFILE")),
        ("active", b(true)),
        ("created_at", s("2023-11-14T22:13:20Z")),
        ("email", s("ada@example.com")),
        ("email_verified", b(false)),
        ("epoch", n("0")),
        ("id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("rev", n("0")),
        ("roles", l(&[])),
        ("type", s("user")),
    ])
}

fn stored_credentials() -> Item {
    item(&[
        ("PK", s("EMAIL#ada@example.com")),
        ("SK", s("CREDENTIALS")),
        ("active", b(true)),
        ("email", s("ada@example.com")),
        ("epoch", n("4")),
        ("mfa", b(true)),
        (
            "password_hash",
            s("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
        ),
        ("roles", l(&[s("editor")])),
        ("type", s("credentials")),
        ("user_id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
    ])
}

fn stored_session() -> Item {
    item(&[
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("SK", s("SESSION#7c9e6679-7425-40de-944b-e07fc1f90ae7")),
        (
            "active_token",
            s("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ),
        ("amr", l(&[s("pwd"), s("otp")])),
        ("created_at", n("1700000000")),
        ("epoch", n("4")),
        ("expires_at", n("1702592000")),
        ("last_used_at", n("1700000600")),
        ("revoked_at", n("1700000700")),
        ("sid", s("7c9e6679-7425-40de-944b-e07fc1f90ae7")),
        ("source_ip", s("192.0.2.1")),
        ("ttl", n("1702592000")),
        ("type", s("session")),
        ("user_agent", s("curl/8.5")),
        ("user_id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
    ])
}

fn stored_bare_session() -> Item {
    item(&[
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("SK", s("SESSION#7c9e6679-7425-40de-944b-e07fc1f90ae7")),
        ("amr", l(&[s("pwd")])),
        ("created_at", n("1700000000")),
        ("epoch", n("0")),
        ("expires_at", n("1702592000")),
        ("last_used_at", n("1700000000")),
        ("sid", s("7c9e6679-7425-40de-944b-e07fc1f90ae7")),
        ("ttl", n("1702592000")),
        ("type", s("session")),
        ("user_id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
    ])
}

fn stored_refresh() -> Item {
    item(&[
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        (
            "SK",
            s("REFRESH#aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ),
        ("amr", l(&[s("pwd")])),
        ("epoch", n("4")),
        ("issued_at", n("1700000000")),
        ("session_expires_at", n("1702592000")),
        ("sid", s("7c9e6679-7425-40de-944b-e07fc1f90ae7")),
        ("state", s("active")),
        ("ttl", n("1702592000")),
        ("type", s("refresh_token")),
        ("user_id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
    ])
}

fn stored_rotated() -> Item {
    item(&[
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        (
            "SK",
            s("REFRESH#aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ),
        ("amr", l(&[s("pwd"), s("otp")])),
        ("epoch", n("4")),
        ("issued_at", n("1700000000")),
        ("rotated_at", n("1700000100")),
        ("session_expires_at", n("1702592000")),
        ("sid", s("7c9e6679-7425-40de-944b-e07fc1f90ae7")),
        ("state", s("rotated")),
        ("ttl", n("1700086400")),
        ("type", s("refresh_token")),
        ("user_id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
    ])
}

fn stored_challenge() -> Item {
    item(&[
        (
            "PK",
            s("MFACHALLENGE#cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"),
        ),
        ("SK", s("MFACHALLENGE")),
        ("email", s("ada@example.com")),
        ("epoch", n("4")),
        ("expires_at", n("1700000300")),
        ("failures", n("1")),
        ("ttl", n("1700000300")),
        ("type", s("mfa_challenge")),
        ("user_id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
    ])
}

fn stored_mfa_pending() -> Item {
    item(&[
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("SK", s("MFA")),
        ("created_at", n("1700000000")),
        ("key_id", s("k1")),
        ("sealed", s("bm9uY2VjaXBoZXJ0ZXh0")),
        ("state", s("pending")),
        ("type", s("mfa")),
    ])
}

fn stored_mfa_enabled() -> Item {
    item(&[
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("SK", s("MFA")),
        ("created_at", n("1700000000")),
        ("key_id", s("k1")),
        ("last_step", n("56666668")),
        ("sealed", s("bm9uY2VjaXBoZXJ0ZXh0")),
        ("state", s("enabled")),
        ("type", s("mfa")),
    ])
}

fn stored_recovery() -> Item {
    item(&[
        ("PK", s("USER#0f8fad5b-d9cb-469f-a165-70867728950e")),
        ("SK", s("RECOVERY")),
        (
            "codes",
            ss(&[
                "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            ]),
        ),
        ("type", s("recovery_codes")),
    ])
}

fn stored_link() -> Item {
    item(&[
        (
            "PK",
            s("LINK#dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"),
        ),
        ("SK", s("LINK")),
        ("created_at", n("1700000000")),
        ("email", s("new@example.com")),
        ("epoch", n("4")),
        ("expires_at", n("1700003600")),
        ("purpose", s("email_change")),
        ("ttl", n("1700003600")),
        ("type", s("link")),
        ("user_id", s("0f8fad5b-d9cb-469f-a165-70867728950e")),
    ])
}

fn stored_quota() -> Item {
    item(&[
        ("PK", s("MAILQUOTA#reset#ada@example.com")),
        ("SK", s("MAILQUOTA")),
        ("count", n("2")),
        ("ttl", n("1700003600")),
        ("type", s("mail_quota")),
        ("window_start", n("1700000000")),
    ])
}

fn stored_lockout() -> Item {
    item(&[
        (
            "PK",
            s("LOCKOUT#b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"),
        ),
        ("SK", s("LOCKOUT")),
        ("failures", n("2")),
        ("locked_until", n("1700000900")),
        (
            "pending",
            m(&[("r1", n("1700000010")), ("r2", n("1700000020"))]),
        ),
        ("ttl", n("1700000960")),
        ("type", s("lockout")),
        ("version", n("7")),
        ("window_start", n("1700000000")),
    ])
}

fn stored_fresh_lockout() -> Item {
    item(&[
        (
            "PK",
            s("LOCKOUT#b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"),
        ),
        ("SK", s("LOCKOUT")),
        ("failures", n("0")),
        ("pending", m(&[("r1", n("1700000000"))])),
        ("ttl", n("1700000960")),
        ("type", s("lockout")),
        ("version", n("1")),
        ("window_start", n("1700000000")),
    ])
}

fn stored_catalog() -> Item {
    item(&[
        ("PK", s("ROLES")),
        ("SK", s("CATALOG")),
        ("admins", n("1")),
        ("holders", m(&[("admin", n("1")), ("editor", n("3"))])),
        (
            "roles",
            m(&[
                (
                    "admin",
                    m(&[
                        ("description", s("Manages users and roles")),
                        (
                            "permissions",
                            l(&[
                                s("auth.roles.write"),
                                s("auth.users.read"),
                                s("auth.users.write"),
                            ]),
                        ),
                    ]),
                ),
                (
                    "editor",
                    m(&[
                        ("description", s("Writes")),
                        (
                            "permissions",
                            l(&[s("articles.edit"), s("articles.publish")]),
                        ),
                    ]),
                ),
                ("viewer", m(&[("permissions", l(&[]))])),
            ]),
        ),
        ("type", s("roles_catalog")),
        ("version", n("8")),
    ])
}

fn with(mut stored: Item, changes: &[(&str, Option<AttributeValue>)]) -> Item {
    for (name, value) in changes {
        match value {
            Some(value) => stored.insert((*name).to_owned(), value.clone()),
            None => stored.remove(*name),
        };
    }
    stored
}

#[test]
fn every_entity_reads_and_is_written_as_main_wrote_it() {
    for (stored, user) in [(stored_user(), user()), (stored_new_user(), new_user())] {
        assert_eq!(user_from_item(&stored).unwrap(), user);
        assert_eq!(user_item(&user).unwrap(), stored);
        assert_eq!(
            (rev_of(&stored).unwrap(), roles_of(&stored)),
            (0, user.roles)
        );
        assert_eq!(epoch_of(&stored).unwrap(), user.epoch);
    }
    assert_eq!(
        credentials_from_item(&stored_credentials()).unwrap(),
        credentials()
    );
    assert_eq!(
        credentials_item(&credentials()).unwrap(),
        stored_credentials()
    );
    for (stored, session) in [
        (stored_session(), session()),
        (stored_bare_session(), bare_session()),
    ] {
        assert_eq!(session_from_item(&stored).unwrap(), session);
        assert_eq!(session_item(&session).unwrap(), stored);
    }
    assert_eq!(
        refresh_from_item(&hash('a'), &stored_refresh()).unwrap(),
        refresh()
    );
    assert_eq!(refresh_item(&refresh()).unwrap(), stored_refresh());
    assert_eq!(
        refresh_from_item(&hash('a'), &stored_rotated()).unwrap(),
        rotated()
    );
    assert_eq!(
        refresh_item_until(&rotated(), 1_700_086_400).unwrap(),
        stored_rotated()
    );
    assert_eq!(
        challenge_from_item(&hash('c'), &stored_challenge()).unwrap(),
        challenge()
    );
    assert_eq!(challenge_item(&challenge()).unwrap(), stored_challenge());
    for (stored, enabled) in [(stored_mfa_pending(), false), (stored_mfa_enabled(), true)] {
        assert_eq!(mfa_from_item(&stored).unwrap(), mfa(enabled));
        assert_eq!(mfa_item(USER, &mfa(enabled)).unwrap(), stored);
    }
    let codes = vec![hash('e'), hash('f')];
    assert_eq!(recovery_from_item(&stored_recovery()), codes);
    assert_eq!(recovery_item(USER, &codes).unwrap(), stored_recovery());
    assert_eq!(link_from_item(&hash('d'), &stored_link()).unwrap(), link());
    assert_eq!(link_item(&link()).unwrap(), stored_link());
    assert_eq!(mail_quota_from_item(&stored_quota()).unwrap(), quota());
    assert_eq!(
        mail_quota_item(Purpose::Reset, "ada@example.com", &quota(), 1_700_003_600).unwrap(),
        stored_quota()
    );
    for (stored, counter) in [
        (stored_lockout(), lockout()),
        (stored_fresh_lockout(), fresh_lockout()),
    ] {
        assert_eq!(lockout_from_item(&stored).unwrap(), counter);
        assert_eq!(
            lockout_item("ada@example.com", &counter, 1_700_000_960).unwrap(),
            stored
        );
    }
    // The catalog is written at the version given (the one after the version it was read at).
    let written = Catalog {
        version: 8,
        ..catalog()
    };
    assert_eq!(catalog_from_item(&stored_catalog()).unwrap(), written);
    assert_eq!(catalog_item(&catalog(), 8).unwrap(), stored_catalog());
}

#[test]
fn every_link_purpose_is_stored_by_its_name() {
    for purpose in Purpose::ALL {
        let link = Link { purpose, ..link() };
        let stored = with(stored_link(), &[("purpose", Some(s(purpose.as_str())))]);
        assert_eq!(link_item(&link).unwrap(), stored);
        assert_eq!(link_from_item(&hash('d'), &stored).unwrap(), link);
    }
}

#[test]
fn items_of_older_shapes_still_read() {
    // Profiles of before epochs, verification, the active flag and `rev`.
    let old = [
        ("epoch", None),
        ("email_verified", None),
        ("active", None),
        ("rev", None),
        ("type", None),
    ];
    let stored = with(stored_new_user(), &old);
    assert_eq!(user_from_item(&stored).unwrap(), new_user());
    assert_eq!(rev_of(&stored).unwrap(), 0);
    // A page of users reads the index's projection: no epoch, no last login.
    let projected = with(
        stored_user(),
        &[
            ("epoch", None),
            ("last_login_at", None),
            ("rev", None),
            ("type", None),
        ],
    );
    let page_user = User {
        epoch: 0,
        last_login_at: None,
        ..user()
    };
    assert_eq!(user_from_item(&projected).unwrap(), page_user);
    // Credentials of before epochs, two-factor and the active flag; roles absent.
    let stored = with(
        stored_credentials(),
        &[
            ("epoch", None),
            ("mfa", None),
            ("active", None),
            ("roles", None),
        ],
    );
    let old_credentials = Credentials {
        roles: vec![],
        epoch: 0,
        mfa: false,
        ..credentials()
    };
    assert_eq!(credentials_from_item(&stored).unwrap(), old_credentials);
    // Sessions of before `last_used_at`, epochs and `amr` (absent or empty: a password).
    for amr in [None, Some(l(&[]))] {
        let stored = with(
            stored_bare_session(),
            &[
                ("last_used_at", None),
                ("epoch", None),
                ("amr", amr),
                ("type", None),
            ],
        );
        assert_eq!(session_from_item(&stored).unwrap(), bare_session());
    }
    // Tokens of before `issued_at`, epochs and `amr`.
    let stored = with(
        stored_refresh(),
        &[("issued_at", None), ("epoch", None), ("amr", None)],
    );
    let old_token = RefreshRecord {
        issued_at: 0,
        epoch: 0,
        ..refresh()
    };
    assert_eq!(refresh_from_item(&hash('a'), &stored).unwrap(), old_token);
    // Links and challenges of before epochs.
    let stored = with(stored_link(), &[("epoch", None)]);
    let old_link = Link { epoch: 0, ..link() };
    assert_eq!(link_from_item(&hash('d'), &stored).unwrap(), old_link);
    let stored = with(stored_challenge(), &[("epoch", None)]);
    let old_challenge = Challenge {
        epoch: 0,
        ..challenge()
    };
    assert_eq!(
        challenge_from_item(&hash('c'), &stored).unwrap(),
        old_challenge
    );
    // The lockout counter before reservations (`failures`, no `version`, no `pending`, no
    // `type`), then while reservations counted as attempts (`attempts`, `version`).
    let failures_era = item(&[
        ("PK", s("LOCKOUT#ada@example.com")),
        ("SK", s("LOCKOUT")),
        ("failures", n("3")),
        ("window_start", n("5")),
        ("locked_until", n("905")),
        ("ttl", n("1805")),
    ]);
    let counter = Lockout {
        failures: 3,
        window_start: 5,
        locked_until: Some(905),
        pending: BTreeMap::new(),
        version: 0,
    };
    assert_eq!(lockout_from_item(&failures_era).unwrap(), counter);
    let attempts_era = item(&[
        ("PK", s("LOCKOUT#ada@example.com")),
        ("SK", s("LOCKOUT")),
        ("type", s("lockout")),
        ("attempts", n("4")),
        ("window_start", n("1000")),
        ("locked_until", n("1900")),
        ("version", n("6")),
        ("ttl", n("1900")),
    ]);
    let counter = Lockout {
        failures: 4,
        window_start: 1_000,
        locked_until: Some(1_900),
        pending: BTreeMap::new(),
        version: 6,
    };
    assert_eq!(lockout_from_item(&attempts_era).unwrap(), counter);
    // A catalog of before the count of active administrators.
    let stored = with(stored_catalog(), &[("admins", None)]);
    let old_catalog = Catalog {
        active_admins: 0,
        version: 8,
        ..catalog()
    };
    assert_eq!(catalog_from_item(&stored).unwrap(), old_catalog);
}

#[test]
fn role_stamps_read_as_written_by_their_updates() {
    let stored = item(&[
        ("PK", s("ROLES")),
        ("SK", s("STAMPS")),
        ("r:admin", n("3")),
        ("r:editor", n("8")),
        ("version", n("8")),
    ]);
    assert_eq!(
        stamps_from_item(&stored).unwrap(),
        BTreeMap::from([("admin".to_owned(), 3), ("editor".to_owned(), 8)])
    );
    assert_eq!(stamps_from_item(&stamps_key()).unwrap(), BTreeMap::new());
}

#[test]
fn items_that_do_not_read_are_corrupt() {
    use crate::error::StoreError::Corrupt;
    let not_a_uuid = Some(s("not-a-uuid"));
    let stored = with(stored_user(), &[("id", not_a_uuid.clone())]);
    assert!(matches!(user_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_credentials(), &[("user_id", not_a_uuid.clone())]);
    assert!(matches!(credentials_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_session(), &[("user_id", not_a_uuid.clone())]);
    assert!(matches!(session_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_challenge(), &[("user_id", not_a_uuid)]);
    assert!(matches!(challenge_from_item("h", &stored), Err(Corrupt(_))));
    let stored = with(stored_user(), &[("created_at", Some(s("yesterday")))]);
    assert!(matches!(user_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_refresh(), &[("state", Some(s("weird")))]);
    assert!(matches!(refresh_from_item("h", &stored), Err(Corrupt(_))));
    let stored = with(stored_rotated(), &[("rotated_at", None)]);
    assert!(matches!(refresh_from_item("h", &stored), Err(Corrupt(_))));
    let stored = with(stored_mfa_enabled(), &[("state", Some(s("weird")))]);
    assert!(matches!(mfa_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_mfa_enabled(), &[("sealed", None)]);
    assert!(matches!(mfa_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_link(), &[("purpose", Some(s("weird")))]);
    assert!(matches!(link_from_item("h", &stored), Err(Corrupt(_))));
    let stored = with(stored_lockout(), &[("failures", None)]);
    assert!(matches!(lockout_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_lockout(), &[("window_start", Some(s("5")))]);
    assert!(matches!(lockout_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_catalog(), &[("version", None)]);
    assert!(matches!(catalog_from_item(&stored), Err(Corrupt(_))));
    let stored = with(stored_quota(), &[("count", Some(n("two")))]);
    assert!(matches!(mail_quota_from_item(&stored), Err(Corrupt(_))));
}
