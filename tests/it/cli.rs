//! Black-box tests of the `sf-access` binary.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::http;

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sf-access"));
    command.kill_on_drop(true);
    command
}

/// Starts `sf-access emulator ARGS`, returns the child and its credentials line.
async fn start_emulator(args: &[&str]) -> (tokio::process::Child, Value) {
    let mut child = binary()
        .arg("emulator")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the emulator prints its line")
        .expect("stdout reads")
        .expect("one line");
    (
        child,
        serde_json::from_str(&line).expect("the line is JSON"),
    )
}

async fn terminate(mut child: tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().expect("running child has a pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the emulator stops on SIGTERM")
        .expect("wait works")
}

#[tokio::test]
async fn emulator_command_prints_credentials_and_serves_until_sigterm() {
    let (child, line) = start_emulator(&["--preset", "small"]).await;
    for key in [
        "instance_url",
        "login_url",
        "api_version",
        "client_id",
        "client_secret",
        "username",
        "password",
        "security_token",
        "refresh_token",
        "private_key_file",
    ] {
        assert!(line[key].is_string(), "{key} in {line}");
    }
    assert!(line.get("ca_cert_file").is_none());
    let instance = line["instance_url"].as_str().unwrap();
    let token: Value = http()
        .post(format!("{instance}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", line["client_id"].as_str().unwrap()),
            ("client_secret", line["client_secret"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().expect("a token");
    let page: Value = http()
        .get(format!("{instance}/services/data/v66.0/query"))
        .query(&[("q", "SELECT Id, Username, Profile.Name FROM User")])
        .header("Sforce-Query-Options", "batchSize=200")
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(page["totalSize"].as_u64().unwrap() > 0);
    assert!(page["records"][0]["Profile"]["Name"].is_string());
    let bad = http()
        .get(format!("{instance}/services/data/v66.0/query"))
        .query(&[("q", "SELECT Id FROM Nope")])
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad[0]["errorCode"], "INVALID_TYPE");
    let status = terminate(child).await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn emulator_dump_is_identical_for_the_same_seed_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    for path in [&first, &second] {
        let (child, _) = start_emulator(&[
            "--preset",
            "small",
            "--seed",
            "42",
            "--dump-org",
            path.to_str().unwrap(),
        ])
        .await;
        terminate(child).await;
    }
    let a = std::fs::read(&first).unwrap();
    assert_eq!(a, std::fs::read(&second).unwrap());
    let (child, line) = start_emulator(&["--org-file", first.to_str().unwrap()]).await;
    assert!(
        line["username"]
            .as_str()
            .unwrap()
            .starts_with("integration@")
    );
    terminate(child).await;
}

/// Runs `sf-access emulator ARGS`, which must stop with the usage exit code; its stderr.
async fn emulator_usage_error(args: &[&str]) -> String {
    let output = binary().arg("emulator").args(args).output().await.unwrap();
    assert_eq!(output.status.code(), Some(2));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn emulator_rejects_a_bad_fault_spec_with_usage_exit_code() {
    let stderr = emulator_usage_error(&["--faults", "503=7"]).await;
    assert!(
        stderr.contains("--faults") && stderr.contains("between 0 and 1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn emulator_rejects_an_unknown_bulk_fail_object_naming_the_known_ones() {
    let stderr = emulator_usage_error(&["--bulk-fail-object", "PermissionSetAssignmnet"]).await;
    assert!(
        stderr.contains("--bulk-fail-object PermissionSetAssignmnet")
            && stderr.contains("PermissionSetAssignment,"),
        "{stderr}"
    );
}
