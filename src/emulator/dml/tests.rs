//! Tests of the sObject write and read logic, on small orgs built by hand.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Map, Value as Json, json};

use super::*;
use crate::emulator::org::{Integration, OrgSettings, Record, Value};
use crate::emulator::schema::{PERMISSIONS, perm};

const POD: &str = "5g";

/// A small org: two user licenses, three profiles with their owned sets, an admin (the
/// caller) and one more user, a regular set, a set needing a permission set license, a public
/// group and a connected app.
struct Fixture {
    org: Org,
    admin: SfId,
    jane: SfId,
    salesforce_license: SfId,
    platform_license: SfId,
    standard_profile: SfId,
    other_standard_profile: SfId,
    platform_profile: SfId,
    standard_set: SfId,
    other_standard_set: SfId,
    sales_ops: SfId,
    analytics_license: SfId,
    analytics_set: SfId,
    salesforce_only_set: SfId,
    engineering: SfId,
    app: SfId,
}

fn integration() -> Integration {
    Integration {
        user_id: SfId::from_counter("005", POD, 1),
        client_id: "client".into(),
        client_secret: "secret".into(),
        password: "password".into(),
        security_token: "token".into(),
        refresh_token: "refresh".into(),
        jwt_public_key_pem: String::new(),
        connected_app_id: None,
    }
}

fn t(s: &str) -> Value {
    Value::text(s)
}

fn add_profile(org: &mut Org, name: &str, license: SfId, all_permissions: bool) -> (SfId, SfId) {
    let mut fields: Vec<(&str, Value)> = vec![
        ("Name", t(name)),
        ("UserLicenseId", Value::Id(license)),
        ("UserType", t("Standard")),
    ];
    for p in PERMISSIONS {
        fields.push((p, Value::Bool(all_permissions)));
    }
    let profile = org.insert_raw("Profile", &fields);
    let set = org.insert_raw(
        "PermissionSet",
        &[
            ("Name", t(&format!("X{}", profile.to_15()))),
            ("Label", t(name)),
            ("ProfileId", Value::Id(profile)),
            ("IsOwnedByProfile", Value::Bool(true)),
            ("Type", t("Profile")),
        ],
    );
    (profile, set)
}

fn add_user(org: &mut Org, username: &str, profile: SfId, set: SfId, active: bool) -> SfId {
    let user = org.insert_raw(
        "User",
        &[
            ("Username", t(username)),
            ("Email", t(username)),
            ("LastName", t("Existing")),
            ("Name", t("Existing")),
            ("Alias", t("exist")),
            (
                "CommunityNickname",
                t(username.split('@').next().unwrap_or("x")),
            ),
            ("IsActive", Value::Bool(active)),
            ("UserType", t("Standard")),
            ("ProfileId", Value::Id(profile)),
            ("TimeZoneSidKey", t("GMT")),
            ("LocaleSidKey", t("en_US")),
            ("EmailEncodingKey", t("UTF-8")),
            ("LanguageLocaleKey", t("en_US")),
        ],
    );
    org.insert_raw("UserLogin", &[("UserId", Value::Id(user))]);
    org.insert_raw(
        "PermissionSetAssignment",
        &[
            ("AssigneeId", Value::Id(user)),
            ("PermissionSetId", Value::Id(set)),
            ("IsActive", Value::Bool(true)),
        ],
    );
    user
}

fn fixture() -> Fixture {
    let mut org = Org::empty(OrgSettings::default(), integration(), POD);
    let salesforce_license = org.insert_raw(
        "UserLicense",
        &[
            ("Name", t("Salesforce")),
            ("MasterLabel", t("Salesforce")),
            ("LicenseDefinitionKey", t("SFDC")),
            ("Status", t("Active")),
            ("TotalLicenses", Value::Int(3)),
        ],
    );
    let platform_license = org.insert_raw(
        "UserLicense",
        &[
            ("Name", t("Salesforce Platform")),
            ("MasterLabel", t("Salesforce Platform")),
            ("LicenseDefinitionKey", t("AUL")),
            ("Status", t("Active")),
            ("TotalLicenses", Value::Int(1)),
        ],
    );
    let (admin_profile, admin_set) =
        add_profile(&mut org, "System Administrator", salesforce_license, true);
    let (standard_profile, standard_set) =
        add_profile(&mut org, "Standard User", salesforce_license, false);
    let (other_standard_profile, other_standard_set) =
        add_profile(&mut org, "Marketing User", salesforce_license, false);
    let (platform_profile, _) =
        add_profile(&mut org, "Standard Platform User", platform_license, false);
    let admin = add_user(
        &mut org,
        "admin@example.com",
        admin_profile,
        admin_set,
        true,
    );
    let jane = add_user(
        &mut org,
        "jane@example.com",
        standard_profile,
        standard_set,
        true,
    );
    let sales_ops = org.insert_raw(
        "PermissionSet",
        &[
            ("Name", t("Sales_Ops")),
            ("Label", t("Sales Ops")),
            ("Type", t("Regular")),
            ("IsCustom", Value::Bool(true)),
            ("PermissionsViewSetup", Value::Bool(true)),
        ],
    );
    let analytics_license = org.insert_raw(
        "PermissionSetLicense",
        &[
            ("DeveloperName", t("CRM_Analytics")),
            ("MasterLabel", t("CRM Analytics")),
            ("Status", t("Active")),
            ("TotalLicenses", Value::Int(1)),
        ],
    );
    let analytics_set = org.insert_raw(
        "PermissionSet",
        &[
            ("Name", t("Analytics_User")),
            ("Label", t("Analytics User")),
            ("Type", t("Regular")),
            ("LicenseId", Value::Id(analytics_license)),
            ("PermissionsManageRoles", Value::Bool(true)),
        ],
    );
    let salesforce_only_set = org.insert_raw(
        "PermissionSet",
        &[
            ("Name", t("Full_CRM")),
            ("Label", t("Full CRM")),
            ("Type", t("Regular")),
            ("LicenseId", Value::Id(salesforce_license)),
        ],
    );
    let engineering = org.insert_raw(
        "Group",
        &[
            ("Name", t("Engineering")),
            ("DeveloperName", t("Engineering")),
            ("Type", t("Regular")),
        ],
    );
    let app = org.insert_raw("ConnectedApplication", &[("Name", t("Slack"))]);
    org.recount_licenses();
    Fixture {
        org,
        admin,
        jane,
        salesforce_license,
        platform_license,
        standard_profile,
        other_standard_profile,
        platform_profile,
        standard_set,
        other_standard_set,
        sales_ops,
        analytics_license,
        analytics_set,
        salesforce_only_set,
        engineering,
        app,
    }
}

impl Fixture {
    fn caller(&self) -> Caller {
        Caller::of(&self.org, self.admin)
    }

    /// A caller with API Enabled only.
    fn weak_caller(&self) -> Caller {
        Caller {
            user_id: self.admin,
            permissions: BTreeSet::from([perm::API_ENABLED]),
        }
    }

    fn create(&mut self, object: &str, body: Json) -> Result<SfId, ApiError> {
        let caller = self.caller();
        create(&mut self.org, &caller, object, &map(body))
    }

    fn update(&mut self, object: &str, id: SfId, body: Json) -> Result<(), ApiError> {
        let caller = self.caller();
        update(&mut self.org, &caller, object, id.as_str(), &map(body))
    }

    fn delete(&mut self, object: &str, id: SfId) -> Result<(), ApiError> {
        let caller = self.caller();
        delete(&mut self.org, &caller, object, id.as_str())
    }

    fn value(&self, id: SfId, field: &str) -> Value {
        self.org.value(&id, field).cloned().unwrap_or(Value::Null)
    }

    fn rows(&self, object: &str, field: &str, value: Value) -> Vec<SfId> {
        let table = self.org.table(object).expect("object exists");
        table
            .rows
            .iter()
            .filter(|(_, r)| table.value(r, field) == Some(&value))
            .map(|(id, _)| *id)
            .collect()
    }

    fn count(&self, object: &str) -> usize {
        self.org.table(object).expect("object exists").rows.len()
    }

    fn snapshot(&self) -> Vec<(&'static str, Vec<Record>)> {
        self.org
            .tables()
            .iter()
            .map(|t| (t.def.name, t.rows.values().cloned().collect()))
            .collect()
    }

    fn assign(&mut self, user: SfId, set: SfId) -> Result<SfId, ApiError> {
        self.create(
            "PermissionSetAssignment",
            json!({"AssigneeId": user.as_str(), "PermissionSetId": set.as_str()}),
        )
    }

    fn new_group_with_component(&mut self, name: &str, set: SfId) -> SfId {
        let group = self
            .create(
                "PermissionSetGroup",
                json!({"DeveloperName": name, "MasterLabel": name}),
            )
            .expect("group created");
        self.create(
            "PermissionSetGroupComponent",
            json!({"PermissionSetGroupId": group.as_str(), "PermissionSetId": set.as_str()}),
        )
        .expect("component created");
        group
    }
}

fn map(body: Json) -> Map<String, Json> {
    body.as_object().cloned().expect("test bodies are objects")
}

fn user_body(username: &str, profile: SfId) -> Json {
    json!({
        "Username": username,
        "LastName": "Lovelace",
        "FirstName": "Ada",
        "Email": "ada@example.com",
        "Alias": "alove",
        "ProfileId": profile.as_str(),
        "TimeZoneSidKey": "Europe/London",
        "LocaleSidKey": "en_GB",
        "EmailEncodingKey": "UTF-8",
        "LanguageLocaleKey": "en_US",
    })
}

#[track_caller]
fn expect_error<T: std::fmt::Debug>(
    result: Result<T, ApiError>,
    status: StatusCode,
    code: &str,
    fields: &[&str],
) -> ApiError {
    let error = result.expect_err("the write must fail");
    assert_eq!(error.status, status, "{error}");
    assert_eq!(error.code, code, "{error}");
    assert_eq!(error.fields, fields, "{error}");
    error
}

#[track_caller]
fn expect_400<T: std::fmt::Debug>(
    result: Result<T, ApiError>,
    code: &str,
    fields: &[&str],
) -> ApiError {
    expect_error(result, StatusCode::BAD_REQUEST, code, fields)
}

fn stamp(value: Value) -> i64 {
    match value {
        Value::DateTime(ms) => ms,
        other => panic!("not a stamp: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Paths, verbs and IDs

#[test]
fn writes_to_an_unknown_object_are_not_found() {
    let mut f = fixture();
    expect_error(
        f.create("Widget", json!({})),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &[],
    );
    let caller = f.caller();
    let error = delete(&mut f.org, &caller, "Widget", f.jane.as_str()).unwrap_err();
    assert_eq!(error.message, "The requested resource does not exist");
}

#[test]
fn inserting_into_a_read_only_object_answers_405_allowing_head_and_get() {
    let mut f = fixture();
    let error = expect_error(
        f.create("UserLicense", json!({"Name": "x"})),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &[],
    );
    assert_eq!(
        error.message,
        "HTTP Method 'POST' not allowed. Allowed are HEAD,GET"
    );
}

#[test]
fn deleting_a_user_answers_405_allowing_head_get_patch() {
    let mut f = fixture();
    let jane = f.jane;
    let error = expect_error(
        f.delete("User", jane),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &[],
    );
    assert_eq!(
        error.message,
        "HTTP Method 'DELETE' not allowed. Allowed are HEAD,GET,PATCH"
    );
    assert!(f.org.get(&jane).is_some());
}

#[test]
fn updating_an_object_without_update_lists_its_delete_verb() {
    let mut f = fixture();
    let member = f
        .create(
            "GroupMember",
            json!({"GroupId": f.engineering.as_str(), "UserOrGroupId": f.jane.as_str()}),
        )
        .unwrap();
    let error = expect_error(
        f.update("GroupMember", member, json!({})),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &[],
    );
    assert_eq!(
        error.message,
        "HTTP Method 'PATCH' not allowed. Allowed are HEAD,GET,DELETE"
    );
}

#[test]
fn a_malformed_id_in_the_path_is_malformed_id() {
    let mut f = fixture();
    let caller = f.caller();
    let error = expect_400(
        update(&mut f.org, &caller, "User", "xyz", &Map::new()),
        "MALFORMED_ID",
        &["Id"],
    );
    assert_eq!(error.message, "User ID: id value of incorrect type: xyz");
}

#[test]
fn an_id_of_another_object_or_no_record_in_the_path_is_not_found() {
    let mut f = fixture();
    let group = f.engineering;
    expect_error(
        f.update("User", group, json!({"LastName": "x"})),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &[],
    );
    let missing = SfId::from_counter("005", POD, 999);
    expect_error(
        f.update("User", missing, json!({"LastName": "x"})),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &[],
    );
}

#[test]
fn object_and_field_names_are_case_insensitive() {
    let mut f = fixture();
    let id = f
        .create("group", json!({"name": "Platform Team", "TYPE": "regular"}))
        .unwrap();
    assert_eq!(f.value(id, "Name"), t("Platform Team"));
    // Picklist values are stored in their canonical spelling.
    assert_eq!(f.value(id, "Type"), t("Regular"));
    let caller = f.caller();
    let fifteen = id.to_15().to_string();
    update(
        &mut f.org,
        &caller,
        "GROUP",
        &fifteen,
        &map(json!({"description": "x"})),
    )
    .unwrap();
    assert_eq!(f.value(id, "Description"), t("x"));
}

// ---------------------------------------------------------------------------------------
// Bodies

#[test]
fn an_unknown_field_is_invalid_field() {
    let mut f = fixture();
    let error = expect_400(f.create("User", json!({"Foo": 1})), "INVALID_FIELD", &[]);
    assert_eq!(
        error.message,
        "No such column 'Foo' on sobject of type User"
    );
}

#[test]
fn read_only_fields_and_id_on_insert_are_invalid_field_for_insert_update() {
    let mut f = fixture();
    let mut body = user_body("new@example.com", f.standard_profile);
    body["Name"] = json!("Ada Lovelace");
    body["UserType"] = json!("Standard");
    let error = expect_400(
        f.create("User", body),
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        &["Name", "UserType"],
    );
    assert_eq!(
        error.message,
        "Unable to create/update fields: Name, UserType. Please check the security settings of \
         this field and verify that it is read/write for your profile or permission set."
    );
    let mut body = user_body("new@example.com", f.standard_profile);
    body["Id"] = json!(f.jane.as_str());
    expect_400(
        f.create("User", body),
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        &["Id"],
    );
}

#[test]
fn create_only_fields_cannot_be_updated() {
    let mut f = fixture();
    let row = f.assign(f.jane, f.sales_ops).unwrap();
    let body = json!({"PermissionSetId": f.analytics_set.as_str()});
    expect_400(
        f.update("PermissionSetAssignment", row, body),
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        &["PermissionSetId"],
    );
}

#[test]
fn the_attributes_key_is_ignored_in_single_writes() {
    let mut f = fixture();
    let id = f
        .create(
            "Group",
            json!({"attributes": {"type": "Group"}, "Name": "With Attributes"}),
        )
        .unwrap();
    assert_eq!(f.value(id, "Name"), t("With Attributes"));
}

#[test]
fn a_value_of_the_wrong_json_type_is_a_parser_error_naming_field_and_type() {
    let mut f = fixture();
    let jane = f.jane;
    let error = expect_400(
        f.update("User", jane, json!({"IsActive": "yes"})),
        "JSON_PARSER_ERROR",
        &[],
    );
    assert!(error.message.contains("boolean"), "{}", error.message);
    assert!(error.message.contains("VALUE_STRING"), "{}", error.message);
    assert!(error.message.contains("IsActive"), "{}", error.message);
    expect_400(
        f.update("User", jane, json!({"LastName": {"nested": true}})),
        "JSON_PARSER_ERROR",
        &[],
    );
    let row = f.assign(jane, f.sales_ops).unwrap();
    expect_400(
        f.update(
            "PermissionSetAssignment",
            row,
            json!({"ExpirationDate": "next week"}),
        ),
        "JSON_PARSER_ERROR",
        &[],
    );
}

#[test]
fn null_for_a_required_field_is_required_field_missing() {
    let mut f = fixture();
    let jane = f.jane;
    let error = expect_400(
        f.update("User", jane, json!({"LastName": null})),
        "REQUIRED_FIELD_MISSING",
        &["LastName"],
    );
    assert_eq!(error.message, "Required fields are missing: [LastName]");
    // An empty string counts as null for text.
    expect_400(
        f.update("User", jane, json!({"Email": ""})),
        "REQUIRED_FIELD_MISSING",
        &["Email"],
    );
}

#[test]
fn missing_required_fields_on_insert_are_all_listed() {
    let mut f = fixture();
    let mut body = user_body("new@example.com", f.standard_profile);
    let object = body.as_object_mut().unwrap();
    object.remove("LastName");
    object.remove("Alias");
    let error = expect_400(
        f.create("User", body),
        "REQUIRED_FIELD_MISSING",
        &["LastName", "Alias"],
    );
    assert_eq!(
        error.message,
        "Required fields are missing: [LastName, Alias]"
    );
    // A boolean is never null, on insert either.
    let mut body = user_body("new@example.com", f.standard_profile);
    body["IsActive"] = Json::Null;
    expect_400(
        f.create("User", body),
        "REQUIRED_FIELD_MISSING",
        &["IsActive"],
    );
}

#[test]
fn text_longer_than_its_field_is_string_too_long() {
    let mut f = fixture();
    let jane = f.jane;
    let error = expect_400(
        f.update("User", jane, json!({"Alias": "123456789"})),
        "STRING_TOO_LONG",
        &["Alias"],
    );
    assert_eq!(
        error.message,
        "Alias: data value too large: 123456789 (max length=8)"
    );
}

#[test]
fn a_malformed_reference_is_malformed_id_labelled_by_the_field() {
    let mut f = fixture();
    let jane = f.jane;
    let error = expect_400(
        f.update("User", jane, json!({"ProfileId": "x"})),
        "MALFORMED_ID",
        &["ProfileId"],
    );
    assert_eq!(error.message, "Profile ID: id value of incorrect type: x");
}

#[test]
fn a_reference_to_a_missing_record_or_a_wrong_type_is_invalid_cross_reference_key() {
    let mut f = fixture();
    let jane = f.jane;
    let error = expect_400(
        f.update("User", jane, json!({"ProfileId": f.engineering.as_str()})),
        "INVALID_CROSS_REFERENCE_KEY",
        &["ProfileId"],
    );
    assert_eq!(error.message, "invalid cross reference id");
    let missing = SfId::from_counter("00e", POD, 999);
    expect_400(
        f.update("User", jane, json!({"ProfileId": missing.as_str()})),
        "INVALID_CROSS_REFERENCE_KEY",
        &["ProfileId"],
    );
}

#[test]
fn an_empty_string_clears_a_reference() {
    let mut f = fixture();
    let role = f.create("UserRole", json!({"Name": "CEO"})).unwrap();
    let jane = f.jane;
    f.update("User", jane, json!({"UserRoleId": role.as_str()}))
        .unwrap();
    assert_eq!(f.value(jane, "UserRoleId"), Value::Id(role));
    f.update("User", jane, json!({"UserRoleId": ""})).unwrap();
    assert_eq!(f.value(jane, "UserRoleId"), Value::Null);
}

#[test]
fn an_email_field_must_look_like_an_email() {
    let mut f = fixture();
    let jane = f.jane;
    let error = expect_400(
        f.update("User", jane, json!({"Email": "x"})),
        "INVALID_EMAIL_ADDRESS",
        &["Email"],
    );
    assert_eq!(error.message, "Email: invalid email address: x");
    expect_400(
        f.create("Group", json!({"Name": "Mailers", "Email": "a@b"})),
        "INVALID_EMAIL_ADDRESS",
        &["Email"],
    );
}

// ---------------------------------------------------------------------------------------
// Gates

#[test]
fn a_caller_without_the_write_permission_gets_insufficient_access() {
    let mut f = fixture();
    let weak = f.weak_caller();
    let body = map(user_body("new@example.com", f.standard_profile));
    let error = expect_400(
        create(&mut f.org, &weak, "User", &body),
        "INSUFFICIENT_ACCESS_OR_READONLY",
        &[],
    );
    assert_eq!(error.message, "insufficient access rights on object id");
    expect_400(
        update(
            &mut f.org,
            &weak,
            "Group",
            f.engineering.as_str(),
            &map(json!({"Name": "x"})),
        ),
        "INSUFFICIENT_ACCESS_OR_READONLY",
        &[],
    );
}

#[test]
fn assignments_and_memberships_without_permission_fail_on_the_cross_reference() {
    let mut f = fixture();
    let weak = f.weak_caller();
    let body = map(json!({"AssigneeId": f.jane.as_str(), "PermissionSetId": f.sales_ops.to_15()}));
    let error = expect_400(
        create(&mut f.org, &weak, "PermissionSetAssignment", &body),
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        &[],
    );
    assert_eq!(
        error.message,
        format!(
            "insufficient access rights on cross-reference id: {}",
            f.sales_ops
        )
    );
    let body = map(json!({"GroupId": f.engineering.as_str(), "UserOrGroupId": f.jane.as_str()}));
    let error = expect_400(
        create(&mut f.org, &weak, "GroupMember", &body),
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        &[],
    );
    assert!(error.message.ends_with(f.engineering.as_str()));
    let row = f.assign(f.jane, f.sales_ops).unwrap();
    expect_400(
        delete(&mut f.org, &weak, "PermissionSetAssignment", row.as_str()),
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        &[],
    );
    assert!(f.org.get(&row).is_some());
}

#[test]
fn assign_permission_sets_alone_is_enough_to_assign() {
    let mut f = fixture();
    let assigner = Caller {
        user_id: f.admin,
        permissions: BTreeSet::from([perm::API_ENABLED, perm::ASSIGN_PERMISSION_SETS]),
    };
    let body = map(json!({"AssigneeId": f.jane.as_str(), "PermissionSetId": f.sales_ops.as_str()}));
    create(&mut f.org, &assigner, "PermissionSetAssignment", &body).unwrap();
}

// ---------------------------------------------------------------------------------------
// Retrieve

#[test]
fn retrieve_returns_attributes_first_then_every_field_by_canonical_name() {
    let f = fixture();
    let record = retrieve(&f.org, &f.caller(), "user", f.jane.as_str(), None, "66.0").unwrap();
    let object = record.as_object().unwrap();
    let keys: Vec<&String> = object.keys().collect();
    assert_eq!(keys[0], "attributes");
    assert_eq!(keys[1], "Id");
    assert_eq!(keys.len(), schema::object("User").unwrap().fields.len() + 1);
    assert_eq!(
        record["attributes"],
        json!({"type": "User", "url": format!("/services/data/v66.0/sobjects/User/{}", f.jane)})
    );
    assert_eq!(record["Username"], json!("jane@example.com"));
    assert_eq!(record["IsActive"], json!(true));
    assert_eq!(record["ManagerId"], Json::Null);
}

#[test]
fn retrieve_with_fields_returns_those_in_order_and_validates_them() {
    let f = fixture();
    let caller = f.caller();
    let record = retrieve(
        &f.org,
        &caller,
        "User",
        f.jane.as_str(),
        Some("username, ISACTIVE"),
        "54.0",
    )
    .unwrap();
    let keys: Vec<&String> = record.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["attributes", "Username", "IsActive", "Id"]);
    let error = expect_400(
        retrieve(
            &f.org,
            &caller,
            "User",
            f.jane.as_str(),
            Some("Username,Foo"),
            "54.0",
        ),
        "INVALID_FIELD",
        &[],
    );
    assert_eq!(
        error.message,
        "No such column 'Foo' on sobject of type User"
    );
}

#[test]
fn retrieve_checks_the_read_gate_and_the_id() {
    let f = fixture();
    let login = f.rows("UserLogin", "UserId", Value::Id(f.jane))[0];
    expect_error(
        retrieve(
            &f.org,
            &f.weak_caller(),
            "UserLogin",
            login.as_str(),
            None,
            "66.0",
        ),
        StatusCode::FORBIDDEN,
        "INSUFFICIENT_ACCESS_OR_READONLY",
        &[],
    );
    retrieve(
        &f.org,
        &f.caller(),
        "UserLogin",
        login.as_str(),
        None,
        "66.0",
    )
    .unwrap();
    expect_400(
        retrieve(&f.org, &f.caller(), "User", "nope", None, "66.0"),
        "MALFORMED_ID",
        &["Id"],
    );
    expect_error(
        retrieve(&f.org, &f.caller(), "User", login.as_str(), None, "66.0"),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &[],
    );
    expect_error(
        retrieve(&f.org, &f.caller(), "Widget", login.as_str(), None, "66.0"),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &[],
    );
}

// ---------------------------------------------------------------------------------------
// User

#[test]
fn user_insert_creates_its_login_and_profile_assignment_and_takes_a_seat() {
    let mut f = fixture();
    assert_eq!(f.value(f.salesforce_license, "UsedLicenses"), Value::Int(2));
    let user = f
        .create("User", user_body("ada@example.com", f.standard_profile))
        .unwrap();
    let logins = f.rows("UserLogin", "UserId", Value::Id(user));
    assert_eq!(logins.len(), 1);
    assert_eq!(f.value(logins[0], "IsFrozen"), Value::Bool(false));
    assert_eq!(f.value(logins[0], "IsPasswordLocked"), Value::Bool(false));
    let assignments = f.rows("PermissionSetAssignment", "AssigneeId", Value::Id(user));
    assert_eq!(assignments.len(), 1);
    assert_eq!(
        f.value(assignments[0], "PermissionSetId"),
        Value::Id(f.standard_set)
    );
    assert_eq!(f.value(assignments[0], "IsActive"), Value::Bool(true));
    assert_eq!(f.value(f.salesforce_license, "UsedLicenses"), Value::Int(3));
}

#[test]
fn user_insert_defaults_active_and_computes_name_type_and_nickname() {
    let mut f = fixture();
    let user = f
        .create("User", user_body("ada.l@example.com", f.standard_profile))
        .unwrap();
    assert_eq!(f.value(user, "IsActive"), Value::Bool(true));
    assert_eq!(f.value(user, "Name"), t("Ada Lovelace"));
    assert_eq!(f.value(user, "UserType"), t("Standard"));
    assert_eq!(f.value(user, "CommunityNickname"), t("ada.l"));
    assert_eq!(f.value(user, "CreatedById"), Value::Id(f.admin));
    assert_eq!(f.value(user, "LastModifiedById"), Value::Id(f.admin));
    assert_eq!(
        f.value(user, "CreatedDate"),
        f.value(user, "SystemModstamp")
    );
    // The generated nickname avoids taken ones ("jane" belongs to the fixture's Jane).
    let mut body = user_body("jane@other.example.com", f.standard_profile);
    body["IsActive"] = json!(false);
    let second = f.create("User", body).unwrap();
    assert_eq!(f.value(second, "CommunityNickname"), t("jane1"));
    assert_eq!(f.value(second, "IsActive"), Value::Bool(false));
}

#[test]
fn a_duplicate_username_is_refused_whatever_its_case() {
    let mut f = fixture();
    let error = expect_400(
        f.create("User", user_body("JANE@example.com", f.standard_profile)),
        "DUPLICATE_USERNAME",
        &["Username"],
    );
    assert!(
        error
            .message
            .starts_with("Duplicate Username.<br>The username already exists")
    );
    let jane = f.jane;
    f.update("User", jane, json!({"Username": "Jane@Example.com"}))
        .unwrap();
    let user = f
        .create("User", user_body("other@example.com", f.standard_profile))
        .unwrap();
    expect_400(
        f.update("User", user, json!({"Username": "admin@example.com"})),
        "DUPLICATE_USERNAME",
        &["Username"],
    );
}

#[test]
fn a_duplicate_nickname_is_refused() {
    let mut f = fixture();
    let mut body = user_body("ada@example.com", f.standard_profile);
    body["CommunityNickname"] = json!("JANE");
    expect_400(
        f.create("User", body),
        "DUPLICATE_COMM_NICKNAME",
        &["CommunityNickname"],
    );
}

#[test]
fn a_username_must_look_like_an_email() {
    let mut f = fixture();
    let error = expect_400(
        f.create("User", user_body("ada", f.standard_profile)),
        "INVALID_NEW_VALUE",
        &["Username"],
    );
    assert!(error.message.contains("email address"));
}

#[test]
fn restricted_picklists_refuse_unknown_values() {
    let mut f = fixture();
    let mut body = user_body("ada@example.com", f.standard_profile);
    body["TimeZoneSidKey"] = json!("Mars/Olympus");
    let error = expect_400(
        f.create("User", body),
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        &["TimeZoneSidKey"],
    );
    assert_eq!(
        error.message,
        "Time Zone: bad value for restricted picklist field: Mars/Olympus"
    );
    let jane = f.jane;
    for (field, value) in [
        ("LocaleSidKey", "xx_YY"),
        ("LanguageLocaleKey", "klingon"),
        ("EmailEncodingKey", "EBCDIC"),
    ] {
        expect_400(
            f.update("User", jane, json!({ field: value })),
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            &[field],
        );
    }
    for zone in [
        "America/New_York",
        "America/Los_Angeles",
        "Europe/Paris",
        "Asia/Tokyo",
        "GMT",
    ] {
        f.update("User", jane, json!({"TimeZoneSidKey": zone}))
            .unwrap();
    }
    f.update(
        "User",
        jane,
        json!({"LocaleSidKey": "de", "LanguageLocaleKey": "ja", "EmailEncodingKey": "Shift_JIS"}),
    )
    .unwrap();
}

#[test]
fn an_active_user_needs_a_free_seat_but_an_inactive_one_does_not() {
    let mut f = fixture();
    f.create("User", user_body("third@example.com", f.standard_profile))
        .unwrap();
    let before = f.snapshot();
    let error = expect_400(
        f.create("User", user_body("fourth@example.com", f.standard_profile)),
        "LICENSE_LIMIT_EXCEEDED",
        &[],
    );
    assert_eq!(error.message, "License Limit Exceeded");
    assert_eq!(
        f.snapshot(),
        before,
        "a refused insert leaves nothing behind"
    );
    let mut body = user_body("fourth@example.com", f.standard_profile);
    body["IsActive"] = json!(false);
    let inactive = f.create("User", body).unwrap();
    assert_eq!(f.value(f.salesforce_license, "UsedLicenses"), Value::Int(3));
    // Activating it needs a seat too.
    expect_400(
        f.update("User", inactive, json!({"IsActive": true})),
        "LICENSE_LIMIT_EXCEEDED",
        &[],
    );
    // Deactivating Jane frees one.
    let jane = f.jane;
    f.update("User", jane, json!({"IsActive": false})).unwrap();
    assert_eq!(f.value(f.salesforce_license, "UsedLicenses"), Value::Int(2));
    f.update("User", inactive, json!({"IsActive": true}))
        .unwrap();
    assert_eq!(f.value(f.salesforce_license, "UsedLicenses"), Value::Int(3));
}

#[test]
fn a_disabled_user_license_has_no_free_seat() {
    let mut f = fixture();
    let license = f.platform_license;
    f.org.update_raw(&license, &[("Status", t("Disabled"))]);
    expect_400(
        f.create("User", user_body("p@example.com", f.platform_profile)),
        "LICENSE_LIMIT_EXCEEDED",
        &[],
    );
}

#[test]
fn a_profile_change_moves_the_profile_assignment_and_stamps_it() {
    let mut f = fixture();
    let jane = f.jane;
    let row = f.rows(
        "PermissionSetAssignment",
        "PermissionSetId",
        Value::Id(f.standard_set),
    )[0];
    // Hand-built rows have no stamp yet: count that as the epoch.
    let before = match f.value(row, "SystemModstamp") {
        Value::DateTime(ms) => ms,
        _ => 0,
    };
    f.update(
        "User",
        jane,
        json!({"ProfileId": f.other_standard_profile.as_str()}),
    )
    .unwrap();
    assert_eq!(
        f.value(jane, "ProfileId"),
        Value::Id(f.other_standard_profile)
    );
    assert_eq!(
        f.value(row, "PermissionSetId"),
        Value::Id(f.other_standard_set)
    );
    assert!(stamp(f.value(row, "SystemModstamp")) > before);
    assert!(stamp(f.value(row, "SystemModstamp")) >= stamp(f.value(jane, "SystemModstamp")));
    let profile_rows: Vec<SfId> = f
        .rows("PermissionSetAssignment", "AssigneeId", Value::Id(jane))
        .into_iter()
        .filter(|r| f.value(*r, "PermissionSetId") == Value::Id(f.standard_set))
        .collect();
    assert!(profile_rows.is_empty());
}

#[test]
fn a_profile_of_another_license_is_refused() {
    let mut f = fixture();
    let jane = f.jane;
    let error = expect_400(
        f.update(
            "User",
            jane,
            json!({"ProfileId": f.platform_profile.as_str()}),
        ),
        "FIELD_INTEGRITY_EXCEPTION",
        &["ProfileId"],
    );
    assert!(error.message.contains("license"));
    assert_eq!(f.value(jane, "ProfileId"), Value::Id(f.standard_profile));
}

#[test]
fn a_user_referenced_by_configuration_cannot_be_deactivated() {
    let mut f = fixture();
    let jane = f.jane;
    f.org.settings.users_referenced_by_configuration.push(jane);
    let error = expect_400(
        f.update("User", jane, json!({"IsActive": false})),
        "FIELD_INTEGRITY_EXCEPTION",
        &["IsActive"],
    );
    assert!(error.message.contains("Freeze the user instead"));
    // Freezing is the way out.
    let login = f.rows("UserLogin", "UserId", Value::Id(jane))[0];
    f.update("UserLogin", login, json!({"IsFrozen": true}))
        .unwrap();
}

#[test]
fn the_caller_cannot_deactivate_itself() {
    let mut f = fixture();
    let admin = f.admin;
    let error = expect_400(
        f.update("User", admin, json!({"IsActive": false})),
        "FIELD_INTEGRITY_EXCEPTION",
        &["IsActive"],
    );
    assert_eq!(error.message, "You cannot deactivate yourself.");
}

#[test]
fn renaming_a_user_recomputes_its_name() {
    let mut f = fixture();
    let jane = f.jane;
    f.update(
        "User",
        jane,
        json!({"FirstName": "Jane", "LastName": "Doe"}),
    )
    .unwrap();
    assert_eq!(f.value(jane, "Name"), t("Jane Doe"));
    f.update("User", jane, json!({"FirstName": null})).unwrap();
    assert_eq!(f.value(jane, "Name"), t("Doe"));
}

// ---------------------------------------------------------------------------------------
// UserLogin

#[test]
fn freezing_a_user_sets_is_frozen_and_stamps_the_login() {
    let mut f = fixture();
    let login = f.rows("UserLogin", "UserId", Value::Id(f.jane))[0];
    f.update("UserLogin", login, json!({"IsFrozen": true}))
        .unwrap();
    assert_eq!(f.value(login, "IsFrozen"), Value::Bool(true));
    assert!(matches!(
        f.value(login, "LastModifiedDate"),
        Value::DateTime(_)
    ));
    assert_eq!(f.value(login, "LastModifiedById"), Value::Id(f.admin));
    f.update("UserLogin", login, json!({"IsFrozen": false}))
        .unwrap();
    assert_eq!(f.value(login, "IsFrozen"), Value::Bool(false));
}

#[test]
fn a_password_can_be_unlocked_but_never_locked_through_the_api() {
    let mut f = fixture();
    let login = f.rows("UserLogin", "UserId", Value::Id(f.jane))[0];
    expect_400(
        f.update("UserLogin", login, json!({"IsPasswordLocked": true})),
        "FIELD_INTEGRITY_EXCEPTION",
        &["IsPasswordLocked"],
    );
    f.org
        .update_raw(&login, &[("IsPasswordLocked", Value::Bool(true))]);
    f.update("UserLogin", login, json!({"IsPasswordLocked": false}))
        .unwrap();
    assert_eq!(f.value(login, "IsPasswordLocked"), Value::Bool(false));
}

#[test]
fn user_logins_cannot_be_created_or_deleted() {
    let mut f = fixture();
    expect_error(
        f.create("UserLogin", json!({})),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &[],
    );
    let login = f.rows("UserLogin", "UserId", Value::Id(f.jane))[0];
    let error = expect_error(
        f.delete("UserLogin", login),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &[],
    );
    assert_eq!(
        error.message,
        "HTTP Method 'DELETE' not allowed. Allowed are HEAD,GET,PATCH"
    );
}

// ---------------------------------------------------------------------------------------
// PermissionSetAssignment

#[test]
fn a_second_identical_assignment_is_duplicate_value() {
    let mut f = fixture();
    let row = f.assign(f.jane, f.sales_ops).unwrap();
    assert_eq!(f.value(row, "IsActive"), Value::Bool(true));
    assert_eq!(f.value(row, "PermissionSetGroupId"), Value::Null);
    let error = expect_400(f.assign(f.jane, f.sales_ops), "DUPLICATE_VALUE", &[]);
    assert_eq!(
        error.message,
        format!(
            "Duplicate PermissionSetAssignment. Assignee: {}; Permission Set: {}",
            f.jane, f.sales_ops
        )
    );
}

#[test]
fn an_assignment_names_exactly_one_of_set_and_group() {
    let mut f = fixture();
    expect_400(
        f.create(
            "PermissionSetAssignment",
            json!({"AssigneeId": f.jane.as_str()}),
        ),
        "REQUIRED_FIELD_MISSING",
        &["PermissionSetId"],
    );
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    expect_400(
        f.create(
            "PermissionSetAssignment",
            json!({
                "AssigneeId": f.jane.as_str(),
                "PermissionSetId": f.sales_ops.as_str(),
                "PermissionSetGroupId": group.as_str(),
            }),
        ),
        "FIELD_INTEGRITY_EXCEPTION",
        &["PermissionSetId", "PermissionSetGroupId"],
    );
    expect_400(
        f.create(
            "PermissionSetAssignment",
            json!({"PermissionSetId": f.sales_ops.as_str()}),
        ),
        "REQUIRED_FIELD_MISSING",
        &["AssigneeId"],
    );
}

#[test]
fn a_profile_owned_set_can_be_neither_assigned_nor_removed() {
    let mut f = fixture();
    let error = expect_400(
        f.assign(f.admin, f.standard_set),
        "FIELD_INTEGRITY_EXCEPTION",
        &["PermissionSetId"],
    );
    assert!(error.message.contains("Change the user's profile instead"));
    let row = f.rows(
        "PermissionSetAssignment",
        "PermissionSetId",
        Value::Id(f.standard_set),
    )[0];
    let error = expect_400(
        f.delete("PermissionSetAssignment", row),
        "FIELD_INTEGRITY_EXCEPTION",
        &["PermissionSetId"],
    );
    assert!(error.message.contains("Change the user's profile instead"));
    assert!(f.org.get(&row).is_some());
    expect_400(
        f.update(
            "PermissionSetAssignment",
            row,
            json!({"ExpirationDate": "2030-01-01T00:00:00Z"}),
        ),
        "FIELD_INTEGRITY_EXCEPTION",
        &["PermissionSetId"],
    );
}

#[test]
fn the_aggregate_set_of_a_group_cannot_be_assigned_directly() {
    let mut f = fixture();
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    let aggregate = f.rows("PermissionSet", "PermissionSetGroupId", Value::Id(group))[0];
    let error = expect_400(
        f.assign(f.jane, aggregate),
        "FIELD_INTEGRITY_EXCEPTION",
        &["PermissionSetId"],
    );
    assert!(error.message.contains("PermissionSetGroupId"));
}

#[test]
fn a_group_assignment_carries_the_aggregate_set_when_configured() {
    let mut f = fixture();
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    let aggregate = f.rows("PermissionSet", "PermissionSetGroupId", Value::Id(group))[0];
    let row = f
        .create(
            "PermissionSetAssignment",
            json!({"AssigneeId": f.jane.as_str(), "PermissionSetGroupId": group.as_str()}),
        )
        .unwrap();
    assert_eq!(f.value(row, "PermissionSetId"), Value::Id(aggregate));
    assert_eq!(f.value(row, "PermissionSetGroupId"), Value::Id(group));
    let error = expect_400(
        f.create(
            "PermissionSetAssignment",
            json!({"AssigneeId": f.jane.as_str(), "PermissionSetGroupId": group.as_str()}),
        ),
        "DUPLICATE_VALUE",
        &[],
    );
    assert!(error.message.contains("Permission Set Group"));
    // The group's permissions reach the user.
    assert!(Caller::of(&f.org, f.jane).has(perm::VIEW_SETUP));

    f.org.settings.psg_assignment_has_permission_set_id = false;
    let row = f
        .create(
            "PermissionSetAssignment",
            json!({"AssigneeId": f.admin.as_str(), "PermissionSetGroupId": group.as_str()}),
        )
        .unwrap();
    assert_eq!(f.value(row, "PermissionSetId"), Value::Null);
}

#[test]
fn a_group_being_recalculated_or_failed_cannot_be_assigned() {
    let mut f = fixture();
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    for status in ["Updating", "Failed"] {
        f.org.update_raw(&group, &[("Status", t(status))]);
        let error = expect_400(
            f.create(
                "PermissionSetAssignment",
                json!({"AssigneeId": f.jane.as_str(), "PermissionSetGroupId": group.as_str()}),
            ),
            "FIELD_INTEGRITY_EXCEPTION",
            &["PermissionSetGroupId"],
        );
        assert!(error.message.contains(status));
    }
}

#[test]
fn a_set_with_a_license_needs_the_user_to_hold_it() {
    let mut f = fixture();
    // A permission set license must be assigned first.
    let error = expect_400(
        f.assign(f.jane, f.analytics_set),
        "FIELD_INTEGRITY_EXCEPTION",
        &[],
    );
    assert_eq!(
        error.message,
        "Can't assign permission set Analytics_User to user jane@example.com. The user license \
         doesn't allow the permission: CRM Analytics"
    );
    f.create(
        "PermissionSetLicenseAssign",
        json!({"AssigneeId": f.jane.as_str(), "PermissionSetLicenseId": f.analytics_license.as_str()}),
    )
    .unwrap();
    f.assign(f.jane, f.analytics_set).unwrap();
    // A user-license set must match the user's license.
    f.assign(f.jane, f.salesforce_only_set).unwrap();
    let mut body = user_body("platform@example.com", f.platform_profile);
    body["IsActive"] = json!(false);
    let platform_user = f.create("User", body).unwrap();
    expect_400(
        f.assign(platform_user, f.salesforce_only_set),
        "FIELD_INTEGRITY_EXCEPTION",
        &[],
    );
    // Through a group, every component is checked.
    let group = f.new_group_with_component("Analytics_Bundle", f.analytics_set);
    expect_400(
        f.create(
            "PermissionSetAssignment",
            json!({"AssigneeId": f.admin.as_str(), "PermissionSetGroupId": group.as_str()}),
        ),
        "FIELD_INTEGRITY_EXCEPTION",
        &[],
    );
}

#[test]
fn an_inactive_user_can_be_assigned() {
    let mut f = fixture();
    let jane = f.jane;
    f.update("User", jane, json!({"IsActive": false})).unwrap();
    f.assign(jane, f.sales_ops).unwrap();
}

#[test]
fn an_assignment_update_changes_only_its_expiration() {
    let mut f = fixture();
    let row = f.assign(f.jane, f.sales_ops).unwrap();
    f.update(
        "PermissionSetAssignment",
        row,
        json!({"ExpirationDate": "2030-01-01T00:00:00.000+0000"}),
    )
    .unwrap();
    assert_eq!(
        f.value(row, "ExpirationDate").to_json(),
        json!("2030-01-01T00:00:00.000+0000")
    );
    expect_400(
        f.update("PermissionSetAssignment", row, json!({"IsActive": false})),
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        &["IsActive"],
    );
    f.delete("PermissionSetAssignment", row).unwrap();
    assert!(f.org.get(&row).is_none());
}

// ---------------------------------------------------------------------------------------
// PermissionSetLicenseAssign

#[test]
fn license_assignments_refuse_duplicates_full_and_disabled_licenses() {
    let mut f = fixture();
    let body = json!({"AssigneeId": f.jane.as_str(), "PermissionSetLicenseId": f.analytics_license.as_str()});
    let row = f
        .create("PermissionSetLicenseAssign", body.clone())
        .unwrap();
    assert_eq!(f.value(f.analytics_license, "UsedLicenses"), Value::Int(1));
    let error = expect_400(
        f.create("PermissionSetLicenseAssign", body),
        "DUPLICATE_VALUE",
        &["PermissionSetLicenseId"],
    );
    assert!(error.message.ends_with(row.as_str()));
    let second = json!({"AssigneeId": f.admin.as_str(), "PermissionSetLicenseId": f.analytics_license.as_str()});
    expect_400(
        f.create("PermissionSetLicenseAssign", second.clone()),
        "LICENSE_LIMIT_EXCEEDED",
        &[],
    );
    f.delete("PermissionSetLicenseAssign", row).unwrap();
    assert_eq!(f.value(f.analytics_license, "UsedLicenses"), Value::Int(0));
    let license = f.analytics_license;
    f.org.update_raw(&license, &[("Status", t("Disabled"))]);
    expect_400(
        f.create("PermissionSetLicenseAssign", second),
        "LICENSE_LIMIT_EXCEEDED",
        &[],
    );
}

#[test]
fn a_license_still_needed_by_an_assigned_set_cannot_be_removed() {
    let mut f = fixture();
    let row = f
        .create(
            "PermissionSetLicenseAssign",
            json!({"AssigneeId": f.jane.as_str(), "PermissionSetLicenseId": f.analytics_license.as_str()}),
        )
        .unwrap();
    let assignment = f.assign(f.jane, f.analytics_set).unwrap();
    let error = expect_400(
        f.delete("PermissionSetLicenseAssign", row),
        "FIELD_INTEGRITY_EXCEPTION",
        &[],
    );
    assert!(error.message.contains("Analytics_User"));
    f.delete("PermissionSetAssignment", assignment).unwrap();
    f.delete("PermissionSetLicenseAssign", row).unwrap();
}

// ---------------------------------------------------------------------------------------
// Group and GroupMember

#[test]
fn a_duplicate_group_member_returns_the_existing_id() {
    let mut f = fixture();
    let body = json!({"GroupId": f.engineering.as_str(), "UserOrGroupId": f.jane.as_str()});
    let first = f.create("GroupMember", body.clone()).unwrap();
    let count = f.count("GroupMember");
    let second = f.create("GroupMember", body).unwrap();
    assert_eq!(first, second);
    assert_eq!(f.count("GroupMember"), count);
}

#[test]
fn members_can_be_users_or_groups_of_any_type_but_not_the_group_itself() {
    let mut f = fixture();
    let role = f.create("UserRole", json!({"Name": "Sales"})).unwrap();
    let role_group = f.rows("Group", "RelatedId", Value::Id(role))[0];
    f.create(
        "GroupMember",
        json!({"GroupId": f.engineering.as_str(), "UserOrGroupId": role_group.as_str()}),
    )
    .unwrap();
    expect_400(
        f.create(
            "GroupMember",
            json!({"GroupId": f.engineering.as_str(), "UserOrGroupId": f.engineering.as_str()}),
        ),
        "FIELD_INTEGRITY_EXCEPTION",
        &["UserOrGroupId"],
    );
    expect_400(
        f.create(
            "GroupMember",
            json!({"GroupId": f.engineering.as_str(), "UserOrGroupId": f.sales_ops.as_str()}),
        ),
        "INVALID_CROSS_REFERENCE_KEY",
        &["UserOrGroupId"],
    );
}

#[test]
fn role_groups_take_no_members_and_cannot_be_changed() {
    let mut f = fixture();
    let role = f.create("UserRole", json!({"Name": "Sales"})).unwrap();
    let role_group = f.rows("Group", "RelatedId", Value::Id(role))[0];
    expect_400(
        f.create(
            "GroupMember",
            json!({"GroupId": role_group.as_str(), "UserOrGroupId": f.jane.as_str()}),
        ),
        "FIELD_INTEGRITY_EXCEPTION",
        &["GroupId"],
    );
    expect_400(
        f.update("Group", role_group, json!({"Description": "x"})),
        "INSUFFICIENT_ACCESS_OR_READONLY",
        &[],
    );
    expect_400(
        f.delete("Group", role_group),
        "INSUFFICIENT_ACCESS_OR_READONLY",
        &[],
    );
}

#[test]
fn a_new_group_is_regular_with_a_unique_developer_name() {
    let mut f = fixture();
    let first = f.create("Group", json!({"Name": "Engineering"})).unwrap();
    assert_eq!(f.value(first, "Type"), t("Regular"));
    assert_eq!(f.value(first, "DeveloperName"), t("Engineering_1"));
    let queue = f
        .create("Group", json!({"Name": "Support (EMEA)", "Type": "Queue"}))
        .unwrap();
    assert_eq!(f.value(queue, "DeveloperName"), t("Support_EMEA"));
    expect_400(
        f.create(
            "Group",
            json!({"Name": "Dup", "DeveloperName": "engineering"}),
        ),
        "DUPLICATE_VALUE",
        &["DeveloperName"],
    );
    expect_400(
        f.create(
            "Group",
            json!({"Name": "Bad", "DeveloperName": "bad__name"}),
        ),
        "FIELD_INTEGRITY_EXCEPTION",
        &["DeveloperName"],
    );
}

#[test]
fn only_regular_groups_and_queues_can_be_created() {
    let mut f = fixture();
    let error = expect_400(
        f.create("Group", json!({"Name": "R", "Type": "Role"})),
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        &["Type"],
    );
    assert_eq!(
        error.message,
        "Type: bad value for restricted picklist field: Role"
    );
    // Type is set once.
    let group = f.engineering;
    expect_400(
        f.update("Group", group, json!({"Type": "Queue"})),
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        &["Type"],
    );
}

#[test]
fn deleting_a_group_removes_its_members_and_its_memberships() {
    let mut f = fixture();
    let outer = f.create("Group", json!({"Name": "Outer"})).unwrap();
    let inner = f.engineering;
    f.create(
        "GroupMember",
        json!({"GroupId": inner.as_str(), "UserOrGroupId": f.jane.as_str()}),
    )
    .unwrap();
    f.create(
        "GroupMember",
        json!({"GroupId": outer.as_str(), "UserOrGroupId": inner.as_str()}),
    )
    .unwrap();
    f.delete("Group", inner).unwrap();
    assert!(f.org.get(&inner).is_none());
    assert_eq!(f.count("GroupMember"), 0);
    assert!(f.org.get(&outer).is_some());
}

// ---------------------------------------------------------------------------------------
// UserRole

#[test]
fn a_new_role_gets_its_role_and_role_and_subordinates_groups() {
    let mut f = fixture();
    let role = f.create("UserRole", json!({"Name": "VP Sales"})).unwrap();
    assert_eq!(f.value(role, "DeveloperName"), t("VP_Sales"));
    let groups = f.rows("Group", "RelatedId", Value::Id(role));
    let types: BTreeSet<Value> = groups.iter().map(|g| f.value(*g, "Type")).collect();
    assert_eq!(types, BTreeSet::from([t("Role"), t("RoleAndSubordinates")]));
    for group in groups {
        assert_eq!(f.value(group, "DeveloperName"), t("VP_Sales"));
        assert!(matches!(
            f.value(group, "SystemModstamp"),
            Value::DateTime(_)
        ));
    }
    assert!(matches!(
        f.value(role, "LastModifiedDate"),
        Value::DateTime(_)
    ));
}

#[test]
fn renaming_a_role_developer_name_renames_its_groups() {
    let mut f = fixture();
    let role = f.create("UserRole", json!({"Name": "VP Sales"})).unwrap();
    f.update(
        "UserRole",
        role,
        json!({"DeveloperName": "VP_Revenue", "Name": "VP Revenue"}),
    )
    .unwrap();
    for group in f.rows("Group", "RelatedId", Value::Id(role)) {
        assert_eq!(f.value(group, "DeveloperName"), t("VP_Revenue"));
    }
}

#[test]
fn a_role_cannot_report_to_itself_or_a_subordinate() {
    let mut f = fixture();
    let top = f.create("UserRole", json!({"Name": "Top"})).unwrap();
    let middle = f
        .create(
            "UserRole",
            json!({"Name": "Middle", "ParentRoleId": top.as_str()}),
        )
        .unwrap();
    let bottom = f
        .create(
            "UserRole",
            json!({"Name": "Bottom", "ParentRoleId": middle.as_str()}),
        )
        .unwrap();
    expect_400(
        f.update("UserRole", top, json!({"ParentRoleId": bottom.as_str()})),
        "FIELD_INTEGRITY_EXCEPTION",
        &["ParentRoleId"],
    );
    expect_400(
        f.update("UserRole", top, json!({"ParentRoleId": top.as_str()})),
        "FIELD_INTEGRITY_EXCEPTION",
        &["ParentRoleId"],
    );
    f.update("UserRole", bottom, json!({"ParentRoleId": top.as_str()}))
        .unwrap();
}

#[test]
fn a_role_with_users_or_subordinates_cannot_be_deleted() {
    let mut f = fixture();
    let top = f.create("UserRole", json!({"Name": "Top"})).unwrap();
    let child = f
        .create(
            "UserRole",
            json!({"Name": "Child", "ParentRoleId": top.as_str()}),
        )
        .unwrap();
    let error = expect_400(f.delete("UserRole", top), "DELETE_FAILED", &[]);
    assert_eq!(
        error.message,
        "Cannot delete this role because it has users or subordinate roles."
    );
    let jane = f.jane;
    f.update("User", jane, json!({"UserRoleId": child.as_str()}))
        .unwrap();
    expect_400(f.delete("UserRole", child), "DELETE_FAILED", &[]);
    f.update("User", jane, json!({"UserRoleId": null})).unwrap();
    // A membership of the role's group in a public group goes with it.
    let child_group = f.rows("Group", "RelatedId", Value::Id(child))[0];
    f.create(
        "GroupMember",
        json!({"GroupId": f.engineering.as_str(), "UserOrGroupId": child_group.as_str()}),
    )
    .unwrap();
    f.delete("UserRole", child).unwrap();
    assert!(f.rows("Group", "RelatedId", Value::Id(child)).is_empty());
    assert_eq!(f.count("GroupMember"), 0);
    f.delete("UserRole", top).unwrap();
    assert_eq!(f.count("UserRole"), 0);
}

// ---------------------------------------------------------------------------------------
// PermissionSetGroup and components

#[test]
fn a_new_permission_set_group_gets_its_aggregate_set() {
    let mut f = fixture();
    let group = f
        .create(
            "PermissionSetGroup",
            json!({"DeveloperName": "Bundle", "MasterLabel": "Bundle"}),
        )
        .unwrap();
    assert_eq!(f.value(group, "Status"), t("Updated"));
    let aggregates = f.rows("PermissionSet", "PermissionSetGroupId", Value::Id(group));
    assert_eq!(aggregates.len(), 1);
    assert_eq!(f.value(aggregates[0], "Type"), t("Group"));
    assert_eq!(
        f.value(aggregates[0], "IsOwnedByProfile"),
        Value::Bool(false)
    );
    expect_400(
        f.create(
            "PermissionSetGroup",
            json!({"DeveloperName": "bundle", "MasterLabel": "Again"}),
        ),
        "DUPLICATE_VALUE",
        &["DeveloperName"],
    );
}

#[test]
fn components_recompute_the_aggregate_as_the_union() {
    let mut f = fixture();
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    let aggregate = f.rows("PermissionSet", "PermissionSetGroupId", Value::Id(group))[0];
    assert_eq!(f.value(aggregate, perm::VIEW_SETUP), Value::Bool(true));
    assert_eq!(f.value(aggregate, perm::MANAGE_ROLES), Value::Bool(false));
    let component = f
        .create(
            "PermissionSetGroupComponent",
            json!({"PermissionSetGroupId": group.as_str(), "PermissionSetId": f.analytics_set.as_str()}),
        )
        .unwrap();
    assert_eq!(f.value(aggregate, perm::MANAGE_ROLES), Value::Bool(true));
    assert_eq!(f.value(group, "Status"), t("Updated"));
    expect_400(
        f.create(
            "PermissionSetGroupComponent",
            json!({"PermissionSetGroupId": group.as_str(), "PermissionSetId": f.analytics_set.as_str()}),
        ),
        "DUPLICATE_VALUE",
        &["PermissionSetId"],
    );
    f.delete("PermissionSetGroupComponent", component).unwrap();
    assert_eq!(f.value(aggregate, perm::MANAGE_ROLES), Value::Bool(false));
    assert_eq!(f.value(aggregate, perm::VIEW_SETUP), Value::Bool(true));
    // Editing a component set recalculates too.
    let sales_ops = f.sales_ops;
    f.update(
        "PermissionSet",
        sales_ops,
        json!({"PermissionsViewSetup": false}),
    )
    .unwrap();
    assert_eq!(f.value(aggregate, perm::VIEW_SETUP), Value::Bool(false));
}

#[test]
fn profile_owned_and_aggregate_sets_cannot_be_components() {
    let mut f = fixture();
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    let other = f.new_group_with_component("Other", f.sales_ops);
    let other_aggregate = f.rows("PermissionSet", "PermissionSetGroupId", Value::Id(other))[0];
    for set in [f.standard_set, other_aggregate] {
        expect_400(
            f.create(
                "PermissionSetGroupComponent",
                json!({"PermissionSetGroupId": group.as_str(), "PermissionSetId": set.as_str()}),
            ),
            "FIELD_INTEGRITY_EXCEPTION",
            &["PermissionSetId"],
        );
    }
}

#[test]
fn an_assigned_permission_set_group_cannot_be_deleted() {
    let mut f = fixture();
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    let row = f
        .create(
            "PermissionSetAssignment",
            json!({"AssigneeId": f.jane.as_str(), "PermissionSetGroupId": group.as_str()}),
        )
        .unwrap();
    expect_400(f.delete("PermissionSetGroup", group), "DELETE_FAILED", &[]);
    f.delete("PermissionSetAssignment", row).unwrap();
    f.delete("PermissionSetGroup", group).unwrap();
    assert!(
        f.rows("PermissionSet", "PermissionSetGroupId", Value::Id(group))
            .is_empty()
    );
    assert_eq!(f.count("PermissionSetGroupComponent"), 0);
}

#[test]
fn renaming_a_permission_set_group_renames_its_aggregate() {
    let mut f = fixture();
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    f.update(
        "PermissionSetGroup",
        group,
        json!({"MasterLabel": "Sales Bundle"}),
    )
    .unwrap();
    let aggregate = f.rows("PermissionSet", "PermissionSetGroupId", Value::Id(group))[0];
    assert_eq!(f.value(aggregate, "Label"), t("Sales Bundle"));
    expect_400(
        f.update("PermissionSetGroup", group, json!({"Status": "Outdated"})),
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        &["Status"],
    );
}

// ---------------------------------------------------------------------------------------
// PermissionSet

#[test]
fn a_new_permission_set_is_custom_and_regular_or_session() {
    let mut f = fixture();
    let set = f
        .create(
            "PermissionSet",
            json!({"Name": "Support_Agent", "Label": "Support Agent"}),
        )
        .unwrap();
    assert_eq!(f.value(set, "Type"), t("Regular"));
    assert_eq!(f.value(set, "IsCustom"), Value::Bool(true));
    assert_eq!(f.value(set, "IsOwnedByProfile"), Value::Bool(false));
    let session = f
        .create(
            "PermissionSet",
            json!({"Name": "Break_Glass", "Label": "Break Glass", "HasActivationRequired": true}),
        )
        .unwrap();
    assert_eq!(f.value(session, "Type"), t("Session"));
    f.update(
        "PermissionSet",
        session,
        json!({"HasActivationRequired": false}),
    )
    .unwrap();
    assert_eq!(f.value(session, "Type"), t("Regular"));
}

#[test]
fn a_permission_set_name_is_a_unique_api_name() {
    let mut f = fixture();
    expect_400(
        f.create(
            "PermissionSet",
            json!({"Name": "sales_ops", "Label": "Again"}),
        ),
        "DUPLICATE_VALUE",
        &["Name"],
    );
    for bad in [
        "1abc",
        "has space",
        "double__under",
        "trailing_",
        "dash-name",
    ] {
        expect_400(
            f.create("PermissionSet", json!({"Name": bad, "Label": "Bad"})),
            "FIELD_INTEGRITY_EXCEPTION",
            &["Name"],
        );
    }
    let analytics = f.analytics_set;
    expect_400(
        f.update("PermissionSet", analytics, json!({"Name": "Sales_Ops"})),
        "DUPLICATE_VALUE",
        &["Name"],
    );
    // Keeping its own name is fine.
    f.update(
        "PermissionSet",
        analytics,
        json!({"Name": "Analytics_User", "Label": "x"}),
    )
    .unwrap();
}

#[test]
fn profile_owned_and_aggregate_sets_cannot_be_edited_or_deleted() {
    let mut f = fixture();
    let group = f.new_group_with_component("Bundle", f.sales_ops);
    let aggregate = f.rows("PermissionSet", "PermissionSetGroupId", Value::Id(group))[0];
    for set in [f.standard_set, aggregate] {
        expect_400(
            f.update("PermissionSet", set, json!({"Label": "x"})),
            "FIELD_INTEGRITY_EXCEPTION",
            &[],
        );
        expect_400(
            f.delete("PermissionSet", set),
            "FIELD_INTEGRITY_EXCEPTION",
            &[],
        );
    }
}

#[test]
fn an_assigned_or_grouped_permission_set_cannot_be_deleted() {
    let mut f = fixture();
    let row = f.assign(f.jane, f.sales_ops).unwrap();
    let sales_ops = f.sales_ops;
    let error = expect_400(f.delete("PermissionSet", sales_ops), "DELETE_FAILED", &[]);
    assert!(error.message.contains("assigned"));
    f.delete("PermissionSetAssignment", row).unwrap();
    let group = f.new_group_with_component("Bundle", sales_ops);
    let error = expect_400(f.delete("PermissionSet", sales_ops), "DELETE_FAILED", &[]);
    assert!(error.message.contains("group"));
    f.delete("PermissionSetGroup", group).unwrap();
    f.create(
        "SetupEntityAccess",
        json!({"ParentId": sales_ops.as_str(), "SetupEntityId": f.app.as_str()}),
    )
    .unwrap();
    f.delete("PermissionSet", sales_ops).unwrap();
    assert_eq!(
        f.count("SetupEntityAccess"),
        0,
        "child access rows go with the set"
    );
}

// ---------------------------------------------------------------------------------------
// SetupEntityAccess

#[test]
fn setup_entity_access_grants_a_connected_app_once() {
    let mut f = fixture();
    let body = json!({"ParentId": f.sales_ops.as_str(), "SetupEntityId": f.app.as_str()});
    let row = f.create("SetupEntityAccess", body.clone()).unwrap();
    assert_eq!(f.value(row, "SetupEntityType"), t("ConnectedApplication"));
    expect_400(
        f.create("SetupEntityAccess", body),
        "DUPLICATE_VALUE",
        &["SetupEntityId"],
    );
    expect_400(
        f.create(
            "SetupEntityAccess",
            json!({"ParentId": f.sales_ops.as_str(), "SetupEntityId": f.jane.as_str()}),
        ),
        "INVALID_CROSS_REFERENCE_KEY",
        &["SetupEntityId"],
    );
    // A profile's owned set can carry app access.
    f.create(
        "SetupEntityAccess",
        json!({"ParentId": f.standard_set.as_str(), "SetupEntityId": f.app.as_str()}),
    )
    .unwrap();
    f.delete("SetupEntityAccess", row).unwrap();
}

// ---------------------------------------------------------------------------------------
// Collections

fn collection(all_or_none: bool, records: Vec<Json>) -> Json {
    json!({"allOrNone": all_or_none, "records": records})
}

#[test]
fn a_collection_insert_reports_one_result_per_record_and_commits_the_valid_ones() {
    let mut f = fixture();
    let caller = f.caller();
    let body = collection(
        false,
        vec![
            json!({"attributes": {"type": "PermissionSetAssignment"}, "AssigneeId": f.jane.as_str(), "PermissionSetId": f.sales_ops.as_str()}),
            json!({"attributes": {"type": "PermissionSetAssignment"}, "AssigneeId": f.jane.as_str(), "PermissionSetId": f.sales_ops.as_str()}),
            json!({"attributes": {"type": "group"}, "Name": "Via Collection"}),
            json!({"attributes": {"type": "Widget"}, "Name": "x"}),
            json!({"attributes": {"type": "UserLicense"}, "Name": "x"}),
        ],
    );
    let results = collection_create(&mut f.org, &caller, &body).unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["success"], json!(true));
    assert_eq!(results[0]["errors"], json!([]));
    let id = SfId::parse(results[0]["id"].as_str().unwrap()).unwrap();
    assert_eq!(f.value(id, "PermissionSetId"), Value::Id(f.sales_ops));
    assert_eq!(results[1]["success"], json!(false));
    assert!(results[1].get("id").is_none(), "failed inserts omit id");
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        json!("DUPLICATE_VALUE")
    );
    assert_eq!(results[1]["errors"][0]["fields"], json!([]));
    assert_eq!(results[2]["success"], json!(true));
    assert_eq!(results[3]["errors"][0]["statusCode"], json!("INVALID_TYPE"));
    assert_eq!(
        results[4]["errors"][0]["statusCode"],
        json!("INVALID_TYPE_FOR_OPERATION")
    );
}

#[test]
fn an_all_or_none_insert_with_a_failure_changes_nothing_and_says_why() {
    let mut f = fixture();
    let caller = f.caller();
    let before = f.snapshot();
    let body = collection(
        true,
        vec![
            user_body("new1@example.com", f.standard_profile),
            json!({"Name": "Team"}),
        ],
    );
    // Records without a type make the whole request malformed.
    expect_400(
        collection_create(&mut f.org, &caller, &body),
        "INVALID_FIELD",
        &[],
    );
    let mut user = user_body("new1@example.com", f.standard_profile);
    user["attributes"] = json!({"type": "User"});
    let body = collection(
        true,
        vec![
            user,
            json!({"attributes": {"type": "Group"}, "Name": "Team"}),
            json!({"attributes": {"type": "PermissionSetAssignment"}, "AssigneeId": f.jane.as_str(), "PermissionSetId": f.standard_set.as_str()}),
        ],
    );
    let results = collection_create(&mut f.org, &caller, &body).unwrap();
    assert_eq!(
        f.snapshot(),
        before,
        "everything rolled back, derived records included"
    );
    for rolled_back in [&results[0], &results[1]] {
        assert_eq!(rolled_back["success"], json!(false));
        assert!(rolled_back.get("id").is_none());
        assert_eq!(
            rolled_back["errors"][0]["statusCode"],
            json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
        );
        assert_eq!(
            rolled_back["errors"][0]["message"],
            json!(
                "Record rolled back because not all records were valid and the request was using \
                 AllOrNone header"
            )
        );
    }
    assert_eq!(
        results[2]["errors"][0]["statusCode"],
        json!("FIELD_INTEGRITY_EXCEPTION")
    );
    // Without the failing record, everything commits.
    let mut user = user_body("new1@example.com", f.standard_profile);
    user["attributes"] = json!({"type": "User"});
    let body = collection(
        true,
        vec![
            user,
            json!({"attributes": {"type": "Group"}, "Name": "Team"}),
        ],
    );
    let results = collection_create(&mut f.org, &caller, &body).unwrap();
    assert!(results.iter().all(|r| r["success"] == json!(true)));
    assert_eq!(f.value(f.salesforce_license, "UsedLicenses"), Value::Int(3));
}

#[test]
fn an_all_or_none_update_rolls_back_and_keeps_ids() {
    let mut f = fixture();
    let caller = f.caller();
    let before = f.snapshot();
    let body = collection(
        true,
        vec![
            json!({"attributes": {"type": "User"}, "id": f.jane.as_str(), "Title": "CTO"}),
            json!({"attributes": {"type": "Group"}, "Id": f.engineering.as_str(), "Name": "Eng"}),
            json!({"attributes": {"type": "User"}, "id": f.admin.as_str(), "Alias": "waytoolongalias"}),
        ],
    );
    let results = collection_update(&mut f.org, &caller, &body).unwrap();
    assert_eq!(f.snapshot(), before);
    assert_eq!(results[0]["id"], json!(f.jane.as_str()));
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(results[1]["id"], json!(f.engineering.as_str()));
    assert_eq!(
        results[2]["errors"][0]["statusCode"],
        json!("STRING_TOO_LONG")
    );
    assert_eq!(results[2]["errors"][0]["fields"], json!(["Alias"]));
}

#[test]
fn a_partial_collection_update_reports_bad_ids_per_record() {
    let mut f = fixture();
    let caller = f.caller();
    let body = collection(
        false,
        vec![
            json!({"attributes": {"type": "User"}, "id": f.jane.as_str(), "Title": "CTO"}),
            json!({"attributes": {"type": "User"}, "Title": "No id"}),
            json!({"attributes": {"type": "User"}, "id": f.engineering.as_str(), "Title": "x"}),
            json!({"attributes": {"type": "User"}, "id": SfId::from_counter("005", POD, 999).as_str(), "Title": "x"}),
            json!({"attributes": {"type": "GroupMember"}, "id": f.engineering.as_str()}),
        ],
    );
    let results = collection_update(&mut f.org, &caller, &body).unwrap();
    assert_eq!(
        results[0],
        json!({"id": f.jane.as_str(), "success": true, "errors": []})
    );
    assert_eq!(f.value(f.jane, "Title"), t("CTO"));
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        json!("MISSING_ARGUMENT")
    );
    assert_eq!(results[2]["errors"][0]["statusCode"], json!("MALFORMED_ID"));
    assert_eq!(results[2]["errors"][0]["fields"], json!(["Id"]));
    assert_eq!(
        results[2]["errors"][0]["message"],
        json!(format!(
            "User ID: id value of incorrect type: {}",
            f.engineering
        ))
    );
    assert_eq!(
        results[3]["errors"][0]["statusCode"],
        json!("ENTITY_IS_DELETED")
    );
    assert_eq!(
        results[4]["errors"][0]["statusCode"],
        json!("INVALID_TYPE_FOR_OPERATION")
    );
}

#[test]
fn a_collection_delete_handles_each_id_and_rolls_back_under_all_or_none() {
    let mut f = fixture();
    let caller = f.caller();
    let first = f.assign(f.jane, f.sales_ops).unwrap();
    let second = f.assign(f.admin, f.sales_ops).unwrap();
    let profile_row = f.rows(
        "PermissionSetAssignment",
        "PermissionSetId",
        Value::Id(f.standard_set),
    )[0];
    let before = f.snapshot();
    let ids = format!("{first},{profile_row}");
    let results = collection_delete(&mut f.org, &caller, &ids, true).unwrap();
    assert_eq!(f.snapshot(), before);
    assert_eq!(results[0]["id"], json!(first.as_str()));
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        json!("FIELD_INTEGRITY_EXCEPTION")
    );
    let ids = format!(
        "{first}, {second},bogus,{},{}",
        f.jane,
        SfId::from_counter("0Pa", POD, 999)
    );
    let results = collection_delete(&mut f.org, &caller, &ids, false).unwrap();
    assert_eq!(results[0]["success"], json!(true));
    assert_eq!(results[1]["id"], json!(second.as_str()));
    assert_eq!(results[2]["errors"][0]["statusCode"], json!("MALFORMED_ID"));
    assert_eq!(
        results[3]["errors"][0]["statusCode"],
        json!("INVALID_TYPE_FOR_OPERATION")
    );
    assert_eq!(
        results[4]["errors"][0]["statusCode"],
        json!("ENTITY_IS_DELETED")
    );
    assert!(f.org.get(&first).is_none() && f.org.get(&second).is_none());
}

#[test]
fn collections_over_200_records_or_ids_are_refused() {
    let mut f = fixture();
    let caller = f.caller();
    let records: Vec<Json> = (0..201)
        .map(|i| json!({"attributes": {"type": "Group"}, "Name": format!("G{i}")}))
        .collect();
    let error = expect_400(
        collection_create(&mut f.org, &caller, &collection(false, records)),
        "EXCEEDED_ID_LIMIT",
        &[],
    );
    assert_eq!(
        error.message,
        "record limit reached. cannot submit more than 200 records into this call"
    );
    let ids = vec![f.jane.to_string(); 201].join(",");
    expect_400(
        collection_delete(&mut f.org, &caller, &ids, false),
        "EXCEEDED_ID_LIMIT",
        &[],
    );
    let records: Vec<Json> = (0..200)
        .map(|i| json!({"attributes": {"type": "Group"}, "Name": format!("G{i}")}))
        .collect();
    let results = collection_create(&mut f.org, &caller, &collection(false, records)).unwrap();
    assert_eq!(results.len(), 200);
}

#[test]
fn malformed_collection_requests_are_refused_whole() {
    let mut f = fixture();
    let caller = f.caller();
    for body in [
        json!([]),
        json!({"records": {}}),
        json!({"allOrNone": "yes", "records": []}),
        json!({"records": [1]}),
    ] {
        expect_400(
            collection_create(&mut f.org, &caller, &body),
            "JSON_PARSER_ERROR",
            &[],
        );
    }
    expect_400(
        collection_update(
            &mut f.org,
            &caller,
            &json!({"records": [{"id": f.jane.as_str()}]}),
        ),
        "INVALID_FIELD",
        &[],
    );
    expect_400(
        collection_delete(&mut f.org, &caller, " , ", false),
        "MISSING_ARGUMENT",
        &[],
    );
    assert_eq!(
        collection_create(&mut f.org, &caller, &json!({"records": []})).unwrap(),
        Vec::<Json>::new()
    );
}

#[test]
fn a_duplicate_group_member_in_a_collection_succeeds_with_the_existing_id() {
    let mut f = fixture();
    let caller = f.caller();
    let member = json!({"attributes": {"type": "GroupMember"}, "GroupId": f.engineering.as_str(), "UserOrGroupId": f.jane.as_str()});
    let results = collection_create(
        &mut f.org,
        &caller,
        &collection(false, vec![member.clone(), member]),
    )
    .unwrap();
    assert_eq!(results[0]["success"], json!(true));
    assert_eq!(results[0]["id"], results[1]["id"]);
}

// ---------------------------------------------------------------------------------------
// Transactions and stamps

#[test]
fn a_failed_write_inside_an_outer_transaction_undoes_only_itself() {
    let mut f = fixture();
    let caller = f.caller();
    let before = f.snapshot();
    f.org.begin();
    let kept = create(&mut f.org, &caller, "Group", &map(json!({"Name": "Kept"}))).unwrap();
    let error = create(
        &mut f.org,
        &caller,
        "User",
        &map(user_body("x", f.standard_profile)),
    );
    assert!(error.is_err());
    assert!(
        f.org.get(&kept).is_some(),
        "the earlier write survives the failed one"
    );
    assert!(f.org.in_transaction());
    f.org.rollback();
    assert_eq!(
        f.snapshot(),
        before,
        "the outer transaction still rolls back everything"
    );
}

#[test]
fn an_all_or_none_collection_inside_an_outer_transaction_uses_a_savepoint() {
    let mut f = fixture();
    let caller = f.caller();
    f.org.begin();
    let kept = create(&mut f.org, &caller, "Group", &map(json!({"Name": "Kept"}))).unwrap();
    let body = collection(
        true,
        vec![
            json!({"attributes": {"type": "Group"}, "Name": "Gone"}),
            json!({"attributes": {"type": "Group"}, "Type": "Role", "Name": "Bad"}),
        ],
    );
    let results = collection_create(&mut f.org, &caller, &body).unwrap();
    assert_eq!(results[1]["success"], json!(false));
    assert!(f.org.get(&kept).is_some());
    assert!(f.org.in_transaction());
    f.org.commit();
    assert_eq!(f.count("Group"), 2, "Engineering and Kept");
}

#[test]
fn stamps_are_whole_seconds_and_never_go_back_across_writes_and_derived_records() {
    let mut f = fixture();
    let user = f
        .create("User", user_body("ada@example.com", f.standard_profile))
        .unwrap();
    let login = f.rows("UserLogin", "UserId", Value::Id(user))[0];
    let assignment = f.rows("PermissionSetAssignment", "AssigneeId", Value::Id(user))[0];
    let group = f.create("Group", json!({"Name": "Later"})).unwrap();
    let user_stamp = stamp(f.value(user, "SystemModstamp"));
    let login_stamp = stamp(f.value(login, "LastModifiedDate"));
    let assignment_stamp = stamp(f.value(assignment, "SystemModstamp"));
    let group_stamp = stamp(f.value(group, "SystemModstamp"));
    // Salesforce stamps whole seconds: writes in one second share a stamp.
    for s in [user_stamp, login_stamp, assignment_stamp, group_stamp] {
        assert_eq!(s % 1000, 0, "{s}");
    }
    assert!(user_stamp <= login_stamp);
    assert!(login_stamp <= assignment_stamp);
    assert!(assignment_stamp <= group_stamp);
    f.update("User", user, json!({"Title": "Countess"}))
        .unwrap();
    let updated = stamp(f.value(user, "SystemModstamp"));
    assert!(updated >= group_stamp);
    assert_eq!(stamp(f.value(user, "LastModifiedDate")), updated);
    assert_eq!(
        stamp(f.value(user, "CreatedDate")),
        user_stamp,
        "created stays put"
    );
}

// ---------------------------------------------------------------------------------------
// Robustness: no request body panics

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    /// JSON values a client might send, well-formed or not; `Id(n)` picks an existing record.
    #[derive(Debug, Clone)]
    enum Raw {
        Null,
        Bool(bool),
        Int(i64),
        Float(f64),
        Text(String),
        Id(usize),
        Array,
        Object,
    }

    fn raw() -> impl Strategy<Value = Raw> {
        prop_oneof![
            Just(Raw::Null),
            any::<bool>().prop_map(Raw::Bool),
            any::<i64>().prop_map(Raw::Int),
            any::<f64>().prop_map(Raw::Float),
            "[ -~]{0,12}".prop_map(Raw::Text),
            any::<usize>().prop_map(Raw::Id),
            Just(Raw::Array),
            Just(Raw::Object),
        ]
    }

    fn to_json(raw: &Raw, ids: &[SfId]) -> Json {
        match raw {
            Raw::Null => Json::Null,
            Raw::Bool(b) => json!(b),
            Raw::Int(n) => json!(n),
            Raw::Float(x) => serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number),
            Raw::Text(s) => json!(s),
            Raw::Id(n) => json!(ids[n % ids.len()].as_str()),
            Raw::Array => json!([1, "a"]),
            Raw::Object => json!({"type": "User"}),
        }
    }

    fn all_ids(org: &Org) -> Vec<SfId> {
        org.tables()
            .iter()
            .flat_map(|t| t.rows.keys().copied())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]

        #[test]
        fn writes_with_arbitrary_bodies_answer_without_panicking(
            object in 0..schema::OBJECTS.len(),
            entries in prop::collection::vec((any::<usize>(), any::<bool>(), raw()), 0..8),
            target in any::<usize>(),
        ) {
            let mut f = fixture();
            // Some structure to write against: a role, a group bundle, a PSL assignment.
            f.create("UserRole", json!({"Name": "R"})).expect("role");
            f.new_group_with_component("B", f.sales_ops);
            let caller = f.caller();
            let def = &schema::OBJECTS[object];
            let ids = all_ids(&f.org);
            let mut body = Map::new();
            for (field, lowercase, value) in &entries {
                let name = if field % 9 == 0 {
                    "attributes".to_string()
                } else {
                    def.fields[field % def.fields.len()].name.to_string()
                };
                let name = if *lowercase { name.to_lowercase() } else { name };
                body.insert(name, to_json(value, &ids));
            }
            let _ = create(&mut f.org, &caller, def.name, &body);
            let same_type: Vec<SfId> = f
                .org
                .table(def.name)
                .map(|t| t.rows.keys().copied().collect())
                .unwrap_or_default();
            if !same_type.is_empty() {
                let id = same_type[target % same_type.len()];
                let _ = update(&mut f.org, &caller, def.name, id.as_str(), &body);
                let mut record = body.clone();
                record.insert("attributes".into(), json!({"type": def.name}));
                record.insert("Id".into(), json!(id.as_str()));
                let _ = collection_update(
                    &mut f.org,
                    &caller,
                    &json!({"allOrNone": target % 2 == 0, "records": [record]}),
                );
                let _ = retrieve(&f.org, &caller, def.name, id.as_str(), None, "66.0");
                let _ = delete(&mut f.org, &caller, def.name, id.as_str());
            }
            let mut record = body.clone();
            record.insert("attributes".into(), json!({"type": def.name}));
            let _ = collection_create(&mut f.org, &caller, &json!({"records": [record]}));
            let ids: Vec<String> = all_ids(&f.org).iter().map(|id| id.to_string()).collect();
            let some = ids.iter().skip(target % ids.len().max(1)).take(3).cloned().collect::<Vec<_>>();
            let _ = collection_delete(&mut f.org, &caller, &some.join(","), target % 3 == 0);
            prop_assert!(!f.org.in_transaction());
        }
    }
}
