//! Connector actions against the emulator over real HTTP: each action, their no-op repeats,
//! a deactivation Salesforce refuses, the integration user, users without a login record,
//! dry runs, and results that validate against `schemas/actions/`.

use serde_json::{Value, json};
use sf_access::actions::{self, ACTIONS, ActionError};
use sf_access::exit::Exit;
use sf_access::provision::ProvisionError;

use crate::provision::{
    Fixture, INACTIVE_USER, NOLOGIN_USER, SALES_ASSOCIATE, SALES_REP, options, r,
};
use crate::support::*;

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::new(schema).expect("schema compiles")
}

/// Checks a result against its action's result schema, and its user against the resource
/// schema.
fn assert_valid_result(action: &str, result: &Value) {
    let spec = ACTIONS.iter().find(|a| a.name == action).unwrap();
    let errors: Vec<String> = validator(&spec.result_schema())
        .iter_errors(result)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{result}\n{}", errors.join("\n"));
    if let Some(user) = result.get("user") {
        let schema: Value =
            serde_json::from_str(include_str!("../../schemas/resource.json")).unwrap();
        let errors: Vec<String> = validator(&schema)
            .iter_errors(user)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{user}\n{}", errors.join("\n"));
    }
}

async fn run(f: &Fixture, action: &str, args: Value) -> Result<actions::ActionReport, ActionError> {
    actions::run(&f.provisioner, action, &args, &options(false)).await
}

fn sf(id: &str) -> String {
    id.split(':').nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn update_user_status_deactivates_and_activates_and_repeats_are_no_ops() {
    let f = Fixture::new().await;
    let args = json!({"resource_id": SALES_ASSOCIATE, "is_active": false});
    let report = run(&f, "update_user_status", args.clone()).await.unwrap();
    assert_eq!(report.result["outcome"], "updated");
    assert_eq!(report.result["previous_is_active"], true);
    assert_eq!(report.result["user"]["user"]["status_detail"], "inactive");
    assert_valid_result("update_user_status", &report.result);
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_ASSOCIATE), "IsActive"),
        false
    );

    f.emulator.reset_stats();
    let again = run(&f, "update_user_status", args).await.unwrap();
    assert_eq!(again.result["outcome"], "unchanged");
    assert_valid_result("update_user_status", &again.result);
    assert_eq!(write_calls(&f.emulator), 0);

    let activate = json!({"resource_id": SALES_ASSOCIATE, "is_active": true});
    let report = run(&f, "update_user_status", activate).await.unwrap();
    assert_eq!(report.result["outcome"], "updated");
    assert_eq!(report.result["user"]["user"]["status"], "enabled");
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_ASSOCIATE), "IsActive"),
        true
    );
    let line = f.audit_lines().pop().unwrap();
    assert_eq!(line["operation"], "action");
    assert_eq!(line["target"]["action"], "update_user_status");
    assert_eq!(line["target"]["resource_id"], SALES_ASSOCIATE);
    assert_eq!(line["before"]["User"]["IsActive"], false);
    assert_eq!(line["after"]["User"]["IsActive"], true);
}

#[tokio::test]
async fn a_refused_deactivation_says_why_and_suggests_freezing() {
    let f = Fixture::new().await;
    f.emulator
        .org()
        .write()
        .unwrap()
        .settings
        .users_referenced_by_configuration
        .push(r(SALES_REP).sf_id());
    let err = run(
        &f,
        "update_user_status",
        json!({"resource_id": SALES_REP, "is_active": false}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ActionError::DeactivationRefused { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("referenced by org configuration"),
        "{err}"
    );
    let hint = err.hint().unwrap();
    assert!(hint.contains("freeze_user"), "{hint}");
    assert!(hint.contains(SALES_REP), "{hint}");
    assert_eq!(err.exit(), Exit::Failure);
    assert_eq!(field_of(&f.emulator, &sf(SALES_REP), "IsActive"), true);
    let line = f.audit_lines().pop().unwrap();
    assert_eq!(line["outcome"], "failed");
    assert_eq!(line["error"]["code"], "deactivation_refused");
    assert_eq!(
        line["error"]["salesforce_code"],
        "FIELD_INTEGRITY_EXCEPTION"
    );
    // The suggested way out works.
    let report = run(&f, "freeze_user", json!({"resource_id": SALES_REP}))
        .await
        .unwrap();
    assert_eq!(report.result["outcome"], "updated");
}

#[tokio::test]
async fn freeze_and_unfreeze_set_the_login_record_and_repeats_are_no_ops() {
    let f = Fixture::new().await;
    let login = rows_where(
        &f.emulator,
        "UserLogin",
        &[("UserId", json!(sf(SALES_REP)))],
    );
    assert_eq!(login.len(), 1);
    let args = json!({"resource_id": SALES_REP});
    let report = run(&f, "freeze_user", args.clone()).await.unwrap();
    assert_eq!(report.result["outcome"], "updated");
    assert_eq!(report.result["is_frozen"], true);
    assert_eq!(report.result["user"]["user"]["status_detail"], "frozen");
    assert_eq!(report.calls[0].method, "PATCH");
    assert!(
        report.calls[0]
            .path
            .ends_with(&format!("/sobjects/UserLogin/{}", login[0]))
    );
    assert_valid_result("freeze_user", &report.result);
    assert_eq!(field_of(&f.emulator, &login[0], "IsFrozen"), true);

    f.emulator.reset_stats();
    let again = run(&f, "freeze_user", args.clone()).await.unwrap();
    assert_eq!(again.result["outcome"], "unchanged");
    assert_eq!(write_calls(&f.emulator), 0);

    let report = run(&f, "unfreeze_user", args.clone()).await.unwrap();
    assert_eq!(report.result["outcome"], "updated");
    assert_eq!(report.result["previous_is_frozen"], true);
    assert_eq!(report.result["user"]["user"]["status"], "enabled");
    assert_valid_result("unfreeze_user", &report.result);
    assert_eq!(field_of(&f.emulator, &login[0], "IsFrozen"), false);
    let again = run(&f, "unfreeze_user", args).await.unwrap();
    assert_eq!(again.result["outcome"], "unchanged");
}

#[tokio::test]
async fn a_user_without_a_login_record_cannot_be_frozen() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    let err = run(&f, "freeze_user", json!({"resource_id": NOLOGIN_USER}))
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::NoUserLogin { .. }), "{err}");
    assert!(err.hint().unwrap().contains("update_user_status"));
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn the_integration_user_is_never_deactivated_or_frozen() {
    let f = Fixture::new().await;
    let me = format!(
        "user:{}",
        f.emulator.org().read().unwrap().integration.user_id
    );
    f.emulator.reset_stats();
    for (action, args) in [
        (
            "update_user_status",
            json!({"resource_id": me, "is_active": false}),
        ),
        ("freeze_user", json!({"resource_id": me})),
    ] {
        let err = run(&f, action, args).await.unwrap_err();
        assert!(
            matches!(
                err,
                ActionError::Provision(ProvisionError::InvalidArgument { .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("integration user"), "{err}");
    }
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn activating_checks_for_a_free_seat_first() {
    let f = Fixture::new().await;
    // Fill the Salesforce license: every seat taken.
    {
        let mut org = f.emulator.org().write().unwrap();
        let license = sf_access::salesforce::SfId::parse("1005g0000000001AAA").unwrap();
        let used = org
            .value(&license, "UsedLicenses")
            .and_then(|v| v.as_int())
            .unwrap();
        org.update_raw(
            &license,
            &[("TotalLicenses", sf_access::emulator::org::Value::Int(used))],
        );
    }
    f.emulator.reset_stats();
    let err = run(
        &f,
        "update_user_status",
        json!({"resource_id": INACTIVE_USER, "is_active": true}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ActionError::Provision(ProvisionError::LicenseFull { .. })
        ),
        "{err}"
    );
    assert_eq!(write_calls(&f.emulator), 0);
}

#[tokio::test]
async fn action_dry_runs_plan_without_writing() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    let report = actions::run(
        &f.provisioner,
        "update_user_status",
        &json!({"resource_id": SALES_ASSOCIATE, "is_active": false}),
        &options(true),
    )
    .await
    .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.result["outcome"], "updated");
    assert!(report.result.get("user").is_none());
    assert_valid_result("update_user_status", &report.result);
    assert_eq!(report.calls[0].body, Some(json!({"IsActive": false})));
    assert_eq!(write_calls(&f.emulator), 0);
    assert_eq!(
        field_of(&f.emulator, &sf(SALES_ASSOCIATE), "IsActive"),
        true
    );
}

#[tokio::test]
async fn bad_action_arguments_are_refused_before_any_call() {
    let f = Fixture::new().await;
    f.emulator.reset_stats();
    for (action, args) in [
        ("delete_user", json!({"resource_id": SALES_REP})),
        ("freeze_user", json!({})),
        ("freeze_user", json!({"resource_id": "user:005' OR '1'='1"})),
        (
            "freeze_user",
            json!({"resource_id": "user:0055g0000000004AAB"}),
        ),
        (
            "freeze_user",
            json!({"resource_id": "group:00G5g000000000WEAQ"}),
        ),
        (
            "freeze_user",
            json!({"resource_id": SALES_REP, "reason": "x"}),
        ),
        (
            "update_user_status",
            json!({"resource_id": SALES_REP, "is_active": "false"}),
        ),
    ] {
        let err = run(&f, action, args.clone()).await.unwrap_err();
        assert_eq!(err.exit(), Exit::Usage, "{action} {args}: {err}");
    }
    assert_eq!(f.emulator.stats().total_requests, 0);
    assert!(f.audit_lines().is_empty());
}
