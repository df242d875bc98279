//! Instance URLs: every host form an admin may paste (facts section 2), normalized to the
//! org's API host (My Domain) and its login host (the JWT audience and the token endpoint of
//! last resort).
//!
//! Lightning, Setup, Experience Cloud and Sites hosts map to the My Domain host so requests
//! never go through a 302 that drops a POST body (facts section 2). Plain `http://` is
//! accepted only for loopback addresses, where the emulator listens. This module parses;
//! it does not resolve DNS or connect.

use std::fmt;
use std::net::IpAddr;

use url::Url;

/// The host forms this module accepts, for error messages and `--help`.
pub const ACCEPTED_FORMS: &str = "\
  acme                                   (My Domain name; acme--uat for a sandbox, acme-dev-ed for Developer Edition)
  acme.my.salesforce.com                 (My Domain)
  acme--uat.sandbox.my.salesforce.com    (sandbox; also .develop., .scratch., .patch., .demo., .trailblaze., .free.)
  acme.lightning.force.com               (Lightning; also acme--uat.sandbox.lightning.force.com, acme.develop.lightning.force.com)
  acme.my.salesforce-setup.com           (Setup)
  acme.my.site.com, acme.my.salesforce-sites.com   (Experience Cloud and Sites)
  login.salesforce.com, test.salesforce.com        (generic login; the API host comes from the token response)
  na123.salesforce.com, cs15.salesforce.com        (legacy instance hosts)
  http://127.0.0.1:PORT, http://localhost:PORT     (loopback, e.g. the sf-access emulator)
with or without https:// and any path";

/// The login host of production and Developer Edition orgs.
pub const LOGIN_URL: &str = "https://login.salesforce.com";
/// The login host of sandboxes.
pub const TEST_URL: &str = "https://test.salesforce.com";

/// My Domain partitions of enhanced domains (facts section 2, `OrgDomainLog.DomainPartition`).
const PARTITIONS: &[&str] = &[
    "sandbox",
    "develop",
    "scratch",
    "patch",
    "demo",
    "trailblaze",
    "free",
];

/// Suffixes that map to the My Domain API host by replacing the suffix.
const MY_DOMAIN_SUFFIXES: &[(&str, HostForm)] = &[
    (".my.salesforce.com", HostForm::MyDomain),
    (".lightning.force.com", HostForm::Lightning),
    (".my.salesforce-setup.com", HostForm::Setup),
    (".my.site.com", HostForm::ExperienceSite),
    (".my.salesforce-sites.com", HostForm::SalesforceSites),
];

/// Which accepted form an instance URL matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostForm {
    /// A bare My Domain name (`acme`).
    MyDomainName,
    /// `*.my.salesforce.com`.
    MyDomain,
    /// `*.lightning.force.com`.
    Lightning,
    /// `*.my.salesforce-setup.com`.
    Setup,
    /// `*.my.site.com`.
    ExperienceSite,
    /// `*.my.salesforce-sites.com`.
    SalesforceSites,
    /// `login.salesforce.com` or `test.salesforce.com`.
    GenericLogin,
    /// `na123.salesforce.com` and other instanced hosts.
    LegacyInstance,
    /// `127.0.0.1`, `::1` or `localhost`.
    Loopback,
}

/// Why an instance URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a Salesforce instance URL: {problem}\naccepted forms:\n{ACCEPTED_FORMS}")]
pub struct DomainError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub problem: String,
}

/// A normalized org address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// What the user gave, trimmed.
    pub input: String,
    /// Which form it matched.
    pub form: HostForm,
    /// The REST API origin (`https://acme.my.salesforce.com`); `None` for the generic login
    /// hosts, where the token response says it.
    pub api_url: Option<Url>,
    /// The login origin: the JWT `aud` and the token endpoint when the API host is unknown.
    pub login_url: Url,
    /// True for sandboxes (partition `sandbox`, `--` in the name, `test.salesforce.com`).
    pub is_sandbox: bool,
}

impl Instance {
    /// Parses any accepted form.
    pub fn parse(input: &str) -> Result<Instance, DomainError> {
        let input = input.trim();
        let fail = |problem: &str| DomainError {
            input: input.to_string(),
            problem: problem.to_string(),
        };
        if input.is_empty() {
            return Err(fail("it is empty"));
        }
        let url = if input.contains("://") {
            Url::parse(input).map_err(|e| fail(&format!("it is not a URL ({e})")))?
        } else if is_label(&input.to_ascii_lowercase()) {
            return Ok(Instance::from_my_domain_name(
                input,
                &input.to_ascii_lowercase(),
                HostForm::MyDomainName,
            ));
        } else {
            Url::parse(&format!("https://{input}"))
                .map_err(|e| fail(&format!("it is not a host name ({e})")))?
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(fail(
                "it carries a user name or password; give credentials with the --salesforce-* settings",
            ));
        }
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(fail(&format!("the scheme {scheme:?} is not https")));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(fail("it has no host")),
        };
        if is_loopback(&host) {
            let mut origin = url.clone();
            origin.set_path("");
            origin.set_query(None);
            origin.set_fragment(None);
            return Ok(Instance {
                input: input.to_string(),
                form: HostForm::Loopback,
                api_url: Some(origin),
                login_url: fixed(LOGIN_URL),
                is_sandbox: false,
            });
        }
        if scheme == "http" {
            return Err(fail(
                "plain http:// is allowed only for loopback addresses (127.0.0.1, ::1, localhost); use https://",
            ));
        }
        if url.port().is_some() {
            return Err(fail(
                "Salesforce hosts listen on the default HTTPS port; remove the port",
            ));
        }
        match host.as_str() {
            "login.salesforce.com" => {
                return Ok(Instance {
                    input: input.to_string(),
                    form: HostForm::GenericLogin,
                    api_url: None,
                    login_url: fixed(LOGIN_URL),
                    is_sandbox: false,
                });
            }
            "test.salesforce.com" => {
                return Ok(Instance {
                    input: input.to_string(),
                    form: HostForm::GenericLogin,
                    api_url: None,
                    login_url: fixed(TEST_URL),
                    is_sandbox: true,
                });
            }
            _ => {}
        }
        for (suffix, form) in MY_DOMAIN_SUFFIXES {
            if let Some(prefix) = host.strip_suffix(suffix) {
                let (name, partition) = match prefix.split_once('.') {
                    Some((name, partition)) => (name, Some(partition)),
                    None => (prefix, None),
                };
                if !is_label(name) {
                    return Err(fail(&format!("{name:?} is not a valid My Domain name")));
                }
                if let Some(partition) = partition
                    && !PARTITIONS.contains(&partition)
                {
                    return Err(fail(&format!(
                        "{partition:?} is not a My Domain partition (one of {})",
                        PARTITIONS.join(", ")
                    )));
                }
                return Ok(Instance::from_parts(input, name, partition, *form));
            }
        }
        if let Some(instance) = host.strip_suffix(".salesforce.com")
            && is_legacy_instance(instance)
        {
            return Ok(Instance {
                input: input.to_string(),
                form: HostForm::LegacyInstance,
                api_url: Some(fixed(&format!("https://{host}"))),
                login_url: fixed(if instance.starts_with("cs") {
                    TEST_URL
                } else {
                    LOGIN_URL
                }),
                is_sandbox: instance.starts_with("cs"),
            });
        }
        Err(fail(&format!(
            "the host {host:?} is not a Salesforce host sf-access knows"
        )))
    }

    /// A bare name: `acme`, `acme--uat` (sandbox), `acme-dev-ed` (Developer Edition).
    fn from_my_domain_name(input: &str, name: &str, form: HostForm) -> Instance {
        let partition = if name.contains("--") {
            Some("sandbox")
        } else if name.ends_with("-dev-ed") {
            Some("develop")
        } else {
            None
        };
        Instance::from_parts(input, name, partition, form)
    }

    fn from_parts(input: &str, name: &str, partition: Option<&str>, form: HostForm) -> Instance {
        let host = match partition {
            Some(p) => format!("{name}.{p}.my.salesforce.com"),
            None => format!("{name}.my.salesforce.com"),
        };
        // Sandboxes are always partitioned under enhanced domains; a `--` in the name marks a
        // sandbox on the older, unpartitioned hosts too.
        let is_sandbox = partition == Some("sandbox") || name.contains("--");
        Instance {
            input: input.to_string(),
            form,
            api_url: Some(fixed(&format!("https://{host}"))),
            login_url: fixed(if is_sandbox { TEST_URL } else { LOGIN_URL }),
            is_sandbox,
        }
    }

    /// Replaces the login host (`--salesforce-login-url`): the JWT audience, and the token
    /// endpoint when the API host is unknown. Accepts the same forms as `parse` and keeps
    /// only the origin.
    pub fn with_login_url(mut self, login: &str) -> Result<Instance, DomainError> {
        let parsed = Instance::parse(login)?;
        self.login_url = match parsed.form {
            HostForm::GenericLogin => parsed.login_url,
            _ => match parsed.api_url {
                Some(url) => url,
                None => parsed.login_url,
            },
        };
        if self.form == HostForm::GenericLogin {
            self.is_sandbox = parsed.is_sandbox;
        }
        Ok(self)
    }

    /// Where `POST /services/oauth2/token` goes: the My Domain host when known (it accepts
    /// every flow, and client credentials are refused anywhere else, facts 1.3), else the
    /// login host.
    pub fn token_base(&self) -> &Url {
        self.api_url.as_ref().unwrap_or(&self.login_url)
    }

    /// The JWT audience: the login origin without a trailing slash (facts 1.4).
    pub fn audience(&self) -> String {
        origin_string(&self.login_url)
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.api_url {
            Some(api) => write!(
                f,
                "{} (login host {})",
                origin_string(api),
                origin_string(&self.login_url)
            ),
            None => write!(
                f,
                "API host from the token response (login host {})",
                origin_string(&self.login_url)
            ),
        }
    }
}

/// `scheme://host[:port]` without the trailing slash `Url` adds.
pub fn origin_string(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

fn fixed(s: &str) -> Url {
    Url::parse(s).expect("hosts built here from validated labels are URLs")
}

/// A DNS label as My Domain allows it: letters, digits and hyphens, not at either end.
/// `--` (the sandbox separator) is allowed inside.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `na123`, `cs15`, `usa77s`, `eu12`: letters, digits, optional trailing `s`.
fn is_legacy_instance(s: &str) -> bool {
    let letters = s.bytes().take_while(u8::is_ascii_lowercase).count();
    let rest = &s[letters..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (2..=4).contains(&letters) && digits > 0 && matches!(&rest[digits..], "" | "s")
}

fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, API origin, login origin, sandbox)
    const TABLE: &[(&str, Option<&str>, &str, bool)] = &[
        (
            "acme",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "Acme",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme--uat",
            Some("https://acme--uat.sandbox.my.salesforce.com"),
            TEST_URL,
            true,
        ),
        (
            "acme-dev-ed",
            Some("https://acme-dev-ed.develop.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme.my.salesforce.com",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "https://acme.my.salesforce.com",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "https://acme.my.salesforce.com/",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "HTTPS://ACME.MY.SALESFORCE.COM/home/home.jsp",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme--uat.sandbox.my.salesforce.com",
            Some("https://acme--uat.sandbox.my.salesforce.com"),
            TEST_URL,
            true,
        ),
        (
            "acme.lightning.force.com",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "https://acme.lightning.force.com/lightning/setup/SetupOneHome/home",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme-dev-ed.develop.lightning.force.com",
            Some("https://acme-dev-ed.develop.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "https://acme--uat.sandbox.lightning.force.com/lightning/page/home",
            Some("https://acme--uat.sandbox.my.salesforce.com"),
            TEST_URL,
            true,
        ),
        (
            "acme.scratch.my.salesforce.com",
            Some("https://acme.scratch.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme.scratch.lightning.force.com",
            Some("https://acme.scratch.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme.trailblaze.my.salesforce.com",
            Some("https://acme.trailblaze.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme.my.salesforce-setup.com",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme.my.site.com",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "acme--uat.sandbox.my.site.com",
            Some("https://acme--uat.sandbox.my.salesforce.com"),
            TEST_URL,
            true,
        ),
        (
            "acme.my.salesforce-sites.com",
            Some("https://acme.my.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        ("login.salesforce.com", None, LOGIN_URL, false),
        ("https://login.salesforce.com/", None, LOGIN_URL, false),
        ("test.salesforce.com", None, TEST_URL, true),
        (
            "na123.salesforce.com",
            Some("https://na123.salesforce.com"),
            LOGIN_URL,
            false,
        ),
        (
            "cs15.salesforce.com",
            Some("https://cs15.salesforce.com"),
            TEST_URL,
            true,
        ),
        (
            "http://127.0.0.1:8443",
            Some("http://127.0.0.1:8443"),
            LOGIN_URL,
            false,
        ),
        (
            "http://localhost:9000/services/data",
            Some("http://localhost:9000"),
            LOGIN_URL,
            false,
        ),
        (
            "http://[::1]:9000",
            Some("http://[::1]:9000"),
            LOGIN_URL,
            false,
        ),
        (
            "https://127.0.0.1:8443",
            Some("https://127.0.0.1:8443"),
            LOGIN_URL,
            false,
        ),
    ];

    #[test]
    fn every_accepted_form_gives_the_api_and_login_hosts() {
        for (input, api, login, sandbox) in TABLE {
            let instance = Instance::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                instance.api_url.as_ref().map(origin_string).as_deref(),
                *api,
                "{input}"
            );
            assert_eq!(origin_string(&instance.login_url), *login, "{input}");
            assert_eq!(instance.is_sandbox, *sandbox, "{input}");
        }
    }

    #[test]
    fn unknown_and_unsafe_hosts_are_refused_with_the_accepted_forms() {
        for input in [
            "",
            "http://acme.my.salesforce.com",
            "https://example.com",
            "acme.salesforce.com.evil.com",
            "acme.foo.my.salesforce.com",
            "ftp://acme.my.salesforce.com",
            "https://user:pw@acme.my.salesforce.com",
            "acme.my.salesforce.com:8443",
            "-acme",
            "http://10.0.0.1:8080",
        ] {
            let err = Instance::parse(input).expect_err(input);
            assert!(err.to_string().contains("accepted forms"), "{input}: {err}");
        }
        let err = Instance::parse("http://acme.my.salesforce.com").unwrap_err();
        assert!(err.problem.contains("loopback"), "{err}");
        let err = Instance::parse("https://user:pw@acme.my.salesforce.com").unwrap_err();
        assert!(!err.problem.contains("pw"), "{err}");
    }

    #[test]
    fn token_endpoint_prefers_my_domain_and_audience_follows_login_url() {
        let instance = Instance::parse("acme--uat.sandbox.lightning.force.com").unwrap();
        assert_eq!(
            origin_string(instance.token_base()),
            "https://acme--uat.sandbox.my.salesforce.com"
        );
        assert_eq!(instance.audience(), TEST_URL);
        let generic = Instance::parse("login.salesforce.com").unwrap();
        assert_eq!(origin_string(generic.token_base()), LOGIN_URL);
        let overridden = Instance::parse("http://127.0.0.1:1234")
            .unwrap()
            .with_login_url("https://test.salesforce.com")
            .unwrap();
        assert_eq!(overridden.audience(), TEST_URL);
        assert_eq!(
            origin_string(overridden.token_base()),
            "http://127.0.0.1:1234"
        );
        let my_domain_audience = Instance::parse("acme")
            .unwrap()
            .with_login_url("acme.my.salesforce.com")
            .unwrap();
        assert_eq!(
            my_domain_audience.audience(),
            "https://acme.my.salesforce.com"
        );
    }
}
