//! Authentication: the four OAuth flows against `/services/oauth2/token`, the token response
//! with Salesforce's extra fields, and the shared token that every request uses.
//!
//! Facts section 1: access tokens carry no expiry, so a `401 INVALID_SESSION_ID` is the only
//! signal; `Authenticator::reauthenticate` logs in again once per stale token, and concurrent
//! requests that saw the same stale token share that one login. The `instance_url` of the
//! token response is authoritative for every later request.
//!
//! This module must never log, print or put in an error a token, a secret, a password or
//! an assertion: they travel as `Secret` and leave it only in the form body of the token
//! request.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::Mutex;
use url::Url;

use super::domain::{Instance, origin_string};
use super::error::{AuthError, AuthFlow, RequestLabel, SalesforceError};
use super::id::SfId;
use super::retry::{self, Answer, Backoff, Decision, TransportFailure};
use crate::secret::Secret;

/// How long a JWT assertion is valid: Salesforce wants `exp` within about three minutes of
/// now (facts 1.4).
const JWT_LIFETIME_SECS: i64 = 180;

/// An RSA private key for the JWT bearer flow, parsed once. `Debug` names only its source.
#[derive(Clone)]
pub struct PrivateKey {
    key: EncodingKey,
    source: String,
}

impl PrivateKey {
    /// Parses a PEM-encoded RSA key (PKCS#1 or PKCS#8). `source` says where it came from
    /// (a path, or "inline") for error messages.
    pub fn from_pem(pem: &Secret, source: &str) -> Result<PrivateKey, SalesforceError> {
        let key = EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|_| {
            SalesforceError::config(
                "--salesforce-private-key",
                format!(
                    "{source} is not a PEM-encoded RSA private key (expected -----BEGIN PRIVATE KEY----- \
                     or -----BEGIN RSA PRIVATE KEY-----)"
                ),
            )
        })?;
        Ok(PrivateKey {
            key,
            source: source.to_string(),
        })
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({}, [redacted])", self.source)
    }
}

/// What the client logs in with: one of the four flows and its inputs.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// JWT bearer: an assertion signed with the connected app's certificate key (facts 1.4).
    JwtBearer {
        /// Consumer key (`iss`).
        client_id: String,
        /// Salesforce username to act as (`sub`).
        username: String,
        /// The signing key.
        private_key: PrivateKey,
    },
    /// Client credentials, issued for the app's Run As user; My Domain host only (facts 1.3).
    ClientCredentials {
        /// Consumer key.
        client_id: String,
        /// Consumer secret.
        client_secret: Secret,
    },
    /// A refresh token obtained earlier (facts 1.2).
    RefreshToken {
        /// Consumer key.
        client_id: String,
        /// Consumer secret, when the app requires it.
        client_secret: Option<Secret>,
        /// The refresh token.
        refresh_token: Secret,
    },
    /// Username and password (+ security token): deprecated by Salesforce and blocked by
    /// default in orgs created since Summer '23 (facts 1.5).
    UsernamePassword {
        /// Consumer key.
        client_id: String,
        /// Consumer secret.
        client_secret: Secret,
        /// Salesforce username.
        username: String,
        /// Password, without the security token.
        password: Secret,
        /// Security token, appended to the password unless the caller's IP is trusted.
        security_token: Option<Secret>,
    },
}

impl Credentials {
    /// The flow these credentials use.
    pub fn flow(&self) -> AuthFlow {
        match self {
            Credentials::JwtBearer { .. } => AuthFlow::JwtBearer,
            Credentials::ClientCredentials { .. } => AuthFlow::ClientCredentials,
            Credentials::RefreshToken { .. } => AuthFlow::RefreshToken,
            Credentials::UsernamePassword { .. } => AuthFlow::UsernamePassword,
        }
    }

    /// The consumer secret, when the flow has one (it keys the token response signature).
    fn client_secret(&self) -> Option<&Secret> {
        match self {
            Credentials::JwtBearer { .. } => None,
            Credentials::ClientCredentials { client_secret, .. }
            | Credentials::UsernamePassword { client_secret, .. } => Some(client_secret),
            Credentials::RefreshToken { client_secret, .. } => client_secret.as_ref(),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// `POST /services/oauth2/token` success body, every field Salesforce may send (facts 1.1).
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: Secret,
    /// Base URL for REST calls; authoritative.
    pub instance_url: String,
    /// Identity URL `https://<host>/id/<OrgId>/<UserId>`.
    pub id: String,
    /// Always `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Milliseconds since the epoch, as a string (absent in the JWT flow).
    #[serde(default)]
    pub issued_at: Option<String>,
    /// Base64 HMAC-SHA256 of `id` + `issued_at`, keyed with the consumer secret.
    #[serde(default)]
    pub signature: Option<String>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// A new refresh token: only in the refresh flow when the app rotates them.
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// OIDC token when `openid` was granted.
    #[serde(default)]
    pub id_token: Option<Secret>,
    /// Experience Cloud site URL, for tokens issued on a site.
    #[serde(default)]
    pub sfdc_community_url: Option<String>,
    /// Experience Cloud site ID.
    #[serde(default)]
    pub sfdc_community_id: Option<String>,
    /// Seen in newer client-credentials responses (facts 1.3, UNCERTAIN).
    #[serde(default)]
    pub api_instance_url: Option<String>,
}

/// `{"error", "error_description"}`.
#[derive(Debug, Deserialize)]
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Who the token belongs to, from the identity URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// The identity URL.
    pub url: String,
    /// The org.
    pub org_id: SfId,
    /// The user.
    pub user_id: SfId,
}

/// A validated access token.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer token.
    pub access_token: Secret,
    /// Base URL for REST calls (no trailing slash).
    pub instance_url: Url,
    /// The user and org.
    pub identity: Identity,
    /// When Salesforce issued it, when it said.
    pub issued_at: Option<DateTime<Utc>>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The flow that produced it.
    pub flow: AuthFlow,
}

impl TokenResponse {
    /// Validates the response: a usable instance URL, an identity URL with two IDs, and,
    /// when a consumer secret is known and the response is signed, a matching signature.
    pub fn into_token(
        self,
        flow: AuthFlow,
        client_secret: Option<&Secret>,
    ) -> Result<Token, SalesforceError> {
        let invalid = |problem: String| {
            SalesforceError::Auth(AuthError {
                flow,
                status: 200,
                error: "invalid_token_response".into(),
                description: problem,
            })
        };
        if let (Some(secret), Some(signature), Some(issued_at)) =
            (client_secret, &self.signature, &self.issued_at)
        {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(self.id.as_bytes());
            mac.update(issued_at.as_bytes());
            let expected =
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            if &expected != signature {
                return Err(invalid(
                    "the response signature does not match the consumer secret (wrong \
                     --salesforce-client-secret, or the response was altered on the way)"
                        .into(),
                ));
            }
        }
        let instance_url = Url::parse(self.instance_url.trim_end_matches('/'))
            .map_err(|_| invalid("instance_url is not a URL".into()))?;
        let loopback = instance_url
            .host()
            .is_some_and(|h| matches!(h, url::Host::Domain("localhost")) || is_loopback_host(&h));
        if instance_url.scheme() != "https" && !(instance_url.scheme() == "http" && loopback) {
            return Err(invalid(format!(
                "instance_url {} is not https; sf-access sends tokens only over TLS (or to loopback)",
                origin_string(&instance_url)
            )));
        }
        let identity = parse_identity_url(&self.id).ok_or_else(|| {
            invalid("the identity URL (id) does not end in /id/<org id>/<user id>".into())
        })?;
        let issued_at = self
            .issued_at
            .as_deref()
            .and_then(|ms| ms.parse::<i64>().ok())
            .and_then(DateTime::<Utc>::from_timestamp_millis);
        Ok(Token {
            access_token: self.access_token,
            instance_url,
            identity,
            issued_at,
            scopes: self
                .scope
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            flow,
        })
    }
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(d) => *d == "localhost",
    }
}

/// `https://login.salesforce.com/id/00D.../005...` -> org and user IDs.
pub fn parse_identity_url(id: &str) -> Option<Identity> {
    let url = Url::parse(id).ok()?;
    let mut segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let user = SfId::parse(segments.pop()?).ok()?;
    let org = SfId::parse(segments.pop()?).ok()?;
    if segments.pop()? != "id" || org.key_prefix() != "00D" || user.key_prefix() != "005" {
        return None;
    }
    Some(Identity {
        url: id.to_string(),
        org_id: org,
        user_id: user,
    })
}

/// JWT claims (facts 1.4).
#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

/// Signs a JWT bearer assertion.
pub fn sign_assertion(
    client_id: &str,
    username: &str,
    audience: &str,
    key: &PrivateKey,
    now: DateTime<Utc>,
) -> Result<Secret, SalesforceError> {
    let claims = Claims {
        iss: client_id,
        sub: username,
        aud: audience,
        exp: now.timestamp() + JWT_LIFETIME_SECS,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key.key)
        .map(Secret::new)
        .map_err(|e| {
            SalesforceError::config(
                "--salesforce-private-key",
                format!(
                    "cannot sign the JWT assertion with {}: {}",
                    key.source,
                    e.kind_name()
                ),
            )
        })
}

trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind;
        match self.kind() {
            ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
                "the key is not a usable RSA key"
            }
            _ => "signing failed",
        }
    }
}

/// The shared token of a client and the logic to (re)obtain it.
#[derive(Debug)]
pub struct Authenticator {
    credentials: Credentials,
    instance: Instance,
    http: reqwest::Client,
    backoff: Backoff,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    token: Option<Arc<Token>>,
    /// Bumped on every login; a request remembers the generation it used, so that of many
    /// requests failing with the same stale token only the first logs in again.
    generation: u64,
    /// The newest refresh token when the app rotates them (facts 1.2).
    rotated_refresh_token: Option<Secret>,
    /// Token endpoint calls made (for tests and run summaries).
    logins: u64,
}

impl Authenticator {
    /// An authenticator; it logs in on first use.
    pub fn new(
        credentials: Credentials,
        instance: Instance,
        http: reqwest::Client,
        backoff: Backoff,
    ) -> Authenticator {
        Authenticator {
            credentials,
            instance,
            http,
            backoff,
            state: Mutex::new(State::default()),
        }
    }

    /// The flow in use.
    pub fn flow(&self) -> AuthFlow {
        self.credentials.flow()
    }

    /// The current token and its generation, logging in when there is none yet. Concurrent
    /// first callers share one login.
    pub async fn token(&self) -> Result<(Arc<Token>, u64), SalesforceError> {
        let mut state = self.state.lock().await;
        if let Some(token) = &state.token {
            return Ok((token.clone(), state.generation));
        }
        self.login_locked(&mut state).await
    }

    /// Logs in again because the token of generation `stale` was refused. When another
    /// request already replaced that token, returns the newer one without a login.
    pub async fn reauthenticate(&self, stale: u64) -> Result<(Arc<Token>, u64), SalesforceError> {
        let mut state = self.state.lock().await;
        if state.generation != stale
            && let Some(token) = &state.token
        {
            return Ok((token.clone(), state.generation));
        }
        tracing::info!(flow = %self.flow(), "the session expired or was revoked; logging in again");
        self.login_locked(&mut state).await
    }

    /// How many times this authenticator called the token endpoint.
    pub async fn logins(&self) -> u64 {
        self.state.lock().await.logins
    }

    async fn login_locked(&self, state: &mut State) -> Result<(Arc<Token>, u64), SalesforceError> {
        state.logins += 1;
        let rotated = state.rotated_refresh_token.clone();
        let response = self.request_token(rotated.as_ref()).await?;
        if let Some(new_refresh) = &response.refresh_token
            && matches!(self.credentials, Credentials::RefreshToken { .. })
        {
            if state.rotated_refresh_token.is_none() {
                tracing::warn!(
                    flow = %self.flow(),
                    "the connected app rotates refresh tokens: the configured refresh token is now spent, \
                     and the next run needs a new one (turn off refresh token rotation for this app)"
                );
            }
            state.rotated_refresh_token = Some(new_refresh.clone());
        }
        let token = Arc::new(response.into_token(self.flow(), self.credentials.client_secret())?);
        state.generation += 1;
        state.token = Some(token.clone());
        tracing::info!(
            flow = %self.flow(),
            user_id = %token.identity.user_id,
            org_id = %token.identity.org_id,
            instance_url = %origin_string(&token.instance_url),
            "authenticated"
        );
        Ok((token, state.generation))
    }

    /// The form fields of the token request. The values are secrets; the caller only
    /// url-encodes them into the body.
    fn form(
        &self,
        rotated: Option<&Secret>,
    ) -> Result<Vec<(&'static str, Secret)>, SalesforceError> {
        let plain = |s: &str| Secret::new(s);
        Ok(match &self.credentials {
            Credentials::JwtBearer {
                client_id,
                username,
                private_key,
            } => vec![
                (
                    "grant_type",
                    plain("urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ),
                (
                    "assertion",
                    sign_assertion(
                        client_id,
                        username,
                        &self.instance.audience(),
                        private_key,
                        Utc::now(),
                    )?,
                ),
            ],
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => vec![
                ("grant_type", plain("client_credentials")),
                ("client_id", plain(client_id)),
                ("client_secret", client_secret.clone()),
            ],
            Credentials::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => {
                let mut form = vec![
                    ("grant_type", plain("refresh_token")),
                    ("client_id", plain(client_id)),
                    ("refresh_token", rotated.unwrap_or(refresh_token).clone()),
                ];
                if let Some(secret) = client_secret {
                    form.push(("client_secret", secret.clone()));
                }
                form
            }
            Credentials::UsernamePassword {
                client_id,
                client_secret,
                username,
                password,
                security_token,
            } => {
                // The password grant takes the security token appended to the password
                // (facts 1.5).
                let mut combined = password.expose().to_string();
                if let Some(token) = security_token {
                    combined.push_str(token.expose());
                }
                vec![
                    ("grant_type", plain("password")),
                    ("client_id", plain(client_id)),
                    ("client_secret", client_secret.clone()),
                    ("username", plain(username)),
                    ("password", Secret::new(combined)),
                ]
            }
        })
    }

    async fn request_token(
        &self,
        rotated: Option<&Secret>,
    ) -> Result<TokenResponse, SalesforceError> {
        let mut url = self.instance.token_base().clone();
        url.set_path(&format!(
            "{}/services/oauth2/token",
            url.path().trim_end_matches('/')
        ));
        let label = RequestLabel {
            method: reqwest::Method::POST,
            path: url.path().to_string(),
            sobject: None,
        };
        let flow = self.flow();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            // Rebuilt per attempt: a JWT assertion carries its own expiry.
            let form = self.form(rotated)?;
            let body = serde_urlencoded::to_string(
                form.iter()
                    .map(|(k, v)| (*k, v.expose()))
                    .collect::<Vec<_>>(),
            )
            .map_err(|_| {
                SalesforceError::config("credentials", "cannot form-encode the token request")
            })?;
            tracing::debug!(flow = %flow, endpoint = %url, attempt, "requesting an access token");
            let result = self
                .http
                .post(url.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(reqwest::header::ACCEPT, "application/json")
                .body(body)
                .send()
                .await;
            let response = match result {
                Ok(response) => response,
                Err(error) => {
                    let failure = TransportFailure::of(&error);
                    // A token request changes nothing in the org: repeating it is safe.
                    if retry::classify(true, Answer::Transport(failure)) == Decision::Retry
                        && self.backoff.allows_another(attempt)
                    {
                        self.wait(attempt, &label).await;
                        continue;
                    }
                    return Err(SalesforceError::Transport {
                        request: label,
                        attempts: attempt,
                        what: failure.describe(),
                        source: error.without_url(),
                    });
                }
            };
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|error| SalesforceError::Transport {
                    request: label.clone(),
                    attempts: attempt,
                    what: TransportFailure::of(&error).describe(),
                    source: error.without_url(),
                })?;
            if status.is_success() {
                return serde_json::from_slice::<TokenResponse>(&bytes)
                    .map_err(|e| SalesforceError::decode(&label, "a token response", &e));
            }
            let (error, description) = match serde_json::from_slice::<TokenErrorBody>(&bytes) {
                Ok(body) => (body.error, body.error_description),
                Err(_) => (format!("HTTP_{}", status.as_u16()), String::new()),
            };
            let decision = retry::classify(
                true,
                Answer::Status {
                    status: status.as_u16(),
                    code: "",
                    message: "",
                },
            );
            if decision == Decision::Retry && self.backoff.allows_another(attempt) {
                self.wait(attempt, &label).await;
                continue;
            }
            tracing::debug!(flow = %flow, status = status.as_u16(), error_code = %error, "token request refused");
            return Err(SalesforceError::Auth(AuthError {
                flow,
                status: status.as_u16(),
                error,
                description,
            }));
        }
    }

    async fn wait(&self, attempt: u32, label: &RequestLabel) {
        let delay: Duration = self.backoff.delay(attempt);
        tracing::warn!(request = %label, attempt, delay_ms = delay.as_millis() as u64, "token request failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../emulator/keys/jwt-private.pem");

    #[test]
    fn token_response_with_every_field_parses_and_validates() {
        let secret = Secret::new("consumer-secret");
        let id = "https://login.salesforce.com/id/00Dxx0000000001EAA/005xx000001Sv6eAAC";
        let issued_at = "1700000000000";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"consumer-secret").unwrap();
        mac.update(id.as_bytes());
        mac.update(issued_at.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let body = serde_json::json!({
            "access_token": "00Dxx0000000001!AQsecret",
            "signature": signature,
            "scope": "refresh_token api id",
            "instance_url": "https://acme.my.salesforce.com/",
            "id": id,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "refresh_token": "5Aep-rotated",
            "sfdc_community_url": "https://acme.my.site.com",
            "sfdc_community_id": "0DBxx0000000001",
            "api_instance_url": "https://api.salesforce.com",
        });
        let response: TokenResponse = serde_json::from_value(body).unwrap();
        let debug = format!("{response:?}");
        assert!(
            !debug.contains("AQsecret") && !debug.contains("5Aep"),
            "{debug}"
        );
        let token = response
            .into_token(AuthFlow::RefreshToken, Some(&secret))
            .unwrap();
        assert_eq!(
            token.instance_url.as_str(),
            "https://acme.my.salesforce.com/"
        );
        assert_eq!(token.identity.org_id.as_str(), "00Dxx0000000001EAA");
        assert_eq!(token.identity.user_id.as_str(), "005xx000001Sv6eAAC");
        assert_eq!(
            token.issued_at.unwrap().timestamp_millis(),
            1_700_000_000_000
        );
        assert_eq!(token.scopes, vec!["refresh_token", "api", "id"]);
        assert_eq!(token.access_token.expose(), "00Dxx0000000001!AQsecret");
    }

    #[test]
    fn jwt_flow_response_without_signature_parses() {
        let response: TokenResponse = serde_json::from_str(
            r#"{"access_token":"00Dxx!AR","scope":"api id","instance_url":"https://acme.my.salesforce.com",
                "id":"https://login.salesforce.com/id/00Dxx0000000001EAA/005xx000001Sv6eAAC","token_type":"Bearer"}"#,
        )
        .unwrap();
        let token = response.into_token(AuthFlow::JwtBearer, None).unwrap();
        assert!(token.issued_at.is_none());
    }

    #[test]
    fn bad_signature_and_plain_http_instance_are_refused() {
        let body = r#"{"access_token":"t","instance_url":"https://acme.my.salesforce.com",
            "id":"https://login.salesforce.com/id/00Dxx0000000001EAA/005xx000001Sv6eAAC",
            "issued_at":"1","signature":"bm90LWl0"}"#;
        let response: TokenResponse = serde_json::from_str(body).unwrap();
        let err = response
            .into_token(AuthFlow::ClientCredentials, Some(&Secret::new("s")))
            .unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
        let body = r#"{"access_token":"t","instance_url":"http://acme.my.salesforce.com",
            "id":"https://login.salesforce.com/id/00Dxx0000000001EAA/005xx000001Sv6eAAC"}"#;
        let response: TokenResponse = serde_json::from_str(body).unwrap();
        assert!(response.into_token(AuthFlow::JwtBearer, None).is_err());
        let body = r#"{"access_token":"t","instance_url":"http://127.0.0.1:9000",
            "id":"http://127.0.0.1:9000/id/00Dxx0000000001EAA/005xx000001Sv6eAAC"}"#;
        let response: TokenResponse = serde_json::from_str(body).unwrap();
        assert!(response.into_token(AuthFlow::JwtBearer, None).is_ok());
    }

    #[test]
    fn identity_url_needs_org_then_user() {
        assert!(
            parse_identity_url(
                "https://login.salesforce.com/id/00Dxx0000000001EAA/005xx000001Sv6eAAC"
            )
            .is_some()
        );
        assert!(
            parse_identity_url(
                "https://login.salesforce.com/id/005xx000001Sv6eAAC/00Dxx0000000001EAA"
            )
            .is_none()
        );
        assert!(
            parse_identity_url(
                "https://login.salesforce.com/x/00Dxx0000000001EAA/005xx000001Sv6eAAC"
            )
            .is_none()
        );
        assert!(parse_identity_url("not a url").is_none());
    }

    #[test]
    fn jwt_assertion_is_rs256_with_the_documented_claims() {
        let key = PrivateKey::from_pem(&Secret::new(KEY), "test key").unwrap();
        assert!(!format!("{key:?}").contains("BEGIN"));
        let now = Utc::now();
        let jwt = sign_assertion(
            "3MVGclient",
            "integration@acme.com",
            "https://test.salesforce.com",
            &key,
            now,
        )
        .unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| -> serde_json::Value {
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(s)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(decode(parts[0])["alg"], "RS256");
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "3MVGclient");
        assert_eq!(claims["sub"], "integration@acme.com");
        assert_eq!(claims["aud"], "https://test.salesforce.com");
        assert_eq!(claims["exp"], now.timestamp() + 180);
    }

    #[test]
    fn a_file_that_is_not_a_key_is_a_config_error_naming_the_flag() {
        let err = PrivateKey::from_pem(&Secret::new("not a key"), "/tmp/key.pem").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("--salesforce-private-key") && text.contains("/tmp/key.pem"),
            "{text}"
        );
    }
}
