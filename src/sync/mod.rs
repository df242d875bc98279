//! The sync engine: plan -> fetch (bulk, concurrent) -> map (pure) -> expand -> sink.
//!
//! - plan: `objects::OBJECTS`, one declarative definition per Salesforce object, narrowed by
//!   the options (`--sync-connected-apps`, the user filters).
//! - fetch: every object is read with ceil(rows / batch) queries, never a query per resource;
//!   the objects are fetched concurrently (the client caps requests in flight).
//! - map: each object's pure mapping function turns rows into model records; objects that
//!   need no join are mapped and written page by page as they arrive.
//! - expand: the in-memory joins (users with their logins, group nesting, PSG components,
//!   connected-app access, tokens) produce users and grants.
//! - sink: the store's run writer, on its own thread; the run only becomes the latest when
//!   everything is written, and a failed or interrupted run is marked failed and never read.
//!
//! This module owns what is read and what it means. It must not speak HTTP or SQL itself
//! (`salesforce` and `store` do), and it never prints: progress goes through `Progress`.
//!
//! Ready for issue 8: `Paging::IdChunks` is the keyset form that concurrent Id ranges of one
//! object build on, `fetch` already streams pages, and `expand` is a pure function of a
//! snapshot whose per-object rows an incremental mode could copy from the previous run.

#[cfg(feature = "emulator")]
#[doc(hidden)]
pub mod bench;
pub mod cli;
mod error;
mod expand;
mod fetch;
pub(crate) mod objects;
mod progress;
mod sink;

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use error::SyncError;
pub use objects::OrganizationRow;
pub use progress::{Bars, LogLines, Progress, Quiet};

use self::expand::{Snapshot, expand};
use self::fetch::{Fetched, Kept, Source, fetch};
use self::objects::*;
use self::sink::Sink;
use crate::model::{ResourceType, ResourceTypeId};
use crate::salesforce::{BatchSize, BulkSettings, Client};
use crate::store::{ApiCalls, Counts, DEFAULT_KEEP_RUNS, RunId, RunSummary, SnapshotInfo, Store};

/// What a sync reads (baton-salesforce's option names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// Read connected apps, their access and OAuth tokens (`--sync-connected-apps`).
    pub sync_connected_apps: bool,
    /// Include deactivated users (`--sync-deactivated-users`, default true).
    pub sync_deactivated_users: bool,
    /// Include portal, community, Chatter Free and guest users
    /// (`--sync-non-standard-users`, default false).
    pub sync_non_standard_users: bool,
    /// Use the username as the email (`--user-username-for-email`).
    pub user_username_for_email: bool,
    /// Rows per page (`--batch-size`, 200 to 2,000).
    pub batch_size: BatchSize,
    /// Read the pages of one query concurrently by their offsets on the query locator
    /// (default); `--sequential-pages` follows `nextRecordsUrl` one page after the other.
    pub concurrent_pages: bool,
    /// Copy the objects whose change probe answers as before from the previous successful
    /// run instead of reading them (`--incremental`).
    pub incremental: bool,
    /// Read the rest of an object whose first page says it has more rows than this through a
    /// Bulk API 2.0 query job (`--bulk-above`); None: REST pages only.
    pub bulk_above: Option<u64>,
    /// How query jobs are polled and read.
    pub bulk: BulkSettings,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            sync_connected_apps: false,
            sync_deactivated_users: true,
            sync_non_standard_users: false,
            user_username_for_email: false,
            batch_size: BatchSize::MAX,
            concurrent_pages: true,
            incremental: false,
            bulk_above: None,
            bulk: BulkSettings::default(),
        }
    }
}

impl SyncOptions {
    /// The options as the run row stores them.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "sync_connected_apps": self.sync_connected_apps,
            "sync_deactivated_users": self.sync_deactivated_users,
            "sync_non_standard_users": self.sync_non_standard_users,
            "user_username_for_email": self.user_username_for_email,
            "batch_size": self.batch_size.get(),
            // The build that wrote the run: a run only shares the records of a run whose
            // options, and whose way of building records, were the same.
            "sf_access_version": env!("CARGO_PKG_VERSION"),
        })
    }

    /// The resource types a sync with these options writes.
    pub fn resource_types(&self) -> Vec<ResourceType> {
        ResourceType::all()
            .into_iter()
            .filter(|t| self.sync_connected_apps || t.id != ResourceTypeId::ConnectedApplication)
            .collect()
    }
}

/// Where a sync writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreTarget {
    /// The store file (`--file`).
    pub path: PathBuf,
    /// Successful runs kept (`--keep-runs`).
    pub keep_runs: NonZeroUsize,
}

impl StoreTarget {
    /// `path`, keeping the default number of runs.
    pub fn new(path: impl Into<PathBuf>) -> StoreTarget {
        StoreTarget {
            path: path.into(),
            keep_runs: NonZeroUsize::new(DEFAULT_KEEP_RUNS).expect("the default is not zero"),
        }
    }
}

/// Rows read and calls made for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReport {
    /// The Salesforce object.
    pub object: &'static str,
    /// Rows read.
    pub rows: u64,
    /// API calls made: pages, and the change probe.
    pub calls: u64,
    /// Of `calls`, the change probe (0 or 1).
    pub probe_calls: u64,
    /// The rows were copied from the previous run (`--incremental`, unchanged object).
    pub copied: bool,
    /// The rows are the previous run's: copied, or read again and found the same.
    pub unchanged: bool,
    /// The most rows Salesforce returns in a page of this object.
    pub max_page: u32,
}

/// What a successful sync did.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// The run written.
    pub run: RunId,
    /// The org.
    pub organization: Option<OrganizationRow>,
    /// Per object, in table order (objects the options leave out are not listed).
    pub objects: Vec<ObjectReport>,
    /// API calls (as stored with the run).
    pub api_calls: ApiCalls,
    /// The fewest calls these rows can be read with by REST pages: sum over objects of
    /// ceil(rows / min(batch, page cap)), at least one per object (Bulk API 2.0 query jobs,
    /// `--bulk-above`, read big objects with fewer).
    pub call_bound: u64,
    /// The run whose rows the unchanged objects were copied from (`--incremental`).
    pub copied_from: Option<RunId>,
    /// The run whose records this one shares, when an incremental sync found nothing changed.
    pub shares_records_of: Option<RunId>,
    /// Wall time of the run.
    pub duration: Duration,
    /// Records written.
    pub counts: Counts,
    /// Grants dropped because their user or resource was not synced.
    pub dropped_grants: u64,
}

/// An object a sync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedObject {
    /// The Salesforce object.
    pub object: &'static str,
    /// The most rows Salesforce returns in a page of it.
    pub max_page: u32,
}

/// The objects a sync with these options reads, in table order.
pub fn plan(options: &SyncOptions) -> Vec<PlannedObject> {
    OBJECTS
        .iter()
        .filter(|spec| spec.is_read(options))
        .map(|spec| PlannedObject {
            object: spec.object,
            max_page: spec.max_page,
        })
        .collect()
}

/// The fewest calls a sync of these objects can make by REST pages of `batch` rows.
pub fn call_bound(objects: &[ObjectReport], batch: BatchSize) -> u64 {
    objects
        .iter()
        .map(|o| {
            let page = u64::from(batch.get().min(o.max_page));
            o.rows.div_ceil(page).max(1)
        })
        .sum()
}

/// How each object is obtained, from what the previous successful run kept (`previous`).
///
/// - An object that fit in one page last time is read again: that costs the one call a
///   probe would, and is exact whatever changed.
/// - With `--incremental`, an object whose rows were kept with a settled probe answer, by the
///   same query, is probed and copied when the answer is unchanged.
/// - Any other object with change stamps is probed before it is read when it was bigger than
///   a page last time, or, in an incremental sync, when its size is not known yet: so that the
///   next incremental sync can copy it. Objects without stamps are read every time.
fn sources(
    options: &SyncOptions,
    store: &std::path::Path,
    previous: Option<&(RunId, Vec<SnapshotInfo>)>,
) -> BTreeMap<&'static str, Source> {
    OBJECTS
        .iter()
        .map(|spec| {
            let page = u64::from(options.batch_size.get().min(spec.max_page));
            let query = spec.soql(options, None);
            let kept = previous.and_then(|(run, infos)| {
                infos
                    .iter()
                    .find(|i| i.object == spec.object && i.query == query.as_str())
                    .map(|info| (*run, info))
            });
            let source = match kept {
                Some((_, info)) if info.rows <= page => Source::Read {
                    probe: false,
                    previous_digest: info.digest.clone(),
                },
                Some((run, info))
                    if options.incremental
                        && info.probe.is_some()
                        && spec.change_stamps.is_some() =>
                {
                    Source::Copy {
                        store: store.to_path_buf(),
                        run,
                        previous: info.clone(),
                    }
                }
                // Multi-page last time, or of unknown size in an incremental sync: probe, so
                // that the next incremental sync can copy it. A plain sync into a new store
                // (a one-off export) makes no probes at all.
                _ => Source::Read {
                    probe: spec.change_stamps.is_some() && (options.incremental || kept.is_some()),
                    previous_digest: None,
                },
            };
            (spec.object, source)
        })
        .collect()
}

/// Syncs the org behind `client` into the store at `target`.
///
/// Logs in first (so a bad login leaves no failed run behind), then starts a run, reads every
/// object, writes the records and marks the run succeeded. Any error, or `interrupt`
/// completing first, marks the run failed; the previous successful run stays the latest.
pub async fn run(
    client: &Client,
    target: &StoreTarget,
    options: &SyncOptions,
    progress: &dyn Progress,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let calls_before = client.usage().calls_made;
    client
        .authenticate()
        .await
        .map_err(|e| SyncError::Login(Box::new(e)))?;
    tracing::info!(path = %target.path.display(), "Sync started.");

    let (writer, previous) = {
        let (path, keep, json) = (target.path.clone(), target.keep_runs, options.to_json());
        tokio::task::spawn_blocking(move || {
            let store = Store::open(&path)?;
            let mut writer = store.begin_run(&json)?;
            writer.set_keep_runs(keep);
            // Read under the sync lock `begin_run` took: no other sync can prune it meanwhile.
            let previous = match store.latest_run()? {
                Some(run) => Some((run.id, store.snapshot_infos(run.id)?, run.options)),
                None => None,
            };
            Ok::<_, crate::store::StoreError>((writer, previous))
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?
    };
    let run_id = writer.run_id();
    let sink = Sink::start(writer);
    // An incremental sync that finds every object as the previous run (same options) left it
    // shares that run's records instead of building and writing the same ones again.
    let share_with = previous
        .as_ref()
        .filter(|(_, _, previous_options)| {
            options.incremental && *previous_options == options.to_json()
        })
        .map(|(run, _, _)| *run);
    let previous = previous.map(|(run, infos, _)| (run, infos));
    let sources = sources(options, &target.path, previous.as_ref());

    // Tells the expansion thread, which the select below cannot drop, to stop.
    let cancel = Arc::new(AtomicBool::new(false));
    let work = read_and_write(
        client,
        options,
        &sources,
        share_with,
        progress,
        &sink,
        cancel.clone(),
    );
    let outcome = tokio::select! {
        outcome = work => outcome,
        () = interrupt => {
            cancel.store(true, Ordering::Relaxed);
            Err(SyncError::Interrupted)
        }
    };
    progress.done();
    let (writer, store_error) = sink.close().await;
    let (objects, organization, dropped) = match (outcome, store_error) {
        (Ok(done), None) => done,
        (outcome, store_error) => {
            // The store's own error explains a writer that stopped; report it over the echo.
            let error = match (outcome, store_error) {
                (Err(SyncError::WriterStopped) | Err(SyncError::Store(_)) | Ok(_), Some(e)) => e,
                (Err(e), _) => e,
                (Ok(_), None) => unreachable!("handled above"),
            };
            let message = error_chain(&error);
            tracing::error!(run = run_id.get(), error = %message, "Sync failed; the previous successful run stays the latest.");
            sink::fail(writer, message).await?;
            return Err(error);
        }
    };

    let usage = client.usage();
    let api_calls = ApiCalls {
        total: usage.calls_made.saturating_sub(calls_before),
        by_object: objects
            .iter()
            .map(|o| (o.object.to_owned(), o.calls))
            .collect::<BTreeMap<String, u64>>(),
        daily_remaining: usage.remaining_daily(),
    };
    let run = sink::finish(
        writer,
        RunSummary {
            api_calls: api_calls.clone(),
        },
    )
    .await?;
    let path = target.path.clone();
    let (counts, records_of) = tokio::task::spawn_blocking(move || {
        let store = Store::open_existing(&path)?;
        Ok::<_, crate::store::StoreError>((store.counts(run)?, store.records_of(run)?))
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    let copied_from = previous
        .filter(|_| objects.iter().any(|o| o.copied))
        .map(|(run, _)| run);
    Ok(SyncReport {
        run,
        organization,
        copied_from,
        shares_records_of: (records_of != run).then_some(records_of),
        call_bound: call_bound(&objects, options.batch_size),
        objects,
        api_calls,
        duration: started.elapsed(),
        counts,
        dropped_grants: dropped,
    })
}

/// The error and its causes on one line, for the failed run's row.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

type Done = (Vec<ObjectReport>, Option<OrganizationRow>, u64);

/// Fetches every object concurrently, streaming join-free resources into the sink, then
/// expands and writes the users and grants.
async fn read_and_write(
    client: &Client,
    options: &SyncOptions,
    sources: &BTreeMap<&'static str, Source>,
    share_with: Option<RunId>,
    progress: &dyn Progress,
    sink: &Sink,
    cancel: Arc<AtomicBool>,
) -> Result<Done, SyncError> {
    sink.resource_types(options.resource_types()).await?;
    let o = options;
    let p = progress;
    let read_every_time = Source::Read {
        probe: false,
        previous_digest: None,
    };
    let s = |spec: &ObjectSpec| sources.get(spec.object).unwrap_or(&read_every_time);
    let (
        organization,
        user_licenses,
        permission_set_licenses,
        profiles,
        roles,
        users,
        user_logins,
        groups,
        group_members,
        permission_sets,
        permission_set_groups,
        components,
        assignments,
        license_assignments,
        connected_apps,
        app_menu_items,
        setup_entity_access,
        oauth_tokens,
    ) = tokio::try_join!(
        fetch::<OrganizationRow>(client, &ORGANIZATION, o, p, sink, None, s(&ORGANIZATION)),
        fetch(
            client,
            &USER_LICENSE,
            o,
            p,
            sink,
            Some(|r| map_user_license(r).map(Some)),
            s(&USER_LICENSE)
        ),
        fetch(
            client,
            &PERMISSION_SET_LICENSE,
            o,
            p,
            sink,
            Some(|r| map_permission_set_license(r).map(Some)),
            s(&PERMISSION_SET_LICENSE)
        ),
        fetch(
            client,
            &PROFILE,
            o,
            p,
            sink,
            Some(|r| map_profile(r).map(Some)),
            s(&PROFILE)
        ),
        fetch(
            client,
            &USER_ROLE,
            o,
            p,
            sink,
            Some(|r| map_role(r).map(Some)),
            s(&USER_ROLE)
        ),
        fetch::<UserRow>(client, &USER, o, p, sink, None, s(&USER)),
        fetch::<UserLoginRow>(client, &USER_LOGIN, o, p, sink, None, s(&USER_LOGIN)),
        fetch(client, &GROUP, o, p, sink, Some(map_group), s(&GROUP)),
        fetch::<GroupMemberRow>(client, &GROUP_MEMBER, o, p, sink, None, s(&GROUP_MEMBER)),
        fetch(
            client,
            &PERMISSION_SET,
            o,
            p,
            sink,
            Some(map_permission_set),
            s(&PERMISSION_SET)
        ),
        fetch(
            client,
            &PERMISSION_SET_GROUP,
            o,
            p,
            sink,
            Some(|r| map_permission_set_group(r).map(Some)),
            s(&PERMISSION_SET_GROUP)
        ),
        fetch::<PermissionSetGroupComponentRow>(
            client,
            &PERMISSION_SET_GROUP_COMPONENT,
            o,
            p,
            sink,
            None,
            s(&PERMISSION_SET_GROUP_COMPONENT)
        ),
        fetch::<PermissionSetAssignmentRow>(
            client,
            &PERMISSION_SET_ASSIGNMENT,
            o,
            p,
            sink,
            None,
            s(&PERMISSION_SET_ASSIGNMENT)
        ),
        fetch::<PermissionSetLicenseAssignRow>(
            client,
            &PERMISSION_SET_LICENSE_ASSIGN,
            o,
            p,
            sink,
            None,
            s(&PERMISSION_SET_LICENSE_ASSIGN)
        ),
        fetch(
            client,
            &CONNECTED_APPLICATION,
            o,
            p,
            sink,
            Some(|r| map_connected_app(r).map(Some)),
            s(&CONNECTED_APPLICATION)
        ),
        fetch::<AppMenuItemRow>(client, &APP_MENU_ITEM, o, p, sink, None, s(&APP_MENU_ITEM)),
        fetch::<SetupEntityAccessRow>(
            client,
            &SETUP_ENTITY_ACCESS,
            o,
            p,
            sink,
            None,
            s(&SETUP_ENTITY_ACCESS)
        ),
        fetch::<OauthTokenRow>(client, &OAUTH_TOKEN, o, p, sink, None, s(&OAUTH_TOKEN)),
    )?;

    let mut reports = Vec::new();
    let mut known = HashSet::new();
    let mut take = |spec: &'static ObjectSpec, report: ObjectReport, ids: HashSet<_>| {
        if spec.is_read(options) {
            reports.push(report);
        }
        known.extend(ids);
    };
    macro_rules! rows {
        ($spec:expr, $fetched:expr) => {{
            let fetched = $fetched;
            let report = ObjectReport {
                object: $spec.object,
                rows: fetched.row_count(),
                calls: fetched.calls,
                probe_calls: fetched.probe_calls,
                copied: fetched.copied,
                unchanged: fetched.unchanged,
                max_page: $spec.max_page,
            };
            let Fetched {
                rows,
                resources,
                deferred,
                ..
            } = fetched;
            take(&$spec, report, resources);
            Kept {
                object: $spec.object,
                rows,
                deferred,
            }
        }};
    }
    // Rows that only became resources (already written) are not kept.
    let organization = rows!(ORGANIZATION, organization).rows.into_iter().next();
    rows!(USER_LICENSE, user_licenses);
    rows!(PERMISSION_SET_LICENSE, permission_set_licenses);
    let profiles = rows!(PROFILE, profiles);
    let roles = rows!(USER_ROLE, roles);
    let users = rows!(USER, users);
    let user_logins = rows!(USER_LOGIN, user_logins);
    let groups = rows!(GROUP, groups);
    let group_members = rows!(GROUP_MEMBER, group_members);
    let permission_sets = rows!(PERMISSION_SET, permission_sets);
    rows!(PERMISSION_SET_GROUP, permission_set_groups);
    let components = rows!(PERMISSION_SET_GROUP_COMPONENT, components);
    let assignments = rows!(PERMISSION_SET_ASSIGNMENT, assignments);
    let license_assignments = rows!(PERMISSION_SET_LICENSE_ASSIGN, license_assignments);
    let connected_apps = rows!(CONNECTED_APPLICATION, connected_apps);
    let app_menu_items = rows!(APP_MENU_ITEM, app_menu_items);
    let setup_entity_access = rows!(SETUP_ENTITY_ACCESS, setup_entity_access);
    let oauth_tokens = rows!(OAUTH_TOKEN, oauth_tokens);

    if let Some(run) = share_with
        && reports.iter().all(|o| o.unchanged)
    {
        progress.phase("Nothing changed: the run shares the records of the previous one.");
        tracing::info!(
            shared_run = run.get(),
            "Every object is as the previous run left it; its records are shared, not rebuilt."
        );
        sink.share_records_of(run).await?;
        return Ok((reports, organization, 0));
    }
    progress.phase("Expanding group nesting, permission set groups and app access...");
    let options = *options;
    let grants_out = sink.blocking_handle();
    let expanded = tokio::task::spawn_blocking(move || {
        // Off the async workers: it walks the whole heap.
        release_free_memory();
        // Copied rows kept encoded are decoded here, off the async workers.
        let snapshot = Snapshot {
            profiles: profiles.rows()?,
            roles: roles.rows()?,
            users: users.rows()?,
            user_logins: user_logins.rows()?,
            groups: groups.rows()?,
            group_members: group_members.rows()?,
            permission_sets: permission_sets.rows()?,
            components: components.rows()?,
            assignments: assignments.rows()?,
            license_assignments: license_assignments.rows()?,
            connected_apps: connected_apps.rows()?,
            app_menu_items: app_menu_items.rows()?,
            setup_entity_access: setup_entity_access.rows()?,
            oauth_tokens: oauth_tokens.rows()?,
        };
        let users_out = grants_out.clone();
        expand(
            &snapshot,
            known,
            &options,
            &mut |users| users_out.resources(users),
            &mut |batch| {
                if cancel.load(Ordering::Relaxed) {
                    return Err(SyncError::Interrupted);
                }
                grants_out.grants(batch)
            },
        )
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    tracing::debug!(
        users = expanded.users,
        grants = expanded.grants,
        dropped_grants = expanded.dropped,
        "Grants expanded."
    );
    progress.phase("Writing...");
    Ok((reports, organization, expanded.dropped))
}

/// Hands the heap's free pages back to the system between reading and expanding. The reads
/// free many large buffers (answer bodies, results sets, pages); glibc keeps them, and the
/// expansion's own allocations then land around them, so the process's peak held both.
/// Measured on the large org (peak RSS, the same binary with and without the call): see the
/// README's Performance section.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system; it has no preconditions and
    // touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
