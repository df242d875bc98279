//! One write operation in progress: its reads, its writes (made, or in a dry run only
//! recorded), the API calls it spends, and the audit line it leaves when it finishes.
//!
//! Every provisioning call and every action runs through a `Session`: `Provisioner::begin`
//! refuses writes without `--provisioning` (dry runs excepted), `Session::write` is the only
//! place a write is sent, and `Session::finish` appends the audit line for success and failure
//! alike. So no code path can write without being counted, planned for a dry run and logged.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::audit::{AuditEntry, AuditFailure, AuditTarget};
use super::{Operation, Outcome, ProvisionError, Provisioner, WriteOptions};
use crate::model::ResourceId;
use crate::salesforce::{Client, QueryOptions, SalesforceError, SfId, Soql};
use crate::settings::LicenseProfileMapping;

/// One write call to Salesforce, as made or as a dry run would make it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedCall {
    /// `POST`, `PATCH` or `DELETE`.
    pub method: String,
    /// The request path, `/services/data/v64.0/sobjects/PermissionSetAssignment`.
    pub path: String,
    /// The JSON body (absent for `DELETE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl fmt::Display for PlannedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(body) = &self.body {
            write!(f, " {body}")?;
        }
        Ok(())
    }
}

/// A write, before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// `POST /sobjects/<object>`.
    Create {
        /// The sObject.
        object: &'static str,
        /// The fields.
        body: Value,
    },
    /// `PATCH /sobjects/<object>/<id>`.
    Update {
        /// The sObject.
        object: &'static str,
        /// The record.
        id: SfId,
        /// The fields to set.
        body: Value,
    },
    /// `DELETE /sobjects/<object>/<id>`.
    Delete {
        /// The sObject.
        object: &'static str,
        /// The record.
        id: SfId,
    },
}

impl Write {
    fn planned(&self, api_version: &str) -> PlannedCall {
        let base = format!("/services/data/v{api_version}/sobjects");
        match self {
            Write::Create { object, body } => PlannedCall {
                method: "POST".into(),
                path: format!("{base}/{object}"),
                body: Some(body.clone()),
            },
            Write::Update { object, id, body } => PlannedCall {
                method: "PATCH".into(),
                path: format!("{base}/{object}/{id}"),
                body: Some(body.clone()),
            },
            Write::Delete { object, id } => PlannedCall {
                method: "DELETE".into(),
                path: format!("{base}/{object}/{id}"),
                body: None,
            },
        }
    }
}

/// The result of a successful operation body: what happened and the values after.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    /// The outcome.
    pub outcome: Outcome,
    /// The affected values after the write, as read back (or as they are, for no-ops;
    /// `null` in a dry run that would write).
    pub after: Value,
}

/// An error an operation can end with, as the audit log records it.
pub(crate) trait Audited: std::error::Error + From<ProvisionError> {
    /// sf-access's stable code.
    fn audit_code(&self) -> &'static str;
    /// Salesforce's `errorCode`, when Salesforce refused.
    fn salesforce_code(&self) -> Option<String>;
}

impl Audited for ProvisionError {
    fn audit_code(&self) -> &'static str {
        self.code()
    }

    fn salesforce_code(&self) -> Option<String> {
        ProvisionError::salesforce_code(self).map(str::to_owned)
    }
}

/// What a finished operation hands back to build its report.
#[derive(Debug)]
pub(crate) struct Finished<X> {
    /// The outcome.
    pub outcome: Outcome,
    /// The affected values before.
    pub before: Value,
    /// The affected values after.
    pub after: Value,
    /// The write calls made (or planned).
    pub calls: Vec<PlannedCall>,
    /// API calls spent.
    pub api_calls: u64,
    /// Operation-specific results.
    pub extra: X,
}

/// An operation in progress.
pub(crate) struct Session<'a> {
    provisioner: &'a Provisioner,
    options: &'a WriteOptions,
    operation: Operation,
    target: Mutex<AuditTarget>,
    before: Mutex<Value>,
    calls: AtomicU64,
    planned: Mutex<Vec<PlannedCall>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The message of an error with its causes, for the log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

impl Provisioner {
    /// Starts an operation. A write without `--provisioning` is refused here (and logged);
    /// a dry run is always allowed, since it writes nothing.
    pub(crate) fn begin<'a>(
        &'a self,
        options: &'a WriteOptions,
        operation: Operation,
        target: AuditTarget,
    ) -> Result<Session<'a>, ProvisionError> {
        let session = Session {
            provisioner: self,
            options,
            operation,
            target: Mutex::new(target),
            before: Mutex::new(Value::Null),
            calls: AtomicU64::new(0),
            planned: Mutex::new(Vec::new()),
        };
        if !options.dry_run && !self.provisioning {
            let refused: Result<(Change, ()), ProvisionError> =
                Err(ProvisionError::ProvisioningDisabled { operation });
            // `finish` logs the refusal and hands the error back (or the audit error).
            return Err(session
                .finish(refused)
                .err()
                .unwrap_or(ProvisionError::ProvisioningDisabled { operation }));
        }
        Ok(session)
    }
}

impl Session<'_> {
    /// True in a dry run.
    pub fn is_dry_run(&self) -> bool {
        self.options.dry_run
    }

    /// The client, for calls that are neither reads nor writes (the caller's identity).
    pub fn client(&self) -> &Client {
        &self.provisioner.client
    }

    /// The least-privilege mapping.
    pub fn mapping(&self) -> Option<&LicenseProfileMapping> {
        self.provisioner.mapping.as_ref()
    }

    /// Records the affected values as read before any write.
    pub fn set_before(&self, before: Value) {
        *lock(&self.before) = before;
    }

    /// Records the resource the operation turned out to concern (create-account).
    pub fn set_resource(&self, id: ResourceId) {
        lock(&self.target).resource_id = Some(id);
    }

    /// Runs a query to the end; every page is one API call.
    pub async fn query<T>(&self, soql: &Soql) -> Result<Vec<T>, SalesforceError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let mut pages = std::pin::pin!(
            self.client()
                .query_pages::<T>(soql, QueryOptions::default())
        );
        let mut rows = Vec::new();
        while let Some(page) = pages.next().await {
            self.calls.fetch_add(1, Ordering::SeqCst);
            rows.extend(page?.records);
        }
        Ok(rows)
    }

    /// The first row of a query, if any.
    pub async fn query_first<T>(&self, soql: &Soql) -> Result<Option<T>, SalesforceError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        Ok(self.query(soql).await?.into_iter().next())
    }

    /// Sends a write, or in a dry run only records it. Returns the new record's ID for a
    /// create that was sent.
    pub async fn write(&self, write: Write) -> Result<Option<SfId>, SalesforceError> {
        let client = self.client();
        lock(&self.planned).push(write.planned(client.api_version().as_str()));
        if self.is_dry_run() {
            return Ok(None);
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        match write {
            Write::Create { object, body } => client.create(object, &body).await.map(Some),
            Write::Update { object, id, body } => {
                client.update(object, &id, &body).await.map(|_| None)
            }
            Write::Delete { object, id } => client.delete(object, &id).await.map(|_| None),
        }
    }

    /// Ends the operation: appends its audit line and hands back what the report needs.
    /// When the line cannot be written the operation fails with `ProvisionError::Audit`,
    /// which says whether Salesforce was changed.
    pub fn finish<X, E: Audited>(self, result: Result<(Change, X), E>) -> Result<Finished<X>, E> {
        let before = std::mem::take(&mut *lock(&self.before));
        let calls = std::mem::take(&mut *lock(&self.planned));
        let api_calls = self.calls.load(Ordering::SeqCst);
        let (audit_result, after) = match &result {
            Ok((change, _)) => (Ok(change.outcome.clone()), change.after.clone()),
            Err(error) => (
                Err(AuditFailure {
                    code: error.audit_code().to_owned(),
                    salesforce_code: error.salesforce_code(),
                    message: chain(error),
                }),
                Value::Null,
            ),
        };
        if let Some(log) = &self.provisioner.audit {
            let entry = AuditEntry {
                time: chrono::Utc::now(),
                request_id: self.options.request_id.clone(),
                operation: self.operation,
                dry_run: self.options.dry_run,
                target: lock(&self.target).clone(),
                before: before.clone(),
                after: after.clone(),
                result: audit_result,
                calls: calls.clone(),
                api_calls,
            };
            if let Err(source) = log.append(&entry) {
                if let Err(error) = &result {
                    // The audit error replaces this one in the answer; keep it in the logs.
                    tracing::error!(
                        request_id = %self.options.request_id,
                        error = %chain(error),
                        "The operation failed and its audit line could not be written."
                    );
                }
                let change = match &result {
                    Ok((change, _)) if !self.options.dry_run && !change.outcome.is_no_op() => {
                        Some(change.outcome.to_string())
                    }
                    Err(_) if !self.options.dry_run && !calls.is_empty() => Some(format!(
                        "{} write call(s) were sent before the failure",
                        calls.len()
                    )),
                    _ => None,
                };
                return Err(ProvisionError::Audit {
                    path: log.path().to_path_buf(),
                    change,
                    source,
                }
                .into());
            }
        }
        let (change, extra) = result?;
        tracing::info!(
            operation = %self.operation,
            request_id = %self.options.request_id,
            outcome = change.outcome.as_str(),
            dry_run = self.options.dry_run,
            api_calls,
            "Write finished."
        );
        Ok(Finished {
            outcome: change.outcome,
            before,
            after,
            calls,
            api_calls,
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_calls_print_method_path_and_body() {
        let id = SfId::parse("0Pa5g0000000001CAA").unwrap();
        let create = Write::Create {
            object: "GroupMember",
            body: serde_json::json!({"GroupId": "00G5g000000000QEAQ"}),
        }
        .planned("64.0");
        assert_eq!(
            create.to_string(),
            r#"POST /services/data/v64.0/sobjects/GroupMember {"GroupId":"00G5g000000000QEAQ"}"#
        );
        let delete = Write::Delete {
            object: "PermissionSetAssignment",
            id,
        }
        .planned("64.0");
        assert_eq!(
            delete.to_string(),
            "DELETE /services/data/v64.0/sobjects/PermissionSetAssignment/0Pa5g0000000001CAA"
        );
        assert!(serde_json::to_value(&delete).unwrap().get("body").is_none());
    }
}
