//! The production [`SyncFn`]: `crate::sync::run` with a fresh Salesforce client per run.
//!
//! A fresh client gives each run its own `--api-budget` and its own call count, as a `sync`
//! command would have; it logs in again once per run, which costs a token request, not an API
//! call. Progress goes into the job's [`SyncProgress`], which `GET /v1/syncs/{id}` shows.

use std::sync::Arc;

use super::error::error_chain;
use super::jobs::{SyncContext, SyncFailure, SyncFn, SyncProgress, SyncSuccess};
use crate::salesforce::{Client, ClientConfig, ErrorCategory};
use crate::store::StoreError;
use crate::sync::{self, Progress, StoreTarget, SyncError, SyncOptions};

impl Progress for SyncProgress {
    fn object_started(&self, object: &'static str) {
        SyncProgress::object_started(self, object);
    }

    fn page_read(&self, object: &'static str, calls: u64, rows: u64, total: Option<u64>) {
        SyncProgress::page_read(self, object, calls, rows, total);
    }

    fn object_finished(&self, object: &'static str, rows: u64, calls: u64) {
        SyncProgress::object_finished(self, object, rows, calls);
    }

    fn phase(&self, message: &'static str) {
        SyncProgress::phase(self, message);
    }
}

/// The stable code of a sync error, as `GET /v1/syncs/{id}` and the metrics show it.
pub fn sync_error_code(error: &SyncError) -> &'static str {
    if let Some(sf) = error.salesforce() {
        return match sf.category() {
            ErrorCategory::Auth => "salesforce_auth_failed",
            ErrorCategory::Permission => "salesforce_permission_denied",
            ErrorCategory::Limit => "salesforce_limit_reached",
            ErrorCategory::Config | ErrorCategory::Other => "salesforce_error",
        };
    }
    match error {
        SyncError::Interrupted => "interrupted",
        SyncError::Store(StoreError::SyncInProgress { .. }) => "sync_in_progress",
        SyncError::Store(_)
        | SyncError::WriterStopped
        | SyncError::Snapshot { .. }
        | SyncError::KeptRows { .. } => "store_error",
        SyncError::Map { .. } => "mapping_failed",
        SyncError::Login(_) | SyncError::Fetch { .. } => "salesforce_error",
    }
}

/// Syncs with `options` into `target`, logging in with `client`.
pub fn library_sync(client: ClientConfig, target: StoreTarget, options: SyncOptions) -> SyncFn {
    Arc::new(move |ctx: SyncContext| {
        let (config, target) = (client.clone(), target.clone());
        Box::pin(async move {
            let client = Client::new(config).map_err(|e| SyncFailure {
                code: "salesforce_error",
                message: error_chain(&e),
                hint: e.hint(),
                api_calls: 0,
            })?;
            let planned: Vec<&'static str> =
                sync::plan(&options).iter().map(|p| p.object).collect();
            ctx.progress.plan(&planned);
            let progress = ctx.progress.clone();
            let interrupt = ctx.interrupt.clone();
            let result = sync::run(
                &client,
                &target,
                &options,
                progress.as_ref(),
                interrupt.cancelled_owned(),
            )
            .await;
            match result {
                Ok(report) => Ok(SyncSuccess {
                    run: report.run,
                    counts: report.counts,
                    api_calls: report.api_calls,
                }),
                Err(error) => Err(SyncFailure {
                    code: sync_error_code(&error),
                    message: error_chain(&error),
                    hint: error.hint(),
                    api_calls: client.usage().calls_made,
                }),
            }
        })
    })
}
