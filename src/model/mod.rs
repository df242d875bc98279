//! The normalized access model: resource types, resources, entitlements, grants and their
//! ids, with the stable JSON that exports and the HTTP service show.
//!
//! Owns the vocabulary (baton's: resource types with traits, entitlements with a purpose,
//! grants with sources) and the strict parsing of ids that users type. Must not do I/O, know
//! SQL or HTTP, or know Salesforce's wire format: the sync maps Salesforce records into these
//! types, the store persists them.

pub mod ids;
pub mod records;
pub mod types;

pub use ids::{EntitlementId, GrantId, IdError, ResourceId, ResourceTypeId};
pub use records::{
    ConnectedAppDetails, Entitlement, Grant, GrantDetails, GrantSource, GrantSources, GroupDetails,
    GroupType, LicenseDetails, LicenseKind, PermissionSetDetails, PermissionSetGroupDetails,
    ProfileDetails, Purpose, RecordError, Resource, ResourceDetails, RoleDetails, SourceKind,
    UserDetails, UserStatus, UserStatusDetail,
};
pub use types::{RESOURCE_TYPES, ResourceType, ResourceTypeDefinition, SlugDefinition, Trait};
