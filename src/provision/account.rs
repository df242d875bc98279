//! Account creation: `create_account` creates a user, or reports the existing one.
//!
//! Everything that can be checked without Salesforce is checked first (email and username
//! shape, alias length, IANA time zone, locale and encoding shape, the extra fields); then,
//! with reads only, the profile, the username and a free seat on the profile's license. Only
//! then is the user created. The username defaults to the email. When a user with the username
//! exists: an active one is reported `already_exists` and nothing changes; an inactive one is
//! reactivated only when asked (`reactivate`), and nothing else about it changes. No password
//! is ever set or reset (baton-salesforce resets the password of an existing user on create).

use std::collections::BTreeSet;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::audit::AuditTarget;
use super::least_privilege::read_license;
use super::session::{Change, Session, Write};
use super::user::{read_login, read_user, resource_id, user_resource, user_state};
use super::{
    Operation, Outcome, PlannedCall, ProvisionError, Provisioner, RequestId, WriteOptions,
};
use crate::model::{Resource, ResourceTypeId};
use crate::salesforce::SfId;
use crate::salesforce::objects::provisioning::{
    OrganizationDefaults, ProfileRecord, UserLicenseRecord, UserRecord,
};
use crate::salesforce::soql::is_field_name;
use crate::settings::ProfileRef;

/// The email encodings Salesforce's `EmailEncodingKey` picklist has (a restricted picklist,
/// facts 4.3 `INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`), in Salesforce's spelling.
pub const EMAIL_ENCODINGS: &[&str] = &[
    "UTF-8",
    "ISO-8859-1",
    "Shift_JIS",
    "ISO-2022-JP",
    "EUC-JP",
    "ks_c_5601-1987",
    "Big5",
    "GB2312",
    "Big5-HKSCS",
    "x-SJIS_0213",
];

/// Fields that have their own argument, or that create-account must not set through
/// `--field`.
const RESERVED_FIELDS: &[(&str, &str)] = &[
    ("Id", "the ID is assigned by Salesforce"),
    ("Username", "use --username"),
    ("Email", "use --email"),
    ("FirstName", "use --first-name"),
    ("LastName", "use --last-name"),
    ("Alias", "use --alias"),
    ("ProfileId", "use --profile"),
    ("TimeZoneSidKey", "use --timezone"),
    ("LocaleSidKey", "use --locale"),
    ("LanguageLocaleKey", "use --language"),
    ("EmailEncodingKey", "use --email-encoding"),
    ("FederationIdentifier", "use --federation-id"),
    ("ContactId", "use --contact-id"),
    (
        "IsActive",
        "new users are active; use the update_user_status action to change it",
    ),
    ("UserRoleId", "grant the role afterwards (sf-access grant)"),
];

/// A user to create.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRequest {
    /// `Email` (required).
    pub email: String,
    /// `FirstName`.
    pub first_name: String,
    /// `LastName` (required).
    pub last_name: String,
    /// The profile, by name or ID.
    pub profile: ProfileRef,
    /// `Username`; defaults to the email.
    pub username: Option<String>,
    /// `Alias` (at most 8 characters); defaults to the first initial and the start of the
    /// last name, as Salesforce's user page does.
    pub alias: Option<String>,
    /// `TimeZoneSidKey`, an IANA zone; defaults to the org's time zone.
    pub timezone: Option<String>,
    /// `LocaleSidKey`; defaults to `en_US`.
    pub locale: Option<String>,
    /// `LanguageLocaleKey`; defaults to `en_US`.
    pub language: Option<String>,
    /// `EmailEncodingKey`; defaults to `UTF-8`.
    pub email_encoding: Option<String>,
    /// `FederationIdentifier` (SAML subject).
    pub federation_id: Option<String>,
    /// `ContactId` (portal users).
    pub contact_id: Option<SfId>,
    /// Other fields, API name -> value.
    pub fields: Vec<(String, Value)>,
    /// Reactivate an inactive user with the username instead of failing.
    pub reactivate: bool,
}

impl AccountRequest {
    /// A request with the required values and every option at its default.
    pub fn new(
        email: impl Into<String>,
        first_name: impl Into<String>,
        last_name: impl Into<String>,
        profile: ProfileRef,
    ) -> AccountRequest {
        AccountRequest {
            email: email.into(),
            first_name: first_name.into(),
            last_name: last_name.into(),
            profile,
            username: None,
            alias: None,
            timezone: None,
            locale: None,
            language: None,
            email_encoding: None,
            federation_id: None,
            contact_id: None,
            fields: Vec::new(),
            reactivate: false,
        }
    }
}

/// What `create_account` did (in a dry run: would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountReport {
    /// The caller's request id.
    pub request_id: RequestId,
    /// Always `create_account`.
    pub operation: Operation,
    /// True when nothing was written.
    pub dry_run: bool,
    /// The username.
    pub username: String,
    /// `created`, `reactivated` or `already_exists`.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The user as Salesforce shows it afterwards, as a model resource (absent in a dry run
    /// that would create it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Resource>,
    /// The existing user's values before (`null` for a new user).
    pub before: Value,
    /// The user's values after.
    pub after: Value,
    /// The write calls made; in a dry run, the exact calls that would be made.
    pub calls: Vec<PlannedCall>,
    /// Salesforce API calls spent, reads included.
    pub api_calls: u64,
}

/// A request that passed every check that needs no Salesforce call.
#[derive(Debug, Clone, PartialEq)]
struct Checked {
    username: String,
    email: String,
    first_name: Option<String>,
    last_name: String,
    alias: String,
    timezone: Option<String>,
    locale: String,
    language: String,
    email_encoding: String,
    federation_id: Option<String>,
    contact_id: Option<SfId>,
    fields: Vec<(String, Value)>,
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// An email-shaped value: one `@`, a local part, a dotted domain of letters, digits and
/// hyphens, no spaces. Salesforce's own check is looser in places; this catches typos.
fn check_email(argument: &'static str, value: &str, max: usize) -> Result<(), ProvisionError> {
    let fail = |why: &str| {
        Err(ProvisionError::argument(
            argument,
            format!("{value:?} is not an email address ({why}); e.g. ada@example.com"),
        ))
    };
    if value.chars().count() > max {
        return fail(&format!("longer than {max} characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("it contains a space or a control character");
    }
    let Some((local, domain)) = value.split_once('@') else {
        return fail("no @");
    };
    if local.is_empty() || local.len() > 64 {
        return fail("the part before @ must have 1 to 64 characters");
    }
    if local.contains(['"', '<', '>', '(', ')', ',', ';', ':', '[', ']', '\\', '@']) {
        return fail("the part before @ has a character email addresses cannot have");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return fail("the domain must be like example.com");
    }
    Ok(())
}

fn check_text(
    argument: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, ProvisionError> {
    let value = value.trim();
    if value.is_empty() {
        return if required {
            Err(ProvisionError::argument(
                argument,
                "is required and cannot be empty",
            ))
        } else {
            Ok(None)
        };
    }
    if has_control(value) {
        return Err(ProvisionError::argument(
            argument,
            "contains a control character (a line break or tab?)",
        ));
    }
    let count = value.chars().count();
    if count > max {
        return Err(ProvisionError::argument(
            argument,
            format!("has {count} characters; Salesforce allows at most {max}"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// The alias Salesforce's user page proposes: first initial and the first four letters of
/// the last name, lower case, without spaces.
fn default_alias(first: Option<&str>, last: &str) -> String {
    let initial = first.and_then(|f| f.chars().next());
    initial
        .into_iter()
        .chain(last.chars().filter(|c| !c.is_whitespace()).take(4))
        .flat_map(char::to_lowercase)
        .take(8)
        .collect()
}

/// Checks an IANA zone name against the tz database (through chrono-tz); a name that differs
/// only in case gets a suggestion.
fn check_timezone(value: &str) -> Result<String, ProvisionError> {
    let value = value.trim();
    if chrono_tz::Tz::from_str(value).is_ok() {
        return Ok(value.to_owned());
    }
    let suggestion = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .find(|name| name.eq_ignore_ascii_case(value))
        .map(|name| format!("; did you mean {name}?"))
        .unwrap_or_else(|| "; e.g. America/New_York, Europe/Berlin or GMT".to_owned());
    Err(ProvisionError::argument(
        "timezone",
        format!("{value:?} is not an IANA time zone name{suggestion}"),
    ))
}

/// Locale and language keys look like `en_US`, `de`, `zh_CN`, `sr_Latn_RS`.
fn check_locale(argument: &'static str, value: &str) -> Result<String, ProvisionError> {
    let value = value.trim();
    let mut parts = value.split('_');
    let language_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase()));
    let rest_ok = parts
        .all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if language_ok && rest_ok && value.len() <= 20 {
        Ok(value.to_owned())
    } else {
        Err(ProvisionError::argument(
            argument,
            format!("{value:?} is not a Salesforce locale key; e.g. en_US, de_DE or fr"),
        ))
    }
}

fn check_encoding(value: &str) -> Result<String, ProvisionError> {
    EMAIL_ENCODINGS
        .iter()
        .find(|e| e.eq_ignore_ascii_case(value.trim()))
        .map(|e| (*e).to_owned())
        .ok_or_else(|| {
            ProvisionError::argument(
                "email_encoding",
                format!(
                    "{value:?} is not one of Salesforce's email encodings: {}",
                    EMAIL_ENCODINGS.join(", ")
                ),
            )
        })
}

fn check_fields(fields: &[(String, Value)]) -> Result<Vec<(String, Value)>, ProvisionError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let name = name.trim();
        if !is_field_name(name) || name.contains('.') {
            return Err(ProvisionError::argument(
                "field",
                format!(
                    "{name:?} is not a field API name (letters, digits and underscores, e.g. Department or Region__c)"
                ),
            ));
        }
        if let Some((reserved, why)) = RESERVED_FIELDS
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(name))
        {
            return Err(ProvisionError::argument(
                "field",
                format!("{reserved} cannot be set with --field: {why}"),
            ));
        }
        if name.to_ascii_lowercase().contains("password") {
            return Err(ProvisionError::argument(
                "field",
                format!("{name}: create-account never sets passwords"),
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(ProvisionError::argument(
                "field",
                format!("{name} is given more than once"),
            ));
        }
        match value {
            Value::String(s) if has_control(s) => {
                return Err(ProvisionError::argument(
                    "field",
                    format!("the value of {name} contains a control character"),
                ));
            }
            Value::String(_) | Value::Bool(_) | Value::Number(_) | Value::Null => {}
            _ => {
                return Err(ProvisionError::argument(
                    "field",
                    format!("the value of {name} must be text, a number or true/false"),
                ));
            }
        }
        out.push((name.to_owned(), value.clone()));
    }
    Ok(out)
}

fn check(request: &AccountRequest) -> Result<Checked, ProvisionError> {
    let email = request.email.trim().to_owned();
    check_email("email", &email, 128)?;
    let username = match &request.username {
        Some(u) => u.trim().to_owned(),
        None => email.clone(),
    };
    // Salesforce requires usernames in the form of an email address (at most 80 characters).
    check_email("username", &username, 80)?;
    let first_name = check_text("first_name", &request.first_name, 40, false)?;
    let last_name = check_text("last_name", &request.last_name, 80, true)?
        .expect("a required value is present");
    let alias = match &request.alias {
        Some(alias) => check_text("alias", alias, 8, true)?.expect("a required value is present"),
        None => default_alias(first_name.as_deref(), &last_name),
    };
    if let ProfileRef::Name(name) = &request.profile {
        check_text("profile", name, 255, true)?;
    }
    let contact_id = match request.contact_id {
        Some(id) if id.key_prefix() != "003" => {
            return Err(ProvisionError::argument(
                "contact_id",
                format!("{id} is not a Contact ID (Contact IDs start with 003)"),
            ));
        }
        other => other,
    };
    Ok(Checked {
        username,
        email,
        first_name,
        last_name,
        alias,
        timezone: request
            .timezone
            .as_deref()
            .map(check_timezone)
            .transpose()?,
        locale: check_locale("locale", request.locale.as_deref().unwrap_or("en_US"))?,
        language: check_locale("language", request.language.as_deref().unwrap_or("en_US"))?,
        email_encoding: check_encoding(request.email_encoding.as_deref().unwrap_or("UTF-8"))?,
        federation_id: request
            .federation_id
            .as_deref()
            .map(|f| check_text("federation_id", f, 512, true))
            .transpose()?
            .flatten(),
        contact_id,
        fields: check_fields(&request.fields)?,
    })
}

/// Creates a user (see the module docs).
pub async fn create_account(
    provisioner: &Provisioner,
    request: &AccountRequest,
    options: &WriteOptions,
) -> Result<AccountReport, ProvisionError> {
    let checked = check(request)?;
    let target = AuditTarget {
        username: Some(checked.username.clone()),
        ..AuditTarget::default()
    };
    let session = provisioner.begin(options, Operation::CreateAccount, target)?;
    let result = create_in(&session, request, &checked).await;
    let finished = session.finish(result)?;
    Ok(AccountReport {
        request_id: options.request_id.clone(),
        operation: Operation::CreateAccount,
        dry_run: options.dry_run,
        username: checked.username,
        outcome: finished.outcome,
        user: finished.extra,
        before: finished.before,
        after: finished.after,
        calls: finished.calls,
        api_calls: finished.api_calls,
    })
}

async fn read_profile(
    session: &Session<'_>,
    profile: &ProfileRef,
) -> Result<ProfileRecord, ProvisionError> {
    let soql = match profile {
        ProfileRef::Id(id) => ProfileRecord::by_id(*id),
        ProfileRef::Name(name) => ProfileRecord::by_name(name),
    };
    let found: Vec<ProfileRecord> = session
        .query(&soql)
        .await
        .map_err(|e| ProvisionError::salesforce(format!("reading profile {profile}"), e))?;
    match found.as_slice() {
        [] => Err(ProvisionError::NotFound {
            argument: "profile",
            id: profile.to_string(),
            detail: " (no profile with this name or ID)".into(),
        }),
        [one] => Ok(one.clone()),
        _ => Err(ProvisionError::argument(
            "profile",
            format!("more than one profile is named {profile:?}; give the profile's ID (00e...)"),
        )),
    }
}

fn check_seat(license: &UserLicenseRecord) -> Result<(), ProvisionError> {
    if license.is_full() {
        return Err(ProvisionError::LicenseFull {
            license: license.describe(),
            used: license.used_licenses.unwrap_or(0),
            total: license.total_licenses.unwrap_or(0),
            status: if license.status.as_deref() == Some("Disabled") {
                ", and it is disabled".into()
            } else {
                String::new()
            },
        });
    }
    Ok(())
}

/// Fails with `LicenseFull` when `license` has no free seat.
pub(crate) async fn check_seat_of(
    session: &Session<'_>,
    license: Option<SfId>,
) -> Result<(), ProvisionError> {
    match license {
        Some(license) => check_seat(&read_license(session, license).await?),
        None => Ok(()),
    }
}

fn new_user_body(checked: &Checked, profile: SfId, timezone: &str) -> Value {
    let mut body = Map::new();
    let mut put = |k: &str, v: Value| {
        body.insert(k.to_owned(), v);
    };
    put("Username", json!(checked.username));
    put("Email", json!(checked.email));
    if let Some(first) = &checked.first_name {
        put("FirstName", json!(first));
    }
    put("LastName", json!(checked.last_name));
    put("Alias", json!(checked.alias));
    put("ProfileId", json!(profile.to_string()));
    put("TimeZoneSidKey", json!(timezone));
    put("LocaleSidKey", json!(checked.locale));
    put("LanguageLocaleKey", json!(checked.language));
    put("EmailEncodingKey", json!(checked.email_encoding));
    if let Some(federation_id) = &checked.federation_id {
        put("FederationIdentifier", json!(federation_id));
    }
    if let Some(contact) = checked.contact_id {
        put("ContactId", json!(contact.to_string()));
    }
    for (name, value) in &checked.fields {
        put(name, value.clone());
    }
    Value::Object(body)
}

async fn create_in(
    session: &Session<'_>,
    request: &AccountRequest,
    checked: &Checked,
) -> Result<(Change, Option<Resource>), ProvisionError> {
    let profile = read_profile(session, &request.profile).await?;
    let existing = session
        .query_first::<UserRecord>(&UserRecord::by_username(&checked.username))
        .await
        .map_err(|e| {
            ProvisionError::salesforce(format!("looking up username {}", checked.username), e)
        })?;
    if let Some(user) = existing {
        let id = resource_id(ResourceTypeId::User, user.id)?;
        session.set_resource(id);
        let before = user_state(&user);
        session.set_before(before.clone());
        if user.is_active {
            let login = read_login(session, user.id).await?;
            let resource = user_resource(&user, login.as_ref())?;
            return Ok((
                Change {
                    outcome: Outcome::AlreadyExists,
                    after: before,
                },
                Some(resource),
            ));
        }
        if !request.reactivate {
            return Err(ProvisionError::InactiveUserExists {
                username: user.username,
                id,
            });
        }
        check_seat_of(session, user.license_id()).await?;
        session
            .write(Write::Update {
                object: "User",
                id: user.id,
                body: UserRecord::set_active(true),
            })
            .await
            .map_err(|e| ProvisionError::salesforce(format!("reactivating user {}", user.id), e))?;
        if session.is_dry_run() {
            return Ok((
                Change {
                    outcome: Outcome::Reactivated,
                    after: Value::Null,
                },
                None,
            ));
        }
        let after = read_user(session, "username", user.id).await?;
        if !after.is_active {
            return Err(ProvisionError::PostState {
                expected: "IsActive true".into(),
                found: "IsActive false".into(),
            });
        }
        let login = read_login(session, user.id).await?;
        return Ok((
            Change {
                outcome: Outcome::Reactivated,
                after: user_state(&after),
            },
            Some(user_resource(&after, login.as_ref())?),
        ));
    }
    check_seat_of(session, profile.user_license_id).await?;
    let timezone = match &checked.timezone {
        Some(tz) => tz.clone(),
        None => session
            .query_first::<OrganizationDefaults>(&OrganizationDefaults::query())
            .await
            .map_err(|e| ProvisionError::salesforce("reading the org's default time zone", e))?
            .and_then(|o| o.time_zone_sid_key)
            .unwrap_or_else(|| "GMT".to_owned()),
    };
    let created = session
        .write(Write::Create {
            object: "User",
            body: new_user_body(checked, profile.id, &timezone),
        })
        .await
        .map_err(|e| {
            ProvisionError::salesforce(format!("creating user {}", checked.username), e)
        })?;
    let Some(created) = created else {
        // A dry run: nothing was created.
        return Ok((
            Change {
                outcome: Outcome::Created,
                after: Value::Null,
            },
            None,
        ));
    };
    session.set_resource(resource_id(ResourceTypeId::User, created)?);
    let user = read_user(session, "username", created).await?;
    let login = read_login(session, created).await?;
    Ok((
        Change {
            outcome: Outcome::Created,
            after: user_state(&user),
        },
        Some(user_resource(&user, login.as_ref())?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AccountRequest {
        AccountRequest::new(
            "ada@example.com",
            "Ada",
            "Lovelace",
            ProfileRef::Name("Standard User".into()),
        )
    }

    fn argument_of(result: Result<Checked, ProvisionError>) -> &'static str {
        match result {
            Err(ProvisionError::InvalidArgument { argument, .. }) => argument,
            other => panic!("expected an argument error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_username_alias_locale_and_encoding() {
        let checked = check(&request()).unwrap();
        assert_eq!(checked.username, "ada@example.com");
        assert_eq!(checked.alias, "alove");
        assert_eq!(checked.locale, "en_US");
        assert_eq!(checked.email_encoding, "UTF-8");
        assert_eq!(checked.timezone, None);
    }

    #[test]
    fn bad_values_are_refused_naming_the_argument() {
        let mut r = request();
        r.email = "ada.example.com".into();
        assert_eq!(argument_of(check(&r)), "email");
        let mut r = request();
        r.email = "ada@example.com' OR '1'='1".into();
        assert_eq!(argument_of(check(&r)), "email");
        let mut r = request();
        r.username = Some("not-an-email".into());
        assert_eq!(argument_of(check(&r)), "username");
        let mut r = request();
        r.alias = Some("ninechars".into());
        assert_eq!(argument_of(check(&r)), "alias");
        let mut r = request();
        r.timezone = Some("America/NewYork".into());
        assert_eq!(argument_of(check(&r)), "timezone");
        let mut r = request();
        r.locale = Some("en-US".into());
        assert_eq!(argument_of(check(&r)), "locale");
        let mut r = request();
        r.email_encoding = Some("UTF-16".into());
        assert_eq!(argument_of(check(&r)), "email_encoding");
        let mut r = request();
        r.last_name = "  ".into();
        assert_eq!(argument_of(check(&r)), "last_name");
        let mut r = request();
        r.contact_id = Some(SfId::parse("0055g0000000004AAA").unwrap());
        assert_eq!(argument_of(check(&r)), "contact_id");
    }

    #[test]
    fn timezones_are_checked_against_the_tz_database_with_a_suggestion() {
        assert_eq!(
            check_timezone("America/New_York").unwrap(),
            "America/New_York"
        );
        assert_eq!(check_timezone("GMT").unwrap(), "GMT");
        let err = check_timezone("america/new_york").unwrap_err();
        assert!(
            err.to_string().contains("did you mean America/New_York?"),
            "{err}"
        );
    }

    #[test]
    fn extra_fields_cannot_override_arguments_or_set_passwords() {
        let field = |name: &str, value: Value| {
            let mut r = request();
            r.fields = vec![(name.to_owned(), value)];
            check(&r)
        };
        assert!(field("Department", json!("Sales")).is_ok());
        assert!(field("UserPermissionsMarketingUser", json!(true)).is_ok());
        for bad in [
            "profileid",
            "Username",
            "Password__c",
            "Title' OR",
            "Profile.Name",
            "",
        ] {
            assert_eq!(argument_of(field(bad, json!("x"))), "field", "{bad}");
        }
        let mut r = request();
        r.fields = vec![("Title".into(), json!("a")), ("title".into(), json!("b"))];
        assert_eq!(argument_of(check(&r)), "field");
    }

    #[test]
    fn alias_default_follows_salesforce() {
        assert_eq!(default_alias(Some("Ada"), "Lovelace"), "alove");
        assert_eq!(default_alias(None, "Van Der Berg"), "vand");
        assert_eq!(default_alias(Some("Émile"), "Zola"), "ézola");
    }

    #[test]
    fn new_user_body_has_the_required_fields_and_no_password() {
        let checked = check(&request()).unwrap();
        let body = new_user_body(&checked, SfId::parse("00e5g0000000002AAA").unwrap(), "GMT");
        for field in [
            "Username",
            "Email",
            "LastName",
            "Alias",
            "ProfileId",
            "TimeZoneSidKey",
            "LocaleSidKey",
            "LanguageLocaleKey",
            "EmailEncodingKey",
        ] {
            assert!(body.get(field).is_some(), "{field}");
        }
        assert!(!body.to_string().to_ascii_lowercase().contains("password"));
    }
}
