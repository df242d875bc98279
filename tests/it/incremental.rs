//! `sync --incremental` against the emulator over real HTTP: after random batches of changes an
//! incremental sync gives the same export as a full sync into a fresh store, unchanged
//! objects cost their one probe call, and a change is never copied over.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::Method;
use serde_json::json;
use sf_access::emulator::EmulatorHandle;
use sf_access::emulator::generate::{Preset, SizeOverrides};
use sf_access::emulator::{EmulatorConfig, OrgSource};
use sf_access::salesforce::BatchSize;
use sf_access::store::Store;
use sf_access::sync::{SyncOptions, SyncReport};

use crate::support::*;

/// An org with most objects above one 200-row page (profiles, roles, users, logins, groups,
/// members, permission sets, assignments, license assignments, OAuth tokens), so that their
/// rows are copied through their snapshots; small enough for a debug build.
fn org() -> EmulatorConfig {
    let mut config = EmulatorConfig::preset(Preset::Medium);
    config.source = OrgSource::Preset {
        preset: Preset::Medium,
        seed: 11,
        sizes: SizeOverrides {
            users: Some(900),
            roles: Some(210),
            profiles: Some(210),
            permission_sets: Some(60),
            permission_set_groups: Some(8),
            groups: Some(40),
            group_members: Some(700),
            assignments: Some(1_800),
            connected_apps: Some(6),
            oauth_tokens: Some(700),
            permission_set_licenses: Some(6),
        },
    };
    config
}

fn options(incremental: bool) -> SyncOptions {
    SyncOptions {
        sync_connected_apps: true,
        batch_size: BatchSize::MIN,
        incremental,
        ..SyncOptions::default()
    }
}

async fn sync(emulator: &EmulatorHandle, path: &Path, options: &SyncOptions) -> SyncReport {
    sync_into(emulator, path, options)
        .await
        .expect("sync succeeds")
}

/// The export of a full sync into a fresh store.
async fn full_export(emulator: &EmulatorHandle) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("full.db");
    sync(emulator, &path, &options(false)).await;
    jsonl(&path)
}

fn copied(report: &SyncReport) -> BTreeSet<&'static str> {
    report
        .objects
        .iter()
        .filter(|o| o.copied)
        .map(|o| o.object)
        .collect()
}

/// Ids of `soql`'s rows (first 2,000).
async fn ids(emulator: &EmulatorHandle, token: &str, soql: &str) -> Vec<String> {
    let result = query(emulator, token, soql).await;
    assert_eq!(result.status, 200, "{soql}: {}", result.body);
    result.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["Id"].as_str().map(str::to_owned))
        .collect()
}

fn pick<'a>(rng: &mut fastrand::Rng, ids: &'a [String]) -> &'a str {
    &ids[rng.usize(..ids.len())]
}

/// The kinds of change a batch draws from, and the object each one changes.
const CHANGES: [(&str, &str); 7] = [
    ("add a group member", "GroupMember"),
    ("remove a group member", "GroupMember"),
    (
        "remove a permission set assignment",
        "PermissionSetAssignment",
    ),
    ("add a permission set assignment", "PermissionSetAssignment"),
    ("rename or deactivate a user", "User"),
    ("freeze a login", "UserLogin"),
    ("remove a license assignment", "PermissionSetLicenseAssign"),
];

/// Applies `count` random changes of the kinds `kinds` (indexes into `CHANGES`) through the
/// REST API, as an admin would. Returns the objects changed.
async fn change(
    emulator: &EmulatorHandle,
    rng: &mut fastrand::Rng,
    kinds: &[usize],
    count: usize,
) -> BTreeSet<&'static str> {
    let token = token(emulator).await;
    let t = token.as_str();
    let mut changed = BTreeSet::new();
    for n in 0..count {
        let kind = kinds[n % kinds.len()];
        let sobject = |path: &str| format!("/services/data/v66.0/sobjects/{path}");
        let response = match kind {
            0 => {
                let groups = ids(emulator, t, "SELECT Id FROM Group WHERE Type = 'Regular'").await;
                let users = ids(emulator, t, "SELECT Id FROM User WHERE IsActive = true AND UserType = 'Standard' ORDER BY Id LIMIT 2000").await;
                let body =
                    json!({"GroupId": pick(rng, &groups), "UserOrGroupId": pick(rng, &users)});
                rest(
                    emulator,
                    t,
                    Method::POST,
                    &sobject("GroupMember"),
                    Some(body),
                )
                .await
            }
            1 => {
                let members = ids(
                    emulator,
                    t,
                    "SELECT Id FROM GroupMember ORDER BY Id LIMIT 2000",
                )
                .await;
                let path = sobject(&format!("GroupMember/{}", pick(rng, &members)));
                rest(emulator, t, Method::DELETE, &path, None).await
            }
            2 => {
                let assignments = ids(emulator, t, "SELECT Id FROM PermissionSetAssignment WHERE PermissionSet.IsOwnedByProfile = false ORDER BY Id LIMIT 2000").await;
                let path = sobject(&format!(
                    "PermissionSetAssignment/{}",
                    pick(rng, &assignments)
                ));
                rest(emulator, t, Method::DELETE, &path, None).await
            }
            3 => {
                // Unlicensed sets fit every user; a duplicate is refused and simply retried.
                let sets = ids(emulator, t, "SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = false AND Type = 'Regular' AND LicenseId = null").await;
                let users = ids(emulator, t, "SELECT Id FROM User WHERE IsActive = true AND UserType = 'Standard' ORDER BY Id LIMIT 2000").await;
                let body =
                    json!({"AssigneeId": pick(rng, &users), "PermissionSetId": pick(rng, &sets)});
                rest(
                    emulator,
                    t,
                    Method::POST,
                    &sobject("PermissionSetAssignment"),
                    Some(body),
                )
                .await
            }
            4 => {
                let users = ids(
                    emulator,
                    t,
                    "SELECT Id FROM User WHERE UserType = 'Standard' ORDER BY Id LIMIT 2000",
                )
                .await;
                let body = if rng.bool() {
                    json!({"FirstName": format!("Renamed {}", rng.u32(..))})
                } else {
                    json!({"IsActive": false})
                };
                let path = sobject(&format!("User/{}", pick(rng, &users)));
                rest(emulator, t, Method::PATCH, &path, Some(body)).await
            }
            5 => {
                let logins = ids(
                    emulator,
                    t,
                    "SELECT Id FROM UserLogin WHERE IsFrozen = false ORDER BY Id LIMIT 2000",
                )
                .await;
                let path = sobject(&format!("UserLogin/{}", pick(rng, &logins)));
                rest(
                    emulator,
                    t,
                    Method::PATCH,
                    &path,
                    Some(json!({"IsFrozen": true})),
                )
                .await
            }
            _ => {
                let licenses = ids(
                    emulator,
                    t,
                    "SELECT Id FROM PermissionSetLicenseAssign ORDER BY Id LIMIT 2000",
                )
                .await;
                let path = sobject(&format!(
                    "PermissionSetLicenseAssign/{}",
                    pick(rng, &licenses)
                ));
                rest(emulator, t, Method::DELETE, &path, None).await
            }
        };
        if (200..300).contains(&response.status) {
            changed.insert(CHANGES[kind].1);
        } else {
            // A refused change (a duplicate, a license mismatch) changes nothing; fine.
            assert_eq!(
                response.status, 400,
                "{}: {}",
                CHANGES[kind].0, response.body
            );
        }
    }
    changed
}

#[tokio::test]
async fn incremental_sync_equals_a_full_sync_after_random_changes() {
    equals_a_full_sync_after_random_changes(options(true), org()).await;
}

/// The same through Bulk API 2.0 query jobs for every object above 300 rows (results sets of
/// 250 rows): the incremental syncs read by jobs, the full syncs they are held to by REST pages.
#[tokio::test]
async fn incremental_sync_by_bulk_query_jobs_equals_a_full_sync_by_pages() {
    let mut config = org();
    config.bulk.job_ms = 20;
    config.bulk.job_ms_per_10k_rows = 0;
    let bulk = SyncOptions {
        bulk_above: Some(300),
        bulk: sf_access::salesforce::BulkSettings {
            max_records: 250,
            first_poll: std::time::Duration::from_millis(5),
            max_poll: std::time::Duration::from_millis(20),
            timeout: std::time::Duration::from_secs(60),
        },
        ..options(true)
    };
    equals_a_full_sync_after_random_changes(bulk, config).await;
}

async fn equals_a_full_sync_after_random_changes(incremental: SyncOptions, config: EmulatorConfig) {
    let emulator = start(config).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("incremental.db");
    let first = sync(&emulator, &path, &incremental).await;
    assert!(copied(&first).is_empty(), "nothing to copy from yet");
    assert_eq!(jsonl(&path), full_export(&emulator).await);

    let mut rng = fastrand::Rng::with_seed(20261122);
    let mut ever_changed = BTreeSet::new();
    let mut ever_copied = BTreeSet::new();
    for round in 0..4 {
        // Two kinds of change a round, so that other objects stay unchanged.
        let a = rng.usize(..CHANGES.len());
        let b = (a + 1 + rng.usize(..CHANGES.len() - 1)) % CHANGES.len();
        let changed = change(&emulator, &mut rng, &[a, b], 6).await;
        ever_changed.extend(changed.iter().copied());
        let report = sync(&emulator, &path, &incremental).await;
        if !changed.is_empty() {
            assert_eq!(report.shares_records_of, None, "round {round}: {changed:?}");
        }
        let copies = copied(&report);
        assert!(
            copies.is_disjoint(&changed),
            "round {round}: changed {changed:?} but copied {copies:?}"
        );
        ever_copied.extend(copies);
        let incremental = jsonl(&path);
        let full = full_export(&emulator).await;
        assert!(
            incremental == full,
            "round {round}: the incremental export differs from a full sync's after changing {changed:?}"
        );
    }
    emulator.shutdown().await;
    // Both paths were taken: copies of untouched objects, reads of changed ones.
    assert!(ever_copied.len() >= 2, "copied {ever_copied:?}");
    assert!(!ever_changed.is_empty());
}

#[tokio::test]
async fn an_unchanged_org_costs_one_call_per_object() {
    let emulator = start(org()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    // The first incremental sync into a store reads everything, probing first.
    let full = sync(&emulator, &path, &options(true)).await;
    assert!(copied(&full).is_empty());
    assert!(
        full.objects.iter().all(|o| o.probe_calls == 1
            || o.object.contains("License")
            || o.object == "Organization"),
        "{:?}",
        full.objects
    );
    let before = jsonl(&path);
    emulator.reset_stats();
    let again = sync(&emulator, &path, &options(true)).await;
    let stats = emulator.stats();
    emulator.shutdown().await;

    assert_eq!(again.api_calls.total, stats.api_requests, "{stats:?}");
    assert_eq!(
        stats.api_requests,
        again.objects.len() as u64,
        "one call per object: {:?}",
        stats.requests_by_object
    );
    for o in &again.objects {
        assert_eq!(o.calls, 1, "{}", o.object);
        let multi_page = full
            .objects
            .iter()
            .find(|f| f.object == o.object)
            .is_some_and(|f| f.calls - f.probe_calls > 1);
        assert_eq!(o.copied, multi_page, "{} copied: {}", o.object, o.copied);
    }
    let copies = copied(&again);
    for object in [
        "Profile",
        "UserRole",
        "User",
        "UserLogin",
        "Group",
        "GroupMember",
        "PermissionSet",
        "PermissionSetAssignment",
        "OauthToken",
    ] {
        assert!(copies.contains(object), "{object} not copied: {copies:?}");
    }
    assert_eq!(again.copied_from, Some(full.run));
    // Nothing changed: the run shares the records of the first instead of rebuilding them.
    assert_eq!(again.shares_records_of, Some(full.run));
    assert!(
        again.objects.iter().all(|o| o.unchanged),
        "{:?}",
        again.objects
    );
    assert_eq!(again.counts, full.counts);
    assert_eq!(jsonl(&path), before, "the same records");
    let store = Store::open_existing(&path).expect("store");
    assert_eq!(
        store.latest_run().expect("runs").expect("a run").id,
        again.run
    );
}

#[tokio::test]
async fn a_plain_sync_into_a_new_store_makes_no_probes_and_the_next_keeps_baselines() {
    let emulator = start(org()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    let first = sync(&emulator, &path, &options(false)).await;
    assert!(
        first.objects.iter().all(|o| o.probe_calls == 0),
        "{:?}",
        first.objects
    );
    assert_eq!(first.api_calls.total, first.call_bound);
    // The next plain sync probes the objects it now knows span several pages ...
    let second = sync(&emulator, &path, &options(false)).await;
    for o in &second.objects {
        let multi_page = o.calls - o.probe_calls > 1;
        let stamped = !o.object.contains("License") && o.object != "Organization";
        assert_eq!(o.probe_calls, u64::from(multi_page && stamped), "{o:?}");
    }
    // ... so an incremental sync after it copies them.
    let third = sync(&emulator, &path, &options(true)).await;
    emulator.shutdown().await;
    assert_eq!(
        third.api_calls.total,
        third.objects.len() as u64,
        "{:?}",
        third.objects
    );
    assert_eq!(third.copied_from, Some(second.run));
}

#[tokio::test]
async fn other_options_never_reuse_rows_read_with_different_filters() {
    let emulator = start(org()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    sync(&emulator, &path, &options(true)).await;
    // Without deactivated users the User query differs: User is read, not copied.
    let active_only = SyncOptions {
        sync_deactivated_users: false,
        ..options(true)
    };
    let report = sync(&emulator, &path, &active_only).await;
    assert!(!copied(&report).contains("User"), "{:?}", copied(&report));
    assert!(copied(&report).contains("GroupMember"));
    let fresh = tempfile::tempdir().expect("temp dir");
    let fresh_path = fresh.path().join("f.db");
    sync(
        &emulator,
        &fresh_path,
        &SyncOptions {
            incremental: false,
            ..active_only
        },
    )
    .await;
    emulator.shutdown().await;
    assert_eq!(jsonl(&path), jsonl(&fresh_path));
}

#[tokio::test]
async fn a_store_without_kept_rows_falls_back_to_reading() {
    let emulator = start(org()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    sync(&emulator, &path, &options(true)).await;
    // Damage the kept rows of GroupMember (as a store from a crashed disk might be).
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        let n = conn
            .execute(
                "UPDATE object_snapshots SET data = x'00' WHERE object = 'GroupMember'",
                [],
            )
            .expect("update");
        assert_eq!(n, 1);
    }
    let report = sync(&emulator, &path, &options(true)).await;
    let members = report
        .objects
        .iter()
        .find(|o| o.object == "GroupMember")
        .expect("read");
    assert!(!members.copied);
    assert!(members.calls > 2, "probe, then every page: {members:?}");
    let full = full_export(&emulator).await;
    emulator.shutdown().await;
    assert_eq!(jsonl(&path), full);
}

#[tokio::test]
async fn a_change_to_an_object_read_in_one_page_is_seen() {
    let emulator = start(org()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    let first = sync(&emulator, &path, &options(true)).await;
    let token = token(&emulator).await;
    let group = first_id(
        &emulator,
        &token,
        "SELECT Id FROM PermissionSetGroup ORDER BY Id LIMIT 1",
    )
    .await;
    let renamed = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("/services/data/v66.0/sobjects/PermissionSetGroup/{group}"),
        Some(json!({"MasterLabel": "Renamed between syncs"})),
    )
    .await;
    assert_eq!(renamed.status, 204, "{}", renamed.body);
    let second = sync(&emulator, &path, &options(true)).await;
    let groups = second
        .objects
        .iter()
        .find(|o| o.object == "PermissionSetGroup")
        .expect("read");
    assert!(!groups.unchanged && !groups.copied, "{groups:?}");
    assert_eq!(second.shares_records_of, None);
    let incremental = jsonl(&path);
    assert!(incremental.contains("Renamed between syncs"));
    let full = full_export(&emulator).await;
    emulator.shutdown().await;
    assert_eq!(incremental, full);
    assert_ne!(first.run, second.run);
}

#[tokio::test]
async fn kept_rows_that_cannot_be_decoded_fail_the_run_only_when_it_needs_them() {
    let emulator = start(org()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    let first = sync(&emulator, &path, &options(true)).await;
    // GroupMember's kept rows become a well-formed zstd frame of something that is not rows:
    // they pass the check an unchanged object gets, and only decoding them fails.
    {
        let garbage = zstd::encode_all(&b"{not rows}"[..], 1).expect("zstd");
        let conn = rusqlite::Connection::open(&path).expect("open");
        let n = conn
            .execute(
                "UPDATE object_snapshots SET data = ?1 WHERE object = 'GroupMember'",
                [garbage],
            )
            .expect("update");
        assert_eq!(n, 1);
    }
    // Nothing changed: the rows are never decoded, the run shares the first one's records.
    let second = sync(&emulator, &path, &options(true)).await;
    assert_eq!(second.shares_records_of, Some(first.run));
    // A change elsewhere: the run must build its records, needs GroupMember's rows, fails
    // clearly, and the last good run stays the latest.
    let token = token(&emulator).await;
    let user = first_id(
        &emulator,
        &token,
        "SELECT Id FROM User WHERE UserType = 'Standard' ORDER BY Id LIMIT 1",
    )
    .await;
    let renamed = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("/services/data/v66.0/sobjects/User/{user}"),
        Some(json!({"FirstName": "Changed"})),
    )
    .await;
    assert_eq!(renamed.status, 204, "{}", renamed.body);
    let error = sync_into(&emulator, &path, &options(true))
        .await
        .expect_err("the kept rows are needed and broken");
    let message = error.to_string();
    assert!(
        message.contains("GroupMember") && message.contains("cannot be read"),
        "{message}"
    );
    assert!(
        error
            .hint()
            .expect("a hint")
            .contains("without --incremental")
    );
    let store = Store::open_existing(&path).expect("store");
    assert_eq!(
        store.latest_run().expect("runs").expect("a run").id,
        second.run
    );
    drop(store);
    // A plain sync reads everything again and recovers.
    let plain = sync(&emulator, &path, &options(false)).await;
    let full = full_export(&emulator).await;
    emulator.shutdown().await;
    assert!(plain.objects.iter().all(|o| !o.copied));
    assert_eq!(jsonl(&path), full);
}

#[tokio::test]
async fn records_are_not_shared_with_a_run_written_by_another_version() {
    let emulator = start(org()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    let first = sync(&emulator, &path, &options(true)).await;
    let before = jsonl(&path);
    // As if an older sf-access had written the first run.
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        let n = conn
            .execute(
                "UPDATE sync_runs SET options = json_replace(options, '$.sf_access_version', '0.0.1') WHERE id = ?1",
                [first.run.get()],
            )
            .expect("update");
        assert_eq!(n, 1);
    }
    let second = sync(&emulator, &path, &options(true)).await;
    emulator.shutdown().await;
    // Its rows are still copied (they are Salesforce's), but its records are rebuilt.
    assert!(copied(&second).contains("PermissionSetAssignment"));
    assert_eq!(second.shares_records_of, None);
    assert_eq!(jsonl(&path), before, "rebuilt, the same records");
}
