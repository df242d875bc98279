//! Request counters served at `GET /__emulator/stats`: what benchmarks and tests read to
//! count the API calls a client made.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every call a client made (token calls included; `/__emulator/` calls excluded).
    pub total_requests: u64,
    /// Calls by endpoint: `token`, `revoke`, `query`, `query_more`, `sobjects`, `composite`,
    /// `limits`, `versions`, `resources`, `describe`, `identity`, `bulk_query` (every request
    /// under `jobs/query`: create, poll, results, abort, delete, list), `other`.
    pub requests_by_endpoint: BTreeMap<String, u64>,
    /// Query, queryMore and sObject calls by object; Bulk API 2.0 query calls under the job's
    /// object: a create once its query ran (a job made, or refused for the daily job quota),
    /// and every other call that names an existing job (a list of all jobs names no object).
    pub requests_by_object: BTreeMap<String, u64>,
    /// Current row count of every object in the org.
    pub rows: BTreeMap<String, u64>,
    /// Versioned REST calls (what counts against the daily API limit).
    pub api_requests: u64,
}

/// The live counters (rows are filled in when a snapshot is taken).
#[derive(Debug, Default)]
pub struct Counters {
    stats: Stats,
}

impl Counters {
    /// Counts one call.
    pub fn record(&mut self, endpoint: &str, object: Option<&str>) {
        self.stats.total_requests += 1;
        *self
            .stats
            .requests_by_endpoint
            .entry(endpoint.to_string())
            .or_default() += 1;
        if let Some(object) = object {
            *self
                .stats
                .requests_by_object
                .entry(object.to_string())
                .or_default() += 1;
        }
    }

    /// Counts one versioned REST call and returns its 1-based number.
    pub fn next_api_request(&mut self) -> u64 {
        self.stats.api_requests += 1;
        self.stats.api_requests
    }

    /// Adds an object to the last call's per-object count (for calls whose object is known
    /// only after routing).
    pub fn record_object(&mut self, object: &str) {
        *self
            .stats
            .requests_by_object
            .entry(object.to_string())
            .or_default() += 1;
    }

    /// The counters, without rows.
    pub fn snapshot(&self) -> Stats {
        self.stats.clone()
    }

    /// Zeroes every counter.
    pub fn reset(&mut self) {
        self.stats = Stats::default();
    }
}
