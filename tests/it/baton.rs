//! Black-box tests of the baton interop commands: `capabilities` and `config` against their
//! golden files, and `show` / `export` reading c1z files (the baton-salesforce sample, our own
//! export, damaged files) with the exit codes and messages a person sees.
//!
//! Golden files live in `tests/golden/`; `SF_ACCESS_UPDATE_GOLDEN=1 cargo test baton` rewrites
//! them (review the diff before committing).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sf-access"))
        .args(args)
        .env_remove("SF_ACCESS_FILE")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample() -> PathBuf {
    root().join("../shared/data/baton-salesforce-sample.c1z")
}

/// Compares `actual` with the golden file `name`, or rewrites it when asked.
fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("SF_ACCESS_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (SF_ACCESS_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the output; SF_ACCESS_UPDATE_GOLDEN=1 rewrites it.\n--- output ---\n{actual}",
        path.display()
    );
}

#[test]
fn capabilities_prints_the_golden_document_without_credentials() {
    let out = Command::new(env!("CARGO_BIN_EXE_sf-access"))
        .arg("capabilities")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc["@type"],
        "type.googleapis.com/c1.connector.v2.ConnectorCapabilities"
    );
    golden("capabilities.json", &text);
}

#[test]
fn config_prints_the_json_schema_by_default_and_batons_fields_on_request() {
    let out = run(&["config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let schema = stdout(&out);
    assert_eq!(
        schema,
        std::fs::read_to_string(root().join("schemas/config.json")).unwrap(),
        "schemas/config.json is what `sf-access config` prints"
    );
    golden("config.schema.json", &schema);
    let out = run(&["config", "--format", "baton"]);
    assert!(out.status.success(), "{}", stderr(&out));
    golden("config.baton.json", &stdout(&out));
}

#[test]
fn baton_salesforce_sample_exports_as_jsonl_with_its_counts() {
    let file = sample();
    let out = run(&[
        "export",
        "--file",
        file.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let kinds = |kind: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("{{\"kind\":\"{kind}\"")))
            .count()
    };
    assert_eq!(
        (
            kinds("resource_type"),
            kinds("resource"),
            kinds("entitlement"),
            kinds("grant")
        ),
        (7, 55, 33, 145)
    );
    let log = stderr(&out);
    assert!(
        log.contains("\"agent\" is not in sf-access's model"),
        "{log}"
    );
}

#[test]
fn show_lists_the_syncs_of_a_c1z_and_reads_one() {
    let file = sample();
    let path = file.to_str().unwrap();
    let out = run(&["show", "runs", "--file", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().nth(1).unwrap().starts_with("1 "), "{text}");
    assert!(text.contains("succeeded"), "{text}");
    let out = run(&[
        "show",
        "resources",
        "--file",
        path,
        "--type",
        "role",
        "--run",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1 + 4);
    let out = run(&["show", "resources", "--file", path, "--run", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no finished sync with row id 2"));
}

#[test]
fn export_to_c1z_appends_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("sync.c1z");
    let out_str = out_path.to_str().unwrap();
    let sample = sample();
    for _ in 0..2 {
        let out = run(&[
            "export",
            "--file",
            sample.to_str().unwrap(),
            "--format",
            "c1z",
            "--output",
            out_str,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let bytes = std::fs::read(&out_path).unwrap();
    assert_eq!(&bytes[..5], b"C1ZF\0");
    let out = run(&["show", "runs", "--file", out_str, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(runs.len(), 2, "two syncs after two exports");
    // The export of the re-written file equals the export of the sample.
    let a = run(&[
        "export",
        "--file",
        sample.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    let b = run(&["export", "--file", out_str, "--format", "jsonl"]);
    assert_eq!(stdout(&a), stdout(&b));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn damaged_and_foreign_c1z_files_are_usage_errors_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let v3 = write(dir.path(), "v3.c1z", b"C1Z3\0\x01\x02\x03");
    let out = run(&["export", "--file", &v3]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("Pebble") && err.contains("--storage-engine sqlite"),
        "{err}"
    );

    let good = std::fs::read(sample()).unwrap();
    let cut = write(dir.path(), "cut.c1z", &good[..good.len() / 3]);
    let out = run(&["show", "grants", "--file", &cut]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is truncated"), "{}", stderr(&out));

    let out = Command::new(env!("CARGO_BIN_EXE_sf-access"))
        .args(["export", "--file", sample().to_str().unwrap()])
        .env("SF_ACCESS_DECODER_MAX_DECODED_SIZE_MB", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SF_ACCESS_DECODER_MAX_DECODED_SIZE_MB"));

    let out = Command::new(env!("CARGO_BIN_EXE_sf-access"))
        .args(["export", "--file", sample().to_str().unwrap()])
        .env("BATON_DECODER_MAX_DECODED_SIZE_MB", "1")
        .env_remove("SF_ACCESS_DECODER_MAX_DECODED_SIZE_MB")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the sample is 268 KiB: {}",
        stderr(&out)
    );
}

/// Runs the binary with only `env` in its environment (off the async workers).
async fn run_with_env(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sf-access"));
    command
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .kill_on_drop(true);
    tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the command finishes")
        .expect("the binary runs")
}

#[tokio::test]
async fn baton_salesforce_command_line_syncs_the_small_org_into_a_c1z_equal_to_the_store() {
    let emulator = crate::support::small().await;
    let c = emulator.credentials().clone();
    let dir = tempfile::tempdir().unwrap();
    let c1z = dir.path().join("sync.c1z");
    let store = dir.path().join("sf-access.db");

    // baton-salesforce's way, unchanged: BATON_* environment, its flag names and values,
    // `-f sync.c1z`, no subcommand (a sync is baton's default operation), and the write flags
    // a deployment carries along (-p, the least-privilege mapping), which a sync ignores.
    let baton_env = [
        ("BATON_INSTANCE_URL", c.instance_url.as_str()),
        ("BATON_SALESFORCE_CLIENT_ID", c.client_id.as_str()),
        ("BATON_SALESFORCE_CLIENT_SECRET", c.client_secret.as_str()),
        ("BATON_AUTH_METHOD", "client-credentials-group"),
        ("BATON_LOG_FORMAT", "json"),
    ];
    let out = run_with_env(
        &baton_env,
        &[
            "-p",
            "--license-to-least-privileged-profile-mapping",
            "Salesforce=Minimum Access - Salesforce",
            "--sync-connected-apps",
            "--sync-deactivated-users",
            "--log-level",
            "info",
            "-f",
            c1z.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(&std::fs::read(&c1z).unwrap()[..5], b"C1ZF\0");
    let log = stderr(&out);
    assert!(log.lines().all(|l| l.starts_with('{')), "json logs: {log}");

    // The same org into a store, our way.
    let ours = [
        ("SF_ACCESS_INSTANCE_URL", c.instance_url.as_str()),
        ("SF_ACCESS_SALESFORCE_CLIENT_ID", c.client_id.as_str()),
        (
            "SF_ACCESS_SALESFORCE_CLIENT_SECRET",
            c.client_secret.as_str(),
        ),
    ];
    let out = run_with_env(
        &ours,
        &[
            "sync",
            "--sync-connected-apps",
            "--file",
            store.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    emulator.shutdown().await;

    // Read back: the jsonl of the c1z equals the jsonl of the store.
    let from_c1z = run_with_env(&[], &["export", "--file", c1z.to_str().unwrap()]).await;
    assert_eq!(from_c1z.status.code(), Some(0), "{}", stderr(&from_c1z));
    let from_store = run_with_env(&[], &["export", "--file", store.to_str().unwrap()]).await;
    assert_eq!(from_store.status.code(), Some(0), "{}", stderr(&from_store));
    assert!(stdout(&from_store).lines().count() > 100);
    assert!(
        stdout(&from_c1z) == stdout(&from_store),
        "c1z and store exports differ"
    );
    assert!(
        !stderr(&from_c1z).contains("left out"),
        "nothing of our own file is left out: {}",
        stderr(&from_c1z)
    );
}

#[tokio::test]
async fn baton_one_shot_grant_revoke_and_action_flags_run_the_operations() {
    let emulator = crate::support::small().await;
    let c = emulator.credentials().clone();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("sf-access.db");
    let env = [
        ("BATON_INSTANCE_URL", c.instance_url.as_str()),
        ("BATON_SALESFORCE_CLIENT_ID", c.client_id.as_str()),
        ("BATON_SALESFORCE_CLIENT_SECRET", c.client_secret.as_str()),
        ("BATON_PROVISIONING", "true"),
    ];
    let file = store.to_str().unwrap();
    let entitlement = "permission:0PS5g000000000KGAQ:assigned";
    let principal = "0055g000000000AAAQ";
    let grant = [
        "--grant-entitlement",
        entitlement,
        "--grant-principal",
        principal,
        "--grant-principal-type",
        "user",
        "--json",
        "--file",
        file,
    ];
    let grant_id = format!("{entitlement}:user:{principal}");
    let revoke = [
        "--revoke-grant",
        grant_id.as_str(),
        "--json",
        "--file",
        file,
    ];
    let outcome = |out: &Output| -> String {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("JSON report ({e}): {}", stderr(out)));
        report["outcome"].as_str().unwrap_or_default().to_string()
    };
    // Start from a known state, whatever the generated org holds.
    let out = run_with_env(&env, &revoke).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(["revoked", "already_revoked"].contains(&outcome(&out).as_str()));
    let out = run_with_env(&env, &grant).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(outcome(&out), "granted");
    let out = run_with_env(&env, &grant).await;
    assert_eq!(outcome(&out), "already_exists");
    let out = run_with_env(&env, &revoke).await;
    assert_eq!(outcome(&out), "revoked");

    let args = format!("{{\"resource_id\":\"user:{principal}\"}}");
    let action = [
        "--invoke-action",
        "freeze_user",
        "--invoke-action-args",
        args.as_str(),
        "--file",
        file,
    ];
    let out = run_with_env(&env, &action).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let frozen = emulator
        .org()
        .read()
        .unwrap()
        .table("UserLogin")
        .unwrap()
        .rows
        .values()
        .any(|r| {
            r.values
                .iter()
                .any(|v| v.as_id().map(|id| id.to_string()) == Some(principal.to_string()))
                && r.values
                    .contains(&sf_access::emulator::org::Value::Bool(true))
        });
    assert!(frozen, "the one-shot action froze the user");

    let out = run_with_env(&env, &["--grant-entitlement", entitlement]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--grant-principal"),
        "{}",
        stderr(&out)
    );
    emulator.shutdown().await;
}
