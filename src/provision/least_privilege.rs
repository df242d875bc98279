//! The least-privilege profile of a license: where a user goes when their profile is revoked.
//!
//! Salesforce users always have a profile, so "revoking" one means moving the user to the
//! profile with the least access their license allows. `--license-to-least-privileged-profile-
//! mapping` (baton's flag and `License=Profile,...` format) names it per license, by license
//! name, label or `LicenseDefinitionKey`, and profile name or ID. Before any write, the mapping
//! must name the user's current license, the mapped profile must exist (and be unique), and it
//! must belong to the same license; otherwise the revoke stops with an error that names the
//! license and the fix (baton panics on a missing profile; we do not).

use super::ProvisionError;
use super::error::LeastPrivilegeError;
use super::session::Session;
use crate::salesforce::SfId;
use crate::salesforce::objects::provisioning::{ProfileRecord, UserLicenseRecord};
use crate::settings::{LicenseProfileMapping, ProfileRef};

/// Reads a user license; a license that cannot be read is an unexpected answer, since the
/// ID came from Salesforce.
pub(crate) async fn read_license(
    session: &Session<'_>,
    id: SfId,
) -> Result<UserLicenseRecord, ProvisionError> {
    session
        .query_first::<UserLicenseRecord>(&UserLicenseRecord::by_id(id))
        .await
        .map_err(|e| ProvisionError::salesforce(format!("reading user license {id}"), e))?
        .ok_or_else(|| {
            ProvisionError::Unexpected(format!(
                "user license {id} is referenced by a profile but cannot be read (it needs View \
                 Setup and Configuration)"
            ))
        })
}

/// The mapping entries that name `license`, deduplicated.
pub(crate) fn entries_for<'m>(
    mapping: &'m LicenseProfileMapping,
    license: &UserLicenseRecord,
) -> Vec<&'m ProfileRef> {
    let mut found: Vec<&ProfileRef> = Vec::new();
    for (key, profile) in &mapping.0 {
        if license.is_named(&key.0) && !found.contains(&profile) {
            found.push(profile);
        }
    }
    found
}

/// Chooses the least-privilege profile for a user of `license_id` whose profile
/// `revoked_profile` is being revoked. Reads only; every failure is a `LeastPrivilegeError`
/// raised before any write.
pub(crate) async fn resolve(
    session: &Session<'_>,
    license_id: SfId,
    revoked_profile: &ProfileRecord,
) -> Result<ProfileRecord, ProvisionError> {
    let license = read_license(session, license_id).await?;
    let described = license.describe();
    let profile_ref = {
        let Some(mapping) = session.mapping() else {
            return Err(LeastPrivilegeError::NoMapping {
                license: described,
                profile: revoked_profile.name.clone(),
                configured: Vec::new(),
            }
            .into());
        };
        match entries_for(mapping, &license).as_slice() {
            [] => {
                return Err(LeastPrivilegeError::NoMapping {
                    license: described,
                    profile: revoked_profile.name.clone(),
                    configured: mapping.0.keys().map(|k| k.0.clone()).collect(),
                }
                .into());
            }
            [one] => (*one).clone(),
            many => {
                return Err(LeastPrivilegeError::AmbiguousMapping {
                    license: described,
                    profiles: many
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
        }
    };
    let soql = match &profile_ref {
        ProfileRef::Id(id) => ProfileRecord::by_id(*id),
        ProfileRef::Name(name) => ProfileRecord::by_name(name),
    };
    let profiles: Vec<ProfileRecord> = session.query(&soql).await.map_err(|e| {
        ProvisionError::salesforce(
            format!("reading the least-privilege profile {profile_ref}"),
            e,
        )
    })?;
    let profile = match profiles.as_slice() {
        [] => {
            return Err(LeastPrivilegeError::ProfileMissing {
                license: described,
                profile: profile_ref.to_string(),
            }
            .into());
        }
        [one] => one.clone(),
        _ => {
            return Err(LeastPrivilegeError::AmbiguousProfile {
                license: described,
                profile: profile_ref.to_string(),
            }
            .into());
        }
    };
    if profile.user_license_id != Some(license.id) {
        let actual = match profile.user_license_id {
            Some(other) => read_license(session, other).await?.describe(),
            None => "none".to_owned(),
        };
        return Err(LeastPrivilegeError::WrongLicense {
            license: described,
            profile: profile.name,
            actual,
        }
        .into());
    }
    if profile.id == revoked_profile.id {
        return Err(LeastPrivilegeError::AlreadyLeastPrivileged {
            license: described,
            profile: profile.name,
        }
        .into());
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license() -> UserLicenseRecord {
        UserLicenseRecord {
            id: SfId::parse("1005g0000000002AAA").unwrap(),
            name: "Salesforce Platform".into(),
            master_label: Some("Salesforce Platform".into()),
            license_definition_key: Some("AUL".into()),
            status: Some("Active".into()),
            total_licenses: Some(2),
            used_licenses: Some(2),
        }
    }

    #[test]
    fn mapping_entries_match_by_name_or_key_and_deduplicate() {
        let mapping = LicenseProfileMapping::parse(
            "Salesforce=Minimum Access - Salesforce,AUL=Minimum Access - Salesforce Platform,\
             salesforce platform=Minimum Access - Salesforce Platform",
        )
        .unwrap();
        let found = entries_for(&mapping, &license());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].to_string(), "Minimum Access - Salesforce Platform");
        let conflicting =
            LicenseProfileMapping::parse("AUL=Minimum Access,Salesforce Platform=Other").unwrap();
        assert_eq!(entries_for(&conflicting, &license()).len(), 2);
        let other = LicenseProfileMapping::parse("Salesforce=Minimum Access - Salesforce").unwrap();
        assert!(entries_for(&other, &license()).is_empty());
    }
}
