//! Opaque page tokens and page sizes for the record listings.
//!
//! A token is base64url (no padding) of a small JSON object: the format version, the sync run
//! the listing reads, the listing's kind and filters, and the id of the last record returned.
//! Pinning the run means a client paging through a listing sees one consistent snapshot even
//! when a newer sync finishes halfway; the store's keyset readers then make every record
//! appear exactly once. Tokens are not secret and need no signature: a forged one can only
//! name records the caller may read anyway, and every field is parsed strictly.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::store::RunId;

/// Records per page when the client does not say.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The largest page the service returns; larger requests are capped to it.
pub const MAX_PAGE_SIZE: usize = 1_000;

/// The longest token accepted (a grant id is under 100 characters; filters add two more).
const MAX_TOKEN_LEN: usize = 1_024;

/// The decoded content of a page token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageToken {
    /// Format version.
    v: u8,
    /// The run read.
    run: RunId,
    /// `resources`, `entitlements` or `grants`.
    kind: String,
    /// The listing's filters, in a fixed text form (`type=user`, ...).
    filter: String,
    /// The id of the last record of the previous page.
    after: String,
}

impl PageToken {
    /// A token for the page after `after`.
    pub fn new(run: RunId, kind: &str, filter: &str, after: impl ToString) -> PageToken {
        PageToken {
            v: 1,
            run,
            kind: kind.to_owned(),
            filter: filter.to_owned(),
            after: after.to_string(),
        }
    }

    /// The token as clients see it.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a page token serializes");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a client's token for a listing of `kind` with `filter`; a token of another
    /// listing or other filters is refused, because its position means nothing here.
    pub fn decode(text: &str, kind: &str, filter: &str) -> Result<PageToken, ApiError> {
        let invalid = |why: &str| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_page_token",
                format!("page_token: {why}"),
            )
            .with_hint("pass next_page_token exactly as returned, with the same filters")
        };
        if text.len() > MAX_TOKEN_LEN {
            return Err(invalid("too long to be a page token"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid("not a page token of this service"))?;
        let token: PageToken = serde_json::from_slice(&bytes)
            .map_err(|_| invalid("not a page token of this service"))?;
        if token.v != 1 {
            return Err(invalid("written by another version of the service"));
        }
        if token.kind != kind || token.filter != filter {
            return Err(invalid("it belongs to another listing or other filters"));
        }
        Ok(token)
    }

    /// The run the listing reads.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// The id of the last record of the previous page, as text (the caller parses it with the
    /// listing's id type).
    pub fn after(&self) -> &str {
        &self.after
    }
}

/// The page size to use: the client's (capped to [`MAX_PAGE_SIZE`]) or the default. Zero and
/// anything that is not a number are refused rather than guessed at.
pub fn page_size(requested: Option<&str>) -> Result<usize, ApiError> {
    let Some(text) = requested else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || text.bytes().all(|b| b == b'0') {
        return Err(ApiError::invalid_parameter(
            "page_size",
            format!(
                "must be a positive integer (pages hold at most {MAX_PAGE_SIZE} records), not {text:?}"
            ),
        ));
    }
    // Digits only: a number too large for u64 is just a large request, capped like any other.
    Ok(text
        .parse::<usize>()
        .map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: &str) -> RunId {
        n.parse().unwrap()
    }

    #[test]
    fn tokens_round_trip_and_stay_url_safe() {
        let token = PageToken::new(run("3"), "grants", "entitlement_id=", "a:b:c");
        let text = token.encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            PageToken::decode(&text, "grants", "entitlement_id=").unwrap(),
            token
        );
    }

    #[test]
    fn tokens_of_other_listings_or_filters_are_refused() {
        let text = PageToken::new(run("3"), "grants", "", "x").encode();
        assert_eq!(
            PageToken::decode(&text, "resources", "").unwrap_err().code,
            "invalid_page_token"
        );
        assert_eq!(
            PageToken::decode(&text, "grants", "principal_id=user:x")
                .unwrap_err()
                .code,
            "invalid_page_token"
        );
    }

    #[test]
    fn garbage_tokens_are_refused() {
        for text in ["", "%%%", "bm90IGpzb24", &"A".repeat(5_000)] {
            assert_eq!(
                PageToken::decode(text, "grants", "").unwrap_err().code,
                "invalid_page_token",
                "{text}"
            );
        }
    }

    #[test]
    fn page_sizes_are_capped_and_zero_is_refused() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some("7")).unwrap(), 7);
        assert_eq!(page_size(Some("1000000")).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(
            page_size(Some("99999999999999999999")).unwrap(),
            MAX_PAGE_SIZE
        );
        assert_eq!(page_size(Some("0")).unwrap_err().code, "invalid_parameter");
        assert_eq!(page_size(Some("-1")).unwrap_err().code, "invalid_parameter");
        assert_eq!(
            page_size(Some("ten")).unwrap_err().code,
            "invalid_parameter"
        );
    }
}
