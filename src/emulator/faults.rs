//! Fault injection: latency, 503 SERVER_UNAVAILABLE, UNABLE_TO_LOCK_ROW, dropped connections,
//! token expiry every N requests, and REQUEST_LIMIT_EXCEEDED after N calls.
//!
//! A spec is a comma-separated list, as given to `sf-access emulator --faults`:
//!
//! | item | meaning |
//! |---|---|
//! | `latency=50ms` or `latency=50ms~20ms` | every request waits 50 ms (+ up to 20 ms jitter) |
//! | `503=0.1` / `503@3+7+12` | a share of REST requests, or the listed request numbers, get 503 SERVER_UNAVAILABLE |
//! | `lock=0.05` / `lock@4` | ... get 400 UNABLE_TO_LOCK_ROW |
//! | `drop=0.01` / `drop@5` | ... have their connection dropped mid-response |
//! | `expire-token-every=100` | every access token stops working after 100 requests (401 INVALID_SESSION_ID) |
//! | `limit-after=500` | REST requests after the 500th get 403 REQUEST_LIMIT_EXCEEDED |
//! | `seed=7` | seed of the random choices (default 0), so a run can be replayed |
//!
//! Request numbers count versioned REST requests (`/services/data/vNN.N/...`) from 1, since
//! the emulator started or the stats were last reset. Token requests are not numbered.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// When a fault fires.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Trigger {
    /// Never.
    #[default]
    Never,
    /// On this share of requests (0.0-1.0).
    Rate(f64),
    /// On these request numbers.
    Schedule(BTreeSet<u64>),
}

impl Trigger {
    fn fires(&self, request_number: u64, rng: &mut ChaCha8Rng) -> bool {
        match self {
            Trigger::Never => false,
            Trigger::Rate(rate) => rng.random_bool(rate.clamp(0.0, 1.0)),
            Trigger::Schedule(numbers) => numbers.contains(&request_number),
        }
    }
}

/// A parsed fault specification.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultSpec {
    /// Fixed latency added to every request.
    pub latency: Duration,
    /// Uniform random extra latency, up to this much.
    pub jitter: Duration,
    /// 503 SERVER_UNAVAILABLE.
    pub unavailable: Trigger,
    /// 400 UNABLE_TO_LOCK_ROW.
    pub lock_row: Trigger,
    /// Dropped connections.
    pub drop_connection: Trigger,
    /// Access tokens expire after this many requests each.
    pub expire_token_every: Option<u64>,
    /// REQUEST_LIMIT_EXCEEDED after this many REST requests.
    pub limit_after: Option<u64>,
    /// Seed for rate-based faults and jitter.
    pub seed: u64,
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let (number, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, "ms"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{value:?} is not a duration (use e.g. 50ms or 2s)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        _ => Err(format!("{value:?}: unknown unit {unit:?} (use ms or s)")),
    }
}

fn parse_trigger(key: &str, rest: &str) -> Result<Trigger, String> {
    if let Some(list) = rest.strip_prefix('@') {
        let numbers = list
            .split('+')
            .map(|n| {
                n.parse::<u64>()
                    .map_err(|_| format!("{key}@{list}: {n:?} is not a request number"))
            })
            .collect::<Result<BTreeSet<u64>, String>>()?;
        return Ok(Trigger::Schedule(numbers));
    }
    let Some(rate) = rest.strip_prefix('=') else {
        return Err(format!(
            "{key}: give a rate ({key}=0.1) or a schedule of request numbers ({key}@3+7)"
        ));
    };
    let rate: f64 = rate
        .parse()
        .map_err(|_| format!("{key}={rate}: the rate must be a number between 0 and 1"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("{key}={rate}: the rate must be between 0 and 1"));
    }
    Ok(Trigger::Rate(rate))
}

impl FaultSpec {
    /// Parses a spec (see the module docs). The empty string means no faults.
    pub fn parse(spec: &str) -> Result<FaultSpec, String> {
        let mut out = FaultSpec::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let key_end = item.find(['=', '@']).unwrap_or(item.len());
            let (key, rest) = item.split_at(key_end);
            let value = || {
                rest.strip_prefix('=')
                    .ok_or_else(|| format!("{key}: expected {key}=VALUE"))
            };
            match key {
                "latency" => {
                    let v = value()?;
                    let (fixed, jitter) = v.split_once('~').unwrap_or((v, "0ms"));
                    out.latency = parse_duration(fixed)?;
                    out.jitter = parse_duration(jitter)?;
                }
                "503" => out.unavailable = parse_trigger(key, rest)?,
                "lock" => out.lock_row = parse_trigger(key, rest)?,
                "drop" => out.drop_connection = parse_trigger(key, rest)?,
                "expire-token-every" => {
                    let n: u64 = value()?
                        .parse()
                        .map_err(|_| format!("{item}: expected a positive number"))?;
                    if n == 0 {
                        return Err(format!("{item}: must be at least 1"));
                    }
                    out.expire_token_every = Some(n);
                }
                "limit-after" => {
                    out.limit_after = Some(
                        value()?
                            .parse()
                            .map_err(|_| format!("{item}: expected a number"))?,
                    )
                }
                "seed" => {
                    out.seed = value()?
                        .parse()
                        .map_err(|_| format!("{item}: expected a number"))?
                }
                other => {
                    return Err(format!(
                        "unknown fault {other:?}; known: latency, 503, lock, drop, \
                         expire-token-every, limit-after, seed"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// What the fault layer decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Serve normally.
    None,
    /// Answer 503 SERVER_UNAVAILABLE.
    Unavailable,
    /// Answer 400 UNABLE_TO_LOCK_ROW.
    LockRow,
    /// Drop the connection mid-response.
    Drop,
}

/// The live fault state of a running emulator.
#[derive(Debug)]
pub struct Faults {
    spec: FaultSpec,
    rng: ChaCha8Rng,
}

impl Faults {
    /// Fault state for a spec.
    pub fn new(spec: FaultSpec) -> Faults {
        let rng = ChaCha8Rng::seed_from_u64(spec.seed);
        Faults { spec, rng }
    }

    /// The spec in force.
    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    /// Replaces the spec (and reseeds).
    pub fn set(&mut self, spec: FaultSpec) {
        *self = Faults::new(spec);
    }

    /// The latency to add to the next request.
    pub fn latency(&mut self) -> Duration {
        let jitter = self.spec.jitter.as_millis() as u64;
        let extra = if jitter > 0 {
            self.rng.random_range(0..=jitter)
        } else {
            0
        };
        self.spec.latency + Duration::from_millis(extra)
    }

    /// Decides the fault for REST request number `n` (1-based).
    pub fn decide(&mut self, n: u64) -> Injected {
        if self.spec.drop_connection.fires(n, &mut self.rng) {
            Injected::Drop
        } else if self.spec.unavailable.fires(n, &mut self.rng) {
            Injected::Unavailable
        } else if self.spec.lock_row.fires(n, &mut self.rng) {
            Injected::LockRow
        } else {
            Injected::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_spec_parses() {
        let spec = FaultSpec::parse(
            "latency=50ms~20ms, 503=0.1, lock@3+7, drop@5, expire-token-every=100, limit-after=500, seed=7",
        )
        .unwrap();
        assert_eq!(spec.latency, Duration::from_millis(50));
        assert_eq!(spec.jitter, Duration::from_millis(20));
        assert_eq!(spec.unavailable, Trigger::Rate(0.1));
        assert_eq!(spec.lock_row, Trigger::Schedule([3, 7].into()));
        assert_eq!(spec.drop_connection, Trigger::Schedule([5].into()));
        assert_eq!(spec.expire_token_every, Some(100));
        assert_eq!(spec.limit_after, Some(500));
        assert_eq!(spec.seed, 7);
        assert_eq!(FaultSpec::parse("").unwrap(), FaultSpec::default());
    }

    #[test]
    fn bad_specs_name_the_item_and_the_fix() {
        let err = FaultSpec::parse("503=2").unwrap_err();
        assert!(err.contains("between 0 and 1"), "{err}");
        let err = FaultSpec::parse("explode=1").unwrap_err();
        assert!(
            err.contains("unknown fault") && err.contains("latency"),
            "{err}"
        );
        let err = FaultSpec::parse("latency=5min").unwrap_err();
        assert!(err.contains("unit"), "{err}");
        let err = FaultSpec::parse("lock").unwrap_err();
        assert!(
            err.contains("lock=0.1") || err.contains("schedule"),
            "{err}"
        );
    }

    #[test]
    fn schedules_fire_exactly_on_their_request_numbers() {
        let mut faults = Faults::new(FaultSpec::parse("503@2+4").unwrap());
        let fired: Vec<u64> = (1..=6)
            .filter(|n| faults.decide(*n) == Injected::Unavailable)
            .collect();
        assert_eq!(fired, vec![2, 4]);
    }

    #[test]
    fn rates_are_reproducible_for_a_seed() {
        let run = || {
            let mut faults = Faults::new(FaultSpec::parse("503=0.3,seed=9").unwrap());
            (1..=50).map(|n| faults.decide(n)).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let count = first
            .iter()
            .filter(|d| **d == Injected::Unavailable)
            .count();
        assert!((5..=25).contains(&count), "{count}");
    }
}
