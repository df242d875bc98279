//! The in-memory org: records of every emulated object, the org-level settings, and the
//! automatic behaviour Salesforce adds to writes (role groups for new roles, the profile-owned
//! permission set and its assignment, license seat counts, `SystemModstamp`).
//!
//! It stores and derives; it does not validate requests or check permissions. The sObject
//! endpoints validate before they call `insert`/`update`/`delete`; the generator builds orgs
//! with the same calls.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::schema::{self, FieldType, ObjectDef};
use crate::salesforce::SfId;

/// One field value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Text, email or picklist value.
    Text(Box<str>),
    /// A record ID (own or lookup).
    Id(SfId),
    /// A date-time, as milliseconds since the Unix epoch (UTC).
    DateTime(i64),
    /// A date.
    Date(NaiveDate),
}

impl Value {
    /// A text value.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into().into_boxed_str())
    }

    /// A date-time value.
    pub fn datetime(t: DateTime<Utc>) -> Value {
        Value::DateTime(t.timestamp_millis())
    }

    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The ID, if this is one.
    pub fn as_id(&self) -> Option<SfId> {
        match self {
            Value::Id(id) => Some(*id),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Salesforce's JSON rendering: date-times as `2020-08-11T15:55:08.000+0000`, dates as
    /// `2020-08-04`, IDs in 18-character form, explicit `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(n) => serde_json::Value::from(*n),
            Value::Text(s) => serde_json::Value::String(s.to_string()),
            Value::Id(id) => serde_json::Value::String(id.to_string()),
            Value::DateTime(ms) => serde_json::Value::String(format_datetime(*ms)),
            Value::Date(d) => serde_json::Value::String(d.format("%Y-%m-%d").to_string()),
        }
    }

    /// Parses a JSON value written by a client (or a dump) into a value of `ty`.
    /// Date-times accept ISO-8601 with `Z`, `+hh:mm` or `+hhmm`; text fields accept strings only.
    pub fn from_json(ty: FieldType, json: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        if json.is_null() {
            return Ok(Value::Null);
        }
        match (ty, json) {
            (FieldType::Boolean, J::Bool(b)) => Ok(Value::Bool(*b)),
            (FieldType::Int, J::Number(n)) => n
                .as_i64()
                .map(Value::Int)
                .ok_or_else(|| format!("{n} is not an integer")),
            (FieldType::String | FieldType::Email | FieldType::Picklist, J::String(s)) => {
                Ok(Value::text(s.as_str()))
            }
            (FieldType::Id | FieldType::Reference, J::String(s)) if s.is_empty() => Ok(Value::Null),
            (FieldType::Id | FieldType::Reference, J::String(s)) => SfId::parse(s)
                .map(Value::Id)
                .map_err(|e| format!("invalid ID value {s:?}: {e}")),
            (FieldType::DateTime, J::String(s)) => parse_datetime(s)
                .map(Value::DateTime)
                .ok_or_else(|| format!("{s:?} is not a valid date-time")),
            (FieldType::Date, J::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Value::Date)
                .map_err(|_| format!("{s:?} is not a valid date (YYYY-MM-DD)")),
            (ty, other) => Err(format!("{other} is not a valid {ty:?} value")),
        }
    }
}

/// Formats epoch milliseconds as Salesforce does: `2020-08-11T15:55:08.000+0000`.
pub fn format_datetime(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// Parses ISO-8601 date-times in the forms Salesforce accepts (`Z`, `+hh:mm`, `+hhmm`,
/// optional fraction) into epoch milliseconds.
pub fn parse_datetime(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.timestamp_millis());
        }
    }
    None
}

/// One record: values aligned with its object's `fields`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// One value per field of the object definition, `Id` first.
    pub values: Vec<Value>,
}

impl Record {
    /// The record's ID.
    pub fn id(&self) -> SfId {
        self.values[0]
            .as_id()
            .expect("the first value of a record is its Id")
    }
}

/// All records of one object, ordered by ID.
#[derive(Debug, Clone)]
pub struct Table {
    /// The object definition.
    pub def: &'static ObjectDef,
    /// Records by ID, in ID order (which is creation order for generated IDs).
    pub rows: BTreeMap<SfId, Record>,
    /// The counter for the next generated ID.
    pub next_counter: u64,
}

impl Table {
    /// The value of `field` (case-insensitive) in `record`; `None` if the field is unknown.
    pub fn value<'a>(&self, record: &'a Record, field: &str) -> Option<&'a Value> {
        self.def.field_index(field).map(|i| &record.values[i])
    }
}

/// Org-level behaviour switches. Each models a Salesforce setting or a point where the facts
/// sheet is UNCERTAIN; defaults are the strict, documented behaviour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OrgSettings {
    /// "Allow OAuth Username-Password Flows" (off by default in orgs created Summer '23+).
    pub password_flow_enabled: bool,
    /// Profile Login IP Ranges / "Lock sessions to the IP address from which they originated":
    /// when true the token endpoint refuses every login with `invalid_grant` / `ip restricted`.
    pub login_ip_restricted: bool,
    /// Access-token lifetime in seconds (the org's session timeout; default 2 hours).
    pub session_timeout_secs: u64,
    /// The daily API request allocation (`DailyApiRequests.Max`).
    pub daily_api_requests: u64,
    /// Bulk API 2.0 query jobs allowed (`DailyBulkV2QueryJobs.Max`, 10,000 per rolling 24 h,
    /// facts 3.10). The emulator counts jobs since it started, not in a rolling window.
    pub daily_bulk_v2_query_jobs: u64,
    /// `/limits` requires View Setup and Configuration (documented rule; baton claims any
    /// API user can call it).
    pub limits_require_view_setup: bool,
    /// A PSG assignment row also carries `PermissionSetId` = the group's aggregate permission
    /// set (UNCERTAIN in the facts sheet; default populated).
    pub psg_assignment_has_permission_set_id: bool,
    /// OauthToken's query quirk: at most this many rows per page...
    pub oauth_token_page_size: usize,
    /// ...and at most this many rows in total through queryMore (`None`: no cap).
    pub oauth_token_max_rows: Option<usize>,
    /// The refresh-token rotation setting of the connected app.
    pub refresh_token_rotation: bool,
    /// Professional Edition orgs have API access only with the paid add-on (facts 4).
    pub professional_api_add_on: bool,
    /// Users that org configuration references (default workflow user, queue or case
    /// assignment owner...): Salesforce refuses to deactivate them.
    pub users_referenced_by_configuration: Vec<SfId>,
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            password_flow_enabled: true,
            login_ip_restricted: false,
            session_timeout_secs: 7200,
            daily_api_requests: 100_000,
            daily_bulk_v2_query_jobs: 10_000,
            limits_require_view_setup: true,
            psg_assignment_has_permission_set_id: true,
            oauth_token_page_size: 500,
            oauth_token_max_rows: Some(2500),
            refresh_token_rotation: false,
            professional_api_add_on: false,
            users_referenced_by_configuration: Vec::new(),
        }
    }
}

/// The connected app and integration user the emulator issues tokens for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Integration {
    /// The integration user (token subject for every flow).
    pub user_id: SfId,
    /// Consumer key.
    pub client_id: String,
    /// Consumer secret.
    pub client_secret: String,
    /// The integration user's password (without security token).
    pub password: String,
    /// The integration user's security token.
    pub security_token: String,
    /// A refresh token issued earlier to the integration user.
    pub refresh_token: String,
    /// PEM public key of the certificate uploaded to the connected app (JWT bearer).
    pub jwt_public_key_pem: String,
    /// The connected app's record (`ConnectedApplication`).
    pub connected_app_id: Option<SfId>,
}

/// The whole org.
#[derive(Debug, Clone)]
pub struct Org {
    /// Behaviour switches.
    pub settings: OrgSettings,
    /// The credentials side of the org.
    pub integration: Integration,
    /// The pod part of generated IDs (2 characters).
    pub pod: String,
    tables: Vec<Table>,
    /// Bumped by every change to any record: caches of derived facts (the caller's effective
    /// permissions) are valid while it stays the same.
    generation: u64,
    /// While a transaction is open: the prior state of every record touched, oldest first.
    journal: Option<Vec<(SfId, Option<Record>)>>,
    /// The last `SystemModstamp` handed out, epoch ms; write stamps never go back.
    last_stamp: i64,
}

impl Org {
    /// An empty org (no records) with the given settings.
    pub fn empty(settings: OrgSettings, integration: Integration, pod: &str) -> Org {
        Org {
            settings,
            integration,
            pod: pod.to_string(),
            tables: schema::OBJECTS
                .iter()
                .map(|def| Table {
                    def,
                    rows: BTreeMap::new(),
                    next_counter: 1,
                })
                .collect(),
            generation: 0,
            journal: None,
            last_stamp: 0,
        }
    }

    /// Opens a transaction: every raw insert, update and delete from now on is journaled
    /// until `commit` or `rollback`. Used for `allOrNone` collections and for writes whose
    /// derived changes must not survive a later failure.
    pub fn begin(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Keeps every change since `begin`.
    pub fn commit(&mut self) {
        self.journal = None;
    }

    /// Undoes every change since `begin`, newest first, and closes the transaction.
    pub fn rollback(&mut self) {
        let Some(journal) = self.journal.take() else {
            return;
        };
        self.generation += 1;
        for (id, before) in journal.into_iter().rev() {
            let Some(table) = self
                .tables
                .iter_mut()
                .find(|t| t.def.key_prefix == id.key_prefix())
            else {
                continue;
            };
            match before {
                Some(record) => {
                    table.rows.insert(id, record);
                }
                None => {
                    table.rows.remove(&id);
                }
            }
        }
    }

    fn remember(&mut self, id: SfId) {
        self.generation += 1;
        if self.journal.is_none() {
            return;
        }
        let before = self.get(&id).map(|(_, r)| r.clone());
        if let Some(journal) = self.journal.as_mut() {
            journal.push((id, before));
        }
    }

    /// All tables, in `schema::OBJECTS` order.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The table of an object (case-insensitive name).
    pub fn table(&self, object: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.def.name.eq_ignore_ascii_case(object))
    }

    fn table_mut(&mut self, object: &str) -> &mut Table {
        self.tables
            .iter_mut()
            .find(|t| t.def.name.eq_ignore_ascii_case(object))
            .unwrap_or_else(|| panic!("unknown object {object}"))
    }

    /// The table holding records with this ID's key prefix.
    pub fn table_of(&self, id: &SfId) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.def.key_prefix == id.key_prefix())
    }

    /// A record by ID, with its table.
    pub fn get(&self, id: &SfId) -> Option<(&Table, &Record)> {
        let table = self.table_of(id)?;
        table.rows.get(id).map(|r| (table, r))
    }

    /// The value of `field` on the record `id`, if both exist.
    pub fn value(&self, id: &SfId, field: &str) -> Option<&Value> {
        let (table, record) = self.get(id)?;
        table.value(record, field)
    }

    /// The timestamp of a write (epoch ms), as Salesforce stamps them: whole seconds (its
    /// date-times always read `.000`, facts 3.1), never before an earlier stamp. Two writes in
    /// the same second get the same stamp, as they do in Salesforce, which is what a change
    /// probe on `MAX(SystemModstamp)` has to cope with.
    pub fn next_stamp(&mut self) -> i64 {
        let now = Utc::now().timestamp_millis();
        let second = now - now.rem_euclid(1000);
        self.last_stamp = second.max(self.last_stamp);
        self.last_stamp
    }

    /// Makes generated stamps continue after `ms` (used by the generator and loaders so that
    /// later writes always sort after existing data).
    pub fn observe_stamp(&mut self, ms: i64) {
        self.last_stamp = self.last_stamp.max(ms);
    }

    /// Allocates the next ID of an object.
    pub fn new_id(&mut self, object: &str) -> SfId {
        let pod = self.pod.clone();
        let table = self.table_mut(object);
        let id = SfId::from_counter(table.def.key_prefix, &pod, table.next_counter);
        table.next_counter += 1;
        id
    }

    /// Stores a record as given: no derived state, no validation. `fields` are
    /// (name, value) pairs; unnamed fields are `Null` (`false` for booleans). Returns its ID
    /// (allocated when `fields` has no `Id`).
    ///
    /// Panics on an unknown object or field name: callers are the generator, the loader and
    /// the validated write paths, never raw client input.
    pub fn insert_raw(&mut self, object: &str, fields: &[(&str, Value)]) -> SfId {
        let id = match fields.iter().find(|(f, _)| f.eq_ignore_ascii_case("Id")) {
            Some((_, Value::Id(id))) => *id,
            _ => self.new_id(object),
        };
        self.remember(id);
        let table = self.table_mut(object);
        let mut values: Vec<Value> = table
            .def
            .fields
            .iter()
            .map(|f| {
                if f.ty == FieldType::Boolean {
                    Value::Bool(false)
                } else {
                    Value::Null
                }
            })
            .collect();
        values[0] = Value::Id(id);
        for (name, value) in fields {
            let index = table
                .def
                .field_index(name)
                .unwrap_or_else(|| panic!("unknown field {object}.{name}"));
            if index != 0 {
                values[index] = value.clone();
            }
        }
        table.rows.insert(id, Record { values });
        // Keep counters ahead of explicitly given IDs (loaded dumps).
        let counter_hint = table.rows.len() as u64 + 1;
        if table.next_counter < counter_hint {
            table.next_counter = counter_hint;
        }
        id
    }

    /// Sets fields on an existing record as given (no derived state, no validation).
    /// Returns false when the record does not exist.
    pub fn update_raw(&mut self, id: &SfId, fields: &[(&str, Value)]) -> bool {
        self.remember(*id);
        let Some(table) = self
            .tables
            .iter_mut()
            .find(|t| t.def.key_prefix == id.key_prefix())
        else {
            return false;
        };
        let Some(record) = table.rows.get_mut(id) else {
            return false;
        };
        for (name, value) in fields {
            let index = table
                .def
                .field_index(name)
                .unwrap_or_else(|| panic!("unknown field {}.{name}", table.def.name));
            record.values[index] = value.clone();
        }
        true
    }

    /// Removes a record; returns it if it existed.
    pub fn delete_raw(&mut self, id: &SfId) -> Option<Record> {
        self.remember(*id);
        let table = self
            .tables
            .iter_mut()
            .find(|t| t.def.key_prefix == id.key_prefix())?;
        table.rows.remove(id)
    }

    /// A number that changes whenever any record changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Sets the next-ID counter of every table past its highest existing ID, so IDs allocated
    /// after loading a dump never collide.
    pub fn reset_counters(&mut self) {
        self.advance_counters_past_ids();
        for table in &mut self.tables {
            table.next_counter = table.next_counter.max(table.rows.len() as u64 + 1);
            while table.rows.contains_key(&SfId::from_counter(
                table.def.key_prefix,
                &self.pod,
                table.next_counter,
            )) {
                table.next_counter += 1;
            }
        }
    }

    /// The effective system permissions of a user: the union of its profile's permissions
    /// and those of every permission set assigned to it (directly or through a permission set
    /// group's aggregate set), skipping expired assignments.
    pub fn effective_permissions(&self, user: &SfId) -> std::collections::BTreeSet<&'static str> {
        let mut out = std::collections::BTreeSet::new();
        let now = Utc::now().timestamp_millis();
        let (Some(psa), Some(ps)) = (
            self.table("PermissionSetAssignment"),
            self.table("PermissionSet"),
        ) else {
            return out;
        };
        let mut sets = Vec::new();
        if let Some(profile) = self.value(user, "ProfileId").and_then(Value::as_id) {
            // The profile-owned permission set mirrors the profile's permissions.
            if let Some(table) = self.table("Profile")
                && let Some(record) = table.rows.get(&profile)
            {
                for permission in schema::PERMISSIONS {
                    if table.value(record, permission) == Some(&Value::Bool(true)) {
                        out.insert(*permission);
                    }
                }
            }
        }
        for record in psa.rows.values() {
            if psa.value(record, "AssigneeId").and_then(Value::as_id) != Some(*user) {
                continue;
            }
            if let Some(Value::DateTime(expires)) = psa.value(record, "ExpirationDate")
                && *expires <= now
            {
                continue;
            }
            if let Some(id) = psa.value(record, "PermissionSetId").and_then(Value::as_id) {
                sets.push(id);
            }
            if let Some(group) = psa
                .value(record, "PermissionSetGroupId")
                .and_then(Value::as_id)
            {
                // The group's aggregate set (Type = 'Group') carries the union.
                for (id, r) in &ps.rows {
                    if ps.value(r, "PermissionSetGroupId").and_then(Value::as_id) == Some(group) {
                        sets.push(*id);
                    }
                }
            }
        }
        for id in sets {
            if let Some(record) = ps.rows.get(&id) {
                for permission in schema::PERMISSIONS {
                    if ps.value(record, permission) == Some(&Value::Bool(true)) {
                        out.insert(*permission);
                    }
                }
            }
        }
        out
    }

    /// Recounts `UsedLicenses` of every user license (active users whose profile has it) and
    /// of every permission set license (its assignments).
    pub fn recount_licenses(&mut self) {
        let mut used: BTreeMap<SfId, i64> = BTreeMap::new();
        if let Some(users) = self.table("User") {
            for record in users.rows.values() {
                if users.value(record, "IsActive") != Some(&Value::Bool(true)) {
                    continue;
                }
                let license = users
                    .value(record, "ProfileId")
                    .and_then(Value::as_id)
                    .and_then(|p| self.value(&p, "UserLicenseId"))
                    .and_then(Value::as_id);
                if let Some(license) = license {
                    *used.entry(license).or_default() += 1;
                }
            }
        }
        if let Some(assigns) = self.table("PermissionSetLicenseAssign") {
            for record in assigns.rows.values() {
                if let Some(psl) = assigns
                    .value(record, "PermissionSetLicenseId")
                    .and_then(Value::as_id)
                {
                    *used.entry(psl).or_default() += 1;
                }
            }
        }
        for object in ["UserLicense", "PermissionSetLicense"] {
            let table = self.table_mut(object);
            let index = table
                .def
                .field_index("UsedLicenses")
                .expect("license objects have UsedLicenses");
            let changed: Vec<(SfId, i64)> = table
                .rows
                .iter()
                .filter_map(|(id, record)| {
                    let count = used.get(id).copied().unwrap_or(0);
                    (record.values[index] != Value::Int(count)).then_some((*id, count))
                })
                .collect();
            for (id, count) in changed {
                self.update_raw(&id, &[("UsedLicenses", Value::Int(count))]);
            }
        }
    }
}

/// Nested atomic writes inside an open transaction (added for the sObject write logic).
impl Org {
    /// True while a transaction opened by `begin` is open.
    pub fn in_transaction(&self) -> bool {
        self.journal.is_some()
    }

    /// A mark in the open transaction that `rollback_to` can return to, so that one failed
    /// write inside an `allOrNone` collection (or a composite request) undoes only its own
    /// changes. `None` when no transaction is open.
    pub fn savepoint(&self) -> Option<usize> {
        self.journal.as_ref().map(Vec::len)
    }

    /// Undoes every change made after `mark`, newest first; the transaction stays open.
    pub fn rollback_to(&mut self, mark: usize) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let undone = journal.split_off(mark.min(journal.len()));
        for (id, before) in undone.into_iter().rev() {
            let Some(table) = self
                .tables
                .iter_mut()
                .find(|t| t.def.key_prefix == id.key_prefix())
            else {
                continue;
            };
            match before {
                Some(record) => {
                    table.rows.insert(id, record);
                }
                None => {
                    table.rows.remove(&id);
                }
            }
        }
    }
}

/// Bulk construction helpers for the generator and the dump loader: they take value vectors
/// already aligned with the object's fields, so building a large org does no per-field name
/// lookups.
impl Org {
    /// The position of an object's table in `tables()` (its position in `schema::OBJECTS`),
    /// by case-insensitive name.
    pub fn object_index(name: &str) -> Option<usize> {
        schema::OBJECTS
            .iter()
            .position(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// A value vector for the object at `object_index` with every field at its default:
    /// `Null`, or `false` for booleans (which are never null).
    pub fn blank_values(object_index: usize) -> Vec<Value> {
        schema::OBJECTS[object_index]
            .fields
            .iter()
            .map(|f| {
                if f.ty == FieldType::Boolean {
                    Value::Bool(false)
                } else {
                    Value::Null
                }
            })
            .collect()
    }

    /// Stores a record given as one value per field of the object at `object_index`, `Id`
    /// first. A `Null` ID is allocated from the table's counter; an explicit ID is kept (call
    /// `advance_counters_past_ids` after inserting explicit IDs). No derived state, no
    /// validation, like `insert_raw`. Returns the record's ID.
    ///
    /// Panics when `values` does not have one entry per field: callers build the vector from
    /// `blank_values`, so a mismatch is a programming error.
    pub fn insert_values(&mut self, object_index: usize, mut values: Vec<Value>) -> SfId {
        let id = match values.first() {
            Some(Value::Id(id)) => *id,
            _ => {
                let table = &mut self.tables[object_index];
                let id = SfId::from_counter(table.def.key_prefix, &self.pod, table.next_counter);
                table.next_counter += 1;
                id
            }
        };
        self.generation += 1;
        let table = &mut self.tables[object_index];
        assert_eq!(
            values.len(),
            table.def.fields.len(),
            "insert_values: {} expects one value per field",
            table.def.name
        );
        values[0] = Value::Id(id);
        table.rows.insert(id, Record { values });
        id
    }

    /// Moves every table's ID counter past the highest generated-style ID it holds
    /// (`<prefix><pod>0<counter>`), so IDs allocated later never collide with loaded ones.
    ///
    /// `reset_counters` only skips a contiguous run from `rows.len() + 1`; after deletions a
    /// dump can hold counters beyond that run (rows 1, 2, 5: it picks 4, then 5 collides).
    pub fn advance_counters_past_ids(&mut self) {
        let pod = self.pod.clone();
        for table in &mut self.tables {
            let highest = table
                .rows
                .keys()
                .filter_map(|id| generated_counter(id, table.def.key_prefix, &pod))
                .max();
            if let Some(highest) = highest {
                table.next_counter = table.next_counter.max(highest + 1);
            }
        }
    }
}

/// The counter of an ID built by `SfId::from_counter(prefix, pod, counter)`, if it is one.
fn generated_counter(id: &SfId, prefix: &str, pod: &str) -> Option<u64> {
    let s = id.to_15();
    if &s[..3] != prefix || &s[3..5] != pod || &s[5..6] != "0" {
        return None;
    }
    s[6..].bytes().try_fold(0u64, |n, c| {
        // Base 62 in ASCII order, as `from_counter` writes it.
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 36,
            _ => return None,
        };
        n.checked_mul(62)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration() -> Integration {
        Integration {
            user_id: SfId::from_counter("005", "5g", 1),
            client_id: "client".into(),
            client_secret: "secret".into(),
            password: "password".into(),
            security_token: "token".into(),
            refresh_token: "refresh".into(),
            jwt_public_key_pem: String::new(),
            connected_app_id: None,
        }
    }

    #[test]
    fn rollback_restores_inserted_updated_and_deleted_records() {
        let mut org = Org::empty(OrgSettings::default(), integration(), "5g");
        let kept = org.insert_raw("Group", &[("Name", Value::text("Kept"))]);
        let doomed = org.insert_raw("Group", &[("Name", Value::text("Doomed"))]);
        org.begin();
        let added = org.insert_raw("Group", &[("Name", Value::text("Added"))]);
        org.update_raw(&kept, &[("Name", Value::text("Renamed"))]);
        org.delete_raw(&doomed);
        org.rollback();
        assert!(org.get(&added).is_none());
        assert_eq!(org.value(&kept, "Name"), Some(&Value::text("Kept")));
        assert_eq!(org.value(&doomed, "Name"), Some(&Value::text("Doomed")));
    }

    #[test]
    fn datetimes_render_and_parse_in_salesforce_format() {
        let ms = parse_datetime("2020-08-11T15:55:08Z").unwrap();
        assert_eq!(format_datetime(ms), "2020-08-11T15:55:08.000+0000");
        assert_eq!(parse_datetime("2020-08-11T17:55:08.000+0200"), Some(ms));
        assert_eq!(parse_datetime("2020-08-11T15:55:08.000+0000"), Some(ms));
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
