//! The sync engine against the emulator over real HTTP: the golden export of the `small`
//! org, page-size independence, the options, interrupted runs, the API call bound, and
//! `sf-access demo` as a black box.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sf_access::emulator::faults::FaultSpec;
use sf_access::emulator::generate::{Preset, SizeOverrides};
use sf_access::emulator::{EmulatorConfig, EmulatorHandle, OrgSource};
use sf_access::salesforce::{BatchSize, BulkSettings};
use sf_access::store::{RunStatus, Store};
use sf_access::sync::{self, Quiet, StoreTarget, SyncError, SyncOptions};

use crate::support::*;

/// The options of the golden file: defaults plus connected apps.
fn with_apps() -> SyncOptions {
    SyncOptions {
        sync_connected_apps: true,
        ..SyncOptions::default()
    }
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines().map(str::to_owned).collect()
}

/// Syncs `options` into a fresh store and returns the jsonl export.
async fn export_of(emulator: &EmulatorHandle, options: &SyncOptions) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sf-access.db");
    sync_into(emulator, &path, options)
        .await
        .expect("sync succeeds");
    jsonl(&path)
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/small.jsonl")
}

#[tokio::test]
async fn small_org_export_matches_the_golden_file() {
    let emulator = small().await;
    let actual = export_of(&emulator, &with_apps()).await;
    emulator.shutdown().await;
    let path = golden_path();
    if std::env::var_os("SF_ACCESS_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("golden dir");
        std::fs::write(&path, &actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect(
        "tests/golden/small.jsonl exists (SF_ACCESS_UPDATE_GOLDEN=1 cargo test golden writes it)",
    );
    if expected != actual {
        let (want, got) = (lines(&expected), lines(&actual));
        let missing: Vec<&String> = want.difference(&got).take(5).collect();
        let extra: Vec<&String> = got.difference(&want).take(5).collect();
        panic!(
            "the small org's export differs from tests/golden/small.jsonl \
             (rerun with SF_ACCESS_UPDATE_GOLDEN=1 and review the diff)\nmissing: {missing:#?}\nextra: {extra:#?}"
        );
    }
}

#[tokio::test]
async fn same_org_gives_byte_identical_exports() {
    let emulator = small().await;
    let first = export_of(&emulator, &with_apps()).await;
    let second = export_of(&emulator, &with_apps()).await;
    emulator.shutdown().await;
    assert_eq!(first, second);
}

/// A medium-shaped org small enough for a debug build, with several objects above 2,000
/// rows (users, assignments, group members, OAuth tokens past the 2,500-row cursor cap).
fn scaled_medium() -> EmulatorConfig {
    let mut config = EmulatorConfig::preset(Preset::Medium);
    config.source = OrgSource::Preset {
        preset: Preset::Medium,
        seed: 5,
        sizes: SizeOverrides {
            users: Some(4_500),
            roles: Some(60),
            profiles: Some(30),
            permission_sets: Some(120),
            permission_set_groups: Some(15),
            groups: Some(60),
            group_members: Some(2_400),
            assignments: Some(9_000),
            connected_apps: Some(12),
            oauth_tokens: Some(5_300),
            permission_set_licenses: Some(8),
        },
    };
    config
}

#[tokio::test]
async fn batch_sizes_200_and_2000_give_identical_exports() {
    let emulator = start(scaled_medium()).await;
    let small_pages = SyncOptions {
        batch_size: BatchSize::MIN,
        ..with_apps()
    };
    let a = export_of(&emulator, &small_pages).await;
    let b = export_of(&emulator, &with_apps()).await;
    emulator.shutdown().await;
    assert!(a.lines().count() > 10_000, "a sizeable export");
    assert!(a == b, "exports differ between batch sizes 200 and 2000");
}

#[tokio::test]
async fn concurrent_and_sequential_pages_give_identical_exports() {
    let emulator = start(scaled_medium()).await;
    let options = |concurrent_pages| SyncOptions {
        batch_size: BatchSize::MIN,
        concurrent_pages,
        ..with_apps()
    };
    emulator.reset_stats();
    let a = export_of(&emulator, &options(true)).await;
    let concurrent_calls = emulator.stats().api_requests;
    emulator.reset_stats();
    let b = export_of(&emulator, &options(false)).await;
    let sequential_calls = emulator.stats().api_requests;
    emulator.shutdown().await;
    assert!(a.lines().count() > 10_000, "a sizeable export");
    assert!(
        a == b,
        "exports differ between concurrent and sequential pages"
    );
    assert_eq!(
        concurrent_calls, sequential_calls,
        "the same pages either way"
    );
}

/// Reads every object above `above` rows through Bulk API 2.0 query jobs, in results sets of
/// 1,500 rows, polling every few milliseconds; pages of 200 rows otherwise.
fn bulk_options(above: u64, timeout: Duration) -> SyncOptions {
    SyncOptions {
        batch_size: BatchSize::MIN,
        bulk_above: Some(above),
        bulk: BulkSettings {
            max_records: 1_500,
            first_poll: Duration::from_millis(5),
            max_poll: Duration::from_millis(40),
            timeout,
        },
        ..with_apps()
    }
}

/// Syncs into a fresh store: the export, the report and the emulator's counters of the sync.
async fn measured_export(
    emulator: &EmulatorHandle,
    options: &SyncOptions,
) -> (String, sync::SyncReport, sf_access::emulator::stats::Stats) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sf-access.db");
    emulator.reset_stats();
    let report = sync_into(emulator, &path, options)
        .await
        .expect("sync succeeds");
    (jsonl(&path), report, emulator.stats())
}

/// Our count of the calls agrees with the server's, in total and object by object.
fn assert_counts_agree(report: &sync::SyncReport, stats: &sf_access::emulator::stats::Stats) {
    assert_eq!(report.api_calls.total, stats.api_requests, "{stats:?}");
    for object in &report.objects {
        assert_eq!(
            object.calls,
            stats
                .requests_by_object
                .get(object.object)
                .copied()
                .unwrap_or(0),
            "calls to {} by our count and by the server's: {:?}",
            object.object,
            stats.requests_by_object
        );
    }
}

/// One sync by pages of 200 rows and one through jobs for every object above 1,000 rows
/// (`bulk_options`), of the same org, into fresh stores.
struct PagesAndJobs {
    page_stats: sf_access::emulator::stats::Stats,
    report: sync::SyncReport,
    stats: sf_access::emulator::stats::Stats,
}

impl PagesAndJobs {
    /// Requests of the sync through jobs to the Bulk API.
    fn bulk_calls(&self) -> u64 {
        self.stats
            .requests_by_endpoint
            .get("bulk_query")
            .copied()
            .unwrap_or(0)
    }

    /// Every object was read by pages after all: the calls are the sync by pages' plus every
    /// Bulk API request, of which there were at least `at_least`.
    fn assert_fell_back_to_pages(&self, at_least: u64) {
        assert!(self.bulk_calls() >= at_least, "{:?}", self.stats);
        assert_eq!(
            self.stats.api_requests,
            self.page_stats.api_requests + self.bulk_calls()
        );
    }
}

/// Runs both syncs (`prepare` changes the org between them) and holds them to what every
/// way of reading promises: the same export, and our per-object call counts equal to the
/// emulator's.
async fn pages_and_jobs(
    config: EmulatorConfig,
    timeout: Duration,
    prepare: impl FnOnce(&EmulatorHandle),
) -> PagesAndJobs {
    let emulator = start(config).await;
    let pages = SyncOptions {
        batch_size: BatchSize::MIN,
        ..with_apps()
    };
    let (by_pages, _, page_stats) = measured_export(&emulator, &pages).await;
    prepare(&emulator);
    let (by_jobs, report, stats) = measured_export(&emulator, &bulk_options(1_000, timeout)).await;
    emulator.shutdown().await;
    assert!(by_jobs.lines().count() > 10_000, "a sizeable export");
    assert!(
        by_jobs == by_pages,
        "exports differ between the sync through jobs and the one by pages"
    );
    assert_counts_agree(&report, &stats);
    PagesAndJobs {
        page_stats,
        report,
        stats,
    }
}

#[tokio::test]
async fn bulk_query_jobs_give_the_same_export_for_far_fewer_calls() {
    let mut config = scaled_medium();
    config.bulk.job_ms = 30;
    config.bulk.job_ms_per_10k_rows = 10;
    let run = pages_and_jobs(config, Duration::from_secs(60), |_| {}).await;
    assert!(
        run.bulk_calls() >= 3 * 4,
        "four objects above 1,000 rows read by jobs: {:?}",
        run.stats
    );
    // Pages of 200 rows against results sets of 1,500 (plus a create and polls a job).
    assert!(
        run.stats.api_requests * 2 < run.page_stats.api_requests,
        "{} calls by jobs against {} by pages",
        run.stats.api_requests,
        run.page_stats.api_requests
    );
    assert!(run.report.api_calls.total < run.report.call_bound);
}

#[tokio::test]
async fn a_bulk_job_still_running_at_the_timeout_is_aborted_and_the_object_read_by_pages() {
    let mut config = scaled_medium();
    // Jobs take a minute; the sync waits 200 ms for each.
    config.bulk.job_ms = 60_000;
    let run = pages_and_jobs(config, Duration::from_millis(200), |_| {}).await;
    // Every job cost its create, its polls and its abort on top of the pages.
    run.assert_fell_back_to_pages(3 * 4);
}

#[tokio::test]
async fn bulk_jobs_that_end_failed_leave_the_objects_to_pages() {
    let mut config = scaled_medium();
    config.bulk = sf_access::emulator::bulk::BulkOptions {
        // Every job runs its time, then ends Failed with a message.
        fail_objects: sf_access::emulator::schema::OBJECTS
            .iter()
            .map(|o| o.name.to_string())
            .collect(),
        job_ms: 20,
        ..sf_access::emulator::bulk::BulkOptions::instant()
    };
    let run = pages_and_jobs(config, Duration::from_secs(60), |_| {}).await;
    // Per object above 1,000 rows: a create and its polls, no results, no abort; then the
    // same pages as the sync by pages.
    run.assert_fell_back_to_pages(2 * 4);
}

#[tokio::test]
async fn bulk_jobs_refused_at_create_leave_the_objects_to_pages() {
    let mut config = scaled_medium();
    config.bulk = sf_access::emulator::bulk::BulkOptions::instant();
    // The org's daily Bulk API 2.0 query jobs are used up: every create is refused (400).
    let run = pages_and_jobs(config, Duration::from_secs(60), |emulator| {
        emulator
            .org()
            .write()
            .expect("org lock")
            .settings
            .daily_bulk_v2_query_jobs = 0;
    })
    .await;
    // One refused create per object above 1,000 rows, nothing else of the Bulk API.
    run.assert_fell_back_to_pages(4);
}

#[tokio::test]
async fn api_calls_stay_within_the_bound_of_a_medium_shaped_org() {
    let emulator = start(scaled_medium()).await;
    emulator.reset_stats();
    let dir = tempfile::tempdir().expect("temp dir");
    let options = with_apps();
    let report = sync_into(&emulator, &dir.path().join("m.db"), &options)
        .await
        .expect("sync succeeds");
    let stats = emulator.stats();
    emulator.shutdown().await;
    // Our own count agrees with the server's.
    assert_eq!(report.api_calls.total, stats.api_requests, "{stats:?}");
    let by_object: u64 = report.objects.iter().map(|o| o.calls).sum();
    assert_eq!(by_object, stats.api_requests);
    // A first sync into a store probes each object with change stamps once before reading
    // it (for the next --incremental sync): at most one probe per object.
    let probes: u64 = report.objects.iter().map(|o| o.probe_calls).sum();
    assert!(report.objects.iter().all(|o| o.probe_calls <= 1));
    // The bound over every row of every object read (filters only lower it).
    let bound: u64 = sync::plan(&options)
        .iter()
        .map(|p| {
            let rows = stats.rows.get(p.object).copied().unwrap_or(0);
            rows.div_ceil(u64::from(p.max_page.min(2000))).max(1)
        })
        .sum();
    assert!(
        stats.api_requests <= bound + probes + 2,
        "{} calls for a bound of {bound} and {probes} probes: {:?}",
        stats.api_requests,
        stats.requests_by_object
    );
    // And the bound over the rows the filtered queries returned.
    assert!(
        report.api_calls.total <= report.call_bound + probes + 2,
        "{report:?}"
    );
    let over_2000: Vec<&str> = report
        .objects
        .iter()
        .filter(|o| o.rows > 2000)
        .map(|o| o.object)
        .collect();
    assert!(over_2000.len() >= 3, "{over_2000:?}");
    let tokens = report
        .objects
        .iter()
        .find(|o| o.object == "OauthToken")
        .expect("tokens read");
    assert_eq!(
        tokens.rows, 5_300,
        "every token past the 2,500-row cursor cap"
    );
}

/// Resource ids (`type:Id`) a jsonl export mentions anywhere.
fn mentions(export: &str, id: &str) -> bool {
    export.contains(&format!(":{id}\"")) || export.contains(&format!(":{id}:"))
}

#[tokio::test]
async fn profile_owned_and_group_aggregate_sets_never_appear_as_permissions() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let (sets, _) = query_all_pages(
        &emulator,
        &token,
        "SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true OR PermissionSetGroupId != null",
        None,
    )
    .await;
    let export = export_of(&emulator, &with_apps()).await;
    emulator.shutdown().await;
    assert!(
        sets.len() > 10,
        "the small org has profile-owned and aggregate sets"
    );
    for set in sets {
        let id = set["Id"].as_str().expect("Id");
        assert!(
            !export.contains(&format!("permission:{id}")),
            "{id} appears as a permission"
        );
    }
}

/// Parses every line of an export.
fn records(export: &str) -> Vec<serde_json::Value> {
    export
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl line"))
        .collect()
}

/// The user ids whose resource matches `pred`.
fn users_where(export: &str, pred: impl Fn(&serde_json::Value) -> bool) -> BTreeSet<String> {
    records(export)
        .into_iter()
        .filter(|r| r["kind"] == "resource" && r["resource_type"] == "user" && pred(&r["user"]))
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

/// True when a jsonl line is about one of `users`: the user's resource or a grant to it.
fn about(line: &str, users: &BTreeSet<String>) -> bool {
    let r: serde_json::Value = serde_json::from_str(line).expect("jsonl line");
    let id = match r["kind"].as_str() {
        Some("resource") => r["id"].as_str(),
        Some("grant") => r["principal_id"].as_str(),
        _ => None,
    };
    id.is_some_and(|id| users.contains(id))
}

#[tokio::test]
async fn each_option_changes_what_it_says_and_nothing_else() {
    let emulator = small().await;
    // The small org's emails equal the usernames; give one user another, so that
    // --user-username-for-email has something to change.
    let token = token(&emulator).await;
    let rep = first_id(
        &emulator,
        &token,
        "SELECT Id FROM User WHERE Username LIKE 'sales.rep@%'",
    )
    .await;
    let patched = rest(
        &emulator,
        &token,
        reqwest::Method::PATCH,
        &format!("/services/data/v66.0/sobjects/User/{rep}"),
        Some(serde_json::json!({"Email": "sam.seller@mail.example"})),
    )
    .await;
    assert_eq!(patched.status, 204, "{}", patched.body);
    let base = export_of(&emulator, &with_apps()).await;
    let base_lines = lines(&base);
    assert!(base.contains("sam.seller@mail.example"));

    // --sync-deactivated-users false: inactive users and their grants go, nothing else.
    let active_only = export_of(
        &emulator,
        &SyncOptions {
            sync_deactivated_users: false,
            ..with_apps()
        },
    )
    .await;
    let inactive = users_where(&base, |u| u["status_detail"] == "inactive");
    assert!(!inactive.is_empty());
    let now = lines(&active_only);
    assert!(now.is_subset(&base_lines), "only removals");
    for line in base_lines.difference(&now) {
        assert!(
            about(line, &inactive),
            "removed but not about an inactive user: {line}"
        );
    }
    for line in &base_lines {
        if about(line, &inactive) {
            assert!(!now.contains(line), "kept: {line}");
        }
    }

    // --sync-non-standard-users true: portal, community, Chatter Free and guest users come in.
    let everyone = export_of(
        &emulator,
        &SyncOptions {
            sync_non_standard_users: true,
            ..with_apps()
        },
    )
    .await;
    let extra = users_where(&everyone, |u| {
        [
            "CspLitePortal",
            "CustomerSuccess",
            "PowerCustomerSuccess",
            "CsnOnly",
            "Guest",
        ]
        .contains(&u["user_type"].as_str().unwrap_or(""))
    });
    assert!(extra.len() >= 4, "{extra:?}");
    let now = lines(&everyone);
    assert!(base_lines.is_subset(&now), "only additions");
    for line in now.difference(&base_lines) {
        assert!(
            about(line, &extra),
            "added but not about a non-standard user: {line}"
        );
    }

    // --user-username-for-email: only the users' email changes.
    let by_username = export_of(
        &emulator,
        &SyncOptions {
            user_username_for_email: true,
            ..with_apps()
        },
    )
    .await;
    let (a, b) = (records(&base), records(&by_username));
    assert_eq!(a.len(), b.len());
    let mut changed = 0;
    for (mut before, after) in a.into_iter().zip(b) {
        if before != after {
            assert_eq!(before["resource_type"], "user", "{after}");
            assert_eq!(after["user"]["email"], after["user"]["username"]);
            before["user"]["email"] = after["user"]["email"].clone();
            assert_eq!(before, after, "only the email differs");
            changed += 1;
        }
    }
    assert_eq!(changed, 1, "the one user whose email is not its username");

    // Without --sync-connected-apps: every connected-app record goes, nothing else.
    let no_apps = export_of(&emulator, &SyncOptions::default()).await;
    emulator.shutdown().await;
    let now = lines(&no_apps);
    assert!(now.is_subset(&base_lines), "only removals");
    let removed: Vec<&String> = base_lines.difference(&now).collect();
    assert!(removed.len() > 20);
    for line in removed {
        assert!(line.contains("connected_application"), "{line}");
    }
    assert!(!no_apps.contains("connected_application"));
}

#[tokio::test]
async fn cyclic_group_nesting_terminates_with_provenance() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let cycle = |name: &'static str| {
        let emulator = &emulator;
        let token = &token;
        async move {
            first_id(
                emulator,
                token,
                &format!("SELECT Id FROM Group WHERE Name = '{name}'"),
            )
            .await
        }
    };
    let (a, b) = (cycle("Nested Cycle A").await, cycle("Nested Cycle B").await);
    let rep = first_id(
        &emulator,
        &token,
        "SELECT Id FROM User WHERE Username LIKE 'sales.rep@%'",
    )
    .await;
    let export = tokio::time::timeout(Duration::from_secs(60), export_of(&emulator, &with_apps()))
        .await
        .expect("the sync terminates");
    emulator.shutdown().await;
    let grant = records(&export)
        .into_iter()
        .find(|r| {
            r["kind"] == "grant" && r["id"] == format!("group:{b}:member:user:{rep}").as_str()
        })
        .expect("the sales rep is in B through A");
    let sources: Vec<String> = grant["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["entitlement_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(sources.contains(&format!("group:{a}:member")), "{grant}");
    assert!(mentions(&export, &a) && mentions(&export, &b));
}

#[tokio::test]
async fn failed_sync_leaves_the_previous_run_latest() {
    let emulator = small().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sf-access.db");
    let good = sync_into(&emulator, &path, &with_apps())
        .await
        .expect("first sync succeeds");
    let before = jsonl(&path);

    // The org's daily limit runs out a few calls into the next run.
    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("limit-after=5").expect("fault spec"));
    let error = sync_into(&emulator, &path, &with_apps())
        .await
        .expect_err("the second sync fails");
    assert!(matches!(error, SyncError::Fetch { .. }), "{error:?}");
    emulator.set_faults(FaultSpec::default());

    // Interrupted (Ctrl-C) before it finished.
    let interrupted = sync::run(
        &client(&emulator),
        &StoreTarget::new(&path),
        &with_apps(),
        &Quiet,
        async {},
    )
    .await
    .expect_err("interrupted");
    assert!(
        matches!(interrupted, SyncError::Interrupted),
        "{interrupted:?}"
    );
    emulator.shutdown().await;

    let store = Store::open_existing(&path).expect("store opens");
    let latest = store.latest_run().expect("reads").expect("a good run");
    assert_eq!(latest.id, good.run);
    let runs = store.runs().expect("runs");
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 2, "{runs:?}");
    assert!(
        failed.iter().any(|r| r
            .error
            .as_deref()
            .is_some_and(|e| e.contains("REQUEST_LIMIT_EXCEEDED") || e.contains("limit"))),
        "{failed:?}"
    );
    drop(store);
    assert_eq!(jsonl(&path), before, "the data is the first run's");
}

#[tokio::test]
async fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sf-access"));
        command
            .current_dir(dir.path())
            .env_clear()
            .args(args)
            .kill_on_drop(true);
        async move {
            tokio::time::timeout(Duration::from_secs(120), command.output())
                .await
                .expect("finishes")
                .expect("the binary runs")
        }
    };
    let output = run(&["demo"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(dir.path().join("sf-access-demo.db").is_file());
    assert!(stdout.contains("Try next"), "{stdout}");
    assert!(stdout.contains("OauthToken"), "the summary table: {stdout}");
    assert!(stdout.contains("sf-access check"), "{stdout}");
    // The suggested follow-ups work.
    let show = run(&[
        "show",
        "resources",
        "--file",
        "sf-access-demo.db",
        "--type",
        "role",
    ])
    .await;
    assert_eq!(show.status.code(), Some(0), "{show:?}");
    assert!(String::from_utf8_lossy(&show.stdout).contains("Sales Rep West"));
    let csv = run(&[
        "export",
        "--file",
        "sf-access-demo.db",
        "--format",
        "csv",
        "--output",
        "access-review.csv",
    ])
    .await;
    assert_eq!(csv.status.code(), Some(0), "{csv:?}");
    let grid = std::fs::read_to_string(dir.path().join("access-review.csv")).expect("csv");
    assert!(grid.lines().count() > 100);
}

#[tokio::test]
async fn sync_command_takes_baton_settings_and_writes_an_export() {
    let emulator = small().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let c = emulator.credentials().clone();
    let run = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sf-access"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("SF_ACCESS_SALESFORCE_CLIENT_SECRET", &c.client_secret)
            .env("BATON_SYNC_DEACTIVATED_USERS", "false")
            .args([
                "sync",
                "--instance-url",
                &c.instance_url,
                "--salesforce-client-id",
                &c.client_id,
            ])
            .args(extra)
            .kill_on_drop(true);
        async move {
            tokio::time::timeout(Duration::from_secs(120), command.output())
                .await
                .expect("finishes")
                .expect("the binary runs")
        }
    };
    let output = run(&["--file", "x.db", "--output", "x.jsonl", "--keep-runs", "2"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Sync succeeded."),
        "log lines off a terminal: {stderr}"
    );
    assert!(
        stderr.contains("sobject=\"PermissionSetAssignment\""),
        "{stderr}"
    );
    let export = std::fs::read_to_string(dir.path().join("x.jsonl")).expect("export written");
    assert!(export.contains("\"status_detail\":\"frozen\""));
    assert!(
        !export.contains("\"status_detail\":\"inactive\""),
        "BATON_SYNC_DEACTIVATED_USERS=false is honoured"
    );
    assert!(
        !export.contains("connected_application:"),
        "apps are opt-in"
    );

    // Nothing changed: an incremental sync reads each (one-page) object once, finds the same
    // rows, and its run shares the first run's records.
    let again = run(&["--file", "x.db", "--incremental"]).await;
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("shares_records_of=1"), "{stderr}");
    assert!(
        stderr.contains("api_calls=14 "),
        "one call per object: {stderr}"
    );

    let bad = run(&["--file", "x.db", "--batch-size", "100"]).await;
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("--batch-size") && stderr.contains("200 to 2000"),
        "{stderr}"
    );

    let wrong_secret = {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sf-access"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("SF_ACCESS_SALESFORCE_CLIENT_SECRET", "nope")
            .args([
                "sync",
                "--instance-url",
                &c.instance_url,
                "--salesforce-client-id",
                &c.client_id,
                "--file",
                "x.db",
            ])
            .kill_on_drop(true);
        command.output().await.expect("the binary runs")
    };
    emulator.shutdown().await;
    assert_eq!(
        wrong_secret.status.code(),
        Some(3),
        "authentication failure"
    );
    // A failed login leaves no failed run behind.
    let store = Store::open_existing(dir.path().join("x.db")).expect("store");
    assert_eq!(store.runs().expect("runs").len(), 2);
}

/// Signals when the engine starts expanding (the fetch is over).
struct SignalOnExpand(std::sync::Arc<tokio::sync::Notify>);

impl sync::Progress for SignalOnExpand {
    fn phase(&self, _message: &'static str) {
        self.0.notify_one();
    }
}

#[tokio::test]
async fn interrupt_during_expansion_stops_promptly() {
    // Deep random nesting: several hundred thousand membership grants to expand and write.
    let mut config = EmulatorConfig::preset(Preset::Medium);
    config.source = OrgSource::Preset {
        preset: Preset::Medium,
        seed: 9,
        sizes: SizeOverrides {
            users: Some(3_000),
            groups: Some(300),
            group_members: Some(9_000),
            assignments: Some(3_000),
            oauth_tokens: Some(100),
            ..SizeOverrides::default()
        },
    };
    let emulator = start(config).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sf-access.db");
    let expanding = std::sync::Arc::new(tokio::sync::Notify::new());
    let progress = SignalOnExpand(expanding.clone());
    let interrupted_at = std::sync::Arc::new(std::sync::Mutex::new(None));
    let at = interrupted_at.clone();
    let result = sync::run(
        &client(&emulator),
        &StoreTarget::new(&path),
        &SyncOptions::default(),
        &progress,
        async move {
            expanding.notified().await;
            *at.lock().expect("lock") = Some(std::time::Instant::now());
        },
    )
    .await;
    let stopped_after = interrupted_at
        .lock()
        .expect("lock")
        .expect("interrupted")
        .elapsed();
    emulator.shutdown().await;
    assert!(matches!(result, Err(SyncError::Interrupted)), "{result:?}");
    // Without stopping the expansion thread this waits for every grant to be written.
    assert!(
        stopped_after < Duration::from_secs(3),
        "took {stopped_after:?}"
    );
    let store = Store::open_existing(&path).expect("store");
    assert!(store.latest_run().expect("reads").is_none());
    let runs = store.runs().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Failed);
}
