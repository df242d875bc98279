//! Validated settings from the command line, the environment and the config file.
//!
//! Precedence (STYLE.md): defaults < config file < environment < flags. Every connection
//! setting `--name` also reads `SF_ACCESS_NAME` and then baton-salesforce's `BATON_NAME`, and
//! the key `name` of the config file (TOML or JSON; `snake_case` keys are accepted too).
//! Secrets come back wrapped in `Secret`; a secret typed as a plain flag works but warns,
//! because the process list and the shell history show it.
//!
//! This module turns text into typed values and names the setting and where it came from in
//! every error. It does no network I/O and must never put a secret into a message.

use std::collections::BTreeMap;
use std::fmt;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{CheckArgs, ConnectionArgs, SyncArgs};
use crate::salesforce::SfId;
use crate::salesforce::auth::{Credentials, PrivateKey};
use crate::salesforce::client::{ApiVersion, ClientConfig};
use crate::salesforce::domain::{HostForm, Instance};
use crate::salesforce::error::AuthFlow;
use crate::salesforce::limits::UsageOptions;
use crate::salesforce::retry::Backoff;
use crate::secret::Secret;

/// Every key a config file may hold. A key outside this list is an error, so a typo does not
/// silently fall back to a default. Later commands add their keys here.
pub const CONFIG_KEYS: &[&str] = &[
    "instance-url",
    "auth-method",
    "salesforce-client-id",
    "salesforce-client-secret",
    "salesforce-client-secret-file",
    "salesforce-private-key",
    "salesforce-jwt-subject",
    "salesforce-login-url",
    "salesforce-username",
    "salesforce-password",
    "salesforce-password-file",
    "security-token",
    "security-token-file",
    "salesforce-refresh-token",
    "salesforce-refresh-token-file",
    "api-version",
    "requests-per-second",
    "max-concurrency",
    "max-attempts",
    "request-timeout",
    "api-budget",
    "api-usage-warning",
    "ca-file",
    "provisioning",
    "sync-connected-apps",
    "license-to-least-privileged-profile-mapping",
    "sync-deactivated-users",
    "sync-non-standard-users",
    "user-username-for-email",
    "batch-size",
    "incremental",
    "bulk-above",
    "bulk-max-records",
    "keep-runs",
];

/// A setting that cannot be used; always names the setting, where it came from, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct SettingsError {
    /// The setting and its source, e.g. `--instance-url (from SF_ACCESS_INSTANCE_URL)`.
    pub setting: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl SettingsError {
    fn new(setting: impl Into<String>, problem: impl Into<String>) -> SettingsError {
        SettingsError {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The command line.
    Flag,
    /// An environment variable (its name).
    Env(String),
    /// The config file (its path).
    Config(PathBuf),
}

/// One resolved value and its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    key: &'static str,
    value: String,
    origin: Origin,
}

impl Found {
    /// `--key`, `--key (from ENV)`, `--key (key in file)`.
    fn describe(&self) -> String {
        match &self.origin {
            Origin::Flag => format!("--{}", self.key),
            Origin::Env(var) => format!("--{} (from {var})", self.key),
            Origin::Config(path) => format!("--{} ({} in {})", self.key, self.key, path.display()),
        }
    }

    fn rank(&self) -> u8 {
        match self.origin {
            Origin::Flag => 3,
            Origin::Env(_) => 2,
            Origin::Config(_) => 1,
        }
    }
}

/// A parsed config file: keys (kebab-case) to JSON values.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    path: PathBuf,
    values: BTreeMap<String, serde_json::Value>,
}

impl ConfigFile {
    /// Reads a `.toml` or `.json` file (any other extension is read as TOML) and refuses keys
    /// outside `CONFIG_KEYS`.
    pub fn load(path: &Path) -> Result<ConfigFile, SettingsError> {
        let setting = format!("--config {}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::new(&setting, format!("cannot read the file: {e}")))?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        // serde's messages can quote the offending text, which may be a secret: keep only
        // the position.
        let parsed: serde_json::Value = if is_json {
            serde_json::from_str(&text).map_err(|e| {
                SettingsError::new(
                    &setting,
                    format!("invalid JSON at line {} column {}", e.line(), e.column()),
                )
            })?
        } else {
            toml::from_str(&text).map_err(|e| {
                let at = e
                    .span()
                    .map(|span| {
                        let line = text[..span.start.min(text.len())].lines().count().max(1);
                        format!(" near line {line}")
                    })
                    .unwrap_or_default();
                SettingsError::new(&setting, format!("invalid TOML{at}"))
            })?
        };
        let serde_json::Value::Object(map) = parsed else {
            return Err(SettingsError::new(
                &setting,
                "the file must hold a table of settings",
            ));
        };
        let mut values = BTreeMap::new();
        for (key, value) in map {
            let normalized = key.replace('_', "-").to_ascii_lowercase();
            if !CONFIG_KEYS.contains(&normalized.as_str()) {
                return Err(SettingsError::new(
                    &setting,
                    format!(
                        "unknown key {key:?}; known keys: {}",
                        CONFIG_KEYS.join(", ")
                    ),
                ));
            }
            values.insert(normalized, value);
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            values,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The environment lookup; tests pass a map, `main` passes `std::env::var`.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Flags, environment and config file, consulted in that order.
struct Layers<'a> {
    env: Env<'a>,
    config: Option<&'a ConfigFile>,
}

impl Layers<'_> {
    /// Environment variable names for a flag: `SF_ACCESS_X`, then `BATON_X`.
    fn env_names(key: &str) -> [String; 2] {
        let upper = key.replace('-', "_").to_ascii_uppercase();
        [format!("SF_ACCESS_{upper}"), format!("BATON_{upper}")]
    }

    /// The highest-precedence value of `key`. Empty environment values count as unset
    /// (container platforms export unset variables as "").
    fn get(&self, key: &'static str, flag: Option<&str>) -> Result<Option<Found>, SettingsError> {
        if let Some(value) = flag {
            return Ok(Some(Found {
                key,
                value: value.to_string(),
                origin: Origin::Flag,
            }));
        }
        for var in Layers::env_names(key) {
            if let Some(value) = (self.env)(&var)
                && !value.is_empty()
            {
                return Ok(Some(Found {
                    key,
                    value,
                    origin: Origin::Env(var),
                }));
            }
        }
        let Some(config) = self.config else {
            return Ok(None);
        };
        let Some(value) = config.values.get(key) else {
            return Ok(None);
        };
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => return Ok(None),
            serde_json::Value::Object(map)
                if key == "license-to-least-privileged-profile-mapping" =>
            {
                // A TOML table / JSON object is the readable form of `License=Profile,...`.
                let mut pairs = Vec::new();
                for (license, profile) in map {
                    let serde_json::Value::String(profile) = profile else {
                        return Err(SettingsError::new(
                            format!("--{key} ({key} in {})", config.path.display()),
                            format!("the profile for license {license:?} must be a string"),
                        ));
                    };
                    pairs.push(format!("{license}={profile}"));
                }
                pairs.join(",")
            }
            _ => {
                return Err(SettingsError::new(
                    format!("--{key} ({key} in {})", config.path.display()),
                    "must be a string, a number or a boolean",
                ));
            }
        };
        Ok(Some(Found {
            key,
            value: text,
            origin: Origin::Config(config.path.clone()),
        }))
    }

    /// A boolean setting: a set flag wins; otherwise environment or config.
    fn get_bool(&self, key: &'static str, flag: bool) -> Result<bool, SettingsError> {
        if flag {
            return Ok(true);
        }
        match self.get(key, None)? {
            None => Ok(false),
            Some(found) => match found.value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(SettingsError::new(
                    found.describe(),
                    "must be true or false",
                )),
            },
        }
    }

    /// A secret given as `key` or as `key-file`; the higher-precedence source wins, and the
    /// two at the same level are an error. Plain flags warn.
    fn get_secret(
        &self,
        key: &'static str,
        file_key: &'static str,
        flag: Option<&str>,
        file_flag: Option<&Path>,
    ) -> Result<Option<(Secret, String)>, SettingsError> {
        let direct = self.get(key, flag)?;
        let file_flag = file_flag.map(|p| p.to_string_lossy().into_owned());
        let file = self.get(file_key, file_flag.as_deref())?;
        let chosen = match (direct, file) {
            (None, None) => return Ok(None),
            (Some(d), Some(f)) if d.rank() == f.rank() => {
                return Err(SettingsError::new(
                    format!("{} and {}", d.describe(), f.describe()),
                    format!("give the {key} once, either directly or as a file"),
                ));
            }
            (Some(d), Some(f)) => {
                if d.rank() > f.rank() {
                    Ok(d)
                } else {
                    Err(f)
                }
            }
            (Some(d), None) => Ok(d),
            (None, Some(f)) => Err(f),
        };
        match chosen {
            Ok(direct) => {
                if direct.origin == Origin::Flag {
                    let [env, _] = Layers::env_names(key);
                    tracing::warn!(
                        "--{key} on the command line is visible in the process list and shell history; \
                         use {env}, the config file or --{file_key}"
                    );
                }
                let described = direct.describe();
                Ok(Some((Secret::new(direct.value), described)))
            }
            Err(file) => {
                let described = file.describe();
                let text = std::fs::read_to_string(&file.value).map_err(|e| {
                    SettingsError::new(&described, format!("cannot read {}: {e}", file.value))
                })?;
                let value = text.trim_end_matches(['\r', '\n']).to_string();
                if value.is_empty() {
                    return Err(SettingsError::new(
                        &described,
                        format!("{} is empty", file.value),
                    ));
                }
                Ok(Some((Secret::new(value), described)))
            }
        }
    }
}

fn parse_number<T: std::str::FromStr>(found: &Found, what: &str) -> Result<T, SettingsError> {
    found.value.trim().parse::<T>().map_err(|_| {
        SettingsError::new(found.describe(), format!("{:?} is not {what}", found.value))
    })
}

/// Validated connection settings: a client configuration plus what `check` reports.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// What the client needs.
    pub client: ClientConfig,
    /// Where the instance URL came from (`--instance-url (from SF_ACCESS_INSTANCE_URL)`).
    pub instance_source: String,
    /// True when `--auth-method` was inferred rather than given.
    pub auth_method_inferred: bool,
}

impl ConnectionSettings {
    /// Resolves the connection flags with the environment and the config file.
    pub fn resolve(
        args: &ConnectionArgs,
        env: Env<'_>,
    ) -> Result<ConnectionSettings, SettingsError> {
        let config = args.config.as_deref().map(ConfigFile::load).transpose()?;
        ConnectionSettings::resolve_with(args, env, config.as_ref())
    }

    /// Resolves with an already loaded config file.
    pub fn resolve_with(
        args: &ConnectionArgs,
        env: Env<'_>,
        config: Option<&ConfigFile>,
    ) -> Result<ConnectionSettings, SettingsError> {
        let layers = Layers { env, config };
        let get = |key: &'static str, flag: &Option<String>| layers.get(key, flag.as_deref());

        // Where the org is.
        let instance_url = get("instance-url", &args.instance_url)?;
        let login_url = get("salesforce-login-url", &args.salesforce_login_url)?;
        let (mut instance, instance_source) = match (&instance_url, &login_url) {
            (Some(found), _) => (
                Instance::parse(&found.value)
                    .map_err(|e| SettingsError::new(found.describe(), e.to_string()))?,
                found.describe(),
            ),
            (None, Some(found)) => (
                Instance::parse(&found.value)
                    .map_err(|e| SettingsError::new(found.describe(), e.to_string()))?,
                found.describe(),
            ),
            (None, None) => {
                return Err(SettingsError::new(
                    "--instance-url",
                    "is required: give the org's My Domain (acme, acme.my.salesforce.com, \
                     acme.lightning.force.com, ...) with --instance-url or SF_ACCESS_INSTANCE_URL",
                ));
            }
        };
        if let (Some(_), Some(login)) = (&instance_url, &login_url) {
            instance = instance
                .with_login_url(&login.value)
                .map_err(|e| SettingsError::new(login.describe(), e.to_string()))?;
        }

        // Credentials.
        let client_id = get("salesforce-client-id", &args.salesforce_client_id)?;
        let client_secret = layers.get_secret(
            "salesforce-client-secret",
            "salesforce-client-secret-file",
            args.salesforce_client_secret.as_deref(),
            args.salesforce_client_secret_file.as_deref(),
        )?;
        let private_key = get("salesforce-private-key", &args.salesforce_private_key)?;
        let jwt_subject = get("salesforce-jwt-subject", &args.salesforce_jwt_subject)?;
        let username = get("salesforce-username", &args.salesforce_username)?;
        let password = layers.get_secret(
            "salesforce-password",
            "salesforce-password-file",
            args.salesforce_password.as_deref(),
            args.salesforce_password_file.as_deref(),
        )?;
        let security_token = layers.get_secret(
            "security-token",
            "security-token-file",
            args.security_token.as_deref(),
            args.security_token_file.as_deref(),
        )?;
        let refresh_token = layers.get_secret(
            "salesforce-refresh-token",
            "salesforce-refresh-token-file",
            args.salesforce_refresh_token.as_deref(),
            args.salesforce_refresh_token_file.as_deref(),
        )?;
        let method = get("auth-method", &args.auth_method)?;

        let (flow, inferred) = match &method {
            Some(found) => (parse_flow(found)?, false),
            None => (
                infer_flow(
                    private_key.is_some(),
                    refresh_token.is_some(),
                    password.is_some(),
                    client_secret.is_some(),
                )?,
                true,
            ),
        };

        let need = |found: &Option<Found>, key: &str| -> Result<String, SettingsError> {
            found.as_ref().map(|f| f.value.clone()).ok_or_else(|| {
                SettingsError::new(
                    format!("--{key}"),
                    format!(
                        "is required by the {flow} login{}",
                        inferred_note(inferred, flow)
                    ),
                )
            })
        };
        let need_secret = |found: &Option<(Secret, String)>,
                           key: &str|
         -> Result<Secret, SettingsError> {
            found.as_ref().map(|(s, _)| s.clone()).ok_or_else(|| {
                SettingsError::new(
                    format!("--{key}"),
                    format!(
                        "is required by the {flow} login{}; give it with SF_ACCESS_{}, the config file or --{key}-file",
                        inferred_note(inferred, flow),
                        key.replace('-', "_").to_ascii_uppercase()
                    ),
                )
            })
        };
        let ignored = |present: bool, key: &str| {
            if present {
                tracing::warn!("--{key} is ignored by the {flow} login");
            }
        };

        let credentials = match flow {
            AuthFlow::JwtBearer => {
                let key_found = private_key.as_ref().ok_or_else(|| {
                    SettingsError::new(
                        "--salesforce-private-key",
                        format!(
                            "is required by the jwt-bearer login{}",
                            inferred_note(inferred, flow)
                        ),
                    )
                })?;
                let subject = jwt_subject.as_ref().or(username.as_ref()).ok_or_else(|| {
                    SettingsError::new(
                        "--salesforce-jwt-subject",
                        "is required by the jwt-bearer login: the Salesforce username to act as \
                         (or give --salesforce-username)",
                    )
                })?;
                ignored(password.is_some(), "salesforce-password");
                ignored(refresh_token.is_some(), "salesforce-refresh-token");
                Credentials::JwtBearer {
                    client_id: need(&client_id, "salesforce-client-id")?,
                    username: subject.value.clone(),
                    private_key: load_private_key(key_found)?,
                }
            }
            AuthFlow::ClientCredentials => {
                if instance.form == HostForm::GenericLogin {
                    return Err(SettingsError::new(
                        instance_source.clone(),
                        "the client-credentials login must go to the org's My Domain host \
                         (Salesforce answers \"request not supported on this domain\" on \
                         login/test.salesforce.com): give --instance-url acme.my.salesforce.com",
                    ));
                }
                ignored(password.is_some(), "salesforce-password");
                ignored(refresh_token.is_some(), "salesforce-refresh-token");
                ignored(private_key.is_some(), "salesforce-private-key");
                Credentials::ClientCredentials {
                    client_id: need(&client_id, "salesforce-client-id")?,
                    client_secret: need_secret(&client_secret, "salesforce-client-secret")?,
                }
            }
            AuthFlow::RefreshToken => {
                ignored(password.is_some(), "salesforce-password");
                ignored(private_key.is_some(), "salesforce-private-key");
                Credentials::RefreshToken {
                    client_id: need(&client_id, "salesforce-client-id")?,
                    client_secret: client_secret.as_ref().map(|(s, _)| s.clone()),
                    refresh_token: need_secret(&refresh_token, "salesforce-refresh-token")?,
                }
            }
            AuthFlow::UsernamePassword => {
                tracing::warn!(
                    "the username-password login is deprecated by Salesforce and blocked by default in \
                     orgs created since Summer '23; move to jwt-bearer or client-credentials"
                );
                ignored(refresh_token.is_some(), "salesforce-refresh-token");
                ignored(private_key.is_some(), "salesforce-private-key");
                Credentials::UsernamePassword {
                    client_id: need(&client_id, "salesforce-client-id")?,
                    client_secret: need_secret(&client_secret, "salesforce-client-secret")?,
                    username: need(&username, "salesforce-username")?,
                    password: need_secret(&password, "salesforce-password")?,
                    security_token: security_token.map(|(s, _)| s),
                }
            }
        };

        let mut client = ClientConfig::new(instance, credentials);
        if let Some(found) = get("api-version", &args.api_version)? {
            client.api_version = ApiVersion::parse(&found.value)
                .map_err(|e| SettingsError::new(found.describe(), e))?;
        }
        if let Some(found) = get("requests-per-second", &args.requests_per_second)? {
            client.requests_per_second =
                parse_number::<NonZeroU32>(&found, "a whole number above 0")?;
        }
        if let Some(found) = get("max-concurrency", &args.max_concurrency)? {
            let n = parse_number::<NonZeroUsize>(&found, "a whole number above 0")?;
            if n.get() > 64 {
                return Err(SettingsError::new(
                    found.describe(),
                    "at most 64: Salesforce caps long-running requests at 25 per org",
                ));
            }
            client.max_concurrency = n;
        }
        if let Some(found) = get("max-attempts", &args.max_attempts)? {
            let n = parse_number::<NonZeroU32>(&found, "a whole number above 0")?;
            if n.get() > 10 {
                return Err(SettingsError::new(found.describe(), "at most 10"));
            }
            client.backoff = Backoff {
                max_attempts: n,
                ..client.backoff
            };
        }
        if let Some(found) = get("request-timeout", &args.request_timeout)? {
            let secs = parse_number::<NonZeroU64>(&found, "a number of seconds above 0")?;
            client.timeout = Duration::from_secs(secs.get());
        }
        let budget = match get("api-budget", &args.api_budget)? {
            Some(found) => Some(parse_number::<NonZeroU64>(
                &found,
                "a whole number above 0",
            )?),
            None => None,
        };
        let warn_share = match get("api-usage-warning", &args.api_usage_warning)? {
            Some(found) => {
                let text = found.value.trim().trim_end_matches('%');
                match text.parse::<f64>() {
                    Ok(p) if p > 0.0 && p <= 100.0 => p / 100.0,
                    _ => {
                        return Err(SettingsError::new(
                            found.describe(),
                            "must be a percentage from 1 to 100",
                        ));
                    }
                }
            }
            None => UsageOptions::default().warn_share,
        };
        client.usage = UsageOptions { budget, warn_share };
        let ca_flag = args
            .ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        if let Some(found) = layers.get("ca-file", ca_flag.as_deref())? {
            let path = PathBuf::from(&found.value);
            if !path.is_file() {
                return Err(SettingsError::new(
                    found.describe(),
                    format!("{} is not a readable file", found.value),
                ));
            }
            client.ca_file = Some(path);
        }
        Ok(ConnectionSettings {
            client,
            instance_source,
            auth_method_inferred: inferred,
        })
    }
}

fn inferred_note(inferred: bool, flow: AuthFlow) -> String {
    if inferred {
        format!(
            " (chosen because of the credentials given; set --auth-method to pick another than {flow})"
        )
    } else {
        String::new()
    }
}

fn parse_flow(found: &Found) -> Result<AuthFlow, SettingsError> {
    match found
        .value
        .trim()
        .to_ascii_lowercase()
        .replace('_', "-")
        .as_str()
    {
        // The `-group` names are baton-salesforce's `--auth-method` values (its field groups).
        "jwt-bearer" | "jwt" | "jwt-bearer-group" => Ok(AuthFlow::JwtBearer),
        "client-credentials" | "client-credentials-group" => Ok(AuthFlow::ClientCredentials),
        "refresh-token" => Ok(AuthFlow::RefreshToken),
        "username-password" | "password" | "username-password-group" => {
            Ok(AuthFlow::UsernamePassword)
        }
        // baton-salesforce's OAuth group reads a token that ConductorOne's web flow stored;
        // sf-access has no such flow, so name the nearest one instead of guessing.
        "oauth-group" => Err(SettingsError::new(
            found.describe(),
            "baton-salesforce's oauth-group (a token from ConductorOne's OAuth web flow) is not \
             supported; use refresh-token with --salesforce-client-id and \
             --salesforce-refresh-token, or jwt-bearer / client-credentials",
        )),
        other => Err(SettingsError::new(
            found.describe(),
            format!(
                "{other:?} is not one of jwt-bearer, client-credentials, refresh-token, username-password"
            ),
        )),
    }
}

/// Picks the flow from the credentials present: a private key means JWT, a refresh token the
/// refresh flow, a password the password flow; a consumer secret alone means client
/// credentials. Two of the first three are ambiguous.
fn infer_flow(
    private_key: bool,
    refresh_token: bool,
    password: bool,
    client_secret: bool,
) -> Result<AuthFlow, SettingsError> {
    let mut candidates = Vec::new();
    if private_key {
        candidates.push(("--salesforce-private-key", AuthFlow::JwtBearer));
    }
    if refresh_token {
        candidates.push(("--salesforce-refresh-token", AuthFlow::RefreshToken));
    }
    if password {
        candidates.push(("--salesforce-password", AuthFlow::UsernamePassword));
    }
    match candidates.as_slice() {
        [(_, flow)] => Ok(*flow),
        [] if client_secret => Ok(AuthFlow::ClientCredentials),
        [] => Err(SettingsError::new(
            "--auth-method",
            "no credentials given. One of: jwt-bearer (--salesforce-client-id, --salesforce-private-key, \
             --salesforce-jwt-subject), client-credentials (--salesforce-client-id, \
             --salesforce-client-secret), refresh-token (--salesforce-client-id, \
             --salesforce-refresh-token), username-password (--salesforce-client-id, \
             --salesforce-client-secret, --salesforce-username, --salesforce-password, --security-token)",
        )),
        many => {
            let flags: Vec<&str> = many.iter().map(|(flag, _)| *flag).collect();
            let flows: Vec<&str> = many.iter().map(|(_, flow)| flow.as_str()).collect();
            Err(SettingsError::new(
                "--auth-method",
                format!(
                    "is ambiguous: {} are all given; choose one of {} with --auth-method",
                    flags.join(" and "),
                    flows.join(", ")
                ),
            ))
        }
    }
}

/// The private key: a path to a PEM file, or (from the environment or the config file) the
/// PEM text itself.
fn load_private_key(found: &Found) -> Result<PrivateKey, SettingsError> {
    let to_settings =
        |e: crate::salesforce::SalesforceError| SettingsError::new(found.describe(), e.to_string());
    if found.value.trim_start().starts_with("-----BEGIN") {
        if found.origin == Origin::Flag {
            tracing::warn!(
                "--salesforce-private-key holds the key itself on the command line; give a file path, \
                 or the PEM text in SF_ACCESS_SALESFORCE_PRIVATE_KEY"
            );
        }
        return PrivateKey::from_pem(&Secret::new(found.value.clone()), "the inline PEM")
            .map_err(to_settings);
    }
    let pem = std::fs::read_to_string(&found.value).map_err(|e| {
        SettingsError::new(
            found.describe(),
            format!("cannot read the key file {}: {e}", found.value),
        )
    })?;
    PrivateKey::from_pem(&Secret::new(pem), &found.value).map_err(to_settings)
}

/// A license named by its name (`Salesforce Platform`) or its `LicenseDefinitionKey` (`AUL`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct LicenseRef(pub String);

/// A profile named by its name or its ID.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileRef {
    /// A profile ID (`00e...`).
    Id(SfId),
    /// A profile name.
    Name(String),
}

impl fmt::Display for ProfileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileRef::Id(id) => write!(f, "{id}"),
            ProfileRef::Name(name) => f.write_str(name),
        }
    }
}

impl ProfileRef {
    /// A profile named by the user: a value that parses as a profile ID (`00e` prefix) is an
    /// ID, anything else a name.
    pub fn parse(text: &str) -> ProfileRef {
        let text = text.trim();
        match SfId::parse(text) {
            Ok(id) if id.key_prefix() == "00e" => ProfileRef::Id(id),
            _ => ProfileRef::Name(text.to_string()),
        }
    }
}

/// `--license-to-least-privileged-profile-mapping`: license -> least-privilege profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LicenseProfileMapping(pub BTreeMap<LicenseRef, ProfileRef>);

impl LicenseProfileMapping {
    /// Parses baton's `License=Profile,License=Profile` format. A value that parses as a
    /// profile ID (`00e` prefix) is an ID; anything else a name.
    pub fn parse(text: &str) -> Result<LicenseProfileMapping, String> {
        let mut map = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (license, profile) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not License=Profile"))?;
            let (license, profile) = (license.trim(), profile.trim());
            if license.is_empty() || profile.is_empty() {
                return Err(format!("{pair:?} needs both a license and a profile"));
            }
            let profile = ProfileRef::parse(profile);
            if map
                .insert(LicenseRef(license.to_string()), profile)
                .is_some()
            {
                return Err(format!("license {license:?} is mapped twice"));
            }
        }
        if map.is_empty() {
            return Err("the mapping is empty; expected 'License=Profile,...'".into());
        }
        Ok(LicenseProfileMapping(map))
    }
}

/// Validated settings of `sf-access check`.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// The connection.
    pub connection: ConnectionSettings,
    /// Also check provisioning permissions.
    pub provisioning: bool,
    /// Also check the connected-app permission.
    pub sync_connected_apps: bool,
    /// The least-privilege mapping to verify, when configured.
    pub mapping: Option<LicenseProfileMapping>,
}

impl CheckSettings {
    /// Resolves `check`'s flags with the environment and the config file.
    pub fn resolve(args: &CheckArgs, env: Env<'_>) -> Result<CheckSettings, SettingsError> {
        let config = args
            .connection
            .config
            .as_deref()
            .map(ConfigFile::load)
            .transpose()?;
        let connection = ConnectionSettings::resolve_with(&args.connection, env, config.as_ref())?;
        let layers = Layers {
            env,
            config: config.as_ref(),
        };
        let mapping = match layers.get(
            "license-to-least-privileged-profile-mapping",
            args.license_to_least_privileged_profile_mapping.as_deref(),
        )? {
            Some(found) => Some(
                LicenseProfileMapping::parse(&found.value)
                    .map_err(|e| SettingsError::new(found.describe(), e))?,
            ),
            None => None,
        };
        Ok(CheckSettings {
            connection,
            provisioning: layers.get_bool("provisioning", args.provisioning)?,
            sync_connected_apps: layers
                .get_bool("sync-connected-apps", args.sync_connected_apps)?,
            mapping,
        })
    }
}

/// Validated settings of `sf-access sync`.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The connection.
    pub connection: ConnectionSettings,
    /// What to read.
    pub options: crate::sync::SyncOptions,
    /// Where to write.
    pub target: crate::sync::StoreTarget,
}

impl SyncSettings {
    /// Resolves `sync`'s flags with the environment and the config file.
    pub fn resolve(args: &SyncArgs, env: Env<'_>) -> Result<SyncSettings, SettingsError> {
        let config = args
            .connection
            .config
            .as_deref()
            .map(ConfigFile::load)
            .transpose()?;
        let connection = ConnectionSettings::resolve_with(&args.connection, env, config.as_ref())?;
        let layers = Layers {
            env,
            config: config.as_ref(),
        };
        let tri_state = |key: &'static str, flag: &Option<String>, default: bool| match layers
            .get(key, flag.as_deref())?
        {
            None => Ok(default),
            Some(found) => parse_bool(&found),
        };
        let batch_size = match layers.get("batch-size", args.batch_size.as_deref())? {
            None => crate::salesforce::BatchSize::default(),
            Some(found) => {
                let n: u32 = parse_number(&found, "a number of rows")?;
                crate::salesforce::BatchSize::new(n)
                    .map_err(|e| SettingsError::new(found.describe(), e))?
            }
        };
        let bulk_above = match layers.get("bulk-above", args.bulk_above.as_deref())? {
            None => None,
            Some(found) => match found.value.trim().to_ascii_lowercase().as_str() {
                "off" | "0" => None,
                _ => Some(parse_number::<u64>(
                    &found,
                    "a number of rows (or off, to read by REST pages only)",
                )?),
            },
        };
        let mut bulk = crate::salesforce::BulkSettings::default();
        if let Some(found) = layers.get("bulk-max-records", args.bulk_max_records.as_deref())? {
            let n: u32 = parse_number(&found, "a number of rows from 2000 to 1000000")?;
            if !(2000..=1_000_000).contains(&n) {
                return Err(SettingsError::new(
                    found.describe(),
                    format!(
                        "{n} is outside 2000 to 1000000 (below 2000 a REST page costs no more calls; \
                         above a million one answer holds too much in memory)"
                    ),
                ));
            }
            bulk.max_records = n;
        }
        let mut target = crate::sync::StoreTarget::new(&args.file);
        if let Some(found) = layers.get("keep-runs", args.keep_runs.as_deref())? {
            target.keep_runs = parse_number(&found, "a number of runs of at least 1")?;
        }
        Ok(SyncSettings {
            connection,
            options: crate::sync::SyncOptions {
                sync_connected_apps: layers
                    .get_bool("sync-connected-apps", args.sync_connected_apps)?,
                sync_deactivated_users: tri_state(
                    "sync-deactivated-users",
                    &args.sync_deactivated_users,
                    true,
                )?,
                sync_non_standard_users: tri_state(
                    "sync-non-standard-users",
                    &args.sync_non_standard_users,
                    false,
                )?,
                user_username_for_email: layers
                    .get_bool("user-username-for-email", args.user_username_for_email)?,
                batch_size,
                concurrent_pages: !args.sequential_pages,
                incremental: layers.get_bool("incremental", args.incremental)?,
                bulk_above,
                bulk,
            },
            target,
        })
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), naming the setting when neither.
fn parse_bool(found: &Found) -> Result<bool, SettingsError> {
    match found.value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(SettingsError::new(
            found.describe(),
            format!("{:?} is not true or false", found.value),
        )),
    }
}

/// Validated settings of the write commands (`grant`, `revoke`, `create-account`, `action`).
#[derive(Debug, Clone)]
pub struct ProvisionSettings {
    /// The connection.
    pub connection: ConnectionSettings,
    /// Writes are allowed (`--provisioning`, `SF_ACCESS_PROVISIONING`, `BATON_PROVISIONING`,
    /// or `provisioning = true` in the config file).
    pub provisioning: bool,
    /// The least-privilege profile per license, for profile revokes.
    pub mapping: Option<LicenseProfileMapping>,
}

impl ProvisionSettings {
    /// Resolves the connection flags, `--provisioning` and the least-privilege mapping with
    /// the environment and the config file.
    pub fn resolve(
        connection: &ConnectionArgs,
        provisioning: bool,
        mapping: Option<&str>,
        env: Env<'_>,
    ) -> Result<ProvisionSettings, SettingsError> {
        let config = connection
            .config
            .as_deref()
            .map(ConfigFile::load)
            .transpose()?;
        let resolved = ConnectionSettings::resolve_with(connection, env, config.as_ref())?;
        let layers = Layers {
            env,
            config: config.as_ref(),
        };
        let mapping = match layers.get("license-to-least-privileged-profile-mapping", mapping)? {
            Some(found) => Some(
                LicenseProfileMapping::parse(&found.value)
                    .map_err(|e| SettingsError::new(found.describe(), e))?,
            ),
            None => None,
        };
        Ok(ProvisionSettings {
            connection: resolved,
            provisioning: layers.get_bool("provisioning", provisioning)?,
            mapping,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("emulator/keys/jwt-private.pem");

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn temp_file(dir: &tempfile::TempDir, name: &str, contents: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn cc_args() -> ConnectionArgs {
        ConnectionArgs {
            salesforce_client_id: Some("3MVGclient".into()),
            ..ConnectionArgs::default()
        }
    }

    #[test]
    fn flag_beats_env_beats_config_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let config = temp_file(
            &dir,
            "precedence.toml",
            "instance-url = \"config.my.salesforce.com\"\nsalesforce_client_secret = \"from-config\"\n\
             max-concurrency = 3\napi-version = \"60.0\"\n",
        );
        let args = ConnectionArgs {
            config: Some(config),
            ..cc_args()
        };
        // Config only.
        let s = ConnectionSettings::resolve(&args, &no_env).unwrap();
        assert_eq!(
            s.client.instance.api_url.unwrap().host_str(),
            Some("config.my.salesforce.com")
        );
        assert_eq!(s.client.max_concurrency.get(), 3);
        assert_eq!(s.client.api_version.as_str(), "60.0");
        assert_eq!(s.client.requests_per_second.get(), 100, "default");
        // Baton's variable beats the config file; ours beats baton's.
        let env = env_of(&[("BATON_INSTANCE_URL", "baton.my.salesforce.com")]);
        let s = ConnectionSettings::resolve(&args, &env).unwrap();
        assert_eq!(
            s.client.instance.api_url.unwrap().host_str(),
            Some("baton.my.salesforce.com")
        );
        assert!(s.instance_source.contains("BATON_INSTANCE_URL"));
        let env = env_of(&[
            ("BATON_INSTANCE_URL", "baton.my.salesforce.com"),
            ("SF_ACCESS_INSTANCE_URL", "ours.my.salesforce.com"),
        ]);
        let s = ConnectionSettings::resolve(&args, &env).unwrap();
        assert_eq!(
            s.client.instance.api_url.unwrap().host_str(),
            Some("ours.my.salesforce.com")
        );
        // The flag beats everything.
        let args = ConnectionArgs {
            instance_url: Some("flag.my.salesforce.com".into()),
            ..args
        };
        let s = ConnectionSettings::resolve(&args, &env).unwrap();
        assert_eq!(
            s.client.instance.api_url.unwrap().host_str(),
            Some("flag.my.salesforce.com")
        );
        // Empty variables count as unset.
        let env = env_of(&[("SF_ACCESS_MAX_CONCURRENCY", "")]);
        let args = ConnectionArgs {
            instance_url: Some("acme".into()),
            ..args
        };
        assert_eq!(
            ConnectionSettings::resolve(&args, &env)
                .unwrap()
                .client
                .max_concurrency
                .get(),
            3
        );
    }

    #[test]
    fn json_config_works_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let json = temp_file(
            &dir,
            "settings.json",
            r#"{"instance-url":"acme","salesforce-client-id":"id","salesforce-client-secret":"s","api-budget":50}"#,
        );
        let args = ConnectionArgs {
            config: Some(json),
            ..ConnectionArgs::default()
        };
        let s = ConnectionSettings::resolve(&args, &no_env).unwrap();
        assert_eq!(s.client.usage.budget.map(NonZeroU64::get), Some(50));
        let bad = temp_file(&dir, "typo.toml", "instance_urll = \"acme\"\n");
        let err = ConfigFile::load(&bad).unwrap_err();
        assert!(
            err.problem.contains("unknown key \"instance_urll\""),
            "{err}"
        );
        let broken = temp_file(
            &dir,
            "broken.toml",
            "salesforce-client-secret = \"s3cr3t-value\nx\n",
        );
        let err = ConfigFile::load(&broken).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn auth_method_is_inferred_and_ambiguity_names_the_flags() {
        let base = ConnectionArgs {
            instance_url: Some("acme".into()),
            ..cc_args()
        };
        let env = env_of(&[("SF_ACCESS_SALESFORCE_CLIENT_SECRET", "s")]);
        let s = ConnectionSettings::resolve(&base, &env).unwrap();
        assert_eq!(s.client.credentials.flow(), AuthFlow::ClientCredentials);
        assert!(s.auth_method_inferred);

        let env = env_of(&[
            ("SF_ACCESS_SALESFORCE_CLIENT_SECRET", "s"),
            ("SF_ACCESS_SALESFORCE_REFRESH_TOKEN", "r"),
        ]);
        let s = ConnectionSettings::resolve(&base, &env).unwrap();
        assert_eq!(s.client.credentials.flow(), AuthFlow::RefreshToken);

        let env = env_of(&[
            ("SF_ACCESS_SALESFORCE_REFRESH_TOKEN", "r"),
            ("SF_ACCESS_SALESFORCE_PASSWORD", "p"),
            ("SF_ACCESS_SALESFORCE_USERNAME", "u@x.com"),
        ]);
        let err = ConnectionSettings::resolve(&base, &env).unwrap_err();
        assert!(
            err.problem
                .contains("--salesforce-refresh-token and --salesforce-password"),
            "{err}"
        );
        assert!(err.problem.contains("--auth-method"), "{err}");

        let args = ConnectionArgs {
            auth_method: Some("refresh-token".into()),
            ..base.clone()
        };
        assert_eq!(
            ConnectionSettings::resolve(&args, &env)
                .unwrap()
                .client
                .credentials
                .flow(),
            AuthFlow::RefreshToken
        );

        let err = ConnectionSettings::resolve(&base, &no_env).unwrap_err();
        assert!(err.problem.contains("no credentials given"), "{err}");
    }

    #[test]
    fn each_flow_names_its_missing_setting() {
        let args = ConnectionArgs {
            instance_url: Some("acme".into()),
            auth_method: Some("username-password".into()),
            ..cc_args()
        };
        let env = env_of(&[
            ("SF_ACCESS_SALESFORCE_CLIENT_SECRET", "s"),
            ("SF_ACCESS_SALESFORCE_PASSWORD", "p"),
        ]);
        let err = ConnectionSettings::resolve(&args, &env).unwrap_err();
        assert_eq!(err.setting, "--salesforce-username");

        let args = ConnectionArgs {
            auth_method: Some("jwt-bearer".into()),
            salesforce_private_key: Some(KEY.into()),
            ..args
        };
        let err = ConnectionSettings::resolve(&args, &no_env).unwrap_err();
        assert_eq!(err.setting, "--salesforce-jwt-subject");

        let args = ConnectionArgs {
            salesforce_jwt_subject: Some("integration@acme.com".into()),
            ..args
        };
        let s = ConnectionSettings::resolve(&args, &no_env).unwrap();
        assert_eq!(s.client.credentials.flow(), AuthFlow::JwtBearer);

        let args = ConnectionArgs {
            instance_url: Some("login.salesforce.com".into()),
            auth_method: Some("client-credentials".into()),
            salesforce_client_secret: Some("s".into()),
            ..cc_args()
        };
        let err = ConnectionSettings::resolve(&args, &no_env).unwrap_err();
        assert!(err.problem.contains("My Domain"), "{err}");

        let args = ConnectionArgs {
            auth_method: Some("saml".into()),
            ..args
        };
        let err = ConnectionSettings::resolve(&args, &no_env).unwrap_err();
        assert!(
            err.problem.contains("jwt-bearer, client-credentials"),
            "{err}"
        );
    }

    #[test]
    fn secrets_come_from_files_and_are_never_in_debug_or_errors() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = temp_file(&dir, "secret.txt", "file-secret-value\n");
        let args = ConnectionArgs {
            instance_url: Some("acme".into()),
            salesforce_client_secret_file: Some(secret_file),
            ..cc_args()
        };
        let s = ConnectionSettings::resolve(&args, &no_env).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("file-secret-value"), "{debug}");
        match &s.client.credentials {
            Credentials::ClientCredentials { client_secret, .. } => {
                assert_eq!(client_secret.expose(), "file-secret-value");
            }
            other => panic!("unexpected {other:?}"),
        }
        // Both forms at the same level are refused, without echoing the value.
        let args = ConnectionArgs {
            salesforce_client_secret: Some("flag-secret-value".into()),
            ..args
        };
        let err = ConnectionSettings::resolve(&args, &no_env).unwrap_err();
        assert!(err.problem.contains("once"), "{err}");
        assert!(!err.to_string().contains("flag-secret-value"));
        // The flag beats a file from the environment.
        let other = temp_file(&dir, "other.txt", "env-file-secret");
        let env = env_of(&[(
            "SF_ACCESS_SALESFORCE_CLIENT_SECRET_FILE",
            other.to_str().unwrap(),
        )]);
        let args = ConnectionArgs {
            salesforce_client_secret_file: None,
            ..args
        };
        let s = ConnectionSettings::resolve(&args, &env).unwrap();
        match &s.client.credentials {
            Credentials::ClientCredentials { client_secret, .. } => {
                assert_eq!(client_secret.expose(), "flag-secret-value");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn private_key_from_env_pem_text_or_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = temp_file(&dir, "key.pem", KEY);
        let args = ConnectionArgs {
            instance_url: Some("acme".into()),
            salesforce_jwt_subject: Some("u@acme.com".into()),
            ..cc_args()
        };
        let env = env_of(&[("SF_ACCESS_SALESFORCE_PRIVATE_KEY", KEY)]);
        let s = ConnectionSettings::resolve(&args, &env).unwrap();
        assert_eq!(s.client.credentials.flow(), AuthFlow::JwtBearer);
        assert!(!format!("{s:?}").contains("PRIVATE KEY-----\nMII"));
        let env = env_of(&[("SF_ACCESS_SALESFORCE_PRIVATE_KEY", path.to_str().unwrap())]);
        assert!(ConnectionSettings::resolve(&args, &env).is_ok());
        let env = env_of(&[("SF_ACCESS_SALESFORCE_PRIVATE_KEY", "/nonexistent/key.pem")]);
        let err = ConnectionSettings::resolve(&args, &env).unwrap_err();
        assert!(
            err.setting.contains("SF_ACCESS_SALESFORCE_PRIVATE_KEY"),
            "{err}"
        );
    }

    #[test]
    fn numbers_are_validated_with_the_setting_named() {
        let base = ConnectionArgs {
            instance_url: Some("acme".into()),
            salesforce_client_secret: Some("s".into()),
            ..cc_args()
        };
        for (args, setting) in [
            (
                ConnectionArgs {
                    max_concurrency: Some("0".into()),
                    ..base.clone()
                },
                "--max-concurrency",
            ),
            (
                ConnectionArgs {
                    api_budget: Some("lots".into()),
                    ..base.clone()
                },
                "--api-budget",
            ),
            (
                ConnectionArgs {
                    api_usage_warning: Some("150".into()),
                    ..base.clone()
                },
                "--api-usage-warning",
            ),
            (
                ConnectionArgs {
                    api_version: Some("25.0".into()),
                    ..base.clone()
                },
                "--api-version",
            ),
            (
                ConnectionArgs {
                    ca_file: Some("/nonexistent/ca.pem".into()),
                    ..base.clone()
                },
                "--ca-file",
            ),
        ] {
            let err = ConnectionSettings::resolve(&args, &no_env).unwrap_err();
            assert_eq!(err.setting, setting, "{err}");
        }
        let args = ConnectionArgs {
            api_usage_warning: Some("90%".into()),
            ..base
        };
        let s = ConnectionSettings::resolve(&args, &no_env).unwrap();
        assert!((s.client.usage.warn_share - 0.9).abs() < 1e-9);
    }

    #[test]
    fn license_mapping_parses_names_keys_and_ids() {
        let m = LicenseProfileMapping::parse(
            "Salesforce=Minimum Access - Salesforce, AUL = 00exx000000AbCdAAK ,",
        )
        .unwrap();
        assert_eq!(
            m.0.get(&LicenseRef("Salesforce".into())),
            Some(&ProfileRef::Name("Minimum Access - Salesforce".into()))
        );
        assert!(matches!(
            m.0.get(&LicenseRef("AUL".into())),
            Some(ProfileRef::Id(_))
        ));
        assert!(LicenseProfileMapping::parse("Salesforce").is_err());
        assert!(
            LicenseProfileMapping::parse("A=x,A=y")
                .unwrap_err()
                .contains("twice")
        );
        assert!(LicenseProfileMapping::parse("=x").is_err());
        assert!(LicenseProfileMapping::parse("").is_err());
    }

    #[test]
    fn check_settings_read_mapping_and_booleans_from_every_layer() {
        let dir = tempfile::tempdir().unwrap();
        let config = temp_file(
            &dir,
            "check.toml",
            "instance-url = \"acme\"\nsalesforce-client-id = \"id\"\nsalesforce-client-secret = \"s\"\n\
             sync-connected-apps = true\n\n[license-to-least-privileged-profile-mapping]\n\
             \"Salesforce\" = \"Minimum Access - Salesforce\"\n",
        );
        let args = CheckArgs {
            connection: ConnectionArgs {
                config: Some(config),
                ..ConnectionArgs::default()
            },
            json: false,
            provisioning: false,
            sync_connected_apps: false,
            license_to_least_privileged_profile_mapping: None,
        };
        let env = env_of(&[("BATON_PROVISIONING", "true")]);
        let s = CheckSettings::resolve(&args, &env).unwrap();
        assert!(s.provisioning && s.sync_connected_apps);
        assert_eq!(s.mapping.unwrap().0.len(), 1);
        let env = env_of(&[("SF_ACCESS_PROVISIONING", "maybe")]);
        let err = CheckSettings::resolve(&args, &env).unwrap_err();
        assert!(err.setting.contains("SF_ACCESS_PROVISIONING"), "{err}");
    }

    fn sync_args(extra: &[&str]) -> SyncArgs {
        use clap::Parser;
        let mut argv = vec![
            "sf-access",
            "sync",
            "--instance-url",
            "acme",
            "--salesforce-client-id",
            "3MVGx",
        ];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Sync(args) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn sync_options_follow_flags_env_and_config_with_baton_defaults() {
        let env = env_of(&[("SF_ACCESS_SALESFORCE_CLIENT_SECRET", "s")]);
        let s = SyncSettings::resolve(&sync_args(&[]), &env).unwrap();
        assert_eq!(s.options, crate::sync::SyncOptions::default());
        assert!(s.options.sync_deactivated_users && !s.options.sync_non_standard_users);
        assert_eq!(s.target.keep_runs.get(), 5);

        let env = env_of(&[
            ("SF_ACCESS_SALESFORCE_CLIENT_SECRET", "s"),
            ("BATON_SYNC_DEACTIVATED_USERS", "false"),
            ("SF_ACCESS_SYNC_CONNECTED_APPS", "yes"),
            ("BATON_BATCH_SIZE", "500"),
        ]);
        let s = SyncSettings::resolve(&sync_args(&["--sync-non-standard-users"]), &env).unwrap();
        assert!(!s.options.sync_deactivated_users);
        assert!(s.options.sync_non_standard_users, "a bare flag means true");
        assert!(s.options.sync_connected_apps);
        assert_eq!(s.options.batch_size.get(), 500);
        // The flag beats the environment.
        let s =
            SyncSettings::resolve(&sync_args(&["--sync-deactivated-users", "true"]), &env).unwrap();
        assert!(s.options.sync_deactivated_users);

        let dir = tempfile::tempdir().unwrap();
        let config = temp_file(
            &dir,
            "sync.toml",
            "salesforce-client-secret = \"s\"\nuser-username-for-email = true\nkeep-runs = 2\n\
             bulk-above = 60000\nbulk-max-records = 50000\nincremental = true\n",
        );
        let path = config.to_str().unwrap();
        let s = SyncSettings::resolve(&sync_args(&["--config", path]), &no_env).unwrap();
        assert!(s.options.incremental);
        assert!(
            !SyncSettings::resolve(&sync_args(&[]), &env)
                .unwrap()
                .options
                .incremental
        );
        assert!(s.options.user_username_for_email);
        assert_eq!(s.target.keep_runs.get(), 2);
        assert_eq!(s.options.bulk_above, Some(60_000));
        assert_eq!(s.options.bulk.max_records, 50_000);

        // Bulk API 2.0: off by default; a number of rows, or off, from any layer.
        let s = SyncSettings::resolve(&sync_args(&[]), &env).unwrap();
        assert_eq!(s.options.bulk_above, None);
        assert_eq!(s.options.bulk.max_records, 100_000);
        let s = SyncSettings::resolve(
            &sync_args(&["--bulk-above", "50000", "--bulk-max-records", "20000"]),
            &env,
        )
        .unwrap();
        assert_eq!(s.options.bulk_above, Some(50_000));
        assert_eq!(s.options.bulk.max_records, 20_000);
        let bulk_env = env_of(&[
            ("SF_ACCESS_SALESFORCE_CLIENT_SECRET", "s"),
            ("SF_ACCESS_BULK_ABOVE", "10000"),
        ]);
        let s = SyncSettings::resolve(&sync_args(&[]), &bulk_env).unwrap();
        assert_eq!(s.options.bulk_above, Some(10_000));
        let s = SyncSettings::resolve(&sync_args(&["--bulk-above", "off"]), &bulk_env).unwrap();
        assert_eq!(s.options.bulk_above, None, "the flag beats the environment");

        for (flag, value, says) in [
            ("--bulk-above", "lots", "a number of rows (or off"),
            ("--bulk-max-records", "500", "2000 to 1000000"),
            ("--bulk-max-records", "many", "a number of rows"),
            ("--batch-size", "100", "200 to 2000"),
            ("--keep-runs", "0", "at least 1"),
            ("--sync-deactivated-users", "maybe", "true or false"),
        ] {
            let err = SyncSettings::resolve(&sync_args(&[flag, value]), &env).unwrap_err();
            assert!(err.setting.contains(flag), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn baton_salesforce_auth_method_group_names_are_aliases() {
        let found = |value: &str| Found {
            key: "auth-method",
            value: value.to_owned(),
            origin: Origin::Env("BATON_AUTH_METHOD".into()),
        };
        assert_eq!(
            parse_flow(&found("client-credentials-group")).unwrap(),
            AuthFlow::ClientCredentials
        );
        assert_eq!(
            parse_flow(&found("jwt-bearer-group")).unwrap(),
            AuthFlow::JwtBearer
        );
        assert_eq!(
            parse_flow(&found("username-password-group")).unwrap(),
            AuthFlow::UsernamePassword
        );
        let err = parse_flow(&found("oauth-group")).unwrap_err();
        assert!(err.problem.contains("refresh-token"), "{err}");
        assert!(err.setting.contains("BATON_AUTH_METHOD"), "{err}");
    }
}
