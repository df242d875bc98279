//! `cargo bench --bench sync [-- PRESET [LATENCY_MS]]`: a full sync of an emulated org, measured.
//!
//! The emulator and the sync run as two child processes (`sf-access emulator`, `sf-access
//! sync`), so the sync's peak RSS and CPU time are its own (`wait4` rusage of the sync child).
//! The emulator's counters (`/__emulator/stats`) are reset before the sync and read after it:
//! API calls per object and in total. Rows per object are the rows the sync read (its
//! `Object read.` log lines: the filtered PermissionSetAssignment rows, not the whole table).
//! The REST bound is sum over objects of ceil(rows read / page), page = 2,000 (OauthToken: 500),
//! at least one call per object.
//!
//! Settings: PRESET (`small`, `medium`, `large`; env `SF_BENCH_PRESET`, default `medium`),
//! LATENCY_MS (env `SF_BENCH_LATENCY_MS`, default 50), `SF_BENCH_CONNECTED_APPS=1` adds
//! `--sync-connected-apps`, `SF_BENCH_SYNC_ARGS` extra sync flags (space-separated),
//! `SF_BENCH_STOP_AFTER_READ=1` kills the sync once every object is read (the read phase
//! alone: calls, wall, CPU and RSS up to then).
//! Output: one table on stdout and `target/bench/sync-<preset>.json`.

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
    let extra: Vec<String> = std::env::var("SF_BENCH_SYNC_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();

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
    http("POST", &format!("{instance}/__emulator/reset-stats"));

    let mut sync = Command::new(BIN);
    sync.args([
        "sync",
        "--instance-url",
        &instance,
        "--auth-method",
        "client-credentials",
        "--salesforce-client-id",
        creds["client_id"].as_str().expect("client_id"),
        "--file",
    ])
    .arg(&db)
    .args(["--log-format", "json", "--log-level", "info"])
    .args(&extra)
    .env(
        "SF_ACCESS_SALESFORCE_CLIENT_SECRET",
        creds["client_secret"].as_str().expect("client_secret"),
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if connected_apps {
        sync.arg("--sync-connected-apps");
    }
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
    if usage.status != 0 {
        // Still report what was read and called: a failed run's figures up to its failure.
        let tail: Vec<&str> = log.lines().rev().take(8).collect();
        eprintln!("bench: the sync FAILED with status {}:", usage.status);
        for line in tail.into_iter().rev() {
            eprintln!("  {line}");
        }
    }
    let stats = http("GET", &format!("{instance}/__emulator/stats"));
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(emulator.id() as libc::pid_t, libc::SIGTERM) };
    let _ = emulator.wait();

    // Rows the sync read and its grants, from its own log lines.
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    let mut grants = 0u64;
    // Phase times from the log's timestamps: reading (login to the last object read) and
    // expanding + writing (the rest).
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
        } else if message == "Grants expanded." {
            grants = field(&line, "grants").and_then(Value::as_u64).unwrap_or(0);
        }
    }
    let calls_by_object: BTreeMap<String, u64> =
        serde_json::from_value(stats["requests_by_object"].clone()).unwrap_or_default();
    let api_calls = stats["api_requests"].as_u64().unwrap_or(0);
    let total_requests = stats["total_requests"].as_u64().unwrap_or(0);
    let page = |object: &str| if object == "OauthToken" { 500 } else { 2000 };
    let mut objects = Vec::new();
    let mut bound = 0u64;
    println!(
        "\nsf-access sync, preset {preset}, {latency} ms latency\n\n{:<32} {:>9} {:>7} {:>7}",
        "object", "rows", "calls", "bound"
    );
    for (object, &n) in &rows {
        let b = n.div_ceil(page(object)).max(1);
        bound += b;
        let calls = calls_by_object.get(object).copied().unwrap_or(0);
        println!("{object:<32} {n:>9} {calls:>7} {b:>7}");
        objects.push(json!({"object": object, "rows": n, "calls": calls, "bound": b}));
    }
    let read_s = match (first, fetched) {
        (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
        _ => f64::NAN,
    };
    let cpu = usage.user + usage.sys;
    let rss_mb = usage.max_rss_kb as f64 / 1024.0;
    let grants_per_s = grants as f64 / wall.as_secs_f64();
    let limit = (bound as f64 * 1.05).floor() as u64 + 10;
    println!(
        "\nAPI calls {api_calls} (all requests incl. token: {total_requests}); bound {bound}; \
         target <= {limit}: {}",
        if api_calls <= limit { "met" } else { "NOT met" }
    );
    println!(
        "wall {:.2} s, CPU {:.2} s (user {:.2} + sys {:.2}), peak RSS {rss_mb:.1} MB, \
         {grants} grants ({}), {grants_per_s:.0} grants/s; reading took {read_s:.2} s",
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        usage.user.as_secs_f64(),
        usage.sys.as_secs_f64(),
        if stop_after_read {
            "not reached: stopped after the read"
        } else {
            "expanded"
        },
    );
    let report = json!({
        "preset": preset,
        "sync_succeeded": usage.status == 0,
        "stopped_after_read": stop_after_read,
        "latency_ms": latency,
        "sync_args": extra,
        "connected_apps": connected_apps,
        "objects": objects,
        "api_calls": api_calls,
        "total_requests": total_requests,
        "calls_by_endpoint": stats["requests_by_endpoint"],
        "rest_bound": bound,
        "wall_s": wall.as_secs_f64(),
        "read_s": read_s,
        "cpu_s": cpu.as_secs_f64(),
        "user_s": usage.user.as_secs_f64(),
        "sys_s": usage.sys.as_secs_f64(),
        "peak_rss_mb": rss_mb,
        "grants": grants,
        "grants_per_s": grants_per_s,
    });
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    let file = out.join(format!("sync-{preset}.json"));
    std::fs::write(&file, serde_json::to_string_pretty(&report).expect("json"))
        .expect("write the report");
    if usage.status != 0 {
        println!(
            "THE SYNC FAILED (status {}); the figures are up to the failure",
            usage.status
        );
    }
    println!("written: {}", file.display());
}
