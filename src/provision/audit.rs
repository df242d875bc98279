//! The audit log: one JSON line per write (grant, revoke, create-account, action), dry runs
//! and failures included: time, request id, operation, target ids, before and after values,
//! outcome (or error), the write calls made (or planned) and the API calls spent.
//!
//! The file is append-only and each line is written with one `write` call under a lock and
//! synced, so lines never interleave and a crash loses at most the line being written. New
//! files are created readable by their owner only. The log never holds a secret: it records
//! ids, field values of the records written and Salesforce's error messages, never tokens,
//! credentials or passwords (provisioning never sets a password).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Operation, Outcome, PlannedCall, RequestId};
use crate::model::{EntitlementId, GrantId, ResourceId};

/// The default file name, created next to the store (`--file`).
pub const DEFAULT_FILE_NAME: &str = "sf-access-audit.jsonl";

/// The default audit log for a store file: `sf-access-audit.jsonl` in the store's directory.
pub fn default_path(store: &Path) -> PathBuf {
    match store.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(DEFAULT_FILE_NAME),
        _ => PathBuf::from(DEFAULT_FILE_NAME),
    }
}

/// An append-only JSON-lines audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    lock: Mutex<()>,
}

impl AuditLog {
    /// Opens (creating if needed) the log, so that a log that cannot be written is found
    /// before any write to Salesforce.
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<AuditLog> {
        let path = path.into();
        open_append(&path)?;
        Ok(AuditLog {
            path,
            lock: Mutex::new(()),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry as one line.
    pub fn append(&self, entry: &AuditEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&entry.to_json()).map_err(std::io::Error::other)?;
        line.push(b'\n');
        // One process may run many writes at once (the HTTP service): the lock keeps lines
        // whole; O_APPEND keeps them whole between processes for lines of this size.
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = open_append(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// What a write was about: the ids it targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditTarget {
    /// The grant (grant, revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<GrantId>,
    /// The entitlement (grant, revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement_id: Option<EntitlementId>,
    /// The principal (grant, revoke).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<ResourceId>,
    /// The resource (actions, create-account once the user is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<ResourceId>,
    /// The action name (actions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The username (create-account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl AuditTarget {
    /// The target of a grant or revoke.
    pub fn grant(id: GrantId) -> AuditTarget {
        AuditTarget {
            grant_id: Some(id),
            entitlement_id: Some(id.entitlement_id()),
            principal_id: Some(id.principal_id()),
            ..AuditTarget::default()
        }
    }
}

/// Why a write failed, as the log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFailure {
    /// sf-access's stable code (`not_found`, `salesforce_error`...).
    pub code: String,
    /// Salesforce's `errorCode`, when Salesforce refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salesforce_code: Option<String>,
    /// The message with its causes.
    pub message: String,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// When the write finished.
    pub time: DateTime<Utc>,
    /// The caller's request id.
    pub request_id: RequestId,
    /// Which operation.
    pub operation: Operation,
    /// True for dry runs (no write was made).
    pub dry_run: bool,
    /// The ids concerned.
    pub target: AuditTarget,
    /// The affected values before, as read from Salesforce (`null` when not read).
    pub before: Value,
    /// The affected values after, as read back (`null` when unknown: failures, dry runs).
    pub after: Value,
    /// The outcome, or why it failed.
    pub result: Result<Outcome, AuditFailure>,
    /// The write calls made (in a dry run: that would have been made).
    pub calls: Vec<PlannedCall>,
    /// Salesforce API calls spent, reads included.
    pub api_calls: u64,
}

impl AuditEntry {
    /// The JSON of the line. Field order is fixed so lines diff well.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert(
            "time".into(),
            json!(self.time.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        out.insert("request_id".into(), json!(self.request_id));
        out.insert("operation".into(), json!(self.operation));
        out.insert("dry_run".into(), json!(self.dry_run));
        out.insert("target".into(), json!(self.target));
        match &self.result {
            Ok(outcome) => {
                if let Value::Object(fields) = json!(outcome) {
                    out.extend(fields);
                }
            }
            Err(failure) => {
                out.insert("outcome".into(), json!("failed"));
                out.insert("error".into(), json!(failure));
            }
        }
        out.insert("before".into(), self.before.clone());
        out.insert("after".into(), self.after.clone());
        out.insert("calls".into(), json!(self.calls));
        out.insert("api_calls".into(), json!(self.api_calls));
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(result: Result<Outcome, AuditFailure>) -> AuditEntry {
        AuditEntry {
            time: "2026-01-02T03:04:05Z".parse().unwrap(),
            request_id: RequestId::parse("req-1").unwrap(),
            operation: Operation::Grant,
            dry_run: false,
            target: AuditTarget::grant(
                GrantId::parse("role:00E5g0000000001EAA:assigned:user:0055g0000000004AAA").unwrap(),
            ),
            before: json!({"UserRoleId": "00E5g0000000007EAA"}),
            after: json!({"UserRoleId": "00E5g0000000001EAA"}),
            result,
            calls: Vec::new(),
            api_calls: 3,
        }
    }

    #[test]
    fn lines_carry_every_field_in_a_fixed_order() {
        let line = entry(Ok(Outcome::Replaced {
            previous: ResourceId::parse("role:00E5g0000000007EAA").unwrap(),
        }))
        .to_json();
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "time",
                "request_id",
                "operation",
                "dry_run",
                "target",
                "outcome",
                "previous",
                "before",
                "after",
                "calls",
                "api_calls"
            ]
        );
        assert_eq!(line["time"], "2026-01-02T03:04:05.000Z");
        assert_eq!(line["target"]["principal_id"], "user:0055g0000000004AAA");
    }

    #[test]
    fn failures_are_logged_with_their_code() {
        let line = entry(Err(AuditFailure {
            code: "salesforce_error".into(),
            salesforce_code: Some("FIELD_INTEGRITY_EXCEPTION".into()),
            message: "refused".into(),
        }))
        .to_json();
        assert_eq!(line["outcome"], "failed");
        assert_eq!(
            line["error"]["salesforce_code"],
            "FIELD_INTEGRITY_EXCEPTION"
        );
    }

    #[test]
    fn appends_one_line_per_entry_and_creates_the_file_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.append(&entry(Ok(Outcome::Granted))).unwrap();
        log.append(&entry(Ok(Outcome::AlreadyExists))).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["outcome"], "already_exists");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_log_in_a_missing_directory_fails_to_open() {
        let dir = tempfile::tempdir().unwrap();
        assert!(AuditLog::open(dir.path().join("missing/audit.jsonl")).is_err());
    }

    #[test]
    fn default_path_is_beside_the_store() {
        assert_eq!(
            default_path(Path::new("sf-access.db")),
            PathBuf::from("sf-access-audit.jsonl")
        );
        assert_eq!(
            default_path(Path::new("/var/lib/sf/store.db")),
            PathBuf::from("/var/lib/sf/sf-access-audit.jsonl")
        );
    }
}
