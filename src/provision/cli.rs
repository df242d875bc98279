//! `sf-access grant`, `revoke` and `create-account`: argument plumbing around
//! `provision::{grant, revoke, create_account}`, and the text each prints.
//!
//! Ids are parsed by clap with the model's strict parsers, so a malformed id or an injection
//! string is refused (exit code 2, naming the flag) before settings are read or Salesforce is
//! called. The report goes to stdout: a short text, or with `--json` the report as JSON.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::Value;

use super::audit::{self, AuditLog};
use super::{
    AccountReport, AccountRequest, GrantReport, GrantRequest, PlannedCall, ProvisionError,
    Provisioner, RequestId, WriteOptions,
};
use crate::cli::ConnectionArgs;
use crate::exit::{Exit, Failure};
use crate::model::{EntitlementId, GrantId, ResourceId};
use crate::salesforce::{Client, SfId};
use crate::settings::{ProfileRef, ProvisionSettings, process_env};

/// Exit codes of the write commands, for `--help`.
pub const WRITE_AFTER_HELP: &str = "\
Writes need --provisioning (-p), or SF_ACCESS_PROVISIONING=true / BATON_PROVISIONING=true,
or provisioning = true in the --config file. --dry-run needs neither: it reads the current
state and prints the exact Salesforce calls it would make, and makes none. Every run,
dry runs and failures included, appends one JSON line to the audit log.

Exit codes:
  0  done, including no-ops (already_exists, already_revoked, unchanged)
  1  Salesforce refused or failed the change, or the audit log cannot be written
  2  invalid argument, unknown id, writes not enabled, or a least-privilege mapping that
     does not fit the user's license (nothing was changed)
  3  authentication failed
  4  the integration user lacks a permission
  5  an API limit was reached";

/// Parses an id flag with the whole cause chain in the message (clap prints only the
/// message).
pub fn id_arg<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::error::Error,
{
    s.parse::<T>().map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    })
}

fn time_arg(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e}); e.g. 2030-01-31T17:00:00Z"))
}

/// The options every write command shares.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// Allow writes to Salesforce (as baton's -p). Also SF_ACCESS_PROVISIONING,
    /// BATON_PROVISIONING or `provisioning = true` in the config file.
    #[arg(long, short = 'p')]
    pub provisioning: bool,
    /// Print the exact Salesforce calls that would be made, and make none (reads still
    /// happen, so the plan fits the org's current state).
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Your id for this request, recorded in the report and the audit log (letters, digits
    /// and -_.:/@+=, at most 128). Generated when absent.
    #[arg(long, value_name = "ID", value_parser = id_arg::<RequestId>)]
    pub request_id: Option<RequestId>,
    /// The audit log (JSON lines) [default: sf-access-audit.jsonl beside --file].
    #[arg(long, value_name = "PATH", env = "SF_ACCESS_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// The store file; the audit log goes beside it unless --audit-log says otherwise.
    #[arg(
        long,
        short = 'f',
        env = "SF_ACCESS_FILE",
        default_value = "sf-access.db",
        value_name = "PATH"
    )]
    pub file: PathBuf,
    /// Least-privilege profile per license, for profile revokes: 'License=Profile,...'
    /// (license name or LicenseDefinitionKey; profile name or ID).
    #[arg(long, value_name = "MAPPING")]
    pub license_to_least_privileged_profile_mapping: Option<String>,
    // Last: its help heading ("Connection") applies to the flags after it.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

impl WriteArgs {
    /// Settings, client, audit log and options: everything a write needs.
    pub fn setup(&self) -> Result<(Provisioner, WriteOptions), Failure> {
        let settings = ProvisionSettings::resolve(
            &self.connection,
            self.provisioning,
            self.license_to_least_privileged_profile_mapping.as_deref(),
            &process_env,
        )?;
        let path = self
            .audit_log
            .clone()
            .unwrap_or_else(|| audit::default_path(&self.file));
        let log = AuditLog::open(&path).map_err(|source| ProvisionError::Audit {
            path: path.clone(),
            change: None,
            source,
        })?;
        let client = Client::new(settings.connection.client)?;
        let provisioner = Provisioner::new(client)
            .with_provisioning(settings.provisioning)
            .with_mapping(settings.mapping)
            .with_audit_log(Arc::new(log));
        let options = WriteOptions {
            request_id: self.request_id.clone().unwrap_or_else(RequestId::generate),
            dry_run: self.dry_run,
        };
        Ok((provisioner, options))
    }
}

/// `sf-access grant`.
#[derive(Debug, Clone, Args)]
pub struct GrantArgs {
    /// The entitlement to grant, e.g. permission:0PS...:assigned, group:00G...:member,
    /// role:00E...:assigned, profile:00e...:assigned, license:0PL...:assigned.
    #[arg(long, short = 'e', value_name = "ENTITLEMENT_ID", value_parser = id_arg::<EntitlementId>)]
    pub entitlement: EntitlementId,
    /// Who gets it: user:005... (or group:00G... to nest a group in a group).
    #[arg(long, value_name = "PRINCIPAL_ID", value_parser = id_arg::<ResourceId>)]
    pub principal: ResourceId,
    /// When the grant ends (RFC 3339, e.g. 2030-01-31T17:00:00Z); permission set and
    /// permission set group assignments only (PermissionSetAssignment.ExpirationDate).
    #[arg(long, value_name = "RFC3339", value_parser = time_arg)]
    pub expires_at: Option<DateTime<Utc>>,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `sf-access revoke`.
#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// The grant to revoke: ENTITLEMENT_ID:PRINCIPAL_TYPE:PRINCIPAL_ID, as `sf-access show
    /// grants` lists it.
    #[arg(
        long,
        value_name = "GRANT_ID",
        value_parser = id_arg::<GrantId>,
        required_unless_present_all = ["entitlement", "principal"],
        conflicts_with_all = ["entitlement", "principal"]
    )]
    pub grant: Option<GrantId>,
    /// The entitlement to revoke (with --principal, instead of --grant).
    #[arg(long, short = 'e', value_name = "ENTITLEMENT_ID", value_parser = id_arg::<EntitlementId>, requires = "principal")]
    pub entitlement: Option<EntitlementId>,
    /// Whose grant to revoke (with --entitlement).
    #[arg(long, value_name = "PRINCIPAL_ID", value_parser = id_arg::<ResourceId>, requires = "entitlement")]
    pub principal: Option<ResourceId>,
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `sf-access create-account`.
#[derive(Debug, Clone, Args)]
pub struct CreateAccountArgs {
    /// Email (the username too, unless --username is given).
    #[arg(long)]
    pub email: String,
    /// First name.
    #[arg(long)]
    pub first_name: String,
    /// Last name.
    #[arg(long)]
    pub last_name: String,
    /// The profile, by name or ID (00e...).
    #[arg(long, value_name = "NAME_OR_ID")]
    pub profile: String,
    /// Username, in the form of an email address, unique across all Salesforce orgs
    /// [default: the email].
    #[arg(long)]
    pub username: Option<String>,
    /// Alias, at most 8 characters [default: first initial and the start of the last name].
    #[arg(long)]
    pub alias: Option<String>,
    /// Time zone, an IANA name such as America/New_York [default: the org's].
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Locale (LocaleSidKey) [default: en_US].
    #[arg(long)]
    pub locale: Option<String>,
    /// Language (LanguageLocaleKey) [default: en_US].
    #[arg(long)]
    pub language: Option<String>,
    /// Email encoding (EmailEncodingKey) [default: UTF-8].
    #[arg(long, value_name = "ENCODING")]
    pub email_encoding: Option<String>,
    /// SAML Federation ID (FederationIdentifier).
    #[arg(long, value_name = "ID")]
    pub federation_id: Option<String>,
    /// Contact of a portal user (003...).
    #[arg(long, value_name = "CONTACT_ID", value_parser = id_arg::<SfId>)]
    pub contact_id: Option<SfId>,
    /// Another User field, ApiName=value (repeatable); `true` and `false` are booleans,
    /// anything else text.
    #[arg(long = "field", value_name = "API_NAME=VALUE", value_parser = field_arg)]
    pub fields: Vec<(String, Value)>,
    /// If a user with the username exists but is inactive, reactivate it (nothing else about
    /// it changes). Without this flag such a user is an error.
    #[arg(long)]
    pub reactivate: bool,
    #[command(flatten)]
    pub write: WriteArgs,
}

fn field_arg(s: &str) -> Result<(String, Value), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not ApiName=value"))?;
    let value = match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        text => Value::String(text.to_owned()),
    };
    Ok((name.trim().to_owned(), value))
}

fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Pretty JSON with a final newline.
pub fn to_json_text<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    text.push('\n');
    Ok(text)
}

fn calls_text(out: &mut String, dry_run: bool, calls: &[PlannedCall]) {
    let label = if dry_run { "would call" } else { "called" };
    for call in calls {
        out.push_str(&format!("  {label}: {call}\n"));
    }
}

fn footer(out: &mut String, request_id: &RequestId, api_calls: u64, dry_run: bool) {
    out.push_str(&format!(
        "  request id: {request_id}; {api_calls} API call(s){}\n",
        if dry_run {
            "; dry run: nothing was changed"
        } else {
            ""
        }
    ));
}

/// The text of a grant or revoke report.
pub fn grant_text(report: &GrantReport) -> String {
    let mut out = String::new();
    if report.dry_run {
        out.push_str("dry run, would be ");
    }
    out.push_str(&format!("{}: {}\n", report.outcome, report.grant_id));
    if let Some(grant) = &report.grant {
        if let Some(expires) = grant.expires_at {
            out.push_str(&format!("  expires: {}\n", expires.to_rfc3339()));
        }
        if let Some(record) = grant.details.record_id {
            out.push_str(&format!("  record: {record}\n"));
        }
    }
    if let Some(replacement) = &report.replacement {
        out.push_str(&format!("  moved to: {}\n", replacement.entitlement_id));
    }
    calls_text(&mut out, report.dry_run, &report.calls);
    footer(
        &mut out,
        &report.request_id,
        report.api_calls,
        report.dry_run,
    );
    out
}

/// The text of an account report.
pub fn account_text(report: &AccountReport) -> String {
    let mut out = String::new();
    if report.dry_run {
        out.push_str("dry run, would be ");
    }
    out.push_str(&format!("{}: {}", report.outcome, report.username));
    if let Some(user) = &report.user {
        out.push_str(&format!(" ({})", user.id));
    }
    out.push('\n');
    calls_text(&mut out, report.dry_run, &report.calls);
    footer(
        &mut out,
        &report.request_id,
        report.api_calls,
        report.dry_run,
    );
    out
}

/// `sf-access grant`.
pub async fn run_grant(args: GrantArgs) -> Result<Exit, Failure> {
    let (provisioner, options) = args.write.setup()?;
    let request = GrantRequest {
        entitlement: args.entitlement,
        principal: args.principal,
        expires_at: args.expires_at,
    };
    let report = super::grant(&provisioner, &request, &options).await?;
    print(&if args.write.json {
        to_json_text(&report)?
    } else {
        grant_text(&report)
    })?;
    Ok(Exit::Ok)
}

/// `sf-access revoke`.
pub async fn run_revoke(args: RevokeArgs) -> Result<Exit, Failure> {
    let grant_id = match (args.grant, args.entitlement, args.principal) {
        (Some(grant), _, _) => grant,
        (None, Some(entitlement), Some(principal)) => GrantId::new(entitlement, principal),
        // clap requires --grant or both of the others.
        _ => {
            return Err(ProvisionError::argument(
                "grant",
                "give --grant GRANT_ID, or --entitlement and --principal",
            )
            .into());
        }
    };
    let (provisioner, options) = args.write.setup()?;
    let report = super::revoke(&provisioner, grant_id, &options).await?;
    print(&if args.write.json {
        to_json_text(&report)?
    } else {
        grant_text(&report)
    })?;
    Ok(Exit::Ok)
}

/// `sf-access create-account`.
pub async fn run_create_account(args: CreateAccountArgs) -> Result<Exit, Failure> {
    let request = AccountRequest {
        email: args.email,
        first_name: args.first_name,
        last_name: args.last_name,
        profile: ProfileRef::parse(&args.profile),
        username: args.username,
        alias: args.alias,
        timezone: args.timezone,
        locale: args.locale,
        language: args.language,
        email_encoding: args.email_encoding,
        federation_id: args.federation_id,
        contact_id: args.contact_id,
        fields: args.fields,
        reactivate: args.reactivate,
    };
    let (provisioner, options) = args.write.setup()?;
    let report = super::create_account(&provisioner, &request, &options).await?;
    print(&if args.write.json {
        to_json_text(&report)?
    } else {
        account_text(&report)
    })?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_flags_split_on_the_first_equals_sign() {
        assert_eq!(
            field_arg("Title=VP=Sales").unwrap(),
            ("Title".into(), Value::String("VP=Sales".into()))
        );
        assert_eq!(
            field_arg("UserPermissionsMarketingUser=true").unwrap(),
            ("UserPermissionsMarketingUser".into(), Value::Bool(true))
        );
        assert!(field_arg("Title").is_err());
    }

    #[test]
    fn expiration_must_be_rfc3339() {
        assert!(time_arg("2030-01-31T17:00:00Z").is_ok());
        assert!(time_arg("2030-01-31T17:00:00+02:00").is_ok());
        let err = time_arg("tomorrow").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
    }
}
