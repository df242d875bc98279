//! The SQLite schema of a v1 c1z: baton-sdk v0.25.0's seven `v1_*` tables and their indexes.
//!
//! The statements are the ones baton-sdk's SQLite engine runs, byte for byte (tabs included), so
//! that `sqlite_master` of a file we write reads the same as one baton-salesforce writes (the
//! tests compare them). `if not exists` lets the same text open an existing file for appending:
//! SQLite stores `CREATE TABLE name (...)` either way. The index names look swapped on
//! `v1_resources` (`..._external_sync_v1` is on the parent columns); that is what the SDK
//! creates, and readers look indexes up by name, so we copy the result, not the intent.

/// The DDL statements, in baton-sdk's order: resource types, resources, entitlements, sync
/// runs, grants, assets, connector sessions, then the indexes.
pub(crate) const STATEMENTS: [&str; 23] = [
    r#"create table if not exists v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)"#,
    r#"create table if not exists v1_resources (
    id integer primary key,
    resource_type_id text not null,
    external_id text not null,
	parent_resource_type_id text,
	parent_resource_id text,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)"#,
    r#"create table if not exists v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)"#,
    r#"create table if not exists v1_sync_runs (
    id integer primary key,
    sync_id text not null,
    started_at datetime not null,
    ended_at datetime,
    sync_token text not null,
    sync_type text not null default 'full',
    parent_sync_id text not null default '',
    linked_sync_id text not null default '',
    supports_diff integer not null default 0,
    grants_backfilled integer not null default 0,
		stats text,
    ingest_invariant_generation text not null default '',
    ingest_invariant_coverage text not null default '',
    ingest_invariant_mode text not null default ''
)"#,
    r#"create table if not exists v1_grants (
    id integer primary key,
	resource_type_id text not null,
    resource_id text not null,
    entitlement_id text not null,
    principal_resource_type_id text not null,
    principal_resource_id text not null,
    external_id text not null,
    expansion blob,                             -- Serialized GrantExpandable proto; NULL if grant is not expandable.
    needs_expansion integer not null default 0, -- 1 if grant should be processed during expansion.
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)"#,
    r#"create table if not exists v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
)"#,
    r#"create table if not exists v1_connector_sessions (
    id integer primary key,
	sync_id text NOT NULL,
	key TEXT NOT NULL,
	value BLOB NOT NULL
)"#,
    r#"create unique index if not exists idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id)"#,
    r#"create index if not exists idx_resources_resource_type_id_v1 on v1_resources (resource_type_id)"#,
    r#"create index if not exists idx_resources_external_sync_v1 on v1_resources (parent_resource_type_id, parent_resource_id)"#,
    r#"create unique index if not exists idx_resources_parent_resource_id_v1 on v1_resources (external_id, sync_id)"#,
    r#"create index if not exists idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id)"#,
    r#"create unique index if not exists idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id)"#,
    r#"create unique index if not exists idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id)"#,
    r#"create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id)"#,
    r#"create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id)"#,
    r#"create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id)"#,
    r#"create unique index if not exists idx_grants_external_sync_v1 on v1_grants (external_id, sync_id)"#,
    r#"create index if not exists idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id)"#,
    r#"create index if not exists idx_grants_sync_expansion_v1 on v1_grants (sync_id) where expansion is not null"#,
    r#"create index if not exists idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id) where needs_expansion = 1"#,
    r#"create unique index if not exists idx_assets_external_sync_v1 on v1_assets (external_id, sync_id)"#,
    r#"create unique index if not exists idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key)"#,
];

/// The tables' statements only (an old file may lack a column one of the indexes needs, so
/// appending creates tables, migrates columns, then creates indexes).
pub(crate) fn tables_ddl() -> String {
    STATEMENTS
        .iter()
        .filter(|s| s.starts_with("create table"))
        .map(|s| format!("{s};\n"))
        .collect()
}

/// The whole DDL as one batch.
pub(crate) fn ddl() -> String {
    STATEMENTS.iter().map(|s| format!("{s};\n")).collect()
}

/// The tables, in creation order.
pub(crate) const TABLES: [&str; 7] = [
    "v1_resource_types",
    "v1_resources",
    "v1_entitlements",
    "v1_sync_runs",
    "v1_grants",
    "v1_assets",
    "v1_connector_sessions",
];

/// The tables that hold rows of a sync (all but the sync runs), for deleting an old sync.
pub(crate) const SYNC_TABLES: [&str; 6] = [
    "v1_resource_types",
    "v1_resources",
    "v1_entitlements",
    "v1_grants",
    "v1_assets",
    "v1_connector_sessions",
];
