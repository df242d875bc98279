//! `sf-access serve` over real HTTP against the emulator: authentication on every route,
//! every endpoint's success and error answers (each validated against the component schemas
//! of `schemas/openapi.json`), syncs one at a time, paging, writes with and without
//! `--provisioning`, idempotency keys, readiness, metrics, limits, TLS, the binary's start-up
//! checks and SIGTERM during a grant, and the automation example.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sf_access::emulator::EmulatorHandle;
use sf_access::emulator::faults::FaultSpec;
use sf_access::provision::{AuditLog, Provisioner};
use sf_access::salesforce::{Client, ClientConfig, Credentials, Instance};
use sf_access::secret::Secret;
use sf_access::serve::{self, ApiTokens, Limits, RunningService, ServeConfig, ServiceInfo};
use sf_access::sync::{StoreTarget, SyncOptions};

use crate::support::*;

const TOKEN: &str = "test-token-0123456789abcdef";
const OLD_TOKEN: &str = "old-token-abcdef0123456789";
const OPENAPI_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json");

// The small org's cast (seed 1), see `emulator::generate`.
const SALES_REP: &str = "user:0055g0000000004AAA";
const REPORT_BUILDER: &str = "permission:0PS5g000000000KGAQ:assigned";
const SALES_OPERATIONS: &str = "permission:0PS5g000000000JGAQ:assigned";

fn grant_id(entitlement: &str, principal: &str) -> String {
    format!("{entitlement}:{principal}")
}

// ---------------------------------------------------------------------------------------------
// The harness.

/// How to start a service.
struct Options {
    provisioning: bool,
    limits: Limits,
    faults: FaultSpec,
    insecure: bool,
    tls: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            provisioning: false,
            limits: Limits {
                // Readiness tests break auth and ask again at once.
                ready_cache: Duration::ZERO,
                ..Limits::default()
            },
            faults: FaultSpec::default(),
            insecure: false,
            tls: false,
        }
    }
}

/// A service in this process, on a free port, beside an emulator.
struct Harness {
    emulator: EmulatorHandle,
    service: Option<RunningService>,
    base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

/// An answer: status, headers, the body as JSON (`Value::String` for non-JSON text).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn client_config(emulator: &EmulatorHandle) -> ClientConfig {
    let c = emulator.credentials();
    ClientConfig::new(
        Instance::parse(&c.instance_url).expect("emulator URL parses"),
        Credentials::ClientCredentials {
            client_id: c.client_id.clone(),
            client_secret: Secret::new(c.client_secret.clone()),
        },
    )
}

impl Harness {
    async fn start(options: Options) -> Harness {
        let emulator = small().await;
        emulator.set_faults(options.faults.clone());
        let dir = tempfile::tempdir().expect("temp dir");
        let store = dir.path().join("sf-access.db");
        let audit = AuditLog::open(dir.path().join("audit.jsonl")).expect("audit log opens");
        let provisioner = Provisioner::new(Client::new(client_config(&emulator)).expect("client"))
            .with_provisioning(options.provisioning)
            .with_audit_log(Arc::new(audit));
        let sync_options = SyncOptions::default();
        let sync = serve::library_sync(
            client_config(&emulator),
            StoreTarget::new(&store),
            sync_options,
        );
        let mut tokens = ApiTokens::new();
        tokens
            .add_text(&format!("{TOKEN}\n{OLD_TOKEN}"), "test")
            .expect("tokens");
        let tls = options.tls.then(|| write_self_signed(dir.path()));
        let config = ServeConfig {
            store,
            tokens: (!options.insecure).then_some(tokens),
            limits: options.limits,
            info: ServiceInfo {
                provisioning: options.provisioning,
                sync_interval: None,
                sync_options: sync_options.to_json(),
                synced_types: sync_options.resource_types().iter().map(|t| t.id).collect(),
            },
            tls: tls.clone(),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let service = serve::start(config, provisioner, sync, listener)
            .await
            .expect("service starts");
        let scheme = if options.tls { "https" } else { "http" };
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(60));
        if let Some(files) = &tls {
            let pem = std::fs::read(&files.cert).expect("cert");
            http = http.add_root_certificate(
                reqwest::Certificate::from_pem(&pem).expect("certificate parses"),
            );
        }
        Harness {
            base: format!("{scheme}://localhost:{}", service.local_addr().port()),
            emulator,
            service: Some(service),
            http: http.build().expect("http client"),
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the current token.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_with(
            method,
            path,
            body,
            &[("authorization", &format!("Bearer {TOKEN}"))],
        )
        .await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("the service answers")).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    /// Starts a sync and waits until it ends; returns its final status.
    async fn sync(&self) -> Value {
        let started = self.call(Method::POST, "/v1/syncs", None).await;
        assert_eq!(started.status, 202, "{:?}", started.body);
        let id = started.body["id"].as_str().expect("sync id").to_owned();
        self.wait_for_sync(&id).await
    }

    async fn wait_for_sync(&self, id: &str) -> Value {
        for _ in 0..600 {
            let status = self.get(&format!("/v1/syncs/{id}")).await;
            assert_eq!(status.status, 200, "{:?}", status.body);
            if status.body["status"] != "running" {
                return status.body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sync {id} did not finish in 30 seconds");
    }

    fn audit_lines(&self) -> Vec<Value> {
        read_audit(&self.dir.path().join("audit.jsonl"))
    }

    /// Shuts the service down gracefully; returns the directory of the store and the audit
    /// log, which outlive it.
    async fn stop(mut self) -> tempfile::TempDir {
        if let Some(service) = self.service.take() {
            service.shutdown().await;
        }
        self.dir
    }
}

fn read_audit(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect()
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body reads");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// A self-signed certificate for localhost, written to `dir`.
fn write_self_signed(dir: &Path) -> serve::TlsFiles {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("certificate generates");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert written");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key written");
    serve::TlsFiles { cert, key }
}

// ---------------------------------------------------------------------------------------------
// Schemas.

fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(&std::fs::read_to_string(OPENAPI_PATH).expect("openapi.json reads"))
            .expect("openapi.json is JSON")
    })
}

/// A validator of one component schema: the components become `$defs` of one root, so their
/// `#/components/schemas/X` references resolve (and the embedded record schemas keep their
/// own `$id`, so their internal references resolve within them).
fn validator(name: &str) -> jsonschema::Validator {
    let schemas = serde_json::to_string(&openapi()["components"]["schemas"])
        .expect("schemas serialize")
        .replace("#/components/schemas/", "#/$defs/");
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": serde_json::from_str::<Value>(&schemas).expect("JSON"),
        "$ref": format!("#/$defs/{name}"),
    });
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("component {name} compiles: {e}"))
}

/// Asserts `body` validates against the component `name`.
fn assert_schema(name: &str, body: &Value) {
    let validator = validator(name);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the body does not fit {name}: {errors:#?}\n{body:#}"
    );
}

/// Asserts an error answer: status, code, the error schema, and a request id header.
fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        (answer.status, answer.code()),
        (status, code),
        "{:#}",
        answer.body
    );
    assert_schema("Error", &answer.body);
    assert!(answer.header("x-request-id").is_some());
}

// ---------------------------------------------------------------------------------------------
// Authentication and the contract.

/// A concrete path for a route template.
fn concrete(path: &str) -> String {
    path.replace("{name}", "freeze_user")
        .replace("{id}", "sync-0")
        .replace("{grant_id}", &grant_id(REPORT_BUILDER, SALES_REP))
}

#[tokio::test]
async fn every_route_answers_401_without_a_valid_token() {
    let h = Harness::start(Options::default()).await;
    let bad_headers: [&[(&str, &str)]; 4] = [
        &[],
        &[("authorization", "Bearer not-a-valid-token-at-all")],
        &[("authorization", "Basic dGVzdDp0ZXN0")],
        &[("authorization", TOKEN)],
    ];
    for (method, path) in serve::ROUTES {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        for headers in bad_headers {
            let body = (method == Method::POST).then(|| json!({}));
            let a = h
                .call_with(method.clone(), &concrete(path), body, headers)
                .await;
            assert_error(&a, 401, "unauthorized");
            assert_eq!(
                a.header("www-authenticate"),
                Some("Bearer realm=\"sf-access\"")
            );
        }
    }
    // Unknown paths too: a caller without a token learns nothing about the routes.
    let a = h
        .call_with(Method::GET, "/v1/nothing-here", None, &[])
        .await;
    assert_error(&a, 401, "unauthorized");
    // Both configured tokens work (rotation).
    for token in [TOKEN, OLD_TOKEN] {
        let a = h
            .call_with(
                Method::GET,
                "/healthz",
                None,
                &[("authorization", &format!("Bearer {token}"))],
            )
            .await;
        assert_eq!(a.status, 200);
    }
    h.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_served_covers_every_route_and_embeds_the_record_schemas() {
    let h = Harness::start(Options::default()).await;
    let served = h.get("/v1/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(
        &served.body,
        openapi(),
        "the served document is schemas/openapi.json"
    );
    assert_eq!(openapi()["openapi"], "3.1.0");

    let documented: BTreeSet<(String, String)> = openapi()["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = serve::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, routed, "openapi.json and the router disagree");

    for (component, file) in [
        ("Resource", "resource"),
        ("Entitlement", "entitlement"),
        ("Grant", "grant"),
    ] {
        let path = format!("{}/schemas/{file}.json", env!("CARGO_MANIFEST_DIR"));
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("reads")).expect("JSON");
        assert_eq!(
            openapi()["components"]["schemas"][component],
            schema,
            "components.schemas.{component} must be a copy of schemas/{file}.json"
        );
    }
    // Every component compiles.
    for name in openapi()["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
    {
        validator(name);
    }
    h.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_when_valid_and_generated_otherwise() {
    let h = Harness::start(Options::default()).await;
    let auth = format!("Bearer {TOKEN}");
    let a = h
        .call_with(
            Method::GET,
            "/healthz",
            None,
            &[("authorization", &auth), ("x-request-id", "ticket-42")],
        )
        .await;
    assert_eq!(a.header("x-request-id"), Some("ticket-42"));
    let a = h
        .call_with(
            Method::GET,
            "/healthz",
            None,
            &[("authorization", &auth), ("x-request-id", "bad id\"")],
        )
        .await;
    let generated = a.header("x-request-id").expect("an id");
    assert!(generated.starts_with("sfa-"), "{generated}");
    let a = h.call_with(Method::GET, "/healthz", None, &[]).await;
    assert!(
        a.header("x-request-id").is_some(),
        "401 answers carry an id too"
    );
    h.stop().await;
}

#[tokio::test]
async fn catalog_endpoints_describe_types_entitlements_and_actions() {
    let h = Harness::start(Options::default()).await;
    let health = h.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_schema("Health", &health.body);

    let caps = h.get("/v1/capabilities").await;
    assert_eq!(caps.status, 200);
    assert_schema("Capabilities", &caps.body);
    assert_eq!(caps.body["provisioning"], false);
    assert_eq!(
        caps.body["actions"],
        json!(["freeze_user", "unfreeze_user", "update_user_status"])
    );

    let types = h.get("/v1/resource-types").await;
    assert_eq!(types.status, 200);
    assert_schema("ResourceTypeList", &types.body);
    let by_id: BTreeMap<&str, &Value> = types.body["resource_types"]
        .as_array()
        .expect("array")
        .iter()
        .map(|t| (t["id"].as_str().expect("id"), t))
        .collect();
    assert_eq!(by_id.len(), 8);
    assert_eq!(
        by_id["permission"]["entitlements"][0]["provisionable"],
        true
    );
    assert_eq!(
        by_id["connected_application"]["entitlements"][0]["provisionable"],
        false
    );
    assert_eq!(
        by_id["connected_application"]["synced"], false,
        "not without --sync-connected-apps"
    );
    assert_eq!(by_id["user"]["account_creation"], true);

    let actions = h.get("/v1/actions").await;
    assert_eq!(actions.status, 200);
    assert_schema("ActionList", &actions.body);
    assert_eq!(actions.body["actions"][0]["args_schema"]["type"], "object");
    h.stop().await;
}

#[tokio::test]
async fn routing_and_body_errors_have_stable_codes() {
    let mut options = Options::default();
    options.limits.body_bytes = 1024;
    options.provisioning = true;
    let h = Harness::start(options).await;
    assert_error(&h.get("/v1/nothing").await, 404, "unknown_endpoint");
    assert_error(
        &h.call(Method::PUT, "/v1/grants", None).await,
        405,
        "method_not_allowed",
    );
    let big = json!({"entitlement_id": "x".repeat(4096), "principal_id": SALES_REP});
    assert_error(
        &h.call(Method::POST, "/v1/grants", Some(big)).await,
        413,
        "body_too_large",
    );
    let auth = format!("Bearer {TOKEN}");
    let a = h
        .call_with(
            Method::POST,
            "/v1/grants",
            None,
            &[("authorization", &auth), ("content-type", "text/plain")],
        )
        .await;
    assert_error(&a, 415, "unsupported_media_type");
    let a = h
        .call(
            Method::POST,
            "/v1/grants",
            Some(json!({"entitlement_id": REPORT_BUILDER})),
        )
        .await;
    assert_error(&a, 400, "invalid_body");
    let a = h
        .call(
            Method::POST,
            "/v1/grants",
            Some(json!({"entitlement_id": REPORT_BUILDER, "principal_id": "user:005' OR '1'='1"})),
        )
        .await;
    assert_error(&a, 400, "invalid_argument");
    assert_error(
        &h.get("/v1/grants?entitlement=x").await,
        400,
        "invalid_parameter",
    );
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Syncs and listings.

#[tokio::test]
async fn a_sync_runs_in_the_background_and_reports_progress_counts_and_api_calls() {
    let h = Harness::start(Options::default()).await;
    assert_error(&h.get("/v1/syncs/latest").await, 404, "sync_not_found");
    assert_error(&h.get("/v1/grants").await, 409, "no_successful_sync");

    let started = h.call(Method::POST, "/v1/syncs", None).await;
    assert_eq!(started.status, 202, "{:#}", started.body);
    assert_schema("SyncStatus", &started.body);
    let id = started.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        started.header("location"),
        Some(format!("/v1/syncs/{id}").as_str())
    );
    assert_eq!(
        started.body["request_id"].as_str(),
        started.header("x-request-id")
    );

    let done = h.wait_for_sync(&id).await;
    assert_schema("SyncStatus", &done);
    assert_eq!(done["status"], "succeeded", "{done:#}");
    assert!(done["counts"]["grants"].as_u64().expect("grants") > 0);
    assert!(done["api_calls"]["total"].as_u64().expect("calls") > 0);
    let objects = done["objects"].as_array().expect("objects");
    assert!(
        objects
            .iter()
            .any(|o| o["object"] == "User" && o["state"] == "done")
    );
    assert!(objects.iter().all(|o| o["state"] == "done"), "{done:#}");

    let latest = h.get("/v1/syncs/latest").await;
    assert_eq!(latest.body, done);
    assert_error(
        &h.get("/v1/syncs/sync-unknown").await,
        404,
        "sync_not_found",
    );

    let grants = h.get("/v1/grants").await;
    assert_eq!(grants.status, 200);
    assert_eq!(grants.body["sync_run_id"], done["run_id"]);
    h.stop().await;
}

#[tokio::test]
async fn a_second_sync_is_refused_while_one_runs() {
    let h = Harness::start(Options {
        faults: FaultSpec::parse("latency=150ms").expect("faults"),
        ..Options::default()
    })
    .await;
    let first = h.call(Method::POST, "/v1/syncs", None).await;
    assert_eq!(first.status, 202);
    let id = first.body["id"].as_str().expect("id").to_owned();
    let second = h.call(Method::POST, "/v1/syncs", None).await;
    assert_error(&second, 409, "sync_in_progress");
    assert_eq!(second.body["error"]["running_id"], id.as_str());
    let running = h.get(&format!("/v1/syncs/{id}")).await;
    assert_eq!(running.body["status"], "running");
    assert_schema("SyncStatus", &running.body);
    assert_eq!(h.wait_for_sync(&id).await["status"], "succeeded");
    // Once it is done, the next one may start.
    assert_eq!(h.call(Method::POST, "/v1/syncs", None).await.status, 202);
    h.stop().await;
}

#[tokio::test]
async fn shutdown_during_a_sync_interrupts_it_and_keeps_the_last_good_run() {
    let h = Harness::start(Options::default()).await;
    let good = h.sync().await;
    h.emulator
        .set_faults(FaultSpec::parse("latency=200ms").expect("faults"));
    let started = h.call(Method::POST, "/v1/syncs", None).await;
    assert_eq!(started.status, 202);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let dir = h.stop().await;
    let store = sf_access::store::Store::open_existing(dir.path().join("sf-access.db"))
        .expect("the store opens after shutdown");
    let latest = store.latest_run().expect("reads").expect("a good run");
    assert_eq!(
        json!(latest.id),
        good["run_id"],
        "the interrupted run never replaces the good one"
    );
    let runs = store.runs().expect("runs");
    let interrupted = &runs[0];
    assert_eq!(interrupted.status, sf_access::store::RunStatus::Failed);
    assert!(
        interrupted
            .error
            .as_deref()
            .is_some_and(|e| e.contains("interrupted")),
        "{interrupted:?}"
    );
}

/// Every record of a listing, following next_page_token.
async fn list_all(h: &Harness, kind: &str, query: &str, page_size: usize) -> Vec<Value> {
    let schema = match kind {
        "resources" => "ResourcePage",
        "entitlements" => "EntitlementPage",
        _ => "GrantPage",
    };
    let mut records = Vec::new();
    let mut token: Option<String> = None;
    let mut first = true;
    loop {
        let mut path = format!("/v1/{kind}?page_size={page_size}{query}");
        if let Some(t) = &token {
            path.push_str(&format!("&page_token={t}"));
        }
        let page = h.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {:#}", page.body);
        if first {
            assert_schema(schema, &page.body);
            first = false;
        }
        let items = page.body[kind].as_array().expect("items");
        assert!(items.len() <= page_size.min(serve::MAX_PAGE_SIZE));
        records.extend(items.iter().cloned());
        match page.body["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    records
}

#[tokio::test]
async fn paging_returns_every_grant_exactly_once_for_page_sizes_1_7_and_the_max() {
    let h = Harness::start(Options::default()).await;
    let done = h.sync().await;
    let total = done["counts"]["grants"].as_u64().expect("grant count") as usize;
    let mut listings = Vec::new();
    for size in [1, 7, serve::MAX_PAGE_SIZE, 1_000_000] {
        let grants = list_all(&h, "grants", "", size).await;
        let ids: Vec<&str> = grants
            .iter()
            .map(|g| g["id"].as_str().expect("id"))
            .collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "page size {size}: a grant came twice"
        );
        assert_eq!(ids.len(), total, "page size {size}: grants missing");
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "grants come in id order");
        listings.push(grants);
    }
    assert!(listings.windows(2).all(|w| w[0] == w[1]));
    for grant in &listings[0] {
        assert_schema("Grant", grant);
    }
    h.stop().await;
}

#[tokio::test]
async fn listings_filter_and_refuse_bad_parameters_and_tokens() {
    let h = Harness::start(Options::default()).await;
    h.sync().await;
    let users = list_all(&h, "resources", "&type=user", 500).await;
    assert!(!users.is_empty());
    assert!(users.iter().all(|u| u["resource_type"] == "user"));
    for user in users.iter().take(3) {
        assert_schema("Resource", user);
    }
    let roles = list_all(&h, "resources", "&type=role", 500).await;
    let role = roles[0]["id"].as_str().expect("role id");
    let entitlements = list_all(&h, "entitlements", &format!("&resource_id={role}"), 500).await;
    assert_eq!(entitlements.len(), 1);
    assert_schema("Entitlement", &entitlements[0]);
    let entitlement = entitlements[0]["id"].as_str().expect("id").to_owned();
    let of_entitlement =
        list_all(&h, "grants", &format!("&entitlement_id={entitlement}"), 500).await;
    assert!(
        of_entitlement
            .iter()
            .all(|g| g["entitlement_id"] == entitlement.as_str())
    );
    let of_user = list_all(&h, "grants", &format!("&principal_id={SALES_REP}"), 500).await;
    assert!(!of_user.is_empty());
    assert!(of_user.iter().all(|g| g["principal_id"] == SALES_REP));

    assert_error(
        &h.get("/v1/resources?type=widget").await,
        400,
        "invalid_parameter",
    );
    assert_error(
        &h.get("/v1/resources?page_size=0").await,
        400,
        "invalid_parameter",
    );
    assert_error(
        &h.get("/v1/grants?principal_id=user:123").await,
        400,
        "invalid_parameter",
    );
    assert_error(
        &h.get("/v1/grants?page_token=garbage").await,
        400,
        "invalid_page_token",
    );
    let first = h.get("/v1/grants?page_size=2").await;
    let token = first.body["next_page_token"].as_str().expect("a next page");
    assert_error(
        &h.get(&format!("/v1/resources?page_token={token}")).await,
        400,
        "invalid_page_token",
    );
    assert_error(
        &h.get(&format!(
            "/v1/grants?principal_id={SALES_REP}&page_token={token}"
        ))
        .await,
        400,
        "invalid_page_token",
    );
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Writes.

#[tokio::test]
async fn writes_are_refused_with_403_without_provisioning_and_dry_runs_still_work() {
    let h = Harness::start(Options::default()).await;
    let id = grant_id(REPORT_BUILDER, SALES_REP);
    let writes = [
        (
            Method::POST,
            "/v1/grants".to_owned(),
            Some(json!({"entitlement_id": REPORT_BUILDER, "principal_id": SALES_REP})),
        ),
        (Method::DELETE, format!("/v1/grants/{id}"), None),
        (
            Method::POST,
            "/v1/accounts".to_owned(),
            Some(
                json!({"email": "new.user@example.com", "first_name": "New", "last_name": "User", "profile": "Standard User"}),
            ),
        ),
        (
            Method::POST,
            "/v1/actions/freeze_user".to_owned(),
            Some(json!({"args": {"resource_id": SALES_REP}})),
        ),
    ];
    for (method, path, body) in writes {
        let a = h.call(method, &path, body).await;
        assert_error(&a, 403, "provisioning_disabled");
        assert!(
            a.body["error"]["hint"]
                .as_str()
                .expect("hint")
                .contains("--provisioning")
        );
    }
    // The refusals are audited with the request ids, as the CLI's are.
    let audit = h.audit_lines();
    assert_eq!(audit.len(), 4, "{audit:#?}");
    assert!(audit.iter().all(|l| {
        l["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("sfa-"))
    }));

    let dry = h
        .call(Method::POST, "/v1/grants", Some(json!({"entitlement_id": REPORT_BUILDER, "principal_id": SALES_REP, "dry_run": true})))
        .await;
    assert_eq!(dry.status, 200, "{:#}", dry.body);
    assert_schema("GrantReport", &dry.body);
    assert_eq!(dry.body["dry_run"], true);
    h.stop().await;
}

#[tokio::test]
async fn grant_and_revoke_report_outcomes_and_audit_the_request_id() {
    let h = Harness::start(Options {
        provisioning: true,
        ..Options::default()
    })
    .await;
    let body = json!({"entitlement_id": REPORT_BUILDER, "principal_id": SALES_REP});
    let auth = format!("Bearer {TOKEN}");
    let id = grant_id(REPORT_BUILDER, SALES_REP);
    // Start from "not granted" whatever the org holds.
    h.call(Method::DELETE, &format!("/v1/grants/{id}"), None)
        .await;

    let granted = h
        .call_with(
            Method::POST,
            "/v1/grants",
            Some(body.clone()),
            &[("authorization", &auth), ("x-request-id", "ticket-7")],
        )
        .await;
    assert_eq!(granted.status, 200, "{:#}", granted.body);
    assert_schema("GrantReport", &granted.body);
    assert_eq!(granted.body["outcome"], "granted");
    assert_eq!(granted.body["request_id"], "ticket-7");
    assert_eq!(granted.body["grant"]["id"], id.as_str());
    assert_eq!(
        h.call(Method::POST, "/v1/grants", Some(body)).await.body["outcome"],
        "already_exists"
    );

    let revoked = h
        .call(Method::DELETE, &format!("/v1/grants/{id}"), None)
        .await;
    assert_eq!(revoked.status, 200, "{:#}", revoked.body);
    assert_schema("GrantReport", &revoked.body);
    assert_eq!(revoked.body["outcome"], "revoked");
    let again = h
        .call(
            Method::DELETE,
            &format!("/v1/grants/{id}?dry_run=false"),
            None,
        )
        .await;
    assert_eq!(again.body["outcome"], "already_revoked");

    let missing_user = h
        .call(
            Method::POST,
            "/v1/grants",
            Some(json!({"entitlement_id": REPORT_BUILDER, "principal_id": "user:005000000000001"})),
        )
        .await;
    assert_error(&missing_user, 404, "not_found");
    let app_access = h
        .call(Method::POST, "/v1/grants", Some(json!({"entitlement_id": "connected_application:0H4000000000001:access", "principal_id": SALES_REP})))
        .await;
    assert_error(&app_access, 422, "not_provisionable");

    let audit = h.audit_lines();
    let line = audit
        .iter()
        .find(|l| l["request_id"] == "ticket-7")
        .expect("the grant's audit line carries the request id");
    assert_eq!(line["operation"], "grant");
    assert_error(
        &h.call(Method::DELETE, "/v1/grants/not-a-grant", None).await,
        400,
        "invalid_parameter",
    );
    assert_error(
        &h.call(
            Method::DELETE,
            &format!("/v1/grants/{id}?dry_run=maybe"),
            None,
        )
        .await,
        400,
        "invalid_parameter",
    );
    h.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_result() {
    let h = Harness::start(Options {
        provisioning: true,
        ..Options::default()
    })
    .await;
    let id = grant_id(SALES_OPERATIONS, SALES_REP);
    h.call(Method::DELETE, &format!("/v1/grants/{id}"), None)
        .await;
    let auth = format!("Bearer {TOKEN}");
    let body = json!({"entitlement_id": SALES_OPERATIONS, "principal_id": SALES_REP});
    let with_key = |key: &'static str, body: Value| {
        let auth = auth.clone();
        let h = &h;
        async move {
            h.call_with(
                Method::POST,
                "/v1/grants",
                Some(body),
                &[("authorization", &auth), ("idempotency-key", key)],
            )
            .await
        }
    };
    let first = with_key("key-1", body.clone()).await;
    assert_eq!(first.body["outcome"], "granted", "{:#}", first.body);
    assert!(first.header("idempotent-replayed").is_none());
    let retry = with_key("key-1", body.clone()).await;
    assert_eq!(retry.status, 200);
    assert_eq!(
        retry.body, first.body,
        "the retry gets the first answer, not already_exists"
    );
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    // Without the key the same request runs again and finds the grant.
    assert_eq!(
        h.call(Method::POST, "/v1/grants", Some(body)).await.body["outcome"],
        "already_exists"
    );
    let other = with_key(
        "key-1",
        json!({"entitlement_id": REPORT_BUILDER, "principal_id": SALES_REP}),
    )
    .await;
    assert_error(&other, 422, "idempotency_key_reused");
    let a = h
        .call_with(
            Method::POST,
            "/v1/grants",
            Some(json!({"entitlement_id": REPORT_BUILDER, "principal_id": SALES_REP, "dry_run": true})),
            &[("authorization", &auth), ("idempotency-key", "has space")],
        )
        .await;
    assert_error(&a, 400, "invalid_idempotency_key");
    // Only the first attempt was written to Salesforce and audited.
    let granted = h
        .audit_lines()
        .iter()
        .filter(|l| l["outcome"] == "granted")
        .count();
    assert_eq!(granted, 1, "{:#?}", h.audit_lines());
    h.stop().await;
}

#[tokio::test]
async fn accounts_and_actions_run_through_the_library() {
    let h = Harness::start(Options {
        provisioning: true,
        ..Options::default()
    })
    .await;
    let account = json!({
        "email": "serve.created@example.com",
        "first_name": "Serve",
        "last_name": "Created",
        "profile": "Standard User",
    });
    let created = h
        .call(Method::POST, "/v1/accounts", Some(account.clone()))
        .await;
    assert_eq!(created.status, 200, "{:#}", created.body);
    assert_schema("AccountReport", &created.body);
    assert_eq!(created.body["outcome"], "created");
    assert_eq!(
        h.call(Method::POST, "/v1/accounts", Some(account))
            .await
            .body["outcome"],
        "already_exists"
    );
    let bad = h
        .call(Method::POST, "/v1/accounts", Some(json!({"email": "x@example.com", "last_name": "X", "profile": "Standard User", "alias": "much-too-long"})))
        .await;
    assert_error(&bad, 400, "invalid_argument");

    let frozen = h
        .call(
            Method::POST,
            "/v1/actions/freeze_user",
            Some(json!({"args": {"resource_id": SALES_REP}})),
        )
        .await;
    assert_eq!(frozen.status, 200, "{:#}", frozen.body);
    assert_schema("ActionReport", &frozen.body);
    assert_eq!(frozen.body["action"], "freeze_user");
    let unfrozen = h
        .call(
            Method::POST,
            "/v1/actions/unfreeze_user",
            Some(json!({"args": {"resource_id": SALES_REP}})),
        )
        .await;
    assert_eq!(unfrozen.status, 200, "{:#}", unfrozen.body);
    assert_error(
        &h.call(
            Method::POST,
            "/v1/actions/delete_org",
            Some(json!({"args": {}})),
        )
        .await,
        404,
        "unknown_action",
    );
    assert_error(
        &h.call(
            Method::POST,
            "/v1/actions/freeze_user",
            Some(json!({"args": {"resource_id": 7}})),
        )
        .await,
        400,
        "invalid_arguments",
    );
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Operations.

#[tokio::test]
async fn readiness_fails_when_salesforce_authentication_fails() {
    let h = Harness::start(Options::default()).await;
    let ready = h.get("/readyz").await;
    assert_eq!(ready.status, 200, "{:#}", ready.body);
    assert_schema("Readiness", &ready.body);
    assert_eq!(ready.body["status"], "ready");

    h.emulator
        .org()
        .write()
        .expect("org lock")
        .settings
        .login_ip_restricted = true;
    h.emulator.expire_all_tokens();
    let not_ready = h.get("/readyz").await;
    assert_eq!(not_ready.status, 503, "{:#}", not_ready.body);
    assert_schema("Readiness", &not_ready.body);
    assert_eq!(not_ready.body["checks"]["store"]["ok"], true);
    assert_eq!(
        not_ready.body["checks"]["salesforce"]["code"],
        "salesforce_auth_failed"
    );
    assert!(
        !not_ready
            .body
            .to_string()
            .contains(&h.emulator.credentials().client_secret),
        "no secret in the answer"
    );

    h.emulator
        .org()
        .write()
        .expect("org lock")
        .settings
        .login_ip_restricted = false;
    assert_eq!(h.get("/readyz").await.status, 200, "readiness recovers");
    h.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_syncs_api_calls_and_errors() {
    let h = Harness::start(Options::default()).await;
    h.sync().await;
    h.get("/v1/nothing").await;
    let metrics = h.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    let text = metrics.body.as_str().expect("text");
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a number")
    };
    assert_eq!(
        value("sf_access_sync_runs_total{trigger=\"api\",status=\"succeeded\"}"),
        1.0
    );
    assert_eq!(value("sf_access_sync_duration_seconds_count"), 1.0);
    assert!(value("sf_access_salesforce_api_calls_total") >= 10.0);
    assert!(value("sf_access_salesforce_daily_api_requests_remaining") > 0.0);
    assert_eq!(
        value("sf_access_errors_total{code=\"unknown_endpoint\"}"),
        1.0
    );
    assert!(
        value("sf_access_http_requests_total{method=\"POST\",route=\"/v1/syncs\",status=\"202\"}")
            >= 1.0
    );
    assert!(!text.contains(TOKEN));
    h.stop().await;
}

#[tokio::test]
async fn requests_over_the_concurrency_cap_are_answered_503() {
    let mut options = Options {
        provisioning: true,
        faults: FaultSpec::parse("latency=700ms").expect("faults"),
        ..Options::default()
    };
    options.limits.max_concurrent = 1;
    let h = Harness::start(options).await;
    let slow = h.call(
        Method::POST,
        "/v1/grants",
        Some(json!({"entitlement_id": REPORT_BUILDER, "principal_id": SALES_REP, "dry_run": true})),
    );
    let probe = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.get("/healthz").await
    };
    let (slow, probe) = tokio::join!(slow, probe);
    assert_eq!(slow.status, 200, "{:#}", slow.body);
    assert_error(&probe, 503, "overloaded");
    assert_eq!(probe.header("retry-after"), Some("1"));
    h.stop().await;
}

#[tokio::test]
async fn the_request_timeout_answers_504_and_the_write_still_finishes() {
    let mut options = Options {
        provisioning: true,
        faults: FaultSpec::parse("latency=300ms").expect("faults"),
        ..Options::default()
    };
    options.limits.request_timeout = Duration::from_millis(200);
    let h = Harness::start(options).await;
    let id = grant_id(REPORT_BUILDER, SALES_REP);
    let a = h
        .call(Method::DELETE, &format!("/v1/grants/{id}"), None)
        .await;
    assert_error(&a, 504, "timeout");
    assert!(
        a.body["error"]["hint"]
            .as_str()
            .expect("hint")
            .contains("Idempotency-Key")
    );
    // Shutdown waits for the write, which is then in the audit log.
    let dir = h.stop().await;
    let audit = read_audit(&dir.path().join("audit.jsonl"));
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["operation"], "revoke");
}

#[tokio::test]
async fn the_service_serves_https_with_the_given_certificate() {
    let h = Harness::start(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    assert!(h.base.starts_with("https://"));
    assert_eq!(h.get("/healthz").await.status, 200);
    h.stop().await;
}

#[tokio::test]
async fn insecure_no_auth_serves_without_a_token() {
    let h = Harness::start(Options {
        insecure: true,
        ..Options::default()
    })
    .await;
    assert_eq!(
        h.call_with(Method::GET, "/v1/capabilities", None, &[])
            .await
            .status,
        200
    );
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The binary.

fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sf-access"));
    command.env_remove("SF_ACCESS_API_TOKENS");
    command
}

#[test]
fn the_binary_refuses_to_start_without_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("x.db");
    let out = binary()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--instance-url",
            "http://127.0.0.1:1",
        ])
        .arg("--file")
        .arg(&db)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-token-file"));
    let out = binary()
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure-no-auth",
            "--instance-url",
            "http://127.0.0.1:1",
        ])
        .arg("--file")
        .arg(&db)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "short\n").expect("written");
    let out = binary()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--instance-url",
            "http://127.0.0.1:1",
        ])
        .arg("--api-token-file")
        .arg(&tokens)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("short\n"));
}

/// A `sf-access serve` process beside an emulator in this process.
struct Process {
    child: std::process::Child,
    base: String,
    lines: std::thread::JoinHandle<Vec<String>>,
}

/// Starts the binary and reads its address from the "Service started." log line. Standard
/// error is a pipe, so the logs are JSON without asking (`--log-format` is not given).
fn spawn_serve(emulator: &EmulatorHandle, dir: &Path, extra: &[&str]) -> Process {
    use std::io::BufRead;
    let c = emulator.credentials();
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, format!("{TOKEN}\n")).expect("tokens written");
    let mut child = binary()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("SF_ACCESS_LOG_FORMAT")
        .arg("--file")
        .arg(dir.join("sf-access.db"))
        .arg("--audit-log")
        .arg(dir.join("audit.jsonl"))
        .arg("--api-token-file")
        .arg(&tokens)
        .args([
            "--instance-url",
            &c.instance_url,
            "--salesforce-client-id",
            &c.client_id,
        ])
        .env("SF_ACCESS_SALESFORCE_CLIENT_SECRET", &c.client_secret)
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == "Service started."
            {
                let _ = sender.send(v["fields"]["listen"].as_str().unwrap_or("").to_owned());
            }
            all.push(line);
        }
        all
    });
    let listen = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the service logs its address");
    Process {
        child,
        base: format!("http://{listen}"),
        lines,
    }
}

#[tokio::test]
async fn sigterm_during_a_grant_finishes_it_and_loses_nothing() {
    let emulator = small().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut process = spawn_serve(&emulator, dir.path(), &["--provisioning"]);
    let http = reqwest::Client::new();
    let auth = format!("Bearer {TOKEN}");
    let id = grant_id(SALES_OPERATIONS, SALES_REP);
    // Start from "not granted".
    let before = http
        .delete(format!("{}/v1/grants/{id}", process.base))
        .header("authorization", &auth)
        .send()
        .await
        .expect("answered");
    assert_eq!(before.status(), 200);

    // Every Salesforce call now takes 500 ms: the grant is in flight when SIGTERM comes.
    emulator.set_faults(FaultSpec::parse("latency=500ms").expect("faults"));
    let request = http
        .post(format!("{}/v1/grants", process.base))
        .header("authorization", &auth)
        .header("x-request-id", "shutdown-grant")
        .json(&json!({"entitlement_id": SALES_OPERATIONS, "principal_id": SALES_REP}))
        .send();
    let pid = process.child.id().to_string();
    let seen = emulator.stats().total_requests;
    let signal = async {
        // SIGTERM once the grant's first Salesforce call arrived (the emulator counts a call
        // before its latency): the grant is in flight, with more calls to make.
        for _ in 0..200 {
            if emulator.stats().total_requests > seen {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };
    let (response, ()) = tokio::join!(request, signal);
    let response = answer(response.expect("the in-flight grant is answered")).await;
    assert_eq!(response.status, 200, "{:#}", response.body);
    assert_eq!(response.body["outcome"], "granted");

    let (exit, logs) = tokio::task::spawn_blocking(move || {
        let exit = process.child.wait().expect("waits");
        (exit, process.lines.join().expect("log reader joins"))
    })
    .await
    .expect("joins");
    assert_eq!(exit.code(), Some(0), "{logs:#?}");
    // Off a terminal the logs are JSON; the request id is in the grant's request line.
    let served = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["span"]["request_id"] == "shutdown-grant"
                && l["fields"]["message"] == "Request served."
        })
        .unwrap_or_else(|| panic!("no request line with the request id in {logs:#?}"));
    assert_eq!(served["fields"]["status"], 200);
    assert!(logs.iter().any(|l| l.contains("Service stopped.")));
    assert!(
        logs.iter().all(|l| !l.contains(TOKEN)),
        "a token was logged"
    );
    let audit = read_audit(&dir.path().join("audit.jsonl"));
    let line = audit
        .iter()
        .find(|l| l["request_id"] == "shutdown-grant")
        .expect("the grant is audited");
    assert_eq!(line["operation"], "grant");

    // Salesforce holds the assignment.
    emulator.set_faults(FaultSpec::default());
    let token = token(&emulator).await;
    let rows = query(
        &emulator,
        &token,
        "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '0055g0000000004AAA' AND PermissionSetId = '0PS5g000000000JGAQ'",
    )
    .await;
    assert_eq!(rows.body["totalSize"], 1, "{:#}", rows.body);
}

// ---------------------------------------------------------------------------------------------
// The automation example.

#[tokio::test]
async fn the_automation_example_syncs_waits_and_revokes_a_grant() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED the_automation_example_syncs_waits_and_revokes_a_grant: curl is not installed"
        );
        return;
    }
    let h = Harness::start(Options {
        provisioning: true,
        ..Options::default()
    })
    .await;
    let id = grant_id(REPORT_BUILDER, SALES_REP);
    let granted = h
        .call(
            Method::POST,
            "/v1/grants",
            Some(json!({"entitlement_id": REPORT_BUILDER, "principal_id": SALES_REP})),
        )
        .await;
    assert_eq!(granted.status, 200, "{:#}", granted.body);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/automation/sync-and-revoke.sh");
    let base = h.base.clone();
    let grant = id.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg(script)
            .env("SF_ACCESS_URL", base)
            .env("SF_ACCESS_TOKEN", TOKEN)
            .env("GRANT_ID", grant)
            .env("POLL_SECONDS", "1")
            .output()
            .expect("the script runs")
    })
    .await
    .expect("joins");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout.trim(), format!("{id}: revoked"));
    assert!(stderr.contains("succeeded"), "{stderr}");
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN));
    let latest = h.get("/v1/syncs/latest").await;
    assert_eq!(latest.body["status"], "succeeded");
    h.stop().await;
}
