//! `SalesforceError`: every way a call to Salesforce can fail, as typed values, with the hint
//! a person needs for the known causes.
//!
//! This module owns the error types, their category (which decides the exit code in
//! `crate::exit`) and the hints for the causes Salesforce connector guides document (facts
//! sections 1.7, 4.3 and 6). It must not hold secrets: nothing here stores a token, password
//! or request body, and decode errors keep only serde's category and position, never the
//! text that failed to parse (a token response could echo a token).

use std::fmt;

use serde::Deserialize;

use super::limits::ApiUsage;

/// What a request was, for error messages: method, path without the query string, and the
/// sObject it concerns when known. Never carries a body, a header or a query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLabel {
    /// HTTP method.
    pub method: reqwest::Method,
    /// URL path (no query string: SOQL can be long and belongs in debug logs only).
    pub path: String,
    /// The sObject concerned (`PermissionSetAssignment`), when the caller said so.
    pub sobject: Option<String>,
}

impl RequestLabel {
    /// True for requests that only read.
    pub fn is_read(&self) -> bool {
        self.method == reqwest::Method::GET || self.method == reqwest::Method::HEAD
    }
}

impl fmt::Display for RequestLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(sobject) = &self.sobject {
            write!(f, " ({sobject})")?;
        }
        Ok(())
    }
}

/// One element of Salesforce's REST error array (facts section 4.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiErrorItem {
    /// `errorCode`, e.g. `INSUFFICIENT_ACCESS_OR_READONLY`. Composite save results spell it
    /// `statusCode`; both are accepted.
    #[serde(rename = "errorCode", alias = "statusCode", default)]
    pub error_code: String,
    /// `message`, in Salesforce's words.
    #[serde(default)]
    pub message: String,
    /// `fields`, when the error concerns specific fields.
    #[serde(default)]
    pub fields: Vec<String>,
}

impl fmt::Display for ApiErrorItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code, self.message)?;
        if !self.fields.is_empty() {
            write!(f, " (fields: {})", self.fields.join(", "))?;
        }
        Ok(())
    }
}

/// A non-2xx REST response, with Salesforce's error array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The request that failed.
    pub request: RequestLabel,
    /// HTTP status.
    pub status: u16,
    /// The error array (at least one element; a body that was not an error array becomes
    /// one element with code `HTTP_<status>`).
    pub errors: Vec<ApiErrorItem>,
}

impl ApiError {
    /// The first `errorCode` (Salesforce puts the decisive one first).
    pub fn code(&self) -> &str {
        self.errors.first().map_or("", |e| e.error_code.as_str())
    }

    /// The first message.
    pub fn message(&self) -> &str {
        self.errors.first().map_or("", |e| e.message.as_str())
    }

    /// True when any element carries this `errorCode`.
    pub fn has_code(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.error_code == code)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Salesforce refused {} with HTTP {}",
            self.request, self.status
        )?;
        for (i, e) in self.errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The OAuth flow a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthFlow {
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer`.
    JwtBearer,
    /// `client_credentials`.
    ClientCredentials,
    /// `refresh_token`.
    RefreshToken,
    /// `password` (deprecated by Salesforce).
    UsernamePassword,
}

impl AuthFlow {
    /// The name used by `--auth-method`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFlow::JwtBearer => "jwt-bearer",
            AuthFlow::ClientCredentials => "client-credentials",
            AuthFlow::RefreshToken => "refresh-token",
            AuthFlow::UsernamePassword => "username-password",
        }
    }
}

impl fmt::Display for AuthFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The token endpoint refused to issue a token: `{"error", "error_description"}` (facts 1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// The flow that was attempted.
    pub flow: AuthFlow,
    /// HTTP status (normally 400).
    pub status: u16,
    /// `error`, e.g. `invalid_grant`.
    pub error: String,
    /// `error_description`, e.g. `authentication failure`.
    pub description: String,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Salesforce refused the {} login with HTTP {}: {}",
            self.flow, self.status, self.error
        )?;
        if !self.description.is_empty() {
            write!(f, " ({})", self.description)?;
        }
        Ok(())
    }
}

/// Which limit stopped the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// Salesforce answered `REQUEST_LIMIT_EXCEEDED` for the org's rolling 24-hour request
    /// allocation (facts 3.8).
    Daily {
        /// Salesforce's message ("TotalRequests Limit exceeded.").
        message: String,
        /// The last `Sforce-Limit-Info` seen, when any.
        usage: Option<ApiUsage>,
    },
    /// This run made `--api-budget` calls already.
    Budget {
        /// The configured budget.
        budget: u64,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Daily { message, usage } => {
                write!(
                    f,
                    "the org's daily API request limit is exhausted: {message}"
                )?;
                if let Some(usage) = usage {
                    write!(f, " ({} of {} calls used)", usage.used, usage.max)?;
                }
                Ok(())
            }
            LimitError::Budget { budget } => write!(
                f,
                "this run reached its API budget of {budget} calls (--api-budget); stopped before the next call"
            ),
        }
    }
}

/// Broad kind of a failure; `crate::exit` turns it into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// Credentials, token or session: exit code 3.
    Auth,
    /// The user lacks a permission or the edition has no API: exit code 4.
    Permission,
    /// Daily request limit or `--api-budget`: exit code 5.
    Limit,
    /// A local setting is wrong (key file, CA file, input that cannot be sent): exit code 2.
    Config,
    /// Anything else: exit code 1.
    Other,
}

/// Every way a call to Salesforce can fail.
#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    /// The request never got an HTTP answer (DNS, connect, TLS, timeout, reset), after the
    /// retries the policy allowed.
    #[error("no answer from Salesforce for {request} after {attempts} attempt(s): {what}")]
    Transport {
        /// The request.
        request: RequestLabel,
        /// How many attempts were made.
        attempts: u32,
        /// Short description (`timed out`, `connection failed`, ...).
        what: &'static str,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Salesforce answered with a REST error array.
    #[error("{0}")]
    Api(ApiError),
    /// The token endpoint refused to issue a token.
    #[error("{0}")]
    Auth(AuthError),
    /// A limit stopped the run.
    #[error("{0}")]
    Limit(LimitError),
    /// A 2xx body did not have the expected shape.
    #[error("unexpected response to {request}: expected {expected}: {detail}")]
    Decode {
        /// The request.
        request: RequestLabel,
        /// What was expected (a Rust type or a description).
        expected: String,
        /// serde's category and position only, never the body.
        detail: String,
    },
    /// A Bulk API 2.0 query job ended without results (`Failed`, `Aborted`) or did not
    /// finish in time.
    #[error("Bulk API 2.0 query job {job} of {object} ended {state}: {message}")]
    BulkJob {
        /// The job Id (`750...`).
        job: String,
        /// The object queried.
        object: String,
        /// The state it ended in (`Failed`, `Aborted`, or `unfinished` after the timeout).
        state: String,
        /// Salesforce's `errorMessage`, or what timed out.
        message: String,
    },
    /// A local setting or an argument is unusable; names the setting and the fix.
    #[error("{field}: {problem}")]
    Config {
        /// The setting or argument (`--salesforce-private-key`, `object name`).
        field: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

impl SalesforceError {
    /// A configuration error for `field`.
    pub fn config(field: impl Into<String>, problem: impl Into<String>) -> SalesforceError {
        SalesforceError::Config {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// A decode error from serde, without any of the text that failed to parse.
    pub fn decode(
        request: &RequestLabel,
        expected: &str,
        error: &serde_json::Error,
    ) -> SalesforceError {
        let kind = match error.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "JSON of the wrong shape",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        SalesforceError::Decode {
            request: request.clone(),
            expected: expected.to_string(),
            detail: format!("{kind} at line {} column {}", error.line(), error.column()),
        }
    }

    /// The Salesforce error code (`errorCode` of a REST error, `error` of an OAuth error).
    pub fn code(&self) -> Option<&str> {
        match self {
            SalesforceError::Api(e) => Some(e.code()),
            SalesforceError::Auth(e) => Some(e.error.as_str()),
            SalesforceError::Limit(LimitError::Daily { .. }) => Some("REQUEST_LIMIT_EXCEEDED"),
            _ => None,
        }
    }

    /// The REST error, when this is one.
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            SalesforceError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Which exit-code family this error belongs to.
    pub fn category(&self) -> ErrorCategory {
        match self {
            SalesforceError::Auth(_) => ErrorCategory::Auth,
            SalesforceError::Limit(_) => ErrorCategory::Limit,
            SalesforceError::Config { .. } => ErrorCategory::Config,
            SalesforceError::Api(e) => match e.code() {
                "INVALID_SESSION_ID" => ErrorCategory::Auth,
                "API_DISABLED_FOR_ORG" | "API_CURRENTLY_DISABLED" | "FUNCTIONALITY_NOT_ENABLED" => {
                    ErrorCategory::Permission
                }
                code if code.starts_with("INSUFFICIENT_ACCESS") => ErrorCategory::Permission,
                "REQUEST_LIMIT_EXCEEDED" => ErrorCategory::Limit,
                _ => ErrorCategory::Other,
            },
            SalesforceError::Transport { .. }
            | SalesforceError::Decode { .. }
            | SalesforceError::BulkJob { .. } => ErrorCategory::Other,
        }
    }

    /// What to do about it, for the known causes.
    pub fn hint(&self) -> Option<String> {
        match self {
            SalesforceError::Api(e) => api_hint(e),
            SalesforceError::Auth(e) => auth_hint(e),
            SalesforceError::Limit(LimitError::Daily { .. }) => Some(
                "the allocation is a rolling 24-hour window: wait for usage to fall, lower the \
                 run's footprint with --api-budget, or raise the org's allocation (Setup > \
                 Company Information shows API Requests, Last 24 Hours)"
                    .into(),
            ),
            SalesforceError::Limit(LimitError::Budget { .. }) => Some(
                "raise --api-budget (or leave it unset to be limited only by the org's allocation)"
                    .into(),
            ),
            SalesforceError::Transport { what, .. } => Some(format!(
                "the connection {what}: check --instance-url, the network path to Salesforce \
                 (proxy, firewall) and, for a private CA, --ca-file"
            )),
            SalesforceError::BulkJob { .. } => Some(
                "read without Bulk API 2.0 (--bulk-above off): REST pages cost more calls but \
                 need no query job"
                    .into(),
            ),
            SalesforceError::Decode { .. } | SalesforceError::Config { .. } => None,
        }
    }
}

/// The permission an operation on `sobject` needs (facts section 6, per-operation minimums).
pub fn permission_for(sobject: Option<&str>, is_read: bool) -> &'static str {
    let sobject = sobject.unwrap_or("");
    if is_read {
        match sobject {
            "UserLogin" => "Manage Users",
            "UserRole" => "View Roles and Role Hierarchy",
            "OauthToken" => "Customize Application",
            "User" | "Group" | "GroupMember" => {
                "API Enabled (and View All Users to see every user)"
            }
            _ => "View Setup and Configuration",
        }
    } else {
        match sobject {
            "PermissionSetAssignment" | "PermissionSetLicenseAssign" => "Assign Permission Sets",
            "User" => "Manage Internal Users (or Manage Users)",
            "UserRole" => "Manage Roles",
            "PermissionSet" | "PermissionSetGroup" | "PermissionSetGroupComponent" | "Profile" => {
                "Manage Profiles and Permission Sets"
            }
            _ => "Manage Users",
        }
    }
}

fn api_hint(e: &ApiError) -> Option<String> {
    let code = e.code();
    let hint = match code {
        "API_CURRENTLY_DISABLED" | "FUNCTIONALITY_NOT_ENABLED" => {
            "the integration user lacks \"API Enabled\": add it to the user's profile or to a \
             permission set assigned to the user"
                .to_string()
        }
        "API_DISABLED_FOR_ORG" => {
            "the org's edition has no API access (Group, Essentials, or Professional without the \
             API add-on): use Enterprise, Unlimited, Performance or Developer Edition, or buy the \
             API add-on; if the edition has API access, the user lacks \"API Enabled\""
                .to_string()
        }
        "INVALID_SESSION_ID" => {
            "the session was refused right after a fresh login: if \"Lock sessions to the IP \
             address from which they originated\" is on, calls must come from the login IP; \
             check that the connected app's OAuth scopes include \"api\""
                .to_string()
        }
        "REQUEST_LIMIT_EXCEEDED" => {
            "the org is over a request limit; wait and retry, or lower --max-concurrency"
                .to_string()
        }
        "UNABLE_TO_LOCK_ROW" => {
            "another process holds a lock on the record; retry later, or raise --max-attempts"
                .to_string()
        }
        "INVALID_QUERY_LOCATOR" => {
            "a query cursor expired (they live 2 days) or was used twice; rerun the read"
                .to_string()
        }
        code if code.starts_with("INSUFFICIENT_ACCESS") => {
            let permission = permission_for(e.request.sobject.as_deref(), e.request.is_read());
            let what = if e.request.is_read() {
                "read"
            } else {
                "change"
            };
            let object = e.request.sobject.as_deref().unwrap_or("this resource");
            format!(
                "to {what} {object} the integration user needs \"{permission}\": add it to a \
                 permission set assigned to the user (run `sf-access check` for the full list)"
            )
        }
        _ => return None,
    };
    Some(hint)
}

fn auth_hint(e: &AuthError) -> Option<String> {
    let description = e.description.to_ascii_lowercase();
    let has = |needle: &str| description.contains(needle);
    let hint = match e.error.as_str() {
        _ if e.error.contains("OAUTH_APPROVAL_ERROR_GENERIC")
            || has("oauth_approval_error_generic") =>
        {
            "the connected app is not approved for this user: install the connected app in the \
             org (Setup > Connected Apps OAuth Usage > Install) and pre-authorize the user's \
             profile or permission set; users created since September 2025 cannot use \
             uninstalled connected apps"
        }
        "invalid_grant" if has("ip restricted") || has("restricted ip") => {
            "the login came from an IP address the org does not allow: add this machine's address \
             to the user's profile Login IP Ranges or the org's Network Access, and turn off \"Lock \
             sessions to the IP address from which they originated\" if calls and login differ in IP"
        }
        "invalid_grant" if has("hasn't approved") || has("not approved") => {
            "the user is not approved for the connected app: set its policy to \"Admin approved \
             users are pre-authorized\" and add the user's profile or a permission set, or install \
             the connected app / grant \"Approve Uninstalled Connected Apps\""
        }
        "invalid_grant"
            if has("expired access/refresh token") || has("expired") || has("revoked") =>
        {
            "the refresh token is expired or revoked (refresh token policy, an admin revoke in \
             Connected Apps OAuth Usage, or reuse of a rotated token): obtain a new refresh token \
             and set --salesforce-refresh-token"
        }
        "invalid_grant" if has("audience") => {
            "the JWT audience is wrong: use https://test.salesforce.com for sandboxes and \
             https://login.salesforce.com otherwise (--salesforce-login-url)"
        }
        "invalid_grant" if has("invalid assertion") || has("signature") => {
            "the JWT was not accepted: the private key must match the certificate uploaded to the \
             connected app, and --salesforce-jwt-subject must be the user's Salesforce username"
        }
        "invalid_grant" if has("not supported on this domain") => {
            "client-credentials logins must go to the org's My Domain host: set --instance-url to \
             <MyDomain>.my.salesforce.com"
        }
        "invalid_grant" if has("authentication failure") => {
            "bad credentials, a blocked flow, or a frozen or locked user: check the username, \
             the password and the security token (appended by sf-access from --security-token); \
             orgs created since Summer '23 block the username-password flow (\"Allow OAuth \
             Username-Password Flows\"); Setup > Login History shows the real reason"
        }
        "invalid_grant" => {
            "Salesforce refused the credentials; Setup > Login History shows the reason"
        }
        "invalid_client_id" => {
            "the consumer key is unknown: copy it from the connected app into --salesforce-client-id"
        }
        "invalid_client" => {
            "the consumer secret does not match: copy it from the connected app into \
             --salesforce-client-secret (or --salesforce-client-secret-file)"
        }
        "invalid_app_access" => {
            "the connected app only admits admin-approved users: add the integration user's \
             profile or a permission set to the app's policies"
        }
        "unsupported_grant_type" => {
            "the connected app does not allow this flow (for client-credentials, enable it and set \
             a Run As user), or the URL used http:// instead of https://"
        }
        "inactive_user" => "the user is inactive or frozen: reactivate or unfreeze it",
        "inactive_org" => "the org is locked, deleted or expired",
        "invalid_scope" => "the connected app does not grant the requested scopes; add \"api\"",
        "rate_limit_exceeded" => "too many logins in a short time; wait a few minutes",
        _ => return None,
    };
    Some(hint.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, method: reqwest::Method, sobject: Option<&str>) -> SalesforceError {
        SalesforceError::Api(ApiError {
            request: RequestLabel {
                method,
                path: "/services/data/v66.0/sobjects/X".into(),
                sobject: sobject.map(str::to_string),
            },
            status: 403,
            errors: vec![ApiErrorItem {
                error_code: code.into(),
                message: "m".into(),
                fields: vec![],
            }],
        })
    }

    fn auth(error: &str, description: &str) -> SalesforceError {
        SalesforceError::Auth(AuthError {
            flow: AuthFlow::JwtBearer,
            status: 400,
            error: error.into(),
            description: description.into(),
        })
    }

    #[test]
    fn error_array_parses_with_either_code_key() {
        let items: Vec<ApiErrorItem> = serde_json::from_str(
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"},
                {"statusCode":"DUPLICATE_VALUE","message":"dup","fields":["Id"]}]"#,
        )
        .unwrap();
        assert_eq!(items[0].error_code, "INVALID_SESSION_ID");
        assert_eq!(items[1].error_code, "DUPLICATE_VALUE");
        assert_eq!(items[1].fields, vec!["Id"]);
    }

    #[test]
    fn permission_codes_are_permission_errors_with_hints() {
        let e = api("API_CURRENTLY_DISABLED", reqwest::Method::GET, None);
        assert_eq!(e.category(), ErrorCategory::Permission);
        assert!(e.hint().unwrap().contains("API Enabled"));
        let e = api("API_DISABLED_FOR_ORG", reqwest::Method::GET, None);
        assert!(
            e.hint()
                .unwrap()
                .contains("Professional without the API add-on")
        );
        let e = api(
            "INSUFFICIENT_ACCESS_OR_READONLY",
            reqwest::Method::POST,
            Some("PermissionSetAssignment"),
        );
        assert_eq!(e.category(), ErrorCategory::Permission);
        assert!(
            e.hint().unwrap().contains("Assign Permission Sets"),
            "{:?}",
            e.hint()
        );
        let e = api(
            "INSUFFICIENT_ACCESS",
            reqwest::Method::GET,
            Some("UserLogin"),
        );
        assert!(e.hint().unwrap().contains("Manage Users"));
    }

    #[test]
    fn invalid_session_is_an_auth_error() {
        let e = api("INVALID_SESSION_ID", reqwest::Method::GET, None);
        assert_eq!(e.category(), ErrorCategory::Auth);
        assert!(e.hint().unwrap().contains("Lock sessions to the IP"));
    }

    #[test]
    fn oauth_errors_get_the_documented_hints() {
        let table = [
            ("invalid_grant", "authentication failure", "security token"),
            (
                "invalid_grant",
                "expired access/refresh token",
                "new refresh token",
            ),
            (
                "invalid_grant",
                "user hasn't approved this consumer",
                "Approve Uninstalled Connected Apps",
            ),
            (
                "invalid_grant",
                "ip restricted",
                "Lock sessions to the IP address",
            ),
            (
                "invalid_grant",
                "audience is invalid",
                "test.salesforce.com",
            ),
            (
                "invalid_grant",
                "Audience validation failed",
                "test.salesforce.com",
            ),
            ("invalid_grant", "invalid assertion", "certificate"),
            (
                "invalid_grant",
                "request not supported on this domain",
                "My Domain",
            ),
            (
                "invalid_client_id",
                "client identifier invalid",
                "--salesforce-client-id",
            ),
            (
                "invalid_client",
                "invalid client credentials",
                "--salesforce-client-secret",
            ),
            (
                "invalid_app_access",
                "user is not admin approved to access this app",
                "admin-approved",
            ),
            (
                "OAUTH_APPROVAL_ERROR_GENERIC",
                "An unexpected error has occurred",
                "install the connected app",
            ),
        ];
        for (error, description, expected) in table {
            let e = auth(error, description);
            assert_eq!(e.category(), ErrorCategory::Auth);
            let hint = e.hint().unwrap_or_default();
            assert!(hint.contains(expected), "{error}/{description}: {hint}");
        }
    }

    #[test]
    fn decode_error_never_echoes_the_body() {
        let err = serde_json::from_str::<u64>("\"00Dxx!SECRETTOKEN\"").unwrap_err();
        let label = RequestLabel {
            method: reqwest::Method::POST,
            path: "/services/oauth2/token".into(),
            sobject: None,
        };
        let e = SalesforceError::decode(&label, "a token response", &err);
        let text = e.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("line 1"), "{text}");
    }

    #[test]
    fn limit_errors_are_limit_category() {
        let e = SalesforceError::Limit(LimitError::Budget { budget: 10 });
        assert_eq!(e.category(), ErrorCategory::Limit);
        assert!(e.to_string().contains("--api-budget"));
    }
}
