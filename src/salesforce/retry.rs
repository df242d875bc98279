//! Retries: which answers are worth another attempt (`classify`), and how long to wait before
//! it (`Backoff`). The two are separate on purpose: the decision table is about Salesforce's
//! semantics, the backoff is about being polite to a struggling server.
//!
//! This module decides; it does not send, sleep or re-authenticate (that is `Client::send`).

use std::num::NonZeroU32;
use std::time::Duration;

/// What went wrong at the transport level, before any HTTP status was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// The connection could not be opened (DNS, refused, TLS handshake): nothing was sent.
    Connect,
    /// No complete answer within the timeout: the request may have been processed.
    Timeout,
    /// The connection was reset or closed mid-answer: the request may have been processed.
    Reset,
    /// Anything else (a bug, a body that could not be built): not worth repeating.
    Other,
}

impl TransportFailure {
    /// Classifies a reqwest error, looking through its source chain for I/O resets.
    pub fn of(error: &reqwest::Error) -> TransportFailure {
        if error.is_timeout() {
            return TransportFailure::Timeout;
        }
        if error.is_connect() {
            return TransportFailure::Connect;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> =
            std::error::Error::source(error);
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                match io.kind() {
                    TimedOut => return TransportFailure::Timeout,
                    ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                        return TransportFailure::Reset;
                    }
                    _ => {}
                }
            }
            // hyper reports a connection closed before the message completed as its own
            // error type, whose text is stable: "connection closed before message completed".
            let text = cause.to_string();
            if text.contains("connection closed") || text.contains("connection reset") {
                return TransportFailure::Reset;
            }
            source = cause.source();
        }
        if error.is_request() || error.is_body() {
            TransportFailure::Reset
        } else {
            TransportFailure::Other
        }
    }

    /// Short wording for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            TransportFailure::Connect => "could not be opened",
            TransportFailure::Timeout => "timed out",
            TransportFailure::Reset => "was reset before the answer completed",
            TransportFailure::Other => "failed",
        }
    }
}

/// The answer to one attempt, as far as the retry decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// An HTTP status with the first `errorCode` and message of the body, when any.
    Status {
        /// HTTP status.
        status: u16,
        /// First `errorCode` of the error array ("" when none).
        code: &'a str,
        /// First message ("" when none).
        message: &'a str,
    },
    /// No HTTP answer.
    Transport(TransportFailure),
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Success or a final answer: hand it to the caller.
    Done,
    /// Log in again once, then resend once (not counted as a retry).
    Reauthenticate,
    /// Wait (backoff) and try again, if attempts remain.
    Retry,
    /// The org's daily request limit is exhausted: stop the whole run.
    StopRun,
}

/// Decides what to do with an answer. `idempotent` is true for GET, PATCH and DELETE (sending
/// them twice leaves the org as sending them once; a repeated DELETE answers
/// `ENTITY_IS_DELETED`, which callers treat as done) and false for POST.
///
/// | answer                                              | idempotent | POST        |
/// |-----------------------------------------------------|------------|-------------|
/// | 2xx, 3xx                                            | Done       | Done        |
/// | connection could not be opened (nothing was sent)   | Retry      | Retry       |
/// | timeout, reset, truncated answer                    | Retry      | Done (1)    |
/// | 401 `INVALID_SESSION_ID`                            | Reauthenticate (2) | Reauthenticate (2) |
/// | 403 `REQUEST_LIMIT_EXCEEDED` "ConcurrentPerOrgLongTxn" / "ConcurrentRequest" | Retry (3) | Retry (3) |
/// | 403 `REQUEST_LIMIT_EXCEEDED`, any other message ("TotalRequests") | StopRun (4) | StopRun (4) |
/// | 400 `UNABLE_TO_LOCK_ROW`                            | Retry (5)  | Retry (5)   |
/// | 429 (only from proxies; Salesforce sends none)      | Retry      | Retry       |
/// | 500 `UNKNOWN_EXCEPTION`, 503 `SERVER_UNAVAILABLE`   | Retry (6)  | Retry (6)   |
/// | 502, 504 (Salesforce Edge)                          | Retry      | Done (1)    |
/// | any other 4xx (`INSUFFICIENT_ACCESS`, `MALFORMED_QUERY`, `QUERY_TIMEOUT`...) | Done | Done |
///
/// 1. The request may have been applied; repeating a create could create a second record.
///    The caller gets the error and re-reads (provisioning re-reads after every write).
/// 2. Access tokens carry no expiry; a 401 is how a client learns it expired (facts 1.1).
/// 3. The long-running-request cap frees up as other requests finish (facts 3.8).
/// 4. The daily allocation is a rolling 24-hour window: retrying only burns time and,
///    where the org is shared, other integrations' calls (facts 3.8).
/// 5. The lock holder's transaction finishes in seconds; nothing was written (facts 4.3).
/// 6. Salesforce rolls back the transaction of a request that fails with 500, and 503 means
///    it was not processed (facts 4.2).
pub fn classify(idempotent: bool, answer: Answer<'_>) -> Decision {
    match answer {
        Answer::Transport(TransportFailure::Connect) => Decision::Retry,
        Answer::Transport(TransportFailure::Timeout | TransportFailure::Reset) => {
            if idempotent {
                Decision::Retry
            } else {
                Decision::Done
            }
        }
        Answer::Transport(TransportFailure::Other) => Decision::Done,
        Answer::Status { status, .. } if status < 400 => Decision::Done,
        Answer::Status {
            status: 401,
            code: "INVALID_SESSION_ID",
            ..
        } => Decision::Reauthenticate,
        Answer::Status {
            code: "REQUEST_LIMIT_EXCEEDED",
            message,
            ..
        } => {
            if message.contains("Concurrent") {
                Decision::Retry
            } else {
                Decision::StopRun
            }
        }
        Answer::Status {
            code: "UNABLE_TO_LOCK_ROW",
            ..
        } => Decision::Retry,
        Answer::Status {
            status: 429 | 500 | 503,
            ..
        } => Decision::Retry,
        Answer::Status {
            status: 502 | 504, ..
        } => {
            if idempotent {
                Decision::Retry
            } else {
                Decision::Done
            }
        }
        Answer::Status { .. } => Decision::Done,
    }
}

/// Exponential backoff with full jitter: before retry `n` (1-based) wait a uniformly random
/// time in `[0, min(cap, base * 2^(n-1))]`. Full jitter spreads concurrent clients that
/// failed together (AWS architecture blog, "Exponential Backoff And Jitter").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Total attempts per request, the first included (`--max-attempts`).
    pub max_attempts: NonZeroU32,
    /// The ceiling of the first wait.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            max_attempts: NonZeroU32::new(4).expect("4 is not zero"),
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
        }
    }
}

impl Backoff {
    /// The ceiling of the wait before retry `retry` (1-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `retry`, drawn with full jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry).as_millis();
        let ceiling = u64::try_from(ceiling).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=ceiling))
    }

    /// True when attempt number `attempt` (1-based) may be followed by another.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: &'static str, message: &'static str) -> Answer<'static> {
        Answer::Status {
            status,
            code,
            message,
        }
    }

    #[test]
    fn decision_table_holds() {
        use Decision::*;
        use TransportFailure::*;
        // (answer, idempotent decision, POST decision), one row per line of the doc table.
        let table = [
            (status(200, "", ""), Done, Done),
            (status(204, "", ""), Done, Done),
            (Answer::Transport(Connect), Retry, Retry),
            (Answer::Transport(Timeout), Retry, Done),
            (Answer::Transport(Reset), Retry, Done),
            (Answer::Transport(Other), Done, Done),
            (
                status(401, "INVALID_SESSION_ID", "Session expired or invalid"),
                Reauthenticate,
                Reauthenticate,
            ),
            (
                status(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.",
                ),
                Retry,
                Retry,
            ),
            (
                status(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "TotalRequests Limit exceeded.",
                ),
                StopRun,
                StopRun,
            ),
            (
                status(
                    400,
                    "UNABLE_TO_LOCK_ROW",
                    "unable to obtain exclusive access",
                ),
                Retry,
                Retry,
            ),
            (status(429, "", ""), Retry, Retry),
            (status(500, "UNKNOWN_EXCEPTION", ""), Retry, Retry),
            (status(503, "SERVER_UNAVAILABLE", ""), Retry, Retry),
            (status(502, "", ""), Retry, Done),
            (status(504, "", ""), Retry, Done),
            (status(403, "INSUFFICIENT_ACCESS", ""), Done, Done),
            (status(400, "MALFORMED_QUERY", ""), Done, Done),
            (status(400, "QUERY_TIMEOUT", ""), Done, Done),
            (status(404, "NOT_FOUND", ""), Done, Done),
            (status(401, "OTHER", ""), Done, Done),
        ];
        for (answer, idempotent, post) in table {
            assert_eq!(classify(true, answer), idempotent, "idempotent {answer:?}");
            assert_eq!(classify(false, answer), post, "POST {answer:?}");
        }
    }

    #[test]
    fn backoff_ceiling_doubles_up_to_the_cap() {
        let backoff = Backoff {
            max_attempts: NonZeroU32::new(4).unwrap(),
            base: Duration::from_millis(500),
            cap: Duration::from_secs(3),
        };
        assert_eq!(backoff.ceiling(1), Duration::from_millis(500));
        assert_eq!(backoff.ceiling(2), Duration::from_millis(1000));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(2000));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(3));
        assert_eq!(backoff.ceiling(60), Duration::from_secs(3));
        for retry in 1..10 {
            assert!(backoff.delay(retry) <= backoff.ceiling(retry));
        }
        assert!(backoff.allows_another(3));
        assert!(!backoff.allows_another(4));
    }
}
