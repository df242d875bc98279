//! What a person sees while a sync runs: a progress bar per object on a terminal
//! (indicatif), log lines otherwise, and the summary table at the end.
//!
//! Only presentation: the engine calls a `Progress` as pages arrive; nothing here decides
//! what is read.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::SyncReport;

/// Receives the engine's progress.
pub trait Progress: Send + Sync {
    /// An object's first query is about to go out.
    fn object_started(&self, _object: &'static str) {}
    /// A page of an object arrived: `calls` pages so far, `rows` rows so far, out of `total`
    /// when Salesforce said.
    fn page_read(&self, _object: &'static str, _calls: u64, _rows: u64, _total: Option<u64>) {}
    /// Every page of an object arrived.
    fn object_finished(&self, _object: &'static str, _rows: u64, _calls: u64) {}
    /// The engine moved on to a step after the fetch.
    fn phase(&self, _message: &'static str) {}
    /// The run ended (either way); bars are cleared.
    fn done(&self) {}
}

/// No output (tests, library callers).
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// One log line per page (`sobject`, `page`, `records`): what a sync prints off a terminal.
#[derive(Debug, Default)]
pub struct LogLines;

impl Progress for LogLines {
    fn page_read(&self, object: &'static str, calls: u64, rows: u64, total: Option<u64>) {
        tracing::info!(
            sobject = object,
            page = calls,
            records = rows,
            total = total,
            "Page read."
        );
    }

    fn object_finished(&self, object: &'static str, rows: u64, calls: u64) {
        tracing::info!(
            sobject = object,
            records = rows,
            api_calls = calls,
            "Object read."
        );
    }

    fn phase(&self, message: &'static str) {
        tracing::info!("{message}");
    }
}

/// A progress bar per object on standard error.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<&'static str, ProgressBar>>,
    phase: Mutex<Option<ProgressBar>>,
}

impl Default for Bars {
    fn default() -> Self {
        Bars::new()
    }
}

impl Bars {
    /// Bars drawn on standard error.
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            phase: Mutex::new(None),
        }
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos:>7}/{len:7} rows  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }
}

impl Progress for Bars {
    fn object_started(&self, object: &'static str) {
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(Bars::style());
        bar.set_prefix(object);
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(object, bar);
    }

    fn page_read(&self, object: &'static str, calls: u64, rows: u64, total: Option<u64>) {
        if let Some(bar) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(object)
        {
            bar.set_length(total.unwrap_or(rows).max(rows));
            bar.set_position(rows);
            bar.set_message(format!("{calls} calls"));
        }
    }

    fn object_finished(&self, object: &'static str, rows: u64, calls: u64) {
        if let Some(bar) = self
            .bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(object)
        {
            bar.set_length(rows);
            bar.set_position(rows);
            bar.finish_with_message(format!("{calls} calls"));
        }
    }

    fn phase(&self, message: &'static str) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = phase.take() {
            old.finish_and_clear();
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        *phase = Some(bar);
    }

    fn done(&self) {
        if let Some(bar) = self.phase.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
        for bar in self.bars.lock().unwrap_or_else(|p| p.into_inner()).values() {
            bar.finish();
        }
        let _ = self.multi.clear();
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl SyncReport {
    /// The summary table: rows and API calls per object, totals, the daily budget left, the
    /// duration and the record counts.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if let Some(org) = &self.organization {
            let edition = org
                .organization_type
                .as_deref()
                .unwrap_or("unknown edition");
            let sandbox = if org.is_sandbox { ", sandbox" } else { "" };
            let _ = writeln!(out, "Org {} ({}, {edition}{sandbox})", org.name, org.id);
        }
        let width = self
            .objects
            .iter()
            .map(|o| o.object.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "{:<width$}  {:>9}  {:>9}  how",
            "object", "rows", "API calls"
        );
        for o in &self.objects {
            let how = match (o.copied, o.probe_calls > 0, o.unchanged) {
                (true, _, _) => "unchanged: copied",
                (false, true, _) => "probed, read",
                (false, false, true) => "read, unchanged",
                (false, false, false) => "read",
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>9}  {:>9}  {how}",
                o.object, o.rows, o.calls
            );
        }
        let rows: u64 = self.objects.iter().map(|o| o.rows).sum();
        let calls: u64 = self.objects.iter().map(|o| o.calls).sum();
        let _ = writeln!(out, "{:<width$}  {:>9}  {:>9}", "total", rows, calls);
        let _ = writeln!(out);
        let budget = match self.api_calls.daily_remaining {
            Some(left) => format!("; {left} of the org's daily API requests left"),
            None => String::new(),
        };
        let probes: u64 = self.objects.iter().map(|o| o.probe_calls).sum();
        let copied = self.objects.iter().filter(|o| o.copied).count();
        let probes = match (probes, self.copied_from) {
            (0, _) => String::new(),
            (n, Some(from)) => {
                format!("; {n} change probes, {copied} unchanged objects copied from run {from}")
            }
            (n, None) => format!("; {n} change probes (for the next --incremental sync)"),
        };
        let _ = writeln!(
            out,
            "API calls: {} (bound for reading these rows by REST pages: {}{probes}){budget}",
            self.api_calls.total, self.call_bound
        );
        let resources: u64 = self.counts.resources.values().sum();
        let per_type: Vec<String> = self
            .counts
            .resources
            .iter()
            .map(|(t, n)| format!("{n} {t}"))
            .collect();
        let _ = writeln!(
            out,
            "Run {} succeeded in {}: {resources} resources ({}), {} entitlements, {} grants",
            self.run,
            seconds(self.duration),
            per_type.join(", "),
            self.counts.entitlements,
            self.counts.grants
        );
        if let Some(shared) = self.shares_records_of {
            let _ = writeln!(
                out,
                "Nothing changed since run {shared}: this run shares its records"
            );
        }
        if self.dropped_grants > 0 {
            let _ = writeln!(
                out,
                "{} grants to users or resources the options leave out were dropped",
                self.dropped_grants
            );
        }
        out
    }

    /// The summary as log lines (off a terminal).
    pub fn log(&self) {
        for o in &self.objects {
            tracing::info!(
                sobject = o.object,
                records = o.rows,
                api_calls = o.calls,
                probe_calls = o.probe_calls,
                copied = o.copied,
                "Object summary."
            );
        }
        tracing::info!(
            run = self.run.get(),
            api_calls = self.api_calls.total,
            api_call_bound = self.call_bound,
            copied_from = self.copied_from.map(|r| r.get()),
            shares_records_of = self.shares_records_of.map(|r| r.get()),
            daily_remaining = self.api_calls.daily_remaining,
            duration_ms = self.duration.as_millis() as u64,
            resources = self.counts.resources.values().sum::<u64>(),
            entitlements = self.counts.entitlements,
            grants = self.counts.grants,
            dropped_grants = self.dropped_grants,
            "Sync succeeded."
        );
    }
}
