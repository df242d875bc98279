//! `sf-access check`: the preflight an admin runs before the first sync.
//!
//! One check per line, each `ok`, `warning`, `problem` or `skipped`, with the fix for every
//! problem: instance URL, login, edition, the integration user's effective permissions,
//! API budget, and the least-privilege profile mapping when one is configured. The exit code
//! follows the most fundamental problem: auth 3, then permission or edition 4, then limit 5,
//! then config 2, then other 1. This module decides what is needed and words the result; the reads are
//! `salesforce::objects`, so it builds no SOQL and sends nothing itself.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::CheckArgs;
use crate::exit::{Exit, Failure};
use crate::salesforce::domain::{HostForm, origin_string};
use crate::salesforce::error::{ErrorCategory, LimitError, SalesforceError};
use crate::salesforce::objects::organization::EditionApi;
use crate::salesforce::objects::{
    Organization, ProfileLicense, SourceKind, SystemPermission, UserLicense, UserPermissions,
};
use crate::salesforce::{ApiUsage, Client, UsageSnapshot};
use crate::settings::{CheckSettings, LicenseProfileMapping, ProfileRef};

/// What to check beyond the basics.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Provisioning permissions.
    pub provisioning: bool,
    /// The connected-app permission.
    pub sync_connected_apps: bool,
    /// The least-privilege mapping.
    pub mapping: Option<LicenseProfileMapping>,
    /// The usage share above which the budget check warns (0.0..=1.0).
    pub warn_share: f64,
    /// Where the instance URL came from, for the report.
    pub instance_source: String,
}

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worth a look; does not fail the check.
    Warning,
    /// Something needed is missing; fails the check.
    Problem,
    /// Not run because an earlier check failed.
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Problem => "problem",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckItem {
    /// Stable identifier (`view-setup`, `license-mapping:AUL`).
    pub id: String,
    /// What was checked.
    pub title: String,
    /// The result.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix a problem or warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The exit code a problem maps to.
    #[serde(skip)]
    pub exit: Option<Exit>,
}

impl CheckItem {
    fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> CheckItem {
        CheckItem {
            id: id.into(),
            title: title.into(),
            status,
            detail: detail.into(),
            fix: None,
            exit: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> CheckItem {
        self.fix = Some(fix.into());
        self
    }

    fn problem(
        id: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
        exit: Exit,
    ) -> CheckItem {
        let mut item = CheckItem::new(id, title, Status::Problem, detail);
        item.exit = Some(exit);
        item
    }

    /// A problem from a Salesforce error: its text, its hint, its exit code.
    fn from_error(
        id: impl Into<String>,
        title: impl Into<String>,
        error: &SalesforceError,
    ) -> CheckItem {
        let mut item = CheckItem::problem(
            id,
            title,
            error.to_string(),
            Exit::of_category(error.category()),
        );
        item.fix = error.hint();
        item
    }
}

/// The whole checklist.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The API origin the checks ran against (from the token response when logged in).
    pub instance_url: Option<String>,
    /// The checks, in order.
    pub checks: Vec<CheckItem>,
    /// API calls this check made and the org's usage.
    pub api: UsageSnapshot,
}

impl CheckReport {
    /// The exit code: 0 when no check has a problem, else the most fundamental problem's.
    pub fn exit(&self) -> Exit {
        let problems: Vec<Exit> = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Problem)
            .map(|c| c.exit.unwrap_or(Exit::Failure))
            .collect();
        for exit in [
            Exit::Auth,
            Exit::Permission,
            Exit::Limit,
            Exit::Usage,
            Exit::Failure,
        ] {
            if problems.contains(&exit) {
                return exit;
            }
        }
        Exit::Ok
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The checklist for a person: one line per check, a `fix:` line under problems and
    /// warnings, and a summary line.
    pub fn to_text(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.title.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        if let Some(url) = &self.instance_url {
            let _ = writeln!(out, "sf-access check: {url}");
        }
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{:<8} {:<width$}  {}",
                check.status.as_str(),
                check.title,
                check.detail,
                width = width
            );
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "{:<8} {:<width$}  fix: {fix}", "", "", width = width);
            }
        }
        let problems = self.count(Status::Problem);
        let warnings = self.count(Status::Warning);
        let exit = self.exit();
        if problems == 0 {
            let _ = writeln!(out, "all needed checks passed ({warnings} warning(s))");
        } else {
            let _ = writeln!(
                out,
                "{problems} problem(s), {warnings} warning(s): exit code {}",
                exit.code()
            );
        }
        out
    }

    /// The checklist as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.exit() == Exit::Ok,
            "exit_code": self.exit().code(),
            "instance_url": self.instance_url,
            "checks": self.checks,
            "api": {
                "calls_made": self.api.calls_made,
                "used": self.api.org_usage.map(|u| u.used),
                "max": self.api.org_usage.map(|u| u.max),
                "remaining": self.api.remaining_daily(),
                "budget": self.api.budget,
            },
        })
    }
}

/// A permission the integration user needs.
struct Requirement {
    id: &'static str,
    title: &'static str,
    /// Any of these grants it (facts 6: "Assign Permission Sets (or Manage Users)").
    any_of: &'static [SystemPermission],
    why: &'static str,
    needed: Needed,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Needed {
    Always,
    ConnectedApps,
    Provisioning,
}

/// What each mode needs (issue 3; facts section 6 for the reasons).
const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        id: "api-enabled",
        title: "API Enabled",
        any_of: &[SystemPermission::API_ENABLED],
        why: "every API call",
        needed: Needed::Always,
    },
    Requirement {
        id: "view-setup",
        title: "View Setup and Configuration",
        any_of: &[SystemPermission::VIEW_SETUP],
        why: "reading permission sets, permission set groups, licenses and /limits",
        needed: Needed::Always,
    },
    Requirement {
        id: "manage-users",
        title: "Manage Users",
        any_of: &[SystemPermission::MANAGE_USERS],
        why: "reading user logins (frozen and locked users) and public group membership",
        needed: Needed::Always,
    },
    Requirement {
        id: "customize-application",
        title: "Customize Application",
        any_of: &[SystemPermission::CUSTOMIZE_APPLICATION],
        why: "reading every user's connected-app OAuth tokens (--sync-connected-apps)",
        needed: Needed::ConnectedApps,
    },
    Requirement {
        id: "assign-permission-sets",
        title: "Assign Permission Sets",
        any_of: &[
            SystemPermission::ASSIGN_PERMISSION_SETS,
            SystemPermission::MANAGE_USERS,
        ],
        why: "granting and revoking permission sets, permission set groups and permission set licenses",
        needed: Needed::Provisioning,
    },
    Requirement {
        id: "manage-roles",
        title: "Manage Roles",
        any_of: &[SystemPermission::MANAGE_ROLES],
        why: "assigning and clearing roles",
        needed: Needed::Provisioning,
    },
    Requirement {
        id: "manage-public-groups",
        title: "Manage Public Groups",
        // Salesforce has no separate permission: group membership needs Manage Users.
        any_of: &[SystemPermission::MANAGE_USERS],
        why: "adding and removing public group and queue members (Salesforce grants this with Manage Users)",
        needed: Needed::Provisioning,
    },
    Requirement {
        id: "manage-internal-users",
        title: "Manage Internal Users",
        any_of: &[
            SystemPermission::MANAGE_INTERNAL_USERS,
            SystemPermission::MANAGE_USERS,
        ],
        why: "creating accounts, changing profiles, deactivating and freezing users",
        needed: Needed::Provisioning,
    },
];

fn is_needed(requirement: &Requirement, options: &CheckOptions) -> bool {
    match requirement.needed {
        Needed::Always => true,
        Needed::ConnectedApps => options.sync_connected_apps,
        Needed::Provisioning => options.provisioning,
    }
}

/// Runs every check against the org.
pub async fn run_checks(client: &Client, options: &CheckOptions) -> CheckReport {
    let mut checks = Vec::new();
    let instance = client.instance();
    let mut instance_item = CheckItem::new(
        "instance-url",
        "instance URL",
        Status::Ok,
        format!(
            "{} -> {instance} [{}]",
            instance.input, options.instance_source
        ),
    );
    if instance.form == HostForm::LegacyInstance {
        instance_item.status = Status::Warning;
        instance_item.fix = Some(
            "legacy instance hosts stop working when the org moves: use the org's My Domain \
             (Setup > My Domain) as --instance-url"
                .into(),
        );
    }
    checks.push(instance_item);

    let identity = match client.authenticate().await {
        Ok(identity) => identity,
        Err(error) => {
            checks.push(CheckItem::from_error(
                "authentication",
                "authentication",
                &error,
            ));
            skip_rest(&mut checks, options, "needs a working login");
            return CheckReport {
                instance_url: None,
                checks,
                api: client.usage(),
            };
        }
    };
    let instance_url = client.instance_origin().await.ok();

    // The first REST call: the user, its profile and its assignments.
    let permissions = UserPermissions::fetch(client, &identity.user_id).await;
    let login = |username: &str| {
        let mut detail = format!(
            "{} login as {username} ({}), org {}",
            client.flow(),
            identity.user_id,
            identity.org_id
        );
        if let (Some(configured), Some(actual)) =
            (instance.api_url.as_ref().map(origin_string), &instance_url)
            && &configured != actual
        {
            let _ = write!(
                detail,
                "; Salesforce's instance URL {actual} is used from here on"
            );
        }
        CheckItem::new("authentication", "authentication", Status::Ok, detail)
    };
    let permissions = match permissions {
        Ok(Some(permissions)) => {
            checks.push(login(&permissions.user.username));
            permissions
        }
        Ok(None) => {
            checks.push(login("(user record not visible)"));
            checks.push(
                CheckItem::problem(
                    "user",
                    "integration user",
                    format!(
                        "the user {} cannot read its own User record",
                        identity.user_id
                    ),
                    Exit::Permission,
                )
                .fix("give the integration user \"API Enabled\" and a standard user license"),
            );
            skip_rest(&mut checks, options, "needs the user's own record");
            return CheckReport {
                instance_url,
                checks,
                api: client.usage(),
            };
        }
        Err(error) => {
            checks.push(login(&identity.user_id.to_string()));
            match error.code() {
                Some("API_DISABLED_FOR_ORG") => {
                    checks.push(CheckItem::from_error("edition", "edition", &error));
                }
                Some("API_CURRENTLY_DISABLED" | "FUNCTIONALITY_NOT_ENABLED") => {
                    checks.push(
                        CheckItem::from_error("api-enabled", "API Enabled", &error).fix(format!(
                            "add \"API Enabled\" to the profile of {} or to a permission set assigned to it",
                            identity.user_id
                        )),
                    );
                }
                _ if error.category() == ErrorCategory::Limit => {
                    checks.push(budget_item(None, client.usage(), options, Some(&error)));
                }
                _ => checks.push(CheckItem::from_error("permissions", "permissions", &error)),
            }
            skip_rest(&mut checks, options, "needs API access");
            return CheckReport {
                instance_url,
                checks,
                api: client.usage(),
            };
        }
    };

    checks.push(match Organization::fetch(client).await {
        Ok(Some(org)) => edition_item(&org),
        Ok(None) => CheckItem::new(
            "edition",
            "edition",
            Status::Warning,
            "the Organization record is not visible",
        ),
        Err(error) => CheckItem::from_error("edition", "edition", &error),
    });

    for requirement in REQUIREMENTS.iter().filter(|r| is_needed(r, options)) {
        checks.push(permission_item(requirement, &permissions));
    }

    let limits_usage = match client.limits().await {
        Ok(limits) => Ok(limits.daily_api_requests()),
        Err(error) => Err(error),
    };
    let usage = client.usage();
    checks.push(match &limits_usage {
        Ok(Some(daily)) => budget_item(Some(*daily), usage, options, None),
        Ok(None) => budget_item(usage.org_usage, usage, options, None),
        Err(error) if error.category() == ErrorCategory::Limit => {
            budget_item(usage.org_usage, usage, options, Some(error))
        }
        Err(_) => budget_item(usage.org_usage, usage, options, None),
    });

    if let Some(mapping) = &options.mapping {
        checks.extend(mapping_items(client, mapping).await);
    } else if options.provisioning {
        checks.push(
            CheckItem::new(
                "license-mapping",
                "least-privilege mapping",
                Status::Warning,
                "none configured: revoking a profile will be refused, since the user would be \
                 left without one",
            )
            .fix(
                "give --license-to-least-privileged-profile-mapping 'License=Profile,...' for \
                 every license in use (e.g. 'Salesforce=Minimum Access - Salesforce')",
            ),
        );
    }

    CheckReport {
        instance_url,
        checks,
        api: client.usage(),
    }
}

/// Marks the checks that could not run.
fn skip_rest(checks: &mut Vec<CheckItem>, options: &CheckOptions, why: &str) {
    let done: Vec<String> = checks.iter().map(|c| c.id.clone()).collect();
    let mut skip = |id: &str, title: &str| {
        if !done.iter().any(|d| d == id) {
            checks.push(CheckItem::new(id, title, Status::Skipped, why));
        }
    };
    skip("edition", "edition");
    for requirement in REQUIREMENTS.iter().filter(|r| is_needed(r, options)) {
        skip(requirement.id, requirement.title);
    }
    skip("api-budget", "API budget");
    if let Some(mapping) = &options.mapping {
        for license in mapping.0.keys() {
            skip(
                &format!("license-mapping:{}", license.0),
                &format!("least privilege: {}", license.0),
            );
        }
    }
}

fn edition_item(org: &Organization) -> CheckItem {
    let edition = org
        .organization_type
        .as_deref()
        .unwrap_or("unknown edition");
    let kind = if org.is_sandbox {
        "sandbox"
    } else {
        "production"
    };
    let detail = format!("{edition} ({kind}, {})", org.name);
    match org.edition_api() {
        EditionApi::Included => CheckItem::new("edition", "edition", Status::Ok, detail),
        EditionApi::AddOn => CheckItem::new(
            "edition",
            "edition",
            Status::Ok,
            format!("{detail}; the API works, so the API add-on is present"),
        ),
        EditionApi::None => CheckItem::problem(
            "edition",
            "edition",
            format!("{detail}: this edition has no API access"),
            Exit::Permission,
        )
        .fix(
            "Group, Essentials, Personal and Contact Manager editions have no API access: upgrade to \
             Enterprise, Unlimited or Performance Edition (or Professional with the API add-on)",
        ),
        EditionApi::Unknown => CheckItem::new(
            "edition",
            "edition",
            Status::Warning,
            format!("{detail}: sf-access does not know whether this edition includes the API"),
        ),
    }
}

fn permission_item(requirement: &Requirement, permissions: &UserPermissions) -> CheckItem {
    let sources = permissions.sources_of(requirement.any_of);
    if !sources.is_empty() {
        let names: Vec<String> = sources
            .iter()
            .take(3)
            .map(|s| {
                let kind = match s.kind {
                    SourceKind::Profile => "profile",
                    SourceKind::PermissionSet => "permission set",
                    SourceKind::PermissionSetGroup => "permission set group",
                };
                format!("{kind} \"{}\"", s.name)
            })
            .collect();
        let more = sources.len().saturating_sub(3);
        let mut detail = format!("granted by {}", names.join(", "));
        if more > 0 {
            let _ = write!(detail, " and {more} more");
        }
        return CheckItem::new(requirement.id, requirement.title, Status::Ok, detail);
    }
    let user = &permissions.user.username;
    let profile = permissions
        .user
        .profile
        .as_ref()
        .and_then(|p| p.name.clone())
        .unwrap_or_else(|| "(unknown)".into());
    let fix = format!(
        "add \"{}\" to a permission set assigned to {user} (or to its profile \"{profile}\"): it is needed for {}",
        requirement.title, requirement.why
    );
    match &permissions.assignments_error {
        Some(error) if requirement.any_of != [SystemPermission::VIEW_SETUP] => CheckItem::new(
            requirement.id,
            requirement.title,
            Status::Warning,
            format!(
                "not granted by the profile \"{profile}\"; the permission sets could not be read ({})",
                error.code().unwrap_or("error")
            ),
        )
        .fix(fix),
        _ => CheckItem::problem(
            requirement.id,
            requirement.title,
            format!("missing: neither the profile \"{profile}\" nor an assigned permission set grants it"),
            Exit::Permission,
        )
        .fix(fix),
    }
}

fn budget_item(
    daily: Option<ApiUsage>,
    usage: UsageSnapshot,
    options: &CheckOptions,
    limit_error: Option<&SalesforceError>,
) -> CheckItem {
    let mut budget_note = format!("; this check made {} call(s)", usage.calls_made);
    if let Some(budget) = usage.budget {
        let _ = write!(budget_note, " of its --api-budget of {budget}");
    }
    if let Some(error) = limit_error {
        return CheckItem::from_error("api-budget", "API budget", error);
    }
    match daily {
        None => CheckItem::new(
            "api-budget",
            "API budget",
            Status::Warning,
            format!("Salesforce reported no API usage{budget_note}"),
        ),
        Some(daily) if daily.remaining() == 0 => {
            let error = SalesforceError::Limit(LimitError::Daily {
                message: "no daily API requests left".into(),
                usage: Some(daily),
            });
            let mut item = CheckItem::from_error("api-budget", "API budget", &error);
            item.detail = format!("{} of {} daily API requests used, none left{budget_note}", daily.used, daily.max);
            item
        }
        Some(daily) if daily.share() >= options.warn_share => CheckItem::new(
            "api-budget",
            "API budget",
            Status::Warning,
            format!(
                "{} of {} daily API requests used ({:.0}%), {} left{budget_note}",
                daily.used,
                daily.max,
                daily.share() * 100.0,
                daily.remaining()
            ),
        )
        .fix(format!(
            "usage is above the warning threshold of {:.0}%: find the heavy integrations in Setup > \
             Connected Apps OAuth Usage, or cap this run with --api-budget",
            options.warn_share * 100.0
        )),
        Some(daily) => CheckItem::new(
            "api-budget",
            "API budget",
            Status::Ok,
            format!(
                "{} of {} daily API requests used, {} left{budget_note}",
                daily.used,
                daily.max,
                daily.remaining()
            ),
        ),
    }
}

async fn mapping_items(client: &Client, mapping: &LicenseProfileMapping) -> Vec<CheckItem> {
    let licenses = UserLicense::fetch_all(client).await;
    let profiles = ProfileLicense::fetch_all(client).await;
    let (licenses, profiles) = match (licenses, profiles) {
        (Ok(l), Ok(p)) => (l, p),
        (Err(error), _) | (_, Err(error)) => {
            return vec![CheckItem::from_error(
                "license-mapping",
                "least-privilege mapping",
                &error,
            )];
        }
    };
    // Licenses whose users could not lose a profile: seats in use, but no mapping entry.
    let gaps: Vec<CheckItem> = licenses
        .iter()
        .filter(|l| l.used_licenses.unwrap_or(0) > 0)
        .filter(|l| {
            !mapping
                .0
                .iter()
                .any(|(license_ref, _)| l.is_named(&license_ref.0))
        })
        .map(|l| {
            CheckItem::new(
                format!("license-mapping-gap:{}", l.name),
                format!("least privilege: {}", l.name),
                Status::Warning,
                format!(
                    "{} user(s) hold license {} but the mapping has no entry for it: revoking \
                     their profile will be refused",
                    l.used_licenses.unwrap_or(0),
                    l.name
                ),
            )
            .fix(format!(
                "add '{}=<a minimum-access profile of that license>' to \
                 --license-to-least-privileged-profile-mapping",
                l.license_definition_key.as_deref().unwrap_or(&l.name)
            ))
        })
        .collect();
    let mut items: Vec<CheckItem> = mapping
        .0
        .iter()
        .map(|(license_ref, profile_ref)| {
            let id = format!("license-mapping:{}", license_ref.0);
            let title = format!("least privilege: {}", license_ref.0);
            let known = || {
                licenses
                    .iter()
                    .map(|l| match &l.license_definition_key {
                        Some(key) => format!("{} ({key})", l.name),
                        None => l.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let matching: Vec<&UserLicense> = licenses.iter().filter(|l| l.is_named(&license_ref.0)).collect();
            let license = match matching.as_slice() {
                [one] => *one,
                [] => {
                    return CheckItem::problem(
                        id,
                        title,
                        format!("no user license is named {:?}", license_ref.0),
                        Exit::Usage,
                    )
                    .fix(format!("use a license name or LicenseDefinitionKey of this org: {}", known()));
                }
                _ => {
                    return CheckItem::problem(
                        id,
                        title,
                        format!("{:?} names more than one user license", license_ref.0),
                        Exit::Usage,
                    )
                    .fix(format!("use the LicenseDefinitionKey instead: {}", known()));
                }
            };
            let found: Vec<&ProfileLicense> = profiles
                .iter()
                .filter(|p| match profile_ref {
                    ProfileRef::Id(id) => p.id == *id,
                    ProfileRef::Name(name) => p.name.eq_ignore_ascii_case(name),
                })
                .collect();
            let same_license: Vec<&str> = profiles
                .iter()
                .filter(|p| p.user_license_id == Some(license.id))
                .map(|p| p.name.as_str())
                .take(5)
                .collect();
            let suggestion = if same_license.is_empty() {
                format!("no profile of license {} exists yet", license.name)
            } else {
                format!("profiles of license {}: {}", license.name, same_license.join(", "))
            };
            match found.as_slice() {
                [] => CheckItem::problem(id, title, format!("the profile {profile_ref} does not exist"), Exit::Usage)
                    .fix(format!(
                        "create a minimum-access profile for license {} or map it to an existing one ({suggestion})",
                        license.name
                    )),
                [profile] if profile.user_license_id != Some(license.id) => {
                    let actual = profile
                        .user_license_id
                        .and_then(|id| licenses.iter().find(|l| l.id == id))
                        .map(|l| l.name.clone())
                        .unwrap_or_else(|| "another license".into());
                    CheckItem::problem(
                        id,
                        title,
                        format!(
                            "the profile \"{}\" belongs to license {actual}, not {}",
                            profile.name, license.name
                        ),
                        Exit::Usage,
                    )
                    .fix(format!(
                        "map {} to a profile of the same license ({suggestion})",
                        license_ref.0
                    ))
                }
                [profile] => CheckItem::new(
                    id,
                    title,
                    Status::Ok,
                    format!("{} -> profile \"{}\" ({})", license.name, profile.name, profile.id),
                ),
                _ => CheckItem::problem(
                    id,
                    title,
                    format!("more than one profile is named {profile_ref}"),
                    Exit::Usage,
                )
                .fix("map the license to the profile's ID instead of its name"),
            }
        })
        .collect();
    items.extend(gaps);
    items
}

/// `sf-access check`: settings -> client -> checks -> output. Returns the exit code.
pub async fn run(args: &CheckArgs) -> Result<Exit, Failure> {
    let settings = CheckSettings::resolve(args, &crate::settings::process_env)?;
    let options = CheckOptions {
        provisioning: settings.provisioning,
        sync_connected_apps: settings.sync_connected_apps,
        mapping: settings.mapping.clone(),
        warn_share: settings.connection.client.usage.warn_share,
        instance_source: settings.connection.instance_source.clone(),
    };
    let client = Client::new(settings.connection.client)?;
    let report = run_checks(&client, &options).await;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
        json.push('\n');
        json
    } else {
        report.to_text()
    };
    use std::io::Write as _;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(report.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: Status, exit: Option<Exit>) -> CheckItem {
        CheckItem {
            id: "x".into(),
            title: "x".into(),
            status,
            detail: String::new(),
            fix: None,
            exit,
        }
    }

    #[test]
    fn exit_code_follows_the_most_fundamental_problem() {
        let report = |checks| CheckReport {
            instance_url: None,
            checks,
            api: UsageSnapshot {
                calls_made: 0,
                org_usage: None,
                budget: None,
            },
        };
        assert_eq!(
            report(vec![item(Status::Ok, None), item(Status::Warning, None)]).exit(),
            Exit::Ok
        );
        assert_eq!(
            report(vec![
                item(Status::Problem, Some(Exit::Usage)),
                item(Status::Problem, Some(Exit::Permission))
            ])
            .exit(),
            Exit::Permission
        );
        assert_eq!(
            report(vec![
                item(Status::Problem, Some(Exit::Limit)),
                item(Status::Problem, Some(Exit::Auth))
            ])
            .exit(),
            Exit::Auth
        );
        assert_eq!(
            report(vec![item(Status::Problem, None)]).exit(),
            Exit::Failure
        );
    }

    #[test]
    fn text_output_has_one_line_per_check_and_a_fix_under_problems() {
        let report = CheckReport {
            instance_url: Some("https://acme.my.salesforce.com".into()),
            checks: vec![
                CheckItem::new(
                    "api-enabled",
                    "API Enabled",
                    Status::Ok,
                    "granted by profile \"P\"",
                ),
                CheckItem::problem(
                    "view-setup",
                    "View Setup and Configuration",
                    "missing",
                    Exit::Permission,
                )
                .fix("add it"),
            ],
            api: UsageSnapshot {
                calls_made: 3,
                org_usage: Some(ApiUsage { used: 3, max: 100 }),
                budget: None,
            },
        };
        let text = report.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "sf-access check: https://acme.my.salesforce.com");
        assert!(lines[1].starts_with("ok       API Enabled "), "{text}");
        assert!(
            lines[2].starts_with("problem  View Setup and Configuration  missing"),
            "{text}"
        );
        assert!(lines[3].trim_start().starts_with("fix: add it"), "{text}");
        assert!(lines[4].contains("exit code 4"), "{text}");
        let json = report.to_json();
        assert_eq!(json["exit_code"], 4);
        assert_eq!(json["checks"][1]["status"], "problem");
        assert_eq!(json["api"]["remaining"], 97);
    }

    #[test]
    fn budget_warns_above_the_share_and_fails_when_exhausted() {
        let options = CheckOptions {
            warn_share: 0.8,
            ..CheckOptions::default()
        };
        let usage = UsageSnapshot {
            calls_made: 2,
            org_usage: None,
            budget: Some(10),
        };
        let ok = budget_item(Some(ApiUsage { used: 10, max: 100 }), usage, &options, None);
        assert_eq!(ok.status, Status::Ok);
        assert!(ok.detail.contains("--api-budget of 10"), "{}", ok.detail);
        let warn = budget_item(Some(ApiUsage { used: 90, max: 100 }), usage, &options, None);
        assert_eq!(warn.status, Status::Warning);
        let gone = budget_item(
            Some(ApiUsage {
                used: 100,
                max: 100,
            }),
            usage,
            &options,
            None,
        );
        assert_eq!(
            (gone.status, gone.exit),
            (Status::Problem, Some(Exit::Limit))
        );
    }
}
