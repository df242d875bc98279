//! The mapping between the model and baton's `c1.connector.v2` messages, both ways.
//!
//! Writing: every resource carries its typed details as a `Struct` in `Resource.profile` (and in
//! its trait's `profile`, for the types that have a trait), so reading our own file gives back
//! the same records. Users also get baton-salesforce's profile keys (`id`, `full_name`,
//! `account_type`) and the `user_id`/`first_name`/`last_name` keys the `baton` CLI's CSV
//! export reads. Grant facts the baton model has no field for (expiry, the Salesforce record,
//! OAuth token use, the kind of each source) go into a `GrantMetadata` annotation.
//!
//! Reading: files written by baton-salesforce have no details of ours, so they are rebuilt from
//! baton's fields (trait login, emails and status, profile keys, display name), and whatever
//! cannot be mapped is returned as a [`Skip`] with the reason, for the read report. Salesforce
//! ids whose 18-character checksum does not match their first 15 characters (only made-up
//! data has them) are normalized from the 15-character form, which is the record's identity.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use super::proto::{self, Struct, Value, value::Kind};
use crate::model::types::definition;
use crate::model::{
    ConnectedAppDetails, Entitlement, EntitlementId, Grant, GrantDetails, GrantId, GrantSource,
    GroupDetails, GroupType, LicenseDetails, LicenseKind, PermissionSetDetails,
    PermissionSetGroupDetails, Purpose, Resource, ResourceDetails, ResourceId, ResourceType,
    ResourceTypeId, RoleDetails, SourceKind, Trait, UserDetails, UserStatus, UserStatusDetail,
};
use crate::salesforce::SfId;
use crate::salesforce::id::SfIdError;

// ---- JSON <-> google.protobuf.Struct ---------------------------------------------------------

/// A JSON object as a `Struct`.
pub(crate) fn to_struct(map: &Map<String, Json>) -> Struct {
    Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
    }
}

fn to_value(json: &Json) -> Value {
    let kind = match json {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(proto::ListValue {
            values: items.iter().map(to_value).collect(),
        }),
        Json::Object(map) => Kind::StructValue(to_struct(map)),
    };
    Value { kind: Some(kind) }
}

/// A `Struct` as a JSON object. Whole numbers become JSON integers, so that counts (seats, use
/// counts) deserialize into integer fields again; non-finite numbers become null.
pub(crate) fn from_struct(s: &Struct) -> Map<String, Json> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), from_value(v)))
        .collect()
}

fn from_value(v: &Value) -> Json {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::NumberValue(n)) => number(*n),
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(l)) => Json::Array(l.values.iter().map(from_value).collect()),
        Some(Kind::StructValue(s)) => Json::Object(from_struct(s)),
    }
}

fn number(n: f64) -> Json {
    // 2^53: beyond it a double no longer holds every integer exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.is_finite() && n.fract() == 0.0 && n.abs() <= EXACT {
        if n >= 0.0 {
            return Json::from(n as u64);
        }
        return Json::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
}

fn timestamp(t: DateTime<Utc>) -> proto::Timestamp {
    proto::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn from_timestamp(t: &proto::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(t.nanos).ok()?;
    DateTime::from_timestamp(t.seconds, nanos)
}

fn string_of(map: &Map<String, Json>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

// ---- writing ----------------------------------------------------------------------------------

fn proto_id(id: ResourceId) -> proto::ResourceId {
    proto::ResourceId {
        resource_type: id.type_id().as_str().to_owned(),
        resource: id.sf_id().as_str().to_owned(),
        baton_resource: false,
    }
}

fn trait_value(t: Trait) -> i32 {
    match t {
        Trait::User => proto::trait_value::USER,
        Trait::Group => proto::trait_value::GROUP,
        Trait::Role => proto::trait_value::ROLE,
        Trait::App => proto::trait_value::APP,
    }
}

/// A resource type as baton writes it; a type without entitlements (`user`) carries
/// `SkipEntitlementsAndGrants`, as in baton-salesforce.
pub(crate) fn resource_type_to_proto(t: &ResourceType) -> proto::ResourceType {
    let mut annotations = Vec::new();
    if definition(t.id).slugs.is_empty() {
        annotations.push(proto::pack(&proto::SkipEntitlementsAndGrants {}));
    }
    proto::ResourceType {
        id: t.id.as_str().to_owned(),
        display_name: t.display_name.clone(),
        traits: t.traits.iter().copied().map(trait_value).collect(),
        annotations,
        description: t.description.clone(),
        sourced_externally: false,
    }
}

/// The details block of a resource as a JSON object (the `"user": {...}` member of its JSON).
fn details_json(details: &ResourceDetails) -> Map<String, Json> {
    match serde_json::to_value(details) {
        Ok(Json::Object(outer)) => match outer.into_iter().next() {
            Some((_, Json::Object(inner))) => inner,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

fn status_of(status: UserStatus) -> i32 {
    match status {
        UserStatus::Enabled => proto::status_value::ENABLED,
        UserStatus::Disabled => proto::status_value::DISABLED,
    }
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A resource with its trait and details.
pub(crate) fn resource_to_proto(r: &Resource) -> proto::Resource {
    let sf_id = r.id.sf_id().as_str().to_owned();
    let mut profile = details_json(&r.details);
    let mut annotations = Vec::new();
    let mut status = None;
    let mut created_at = None;
    match &r.details {
        ResourceDetails::User(u) => {
            // baton-salesforce's keys, and the ones `baton export csv` reads.
            for (key, value) in [
                ("user_id", sf_id.clone()),
                ("id", sf_id.clone()),
                ("full_name", r.display_name.clone()),
                ("account_type", u.user_type.clone()),
            ] {
                profile.entry(key).or_insert(Json::String(value));
            }
            let detail = enum_text(&u.status_detail);
            status = Some(proto::Status {
                status: status_of(u.status),
                details: detail.clone(),
            });
            created_at = u.created.map(timestamp);
            let user_trait = proto::UserTrait {
                emails: u
                    .email
                    .iter()
                    .map(|address| proto::Email {
                        address: address.clone(),
                        is_primary: true,
                    })
                    .collect(),
                status: Some(proto::UserStatus {
                    status: status_of(u.status),
                    details: detail,
                }),
                profile: Some(to_struct(&profile)),
                account_type: proto::account_type_value::HUMAN,
                login: u.username.clone(),
                created_at,
                last_login: u.last_login.map(timestamp),
                structured_name: (u.first_name.is_some() || u.last_name.is_some()).then(|| {
                    proto::StructuredName {
                        given_name: u.first_name.clone().unwrap_or_default(),
                        family_name: u.last_name.clone().unwrap_or_default(),
                        ..proto::StructuredName::default()
                    }
                }),
                ..proto::UserTrait::default()
            };
            annotations.push(proto::pack(&user_trait));
        }
        ResourceDetails::Group(_) => annotations.push(proto::pack(&proto::GroupTrait {
            profile: Some(to_struct(&profile)),
            ..proto::GroupTrait::default()
        })),
        ResourceDetails::Role(_) => {
            annotations.push(proto::pack(&proto::RoleTrait {
                profile: Some(to_struct(&profile)),
                role_scope_conditions: None,
            }));
            // Roles form a hierarchy: their children are roles.
            annotations.push(proto::pack(&proto::ChildResourceType {
                resource_type_id: ResourceTypeId::Role.as_str().to_owned(),
            }));
        }
        ResourceDetails::ConnectedApplication(a) => {
            created_at = a.created.map(timestamp);
            annotations.push(proto::pack(&proto::AppTrait {
                profile: Some(to_struct(&profile)),
                ..proto::AppTrait::default()
            }));
        }
        ResourceDetails::Profile(_)
        | ResourceDetails::Permission(_)
        | ResourceDetails::PermissionSetGroup(_)
        | ResourceDetails::License(_) => {}
    }
    proto::Resource {
        id: Some(proto_id(r.id)),
        parent_resource_id: r.parent_id.map(proto_id),
        display_name: r.display_name.clone(),
        annotations,
        description: r.description.clone().unwrap_or_default(),
        baton_resource: false,
        external_id: Some(proto::ExternalId {
            id: sf_id,
            link: String::new(),
            description: String::new(),
        }),
        creation_source: 0,
        profile: Some(to_struct(&profile)),
        icon: None,
        status,
        created_at,
    }
}

/// An entitlement, embedding its resource as written (`owner`) or, when the writer has not seen
/// it, a resource with only the id.
pub(crate) fn entitlement_to_proto(
    e: &Entitlement,
    owner: Option<proto::Resource>,
) -> proto::Entitlement {
    proto::Entitlement {
        resource: Some(owner.unwrap_or_else(|| proto::Resource {
            id: Some(proto_id(e.resource_id)),
            ..proto::Resource::default()
        })),
        id: e.id.to_string(),
        display_name: e.display_name.clone(),
        description: e.description.clone().unwrap_or_default(),
        grantable_to: e
            .grantable_to
            .iter()
            .map(|t| resource_type_to_proto(&ResourceType::of(*t)))
            .collect(),
        annotations: Vec::new(),
        purpose: match e.purpose {
            Purpose::Assignment => proto::purpose_value::ASSIGNMENT,
            Purpose::Permission => proto::purpose_value::PERMISSION,
        },
        slug: e.slug.clone(),
    }
}

/// The entitlement of a group-like principal whose holders inherit what the principal is
/// granted: a group's members, a permission set group's assignees.
fn inherited_through(principal: ResourceId) -> Option<String> {
    match principal.type_id() {
        ResourceTypeId::Group | ResourceTypeId::PermissionSetGroup => {
            Some(format!("{principal}:member"))
        }
        _ => None,
    }
}

/// A grant as baton writes it after expansion, and its `GrantExpandable` (stored in the
/// `expansion` column, not in the message, as baton-sdk does).
///
/// `sources` follows baton-sdk's expander: absent on a purely direct grant; for a grant that
/// also comes through something, the grant's own entitlement id is a source (`is_direct`), and
/// every other key is a source entitlement. `is_direct` of the other sources says whether the
/// principal holds that source directly; the writer fills it in when the sync is finished.
/// A grant that is not direct is `GrantImmutable`, as the expander marks the grants it creates.
pub(crate) fn grant_to_proto(g: &Grant) -> (proto::Grant, Option<proto::GrantExpandable>) {
    let entitlement_id = g.entitlement_id.to_string();
    let mut annotations = Vec::new();
    let sources = (!g.sources.is_empty()).then(|| {
        let mut sources = BTreeMap::new();
        if g.direct {
            sources.insert(
                entitlement_id.clone(),
                proto::GrantSource { is_direct: true },
            );
        }
        for s in &g.sources {
            sources.insert(
                s.entitlement_id.to_string(),
                proto::GrantSource { is_direct: false },
            );
        }
        proto::GrantSources { sources }
    });
    if !g.direct {
        annotations.push(proto::pack(&proto::GrantImmutable::default()));
    }
    let mut metadata = Map::new();
    if let Some(t) = g.expires_at {
        metadata.insert("expires_at".into(), Json::String(rfc3339(t)));
    }
    if let Some(id) = g.details.record_id {
        metadata.insert("record_id".into(), Json::String(id.as_str().to_owned()));
    }
    if let Some(t) = g.details.last_used {
        metadata.insert("last_used".into(), Json::String(rfc3339(t)));
    }
    if let Some(n) = g.details.use_count {
        metadata.insert("use_count".into(), Json::from(n));
    }
    if !g.sources.is_empty() {
        let mut kinds: Map<String, Json> = Map::new();
        for s in &g.sources {
            let entry = kinds
                .entry(s.entitlement_id.to_string())
                .or_insert_with(|| Json::Array(Vec::new()));
            if let Json::Array(list) = entry {
                list.push(Json::String(enum_text(&s.kind)));
            }
        }
        metadata.insert("source_kinds".into(), Json::Object(kinds));
    }
    if !metadata.is_empty() {
        annotations.push(proto::pack(&proto::GrantMetadata {
            metadata: Some(to_struct(&metadata)),
        }));
    }
    let grant = proto::Grant {
        entitlement: Some(proto::Entitlement {
            resource: Some(proto::Resource {
                id: Some(proto_id(g.entitlement_id.resource_id())),
                ..proto::Resource::default()
            }),
            id: entitlement_id,
            ..proto::Entitlement::default()
        }),
        principal: Some(proto::Resource {
            id: Some(proto_id(g.principal_id)),
            ..proto::Resource::default()
        }),
        id: g.id.to_string(),
        annotations,
        sources,
    };
    let expandable = inherited_through(g.principal_id).map(|id| proto::GrantExpandable {
        entitlement_ids: vec![id],
        shallow: false,
        resource_type_ids: Vec::new(),
    });
    (grant, expandable)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

// ---- reading ----------------------------------------------------------------------------------

/// Why a record of a file is not in the model. The text is the report's key, so it names a
/// category (with the type or slug), never a record id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skip(pub(crate) String);

/// What the mapping noticed while reading records that it could still map.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Notes {
    /// Ids normalized from their 15-character form.
    pub(crate) repaired_ids: u64,
    /// Resources whose details were rebuilt from baton's fields.
    pub(crate) details_inferred: u64,
}

fn unknown_type(type_id: &str) -> Skip {
    Skip(format!(
        "resource type {type_id:?} is not in sf-access's model"
    ))
}

/// A `ResourceTypeId` from a file's type string.
fn type_of(type_id: &str) -> Result<ResourceTypeId, Skip> {
    ResourceTypeId::parse(type_id).map_err(|_| unknown_type(type_id))
}

/// A Salesforce id from a file, normalizing a checksum suffix that disagrees with the first 15
/// characters (made-up ids like `00G5g0000000001AAA`).
fn sf_id(text: &str, notes: &mut Notes) -> Result<SfId, Skip> {
    match SfId::parse(text) {
        Ok(id) => Ok(id),
        Err(SfIdError::Checksum(_)) => {
            let id = text
                .get(..15)
                .and_then(|head| SfId::parse(head).ok())
                .ok_or_else(|| Skip("invalid Salesforce id".to_owned()))?;
            notes.repaired_ids += 1;
            Ok(id)
        }
        Err(_) => Err(Skip("invalid Salesforce id".to_owned())),
    }
}

fn resource_id(id: &proto::ResourceId, notes: &mut Notes) -> Result<ResourceId, Skip> {
    let type_id = type_of(&id.resource_type)?;
    let sf = sf_id(&id.resource, notes)?;
    ResourceId::new(type_id, sf).map_err(|_| {
        Skip(format!(
            "{} id with another object's key prefix",
            type_id.as_str()
        ))
    })
}

/// `type:id:slug` from a file.
fn entitlement_id(text: &str, notes: &mut Notes) -> Result<EntitlementId, Skip> {
    let mut parts = text.splitn(3, ':');
    let (Some(t), Some(id), Some(slug)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Skip("malformed entitlement id".to_owned()));
    };
    let resource = resource_id(
        &proto::ResourceId {
            resource_type: t.to_owned(),
            resource: id.to_owned(),
            baton_resource: false,
        },
        notes,
    )?;
    EntitlementId::new(resource, slug).map_err(|_| {
        Skip(format!(
            "entitlement slug {slug:?} is not defined for {}",
            resource.type_id()
        ))
    })
}

fn trait_from(value: i32) -> Option<Trait> {
    match value {
        proto::trait_value::USER => Some(Trait::User),
        proto::trait_value::GROUP => Some(Trait::Group),
        proto::trait_value::ROLE => Some(Trait::Role),
        proto::trait_value::APP => Some(Trait::App),
        _ => None,
    }
}

/// A resource type of a file. Traits the model has no name for (agent, license profile, ...)
/// are dropped.
pub(crate) fn resource_type_from_proto(p: &proto::ResourceType) -> Result<ResourceType, Skip> {
    let id = type_of(&p.id)?;
    let mut traits: Vec<Trait> = p.traits.iter().copied().filter_map(trait_from).collect();
    traits.sort();
    traits.dedup();
    Ok(ResourceType {
        id,
        display_name: p.display_name.clone(),
        traits,
        description: p.description.clone(),
    })
}

/// A resource of a file.
pub(crate) fn resource_from_proto(
    p: &proto::Resource,
    notes: &mut Notes,
) -> Result<Resource, Skip> {
    let pid =
        p.id.as_ref()
            .ok_or_else(|| Skip("resource without an id".to_owned()))?;
    let id = resource_id(pid, notes)?;
    let parent_id = match &p.parent_resource_id {
        // A parent the model cannot name (another type) is dropped rather than the resource.
        Some(parent) => resource_id(parent, notes).ok(),
        None => None,
    };
    let details = details_from_proto(p, id, notes);
    let resource = Resource {
        id,
        resource_type: id.type_id(),
        display_name: p.display_name.clone(),
        parent_id,
        description: non_empty(&p.description),
        details,
    };
    Ok(resource)
}

/// The resource's free-form details: `Resource.profile`, else its trait's `profile`.
fn profile_of(p: &proto::Resource) -> Map<String, Json> {
    if let Some(s) = &p.profile {
        return from_struct(s);
    }
    let trait_profile = proto::find::<proto::UserTrait>(&p.annotations)
        .and_then(|t| t.profile)
        .or_else(|| proto::find::<proto::GroupTrait>(&p.annotations).and_then(|t| t.profile))
        .or_else(|| proto::find::<proto::RoleTrait>(&p.annotations).and_then(|t| t.profile))
        .or_else(|| proto::find::<proto::AppTrait>(&p.annotations).and_then(|t| t.profile));
    trait_profile.map(|s| from_struct(&s)).unwrap_or_default()
}

fn details_from_proto(p: &proto::Resource, id: ResourceId, notes: &mut Notes) -> ResourceDetails {
    let profile = profile_of(p);
    let type_id = id.type_id();
    // Our own files: the details block is the profile.
    let mut tagged = Map::new();
    tagged.insert(type_id.as_str().to_owned(), Json::Object(profile.clone()));
    if let Ok(details) = serde_json::from_value::<ResourceDetails>(Json::Object(tagged))
        && details.type_id() == type_id
    {
        return details;
    }
    notes.details_inferred += 1;
    match type_id {
        ResourceTypeId::User => ResourceDetails::User(user_from_baton(p, &profile, notes)),
        ResourceTypeId::Role => ResourceDetails::Role(RoleDetails {
            developer_name: string_of(&profile, "developer_name"),
        }),
        ResourceTypeId::Group => ResourceDetails::Group(GroupDetails {
            group_type: match string_of(&profile, "group_type").as_deref() {
                Some("queue" | "Queue") => GroupType::Queue,
                _ => GroupType::Regular,
            },
            developer_name: string_of(&profile, "developer_name"),
        }),
        ResourceTypeId::Profile => ResourceDetails::Profile(Default::default()),
        ResourceTypeId::Permission => ResourceDetails::Permission(PermissionSetDetails {
            name: string_of(&profile, "name").unwrap_or_else(|| p.display_name.clone()),
            label: string_of(&profile, "label").unwrap_or_else(|| p.display_name.clone()),
            set_type: string_of(&profile, "type"),
            license: None,
            namespace: string_of(&profile, "namespace"),
        }),
        ResourceTypeId::PermissionSetGroup => {
            ResourceDetails::PermissionSetGroup(PermissionSetGroupDetails {
                name: string_of(&profile, "name").unwrap_or_else(|| p.display_name.clone()),
                // Unknown: baton-salesforce does not record it.
                status: string_of(&profile, "status").unwrap_or_default(),
            })
        }
        ResourceTypeId::ConnectedApplication => {
            ResourceDetails::ConnectedApplication(ConnectedAppDetails {
                admin_approved_users_only: None,
                created: p.created_at.as_ref().and_then(from_timestamp),
            })
        }
        ResourceTypeId::License => ResourceDetails::License(LicenseDetails {
            kind: if id.sf_id().key_prefix() == "0PL" {
                LicenseKind::PermissionSetLicense
            } else {
                LicenseKind::UserLicense
            },
            key: None,
            status: None,
            total_seats: None,
            used_seats: None,
        }),
    }
}

/// A user's details from baton's fields: the trait's login, primary email, status and last
/// login, and baton-salesforce's profile keys.
fn user_from_baton(
    p: &proto::Resource,
    profile: &Map<String, Json>,
    notes: &mut Notes,
) -> UserDetails {
    let user_trait = proto::find::<proto::UserTrait>(&p.annotations).unwrap_or_default();
    let email = user_trait
        .emails
        .iter()
        .find(|e| e.is_primary)
        .or_else(|| user_trait.emails.first())
        .map(|e| e.address.clone())
        .filter(|a| !a.is_empty())
        .or_else(|| string_of(profile, "email"));
    let username = non_empty(&user_trait.login)
        .or_else(|| string_of(profile, "username"))
        .or_else(|| email.clone())
        .unwrap_or_else(|| p.display_name.clone());
    let status_value = p
        .status
        .as_ref()
        .map(|s| s.status)
        .or_else(|| user_trait.status.as_ref().map(|s| s.status))
        .unwrap_or(proto::status_value::UNSPECIFIED);
    // baton's default for an unset status is enabled.
    let status_detail = match status_value {
        proto::status_value::DISABLED | proto::status_value::DELETED => UserStatusDetail::Inactive,
        _ => UserStatusDetail::Active,
    };
    let (given, family) = user_trait
        .structured_name
        .as_ref()
        .map(|n| (non_empty(&n.given_name), non_empty(&n.family_name)))
        .unwrap_or_default();
    let id_of = |key: &str, type_id: ResourceTypeId, notes: &mut Notes| {
        let text = string_of(profile, key)?;
        let sf = text.rsplit(':').next().and_then(|t| sf_id(t, notes).ok())?;
        ResourceId::new(type_id, sf).ok()
    };
    UserDetails {
        username,
        email,
        first_name: string_of(profile, "first_name").or(given),
        last_name: string_of(profile, "last_name").or(family),
        status: status_detail.status(),
        status_detail,
        user_type: string_of(profile, "user_type")
            .or_else(|| string_of(profile, "account_type"))
            .unwrap_or_default(),
        license: id_of("license", ResourceTypeId::License, notes),
        profile: id_of("profile", ResourceTypeId::Profile, notes),
        role: id_of("role", ResourceTypeId::Role, notes),
        manager: id_of("manager", ResourceTypeId::User, notes),
        federation_id: string_of(profile, "federation_id"),
        last_login: user_trait.last_login.as_ref().and_then(from_timestamp),
        created: p
            .created_at
            .as_ref()
            .or(user_trait.created_at.as_ref())
            .and_then(from_timestamp),
    }
}

/// An entitlement of a file. Principal types outside the model are dropped from
/// `grantable_to`; a purpose the model has no name for takes the type table's.
pub(crate) fn entitlement_from_proto(
    p: &proto::Entitlement,
    notes: &mut Notes,
) -> Result<Entitlement, Skip> {
    let id = entitlement_id(&p.id, notes)?;
    let purpose = match p.purpose {
        proto::purpose_value::ASSIGNMENT => Purpose::Assignment,
        proto::purpose_value::PERMISSION => Purpose::Permission,
        _ => crate::model::types::slug_definition(id.resource_id().type_id(), id.slug())
            .map_or(Purpose::Assignment, |d| d.purpose),
    };
    let mut grantable_to: Vec<ResourceTypeId> = p
        .grantable_to
        .iter()
        .filter_map(|t| ResourceTypeId::parse(&t.id).ok())
        .collect();
    grantable_to.sort();
    grantable_to.dedup();
    Ok(Entitlement {
        id,
        resource_id: id.resource_id(),
        slug: id.slug().to_owned(),
        display_name: p.display_name.clone(),
        description: non_empty(&p.description),
        purpose,
        grantable_to,
    })
}

fn source_kind_of(text: &str) -> Option<SourceKind> {
    serde_json::from_value(Json::String(text.to_owned())).ok()
}

/// The kind of a source when the file does not say: from the type of the source entitlement.
fn inferred_kind(source: EntitlementId) -> Option<SourceKind> {
    match source.resource_id().type_id() {
        ResourceTypeId::Group => Some(SourceKind::Group),
        ResourceTypeId::PermissionSetGroup => Some(SourceKind::PermissionSetGroup),
        ResourceTypeId::Role => Some(SourceKind::Role),
        _ => None,
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A grant of a file. Returns the grant and how many of its sources were dropped (kind
/// unknown).
pub(crate) fn grant_from_proto(p: &proto::Grant, notes: &mut Notes) -> Result<(Grant, u64), Skip> {
    let entitlement = p
        .entitlement
        .as_ref()
        .ok_or_else(|| Skip("grant without an entitlement".to_owned()))?;
    let entitlement_id = entitlement_id(&entitlement.id, notes)?;
    let principal = p
        .principal
        .as_ref()
        .and_then(|r| r.id.as_ref())
        .ok_or_else(|| Skip("grant without a principal".to_owned()))?;
    let principal_id = resource_id(principal, notes)?;
    let metadata = proto::find::<proto::GrantMetadata>(&p.annotations)
        .and_then(|m| m.metadata)
        .map(|s| from_struct(&s))
        .unwrap_or_default();
    let kinds = metadata.get("source_kinds").and_then(Json::as_object);
    let own = entitlement.id.as_str();
    let sources = p.sources.as_ref().map(|s| &s.sources);
    let mut direct = sources.is_none_or(|s| s.is_empty());
    let mut grant = Grant::direct(entitlement_id, principal_id);
    let mut dropped = 0;
    for key in sources.into_iter().flat_map(|s| s.keys()) {
        if key == own {
            direct = true;
            continue;
        }
        let Ok(source_id) = self::entitlement_id(key, notes) else {
            dropped += 1;
            continue;
        };
        if source_id == entitlement_id {
            direct = true;
            continue;
        }
        let named: Vec<SourceKind> = kinds
            .and_then(|k| k.get(key))
            .and_then(Json::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().and_then(source_kind_of))
                    .collect()
            })
            .unwrap_or_default();
        let found = if named.is_empty() {
            inferred_kind(source_id).into_iter().collect()
        } else {
            named
        };
        if found.is_empty() {
            dropped += 1;
        }
        for kind in found {
            grant.add_source(GrantSource {
                entitlement_id: source_id,
                kind,
            });
        }
    }
    grant.direct = direct;
    if !grant.direct && grant.sources.is_empty() {
        return Err(Skip(
            "expanded grant whose sources are outside the model".to_owned(),
        ));
    }
    grant.expires_at = string_of(&metadata, "expires_at").and_then(|t| parse_time(&t));
    grant.details = GrantDetails {
        record_id: string_of(&metadata, "record_id").and_then(|t| SfId::parse(&t).ok()),
        last_used: string_of(&metadata, "last_used").and_then(|t| parse_time(&t)),
        use_count: metadata.get("use_count").and_then(Json::as_u64),
    };
    // The id is rebuilt from its parts: the canonical form, whatever the file spelled.
    grant.id = GrantId::new(entitlement_id, principal_id);
    Ok((grant, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_conversion_round_trips_json_with_integers_kept_integral() {
        let json = serde_json::json!({
            "s": "x", "n": 10, "neg": -3, "f": 1.5, "b": true, "null": null,
            "list": [1, "a", {"k": false}], "obj": {"inner": 2}
        });
        let map = json.as_object().unwrap();
        let back = from_struct(&to_struct(map));
        assert_eq!(Json::Object(back), json);
        assert_eq!(number(f64::NAN), Json::Null);
        assert_eq!(number(1e300), serde_json::json!(1e300));
    }

    #[test]
    fn checksum_mismatch_is_normalized_from_the_fifteen_character_form() {
        let mut notes = Notes::default();
        let id = sf_id("00G5g0000000001AAA", &mut notes).unwrap();
        assert_eq!(id.as_str(), "00G5g0000000001EAA");
        assert_eq!(notes.repaired_ids, 1);
        assert!(sf_id("00G5g0000000001", &mut notes).is_ok());
        assert_eq!(notes.repaired_ids, 1);
        assert!(sf_id("not an id", &mut notes).is_err());
        assert!(sf_id("00G5g0000000001AA!", &mut notes).is_err());
    }

    #[test]
    fn unknown_types_and_slugs_are_skipped_with_a_reason() {
        let mut notes = Notes::default();
        assert_eq!(
            entitlement_id("territory:0MI5g0000000001AAA:member", &mut notes),
            Err(unknown_type("territory"))
        );
        let err = entitlement_id("group:00G5g0000000001EAA:owner", &mut notes).unwrap_err();
        assert!(err.0.contains("\"owner\""), "{err:?}");
        assert!(entitlement_id("group", &mut notes).is_err());
    }
}
