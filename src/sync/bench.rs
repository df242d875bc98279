//! Timing the expansion alone (`benches/expand.rs`): an emulator org's rows are read in
//! process, through the same SOQL and row types as a sync, into a `Snapshot`, and `expand`
//! runs on it with an `emit` that only counts (or digests) the grants. Not part of the API.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use super::SyncOptions;
use super::error::SyncError;
use super::expand::{GrantBatch, Snapshot, expand};
use super::objects::*;
use crate::emulator::caller::Caller;
use crate::emulator::org::Org;
use crate::emulator::query::{ExecOptions, execute};
use crate::model::{Resource, ResourceId};

/// A snapshot ready to expand, with the ids of the resources a sync writes before.
pub struct ExpandInput {
    snapshot: Snapshot,
    known: HashSet<ResourceId>,
    options: SyncOptions,
}

/// What one expansion gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandOutput {
    /// Users emitted.
    pub users: u64,
    /// Grants emitted.
    pub grants: u64,
    /// Grants dropped.
    pub dropped: u64,
    /// Batches emitted.
    pub batches: u64,
    /// With `digest`: SHA-256 of every batch's grants as JSON lines, batch by batch.
    pub digest: Option<String>,
}

fn rows<T: Row>(org: &Org, caller: &Caller, spec: &ObjectSpec, options: &SyncOptions) -> Vec<T> {
    let exec = ExecOptions {
        include_deleted: false,
        api_version: crate::emulator::DEFAULT_API_VERSION.to_owned(),
    };
    let mut out: Vec<T> = Vec::new();
    if !spec.is_read(options) {
        return out;
    }
    loop {
        let after = match spec.paging {
            Paging::IdChunks { .. } => out.last().map(Row::id),
            Paging::Cursor => None,
        };
        let soql = spec.soql(options, after).to_string();
        let result = execute(org, caller, &soql, &exec).expect("the sync's queries run");
        let page: Vec<T> = result
            .render(org, 0..result.len())
            .into_iter()
            .map(|json| serde_json::from_value(json).expect("rows decode"))
            .collect();
        let done = page.is_empty() || matches!(spec.paging, Paging::Cursor);
        out.extend(page);
        if done {
            return out;
        }
    }
}

impl ExpandInput {
    /// Reads every object the sync reads with `options` from `org`.
    pub fn read(org: &Org, options: SyncOptions) -> ExpandInput {
        let caller = Caller::of(org, org.integration.user_id);
        let o = &options;
        let mut known = HashSet::new();
        let mut add = |r: Result<Option<Resource>, SyncError>| {
            known.extend(r.expect("rows map").map(|r| r.id));
        };
        for r in rows::<UserLicenseRow>(org, &caller, &USER_LICENSE, o) {
            add(map_user_license(&r).map(Some));
        }
        for r in rows::<PermissionSetLicenseRow>(org, &caller, &PERMISSION_SET_LICENSE, o) {
            add(map_permission_set_license(&r).map(Some));
        }
        for r in rows::<PermissionSetGroupRow>(org, &caller, &PERMISSION_SET_GROUP, o) {
            add(map_permission_set_group(&r).map(Some));
        }
        let snapshot = Snapshot {
            profiles: rows(org, &caller, &PROFILE, o),
            roles: rows(org, &caller, &USER_ROLE, o),
            users: rows(org, &caller, &USER, o),
            user_logins: rows(org, &caller, &USER_LOGIN, o),
            groups: rows(org, &caller, &GROUP, o),
            group_members: rows(org, &caller, &GROUP_MEMBER, o),
            permission_sets: rows(org, &caller, &PERMISSION_SET, o),
            components: rows(org, &caller, &PERMISSION_SET_GROUP_COMPONENT, o),
            assignments: rows(org, &caller, &PERMISSION_SET_ASSIGNMENT, o),
            license_assignments: rows(org, &caller, &PERMISSION_SET_LICENSE_ASSIGN, o),
            connected_apps: rows(org, &caller, &CONNECTED_APPLICATION, o),
            app_menu_items: rows(org, &caller, &APP_MENU_ITEM, o),
            setup_entity_access: rows(org, &caller, &SETUP_ENTITY_ACCESS, o),
            oauth_tokens: rows(org, &caller, &OAUTH_TOKEN, o),
        };
        let s = &snapshot;
        s.profiles
            .iter()
            .for_each(|r| add(map_profile(r).map(Some)));
        s.roles.iter().for_each(|r| add(map_role(r).map(Some)));
        s.groups.iter().for_each(|r| add(map_group(r)));
        s.permission_sets
            .iter()
            .for_each(|r| add(map_permission_set(r)));
        s.connected_apps
            .iter()
            .for_each(|r| add(map_connected_app(r).map(Some)));
        ExpandInput {
            snapshot,
            known,
            options,
        }
    }

    /// Expands the snapshot; with `digest`, hashes every emitted grant (slow). With
    /// `drop_elsewhere`, batches are dropped by another thread, as the store's writer does in a
    /// sync (freeing a batch is then not the expansion's CPU time).
    pub fn expand(&self, digest: bool, drop_elsewhere: bool) -> ExpandOutput {
        let (to_dropper, dropped) = std::sync::mpsc::sync_channel::<GrantBatch>(4);
        let dropper = drop_elsewhere.then(|| std::thread::spawn(move || dropped.iter().count()));
        let mut users = 0;
        let mut batches = 0;
        let mut hasher = digest.then(Sha256::new);
        let mut principals = Vec::new();
        let mut line = Vec::new();
        let e = expand(
            &self.snapshot,
            self.known.clone(),
            &self.options,
            &mut |u| {
                users += u.len() as u64;
                Ok(())
            },
            &mut |batch| {
                batches += 1;
                if let GrantBatch::Principals(table) = &batch {
                    principals.clone_from(table);
                }
                if let Some(h) = hasher.as_mut() {
                    for g in batch.to_grants(&principals) {
                        line.clear();
                        serde_json::to_writer(&mut line, &g).expect("grants serialize");
                        line.push(b'\n');
                        h.update(&line);
                    }
                }
                if drop_elsewhere {
                    to_dropper.send(batch).expect("the dropper runs");
                }
                Ok(())
            },
        )
        .expect("expansion succeeds");
        drop(to_dropper);
        if let Some(dropper) = dropper {
            dropper.join().expect("the dropper does not panic");
        }
        assert_eq!(e.users, users);
        ExpandOutput {
            users,
            grants: e.grants,
            dropped: e.dropped,
            batches,
            digest: hasher.map(|h| {
                h.finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            }),
        }
    }

    /// Expands the snapshot into a new run of the store at `path`, as a sync does: the users
    /// and grants go to a writer on another thread through a channel of four batches, and the
    /// run is finished. Returns what was emitted.
    pub fn expand_into_store(&self, path: &std::path::Path) -> ExpandOutput {
        enum Batch {
            Users(Vec<Resource>),
            Grants(super::expand::GrantBatch),
        }
        let store = crate::store::Store::open(path).expect("the bench's store opens");
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(4);
        let writer = std::thread::spawn(move || {
            let mut run = store
                .begin_run(&serde_json::json!({}))
                .expect("a run begins");
            for batch in rx {
                match batch {
                    Batch::Users(users) => run.put_resources(&users),
                    Batch::Grants(b) => b.write_to(&mut run),
                }
                .expect("the store writes");
            }
            run.finish(crate::store::RunSummary::default())
                .expect("the run finishes");
        });
        let mut users = 0;
        let mut batches = 0;
        let users_tx = tx.clone();
        let e = expand(
            &self.snapshot,
            self.known.clone(),
            &self.options,
            &mut |u| {
                users += u.len() as u64;
                users_tx.send(Batch::Users(u)).expect("the writer runs");
                Ok(())
            },
            &mut |batch| {
                batches += 1;
                tx.send(Batch::Grants(batch)).expect("the writer runs");
                Ok(())
            },
        )
        .expect("expansion succeeds");
        drop(tx);
        drop(users_tx);
        writer.join().expect("the writer does not panic");
        ExpandOutput {
            users,
            grants: e.grants,
            dropped: e.dropped,
            batches,
            digest: None,
        }
    }
}
