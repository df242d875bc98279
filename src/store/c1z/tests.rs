//! Tests of c1z files: the baton-salesforce sample read with its documented counts, one row
//! of each kind decoded by hand against the field numbers of the facts, the write -> read
//! round trip, the SQLite schema against the sample's, appends, and damaged files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use rusqlite::Connection;

use super::*;
use crate::model::*;
use crate::store::testdata::{ent, rid, tiny_org, write_tiny_org};
use crate::store::{ExportFormat, Store, export};

/// The real file baton-salesforce wrote (`../shared/data/README.md`).
fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/baton-salesforce-sample.c1z")
}

/// The decompressed database of a c1z, for looking at raw rows.
fn raw_db(path: &Path, dir: &Path) -> Connection {
    let db = dir.join(format!(
        "raw-{}.db",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("x")
    ));
    let _ = std::fs::remove_file(&db);
    container::decompress(path, &db, DEFAULT_MAX_DECODED_BYTES).unwrap();
    Connection::open(db).unwrap()
}

// ---- an independent protobuf wire reader, so the hand checks do not trust prost ---------------

/// One field of a message: its number and its varint or length-delimited payload.
#[derive(Debug, Clone, PartialEq)]
enum Wire {
    Varint(u64),
    Bytes(Vec<u8>),
}

fn varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

/// Splits a message into (field number, payload), in wire order. Only wire types 0 and 2 occur
/// in these messages; anything else fails the test.
fn fields(bytes: &[u8]) -> Vec<(u64, Wire)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at);
        let (number, wire_type) = (key >> 3, key & 7);
        match wire_type {
            0 => out.push((number, Wire::Varint(varint(bytes, &mut at)))),
            2 => {
                let len = varint(bytes, &mut at) as usize;
                out.push((number, Wire::Bytes(bytes[at..at + len].to_vec())));
                at += len;
            }
            other => panic!("unexpected wire type {other} for field {number}"),
        }
    }
    out
}

/// The payloads of field `number`.
fn all(bytes: &[u8], number: u64) -> Vec<Wire> {
    fields(bytes)
        .into_iter()
        .filter(|(n, _)| *n == number)
        .map(|(_, w)| w)
        .collect()
}

fn bytes_of(message: &[u8], number: u64) -> Vec<u8> {
    match all(message, number).into_iter().next() {
        Some(Wire::Bytes(b)) => b,
        other => panic!("field {number} is {other:?}"),
    }
}

fn string_of(message: &[u8], number: u64) -> String {
    String::from_utf8(bytes_of(message, number)).unwrap()
}

fn varint_of(message: &[u8], number: u64) -> u64 {
    match all(message, number).into_iter().next() {
        Some(Wire::Varint(v)) => v,
        other => panic!("field {number} is {other:?}"),
    }
}

/// The `Any` annotations (field `number`) as (type url, value).
fn anys(message: &[u8], number: u64) -> Vec<(String, Vec<u8>)> {
    all(message, number)
        .into_iter()
        .map(|w| match w {
            // An empty message (a marker annotation) has no field 2 at all.
            Wire::Bytes(any) => {
                let value = match all(&any, 2).into_iter().next() {
                    Some(Wire::Bytes(b)) => b,
                    _ => Vec::new(),
                };
                (string_of(&any, 1), value)
            }
            other => panic!("annotation is {other:?}"),
        })
        .collect()
}

/// external_id, entitlement_id, principal type, data, expansion, needs_expansion.
type GrantRow = (String, String, String, Vec<u8>, Option<Vec<u8>>, i64);
/// Column name, declared type, not null, default.
type Column = (&'static str, &'static str, bool, Option<&'static str>);

fn blob(conn: &Connection, sql: &str) -> Vec<u8> {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

// ---- the sample -------------------------------------------------------------------------------

#[test]
fn baton_salesforce_sample_reads_with_the_documented_counts() {
    let file = C1zFile::open(&sample(), &ReadOptions::default()).unwrap();
    let syncs = file.syncs().unwrap();
    assert_eq!(syncs.len(), 1, "one sync");
    let sync = file.select_sync(None).unwrap();
    assert_eq!(sync.sync_type, "full");
    assert_eq!(sync.sync_id, "3MTSxymy1XcKjo2FuEa1JMyoPsh");

    // What `baton stats` reports, from the file's rows.
    let counts = file.counts(&sync).unwrap();
    let expected: BTreeMap<String, u64> = [
        ("agent", 0),
        ("connected_application", 2),
        ("group", 12),
        ("permission", 11),
        ("permission_set_group", 2),
        ("profile", 4),
        ("role", 4),
        ("territory", 0),
        ("user", 20),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_owned(), n))
    .collect();
    assert_eq!(counts.resource_types, 9);
    assert_eq!(counts.resources, expected);
    assert_eq!(counts.entitlements, 33);
    assert_eq!(counts.grants, 145);

    // The model: every resource, entitlement and grant maps; the two types the model does not
    // have (agent, territory: no resources) are reported.
    let (records, report) = file.read_all(&sync).unwrap();
    assert_eq!(records.resource_types.len(), 7);
    assert_eq!(records.resources.len(), 55);
    assert_eq!(records.entitlements.len(), 33);
    assert_eq!(records.grants.len(), 145);
    assert_eq!(report.mapped, [7, 55, 33, 145]);
    assert_eq!(
        report.skipped,
        BTreeMap::from([
            (
                "resource type: resource type \"agent\" is not in sf-access's model".to_owned(),
                1
            ),
            (
                "resource type: resource type \"territory\" is not in sf-access's model".to_owned(),
                1
            ),
        ])
    );
    assert_eq!(
        report.unexpanded_grants, 6,
        "the PSG -> permission set grants"
    );
    assert_eq!(report.duplicates, 0);
    assert_eq!(
        report.details_inferred, 45,
        "20 users, 12 groups, 11 permission sets, 2 PSGs"
    );
    assert!(
        report.repaired_ids > 0,
        "the fake org's ids have wrong suffixes"
    );
    let per_type = |t: ResourceTypeId| {
        records
            .resources
            .iter()
            .filter(|r| r.id.type_id() == t)
            .count()
    };
    assert_eq!(per_type(ResourceTypeId::User), 20);
    assert_eq!(per_type(ResourceTypeId::Group), 12);
    assert_eq!(per_type(ResourceTypeId::Permission), 11);

    // Users come back with baton's fields in our details.
    let user = records
        .resources
        .iter()
        .find(|r| r.id.to_string() == "user:0055g0000000001AAA")
        .unwrap();
    assert_eq!(user.display_name, "First0 Last0");
    let ResourceDetails::User(details) = &user.details else {
        panic!("user details")
    };
    assert_eq!(details.username, "user0@example.test.fakeorg");
    assert_eq!(details.email.as_deref(), Some("user0@example.test"));
    assert_eq!(details.status, UserStatus::Enabled);
    assert_eq!(details.user_type, "Standard");
    assert_eq!(
        details.last_login.map(|t| t.timestamp()),
        Some(1_767_261_600)
    );
    for r in &records.resources {
        r.validate().unwrap();
    }
    for g in &records.grants {
        g.validate().unwrap();
    }
}

#[test]
fn sample_rows_decode_by_hand_against_the_field_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let conn = raw_db(&sample(), dir.path());

    // ResourceType `user`: 1 id, 2 display_name, 3 packed traits [TRAIT_USER], 4 annotations.
    let rt = blob(
        &conn,
        "select data from v1_resource_types where external_id = 'user'",
    );
    assert_eq!(string_of(&rt, 1), "user");
    assert_eq!(string_of(&rt, 2), "User");
    assert_eq!(bytes_of(&rt, 3), vec![1], "packed traits: TRAIT_USER = 1");
    assert_eq!(
        anys(&rt, 4)[0].0,
        "type.googleapis.com/c1.connector.v2.SkipEntitlementsAndGrants"
    );

    // Resource `user:0055g0000000001AAA`: 1 ResourceId {1 type, 2 id}, 3 display name,
    // 4 UserTrait {1 Email {1 address, 2 is_primary}, 2 Status {1}, 3 profile, 5 account
    // type, 6 login, 9 last_login {1 seconds}}, 9 profile Struct, 11 Status {1 ENABLED}.
    let r = blob(
        &conn,
        "select data from v1_resources where external_id = 'user:0055g0000000001AAA'",
    );
    let id = bytes_of(&r, 1);
    assert_eq!(string_of(&id, 1), "user");
    assert_eq!(string_of(&id, 2), "0055g0000000001AAA");
    assert_eq!(string_of(&r, 3), "First0 Last0");
    let (url, user_trait) = anys(&r, 4).remove(0);
    assert_eq!(url, "type.googleapis.com/c1.connector.v2.UserTrait");
    let email = bytes_of(&user_trait, 1);
    assert_eq!(string_of(&email, 1), "user0@example.test");
    assert_eq!(varint_of(&email, 2), 1);
    assert_eq!(varint_of(&bytes_of(&user_trait, 2), 1), 1, "STATUS_ENABLED");
    assert_eq!(varint_of(&user_trait, 5), 1, "ACCOUNT_TYPE_HUMAN");
    assert_eq!(string_of(&user_trait, 6), "user0@example.test.fakeorg");
    assert_eq!(varint_of(&bytes_of(&user_trait, 9), 1), 1_767_261_600);
    assert_eq!(
        varint_of(&bytes_of(&r, 11), 1),
        1,
        "RESOURCE_STATUS_ENABLED"
    );
    // Struct: 1 map entries {1 key, 2 Value {3 string_value}}.
    let profile_keys: Vec<String> = all(&bytes_of(&r, 9), 1)
        .into_iter()
        .map(|w| match w {
            Wire::Bytes(entry) => string_of(&entry, 1),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        profile_keys,
        ["account_type", "email", "full_name", "id", "username"],
        "resource profile keys, in sorted (deterministic) order"
    );
    // prost reads the same.
    let decoded = proto::Resource::decode(r.as_slice()).unwrap();
    assert_eq!(decoded.display_name, "First0 Last0");
    let t = proto::find::<proto::UserTrait>(&decoded.annotations).unwrap();
    assert_eq!(t.login, "user0@example.test.fakeorg");
    assert!(t.profile.is_some());

    // Entitlement: 1 Resource, 2 id, 3 display name, 5 grantable_to ResourceType, 7 purpose,
    // 8 slug.
    let e = blob(
        &conn,
        "select data from v1_entitlements where external_id = 'role:00E5g0000000001AAA:assigned'",
    );
    assert_eq!(string_of(&e, 2), "role:00E5g0000000001AAA:assigned");
    assert_eq!(string_of(&e, 3), "Role 0 User Role");
    assert_eq!(varint_of(&e, 7), 1, "PURPOSE_VALUE_ASSIGNMENT");
    assert_eq!(string_of(&e, 8), "assigned");
    assert_eq!(
        string_of(&bytes_of(&bytes_of(&e, 1), 1), 2),
        "00E5g0000000001AAA"
    );
    assert_eq!(string_of(&bytes_of(&e, 5), 1), "user");

    // Grant (field numbers out of declaration order): 1 Entitlement {2 id}, 2 principal
    // Resource {1 ResourceId}, 3 id; the GrantExpandable in the expansion column.
    let (g, expansion): (Vec<u8>, Vec<u8>) = conn
        .query_row(
            "select data, expansion from v1_grants where external_id = \
             'permission:0PS5g0000000009AAA:assigned:permission_set_group:0PG5g0000000002AAA'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        string_of(&bytes_of(&g, 1), 2),
        "permission:0PS5g0000000009AAA:assigned"
    );
    let principal = bytes_of(&bytes_of(&g, 2), 1);
    assert_eq!(string_of(&principal, 1), "permission_set_group");
    assert_eq!(string_of(&principal, 2), "0PG5g0000000002AAA");
    assert_eq!(
        string_of(&g, 3),
        "permission:0PS5g0000000009AAA:assigned:permission_set_group:0PG5g0000000002AAA"
    );
    assert_eq!(
        string_of(&expansion, 1),
        "permission_set_group:0PG5g0000000002AAA:member",
        "GrantExpandable.entitlement_ids"
    );
    let decoded = proto::GrantExpandable::decode(expansion.as_slice()).unwrap();
    assert_eq!(decoded.entitlement_ids.len(), 1);
}

// ---- writing ----------------------------------------------------------------------------------

/// The tiny org plus what it lacks: a description, a grant whose one source entitlement comes
/// two ways (role and role-and-subordinates), grants to a group and to a PSG principal.
fn fuller_org() -> (
    Vec<ResourceType>,
    Vec<Resource>,
    Vec<Entitlement>,
    Vec<Grant>,
) {
    use ResourceTypeId as T;
    let mut org = tiny_org();
    org.resources[3].description = Some("The top of the role tree".into());
    let mut two_ways = Grant::through(
        ent(rid(T::Group, 3), "member"),
        rid(T::User, 1),
        GrantSource {
            entitlement_id: ent(rid(T::Role, 1), "assigned"),
            kind: SourceKind::Role,
        },
    );
    two_ways.add_source(GrantSource {
        entitlement_id: ent(rid(T::Role, 1), "assigned"),
        kind: SourceKind::RoleAndSubordinates,
    });
    org.grants.push(two_ways);
    org.grants.push(Grant::direct(
        ent(rid(T::Group, 1), "member"),
        rid(T::Group, 2),
    ));
    org.grants.push(Grant::direct(
        ent(rid(T::Permission, 2), "assigned"),
        rid(T::PermissionSetGroup, 1),
    ));
    (
        org.resource_types,
        org.resources,
        org.entitlements,
        org.grants,
    )
}

fn sorted<T: Clone, K: Ord>(items: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort_by_key(key);
    v
}

#[test]
fn write_then_read_gives_back_equal_records_of_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.c1z");
    let (types, resources, entitlements, grants) = fuller_org();
    let summary = write_records(
        &path,
        &WriteOptions::default(),
        &types,
        &resources,
        &entitlements,
        &grants,
    )
    .unwrap();
    assert_eq!(summary.syncs_in_file, 1);
    assert_eq!(summary.sync_id.len(), 27);

    let file = C1zFile::open(&path, &ReadOptions::default()).unwrap();
    let sync = file.select_sync(None).unwrap();
    assert_eq!(sync.sync_id, summary.sync_id);
    let (records, report) = file.read_all(&sync).unwrap();
    assert_eq!(records.resource_types, sorted(&types, |t| t.id));
    assert_eq!(records.resources, sorted(&resources, |r| r.id));
    assert_eq!(records.entitlements, sorted(&entitlements, |e| e.id));
    assert_eq!(records.grants, sorted(&grants, |g| g.id));
    assert_eq!(
        report,
        ReadReport {
            sync_id: sync.sync_id.clone(),
            mapped: [
                types.len() as u64,
                resources.len() as u64,
                entitlements.len() as u64,
                grants.len() as u64
            ],
            ..ReadReport::default()
        },
        "nothing skipped, inferred or repaired in our own file"
    );
}

#[test]
fn written_rows_follow_the_facts() {
    use ResourceTypeId as T;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.c1z");
    let (types, resources, entitlements, grants) = fuller_org();
    write_records(
        &path,
        &WriteOptions::default(),
        &types,
        &resources,
        &entitlements,
        &grants,
    )
    .unwrap();
    let conn = raw_db(&path, dir.path());

    // The sync row: finished full sync with the flags that spare readers a backfill.
    let row: (
        String,
        String,
        Option<String>,
        String,
        String,
        i64,
        i64,
        Option<String>,
    ) = conn
        .query_row(
            "select sync_id, started_at, ended_at, sync_token, sync_type, supports_diff, \
             grants_backfilled, stats from v1_sync_runs",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(row.0.len(), 27);
    assert!(ksuid::time_of(&row.0).is_some());
    assert!(read::parse_sqlite_time(&row.1).is_some(), "{}", row.1);
    let ended = row.2.expect("finished");
    assert!(ended >= row.1 && !ended.contains('T') && !ended.ends_with('Z'));
    assert_eq!(
        (row.3.as_str(), row.4.as_str(), row.5, row.6),
        ("", "full", 1, 1)
    );
    assert_eq!(row.7, None);

    // Key columns.
    let vp = rid(T::Role, 2);
    let (parent_type, parent_id): (Option<String>, Option<String>) = conn
        .query_row(
            "select parent_resource_type_id, parent_resource_id from v1_resources where external_id = ?1",
            [vp.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(parent_type.as_deref(), Some("role"));
    assert_eq!(parent_id.as_deref(), Some(rid(T::Role, 1).sf_id().as_str()));

    // Every user trait has a profile with the keys `baton export csv` reads.
    let mut stmt = conn
        .prepare("select data from v1_resources where resource_type_id = 'user'")
        .unwrap();
    let users: Vec<Vec<u8>> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(users.len(), 3);
    for user in &users {
        let (url, t) = anys(user, 4).remove(0);
        assert!(url.ends_with("/c1.connector.v2.UserTrait"));
        let keys: Vec<String> = all(&bytes_of(&t, 3), 1)
            .into_iter()
            .map(|w| match w {
                Wire::Bytes(entry) => string_of(&entry, 1),
                other => panic!("{other:?}"),
            })
            .collect();
        for key in ["first_name", "last_name", "user_id", "username"] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
    }

    // Every grant carries its entitlement (id and resource id) and principal id, by hand.
    let mut stmt = conn
        .prepare("select external_id, entitlement_id, principal_resource_type_id, data, expansion, needs_expansion from v1_grants")
        .unwrap();
    let rows: Vec<GrantRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), grants.len());
    for (external_id, entitlement_id, principal_type, data, expansion, needs) in &rows {
        assert_eq!(&string_of(data, 3), external_id);
        let e = bytes_of(data, 1);
        assert_eq!(&string_of(&e, 2), entitlement_id);
        assert!(
            !bytes_of(&bytes_of(&e, 1), 1).is_empty(),
            "entitlement.resource.id"
        );
        let principal = bytes_of(&bytes_of(data, 2), 1);
        assert_eq!(&string_of(&principal, 1), principal_type);
        assert_eq!(*needs, 0, "already expanded");
        match principal_type.as_str() {
            "group" | "permission_set_group" => {
                let x = expansion.as_ref().expect("group principals are expandable");
                let principal_id = format!("{}:{}", principal_type, string_of(&principal, 2));
                assert_eq!(string_of(x, 1), format!("{principal_id}:member"));
            }
            _ => assert!(expansion.is_none()),
        }
    }

    // Sources as baton's expander writes them: Bob's Sales membership is not direct and comes
    // through Sales EMEA (which Bob holds directly) and the CEO role (which he does not).
    let bob_sales = format!("{}:{}", ent(rid(T::Group, 1), "member"), rid(T::User, 2));
    let data = blob(
        &conn,
        &format!("select data from v1_grants where external_id = '{bob_sales}'"),
    );
    let sources = proto::Grant::decode(data.as_slice())
        .unwrap()
        .sources
        .unwrap();
    assert_eq!(
        sources.sources,
        BTreeMap::from([
            (
                ent(rid(T::Group, 2), "member").to_string(),
                proto::GrantSource { is_direct: true }
            ),
            (
                ent(rid(T::Role, 1), "assigned").to_string(),
                proto::GrantSource { is_direct: false }
            ),
        ])
    );
    let annotations = anys(&data, 4);
    assert!(
        annotations
            .iter()
            .any(|(url, _)| url.ends_with("/c1.connector.v2.GrantImmutable"))
    );
    // Ada's Reports grant is direct and through the bundle: its own id is a direct source.
    let ada_reports = format!(
        "{}:{}",
        ent(rid(T::Permission, 2), "assigned"),
        rid(T::User, 1)
    );
    let data = blob(
        &conn,
        &format!("select data from v1_grants where external_id = '{ada_reports}'"),
    );
    let sources = proto::Grant::decode(data.as_slice())
        .unwrap()
        .sources
        .unwrap();
    assert_eq!(
        sources
            .sources
            .get(&ent(rid(T::Permission, 2), "assigned").to_string()),
        Some(&proto::GrantSource { is_direct: true })
    );
}

#[test]
fn written_schema_is_the_one_baton_salesforce_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.c1z");
    write_records(&path, &WriteOptions::default(), &[], &[], &[], &[]).unwrap();
    let master = |conn: &Connection| -> Vec<(String, String, String, Option<String>)> {
        let mut stmt = conn
            .prepare("select type, name, tbl_name, sql from sqlite_master order by type, name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let ours = master(&raw_db(&path, dir.path()));
    let theirs = master(&raw_db(&sample(), dir.path()));
    assert_eq!(ours, theirs);
    assert_eq!(ours.iter().filter(|r| r.0 == "table").count(), 7);
    assert_eq!(ours.iter().filter(|r| r.0 == "index").count(), 16);
}

#[test]
fn written_columns_and_indexes_match_the_facts_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.c1z");
    write_records(&path, &WriteOptions::default(), &[], &[], &[], &[]).unwrap();
    let conn = raw_db(&path, dir.path());
    // (column, declared type, not null, default) in order, from baton-model.md section 2.1.
    let facts: [(&str, &[Column]); 7] = [
        (
            "v1_resource_types",
            &[
                ("id", "integer", false, None),
                ("external_id", "text", true, None),
                ("data", "blob", true, None),
                ("sync_id", "text", true, None),
                ("discovered_at", "datetime", true, None),
            ],
        ),
        (
            "v1_resources",
            &[
                ("id", "integer", false, None),
                ("resource_type_id", "text", true, None),
                ("external_id", "text", true, None),
                ("parent_resource_type_id", "text", false, None),
                ("parent_resource_id", "text", false, None),
                ("data", "blob", true, None),
                ("sync_id", "text", true, None),
                ("discovered_at", "datetime", true, None),
            ],
        ),
        (
            "v1_entitlements",
            &[
                ("id", "integer", false, None),
                ("resource_type_id", "text", true, None),
                ("resource_id", "text", true, None),
                ("external_id", "text", true, None),
                ("data", "blob", true, None),
                ("sync_id", "text", true, None),
                ("discovered_at", "datetime", true, None),
            ],
        ),
        (
            "v1_sync_runs",
            &[
                ("id", "integer", false, None),
                ("sync_id", "text", true, None),
                ("started_at", "datetime", true, None),
                ("ended_at", "datetime", false, None),
                ("sync_token", "text", true, None),
                ("sync_type", "text", true, Some("'full'")),
                ("parent_sync_id", "text", true, Some("''")),
                ("linked_sync_id", "text", true, Some("''")),
                ("supports_diff", "integer", true, Some("0")),
                ("grants_backfilled", "integer", true, Some("0")),
                ("stats", "text", false, None),
                ("ingest_invariant_generation", "text", true, Some("''")),
                ("ingest_invariant_coverage", "text", true, Some("''")),
                ("ingest_invariant_mode", "text", true, Some("''")),
            ],
        ),
        (
            "v1_grants",
            &[
                ("id", "integer", false, None),
                ("resource_type_id", "text", true, None),
                ("resource_id", "text", true, None),
                ("entitlement_id", "text", true, None),
                ("principal_resource_type_id", "text", true, None),
                ("principal_resource_id", "text", true, None),
                ("external_id", "text", true, None),
                ("expansion", "blob", false, None),
                ("needs_expansion", "integer", true, Some("0")),
                ("data", "blob", true, None),
                ("sync_id", "text", true, None),
                ("discovered_at", "datetime", true, None),
            ],
        ),
        (
            "v1_assets",
            &[
                ("id", "integer", false, None),
                ("external_id", "text", true, None),
                ("content_type", "text", true, None),
                ("data", "blob", true, None),
                ("sync_id", "text", true, None),
                ("discovered_at", "datetime", true, None),
            ],
        ),
        (
            "v1_connector_sessions",
            &[
                ("id", "integer", false, None),
                ("sync_id", "text", true, None),
                ("key", "text", true, None),
                ("value", "blob", true, None),
            ],
        ),
    ];
    for (table, columns) in facts {
        let mut stmt = conn
            .prepare(&format!(
                "select name, type, \"notnull\", dflt_value, pk from pragma_table_info('{table}')"
            ))
            .unwrap();
        let found: Vec<(String, String, bool, Option<String>, i64)> = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let found: Vec<(String, String, bool, Option<String>)> = found
            .into_iter()
            .map(|(n, t, nn, d, pk)| {
                assert_eq!(
                    pk == 1,
                    n == "id",
                    "{table}.{n}: only id is the primary key"
                );
                (n, t.to_ascii_lowercase(), nn, d)
            })
            .collect();
        let want: Vec<(String, String, bool, Option<String>)> = columns
            .iter()
            .map(|(n, t, nn, d)| ((*n).into(), (*t).into(), *nn, d.map(str::to_owned)))
            .collect();
        assert_eq!(found, want, "{table}");
    }
    // (index, unique, columns, partial) from section 2.1.
    let indexes: [(&str, bool, &[&str], bool); 15] = [
        (
            "idx_resource_types_external_sync_v1",
            true,
            &["external_id", "sync_id"],
            false,
        ),
        (
            "idx_resources_resource_type_id_v1",
            false,
            &["resource_type_id"],
            false,
        ),
        (
            "idx_resources_external_sync_v1",
            false,
            &["parent_resource_type_id", "parent_resource_id"],
            false,
        ),
        (
            "idx_resources_parent_resource_id_v1",
            true,
            &["external_id", "sync_id"],
            false,
        ),
        (
            "idx_entitlements_resource_id_v1",
            false,
            &["resource_type_id", "resource_id"],
            false,
        ),
        (
            "idx_entitlements_external_sync_v1",
            true,
            &["external_id", "sync_id"],
            false,
        ),
        ("idx_sync_runs_sync_id_v1", true, &["sync_id"], false),
        (
            "idx_grants_resource_type_id_resource_id_v1",
            false,
            &["resource_type_id", "resource_id"],
            false,
        ),
        (
            "idx_grants_principal_id_v1",
            false,
            &["principal_resource_type_id", "principal_resource_id"],
            false,
        ),
        (
            "idx_grants_entitlement_id_principal_id_v1",
            false,
            &[
                "entitlement_id",
                "principal_resource_type_id",
                "principal_resource_id",
            ],
            false,
        ),
        (
            "idx_grants_external_sync_v1",
            true,
            &["external_id", "sync_id"],
            false,
        ),
        (
            "idx_grants_entitlement_sync_grant_v1",
            false,
            &["entitlement_id", "sync_id", "id"],
            false,
        ),
        ("idx_grants_sync_expansion_v1", false, &["sync_id"], true),
        (
            "idx_grants_sync_needs_expansion_v1",
            false,
            &["sync_id"],
            true,
        ),
        (
            "idx_session_store_sync_key_v1",
            true,
            &["sync_id", "key"],
            false,
        ),
    ];
    for (name, unique, columns, partial) in indexes {
        let (is_unique, is_partial): (bool, bool) = conn
            .query_row(
                "select il.\"unique\", il.partial from sqlite_master m, pragma_index_list(m.tbl_name) il \
                 where m.name = ?1 and il.name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((is_unique, is_partial), (unique, partial), "{name}");
        let mut stmt = conn
            .prepare(&format!(
                "select name from pragma_index_info('{name}') order by seqno"
            ))
            .unwrap();
        let found: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(found, columns, "{name}");
    }
    // v1_assets has its unique index too (16 in all with the one above).
    let assets: i64 = conn
        .query_row(
            "select count(*) from sqlite_master where name = 'idx_assets_external_sync_v1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(assets, 1);
}

#[test]
fn appending_keeps_earlier_syncs_up_to_the_kept_number() {
    use ResourceTypeId as T;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.c1z");
    let (types, resources, entitlements, grants) = fuller_org();
    let first = write_records(
        &path,
        &WriteOptions::default(),
        &types,
        &resources,
        &entitlements,
        &grants,
    )
    .unwrap();
    // The second sync has one user fewer.
    let fewer: Vec<Resource> = resources
        .iter()
        .filter(|r| r.id != rid(T::User, 3))
        .cloned()
        .collect();
    let second = write_records(&path, &WriteOptions::default(), &types, &fewer, &[], &[]).unwrap();
    assert_eq!(second.syncs_in_file, 2);
    assert_eq!(second.syncs_removed, 0);
    let file = C1zFile::open(&path, &ReadOptions::default()).unwrap();
    let syncs = file.syncs().unwrap();
    assert_eq!(
        syncs.iter().map(|s| s.sync_id.as_str()).collect::<Vec<_>>(),
        [first.sync_id.as_str(), second.sync_id.as_str()]
    );
    assert_eq!(
        file.select_sync(None).unwrap().sync_id,
        second.sync_id,
        "latest is read"
    );
    let old = file.select_sync(Some(syncs[0].row)).unwrap();
    let (records, _) = file.read_all(&old).unwrap();
    assert_eq!(
        records.resources.len(),
        resources.len(),
        "the first sync is intact"
    );
    assert_eq!(records.grants.len(), grants.len());
    let (latest, _) = file.read_all(&file.select_sync(None).unwrap()).unwrap();
    assert_eq!(latest.resources.len(), resources.len() - 1);
    drop(file);

    // A third sync drops the first (two kept, as baton-sdk's cleanup does).
    let third = write_records(&path, &WriteOptions::default(), &types, &fewer, &[], &[]).unwrap();
    assert_eq!((third.syncs_in_file, third.syncs_removed), (2, 1));
    let file = C1zFile::open(&path, &ReadOptions::default()).unwrap();
    let ids: Vec<String> = file
        .syncs()
        .unwrap()
        .into_iter()
        .map(|s| s.sync_id)
        .collect();
    assert_eq!(ids, [second.sync_id.clone(), third.sync_id.clone()]);
    let conn = raw_db(&path, dir.path());
    let leftovers: i64 = conn
        .query_row(
            "select count(*) from v1_grants where sync_id = ?1",
            [&first.sync_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(leftovers, 0);

    // Replace mode starts over.
    let options = WriteOptions {
        mode: WriteMode::Replace,
        ..WriteOptions::default()
    };
    let fresh = write_records(&path, &options, &types, &fewer, &[], &[]).unwrap();
    assert_eq!(fresh.syncs_in_file, 1);
}

#[test]
fn appending_to_the_baton_salesforce_sample_keeps_its_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.c1z");
    std::fs::copy(sample(), &path).unwrap();
    let (types, resources, entitlements, grants) = fuller_org();
    let summary = write_records(
        &path,
        &WriteOptions::default(),
        &types,
        &resources,
        &entitlements,
        &grants,
    )
    .unwrap();
    assert_eq!(summary.syncs_in_file, 2);
    let file = C1zFile::open(&path, &ReadOptions::default()).unwrap();
    let syncs = file.syncs().unwrap();
    assert_eq!(syncs[0].sync_id, "3MTSxymy1XcKjo2FuEa1JMyoPsh");
    let counts = file.counts(&syncs[0]).unwrap();
    assert_eq!((counts.entitlements, counts.grants), (33, 145));
}

#[test]
fn store_run_to_c1z_and_back_exports_the_same_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.db")).unwrap();
    let run = write_tiny_org(&store);
    let path = dir.path().join("run.c1z");
    write_run(&store, run, &path, &WriteOptions::default()).unwrap();
    let mut direct = Vec::new();
    export(&store, run, ExportFormat::Jsonl, &mut direct).unwrap();
    let loaded = load_temp_store(&path, None, &ReadOptions::default()).unwrap();
    let mut via_c1z = Vec::new();
    export(&loaded.store, loaded.run, ExportFormat::Jsonl, &mut via_c1z).unwrap();
    assert_eq!(
        String::from_utf8(via_c1z).unwrap(),
        String::from_utf8(direct).unwrap()
    );
    assert_eq!(loaded.runs.len(), 1);
    assert_eq!(loaded.runs[0].status, crate::store::RunStatus::Succeeded);
}

// ---- bad files --------------------------------------------------------------------------------

fn good_file(dir: &Path) -> PathBuf {
    let path = dir.join("good.c1z");
    let (types, resources, entitlements, grants) = fuller_org();
    write_records(
        &path,
        &WriteOptions::default(),
        &types,
        &resources,
        &entitlements,
        &grants,
    )
    .unwrap();
    path
}

fn open_err(path: &Path, options: &ReadOptions) -> C1zError {
    match C1zFile::open(path, options) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e,
    }
}

#[test]
fn v3_pebble_file_is_refused_with_how_to_get_a_v1_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.c1z");
    std::fs::write(&path, b"C1Z3\0\x10manifest-and-pebble-data").unwrap();
    let err = open_err(&path, &ReadOptions::default());
    assert!(matches!(err, C1zError::PebbleFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("Pebble"), "{err}");
    assert!(err.hint().unwrap().contains("--storage-engine sqlite"));
    assert!(err.is_bad_input());
    // Nor can a sync be appended to it.
    let err = match C1zWriter::open(&path, &WriteOptions::default()) {
        Ok(_) => panic!("appended to v3"),
        Err(e) => e,
    };
    assert!(matches!(err, C1zError::PebbleFormat { .. }), "{err:?}");
}

#[test]
fn truncated_files_are_refused_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(good_file(dir.path())).unwrap();
    for (name, len) in [
        ("half", good.len() / 2),
        ("header", 5),
        ("empty", 0),
        ("short-magic", 3),
    ] {
        let path = dir.path().join(format!("{name}.c1z"));
        std::fs::write(&path, &good[..len]).unwrap();
        let err = open_err(&path, &ReadOptions::default());
        match name {
            "short-magic" => assert!(matches!(err, C1zError::NotC1z { .. }), "{name}: {err:?}"),
            _ => assert!(matches!(err, C1zError::Truncated { .. }), "{name}: {err:?}"),
        }
        assert!(err.is_bad_input());
    }
}

#[test]
fn corrupt_files_are_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(good_file(dir.path())).unwrap();
    // Damaged compressed data: flip bytes in the middle of the frame.
    let mut damaged = good.clone();
    let middle = damaged.len() / 2;
    for b in &mut damaged[middle..middle + 16] {
        *b ^= 0x5a;
    }
    let path = dir.path().join("damaged.c1z");
    std::fs::write(&path, &damaged).unwrap();
    let err = open_err(&path, &ReadOptions::default());
    assert!(
        matches!(err, C1zError::Corrupt { .. } | C1zError::Truncated { .. }),
        "{err:?}"
    );
    // Trailing garbage after the frame.
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"garbage!");
    std::fs::write(&path, &trailing).unwrap();
    assert!(matches!(
        open_err(&path, &ReadOptions::default()),
        C1zError::Corrupt { .. } | C1zError::Truncated { .. }
    ));
    // A valid frame whose content is not a SQLite database.
    let text = dir.path().join("text");
    std::fs::write(
        &text,
        b"this is not a database, just some text that is long enough",
    )
    .unwrap();
    let mut bytes = Vec::new();
    container::compress(&text, &mut bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let err = open_err(&path, &ReadOptions::default());
    assert!(matches!(err, C1zError::Corrupt { .. }), "{err:?}");
    // Not a c1z at all.
    std::fs::write(&path, b"SQLite format 3\0....").unwrap();
    assert!(matches!(
        open_err(&path, &ReadOptions::default()),
        C1zError::NotC1z { .. }
    ));
    // A database whose records do not decode: the error names the table and row.
    let db = dir.path().join("bad.db");
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(&schema::ddl()).unwrap();
        conn.execute_batch(
            "insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token) \
             values ('2', '2026-01-01 00:00:00', '2026-01-01 00:00:01', ''); \
             insert into v1_resources (resource_type_id, external_id, data, sync_id, discovered_at) \
             values ('user', 'user:x', x'ffffffff', '2', '2026-01-01 00:00:00');",
        )
        .unwrap();
    }
    let mut bytes = Vec::new();
    container::compress(&db, &mut bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let file = C1zFile::open(&path, &ReadOptions::default()).unwrap();
    let sync = file.select_sync(None).unwrap();
    let err = file.read_all(&sync).unwrap_err();
    assert!(
        matches!(
            err,
            C1zError::Protobuf {
                table: "v1_resources",
                row: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn oversized_files_are_refused_before_filling_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = good_file(dir.path());
    let options = ReadOptions {
        max_decoded_bytes: 4096,
        temp_dir: Some(dir.path().to_path_buf()),
    };
    let err = open_err(&path, &options);
    assert!(
        matches!(
            err,
            C1zError::TooLarge {
                limit: 4096,
                declared: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.hint().unwrap().contains("DECODER_MAX_DECODED_SIZE_MB"));
    // The temporary copy is gone.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("c1z"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A frame with a window over the cap is refused by the decoder (window log 28 > 27).
    let mut raw = MAGIC_V1.to_vec();
    {
        let mut enc = zstd::stream::write::Encoder::new(&mut raw, 3).unwrap();
        enc.window_log(28).unwrap();
        enc.long_distance_matching(true).unwrap();
        enc.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut enc, &vec![1u8; 1 << 20]).unwrap();
        enc.finish().unwrap();
    }
    let big = dir.path().join("window.c1z");
    std::fs::write(&big, &raw).unwrap();
    let err = open_err(&big, &ReadOptions::default());
    assert!(matches!(err, C1zError::WindowTooLarge { .. }), "{err:?}");
}

#[test]
fn read_options_honour_batons_decoder_env() {
    let env = |name: &str| match name {
        "BATON_DECODER_MAX_DECODED_SIZE_MB" => Some("10".to_owned()),
        _ => None,
    };
    assert_eq!(
        ReadOptions::from_env(&env).unwrap().max_decoded_bytes,
        10 << 20
    );
    let bad =
        |name: &str| (name == "SF_ACCESS_DECODER_MAX_DECODED_SIZE_MB").then(|| "x".to_owned());
    assert!(
        ReadOptions::from_env(&bad)
            .unwrap_err()
            .contains("SF_ACCESS_")
    );
}

#[test]
fn c1z_files_are_told_from_stores_by_magic_or_extension() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_file(dir.path());
    let renamed = dir.path().join("sync.data");
    std::fs::copy(&good, &renamed).unwrap();
    assert!(is_c1z(&renamed), "by magic");
    assert!(is_c1z(&dir.path().join("missing.c1z")), "by extension");
    let store = dir.path().join("s.db");
    Store::open(&store).unwrap();
    assert!(!is_c1z(&store));
}

#[test]
fn files_from_older_baton_versions_get_the_missing_columns_and_tables_on_the_private_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        // The CLI v0.7.27 era: sync runs without the v0.25 columns, grants without the
        // expansion columns, no assets or session tables.
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "create table v1_resource_types (id integer primary key, external_id text not null, \
             data blob not null, sync_id text not null, discovered_at datetime not null);
             create table v1_resources (id integer primary key, resource_type_id text not null, \
             external_id text not null, parent_resource_type_id text, parent_resource_id text, \
             data blob not null, sync_id text not null, discovered_at datetime not null);
             create table v1_entitlements (id integer primary key, resource_type_id text not null, \
             resource_id text not null, external_id text not null, data blob not null, \
             sync_id text not null, discovered_at datetime not null);
             create table v1_sync_runs (id integer primary key, sync_id text not null, \
             started_at datetime not null, ended_at datetime, sync_token text not null);
             create table v1_grants (id integer primary key, resource_type_id text not null, \
             resource_id text not null, entitlement_id text not null, \
             principal_resource_type_id text not null, principal_resource_id text not null, \
             external_id text not null, data blob not null, sync_id text not null, \
             discovered_at datetime not null);
             insert into v1_sync_runs (sync_id, started_at, ended_at, sync_token) \
             values ('0ujtsYcgvSTl8PAuAdqWYSMnLOv', '2017-10-10 04:00:47', '2017-10-10 04:01:00', '');",
        )
        .unwrap();
    }
    let mut bytes = Vec::new();
    container::compress(&db, &mut bytes).unwrap();
    let path = dir.path().join("old.c1z");
    std::fs::write(&path, &bytes).unwrap();
    let file = C1zFile::open(&path, &ReadOptions::default()).unwrap();
    let sync = file.select_sync(None).unwrap();
    assert_eq!(sync.sync_type, "full", "the column's default");
    let (records, report) = file.read_all(&sync).unwrap();
    assert_eq!(records, Records::default());
    assert_eq!(report.unexpanded_grants, 0);
    // The user's file is untouched.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_view_in_place_of_a_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("view.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("create view v1_resources as select 1 as id;")
        .unwrap();
    let mut bytes = Vec::new();
    container::compress(&db, &mut bytes).unwrap();
    let path = dir.path().join("view.c1z");
    std::fs::write(&path, &bytes).unwrap();
    let err = open_err(&path, &ReadOptions::default());
    assert!(
        matches!(&err, C1zError::Corrupt { detail, .. } if detail.contains("view")),
        "{err:?}"
    );
}
