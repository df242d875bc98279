//! Expand: joins the rows of every object, in memory, into users and grants.
//!
//! Pure: a `Snapshot` of rows in, users and grants out, sorted by id. It owns the meaning of
//! the relationship objects: group membership through nested groups, role groups and the
//! org-wide group (with provenance in `sources`, terminating on cyclic nesting), permission set
//! group members' grants on the component sets, connected-app access through profiles and
//! permission sets, OAuth tokens. A grant whose entitlement's resource or whose principal was
//! not synced (a user filtered out by the options) is dropped, whatever produced it, so the
//! options change the result consistently.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;

use super::SyncOptions;
use super::error::SyncError;
use super::objects::*;
use crate::model::{
    EntitlementId, Grant, GrantId, GrantSource, Resource, ResourceId, ResourceTypeId, SourceKind,
};
use crate::salesforce::SfId;
use crate::store::{GrantRow, GrantRows, RunWriter, StoreError};

/// Every row the sync read.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub profiles: Vec<ProfileRow>,
    pub roles: Vec<UserRoleRow>,
    pub users: Vec<UserRow>,
    pub user_logins: Vec<UserLoginRow>,
    pub groups: Vec<GroupRow>,
    pub group_members: Vec<GroupMemberRow>,
    pub permission_sets: Vec<PermissionSetRow>,
    pub components: Vec<PermissionSetGroupComponentRow>,
    pub assignments: Vec<PermissionSetAssignmentRow>,
    pub license_assignments: Vec<PermissionSetLicenseAssignRow>,
    pub connected_apps: Vec<ConnectedApplicationRow>,
    pub app_menu_items: Vec<AppMenuItemRow>,
    pub setup_entity_access: Vec<SetupEntityAccessRow>,
    pub oauth_tokens: Vec<OauthTokenRow>,
}

/// What happened to a snapshot's users and grants (which go out through `users_out` and
/// `emit`).
#[derive(Debug)]
pub(crate) struct Expanded {
    /// Users emitted.
    pub users: u64,
    /// Grants emitted.
    pub grants: u64,
    /// Grants left out because their resource or principal was not synced.
    pub dropped: u64,
}

/// What the expansion emits, in order: the users' table once, then grants in id order, as
/// whole `Grant`s or as rows (`GrantRows`, the compact form of the grants to users, which are
/// most of an org's) whose principals are the table's users by rank.
#[derive(Debug)]
pub(crate) enum GrantBatch {
    /// The principal table of the rows: every user's resource id, by rank (in id order).
    Principals(Vec<ResourceId>),
    /// Grants built whole (connected apps, licenses, profiles, roles).
    Grants(Vec<Grant>),
    /// Grants to users, their principals by rank.
    Rows(GrantRows),
}

impl GrantBatch {
    /// The grants of the batch, rows built whole with `principals` (the table sent first):
    /// for tests and the bench's digest.
    #[cfg(any(test, feature = "emulator"))]
    pub(crate) fn to_grants(&self, principals: &[ResourceId]) -> Vec<Grant> {
        match self {
            GrantBatch::Principals(_) => Vec::new(),
            GrantBatch::Grants(grants) => grants.clone(),
            GrantBatch::Rows(rows) => rows
                .rows
                .iter()
                .map(|row| rows.grant(row, principals[row.principal as usize]))
                .collect(),
        }
    }

    /// Writes the batch into the run.
    pub(crate) fn write_to(self, writer: &mut RunWriter) -> Result<(), StoreError> {
        match self {
            GrantBatch::Principals(principals) => writer.put_principal_table(principals),
            GrantBatch::Grants(grants) => writer.put_grants(&grants),
            GrantBatch::Rows(rows) => writer.put_grant_rows(&rows),
        }
    }
}

/// Where expanded grants go, a batch at a time (the store sink, or a Vec in tests).
pub(crate) type Emit<'e> = dyn FnMut(GrantBatch) -> Result<(), SyncError> + 'e;

/// Grants per emitted batch. With the sink's channel (4 deep), the batch being written and
/// the one being built, six batches are alive: at 10,000 grants (about 2.5 MB each) that was
/// 15 MB of a sync's peak; at 2,500 it is under 4 MB, for a few more channel sends.
const EMIT_BATCH: usize = 2_500;

/// Keeps the grants whose resource and principal were synced, batches them and emits them.
/// Whole grants and rows go out in separate batches, in the order they came.
struct Output<'k, 'e, 'f> {
    known: &'k FxHashSet<ResourceId>,
    emit: &'e mut Emit<'f>,
    grants: Vec<Grant>,
    rows: GrantRows,
    emitted: u64,
    dropped: u64,
}

impl Output<'_, '_, '_> {
    fn push(&mut self, grants: impl IntoIterator<Item = Grant>) -> Result<(), SyncError> {
        for g in grants {
            if self.known.contains(&g.entitlement_id.resource_id())
                && self.known.contains(&g.principal_id)
            {
                if !self.rows.is_empty() {
                    self.flush()?;
                }
                self.grants.push(g);
                // Within one entitlement too: a group of every user is one batch otherwise,
                // and a few such batches in the sink's channel hold 100 MB.
                if self.grants.len() >= EMIT_BATCH {
                    self.flush()?;
                }
            } else {
                self.dropped += 1;
            }
        }
        Ok(())
    }

    /// Starts the rows of `entitlement`, whose rows name `sources` by their index: returns
    /// the entitlement's index in the batch and the index of its first source.
    fn begin_rows(
        &mut self,
        entitlement: EntitlementId,
        sources: &[GrantSource],
    ) -> Result<(u32, u32), SyncError> {
        if !self.grants.is_empty() {
            self.flush()?;
        }
        let rows = &mut self.rows;
        rows.entitlements.push(entitlement);
        let base = rows.sources.len() as u32;
        rows.sources.extend_from_slice(sources);
        Ok(((rows.entitlements.len() - 1) as u32, base))
    }

    fn flush(&mut self) -> Result<(), SyncError> {
        if !self.grants.is_empty() {
            self.emitted += self.grants.len() as u64;
            let grants = std::mem::replace(&mut self.grants, Vec::with_capacity(EMIT_BATCH));
            (self.emit)(GrantBatch::Grants(grants))?;
        }
        if !self.rows.is_empty() {
            self.emitted += self.rows.len() as u64;
            let rows = std::mem::replace(
                &mut self.rows,
                GrantRows {
                    rows: Vec::with_capacity(EMIT_BATCH),
                    ..GrantRows::default()
                },
            );
            (self.emit)(GrantBatch::Rows(rows))?;
        } else {
            // Entitlements begun without rows (every holder dropped).
            self.rows.entitlements.clear();
            self.rows.sources.clear();
            self.rows.source_lists.clear();
        }
        Ok(())
    }
}

/// One way a principal comes to hold an entitlement.
#[derive(Debug, Clone, Copy)]
struct Path {
    source: Option<GrantSource>,
    record_id: Option<SfId>,
    expires: Option<DateTime<Utc>>,
}

impl Path {
    fn direct(record_id: Option<SfId>, expires: Option<DateTime<Utc>>) -> Path {
        Path {
            source: None,
            record_id,
            expires,
        }
    }

    fn through(source: GrantSource, expires: Option<DateTime<Utc>>) -> Path {
        Path {
            source: Some(source),
            record_id: None,
            expires,
        }
    }
}

/// Grants being built, merged by id: a principal that holds an entitlement in several ways
/// gets one grant, direct if any way is direct, with every source, ending when its last way
/// ends. Every merge is commutative, so the order rows arrive in does not change the result.
#[derive(Debug, Default)]
struct GrantSet {
    grants: BTreeMap<GrantId, Grant>,
}

impl GrantSet {
    fn add(&mut self, entitlement: EntitlementId, principal: ResourceId, path: Path) {
        let id = GrantId::new(entitlement, principal);
        match self.grants.entry(id) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                let mut grant = Grant::direct(entitlement, principal);
                grant.direct = path.source.is_none();
                grant.sources.extend(path.source);
                grant.expires_at = path.expires;
                grant.details.record_id = path.record_id;
                slot.insert(grant);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                let grant = slot.get_mut();
                match path.source {
                    None => grant.direct = true,
                    Some(source) => grant.add_source(source),
                }
                // No end on any way means no end.
                grant.expires_at = match (grant.expires_at, path.expires) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                grant.details.record_id = match (grant.details.record_id, path.record_id) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }

    fn insert(&mut self, grant: Grant) {
        let path = Path {
            source: None,
            record_id: grant.details.record_id,
            expires: grant.expires_at,
        };
        self.add(grant.entitlement_id, grant.principal_id, path);
    }
}

fn user_id(
    object: &'static str,
    record: SfId,
    field: &'static str,
    user: SfId,
) -> Result<ResourceId, SyncError> {
    resource_id(object, record, field, ResourceTypeId::User, user)
}

/// The synced users and what the expansion needs to know about them. Besides its index in
/// `users`, a user has a rank: the position of its id among the distinct user ids in id
/// order, so that sets of users kept by rank iterate in the order of their grants' ids.
struct People<'a> {
    users: Vec<&'a UserRow>,
    /// Each user's rank, by id (one lookup: the rank is what every use wants).
    by_id: FxHashMap<SfId, u32>,
    by_role: FxHashMap<SfId, Vec<usize>>,
    by_profile: FxHashMap<SfId, Vec<usize>>,
    internal: Vec<usize>,
    /// Each user's rank, by index.
    rank: Vec<u32>,
    /// The user of each rank: the principal table of the grant rows.
    by_rank: Vec<ResourceId>,
}

impl<'a> People<'a> {
    /// Fails on a user whose id is not a user's (as mapping the users does).
    fn new(rows: &'a [UserRow]) -> Result<People<'a>, SyncError> {
        let mut people = People {
            users: rows.iter().collect(),
            by_id: FxHashMap::with_capacity_and_hasher(rows.len(), Default::default()),
            by_role: FxHashMap::default(),
            by_profile: FxHashMap::default(),
            internal: Vec::new(),
            rank: vec![0; rows.len()],
            by_rank: Vec::with_capacity(rows.len()),
        };
        for (i, u) in rows.iter().enumerate() {
            if let Some(role) = u.user_role_id {
                people.by_role.entry(role).or_default().push(i);
            }
            if let Some(profile) = u.profile_id {
                people.by_profile.entry(profile).or_default().push(i);
            }
            if u.is_internal() {
                people.internal.push(i);
            }
        }
        // Rows come in id order: the stable sort only checks that.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| rows[i].id);
        for i in order {
            let id = rows[i].id;
            if people.by_rank.last().is_none_or(|last| last.sf_id() != id) {
                people.by_rank.push(user_id("User", id, "Id", id)?);
            }
            people.rank[i] = (people.by_rank.len() - 1) as u32;
        }
        for (i, u) in rows.iter().enumerate() {
            people.by_id.insert(u.id, people.rank[i]);
        }
        Ok(people)
    }

    /// The number of distinct users (of ranks).
    fn ranks(&self) -> usize {
        self.by_rank.len()
    }

    /// The rank of a synced user.
    fn rank_of(&self, user: SfId) -> Option<usize> {
        self.by_id.get(&user).map(|&rank| rank as usize)
    }
}

/// Who an assignment names: a synced user, by rank, or a user that was not synced.
#[derive(Debug, Clone, Copy)]
enum Assignee {
    Rank(usize),
    Unknown(ResourceId),
}

/// The grants of one entitlement to users, built by user rank instead of in a map by id: the
/// same merge as `GrantSet::add`, without hashing, comparing ids or allocating per grant,
/// and emitted as rows (`GrantRows`) in rank order, which is the grants' id order.
/// Principals that are not synced users are only counted (their grants are dropped).
///
/// Each fact about a user's grant is kept in its own array by rank, so that the common
/// grant (one source, or direct without details) touches a few bits and one `u32`: kept as
/// one struct per user (80 bytes, with a Vec of sources) the arrays were 7 MB for the large
/// org, and reading them missed the cache at nearly every grant.
struct UserGrants {
    held: UserSet,
    /// Of the held: direct.
    direct: UserSet,
    /// Of the held: with a record or an end (`details`).
    detailed: UserSet,
    /// Of the held: with more than one source (`more`).
    multi: UserSet,
    /// Per rank: its first source's index + 1 (0: none).
    first: Vec<u32>,
    /// Per rank in `multi`: its other sources' indexes.
    more: FxHashMap<u32, SmallVec<[u32; 2]>>,
    /// Per rank in `detailed`: its record and end.
    details: Vec<(Option<SfId>, Option<DateTime<Utc>>)>,
    /// The distinct sources of the entitlement's grants.
    sources: Vec<GrantSource>,
    /// Principals that are not synced users, with repeats.
    unknown: Vec<ResourceId>,
    /// A row's source indexes, while they are sorted.
    scratch: Vec<u32>,
}

impl UserGrants {
    fn new(people: &People<'_>) -> UserGrants {
        UserGrants {
            held: UserSet::new(people.ranks()),
            direct: UserSet::new(people.ranks()),
            detailed: UserSet::new(people.ranks()),
            multi: UserSet::new(people.ranks()),
            first: vec![0; people.ranks()],
            more: FxHashMap::default(),
            details: vec![(None, None); people.ranks()],
            sources: Vec::new(),
            unknown: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The index of `source` in `sources`, added if new.
    fn source(&mut self, source: GrantSource) -> u32 {
        match self.sources.iter().position(|s| *s == source) {
            Some(i) => i as u32,
            None => {
                self.sources.push(source);
                (self.sources.len() - 1) as u32
            }
        }
    }

    /// `GrantSet::add` for the user of `rank`, with the source as an index.
    fn add(
        &mut self,
        rank: usize,
        source: Option<u32>,
        record_id: Option<SfId>,
        expires: Option<DateTime<Utc>>,
    ) {
        if !self.held.contains(rank) {
            self.held.insert(rank);
            self.direct.set(rank, source.is_none());
            self.multi.set(rank, false);
            self.first[rank] = source.map_or(0, |s| s + 1);
            let detailed = record_id.is_some() || expires.is_some();
            self.detailed.set(rank, detailed);
            if detailed {
                self.details[rank] = (record_id, expires);
            }
            return;
        }
        match source {
            None => self.direct.insert(rank),
            Some(s) => match self.first[rank] {
                0 => self.first[rank] = s + 1,
                f if f == s + 1 => {}
                _ => {
                    // The map is emptied with each entitlement.
                    self.multi.insert(rank);
                    let more = self.more.entry(rank as u32).or_default();
                    if !more.contains(&s) {
                        more.push(s);
                    }
                }
            },
        }
        let (had_record, had_expires) = if self.detailed.contains(rank) {
            self.details[rank]
        } else {
            (None, None)
        };
        // No end on any way means no end.
        let expires = match (had_expires, expires) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        let record_id = match (had_record, record_id) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let detailed = record_id.is_some() || expires.is_some();
        self.detailed.set(rank, detailed);
        if detailed {
            self.details[rank] = (record_id, expires);
        }
    }

    /// Adds a way `who` holds the entitlement.
    fn add_path(&mut self, who: Assignee, path: Path) {
        match who {
            Assignee::Rank(rank) => {
                let source = path.source.map(|s| self.source(s));
                self.add(rank, source, path.record_id, path.expires);
            }
            Assignee::Unknown(id) => self.unknown.push(id),
        }
    }

    /// Emits the grants of `entitlement` in id order and starts over empty.
    fn emit(
        &mut self,
        entitlement: EntitlementId,
        out: &mut Output<'_, '_, '_>,
    ) -> Result<(), SyncError> {
        let known = out.known.contains(&entitlement.resource_id());
        let mut at = if known {
            Some(out.begin_rows(entitlement, &self.sources)?)
        } else {
            None
        };
        for w in 0..self.held.0.len() {
            let mut bits = std::mem::take(&mut self.held.0[w]);
            if bits == 0 {
                continue;
            }
            let direct = std::mem::take(&mut self.direct.0[w]);
            let detailed = std::mem::take(&mut self.detailed.0[w]);
            let multi = std::mem::take(&mut self.multi.0[w]);
            let Some((mut e, mut base)) = at else {
                out.dropped += u64::from(bits.count_ones());
                continue;
            };
            while bits != 0 {
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                let rank = w * 64 + bit as usize;
                if out.rows.len() >= EMIT_BATCH {
                    out.flush()?;
                    (e, base) = out.begin_rows(entitlement, &self.sources)?;
                    at = Some((e, base));
                }
                let lists = &mut out.rows.source_lists;
                let start = lists.len();
                let first = self.first[rank];
                let sources = if multi & (1 << bit) != 0 {
                    self.scratch.clear();
                    self.scratch.push(first - 1);
                    self.scratch
                        .extend(self.more.get(&(rank as u32)).into_iter().flatten());
                    let sources = &self.sources;
                    self.scratch
                        .sort_unstable_by(|&a, &b| sources[a as usize].cmp(&sources[b as usize]));
                    lists.extend(self.scratch.iter().map(|&s| base + s));
                    (start as u32, self.scratch.len() as u32)
                } else if first == 0 {
                    (0, 0)
                } else if lists.last() == Some(&(base + first - 1)) {
                    // The previous row's single source: share its entry.
                    (start as u32 - 1, 1)
                } else {
                    lists.push(base + first - 1);
                    (start as u32, 1)
                };
                let (record_id, expires_at) = if detailed & (1 << bit) != 0 {
                    self.details[rank]
                } else {
                    (None, None)
                };
                out.rows.rows.push(GrantRow {
                    entitlement: e,
                    principal: rank as u32,
                    direct: direct & (1 << bit) != 0,
                    sources,
                    expires_at,
                    record_id,
                });
            }
        }
        self.unknown.sort_unstable();
        self.unknown.dedup();
        out.dropped += self.unknown.len() as u64;
        self.unknown.clear();
        self.sources.clear();
        self.more.clear();
        Ok(())
    }
}

/// Builds the users and grants of a snapshot. `known` holds the ids of the resources already
/// written (licenses, profiles, roles, groups, permission sets, PSGs, apps); users are added.
/// Grants go out through `emit` in id order, so that the store appends them without sorting:
/// the grants of entitlements before `group:` (connected apps), then group memberships one
/// group at a time (they are most of the grants of an org with deep nesting, and no other
/// grant merges with them), then the rest.
///
/// The users go out first, in batches, before the grants are built, so that their records
/// are not held through the expansion's peak.
pub(crate) fn expand(
    s: &Snapshot,
    known: HashSet<ResourceId>,
    options: &SyncOptions,
    users_out: &mut dyn FnMut(Vec<Resource>) -> Result<(), SyncError>,
    emit: &mut Emit<'_>,
) -> Result<Expanded, SyncError> {
    let mut known: FxHashSet<ResourceId> = known.into_iter().collect();
    let user_count = map_users(s, options, &mut known, users_out)?;
    let people = People::new(&s.users)?;
    emit(GrantBatch::Principals(people.by_rank.clone()))?;
    let mut out = Output {
        known: &known,
        emit,
        grants: Vec::with_capacity(EMIT_BATCH),
        rows: GrantRows::default(),
        emitted: 0,
        dropped: 0,
    };
    let assignments = Assignments::new(s, &people)?;
    // Connected apps come before `group:`; the rest after the group memberships.
    if options.sync_connected_apps {
        let holders = set_holders(&assignments, &people)?;
        let mut apps = GrantSet::default();
        access_grants(s, &people, &holders, &mut apps)?;
        authorized_grants(s, &mut apps)?;
        out.push(apps.grants.into_values())?;
    }
    group_grants(s, &people, &mut out)?;
    other_grants(s, &people, &assignments, &mut out)?;
    out.flush()?;
    Ok(Expanded {
        users: user_count,
        grants: out.emitted,
        dropped: out.dropped,
    })
}

/// Every grant but group memberships and connected apps, one entitlement at a time in id
/// order (`license`, `permission`, `permission_set_group`, `profile`, `role`): only one
/// entitlement's grants are in memory at once, however many the org has.
fn other_grants(
    s: &Snapshot,
    people: &People<'_>,
    assignments: &Assignments,
    out: &mut Output<'_, '_, '_>,
) -> Result<(), SyncError> {
    let mut licenses: FxHashMap<SfId, Vec<&PermissionSetLicenseAssignRow>> = FxHashMap::default();
    for row in &s.license_assignments {
        licenses
            .entry(row.permission_set_license_id)
            .or_default()
            .push(row);
    }
    for_each_key(licenses.keys().copied(), out, |license, grants| {
        for row in &licenses[&license] {
            grants.insert(map_license_assignment(row)?);
        }
        Ok(())
    })?;
    let mut users = UserGrants::new(people);
    for (keys, group) in [
        (assignments.sets().collect::<Vec<SfId>>(), false),
        (assignments.by_group.keys().copied().collect(), true),
    ] {
        let mut keys = keys;
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let mut granted = None;
            let mut add = |e: EntitlementId, who: Assignee, path: Path| {
                granted = Some(e);
                users.add_path(who, path);
            };
            if group {
                assignments.group_grants(key, &mut add)?;
            } else {
                assignments.set_grants(key, &mut add)?;
            }
            if let Some(e) = granted {
                users.emit(e, out)?;
            }
        }
    }
    for (by, type_id) in [
        (&people.by_profile, ResourceTypeId::Profile),
        (&people.by_role, ResourceTypeId::Role),
    ] {
        for_each_key(by.keys().copied(), out, |key, grants| {
            for &u in &by[&key] {
                // A user's profile and role grants; only the one of this entitlement is kept.
                for grant in user_grants(people.users[u])? {
                    let resource = grant.entitlement_id.resource_id();
                    if resource.type_id() == type_id && resource.sf_id() == key {
                        grants.insert(grant);
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Builds the grants of each key (the entitlements of one type and slug, so the keys' order
/// is the entitlements' id order) and emits them, one key at a time.
fn for_each_key(
    keys: impl IntoIterator<Item = SfId>,
    out: &mut Output<'_, '_, '_>,
    mut build: impl FnMut(SfId, &mut GrantSet) -> Result<(), SyncError>,
) -> Result<(), SyncError> {
    let mut keys: Vec<SfId> = keys.into_iter().collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let mut grants = GrantSet::default();
        build(key, &mut grants)?;
        out.push(grants.grants.into_values())?;
    }
    Ok(())
}

/// Users per batch sent to the writer. Sent whole, the large org's 83k user records were
/// still alive in the writer's thread while the expansion built its indexes: up to 20 MB of
/// the sync's peak, depending on which thread ran ahead.
const USER_BATCH: usize = 2_000;

/// Maps every user row, with its UserLogin row and its profile's license, and sends them to
/// `users_out` in batches, adding their ids to `known`. Returns how many there were.
fn map_users(
    s: &Snapshot,
    options: &SyncOptions,
    known: &mut FxHashSet<ResourceId>,
    users_out: &mut dyn FnMut(Vec<Resource>) -> Result<(), SyncError>,
) -> Result<u64, SyncError> {
    let logins: FxHashMap<SfId, &UserLoginRow> =
        s.user_logins.iter().map(|l| (l.user_id, l)).collect();
    let licenses: FxHashMap<SfId, SfId> = s
        .profiles
        .iter()
        .filter_map(|p| p.user_license_id.map(|l| (p.id, l)))
        .collect();
    let mut count = 0;
    for rows in s.users.chunks(USER_BATCH) {
        let users = rows
            .iter()
            .map(|u| {
                let license = u.profile_id.and_then(|p| licenses.get(&p).copied());
                map_user(u, logins.get(&u.id).copied(), license, options)
            })
            .collect::<Result<Vec<Resource>, SyncError>>()?;
        known.extend(users.iter().map(|u| u.id));
        count += users.len() as u64;
        users_out(users)?;
    }
    Ok(count)
}

/// `group:G:member` for users: GroupMember rows of users are direct; a member group H brings
/// every user reachable through H (its members, nested groups' members, the users of a role
/// group's role, of a role-and-subordinates group's role and the roles below it, every
/// internal user for the Organization group), with H as the source. Emitted group by group.
fn group_grants(
    s: &Snapshot,
    people: &People<'_>,
    out: &mut Output<'_, '_, '_>,
) -> Result<(), SyncError> {
    let groups: FxHashMap<SfId, &GroupRow> = s.groups.iter().map(|g| (g.id, g)).collect();
    let mut members: FxHashMap<SfId, Vec<&GroupMemberRow>> = FxHashMap::default();
    for m in &s.group_members {
        members.entry(m.group_id).or_default().push(m);
    }
    let roles = RoleTree::new(&s.roles);
    let reach = Reach::new(&groups, &members, &roles, people);
    let mut warned: FxHashSet<&str> = FxHashSet::default();
    let mut grants = UserGrants::new(people);
    // In id order: a group's grants are `group:ID:member:...`.
    let mut sorted: Vec<&GroupRow> = s.groups.iter().collect();
    sorted.sort_unstable_by_key(|g| g.id);
    for group in sorted {
        if !matches!(group.group_type.as_str(), "Regular" | "Queue") {
            continue;
        }
        let g = resource_id("Group", group.id, "Id", ResourceTypeId::Group, group.id)?;
        let member_of = entitlement(g, "member");
        for m in members.get(&group.id).map(Vec::as_slice).unwrap_or(&[]) {
            let member = m.user_or_group_id;
            if member.key_prefix() == "005" {
                match people.rank_of(member) {
                    Some(rank) => grants.add(rank, None, Some(m.id), None),
                    None => {
                        grants
                            .unknown
                            .push(user_id("GroupMember", m.id, "UserOrGroupId", member)?)
                    }
                }
                continue;
            }
            let Some(nested) = groups.get(&member) else {
                continue;
            };
            let Some(source) = source_of(nested)? else {
                if warned.insert(nested.group_type.as_str()) {
                    tracing::warn!(
                        group_type = nested.group_type.as_str(),
                        "Groups of this type are not expanded; their members are left out of the groups they belong to."
                    );
                }
                continue;
            };
            let source = grants.source(source);
            reach.for_each_user(member, |rank| grants.add(rank, Some(source), None, None));
        }
        grants.emit(member_of, out)?;
    }
    Ok(())
}

/// The source a member group stands for, or `None` for group types not expanded.
fn source_of(group: &GroupRow) -> Result<Option<GrantSource>, SyncError> {
    let role_source = |kind| -> Result<Option<GrantSource>, SyncError> {
        let Some(role) = group.related_id else {
            return Ok(None);
        };
        let role = resource_id("Group", group.id, "RelatedId", ResourceTypeId::Role, role)?;
        Ok(Some(GrantSource {
            entitlement_id: entitlement(role, "assigned"),
            kind,
        }))
    };
    let group_source = |kind| -> Result<Option<GrantSource>, SyncError> {
        let id = resource_id("Group", group.id, "Id", ResourceTypeId::Group, group.id)?;
        Ok(Some(GrantSource {
            entitlement_id: entitlement(id, "member"),
            kind,
        }))
    };
    match group.group_type.as_str() {
        "Regular" | "Queue" => group_source(SourceKind::Group),
        "Role" => role_source(SourceKind::Role),
        "RoleAndSubordinates" | "RoleAndSubordinatesInternal" => {
            role_source(SourceKind::RoleAndSubordinates)
        }
        "Organization" => group_source(SourceKind::Organization),
        _ => Ok(None),
    }
}

/// The role hierarchy, top down.
struct RoleTree<'a> {
    children: FxHashMap<SfId, Vec<&'a UserRoleRow>>,
    by_id: FxHashMap<SfId, &'a UserRoleRow>,
}

impl<'a> RoleTree<'a> {
    fn new(roles: &'a [UserRoleRow]) -> RoleTree<'a> {
        let mut children: FxHashMap<SfId, Vec<&UserRoleRow>> = FxHashMap::default();
        for r in roles {
            if let Some(parent) = r.parent_role_id {
                children.entry(parent).or_default().push(r);
            }
        }
        RoleTree {
            children,
            by_id: roles.iter().map(|r| (r.id, r)).collect(),
        }
    }

    /// `role` and every role below it; with `internal_only`, portal roles (and what hangs
    /// below them) are left out. Terminates even on a cyclic hierarchy.
    fn subtree(&self, role: SfId, internal_only: bool) -> Vec<SfId> {
        let mut out = Vec::new();
        let mut seen = FxHashSet::default();
        let mut stack = vec![role];
        while let Some(r) = stack.pop() {
            if !seen.insert(r) {
                continue;
            }
            if internal_only && self.by_id.get(&r).is_some_and(|row| row.is_portal()) {
                continue;
            }
            out.push(r);
            for child in self.children.get(&r).map(Vec::as_slice).unwrap_or(&[]) {
                stack.push(child.id);
            }
        }
        out
    }
}

/// A set of users, as a bitset over `People::users` indices: an org's every group can hold
/// every user (the Organization group, role-and-subordinates groups of the top role), so
/// building a set must stay cheap however many users it gets. Kept sets are `Members`.
#[derive(Debug, Clone)]
struct UserSet(Vec<u64>);

impl UserSet {
    fn new(users: usize) -> UserSet {
        UserSet(vec![0; users.div_ceil(64)])
    }

    fn clear(&mut self) {
        self.0.fill(0);
    }

    fn add(&mut self, members: &Members) {
        match members {
            Members::Few(users) => users.iter().for_each(|&u| self.insert(u as usize)),
            Members::Many(set) => self.union(set),
        }
    }

    /// The set as kept: a list of the users, or the bitset when that is smaller.
    fn freeze(&self) -> Members {
        let count: usize = self.0.iter().map(|w| w.count_ones() as usize).sum();
        if count * size_of::<u32>() < self.0.len() * size_of::<u64>() {
            Members::Few(self.iter().map(|u| u as u32).collect())
        } else {
            Members::Many(self.clone())
        }
    }

    fn insert(&mut self, user: usize) {
        self.0[user / 64] |= 1 << (user % 64);
    }

    fn set(&mut self, user: usize, value: bool) {
        let (word, bit) = (&mut self.0[user / 64], 1u64 << (user % 64));
        *word = (*word & !bit) | if value { bit } else { 0 };
    }

    fn contains(&self, user: usize) -> bool {
        self.0[user / 64] & (1 << (user % 64)) != 0
    }

    fn union(&mut self, other: &UserSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(word_index, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let bit = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    word_index * 64 + bit
                })
            })
        })
    }
}

/// A kept set of users: most groups hold a few users, and a bitset per group is 10 KB for
/// 83k users (13k groups: 135 MB), so small sets are lists of user indices, in order.
#[derive(Debug)]
enum Members {
    Few(Vec<u32>),
    Many(UserSet),
}

impl Members {
    fn for_each(&self, mut f: impl FnMut(usize)) {
        match self {
            Members::Few(users) => users.iter().for_each(|&u| f(u as usize)),
            Members::Many(set) => set.iter().for_each(f),
        }
    }
}

/// The users (by rank) reachable through every group, computed once over the strongly connected
/// components of the nesting graph (Tarjan), so cyclic nesting terminates and every group's
/// set is the union of its own members and its successors' sets.
struct Reach {
    node: FxHashMap<SfId, usize>,
    component: Vec<usize>,
    sets: Vec<Members>,
}

impl Reach {
    fn new(
        groups: &FxHashMap<SfId, &GroupRow>,
        members: &FxHashMap<SfId, Vec<&GroupMemberRow>>,
        roles: &RoleTree<'_>,
        people: &People<'_>,
    ) -> Reach {
        // Nodes: every group read, and every group named as a member, in a stable order.
        let mut ids: Vec<SfId> = groups.keys().copied().collect();
        ids.extend(
            members
                .values()
                .flatten()
                .map(|m| m.user_or_group_id)
                .filter(|id| id.key_prefix() == "00G"),
        );
        ids.sort_unstable();
        ids.dedup();
        let node: FxHashMap<SfId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let n = ids.len();
        let mut own: Vec<Members> = Vec::with_capacity(n);
        let mut succ: Vec<Vec<usize>> = Vec::with_capacity(n);
        // One bitset to build each set in, kept as `Members`.
        let mut set = UserSet::new(people.ranks());
        for id in &ids {
            set.clear();
            let mut next = Vec::new();
            if let Some(row) = groups.get(id) {
                add_implicit(row, roles, people, &mut set);
            }
            for m in members.get(id).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(rank) = people.rank_of(m.user_or_group_id) {
                    set.insert(rank);
                } else if let Some(&w) = node.get(&m.user_or_group_id) {
                    next.push(w);
                }
            }
            own.push(set.freeze());
            succ.push(next);
        }
        let (component, components) = tarjan(&succ);
        // Tarjan emits a component after every component it reaches.
        let mut sets: Vec<Members> = Vec::with_capacity(components.len());
        for (c, nodes) in components.iter().enumerate() {
            set.clear();
            for &v in nodes {
                // Not needed after its component.
                set.add(&std::mem::replace(&mut own[v], Members::Few(Vec::new())));
                for &w in &succ[v] {
                    if component[w] != c {
                        set.add(&sets[component[w]]);
                    }
                }
            }
            sets.push(set.freeze());
        }
        Reach {
            node,
            component,
            sets,
        }
    }

    /// Calls `f` with the rank of every synced user reachable through `group`, in order.
    fn for_each_user(&self, group: SfId, f: impl FnMut(usize)) {
        if let Some(&v) = self.node.get(&group) {
            self.sets[self.component[v]].for_each(f);
        }
    }
}

/// The members Salesforce does not store as GroupMember rows: the users of role groups and
/// of the Organization group.
fn add_implicit(group: &GroupRow, roles: &RoleTree<'_>, people: &People<'_>, out: &mut UserSet) {
    let mut add_role = |role: &SfId| {
        for &u in people.by_role.get(role).map(Vec::as_slice).unwrap_or(&[]) {
            out.insert(people.rank[u] as usize);
        }
    };
    match (group.group_type.as_str(), group.related_id) {
        ("Role", Some(role)) => add_role(&role),
        ("RoleAndSubordinates", Some(role)) => {
            for r in roles.subtree(role, false) {
                add_role(&r);
            }
        }
        ("RoleAndSubordinatesInternal", Some(role)) => {
            for r in roles.subtree(role, true) {
                add_role(&r);
            }
        }
        ("Organization", _) => {
            for &u in &people.internal {
                out.insert(people.rank[u] as usize);
            }
        }
        _ => {}
    }
}

/// Strongly connected components (Tarjan, iterative so deep nesting cannot overflow the
/// stack): each node's component, and the components in the order they complete, which puts
/// every component after the components it reaches.
fn tarjan(succ: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    const UNSEEN: usize = usize::MAX;
    let n = succ.len();
    let (mut index, mut low) = (vec![UNSEEN; n], vec![0; n]);
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut component = vec![UNSEEN; n];
    let mut components: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&(v, position)) = calls.last() {
            if let Some(&w) = succ[v].get(position) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let c = components.len();
                let mut nodes = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = c;
                    nodes.push(w);
                    if w == v {
                        break;
                    }
                }
                components.push(nodes);
            }
        }
    }
    (component, components)
}

/// Permission set and PSG assignments, indexed by what they assign: `permission:S:assigned`
/// for a set assignment, and for a group assignment `permission_set_group:G:member` plus
/// `permission:S:assigned` on every component set S, through the group. The assignment's
/// end date carries over.
struct Assignments {
    /// Assignments of a permission set itself, by set.
    by_set: FxHashMap<SfId, Vec<Assigned>>,
    /// Assignments of a PSG, by group.
    by_group: FxHashMap<SfId, Vec<Assigned>>,
    /// The component sets of each group (muting and unknown sets left out).
    components: FxHashMap<SfId, Vec<SfId>>,
    /// The groups each set is a component of.
    groups_of: FxHashMap<SfId, Vec<SfId>>,
    /// The assignees that are not synced users.
    unknown: Vec<ResourceId>,
}

/// What the grants need of an assignment row: its id, its end, who it names (`who`: see
/// `Assignments::who`). Copied, not borrowed: the lists of a set are then read in order,
/// where following a reference to each row missed the cache at nearly every one (750k rows
/// in the large org). 40 bytes: the lists hold every assignment.
struct Assigned {
    id: SfId,
    expires: Option<DateTime<Utc>>,
    who: u32,
}

const _: () = assert!(size_of::<Assigned>() <= 40);

/// `Assigned::who` with this bit: an index into `Assignments::unknown`; without: a rank.
const UNKNOWN_USER: u32 = 1 << 31;

/// Where `Assignments` adds the ways principals hold an entitlement.
type AddPath<'f> = dyn FnMut(EntitlementId, Assignee, Path) + 'f;

const ASSIGNMENT: &str = "PermissionSetAssignment";

impl Assignments {
    fn new(s: &Snapshot, people: &People<'_>) -> Result<Assignments, SyncError> {
        // Each set's owner, worked out once: looked up per assignment, a reference to the
        // set's row was a cache miss per row.
        let sets: FxHashMap<SfId, SetOwner> = s
            .permission_sets
            .iter()
            .map(|p| (p.id, p.owner()))
            .collect();
        let mut index = Assignments {
            by_set: FxHashMap::default(),
            by_group: FxHashMap::default(),
            components: FxHashMap::default(),
            groups_of: FxHashMap::default(),
            unknown: Vec::new(),
        };
        for c in &s.components {
            let is_set = sets
                .get(&c.permission_set_id)
                .is_some_and(|&owner| owner == SetOwner::Itself);
            // Muting sets (0QM) and unknown sets grant nothing of their own.
            if is_set {
                index
                    .components
                    .entry(c.permission_set_group_id)
                    .or_default()
                    .push(c.permission_set_id);
                index
                    .groups_of
                    .entry(c.permission_set_id)
                    .or_default()
                    .push(c.permission_set_group_id);
            }
        }
        for a in &s.assignments {
            let user = user_id(ASSIGNMENT, a.id, "AssigneeId", a.assignee_id)?;
            // A rank as large as the flag would take 2^31 users (hundreds of GB of rows).
            let who = match people.rank_of(a.assignee_id) {
                Some(rank) if (rank as u32) < UNKNOWN_USER => rank as u32,
                _ => {
                    index.unknown.push(user);
                    UNKNOWN_USER | (index.unknown.len() - 1) as u32
                }
            };
            let assigned = Assigned {
                id: a.id,
                expires: a.expiration_date,
                who,
            };
            let set_owner = a
                .permission_set_id
                .map(|p| sets.get(&p).copied().unwrap_or(SetOwner::Itself));
            // Some orgs leave PermissionSetGroupId to be read off the aggregate set (facts 5.8).
            let group = a.permission_set_group_id.or(match set_owner {
                Some(SetOwner::Group(g)) => Some(g),
                _ => None,
            });
            if let Some(group) = group {
                index.by_group.entry(group).or_default().push(assigned);
            } else if let (Some(set), Some(SetOwner::Itself)) = (a.permission_set_id, set_owner) {
                index.by_set.entry(set).or_default().push(assigned);
            }
            // Profile-owned rows repeat User.ProfileId (and are filtered in SOQL already).
        }
        Ok(index)
    }

    /// Who `assigned` names.
    fn who(&self, assigned: &Assigned) -> Assignee {
        if assigned.who & UNKNOWN_USER == 0 {
            Assignee::Rank(assigned.who as usize)
        } else {
            Assignee::Unknown(self.unknown[(assigned.who & !UNKNOWN_USER) as usize])
        }
    }

    /// Every set some assignment gives, directly or through a group.
    fn sets(&self) -> impl Iterator<Item = SfId> + '_ {
        let through = self
            .by_group
            .keys()
            .flat_map(|g| self.components.get(g).map(Vec::as_slice).unwrap_or(&[]));
        self.by_set.keys().chain(through).copied()
    }

    /// `permission_set_group:G:member`, and the source it gives the component sets' grants.
    fn member(group: SfId, row: SfId) -> Result<EntitlementId, SyncError> {
        let g = resource_id(
            ASSIGNMENT,
            row,
            "PermissionSetGroupId",
            ResourceTypeId::PermissionSetGroup,
            group,
        )?;
        Ok(entitlement(g, "member"))
    }

    /// The grants of `permission_set_group:G:member`.
    fn group_grants(&self, group: SfId, add: &mut AddPath<'_>) -> Result<(), SyncError> {
        let list = self.by_group.get(&group).map(Vec::as_slice).unwrap_or(&[]);
        // One entitlement for every row; an error names the first row, as the first use.
        let Some(first) = list.first() else {
            return Ok(());
        };
        let member = Self::member(group, first.id)?;
        for a in list {
            add(member, self.who(a), Path::direct(Some(a.id), a.expires));
        }
        Ok(())
    }

    /// The grants of `permission:S:assigned`: its own assignments and its groups'.
    fn set_grants(&self, set: SfId, add: &mut AddPath<'_>) -> Result<(), SyncError> {
        // The entitlement is the same for every row; it is built at its first use, so that an
        // error names the row it always named.
        let mut assigned: Option<EntitlementId> = None;
        for a in self.by_set.get(&set).map(Vec::as_slice).unwrap_or(&[]) {
            let p = match assigned {
                Some(p) => p,
                None => {
                    let p = resource_id(
                        ASSIGNMENT,
                        a.id,
                        "PermissionSetId",
                        ResourceTypeId::Permission,
                        set,
                    )?;
                    *assigned.insert(entitlement(p, "assigned"))
                }
            };
            add(p, self.who(a), Path::direct(Some(a.id), a.expires));
        }
        for &group in self.groups_of.get(&set).map(Vec::as_slice).unwrap_or(&[]) {
            let list = self.by_group.get(&group).map(Vec::as_slice).unwrap_or(&[]);
            let Some(first) = list.first() else {
                continue;
            };
            let source = GrantSource {
                entitlement_id: Self::member(group, first.id)?,
                kind: SourceKind::PermissionSetGroup,
            };
            let p = match assigned {
                Some(p) => p,
                None => {
                    let p = resource_id(
                        "PermissionSetGroupComponent",
                        set,
                        "PermissionSetId",
                        ResourceTypeId::Permission,
                        set,
                    )?;
                    *assigned.insert(entitlement(p, "assigned"))
                }
            };
            for a in list {
                add(p, self.who(a), Path::through(source, a.expires));
            }
        }
        Ok(())
    }
}

/// Who holds each permission set (directly or through a PSG) and when the hold ends: set id
/// -> (holder, end). For connected-app access only.
type Holders = FxHashMap<SfId, Vec<(ResourceId, Option<DateTime<Utc>>)>>;

fn set_holders(assignments: &Assignments, people: &People<'_>) -> Result<Holders, SyncError> {
    let mut holders: Holders = FxHashMap::default();
    let mut sets: Vec<SfId> = assignments.sets().collect();
    sets.sort_unstable();
    sets.dedup();
    for set in sets {
        let mut grants = GrantSet::default();
        assignments.set_grants(set, &mut |e, who, path| {
            let user = match who {
                Assignee::Rank(rank) => people.by_rank[rank],
                Assignee::Unknown(user) => user,
            };
            grants.add(e, user, path)
        })?;
        holders.insert(
            set,
            grants
                .grants
                .into_values()
                .map(|g| (g.principal_id, g.expires_at))
                .collect(),
        );
    }
    Ok(holders)
}

/// `connected_application:A:access`: to the profile or permission set a SetupEntityAccess
/// row names (direct, with the row), and through it to the users of the profile and the
/// holders of the set (including through a PSG), ending when their hold on the set ends.
fn access_grants(
    s: &Snapshot,
    people: &People<'_>,
    holders: &Holders,
    grants: &mut GrantSet,
) -> Result<(), SyncError> {
    let object = "SetupEntityAccess";
    let sets: FxHashMap<SfId, &PermissionSetRow> =
        s.permission_sets.iter().map(|p| (p.id, p)).collect();
    for row in &s.setup_entity_access {
        let app = resource_id(
            object,
            row.id,
            "SetupEntityId",
            ResourceTypeId::ConnectedApplication,
            row.setup_entity_id,
        )?;
        let access = entitlement(app, "access");
        match sets.get(&row.parent_id).map(|p| p.owner()) {
            Some(SetOwner::Profile(profile)) => {
                let p = resource_id(
                    object,
                    row.id,
                    "ParentId.ProfileId",
                    ResourceTypeId::Profile,
                    profile,
                )?;
                grants.add(access, p, Path::direct(Some(row.id), None));
                let source = GrantSource {
                    entitlement_id: entitlement(p, "assigned"),
                    kind: SourceKind::Profile,
                };
                for &u in people
                    .by_profile
                    .get(&profile)
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    let user = people.users[u].id;
                    grants.add(
                        access,
                        user_id("User", user, "Id", user)?,
                        Path::through(source, None),
                    );
                }
            }
            Some(SetOwner::Itself) => {
                let p = resource_id(
                    object,
                    row.id,
                    "ParentId",
                    ResourceTypeId::Permission,
                    row.parent_id,
                )?;
                grants.add(access, p, Path::direct(Some(row.id), None));
                let source = GrantSource {
                    entitlement_id: entitlement(p, "assigned"),
                    kind: SourceKind::PermissionSet,
                };
                for &(user, expires) in holders
                    .get(&row.parent_id)
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    grants.add(access, user, Path::through(source, expires));
                }
            }
            // A PSG's aggregate set mirrors its components, whose own rows say the same; a
            // set that was not read grants nothing we can name.
            Some(SetOwner::Group(_)) | Some(SetOwner::UnknownProfile) | None => {}
        }
    }
    Ok(())
}

/// `connected_application:A:authorized` from OAuth tokens: one grant per user and app, last
/// used and use count summed over the user's tokens for the app. The app is found through
/// the token's menu item, else by a unique app name; tokens of no known app are left out.
fn authorized_grants(s: &Snapshot, grants: &mut GrantSet) -> Result<(), SyncError> {
    let object = "OauthToken";
    let item_app: FxHashMap<SfId, SfId> = s
        .app_menu_items
        .iter()
        .filter_map(|i| i.application_id.map(|a| (i.id, a)))
        .collect();
    let mut by_name: FxHashMap<&str, Option<SfId>> = FxHashMap::default();
    for app in &s.connected_apps {
        by_name
            .entry(app.name.as_str())
            .and_modify(|slot| *slot = None)
            .or_insert(Some(app.id));
    }
    struct Tokens {
        count: u64,
        first: SfId,
        last_used: Option<DateTime<Utc>>,
        uses: u64,
    }
    let mut per_grant: BTreeMap<(SfId, SfId), Tokens> = BTreeMap::new();
    let mut unmatched = 0;
    for t in &s.oauth_tokens {
        let app = t
            .app_menu_item_id
            .and_then(|i| item_app.get(&i).copied())
            .or_else(|| {
                t.app_name
                    .as_deref()
                    .and_then(|n| by_name.get(n).copied().flatten())
            });
        let Some(app) = app else {
            unmatched += 1;
            continue;
        };
        let uses = t.use_count.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        per_grant
            .entry((app, t.user_id))
            .and_modify(|acc| {
                acc.count += 1;
                acc.first = acc.first.min(t.id);
                acc.last_used = acc.last_used.max(t.last_used_date);
                acc.uses += uses;
            })
            .or_insert(Tokens {
                count: 1,
                first: t.id,
                last_used: t.last_used_date,
                uses,
            });
    }
    for ((app, user), tokens) in per_grant {
        let a = resource_id(
            object,
            tokens.first,
            "AppMenuItemId.ApplicationId",
            ResourceTypeId::ConnectedApplication,
            app,
        )?;
        let u = user_id(object, tokens.first, "UserId", user)?;
        let mut grant = Grant::direct(entitlement(a, "authorized"), u);
        // With several tokens no single record revokes the grant; provisioning lists them.
        grant.details.record_id = (tokens.count == 1).then_some(tokens.first);
        grant.details.last_used = tokens.last_used;
        grant.details.use_count = Some(tokens.uses);
        grants.grants.insert(grant.id, grant);
    }
    if unmatched > 0 {
        tracing::warn!(
            sobject = object,
            records = unmatched,
            "OAuth tokens whose connected app was not found are left out."
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &str, n: u64) -> SfId {
        SfId::from_counter(prefix, "5g", n)
    }

    fn user(n: u64, role: Option<u64>, user_type: &str) -> UserRow {
        UserRow {
            id: id("005", n),
            username: format!("u{n}@acme.example"),
            email: None,
            first_name: None,
            last_name: Some(format!("U{n}")),
            name: None,
            is_active: true,
            user_type: Some(user_type.into()),
            profile_id: Some(id("00e", 1)),
            user_role_id: role.map(|r| id("00E", r)),
            manager_id: None,
            federation_identifier: None,
            last_login_date: None,
            created_date: None,
        }
    }

    fn group(n: u64, group_type: &str, related_role: Option<u64>) -> GroupRow {
        GroupRow {
            id: id("00G", n),
            name: Some(format!("G{n}")),
            developer_name: None,
            group_type: group_type.into(),
            related_id: related_role.map(|r| id("00E", r)),
        }
    }

    fn member(n: u64, group: u64, member: SfId) -> GroupMemberRow {
        GroupMemberRow {
            id: id("011", n),
            group_id: id("00G", group),
            user_or_group_id: member,
        }
    }

    fn role(n: u64, parent: Option<u64>) -> UserRoleRow {
        UserRoleRow {
            id: id("00E", n),
            name: format!("R{n}"),
            developer_name: None,
            parent_role_id: parent.map(|p| id("00E", p)),
            portal_type: Some("None".into()),
        }
    }

    fn set(n: u64, owner: Option<SetOwner>) -> PermissionSetRow {
        PermissionSetRow {
            id: id("0PS", n),
            name: format!("S{n}"),
            label: None,
            description: None,
            set_type: Some("Regular".into()),
            license_id: None,
            namespace_prefix: None,
            is_owned_by_profile: matches!(owner, Some(SetOwner::Profile(_))),
            profile_id: match owner {
                Some(SetOwner::Profile(p)) => Some(p),
                _ => None,
            },
            permission_set_group_id: match owner {
                Some(SetOwner::Group(g)) => Some(g),
                _ => None,
            },
        }
    }

    /// Every resource of the snapshot, as `run` would have written them.
    fn known(s: &Snapshot) -> HashSet<ResourceId> {
        let mut known = HashSet::new();
        for r in &s.roles {
            known.insert(map_role(r).unwrap().id);
        }
        for g in &s.groups {
            known.extend(map_group(g).unwrap().map(|r| r.id));
        }
        for p in &s.permission_sets {
            known.extend(map_permission_set(p).unwrap().map(|r| r.id));
        }
        for p in &s.profiles {
            known.insert(map_profile(p).unwrap().id);
        }
        for a in &s.connected_apps {
            known.insert(map_connected_app(a).unwrap().id);
        }
        known
    }

    fn grant<'a>(e: &'a Collected, id: &str) -> &'a Grant {
        e.grants
            .iter()
            .find(|g| g.id.to_string() == id)
            .unwrap_or_else(|| panic!("no grant {id}"))
    }

    fn has(e: &Collected, id: &str) -> bool {
        e.grants.iter().any(|g| g.id.to_string() == id)
    }

    /// What `expand` produced, with the emitted grants collected and sorted.
    struct Collected {
        users: Vec<Resource>,
        grants: Vec<Grant>,
        dropped: u64,
    }

    fn collect(s: &Snapshot, known: &HashSet<ResourceId>, options: &SyncOptions) -> Collected {
        let mut grants: Vec<Grant> = Vec::new();
        let mut principals: Option<Vec<ResourceId>> = None;
        let mut users = Vec::new();
        let e = expand(
            s,
            known.clone(),
            options,
            &mut |batch| {
                users.extend(batch);
                Ok(())
            },
            &mut |batch| {
                match &batch {
                    GrantBatch::Principals(table) => {
                        assert!(principals.is_none(), "the table is sent once");
                        assert!(grants.is_empty(), "the table comes before the grants");
                        assert!(table.windows(2).all(|w| w[0] < w[1]), "in id order");
                        principals = Some(table.clone());
                    }
                    GrantBatch::Grants(g) => assert!(!g.is_empty()),
                    GrantBatch::Rows(r) => assert!(!r.is_empty()),
                }
                let table = principals.as_deref().unwrap_or(&[]);
                grants.extend(batch.to_grants(table));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(e.users, users.len() as u64);
        assert_eq!(e.grants, grants.len() as u64);
        assert!(
            grants.windows(2).all(|w| w[0].id < w[1].id),
            "grants are emitted in id order, each once"
        );
        Collected {
            users,
            grants,
            dropped: e.dropped,
        }
    }

    #[test]
    fn tarjan_finds_cycles_and_orders_components_after_their_successors() {
        // 0 -> 1 -> 2 -> 1, 2 -> 3; 4 alone.
        let succ = vec![vec![1], vec![2], vec![1, 3], vec![], vec![]];
        let (component, components) = tarjan(&succ);
        assert_eq!(component[1], component[2]);
        assert_ne!(component[0], component[1]);
        assert_eq!(components.len(), 4);
        for (v, next) in succ.iter().enumerate() {
            for &w in next {
                assert!(component[w] <= component[v], "{w} completes before {v}");
            }
        }
    }

    #[test]
    fn user_sets_iterate_in_order() {
        let mut a = UserSet::new(130);
        for i in [0, 63, 64, 129] {
            a.insert(i);
        }
        let mut b = UserSet::new(130);
        b.insert(5);
        a.union(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), [0, 5, 63, 64, 129]);
    }

    fn member_grant(group: u64, user: u64) -> String {
        format!("group:{}:member:user:{}", id("00G", group), id("005", user))
    }

    fn base() -> Snapshot {
        Snapshot {
            profiles: vec![ProfileRow {
                id: id("00e", 1),
                name: "Standard User".into(),
                description: None,
                user_license_id: None,
            }],
            roles: vec![
                role(1, None),
                role(2, Some(1)),
                role(3, Some(2)),
                role(4, Some(3)),
            ],
            users: vec![
                user(1, Some(1), "Standard"),
                user(2, Some(2), "Standard"),
                user(3, Some(4), "Standard"),
                user(4, None, "PowerPartner"),
                user(5, None, "Standard"),
            ],
            ..Snapshot::default()
        }
    }

    #[test]
    fn cyclic_nesting_terminates_and_names_the_nested_group() {
        let mut s = base();
        s.groups = vec![group(1, "Regular", None), group(2, "Regular", None)];
        s.group_members = vec![
            member(1, 1, id("00G", 2)),
            member(2, 2, id("00G", 1)),
            member(3, 1, id("005", 1)),
            member(4, 2, id("005", 2)),
        ];
        let e = collect(&s, &known(&s), &SyncOptions::default());
        let direct = grant(&e, &member_grant(1, 1));
        assert!(direct.direct);
        assert_eq!(direct.details.record_id, Some(id("011", 3)));
        // User 1 is also in G1 through G2, which contains G1: the cycle is a path too.
        assert_eq!(direct.sources.len(), 1);
        let via = grant(&e, &member_grant(1, 2));
        assert!(!via.direct);
        assert_eq!(
            via.sources[0].entitlement_id.to_string(),
            format!("group:{}:member", id("00G", 2))
        );
        assert_eq!(via.sources[0].kind, SourceKind::Group);
        assert!(has(&e, &member_grant(2, 1)));
    }

    #[test]
    fn role_groups_expand_to_role_holders_and_subordinates() {
        let mut s = base();
        s.groups = vec![
            group(1, "Regular", None),
            group(2, "Role", Some(2)),
            group(3, "RoleAndSubordinates", Some(2)),
            group(4, "Regular", None),
            group(5, "Organization", None),
        ];
        s.group_members = vec![
            member(1, 1, id("00G", 2)),
            member(2, 4, id("00G", 3)),
            member(3, 4, id("00G", 5)),
        ];
        let e = collect(&s, &known(&s), &SyncOptions::default());
        // Role group of R2: only user 2.
        let g = grant(&e, &member_grant(1, 2));
        assert_eq!(g.sources[0].kind, SourceKind::Role);
        assert_eq!(
            g.sources[0].entitlement_id.to_string(),
            format!("role:{}:assigned", id("00E", 2))
        );
        assert!(!has(&e, &member_grant(1, 3)));
        assert!(!has(&e, &member_grant(1, 1)));
        // R2 and subordinates: users 2 and 3 (R4 is two levels below R2); not user 1 (R1 above).
        let g = grant(&e, &member_grant(4, 3));
        let kinds: Vec<SourceKind> = g.sources.iter().map(|s| s.kind).collect();
        assert!(
            kinds.contains(&SourceKind::RoleAndSubordinates),
            "{kinds:?}"
        );
        assert!(kinds.contains(&SourceKind::Organization), "{kinds:?}");
        // All internal users: not the partner user.
        assert!(has(&e, &member_grant(4, 5)));
        assert!(!has(&e, &member_grant(4, 4)));
        assert_eq!(grant(&e, &member_grant(4, 1)).sources.len(), 1);
    }

    #[test]
    fn deep_nesting_attributes_the_group_nested_directly() {
        let mut s = base();
        s.groups = vec![
            group(1, "Regular", None),
            group(2, "Regular", None),
            group(3, "Queue", None),
        ];
        s.group_members = vec![
            member(1, 1, id("00G", 2)),
            member(2, 2, id("00G", 3)),
            member(3, 3, id("005", 5)),
        ];
        let e = collect(&s, &known(&s), &SyncOptions::default());
        let top = grant(&e, &member_grant(1, 5));
        assert_eq!(
            top.sources[0].entitlement_id.to_string(),
            format!("group:{}:member", id("00G", 2))
        );
        let middle = grant(&e, &member_grant(2, 5));
        assert_eq!(
            middle.sources[0].entitlement_id.to_string(),
            format!("group:{}:member", id("00G", 3))
        );
        assert!(grant(&e, &member_grant(3, 5)).direct);
    }

    #[test]
    fn psg_members_get_the_component_sets_through_the_group() {
        let mut s = base();
        let psg = id("0PG", 1);
        s.permission_sets = vec![
            set(1, None),
            set(2, None),
            set(3, Some(SetOwner::Group(psg))),
            set(4, Some(SetOwner::Profile(id("00e", 1)))),
        ];
        s.components = vec![
            PermissionSetGroupComponentRow {
                id: id("0PR", 1),
                permission_set_group_id: psg,
                permission_set_id: id("0PS", 1),
            },
            PermissionSetGroupComponentRow {
                id: id("0PR", 2),
                permission_set_group_id: psg,
                permission_set_id: id("0QM", 1),
            },
        ];
        let expired: DateTime<Utc> = "2025-07-01T00:00:00Z".parse().unwrap();
        s.assignments = vec![
            // A group assignment carrying the aggregate set, as Salesforce returns it.
            PermissionSetAssignmentRow {
                id: id("0Pa", 1),
                assignee_id: id("005", 1),
                permission_set_id: Some(id("0PS", 3)),
                permission_set_group_id: Some(psg),
                expiration_date: None,
            },
            // The same set directly too, expired.
            PermissionSetAssignmentRow {
                id: id("0Pa", 2),
                assignee_id: id("005", 1),
                permission_set_id: Some(id("0PS", 1)),
                permission_set_group_id: None,
                expiration_date: Some(expired),
            },
            // A group assignment that names only the aggregate set.
            PermissionSetAssignmentRow {
                id: id("0Pa", 3),
                assignee_id: id("005", 2),
                permission_set_id: Some(id("0PS", 3)),
                permission_set_group_id: None,
                expiration_date: Some(expired),
            },
            // A user that is not synced.
            PermissionSetAssignmentRow {
                id: id("0Pa", 4),
                assignee_id: id("005", 99),
                permission_set_id: Some(id("0PS", 2)),
                permission_set_group_id: None,
                expiration_date: None,
            },
        ];
        let mut known = known(&s);
        let bundle = PermissionSetGroupRow {
            id: psg,
            developer_name: "Bundle".into(),
            master_label: None,
            description: None,
            status: Some("Outdated".into()),
        };
        known.insert(map_permission_set_group(&bundle).unwrap().id);
        let e = collect(&s, &known, &SyncOptions::default());
        let psg_member = format!("permission_set_group:{psg}:member");
        assert!(grant(&e, &format!("{psg_member}:user:{}", id("005", 1))).direct);
        let both = grant(
            &e,
            &format!("permission:{}:assigned:user:{}", id("0PS", 1), id("005", 1)),
        );
        assert!(both.direct);
        assert_eq!(both.details.record_id, Some(id("0Pa", 2)));
        assert_eq!(both.sources[0].entitlement_id.to_string(), psg_member);
        assert_eq!(both.expires_at, None, "the PSG path does not end");
        let via = grant(
            &e,
            &format!("permission:{}:assigned:user:{}", id("0PS", 1), id("005", 2)),
        );
        assert!(!via.direct);
        assert_eq!(via.expires_at, Some(expired));
        assert!(
            e.grants
                .iter()
                .all(|g| !g.entitlement_id.to_string().contains(id("0PS", 3).as_str())),
            "aggregate sets are never granted"
        );
        assert_eq!(e.dropped, 1, "the unsynced user's grant");
    }

    #[test]
    fn connected_app_access_reaches_profile_users_and_set_holders() {
        let mut s = base();
        let app = id("0H4", 1);
        s.connected_apps = vec![ConnectedApplicationRow {
            id: app,
            name: "Workbench".into(),
            options_allow_admin_approved_users_only: Some(true),
            created_date: None,
        }];
        s.permission_sets = vec![set(1, None), set(2, Some(SetOwner::Profile(id("00e", 1))))];
        s.assignments = vec![PermissionSetAssignmentRow {
            id: id("0Pa", 1),
            assignee_id: id("005", 4),
            permission_set_id: Some(id("0PS", 1)),
            permission_set_group_id: None,
            expiration_date: None,
        }];
        s.users[3].profile_id = Some(id("00e", 2));
        s.setup_entity_access = vec![
            SetupEntityAccessRow {
                id: id("0J0", 1),
                parent_id: id("0PS", 2),
                setup_entity_id: app,
            },
            SetupEntityAccessRow {
                id: id("0J0", 2),
                parent_id: id("0PS", 1),
                setup_entity_id: app,
            },
        ];
        s.app_menu_items = vec![AppMenuItemRow {
            id: id("0DS", 1),
            application_id: Some(app),
        }];
        s.oauth_tokens = [
            (1, 3, "2025-01-01T00:00:00Z"),
            (2, 5, "2025-03-01T00:00:00Z"),
        ]
        .into_iter()
        .map(|(n, uses, used)| OauthTokenRow {
            id: id("0CQ", n),
            user_id: id("005", 1),
            app_menu_item_id: Some(id("0DS", 1)),
            app_name: None,
            last_used_date: Some(used.parse().unwrap()),
            use_count: Some(uses),
        })
        .collect();
        let without = collect(&s, &known(&s), &SyncOptions::default());
        assert!(
            without
                .grants
                .iter()
                .all(|g| g.entitlement_id.resource_id().type_id()
                    != ResourceTypeId::ConnectedApplication)
        );
        let options = SyncOptions {
            sync_connected_apps: true,
            ..SyncOptions::default()
        };
        let e = collect(&s, &known(&s), &options);
        let access = format!("connected_application:{app}:access");
        let to_profile = grant(&e, &format!("{access}:profile:{}", id("00e", 1)));
        assert_eq!(to_profile.details.record_id, Some(id("0J0", 1)));
        let profile_user = grant(&e, &format!("{access}:user:{}", id("005", 1)));
        assert_eq!(profile_user.sources[0].kind, SourceKind::Profile);
        let holder = grant(&e, &format!("{access}:user:{}", id("005", 4)));
        assert_eq!(holder.sources[0].kind, SourceKind::PermissionSet);
        assert!(has(&e, &format!("{access}:permission:{}", id("0PS", 1))));
        let authorized = grant(
            &e,
            &format!(
                "connected_application:{app}:authorized:user:{}",
                id("005", 1)
            ),
        );
        assert_eq!(authorized.details.use_count, Some(8));
        assert_eq!(
            authorized
                .details
                .last_used
                .map(|t| t.to_rfc3339())
                .as_deref(),
            Some("2025-03-01T00:00:00+00:00")
        );
        assert_eq!(authorized.details.record_id, None, "two tokens");
    }

    /// `UserGrants` keeps each fact of a grant in its own array; whatever ways users come to
    /// hold an entitlement, it must emit what `GrantSet` builds from the same ways, batch
    /// boundaries within an entitlement included.
    #[test]
    fn user_grants_merge_every_way_as_the_grant_set_does() {
        let rows: Vec<UserRow> = (0..3_000).map(|n| user(n, None, "Standard")).collect();
        let people = People::new(&rows).unwrap();
        let group = |n: u64| ResourceId::new(ResourceTypeId::Group, id("00G", n)).unwrap();
        let sources: Vec<GrantSource> = (0..5)
            .map(|n| GrantSource {
                entitlement_id: entitlement(group(100 + n), "member"),
                kind: SourceKind::Group,
            })
            .collect();
        let day = |d: i64| DateTime::from_timestamp(1_800_000_000 + d * 86_400, 0);
        let ends = [None, day(1), day(2)];
        let records = [None, Some(id("0Pa", 1)), Some(id("0Pa", 2))];
        let mut rng = fastrand::Rng::with_seed(5);
        let mut users = UserGrants::new(&people);
        for round in 0..40u64 {
            let e = entitlement(group(round), "member");
            let mut expected = GrantSet::default();
            // Few users holding it many ways, or more users than a batch.
            let (span, ways) = match round % 3 {
                0 => (40, 400),
                1 => (3_000, 6_000),
                _ => (300, 300),
            };
            for _ in 0..ways {
                let rank = rng.usize(..span);
                let source = rng.bool().then(|| sources[rng.usize(..sources.len())]);
                let (record_id, expires) = (records[rng.usize(..3)], ends[rng.usize(..3)]);
                let path = Path {
                    source,
                    record_id,
                    expires,
                };
                expected.add(e, people.by_rank[rank], path);
                let source = source.map(|s| users.source(s));
                users.add(rank, source, record_id, expires);
            }
            let known: FxHashSet<ResourceId> = [e.resource_id()].into_iter().collect();
            let mut got = Vec::new();
            let mut emit = |batch: GrantBatch| {
                got.extend(batch.to_grants(&people.by_rank));
                Ok(())
            };
            let mut out = Output {
                known: &known,
                emit: &mut emit,
                grants: Vec::new(),
                rows: GrantRows::default(),
                emitted: 0,
                dropped: 0,
            };
            users.emit(e, &mut out).unwrap();
            out.flush().unwrap();
            let expected: Vec<Grant> = expected.grants.into_values().collect();
            assert!(expected.iter().any(|g| g.sources.len() > 1));
            assert!(expected.iter().any(|g| g.direct && !g.sources.is_empty()));
            assert_eq!(got, expected, "round {round}");
        }
    }

    #[test]
    fn grants_are_sorted_and_valid() {
        let mut s = base();
        s.groups = vec![group(1, "Regular", None), group(2, "Organization", None)];
        s.group_members = vec![member(1, 1, id("00G", 2)), member(2, 1, id("005", 3))];
        let e = collect(&s, &known(&s), &SyncOptions::default());
        for g in &e.grants {
            g.validate().unwrap();
        }
        assert_eq!(e.users.len(), 5);
    }
}
