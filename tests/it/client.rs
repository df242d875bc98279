//! The Salesforce client against the emulator over real HTTP: the four login flows and their
//! failures, paging, token refresh, retries, limits, writes and TLS.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use sf_access::emulator::faults::FaultSpec;
use sf_access::emulator::{EmulatorConfig, EmulatorHandle};
use sf_access::exit::Exit;
use sf_access::salesforce::error::{AuthFlow, ErrorCategory, LimitError};
use sf_access::salesforce::retry::Backoff;
use sf_access::salesforce::{
    BatchSize, Client, ClientConfig, CollectionRecord, Condition, Credentials, Instance,
    PrivateKey, QueryOptions, SalesforceError, SfId, Soql,
};
use sf_access::secret::Secret;

use crate::support::*;

/// Backoff short enough that retry tests take milliseconds.
fn quick_backoff() -> Backoff {
    Backoff {
        max_attempts: NonZeroU32::new(4).unwrap(),
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    }
}

/// The credentials of `flow` for the emulator's integration user.
fn credentials(emulator: &EmulatorHandle, flow: AuthFlow) -> Credentials {
    let c = emulator.credentials();
    match flow {
        AuthFlow::JwtBearer => {
            let pem = std::fs::read_to_string(&c.private_key_file).expect("key file");
            Credentials::JwtBearer {
                client_id: c.client_id.clone(),
                username: c.username.clone(),
                private_key: PrivateKey::from_pem(&Secret::new(pem), "emulator key")
                    .expect("key parses"),
            }
        }
        AuthFlow::ClientCredentials => Credentials::ClientCredentials {
            client_id: c.client_id.clone(),
            client_secret: Secret::new(c.client_secret.clone()),
        },
        AuthFlow::RefreshToken => Credentials::RefreshToken {
            client_id: c.client_id.clone(),
            client_secret: Some(Secret::new(c.client_secret.clone())),
            refresh_token: Secret::new(c.refresh_token.clone()),
        },
        AuthFlow::UsernamePassword => Credentials::UsernamePassword {
            client_id: c.client_id.clone(),
            client_secret: Secret::new(c.client_secret.clone()),
            username: c.username.clone(),
            password: Secret::new(c.password.clone()),
            security_token: Some(Secret::new(c.security_token.clone())),
        },
    }
}

fn config(emulator: &EmulatorHandle, credentials: Credentials) -> ClientConfig {
    let instance = Instance::parse(emulator.instance_url()).expect("loopback instance URL");
    let mut config = ClientConfig::new(instance, credentials);
    config.backoff = quick_backoff();
    config
}

fn client(emulator: &EmulatorHandle, flow: AuthFlow) -> Client {
    Client::new(config(emulator, credentials(emulator, flow))).expect("client builds")
}

fn integration_user(emulator: &EmulatorHandle) -> SfId {
    emulator.org().read().unwrap().integration.user_id
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserRow {
    id: SfId,
    username: String,
}

fn users_by_id() -> Soql {
    Soql::select("User", ["Id", "Username"])
        .order_by("Id", sf_access::salesforce::soql::Order::Asc)
        .build()
        .unwrap()
}

fn auth_error(result: Result<impl std::fmt::Debug, SalesforceError>) -> SalesforceError {
    let error = result.expect_err("the login fails");
    assert_eq!(error.category(), ErrorCategory::Auth, "{error}");
    assert_eq!(Exit::of_category(error.category()), Exit::Auth);
    error
}

#[tokio::test]
async fn every_auth_flow_logs_in_and_reads_the_integration_user() {
    let emulator = small().await;
    let me = integration_user(&emulator);
    for flow in [
        AuthFlow::JwtBearer,
        AuthFlow::ClientCredentials,
        AuthFlow::RefreshToken,
        AuthFlow::UsernamePassword,
    ] {
        let client = client(&emulator, flow);
        let identity = client
            .authenticate()
            .await
            .unwrap_or_else(|e| panic!("{flow}: {e}"));
        assert_eq!(identity.user_id, me, "{flow}");
        assert_eq!(client.flow(), flow);
        let soql = Soql::select("User", ["Id", "Username"])
            .filter(Condition::eq("Id", me))
            .build()
            .unwrap();
        let rows: Vec<UserRow> = client
            .query_all(&soql, QueryOptions::default())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{flow}");
        assert_eq!(rows[0].username, emulator.credentials().username);
        assert_eq!(
            client.instance_origin().await.unwrap(),
            emulator.instance_url()
        );
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn jwt_audience_may_be_the_login_host_and_a_wrong_one_gets_the_audience_hint() {
    let emulator = small().await;
    let login = emulator.credentials().login_url.clone();
    let with_login = |audience: &str| {
        let instance = Instance::parse(emulator.instance_url())
            .unwrap()
            .with_login_url(audience)
            .unwrap();
        let mut config = ClientConfig::new(instance, credentials(&emulator, AuthFlow::JwtBearer));
        config.backoff = quick_backoff();
        Client::new(config).unwrap()
    };
    with_login(&login)
        .authenticate()
        .await
        .expect("the emulator's login host is a valid audience");
    // The org is production: the sandbox audience is refused.
    let error = auth_error(
        with_login("https://test.salesforce.com")
            .authenticate()
            .await,
    );
    assert!(error.to_string().contains("audience is invalid"), "{error}");
    assert!(error.hint().unwrap().contains("test.salesforce.com"));
    emulator.shutdown().await;
}

#[tokio::test]
async fn each_auth_flow_failing_gets_the_right_hint() {
    let emulator = small().await;
    let c = emulator.credentials().clone();

    // JWT for a user the app does not know.
    let jwt = Credentials::JwtBearer {
        client_id: c.client_id.clone(),
        username: "nobody@example.com".into(),
        private_key: PrivateKey::from_pem(
            &Secret::new(std::fs::read_to_string(&c.private_key_file).unwrap()),
            "emulator key",
        )
        .unwrap(),
    };
    let error = auth_error(
        Client::new(config(&emulator, jwt))
            .unwrap()
            .authenticate()
            .await,
    );
    assert!(
        error
            .hint()
            .unwrap()
            .contains("Approve Uninstalled Connected Apps"),
        "{error}"
    );

    // Client credentials with a wrong secret, an unknown client id, and on the login host.
    let wrong_secret = Credentials::ClientCredentials {
        client_id: c.client_id.clone(),
        client_secret: Secret::new("wrong"),
    };
    let error = auth_error(
        Client::new(config(&emulator, wrong_secret))
            .unwrap()
            .authenticate()
            .await,
    );
    assert!(
        error.hint().unwrap().contains("--salesforce-client-secret"),
        "{error}"
    );
    let wrong_id = Credentials::ClientCredentials {
        client_id: "unknown".into(),
        client_secret: Secret::new(c.client_secret.clone()),
    };
    let error = auth_error(
        Client::new(config(&emulator, wrong_id))
            .unwrap()
            .authenticate()
            .await,
    );
    assert!(
        error.hint().unwrap().contains("--salesforce-client-id"),
        "{error}"
    );
    let mut on_login = config(
        &emulator,
        credentials(&emulator, AuthFlow::ClientCredentials),
    );
    on_login.instance = Instance::parse(&c.login_url).unwrap();
    let error = auth_error(Client::new(on_login).unwrap().authenticate().await);
    assert!(
        error
            .to_string()
            .contains("request not supported on this domain"),
        "{error}"
    );
    assert!(error.hint().unwrap().contains("My Domain"), "{error}");

    // A refresh token that was never issued.
    let unknown_refresh = Credentials::RefreshToken {
        client_id: c.client_id.clone(),
        client_secret: None,
        refresh_token: Secret::new("5Aep-not-issued"),
    };
    let error = auth_error(
        Client::new(config(&emulator, unknown_refresh))
            .unwrap()
            .authenticate()
            .await,
    );
    assert!(
        error.hint().unwrap().contains("new refresh token"),
        "{error}"
    );

    // A password without its security token.
    let no_token = Credentials::UsernamePassword {
        client_id: c.client_id.clone(),
        client_secret: Secret::new(c.client_secret.clone()),
        username: c.username.clone(),
        password: Secret::new(c.password.clone()),
        security_token: None,
    };
    let error = auth_error(
        Client::new(config(&emulator, no_token))
            .unwrap()
            .authenticate()
            .await,
    );
    assert!(error.hint().unwrap().contains("security token"), "{error}");

    // The password flow blocked by the org.
    emulator
        .org()
        .write()
        .unwrap()
        .settings
        .password_flow_enabled = false;
    let error = auth_error(
        client(&emulator, AuthFlow::UsernamePassword)
            .authenticate()
            .await,
    );
    assert!(
        error
            .hint()
            .unwrap()
            .contains("Allow OAuth Username-Password Flows"),
        "{error}"
    );

    // Login IP restrictions refuse every flow.
    emulator.org().write().unwrap().settings.login_ip_restricted = true;
    for flow in [
        AuthFlow::JwtBearer,
        AuthFlow::ClientCredentials,
        AuthFlow::RefreshToken,
    ] {
        let error = auth_error(client(&emulator, flow).authenticate().await);
        let hint = error.hint().unwrap();
        assert!(
            hint.contains("Login IP Ranges") && hint.contains("Lock sessions"),
            "{flow}: {hint}"
        );
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn pager_follows_next_records_url_over_many_pages() {
    let emulator = start(paging_config()).await;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    client.authenticate().await.unwrap();
    emulator.reset_stats();
    let options = QueryOptions {
        batch_size: BatchSize::new(200).unwrap(),
        include_deleted: false,
    };
    let mut pages = Box::pin(client.query_pages::<UserRow>(&users_by_id(), options));
    let mut ids = Vec::new();
    let mut numbers = Vec::new();
    let mut total = 0;
    while let Some(page) = pages.next().await {
        let page = page.expect("page reads");
        assert!(page.records.len() <= 200);
        numbers.push(page.number);
        total = page.total_size;
        ids.extend(page.records.iter().map(|r| r.id));
        if page.is_last {
            assert_eq!(page.number as usize, numbers.len());
        }
    }
    let rows = emulator.stats().rows["User"];
    assert_eq!(total, rows);
    assert_eq!(ids.len() as u64, rows);
    let pages_expected = rows.div_ceil(200);
    assert_eq!(numbers, (1..=pages_expected as u32).collect::<Vec<_>>());
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "no row twice");
    let stats = emulator.stats();
    assert_eq!(
        stats.api_requests, pages_expected,
        "one call per page: {stats:?}"
    );
    assert_eq!(client.usage().calls_made, pages_expected);
    // The default batch of 2,000 needs fewer calls for the same rows.
    let all: Vec<UserRow> = client
        .query_all(&users_by_id(), QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    assert_eq!(
        client
            .count(&Soql::count("User").build().unwrap())
            .await
            .unwrap(),
        rows
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn token_expiring_mid_run_is_refreshed_once_and_the_run_completes() {
    let emulator = start(paging_config()).await;
    for flow in [
        AuthFlow::ClientCredentials,
        AuthFlow::RefreshToken,
        AuthFlow::JwtBearer,
    ] {
        let client = client(&emulator, flow);
        let options = QueryOptions {
            batch_size: BatchSize::new(500).unwrap(),
            include_deleted: false,
        };
        let mut pages = Box::pin(client.query_pages::<UserRow>(&users_by_id(), options));
        let first = pages.next().await.unwrap().unwrap();
        assert_eq!(client.logins().await, 1);
        emulator.expire_all_tokens();
        let mut rows = first.records.len() as u64;
        while let Some(page) = pages.next().await {
            rows += page.unwrap().records.len() as u64;
        }
        assert_eq!(rows, first.total_size, "{flow}: the run completes");
        assert_eq!(client.logins().await, 2, "{flow}: one re-authentication");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_share_a_single_refresh() {
    let emulator = small().await;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    client.authenticate().await.unwrap();
    emulator.expire_all_tokens();
    let me = integration_user(&emulator);
    let soql = Soql::select("User", ["Id", "Username"])
        .filter(Condition::eq("Id", me))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let soql = soql.clone();
            tokio::spawn(async move {
                client
                    .query_all::<UserRow>(&soql, QueryOptions::default())
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().len(), 1);
    }
    assert_eq!(client.logins().await, 2, "eight 401s, one login");
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_session_refused_right_after_re_authentication_is_an_auth_error() {
    // Salesforce does this when "Lock sessions to the IP address from which they originated"
    // is on and calls leave from another address than the login: the emulator cannot, so a
    // two-route server on 127.0.0.1 plays it.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let logins = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = {
        let (logins, calls, base) = (logins.clone(), calls.clone(), base.clone());
        axum::Router::new()
            .route(
                "/services/oauth2/token",
                axum::routing::post(move || {
                    let base = base.clone();
                    logins.fetch_add(1, Ordering::SeqCst);
                    async move {
                        axum::Json(json!({
                            "access_token": "00Dxx0000000001!mock",
                            "instance_url": base,
                            "id": format!("{base}/id/00Dxx0000000001EAA/005xx000001Sv6eAAC"),
                            "token_type": "Bearer",
                        }))
                    }
                }),
            )
            .route(
                "/services/data/v64.0/limits",
                axum::routing::get(move || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async {
                        (
                            axum::http::StatusCode::UNAUTHORIZED,
                            axum::Json(json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])),
                        )
                    }
                }),
            )
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let instance = Instance::parse(&base).unwrap();
    let credentials = Credentials::ClientCredentials {
        client_id: "id".into(),
        client_secret: Secret::new("secret"),
    };
    let mut config = ClientConfig::new(instance, credentials);
    config.backoff = quick_backoff();
    let client = Client::new(config).unwrap();
    let error = client.limits().await.expect_err("refused twice");
    assert_eq!(error.code(), Some("INVALID_SESSION_ID"), "{error}");
    assert_eq!(error.category(), ErrorCategory::Auth);
    assert!(
        error
            .hint()
            .unwrap()
            .contains("Lock sessions to the IP address")
    );
    assert_eq!(
        logins.load(Ordering::SeqCst),
        2,
        "one login, one re-authentication"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one request, one resend");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_re_authentication_that_is_refused_reports_the_login_error() {
    let emulator = small().await;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    client.limits().await.unwrap();
    emulator.org().write().unwrap().settings.login_ip_restricted = true;
    emulator.expire_all_tokens();
    let error = auth_error(client.limits().await);
    assert!(error.hint().unwrap().contains("Login IP Ranges"), "{error}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn server_unavailable_and_row_locks_are_retried() {
    let emulator = small().await;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    client.authenticate().await.unwrap();
    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("503@1+2,lock@3").unwrap());
    let limits = client.limits().await.expect("the fourth attempt succeeds");
    assert!(limits.daily_api_requests().is_some());
    assert_eq!(emulator.stats().api_requests, 4);
    assert_eq!(
        client.usage().calls_made,
        4,
        "every attempt counts against the budget"
    );

    // A create is retried after 503 and UNABLE_TO_LOCK_ROW: nothing was written.
    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("503@1,lock@2").unwrap());
    let id = client
        .create(
            "Group",
            &json!({"Name": "Retried", "DeveloperName": "Retried", "Type": "Regular"}),
        )
        .await
        .expect("created on the third attempt");
    assert_eq!(id.key_prefix(), "00G");

    // Attempts are capped.
    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("503=1.0").unwrap());
    let error = client.limits().await.expect_err("every attempt fails");
    assert_eq!(error.code(), Some("SERVER_UNAVAILABLE"));
    assert_eq!(emulator.stats().api_requests, 4);
    emulator.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_are_retried_for_reads_but_not_for_creates() {
    let emulator = small().await;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    client.authenticate().await.unwrap();
    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("drop@1").unwrap());
    client.limits().await.expect("the read is repeated");
    assert_eq!(emulator.stats().api_requests, 2);

    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("drop@1").unwrap());
    let error = client
        .create(
            "Group",
            &json!({"Name": "Dropped", "DeveloperName": "Dropped", "Type": "Regular"}),
        )
        .await
        .expect_err("a create whose answer was lost is not repeated");
    assert!(
        matches!(error, SalesforceError::Transport { attempts: 1, .. }),
        "{error}"
    );
    assert_eq!(emulator.stats().api_requests, 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn request_limit_exceeded_stops_the_run_with_exit_code_5() {
    let emulator = small().await;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    client.authenticate().await.unwrap();
    emulator.reset_stats();
    emulator.set_faults(FaultSpec::parse("limit-after=2").unwrap());
    client.limits().await.unwrap();
    client.limits().await.unwrap();
    let error = client
        .limits()
        .await
        .expect_err("the third call is over the limit");
    assert!(
        matches!(error, SalesforceError::Limit(LimitError::Daily { .. })),
        "{error}"
    );
    assert_eq!(Exit::of_category(error.category()), Exit::Limit);
    assert_eq!(Exit::Limit.code(), 5);
    assert!(error.hint().unwrap().contains("rolling 24-hour window"));
    assert_eq!(
        emulator.stats().api_requests,
        3,
        "REQUEST_LIMIT_EXCEEDED is not retried"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn api_budget_stops_before_the_call_that_would_exceed_it() {
    let emulator = small().await;
    let mut config = config(
        &emulator,
        credentials(&emulator, AuthFlow::ClientCredentials),
    );
    config.usage.budget = NonZeroU64::new(2);
    let client = Client::new(config).unwrap();
    client.authenticate().await.unwrap();
    emulator.reset_stats();
    client.limits().await.unwrap();
    client.limits().await.unwrap();
    let error = client.limits().await.expect_err("over budget");
    assert!(
        matches!(
            error,
            SalesforceError::Limit(LimitError::Budget { budget: 2 })
        ),
        "{error}"
    );
    assert_eq!(Exit::of_category(error.category()), Exit::Limit);
    assert_eq!(
        emulator.stats().api_requests,
        2,
        "the refused call was never sent"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn limit_header_is_read_as_used_over_max() {
    let emulator = small().await;
    emulator.org().write().unwrap().settings.daily_api_requests = 15_000;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    client.limits().await.unwrap();
    client.limits().await.unwrap();
    let usage = client.usage();
    let org = usage.org_usage.expect("Sforce-Limit-Info was read");
    assert_eq!(org.max, 15_000);
    assert_eq!(org.used, emulator.stats().api_requests);
    assert_eq!(usage.remaining_daily(), Some(15_000 - org.used));
    let limits = client.limits().await.unwrap();
    assert_eq!(limits.daily_api_requests().unwrap().max, 15_000);
    emulator.shutdown().await;
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupRow {
    name: String,
    #[serde(rename = "Type")]
    kind: String,
}

#[tokio::test]
async fn single_record_and_collection_writes_round_trip() {
    let emulator = small().await;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    let id = client
        .create(
            "Group",
            &json!({"Name": "Auditors", "DeveloperName": "Auditors", "Type": "Regular"}),
        )
        .await
        .unwrap();
    let group: GroupRow = client.get("Group", &id, &["Name", "Type"]).await.unwrap();
    assert_eq!(
        (group.name.as_str(), group.kind.as_str()),
        ("Auditors", "Regular")
    );
    client
        .update("Group", &id, &json!({"Name": "Auditors EU"}))
        .await
        .unwrap();
    let group: GroupRow = client.get("Group", &id, &["Name", "Type"]).await.unwrap();
    assert_eq!(group.name, "Auditors EU");

    // Collections: per-record results, in order, with Salesforce's statusCode errors.
    let me = integration_user(&emulator);
    let records: Vec<CollectionRecord> = [("Member A", Some(me)), ("Member B", None)]
        .iter()
        .map(|(_, user)| {
            let mut fields = serde_json::Map::new();
            fields.insert("GroupId".into(), json!(id));
            if let Some(user) = user {
                fields.insert("UserOrGroupId".into(), json!(user));
            }
            CollectionRecord {
                object: "GroupMember".into(),
                fields,
                id: None,
            }
        })
        .collect();
    let results = client.create_collection(&records, false).await.unwrap();
    assert_eq!(results.len(), 2);
    assert!(results[0].success && results[0].id.is_some(), "{results:?}");
    assert!(
        !results[1].success && !results[1].errors.is_empty(),
        "{results:?}"
    );
    let member = results[0].id.unwrap();
    let deleted = client.delete_collection(&[member], false).await.unwrap();
    assert!(deleted[0].success, "{deleted:?}");

    client.delete("Group", &id).await.unwrap();
    let error = client
        .get::<GroupRow>("Group", &id, &["Name"])
        .await
        .expect_err("deleted");
    assert_eq!(error.as_api().map(|e| e.status), Some(404), "{error}");

    // Names that are not sObject or field names never reach a URL.
    let error = client.delete("Group/../User", &id).await.unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Config);
    let error = client
        .get::<GroupRow>("Group", &id, &["Name,Id"])
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Config);
    emulator.shutdown().await;
}

#[tokio::test]
async fn insufficient_access_names_the_permission_to_add() {
    let emulator = small().await;
    {
        let mut org = emulator.org().write().unwrap();
        sf_access::emulator::cli::remove_permission(&mut org, "PermissionsManageUsers");
    }
    let client = client(&emulator, AuthFlow::ClientCredentials);
    let soql = Soql::select("UserLogin", ["Id", "IsFrozen"])
        .build()
        .unwrap();
    let error = client
        .query_all::<serde_json::Value>(&soql, QueryOptions::default())
        .await
        .expect_err("UserLogin needs Manage Users");
    assert_eq!(error.category(), ErrorCategory::Permission, "{error}");
    assert_eq!(Exit::of_category(error.category()), Exit::Permission);
    let hint = error.hint().unwrap();
    assert!(
        hint.contains("UserLogin") && hint.contains("Manage Users"),
        "{hint}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn tls_with_a_custom_ca_file_works_and_an_unknown_ca_does_not() {
    let mut config = EmulatorConfig::small();
    config.tls = true;
    let emulator = start(config).await;
    let ca = emulator
        .credentials()
        .ca_cert_file
        .clone()
        .expect("TLS writes a CA file");
    let mut trusted = self::config(
        &emulator,
        credentials(&emulator, AuthFlow::ClientCredentials),
    );
    trusted.ca_file = Some(ca);
    let client = Client::new(trusted).unwrap();
    client
        .authenticate()
        .await
        .expect("the emulator's certificate is trusted");
    client.limits().await.unwrap();

    let untrusted = Client::new(self::config(
        &emulator,
        credentials(&emulator, AuthFlow::ClientCredentials),
    ))
    .unwrap();
    let error = untrusted.authenticate().await.expect_err("unknown CA");
    assert!(
        matches!(error, SalesforceError::Transport { .. }),
        "{error}"
    );
    assert!(error.hint().unwrap().contains("--ca-file"));

    let bad = Instance::parse(emulator.instance_url()).unwrap();
    let mut bad_ca = ClientConfig::new(bad, credentials(&emulator, AuthFlow::ClientCredentials));
    bad_ca.ca_file = Some(emulator.credentials().private_key_file.clone());
    let error = Client::new(bad_ca).expect_err("a key is not a CA certificate");
    assert_eq!(error.category(), ErrorCategory::Config, "{error}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn user_ids_enter_queries_only_through_sfid() {
    let emulator = small().await;
    let client = client(&emulator, AuthFlow::ClientCredentials);
    // A quote in a value is escaped, so the query matches nothing instead of everything.
    let soql = Soql::select("User", ["Id", "Username"])
        .filter(Condition::eq("Username", "x' OR Username != '"))
        .build()
        .unwrap();
    let rows: Vec<UserRow> = client
        .query_all(&soql, QueryOptions::default())
        .await
        .unwrap();
    assert!(rows.is_empty());
    assert!(SfId::parse("005' OR '1'='1").is_err());
    emulator.shutdown().await;
}
