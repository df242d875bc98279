//! Shared helpers: start an emulator, get tokens, make REST calls.

#![allow(dead_code)]

use std::collections::HashMap;

use serde_json::Value;
use sf_access::emulator::generate::{Preset, SizeOverrides};
use sf_access::emulator::{EmulatorConfig, EmulatorHandle, OrgSource, spawn};

/// Starts the `small` org.
pub async fn small() -> EmulatorHandle {
    spawn(EmulatorConfig::small())
        .await
        .expect("emulator starts")
}

/// Starts an org from a config.
pub async fn start(config: EmulatorConfig) -> EmulatorHandle {
    spawn(config).await.expect("emulator starts")
}

/// A medium-shaped org scaled down so that some objects exceed 2,000 rows.
pub fn paging_config() -> EmulatorConfig {
    let mut config = EmulatorConfig::preset(Preset::Medium);
    config.source = OrgSource::Preset {
        preset: Preset::Medium,
        seed: 3,
        sizes: SizeOverrides {
            users: Some(2_300),
            roles: Some(40),
            profiles: Some(20),
            permission_sets: Some(60),
            permission_set_groups: Some(10),
            groups: Some(50),
            group_members: Some(1_000),
            assignments: Some(4_500),
            connected_apps: Some(5),
            oauth_tokens: Some(300),
            permission_set_licenses: Some(5),
        },
    };
    config
}

/// The HTTP client tests use.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .build()
        .expect("reqwest client builds")
}

/// Posts a token request form to `base` and returns (status, JSON body).
pub async fn token_request(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(format!("{base}/services/oauth2/token"))
        .form(form)
        .send()
        .await
        .expect("token request is answered");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.expect("token response is JSON"),
    )
}

/// A client-credentials access token for the integration user.
pub async fn token(emulator: &EmulatorHandle) -> String {
    let c = emulator.credentials();
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
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A REST response: status, headers and JSON body (Null when empty).
pub struct Rest {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

/// Makes a REST call to the emulator's instance URL.
pub async fn rest(
    emulator: &EmulatorHandle,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Rest {
    rest_with(emulator, token, method, path, body, &[]).await
}

/// Makes a REST call with extra headers.
pub async fn rest_with(
    emulator: &EmulatorHandle,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Rest {
    let mut request = http()
        .request(method, format!("{}{path}", emulator.instance_url()))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("REST request is answered");
    let status = response.status().as_u16();
    let headers = header_map(&response);
    let text = response.text().await.expect("body reads");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Rest {
        status,
        headers,
        body,
    }
}

/// `GET /services/data/v66.0/query?q=...`.
pub async fn query(emulator: &EmulatorHandle, token: &str, soql: &str) -> Rest {
    let path = format!(
        "/services/data/v66.0/query?q={}",
        url::form_urlencoded::byte_serialize(soql.as_bytes()).collect::<String>()
    );
    rest(emulator, token, reqwest::Method::GET, &path, None).await
}

/// Runs a query to the end, following nextRecordsUrl; returns (records, pages).
pub async fn query_all_pages(
    emulator: &EmulatorHandle,
    token: &str,
    soql: &str,
    batch_size: Option<usize>,
) -> (Vec<Value>, usize) {
    let options = batch_size.map(|n| format!("batchSize={n}"));
    let headers: Vec<(&str, &str)> = options
        .as_deref()
        .map(|o| vec![("Sforce-Query-Options", o)])
        .unwrap_or_default();
    let mut path = format!(
        "/services/data/v66.0/query?q={}",
        url::form_urlencoded::byte_serialize(soql.as_bytes()).collect::<String>()
    );
    let mut records = Vec::new();
    let mut pages = 0;
    loop {
        let page = rest_with(emulator, token, reqwest::Method::GET, &path, None, &headers).await;
        assert_eq!(page.status, 200, "{}", page.body);
        pages += 1;
        records.extend(page.body["records"].as_array().cloned().unwrap_or_default());
        if page.body["done"] == Value::Bool(true) {
            assert!(page.body.get("nextRecordsUrl").is_none());
            break;
        }
        path = page.body["nextRecordsUrl"]
            .as_str()
            .expect("nextRecordsUrl when not done")
            .to_string();
    }
    (records, pages)
}

/// The first error of a Salesforce error array: (errorCode, message).
pub fn error_of(response: &Rest) -> (String, String) {
    let first = &response.body[0];
    (
        first["errorCode"].as_str().unwrap_or("").to_string(),
        first["message"].as_str().unwrap_or("").to_string(),
    )
}

/// A record id from a SOQL query's first row.
pub async fn first_id(emulator: &EmulatorHandle, token: &str, soql: &str) -> String {
    let result = query(emulator, token, soql).await;
    assert_eq!(result.status, 200, "{soql}: {}", result.body);
    result.body["records"][0]["Id"]
        .as_str()
        .unwrap_or_else(|| panic!("{soql} returned no rows"))
        .to_string()
}

/// A client (client-credentials flow) for the emulator's integration user.
pub fn client(emulator: &EmulatorHandle) -> sf_access::salesforce::Client {
    use sf_access::salesforce::{Client, ClientConfig, Credentials, Instance};
    let c = emulator.credentials();
    let instance = Instance::parse(emulator.instance_url()).expect("loopback instance URL");
    let credentials = Credentials::ClientCredentials {
        client_id: c.client_id.clone(),
        client_secret: sf_access::secret::Secret::new(c.client_secret.clone()),
    };
    Client::new(ClientConfig::new(instance, credentials)).expect("client builds")
}

/// Write calls the emulator has seen since the last `reset_stats`: sObject and composite
/// requests (provisioning reads only through queries, so these are its writes).
pub fn write_calls(emulator: &EmulatorHandle) -> u64 {
    let stats = emulator.stats();
    ["sobjects", "composite"]
        .iter()
        .map(|e| stats.requests_by_endpoint.get(*e).copied().unwrap_or(0))
        .sum()
}

/// The value of `field` of record `id` in the emulated org, as JSON.
pub fn field_of(emulator: &EmulatorHandle, id: &str, field: &str) -> Value {
    let id = sf_access::salesforce::SfId::parse(id).expect("valid id");
    let org = emulator.org().read().expect("org lock");
    org.value(&id, field)
        .map(|v| v.to_json())
        .unwrap_or(Value::Null)
}

/// The IDs of the rows of `object` whose fields equal the given values.
pub fn rows_where(
    emulator: &EmulatorHandle,
    object: &str,
    conditions: &[(&str, Value)],
) -> Vec<String> {
    let org = emulator.org().read().expect("org lock");
    let table = org.table(object).expect("known object");
    table
        .rows
        .values()
        .filter(|record| {
            conditions.iter().all(|(field, wanted)| {
                table
                    .value(record, field)
                    .map(|v| v.to_json())
                    .unwrap_or(Value::Null)
                    == *wanted
            })
        })
        .map(|record| record.id().to_string())
        .collect()
}

/// Syncs the emulator's org into the store at `path` (client credentials, no progress).
pub async fn sync_into(
    emulator: &EmulatorHandle,
    path: &std::path::Path,
    options: &sf_access::sync::SyncOptions,
) -> Result<sf_access::sync::SyncReport, sf_access::sync::SyncError> {
    sf_access::sync::run(
        &client(emulator),
        &sf_access::sync::StoreTarget::new(path),
        options,
        &sf_access::sync::Quiet,
        std::future::pending(),
    )
    .await
}

/// The jsonl export of the latest good run of the store at `path`.
pub fn jsonl(path: &std::path::Path) -> String {
    use sf_access::store::{ExportFormat, Store, export};
    let store = Store::open_existing(path).expect("store opens");
    let run = store.readable_run(None).expect("a good run");
    let mut out = Vec::new();
    export(&store, run.id, ExportFormat::Jsonl, &mut out).expect("export");
    String::from_utf8(out).expect("UTF-8")
}

/// A response's headers by lower-case name (a value that is not text reads as "").
pub fn header_map(response: &reqwest::Response) -> HashMap<String, String> {
    response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect()
}
