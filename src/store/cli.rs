//! `sf-access export` and `sf-access show`: argument plumbing around the store's readers and
//! export writers, and the aligned tables `show` prints.
//!
//! Only presentation lives here; what is read and in which order is the store's business.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use super::c1z::{C1zFile, ReadOptions, ReadReport, WriteOptions, load_temp_store};
use super::{
    ExportFormat, GrantFilter, Output, Page, PageRequest, RunId, Store, StoreError, SyncRun,
    export_to_output,
};
use crate::exit::{Exit, Failure};
use crate::model::types::{definition, slug_definition};
use crate::model::{
    EntitlementId, Grant, Resource, ResourceDetails, ResourceId, ResourceTypeId, SourceKind,
};

/// The store file options every store command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreFileArgs {
    /// The store written by `sf-access sync`, or a c1z file (told by its first bytes or its
    /// `.c1z` name).
    #[arg(
        long,
        short = 'f',
        env = "SF_ACCESS_FILE",
        default_value = "sf-access.db",
        value_name = "PATH"
    )]
    pub file: PathBuf,
    /// Read this run instead of the latest successful one (`sf-access show runs` lists them).
    #[arg(long, value_name = "ID")]
    pub run: Option<RunId>,
}

/// Arguments of `sf-access export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The store and the run to export.
    #[command(flatten)]
    pub store: StoreFileArgs,
    /// jsonl (one record per line with a `kind`), json (one document), csv (the access
    /// review grid: one row per grant to a user), or c1z (baton's sync file; a sync is added
    /// to an existing c1z).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    /// Where to write: a file (written to a temporary file and renamed into place) or `-` for
    /// standard output.
    #[arg(long, short = 'o', default_value = "-", value_name = "PATH|-")]
    pub output: Output,
}

/// Arguments of `sf-access show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// What to list.
    #[command(subcommand)]
    pub what: ShowCommand,
    /// The store and the output options, accepted before or after the subcommand.
    #[command(flatten)]
    pub common: ShowCommon,
}

/// Options of every `show` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowCommon {
    /// The store written by `sf-access sync`, or a c1z file (told by its first bytes or its
    /// `.c1z` name; its syncs are the runs).
    #[arg(
        long,
        short = 'f',
        global = true,
        env = "SF_ACCESS_FILE",
        default_value = "sf-access.db",
        value_name = "PATH"
    )]
    pub file: PathBuf,
    /// Read this run instead of the latest successful one (`sf-access show runs` lists them).
    #[arg(long, global = true, value_name = "ID")]
    pub run: Option<RunId>,
    /// Print JSON (an array of records, as the jsonl export has them) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show at most N rows (0: all).
    #[arg(long, global = true, default_value_t = 100, value_name = "N")]
    pub limit: usize,
}

/// What `sf-access show` lists, with the filters that apply to it.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ShowCommand {
    /// Resources (users, roles, groups, profiles, permission sets, ...).
    Resources {
        /// Only this resource type, e.g. `user` or `permission`.
        #[arg(long = "type", short = 't', value_name = "TYPE", value_parser = id_arg::<ResourceTypeId>)]
        type_id: Option<ResourceTypeId>,
    },
    /// Entitlements (what can be granted on each resource).
    Entitlements {
        /// Only entitlements of this resource, e.g. `group:00G...`.
        #[arg(long, value_name = "RESOURCE_ID", value_parser = id_arg::<ResourceId>)]
        resource: Option<ResourceId>,
        /// Only entitlements of resources of this type.
        #[arg(long = "type", short = 't', value_name = "TYPE", value_parser = id_arg::<ResourceTypeId>)]
        type_id: Option<ResourceTypeId>,
    },
    /// Grants (who holds which entitlement, and through what).
    Grants {
        /// Only grants to this principal, e.g. `user:005...`.
        #[arg(long, value_name = "RESOURCE_ID", value_parser = id_arg::<ResourceId>)]
        principal: Option<ResourceId>,
        /// Only grants of this entitlement, e.g. `group:00G...:member`.
        #[arg(long, short = 'e', value_name = "ENTITLEMENT_ID", value_parser = id_arg::<EntitlementId>)]
        entitlement: Option<EntitlementId>,
        /// Only grants on resources of this type.
        #[arg(long = "type", short = 't', value_name = "TYPE", value_parser = id_arg::<ResourceTypeId>)]
        type_id: Option<ResourceTypeId>,
    },
    /// The sync runs in the store, newest first, with status, counts, API calls and errors.
    Runs,
}

/// Parses an id flag; the message carries the whole cause chain, because clap prints only
/// the message (so "the Salesforce id part is invalid" also says why).
fn id_arg<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::error::Error,
{
    s.parse::<T>().map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    })
}

/// Logs what reading a c1z left out or adjusted, one warning per note.
fn log_read_report(report: &ReadReport) {
    for note in report.notes() {
        tracing::warn!(sync_id = %report.sync_id, "{note}");
    }
}

/// The c1z limits and kept-sync count from the environment (`SF_ACCESS_*`, then baton's
/// `BATON_*` names).
fn c1z_options() -> Result<WriteOptions, Failure> {
    WriteOptions::from_env(&crate::settings::process_env).map_err(|problem| {
        Failure::Settings(crate::settings::SettingsError {
            setting: "c1z environment".to_owned(),
            problem,
        })
    })
}

/// Runs `sf-access export`: from a store, or from a c1z (read into a temporary store first).
/// `--format c1z --output FILE` adds a sync to FILE.
pub fn run_export(args: &ExportArgs) -> Result<Exit, Failure> {
    let options = c1z_options()?;
    if args.format == ExportFormat::C1z
        && args.output == Output::Stdout
        && std::io::stdout().is_terminal()
    {
        eprintln!("error: a c1z is binary and standard output is a terminal");
        eprintln!("hint: give --output sync.c1z (or redirect standard output)");
        return Ok(Exit::Usage);
    }
    let export_from = |store: &Store, run: RunId| -> Result<(), StoreError> {
        match (&args.output, args.format) {
            (Output::Path(path), ExportFormat::C1z) => {
                let summary = super::c1z::write_run(store, run, path, &options)?;
                tracing::info!(
                    sync_id = %summary.sync_id,
                    syncs_in_file = summary.syncs_in_file,
                    syncs_removed = summary.syncs_removed,
                    "c1z sync written."
                );
                Ok(())
            }
            _ => export_to_output(store, run, args.format, &args.output),
        }
    };
    let run = if super::c1z::is_c1z(&args.store.file) {
        let loaded = load_temp_store(&args.store.file, args.store.run, &options.read)
            .map_err(StoreError::from)?;
        log_read_report(&loaded.report);
        export_from(&loaded.store, loaded.run)?;
        loaded.run
    } else {
        let store = Store::open_existing(&args.store.file)?;
        let run = store.readable_run(args.store.run)?;
        export_from(&store, run.id)?;
        run.id
    };
    if let Output::Path(path) = &args.output {
        tracing::info!(run = run.get(), path = %path.display(), "Export written.");
    }
    Ok(Exit::Ok)
}

/// Runs `sf-access show`.
pub fn run_show(args: &ShowArgs) -> Result<Exit, Failure> {
    let options = c1z_options()?.read;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if super::c1z::is_c1z(&args.common.file) {
        show_c1z(args, &options, &mut out)?;
    } else {
        let store = Store::open_existing(&args.common.file)?;
        show(&store, args, &mut out)?;
    }
    Ok(Exit::Ok)
}

/// `show` of a c1z: its syncs are the runs (`--run` takes a sync's row id); any other list
/// reads the chosen sync through a temporary store.
fn show_c1z(args: &ShowArgs, options: &ReadOptions, out: &mut dyn Write) -> Result<(), StoreError> {
    if let ShowCommand::Runs = args.what {
        let file = C1zFile::open(&args.common.file, options)?;
        return show_run_list(file.runs()?, &args.common, out);
    }
    let loaded = load_temp_store(&args.common.file, args.common.run, options)?;
    log_read_report(&loaded.report);
    show_run(&loaded.store, loaded.run, args, out)
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<(), StoreError> {
    out.write_all(text.as_bytes())
        .map_err(|source| StoreError::Io {
            operation: "cannot write to",
            path: PathBuf::from("standard output"),
            source,
        })
}

fn to_json<T: serde::Serialize>(items: &[T]) -> Result<String, StoreError> {
    let mut text = serde_json::to_string_pretty(items).map_err(|source| StoreError::Json {
        what: "the listed records".to_owned(),
        direction: "written",
        source,
    })?;
    text.push('\n');
    Ok(text)
}

/// Reads pages until `limit` items passed `keep` (0: all) and tells whether more were left.
fn collect<T, Id: Copy>(
    limit: usize,
    mut keep: impl FnMut(&T) -> bool,
    mut read: impl FnMut(&PageRequest<Id>) -> Result<Page<T, Id>, StoreError>,
) -> Result<(Vec<T>, bool), StoreError> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let page = read(&PageRequest::new(after, super::MAX_PAGE_LIMIT))?;
        for item in page.items {
            if keep(&item) {
                if limit != 0 && items.len() == limit {
                    return Ok((items, true));
                }
                items.push(item);
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok((items, false)),
        }
    }
}

fn show_runs(store: &Store, common: &ShowCommon, out: &mut dyn Write) -> Result<(), StoreError> {
    show_run_list(store.runs()?, common, out)
}

fn show_run_list(
    mut runs: Vec<SyncRun>,
    common: &ShowCommon,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let more = common.limit != 0 && runs.len() > common.limit;
    if more {
        runs.truncate(common.limit);
    }
    let text = if common.json {
        to_json(&runs)?
    } else {
        runs_table(&runs)
    };
    write_out(out, &text)?;
    note_more(more, common.limit)
}

fn show(store: &Store, args: &ShowArgs, out: &mut dyn Write) -> Result<(), StoreError> {
    if let ShowCommand::Runs = args.what {
        return show_runs(store, &args.common, out);
    }
    let run_id = store.readable_run(args.common.run)?.id;
    show_run(store, run_id, args, out)
}

/// Lists resources, entitlements or grants of `run_id`.
fn show_run(
    store: &Store,
    run_id: RunId,
    args: &ShowArgs,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let common = &args.common;
    let mut names = Names::new(store, run_id);
    let (text, more) = match &args.what {
        ShowCommand::Runs => return show_runs(store, common, out),
        ShowCommand::Resources { type_id } => {
            let (items, more) = collect(
                common.limit,
                |_: &Resource| true,
                |page| store.resources(run_id, *type_id, page),
            )?;
            let text = if common.json {
                to_json(&items)?
            } else {
                resources_table(&items, &mut names)?
            };
            (text, more)
        }
        ShowCommand::Entitlements { resource, type_id } => {
            let (items, more) = collect(
                common.limit,
                |e: &crate::model::Entitlement| {
                    type_id.is_none_or(|t| t == e.resource_id.type_id())
                },
                |page| store.entitlements(run_id, *resource, page),
            )?;
            let text = if common.json {
                to_json(&items)?
            } else {
                let mut rows = vec![row([
                    "ID",
                    "RESOURCE",
                    "ENTITLEMENT",
                    "PURPOSE",
                    "GRANTABLE TO",
                ])];
                for e in &items {
                    rows.push(vec![
                        e.id.to_string(),
                        names.display(e.resource_id)?,
                        e.display_name.clone(),
                        enum_text(&e.purpose),
                        e.grantable_to
                            .iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]);
                }
                table(&rows)
            };
            (text, more)
        }
        ShowCommand::Grants {
            principal,
            entitlement,
            type_id,
        } => {
            let filter = GrantFilter {
                entitlement: *entitlement,
                principal: *principal,
            };
            let (items, more) = collect(
                common.limit,
                |g: &Grant| type_id.is_none_or(|t| t == g.entitlement_id.resource_id().type_id()),
                |page| store.grants(run_id, &filter, page),
            )?;
            let text = if common.json {
                to_json(&items)?
            } else {
                grants_table(&items, &mut names)?
            };
            (text, more)
        }
    };
    write_out(out, &text)?;
    note_more(more, common.limit)
}

fn note_more(more: bool, limit: usize) -> Result<(), StoreError> {
    if more {
        eprintln!(
            "note: only the first {limit} rows are shown; use --limit N (0 for all) or a filter"
        );
    }
    Ok(())
}

/// Display names of resources, looked up once each.
struct Names<'a> {
    store: &'a Store,
    run: RunId,
    cache: HashMap<ResourceId, String>,
}

impl<'a> Names<'a> {
    fn new(store: &'a Store, run: RunId) -> Names<'a> {
        Names {
            store,
            run,
            cache: HashMap::new(),
        }
    }

    /// The resource's display name, or its id when the run has no such resource.
    fn display(&mut self, id: ResourceId) -> Result<String, StoreError> {
        if let Some(name) = self.cache.get(&id) {
            return Ok(name.clone());
        }
        let name = self
            .store
            .resource(self.run, id)?
            .map_or_else(|| id.to_string(), |r| r.display_name);
        self.cache.insert(id, name.clone());
        Ok(name)
    }
}

/// The snake_case name serde gives a unit enum variant.
fn enum_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

fn resources_table(items: &[Resource], names: &mut Names<'_>) -> Result<String, StoreError> {
    let mut rows = vec![row(["ID", "TYPE", "NAME", "PARENT", "DETAILS"])];
    for r in items {
        let parent = match r.parent_id {
            Some(p) => names.display(p)?,
            None => String::new(),
        };
        rows.push(vec![
            r.id.to_string(),
            r.resource_type.as_str().to_owned(),
            r.display_name.clone(),
            parent,
            details_text(&r.details),
        ]);
    }
    Ok(table(&rows))
}

fn details_text(details: &ResourceDetails) -> String {
    match details {
        ResourceDetails::User(u) => {
            let status = match u.status_detail {
                crate::model::UserStatusDetail::Active => "enabled".to_owned(),
                detail => format!("disabled ({})", enum_text(&detail)),
            };
            format!("{} {status} {}", u.username, u.user_type)
        }
        ResourceDetails::Role(_) | ResourceDetails::Profile(_) => String::new(),
        ResourceDetails::Group(g) => enum_text(&g.group_type),
        ResourceDetails::Permission(p) => match &p.namespace {
            Some(ns) => format!("{ns}__{}", p.name),
            None => p.name.clone(),
        },
        ResourceDetails::PermissionSetGroup(p) => format!("{} ({})", p.name, p.status),
        ResourceDetails::ConnectedApplication(a) => match a.admin_approved_users_only {
            Some(true) => "admin-approved users only".to_owned(),
            Some(false) => "all users may self-authorize".to_owned(),
            None => String::new(),
        },
        ResourceDetails::License(l) => {
            let seats = match (l.used_seats, l.total_seats) {
                (Some(used), Some(total)) => format!(" {used}/{total} seats"),
                _ => String::new(),
            };
            format!("{}{seats}", enum_text(&l.kind))
        }
    }
}

fn grants_table(items: &[Grant], names: &mut Names<'_>) -> Result<String, StoreError> {
    let mut rows = vec![row([
        "PRINCIPAL",
        "TYPE",
        "RESOURCE",
        "ENTITLEMENT",
        "VIA",
        "EXPIRES",
        "ID",
    ])];
    for g in items {
        let resource = g.entitlement_id.resource_id();
        let type_id = resource.type_id();
        let mut via = Vec::new();
        if g.direct {
            via.push("direct".to_owned());
        }
        for source in &g.sources {
            let kind = match source.kind {
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
                "{} ({kind})",
                names.display(source.entitlement_id.resource_id())?
            ));
        }
        rows.push(vec![
            names.display(g.principal_id)?,
            definition(type_id).display_name.to_owned(),
            names.display(resource)?,
            slug_definition(type_id, g.entitlement_id.slug())
                .map_or(g.entitlement_id.slug(), |d| d.display_name)
                .to_owned(),
            via.join("; "),
            g.expires_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_default(),
            g.id.to_string(),
        ]);
    }
    Ok(table(&rows))
}

fn runs_table(runs: &[SyncRun]) -> String {
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    let mut rows = vec![row([
        "RUN",
        "STATUS",
        "STARTED",
        "FINISHED",
        "RESOURCES",
        "GRANTS",
        "API CALLS",
        "ERROR",
    ])];
    for r in runs {
        let counts = r.counts.as_ref();
        rows.push(vec![
            r.id.to_string(),
            r.status.to_string(),
            time(r.started),
            r.finished.map(time).unwrap_or_default(),
            counts
                .map(|c| c.resources.values().sum::<u64>().to_string())
                .unwrap_or_default(),
            counts.map(|c| c.grants.to_string()).unwrap_or_default(),
            r.api_calls
                .as_ref()
                .map(|a| a.total.to_string())
                .unwrap_or_default(),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    table(&rows)
}

/// Left-aligned columns separated by two spaces, widths in characters; the last column is
/// not padded, so lines carry no trailing blanks. Control characters in values (a name with
/// a newline) are shown as spaces so that a row stays one line.
fn table(rows: &[Vec<String>]) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
    };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(
                    ' ',
                    widths[i] - cell.chars().count() + 2,
                ));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testdata::{rid, write_tiny_org};

    fn args(what: ShowCommand, file: PathBuf) -> ShowArgs {
        ShowArgs {
            what,
            common: ShowCommon {
                file,
                run: None,
                json: false,
                limit: 100,
            },
        }
    }

    fn shown(store: &Store, args: &ShowArgs) -> String {
        let mut out = Vec::new();
        show(store, args, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_aligns_columns_without_trailing_blanks() {
        let text = table(&[
            row(["A", "BB", "C"]),
            row(["long value", "x", ""]),
            row(["é", "line\nbreak", "z"]),
        ]);
        assert_eq!(
            text,
            "A           BB          C\nlong value  x\né           line break  z\n"
        );
    }

    #[test]
    fn show_resources_of_a_type_prints_an_aligned_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        write_tiny_org(&store);
        let a = args(
            ShowCommand::Resources {
                type_id: Some(ResourceTypeId::Role),
            },
            path,
        );
        let text = shown(&store, &a);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID "));
        assert!(
            lines[2].contains("VP Sales") && lines[2].contains("CEO"),
            "parent shown by name: {text}"
        );
    }

    #[test]
    fn show_grants_of_a_principal_resolves_names_and_json_is_the_export_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        write_tiny_org(&store);
        let mut a = args(
            ShowCommand::Grants {
                principal: Some(rid(ResourceTypeId::User, 2)),
                entitlement: None,
                type_id: None,
            },
            path,
        );
        let text = shown(&store, &a);
        assert!(
            text.contains("Sales EMEA (group); CEO (role and subordinates)"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1 + 4);
        a.common.json = true;
        a.common.limit = 2;
        let json: Vec<Grant> = serde_json::from_str(&shown(&store, &a)).unwrap();
        assert_eq!(json.len(), 2);
        assert!(
            json.iter()
                .all(|g| g.principal_id == rid(ResourceTypeId::User, 2))
        );
    }

    #[test]
    fn show_entitlements_filters_by_resource_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        write_tiny_org(&store);
        let a = args(
            ShowCommand::Entitlements {
                resource: None,
                type_id: Some(ResourceTypeId::Group),
            },
            path,
        );
        let text = shown(&store, &a);
        assert_eq!(text.lines().count(), 1 + 3, "{text}");
        assert!(text.lines().skip(1).all(|l| l.starts_with("group:")));
    }

    #[test]
    fn show_runs_lists_runs_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        write_tiny_org(&store);
        store
            .begin_run(&serde_json::json!({}))
            .unwrap()
            .fail("boom")
            .unwrap();
        let text = shown(&store, &args(ShowCommand::Runs, path));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("2 ") && lines[1].contains("failed") && lines[1].ends_with("boom"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("1 ") && lines[2].contains("succeeded"),
            "{text}"
        );
    }

    #[test]
    fn store_errors_of_flags_are_usage_errors() {
        let failure = |e: StoreError| Failure::from(e).exit();
        assert_eq!(
            failure(StoreError::UnknownRun("3".parse().unwrap())),
            Exit::Usage
        );
        assert_eq!(
            failure(StoreError::NotFound {
                path: "x.db".into()
            }),
            Exit::Usage
        );
        assert_eq!(failure(StoreError::NoGoodRun), Exit::Failure);
    }

    #[test]
    fn show_filters_are_only_accepted_where_they_apply() {
        use clap::Parser;
        let parse = |args: &[&str]| crate::cli::Cli::try_parse_from(args);
        assert!(
            parse(&[
                "sf-access",
                "show",
                "grants",
                "--principal",
                "user:0055g0000000002AAA"
            ])
            .is_ok()
        );
        assert!(parse(&["sf-access", "show", "--file", "x.db", "grants", "--json"]).is_ok());
        let err = parse(&[
            "sf-access",
            "show",
            "resources",
            "--principal",
            "user:0055g0000000002AAA",
        ])
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = parse(&[
            "sf-access",
            "show",
            "grants",
            "--principal",
            "user:005' OR '1'='1",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("only letters and digits"), "{err}");
    }
}
