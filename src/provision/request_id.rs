//! `RequestId`: the caller's id for one write, carried into the report and the audit log so a
//! governance platform can match its own records to ours.
//!
//! Caller-supplied ids are checked, because they land in a log that people and tools parse:
//! 1 to 128 characters from a small set (letters, digits and `-_.:/@+=`), which covers UUIDs,
//! ULIDs, KSUIDs and `ticket-123` style ids. When the caller gives none, one is generated.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The longest request id accepted.
pub const MAX_LEN: usize = 128;

/// A validated request id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

/// Why a string is not a request id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestIdError {
    /// Empty.
    #[error("a request id cannot be empty")]
    Empty,
    /// Longer than `MAX_LEN`.
    #[error("a request id has at most {MAX_LEN} characters, this one has {0}")]
    TooLong(usize),
    /// A character outside the allowed set.
    #[error(
        "a request id may contain letters, digits and - _ . : / @ + = only; found {0:?} at position {1}"
    )]
    Character(char, usize),
}

impl RequestId {
    /// Checks a caller-supplied id.
    pub fn parse(s: &str) -> Result<RequestId, RequestIdError> {
        if s.is_empty() {
            return Err(RequestIdError::Empty);
        }
        let count = s.chars().count();
        if count > MAX_LEN {
            return Err(RequestIdError::TooLong(count));
        }
        if let Some((i, c)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || "-_.:/@+=".contains(*c)))
        {
            return Err(RequestIdError::Character(c, i));
        }
        Ok(RequestId(s.to_owned()))
    }

    /// A new id, `sfa-` and 24 hex digits: the time in microseconds and 32 random bits, so
    /// ids sort by time and two processes do not collide.
    pub fn generate() -> RequestId {
        let micros = chrono::Utc::now().timestamp_micros().max(0) as u64;
        RequestId(format!("sfa-{micros:016x}{:08x}", fastrand::u32(..)))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RequestId {
    type Err = RequestIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestId::parse(s)
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_id_formats_are_accepted() {
        for id in [
            "3f2b8c1e-7d4a-4e2b-9c1f-0a1b2c3d4e5f",
            "01HZX3K5Q8Y7W6V5T4S3R2P1N0",
            "ticket-123",
            "c1:grant/42@tenant+a=b",
        ] {
            assert_eq!(RequestId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn ids_that_could_break_a_log_line_are_refused() {
        assert_eq!(RequestId::parse(""), Err(RequestIdError::Empty));
        assert!(matches!(
            RequestId::parse("a\nb"),
            Err(RequestIdError::Character('\n', 1))
        ));
        assert!(matches!(
            RequestId::parse("x\" , \"outcome\": \"granted"),
            Err(RequestIdError::Character('"', 1))
        ));
        assert!(matches!(
            RequestId::parse(&"a".repeat(129)),
            Err(RequestIdError::TooLong(129))
        ));
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(RequestId::parse(a.as_str()).unwrap(), a);
        assert!(a.as_str().starts_with("sfa-") && a.as_str().len() == 28);
    }
}
