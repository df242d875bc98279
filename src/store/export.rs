//! The export writers: `jsonl`, `json` and the `csv` access-review grid, from one run.
//!
//! Exports are deterministic: records come out in a fixed kind order and id order, each as
//! the canonical JSON document the writer stored, and nothing about the run itself (id,
//! times) is written, so the same org state gives byte-identical files. Files are written to a
//! temporary file in the target's directory and renamed into place, so a failed export never
//! leaves a partial file where a good one was.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::read::Table;
use super::{RunId, Store, StoreError};
use crate::model::types::{definition, slug_definition};
use crate::model::{Grant, Resource, ResourceDetails, ResourceTypeId, SourceKind, UserStatus};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line with a `kind` field: resource types, resources,
    /// entitlements, grants, each sorted by id.
    Jsonl,
    /// One JSON document with an array per kind.
    Json,
    /// The access-review grid: one row per grant to a user.
    Csv,
    /// baton's sync file (v1 c1z), which the `baton` CLI and ConductorOne read. Written to a
    /// file, it is added to the file's syncs (the two newest are kept, for `baton diff`).
    C1z,
}

/// Where an export goes: a file, or standard output (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// A file, replaced atomically.
    Path(PathBuf),
}

impl FromStr for Output {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" => Err("the output is empty; give a file path, or - for standard output".to_owned()),
            "-" => Ok(Output::Stdout),
            path => Ok(Output::Path(PathBuf::from(path))),
        }
    }
}

fn write_error(source: std::io::Error) -> StoreError {
    StoreError::Io {
        operation: "cannot write the export to",
        path: PathBuf::from("the output"),
        source,
    }
}

/// Writes run `run` of `store` in `format` to `out`.
pub fn export(
    store: &Store,
    run: RunId,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    // One read transaction: every table is read from the same snapshot, even if a sync
    // finishes (and prunes the run being exported) meanwhile.
    let snapshot = store
        .conn()
        .unchecked_transaction()
        .map_err(StoreError::sqlite("begin a read transaction"))?;
    match format {
        ExportFormat::Jsonl => write_jsonl(store, run, out),
        ExportFormat::Json => write_json(store, run, out),
        ExportFormat::Csv => write_csv(store, run, out),
        ExportFormat::C1z => write_c1z(store, run, out),
    }?;
    // Nothing was written; ending the read transaction cannot lose anything.
    snapshot
        .rollback()
        .map_err(StoreError::sqlite("end a read transaction"))
}

/// A c1z of the run, built in a temporary directory and copied to `out` (standard output or
/// an in-memory buffer; files are written by `export_to_output` directly).
fn write_c1z(store: &Store, run: RunId, out: &mut dyn Write) -> Result<(), StoreError> {
    let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
        operation: "cannot create a temporary directory for",
        path: PathBuf::from("the c1z export"),
        source,
    })?;
    let path = dir.path().join("export.c1z");
    let options = super::c1z::WriteOptions {
        mode: super::c1z::WriteMode::Replace,
        ..super::c1z::WriteOptions::default()
    };
    super::c1z::write_run(store, run, &path, &options)?;
    let mut file = std::fs::File::open(&path).map_err(|source| StoreError::Io {
        operation: "cannot read",
        path: path.clone(),
        source,
    })?;
    std::io::copy(&mut file, out).map_err(write_error)?;
    Ok(())
}

/// Writes an export to `output`: to standard output directly, to a file through a temporary
/// file and a rename (see [`write_atomically`]).
pub fn export_to_output(
    store: &Store,
    run: RunId,
    format: ExportFormat,
    output: &Output,
) -> Result<(), StoreError> {
    match output {
        Output::Stdout => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            export(store, run, format, &mut out)?;
            out.flush().map_err(|source| StoreError::Io {
                operation: "cannot write the export to",
                path: PathBuf::from("standard output"),
                source,
            })
        }
        Output::Path(path) if format == ExportFormat::C1z => {
            // The c1z writer renames into place itself, and appends to an existing c1z.
            let summary =
                super::c1z::write_run(store, run, path, &super::c1z::WriteOptions::default())?;
            tracing::info!(
                sync_id = %summary.sync_id,
                syncs_in_file = summary.syncs_in_file,
                syncs_removed = summary.syncs_removed,
                "c1z sync written."
            );
            Ok(())
        }
        Output::Path(path) => write_atomically(path, |out| export(store, run, format, out)),
    }
}

/// Runs `write` against a temporary file in `path`'s directory and renames it to `path` only
/// when `write` succeeded and the data is on disk. On any failure the temporary file is
/// removed and whatever was at `path` is untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |operation: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| StoreError::Io {
            operation,
            path,
            source,
        }
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".sf-access-export-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io("cannot create a temporary file in", dir))?;
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        write(&mut out).map_err(|e| with_path(e, path))?;
        out.flush().map_err(io("cannot write", path))?;
    }
    // Replacing a file keeps its permissions; a new file keeps the temporary file's 0600,
    // which suits an access report.
    if let Ok(existing) = std::fs::metadata(path) {
        temp.as_file()
            .set_permissions(existing.permissions())
            .map_err(io("cannot set the permissions of", path))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(io("cannot write", path))?;
    temp.persist(path).map_err(|e| StoreError::Io {
        operation: "cannot move the finished export to",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Names the real file in a write error raised by an export writer.
fn with_path(error: StoreError, path: &Path) -> StoreError {
    match error {
        StoreError::Io {
            operation, source, ..
        } => StoreError::Io {
            operation,
            path: path.to_path_buf(),
            source,
        },
        other => other,
    }
}

fn write_jsonl(store: &Store, run: RunId, out: &mut dyn Write) -> Result<(), StoreError> {
    for table in Table::ALL {
        let prefix = format!("{{\"kind\":\"{}\",", table.kind());
        store.for_each_doc(run, table, |_, doc| {
            // Every stored document is a non-empty JSON object, so the kind goes in place of
            // its opening brace.
            let body = doc.strip_prefix('{').unwrap_or(doc);
            out.write_all(prefix.as_bytes())
                .and_then(|()| out.write_all(body.as_bytes()))
                .and_then(|()| out.write_all(b"\n"))
                .map_err(write_error)
        })?;
    }
    Ok(())
}

fn write_json(store: &Store, run: RunId, out: &mut dyn Write) -> Result<(), StoreError> {
    out.write_all(b"{").map_err(write_error)?;
    for (i, table) in Table::ALL.into_iter().enumerate() {
        let separator = if i == 0 { "" } else { "," };
        write!(out, "{separator}\n  \"{}\": [", table.name()).map_err(write_error)?;
        let mut first = true;
        store.for_each_doc(run, table, |_, doc| {
            let separator = if first { "" } else { "," };
            first = false;
            write!(out, "{separator}\n    {doc}").map_err(write_error)
        })?;
        let close = if first { "]" } else { "\n  ]" };
        out.write_all(close.as_bytes()).map_err(write_error)?;
    }
    out.write_all(b"\n}\n").map_err(write_error)
}

/// The header of the access-review grid.
pub(crate) const CSV_HEADER: [&str; 9] = [
    "user",
    "username",
    "email",
    "status",
    "resource type",
    "resource",
    "entitlement",
    "via",
    "expires",
];

/// What the grid needs of a resource.
struct Named {
    display_name: String,
    user: Option<(String, String, String)>,
}

fn write_csv(store: &Store, run: RunId, out: &mut dyn Write) -> Result<(), StoreError> {
    let mut names: HashMap<String, Named> = HashMap::new();
    store.for_each_doc(run, Table::Resources, |id, doc| {
        let r: Resource = serde_json::from_str(doc).map_err(|source| StoreError::Json {
            what: id.to_owned(),
            direction: "read",
            source,
        })?;
        let user = match &r.details {
            ResourceDetails::User(u) => Some((
                u.username.clone(),
                u.email.clone().unwrap_or_default(),
                status_text(u),
            )),
            _ => None,
        };
        names.insert(
            id.to_owned(),
            Named {
                display_name: r.display_name,
                user,
            },
        );
        Ok(())
    })?;
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    let csv_error = |e: csv::Error| write_error(std::io::Error::other(e));
    csv.write_record(CSV_HEADER).map_err(csv_error)?;
    store.for_each_grant_by_principal(run, ResourceTypeId::User, |grant| {
        let row = grid_row(&grant, &names);
        csv.write_record(row.iter().map(|cell| neutralize_formula(cell).into_owned()))
            .map_err(csv_error)
    })?;
    csv.flush().map_err(write_error)
}

fn status_text(user: &crate::model::UserDetails) -> String {
    match user.status {
        UserStatus::Enabled => "enabled".to_owned(),
        UserStatus::Disabled => {
            let detail = serde_json::to_value(user.status_detail)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('_', "-")))
                .unwrap_or_default();
            format!("disabled ({detail})")
        }
    }
}

fn grid_row(grant: &Grant, names: &HashMap<String, Named>) -> [String; 9] {
    let principal = grant.principal_id.to_string();
    let (user, (username, email, status)) = match names.get(&principal) {
        Some(Named {
            display_name,
            user: Some(u),
        }) => (display_name.clone(), u.clone()),
        // A principal the run has no resource for: show its id so the row still says who.
        _ => (principal, Default::default()),
    };
    let resource_id = grant.entitlement_id.resource_id();
    let type_id = resource_id.type_id();
    let display = |id: &str| {
        names
            .get(id)
            .map_or_else(|| id.to_owned(), |n| n.display_name.clone())
    };
    let mut via: Vec<String> = Vec::new();
    if grant.direct {
        via.push("direct".to_owned());
    }
    for source in &grant.sources {
        let label = match source.kind {
            SourceKind::Group => "group",
            SourceKind::Role => "role",
            SourceKind::RoleAndSubordinates => "role and subordinates",
            SourceKind::PermissionSetGroup => "permission set group",
            SourceKind::Organization => "all internal users",
            SourceKind::Profile => "profile",
            SourceKind::PermissionSet => "permission set",
        };
        // The org-wide group is not a resource, so it has no name to look up.
        if source.kind == SourceKind::Organization {
            via.push("All Internal Users (group)".to_owned());
            continue;
        }
        via.push(format!(
            "{} ({label})",
            display(&source.entitlement_id.resource_id().to_string())
        ));
    }
    let entitlement = slug_definition(type_id, grant.entitlement_id.slug())
        .map_or(grant.entitlement_id.slug(), |d| d.display_name);
    [
        user,
        username,
        email,
        status,
        definition(type_id).display_name.to_owned(),
        display(&resource_id.to_string()),
        entitlement.to_owned(),
        via.join("; "),
        grant
            .expires_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default(),
    ]
}

/// Prefixes a cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR)
/// with `'`: names and emails come from Salesforce users, and an auditor opening the grid
/// must not execute what a user typed into their own name (OWASP "CSV injection").
fn neutralize_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}
