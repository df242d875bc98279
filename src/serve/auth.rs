//! Bearer-token authentication of API callers.
//!
//! Tokens come from `--api-token-file` (one per line, `#` comments and blank lines ignored)
//! and `SF_ACCESS_API_TOKENS` (separated by commas or whitespace); several may be valid at
//! once so a token can be rotated without downtime. Only SHA-256 digests are kept in memory
//! after start-up, and a presented token is compared with every digest in constant time
//! (`subtle`), so neither the match position nor a common prefix shows in the timing.
//!
//! This module must never log or return a token, not even a rejected one.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The shortest token accepted: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why the configured tokens cannot be used. Never contains a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token file could not be read.
    #[error("--api-token-file {path}: cannot read it: {problem}")]
    File {
        /// The file.
        path: String,
        /// The OS error.
        problem: String,
    },
    /// A token is too short or has characters a header cannot carry.
    #[error("{source_name}: token {position} {problem}")]
    Invalid {
        /// `--api-token-file PATH` or `SF_ACCESS_API_TOKENS`.
        source_name: String,
        /// 1-based position of the token in its source.
        position: usize,
        /// What is wrong.
        problem: String,
    },
}

/// The valid API tokens, as digests.
#[derive(Clone, Default)]
pub struct ApiTokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiTokens({} token(s), [redacted])", self.digests.len())
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl ApiTokens {
    /// No tokens.
    pub fn new() -> ApiTokens {
        ApiTokens::default()
    }

    /// Adds the tokens of a text: separated by commas, whitespace or newlines; lines starting
    /// with `#` are comments. `source_name` names the source in errors.
    pub fn add_text(&mut self, text: &str, source_name: &str) -> Result<(), TokenError> {
        let tokens = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|t| !t.is_empty());
        for (i, token) in tokens.enumerate() {
            let invalid = |problem: &str| TokenError::Invalid {
                source_name: source_name.to_owned(),
                position: i + 1,
                problem: problem.to_owned(),
            };
            if token.chars().count() < MIN_TOKEN_LEN {
                return Err(invalid(&format!(
                    "is shorter than {MIN_TOKEN_LEN} characters; use a long random token (e.g. `openssl rand -hex 32`)"
                )));
            }
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid("has characters an HTTP header cannot carry"));
            }
            let d = digest(token.as_bytes());
            if !self.digests.contains(&d) {
                self.digests.push(d);
            }
        }
        Ok(())
    }

    /// Adds the tokens of a file (see [`ApiTokens::add_text`]).
    pub fn add_file(&mut self, path: &Path) -> Result<(), TokenError> {
        let text = std::fs::read_to_string(path).map_err(|e| TokenError::File {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
        self.add_text(&text, &format!("--api-token-file {}", path.display()))
    }

    /// How many tokens are valid.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// True when `presented` is one of the tokens. Compares with every token, in constant
    /// time each, whatever matches.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let d = digest(presented);
        let mut found = Choice::from(0);
        for known in &self.digests {
            found |= known.ct_eq(&d);
        }
        found.into()
    }

    /// True when an `Authorization` header value carries a valid bearer token.
    pub fn accepts_header(&self, value: &[u8]) -> bool {
        // The scheme is case-insensitive (RFC 9110 section 11.1).
        let Some(scheme) = value.get(..7) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return false;
        }
        let token = value[7..].trim_ascii();
        !token.is_empty() && self.accepts(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123";
    const B: &str = "fedcba9876543210fedc";

    fn tokens(text: &str) -> ApiTokens {
        let mut t = ApiTokens::new();
        t.add_text(text, "test").unwrap();
        t
    }

    #[test]
    fn several_tokens_are_valid_at_once_for_rotation() {
        let t = tokens(&format!("# old\n{A}\n\n{B}\n"));
        assert_eq!(t.len(), 2);
        assert!(t.accepts(A.as_bytes()));
        assert!(t.accepts(B.as_bytes()));
        assert!(!t.accepts(b"0123456789abcdef012"));
        assert!(!t.accepts(b""));
    }

    #[test]
    fn environment_lists_split_on_commas_and_spaces() {
        let t = tokens(&format!("{A}, {B}"));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn short_tokens_are_refused_without_echoing_them() {
        let mut t = ApiTokens::new();
        let error = t
            .add_text("short-secret", "SF_ACCESS_API_TOKENS")
            .unwrap_err();
        assert!(!error.to_string().contains("short-secret"), "{error}");
        assert!(error.to_string().contains("token 1"), "{error}");
    }

    #[test]
    fn bearer_header_scheme_is_case_insensitive_and_strict_otherwise() {
        let t = tokens(A);
        assert!(t.accepts_header(format!("Bearer {A}").as_bytes()));
        assert!(t.accepts_header(format!("bearer {A}").as_bytes()));
        assert!(!t.accepts_header(format!("Basic {A}").as_bytes()));
        assert!(!t.accepts_header(A.as_bytes()));
        assert!(!t.accepts_header(b"Bearer "));
        assert!(!t.accepts_header(b"Bear"));
    }

    #[test]
    fn debug_never_shows_a_token() {
        let t = tokens(A);
        assert!(!format!("{t:?}").contains(A));
    }
}
