//! The protobuf messages a c1z holds, written by hand with `prost`'s derive from the field
//! numbers of `c1.connector.v2` (baton-sdk v0.25.0) and the well-known types
//! (`google.protobuf.Any`, `Struct`, `Value`, `ListValue`, `Timestamp`).
//!
//! Only what a Salesforce connector writes or reads is here; any other field of a file is an
//! unknown field, which prost skips on decode (and baton's readers skip ours), so newer files
//! still read. Enums are kept as `i32` with named constants: an enum value this build does not
//! know then stays a number instead of failing the decode. Maps are `BTreeMap`, so that the
//! same message always encodes to the same bytes (baton marshals deterministically and its
//! `diff` compares messages). Decoding is from untrusted files: prost returns errors, never
//! panics, and limits nesting depth.

use std::collections::BTreeMap;

use prost::Message;

/// A message that travels inside a `google.protobuf.Any` (annotations, capabilities).
pub trait Named: Message + Default {
    /// The full protobuf name, e.g. `c1.connector.v2.UserTrait`.
    const NAME: &'static str;
}

/// Wraps `message` in an `Any` with the `type.googleapis.com/` prefix baton uses.
pub fn pack<M: Named>(message: &M) -> Any {
    Any {
        type_url: format!("type.googleapis.com/{}", M::NAME),
        value: message.encode_to_vec(),
    }
}

/// The message of type `M` in `any`, if it is one. Readers match only the part after the last
/// `/` of the type URL, as baton's do. `Some(Err(_))` when it claims to be `M` but does not
/// decode.
pub fn unpack<M: Named>(any: &Any) -> Option<Result<M, prost::DecodeError>> {
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    (name == M::NAME).then(|| M::decode(any.value.as_slice()))
}

/// The first annotation of type `M` that decodes.
pub fn find<M: Named>(annotations: &[Any]) -> Option<M> {
    annotations
        .iter()
        .find_map(|a| unpack::<M>(a).and_then(Result::ok))
}

/// True when one of `annotations` is of type `M`.
pub fn has<M: Named>(annotations: &[Any]) -> bool {
    annotations.iter().any(|a| unpack::<M>(a).is_some())
}

// ---- google.protobuf ------------------------------------------------------------------------

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    /// `type.googleapis.com/<full name>`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.protobuf.Struct`: a JSON object.
#[derive(Clone, PartialEq, Message)]
pub struct Struct {
    /// The members, sorted by key.
    #[prost(btree_map = "string, message", tag = "1")]
    pub fields: BTreeMap<String, Value>,
}

/// `google.protobuf.Value`: a JSON value.
#[derive(Clone, PartialEq, Message)]
pub struct Value {
    /// Which kind of value; `None` reads as null.
    #[prost(oneof = "value::Kind", tags = "1, 2, 3, 4, 5, 6")]
    pub kind: Option<value::Kind>,
}

/// The oneof of `google.protobuf.Value`.
pub mod value {
    /// One JSON value.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// `null` (the enum `NullValue`, always 0).
        #[prost(int32, tag = "1")]
        NullValue(i32),
        /// A number (JSON numbers are doubles).
        #[prost(double, tag = "2")]
        NumberValue(f64),
        /// A string.
        #[prost(string, tag = "3")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "4")]
        BoolValue(bool),
        /// An object.
        #[prost(message, tag = "5")]
        StructValue(super::Struct),
        /// An array.
        #[prost(message, tag = "6")]
        ListValue(super::ListValue),
    }
}

/// `google.protobuf.ListValue`: a JSON array.
#[derive(Clone, PartialEq, Message)]
pub struct ListValue {
    /// The elements.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<Value>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0..=999_999_999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

// ---- c1.connector.v2 core records -----------------------------------------------------------

/// `ResourceType.Trait` values (CLI v0.7.27 knows 0..=7).
pub mod trait_value {
    /// `TRAIT_USER`.
    pub const USER: i32 = 1;
    /// `TRAIT_GROUP`.
    pub const GROUP: i32 = 2;
    /// `TRAIT_ROLE`.
    pub const ROLE: i32 = 3;
    /// `TRAIT_APP`.
    pub const APP: i32 = 4;
}

/// `c1.connector.v2.ResourceType`.
#[derive(Clone, PartialEq, Message)]
pub struct ResourceType {
    /// The type id, e.g. `user`.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Display name.
    #[prost(string, tag = "2")]
    pub display_name: String,
    /// `ResourceType.Trait` values (packed).
    #[prost(int32, repeated, tag = "3")]
    pub traits: Vec<i32>,
    /// Annotations (`SkipEntitlementsAndGrants`, ...).
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    /// Description.
    #[prost(string, tag = "5")]
    pub description: String,
    /// True for types another connector owns.
    #[prost(bool, tag = "6")]
    pub sourced_externally: bool,
}

impl Named for ResourceType {
    const NAME: &'static str = "c1.connector.v2.ResourceType";
}

/// `c1.connector.v2.ResourceId`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ResourceId {
    /// The type id.
    #[prost(string, tag = "1")]
    pub resource_type: String,
    /// The id within the type (for Salesforce: the record id).
    #[prost(string, tag = "2")]
    pub resource: String,
    /// Reserved by the SDK.
    #[prost(bool, tag = "3")]
    pub baton_resource: bool,
}

/// `Status.ResourceStatus` (and `UserTrait.Status.Status`, same numbers) values.
pub mod status_value {
    /// `..._UNSPECIFIED`.
    pub const UNSPECIFIED: i32 = 0;
    /// `..._ENABLED`.
    pub const ENABLED: i32 = 1;
    /// `..._DISABLED`.
    pub const DISABLED: i32 = 2;
    /// `..._DELETED`.
    pub const DELETED: i32 = 3;
}

/// `c1.connector.v2.Status` (resource level).
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    /// A `status_value`.
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// Free text on why.
    #[prost(string, tag = "2")]
    pub details: String,
}

/// `c1.connector.v2.ExternalId` (deprecated on Resource, still read by the CLI).
#[derive(Clone, PartialEq, Message)]
pub struct ExternalId {
    /// The id in the source system.
    #[prost(string, tag = "1")]
    pub id: String,
    /// A link to it.
    #[prost(string, tag = "2")]
    pub link: String,
    /// A description.
    #[prost(string, tag = "3")]
    pub description: String,
}

/// `c1.connector.v2.AssetRef`.
#[derive(Clone, PartialEq, Message)]
pub struct AssetRef {
    /// The asset id.
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `c1.connector.v2.Resource`.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    /// The id.
    #[prost(message, optional, tag = "1")]
    pub id: Option<ResourceId>,
    /// The parent (the role above a role).
    #[prost(message, optional, tag = "2")]
    pub parent_resource_id: Option<ResourceId>,
    /// Display name.
    #[prost(string, tag = "3")]
    pub display_name: String,
    /// Traits and other annotations.
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    /// Description.
    #[prost(string, tag = "5")]
    pub description: String,
    /// Reserved by the SDK.
    #[prost(bool, tag = "6")]
    pub baton_resource: bool,
    /// The id in the source system (deprecated, read by the CLI).
    #[prost(message, optional, tag = "7")]
    pub external_id: Option<ExternalId>,
    /// `Resource.CreationSource` (deprecated).
    #[prost(int32, tag = "8")]
    pub creation_source: i32,
    /// Free-form details (newer than the CLI, which drops it).
    #[prost(message, optional, tag = "9")]
    pub profile: Option<Struct>,
    /// Icon (not used).
    #[prost(message, optional, tag = "10")]
    pub icon: Option<AssetRef>,
    /// Status (newer than the CLI).
    #[prost(message, optional, tag = "11")]
    pub status: Option<Status>,
    /// Creation time (newer than the CLI).
    #[prost(message, optional, tag = "12")]
    pub created_at: Option<Timestamp>,
}

/// `Entitlement.PurposeValue` values.
pub mod purpose_value {
    /// `PURPOSE_VALUE_UNSPECIFIED`.
    pub const UNSPECIFIED: i32 = 0;
    /// `PURPOSE_VALUE_ASSIGNMENT`.
    pub const ASSIGNMENT: i32 = 1;
    /// `PURPOSE_VALUE_PERMISSION`.
    pub const PERMISSION: i32 = 2;
    /// `PURPOSE_VALUE_OWNERSHIP`.
    pub const OWNERSHIP: i32 = 3;
}

/// `c1.connector.v2.Entitlement`.
#[derive(Clone, PartialEq, Message)]
pub struct Entitlement {
    /// The owning resource (embedded whole by SDK helpers).
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// `type:id:slug`.
    #[prost(string, tag = "2")]
    pub id: String,
    /// Display name.
    #[prost(string, tag = "3")]
    pub display_name: String,
    /// Description.
    #[prost(string, tag = "4")]
    pub description: String,
    /// The principal types that can hold it.
    #[prost(message, repeated, tag = "5")]
    pub grantable_to: Vec<ResourceType>,
    /// Annotations.
    #[prost(message, repeated, tag = "6")]
    pub annotations: Vec<Any>,
    /// A `purpose_value`.
    #[prost(int32, tag = "7")]
    pub purpose: i32,
    /// The slug (`assigned`, `member`, ...).
    #[prost(string, tag = "8")]
    pub slug: String,
}

/// `c1.connector.v2.GrantSources.GrantSource`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct GrantSource {
    /// The principal holds the source entitlement directly.
    #[prost(bool, tag = "1")]
    pub is_direct: bool,
}

/// `c1.connector.v2.GrantSources`: where an expanded grant comes from.
#[derive(Clone, PartialEq, Message)]
pub struct GrantSources {
    /// Source entitlement id -> source; the grant's own entitlement id marks a grant that is
    /// also direct.
    #[prost(btree_map = "string, message", tag = "1")]
    pub sources: BTreeMap<String, GrantSource>,
}

/// `c1.connector.v2.Grant`.
#[derive(Clone, PartialEq, Message)]
pub struct Grant {
    /// The entitlement held (id and resource id at least: the CLI dereferences both).
    #[prost(message, optional, tag = "1")]
    pub entitlement: Option<Entitlement>,
    /// The principal (id at least).
    #[prost(message, optional, tag = "2")]
    pub principal: Option<Resource>,
    /// `entitlement_id:principal_type:principal_id`.
    #[prost(string, tag = "3")]
    pub id: String,
    /// Annotations.
    #[prost(message, repeated, tag = "4")]
    pub annotations: Vec<Any>,
    /// Sources of an expanded grant.
    #[prost(message, optional, tag = "5")]
    pub sources: Option<GrantSources>,
}

// ---- traits -----------------------------------------------------------------------------------

/// `UserTrait.Email`.
#[derive(Clone, PartialEq, Message)]
pub struct Email {
    /// The address.
    #[prost(string, tag = "1")]
    pub address: String,
    /// The primary address.
    #[prost(bool, tag = "2")]
    pub is_primary: bool,
}

/// `UserTrait.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct UserStatus {
    /// A `status_value`.
    #[prost(int32, tag = "1")]
    pub status: i32,
    /// Free text on why.
    #[prost(string, tag = "2")]
    pub details: String,
}

/// `UserTrait.AccountType` values.
pub mod account_type_value {
    /// `ACCOUNT_TYPE_HUMAN`.
    pub const HUMAN: i32 = 1;
    /// `ACCOUNT_TYPE_SERVICE`.
    pub const SERVICE: i32 = 2;
    /// `ACCOUNT_TYPE_SYSTEM`.
    pub const SYSTEM: i32 = 3;
}

/// `UserTrait.MFAStatus`.
#[derive(Clone, PartialEq, Message)]
pub struct MfaStatus {
    /// MFA is on.
    #[prost(bool, tag = "1")]
    pub mfa_enabled: bool,
}

/// `UserTrait.SSOStatus`.
#[derive(Clone, PartialEq, Message)]
pub struct SsoStatus {
    /// SSO is on.
    #[prost(bool, tag = "1")]
    pub sso_enabled: bool,
}

/// `UserTrait.StructuredName`.
#[derive(Clone, PartialEq, Message)]
pub struct StructuredName {
    /// Given name.
    #[prost(string, tag = "1")]
    pub given_name: String,
    /// Family name.
    #[prost(string, tag = "2")]
    pub family_name: String,
    /// Middle names.
    #[prost(string, repeated, tag = "3")]
    pub middle_names: Vec<String>,
    /// Prefix.
    #[prost(string, tag = "4")]
    pub prefix: String,
    /// Suffix.
    #[prost(string, tag = "5")]
    pub suffix: String,
}

/// `c1.connector.v2.UserTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct UserTrait {
    /// Email addresses.
    #[prost(message, repeated, tag = "1")]
    pub emails: Vec<Email>,
    /// Status (deprecated in favour of `Resource.status`; the SDK still fills it).
    #[prost(message, optional, tag = "2")]
    pub status: Option<UserStatus>,
    /// Free-form details: the CLI's `export csv` needs it present (`first_name`, `last_name`,
    /// `user_id`).
    #[prost(message, optional, tag = "3")]
    pub profile: Option<Struct>,
    /// Icon (not used).
    #[prost(message, optional, tag = "4")]
    pub icon: Option<AssetRef>,
    /// An `account_type_value`.
    #[prost(int32, tag = "5")]
    pub account_type: i32,
    /// The login name.
    #[prost(string, tag = "6")]
    pub login: String,
    /// Other login names.
    #[prost(string, repeated, tag = "7")]
    pub login_aliases: Vec<String>,
    /// Creation time (deprecated).
    #[prost(message, optional, tag = "8")]
    pub created_at: Option<Timestamp>,
    /// Last login.
    #[prost(message, optional, tag = "9")]
    pub last_login: Option<Timestamp>,
    /// MFA.
    #[prost(message, optional, tag = "10")]
    pub mfa_status: Option<MfaStatus>,
    /// SSO.
    #[prost(message, optional, tag = "11")]
    pub sso_status: Option<SsoStatus>,
    /// Structured name.
    #[prost(message, optional, tag = "12")]
    pub structured_name: Option<StructuredName>,
    /// Employee ids.
    #[prost(string, repeated, tag = "13")]
    pub employee_ids: Vec<String>,
}

impl Named for UserTrait {
    const NAME: &'static str = "c1.connector.v2.UserTrait";
}

/// `c1.connector.v2.GroupTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct GroupTrait {
    /// Icon (deprecated).
    #[prost(message, optional, tag = "1")]
    pub icon: Option<AssetRef>,
    /// Free-form details (deprecated in favour of `Resource.profile`).
    #[prost(message, optional, tag = "2")]
    pub profile: Option<Struct>,
    /// Source type (at most 64 bytes).
    #[prost(string, tag = "3")]
    pub group_source_type: String,
    /// Raw source type (at most 256 bytes).
    #[prost(string, tag = "4")]
    pub raw_group_source_type: String,
}

impl Named for GroupTrait {
    const NAME: &'static str = "c1.connector.v2.GroupTrait";
}

/// `c1.connector.v2.RoleScopeCondition`.
#[derive(Clone, PartialEq, Message)]
pub struct RoleScopeCondition {
    /// The condition.
    #[prost(string, tag = "1")]
    pub expression: String,
}

/// `c1.connector.v2.RoleScopeConditions` (there is no field 2).
#[derive(Clone, PartialEq, Message)]
pub struct RoleScopeConditions {
    /// The kind of conditions.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// The conditions.
    #[prost(message, repeated, tag = "3")]
    pub conditions: Vec<RoleScopeCondition>,
}

/// `c1.connector.v2.RoleTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct RoleTrait {
    /// Free-form details (deprecated in favour of `Resource.profile`).
    #[prost(message, optional, tag = "1")]
    pub profile: Option<Struct>,
    /// Scope conditions (not used for Salesforce).
    #[prost(message, optional, tag = "2")]
    pub role_scope_conditions: Option<RoleScopeConditions>,
}

impl Named for RoleTrait {
    const NAME: &'static str = "c1.connector.v2.RoleTrait";
}

/// `c1.connector.v2.AppTrait`.
#[derive(Clone, PartialEq, Message)]
pub struct AppTrait {
    /// Help URL (https).
    #[prost(string, tag = "1")]
    pub help_url: String,
    /// Icon (deprecated).
    #[prost(message, optional, tag = "2")]
    pub icon: Option<AssetRef>,
    /// Logo.
    #[prost(message, optional, tag = "3")]
    pub logo: Option<AssetRef>,
    /// Free-form details (deprecated in favour of `Resource.profile`).
    #[prost(message, optional, tag = "4")]
    pub profile: Option<Struct>,
    /// `AppTrait.AppFlag` values.
    #[prost(int32, repeated, tag = "5")]
    pub flags: Vec<i32>,
    /// Source type.
    #[prost(string, tag = "6")]
    pub app_source_type: String,
    /// Raw source type.
    #[prost(string, tag = "7")]
    pub raw_app_source_type: String,
}

impl Named for AppTrait {
    const NAME: &'static str = "c1.connector.v2.AppTrait";
}

/// `AppTrait.AppFlag` values.
pub mod app_flag_value {
    /// `APP_FLAG_INACTIVE`.
    pub const INACTIVE: i32 = 2;
}

// ---- other annotations ----------------------------------------------------------------------

/// `c1.connector.v2.GrantExpandable`: holders of `entitlement_ids` also get this grant's
/// entitlement (the grant's principal is a group-like resource).
#[derive(Clone, PartialEq, Message)]
pub struct GrantExpandable {
    /// The principal's entitlements whose holders inherit the grant.
    #[prost(string, repeated, tag = "1")]
    pub entitlement_ids: Vec<String>,
    /// Only direct holders inherit.
    #[prost(bool, tag = "2")]
    pub shallow: bool,
    /// Only holders of these types inherit.
    #[prost(string, repeated, tag = "3")]
    pub resource_type_ids: Vec<String>,
}

impl Named for GrantExpandable {
    const NAME: &'static str = "c1.connector.v2.GrantExpandable";
}

/// `c1.connector.v2.GrantImmutable`: the grant cannot be revoked as such (expanded grants).
#[derive(Clone, PartialEq, Message)]
pub struct GrantImmutable {
    /// Where it comes from.
    #[prost(string, tag = "1")]
    pub source_id: String,
    /// Details.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<Struct>,
}

impl Named for GrantImmutable {
    const NAME: &'static str = "c1.connector.v2.GrantImmutable";
}

/// `c1.connector.v2.GrantMetadata`: free-form facts about a grant.
#[derive(Clone, PartialEq, Message)]
pub struct GrantMetadata {
    /// The facts.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<Struct>,
}

impl Named for GrantMetadata {
    const NAME: &'static str = "c1.connector.v2.GrantMetadata";
}

/// `c1.connector.v2.ChildResourceType`: "list resources of this type under me".
#[derive(Clone, PartialEq, Message)]
pub struct ChildResourceType {
    /// The child type.
    #[prost(string, tag = "1")]
    pub resource_type_id: String,
}

impl Named for ChildResourceType {
    const NAME: &'static str = "c1.connector.v2.ChildResourceType";
}

/// `c1.connector.v2.SkipEntitlementsAndGrants`: the type has neither (users).
#[derive(Clone, PartialEq, Message)]
pub struct SkipEntitlementsAndGrants {}

impl Named for SkipEntitlementsAndGrants {
    const NAME: &'static str = "c1.connector.v2.SkipEntitlementsAndGrants";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_round_trips_and_matches_on_the_name_after_the_last_slash() {
        let trait_ = UserTrait {
            login: "ada@example.com".into(),
            ..UserTrait::default()
        };
        let any = pack(&trait_);
        assert_eq!(
            any.type_url,
            "type.googleapis.com/c1.connector.v2.UserTrait"
        );
        assert_eq!(
            find::<UserTrait>(std::slice::from_ref(&any)),
            Some(trait_.clone())
        );
        assert!(find::<GroupTrait>(std::slice::from_ref(&any)).is_none());
        let other_prefix = Any {
            type_url: "example.com/x/c1.connector.v2.UserTrait".into(),
            value: any.value,
        };
        assert_eq!(find::<UserTrait>(&[other_prefix]), Some(trait_));
    }

    #[test]
    fn struct_maps_encode_in_key_order() {
        let mut a = Struct::default();
        a.fields.insert("b".into(), string_value("2"));
        a.fields.insert("a".into(), string_value("1"));
        let mut b = Struct::default();
        b.fields.insert("a".into(), string_value("1"));
        b.fields.insert("b".into(), string_value("2"));
        assert_eq!(a.encode_to_vec(), b.encode_to_vec());
    }

    fn string_value(s: &str) -> Value {
        Value {
            kind: Some(value::Kind::StringValue(s.into())),
        }
    }

    #[test]
    fn garbage_does_not_decode_and_does_not_panic() {
        for bytes in [
            &b"\xff\xff\xff"[..],
            b"\x0a\x05ab",
            b"\x0a\xff\xff\xff\xff\x0f",
        ] {
            assert!(Resource::decode(bytes).is_err());
        }
    }
}
