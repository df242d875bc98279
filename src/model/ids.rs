//! Typed ids of the model: `ResourceTypeId`, `ResourceId` (`type:SalesforceId`),
//! `EntitlementId` (`type:SalesforceId:slug`) and `GrantId`
//! (`entitlement_id:principal_type:principal_id`).
//!
//! Parsing is strict because provisioning parses ids that users type: the type must be one of
//! the resource type table, the Salesforce part goes through `SfId` (alphabet and checksum) and
//! must carry the key prefix of its type, and the slug must be one the type defines. So a
//! string that parses can never carry a quote, a space or SQL; the error says which part is
//! wrong. Formatting always gives the canonical form (18-character Salesforce ids), and
//! `parse(format(id)) == id`.
//!
//! `Ord` on every id equals the byte order of its canonical string, which is what the store's
//! keyset pagination (`ORDER BY id`) and the exports rely on: `:` sorts before every character
//! a type id or slug may contain, so comparing the parts in turn gives the string order.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::salesforce::id::{SfId, SfIdError};

/// Longest input echoed back in an error message; ids are far shorter, and an error must not
/// copy an arbitrarily large pasted string into logs.
const ECHO_LIMIT: usize = 80;

/// Why a string is not a valid id of the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("the {kind} is empty; expected {format}")]
    Empty {
        /// Which kind of id was expected.
        kind: &'static str,
        /// The expected format.
        format: &'static str,
    },
    /// The string does not have the number of `:`-separated parts the kind needs.
    #[error("{input:?} is not a {kind}: expected {format}")]
    Shape {
        /// The input, shortened.
        input: String,
        /// Which kind of id was expected.
        kind: &'static str,
        /// The expected format.
        format: &'static str,
    },
    /// The type part is not one of the resource types.
    #[error("unknown resource type {found:?}; known types: {known}")]
    UnknownType {
        /// The type part as given, shortened.
        found: String,
        /// The known type ids, comma-separated.
        known: String,
    },
    /// The Salesforce part is not a valid Salesforce id.
    #[error("{input:?}: the Salesforce id part is invalid")]
    SalesforceId {
        /// The input, shortened.
        input: String,
        /// Why the Salesforce part is invalid.
        #[source]
        source: SfIdError,
    },
    /// The Salesforce id belongs to another object than the type says (by its key prefix).
    #[error(
        "{input:?}: a {type_id} id starts with {expected}, this Salesforce id starts with {found:?} (wrong type for this id?)"
    )]
    KeyPrefix {
        /// The input, shortened.
        input: String,
        /// The resource type.
        type_id: ResourceTypeId,
        /// The accepted key prefixes, for the message.
        expected: String,
        /// The key prefix found.
        found: String,
    },
    /// The slug is not an entitlement of the resource type.
    #[error("{input:?}: {type_id} has no entitlement {slug:?}; its entitlements: {known}")]
    Slug {
        /// The input, shortened.
        input: String,
        /// The resource type.
        type_id: ResourceTypeId,
        /// The slug as given, shortened.
        slug: String,
        /// The slugs the type defines, or "none".
        known: String,
    },
}

/// Shortens untrusted input for an error message.
fn echo(input: &str) -> String {
    if input.chars().count() <= ECHO_LIMIT {
        input.to_owned()
    } else {
        let mut s: String = input.chars().take(ECHO_LIMIT).collect();
        s.push('…');
        s
    }
}

/// The resource types of the model, as one closed set. The ids are baton-salesforce's (plus
/// our own `license`), so ConductorOne mappings keyed on them keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceTypeId {
    /// `user`: a Salesforce User.
    User,
    /// `role`: a UserRole.
    Role,
    /// `group`: a public group (Regular) or a Queue.
    Group,
    /// `profile`: a Profile.
    Profile,
    /// `permission`: a PermissionSet that is neither profile-owned nor a PSG aggregate.
    Permission,
    /// `permission_set_group`: a PermissionSetGroup.
    PermissionSetGroup,
    /// `connected_application`: a ConnectedApplication.
    ConnectedApplication,
    /// `license`: a UserLicense or a PermissionSetLicense.
    License,
}

impl ResourceTypeId {
    /// Every resource type, in id order (the order exports use).
    pub const ALL: [ResourceTypeId; 8] = [
        ResourceTypeId::ConnectedApplication,
        ResourceTypeId::Group,
        ResourceTypeId::License,
        ResourceTypeId::Permission,
        ResourceTypeId::PermissionSetGroup,
        ResourceTypeId::Profile,
        ResourceTypeId::Role,
        ResourceTypeId::User,
    ];

    /// The id as it appears in resource ids and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceTypeId::User => "user",
            ResourceTypeId::Role => "role",
            ResourceTypeId::Group => "group",
            ResourceTypeId::Profile => "profile",
            ResourceTypeId::Permission => "permission",
            ResourceTypeId::PermissionSetGroup => "permission_set_group",
            ResourceTypeId::ConnectedApplication => "connected_application",
            ResourceTypeId::License => "license",
        }
    }

    /// Parses a type id; only the exact lower-case ids are accepted.
    pub fn parse(s: &str) -> Result<ResourceTypeId, IdError> {
        ResourceTypeId::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| IdError::UnknownType {
                found: echo(s),
                known: ResourceTypeId::ALL.map(ResourceTypeId::as_str).join(", "),
            })
    }

    /// Salesforce key prefixes of the objects this type is built from, or `None` when the
    /// prefix is not checked. Connected apps are not checked: their key prefix is not
    /// documented firmly enough to reject an id on it (facts 5: "UNCERTAIN").
    pub const fn key_prefixes(self) -> Option<&'static [&'static str]> {
        match self {
            ResourceTypeId::User => Some(&["005"]),
            ResourceTypeId::Role => Some(&["00E"]),
            ResourceTypeId::Group => Some(&["00G"]),
            ResourceTypeId::Profile => Some(&["00e"]),
            ResourceTypeId::Permission => Some(&["0PS"]),
            ResourceTypeId::PermissionSetGroup => Some(&["0PG"]),
            ResourceTypeId::ConnectedApplication => None,
            ResourceTypeId::License => Some(&["100", "0PL"]),
        }
    }

    /// The entitlement slugs this type defines (see `model::types::RESOURCE_TYPES`).
    pub fn slugs(self) -> &'static [&'static str] {
        super::types::definition(self).slugs
    }
}

impl fmt::Display for ResourceTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ResourceTypeId {
    /// The position of the type in `ALL`, which is the order of the type ids: comparing ranks
    /// compares the strings without reading them.
    const fn rank(self) -> u8 {
        match self {
            ResourceTypeId::ConnectedApplication => 0,
            ResourceTypeId::Group => 1,
            ResourceTypeId::License => 2,
            ResourceTypeId::Permission => 3,
            ResourceTypeId::PermissionSetGroup => 4,
            ResourceTypeId::Profile => 5,
            ResourceTypeId::Role => 6,
            ResourceTypeId::User => 7,
        }
    }
}

impl Ord for ResourceTypeId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for ResourceTypeId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for ResourceTypeId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceTypeId::parse(s)
    }
}

/// The id of a resource: `type:SalesforceId`, e.g. `user:005xx000001Sv6eAAC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceId {
    type_id: ResourceTypeId,
    sf_id: SfId,
}

const RESOURCE_FORMAT: &str = "TYPE:SALESFORCE_ID, e.g. user:005xx000001Sv6eAAC";
const ENTITLEMENT_FORMAT: &str = "TYPE:SALESFORCE_ID:SLUG, e.g. role:00Exx000000AbCdEAK:assigned";
const GRANT_FORMAT: &str = "ENTITLEMENT_ID:PRINCIPAL_TYPE:PRINCIPAL_ID, e.g. \
     role:00Exx000000AbCdEAK:assigned:user:005xx000001Sv6eAAC";

impl ResourceId {
    /// Builds a resource id, checking that the Salesforce id has the type's key prefix.
    pub fn new(type_id: ResourceTypeId, sf_id: SfId) -> Result<ResourceId, IdError> {
        check_prefix(type_id, sf_id, || format!("{type_id}:{sf_id}"))?;
        Ok(ResourceId { type_id, sf_id })
    }

    /// Parses `type:SalesforceId`.
    pub fn parse(s: &str) -> Result<ResourceId, IdError> {
        let parts = split(s, 2, "resource id", RESOURCE_FORMAT)?;
        resource_from_parts(s, parts[0], parts[1])
    }

    /// The resource type.
    pub fn type_id(&self) -> ResourceTypeId {
        self.type_id
    }

    /// The Salesforce record id.
    pub fn sf_id(&self) -> SfId {
        self.sf_id
    }
}

/// Splits on `:` into exactly `n` non-empty parts.
fn split<'a>(
    s: &'a str,
    n: usize,
    kind: &'static str,
    format: &'static str,
) -> Result<Vec<&'a str>, IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind, format });
    }
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != n || parts.iter().any(|p| p.is_empty()) {
        return Err(IdError::Shape {
            input: echo(s),
            kind,
            format,
        });
    }
    Ok(parts)
}

fn check_prefix(
    type_id: ResourceTypeId,
    sf_id: SfId,
    input: impl FnOnce() -> String,
) -> Result<(), IdError> {
    match type_id.key_prefixes() {
        Some(prefixes) if !prefixes.contains(&sf_id.key_prefix()) => Err(IdError::KeyPrefix {
            input: echo(&input()),
            type_id,
            expected: prefixes.join(" or "),
            found: sf_id.key_prefix().to_owned(),
        }),
        _ => Ok(()),
    }
}

fn resource_from_parts(input: &str, type_part: &str, id_part: &str) -> Result<ResourceId, IdError> {
    let type_id = ResourceTypeId::parse(type_part)?;
    let sf_id = SfId::parse(id_part).map_err(|source| IdError::SalesforceId {
        input: echo(input),
        source,
    })?;
    check_prefix(type_id, sf_id, || input.to_owned())?;
    Ok(ResourceId { type_id, sf_id })
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.type_id, self.sf_id)
    }
}

impl ResourceId {
    /// Appends the id's text (what `Display` writes) to `out`, without the formatting
    /// machinery: the store writes millions of grant ids.
    pub fn push_to(&self, out: &mut String) {
        out.push_str(self.type_id.as_str());
        out.push(':');
        out.push_str(self.sf_id.as_str());
    }
}

impl Ord for ResourceId {
    /// The type, then the Salesforce id: the canonical string's order, as Salesforce ids have
    /// one length and `:` sorts before every character of a type id.
    fn cmp(&self, other: &Self) -> Ordering {
        self.type_id
            .cmp(&other.type_id)
            .then_with(|| self.sf_id.cmp(&other.sf_id))
    }
}

impl PartialOrd for ResourceId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for ResourceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceId::parse(s)
    }
}

/// The id of an entitlement: `type:SalesforceId:slug`, e.g. `role:00E...:assigned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntitlementId {
    resource: ResourceId,
    slug: &'static str,
}

impl EntitlementId {
    /// Builds the id of the entitlement `slug` of `resource`; the slug must be one the
    /// resource's type defines.
    pub fn new(resource: ResourceId, slug: &str) -> Result<EntitlementId, IdError> {
        let type_id = resource.type_id();
        let slug = type_id
            .slugs()
            .iter()
            .copied()
            .find(|s| *s == slug)
            .ok_or_else(|| IdError::Slug {
                input: echo(&format!("{resource}:{slug}")),
                type_id,
                slug: echo(slug),
                known: known_slugs(type_id),
            })?;
        Ok(EntitlementId { resource, slug })
    }

    /// Parses `type:SalesforceId:slug`.
    pub fn parse(s: &str) -> Result<EntitlementId, IdError> {
        let parts = split(s, 3, "entitlement id", ENTITLEMENT_FORMAT)?;
        entitlement_from_parts(s, parts[0], parts[1], parts[2])
    }

    /// The resource the entitlement belongs to.
    pub fn resource_id(&self) -> ResourceId {
        self.resource
    }

    /// The slug (`assigned`, `member`, `access`, `authorized`).
    pub fn slug(&self) -> &'static str {
        self.slug
    }
}

fn known_slugs(type_id: ResourceTypeId) -> String {
    let slugs = type_id.slugs();
    if slugs.is_empty() {
        "none".to_owned()
    } else {
        slugs.join(", ")
    }
}

fn entitlement_from_parts(
    input: &str,
    type_part: &str,
    id_part: &str,
    slug: &str,
) -> Result<EntitlementId, IdError> {
    let resource = resource_from_parts(input, type_part, id_part)?;
    let type_id = resource.type_id();
    let slug = type_id
        .slugs()
        .iter()
        .copied()
        .find(|s| *s == slug)
        .ok_or_else(|| IdError::Slug {
            input: echo(input),
            type_id,
            slug: echo(slug),
            known: known_slugs(type_id),
        })?;
    Ok(EntitlementId { resource, slug })
}

impl fmt::Display for EntitlementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.slug)
    }
}

impl Ord for EntitlementId {
    /// The resource, then the slug (in the id a slug is followed by `:` or nothing, which
    /// sort before every slug character). Slugs come from the type table, so equal slugs are
    /// usually the same `&'static str` and need no comparing.
    fn cmp(&self, other: &Self) -> Ordering {
        self.resource.cmp(&other.resource).then_with(|| {
            if std::ptr::eq(self.slug, other.slug) {
                Ordering::Equal
            } else {
                self.slug.cmp(other.slug)
            }
        })
    }
}

impl PartialOrd for EntitlementId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for EntitlementId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntitlementId::parse(s)
    }
}

/// The id of a grant: `entitlement_id:principal_type:principal_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrantId {
    entitlement: EntitlementId,
    principal: ResourceId,
}

impl GrantId {
    /// The id of the grant of `entitlement` to `principal`.
    pub fn new(entitlement: EntitlementId, principal: ResourceId) -> GrantId {
        GrantId {
            entitlement,
            principal,
        }
    }

    /// Parses `type:SalesforceId:slug:principal_type:principal_SalesforceId`.
    pub fn parse(s: &str) -> Result<GrantId, IdError> {
        let parts = split(s, 5, "grant id", GRANT_FORMAT)?;
        let entitlement = entitlement_from_parts(s, parts[0], parts[1], parts[2])?;
        let principal = resource_from_parts(s, parts[3], parts[4])?;
        Ok(GrantId {
            entitlement,
            principal,
        })
    }

    /// The entitlement granted.
    pub fn entitlement_id(&self) -> EntitlementId {
        self.entitlement
    }

    /// The principal it is granted to.
    pub fn principal_id(&self) -> ResourceId {
        self.principal
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.entitlement, self.principal)
    }
}

impl Ord for GrantId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.entitlement
            .cmp(&other.entitlement)
            .then_with(|| self.principal.cmp(&other.principal))
    }
}

impl PartialOrd for GrantId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for GrantId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GrantId::parse(s)
    }
}

/// Serde as the canonical string, parsed strictly on the way in.
macro_rules! serde_as_string {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_string!(ResourceTypeId, ResourceId, EntitlementId, GrantId);

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "user:005xx000001Sv6eAAC";

    fn user_id(n: u64) -> ResourceId {
        ResourceId::new(ResourceTypeId::User, SfId::from_counter("005", "5g", n)).unwrap()
    }

    #[test]
    fn resource_id_parses_and_formats_back_to_the_same_string() {
        let id = ResourceId::parse(USER).unwrap();
        assert_eq!(id.type_id(), ResourceTypeId::User);
        assert_eq!(id.sf_id().as_str(), "005xx000001Sv6eAAC");
        assert_eq!(id.to_string(), USER);
        let mut pushed = String::from("x=");
        id.push_to(&mut pushed);
        assert_eq!(pushed, format!("x={USER}"));
    }

    #[test]
    fn fifteen_character_salesforce_part_is_normalized_to_eighteen() {
        let id = ResourceId::parse("user:005xx000001Sv6e").unwrap();
        assert_eq!(id.to_string(), USER);
    }

    #[test]
    fn unknown_type_is_rejected_with_the_known_types() {
        let err = ResourceId::parse("users:005xx000001Sv6eAAC").unwrap_err();
        assert!(matches!(err, IdError::UnknownType { .. }));
        let message = err.to_string();
        assert!(message.contains("\"users\""), "{message}");
        assert!(message.contains("permission_set_group"), "{message}");
    }

    #[test]
    fn type_ids_are_case_sensitive() {
        assert!(ResourceId::parse("User:005xx000001Sv6eAAC").is_err());
    }

    #[test]
    fn bad_checksum_is_rejected() {
        let err = ResourceId::parse("user:005xx000001Sv6eAAA").unwrap_err();
        assert!(matches!(
            err,
            IdError::SalesforceId {
                source: SfIdError::Checksum(_),
                ..
            }
        ));
    }

    #[test]
    fn salesforce_id_of_another_object_is_rejected_by_key_prefix() {
        let err = ResourceId::parse("group:005xx000001Sv6eAAC").unwrap_err();
        assert!(matches!(err, IdError::KeyPrefix { .. }));
        assert!(err.to_string().contains("starts with 00G"), "{err}");
    }

    #[test]
    fn injection_strings_are_rejected() {
        for input in [
            "user:005' OR '1'='1",
            "user:005xx000001Sv6eAAC' OR '1'='1",
            "user:005xx000001Sv6eAAC; DROP TABLE grants",
            "user:005xx000001Sv6eAAC\0",
            "user:../../etc/passwd",
            "user:005xx000001Sv6eAAC:assigned",
            " user:005xx000001Sv6eAAC",
            "user:",
            ":005xx000001Sv6eAAC",
            "",
        ] {
            assert!(
                ResourceId::parse(input).is_err(),
                "{input:?} must be rejected"
            );
        }
        let err = ResourceId::parse("user:005' OR '1'='1").unwrap_err();
        assert!(matches!(
            err,
            IdError::SalesforceId {
                source: SfIdError::Character('\'', 3),
                ..
            }
        ));
        assert!(
            err.to_string().contains("Salesforce id part is invalid"),
            "{err}"
        );
    }

    #[test]
    fn long_input_is_shortened_in_the_error() {
        let input = format!("user:{}", "x".repeat(10_000));
        let message = ResourceId::parse(&input).unwrap_err().to_string();
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn entitlement_id_round_trips_and_checks_the_slug() {
        let role = ResourceId::parse("role:00Exx000000AbCd").unwrap();
        let id = EntitlementId::parse(&format!("{role}:assigned")).unwrap();
        assert_eq!(id.resource_id(), role);
        assert_eq!(id.slug(), "assigned");
        assert_eq!(EntitlementId::parse(&id.to_string()).unwrap(), id);
        assert!(matches!(
            EntitlementId::parse(&format!("{role}:member")),
            Err(IdError::Slug { .. })
        ));
        assert!(matches!(
            EntitlementId::parse(&format!("{USER}:assigned")),
            Err(IdError::Slug { .. })
        ));
        assert!(matches!(
            EntitlementId::parse(USER),
            Err(IdError::Shape { .. })
        ));
        let err = EntitlementId::parse(&format!("{role}:assigned' OR 1=1 --")).unwrap_err();
        assert!(matches!(err, IdError::Slug { .. }));
    }

    #[test]
    fn grant_id_round_trips_and_exposes_its_parts() {
        let role = ResourceId::parse("role:00Exx000000AbCd").unwrap();
        let entitlement = EntitlementId::new(role, "assigned").unwrap();
        let id = GrantId::new(entitlement, user_id(7));
        let text = id.to_string();
        assert_eq!(text, format!("{role}:assigned:{}", user_id(7)));
        let parsed = GrantId::parse(&text).unwrap();
        assert_eq!(parsed, id);
        assert_eq!(parsed.entitlement_id(), entitlement);
        assert_eq!(parsed.principal_id(), user_id(7));
        assert!(GrantId::parse(&format!("{role}:assigned:user:005' OR '1'='1")).is_err());
        assert!(matches!(
            GrantId::parse(&format!("{role}:assigned")),
            Err(IdError::Shape { .. })
        ));
    }

    #[test]
    fn id_order_is_the_order_of_the_canonical_strings() {
        let mut ids: Vec<EntitlementId> = Vec::new();
        for type_id in ResourceTypeId::ALL {
            let prefix = type_id.key_prefixes().map_or("0H4", |p| p[p.len() - 1]);
            for n in [0, 1, 61, 62, 3000] {
                let resource =
                    ResourceId::new(type_id, SfId::from_counter(prefix, "5g", n)).unwrap();
                for slug in type_id.slugs() {
                    ids.push(EntitlementId::new(resource, slug).unwrap());
                }
            }
        }
        let mut grants: Vec<GrantId> = ids
            .iter()
            .flat_map(|e| [user_id(3), user_id(100)].map(|u| GrantId::new(*e, u)))
            .collect();
        let mut by_string = grants.clone();
        by_string.sort_by_key(|g| g.to_string());
        grants.sort();
        assert_eq!(grants, by_string);
        let mut by_string = ids.clone();
        by_string.sort_by_key(|e| e.to_string());
        ids.sort();
        assert_eq!(ids, by_string);
        let mut types = ResourceTypeId::ALL.to_vec();
        types.sort_by_key(|t| t.as_str());
        assert_eq!(types, ResourceTypeId::ALL.to_vec());
    }

    /// A random valid Salesforce id with `prefix`, sharing long runs with the others (few
    /// characters drawn from a small alphabet), so comparisons reach every position.
    fn random_sf_id(rng: &mut fastrand::Rng, prefix: &str) -> SfId {
        const CHARS: &[u8] = b"09AZaz";
        let mut id = prefix.to_owned();
        let varying = rng.usize(0..=12);
        for i in 0..12 {
            id.push(if i < 12 - varying {
                '0'
            } else {
                CHARS[rng.usize(..CHARS.len())] as char
            });
        }
        SfId::parse(&id).unwrap()
    }

    #[test]
    fn id_order_equals_string_order_on_random_ids() {
        let mut rng = fastrand::Rng::with_seed(7);
        let resource = |rng: &mut fastrand::Rng| {
            let type_id = ResourceTypeId::ALL[rng.usize(..ResourceTypeId::ALL.len())];
            let prefix = type_id
                .key_prefixes()
                .map_or("0H4", |p| p[rng.usize(..p.len())]);
            ResourceId::new(type_id, random_sf_id(rng, prefix)).unwrap()
        };
        let mut grants = Vec::new();
        while grants.len() < 3000 {
            let r = resource(&mut rng);
            let slugs = r.type_id().slugs();
            if slugs.is_empty() {
                continue;
            }
            // The slug as a fresh string too: equal slugs need not be the same pointer.
            let slug = slugs[rng.usize(..slugs.len())];
            let e = EntitlementId::parse(&format!("{r}:{slug}")).unwrap();
            let e = if rng.bool() {
                e
            } else {
                EntitlementId::new(r, slug).unwrap()
            };
            grants.push(GrantId::new(e, resource(&mut rng)));
            // Neighbours that differ late: same entitlement, another principal.
            grants.push(GrantId::new(e, resource(&mut rng)));
        }
        for pair in grants.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let strings = (a.to_string(), b.to_string());
            assert_eq!(a.cmp(&b), strings.0.cmp(&strings.1), "{a} vs {b}");
            let (ea, eb) = (a.entitlement_id(), b.entitlement_id());
            assert_eq!(ea.cmp(&eb), ea.to_string().cmp(&eb.to_string()));
            let (pa, pb) = (a.principal_id(), b.principal_id());
            assert_eq!(pa.cmp(&pb), pa.to_string().cmp(&pb.to_string()));
        }
        let mut by_string = grants.clone();
        by_string.sort_by_cached_key(|g| g.to_string());
        grants.sort();
        assert_eq!(grants, by_string);
    }

    #[test]
    fn ids_serialize_as_strings_and_deserialize_strictly() {
        let id = ResourceId::parse(USER).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{USER}\""));
        assert_eq!(serde_json::from_str::<ResourceId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ResourceId>("\"user:005' OR '1'='1\"").is_err());
        assert_eq!(
            serde_json::to_string(&ResourceTypeId::PermissionSetGroup).unwrap(),
            "\"permission_set_group\""
        );
    }
}
