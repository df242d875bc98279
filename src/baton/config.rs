//! `sf-access config`: the configuration schema, generated from one table of settings.
//!
//! Two forms: a JSON Schema (draft 2020-12) of the `--config` file, kept in
//! `schemas/config.json` (a test checks it is current), and baton's field-list form
//! (`--format baton`, the shape of a baton connector's `config_schema.json`), which
//! ConductorOne reads to build its configuration form. The table names every key the config
//! file accepts (`settings::CONFIG_KEYS`; a test keeps the two equal), with its type, default,
//! description and whether it is a secret. It does not validate values: `settings.rs` does.

use serde_json::{Map, Value as Json, json};

/// The type of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Text.
    String,
    /// A path to a file.
    Path,
    /// A whole number, at least `min` and at most `max` when given.
    Int {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: Option<i64>,
    },
    /// A number.
    Number {
        /// The value must be above this.
        min: f64,
        /// Largest value.
        max: f64,
    },
    /// true or false.
    Bool,
    /// `License=Profile,...`, or a table in the config file.
    StringMap,
}

/// One setting of the config file (and its flag and environment variables).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// The key, the flag name without `--`.
    pub name: &'static str,
    /// A short name for forms.
    pub display_name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its type.
    pub kind: Kind,
    /// The default, as JSON text (`"25"`, `"\"64.0\""`, `"false"`), when there is one.
    pub default: Option<&'static str>,
    /// The allowed values, for closed sets.
    pub values: &'static [&'static str],
    /// Never printed; given by environment, config file or a `-file` setting.
    pub secret: bool,
    /// The key of the setting that names a file holding this secret, if any. At most one of
    /// the two may be given.
    pub file_key: Option<&'static str>,
    /// Tuning knob rather than something an administrator must decide (baton's `isOps`).
    pub ops: bool,
    /// Needed for every connection (baton's `isRequired`). The JSON Schema does not require
    /// it: a flag or the environment may give it instead of the file.
    pub required: bool,
}

const fn setting(
    name: &'static str,
    display_name: &'static str,
    description: &'static str,
    kind: Kind,
) -> Setting {
    Setting {
        name,
        display_name,
        description,
        kind,
        default: None,
        values: &[],
        secret: false,
        file_key: None,
        ops: false,
        required: false,
    }
}

impl Setting {
    const fn default(mut self, value: &'static str) -> Setting {
        self.default = Some(value);
        self
    }
    const fn values(mut self, values: &'static [&'static str]) -> Setting {
        self.values = values;
        self
    }
    const fn secret(mut self, file_key: Option<&'static str>) -> Setting {
        self.secret = true;
        self.file_key = file_key;
        self
    }
    const fn ops(mut self) -> Setting {
        self.ops = true;
        self
    }
    const fn required(mut self) -> Setting {
        self.required = true;
        self
    }

    /// `SF_ACCESS_<NAME>` and baton's `BATON_<NAME>`, in the order they are read.
    pub fn env_names(&self) -> [String; 2] {
        let upper = self.name.replace('-', "_").to_ascii_uppercase();
        [format!("SF_ACCESS_{upper}"), format!("BATON_{upper}")]
    }
}

const POSITIVE: Kind = Kind::Int { min: 1, max: None };

/// Every setting of the config file, in the order `--help` shows the flags.
pub const SETTINGS: &[Setting] = &[
    setting(
        "instance-url",
        "Instance URL",
        "The org: a My Domain name or host (acme, acme.my.salesforce.com), a Lightning, Setup or sandbox host, login.salesforce.com / test.salesforce.com, or http://127.0.0.1:PORT for the emulator.",
        Kind::String,
    )
    .required(),
    setting(
        "auth-method",
        "Authentication method",
        "The OAuth flow; inferred from the credentials given when absent. baton-salesforce's group names (client-credentials-group, jwt-bearer-group, username-password-group) are accepted too.",
        Kind::String,
    )
    .values(&[
        "jwt-bearer",
        "client-credentials",
        "refresh-token",
        "username-password",
        "jwt-bearer-group",
        "client-credentials-group",
        "username-password-group",
    ]),
    setting(
        "salesforce-client-id",
        "Client ID",
        "Consumer key of the connected app or external client app.",
        Kind::String,
    ),
    setting(
        "salesforce-client-secret",
        "Client Secret",
        "Consumer secret (client-credentials, username-password; optional for refresh-token).",
        Kind::String,
    )
    .secret(Some("salesforce-client-secret-file")),
    setting(
        "salesforce-client-secret-file",
        "Client Secret File",
        "A file holding the consumer secret.",
        Kind::Path,
    ),
    setting(
        "salesforce-private-key",
        "Private Key",
        "JWT bearer: the PEM private key whose certificate is uploaded to the app, or the path of a file holding it.",
        Kind::String,
    )
    .secret(None),
    setting(
        "salesforce-jwt-subject",
        "JWT Subject",
        "JWT bearer: the Salesforce username to act as (defaults to salesforce-username).",
        Kind::String,
    ),
    setting(
        "salesforce-login-url",
        "Login URL",
        "Login host: the JWT audience (https://test.salesforce.com for sandboxes), derived from instance-url when absent.",
        Kind::String,
    ),
    setting(
        "salesforce-username",
        "Salesforce Username",
        "Username for the username-password flow; the JWT subject when salesforce-jwt-subject is absent.",
        Kind::String,
    ),
    setting(
        "salesforce-password",
        "Salesforce Password",
        "Password for the username-password flow, which Salesforce deprecates.",
        Kind::String,
    )
    .secret(Some("salesforce-password-file")),
    setting(
        "salesforce-password-file",
        "Salesforce Password File",
        "A file holding the password.",
        Kind::Path,
    ),
    setting(
        "security-token",
        "Security Token",
        "Security token appended to the password (username-password flow; not needed from trusted IP ranges).",
        Kind::String,
    )
    .secret(Some("security-token-file")),
    setting(
        "security-token-file",
        "Security Token File",
        "A file holding the security token.",
        Kind::Path,
    ),
    setting(
        "salesforce-refresh-token",
        "Refresh Token",
        "Refresh token for the refresh-token flow.",
        Kind::String,
    )
    .secret(Some("salesforce-refresh-token-file")),
    setting(
        "salesforce-refresh-token-file",
        "Refresh Token File",
        "A file holding the refresh token.",
        Kind::Path,
    ),
    setting(
        "api-version",
        "API Version",
        "Salesforce REST API version.",
        Kind::String,
    )
    .default("\"64.0\"")
    .ops(),
    setting(
        "requests-per-second",
        "Requests per Second",
        "Requests per second at most.",
        POSITIVE,
    )
    .default("25")
    .ops(),
    setting(
        "max-concurrency",
        "Max Concurrency",
        "Requests in flight at once at most (Salesforce caps long-running requests at 25 per org).",
        Kind::Int {
            min: 1,
            max: Some(64),
        },
    )
    .default("8")
    .ops(),
    setting(
        "max-attempts",
        "Max Attempts",
        "Attempts per request, the first included, for retryable failures.",
        Kind::Int {
            min: 1,
            max: Some(10),
        },
    )
    .default("4")
    .ops(),
    setting(
        "request-timeout",
        "Request Timeout",
        "Seconds before a request times out.",
        POSITIVE,
    )
    .default("120")
    .ops(),
    setting(
        "api-budget",
        "API Budget",
        "Stop a run before it makes more than this many API calls.",
        POSITIVE,
    )
    .ops(),
    setting(
        "api-usage-warning",
        "API Usage Warning",
        "Warn when the org has used this percentage of its daily API requests.",
        Kind::Number {
            min: 0.0,
            max: 100.0,
        },
    )
    .default("80")
    .ops(),
    setting(
        "ca-file",
        "CA File",
        "Extra trusted CA certificates (PEM), for TLS-intercepting proxies and the emulator.",
        Kind::Path,
    )
    .ops(),
    setting(
        "provisioning",
        "Provisioning",
        "Allow writes (grant, revoke, create-account, actions), as baton's --provisioning.",
        Kind::Bool,
    )
    .default("false"),
    setting(
        "sync-connected-apps",
        "Sync Connected Apps",
        "Also sync connected apps and who may use or has authorized them.",
        Kind::Bool,
    )
    .default("false"),
    setting(
        "sync-deactivated-users",
        "Sync Deactivated Users",
        "Include deactivated users.",
        Kind::Bool,
    )
    .default("true"),
    setting(
        "sync-non-standard-users",
        "Sync Non-Standard Users",
        "Include portal, community, Chatter Free and guest users.",
        Kind::Bool,
    )
    .default("false"),
    setting(
        "user-username-for-email",
        "Use Username for Email",
        "Use each user's username as its email.",
        Kind::Bool,
    )
    .default("false"),
    setting(
        "batch-size",
        "Batch Size",
        "Rows per page when reading Salesforce.",
        Kind::Int {
            min: 200,
            max: Some(2000),
        },
    )
    .default("2000")
    .ops(),
    setting(
        "incremental",
        "Incremental Sync",
        "Copy the objects that did not change since the last successful run instead of reading \
         them (one change probe per big object decides); the result is the same as a full sync's.",
        Kind::Bool,
    )
    .default("false")
    .ops(),
    setting(
        "bulk-above",
        "Bulk API Above",
        "Read the rest of an object with more rows than this through a Bulk API 2.0 query job \
         instead of REST pages (far fewer API calls, plus the job's queueing time); absent or 0: \
         REST pages only (the flag and environment also take off).",
        Kind::Int { min: 0, max: None },
    )
    .ops(),
    setting(
        "bulk-max-records",
        "Bulk API Results Rows",
        "Rows per Bulk API 2.0 results set (one API call each).",
        Kind::Int {
            min: 2000,
            max: Some(1_000_000),
        },
    )
    .default("100000")
    .ops(),
    setting(
        "keep-runs",
        "Keep Runs",
        "Successful sync runs kept in the store, the newest included.",
        POSITIVE,
    )
    .default("5")
    .ops(),
    setting(
        "license-to-least-privileged-profile-mapping",
        "License to Least Privileged Profile Mapping",
        "The profile a user is moved to when their profile is revoked, per user license: 'License=Profile,...' (license name or LicenseDefinitionKey; profile name or ID), or a table in the config file.",
        Kind::StringMap,
    ),
];

fn default_json(s: &Setting) -> Option<Json> {
    s.default.and_then(|d| serde_json::from_str(d).ok())
}

/// The JSON Schema (draft 2020-12) of the config file, as `schemas/config.json` holds it.
pub fn json_schema() -> Json {
    let mut properties = Map::new();
    let mut exclusive = Vec::new();
    for s in SETTINGS {
        let mut p = Map::new();
        let [env, baton] = s.env_names();
        p.insert(
            "description".into(),
            Json::String(format!(
                "{} Flag --{}; environment {env}, then {baton}.",
                s.description, s.name
            )),
        );
        match s.kind {
            Kind::String | Kind::Path => {
                p.insert("type".into(), json!("string"));
                p.insert("minLength".into(), json!(1));
            }
            Kind::Int { min, max } => {
                p.insert("type".into(), json!("integer"));
                p.insert("minimum".into(), json!(min));
                if let Some(max) = max {
                    p.insert("maximum".into(), json!(max));
                }
            }
            Kind::Number { min, max } => {
                p.insert("type".into(), json!("number"));
                p.insert("exclusiveMinimum".into(), json!(min));
                p.insert("maximum".into(), json!(max));
            }
            Kind::Bool => {
                p.insert("type".into(), json!("boolean"));
            }
            Kind::StringMap => {
                p.insert(
                    "oneOf".into(),
                    json!([
                        {"type": "string", "pattern": "^[^=,]+=[^,]+(,[^=,]+=[^,]+)*$"},
                        {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}}
                    ]),
                );
            }
        }
        if !s.values.is_empty() {
            p.insert("enum".into(), json!(s.values));
        }
        if let Some(d) = default_json(s) {
            p.insert("default".into(), d);
        }
        if s.secret {
            p.insert("writeOnly".into(), json!(true));
        }
        if let Some(file_key) = s.file_key {
            exclusive.push(json!({"not": {"required": [s.name, file_key]}}));
        }
        properties.insert(s.name.to_owned(), Json::Object(p));
    }
    let mut schema = Map::new();
    schema.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    schema.insert(
        "$id".into(),
        json!("https://sf-access.invalid/schemas/config.json"),
    );
    schema.insert("title".into(), json!("sf-access configuration file"));
    schema.insert(
        "description".into(),
        json!(
            "The --config file (TOML or JSON): the connection and provisioning settings, keyed like the flags (snake_case keys are accepted too). Precedence: flag > environment > config file > default. Generated by `sf-access config` from one table of settings."
        ),
    );
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Json::Object(properties));
    schema.insert("additionalProperties".into(), json!(false));
    schema.insert("allOf".into(), Json::Array(exclusive));
    Json::Object(schema)
}

/// baton's field-list form (`c1.config.v1.Configuration` as protobuf JSON): fields sorted by
/// name, int defaults as strings (int64 in protobuf JSON), secrets marked, and the pairs of a
/// secret and its file as mutually exclusive.
pub fn baton_fields() -> Json {
    let mut settings: Vec<&Setting> = SETTINGS.iter().collect();
    settings.sort_by_key(|s| s.name);
    let fields: Vec<Json> = settings
        .iter()
        .map(|s| {
            let mut f = Map::new();
            f.insert("name".into(), json!(s.name));
            f.insert("displayName".into(), json!(s.display_name));
            f.insert("description".into(), json!(s.description));
            if s.ops {
                f.insert("isOps".into(), json!(true));
            }
            if s.required {
                f.insert("isRequired".into(), json!(true));
            }
            if s.secret {
                f.insert("isSecret".into(), json!(true));
            }
            let default = default_json(s);
            let (key, body) = match s.kind {
                Kind::String | Kind::Path | Kind::Number { .. } => (
                    "stringField",
                    default
                        .map(|d| json!({"defaultValue": d.as_str().map_or_else(|| d.to_string(), str::to_owned)}))
                        .unwrap_or_else(|| json!({})),
                ),
                Kind::Int { .. } => (
                    "intField",
                    default
                        .map(|d| json!({"defaultValue": d.to_string()}))
                        .unwrap_or_else(|| json!({})),
                ),
                Kind::Bool => (
                    "boolField",
                    match default {
                        Some(Json::Bool(true)) => json!({"defaultValue": true}),
                        // false is the protobuf default and is not printed.
                        _ => json!({}),
                    },
                ),
                Kind::StringMap => ("stringMapField", json!({})),
            };
            let body = match (s.required, body) {
                (true, Json::Object(mut b)) => {
                    b.insert("rules".into(), json!({"isRequired": true}));
                    Json::Object(b)
                }
                (_, b) => b,
            };
            f.insert(key.into(), body);
            Json::Object(f)
        })
        .collect();
    let constraints: Vec<Json> = SETTINGS
        .iter()
        .filter_map(|s| {
            s.file_key.map(|file_key| {
                json!({
                    "kind": "CONSTRAINT_KIND_MUTUALLY_EXCLUSIVE",
                    "fieldNames": [s.name, file_key]
                })
            })
        })
        .collect();
    json!({
        "fields": fields,
        "constraints": constraints,
        "displayName": "Salesforce (sf-access)"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_exactly_the_keys_the_config_file_accepts() {
        let mut ours: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        ours.sort();
        let mut accepted = crate::settings::CONFIG_KEYS.to_vec();
        accepted.sort();
        assert_eq!(ours, accepted);
    }

    #[test]
    fn file_keys_and_defaults_are_consistent() {
        for s in SETTINGS {
            if let Some(file_key) = s.file_key {
                let f = SETTINGS.iter().find(|x| x.name == file_key).unwrap();
                assert_eq!(f.kind, Kind::Path, "{}", s.name);
            }
            if let Some(d) = s.default {
                assert!(serde_json::from_str::<Json>(d).is_ok(), "{}: {d}", s.name);
            }
        }
    }

    #[test]
    fn schemas_config_json_is_current() {
        let file = include_str!("../../schemas/config.json");
        let generated = format!(
            "{}\n",
            serde_json::to_string_pretty(&json_schema()).unwrap()
        );
        assert!(
            file == generated,
            "schemas/config.json is stale: run `sf-access config > schemas/config.json`"
        );
    }

    #[test]
    fn schema_accepts_a_typical_file_and_refuses_typos_and_double_secrets() {
        let schema = jsonschema::validator_for(&json_schema()).unwrap();
        let good = json!({
            "instance-url": "acme.my.salesforce.com",
            "auth-method": "client-credentials-group",
            "salesforce-client-id": "3MVG",
            "salesforce-client-secret-file": "/run/secrets/sf",
            "max-concurrency": 8,
            "license-to-least-privileged-profile-mapping": {"Salesforce": "Minimum Access - Salesforce"}
        });
        assert!(schema.is_valid(&good));
        assert!(!schema.is_valid(&json!({"instance-ulr": "x"})));
        assert!(!schema.is_valid(&json!({"max-concurrency": 65})));
        assert!(!schema.is_valid(&json!({
            "salesforce-password": "x", "salesforce-password-file": "/p"
        })));
        assert!(schema.is_valid(&json!({
            "license-to-least-privileged-profile-mapping": "Salesforce=Minimum Access - Salesforce,Salesforce Platform=Minimum Access - Salesforce Platform"
        })));
    }
}
