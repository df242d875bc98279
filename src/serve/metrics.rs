//! The service's counters and their Prometheus text exposition (`GET /metrics`).
//!
//! A handful of counters in a mutex is all the service needs; the text format (version
//! 0.0.4) is simple enough to write directly, so there is no metrics framework. Label values
//! come from fixed sets (matched route templates, methods, status codes, error codes,
//! outcomes), never from request data, so cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the service counts.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    /// (method, route template, status) -> requests.
    requests: BTreeMap<(String, String, u16), u64>,
    /// error code -> error responses and failed syncs.
    errors: BTreeMap<&'static str, u64>,
    /// (trigger, status) -> finished sync runs.
    sync_runs: BTreeMap<(&'static str, &'static str), u64>,
    /// Sum and count of the durations of finished sync runs.
    sync_seconds_sum: f64,
    sync_seconds_count: u64,
    /// Duration of the last finished sync run.
    sync_last_seconds: Option<f64>,
    /// Unix time of the last successful sync run.
    sync_last_success: Option<i64>,
    /// Salesforce API calls of finished sync runs (live ones are added at render time).
    sync_api_calls: u64,
    /// (operation, outcome) -> provisioning writes.
    writes: BTreeMap<(String, String), u64>,
    /// The org's remaining daily API requests, with when it was seen.
    daily_remaining: Option<(Instant, u64)>,
}

/// Values that are read from elsewhere when `/metrics` is rendered.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveValues {
    /// Salesforce API calls made by the long-lived client (writes, readiness).
    pub client_api_calls: u64,
    /// API calls of the sync running now, so far.
    pub running_sync_api_calls: u64,
    /// True while a sync runs.
    pub sync_running: bool,
    /// `DailyApiRequests` remaining per the long-lived client's last response.
    pub client_daily_remaining: Option<u64>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while holding this lock cannot leave the counters inconsistent in a way
        // that matters more than losing metrics would.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one answered request.
    pub fn request(&self, method: &str, route: &str, status: u16) {
        *self
            .lock()
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// Counts one error by its code.
    pub fn error(&self, code: &'static str) {
        *self.lock().errors.entry(code).or_default() += 1;
    }

    /// Records a finished sync run.
    pub fn sync_finished(
        &self,
        trigger: &'static str,
        status: &'static str,
        duration: Duration,
        api_calls: u64,
    ) {
        let mut c = self.lock();
        *c.sync_runs.entry((trigger, status)).or_default() += 1;
        let seconds = duration.as_secs_f64();
        c.sync_seconds_sum += seconds;
        c.sync_seconds_count += 1;
        c.sync_last_seconds = Some(seconds);
        c.sync_api_calls += api_calls;
        if status == "succeeded" {
            c.sync_last_success = Some(chrono::Utc::now().timestamp());
        }
    }

    /// Counts one provisioning write by its operation and outcome (or error code).
    pub fn write(&self, operation: &str, outcome: &str) {
        *self
            .lock()
            .writes
            .entry((operation.to_owned(), outcome.to_owned()))
            .or_default() += 1;
    }

    /// Remembers the org's remaining daily API requests, as just seen.
    pub fn daily_remaining(&self, remaining: u64) {
        self.lock().daily_remaining = Some((Instant::now(), remaining));
    }

    /// The Prometheus text exposition.
    pub fn render(&self, live: LiveValues) -> String {
        let c = self.lock();
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "sf_access_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        for ((method, route, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "sf_access_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        family(
            &mut out,
            "sf_access_errors_total",
            "counter",
            "Error responses and failed syncs, by error code.",
        );
        for (code, n) in &c.errors {
            let _ = writeln!(out, "sf_access_errors_total{{code=\"{code}\"}} {n}");
        }
        family(
            &mut out,
            "sf_access_sync_runs_total",
            "counter",
            "Finished sync runs, by trigger (api, schedule) and status (succeeded, failed).",
        );
        for ((trigger, status), n) in &c.sync_runs {
            let _ = writeln!(
                out,
                "sf_access_sync_runs_total{{trigger=\"{trigger}\",status=\"{status}\"}} {n}"
            );
        }
        family(
            &mut out,
            "sf_access_sync_duration_seconds",
            "summary",
            "Wall time of finished sync runs.",
        );
        let _ = writeln!(
            out,
            "sf_access_sync_duration_seconds_sum {}\nsf_access_sync_duration_seconds_count {}",
            c.sync_seconds_sum, c.sync_seconds_count
        );
        family(
            &mut out,
            "sf_access_sync_last_duration_seconds",
            "gauge",
            "Wall time of the last finished sync run.",
        );
        if let Some(s) = c.sync_last_seconds {
            let _ = writeln!(out, "sf_access_sync_last_duration_seconds {s}");
        }
        family(
            &mut out,
            "sf_access_sync_last_success_timestamp_seconds",
            "gauge",
            "Unix time at which the last successful sync run finished.",
        );
        if let Some(t) = c.sync_last_success {
            let _ = writeln!(out, "sf_access_sync_last_success_timestamp_seconds {t}");
        }
        family(
            &mut out,
            "sf_access_sync_running",
            "gauge",
            "1 while a sync runs, else 0.",
        );
        let _ = writeln!(
            out,
            "sf_access_sync_running {}",
            u8::from(live.sync_running)
        );
        family(
            &mut out,
            "sf_access_salesforce_api_calls_total",
            "counter",
            "Salesforce REST API calls made by this process (syncs, writes, readiness checks).",
        );
        let _ = writeln!(
            out,
            "sf_access_salesforce_api_calls_total {}",
            c.sync_api_calls + live.running_sync_api_calls + live.client_api_calls
        );
        family(
            &mut out,
            "sf_access_salesforce_daily_api_requests_remaining",
            "gauge",
            "The org's remaining daily API requests, as last reported by Salesforce.",
        );
        if let Some(remaining) = c
            .daily_remaining
            .map(|(_, r)| r)
            .or(live.client_daily_remaining)
        {
            let _ = writeln!(
                out,
                "sf_access_salesforce_daily_api_requests_remaining {remaining}"
            );
        }
        family(
            &mut out,
            "sf_access_provisioning_writes_total",
            "counter",
            "Provisioning requests (grant, revoke, create_account, action), by outcome or error code.",
        );
        for ((operation, outcome), n) in &c.writes {
            let _ = writeln!(
                out,
                "sf_access_provisioning_writes_total{{operation=\"{}\",outcome=\"{}\"}} {n}",
                escape(operation),
                escape(outcome)
            );
        }
        out
    }
}

/// Writes the HELP and TYPE lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline), per the text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_every_family_with_help_and_type() {
        let m = Metrics::default();
        m.request("GET", "/v1/grants", 200);
        m.request("GET", "/v1/grants", 200);
        m.error("unauthorized");
        m.sync_finished("api", "succeeded", Duration::from_millis(1500), 42);
        m.daily_remaining(14_000);
        m.write("grant", "granted");
        let text = m.render(LiveValues {
            client_api_calls: 3,
            running_sync_api_calls: 0,
            sync_running: false,
            client_daily_remaining: None,
        });
        for line in [
            "sf_access_http_requests_total{method=\"GET\",route=\"/v1/grants\",status=\"200\"} 2",
            "sf_access_errors_total{code=\"unauthorized\"} 1",
            "sf_access_sync_runs_total{trigger=\"api\",status=\"succeeded\"} 1",
            "sf_access_sync_duration_seconds_sum 1.5",
            "sf_access_sync_duration_seconds_count 1",
            "sf_access_salesforce_api_calls_total 45",
            "sf_access_salesforce_daily_api_requests_remaining 14000",
            "sf_access_provisioning_writes_total{operation=\"grant\",outcome=\"granted\"} 1",
            "sf_access_sync_running 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name.trim_end_matches("_sum").trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {base} "))
                    || text.contains(&format!("# TYPE {name} ")),
                "{name} has no TYPE line"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
