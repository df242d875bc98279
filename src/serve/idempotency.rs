//! `Idempotency-Key`: a retried write returns the first attempt's result instead of running
//! again.
//!
//! The cache maps a key to a fingerprint of the request (operation, target, body, dry run)
//! and to its answer. A retry with the same key and the same request gets the stored answer;
//! a retry that arrives while the first attempt still runs waits for it; the same key with a
//! different request is refused (`idempotency_key_reused`), because answering it with another
//! request's result would be a lie. Answers with a 5xx status are not kept: the write may not
//! have happened, so a retry should try again (the provisioning calls are idempotent on their
//! own: a grant that exists is reported `already_exists`).
//!
//! Keys live in memory for [`TTL`], at most [`CAPACITY`] of them (the oldest go first). A
//! restart forgets them; the library's own idempotency still keeps a repeated write harmless.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::error::ApiError;

/// How long a key is remembered.
pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How many keys are remembered at most.
pub const CAPACITY: usize = 10_000;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
    /// The error code, for an error answer (metrics count replays too).
    pub error_code: Option<&'static str>,
}

enum Slot {
    InFlight(watch::Receiver<Option<Stored>>),
    Done(Stored),
}

struct Entry {
    fingerprint: [u8; 32],
    created: Instant,
    slot: Slot,
}

/// The cache of keys.
#[derive(Default)]
pub struct IdempotencyCache {
    entries: Mutex<HashMap<String, Entry>>,
}

/// What to do with a request that carries a key.
pub enum Begin {
    /// First time: run it, then complete the claim.
    New(Claim),
    /// Seen and answered: return this.
    Replay(Stored),
    /// Seen and still running: wait for this.
    Wait(watch::Receiver<Option<Stored>>),
}

/// The right to run a keyed request; completing it stores the answer for retries.
pub struct Claim {
    cache: Arc<IdempotencyCache>,
    key: String,
    sender: Option<watch::Sender<Option<Stored>>>,
}

/// A validated `Idempotency-Key` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a header value: 1 to 255 visible ASCII characters.
    pub fn parse(value: &[u8]) -> Result<IdempotencyKey, ApiError> {
        let ok = !value.is_empty()
            && value.len() <= MAX_KEY_LEN
            && value.iter().all(|b| b.is_ascii_graphic());
        match std::str::from_utf8(value) {
            Ok(text) if ok => Ok(IdempotencyKey(text.to_owned())),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                format!(
                    "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID is a good choice)"
                ),
            )),
        }
    }
}

/// The fingerprint of a request: what must be equal for a retry to be "the same request".
pub fn fingerprint(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

impl IdempotencyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks a key up, claiming it when new.
    pub fn begin(
        self: &Arc<Self>,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
    ) -> Result<Begin, ApiError> {
        let mut entries = self.lock();
        let now = Instant::now();
        entries.retain(|_, e| now.duration_since(e.created) < TTL);
        if let Some(entry) = entries.get(&key.0) {
            if entry.fingerprint != fingerprint {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request",
                )
                .with_hint("use a new key for every distinct write; reuse a key only to retry the same request"));
            }
            return Ok(match &entry.slot {
                Slot::Done(stored) => Begin::Replay(stored.clone()),
                Slot::InFlight(receiver) => Begin::Wait(receiver.clone()),
            });
        }
        if entries.len() >= CAPACITY {
            // Done entries go first, oldest first; a running request's claim is never evicted.
            if let Some(oldest) = entries
                .iter()
                .filter(|(_, e)| matches!(e.slot, Slot::Done(_)))
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        let (sender, receiver) = watch::channel(None);
        entries.insert(
            key.0.clone(),
            Entry {
                fingerprint,
                created: now,
                slot: Slot::InFlight(receiver),
            },
        );
        Ok(Begin::New(Claim {
            cache: self.clone(),
            key: key.0.clone(),
            sender: Some(sender),
        }))
    }

    /// True when no key is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl Claim {
    /// Stores the answer (unless it is a 5xx) and hands it to requests waiting on the key.
    pub fn complete(mut self, stored: &Stored) {
        let mut entries = self.cache.lock();
        if stored.status.is_server_error() {
            entries.remove(&self.key);
        } else if let Some(entry) = entries.get_mut(&self.key) {
            entry.slot = Slot::Done(stored.clone());
        }
        drop(entries);
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Some(stored.clone()));
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Not completed (the task panicked): forget the key so a retry runs again; waiters
        // see the channel close.
        if self.sender.is_some() {
            self.cache.lock().remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(k: &str) -> IdempotencyKey {
        IdempotencyKey::parse(k.as_bytes()).unwrap()
    }

    fn stored(status: u16) -> Stored {
        Stored {
            status: StatusCode::from_u16(status).unwrap(),
            body: json!({"n": status}),
            error_code: None,
        }
    }

    #[test]
    fn a_retry_gets_the_first_answer() {
        let cache = Arc::new(IdempotencyCache::default());
        let fp = fingerprint(&["grant", "a"]);
        let Ok(Begin::New(claim)) = cache.begin(&key("k1"), fp) else {
            panic!("first use is new")
        };
        claim.complete(&stored(200));
        let Ok(Begin::Replay(answer)) = cache.begin(&key("k1"), fp) else {
            panic!("second use replays")
        };
        assert_eq!(answer, stored(200));
    }

    #[test]
    fn the_same_key_for_another_request_is_refused() {
        let cache = Arc::new(IdempotencyCache::default());
        let Ok(Begin::New(claim)) = cache.begin(&key("k"), fingerprint(&["grant", "a"])) else {
            panic!()
        };
        claim.complete(&stored(200));
        let Err(error) = cache.begin(&key("k"), fingerprint(&["grant", "b"])) else {
            panic!("a different request must be refused")
        };
        assert_eq!(error.code, "idempotency_key_reused");
    }

    #[tokio::test]
    async fn a_retry_during_the_first_attempt_waits_for_it() {
        let cache = Arc::new(IdempotencyCache::default());
        let fp = fingerprint(&["x"]);
        let Ok(Begin::New(claim)) = cache.begin(&key("k"), fp) else {
            panic!()
        };
        let Ok(Begin::Wait(mut receiver)) = cache.begin(&key("k"), fp) else {
            panic!("in flight")
        };
        claim.complete(&stored(201));
        let answer = receiver
            .wait_for(Option::is_some)
            .await
            .unwrap()
            .clone()
            .unwrap();
        assert_eq!(answer.status, StatusCode::CREATED);
    }

    #[test]
    fn server_errors_are_not_kept_and_dropped_claims_are_forgotten() {
        let cache = Arc::new(IdempotencyCache::default());
        let fp = fingerprint(&["x"]);
        let Ok(Begin::New(claim)) = cache.begin(&key("k"), fp) else {
            panic!()
        };
        claim.complete(&stored(503));
        assert!(matches!(cache.begin(&key("k"), fp), Ok(Begin::New(_))));
        // The claim of the line above was dropped without completing.
        assert!(cache.is_empty());
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse(b"3f2b8c1e-7d4a-4e2b").is_ok());
        for bad in [&b""[..], b"has space", b"\xff", &[b'a'; 256]] {
            assert_eq!(
                IdempotencyKey::parse(bad).unwrap_err().code,
                "invalid_idempotency_key"
            );
        }
    }

    #[test]
    fn fingerprints_separate_their_parts() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }
}
