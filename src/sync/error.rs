//! `SyncError`: what went wrong in a sync, naming the Salesforce object (and record and field
//! where there is one), over the layered errors of the client and the store.

use crate::model::IdError;
use crate::salesforce::{SalesforceError, SfId};
use crate::store::StoreError;

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Logging in failed before anything was read.
    #[error("cannot log in to Salesforce")]
    Login(#[source] Box<SalesforceError>),
    /// Reading an object failed.
    #[error("reading {object} failed")]
    Fetch {
        /// The Salesforce object.
        object: &'static str,
        /// The client's error (boxed: it is large and errors are rare).
        #[source]
        source: Box<SalesforceError>,
    },
    /// A record holds a value the model cannot take (an id of the wrong object).
    #[error("{object} {record}: {field} cannot be mapped")]
    Map {
        /// The Salesforce object.
        object: &'static str,
        /// The record.
        record: SfId,
        /// The field.
        field: &'static str,
        /// Why (boxed: it is large and errors are rare).
        #[source]
        source: Box<IdError>,
    },
    /// An object's rows could not be encoded for the next incremental sync.
    #[error("cannot keep the rows of {object} for the next incremental sync")]
    Snapshot {
        /// The Salesforce object.
        object: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Rows the previous run kept, copied because their object did not change, cannot be
    /// decoded now that the run needs them.
    #[error("the rows of {object} kept by the previous run cannot be read: {problem}")]
    KeptRows {
        /// The Salesforce object.
        object: &'static str,
        /// Why.
        problem: String,
    },
    /// The store refused the run or a batch of it.
    #[error("cannot write the sync run to the store")]
    Store(#[from] StoreError),
    /// The store writer had already stopped on an error, reported by whoever met it first.
    #[error("the store writer stopped after an earlier error")]
    WriterStopped,
    /// The sync was stopped (Ctrl-C, SIGTERM) before it finished.
    #[error("the sync was interrupted before it finished")]
    Interrupted,
}

impl SyncError {
    /// The Salesforce error under this one, if any.
    pub fn salesforce(&self) -> Option<&SalesforceError> {
        match self {
            SyncError::Login(e) | SyncError::Fetch { source: e, .. } => Some(e.as_ref()),
            _ => None,
        }
    }

    /// What to do about it, for the causes we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            SyncError::Login(e) => e.hint(),
            SyncError::Fetch { object, source } => source.hint().or_else(|| {
                (source.category() == crate::salesforce::ErrorCategory::Permission).then(|| {
                    format!(
                        "the integration user cannot read {object}: run `sf-access check` to see which permission is missing"
                    )
                })
            }),
            SyncError::Map { .. } => Some(
                "this record breaks an assumption about Salesforce ids; please report it with the object and field named above"
                    .to_owned(),
            ),
            SyncError::Store(e) => e.hint(),
            SyncError::WriterStopped | SyncError::Snapshot { .. } => None,
            SyncError::KeptRows { .. } => Some(
                "run `sf-access sync` without --incremental once: it reads every object again"
                    .to_owned(),
            ),
            SyncError::Interrupted => Some(
                "the previous successful run is still the latest; run the sync again to finish"
                    .to_owned(),
            ),
        }
    }
}
