//! Sync jobs: at most one sync at a time, its live progress, the recent history, and the
//! `--sync-interval` schedule.
//!
//! The service does not know how a sync is done: it calls a [`SyncFn`] (in production a thin
//! wrapper around `crate::sync::run`, in unit tests a fake) with a [`SyncProgress`] to report
//! into and an interrupt token. One mutex decides whether a sync may start, so an API request
//! and a scheduled tick can never both start one. On shutdown the interrupt token fires: the
//! sync finishes the page it is writing, marks its run failed (the previous good run stays the
//! latest), and [`SyncJobs::shutdown`] returns once it has.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use super::metrics::Metrics;
use crate::store::{ApiCalls, Counts, RunId};

/// How many finished jobs `GET /v1/syncs/{id}` still knows.
const HISTORY: usize = 50;

/// What started a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `POST /v1/syncs`.
    Api,
    /// The `--sync-interval` schedule.
    Schedule,
}

impl Trigger {
    /// The name in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Api => "api",
            Trigger::Schedule => "schedule",
        }
    }
}

/// Where one Salesforce object's read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectState {
    /// Not started.
    Pending,
    /// Pages are arriving.
    Reading,
    /// Every page arrived.
    Done,
}

impl ObjectState {
    fn as_str(self) -> &'static str {
        match self {
            ObjectState::Pending => "pending",
            ObjectState::Reading => "reading",
            ObjectState::Done => "done",
        }
    }
}

#[derive(Debug, Clone)]
struct ObjectProgress {
    object: &'static str,
    state: ObjectState,
    rows: u64,
    api_calls: u64,
    total: Option<u64>,
}

/// Live progress of one sync, per Salesforce object; the sync reports into it, `GET
/// /v1/syncs/{id}` reads it.
#[derive(Debug, Default)]
pub struct SyncProgress {
    inner: Mutex<ProgressState>,
}

#[derive(Debug, Default)]
struct ProgressState {
    objects: Vec<ObjectProgress>,
    phase: Option<&'static str>,
}

impl SyncProgress {
    fn lock(&self) -> MutexGuard<'_, ProgressState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry<'a>(state: &'a mut ProgressState, object: &'static str) -> &'a mut ObjectProgress {
        let i = match state.objects.iter().position(|o| o.object == object) {
            Some(i) => i,
            None => {
                state.objects.push(ObjectProgress {
                    object,
                    state: ObjectState::Pending,
                    rows: 0,
                    api_calls: 0,
                    total: None,
                });
                state.objects.len() - 1
            }
        };
        &mut state.objects[i]
    }

    /// Lists the objects the sync will read, in its order, as pending.
    pub fn plan(&self, objects: &[&'static str]) {
        let mut state = self.lock();
        for object in objects {
            Self::entry(&mut state, object);
        }
    }

    /// An object's first query is going out.
    pub fn object_started(&self, object: &'static str) {
        Self::entry(&mut self.lock(), object).state = ObjectState::Reading;
    }

    /// A page arrived: `calls` pages and `rows` rows so far, of `total` when known.
    pub fn page_read(&self, object: &'static str, calls: u64, rows: u64, total: Option<u64>) {
        let mut state = self.lock();
        let o = Self::entry(&mut state, object);
        o.state = ObjectState::Reading;
        o.api_calls = calls;
        o.rows = rows;
        o.total = total.or(o.total);
    }

    /// Every page of an object arrived.
    pub fn object_finished(&self, object: &'static str, rows: u64, calls: u64) {
        let mut state = self.lock();
        let o = Self::entry(&mut state, object);
        o.state = ObjectState::Done;
        o.rows = rows;
        o.api_calls = calls;
    }

    /// The sync moved on to a step after reading (expanding, writing).
    pub fn phase(&self, message: &'static str) {
        self.lock().phase = Some(message);
    }

    /// API calls made so far, summed over objects.
    pub fn api_calls(&self) -> u64 {
        self.lock().objects.iter().map(|o| o.api_calls).sum()
    }

    fn to_json(&self) -> (Value, Option<&'static str>) {
        let state = self.lock();
        let objects = state
            .objects
            .iter()
            .map(|o| {
                let mut v = json!({
                    "object": o.object,
                    "state": o.state.as_str(),
                    "rows": o.rows,
                    "api_calls": o.api_calls,
                });
                if let Some(total) = o.total {
                    v["total"] = json!(total);
                }
                v
            })
            .collect();
        (Value::Array(objects), state.phase)
    }
}

/// What a successful sync hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSuccess {
    /// The store run written; it is now the latest good run.
    pub run: RunId,
    /// Records written.
    pub counts: Counts,
    /// API calls used, per object and in total, and the daily requests left.
    pub api_calls: ApiCalls,
}

/// Why a sync failed, already in the service's error vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFailure {
    /// Stable error code (`salesforce_auth_failed`, `interrupted`, ...).
    pub code: &'static str,
    /// The error and its causes.
    pub message: String,
    /// What to do about it, when known.
    pub hint: Option<String>,
    /// API calls the sync made before it failed.
    pub api_calls: u64,
}

/// What a sync function gets.
pub struct SyncContext {
    /// Where to report progress.
    pub progress: Arc<SyncProgress>,
    /// Fires when the service shuts down: finish the current page and stop.
    pub interrupt: CancellationToken,
    /// The job id, for logs.
    pub job_id: String,
}

/// Runs one sync into the store.
pub type SyncFn =
    Arc<dyn Fn(SyncContext) -> BoxFuture<'static, Result<SyncSuccess, SyncFailure>> + Send + Sync>;

struct JobEnd {
    finished_at: DateTime<Utc>,
    duration: Duration,
    result: Result<SyncSuccess, SyncFailure>,
}

/// One sync started by the service.
pub struct Job {
    id: String,
    trigger: Trigger,
    request_id: Option<String>,
    started_at: DateTime<Utc>,
    started: Instant,
    progress: Arc<SyncProgress>,
    end: Mutex<Option<JobEnd>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("trigger", &self.trigger)
            .finish_non_exhaustive()
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Job {
    /// The job id (`sync-...`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// API calls made so far (from the progress reports).
    pub fn api_calls(&self) -> u64 {
        self.progress.api_calls()
    }

    /// True until the sync function returned.
    pub fn is_running(&self) -> bool {
        self.end.lock().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    /// The status document of `GET /v1/syncs/{id}` (schema `SyncStatus`).
    pub fn to_json(&self) -> Value {
        let (objects, phase) = self.progress.to_json();
        let mut v = json!({
            "id": self.id,
            "trigger": self.trigger.as_str(),
            "started_at": time(self.started_at),
            "objects": objects,
        });
        if let Some(request_id) = &self.request_id {
            v["request_id"] = json!(request_id);
        }
        let end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        let Some(end) = end.as_ref() else {
            v["status"] = json!("running");
            if let Some(phase) = phase {
                v["phase"] = json!(phase);
            }
            v["api_calls"] = json!({"total": self.progress.api_calls()});
            v["errors"] = json!([]);
            return v;
        };
        v["finished_at"] = json!(time(end.finished_at));
        v["duration_ms"] = json!(u64::try_from(end.duration.as_millis()).unwrap_or(u64::MAX));
        match &end.result {
            Ok(success) => {
                v["status"] = json!("succeeded");
                v["run_id"] = json!(success.run);
                v["counts"] = json!(success.counts);
                v["api_calls"] = json!(success.api_calls);
                v["errors"] = json!([]);
            }
            Err(failure) => {
                v["status"] = json!("failed");
                v["api_calls"] = json!({"total": failure.api_calls});
                let mut error = json!({"code": failure.code, "message": failure.message});
                if let Some(hint) = &failure.hint {
                    error["hint"] = json!(hint);
                }
                v["errors"] = json!([error]);
            }
        }
        v
    }
}

/// Why a sync could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// Another sync runs; its job id.
    Busy(String),
    /// The service is shutting down.
    ShuttingDown,
}

struct JobsState {
    running: Option<Arc<Job>>,
    history: VecDeque<Arc<Job>>,
    shutting_down: bool,
}

/// The sync jobs of the service.
pub struct SyncJobs {
    sync: SyncFn,
    metrics: Arc<Metrics>,
    state: Mutex<JobsState>,
    tracker: TaskTracker,
    stop: CancellationToken,
}

fn new_job_id() -> String {
    let micros = Utc::now().timestamp_micros().max(0) as u64;
    format!("sync-{micros:014x}{:06x}", fastrand::u32(..0x100_0000))
}

impl SyncJobs {
    /// Jobs that run `sync`.
    pub fn new(sync: SyncFn, metrics: Arc<Metrics>) -> SyncJobs {
        SyncJobs {
            sync,
            metrics,
            state: Mutex::new(JobsState {
                running: None,
                history: VecDeque::new(),
                shutting_down: false,
            }),
            tracker: TaskTracker::new(),
            stop: CancellationToken::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, JobsState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a sync unless one runs. Returns at once; the sync goes on in the background.
    pub fn start(
        self: &Arc<Self>,
        trigger: Trigger,
        request_id: Option<String>,
    ) -> Result<Arc<Job>, StartError> {
        let job = {
            let mut state = self.lock();
            if state.shutting_down {
                return Err(StartError::ShuttingDown);
            }
            if let Some(running) = &state.running {
                return Err(StartError::Busy(running.id.clone()));
            }
            let job = Arc::new(Job {
                id: new_job_id(),
                trigger,
                request_id,
                started_at: Utc::now(),
                started: Instant::now(),
                progress: Arc::new(SyncProgress::default()),
                end: Mutex::new(None),
            });
            state.running = Some(job.clone());
            state.history.push_back(job.clone());
            while state.history.len() > HISTORY {
                state.history.pop_front();
            }
            job
        };
        tracing::info!(
            sync_id = %job.id,
            trigger = trigger.as_str(),
            "Sync started."
        );
        let context = SyncContext {
            progress: job.progress.clone(),
            interrupt: self.stop.child_token(),
            job_id: job.id.clone(),
        };
        // The sync's own log lines carry the job id and the request that started it.
        let span = tracing::info_span!(
            "sync",
            sync_id = %job.id,
            request_id = job.request_id.as_deref().unwrap_or("")
        );
        let work = (self.sync)(context).instrument(span);
        let jobs = self.clone();
        let spawned = job.clone();
        self.tracker.spawn(async move {
            // A panicking sync function must not leave the job "running" forever, which
            // would refuse every later sync with 409.
            let result = match tokio::spawn(work).await {
                Ok(result) => result,
                Err(e) => Err(SyncFailure {
                    code: "internal",
                    message: format!("the sync task failed: {e}"),
                    hint: None,
                    api_calls: spawned.progress.api_calls(),
                }),
            };
            jobs.finish(&spawned, result);
        });
        Ok(job)
    }

    fn finish(&self, job: &Arc<Job>, result: Result<SyncSuccess, SyncFailure>) {
        let duration = job.started.elapsed();
        let (status, api_calls) = match &result {
            Ok(success) => {
                if let Some(remaining) = success.api_calls.daily_remaining {
                    self.metrics.daily_remaining(remaining);
                }
                tracing::info!(
                    sync_id = %job.id,
                    run = success.run.get(),
                    grants = success.counts.grants,
                    api_calls = success.api_calls.total,
                    duration_ms = duration.as_millis() as u64,
                    "Sync succeeded."
                );
                ("succeeded", success.api_calls.total)
            }
            Err(failure) => {
                self.metrics.error(failure.code);
                tracing::error!(
                    sync_id = %job.id,
                    error_code = failure.code,
                    error = %failure.message,
                    "Sync failed; the previous successful run stays the latest."
                );
                ("failed", failure.api_calls)
            }
        };
        self.metrics
            .sync_finished(job.trigger.as_str(), status, duration, api_calls);
        *job.end.lock().unwrap_or_else(|p| p.into_inner()) = Some(JobEnd {
            finished_at: Utc::now(),
            duration,
            result,
        });
        let mut state = self.lock();
        if state.running.as_ref().is_some_and(|r| Arc::ptr_eq(r, job)) {
            state.running = None;
        }
    }

    /// A job the service still remembers.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.lock().history.iter().find(|j| j.id == id).cloned()
    }

    /// The most recently started job.
    pub fn latest(&self) -> Option<Arc<Job>> {
        self.lock().history.back().cloned()
    }

    /// The running job, if any.
    pub fn running(&self) -> Option<Arc<Job>> {
        self.lock().running.clone()
    }

    /// Starts a sync now and then every `interval`, skipping a tick while a sync runs, until
    /// shutdown. Missed ticks are not made up for: the next one comes `interval` later.
    pub fn schedule(self: &Arc<Self>, interval: Duration) {
        let jobs = self.clone();
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                match jobs.start(Trigger::Schedule, None) {
                    Ok(_) => {}
                    Err(StartError::Busy(running)) => tracing::info!(
                        sync_id = %running,
                        "Scheduled sync skipped: a sync is still running."
                    ),
                    Err(StartError::ShuttingDown) => break,
                }
            }
        });
    }

    /// Refuses new syncs, interrupts the running one (it finishes its current page and marks
    /// its run failed) and waits until it and the schedule have stopped.
    pub async fn shutdown(&self) {
        self.lock().shutting_down = true;
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn success() -> SyncSuccess {
        SyncSuccess {
            run: "1".parse().unwrap(),
            counts: Counts::default(),
            api_calls: ApiCalls::default(),
        }
    }

    /// A sync that takes `length` (paused clock) and records how many run at once.
    fn slow_sync(length: Duration, active: Arc<AtomicUsize>, most: Arc<AtomicUsize>) -> SyncFn {
        Arc::new(move |ctx: SyncContext| {
            let (active, most) = (active.clone(), most.clone());
            Box::pin(async move {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                ctx.progress.plan(&["User"]);
                ctx.progress.page_read("User", 1, 10, Some(20));
                let outcome = tokio::select! {
                    () = tokio::time::sleep(length) => Ok(success()),
                    () = ctx.interrupt.cancelled() => Err(SyncFailure {
                        code: "interrupted",
                        message: "interrupted".into(),
                        hint: None,
                        api_calls: 1,
                    }),
                };
                active.fetch_sub(1, Ordering::SeqCst);
                outcome
            })
        })
    }

    fn jobs(sync: SyncFn) -> Arc<SyncJobs> {
        Arc::new(SyncJobs::new(sync, Arc::new(Metrics::default())))
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_sync_is_refused_with_the_running_id() {
        let counters = (Arc::default(), Arc::default());
        let jobs = jobs(slow_sync(Duration::from_secs(60), counters.0, counters.1));
        let first = jobs.start(Trigger::Api, None).unwrap();
        assert_eq!(
            jobs.start(Trigger::Api, None).unwrap_err(),
            StartError::Busy(first.id().to_owned())
        );
        tokio::task::yield_now().await;
        let running = first.to_json();
        assert_eq!(running["status"], "running");
        assert_eq!(running["objects"][0]["rows"], 10);
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(first.to_json()["status"], "succeeded");
        assert!(jobs.start(Trigger::Api, None).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn scheduled_syncs_never_overlap() {
        let (active, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        // Each sync takes 90 s, the interval is 60 s: every other tick finds one running.
        let jobs = jobs(slow_sync(Duration::from_secs(90), active, most.clone()));
        jobs.schedule(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(most.load(Ordering::SeqCst), 1);
        let started = jobs.lock().history.len();
        assert!((4..=6).contains(&started), "{started} syncs in 10 minutes");
        jobs.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_interrupts_the_running_sync_and_waits_for_it() {
        let counters = (Arc::default(), Arc::default());
        let jobs = jobs(slow_sync(Duration::from_secs(3600), counters.0, counters.1));
        let job = jobs.start(Trigger::Api, None).unwrap();
        tokio::task::yield_now().await;
        jobs.shutdown().await;
        let status = job.to_json();
        assert_eq!(status["status"], "failed");
        assert_eq!(status["errors"][0]["code"], "interrupted");
        assert_eq!(
            jobs.start(Trigger::Api, None).unwrap_err(),
            StartError::ShuttingDown
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_sync_fails_its_job_and_frees_the_slot() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let jobs = jobs(Arc::new(move |_ctx| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 0 {
                    panic!("boom");
                }
                Ok(success())
            })
        }));
        let job = jobs.start(Trigger::Api, None).unwrap();
        while job.is_running() {
            tokio::task::yield_now().await;
        }
        assert_eq!(job.to_json()["errors"][0]["code"], "internal");
        assert!(jobs.start(Trigger::Api, None).is_ok());
    }
}
