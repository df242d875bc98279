//! Who is calling: the user behind the bearer token and its effective system permissions.

use std::collections::BTreeSet;

use super::org::Org;
use super::schema::Gate;
use crate::salesforce::SfId;

/// The authenticated user of a REST request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user the token was issued to.
    pub user_id: SfId,
    /// Effective system permission field names (`PermissionsViewSetup`, ...).
    pub permissions: BTreeSet<&'static str>,
}

impl Caller {
    /// The caller for `user_id`, with permissions computed from the org now.
    pub fn of(org: &Org, user_id: SfId) -> Caller {
        Caller {
            user_id,
            permissions: org.effective_permissions(&user_id),
        }
    }

    /// True when the caller holds this permission.
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// True when the gate is open (empty) or the caller holds any of its permissions.
    pub fn passes(&self, gate: Gate) -> bool {
        gate.is_empty() || gate.iter().any(|p| self.permissions.contains(p))
    }
}
