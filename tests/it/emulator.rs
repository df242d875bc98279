//! Emulator conformance over real HTTP: auth flows, paging, query errors, sObject writes and
//! their validation, limits, permission gates, faults, stats and TLS.

use reqwest::Method;
use serde_json::{Value, json};
use sf_access::emulator::faults::FaultSpec;
use sf_access::emulator::org::Value as OrgValue;
use sf_access::emulator::{EmulatorConfig, cli::remove_permission};

use crate::support::*;

fn jwt(
    emulator: &sf_access::emulator::EmulatorHandle,
    aud: &str,
    sub: &str,
    exp_offset: i64,
) -> String {
    let c = emulator.credentials();
    let pem = std::fs::read(&c.private_key_file).expect("private key file exists");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("PEM key");
    let claims = json!({
        "iss": c.client_id,
        "sub": sub,
        "aud": aud,
        "exp": chrono::Utc::now().timestamp() + exp_offset,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("JWT signs")
}

#[tokio::test]
async fn client_credentials_token_has_salesforce_fields_and_no_expiry() {
    let emulator = small().await;
    let c = emulator.credentials().clone();
    let (status, body) = token_request(
        &c.instance_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("expires_in").is_none());
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], c.instance_url.as_str());
    let access = body["access_token"].as_str().unwrap();
    assert!(
        access.starts_with("00D") && access.contains('!'),
        "{access}"
    );
    let issued_at = body["issued_at"].as_str().expect("issued_at is a string");
    assert!(issued_at.len() >= 13 && issued_at.chars().all(|c| c.is_ascii_digit()));
    // signature = Base64(HMAC-SHA256(client_secret, id + issued_at)).
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(c.client_secret.as_bytes()).unwrap();
    mac.update(body["id"].as_str().unwrap().as_bytes());
    mac.update(issued_at.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(body["signature"], expected.as_str());
    assert!(body["id"].as_str().unwrap().contains("/id/00D"));
}

#[tokio::test]
async fn client_credentials_fail_on_the_login_host_and_with_bad_credentials() {
    let emulator = small().await;
    let c = emulator.credentials().clone();
    let (status, body) = token_request(
        &c.login_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "request not supported on this domain"})
    );
    let (status, body) = token_request(
        &c.instance_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    let (status, body) = token_request(
        &c.instance_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "nope"),
            ("client_secret", &c.client_secret),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("client identifier invalid"))
    );
    let (status, body) = token_request(&c.instance_url, &[("grant_type", "magic")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = token_request(&c.instance_url, &[("client_id", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn password_flow_needs_the_security_token_and_can_be_switched_off() {
    let emulator = small().await;
    let c = emulator.credentials().clone();
    let with_token = format!("{}{}", c.password, c.security_token);
    let form = |password: &str| {
        vec![
            ("grant_type".to_string(), "password".to_string()),
            ("client_id".to_string(), c.client_id.clone()),
            ("client_secret".to_string(), c.client_secret.clone()),
            ("username".to_string(), c.username.clone()),
            ("password".to_string(), password.to_string()),
        ]
    };
    let send = |form: Vec<(String, String)>| {
        let base = c.login_url.clone();
        async move {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            token_request(&base, &pairs).await
        }
    };
    let (status, body) = send(form(&with_token)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["signature"].is_string() && body.get("refresh_token").is_none());
    let (status, body) = send(form(&c.password)).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("authentication failure"))
    );
    emulator
        .org()
        .write()
        .unwrap()
        .settings
        .password_flow_enabled = false;
    let (status, body) = send(form(&with_token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn refresh_token_flow_works_until_the_token_is_revoked() {
    let emulator = small().await;
    let c = emulator.credentials().clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("refresh_token", c.refresh_token.as_str()),
    ];
    let (status, body) = token_request(&c.login_url, &form).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        query(&emulator, &access, "SELECT Id FROM Organization")
            .await
            .status,
        200
    );
    // Revoking the refresh token kills it and the access tokens issued from it.
    let revoke = http()
        .post(format!("{}/services/oauth2/revoke", c.login_url))
        .form(&[("token", c.refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status().as_u16(), 200);
    let (status, body) = token_request(&c.login_url, &form).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_description"], "expired access/refresh token");
    let after = query(&emulator, &access, "SELECT Id FROM Organization").await;
    assert_eq!(after.status, 401);
    assert_eq!(error_of(&after).0, "INVALID_SESSION_ID");
    let again = http()
        .post(format!("{}/services/oauth2/revoke", c.login_url))
        .form(&[("token", c.refresh_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 400);
}

#[tokio::test]
async fn jwt_bearer_checks_signature_audience_expiry_and_subject() {
    let emulator = small().await;
    let c = emulator.credentials().clone();
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let ok = jwt(&emulator, &c.login_url, &c.username, 120);
    let (status, body) =
        token_request(&c.login_url, &[("grant_type", grant), ("assertion", &ok)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("signature").is_none());
    // The canonical production audience is accepted too; the My Domain one is not.
    let public = jwt(&emulator, "https://login.salesforce.com", &c.username, 120);
    assert_eq!(
        token_request(
            &c.instance_url,
            &[("grant_type", grant), ("assertion", &public)]
        )
        .await
        .0,
        200
    );
    let cases = [
        (
            jwt(&emulator, &c.instance_url, &c.username, 120),
            "audience is invalid",
        ),
        (
            jwt(&emulator, &c.login_url, &c.username, -600),
            "invalid assertion",
        ),
        (
            jwt(&emulator, &c.login_url, "nobody@example.com", 120),
            "user hasn't approved this consumer",
        ),
        (format!("{}x", &ok[..ok.len() - 1]), "invalid assertion"),
        ("not.a.jwt".to_string(), "invalid assertion"),
    ];
    for (assertion, description) in cases {
        let (status, body) = token_request(
            &c.login_url,
            &[("grant_type", grant), ("assertion", &assertion)],
        )
        .await;
        assert_eq!(status, 400, "{description}: {body}");
        assert_eq!(body["error_description"], description, "{body}");
    }
}

#[tokio::test]
async fn ip_restriction_refuses_every_login() {
    let emulator = small().await;
    emulator.org().write().unwrap().settings.login_ip_restricted = true;
    let c = emulator.credentials().clone();
    let (status, body) = token_request(
        &c.instance_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "ip restricted"})
    );
}

#[tokio::test]
async fn bad_and_expired_tokens_get_invalid_session_id() {
    let emulator = small().await;
    let response = query(&emulator, "00Dbogus!token", "SELECT Id FROM User").await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    let token = token(&emulator).await;
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User").await.status,
        200
    );
    emulator
        .org()
        .write()
        .unwrap()
        .settings
        .session_timeout_secs = 0;
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User").await.status,
        401
    );
}

#[tokio::test]
async fn versions_list_and_retired_or_unknown_versions() {
    let emulator = small().await;
    let versions = http()
        .get(format!("{}/services/data/", emulator.instance_url()))
        .send()
        .await
        .unwrap();
    assert!(versions.headers().get("sforce-limit-info").is_none());
    let versions: Value = versions.json().await.unwrap();
    let list: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    for v in 54..=67 {
        assert!(list.contains(&format!("{v}.0").as_str()), "{v}");
    }
    let token = token(&emulator).await;
    assert_eq!(
        rest(
            &emulator,
            &token,
            Method::GET,
            "/services/data/v30.0/limits",
            None
        )
        .await
        .status,
        410
    );
    assert_eq!(
        rest(
            &emulator,
            &token,
            Method::GET,
            "/services/data/v68.0/limits",
            None
        )
        .await
        .status,
        404
    );
    let resources = rest(
        &emulator,
        &token,
        Method::GET,
        "/services/data/v54.0/",
        None,
    )
    .await;
    assert_eq!(resources.status, 200);
    assert_eq!(resources.body["query"], "/services/data/v54.0/query");
}

#[tokio::test]
async fn paged_user_query_has_salesforce_shape() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let response = query(&emulator, &token, "SELECT Id, Username, Profile.Name, Profile.UserLicense.Name, Manager.Name FROM User ORDER BY Id").await;
    assert_eq!(response.status, 200, "{}", response.body);
    let limit = &response.headers["sforce-limit-info"];
    assert!(limit.starts_with("api-usage="), "{limit}");
    let body = &response.body;
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["totalSize", "done", "records"]);
    let records = body["records"].as_array().unwrap();
    assert_eq!(body["totalSize"].as_u64().unwrap() as usize, records.len());
    assert!(records.len() >= 40, "small has about 50 users");
    let mut saw_null_manager = false;
    for record in records {
        let keys: Vec<&String> = record.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["attributes", "Id", "Username", "Profile", "Manager"]);
        let id = record["Id"].as_str().unwrap();
        assert_eq!(record["attributes"]["type"], "User");
        assert_eq!(
            record["attributes"]["url"],
            format!("/services/data/v66.0/sobjects/User/{id}").as_str()
        );
        assert_eq!(record["Profile"]["attributes"]["type"], "Profile");
        assert!(record["Profile"]["Name"].is_string());
        assert_eq!(
            record["Profile"]["UserLicense"]["attributes"]["type"],
            "UserLicense"
        );
        saw_null_manager |= record["Manager"].is_null();
    }
    assert!(
        saw_null_manager,
        "users without manager render Manager: null"
    );
}

#[tokio::test]
async fn paging_at_batch_sizes_200_and_2000_returns_every_row_once() {
    let emulator = start(paging_config()).await;
    let token = token(&emulator).await;
    let soql = "SELECT Id, AssigneeId FROM PermissionSetAssignment ORDER BY Id";
    let total = query(
        &emulator,
        &token,
        "SELECT COUNT() FROM PermissionSetAssignment",
    )
    .await
    .body["totalSize"]
        .as_u64()
        .unwrap() as usize;
    assert!(total > 4_000, "{total}");
    for batch in [200, 2000] {
        let (records, pages) = query_all_pages(&emulator, &token, soql, Some(batch)).await;
        assert_eq!(records.len(), total);
        assert_eq!(pages, total.div_ceil(batch), "batch {batch}");
        let mut ids: Vec<&str> = records.iter().map(|r| r["Id"].as_str().unwrap()).collect();
        let sorted = ids.clone();
        ids.dedup();
        assert_eq!(ids.len(), total);
        let mut resorted = sorted.clone();
        resorted.sort();
        assert_eq!(sorted, resorted);
    }
    // The first page of a default query links to the next one in locator-offset form.
    let first = query(&emulator, &token, soql).await;
    let next = first.body["nextRecordsUrl"].as_str().unwrap();
    assert!(
        next.starts_with("/services/data/v66.0/query/0r8") && next.ends_with("-2000"),
        "{next}"
    );
    let bogus = rest(
        &emulator,
        &token,
        Method::GET,
        "/services/data/v66.0/query/0r8xx0000000000AAA-2000",
        None,
    )
    .await;
    assert_eq!(
        (bogus.status, error_of(&bogus).0.as_str()),
        (404, "INVALID_QUERY_LOCATOR")
    );
}

#[tokio::test]
async fn query_errors_use_salesforce_codes_messages_and_status() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let field = query(&emulator, &token, "SELECT Id, Foo FROM User").await;
    assert_eq!(field.status, 400);
    let (code, message) = error_of(&field);
    assert_eq!(code, "INVALID_FIELD");
    assert!(
        message.contains("ERROR at Row:1:Column:12")
            && message.contains("No such column 'Foo' on entity 'User'"),
        "{message}"
    );
    let object = query(&emulator, &token, "SELECT Id FROM Nope").await;
    assert_eq!(
        (object.status, error_of(&object).0.as_str()),
        (400, "INVALID_TYPE")
    );
    assert!(
        error_of(&object)
            .1
            .contains("sObject type 'Nope' is not supported")
    );
    let syntax = query(&emulator, &token, "SELECT Id FROM User WHERE").await;
    assert_eq!(
        (syntax.status, error_of(&syntax).0.as_str()),
        (400, "MALFORMED_QUERY")
    );
    let unsupported = query(
        &emulator,
        &token,
        "SELECT Id, (SELECT Id FROM Assignments) FROM PermissionSet",
    )
    .await;
    assert_eq!(error_of(&unsupported).0, "MALFORMED_QUERY");
    let offset = query(
        &emulator,
        &token,
        "SELECT Id FROM User LIMIT 10 OFFSET 2001",
    )
    .await;
    assert_eq!(error_of(&offset).0, "NUMBER_OUTSIDE_VALID_RANGE");
}

#[tokio::test]
async fn uris_over_16384_bytes_get_414() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let ids: Vec<String> = (0..1_000)
        .map(|_| "'005xx000001Sv6eAAC'".to_string())
        .collect();
    let soql = format!("SELECT Id FROM User WHERE Id IN ({})", ids.join(","));
    assert_eq!(query(&emulator, &token, &soql).await.status, 414);
}

#[tokio::test]
async fn count_and_aggregates() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let count = query(&emulator, &token, "SELECT COUNT() FROM User").await;
    assert_eq!(count.body["records"], json!([]));
    assert!(count.body["totalSize"].as_u64().unwrap() >= 40);
    let aggregate = query(
        &emulator,
        &token,
        "SELECT COUNT(Id) n, MAX(SystemModstamp) FROM User",
    )
    .await;
    let row = &aggregate.body["records"][0];
    assert_eq!(row["attributes"], json!({"type": "AggregateResult"}));
    assert_eq!(row["n"], count.body["totalSize"]);
    assert!(row["expr0"].as_str().unwrap().ends_with("+0000"));
}

async fn integration_user_id(emulator: &sf_access::emulator::EmulatorHandle) -> String {
    emulator
        .org()
        .read()
        .unwrap()
        .integration
        .user_id
        .to_string()
}

#[tokio::test]
async fn permission_set_assignment_insert_duplicate_and_delete() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let user = first_id(&emulator, &token, "SELECT Id FROM User WHERE IsActive = true AND Profile.Name = 'Standard User' ORDER BY Id LIMIT 1").await;
    let set = first_id(&emulator, &token, "SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = false AND Type = 'Regular' AND LicenseId = null ORDER BY Id LIMIT 1").await;
    // Make sure it is not assigned yet.
    let existing = query(&emulator, &token, &format!("SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{user}' AND PermissionSetId = '{set}'")).await;
    for record in existing.body["records"].as_array().unwrap() {
        let id = record["Id"].as_str().unwrap();
        assert_eq!(
            rest(
                &emulator,
                &token,
                Method::DELETE,
                &format!("/services/data/v66.0/sobjects/PermissionSetAssignment/{id}"),
                None
            )
            .await
            .status,
            204
        );
    }
    let body = json!({"AssigneeId": user, "PermissionSetId": set});
    let created = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/sobjects/PermissionSetAssignment",
        Some(body.clone()),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["success"], true);
    assert_eq!(created.body["errors"], json!([]));
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("0Pa") && id.len() == 18);
    let duplicate = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/sobjects/PermissionSetAssignment/",
        Some(body),
    )
    .await;
    assert_eq!(
        (duplicate.status, error_of(&duplicate).0.as_str()),
        (400, "DUPLICATE_VALUE")
    );
    assert!(
        error_of(&duplicate)
            .1
            .starts_with("Duplicate PermissionSetAssignment")
    );
    let deleted = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("/services/data/v66.0/sobjects/PermissionSetAssignment/{id}"),
        None,
    )
    .await;
    assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
    let again = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("/services/data/v66.0/sobjects/PermissionSetAssignment/{id}"),
        None,
    )
    .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn profile_owned_assignments_cannot_be_deleted_and_users_cannot_be_deleted() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let owned = first_id(&emulator, &token, "SELECT Id FROM PermissionSetAssignment WHERE PermissionSet.IsOwnedByProfile = true LIMIT 1").await;
    let refused = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("/services/data/v66.0/sobjects/PermissionSetAssignment/{owned}"),
        None,
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let user = integration_user_id(&emulator).await;
    let refused = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("/services/data/v66.0/sobjects/User/{user}"),
        None,
    )
    .await;
    assert_eq!(
        (refused.status, error_of(&refused).0.as_str()),
        (405, "METHOD_NOT_ALLOWED")
    );
}

#[tokio::test]
async fn duplicate_group_member_returns_the_existing_row() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let group = first_id(
        &emulator,
        &token,
        "SELECT Id FROM Group WHERE Type = 'Regular' ORDER BY Id LIMIT 1",
    )
    .await;
    let user = integration_user_id(&emulator).await;
    let body = json!({"GroupId": group, "UserOrGroupId": user});
    let first = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/sobjects/GroupMember",
        Some(body.clone()),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let second = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/sobjects/GroupMember",
        Some(body),
    )
    .await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_eq!(first.body["id"], second.body["id"]);
}

#[tokio::test]
async fn user_writes_are_validated_like_salesforce() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let profile = first_id(
        &emulator,
        &token,
        "SELECT Id FROM Profile WHERE Name = 'Standard User'",
    )
    .await;
    let missing = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/sobjects/User",
        Some(json!({"Username": "x@example.com"})),
    )
    .await;
    assert_eq!(
        (missing.status, error_of(&missing).0.as_str()),
        (400, "REQUIRED_FIELD_MISSING")
    );
    assert!(
        missing.body[0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "LastName")
    );
    let existing_username = query(&emulator, &token, "SELECT Username FROM User LIMIT 1")
        .await
        .body["records"][0]["Username"]
        .clone();
    let user = |username: Value| {
        json!({
            "Username": username, "Email": "new.person@example.com", "LastName": "Person", "FirstName": "New",
            "Alias": "nperson", "ProfileId": profile, "TimeZoneSidKey": "America/New_York",
            "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US",
        })
    };
    let duplicate = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/sobjects/User",
        Some(user(existing_username)),
    )
    .await;
    assert_eq!(
        (duplicate.status, error_of(&duplicate).0.as_str()),
        (400, "DUPLICATE_USERNAME")
    );
    let license_before = query(
        &emulator,
        &token,
        "SELECT UsedLicenses FROM UserLicense WHERE Name = 'Salesforce'",
    )
    .await
    .body["records"][0]["UsedLicenses"]
        .as_i64()
        .unwrap();
    let created = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/sobjects/User",
        Some(user(json!("new.person@example.com"))),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let license_after = query(
        &emulator,
        &token,
        "SELECT UsedLicenses FROM UserLicense WHERE Name = 'Salesforce'",
    )
    .await
    .body["records"][0]["UsedLicenses"]
        .as_i64()
        .unwrap();
    assert_eq!(license_after, license_before + 1);
    let login = query(
        &emulator,
        &token,
        &format!("SELECT IsFrozen FROM UserLogin WHERE UserId = '{id}'"),
    )
    .await;
    assert_eq!(login.body["totalSize"], 1);
    let profile_assignment = query(&emulator, &token, &format!("SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{id}' AND PermissionSet.ProfileId = '{profile}'")).await;
    assert_eq!(profile_assignment.body["totalSize"], 1);
    let bad_ref = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("/services/data/v66.0/sobjects/User/{id}"),
        Some(json!({"ManagerId": "005xx000001Sv6eAAC"})),
    )
    .await;
    assert_eq!(error_of(&bad_ref).0, "INVALID_CROSS_REFERENCE_KEY");
    let malformed = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("/services/data/v66.0/sobjects/User/{id}"),
        Some(json!({"ManagerId": "nonsense"})),
    )
    .await;
    assert_eq!(error_of(&malformed).0, "MALFORMED_ID");
    let platform = first_id(
        &emulator,
        &token,
        "SELECT Id FROM Profile WHERE UserLicense.Name = 'Salesforce Platform' LIMIT 1",
    )
    .await;
    let mismatch = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("/services/data/v66.0/sobjects/User/{id}"),
        Some(json!({"ProfileId": platform})),
    )
    .await;
    assert_eq!(
        (mismatch.status, error_of(&mismatch).0.as_str()),
        (400, "FIELD_INTEGRITY_EXCEPTION")
    );
    let stamp_before = query(
        &emulator,
        &token,
        &format!("SELECT SystemModstamp FROM User WHERE Id = '{id}'"),
    )
    .await
    .body["records"][0]["SystemModstamp"]
        .clone();
    let ok = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("/services/data/v66.0/sobjects/User/{id}"),
        Some(json!({"Title": "Analyst"})),
    )
    .await;
    assert_eq!(ok.status, 204, "{}", ok.body);
    let stamp_after = query(
        &emulator,
        &token,
        &format!("SELECT SystemModstamp FROM User WHERE Id = '{id}'"),
    )
    .await
    .body["records"][0]["SystemModstamp"]
        .clone();
    // Whole seconds, as Salesforce stamps them; never earlier than before the update (the
    // same second is possible, as in Salesforce).
    let (before, after) = (
        stamp_before.as_str().expect("a stamp"),
        stamp_after.as_str().expect("a stamp"),
    );
    assert!(after.ends_with(".000+0000"), "{after}");
    assert!(after >= before, "{before} then {after}");
}

#[tokio::test]
async fn a_full_license_refuses_new_users() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let full = query(
        &emulator,
        &token,
        "SELECT Id, Name, TotalLicenses, UsedLicenses FROM UserLicense",
    )
    .await;
    let full = full.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["TotalLicenses"] == l["UsedLicenses"] && l["TotalLicenses"].as_i64().unwrap() > 0
        })
        .expect("small has a full license")
        .clone();
    let profile = first_id(
        &emulator,
        &token,
        &format!(
            "SELECT Id FROM Profile WHERE UserLicenseId = '{}' LIMIT 1",
            full["Id"].as_str().unwrap()
        ),
    )
    .await;
    let created = rest(&emulator, &token, Method::POST, "/services/data/v66.0/sobjects/User", Some(json!({
        "Username": "seatless@example.com", "Email": "seatless@example.com", "LastName": "Seatless",
        "Alias": "seatless", "ProfileId": profile, "TimeZoneSidKey": "America/New_York",
        "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US",
    }))).await;
    assert_eq!(
        (created.status, error_of(&created).0.as_str()),
        (400, "LICENSE_LIMIT_EXCEEDED"),
        "{}",
        created.body
    );
}

#[tokio::test]
async fn composite_collections_report_per_record_and_roll_back_all_or_none() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let group = first_id(
        &emulator,
        &token,
        "SELECT Id FROM Group WHERE Type = 'Regular' ORDER BY Id DESC LIMIT 1",
    )
    .await;
    let user = integration_user_id(&emulator).await;
    let before = query(&emulator, &token, "SELECT COUNT() FROM GroupMember")
        .await
        .body["totalSize"]
        .clone();
    let records = json!([
        {"attributes": {"type": "GroupMember"}, "GroupId": group, "UserOrGroupId": user},
        {"attributes": {"type": "GroupMember"}, "GroupId": group, "UserOrGroupId": "005xx000001Sv6eAAC"},
    ]);
    let all = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/composite/sobjects",
        Some(json!({"allOrNone": true, "records": records})),
    )
    .await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body[0]["success"], false);
    assert_eq!(
        all.body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(all.body[1]["success"], false);
    assert_eq!(
        query(&emulator, &token, "SELECT COUNT() FROM GroupMember")
            .await
            .body["totalSize"],
        before
    );
    let partial = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/composite/sobjects",
        Some(json!({"allOrNone": false, "records": records})),
    )
    .await;
    assert_eq!(partial.body[0]["success"], true, "{}", partial.body);
    assert_eq!(partial.body[1]["success"], false);
    assert!(partial.body[1]["errors"][0]["statusCode"].is_string());
}

#[tokio::test]
async fn limits_resource_and_limit_header_agree_and_exhaustion_is_403() {
    let emulator = small().await;
    let token = token(&emulator).await;
    let limits = rest(
        &emulator,
        &token,
        Method::GET,
        "/services/data/v66.0/limits",
        None,
    )
    .await;
    assert_eq!(limits.status, 200);
    let max = limits.body["DailyApiRequests"]["Max"].as_u64().unwrap();
    let remaining = limits.body["DailyApiRequests"]["Remaining"]
        .as_u64()
        .unwrap();
    let header = &limits.headers["sforce-limit-info"];
    assert_eq!(header, &format!("api-usage={}/{}", max - remaining, max));
    emulator.org().write().unwrap().settings.daily_api_requests = max - remaining + 1;
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User LIMIT 1")
            .await
            .status,
        200
    );
    let refused = query(&emulator, &token, "SELECT Id FROM User LIMIT 1").await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        error_of(&refused),
        (
            "REQUEST_LIMIT_EXCEEDED".to_string(),
            "TotalRequests Limit exceeded.".to_string()
        )
    );
}

#[tokio::test]
async fn permission_gates_refuse_what_the_integration_user_may_not_do() {
    let emulator = small().await;
    let token = token(&emulator).await;
    {
        let mut org = emulator.org().write().unwrap();
        remove_permission(&mut org, "PermissionsViewSetup");
        remove_permission(&mut org, "PermissionsManageUsers");
        remove_permission(&mut org, "PermissionsAssignPermissionSets");
        remove_permission(&mut org, "PermissionsCustomizeApplication");
        remove_permission(&mut org, "PermissionsManageSessionPermissionSets");
        remove_permission(&mut org, "PermissionsManageProfilesPermissionsets");
    }
    let sets = query(&emulator, &token, "SELECT Id FROM PermissionSet").await;
    assert_eq!(
        error_of(&sets).0,
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "{}",
        sets.body
    );
    let apps = query(&emulator, &token, "SELECT Id FROM ConnectedApplication").await;
    assert_eq!(error_of(&apps).0, "INSUFFICIENT_ACCESS_OR_READONLY");
    let org_set = emulator
        .org()
        .read()
        .unwrap()
        .table("PermissionSet")
        .unwrap()
        .rows
        .keys()
        .next()
        .copied()
        .unwrap();
    let user = integration_user_id(&emulator).await;
    let insert = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v66.0/sobjects/PermissionSetAssignment",
        Some(json!({"AssigneeId": user, "PermissionSetId": org_set.to_string()})),
    )
    .await;
    assert_eq!(
        error_of(&insert).0,
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "{}",
        insert.body
    );
    let limits = rest(
        &emulator,
        &token,
        Method::GET,
        "/services/data/v66.0/limits",
        None,
    )
    .await;
    assert_eq!(limits.status, 403);
    // Users stay readable with API Enabled alone.
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User").await.status,
        200
    );
    remove_permission(
        &mut emulator.org().write().unwrap(),
        "PermissionsApiEnabled",
    );
    let disabled = query(&emulator, &token, "SELECT Id FROM User").await;
    assert_eq!(
        (disabled.status, error_of(&disabled).0.as_str()),
        (403, "API_CURRENTLY_DISABLED")
    );
}

#[tokio::test]
async fn editions_without_api_get_api_disabled_for_org() {
    let emulator = small().await;
    let token = token(&emulator).await;
    {
        let mut org = emulator.org().write().unwrap();
        let id = *org
            .table("Organization")
            .unwrap()
            .rows
            .keys()
            .next()
            .unwrap();
        org.update_raw(
            &id,
            &[("OrganizationType", OrgValue::text("Professional Edition"))],
        );
    }
    let refused = query(&emulator, &token, "SELECT Id FROM User").await;
    assert_eq!(
        (refused.status, error_of(&refused).0.as_str()),
        (403, "API_DISABLED_FOR_ORG")
    );
    emulator
        .org()
        .write()
        .unwrap()
        .settings
        .professional_api_add_on = true;
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User").await.status,
        200
    );
}

#[tokio::test]
async fn scheduled_faults_fire_on_their_request_numbers() {
    let emulator = small().await;
    let token = token(&emulator).await;
    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("503@1,lock@2,drop@3").unwrap());
    let unavailable = query(&emulator, &token, "SELECT Id FROM User LIMIT 1").await;
    assert_eq!(
        (unavailable.status, error_of(&unavailable).0.as_str()),
        (503, "SERVER_UNAVAILABLE")
    );
    let locked = query(&emulator, &token, "SELECT Id FROM User LIMIT 1").await;
    assert_eq!(
        (locked.status, error_of(&locked).0.as_str()),
        (400, "UNABLE_TO_LOCK_ROW")
    );
    let dropped = http()
        .get(format!(
            "{}/services/data/v66.0/limits",
            emulator.instance_url()
        ))
        .bearer_auth(&token)
        .send()
        .await;
    let failed = match dropped {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "the third request's connection is dropped");
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User LIMIT 1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn tokens_expire_every_n_requests_and_limits_after_n_calls() {
    let emulator = small().await;
    emulator.set_faults(FaultSpec::parse("expire-token-every=2").unwrap());
    let token = token(&emulator).await;
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User LIMIT 1")
            .await
            .status,
        200
    );
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User LIMIT 1")
            .await
            .status,
        200
    );
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User LIMIT 1")
            .await
            .status,
        401
    );
    let fresh = crate::support::token(&emulator).await;
    assert_eq!(
        query(&emulator, &fresh, "SELECT Id FROM User LIMIT 1")
            .await
            .status,
        200
    );
    emulator.set_faults(FaultSpec::parse("limit-after=0").unwrap());
    let limited = query(&emulator, &fresh, "SELECT Id FROM User LIMIT 1").await;
    assert_eq!(error_of(&limited).0, "REQUEST_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn latency_fault_delays_every_request() {
    let emulator = small().await;
    let token = token(&emulator).await;
    emulator.set_faults(FaultSpec::parse("latency=120ms").unwrap());
    let started = std::time::Instant::now();
    assert_eq!(
        query(&emulator, &token, "SELECT Id FROM User LIMIT 1")
            .await
            .status,
        200
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(120));
}

#[tokio::test]
async fn stats_count_every_call_including_tokens_and_reset() {
    let emulator = small().await;
    emulator.reset_stats();
    let token = token(&emulator).await;
    let (_, pages) = query_all_pages(&emulator, &token, "SELECT Id FROM User", Some(200)).await;
    let _ = rest(
        &emulator,
        &token,
        Method::GET,
        "/services/data/v66.0/limits",
        None,
    )
    .await;
    let stats: Value = http()
        .get(format!("{}/__emulator/stats", emulator.instance_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total_requests"], 2 + pages as u64);
    assert_eq!(stats["requests_by_endpoint"]["token"], 1);
    assert_eq!(stats["requests_by_endpoint"]["query"], 1);
    assert_eq!(stats["requests_by_endpoint"]["limits"], 1);
    assert_eq!(stats["requests_by_object"]["User"], pages as u64);
    assert!(stats["rows"]["User"].as_u64().unwrap() >= 40);
    let reset = http()
        .post(format!(
            "{}/__emulator/reset-stats",
            emulator.instance_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    assert_eq!(emulator.stats().total_requests, 0);
}

#[tokio::test]
async fn oauth_tokens_page_500_at_a_time_and_stop_at_2500() {
    let mut config = paging_config();
    if let sf_access::emulator::OrgSource::Preset { sizes, .. } = &mut config.source {
        sizes.oauth_tokens = Some(3_000);
    }
    let emulator = start(config).await;
    let token = token(&emulator).await;
    let (records, pages) =
        query_all_pages(&emulator, &token, "SELECT Id FROM OauthToken", None).await;
    assert_eq!(records.len(), 2_500);
    assert_eq!(pages, 5);
}

#[tokio::test]
async fn tls_mode_serves_https_with_a_trustable_certificate() {
    let mut config = EmulatorConfig::small();
    config.tls = true;
    let emulator = start(config).await;
    let c = emulator.credentials().clone();
    assert!(c.instance_url.starts_with("https://127.0.0.1:"));
    let pem = std::fs::read(c.ca_cert_file.as_ref().expect("ca_cert_file with --tls")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let response = client
        .post(format!("{}/services/oauth2/token", c.instance_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
