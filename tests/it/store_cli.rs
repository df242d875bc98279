//! Black-box tests of `sf-access export` and `sf-access show` against a store written through
//! the library: exit codes, stderr wording, output files.

use std::path::Path;
use std::process::{Command, Output};

use sf_access::model::{
    Entitlement, EntitlementId, Grant, GroupDetails, GroupType, Resource, ResourceDetails,
    ResourceId, ResourceType, ResourceTypeId, UserDetails, UserStatusDetail,
};
use sf_access::salesforce::SfId;
use sf_access::store::{ExportFormat, RunSummary, Store, export};

fn sf_access(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sf-access"))
        .args(args)
        .current_dir(dir)
        .env_remove("SF_ACCESS_FILE")
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn user_id() -> ResourceId {
    ResourceId::new(ResourceTypeId::User, SfId::from_counter("005", "5g", 1)).unwrap()
}

/// A store with one successful run: one user, one group, one membership.
fn write_store(path: &Path) {
    let store = Store::open(path).unwrap();
    let group = ResourceId::new(ResourceTypeId::Group, SfId::from_counter("00G", "5g", 1)).unwrap();
    let member = EntitlementId::new(group, "member").unwrap();
    let mut writer = store.begin_run(&serde_json::json!({})).unwrap();
    writer.put_resource_types(&ResourceType::all()).unwrap();
    writer
        .put_resources(&[
            Resource {
                id: user_id(),
                resource_type: ResourceTypeId::User,
                display_name: "Ada Lovelace".into(),
                parent_id: None,
                description: None,
                details: ResourceDetails::User(UserDetails {
                    username: "ada@example.com".into(),
                    email: Some("ada@example.com".into()),
                    first_name: Some("Ada".into()),
                    last_name: Some("Lovelace".into()),
                    status: UserStatusDetail::Active.status(),
                    status_detail: UserStatusDetail::Active,
                    user_type: "Standard".into(),
                    license: None,
                    profile: None,
                    role: None,
                    manager: None,
                    federation_id: None,
                    last_login: None,
                    created: None,
                }),
            },
            Resource {
                id: group,
                resource_type: ResourceTypeId::Group,
                display_name: "Sales, EMEA".into(),
                parent_id: None,
                description: None,
                details: ResourceDetails::Group(GroupDetails {
                    group_type: GroupType::Regular,
                    developer_name: None,
                }),
            },
        ])
        .unwrap();
    writer
        .put_entitlements(&[Entitlement::standard(member, "Sales, EMEA")])
        .unwrap();
    writer
        .put_grants(&[Grant::direct(member, user_id())])
        .unwrap();
    writer.finish(RunSummary::default()).unwrap();
}

#[test]
fn export_without_a_store_says_to_run_sync_first_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = sf_access(&["export", "--format", "csv"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("error: no store at sf-access.db"), "{err}");
    assert!(
        err.contains("hint: run `sf-access sync --file sf-access.db` first"),
        "{err}"
    );
    assert!(
        !dir.path().join("sf-access.db").exists(),
        "export must not create a store"
    );
}

#[test]
fn export_writes_the_latest_run_to_a_file_and_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    write_store(&dir.path().join("sf-access.db"));
    let output = sf_access(&["export", "--output", "out.jsonl"], dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut expected = Vec::new();
    let store = Store::open_existing(dir.path().join("sf-access.db")).unwrap();
    let run = store.latest_run().unwrap().unwrap().id;
    export(&store, run, ExportFormat::Jsonl, &mut expected).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("out.jsonl")).unwrap(),
        expected
    );

    let output = sf_access(
        &[
            "export",
            "-f",
            "sf-access.db",
            "--format",
            "csv",
            "--output",
            "-",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "user,username,email,status,resource type,resource,entitlement,via,expires\r\n\
         Ada Lovelace,ada@example.com,ada@example.com,enabled,Group,\"Sales, EMEA\",Member,direct,\r\n"
    );
}

#[test]
fn export_of_an_unknown_run_exits_2_and_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    write_store(&dir.path().join("sf-access.db"));
    let output = sf_access(&["export", "--run", "42"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("there is no run 42"), "{err}");
    assert!(err.contains("--run"), "{err}");
}

#[test]
fn export_of_a_store_without_a_good_run_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("sf-access.db")).unwrap();
    store
        .begin_run(&serde_json::json!({}))
        .unwrap()
        .fail("boom")
        .unwrap();
    let output = sf_access(&["export", "--output", "out.jsonl"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no successful sync run yet"));
    assert!(!dir.path().join("out.jsonl").exists());
}

#[test]
fn show_refuses_an_injection_id_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write_store(&dir.path().join("sf-access.db"));
    let output = sf_access(
        &["show", "grants", "--principal", "user:005' OR '1'='1"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("--principal"), "{err}");
    assert!(err.contains("Salesforce id part is invalid"), "{err}");
    assert!(output.stdout.is_empty());
}

#[test]
fn show_reads_the_file_from_the_environment_and_prints_a_table() {
    let dir = tempfile::tempdir().unwrap();
    write_store(&dir.path().join("custom.db"));
    let output = Command::new(env!("CARGO_BIN_EXE_sf-access"))
        .args(["show", "grants", "--principal", &user_id().to_string()])
        .current_dir(dir.path())
        .env("SF_ACCESS_FILE", "custom.db")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("PRINCIPAL "));
    assert!(
        lines[1].starts_with("Ada Lovelace  Group  Sales, EMEA  Member"),
        "{text}"
    );
}
