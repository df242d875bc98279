//! `sf-access emulator`: start the emulator, print its credentials line, serve until
//! SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::bulk::BulkOptions;
use super::generate::{Preset, SizeOverrides};
use super::org::{Org, Value};
use super::{EmulatorConfig, OrgSource, faults::FaultSpec, schema};
use crate::exit::Exit;

/// Arguments of `sf-access emulator`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// Address of the org's My Domain listener (instance_url). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Address of the login-host listener (login_url, the stand-in for login.salesforce.com).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub login_listen: SocketAddr,
    /// Size preset of the generated org: small (~50 users, every edge case), medium (20k
    /// users), large (5x medium).
    #[arg(long, value_enum, default_value = "small")]
    pub preset: Preset,
    /// Generator seed: the same seed and sizes give the same org, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Per-object size overrides.
    #[command(flatten)]
    pub sizes: SizeOverrides,
    /// Load the org from a JSON dump instead of generating it.
    #[arg(long, conflicts_with_all = ["preset", "seed"])]
    pub org_file: Option<PathBuf>,
    /// Write the org to this JSON file before serving (to edit it and load it with --org-file).
    #[arg(long)]
    pub dump_org: Option<PathBuf>,
    /// Latency added to every request, in milliseconds (same as --faults latency=Nms).
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Fault injection: comma-separated items, e.g.
    /// "latency=50ms~10ms,503=0.05,lock@3+9,drop=0.01,expire-token-every=100,limit-after=500,seed=7".
    #[arg(long, default_value = "")]
    pub faults: String,
    /// Serve HTTPS with a self-signed certificate (its file is printed as ca_cert_file).
    #[arg(long)]
    pub tls: bool,
    /// The org's edition (Organization.OrganizationType), e.g. "Professional Edition" or
    /// "Team Edition" to emulate an org without API access.
    #[arg(long)]
    pub edition: Option<String>,
    /// Remove a system permission from the integration user (its profile and permission
    /// sets), e.g. PermissionsApiEnabled or PermissionsViewSetup. Repeatable.
    #[arg(long = "without-permission", value_name = "FIELD")]
    pub without_permissions: Vec<String>,
    /// Refuse every login with invalid_grant / ip restricted (profile Login IP Ranges).
    #[arg(long)]
    pub login_ip_restricted: bool,
    /// Block the OAuth username-password flow, as orgs created since Summer '23 do.
    #[arg(long)]
    pub no_password_flow: bool,
    /// Access-token lifetime in seconds (the org's session timeout).
    #[arg(long)]
    pub session_timeout_secs: Option<u64>,
    /// Daily API request allocation (DailyApiRequests.Max).
    #[arg(long)]
    pub daily_api_requests: Option<u64>,
    /// Bulk API 2.0 query jobs: milliseconds a job stays queued (UploadComplete) and
    /// InProgress before JobComplete, whatever its size. Models Salesforce's asynchronous
    /// processing; its real queueing time is UNCERTAIN and often longer (seconds to minutes
    /// on a busy instance). 0 completes jobs at once.
    #[arg(long, default_value_t = BulkOptions::default().job_ms)]
    pub bulk_job_ms: u64,
    /// Bulk API 2.0 query jobs: milliseconds added to a job's processing time per 10,000
    /// result rows (proportionally), so large jobs take longer as on Salesforce (UNCERTAIN
    /// rate).
    #[arg(long, default_value_t = BulkOptions::default().job_ms_per_10k_rows)]
    pub bulk_job_ms_per_10k_rows: u64,
    /// Bulk API 2.0 query jobs: the most rows in one results set, with or without the
    /// client's maxRecords. Salesforce returns "as many as can be listed, subject to size
    /// limits" (UNCERTAIN), so clients must follow Sforce-Locator whatever they asked for.
    #[arg(long, default_value_t = BulkOptions::default().results_max as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub bulk_results_max: u64,
    /// Bulk API 2.0 query jobs over this object (e.g. PermissionSetAssignment) end Failed,
    /// with an errorMessage, instead of JobComplete: to test how a client falls back.
    /// Repeatable.
    #[arg(long, value_name = "OBJECT")]
    pub bulk_fail_object: Vec<String>,
}

/// Applies the org-level switches of the command line.
pub fn apply_overrides(org: &mut Org, args: &EmulatorArgs) -> Result<(), String> {
    if let Some(edition) = &args.edition {
        let ids: Vec<_> = org
            .table("Organization")
            .map(|t| t.rows.keys().copied().collect())
            .unwrap_or_default();
        for id in ids {
            org.update_raw(&id, &[("OrganizationType", Value::text(edition.as_str()))]);
        }
    }
    for permission in &args.without_permissions {
        let Some(canonical) = schema::PERMISSIONS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(permission))
        else {
            return Err(format!(
                "--without-permission {permission}: unknown permission; known: {}",
                schema::PERMISSIONS.join(", ")
            ));
        };
        remove_permission(org, canonical);
    }
    if args.login_ip_restricted {
        org.settings.login_ip_restricted = true;
    }
    if args.no_password_flow {
        org.settings.password_flow_enabled = false;
    }
    if let Some(secs) = args.session_timeout_secs {
        org.settings.session_timeout_secs = secs;
    }
    if let Some(max) = args.daily_api_requests {
        org.settings.daily_api_requests = max;
    }
    Ok(())
}

/// Takes a system permission away from the integration user: from its profile (and the
/// profile-owned set) and from every permission set assigned to it.
pub fn remove_permission(org: &mut Org, permission: &str) {
    let user = org.integration.user_id;
    let mut targets = Vec::new();
    if let Some(profile) = org.value(&user, "ProfileId").and_then(Value::as_id) {
        targets.push(profile);
    }
    if let (Some(psa), Some(ps)) = (
        org.table("PermissionSetAssignment"),
        org.table("PermissionSet"),
    ) {
        for record in psa.rows.values() {
            if psa.value(record, "AssigneeId").and_then(Value::as_id) == Some(user) {
                if let Some(set) = psa.value(record, "PermissionSetId").and_then(Value::as_id) {
                    targets.push(set);
                }
                if let Some(group) = psa
                    .value(record, "PermissionSetGroupId")
                    .and_then(Value::as_id)
                {
                    targets.extend(ps.rows.iter().filter_map(|(id, r)| {
                        (ps.value(r, "PermissionSetGroupId").and_then(Value::as_id) == Some(group))
                            .then_some(*id)
                    }));
                }
            }
        }
    }
    for id in targets {
        org.update_raw(&id, &[(permission, Value::Bool(false))]);
    }
}

/// Runs `sf-access emulator`.
pub async fn run(args: EmulatorArgs) -> Exit {
    let mut faults = match FaultSpec::parse(&args.faults) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("error: --faults: {message}");
            return Exit::Usage;
        }
    };
    if let Some(ms) = args.latency_ms {
        faults.latency = std::time::Duration::from_millis(ms);
    }
    let source = match &args.org_file {
        Some(path) => OrgSource::File(path.clone()),
        None => OrgSource::Preset {
            preset: args.preset,
            seed: args.seed,
            sizes: args.sizes.clone(),
        },
    };
    let mut fail_objects = Vec::new();
    for name in &args.bulk_fail_object {
        match super::schema::object(name) {
            Some(object) => fail_objects.push(object.name.to_string()),
            None => {
                eprintln!(
                    "error: --bulk-fail-object {name}: unknown object; known: {}",
                    super::schema::OBJECTS
                        .iter()
                        .map(|o| o.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Exit::Usage;
            }
        }
    }
    let config = EmulatorConfig {
        listen: args.listen,
        login_listen: args.login_listen,
        source,
        faults,
        tls: args.tls,
        bulk: BulkOptions {
            job_ms: args.bulk_job_ms,
            job_ms_per_10k_rows: args.bulk_job_ms_per_10k_rows,
            results_max: usize::try_from(args.bulk_results_max).unwrap_or(usize::MAX),
            fail_objects,
        },
    };
    let handle = match super::spawn(config).await {
        Ok(handle) => handle,
        Err(e) => {
            crate::exit::report(
                &e,
                Some("pick free ports with --listen 127.0.0.1:0, or check the --org-file path"),
            );
            return Exit::Failure;
        }
    };
    {
        let mut org = handle.org().write().unwrap_or_else(|p| p.into_inner());
        if let Err(message) = apply_overrides(&mut org, &args) {
            eprintln!("error: {message}");
            return Exit::Usage;
        }
        if let Some(path) = &args.dump_org
            && let Err(e) = super::dump::write_file(&org, path)
        {
            eprintln!("error: cannot write --dump-org {}: {e}", path.display());
            return Exit::Failure;
        }
    }
    match serde_json::to_string(handle.credentials()) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("error: cannot print the credentials: {e}");
            return Exit::Failure;
        }
    }
    tracing::info!(instance_url = %handle.instance_url(), "emulator serving; stop with Ctrl-C or SIGTERM");
    wait_for_signal().await;
    handle.shutdown().await;
    Exit::Ok
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
