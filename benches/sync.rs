//! `cargo bench --bench sync [-- PRESET [LATENCY_MS]]`: syncs of an emulated org, measured.
//!
//! Three phases into one store: a full sync (the first `--incremental` sync into a new store:
//! it reads everything and probes each object once), an incremental sync of the unchanged org
//! (`--incremental`), and an incremental sync after a scripted batch of changes (20 users
//! renamed, 20 permission set assignments removed, 20 group members added, through the REST
//! API).
//!
//! The emulator and each sync run as child processes (`sf-access emulator`, `sf-access
//! sync`), so a sync's peak RSS and CPU time are its own (`wait4` rusage of the sync child).
//! The emulator's counters (`/__emulator/stats`) are reset before each sync and read after it:
//! API calls per object and in total. Rows per object are the rows the sync read (its
//! `Object read.` log lines: the filtered PermissionSetAssignment rows, not the whole table).
//! The REST bound is sum over objects of ceil(rows read / page), page = 2,000 (OauthToken: 500),
//! at least one call per object.
//!
//! Settings: PRESET (`small`, `medium`, `large`; env `SF_BENCH_PRESET`, default `medium`),
//! LATENCY_MS (env `SF_BENCH_LATENCY_MS`, default 50), `SF_BENCH_CONNECTED_APPS=1` adds
//! `--sync-connected-apps`, `SF_BENCH_SYNC_ARGS` extra sync flags (space-separated),
//! `SF_BENCH_STOP_AFTER_READ=1` kills the full sync once every object is read (the read phase
//! alone: calls, wall, CPU and RSS up to then; no incremental phases),
//! `SF_BENCH_FULL_ONLY=1` runs the full sync only, `SF_BENCH_EMULATOR_ARGS` extra emulator
//! flags (e.g. `--bulk-job-ms 5000`), `SF_BENCH_NAME` a suffix for the JSON file's name.
//! Output: one table on stdout and `target/bench/sync-<preset>[-<name>].json`.
//!
//! With Bulk API 2.0 (`SF_BENCH_SYNC_ARGS="--bulk-above 10000"`) the calls fall far below the
//! REST bound: the table shows both.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_sf-access");

struct Rusage {
    user: Duration,
    sys: Duration,
    max_rss_kb: u64,
    status: i32,
}

/// Waits for `pid` and returns its own resource usage.
fn wait_with_rusage(pid: u32) -> Rusage {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet reaped (std's Child is never waited on).
    let rc = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid as libc::pid_t, "wait4 failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Rusage {
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss as u64,
        status: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    }
}

fn http(method: &str, url: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let request = match method {
            "POST" => client.post(url),
            _ => client.get(url),
        };
        let response = request.send().await.expect("emulator control call");
        let text = response.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get("fields")
        .and_then(|f| f.get(name))
        .or_else(|| line.get(name))
}

// The sync child is reaped by `wait_with_rusage` (wait4), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let preset = args
        .first()
        .cloned()
        .or_else(|| std::env::var("SF_BENCH_PRESET").ok())
        .unwrap_or_else(|| "medium".into());
    let latency: u64 = args
        .get(1)
        .cloned()
        .or_else(|| std::env::var("SF_BENCH_LATENCY_MS").ok())
        .map(|s| s.parse().expect("latency in ms"))
        .unwrap_or(50);
    let connected_apps = std::env::var("SF_BENCH_CONNECTED_APPS").is_ok_and(|v| v == "1");
    // Stop the sync once every object is read (before expansion and the store's writes): the
    // read phase alone, for orgs whose grants do not fit the disk.
    let stop_after_read = std::env::var("SF_BENCH_STOP_AFTER_READ").is_ok_and(|v| v == "1");
    // Only the full sync (no incremental phases).
    let full_only = std::env::var("SF_BENCH_FULL_ONLY").is_ok_and(|v| v == "1");
    let words = |var: &str| -> Vec<String> {
        std::env::var(var)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let extra = words("SF_BENCH_SYNC_ARGS");
    let emulator_extra = words("SF_BENCH_EMULATOR_ARGS");
    let name = std::env::var("SF_BENCH_NAME").unwrap_or_default();

    eprintln!("bench: starting the {preset} emulator ({latency} ms latency)...");
    let generate = Instant::now();
    let mut emulator = Command::new(BIN)
        .args([
            "emulator",
            "--preset",
            &preset,
            "--latency-ms",
            &latency.to_string(),
        ])
        .args(&emulator_extra)
        .env("SF_ACCESS_LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the emulator");
    let mut line = String::new();
    BufReader::new(emulator.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the emulator's credentials line");
    let creds: Value = serde_json::from_str(&line).expect("credentials JSON");
    eprintln!("bench: emulator up in {:.1?}", generate.elapsed());
    let instance = creds["instance_url"]
        .as_str()
        .expect("instance_url")
        .to_owned();

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
    let client_id = creds["client_id"].as_str().expect("client_id").to_owned();
    let secret = creds["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    let sync_args = |incremental: bool| {
        let mut args: Vec<String> = vec![
            "sync".into(),
            "--instance-url".into(),
            instance.clone(),
            "--auth-method".into(),
            "client-credentials".into(),
            "--salesforce-client-id".into(),
            client_id.clone(),
            "--file".into(),
            db.display().to_string(),
            "--log-format".into(),
            "json".into(),
            "--log-level".into(),
            "info".into(),
        ];
        if connected_apps {
            args.push("--sync-connected-apps".into());
        }
        if incremental {
            args.push("--incremental".into());
        }
        args.extend(extra.iter().cloned());
        args
    };

    let mut phases = Vec::new();
    // The first --incremental sync into a new store is a full sync that also probes each
    // object with change stamps once (a plain `sync` into a new store makes no probes: its
    // calls are the bound exactly).
    let full = run_phase(
        "full",
        &sync_args(!stop_after_read),
        &secret,
        &instance,
        stop_after_read,
    );
    let full_ok = full.ok;
    phases.push(full);
    if full_ok && !stop_after_read && !full_only {
        phases.push(run_phase(
            "incremental, unchanged org",
            &sync_args(true),
            &secret,
            &instance,
            false,
        ));
        let changes = scripted_changes(&instance, &client_id, &secret);
        eprintln!("bench: changed the org: {changes}");
        let mut after = run_phase(
            "incremental, after changes",
            &sync_args(true),
            &secret,
            &instance,
            false,
        );
        after.changes = Some(changes);
        phases.push(after);
    }
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(emulator.id() as libc::pid_t, libc::SIGTERM) };
    let _ = emulator.wait();

    let page = |object: &str| if object == "OauthToken" { 500 } else { 2000 };
    let full = &phases[0];
    let mut bound = 0u64;
    let mut objects = Vec::new();
    print!(
        "\nsf-access sync, preset {preset}, {latency} ms latency\n\n{:<30} {:>9} {:>7}",
        "object", "rows", "bound"
    );
    for phase in &phases {
        print!(" {:>12}", short(&phase.name));
    }
    println!();
    for (object, &n) in &full.rows {
        let b = n.div_ceil(page(object)).max(1);
        bound += b;
        print!("{object:<30} {n:>9} {b:>7}");
        let mut calls = serde_json::Map::new();
        for phase in &phases {
            let c = phase.calls_by_object.get(object).copied().unwrap_or(0);
            print!(" {c:>12}");
            calls.insert(phase.name.clone(), json!(c));
        }
        println!();
        objects.push(json!({"object": object, "rows": n, "bound": b, "calls": calls}));
    }
    print!("{:<30} {:>9} {bound:>7}", "API calls", "");
    for phase in &phases {
        print!(" {:>12}", phase.api_calls);
    }
    println!();
    let limit = (bound as f64 * 1.05).floor() as u64 + 10;
    println!(
        "\nfull sync: {} API calls (all requests incl. token: {}); bound {bound}; target <= {limit}: {}",
        full.api_calls,
        full.total_requests,
        if full.api_calls <= limit {
            "met"
        } else {
            "NOT met"
        }
    );
    let planned = full.rows.len();
    for phase in &phases {
        println!(
            "{}: wall {:.2} s, CPU {:.2} s (user {:.2} + sys {:.2}), peak RSS {:.1} MB, \
             {} grants ({}), {:.0} grants/s; {}{}{}",
            phase.name,
            phase.wall,
            phase.user + phase.sys,
            phase.user,
            phase.sys,
            phase.rss_mb,
            phase.grants,
            if stop_after_read {
                "not reached: stopped after the read"
            } else {
                "expanded"
            },
            phase.grants as f64 / phase.wall,
            match phase.read_s {
                Some(s) => format!("reading took {s:.2} s"),
                None =>
                    "no model built (nothing changed: the run shares the previous run's records)"
                        .to_owned(),
            },
            if phase.name.starts_with("incremental") {
                format!(
                    "; {} calls for {planned} objects ({:.2} per object)",
                    phase.api_calls,
                    phase.api_calls as f64 / planned as f64
                )
            } else {
                String::new()
            },
            if phase.ok { "" } else { " -- THE SYNC FAILED" },
        );
    }
    let report = json!({
        "preset": preset,
        "latency_ms": latency,
        "sync_args": extra,
        "emulator_args": emulator_extra,
        "connected_apps": connected_apps,
        "stopped_after_read": stop_after_read,
        "objects": objects,
        "rest_bound": bound,
        "target_calls": limit,
        "phases": phases.iter().map(Phase::to_json).collect::<Vec<_>>(),
    });
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    let file = if name.is_empty() {
        out.join(format!("sync-{preset}.json"))
    } else {
        out.join(format!("sync-{preset}-{name}.json"))
    };
    std::fs::write(&file, serde_json::to_string_pretty(&report).expect("json"))
        .expect("write the report");
    println!("written: {}", file.display());
}

/// One measured run of the sync.
struct Phase {
    name: String,
    ok: bool,
    wall: f64,
    user: f64,
    sys: f64,
    rss_mb: f64,
    /// From the first row read to the start of the expansion; `None` when the run built no
    /// model (an unchanged org).
    read_s: Option<f64>,
    grants: u64,
    api_calls: u64,
    total_requests: u64,
    rows: BTreeMap<String, u64>,
    calls_by_object: BTreeMap<String, u64>,
    copied: Vec<String>,
    changes: Option<String>,
}

impl Phase {
    fn to_json(&self) -> Value {
        json!({
            "phase": self.name,
            "sync_succeeded": self.ok,
            "api_calls": self.api_calls,
            "total_requests": self.total_requests,
            "calls_by_object": self.calls_by_object,
            "rows": self.rows,
            "copied": self.copied,
            "changes": self.changes,
            "wall_s": self.wall,
            "read_s": self.read_s,
            "cpu_s": self.user + self.sys,
            "user_s": self.user,
            "sys_s": self.sys,
            "peak_rss_mb": self.rss_mb,
            "grants": self.grants,
            "grants_per_s": self.grants as f64 / self.wall,
        })
    }
}

fn short(name: &str) -> &str {
    match name {
        "full" => "full",
        "incremental, unchanged org" => "incr same",
        _ => "incr changed",
    }
}

/// Runs `sf-access <args>` as a child with the emulator's counters reset, and measures it.
// The sync child is reaped by `wait_with_rusage` (wait4), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_phase(
    name: &str,
    args: &[String],
    secret: &str,
    instance: &str,
    stop_after_read: bool,
) -> Phase {
    eprintln!("bench: {name} sync...");
    http("POST", &format!("{instance}/__emulator/reset-stats"));
    let mut sync = Command::new(BIN);
    sync.args(args)
        .env("SF_ACCESS_SALESFORCE_CLIENT_SECRET", secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = sync.spawn().expect("start the sync");
    let stderr = child.stderr.take().expect("stderr");
    let pid = child.id();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.expect("sync log");
            if stop_after_read && line.contains("\"message\":\"Expanding") {
                // SAFETY: our child, not yet reaped (the main thread reaps it after it exits).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let usage = wait_with_rusage(child.id());
    let wall = started.elapsed();
    let log = reader.join().expect("log reader");
    if usage.status != 0 && !stop_after_read {
        let tail: Vec<&str> = log.lines().rev().take(8).collect();
        eprintln!(
            "bench: the {name} sync FAILED with status {}:",
            usage.status
        );
        for line in tail.into_iter().rev() {
            eprintln!("  {line}");
        }
    }
    let stats = http("GET", &format!("{instance}/__emulator/stats"));
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    let mut copied = Vec::new();
    let mut grants = 0u64;
    let mut first: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    let mut fetched: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    for line in log.lines() {
        let Ok(line) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let message = field(&line, "message")
            .and_then(Value::as_str)
            .unwrap_or("");
        let at = line["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if message == "Sync started." {
            first = at;
        }
        if message.starts_with("Expanding") {
            fetched = at;
        }
        if message == "Object read." {
            let object = field(&line, "sobject")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let records = field(&line, "records").and_then(Value::as_u64).unwrap_or(0);
            rows.insert(object.to_owned(), records);
            if field(&line, "copied").and_then(Value::as_bool) == Some(true) {
                copied.push(object.to_owned());
            }
        } else if message == "Sync succeeded." {
            grants = field(&line, "grants").and_then(Value::as_u64).unwrap_or(0);
        }
    }
    Phase {
        name: name.to_owned(),
        ok: usage.status == 0,
        wall: wall.as_secs_f64(),
        user: usage.user.as_secs_f64(),
        sys: usage.sys.as_secs_f64(),
        rss_mb: usage.max_rss_kb as f64 / 1024.0,
        read_s: match (first, fetched) {
            (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        },
        grants,
        api_calls: stats["api_requests"].as_u64().unwrap_or(0),
        total_requests: stats["total_requests"].as_u64().unwrap_or(0),
        rows,
        calls_by_object: serde_json::from_value(stats["requests_by_object"].clone())
            .unwrap_or_default(),
        copied,
        changes: None,
    }
}

/// A REST call with a bearer token; the JSON answer (Null when empty).
fn rest(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut request = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("emulator REST call");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

/// The scripted batch of changes an admin might make between two syncs: 20 users renamed,
/// 20 permission set assignments removed, 20 group members added. Returns what was done.
fn scripted_changes(instance: &str, client_id: &str, secret: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let token: Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{instance}/services/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token JSON")
    });
    let token = token["access_token"].as_str().expect("access_token");
    let api = format!("{instance}/services/data/v66.0");
    let ids = |soql: &str| -> Vec<String> {
        let url = format!(
            "{api}/query?q={}",
            url::form_urlencoded::byte_serialize(soql.as_bytes()).collect::<String>()
        );
        let (status, body) = rest(reqwest::Method::GET, &url, token, None);
        assert_eq!(status, 200, "{soql}: {body}");
        body["records"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|r| r["Id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let users = ids(
        "SELECT Id FROM User WHERE UserType = 'Standard' AND IsActive = true ORDER BY Id LIMIT 200",
    );
    let assignments = ids(
        "SELECT Id FROM PermissionSetAssignment WHERE PermissionSet.IsOwnedByProfile = false ORDER BY Id LIMIT 20",
    );
    let groups = ids("SELECT Id FROM Group WHERE Type = 'Regular' ORDER BY Id LIMIT 20");
    let (mut renamed, mut removed, mut added) = (0, 0, 0);
    for (n, user) in users.iter().take(20).enumerate() {
        let (status, _) = rest(
            reqwest::Method::PATCH,
            &format!("{api}/sobjects/User/{user}"),
            token,
            Some(json!({"FirstName": format!("Bench{n}")})),
        );
        renamed += u32::from(status == 204);
    }
    for id in &assignments {
        let (status, _) = rest(
            reqwest::Method::DELETE,
            &format!("{api}/sobjects/PermissionSetAssignment/{id}"),
            token,
            None,
        );
        removed += u32::from(status == 204);
    }
    for (n, group) in groups.iter().enumerate() {
        let user = &users[(users.len() - 1 - n) % users.len()];
        let (status, _) = rest(
            reqwest::Method::POST,
            &format!("{api}/sobjects/GroupMember"),
            token,
            Some(json!({"GroupId": group, "UserOrGroupId": user})),
        );
        added += u32::from(status == 201 || status == 200);
    }
    format!(
        "{renamed} users renamed, {removed} permission set assignments removed, {added} group members added"
    )
}
