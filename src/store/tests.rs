//! Tests of the store: writing and reading runs, paging, the run lifecycle, pruning, the
//! exports and the JSON Schemas of `schemas/`.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;

use super::testdata::{ent, rid, tiny_org, write_tiny_org};
use super::*;
use crate::model::{Grant, GrantId, Resource, ResourceId, ResourceTypeId as T};

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("sf-access.db")).unwrap();
    (dir, store)
}

fn export_bytes(store: &Store, run: RunId, format: ExportFormat) -> Vec<u8> {
    let mut out = Vec::new();
    export(store, run, format, &mut out).unwrap();
    out
}

fn all_grants(store: &Store, run: RunId, filter: &GrantFilter, limit: usize) -> Vec<Grant> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest::new(after, limit);
        let page = store.grants(run, filter, &request).unwrap();
        assert!(page.items.len() <= request.limit());
        assert!((1..=MAX_PAGE_LIMIT).contains(&request.limit()));
        out.extend(page.items);
        match page.next_after {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

#[test]
fn opening_a_missing_store_for_reading_says_to_sync_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let err = Store::open_existing(&path).err().unwrap();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert!(err.hint().unwrap().contains("sf-access sync"));
    assert!(!path.exists(), "a reader must not create the file");
}

#[test]
fn opening_a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "this is not a database, just some text that is long enough to have a header",
    )
    .unwrap();
    assert!(matches!(
        Store::open_existing(&text),
        Err(StoreError::NotAStore { .. })
    ));
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE v1_grants (id INTEGER)")
        .unwrap();
    assert!(matches!(
        Store::open_existing(&other),
        Err(StoreError::NotAStore { .. })
    ));
    assert!(matches!(
        Store::open(&other),
        Err(StoreError::NotAStore { .. })
    ));
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        Store::open_existing(&empty),
        Err(StoreError::NotAStore { .. })
    ));
}

/// New stores get 64 KiB pages (what the sync's speed was measured with); a file whose page
/// size was fixed before, as every store of older versions was at 4 KiB, keeps it and works.
#[test]
fn new_stores_have_large_pages_and_older_files_keep_theirs() {
    let page_size = |store: &Store| -> i64 {
        store
            .conn()
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    };
    let (_dir, store) = temp_store();
    assert_eq!(page_size(&store), 65536);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
        .unwrap();
    drop(old);
    let store = Store::open(&path).unwrap();
    assert_eq!(page_size(&store), 4096);
    let run = write_tiny_org(&store);
    assert_eq!(store.latest_run().unwrap().unwrap().id, run);
    assert!(!export_bytes(&store, run, ExportFormat::Jsonl).is_empty());
}

#[test]
fn a_store_of_an_older_schema_version_is_refused() {
    // Version 2 stored a row per grant.
    let (dir, store) = temp_store();
    store
        .conn()
        .execute_batch("PRAGMA user_version = 2")
        .unwrap();
    drop(store);
    let err = Store::open_existing(dir.path().join("sf-access.db"))
        .err()
        .unwrap();
    assert!(matches!(
        err,
        StoreError::SchemaVersion {
            found: 2,
            expected: 4,
            ..
        }
    ));
}

#[test]
fn a_store_with_a_newer_schema_version_is_refused() {
    let (dir, store) = temp_store();
    store
        .conn()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    drop(store);
    let err = Store::open_existing(dir.path().join("sf-access.db"))
        .err()
        .unwrap();
    assert!(matches!(
        err,
        StoreError::SchemaVersion {
            found: 99,
            expected: 4,
            ..
        }
    ));
}

#[test]
fn written_run_reads_back_sorted_with_counts() {
    let (_dir, store) = temp_store();
    let run = write_tiny_org(&store);
    let latest = store.latest_run().unwrap().unwrap();
    assert_eq!(latest.id, run);
    assert_eq!(latest.status, RunStatus::Succeeded);
    assert!(latest.finished.is_some());
    assert_eq!(
        latest.options,
        serde_json::json!({"sync_connected_apps": true})
    );
    let org = tiny_org();
    let counts = latest.counts.unwrap();
    assert_eq!(counts.resource_types, 8);
    assert_eq!(counts.resources[&T::User], 3);
    assert_eq!(counts.resources[&T::License], 2);
    assert_eq!(counts.entitlements, org.entitlements.len() as u64);
    assert_eq!(counts.grants, org.grants.len() as u64);
    assert_eq!(store.counts(run).unwrap(), counts);

    let types = store.resource_types(run).unwrap();
    assert_eq!(types, crate::model::ResourceType::all());

    let resources = store.resources(run, None, &PageRequest::first()).unwrap();
    let mut expected = org.resources.clone();
    expected.sort_by_key(|r| r.id);
    assert_eq!(resources.items, expected);
    assert_eq!(resources.next_after, None);

    let users = store
        .resources(run, Some(T::User), &PageRequest::first())
        .unwrap();
    assert_eq!(
        users.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![rid(T::User, 1), rid(T::User, 2), rid(T::User, 3)]
    );

    let app_entitlements = store
        .entitlements(
            run,
            Some(rid(T::ConnectedApplication, 1)),
            &PageRequest::first(),
        )
        .unwrap();
    let slugs: Vec<&str> = app_entitlements
        .items
        .iter()
        .map(|e| e.slug.as_str())
        .collect();
    assert_eq!(slugs, vec!["access", "authorized"]);

    let mut expected_grants = org.grants.clone();
    expected_grants.sort_by_key(|g| g.id);
    assert_eq!(
        all_grants(&store, run, &GrantFilter::default(), MAX_PAGE_LIMIT),
        expected_grants
    );

    let one = expected_grants[3].clone();
    assert_eq!(store.grant(run, one.id).unwrap(), Some(one.clone()));
    assert_eq!(
        store
            .resource(run, rid(T::User, 1))
            .unwrap()
            .unwrap()
            .display_name,
        "Ada Lovelace"
    );
    assert!(
        store
            .entitlement(run, ent(rid(T::Group, 1), "member"))
            .unwrap()
            .is_some()
    );
    assert_eq!(store.resource(run, rid(T::User, 99)).unwrap(), None);
}

#[test]
fn paging_returns_every_grant_exactly_once_for_any_page_size() {
    let (_dir, store) = temp_store();
    let run = write_tiny_org(&store);
    let mut expected: Vec<GrantId> = tiny_org().grants.iter().map(|g| g.id).collect();
    expected.sort();
    for limit in [1, 7, MAX_PAGE_LIMIT, MAX_PAGE_LIMIT + 5, 0] {
        let ids: Vec<GrantId> = all_grants(&store, run, &GrantFilter::default(), limit)
            .iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(ids, expected, "page size {limit}");
    }
}

#[test]
fn grants_filter_by_principal_and_by_entitlement() {
    let (_dir, store) = temp_store();
    let run = write_tiny_org(&store);
    let org = tiny_org();
    let ada = rid(T::User, 1);
    let sales = ent(rid(T::Group, 1), "member");
    for limit in [1, 7, MAX_PAGE_LIMIT] {
        let by_principal = all_grants(
            &store,
            run,
            &GrantFilter {
                principal: Some(ada),
                entitlement: None,
            },
            limit,
        );
        let mut expected: Vec<GrantId> = org
            .grants
            .iter()
            .filter(|g| g.principal_id == ada)
            .map(|g| g.id)
            .collect();
        expected.sort();
        assert_eq!(
            by_principal.iter().map(|g| g.id).collect::<Vec<_>>(),
            expected
        );

        let by_entitlement = all_grants(
            &store,
            run,
            &GrantFilter {
                principal: None,
                entitlement: Some(sales),
            },
            limit,
        );
        let mut expected: Vec<GrantId> = org
            .grants
            .iter()
            .filter(|g| g.entitlement_id == sales)
            .map(|g| g.id)
            .collect();
        expected.sort();
        assert_eq!(
            by_entitlement.iter().map(|g| g.id).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(expected.len(), 2);

        let both = all_grants(
            &store,
            run,
            &GrantFilter {
                principal: Some(ada),
                entitlement: Some(sales),
            },
            limit,
        );
        assert_eq!(both.len(), 1);
    }
}

#[test]
fn many_grants_page_through_exactly_once() {
    let (_dir, store) = temp_store();
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    let entitlements: Vec<_> = (0..7).map(|n| ent(rid(T::Group, n), "member")).collect();
    let grants: Vec<Grant> = (0..3000)
        .map(|n| Grant::direct(entitlements[n % 7], rid(T::User, n as u64)))
        .collect();
    for chunk in grants.chunks(997) {
        writer.put_grants(chunk).unwrap();
    }
    let run = writer.finish(RunSummary::default()).unwrap();
    let mut expected: Vec<GrantId> = grants.iter().map(|g| g.id).collect();
    expected.sort();
    for limit in [1, 7, MAX_PAGE_LIMIT] {
        let ids: Vec<GrantId> = all_grants(&store, run, &GrantFilter::default(), limit)
            .iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(ids.len(), 3000);
        assert_eq!(ids, expected, "page size {limit}");
    }
}

#[test]
fn failed_run_is_never_latest_and_its_rows_are_removed() {
    let (_dir, store) = temp_store();
    let good = write_tiny_org(&store);
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    writer.put_resources(&tiny_org().resources).unwrap();
    // While it runs, the previous good run stays the latest.
    assert_eq!(store.latest_run().unwrap().unwrap().id, good);
    let failed = writer.fail("Salesforce said no").unwrap();
    assert_eq!(store.latest_run().unwrap().unwrap().id, good);
    let run = store.run(failed).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("Salesforce said no"));
    assert_eq!(store.counts(failed).unwrap(), Counts::default());
    assert!(matches!(
        store.readable_run(Some(failed)),
        Err(StoreError::RunNotSucceeded {
            status: RunStatus::Failed,
            ..
        })
    ));
}

#[test]
fn dropped_writer_marks_its_run_failed() {
    let (_dir, store) = temp_store();
    let good = write_tiny_org(&store);
    let writer = store.begin_run(&serde_json::json!({})).unwrap();
    let dropped = writer.run_id();
    drop(writer);
    assert_eq!(store.latest_run().unwrap().unwrap().id, good);
    let run = store.run(dropped).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.unwrap().starts_with("abandoned"));
}

#[test]
fn run_left_running_by_a_dead_process_is_never_latest_and_is_cleaned_up_by_the_next_sync() {
    let (_dir, store) = temp_store();
    let good = write_tiny_org(&store);
    // What a killed process leaves: a `running` row with some of its records.
    store
        .conn()
        .execute_batch(
            "INSERT INTO sync_runs (started, status, options) VALUES ('2024-01-01T00:00:00.000Z', 'running', '{}');
             INSERT INTO resource_types (run_id, id, doc) SELECT last_insert_rowid(), 'user', '{\"id\":\"user\"}';",
        )
        .unwrap();
    let dead = store.runs().unwrap()[0].clone();
    assert_eq!(dead.status, RunStatus::Running);
    let dead = dead.id;
    assert_eq!(store.latest_run().unwrap().unwrap().id, good);
    assert!(matches!(
        store.readable_run(Some(dead)),
        Err(StoreError::RunNotSucceeded { .. })
    ));

    let writer = store.begin_run(&serde_json::json!({})).unwrap();
    let run = store.run(dead).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.unwrap().starts_with("interrupted"));
    assert_eq!(store.counts(dead).unwrap().resource_types, 0);
    writer.fail("test over").unwrap();
}

#[test]
fn a_second_writer_is_refused_while_a_sync_runs() {
    let (_dir, store) = temp_store();
    let writer = store.begin_run(&serde_json::json!({})).unwrap();
    let err = store.begin_run(&serde_json::json!({})).err().unwrap();
    assert!(matches!(err, StoreError::SyncInProgress { .. }));
    writer.fail("test over").unwrap();
    store
        .begin_run(&serde_json::json!({}))
        .unwrap()
        .fail("second")
        .unwrap();
}

#[test]
fn finish_keeps_only_the_newest_runs() {
    let (_dir, store) = temp_store();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
        writer.set_keep_runs(NonZeroUsize::new(2).unwrap());
        let org = tiny_org();
        writer.put_grants(&org.grants).unwrap();
        ids.push(writer.finish(RunSummary::default()).unwrap());
    }
    let failed = store
        .begin_run(&serde_json::json!({}))
        .unwrap()
        .fail("boom")
        .unwrap();
    let runs: Vec<RunId> = store.runs().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(runs, vec![failed, ids[3], ids[2]]);
    for old in &ids[..2] {
        assert_eq!(
            store.counts(*old).unwrap().grants,
            0,
            "rows of pruned run {old}"
        );
        assert!(matches!(
            store.readable_run(Some(*old)),
            Err(StoreError::UnknownRun(_))
        ));
        for table in ["principal_grants", "grant_entitlements", "grant_blocks"] {
            let rows: i64 = store
                .conn()
                .query_row(
                    &format!("SELECT count(*) FROM {table} WHERE run_id = ?1"),
                    [old.0],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(rows, 0, "{table} rows of pruned run {old}");
        }
    }
    let kept: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM grant_entitlements WHERE run_id = ?1",
            [ids[3].0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1);
    assert_eq!(store.latest_run().unwrap().unwrap().id, ids[3]);
    // Default: five kept.
    for _ in 0..6 {
        write_tiny_org(&store);
    }
    let succeeded = store
        .runs()
        .unwrap()
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .count();
    assert_eq!(succeeded, DEFAULT_KEEP_RUNS);
}

#[test]
fn readable_run_explains_each_missing_case() {
    let (_dir, store) = temp_store();
    assert!(matches!(
        store.readable_run(None),
        Err(StoreError::NoGoodRun)
    ));
    assert!(matches!(
        store.readable_run(Some(RunId(42))),
        Err(StoreError::UnknownRun(RunId(42)))
    ));
    let run = write_tiny_org(&store);
    assert_eq!(store.readable_run(None).unwrap().id, run);
    assert_eq!(store.readable_run(Some(run)).unwrap().id, run);
    assert!("0".parse::<RunId>().is_err());
    assert!("abc".parse::<RunId>().is_err());
    assert_eq!("7".parse::<RunId>().unwrap(), RunId(7));
}

/// Writes the tiny org with its resources in the given batches.
fn write_tiny_org_in(store: &Store, batches: &[Vec<Resource>]) -> Result<RunId, StoreError> {
    let org = testdata::tiny_org();
    let mut writer = store
        .begin_run(&serde_json::json!({"sync_connected_apps": true}))
        .unwrap();
    writer.put_resource_types(&org.resource_types).unwrap();
    for batch in batches {
        writer.put_resources(batch).unwrap();
    }
    writer.put_entitlements(&org.entitlements).unwrap();
    writer.put_grants(&org.grants).unwrap();
    writer.finish(RunSummary::default())
}

#[test]
fn resources_in_any_batches_and_order_make_the_same_run() {
    // Batches in id order after the last go straight into the table, others are staged:
    // every mix reads back and exports the same.
    let (_dir, store) = temp_store();
    let reference = write_tiny_org(&store);
    let expected = export_bytes(&store, reference, ExportFormat::Jsonl);
    let counts = store.counts(reference).unwrap();
    let mut sorted = testdata::tiny_org().resources;
    sorted.sort_by_key(|r| r.id);
    let mut reversed = sorted.clone();
    reversed.reverse();
    let shapes: Vec<Vec<Vec<Resource>>> = vec![
        vec![sorted.clone()],
        sorted.iter().map(|r| vec![r.clone()]).collect(),
        reversed.iter().map(|r| vec![r.clone()]).collect(),
        vec![reversed.clone()],
        // In order, then one before the last, then in order again.
        vec![
            sorted[2..5].to_vec(),
            sorted[..2].to_vec(),
            sorted[5..].to_vec(),
        ],
        // Empty batches change nothing.
        vec![vec![], sorted.clone(), vec![]],
    ];
    // A batch in order after the last goes straight in; one before it is staged.
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    writer.put_resources(&sorted[2..5]).unwrap();
    assert_eq!(writer.staged_resources(), 0);
    writer.put_resources(&sorted[5..]).unwrap();
    assert_eq!(writer.staged_resources(), 0);
    writer.put_resources(&sorted[..2]).unwrap();
    assert_eq!(writer.staged_resources(), 2);
    drop(writer);
    // A batch out of order within itself is staged whole, even as the first.
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    writer.put_resources(&reversed).unwrap();
    assert_eq!(writer.staged_resources(), reversed.len() as i64);
    drop(writer);
    for (i, batches) in shapes.iter().enumerate() {
        let run = write_tiny_org_in(&store, batches).unwrap();
        assert_eq!(
            export_bytes(&store, run, ExportFormat::Jsonl),
            expected,
            "shape {i}"
        );
        assert_eq!(store.counts(run).unwrap(), counts, "shape {i}");
    }
}

#[test]
fn writing_the_same_resource_twice_in_a_run_fails_the_run() {
    let (_dir, store) = temp_store();
    let good = write_tiny_org(&store);
    let mut sorted = testdata::tiny_org().resources;
    sorted.sort_by_key(|r| r.id);
    let twice = sorted[3].clone();
    // Written straight in, then staged; staged twice; straight in after staged.
    for batches in [
        vec![sorted.clone(), vec![twice.clone()]],
        vec![vec![twice.clone()], sorted.clone()],
        vec![
            sorted[4..].to_vec(),
            sorted[..4].to_vec(),
            vec![twice.clone()],
        ],
    ] {
        let err = write_tiny_org_in(&store, &batches).err().unwrap();
        assert!(
            matches!(&err, StoreError::Duplicate { kind: "resource", id, .. } if *id == twice.id.to_string()),
            "{err:?}"
        );
    }
    assert_eq!(store.latest_run().unwrap().unwrap().id, good);
}

#[test]
fn writing_the_same_grant_twice_in_a_run_fails_the_run() {
    let (_dir, store) = temp_store();
    let good = write_tiny_org(&store);
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    let run = writer.run_id();
    let g = Grant::direct(ent(rid(T::Role, 1), "assigned"), rid(T::User, 1));
    writer.put_grants(&tiny_org().grants).unwrap();
    writer.put_grants(std::slice::from_ref(&g)).unwrap();
    writer.put_grants(std::slice::from_ref(&g)).unwrap();
    let err = writer.finish(RunSummary::default()).err().unwrap();
    assert!(
        matches!(err, StoreError::Duplicate { kind: "grant", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&g.id.to_string()));
    let failed = store.run(run).unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert!(failed.error.unwrap().contains("written twice"));
    assert_eq!(
        store.counts(run).unwrap(),
        Counts::default(),
        "nothing of the run is kept"
    );
    assert_eq!(store.latest_run().unwrap().unwrap().id, good);
}

#[test]
fn inconsistent_records_are_refused_and_the_batch_is_not_written() {
    let (_dir, store) = temp_store();
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    let good = Grant::direct(ent(rid(T::Role, 1), "assigned"), rid(T::User, 1));
    let mut bad = Grant::direct(ent(rid(T::Role, 2), "assigned"), rid(T::User, 1));
    bad.principal_id = rid(T::User, 2);
    let err = writer.put_grants(&[good, bad]).err().unwrap();
    assert!(matches!(err, StoreError::Record(_)));
    let mut resource = tiny_org().resources[0].clone();
    resource.resource_type = T::Role;
    assert!(matches!(
        writer.put_resources(&[resource]),
        Err(StoreError::Record(_))
    ));
    let run = writer.finish(RunSummary::default()).unwrap();
    assert_eq!(store.counts(run).unwrap().grants, 0);
}

#[test]
fn run_summary_keeps_the_api_calls() {
    let (_dir, store) = temp_store();
    let writer = store
        .begin_run(&serde_json::json!({"batch_size": 2000}))
        .unwrap();
    let summary = RunSummary {
        api_calls: ApiCalls {
            total: 12,
            by_object: [
                ("User".to_owned(), 3),
                ("PermissionSetAssignment".to_owned(), 9),
            ]
            .into_iter()
            .collect(),
            daily_remaining: Some(14_988),
        },
    };
    let run = writer.finish(summary.clone()).unwrap();
    assert_eq!(
        store.run(run).unwrap().unwrap().api_calls,
        Some(summary.api_calls)
    );
}

#[test]
fn jsonl_export_lists_kinds_in_order_and_ids_ascending() {
    let (_dir, store) = temp_store();
    let run = write_tiny_org(&store);
    let text = String::from_utf8(export_bytes(&store, run, ExportFormat::Jsonl)).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let org = tiny_org();
    assert_eq!(
        records.len(),
        org.resource_types.len() + org.resources.len() + org.entitlements.len() + org.grants.len()
    );
    let kinds = ["resource_type", "resource", "entitlement", "grant"];
    let mut last: Option<(usize, String)> = None;
    for record in &records {
        let kind = kinds
            .iter()
            .position(|k| record["kind"] == *k)
            .expect("known kind");
        let id = record["id"].as_str().unwrap().to_owned();
        if let Some(previous) = &last {
            assert!(
                *previous < (kind, id.clone()),
                "{previous:?} before {kind} {id}"
            );
        }
        last = Some((kind, id));
    }
    assert!(text.ends_with('\n'));
    // A record without its kind is the model's JSON.
    let mut grant = records.last().unwrap().clone();
    grant.as_object_mut().unwrap().remove("kind");
    let grant: Grant = serde_json::from_value(grant).unwrap();
    assert!(org.grants.contains(&grant));
}

#[test]
fn exports_are_byte_identical_for_the_same_org_state() {
    let (_dir, store) = temp_store();
    let first = write_tiny_org(&store);
    let second = write_tiny_org(&store);
    assert_ne!(first, second);
    for format in [ExportFormat::Jsonl, ExportFormat::Json, ExportFormat::Csv] {
        let a = export_bytes(&store, first, format);
        assert_eq!(
            a,
            export_bytes(&store, second, format),
            "{format:?} across runs"
        );
        assert_eq!(
            a,
            export_bytes(&store, first, format),
            "{format:?} written twice"
        );
    }
}

#[test]
fn json_export_holds_the_same_records_as_jsonl() {
    let (_dir, store) = temp_store();
    let run = write_tiny_org(&store);
    let json: serde_json::Value =
        serde_json::from_slice(&export_bytes(&store, run, ExportFormat::Json)).unwrap();
    let jsonl = String::from_utf8(export_bytes(&store, run, ExportFormat::Jsonl)).unwrap();
    let mut from_json = Vec::new();
    for (key, kind) in [
        ("resource_types", "resource_type"),
        ("resources", "resource"),
        ("entitlements", "entitlement"),
        ("grants", "grant"),
    ] {
        for record in json[key].as_array().unwrap() {
            let mut with_kind = serde_json::Map::new();
            with_kind.insert("kind".into(), kind.into());
            with_kind.extend(record.as_object().unwrap().clone());
            from_json.push(serde_json::Value::Object(with_kind));
        }
    }
    let from_jsonl: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(from_json, from_jsonl);
}

#[test]
fn json_export_of_an_empty_run_is_valid_json() {
    let (_dir, store) = temp_store();
    let run = store
        .begin_run(&serde_json::json!({}))
        .unwrap()
        .finish(RunSummary::default())
        .unwrap();
    let text = String::from_utf8(export_bytes(&store, run, ExportFormat::Json)).unwrap();
    assert_eq!(
        text,
        "{\n  \"resource_types\": [],\n  \"resources\": [],\n  \"entitlements\": [],\n  \"grants\": []\n}\n"
    );
}

#[test]
fn csv_export_is_the_access_review_grid_with_rfc4180_quoting() {
    let (_dir, store) = temp_store();
    let run = write_tiny_org(&store);
    let text = String::from_utf8(export_bytes(&store, run, ExportFormat::Csv)).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "user,username,email,status,resource type,resource,entitlement,via,expires"
    );
    assert_eq!(lines.last(), Some(&""), "every row ends with CRLF");
    // Only grants to users; the connected-app access grant to a profile is not a row.
    let user_grants = tiny_org()
        .grants
        .iter()
        .filter(|g| g.principal_type == T::User)
        .count();
    assert_eq!(lines.len(), 1 + user_grants + 1);
    assert!(
        text.contains("\"Carol \"\"CJ\"\", Jones\",carol@example.com,carol@example.com,disabled (inactive),Permission Set,Sales Ops,Assigned,direct,2030-12-31T00:00:00Z\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\"'=HYPERLINK(\"\"x\"\") Bob Smith\",bob@example.com"),
        "formula neutralized: {text}"
    );
    assert!(text.contains(",disabled (frozen),Group,Sales,Member,Sales EMEA (group); CEO (role and subordinates),\r\n"), "{text}");
    assert!(
        text.contains(
            ",Permission Set,Reports,Assigned,direct; Sales Bundle (permission set group),\r\n"
        ),
        "{text}"
    );
    // Rows are grouped by user: all of Ada's rows come first (lowest id).
    let ada_rows: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("Ada Lovelace,"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(ada_rows, (1..=ada_rows.len()).collect::<Vec<_>>());
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for row in reader.records() {
        assert_eq!(row.unwrap().len(), 9);
    }
}

#[test]
fn export_to_a_file_replaces_it_atomically() {
    let (dir, store) = temp_store();
    let run = write_tiny_org(&store);
    let path = dir.path().join("out.jsonl");
    std::fs::write(&path, "old").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    export_to_output(
        &store,
        run,
        ExportFormat::Jsonl,
        &Output::Path(path.clone()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "a replaced file keeps its permissions");
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        export_bytes(&store, run, ExportFormat::Jsonl)
    );
}

#[test]
fn failing_export_leaves_the_previous_file_untouched_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.csv");
    std::fs::write(&path, "the good export").unwrap();
    let err = write_atomically(&path, |out| {
        out.write_all(b"half of a new export").unwrap();
        Err(StoreError::NoGoodRun)
    })
    .err()
    .unwrap();
    assert!(matches!(err, StoreError::NoGoodRun));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "the good export");
    let names: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, BTreeSet::from(["grid.csv".to_owned()]));
}

#[test]
fn export_into_a_missing_directory_fails_without_creating_anything() {
    let (dir, store) = temp_store();
    let run = write_tiny_org(&store);
    let path = dir.path().join("missing").join("out.csv");
    let err = export_to_output(&store, run, ExportFormat::Csv, &Output::Path(path.clone()))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Io { .. }));
    assert!(!path.exists());
}

/// Not a timed test (figures go in docs): `cargo test --release --lib -- --ignored --nocapture
/// a_million_grants` prints how long the store takes to write and export a million grants.
#[test]
#[ignore = "measurement, run by hand in release"]
fn a_million_grants_write_and_export_measurement() {
    use std::time::Instant;
    let (dir, store) = temp_store();
    let entitlements: Vec<_> = (0..1000)
        .map(|n| ent(rid(T::Permission, n), "assigned"))
        .collect();
    // SF_ACCESS_BENCH_USERS scales it (users x 1,000 grants) while tuning.
    let user_count: u64 = std::env::var("SF_ACCESS_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let users: Vec<_> = (0..user_count).map(|n| rid(T::User, n)).collect();
    let started = Instant::now();
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    let mut batch = Vec::with_capacity(2000);
    let mut total = 0;
    // Pages of 2,000 as the sync engine streams them, users in the outer loop so that the
    // order is not the id order.
    for user in &users {
        for entitlement in &entitlements {
            let mut grant = Grant::direct(*entitlement, *user);
            grant.details.record_id =
                Some(crate::salesforce::SfId::from_counter("0Pa", "5g", total));
            batch.push(grant);
            total += 1;
            if batch.len() == 2000 {
                writer.put_grants(&batch).unwrap();
                batch.clear();
            }
        }
    }
    writer.put_grants(&batch).unwrap();
    let inserted = started.elapsed();
    let run = writer.finish(RunSummary::default()).unwrap();
    let finished = started.elapsed();
    let size = std::fs::metadata(dir.path().join("sf-access.db"))
        .unwrap()
        .len();
    let export_started = Instant::now();
    let mut sink = std::io::sink();
    export(&store, run, ExportFormat::Jsonl, &mut sink).unwrap();
    let jsonl = export_started.elapsed();
    let export_started = Instant::now();
    export(&store, run, ExportFormat::Csv, &mut sink).unwrap();
    let csv = export_started.elapsed();
    let page_started = Instant::now();
    let n = all_grants(&store, run, &GrantFilter::default(), MAX_PAGE_LIMIT).len();
    let paged = page_started.elapsed();
    assert_eq!(n as u64, user_count * 1000);
    println!(
        "{n} grants: put_grants {inserted:.2?}, finish (sort and move into place, counts, checkpoint) {:.2?}, \
         total {finished:.2?} = {:.0} grants/s; file {} MB; jsonl export {jsonl:.2?}, csv export {csv:.2?}, \
         paging all in pages of {MAX_PAGE_LIMIT} {paged:.2?}",
        finished - inserted,
        n as f64 / finished.as_secs_f64(),
        size / 1_000_000,
    );
}

mod schemas {
    //! Every record kind and the run summary validate against `schemas/`.

    use super::*;

    fn validator(schema: &str) -> jsonschema::Validator {
        let schema: serde_json::Value = serde_json::from_str(schema).expect("schema is JSON");
        jsonschema::draft202012::meta::validate(&schema).expect("schema is valid draft 2020-12");
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles")
    }

    fn assert_valid(validator: &jsonschema::Validator, record: &serde_json::Value) {
        let errors: Vec<String> = validator
            .iter_errors(record)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{record}\n{}", errors.join("\n"));
    }

    #[test]
    fn every_exported_record_validates_against_its_schema() {
        let (_dir, store) = temp_store();
        let run = write_tiny_org(&store);
        let validators = [
            (
                "resource_type",
                validator(include_str!("../../schemas/resource_type.json")),
            ),
            (
                "resource",
                validator(include_str!("../../schemas/resource.json")),
            ),
            (
                "entitlement",
                validator(include_str!("../../schemas/entitlement.json")),
            ),
            ("grant", validator(include_str!("../../schemas/grant.json"))),
        ];
        let text = String::from_utf8(export_bytes(&store, run, ExportFormat::Jsonl)).unwrap();
        let mut seen = BTreeSet::new();
        for line in text.lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let kind = record["kind"].as_str().unwrap().to_owned();
            let (_, v) = validators.iter().find(|(k, _)| *k == kind).unwrap();
            assert_valid(v, &record);
            let mut without_kind = record.clone();
            without_kind.as_object_mut().unwrap().remove("kind");
            assert_valid(v, &without_kind);
            seen.insert(kind);
        }
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn schemas_reject_records_that_break_the_contract() {
        let resource = validator(include_str!("../../schemas/resource.json"));
        let grant = validator(include_str!("../../schemas/grant.json"));
        let (_dir, store) = temp_store();
        let run = write_tiny_org(&store);
        let user =
            serde_json::to_value(store.resource(run, rid(T::User, 1)).unwrap().unwrap()).unwrap();
        let mut bad = user.clone();
        bad["id"] = "user:005' OR '1'='1".into();
        assert!(!resource.is_valid(&bad));
        let mut bad = user.clone();
        bad["resource_type"] = "role".into();
        assert!(
            !resource.is_valid(&bad),
            "details block must match the type"
        );
        let mut bad = user.clone();
        bad["user"]["status"] = "maybe".into();
        assert!(!resource.is_valid(&bad));
        let g = serde_json::to_value(tiny_org().grants[0].clone()).unwrap();
        let mut bad = g.clone();
        bad.as_object_mut().unwrap().remove("direct");
        assert!(!grant.is_valid(&bad));
    }

    #[test]
    fn sync_runs_validate_against_the_run_schema() {
        let v = validator(include_str!("../../schemas/sync_run.json"));
        let (_dir, store) = temp_store();
        write_tiny_org(&store);
        let writer = store
            .begin_run(&serde_json::json!({"keep_runs": 5}))
            .unwrap();
        let summary = RunSummary {
            api_calls: ApiCalls {
                total: 3,
                by_object: [("User".to_owned(), 3)].into_iter().collect(),
                daily_remaining: None,
            },
        };
        writer.finish(summary).unwrap();
        store
            .begin_run(&serde_json::json!({}))
            .unwrap()
            .fail("boom")
            .unwrap();
        let _running = store.begin_run(&serde_json::json!({})).unwrap();
        let runs = store.runs().unwrap();
        assert_eq!(runs.len(), 4);
        for run in runs {
            assert_valid(&v, &serde_json::to_value(&run).unwrap());
        }
    }
}

#[test]
fn a_run_can_share_the_records_of_an_earlier_run_and_keeps_it_from_pruning() {
    let (_dir, store) = temp_store();
    let first = write_tiny_org(&store);
    let share = |keep: usize| {
        let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
        writer.set_keep_runs(NonZeroUsize::new(keep).unwrap());
        // Records put before the decision are discarded.
        writer
            .put_resource_types(&tiny_org().resource_types)
            .unwrap();
        let latest = store.latest_run().unwrap().unwrap().id;
        writer.share_records_of(latest).unwrap();
        writer.finish(RunSummary::default()).unwrap()
    };
    let second = share(5);
    assert_eq!(store.records_of(second).unwrap(), first);
    // A chain of shares points at the run that has the records.
    let third = share(1);
    assert_eq!(store.records_of(third).unwrap(), first);
    assert_eq!(store.records_of(first).unwrap(), first);
    for format in [ExportFormat::Jsonl, ExportFormat::Csv] {
        assert_eq!(
            export_bytes(&store, third, format),
            export_bytes(&store, first, format)
        );
    }
    assert_eq!(store.counts(third).unwrap(), store.counts(first).unwrap());
    let filter = GrantFilter::default();
    assert_eq!(
        all_grants(&store, third, &filter, 2),
        all_grants(&store, first, &filter, 2)
    );
    let run = store.run(third).unwrap().unwrap();
    assert_eq!(run.counts, Some(store.counts(first).unwrap()));
    // Keeping one run kept the first too: the third shares its records.
    let ids: Vec<RunId> = store.runs().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![third, first]);
    // Once no kept run shares them, they go.
    let own = write_tiny_org(&store);
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    writer.set_keep_runs(NonZeroUsize::new(1).unwrap());
    writer
        .put_resource_types(&tiny_org().resource_types)
        .unwrap();
    let last = writer.finish(RunSummary::default()).unwrap();
    let ids: Vec<RunId> = store.runs().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![last]);
    assert!(own.get() < last.get());
    // Sharing with a run that is not a good one is refused.
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    assert!(matches!(
        writer.share_records_of(RunId(999)),
        Err(StoreError::UnknownRun(_))
    ));
    writer.fail("test").unwrap();
}

/// Grants of 300 users on 9 entitlements, with tails of every shape (direct, sources,
/// expiry, details), most entitlements spanning several blocks.
fn blocked_grants() -> Vec<Grant> {
    use crate::model::{GrantSource, SourceKind};
    let entitlements: Vec<_> = (0..9).map(|n| ent(rid(T::Group, n), "member")).collect();
    let mut grants = Vec::new();
    for (e, &entitlement) in entitlements.iter().enumerate() {
        // Each entitlement's grants span blocks.
        for u in 0..(blocks::BLOCK_GRANTS as u64 * 5 / 2) {
            if (u + e as u64).is_multiple_of(4) {
                continue;
            }
            let principal = rid(T::User, u);
            let mut grant = if u.is_multiple_of(3) {
                Grant::through(
                    entitlement,
                    principal,
                    GrantSource {
                        entitlement_id: entitlements[(e + 1) % 9],
                        kind: SourceKind::Group,
                    },
                )
            } else {
                Grant::direct(entitlement, principal)
            };
            if u.is_multiple_of(5) {
                grant.details.record_id = Some(rid(T::Group, 1000 + u).sf_id());
            }
            if u.is_multiple_of(7) {
                grant.expires_at =
                    Some(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap());
            }
            grants.push(grant);
        }
    }
    grants.sort_by_key(|g| g.id);
    grants
}

/// `grants` as rows whose principals are indexes into `table` (which holds them all, in
/// order), sources shared where they repeat.
fn rows_of(grants: &[Grant], table: &[ResourceId]) -> GrantRows {
    let mut rows = GrantRows::default();
    for g in grants {
        if rows.entitlements.last() != Some(&g.entitlement_id) {
            rows.entitlements.push(g.entitlement_id);
        }
        let start = rows.source_lists.len() as u32;
        for source in &g.sources {
            let index = match rows.sources.iter().position(|s| s == source) {
                Some(i) => i,
                None => {
                    rows.sources.push(*source);
                    rows.sources.len() - 1
                }
            };
            rows.source_lists.push(index as u32);
        }
        rows.rows.push(GrantRow {
            entitlement: (rows.entitlements.len() - 1) as u32,
            principal: table.binary_search(&g.principal_id).unwrap() as u32,
            direct: g.direct,
            sources: (start, g.sources.len() as u32),
            expires_at: g.expires_at,
            record_id: g.details.record_id,
        });
    }
    rows
}

#[test]
fn grants_in_blocks_read_back_the_same_whatever_order_they_were_written_in() {
    let grants = blocked_grants();
    assert!(grants.len() > 10 * blocks::BLOCK_GRANTS);
    // In order, in batches (blocks filled as they come) ...
    let (_dir_a, in_order) = temp_store();
    let mut writer = in_order.begin_run(&serde_json::json!({})).unwrap();
    for batch in grants.chunks(333) {
        writer.put_grants(batch).unwrap();
    }
    let run_a = writer.finish(RunSummary::default()).unwrap();
    // ... and out of order: some blocks are written, then a batch out of order stages them all.
    let (_dir_b, shuffled) = temp_store();
    let mut writer = shuffled.begin_run(&serde_json::json!({})).unwrap();
    writer.put_grants(&grants[..700]).unwrap();
    let mut rest: Vec<Grant> = grants[700..].to_vec();
    rest.reverse();
    for batch in rest.chunks(211) {
        writer.put_grants(batch).unwrap();
    }
    let run_b = writer.finish(RunSummary::default()).unwrap();
    // ... and as rows naming the principals of a table, mixed with whole grants (the sync
    // sends its users' grants so); the table holds principals with no grant too.
    let table: Vec<ResourceId> = (0..2_000).map(|u| rid(T::User, u)).collect();
    let (_dir_c, as_rows) = temp_store();
    let mut writer = as_rows.begin_run(&serde_json::json!({})).unwrap();
    writer.put_grants(&grants[..100]).unwrap();
    writer.put_principal_table(table.clone()).unwrap();
    for (b, batch) in grants[100..].chunks(333).enumerate() {
        if b % 3 == 2 {
            writer.put_grants(batch).unwrap();
        } else {
            writer.put_grant_rows(&rows_of(batch, &table)).unwrap();
        }
    }
    let run_c = writer.finish(RunSummary::default()).unwrap();
    // ... and rows out of order, which are staged like grants.
    let (_dir_d, rows_shuffled) = temp_store();
    let mut writer = rows_shuffled.begin_run(&serde_json::json!({})).unwrap();
    writer.put_principal_table(table.clone()).unwrap();
    writer
        .put_grant_rows(&rows_of(&grants[..700], &table))
        .unwrap();
    for batch in rest.chunks(211) {
        writer.put_grant_rows(&rows_of(batch, &table)).unwrap();
    }
    let run_d = writer.finish(RunSummary::default()).unwrap();
    assert_eq!(
        export_bytes(&as_rows, run_c, ExportFormat::Jsonl),
        export_bytes(&in_order, run_a, ExportFormat::Jsonl)
    );

    for (store, run) in [
        (&in_order, run_a),
        (&shuffled, run_b),
        (&as_rows, run_c),
        (&rows_shuffled, run_d),
    ] {
        assert_eq!(store.counts(run).unwrap().grants, grants.len() as u64);
        assert_eq!(all_grants(store, run, &GrantFilter::default(), 97), grants);
        for limit in [1, 50, MAX_PAGE_LIMIT] {
            for principal in [rid(T::User, 0), rid(T::User, 131), rid(T::User, 1279)] {
                let filter = GrantFilter {
                    principal: Some(principal),
                    entitlement: None,
                };
                let expected: Vec<Grant> = grants
                    .iter()
                    .filter(|g| g.principal_id == principal)
                    .cloned()
                    .collect();
                assert!(!expected.is_empty());
                assert_eq!(all_grants(store, run, &filter, limit), expected);
            }
            let entitlement = ent(rid(T::Group, 4), "member");
            let filter = GrantFilter {
                principal: None,
                entitlement: Some(entitlement),
            };
            let expected: Vec<Grant> = grants
                .iter()
                .filter(|g| g.entitlement_id == entitlement)
                .cloned()
                .collect();
            assert!(expected.len() > blocks::BLOCK_GRANTS, "spans blocks");
            assert_eq!(all_grants(store, run, &filter, limit), expected);
        }
        for g in grants.iter().step_by(37) {
            assert_eq!(store.grant(run, g.id).unwrap().as_ref(), Some(g));
            let both = GrantFilter {
                principal: Some(g.principal_id),
                entitlement: Some(g.entitlement_id),
            };
            assert_eq!(all_grants(store, run, &both, 10), vec![g.clone()]);
        }
        let missing = GrantId::new(ent(rid(T::Group, 4), "member"), rid(T::User, 4));
        assert!(!grants.iter().any(|g| g.id == missing));
        assert_eq!(store.grant(run, missing).unwrap(), None);
        // By principal, in passes of a few users: every grant once, by principal then id.
        let mut by_principal = grants.clone();
        by_principal.sort_by(|a, b| {
            (a.principal_id.to_string(), a.id.to_string())
                .cmp(&(b.principal_id.to_string(), b.id.to_string()))
        });
        for chunk in [1, 50, 1_000_000] {
            let mut seen = Vec::new();
            store
                .for_each_grant_by_principal_in_chunks(run, T::User, chunk, |g| {
                    seen.push(g);
                    Ok(())
                })
                .unwrap();
            assert_eq!(seen, by_principal, "passes of {chunk} grants");
        }
    }
    assert_eq!(
        export_bytes(&in_order, run_a, ExportFormat::Jsonl),
        export_bytes(&shuffled, run_b, ExportFormat::Jsonl)
    );
}

/// Writes a run of these grants alone.
fn write_grants(store: &Store, grants: &[Grant]) -> RunId {
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    writer.put_grants(grants).unwrap();
    writer.finish(RunSummary::default()).unwrap()
}

#[test]
fn a_damaged_block_of_grants_is_an_error_that_names_the_run_not_a_wrong_answer() {
    let (_dir, store) = temp_store();
    let grants = blocked_grants();
    let run = write_grants(&store, &grants);
    store
        .conn()
        .execute(
            "UPDATE grant_blocks SET data = substr(data, 1, 20) WHERE last_id = (SELECT min(last_id) FROM grant_blocks)",
            [],
        )
        .unwrap();
    let err = store
        .grants(run, &GrantFilter::default(), &PageRequest::first())
        .err()
        .unwrap();
    assert!(
        matches!(err, StoreError::Damaged { run: r, .. } if r == run),
        "{err:?}"
    );
    assert!(err.to_string().contains(&format!("run {run}")), "{err}");
    assert!(err.hint().unwrap().contains("sync into a new file"));
    let mut out = Vec::new();
    assert!(export(&store, run, ExportFormat::Jsonl, &mut out).is_err());
}

/// Every principal's grants in `run`, by the principal filter (what `grants --principal`
/// and the service read from the principal's list).
fn grants_by_principal(store: &Store, run: RunId, grants: &[Grant]) -> Vec<Vec<Grant>> {
    let principals: BTreeSet<ResourceId> = grants.iter().map(|g| g.principal_id).collect();
    principals
        .into_iter()
        .map(|principal| {
            let filter = GrantFilter {
                principal: Some(principal),
                entitlement: None,
            };
            all_grants(store, run, &filter, 40)
        })
        .collect()
}

#[test]
fn a_store_of_schema_3_is_migrated_and_its_runs_read_as_before() {
    let (dir, store) = temp_store();
    let grants = blocked_grants();
    let run = write_grants(&store, &grants);
    let expected = grants_by_principal(&store, run, &grants);
    assert!(expected.iter().all(|g| !g.is_empty()));
    assert_eq!(expected.iter().map(Vec::len).sum::<usize>(), grants.len());

    // Rewrite the run as schema 3 kept it: each list holds its entitlement ids.
    let lists: Vec<(String, Vec<String>)> = {
        let mut stmt = store
            .conn()
            .prepare("SELECT principal_id FROM principal_grants WHERE run_id = ?1")
            .unwrap();
        let principals: Vec<String> = stmt
            .query_map([run.0], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        principals
            .into_iter()
            .map(|p| {
                let ids = store.principal_entitlements(run, &p).unwrap();
                (p, ids)
            })
            .collect()
    };
    for (principal, ids) in &lists {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        store
            .conn()
            .execute(
                "UPDATE principal_grants SET data = ?1 WHERE run_id = ?2 AND principal_id = ?3",
                rusqlite::params![blocks::tests::v3_list(&ids), run.0, principal],
            )
            .unwrap();
    }
    store
        .conn()
        .execute_batch("DROP TABLE grant_entitlements; PRAGMA user_version = 3;")
        .unwrap();
    drop(store);

    let store = Store::open_existing(dir.path().join("sf-access.db")).unwrap();
    let version: i64 = store
        .conn()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
    assert_eq!(grants_by_principal(&store, run, &grants), expected);
    // A new run in the migrated store is written and read in the new way, next to the old.
    let new_run = write_grants(&store, &grants);
    let tables: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM grant_entitlements WHERE run_id = ?1",
            [new_run.0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);
    assert_eq!(grants_by_principal(&store, new_run, &grants), expected);
    assert_eq!(grants_by_principal(&store, run, &grants), expected);
}

#[test]
fn a_damaged_principal_list_or_entitlement_table_is_an_error_not_a_wrong_answer() {
    let (_dir, store) = temp_store();
    let grants = blocked_grants();
    let run = write_grants(&store, &grants);
    let ada = rid(T::User, 7);
    let by_ada = GrantFilter {
        principal: Some(ada),
        entitlement: None,
    };
    assert!(!all_grants(&store, run, &by_ada, 40).is_empty());
    let ada_id = ada.to_string();
    let (data, count): (Vec<u8>, i64) = store
        .conn()
        .query_row(
            "SELECT data, count FROM principal_grants WHERE principal_id = ?1",
            [&ada_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let set_list = |data: &[u8], count: i64| {
        store
            .conn()
            .execute(
                "UPDATE principal_grants SET data = ?1, count = ?2 WHERE principal_id = ?3",
                rusqlite::params![data, count, ada_id],
            )
            .unwrap();
    };
    let damaged = |store: &Store, what: &str| {
        let err = store
            .grants(run, &by_ada, &PageRequest::first())
            .err()
            .unwrap();
        assert!(
            matches!(&err, StoreError::Damaged { run: r, what: w } if *r == run && w.contains(what)),
            "{err:?}"
        );
    };
    // Any flipped bit of the list, a cut, a count the list does not match.
    for i in [0, data.len() / 2, data.len() - 1] {
        let mut flipped = data.clone();
        flipped[i] ^= 0x10;
        set_list(&flipped, count);
        damaged(&store, &ada_id);
    }
    set_list(&data[..data.len() - 1], count);
    damaged(&store, &ada_id);
    set_list(&data, count + 1);
    damaged(&store, &ada_id);
    set_list(&data, count);
    assert!(!all_grants(&store, run, &by_ada, 40).is_empty());
    // A damaged table of entitlements (read by a new connection: the old one keeps it).
    store
        .conn()
        .execute(
            "UPDATE grant_entitlements SET data = substr(data, 1, length(data) - 1)",
            [],
        )
        .unwrap();
    let fresh = Store::open_existing(store.path()).unwrap();
    damaged(&fresh, "entitlements");
    // A crafted count (or length) is an error, not an allocation that aborts the process.
    store
        .conn()
        .execute("UPDATE grant_entitlements SET count = ?1", [1_i64 << 40])
        .unwrap();
    let fresh = Store::open_existing(store.path()).unwrap();
    damaged(&fresh, "entitlements");
}

#[test]
fn a_damaged_grant_count_is_an_error_not_a_panic_or_a_huge_allocation() {
    let (_dir, store) = temp_store();
    let run = write_grants(&store, &blocked_grants());
    for count in [i64::MAX / 2, 0, -3] {
        store
            .conn()
            .execute("UPDATE principal_grants SET count = ?1", [count])
            .unwrap();
        let result = store.for_each_grant_by_principal(run, T::User, |_| Ok(()));
        if count > 0 {
            // A huge count is only a hint: the passes still read every grant.
            result.unwrap();
        } else {
            assert!(
                matches!(result, Err(StoreError::Damaged { .. })),
                "{result:?}"
            );
        }
    }
}

#[test]
fn bad_grant_rows_are_refused_whole_and_say_what_is_wrong() {
    use crate::model::RecordError;
    let grants = blocked_grants();
    let table: Vec<ResourceId> = (0..2_000).map(|u| rid(T::User, u)).collect();
    let (_dir, store) = temp_store();
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    let mut reversed = table.clone();
    reversed.reverse();
    let error = writer.put_principal_table(reversed).unwrap_err();
    assert!(
        matches!(&error, StoreError::BadRows { what } if what.contains("not in id order")),
        "{error:?}"
    );
    writer.put_principal_table(table.clone()).unwrap();
    let good = rows_of(&grants[..50], &table);
    assert!(good.rows.iter().any(|r| r.sources.1 == 1));
    let through = good.rows.iter().position(|r| r.sources.1 == 1).unwrap();
    let direct = good.rows.iter().position(|r| r.sources.1 == 0).unwrap();
    let bad = |change: &dyn Fn(&mut GrantRows)| {
        let mut rows = good.clone();
        change(&mut rows);
        rows
    };
    let out_of_range: [(GrantRows, &str); 4] = [
        (
            bad(&|r| r.rows[3].principal = 2_000),
            "row 3 names principal 2000 of a table of 2000",
        ),
        (
            bad(&|r| r.rows[0].entitlement = 9),
            "row 0 names entitlement 9 of 1",
        ),
        (
            bad(&|r| r.rows[through].sources.0 = 1_000),
            "names sources 1000..1001",
        ),
        (bad(&|r| r.source_lists[0] = 7), "names source 7 of 1"),
    ];
    for (rows, message) in out_of_range {
        let error = writer.put_grant_rows(&rows).unwrap_err();
        assert!(
            matches!(&error, StoreError::BadRows { what } if what.contains(message)),
            "{message}: {error:?}"
        );
    }
    // Not direct without a source; the same source twice.
    let error = writer
        .put_grant_rows(&bad(&|r| r.rows[direct].direct = false))
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Record(RecordError::NoProvenance { .. })),
        "{error:?}"
    );
    let twice = bad(&|r| {
        let start = r.source_lists.len() as u32;
        r.source_lists.extend([0, 0]);
        r.rows[through].sources = (start, 2);
    });
    let error = writer.put_grant_rows(&twice).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Record(RecordError::UnsortedSources { .. })
        ),
        "{error:?}"
    );
    // Nothing of a refused batch was written, and the run goes on.
    writer.put_grant_rows(&good).unwrap();
    let run = writer.finish(RunSummary::default()).unwrap();
    assert_eq!(
        all_grants(&store, run, &GrantFilter::default(), 97),
        grants[..50].to_vec()
    );
}
