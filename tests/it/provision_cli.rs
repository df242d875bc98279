//! `sf-access grant`, `revoke`, `create-account`, `actions` and `action` as a black box: the
//! built binary against an in-process emulator, with the environment cleared, run in a
//! temporary directory (where the default audit log lands).

use std::process::Stdio;

use serde_json::{Value, json};
use sf_access::emulator::EmulatorHandle;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::support::*;

const REPORT_BUILDER: &str = "permission:0PS5g000000000KGAQ:assigned";
const SUPPORT_AGENT_EXTRAS: &str = "permission:0PS5g000000000NGAQ:assigned";
const NEVER_LOGGED_IN: &str = "user:0055g000000000AAAQ";
const SALES_REP: &str = "user:0055g0000000004AAA";
const STANDARD_USER: &str = "profile:00e5g0000000002AAA:assigned";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

struct Cli {
    emulator: EmulatorHandle,
    dir: tempfile::TempDir,
}

impl Cli {
    async fn new() -> Cli {
        Cli {
            emulator: small().await,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let c = self.emulator.credentials();
        vec![
            ("SF_ACCESS_INSTANCE_URL".into(), c.instance_url.clone()),
            ("SF_ACCESS_SALESFORCE_CLIENT_ID".into(), c.client_id.clone()),
            (
                "SF_ACCESS_SALESFORCE_CLIENT_SECRET".into(),
                c.client_secret.clone(),
            ),
        ]
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None).await
    }

    async fn run_with(
        &self,
        args: &[&str],
        extra_env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sf-access"));
        command
            .env_clear()
            .envs(self.env())
            .envs(extra_env.iter().copied())
            .current_dir(self.dir.path())
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the binary runs");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            pipe.write_all(text.as_bytes())
                .await
                .expect("stdin written");
            drop(pipe);
        }
        let output =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("the command finishes")
                .expect("output");
        Run {
            code: output.status.code().expect("exit code"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("sf-access-audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }
}

#[tokio::test]
async fn grant_and_revoke_report_outcomes_and_exit_zero_for_no_ops() {
    let cli = Cli::new().await;
    let grant = [
        "grant",
        "--entitlement",
        SUPPORT_AGENT_EXTRAS,
        "--principal",
        NEVER_LOGGED_IN,
        "-p",
        "--json",
        "--request-id",
        "ticket-42",
    ];
    let first = cli.run(&grant).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let report = first.json();
    assert_eq!(report["outcome"], "granted");
    assert_eq!(report["request_id"], "ticket-42");
    assert_eq!(
        report["grant"]["id"],
        format!("{SUPPORT_AGENT_EXTRAS}:{NEVER_LOGGED_IN}")
    );
    assert_eq!(report["grant"]["direct"], true);
    let record = report["grant"]["details"]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let second = cli.run(&grant).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.json()["outcome"], "already_exists");

    let grant_id = format!("{SUPPORT_AGENT_EXTRAS}:{NEVER_LOGGED_IN}");
    let revoke = cli.run(&["revoke", "--grant", &grant_id, "-p"]).await;
    assert_eq!(revoke.code, 0, "{}", revoke.stderr);
    assert!(
        revoke.stdout.starts_with(&format!("revoked: {grant_id}\n")),
        "{}",
        revoke.stdout
    );
    assert!(
        revoke.stdout.contains(&format!(
            "  called: DELETE /services/data/v64.0/sobjects/PermissionSetAssignment/{record}\n"
        )),
        "{}",
        revoke.stdout
    );
    let again = cli
        .run(&[
            "revoke",
            "--entitlement",
            SUPPORT_AGENT_EXTRAS,
            "--principal",
            NEVER_LOGGED_IN,
            "-p",
        ])
        .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.starts_with("already_revoked: "),
        "{}",
        again.stdout
    );

    let lines = cli.audit_lines();
    assert_eq!(
        lines.len(),
        4,
        "one audit line per run, beside the default store"
    );
    assert_eq!(lines[0]["request_id"], "ticket-42");
    assert!(lines[2]["request_id"].as_str().unwrap().starts_with("sfa-"));
}

#[tokio::test]
async fn writes_without_provisioning_are_refused_and_the_environment_can_enable_them() {
    let cli = Cli::new().await;
    let args = [
        "grant",
        "--entitlement",
        SUPPORT_AGENT_EXTRAS,
        "--principal",
        NEVER_LOGGED_IN,
    ];
    let refused = cli.run(&args).await;
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("writes are not enabled"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("hint: pass --provisioning (-p)"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        cli.audit_lines()[0]["error"]["code"],
        "provisioning_disabled"
    );

    for var in ["SF_ACCESS_PROVISIONING", "BATON_PROVISIONING"] {
        let run = cli.run_with(&args, &[(var, "true")], None).await;
        assert_eq!(run.code, 0, "{var}: {}", run.stderr);
    }
}

#[tokio::test]
async fn dry_run_prints_the_exact_calls_and_writes_nothing() {
    let cli = Cli::new().await;
    cli.emulator.reset_stats();
    let run = cli
        .run(&[
            "grant",
            "--entitlement",
            SUPPORT_AGENT_EXTRAS,
            "--principal",
            NEVER_LOGGED_IN,
            "--dry-run",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("dry run, would be granted: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            r#"  would call: POST /services/data/v64.0/sobjects/PermissionSetAssignment {"AssigneeId":"0055g000000000AAAQ","PermissionSetId":"0PS5g000000000NGAQ"}"#
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("dry run: nothing was changed"),
        "{}",
        run.stdout
    );
    assert_eq!(write_calls(&cli.emulator), 0);
    assert!(cli.emulator.stats().api_requests > 0, "a dry run reads");
    assert_eq!(cli.audit_lines()[0]["dry_run"], true);
}

#[tokio::test]
async fn profile_revoke_without_a_mapping_names_the_license_and_the_flag() {
    let cli = Cli::new().await;
    cli.emulator.reset_stats();
    let args = [
        "revoke",
        "--entitlement",
        STANDARD_USER,
        "--principal",
        SALES_REP,
        "-p",
    ];
    let run = cli.run(&args).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no least-privilege profile is mapped for license Salesforce (SFDC)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "--license-to-least-privileged-profile-mapping 'Salesforce=Minimum Access - Salesforce'"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(write_calls(&cli.emulator), 0);
    let mapped = cli
        .run_with(
            &args,
            &[(
                "SF_ACCESS_LICENSE_TO_LEAST_PRIVILEGED_PROFILE_MAPPING",
                "SFDC=Minimum Access - Salesforce",
            )],
            None,
        )
        .await;
    assert_eq!(mapped.code, 0, "{}", mapped.stderr);
    assert!(
        mapped
            .stdout
            .contains("  moved to: profile:00e5g0000000003AAA:assigned"),
        "{}",
        mapped.stdout
    );
}

#[tokio::test]
async fn malformed_ids_and_injection_strings_are_refused_before_any_call() {
    let cli = Cli::new().await;
    cli.emulator.reset_stats();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "grant",
                "--entitlement",
                "permission:0PS' OR '1'='1:assigned",
                "--principal",
                NEVER_LOGGED_IN,
            ],
            "--entitlement",
        ),
        (
            vec![
                "grant",
                "--entitlement",
                "permission:0PS5g000000000KGAQ:assigned' --",
                "--principal",
                NEVER_LOGGED_IN,
            ],
            "--entitlement",
        ),
        (
            vec![
                "grant",
                "--entitlement",
                "permission:0PS5g000000000KGAB:assigned",
                "--principal",
                NEVER_LOGGED_IN,
            ],
            "--entitlement",
        ),
        (
            vec![
                "grant",
                "--entitlement",
                "role:0PS5g000000000KGAQ:assigned",
                "--principal",
                NEVER_LOGGED_IN,
            ],
            "--entitlement",
        ),
        (
            vec![
                "grant",
                "--entitlement",
                REPORT_BUILDER,
                "--principal",
                "user:005xx' OR Id != '",
            ],
            "--principal",
        ),
        (
            vec![
                "grant",
                "--entitlement",
                REPORT_BUILDER,
                "--principal",
                "user:../../sobjects/User",
            ],
            "--principal",
        ),
        (
            vec![
                "grant",
                "--entitlement",
                REPORT_BUILDER,
                "--principal",
                "005xx000001Sv6eAAC",
            ],
            "--principal",
        ),
        (
            vec![
                "grant",
                "--entitlement",
                REPORT_BUILDER,
                "--principal",
                NEVER_LOGGED_IN,
                "--expires-at",
                "next week",
            ],
            "--expires-at",
        ),
        (
            vec![
                "grant",
                "--entitlement",
                REPORT_BUILDER,
                "--principal",
                NEVER_LOGGED_IN,
                "--request-id",
                "a\"b",
            ],
            "--request-id",
        ),
        (
            vec![
                "revoke",
                "--grant",
                "permission:0PS5g000000000KGAQ:assigned:user:0055g000000000AAAQ'",
            ],
            "--grant",
        ),
        (
            vec![
                "revoke",
                "--grant",
                "permission:0PS5g000000000KGAQ:assigned",
            ],
            "--grant",
        ),
        (
            vec![
                "create-account",
                "--email",
                "a@b.example",
                "--first-name",
                "A",
                "--last-name",
                "B",
                "--profile",
                "Standard User",
                "--contact-id",
                "003' OR '1'='1",
            ],
            "--contact-id",
        ),
        (
            vec![
                "create-account",
                "--email",
                "a@b.example",
                "--first-name",
                "A",
                "--last-name",
                "B",
                "--profile",
                "Standard User",
                "--field",
                "Title",
            ],
            "--field",
        ),
    ];
    for (args, flag) in cases {
        let run = cli.run(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(flag),
            "{args:?} must name {flag}: {}",
            run.stderr
        );
    }
    // Values that parse but cannot be used are refused by the library, still before a call.
    let run = cli
        .run(&[
            "create-account",
            "--email",
            "x' OR '1'='1@example.com",
            "--first-name",
            "A",
            "--last-name",
            "B",
            "--profile",
            "Standard User",
            "-p",
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("error: email: "), "{}", run.stderr);
    let run = cli
        .run(&[
            "action",
            "freeze_user",
            "--args",
            r#"{"resource_id":"user:005' OR '1'='1"}"#,
            "-p",
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("invalid arguments for freeze_user: /resource_id"),
        "{}",
        run.stderr
    );
    assert_eq!(cli.emulator.stats().total_requests, 0, "no call at all");
    assert!(cli.audit_lines().is_empty());
}

#[tokio::test]
async fn create_account_creates_then_reports_existing_and_fails_on_a_full_license() {
    let cli = Cli::new().await;
    let args = [
        "create-account",
        "--email",
        "ada@example.com",
        "--first-name",
        "Ada",
        "--last-name",
        "Lovelace",
        "--profile",
        "Standard User",
        "--timezone",
        "Europe/London",
        "--field",
        "Department=Engineering",
        "-p",
        "--json",
    ];
    let created = cli.run(&args).await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let report = created.json();
    assert_eq!(report["outcome"], "created");
    assert_eq!(report["user"]["resource_type"], "user");
    assert_eq!(report["user"]["user"]["username"], "ada@example.com");
    let existing = cli.run(&args).await;
    assert_eq!(existing.code, 0);
    assert_eq!(existing.json()["outcome"], "already_exists");

    let full = cli
        .run(&[
            "create-account",
            "--email",
            "p@example.com",
            "--first-name",
            "P",
            "--last-name",
            "Q",
            "--profile",
            "Standard Platform User",
            "-p",
        ])
        .await;
    assert_eq!(full.code, 1, "{}", full.stderr);
    assert!(
        full.stderr
            .contains("license Salesforce Platform (AUL) has no free seat"),
        "{}",
        full.stderr
    );

    let inactive = cli
        .run(&[
            "create-account",
            "--email",
            "inactive.user@acme-1.example",
            "--first-name",
            "I",
            "--last-name",
            "U",
            "--profile",
            "Standard User",
            "-p",
        ])
        .await;
    assert_eq!(inactive.code, 2, "{}", inactive.stderr);
    assert!(
        inactive.stderr.contains("hint: pass --reactivate"),
        "{}",
        inactive.stderr
    );
    let bad_zone = cli
        .run(&[
            "create-account",
            "--email",
            "z@example.com",
            "--first-name",
            "Z",
            "--last-name",
            "Z",
            "--profile",
            "Standard User",
            "--timezone",
            "america/new_york",
            "-p",
        ])
        .await;
    assert_eq!(bad_zone.code, 2);
    assert!(
        bad_zone.stderr.contains("did you mean America/New_York?"),
        "{}",
        bad_zone.stderr
    );
}

#[tokio::test]
async fn actions_are_listed_without_credentials() {
    let cli = Cli::new().await;
    let mut command = Command::new(env!("CARGO_BIN_EXE_sf-access"));
    let output = command
        .env_clear()
        .args(["actions", "--json"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["freeze_user", "unfreeze_user", "update_user_status"]
    );
    assert_eq!(
        list[2]["args_schema"]["required"],
        json!(["resource_id", "is_active"])
    );
    assert!(list[0]["result_schema"]["properties"]["is_frozen"].is_object());
    let text = cli.run(&["actions"]).await;
    assert!(
        text.stdout.contains("update_user_status: "),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn action_runs_with_arguments_from_a_flag_or_stdin() {
    let cli = Cli::new().await;
    let args = format!(r#"{{"resource_id":"{SALES_REP}"}}"#);
    let frozen = cli
        .run(&["action", "freeze_user", "--args", &args, "-p"])
        .await;
    assert_eq!(frozen.code, 0, "{}", frozen.stderr);
    let report = frozen.json();
    assert_eq!(report["action"], "freeze_user");
    assert_eq!(report["result"]["outcome"], "updated");
    assert_eq!(report["result"]["is_frozen"], true);

    let unfrozen = cli
        .run_with(
            &["action", "unfreeze_user", "--args", "-", "-p"],
            &[],
            Some(&args),
        )
        .await;
    assert_eq!(unfrozen.code, 0, "{}", unfrozen.stderr);
    assert_eq!(unfrozen.json()["result"]["is_frozen"], false);

    let unknown = cli
        .run(&["action", "delete_user", "--args", &args, "-p"])
        .await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown
            .stderr
            .contains("the actions are: freeze_user, unfreeze_user, update_user_status"),
        "{}",
        unknown.stderr
    );
    let not_json = cli
        .run(&["action", "freeze_user", "--args", "{resource_id}", "-p"])
        .await;
    assert_eq!(not_json.code, 2);
    assert!(
        not_json.stderr.contains("--args is not JSON"),
        "{}",
        not_json.stderr
    );
}

#[tokio::test]
async fn refused_deactivation_exits_one_and_suggests_freeze_user() {
    let cli = Cli::new().await;
    let user = sf_access::salesforce::SfId::parse("0055g0000000004AAA").unwrap();
    cli.emulator
        .org()
        .write()
        .unwrap()
        .settings
        .users_referenced_by_configuration
        .push(user);
    let args = format!(r#"{{"resource_id":"{SALES_REP}","is_active":false}}"#);
    let run = cli
        .run(&["action", "update_user_status", "--args", &args, "-p"])
        .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Salesforce refused to deactivate user:0055g0000000004AAA"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("sf-access action freeze_user --args"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn the_audit_log_goes_beside_the_store_or_where_asked() {
    let cli = Cli::new().await;
    std::fs::create_dir(cli.dir.path().join("data")).unwrap();
    let args = [
        "grant",
        "--entitlement",
        SUPPORT_AGENT_EXTRAS,
        "--principal",
        NEVER_LOGGED_IN,
        "--dry-run",
    ];
    let mut with_file = args.to_vec();
    with_file.extend(["--file", "data/store.db"]);
    assert_eq!(cli.run(&with_file).await.code, 0);
    assert!(cli.dir.path().join("data/sf-access-audit.jsonl").is_file());
    let mut with_log = args.to_vec();
    with_log.extend(["--audit-log", "elsewhere.jsonl"]);
    assert_eq!(cli.run(&with_log).await.code, 0);
    assert!(cli.dir.path().join("elsewhere.jsonl").is_file());
    let mut missing = args.to_vec();
    missing.extend(["--audit-log", "no/such/dir/audit.jsonl"]);
    cli.emulator.reset_stats();
    let run = cli.run(&missing).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot append to the audit log no/such/dir/audit.jsonl"),
        "{}",
        run.stderr
    );
    assert_eq!(
        cli.emulator.stats().total_requests,
        0,
        "no call without an audit log"
    );
}
