//! Queries: the pager that follows `nextRecordsUrl` until `done`, as a stream of typed pages,
//! and the `COUNT()` helper.
//!
//! Facts 3.3: batch size is a request header (`Sforce-Query-Options: batchSize=N`, 200 to
//! 2,000), Salesforce may return fewer rows than asked, and clients must loop on `done`,
//! never on counts. The pager yields each page as it arrives so callers can stream pages
//! into a store; it does not collect unless asked (`query_all`). It builds no SOQL.

use futures::{Stream, TryStreamExt};
use reqwest::header::HeaderName;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{ApiRequest, Client};
use super::error::SalesforceError;
use super::soql::Soql;

/// Rows per page: 200 to 2,000 (facts 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSize(u16);

impl BatchSize {
    /// The largest (and Salesforce's default) page size.
    pub const MAX: BatchSize = BatchSize(2000);
    /// The smallest page size Salesforce honours.
    pub const MIN: BatchSize = BatchSize(200);

    /// Validates a page size.
    pub fn new(n: u32) -> Result<BatchSize, String> {
        if (200..=2000).contains(&n) {
            Ok(BatchSize(n as u16))
        } else {
            Err(format!(
                "batch size {n} is outside Salesforce's range of 200 to 2000"
            ))
        }
    }

    /// The number of rows.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl Default for BatchSize {
    fn default() -> Self {
        BatchSize::MAX
    }
}

/// How to run a query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Rows per page.
    pub batch_size: BatchSize,
    /// `queryAll`: include soft-deleted and archived rows.
    pub include_deleted: bool,
}

/// One page of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// 1-based page number.
    pub number: u32,
    /// Rows of the whole query (not of the page).
    pub total_size: u64,
    /// The rows of this page.
    pub records: Vec<T>,
    /// True for the last page.
    pub is_last: bool,
}

/// The query response body (facts 3.3).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse<T> {
    total_size: u64,
    done: bool,
    #[serde(default)]
    next_records_url: Option<String>,
    #[serde(default = "Vec::new")]
    records: Vec<T>,
}

enum PagerState {
    Start,
    Next { path: String, number: u32 },
    Finished,
}

impl Client {
    /// The pages of a query, as a stream. Every page is one API call.
    pub fn query_pages<T>(
        &self,
        soql: &Soql,
        options: QueryOptions,
    ) -> impl Stream<Item = Result<Page<T>, SalesforceError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        let text = soql.as_str().to_string();
        let sobject = soql.object().to_string();
        futures::stream::try_unfold(PagerState::Start, move |state| {
            let client = client.clone();
            let text = text.clone();
            let sobject = sobject.clone();
            async move {
                let (request, number) = match state {
                    PagerState::Finished => return Ok(None),
                    PagerState::Start => {
                        tracing::trace!(sobject = %sobject, soql = %text, "query");
                        let resource = if options.include_deleted {
                            "queryAll"
                        } else {
                            "query"
                        };
                        (ApiRequest::get(resource).query("q", text.clone()), 1)
                    }
                    PagerState::Next { path, number } => (ApiRequest::get_path(&path)?, number),
                };
                let request = request.sobject(&sobject).header(
                    HeaderName::from_static("sforce-query-options"),
                    format!("batchSize={}", options.batch_size.get()),
                );
                let response: QueryResponse<T> = client.send(request).await?;
                let next = match (response.done, response.next_records_url) {
                    (true, _) => PagerState::Finished,
                    (false, Some(path)) => PagerState::Next {
                        path,
                        number: number + 1,
                    },
                    (false, None) => {
                        return Err(SalesforceError::config(
                            "nextRecordsUrl",
                            format!(
                                "Salesforce said page {number} of the {sobject} query is not the last but gave no next page"
                            ),
                        ));
                    }
                };
                tracing::debug!(
                    sobject = %sobject,
                    page = number,
                    records = response.records.len(),
                    total = response.total_size,
                    "query page"
                );
                let page = Page {
                    number,
                    total_size: response.total_size,
                    records: response.records,
                    is_last: matches!(next, PagerState::Finished),
                };
                Ok(Some((page, next)))
            }
        })
    }

    /// One page of a query: the first (`at` is `None`) or the one at a `nextRecordsUrl`-shaped
    /// path, with the `nextRecordsUrl` the response gives (None on the last page). One call.
    ///
    /// Callers that fetch the pages of one cursor concurrently build the paths of later pages
    /// from the first one's locator (`locator_page_path`).
    pub async fn query_page<T>(
        &self,
        soql: &Soql,
        at: Option<(&str, u32)>,
        options: QueryOptions,
    ) -> Result<(Page<T>, Option<String>), SalesforceError>
    where
        T: DeserializeOwned,
    {
        let sobject = soql.object();
        let (request, number) = match at {
            None => {
                let resource = if options.include_deleted {
                    "queryAll"
                } else {
                    "query"
                };
                (ApiRequest::get(resource).query("q", soql.as_str()), 1)
            }
            Some((path, number)) => (ApiRequest::get_path(path)?, number),
        };
        let request = request.sobject(sobject).header(
            HeaderName::from_static("sforce-query-options"),
            format!("batchSize={}", options.batch_size.get()),
        );
        let response: QueryResponse<T> = self.send(request).await?;
        let next = if response.done {
            None
        } else {
            match response.next_records_url {
                Some(path) => Some(path),
                None => {
                    return Err(SalesforceError::config(
                        "nextRecordsUrl",
                        format!(
                            "Salesforce said page {number} of the {sobject} query is not the last but gave no next page"
                        ),
                    ));
                }
            }
        };
        let page = Page {
            number,
            total_size: response.total_size,
            records: response.records,
            is_last: next.is_none(),
        };
        Ok((page, next))
    }

    /// Every row of a query, all pages collected.
    pub async fn query_all<T>(
        &self,
        soql: &Soql,
        options: QueryOptions,
    ) -> Result<Vec<T>, SalesforceError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let pages: Vec<Page<T>> = self.query_pages(soql, options).try_collect().await?;
        Ok(pages.into_iter().flat_map(|page| page.records).collect())
    }

    /// The row count of a `Soql::count(...)` query (its `totalSize`, facts 3.3). One call.
    pub async fn count(&self, soql: &Soql) -> Result<u64, SalesforceError> {
        let request = ApiRequest::get("query")
            .query("q", soql.as_str())
            .sobject(soql.object());
        let response: QueryResponse<serde_json::Value> = self.send(request).await?;
        Ok(response.total_size)
    }
}

/// The path of the cursor page that starts at row `offset`, built from a `nextRecordsUrl`
/// of the same cursor (`/services/data/vXX.X/query/<locator>-<offset>`); None when the path
/// does not have that shape.
///
/// Salesforce accepts any offset after a query locator's dash (widely relied on, not
/// documented), which lets the remaining pages of one query be read concurrently.
pub fn locator_page_path(next_records_url: &str, offset: u64) -> Option<String> {
    let (base, current) = next_records_url.rsplit_once('-')?;
    if current.is_empty() || !current.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let locator = base.rsplit_once('/')?.1;
    if locator.is_empty() || !base.contains("/query/") {
        return None;
    }
    Some(format!("{base}-{offset}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locator_pages_are_built_from_next_records_url() {
        assert_eq!(
            locator_page_path("/services/data/v64.0/query/01gxx0000004AAA-2000", 6000).as_deref(),
            Some("/services/data/v64.0/query/01gxx0000004AAA-6000")
        );
        assert_eq!(
            locator_page_path("/services/data/v64.0/query/01gxx", 2000),
            None
        );
        assert_eq!(
            locator_page_path("/services/data/v64.0/query/01g-x1", 2000),
            None
        );
    }

    #[test]
    fn batch_size_is_bounded_like_salesforce() {
        assert!(BatchSize::new(199).is_err());
        assert!(BatchSize::new(2001).is_err());
        assert_eq!(BatchSize::new(200).unwrap(), BatchSize::MIN);
        assert_eq!(BatchSize::default().get(), 2000);
    }

    #[test]
    fn query_response_parses_with_and_without_next_page() {
        let body = r#"{"totalSize":3,"done":false,"nextRecordsUrl":"/services/data/v64.0/query/01g-2",
            "records":[{"attributes":{"type":"User","url":"/x"},"Id":"005xx000001Sv6eAAC"}]}"#;
        let page: QueryResponse<serde_json::Value> = serde_json::from_str(body).unwrap();
        assert!(!page.done);
        assert_eq!(
            page.next_records_url.as_deref(),
            Some("/services/data/v64.0/query/01g-2")
        );
        let count: QueryResponse<serde_json::Value> =
            serde_json::from_str(r#"{"totalSize":42,"done":true,"records":[]}"#).unwrap();
        assert_eq!(count.total_size, 42);
    }
}
