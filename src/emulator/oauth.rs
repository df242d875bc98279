//! The OAuth side of the emulator: `/services/oauth2/token` for the four flows connectors use
//! (client credentials, JWT bearer, refresh token, username-password), `/services/oauth2/revoke`,
//! the identity URL and userinfo, and the session table behind bearer tokens.
//!
//! Behaviour follows facts sections 1.1-1.8: form-encoded requests, JSON responses, errors as
//! `{error, error_description}` with HTTP 400, no `expires_in`, `issued_at` in milliseconds as a
//! string, `signature` = Base64 HMAC-SHA256 over `id + issued_at` keyed with the consumer secret,
//! no refresh token from client credentials, JWT or password flows.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::json;
use sha2::Sha256;

use super::org::{Org, Value};
use crate::salesforce::SfId;

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The org's My Domain host (`instance_url`).
    Instance,
    /// The generic login host (`login_url`, the stand-in for login.salesforce.com).
    Login,
}

/// One live access token.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user it was issued to.
    pub user_id: SfId,
    /// The refresh token it came from, if any (revoking that kills this token too).
    pub refresh_token: Option<String>,
    /// When it was issued.
    pub issued: Instant,
    /// Requests made with it so far.
    pub requests: u64,
}

/// Access and refresh tokens.
#[derive(Debug, Default)]
pub struct Sessions {
    access: HashMap<String, Session>,
    refresh: HashMap<String, SfId>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefusal {
    /// Unknown, revoked or expired.
    Invalid,
}

impl Sessions {
    /// Registers a refresh token (the one the org was generated with).
    pub fn add_refresh_token(&mut self, token: &str, user: SfId) {
        self.refresh.insert(token.to_string(), user);
    }

    /// Looks up a bearer token, counts the request, and enforces the session lifetime and
    /// the `expire-token-every` fault.
    pub fn authenticate(
        &mut self,
        token: &str,
        lifetime: Duration,
        expire_every: Option<u64>,
    ) -> Result<SfId, SessionRefusal> {
        let Some(session) = self.access.get_mut(token) else {
            return Err(SessionRefusal::Invalid);
        };
        let expired_by_time = session.issued.elapsed() >= lifetime;
        let expired_by_count = expire_every.is_some_and(|n| session.requests >= n);
        if expired_by_time || expired_by_count {
            self.access.remove(token);
            return Err(SessionRefusal::Invalid);
        }
        session.requests += 1;
        Ok(session.user_id)
    }

    /// Invalidates every access token (refresh tokens stay valid).
    pub fn expire_all(&mut self) {
        self.access.clear();
    }

    /// Revokes an access or refresh token; revoking a refresh token also kills the access
    /// tokens issued from it. Returns false when the token is unknown.
    pub fn revoke(&mut self, token: &str) -> bool {
        if self.access.remove(token).is_some() {
            return true;
        }
        if self.refresh.remove(token).is_some() {
            self.access
                .retain(|_, s| s.refresh_token.as_deref() != Some(token));
            return true;
        }
        false
    }

    fn issue(&mut self, org_id: &SfId, user_id: SfId, refresh_token: Option<String>) -> String {
        let token = format!("{}!{}", org_id.to_15(), random_token(96));
        self.access.insert(
            token.clone(),
            Session {
                user_id,
                refresh_token,
                issued: Instant::now(),
                requests: 0,
            },
        );
        token
    }
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// An OAuth error: HTTP 400 with `{error, error_description}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// `error`.
    pub error: &'static str,
    /// `error_description`.
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            error,
            description: description.into(),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

/// What the token endpoint needs to know about its surroundings.
pub struct TokenContext<'a> {
    /// The listener the request came in on.
    pub listener: Listener,
    /// The instance (My Domain) URL.
    pub instance_url: &'a str,
    /// The login URL.
    pub login_url: &'a str,
    /// `Authorization` header value, if any (HTTP Basic client authentication).
    pub authorization: Option<&'a str>,
}

fn org_id(org: &Org) -> SfId {
    org.table("Organization")
        .and_then(|t| t.rows.keys().next().copied())
        .unwrap_or_else(|| SfId::from_counter("00D", &org.pod, 1))
}

/// Whether the org is a sandbox (JWT audience is test.salesforce.com then).
fn is_sandbox(org: &Org) -> bool {
    let id = org_id(org);
    org.value(&id, "IsSandbox") == Some(&Value::Bool(true))
}

fn find_user_by_username(org: &Org, username: &str) -> Option<SfId> {
    let users = org.table("User")?;
    users.rows.iter().find_map(|(id, record)| {
        users
            .value(record, "Username")
            .and_then(Value::as_text)
            .filter(|u| u.eq_ignore_ascii_case(username))
            .map(|_| *id)
    })
}

/// Users who cannot log in: inactive, frozen or password-locked.
fn login_blocked(org: &Org, user: &SfId) -> bool {
    if org.value(user, "IsActive") != Some(&Value::Bool(true)) {
        return true;
    }
    let Some(logins) = org.table("UserLogin") else {
        return false;
    };
    logins.rows.values().any(|r| {
        logins.value(r, "UserId").and_then(Value::as_id) == Some(*user)
            && (logins.value(r, "IsFrozen") == Some(&Value::Bool(true))
                || logins.value(r, "IsPasswordLocked") == Some(&Value::Bool(true)))
    })
}

/// The client id and secret, from the form or from HTTP Basic authentication.
fn client_credentials(
    form: &HashMap<String, String>,
    authorization: Option<&str>,
) -> (Option<String>, Option<String>) {
    if let Some(basic) = authorization.and_then(|a| a.strip_prefix("Basic "))
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
        && let Ok(text) = String::from_utf8(decoded)
        && let Some((id, secret)) = text.split_once(':')
    {
        return (Some(id.to_string()), Some(secret.to_string()));
    }
    (
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    )
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Handles `POST /services/oauth2/token`. Returns the success JSON or an OAuth error.
pub fn token(
    org: &Org,
    sessions: &mut Sessions,
    form: &HashMap<String, String>,
    ctx: &TokenContext<'_>,
) -> Result<serde_json::Value, OAuthError> {
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::new("invalid_request", "grant type is missing"))?;
    let integration = &org.integration;
    let (client_id, client_secret) = client_credentials(form, ctx.authorization);
    if org.settings.login_ip_restricted {
        return Err(OAuthError::new("invalid_grant", "ip restricted"));
    }
    let org_id = org_id(org);
    let (user, refresh_token, signed) = match grant_type.as_str() {
        "client_credentials" => {
            if ctx.listener == Listener::Login {
                return Err(OAuthError::new(
                    "invalid_grant",
                    "request not supported on this domain",
                ));
            }
            check_client(
                integration,
                client_id.as_deref(),
                client_secret.as_deref(),
                true,
            )?;
            let user = integration.user_id;
            if login_blocked(org, &user) {
                return Err(OAuthError::new("invalid_grant", "authentication failure"));
            }
            (user, None, true)
        }
        "password" => {
            check_client(
                integration,
                client_id.as_deref(),
                client_secret.as_deref(),
                true,
            )?;
            if !org.settings.password_flow_enabled {
                // Blocked by "Allow OAuth Username-Password Flows": Salesforce only says
                // "authentication failure"; Login History has the reason (facts 1.5).
                return Err(OAuthError::new("invalid_grant", "authentication failure"));
            }
            let username = form.get("username").map(String::as_str).unwrap_or("");
            let password = form.get("password").map(String::as_str).unwrap_or("");
            let expected = format!("{}{}", integration.password, integration.security_token);
            let user = find_user_by_username(org, username)
                .filter(|u| *u == integration.user_id && constant_time_eq(password, &expected))
                .ok_or_else(|| OAuthError::new("invalid_grant", "authentication failure"))?;
            if login_blocked(org, &user) {
                return Err(OAuthError::new("invalid_grant", "authentication failure"));
            }
            (user, None, true)
        }
        "refresh_token" => {
            check_client(
                integration,
                client_id.as_deref(),
                client_secret.as_deref(),
                false,
            )?;
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let user = *sessions
                .refresh
                .get(&presented)
                .ok_or_else(|| OAuthError::new("invalid_grant", "expired access/refresh token"))?;
            if login_blocked(org, &user) {
                return Err(OAuthError::new("inactive_user", "user is inactive"));
            }
            (user, Some(presented), true)
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let assertion = form.get("assertion").ok_or_else(|| {
                OAuthError::new("invalid_request", "missing required parameter: assertion")
            })?;
            let user = verify_jwt(org, assertion, ctx)?;
            (user, None, false)
        }
        "authorization_code" => {
            return Err(OAuthError::new(
                "invalid_grant",
                "invalid authorization code",
            ));
        }
        _ => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "grant type not supported",
            ));
        }
    };

    // Refresh-token rotation issues a new refresh token and retires the presented one.
    let mut new_refresh = None;
    let session_refresh = match refresh_token {
        Some(presented) if org.settings.refresh_token_rotation => {
            sessions.refresh.remove(&presented);
            let fresh = random_token(64);
            sessions.refresh.insert(fresh.clone(), user);
            new_refresh = Some(fresh.clone());
            Some(fresh)
        }
        other => other,
    };
    let access_token = sessions.issue(&org_id, user, session_refresh);
    let id_url = format!("{}/id/{}/{}", ctx.login_url, org_id, user);
    let mut body = serde_json::Map::new();
    body.insert("access_token".into(), access_token.into());
    if let Some(fresh) = new_refresh {
        body.insert("refresh_token".into(), fresh.into());
    }
    if signed {
        let issued_at = chrono::Utc::now().timestamp_millis().to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(integration.client_secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(id_url.as_bytes());
        mac.update(issued_at.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        body.insert("signature".into(), signature.into());
        body.insert("scope".into(), "api refresh_token id".into());
        body.insert("instance_url".into(), ctx.instance_url.into());
        body.insert("id".into(), id_url.into());
        body.insert("token_type".into(), "Bearer".into());
        body.insert("issued_at".into(), issued_at.into());
    } else {
        body.insert("scope".into(), "api id".into());
        body.insert("instance_url".into(), ctx.instance_url.into());
        body.insert("id".into(), id_url.into());
        body.insert("token_type".into(), "Bearer".into());
    }
    Ok(serde_json::Value::Object(body))
}

fn check_client(
    integration: &super::org::Integration,
    client_id: Option<&str>,
    client_secret: Option<&str>,
    secret_required: bool,
) -> Result<(), OAuthError> {
    let Some(client_id) = client_id else {
        return Err(OAuthError::new(
            "invalid_client_id",
            "client identifier invalid",
        ));
    };
    if client_id != integration.client_id {
        return Err(OAuthError::new(
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    match client_secret {
        Some(secret) if constant_time_eq(secret, &integration.client_secret) => Ok(()),
        None if !secret_required => Ok(()),
        _ => Err(OAuthError::new(
            "invalid_client",
            "invalid client credentials",
        )),
    }
}

#[derive(serde::Deserialize)]
struct JwtClaims {
    iss: Option<String>,
    sub: Option<String>,
    prn: Option<String>,
    aud: Option<serde_json::Value>,
    exp: Option<serde_json::Value>,
}

/// Verifies a JWT bearer assertion (facts 1.4): RS256 only, signature against the app's
/// certificate, `iss` = consumer key, `aud` = the login host (test.salesforce.com for
/// sandboxes, or the emulator's login URL), `exp` in the future and at most a few minutes
/// ahead, `sub` (or `prn`) = a username that may use the app.
fn verify_jwt(org: &Org, assertion: &str, ctx: &TokenContext<'_>) -> Result<SfId, OAuthError> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let invalid = || OAuthError::new("invalid_grant", "invalid assertion");
    let header = decode_header(assertion).map_err(|_| invalid())?;
    if header.alg != Algorithm::RS256 {
        return Err(invalid());
    }
    let key = DecodingKey::from_rsa_pem(org.integration.jwt_public_key_pem.as_bytes())
        .map_err(|_| invalid())?;
    let mut validation = Validation::new(Algorithm::RS256);
    // exp/aud are checked below with Salesforce's rules and error texts.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = decode::<JwtClaims>(assertion, &key, &validation)
        .map_err(|_| invalid())?
        .claims;
    if claims.iss.as_deref() != Some(org.integration.client_id.as_str()) {
        return Err(OAuthError::new(
            "invalid_client_id",
            "client identifier invalid",
        ));
    }
    let expected_public = if is_sandbox(org) {
        "https://test.salesforce.com"
    } else {
        "https://login.salesforce.com"
    };
    let audience_ok = |aud: &str| {
        let aud = aud.trim_end_matches('/');
        aud == ctx.login_url.trim_end_matches('/') || aud == expected_public
    };
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(aud)) => audience_ok(aud),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(serde_json::Value::as_str)
            .any(audience_ok),
        _ => false,
    };
    if !aud_ok {
        return Err(OAuthError::new("invalid_grant", "audience is invalid"));
    }
    // Salesforce accepts exp as a number or a numeric string (facts 1.4).
    let exp = match &claims.exp {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(invalid)?;
    let now = chrono::Utc::now().timestamp();
    // Expired (3 minutes of clock skew allowed) or too far ahead: refused.
    if exp + 180 < now || exp > now + 24 * 3600 {
        return Err(invalid());
    }
    let subject = claims.prn.or(claims.sub).ok_or_else(invalid)?;
    let user = find_user_by_username(org, &subject)
        .ok_or_else(|| OAuthError::new("invalid_grant", "user hasn't approved this consumer"))?;
    if login_blocked(org, &user) {
        return Err(OAuthError::new("invalid_grant", "authentication failure"));
    }
    if !user_may_use_app(org, &user) {
        return Err(OAuthError::new(
            "invalid_app_access",
            "user is not admin approved to access this app",
        ));
    }
    Ok(user)
}

/// For apps with "Admin approved users are pre-authorized", the user must reach the app
/// through a SetupEntityAccess row on its profile's set or an assigned set.
fn user_may_use_app(org: &Org, user: &SfId) -> bool {
    let Some(app) = org.integration.connected_app_id else {
        return true;
    };
    if org.value(&app, "OptionsAllowAdminApprovedUsersOnly") != Some(&Value::Bool(true)) {
        return true;
    }
    let (Some(sea), Some(psa), Some(ps)) = (
        org.table("SetupEntityAccess"),
        org.table("PermissionSetAssignment"),
        org.table("PermissionSet"),
    ) else {
        return false;
    };
    let profile = org.value(user, "ProfileId").and_then(Value::as_id);
    let mut sets: Vec<SfId> = psa
        .rows
        .values()
        .filter(|r| psa.value(r, "AssigneeId").and_then(Value::as_id) == Some(*user))
        .filter_map(|r| psa.value(r, "PermissionSetId").and_then(Value::as_id))
        .collect();
    if let Some(profile) = profile {
        sets.extend(ps.rows.iter().filter_map(|(id, r)| {
            (ps.value(r, "ProfileId").and_then(Value::as_id) == Some(profile)).then_some(*id)
        }));
    }
    sea.rows.values().any(|r| {
        sea.value(r, "SetupEntityId").and_then(Value::as_id) == Some(app)
            && sea
                .value(r, "ParentId")
                .and_then(Value::as_id)
                .is_some_and(|p| sets.contains(&p))
    })
}

/// The identity URL response (`GET /id/{org}/{user}`), facts 1.8.
pub fn identity(
    org: &Org,
    user: &SfId,
    login_url: &str,
    instance_url: &str,
) -> Option<serde_json::Value> {
    let (table, record) = org.get(user)?;
    let text = |f: &str| {
        table
            .value(record, f)
            .map(Value::to_json)
            .unwrap_or_default()
    };
    let org_id = org_id(org);
    Some(json!({
        "id": format!("{login_url}/id/{org_id}/{user}"),
        "asserted_user": true,
        "user_id": user.to_string(),
        "organization_id": org_id.to_string(),
        "username": text("Username"),
        "nick_name": text("CommunityNickname"),
        "display_name": text("Name"),
        "email": text("Email"),
        "first_name": text("FirstName"),
        "last_name": text("LastName"),
        "timezone": text("TimeZoneSidKey"),
        "active": text("IsActive"),
        "user_type": text("UserType"),
        "language": text("LanguageLocaleKey"),
        "locale": text("LocaleSidKey"),
        "urls": {
            "rest": format!("{instance_url}/services/data/v{{version}}/"),
            "sobjects": format!("{instance_url}/services/data/v{{version}}/sobjects/"),
            "query": format!("{instance_url}/services/data/v{{version}}/query/"),
            "custom_domain": instance_url,
        },
    }))
}
