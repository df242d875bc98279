//! API usage: the `Sforce-Limit-Info` header, the calls this run made, `--api-budget`, the
//! usage warning, and the `/limits` resource.
//!
//! `Sforce-Limit-Info: api-usage=USED/MAX` carries the calls *used* in the org's rolling
//! 24-hour window, then the allocation (facts section 3.8); baton-salesforce reads the first
//! number as "remaining", which this module must not repeat. This module counts and reports;
//! it does not send requests and does not decide retries.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::error::LimitError;

/// The org's API usage in the rolling 24-hour window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiUsage {
    /// Calls used.
    pub used: u64,
    /// The allocation.
    pub max: u64,
}

impl ApiUsage {
    /// Parses a `Sforce-Limit-Info` value: `api-usage=18/5000`, possibly followed by
    /// `; per-app-api-usage=17/250(appName=x)` or `; api-bursts=1/750`. `None` when the
    /// `api-usage` element is absent or malformed.
    pub fn parse_header(value: &str) -> Option<ApiUsage> {
        value.split(';').find_map(|part| {
            let (key, rest) = part.trim().split_once('=')?;
            if key.trim() != "api-usage" {
                return None;
            }
            let (used, max) = rest.trim().split_once('/')?;
            Some(ApiUsage {
                used: used.trim().parse().ok()?,
                max: max.trim().parse().ok()?,
            })
        })
    }

    /// Calls left in the window.
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }

    /// Used share of the allocation, 0.0..=1.0 (1.0 when the allocation is zero).
    pub fn share(&self) -> f64 {
        if self.max == 0 {
            1.0
        } else {
            (self.used as f64 / self.max as f64).min(1.0)
        }
    }
}

impl fmt::Display for ApiUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.used, self.max)
    }
}

/// What the tracker enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsageOptions {
    /// At most this many calls per run (`--api-budget`).
    pub budget: Option<NonZeroU64>,
    /// Warn once when the org's used share reaches this (0.0..=1.0; `--api-usage-warning`).
    pub warn_share: f64,
}

impl Default for UsageOptions {
    fn default() -> Self {
        UsageOptions {
            budget: None,
            warn_share: 0.8,
        }
    }
}

/// Counts the calls of this run and remembers the org's usage from the last response.
#[derive(Debug)]
pub struct UsageTracker {
    options: UsageOptions,
    calls: AtomicU64,
    last: Mutex<Option<ApiUsage>>,
    warned: AtomicBool,
}

/// A copy of the tracker's state, for run summaries and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsageSnapshot {
    /// REST calls this run made (every attempt counts: Salesforce counts them too).
    pub calls_made: u64,
    /// The org's usage from the last `Sforce-Limit-Info` seen.
    pub org_usage: Option<ApiUsage>,
    /// `--api-budget`, when set.
    pub budget: Option<u64>,
}

impl UsageSnapshot {
    /// Calls the org has left in its window, when known.
    pub fn remaining_daily(&self) -> Option<u64> {
        self.org_usage.map(|u| u.remaining())
    }

    /// Calls this run may still make under `--api-budget`, when set.
    pub fn remaining_budget(&self) -> Option<u64> {
        self.budget.map(|b| b.saturating_sub(self.calls_made))
    }
}

impl UsageTracker {
    /// A tracker with no calls made.
    pub fn new(options: UsageOptions) -> UsageTracker {
        UsageTracker {
            options,
            calls: AtomicU64::new(0),
            last: Mutex::new(None),
            warned: AtomicBool::new(false),
        }
    }

    /// Claims one call from the budget, before it is sent. Fails, without counting, when the
    /// run has spent `--api-budget` already.
    pub fn reserve(&self) -> Result<(), LimitError> {
        let budget = self.options.budget.map(NonZeroU64::get);
        self.calls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |made| match budget {
                Some(budget) if made >= budget => None,
                _ => Some(made + 1),
            })
            .map(|_| ())
            .map_err(|_| LimitError::Budget {
                budget: budget.unwrap_or(0),
            })
    }

    /// Records the `Sforce-Limit-Info` header of a response, and warns once when the org's
    /// usage passes the configured share.
    pub fn record(&self, header: Option<&str>) {
        let Some(usage) = header.and_then(ApiUsage::parse_header) else {
            return;
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(usage);
        }
        if usage.share() >= self.options.warn_share && !self.warned.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                api_usage = %usage,
                remaining = usage.remaining(),
                "the org has used {:.0}% of its daily API requests",
                usage.share() * 100.0
            );
        }
    }

    /// The org's last known usage.
    pub fn last_usage(&self) -> Option<ApiUsage> {
        self.last.lock().ok().and_then(|last| *last)
    }

    /// Calls, usage and budget so far.
    pub fn snapshot(&self) -> UsageSnapshot {
        UsageSnapshot {
            calls_made: self.calls.load(Ordering::SeqCst),
            org_usage: self.last_usage(),
            budget: self.options.budget.map(NonZeroU64::get),
        }
    }
}

/// One entry of `GET /limits`: `{"Max": n, "Remaining": n}`, sometimes with per-app
/// sub-maps of the same shape (facts section 3.8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LimitEntry {
    /// The allocation (absent on a few composite entries).
    #[serde(rename = "Max", default)]
    pub max: Option<i64>,
    /// What is left.
    #[serde(rename = "Remaining", default)]
    pub remaining: Option<i64>,
}

/// The `/limits` resource, by limit name (`DailyApiRequests`, ...). Sub-maps are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct OrgLimits(pub BTreeMap<String, LimitEntry>);

impl OrgLimits {
    /// `DailyApiRequests` as used/max.
    pub fn daily_api_requests(&self) -> Option<ApiUsage> {
        let entry = self.0.get("DailyApiRequests")?;
        let max = u64::try_from(entry.max?).ok()?;
        let remaining = u64::try_from(entry.remaining?).ok()?;
        Some(ApiUsage {
            used: max.saturating_sub(remaining),
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_header_is_used_over_max() {
        let table = [
            ("api-usage=18/5000", Some((18, 5000))),
            (
                "api-usage=25/15000; per-app-api-usage=17/250(appName=sf-access)",
                Some((25, 15000)),
            ),
            ("api-bursts=1/750; api-usage=99/100", Some((99, 100))),
            (" api-usage = 7 / 10 ", Some((7, 10))),
            ("per-app-api-usage=17/250(appName=x)", None),
            ("api-usage=abc/100", None),
            ("", None),
        ];
        for (header, expected) in table {
            let parsed = ApiUsage::parse_header(header).map(|u| (u.used, u.max));
            assert_eq!(parsed, expected, "{header}");
        }
        let usage = ApiUsage::parse_header("api-usage=18/5000").unwrap();
        assert_eq!(usage.remaining(), 4982);
    }

    #[test]
    fn budget_stops_the_call_after_the_last_allowed_one() {
        let tracker = UsageTracker::new(UsageOptions {
            budget: NonZeroU64::new(2),
            warn_share: 0.8,
        });
        assert!(tracker.reserve().is_ok());
        assert!(tracker.reserve().is_ok());
        assert_eq!(tracker.reserve(), Err(LimitError::Budget { budget: 2 }));
        let snapshot = tracker.snapshot();
        assert_eq!(snapshot.calls_made, 2);
        assert_eq!(snapshot.remaining_budget(), Some(0));
    }

    #[test]
    fn tracker_keeps_the_last_usage_seen() {
        let tracker = UsageTracker::new(UsageOptions::default());
        tracker.record(Some("api-usage=10/100"));
        tracker.record(None);
        tracker.record(Some("garbage"));
        assert_eq!(tracker.last_usage(), Some(ApiUsage { used: 10, max: 100 }));
        tracker.record(Some("api-usage=90/100"));
        assert_eq!(tracker.snapshot().remaining_daily(), Some(10));
    }

    #[test]
    fn limits_resource_gives_daily_usage() {
        let limits: OrgLimits = serde_json::from_str(
            r#"{"DailyApiRequests":{"Max":15000,"Remaining":14990,"sf-access":{"Max":0,"Remaining":0}},
                "DataStorageMB":{"Max":5,"Remaining":5}}"#,
        )
        .unwrap();
        assert_eq!(
            limits.daily_api_requests(),
            Some(ApiUsage {
                used: 10,
                max: 15000
            })
        );
    }
}
