//! The org authorization server's `POST /oauth2/v1/token` and the resource-side checks of the
//! credentials on `/api/v1/*` calls (okta-api.md §3 and the §9 "Auth" checklist).
//!
//! - **private_key_jwt**: the assertion's signature (RS256/384/512, ES256/384/512) against the
//!   app's registered public JWKs (a `kid` is required when the app has several), `iss = sub =
//!   client_id`, `aud` = the token URL, `exp` in the future and strictly less than an hour away,
//!   `iat` not in the future, and each `jti` used once.
//! - **OIN** client secrets over HTTP Basic.
//! - **Scopes**: non-empty and a subset of the app's grants (`invalid_scope`).
//! - **DPoP** (required per app, accepted from any): a missing proof is `invalid_dpop_proof`; a
//!   proof without the current nonce gets `use_dpop_nonce` and a `DPoP-Nonce` header; tests can
//!   rotate the nonce, after which old values are refused (Okta keeps old ones valid for 3 days;
//!   refusing them at once is the harder case for a client). The token is then `token_type: DPoP`
//!   and bound to the proof key's thumbprint (`cnf.jkt`).
//! - **Resources**: SSWS tokens as before; `Bearer` tokens that are not bound; `DPoP` tokens with a
//!   fresh proof checking `htm`, `htu` (decoded path, no query), `iat` within five minutes, `jti`
//!   reuse, `ath` and the key binding. An unknown or expired token is 401 E0000011 with
//!   `WWW-Authenticate: Bearer|DPoP … error="invalid_token"`; a bad proof is 400 with
//!   `error="invalid_dpop_proof"` and Okta's description; a token without `okta.logs.read` is 403.
//!
//! Access tokens are opaque random strings that live `token_lifetime` (an hour unless a test
//! shortens it). Times are checked on the simulator's clock plus `clock_offset_secs`, and token
//! responses carry that clock in `Date`, so tests can play an org whose clock differs from ours.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{SimHandle, State, TokenStatus, lock, now_ms, okta_error};
use crate::auth::ASSERTION_TYPE;
use crate::auth::jose::{self, Alg, Jws};

/// An OAuth 2.0 service app (API Services) that authenticates with private_key_jwt.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    /// Its public keys as JWKs (each with a `kid` when there are several).
    pub jwks: Vec<Value>,
    /// "Require DPoP header in token requests".
    pub dpop_required: bool,
    /// The Okta API scopes granted to the app.
    pub scopes: Vec<String>,
}

/// An OIN API service integration, which authenticates with its client secret.
#[derive(Debug, Clone)]
pub struct OinClient {
    pub client_id: String,
    pub secret: String,
    pub scopes: Vec<String>,
    pub dpop_required: bool,
}

/// The simulated org's OAuth apps and token rules.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub clients: Vec<OAuthClient>,
    pub oin_clients: Vec<OinClient>,
    /// `expires_in` of issued tokens (Okta's is fixed at an hour).
    pub token_lifetime: Duration,
    /// Added to the real clock for every OAuth time check (and the token endpoint's `Date`).
    pub clock_offset_secs: i64,
    /// The token endpoint's per-minute limit (before the principal's share); `None`: the org
    /// type's (2,000 for Workforce).
    pub token_per_minute: Option<u32>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            oin_clients: Vec::new(),
            token_lifetime: Duration::from_secs(3600),
            clock_offset_secs: 0,
            token_per_minute: None,
        }
    }
}

/// What the OAuth side has seen, for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OAuthCounts {
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Token requests refused, `use_dpop_nonce` challenges included.
    pub token_errors: u64,
    /// `use_dpop_nonce` answers.
    pub nonce_challenges: u64,
    /// Resource calls accepted with an access token (Bearer or DPoP).
    pub resource_calls: u64,
    /// Of those, calls with a DPoP proof.
    pub dpop_resource_calls: u64,
    /// Resource calls refused for their OAuth credentials.
    pub resource_rejections: u64,
    /// Token requests answered 429 (the token endpoint's own rate limit).
    pub token_rate_limited: u64,
}

/// Tokens, nonces and used `jti`s.
#[derive(Debug)]
pub(super) struct OAuthState {
    nonce: String,
    /// Assertion `jti` → its `exp` (seconds), to refuse replays until they expire anyway.
    assertion_jtis: HashMap<String, i64>,
    /// DPoP proof `jti` → its `iat` (seconds).
    proof_jtis: HashMap<String, i64>,
    tokens: HashMap<String, Issued>,
    counts: OAuthCounts,
    /// The token endpoint's bucket, made at the first token request.
    token_limits: Option<super::ratelimit::Limits>,
}

#[derive(Debug)]
struct Issued {
    scopes: Vec<String>,
    expires_ms: i64,
    /// The thumbprint of the DPoP key the token is bound to.
    jkt: Option<String>,
}

impl OAuthState {
    pub(super) fn new() -> OAuthState {
        OAuthState {
            nonce: jose::random_id(24),
            assertion_jtis: HashMap::new(),
            proof_jtis: HashMap::new(),
            tokens: HashMap::new(),
            counts: OAuthCounts::default(),
            token_limits: None,
        }
    }
}

/// Switches and counters for tests.
impl SimHandle {
    /// What the OAuth side has seen so far.
    pub fn oauth_counts(&self) -> OAuthCounts {
        lock(&self.state).oauth.counts
    }

    /// A new DPoP nonce; proofs with an older one get `use_dpop_nonce` again.
    pub fn rotate_dpop_nonce(&self) {
        lock(&self.state).oauth.nonce = jose::random_id(24);
    }

    /// Revokes every access token issued so far (their next use gets 401 E0000011).
    pub fn revoke_access_tokens(&self) {
        lock(&self.state).oauth.tokens.clear();
    }

    /// Sets how far the org's OAuth clock is from the real one.
    pub fn set_oauth_clock_offset(&self, secs: i64) {
        lock(&self.state).config.oauth.clock_offset_secs = secs;
    }
}

/// The org's clock for OAuth checks, in seconds.
fn now_secs(s: &State) -> i64 {
    now_ms().div_euclid(1000) + s.config.oauth.clock_offset_secs
}

/// An OAuth error answer from the token endpoint.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Sent as `DPoP-Nonce` (with `use_dpop_nonce`).
    nonce: Option<String>,
}

fn invalid_client(description: impl Into<String>) -> TokenError {
    TokenError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: description.into(),
        nonce: None,
    }
}

fn bad_request(error: &'static str, description: impl Into<String>) -> TokenError {
    TokenError { status: StatusCode::BAD_REQUEST, error, description: description.into(), nonce: None }
}

/// `POST /oauth2/v1/token`.
pub(super) async fn token(AxumState(state): AxumState<Arc<Mutex<State>>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = lock(&state);
    let now = now_secs(&s);
    // The endpoint's own bucket, before anything is checked (as Okta counts every request).
    let now_ms = crate::time::now_ms();
    let st = &mut *s;
    let per_minute = st.config.oauth.token_per_minute.unwrap_or_else(|| st.config.org_type.token_per_minute());
    let limits = st
        .oauth
        .token_limits
        .get_or_insert_with(|| super::ratelimit::Limits::per_minute(per_minute, &st.config, now_ms));
    let snapshot = match limits.take(now_ms) {
        Ok(snapshot) => snapshot,
        Err(snapshot) => {
            s.oauth.counts.token_rate_limited += 1;
            return super::logs::too_many(snapshot);
        }
    };
    // The bucket's `X-Rate-Limit-*` and a request id, as on every Okta answer.
    let mut h = super::logs::rate_headers(snapshot);
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("cache-control", HeaderValue::from_static("no-cache, no-store"));
    h.insert("pragma", HeaderValue::from_static("no-cache"));
    if let Ok(ts) = jiff::Timestamp::from_second(now)
        && let Ok(date) = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&ts)
        && let Ok(value) = HeaderValue::from_str(&date)
    {
        h.insert("date", value);
    }
    match issue(&mut s, &headers, &body, now) {
        Ok(answer) => {
            s.oauth.counts.tokens_issued += 1;
            (StatusCode::OK, h, answer.to_string()).into_response()
        }
        Err(e) => {
            s.oauth.counts.token_errors += 1;
            if let Some(nonce) = e.nonce.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
                s.oauth.counts.nonce_challenges += 1;
                h.insert("dpop-nonce", nonce);
            }
            if e.status == StatusCode::UNAUTHORIZED && headers.contains_key("authorization") {
                h.insert("www-authenticate", HeaderValue::from_static("Basic realm=\"okta\""));
            }
            let body = json!({"error": e.error, "error_description": e.description});
            (e.status, h, body.to_string()).into_response()
        }
    }
}

/// Checks one token request and, if it is good, issues a token.
fn issue(s: &mut State, headers: &HeaderMap, body: &[u8], now: i64) -> Result<Value, TokenError> {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(bad_request(
            "invalid_request",
            "The request must have Content-Type application/x-www-form-urlencoded.",
        ));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let token_url = format!("http://{}/oauth2/v1/token", host(headers));
    if field("grant_type") != "client_credentials" {
        return Err(bad_request(
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].",
        ));
    }

    // Who is asking: an OIN client by its secret, or an app by its signed assertion.
    let (granted, dpop_required) = if let Some(basic) = basic_credentials(headers) {
        let (id, secret) = basic.ok_or_else(|| invalid_client("The client credentials are malformed."))?;
        let client = s
            .config
            .oauth
            .oin_clients
            .iter()
            .find(|c| c.client_id == id)
            .ok_or_else(|| invalid_client("Invalid value for 'client_id' parameter."))?;
        if client.secret != secret {
            return Err(invalid_client("The client secret supplied for a confidential client is invalid."));
        }
        (client.scopes.clone(), client.dpop_required)
    } else if field("client_assertion_type") == ASSERTION_TYPE && !field("client_assertion").is_empty() {
        let client = check_assertion(s, field("client_assertion"), field("client_id"), &token_url, now)?;
        (client.scopes.clone(), client.dpop_required)
    } else if field("client_secret").is_empty() {
        return Err(invalid_client(
            "Client authentication failed. Either the client or the client credentials are invalid.",
        ));
    } else {
        return Err(invalid_client(
            "Client secrets are not allowed for okta.* scopes on this app; use private_key_jwt client authentication.",
        ));
    };

    // DPoP, when required or offered.
    let proofs: Vec<&str> = headers.get_all("dpop").iter().filter_map(|v| v.to_str().ok()).collect();
    let jkt = match proofs.as_slice() {
        [] if dpop_required => return Err(bad_request("invalid_dpop_proof", "The DPoP proof JWT header is missing.")),
        [] => None,
        [proof] => {
            let checked = check_proof(s, proof, "POST", &token_url, now, None)
                .map_err(|d| bad_request("invalid_dpop_proof", d))?;
            if checked.nonce.as_deref() != Some(s.oauth.nonce.as_str()) {
                return Err(TokenError {
                    status: StatusCode::BAD_REQUEST,
                    error: "use_dpop_nonce",
                    description: "Authorization server requires nonce in DPoP proof.".into(),
                    nonce: Some(s.oauth.nonce.clone()),
                });
            }
            Some(checked.jkt)
        }
        _ => return Err(bad_request("invalid_dpop_proof", "Multiple DPoP proof JWT headers are not allowed.")),
    };

    // Scopes.
    let requested: Vec<&str> = field("scope").split_whitespace().collect();
    if requested.is_empty() {
        return Err(bad_request("invalid_scope", "No scopes were requested."));
    }
    if granted.is_empty() {
        return Err(bad_request("no_org_scopes_granted", "You are not allowed any of the requested scopes."));
    }
    let denied: Vec<&str> = requested.iter().copied().filter(|r| !granted.iter().any(|g| g == r)).collect();
    if !denied.is_empty() {
        return Err(bad_request(
            "invalid_scope",
            format!("The following scopes exceed the scope granted to the client: {}", denied.join(" ")),
        ));
    }

    let lifetime = s.config.oauth.token_lifetime.max(Duration::from_secs(1));
    let access_token = jose::random_id(32);
    s.oauth.tokens.retain(|_, t| t.expires_ms > now_ms() - 60_000);
    s.oauth.tokens.insert(
        access_token.clone(),
        Issued {
            scopes: requested.iter().map(|r| (*r).to_owned()).collect(),
            expires_ms: now_ms() + i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX),
            jkt: jkt.clone(),
        },
    );
    Ok(json!({
        "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": lifetime.as_secs(),
        "access_token": access_token,
        "scope": requested.join(" "),
    }))
}

/// `Authorization: Basic` as `(client_id, secret)`: `None` when there is no Basic header,
/// `Some(None)` when it cannot be read. Both parts are form-decoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decode = || -> Option<(String, String)> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (id, secret) = text.split_once(':')?;
        let unform =
            |t: &str| url::form_urlencoded::parse(format!("x={t}").as_bytes()).next().map(|(_, v)| v.into_owned());
        Some((unform(id)?, unform(secret)?))
    };
    Some(decode())
}

/// Checks a private_key_jwt client assertion; returns the app.
fn check_assertion(
    s: &mut State,
    assertion: &str,
    client_id: &str,
    token_url: &str,
    now: i64,
) -> Result<OAuthClient, TokenError> {
    let jws = Jws::parse(assertion).ok_or_else(|| invalid_client("The client_assertion token is malformed."))?;
    let issuer = jws.claim_str("iss").unwrap_or("");
    let id = if client_id.is_empty() { issuer } else { client_id };
    let client = s
        .config
        .oauth
        .clients
        .iter()
        .find(|c| c.client_id == id)
        .cloned()
        .ok_or_else(|| invalid_client("Invalid value for 'client_id' parameter."))?;
    if jws.alg().is_none() {
        return Err(invalid_client("The client_assertion token has an unsupported signing algorithm."));
    }
    let key = match jws.header_str("kid") {
        Some(kid) => client.jwks.iter().find(|k| k.get("kid").and_then(Value::as_str) == Some(kid)),
        None if client.jwks.len() == 1 => client.jwks.first(),
        None => None,
    };
    let key = key.ok_or_else(|| invalid_client("The client_assertion JWT kid is invalid."))?;
    if !jws.verify(key) {
        return Err(invalid_client("The client_assertion signature is invalid."));
    }
    if jws.claim_str("iss") != Some(client.client_id.as_str())
        || jws.claim_str("sub") != Some(client.client_id.as_str())
    {
        return Err(invalid_client("The client_assertion token's 'iss' and 'sub' claims must both be the client_id."));
    }
    let audience_ok = match jws.claims.get("aud") {
        Some(Value::String(aud)) => aud == token_url,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(token_url)),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid_client(
            "The audience claim for client_assertion must be the endpoint invoked for the request.",
        ));
    }
    let exp =
        jws.claim_i64("exp").ok_or_else(|| invalid_client("The client_assertion token must have an 'exp' claim."))?;
    if exp <= now {
        return Err(invalid_client("The client_assertion token is expired."));
    }
    if exp - now >= 3600 {
        return Err(invalid_client("The client_assertion token has an expiration too far into the future."));
    }
    if jws.claim_i64("iat").is_some_and(|iat| iat > now) {
        return Err(invalid_client("The client_assertion token must be issued before the current time."));
    }
    if let Some(jti) = jws.claim_str("jti") {
        s.oauth.assertion_jtis.retain(|_, exp| *exp > now);
        if s.oauth.assertion_jtis.insert(jti.to_owned(), exp).is_some() {
            return Err(invalid_client("The client_assertion token has already been used."));
        }
    }
    Ok(client)
}

/// What a valid DPoP proof says.
struct Proof {
    jkt: String,
    nonce: Option<String>,
}

/// Checks a DPoP proof for `method` and `url` (scheme, host and path; the path is compared
/// percent-decoded); `access_token` is given on resource calls (`ath`). Errors are Okta's
/// `error_description`s.
fn check_proof(
    s: &mut State,
    proof: &str,
    method: &str,
    url: &str,
    now: i64,
    access_token: Option<&str>,
) -> Result<Proof, String> {
    let jws = Jws::parse(proof).ok_or("The DPoP proof JWT cannot be parsed.")?;
    if jws.header_str("typ") != Some("dpop+jwt") {
        return Err("'typ' must be 'dpop+jwt'.".into());
    }
    if jws.alg().is_none() {
        return Err(format!("The DPoP proof JWT 'alg' must be one of {}.", Alg::ALL.map(Alg::name).join(", ")));
    }
    let jwk = jws.header.get("jwk").filter(|j| j.is_object()).ok_or("The DPoP proof JWT header has no 'jwk'.")?;
    if jose::has_private_members(jwk) {
        return Err("The DPoP proof JWT 'jwk' must not contain a private key.".into());
    }
    if !jws.verify(jwk) {
        return Err("The DPoP proof JWT signature is invalid.".into());
    }
    if jws.claim_str("htm") != Some(method) {
        return Err("'htm' claim in the DPoP proof JWT is invalid.".into());
    }
    if !jws.claim_str("htu").is_some_and(|htu| same_resource(htu, url)) {
        return Err("'htu' claim in the DPoP proof JWT is invalid.".into());
    }
    let iat = jws.claim_i64("iat").ok_or("The DPoP proof JWT has no 'iat' claim.")?;
    if iat < now - 300 {
        return Err("The DPoP proof JWT is issued more than five minutes in the past.".into());
    }
    if iat > now + 300 {
        return Err("The DPoP proof JWT is issued in the future.".into());
    }
    if let Some(token) = access_token
        && jws.claim_str("ath") != Some(jose::sha256_b64(token.as_bytes()).as_str())
    {
        return Err("'ath' claim in the DPoP proof does not match the presented access_token.".into());
    }
    let jti = jws.claim_str("jti").filter(|j| !j.is_empty()).ok_or("The DPoP proof JWT has no 'jti' claim.")?;
    s.oauth.proof_jtis.retain(|_, iat| *iat > now - 600);
    if s.oauth.proof_jtis.insert(jti.to_owned(), iat).is_some() {
        return Err("The DPoP proof JWT has already been used.".into());
    }
    let jkt = jose::thumbprint(jwk).map_err(|_| "The DPoP proof JWT 'jwk' is not a supported key.".to_owned())?;
    Ok(Proof { jkt, nonce: jws.claim_str("nonce").map(str::to_owned) })
}

/// Whether `htu` names the same resource as `url`: same scheme and authority (ignoring case),
/// the same percent-decoded path, and no query or fragment.
fn same_resource(htu: &str, url: &str) -> bool {
    fn split(u: &str) -> Option<(String, String, &str)> {
        let (scheme, rest) = u.split_once("://")?;
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
        Some((scheme.to_ascii_lowercase(), authority.to_ascii_lowercase(), path))
    }
    let (Some(a), Some(b)) = (split(htu), split(url)) else { return false };
    !a.2.contains(['?', '#']) && a.0 == b.0 && a.1 == b.1 && percent_decode(a.2) == percent_decode(b.2)
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(0));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn host(headers: &HeaderMap) -> &str {
    headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost")
}

/// Checks the credentials of a resource call (`method` on `path`, which needs the scope of its API:
/// `okta.logs.read`, `okta.users.read`, `okta.groups.read`, `okta.devices.read`, `okta.schemas.read`
/// or `okta.roles.read`).
/// `base` holds the headers every response carries (rate limits, request id). Returns the
/// rejection, if any.
pub(super) fn check_resource(
    s: &mut State,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    base: HeaderMap,
) -> Option<Response> {
    let host = host(headers).to_owned();
    let values: Vec<&str> = headers.get_all("authorization").iter().filter_map(|v| v.to_str().ok()).collect();
    let [value] = values.as_slice() else {
        return Some(okta_error(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided", base));
    };
    let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value, ""));
    let credential = credential.trim();
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "ssws" {
        let valid = s.config.tokens.iter().any(|(k, st)| k == credential && *st == TokenStatus::Valid);
        return (!valid).then(|| okta_error(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided", base));
    }
    let dpop = match scheme.as_str() {
        "bearer" => false,
        "dpop" => true,
        _ => return Some(okta_error(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided", base)),
    };
    let challenge = Challenge { dpop, host: &host, path };
    let now_ms = now_ms();
    let (jkt, scopes) = match s.oauth.tokens.get(credential) {
        Some(t) if t.expires_ms > now_ms => (t.jkt.clone(), t.scopes.clone()),
        Some(_) => {
            s.oauth.counts.resource_rejections += 1;
            return Some(challenge.reject(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The access token is expired.",
                base,
            ));
        }
        None => {
            s.oauth.counts.resource_rejections += 1;
            return Some(challenge.reject(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The access token is invalid.",
                base,
            ));
        }
    };
    let result = match (dpop, &jkt) {
        (false, Some(_)) => Err((
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is DPoP-bound; send it as 'Authorization: DPoP' with a DPoP proof.".to_owned(),
        )),
        (false, None) => Ok(()),
        (true, None) => Err((
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            "The access_token is not bound to the provided DPoP proof.".to_owned(),
        )),
        (true, Some(bound)) => {
            let proofs: Vec<&str> = headers.get_all("dpop").iter().filter_map(|v| v.to_str().ok()).collect();
            let url = format!("http://{host}{path}");
            let now = now_ms.div_euclid(1000) + s.config.oauth.clock_offset_secs;
            match proofs.as_slice() {
                [] => Err("The DPoP proof JWT header is missing.".to_owned()),
                [proof] => check_proof(s, proof, method, &url, now, Some(credential)).and_then(|p| {
                    if &p.jkt == bound {
                        Ok(())
                    } else {
                        Err("The access_token is not bound to the provided DPoP proof.".to_owned())
                    }
                }),
                _ => Err("Multiple DPoP proof JWT headers are not allowed.".to_owned()),
            }
            .map_err(|d| (StatusCode::BAD_REQUEST, "invalid_dpop_proof", d))
        }
    };
    if let Err((status, error, description)) = result {
        s.oauth.counts.resource_rejections += 1;
        return Some(challenge.reject(status, error, &description, base));
    }
    let needed = required_scope(path);
    if !scopes.iter().any(|sc| sc == needed) {
        s.oauth.counts.resource_rejections += 1;
        return Some(challenge.reject(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The access token provided does not contain the required scopes.",
            base,
        ));
    }
    s.oauth.counts.resource_calls += 1;
    if dpop {
        s.oauth.counts.dpop_resource_calls += 1;
    }
    None
}

/// The OAuth scope a resource path needs (okta-api.md §6): the System Log, or a directory API.
fn required_scope(path: &str) -> &'static str {
    // The role APIs: the assignee list and each user's roles (before the users API they sit under).
    if path.starts_with("/api/v1/iam/") || (path.starts_with("/api/v1/users/") && path.ends_with("/roles")) {
        "okta.roles.read"
    } else if path.starts_with("/api/v1/users") {
        "okta.users.read"
    } else if path.starts_with("/api/v1/groups") {
        "okta.groups.read"
    } else if path.starts_with("/api/v1/devices") {
        "okta.devices.read"
    } else if path.starts_with("/api/v1/meta/schemas") {
        "okta.schemas.read"
    } else {
        "okta.logs.read"
    }
}

/// Builds `WWW-Authenticate` the way Okta's resource servers do.
struct Challenge<'a> {
    dpop: bool,
    host: &'a str,
    path: &'a str,
}

impl Challenge<'_> {
    fn reject(&self, status: StatusCode, error: &str, description: &str, mut headers: HeaderMap) -> Response {
        let quoted = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
        let algs = if self.dpop { format!("algs=\"{}\", ", Alg::ALL.map(Alg::name).join(" ")) } else { String::new() };
        let value = format!(
            "{} {algs}authorization_uri=\"http://{host}/oauth2/v1/authorize\", realm=\"http://{host}\", \
             scope=\"okta.logs.read\", error=\"{error}\", error_description=\"{}\", resource=\"{}\"",
            if self.dpop { "DPoP" } else { "Bearer" },
            quoted(description),
            quoted(self.path),
            host = self.host,
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert("www-authenticate", v);
        }
        if status == StatusCode::FORBIDDEN {
            okta_error(status, "E0000006", "You do not have permission to perform the requested action", headers)
        } else {
            okta_error(status, "E0000011", "Invalid token provided", headers)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_compares_decoded_paths_without_query() {
        let url = "http://127.0.0.1:8090/api/v1/users/a@b";
        assert!(same_resource("http://127.0.0.1:8090/api/v1/users/a%40b", url));
        assert!(same_resource("HTTP://127.0.0.1:8090/api/v1/users/a@b", url));
        assert!(!same_resource("http://127.0.0.1:8090/api/v1/users/a@b?x=1", url));
        assert!(!same_resource("http://127.0.0.1:8090//api/v1/users/a@b", url));
        assert!(!same_resource("https://127.0.0.1:8090/api/v1/users/a@b", url));
        assert!(!same_resource("http://127.0.0.1:8091/api/v1/users/a@b", url));
        assert_eq!(percent_decode("%2"), b"%2");
    }
}
