//! `sf-access export` and `sf-access show`: argument plumbing around the store's readers and
//! export writers, and the aligned tables `show` prints.
//!
//! Only presentation lives here; what is read and in which order is the store's business.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use super::{
    ExportFormat, GrantFilter, Output, Page, PageRequest, RunId, Store, StoreError, SyncRun,
    export_to_output,
};
use crate::exit::{Exit, report};
use crate::model::types::{definition, slug_definition};
use crate::model::{
    EntitlementId, Grant, Resource, ResourceDetails, ResourceId, ResourceTypeId, SourceKind,
};

/// The store file options every store command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreFileArgs {
    /// The store written by `sf-access sync`.
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
    #[command(flatten)]
    pub store: StoreFileArgs,
    /// jsonl (one record per line with a `kind`), json (one document), or csv (the access
    /// review grid: one row per grant to a user).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ExportFormat,
    /// Where to write: a file (written to a temporary file and renamed into place) or `-` for
    /// standard output.
    #[arg(long, short = 'o', default_value = "-", value_name = "PATH|-")]
    pub output: Output,
}

/// What `sf-access show` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowWhat {
    /// Resources (users, roles, groups, ...).
    Resources,
    /// Entitlements.
    Entitlements,
    /// Grants.
    Grants,
    /// The sync runs in the store, newest first.
    Runs,
}

/// Arguments of `sf-access show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    /// What to list.
    #[arg(value_enum)]
    pub what: ShowWhat,
    #[command(flatten)]
    pub store: StoreFileArgs,
    /// Only this resource type (resources; for entitlements and grants: the type of the
    /// resource the entitlement belongs to), e.g. `permission`.
    #[arg(long = "type", short = 't', value_name = "TYPE", value_parser = id_arg::<ResourceTypeId>)]
    pub type_id: Option<ResourceTypeId>,
    /// Only entitlements of this resource (entitlements), e.g. `group:00G...`.
    #[arg(long, value_name = "RESOURCE_ID", value_parser = id_arg::<ResourceId>)]
    pub resource: Option<ResourceId>,
    /// Only grants to this principal (grants), e.g. `user:005...`.
    #[arg(long, value_name = "RESOURCE_ID", value_parser = id_arg::<ResourceId>)]
    pub principal: Option<ResourceId>,
    /// Only grants of this entitlement (grants), e.g. `group:00G...:member`.
    #[arg(long, short = 'e', value_name = "ENTITLEMENT_ID", value_parser = id_arg::<EntitlementId>)]
    pub entitlement: Option<EntitlementId>,
    /// Print JSON (an array of records, as the jsonl export has them) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Show at most N rows (0: all).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub limit: usize,
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

/// The exit code and hint for a store error: a wrong `--file` or `--run` is a usage error,
/// anything else a failure.
fn report_store_error(error: &StoreError) -> Exit {
    report(error, error.hint().as_deref());
    match error {
        StoreError::NotFound { .. }
        | StoreError::NotAStore { .. }
        | StoreError::SchemaVersion { .. }
        | StoreError::UnknownRun(_)
        | StoreError::RunNotSucceeded { .. } => Exit::Usage,
        _ => Exit::Failure,
    }
}

/// Runs `sf-access export`.
pub fn run_export(args: ExportArgs) -> Exit {
    let result = Store::open_existing(&args.store.file).and_then(|store| {
        let run = store.readable_run(args.store.run)?;
        export_to_output(&store, run.id, args.format, &args.output)?;
        Ok(run)
    });
    match result {
        Ok(run) => {
            if let Output::Path(path) = &args.output {
                tracing::info!(run = run.id.get(), path = %path.display(), "Export written.");
            }
            Exit::Ok
        }
        Err(error) => report_store_error(&error),
    }
}

/// A usage error of `show`: a flag that does not apply to what is listed.
fn misplaced_flag(flag: &str, what: &str, applies_to: &str) -> Exit {
    eprintln!("error: {flag} does not apply to `show {what}`");
    eprintln!("hint: {flag} filters {applies_to}");
    Exit::Usage
}

/// Runs `sf-access show`.
pub fn run_show(args: ShowArgs) -> Exit {
    let what = match args.what {
        ShowWhat::Resources => "resources",
        ShowWhat::Entitlements => "entitlements",
        ShowWhat::Grants => "grants",
        ShowWhat::Runs => "runs",
    };
    if args.resource.is_some() && args.what != ShowWhat::Entitlements {
        return misplaced_flag("--resource", what, "`show entitlements`");
    }
    if args.principal.is_some() && args.what != ShowWhat::Grants {
        return misplaced_flag("--principal", what, "`show grants`");
    }
    if args.entitlement.is_some() && args.what != ShowWhat::Grants {
        return misplaced_flag("--entitlement", what, "`show grants`");
    }
    if args.type_id.is_some() && args.what == ShowWhat::Runs {
        return misplaced_flag("--type", what, "resources, entitlements and grants");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result =
        Store::open_existing(&args.store.file).and_then(|store| show(&store, &args, &mut out));
    match result {
        Ok(()) => Exit::Ok,
        Err(error) => report_store_error(&error),
    }
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

fn show_runs(store: &Store, args: &ShowArgs, out: &mut dyn Write) -> Result<(), StoreError> {
    let mut runs = store.runs()?;
    let more = args.limit != 0 && runs.len() > args.limit;
    if more {
        runs.truncate(args.limit);
    }
    let text = if args.json {
        to_json(&runs)?
    } else {
        runs_table(&runs)
    };
    write_out(out, &text)?;
    note_more(more, args.limit)
}

fn show(store: &Store, args: &ShowArgs, out: &mut dyn Write) -> Result<(), StoreError> {
    if args.what == ShowWhat::Runs {
        return show_runs(store, args, out);
    }
    let run = store.readable_run(args.store.run)?;
    let run_id = run.id;
    let type_matches = |id: ResourceId| args.type_id.is_none_or(|t| t == id.type_id());
    let mut names = Names::new(store, run_id);
    let (text, more) = match args.what {
        ShowWhat::Resources => {
            let (items, more) = collect(
                args.limit,
                |_: &Resource| true,
                |page| store.resources(run_id, args.type_id, page),
            )?;
            let text = if args.json {
                to_json(&items)?
            } else {
                resources_table(&items, &mut names)?
            };
            (text, more)
        }
        ShowWhat::Entitlements => {
            let (items, more) = collect(
                args.limit,
                |e: &crate::model::Entitlement| type_matches(e.resource_id),
                |page| store.entitlements(run_id, args.resource, page),
            )?;
            let text = if args.json {
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
        ShowWhat::Grants => {
            let filter = GrantFilter {
                entitlement: args.entitlement,
                principal: args.principal,
            };
            let (items, more) = collect(
                args.limit,
                |g: &Grant| type_matches(g.entitlement_id.resource_id()),
                |page| store.grants(run_id, &filter, page),
            )?;
            let text = if args.json {
                to_json(&items)?
            } else {
                grants_table(&items, &mut names)?
            };
            (text, more)
        }
        ShowWhat::Runs => return show_runs(store, args, out),
    };
    write_out(out, &text)?;
    note_more(more, args.limit)
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

    fn args(what: ShowWhat, file: PathBuf) -> ShowArgs {
        ShowArgs {
            what,
            store: StoreFileArgs { file, run: None },
            type_id: None,
            resource: None,
            principal: None,
            entitlement: None,
            json: false,
            limit: 100,
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
        let mut a = args(ShowWhat::Resources, path);
        a.type_id = Some(ResourceTypeId::Role);
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
        let mut a = args(ShowWhat::Grants, path);
        a.principal = Some(rid(ResourceTypeId::User, 2));
        let text = shown(&store, &a);
        assert!(
            text.contains("Sales EMEA (group); CEO (role and subordinates)"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1 + 4);
        a.json = true;
        a.limit = 2;
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
        let mut a = args(ShowWhat::Entitlements, path);
        a.type_id = Some(ResourceTypeId::Group);
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
        let text = shown(&store, &args(ShowWhat::Runs, path));
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
        assert_eq!(
            report_store_error(&StoreError::UnknownRun("3".parse().unwrap())),
            Exit::Usage
        );
        assert_eq!(
            report_store_error(&StoreError::NotFound {
                path: "x.db".into()
            }),
            Exit::Usage
        );
        assert_eq!(report_store_error(&StoreError::NoGoodRun), Exit::Failure);
    }
}
