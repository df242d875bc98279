//! Emulator conformance for Bulk API 2.0 query jobs over real HTTP: create, poll, results
//! sets and their CSV, abort, delete, list, errors, the daily job limit, counters and faults.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sf_access::emulator::bulk::BulkOptions;
use sf_access::emulator::faults::FaultSpec;
use sf_access::emulator::org::Value as OrgValue;
use sf_access::emulator::{EmulatorConfig, EmulatorHandle};
use sf_access::salesforce::SfId;

use crate::support::*;

const JOBS: &str = "/services/data/v66.0/jobs/query";

/// The small org with jobs that complete at once.
async fn instant() -> EmulatorHandle {
    with_bulk(BulkOptions::instant()).await
}

async fn with_bulk(bulk: BulkOptions) -> EmulatorHandle {
    let mut config = EmulatorConfig::small();
    config.bulk = bulk;
    start(config).await
}

async fn create(emulator: &EmulatorHandle, token: &str, body: Value) -> Rest {
    rest(emulator, token, Method::POST, JOBS, Some(body)).await
}

async fn create_query(emulator: &EmulatorHandle, token: &str, soql: &str) -> String {
    let job = create(
        emulator,
        token,
        json!({"operation": "query", "query": soql}),
    )
    .await;
    assert_eq!(job.status, 200, "{soql}: {}", job.body);
    job.body["id"].as_str().expect("job id").to_string()
}

async fn info(emulator: &EmulatorHandle, token: &str, id: &str) -> Rest {
    rest(emulator, token, Method::GET, &format!("{JOBS}/{id}"), None).await
}

/// Polls a job until it is JobComplete (at most ~30 s) and returns its info.
async fn wait_complete(emulator: &EmulatorHandle, token: &str, id: &str) -> Value {
    for _ in 0..3_000 {
        let job = info(emulator, token, id).await;
        assert_eq!(job.status, 200, "{}", job.body);
        if job.body["state"] == "JobComplete" {
            return job.body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} did not complete");
}

/// A results response, with its body as text.
struct Csv {
    status: u16,
    headers: HashMap<String, String>,
    text: String,
}

impl Csv {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn error_code(&self) -> String {
        let body: Value = serde_json::from_str(&self.text).expect("error body is JSON");
        body[0]["errorCode"].as_str().unwrap_or("").to_string()
    }
}

async fn results_at(
    emulator: &EmulatorHandle,
    token: &str,
    version: &str,
    id: &str,
    params: &str,
) -> Csv {
    let mut url = format!(
        "{}/services/data/v{version}/jobs/query/{id}/results",
        emulator.instance_url()
    );
    if !params.is_empty() {
        url = format!("{url}?{params}");
    }
    let response = http()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("results request is answered");
    let status = response.status().as_u16();
    let headers = header_map(&response);
    let text = response.text().await.expect("body reads");
    Csv {
        status,
        headers,
        text,
    }
}

async fn results(emulator: &EmulatorHandle, token: &str, id: &str, params: &str) -> Csv {
    results_at(emulator, token, "66.0", id, params).await
}

/// Parses a CSV body: (header, rows).
fn parse_csv(text: &str, delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .expect("header line")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("CSV row").iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn set_user_field(emulator: &EmulatorHandle, id: &str, field: &str, value: OrgValue) {
    let id = SfId::parse(id).expect("valid id");
    let mut org = emulator.org().write().expect("org lock");
    assert!(org.update_raw(&id, &[(field, value)]));
}

/// The REST rendering of a field of a record, as the Bulk CSV must show it.
fn expected_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) if s.ends_with("+0000") && s.len() == 28 => {
            format!("{}Z", &s[..s.len() - 5])
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn bulk_query_results_come_in_sets_that_hold_every_row_once_in_order() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    let soql = "SELECT Id, Username, Title, IsActive, LastLoginDate, NumberOfFailedLogins, \
                Profile.Name, Manager.Username FROM User ORDER BY Username DESC";
    let (rest_rows, _) = query_all_pages(&emulator, &token, soql, None).await;
    assert!(rest_rows.len() > 20, "the small org has enough users");
    let tricky = "He said \"hi\", then\nleft";
    let tricky_id = rest_rows[3]["Id"].as_str().unwrap().to_string();
    let null_id = rest_rows[4]["Id"].as_str().unwrap().to_string();
    set_user_field(&emulator, &tricky_id, "Title", OrgValue::text(tricky));
    set_user_field(&emulator, &null_id, "Title", OrgValue::Null);
    set_user_field(
        &emulator,
        &null_id,
        "LastLoginDate",
        OrgValue::DateTime(1_767_323_045_000),
    );
    let (rest_rows, _) = query_all_pages(&emulator, &token, soql, None).await;

    let created = create(
        &emulator,
        &token,
        json!({"operation": "query", "query": soql, "contentType": "CSV",
               "columnDelimiter": "COMMA", "lineEnding": "LF"}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let job = &created.body;
    let id = job["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("750") && id.len() == 18, "{id}");
    assert_eq!(job["state"], "UploadComplete");
    assert_eq!(job["object"], "User");
    assert_eq!(job["operation"], "query");
    assert_eq!(job["apiVersion"], json!(66.0));
    assert_eq!(job["concurrencyMode"], "Parallel");
    assert_eq!(job["contentType"], "CSV");
    assert_eq!(job["lineEnding"], "LF");
    assert_eq!(job["columnDelimiter"], "COMMA");
    assert!(job["createdById"].as_str().unwrap().starts_with("005"));
    assert!(job["createdDate"].as_str().unwrap().ends_with(".000+0000"));
    let done = wait_complete(&emulator, &token, &id).await;
    assert_eq!(done["numberRecordsProcessed"], rest_rows.len());
    assert_eq!(done["retries"], 0);
    assert_eq!(done["jobType"], "V2Query");
    assert!(done.get("errorMessage").is_none());

    let mut rows = Vec::new();
    let mut locator: Option<String> = None;
    let mut sets = 0;
    loop {
        let params = match &locator {
            Some(l) => format!("maxRecords=7&locator={l}"),
            None => "maxRecords=7".to_string(),
        };
        let set = results(&emulator, &token, &id, &params).await;
        assert_eq!(set.status, 200, "{}", set.text);
        assert!(set.header("content-type").starts_with("text/csv"));
        assert!(set.header("sforce-limit-info").starts_with("api-usage="));
        let (header, set_rows) = parse_csv(&set.text, b',');
        assert_eq!(
            header,
            [
                "Id",
                "Username",
                "Title",
                "IsActive",
                "LastLoginDate",
                "NumberOfFailedLogins",
                "Profile.Name",
                "Manager.Username"
            ]
        );
        assert!(set.text.starts_with("\"Id\",\"Username\",\"Title\","));
        assert_eq!(
            set.header("sforce-numberofrecords"),
            set_rows.len().to_string()
        );
        assert!(set_rows.len() <= 7);
        sets += 1;
        rows.extend(set_rows);
        let next = set.header("sforce-locator").to_string();
        if next == "null" {
            break;
        }
        // The same locator gives the same set again.
        let again = results(
            &emulator,
            &token,
            &id,
            &format!("maxRecords=7&locator={next}"),
        )
        .await;
        let twice = results(
            &emulator,
            &token,
            &id,
            &format!("maxRecords=7&locator={next}"),
        )
        .await;
        assert_eq!(again.text, twice.text);
        assert_eq!(
            again.header("sforce-locator"),
            twice.header("sforce-locator")
        );
        locator = Some(next);
        assert!(sets < 100, "the locator chain ends");
    }
    assert_eq!(sets, rest_rows.len().div_ceil(7));

    // Every row exactly once, in ORDER BY order, with REST's values in Bulk's shapes.
    assert_eq!(rows.len(), rest_rows.len());
    let ids: HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids.len(), rows.len());
    for (row, record) in rows.iter().zip(&rest_rows) {
        let expected = [
            expected_cell(&record["Id"]),
            expected_cell(&record["Username"]),
            expected_cell(&record["Title"]),
            expected_cell(&record["IsActive"]),
            expected_cell(&record["LastLoginDate"]),
            expected_cell(&record["NumberOfFailedLogins"]),
            expected_cell(&record["Profile"]["Name"]),
            expected_cell(&record["Manager"]["Username"]),
        ];
        assert_eq!(row.as_slice(), expected.as_slice());
    }
    let tricky_row = rows.iter().find(|r| r[0] == tricky_id).unwrap();
    assert_eq!(tricky_row[2], tricky);
    let null_row = rows.iter().find(|r| r[0] == null_id).unwrap();
    assert_eq!(null_row[2], "");
    assert_eq!(null_row[4], "2026-01-02T03:04:05.000Z");
    // A null is an empty field, not an empty quoted string; values are quoted.
    let raw = results(&emulator, &token, &id, "").await;
    assert_eq!(raw.header("sforce-locator"), "null");
    let null_line = raw
        .text
        .lines()
        .find(|l| l.starts_with(&format!("\"{null_id}\"")))
        .expect("the row of the null title");
    assert!(
        null_line.contains("\",,\"") && !null_line.contains("\"\""),
        "{null_line}"
    );
    assert!(raw.text.contains(",\"He said \"\"hi\"\", then\nleft\","));
}

#[tokio::test]
async fn bulk_query_results_use_the_job_delimiter_and_line_ending() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    for (delimiter, byte, ending) in [("PIPE", b'|', "CRLF"), ("TAB", b'\t', "LF")] {
        let job = create(
            &emulator,
            &token,
            json!({"operation": "query", "query": "SELECT Id, IsActive FROM User ORDER BY Id LIMIT 5",
                   "columnDelimiter": delimiter, "lineEnding": ending}),
        )
        .await;
        assert_eq!(job.status, 200, "{}", job.body);
        assert_eq!(job.body["columnDelimiter"], delimiter);
        assert_eq!(job.body["lineEnding"], ending);
        let id = job.body["id"].as_str().unwrap();
        wait_complete(&emulator, &token, id).await;
        let set = results(&emulator, &token, id, "").await;
        assert_eq!(set.status, 200, "{}", set.text);
        let separator = char::from(byte);
        assert!(
            set.text
                .starts_with(&format!("\"Id\"{separator}\"IsActive\"")),
            "{:?}",
            set.text
        );
        assert_eq!(set.text.contains("\r\n"), ending == "CRLF");
        assert_eq!(set.text.matches('\n').count(), 6, "header and 5 rows");
        let (header, rows) = parse_csv(&set.text, byte);
        assert_eq!(header, ["Id", "IsActive"]);
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r[1] == "true" || r[1] == "false"));
    }
}

#[tokio::test]
async fn bulk_query_all_includes_deleted_rows_as_rest_query_all_does() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    let soql = "SELECT Id, IsDeleted FROM PermissionSetGroup ORDER BY Id";
    let (live, _) = query_all_pages(&emulator, &token, soql, None).await;
    assert!(!live.is_empty());
    let deleted = live[0]["Id"].as_str().unwrap().to_string();
    set_user_field(&emulator, &deleted, "IsDeleted", OrgValue::Bool(true));
    let mut found = Vec::new();
    for operation in ["query", "queryAll"] {
        let job = create(
            &emulator,
            &token,
            json!({"operation": operation, "query": soql}),
        )
        .await;
        assert_eq!(job.status, 200, "{}", job.body);
        assert_eq!(job.body["operation"], operation);
        let id = job.body["id"].as_str().unwrap();
        wait_complete(&emulator, &token, id).await;
        let (_, rows) = parse_csv(&results(&emulator, &token, id, "").await.text, b',');
        found.push(rows);
    }
    assert_eq!(found[0].len(), live.len() - 1);
    assert!(found[0].iter().all(|r| r[0] != deleted && r[1] == "false"));
    assert_eq!(found[1].len(), live.len());
    assert!(found[1].iter().any(|r| r[0] == deleted && r[1] == "true"));
}

#[tokio::test]
async fn bulk_query_job_is_in_progress_until_its_processing_time_then_complete() {
    let emulator = with_bulk(BulkOptions {
        job_ms: 600,
        job_ms_per_10k_rows: 0,
        ..BulkOptions::default()
    })
    .await;
    let token = token(&emulator).await;
    let id = create_query(&emulator, &token, "SELECT Id FROM User").await;
    let order = ["UploadComplete", "InProgress", "JobComplete"];
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..3_000 {
        let job = info(&emulator, &token, &id).await;
        let state = job.body["state"].as_str().unwrap().to_string();
        if state != "JobComplete" {
            assert_eq!(job.body["numberRecordsProcessed"], 0);
        }
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        if state == "JobComplete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let positions: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).expect("a known state"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen.contains(&"InProgress".to_string()), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("JobComplete"));
    let done = info(&emulator, &token, &id).await.body;
    assert!(done["numberRecordsProcessed"].as_u64().unwrap() > 0);
    assert!(done["totalProcessingTime"].as_u64().unwrap() >= 600);
}

#[tokio::test]
async fn bulk_query_results_abort_and_delete_follow_the_job_state() {
    let emulator = with_bulk(BulkOptions {
        job_ms: 600_000,
        ..BulkOptions::default()
    })
    .await;
    let token = token(&emulator).await;
    let id = create_query(&emulator, &token, "SELECT Id FROM User").await;
    let early = results(&emulator, &token, &id, "").await;
    assert_eq!(early.status, 400, "{}", early.text);
    assert_eq!(early.error_code(), "API_ERROR");
    assert!(early.text.contains("JobComplete"), "{}", early.text);
    // A job that is not terminated cannot be deleted (documented).
    let deleting = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("{JOBS}/{id}"),
        None,
    )
    .await;
    assert_eq!(deleting.status, 400);
    assert_eq!(error_of(&deleting).0, "API_ERROR");
    assert!(error_of(&deleting).1.contains("not terminated"));
    // Only {"state":"Aborted"} is accepted.
    let wrong = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("{JOBS}/{id}"),
        Some(json!({"state": "JobComplete"})),
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.body[0]["errorCode"], "INVALIDJOB");
    assert_eq!(wrong.body[0]["fields"], json!(["state"]));
    let aborted = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("{JOBS}/{id}"),
        Some(json!({"state": "Aborted"})),
    )
    .await;
    assert_eq!(aborted.status, 200, "{}", aborted.body);
    assert_eq!(aborted.body["state"], "Aborted");
    assert_eq!(aborted.body["id"], id.as_str());
    assert_eq!(info(&emulator, &token, &id).await.body["state"], "Aborted");
    let after_abort = results(&emulator, &token, &id, "").await;
    assert_eq!(after_abort.status, 400);
    assert!(after_abort.text.contains("Aborted"), "{}", after_abort.text);
    let again = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("{JOBS}/{id}"),
        Some(json!({"state": "Aborted"})),
    )
    .await;
    assert_eq!(again.status, 400, "an aborted job cannot be aborted again");
    let deleted = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("{JOBS}/{id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    for response in [
        info(&emulator, &token, &id).await,
        rest(
            &emulator,
            &token,
            Method::DELETE,
            &format!("{JOBS}/{id}"),
            None,
        )
        .await,
    ] {
        assert_eq!(response.status, 404);
        assert_eq!(error_of(&response).0, "NOT_FOUND");
    }
    assert_eq!(results(&emulator, &token, &id, "").await.status, 404);
    let unknown = info(&emulator, &token, "750xx0000000999AAA").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(info(&emulator, &token, "not-an-id").await.status, 404);
}

#[tokio::test]
async fn bulk_query_jobs_over_a_failing_object_end_failed_with_a_message() {
    let emulator = with_bulk(BulkOptions {
        fail_objects: vec!["PermissionSetAssignment".into()],
        ..BulkOptions::instant()
    })
    .await;
    let token = token(&emulator).await;
    let failing = create_query(
        &emulator,
        &token,
        "SELECT Id, AssigneeId FROM PermissionSetAssignment",
    )
    .await;
    let job = info(&emulator, &token, &failing).await;
    assert_eq!(job.status, 200, "{}", job.body);
    assert_eq!(job.body["state"], "Failed", "{}", job.body);
    let message = job.body["errorMessage"].as_str().expect("errorMessage");
    assert!(message.contains("PermissionSetAssignment"), "{message}");
    assert_eq!(job.body["numberRecordsProcessed"], 0);
    // No results; a failed job is terminated: it cannot be aborted, and it can be deleted.
    let results_of_failed = results(&emulator, &token, &failing, "").await;
    assert_eq!(results_of_failed.status, 400, "{}", results_of_failed.text);
    assert_eq!(results_of_failed.error_code(), "API_ERROR");
    assert!(
        results_of_failed.text.contains("Failed"),
        "{}",
        results_of_failed.text
    );
    let abort = rest(
        &emulator,
        &token,
        Method::PATCH,
        &format!("{JOBS}/{failing}"),
        Some(json!({"state": "Aborted"})),
    )
    .await;
    assert_eq!(abort.status, 400, "{}", abort.body);
    let deleted = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("{JOBS}/{failing}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    // Jobs over other objects complete as ever.
    let other = create_query(&emulator, &token, "SELECT Id FROM User").await;
    let done = wait_complete(&emulator, &token, &other).await;
    assert!(done.get("errorMessage").is_none(), "{done}");
    assert_eq!(results(&emulator, &token, &other, "").await.status, 200);
}

#[tokio::test]
async fn bulk_query_results_need_the_api_version_the_job_was_created_with() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    let id = create_query(&emulator, &token, "SELECT Id FROM User LIMIT 3").await;
    wait_complete(&emulator, &token, &id).await;
    let other = results_at(&emulator, &token, "65.0", &id, "").await;
    assert_eq!(other.status, 409, "{}", other.text);
    assert!(other.text.contains("v66.0"), "{}", other.text);
    assert_eq!(
        results_at(&emulator, &token, "66.0", &id, "").await.status,
        200
    );
    // Job info does not depend on the version; Bulk 2.0 query starts at 47.0.
    let info_65 = rest(
        &emulator,
        &token,
        Method::GET,
        &format!("/services/data/v65.0/jobs/query/{id}"),
        None,
    )
    .await;
    assert_eq!(info_65.status, 200);
    let old = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v46.0/jobs/query",
        Some(json!({"operation": "query", "query": "SELECT Id FROM User"})),
    )
    .await;
    assert_eq!(old.status, 404);
    let v47 = rest(
        &emulator,
        &token,
        Method::POST,
        "/services/data/v47.0/jobs/query",
        Some(json!({"operation": "query", "query": "SELECT Id FROM User"})),
    )
    .await;
    assert_eq!(v47.status, 200, "{}", v47.body);
    assert_eq!(v47.body["apiVersion"], json!(47.0));
}

#[tokio::test]
async fn bulk_query_refuses_what_bulk_does_not_support_and_bad_soql_at_create() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    emulator.reset_stats();
    let unsupported = [
        "SELECT COUNT() FROM User",
        "SELECT MAX(CreatedDate) FROM User",
        "SELECT ProfileId, COUNT(Id) FROM User GROUP BY ProfileId",
        "SELECT Id FROM User ORDER BY Id LIMIT 10 OFFSET 5",
        "SELECT Id, (SELECT Id FROM Assignments) FROM PermissionSet",
        "SELECT TYPEOF Owner WHEN User THEN Name END FROM Group",
    ];
    for soql in unsupported {
        let refused = create(
            &emulator,
            &token,
            json!({"operation": "query", "query": soql}),
        )
        .await;
        assert_eq!(refused.status, 400, "{soql}: {}", refused.body);
        let (code, message) = error_of(&refused);
        assert_eq!(code, "API_ERROR", "{soql}");
        assert!(message.contains("Bulk API 2.0"), "{soql}: {message}");
    }
    for (soql, code) in [
        ("SELECT Id, Nope FROM User", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Id FROM User WHERE", "MALFORMED_QUERY"),
    ] {
        let refused = create(
            &emulator,
            &token,
            json!({"operation": "query", "query": soql}),
        )
        .await;
        assert_eq!(refused.status, 400, "{soql}");
        assert_eq!(error_of(&refused).0, code, "{soql}");
        // The same error as the REST query.
        assert_eq!(
            error_of(&refused),
            error_of(&query(&emulator, &token, soql).await)
        );
    }
    // Refused creates make no job and count under no object.
    let stats = emulator.stats();
    assert_eq!(stats.requests_by_endpoint["bulk_query"], 9);
    assert!(stats.requests_by_object.is_empty(), "{stats:?}");
    let list = rest(&emulator, &token, Method::GET, JOBS, None).await;
    assert_eq!(list.body["records"], json!([]));
    // ORDER BY, LIMIT, parent paths and semi-joins are fine.
    create_query(
        &emulator,
        &token,
        "SELECT Id, Profile.Name FROM User WHERE Id IN (SELECT AssigneeId FROM \
         PermissionSetAssignment) ORDER BY Profile.Name LIMIT 20",
    )
    .await;
}

#[tokio::test]
async fn bulk_query_create_refuses_bad_body_fields_naming_them() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    let soql = "SELECT Id FROM User";
    for (body, field) in [
        (json!({"query": soql}), "operation"),
        (json!({"operation": "update", "query": soql}), "operation"),
        (json!({"operation": "query"}), "query"),
        (
            json!({"operation": "query", "query": soql, "contentType": "JSON"}),
            "contentType",
        ),
        (
            json!({"operation": "query", "query": soql, "columnDelimiter": "COLON"}),
            "columnDelimiter",
        ),
        (
            json!({"operation": "query", "query": soql, "lineEnding": "CR"}),
            "lineEnding",
        ),
        (
            json!({"operation": "query", "query": soql, "object": "User"}),
            "object",
        ),
    ] {
        let refused = create(&emulator, &token, body.clone()).await;
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(refused.body[0]["errorCode"], "INVALIDJOB", "{body}");
        assert_eq!(refused.body[0]["fields"], json!([field]), "{body}");
        let (_, message) = error_of(&refused);
        assert!(message.contains(field), "{body}: {message}");
    }
    let malformed = http()
        .post(format!("{}{JOBS}", emulator.instance_url()))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("{\"operation\": \"query\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "JSON_PARSER_ERROR");
    let not_json = http()
        .post(format!("{}{JOBS}", emulator.instance_url()))
        .bearer_auth(&token)
        .header("Content-Type", "text/plain")
        .body("operation=query")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 415);
    let put = rest(&emulator, &token, Method::PUT, JOBS, None).await;
    assert_eq!(put.status, 405);
}

#[tokio::test]
async fn bulk_query_results_refuse_bad_max_records_and_locators_never_issued() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    let id = create_query(&emulator, &token, "SELECT Id FROM User ORDER BY Id").await;
    wait_complete(&emulator, &token, &id).await;
    for params in [
        "maxRecords=0",
        "maxRecords=-3",
        "maxRecords=ten",
        "maxRecords=",
    ] {
        let refused = results(&emulator, &token, &id, params).await;
        assert_eq!(refused.status, 400, "{params}");
        assert_eq!(refused.error_code(), "API_ERROR", "{params}");
        assert!(refused.text.contains("maxRecords"), "{params}");
    }
    let first = results(&emulator, &token, &id, "maxRecords=10").await;
    let next = first.header("sforce-locator").to_string();
    assert_ne!(next, "null");
    for locator in ["MjA", "null", "", "bogus"] {
        let refused = results(&emulator, &token, &id, &format!("locator={locator}")).await;
        assert_eq!(refused.status, 400, "{locator}");
        assert_eq!(refused.error_code(), "INVALID_QUERY_LOCATOR", "{locator}");
    }
    // An issued locator works, and is a job's own.
    assert_eq!(
        results(&emulator, &token, &id, &format!("locator={next}"))
            .await
            .status,
        200
    );
    let other = create_query(&emulator, &token, "SELECT Id FROM User ORDER BY Id").await;
    wait_complete(&emulator, &token, &other).await;
    let foreign = results(&emulator, &token, &other, &format!("locator={next}")).await;
    assert_eq!(foreign.status, 400);
    // Without maxRecords the whole small result is one set.
    let whole = results(&emulator, &token, &id, "").await;
    assert_eq!(whole.header("sforce-locator"), "null");
}

#[tokio::test]
async fn bulk_query_sets_are_capped_by_the_configured_results_max() {
    let emulator = with_bulk(BulkOptions {
        results_max: 4,
        ..BulkOptions::instant()
    })
    .await;
    let token = token(&emulator).await;
    let id = create_query(
        &emulator,
        &token,
        "SELECT Id FROM User ORDER BY Id LIMIT 10",
    )
    .await;
    wait_complete(&emulator, &token, &id).await;
    let mut sizes = Vec::new();
    let mut params = "maxRecords=100".to_string();
    loop {
        let set = results(&emulator, &token, &id, &params).await;
        assert_eq!(set.status, 200, "{}", set.text);
        sizes.push(set.header("sforce-numberofrecords").to_string());
        let next = set.header("sforce-locator");
        if next == "null" {
            break;
        }
        params = format!("maxRecords=100&locator={next}");
    }
    assert_eq!(sizes, ["4", "4", "2"]);
}

#[tokio::test]
async fn bulk_query_requests_count_under_bulk_query_and_the_job_object() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    emulator.reset_stats();
    let id = create_query(
        &emulator,
        &token,
        "SELECT Id, AssigneeId FROM PermissionSetAssignment ORDER BY Id",
    )
    .await;
    wait_complete(&emulator, &token, &id).await;
    let mut requests = 2u64; // the create and the poll that saw JobComplete
    let mut locator: Option<String> = None;
    loop {
        let params = match &locator {
            Some(l) => format!("maxRecords=25&locator={l}"),
            None => "maxRecords=25".into(),
        };
        let set = results(&emulator, &token, &id, &params).await;
        requests += 1;
        let next = set.header("sforce-locator");
        if next == "null" {
            break;
        }
        locator = Some(next.to_string());
    }
    assert!(requests > 4, "several sets");
    let deleted = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("{JOBS}/{id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    requests += 1;
    let stats = emulator.stats();
    assert_eq!(stats.requests_by_endpoint["bulk_query"], requests);
    assert_eq!(
        stats.requests_by_object["PermissionSetAssignment"],
        requests
    );
    assert_eq!(stats.requests_by_object.len(), 1, "{stats:?}");
    assert_eq!(stats.api_requests, requests);
    assert_eq!(stats.total_requests, requests);
    // The list and an unknown job count as bulk_query calls under no object.
    let _ = rest(&emulator, &token, Method::GET, JOBS, None).await;
    let _ = info(&emulator, &token, &id).await;
    let stats = emulator.stats();
    assert_eq!(stats.requests_by_endpoint["bulk_query"], requests + 2);
    assert_eq!(
        stats.requests_by_object["PermissionSetAssignment"],
        requests
    );
}

#[tokio::test]
async fn bulk_query_jobs_are_listed_and_limited_by_daily_bulk_v2_query_jobs() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    emulator
        .org()
        .write()
        .expect("org lock")
        .settings
        .daily_bulk_v2_query_jobs = 2;
    let first = create_query(&emulator, &token, "SELECT Id FROM User").await;
    let second = create_query(&emulator, &token, "SELECT Id FROM Profile").await;
    let limits = rest(
        &emulator,
        &token,
        Method::GET,
        "/services/data/v66.0/limits",
        None,
    )
    .await;
    assert_eq!(
        limits.body["DailyBulkV2QueryJobs"],
        json!({"Max": 2, "Remaining": 0})
    );
    let refused = create(
        &emulator,
        &token,
        json!({"operation": "query", "query": "SELECT Id FROM User"}),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(error_of(&refused).0, "LIMIT_EXCEEDED");
    assert!(error_of(&refused).1.contains("DailyBulkV2QueryJobs"));
    let list = rest(&emulator, &token, Method::GET, JOBS, None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["done"], true);
    assert_eq!(list.body["nextRecordsUrl"], Value::Null);
    let records = list.body["records"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["object"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [(first.as_str(), "User"), (second.as_str(), "Profile")]
    );
    assert!(records.iter().all(|r| r["jobType"] == "V2Query"));
    // Deleting a job does not give its quota back.
    wait_complete(&emulator, &token, &first).await;
    let deleted = rest(
        &emulator,
        &token,
        Method::DELETE,
        &format!("{JOBS}/{first}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    let still = create(
        &emulator,
        &token,
        json!({"operation": "query", "query": "SELECT Id FROM User"}),
    )
    .await;
    assert_eq!(still.status, 400);
}

#[tokio::test]
async fn bulk_query_requests_get_injected_faults_like_any_rest_call() {
    let emulator = instant().await;
    let token = token(&emulator).await;
    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("503@1,lock@2").unwrap());
    let body = json!({"operation": "query", "query": "SELECT Id FROM User"});
    let unavailable = create(&emulator, &token, body.clone()).await;
    assert_eq!(
        (unavailable.status, error_of(&unavailable).0.as_str()),
        (503, "SERVER_UNAVAILABLE")
    );
    let locked = create(&emulator, &token, body.clone()).await;
    assert_eq!(
        (locked.status, error_of(&locked).0.as_str()),
        (400, "UNABLE_TO_LOCK_ROW")
    );
    let created = create(&emulator, &token, body).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let list = rest(&emulator, &token, Method::GET, JOBS, None).await;
    assert_eq!(list.body["records"].as_array().unwrap().len(), 1);
    let stats = emulator.stats();
    assert_eq!(stats.requests_by_endpoint["bulk_query"], 4);
    assert_eq!(stats.requests_by_object["User"], 1);
    let unauthenticated = create(
        &emulator,
        "not-a-token",
        json!({"operation": "query", "query": "SELECT Id FROM User"}),
    )
    .await;
    assert_eq!(unauthenticated.status, 401);
}
