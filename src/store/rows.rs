//! `GrantRows`: grants in the compact form the sync's expansion builds them in.
//!
//! A `Grant` is about 270 bytes: its id, entitlement and principal each spelled out, its
//! sources inline. The expansion of a large org builds 5.35 million of them, moves them
//! through a channel, and the writer reads each id back out of them. A row is about 48 bytes
//! and names its entitlement, its principal and its sources by index: the writer builds the
//! grant's id from the entitlement's text and the principal's, and numbers the principal
//! from a table it was given once (`RunWriter::put_principal_table`), without a hash lookup.
//! The stored grants are the same bytes either way.

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::model::{EntitlementId, Grant, GrantSource, GrantSources, ResourceId};
use crate::salesforce::SfId;

/// Grants as rows that name their entitlement, principal and sources by index (see the
/// module doc). Principals are indexes into the run's principal table
/// (`RunWriter::put_principal_table`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GrantRows {
    /// The entitlements the rows name.
    pub entitlements: Vec<EntitlementId>,
    /// The sources the rows name.
    pub sources: Vec<GrantSource>,
    /// The rows' source lists: indexes into `sources` (see `GrantRow::sources`).
    pub source_lists: Vec<u32>,
    /// The grants.
    pub rows: Vec<GrantRow>,
}

/// One grant of `GrantRows`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GrantRow {
    /// Index into `GrantRows::entitlements`.
    pub entitlement: u32,
    /// Index into the run's principal table.
    pub principal: u32,
    /// As `Grant::direct`.
    pub direct: bool,
    /// `GrantRows::source_lists[start..start + len]`: the grant's sources, in their order
    /// (`Grant::sources` must be sorted, and so must these).
    pub sources: (u32, u32),
    /// As `Grant::expires_at`.
    pub expires_at: Option<DateTime<Utc>>,
    /// As `Grant::details.record_id`.
    pub record_id: Option<SfId>,
}

impl GrantRows {
    /// True when there are no rows.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The number of rows.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The source indexes of `row` (in range once `check` passed).
    pub(crate) fn source_indexes(&self, row: &GrantRow) -> &[u32] {
        let (start, len) = (row.sources.0 as usize, row.sources.1 as usize);
        &self.source_lists[start..start + len]
    }

    /// Checks that every index is in range (`principals`: the size of the principal table)
    /// and that every row is a valid grant: sources in order and without repeats, and a
    /// source for a grant that is not direct.
    pub(crate) fn check(&self, principals: &[(ResourceId, u32)]) -> Result<(), StoreError> {
        let bad = |what: String| Err(StoreError::BadRows { what });
        for (i, row) in self.rows.iter().enumerate() {
            if row.entitlement as usize >= self.entitlements.len() {
                return bad(format!(
                    "row {i} names entitlement {} of {}",
                    row.entitlement,
                    self.entitlements.len()
                ));
            }
            if row.principal as usize >= principals.len() {
                return bad(format!(
                    "row {i} names principal {} of a table of {}",
                    row.principal,
                    principals.len()
                ));
            }
            let (start, len) = (row.sources.0 as usize, row.sources.1 as usize);
            if start
                .checked_add(len)
                .is_none_or(|end| end > self.source_lists.len())
            {
                return bad(format!(
                    "row {i} names sources {start}..{} of {}",
                    start.saturating_add(len),
                    self.source_lists.len()
                ));
            }
            let indexes = &self.source_lists[start..start + len];
            if let Some(&s) = indexes.iter().find(|&&s| s as usize >= self.sources.len()) {
                return bad(format!(
                    "row {i} names source {s} of {}",
                    self.sources.len()
                ));
            }
            // The grant's own checks, on the grant only when one fails (for its message).
            let sorted = indexes
                .windows(2)
                .all(|w| self.sources[w[0] as usize] < self.sources[w[1] as usize]);
            if !sorted || (!row.direct && len == 0) {
                self.grant(row, principals[row.principal as usize].0)
                    .validate()?;
            }
        }
        Ok(())
    }

    /// The `Grant` of `row`, whose principal is `principal`. Panics on an index out of
    /// range (`check` finds them).
    pub(crate) fn grant(&self, row: &GrantRow, principal: ResourceId) -> Grant {
        let mut grant = Grant::direct(self.entitlements[row.entitlement as usize], principal);
        grant.direct = row.direct;
        grant.sources = self
            .source_indexes(row)
            .iter()
            .map(|&s| self.sources[s as usize])
            .collect::<GrantSources>();
        grant.expires_at = row.expires_at;
        grant.details.record_id = row.record_id;
        grant
    }
}
