//! `sf-access check` as a black box: the built binary against an in-process emulator, with
//! the environment cleared so only what the test sets is seen.

use std::process::Output;

use serde_json::Value;
use sf_access::emulator::EmulatorHandle;
use sf_access::emulator::cli::remove_permission;
use sf_access::emulator::faults::FaultSpec;
use sf_access::emulator::org::Value as OrgValue;
use tokio::process::Command;

use crate::support::*;

/// Which credentials the binary gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    ClientCredentials,
    Jwt,
    Refresh,
    Password,
}

fn env_for(emulator: &EmulatorHandle, flow: Flow) -> Vec<(String, String)> {
    let c = emulator.credentials();
    let mut env = vec![
        ("SF_ACCESS_INSTANCE_URL".to_string(), c.instance_url.clone()),
        (
            "SF_ACCESS_SALESFORCE_CLIENT_ID".to_string(),
            c.client_id.clone(),
        ),
    ];
    let mut add = |k: &str, v: &str| env.push((k.to_string(), v.to_string()));
    match flow {
        Flow::ClientCredentials => add("SF_ACCESS_SALESFORCE_CLIENT_SECRET", &c.client_secret),
        Flow::Jwt => {
            add(
                "SF_ACCESS_SALESFORCE_PRIVATE_KEY",
                c.private_key_file.to_str().unwrap(),
            );
            add("SF_ACCESS_SALESFORCE_JWT_SUBJECT", &c.username);
        }
        Flow::Refresh => {
            add("SF_ACCESS_SALESFORCE_CLIENT_SECRET", &c.client_secret);
            add("SF_ACCESS_SALESFORCE_REFRESH_TOKEN", &c.refresh_token);
        }
        Flow::Password => {
            add("SF_ACCESS_SALESFORCE_CLIENT_SECRET", &c.client_secret);
            add("SF_ACCESS_SALESFORCE_USERNAME", &c.username);
            add("SF_ACCESS_SALESFORCE_PASSWORD", &c.password);
            add("SF_ACCESS_SECURITY_TOKEN", &c.security_token);
        }
    }
    env
}

async fn run(env: &[(String, String)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sf-access"));
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("check")
        .args(args)
        .kill_on_drop(true);
    tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("check finishes")
        .expect("the binary runs")
}

async fn check(emulator: &EmulatorHandle, args: &[&str]) -> (i32, String, String) {
    let output = run(&env_for(emulator, Flow::ClientCredentials), args).await;
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The line of a check and the fix line under it.
fn line_of<'a>(stdout: &'a str, title: &str) -> (&'a str, &'a str) {
    let lines: Vec<&str> = stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| {
            l.split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ")
                .starts_with(title)
        })
        .unwrap_or_else(|| panic!("no line for {title:?} in:\n{stdout}"));
    (lines[i], lines.get(i + 1).copied().unwrap_or(""))
}

#[tokio::test]
async fn check_passes_on_a_healthy_org_with_every_flow() {
    let emulator = small().await;
    for flow in [
        Flow::ClientCredentials,
        Flow::Jwt,
        Flow::Refresh,
        Flow::Password,
    ] {
        let output = run(
            &env_for(&emulator, flow),
            &["--provisioning", "--sync-connected-apps"],
        )
        .await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("all needed checks passed"), "{stdout}");
        for title in [
            "instance URL",
            "authentication",
            "edition",
            "API Enabled",
            "View Setup and Configuration",
            "Manage Users",
            "Customize Application",
            "Assign Permission Sets",
            "Manage Roles",
            "Manage Public Groups",
            "API budget",
        ] {
            let (line, _) = line_of(&stdout, title);
            assert!(line.starts_with("ok "), "{line}");
        }
        let (auth, _) = line_of(&stdout, "authentication");
        assert!(auth.contains(&emulator.credentials().username), "{auth}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_json_is_one_object_with_every_check() {
    let emulator = small().await;
    let (code, stdout, _) = check(&emulator, &["--json"]).await;
    assert_eq!(code, 0, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(json["ok"], true);
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["instance_url"], emulator.instance_url());
    let ids: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "instance-url",
            "authentication",
            "edition",
            "api-enabled",
            "view-setup",
            "manage-users",
            "api-budget"
        ]
    );
    assert!(json["api"]["calls_made"].as_u64().unwrap() > 0);
    assert!(json["api"]["remaining"].as_u64().unwrap() > 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_without_api_enabled_fails_with_the_fix() {
    let emulator = small().await;
    remove_permission(
        &mut emulator.org().write().unwrap(),
        "PermissionsApiEnabled",
    );
    let (code, stdout, _) = check(&emulator, &[]).await;
    assert_eq!(code, 4, "{stdout}");
    let (line, fix) = line_of(&stdout, "API Enabled");
    assert!(line.starts_with("problem"), "{line}");
    assert!(
        fix.contains("fix:") && fix.contains("\"API Enabled\""),
        "{fix}"
    );
    let (auth, _) = line_of(&stdout, "authentication");
    assert!(auth.starts_with("ok"), "the login itself works: {auth}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_without_view_setup_fails_with_the_fix() {
    let emulator = small().await;
    remove_permission(&mut emulator.org().write().unwrap(), "PermissionsViewSetup");
    let (code, stdout, _) = check(&emulator, &[]).await;
    assert_eq!(code, 4, "{stdout}");
    let (line, fix) = line_of(&stdout, "View Setup and Configuration");
    assert!(line.starts_with("problem"), "{line}");
    assert!(
        fix.contains("add \"View Setup and Configuration\""),
        "{fix}"
    );
    let (api, _) = line_of(&stdout, "API Enabled");
    assert!(api.starts_with("ok"), "{api}");
    // /limits needs View Setup; the budget still comes from Sforce-Limit-Info.
    let (budget, _) = line_of(&stdout, "API budget");
    assert!(
        budget.starts_with("ok") && budget.contains("daily API requests used"),
        "{budget}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_on_an_edition_without_api_fails_with_the_fix() {
    let emulator = small().await;
    {
        let mut org = emulator.org().write().unwrap();
        let ids: Vec<_> = org
            .table("Organization")
            .unwrap()
            .rows
            .keys()
            .copied()
            .collect();
        for id in ids {
            org.update_raw(&id, &[("OrganizationType", OrgValue::text("Team Edition"))]);
        }
    }
    let (code, stdout, _) = check(&emulator, &[]).await;
    assert_eq!(code, 4, "{stdout}");
    let (line, fix) = line_of(&stdout, "edition");
    assert!(
        line.starts_with("problem") && line.contains("API_DISABLED_FOR_ORG"),
        "{line}"
    );
    assert!(fix.contains("Professional without the API add-on"), "{fix}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_with_login_ip_restrictions_fails_with_the_fix() {
    let emulator = small().await;
    emulator.org().write().unwrap().settings.login_ip_restricted = true;
    let (code, stdout, _) = check(&emulator, &[]).await;
    assert_eq!(code, 3, "{stdout}");
    let (line, fix) = line_of(&stdout, "authentication");
    assert!(
        line.starts_with("problem") && line.contains("ip restricted"),
        "{line}"
    );
    assert!(
        fix.contains("Login IP Ranges") && fix.contains("Lock sessions to the IP address"),
        "{fix}"
    );
    let (edition, _) = line_of(&stdout, "edition");
    assert!(edition.starts_with("skipped"), "{edition}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_reports_missing_provisioning_and_connected_app_permissions_only_when_asked() {
    let emulator = small().await;
    {
        let mut org = emulator.org().write().unwrap();
        remove_permission(&mut org, "PermissionsManageRoles");
        remove_permission(&mut org, "PermissionsCustomizeApplication");
    }
    let (code, stdout, _) = check(&emulator, &[]).await;
    assert_eq!(code, 0, "not needed for a plain sync: {stdout}");
    let (code, stdout, _) = check(&emulator, &["--provisioning"]).await;
    assert_eq!(code, 4, "{stdout}");
    let (line, fix) = line_of(&stdout, "Manage Roles");
    assert!(line.starts_with("problem"), "{line}");
    assert!(fix.contains("assigning and clearing roles"), "{fix}");
    let (code, stdout, _) = check(&emulator, &["--sync-connected-apps"]).await;
    assert_eq!(code, 4, "{stdout}");
    assert!(
        line_of(&stdout, "Customize Application")
            .0
            .starts_with("problem")
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_verifies_the_least_privilege_mapping() {
    let emulator = small().await;
    let (code, stdout, _) = check(
        &emulator,
        &[
            "--license-to-least-privileged-profile-mapping",
            "Salesforce=Minimum Access - Salesforce,AUL=Standard User,Nowhere=Anything",
        ],
    )
    .await;
    assert_eq!(code, 2, "{stdout}");
    assert!(
        line_of(&stdout, "least privilege: Salesforce")
            .0
            .starts_with("ok"),
        "{stdout}"
    );
    let (line, fix) = line_of(&stdout, "least privilege: AUL");
    assert!(
        line.contains("belongs to license Salesforce, not Salesforce Platform"),
        "{line}"
    );
    assert!(
        fix.contains("profiles of license Salesforce Platform"),
        "{fix}"
    );
    let (line, fix) = line_of(&stdout, "least privilege: Nowhere");
    assert!(line.contains("no user license is named"), "{line}");
    assert!(fix.contains("Salesforce Platform (AUL)"), "{fix}");
    // Licenses in use without an entry are reported as gaps; mapped ones are not.
    let (line, fix) = line_of(&stdout, "least privilege: Chatter Free");
    assert!(
        line.starts_with("warning") && line.contains("no entry"),
        "{line}"
    );
    assert!(
        fix.contains("--license-to-least-privileged-profile-mapping"),
        "{fix}"
    );
    assert!(
        !stdout.contains("license Salesforce but the mapping has no entry"),
        "{stdout}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_for_provisioning_without_a_mapping_warns_that_profile_revokes_will_fail() {
    let emulator = small().await;
    let (code, stdout, _) = check(&emulator, &["--provisioning"]).await;
    assert_eq!(code, 0, "{stdout}");
    let (line, fix) = line_of(&stdout, "least-privilege mapping");
    assert!(
        line.starts_with("warning") && line.contains("none configured"),
        "{line}"
    );
    assert!(fix.contains("Minimum Access - Salesforce"), "{fix}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn check_stops_with_exit_code_5_when_the_daily_limit_is_exhausted() {
    let emulator = small().await;
    emulator.set_faults(FaultSpec::parse("limit-after=0").unwrap());
    let (code, stdout, _) = check(&emulator, &[]).await;
    assert_eq!(code, 5, "{stdout}");
    let (line, fix) = line_of(&stdout, "API budget");
    assert!(
        line.starts_with("problem") && line.contains("daily API request limit"),
        "{line}"
    );
    assert!(fix.contains("rolling 24-hour window"), "{fix}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn settings_errors_exit_2_and_name_the_setting() {
    let emulator = small().await;
    let mut env = env_for(&emulator, Flow::ClientCredentials);
    env.retain(|(k, _)| k != "SF_ACCESS_INSTANCE_URL");
    let output = run(&env, &[]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: --instance-url: is required"),
        "{stderr}"
    );

    let mut env = env_for(&emulator, Flow::Refresh);
    env.push(("BATON_SALESFORCE_PASSWORD".into(), "pw".into()));
    let output = run(&env, &[]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ambiguous") && stderr.contains("--salesforce-refresh-token"),
        "{stderr}"
    );

    let output = run(
        &env_for(&emulator, Flow::ClientCredentials),
        &["--instance-url", "https://example.com"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("accepted forms"), "{stderr}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn baton_environment_variables_work_as_a_fallback() {
    let emulator = small().await;
    let env: Vec<(String, String)> = env_for(&emulator, Flow::ClientCredentials)
        .into_iter()
        .map(|(k, v)| (k.replacen("SF_ACCESS_", "BATON_", 1), v))
        .collect();
    let output = run(&env, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn no_secret_appears_in_trace_logs() {
    let emulator = small().await;
    let c = emulator.credentials().clone();
    let key = std::fs::read_to_string(&c.private_key_file).unwrap();
    // The body of the PEM: any of its base64 lines would give the key away.
    let key_lines: Vec<&str> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    let org_prefix = {
        let org = emulator.org().read().unwrap();
        let id = *org
            .table("Organization")
            .unwrap()
            .rows
            .keys()
            .next()
            .unwrap();
        format!("{}!", id.to_15())
    };
    let mut flows = vec![
        Flow::ClientCredentials,
        Flow::Jwt,
        Flow::Refresh,
        Flow::Password,
    ];
    // The private key as PEM text in the environment, too.
    flows.push(Flow::Jwt);
    for (i, flow) in flows.into_iter().enumerate() {
        let mut env = env_for(&emulator, flow);
        if i == 4 {
            for (k, v) in env.iter_mut() {
                if k == "SF_ACCESS_SALESFORCE_PRIVATE_KEY" {
                    *v = key.clone();
                }
            }
        }
        // Expire the token after two requests so the re-authentication path is logged too.
        emulator.set_faults(FaultSpec::parse("expire-token-every=2").unwrap());
        let output = run(&env, &["--log-level", "trace", "--provisioning"]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
        assert!(
            stderr.contains("TRACE") || stderr.contains("DEBUG"),
            "trace logging is on"
        );
        assert!(
            stderr.contains("logging in again"),
            "the refresh is logged: {stderr}"
        );
        for (name, secret) in [
            ("client secret", c.client_secret.as_str()),
            ("password", c.password.as_str()),
            ("security token", c.security_token.as_str()),
            ("refresh token", c.refresh_token.as_str()),
            ("access token", org_prefix.as_str()),
        ] {
            assert!(!stderr.contains(secret), "the {name} appears in stderr");
            assert!(!stdout.contains(secret), "the {name} appears in stdout");
        }
        for line in &key_lines {
            assert!(!stderr.contains(line), "the private key appears in stderr");
        }
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn config_file_works_and_a_secret_typed_as_a_flag_warns_without_echoing_it() {
    let emulator = small().await;
    let c = emulator.credentials().clone();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sf-access.toml");
    std::fs::write(
        &config,
        format!(
            "instance-url = \"{}\"\nsalesforce-client-id = \"{}\"\nsalesforce_client_secret = \"{}\"\n",
            c.instance_url, c.client_id, c.client_secret
        ),
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let output = run(&[], &["--config", config_arg]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("instance-url in"),
        "the source is reported: {stdout}"
    );

    // The flag wins over the file, works, and warns.
    let output = run(
        &[],
        &[
            "--config",
            config_arg,
            "--salesforce-client-secret",
            &c.client_secret,
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("visible in the process list"), "{stderr}");
    assert!(!stderr.contains(&c.client_secret), "{stderr}");

    // A wrong secret on the command line beats the right one in the file: exit 3.
    let output = run(
        &[],
        &[
            "--config",
            config_arg,
            "--salesforce-client-secret",
            "wrong",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("invalid_client"), "{stdout}");
    emulator.shutdown().await;
}
