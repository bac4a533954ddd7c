//! How the poller proves who it is to Okta (okta-api.md §3).
//!
//! - **SSWS**: an API token, `Authorization: SSWS <token>`.
//! - **OAuth 2.0 service app** (`private_key_jwt`): `client_credentials` at the org's
//!   `/oauth2/v1/token` with a client assertion signed by the app's private key (RSA or EC, PEM or
//!   JWK, with its `kid`), then `Authorization: Bearer <token>`.
//! - **OIN API service integration**: the same grant, authenticated with the client secret
//!   (HTTP Basic).
//! - **DPoP** (either OAuth kind): each access token is bound to a fresh ES256 key; token requests
//!   answer Okta's `use_dpop_nonce` challenge, and every resource call carries
//!   `Authorization: DPoP <token>` and a new proof for its exact URL.
//!
//! Tokens are cached and replaced about 5 minutes (at most a quarter of their lifetime) before
//! they expire, and once more when a resource call is rejected. Client assertions are dated 30 s in
//! the past and live 5 minutes, well inside Okta's strict one hour, and when Okta's `Date` shows
//! that this host's clock is off by 5 s or more, assertion and proof times follow Okta's clock.
//! Every retry is bounded: at most three token requests per token, and one retry of a rejected
//! resource call until a call succeeds again.
//!
//! The private key, the client secret and access tokens never appear in logs, errors or `Debug`
//! output.

pub mod dpop;
pub mod jose;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow};
use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use crate::budget::Snapshot;
use crate::config::{AuthConfig, OrgConfig, Secret};
use dpop::DpopKey;
use jose::SigningKey;

/// `client_assertion_type` for private_key_jwt.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Client assertions are dated this far in the past, so a clock a little fast is not "issued in
/// the future".
const ASSERTION_BACKDATE_SECS: i64 = 30;
/// And expire this long after now: far from Okta's strict one-hour limit.
const ASSERTION_LIFETIME_SECS: i64 = 300;
/// Tokens are replaced this long before they expire (at most a quarter of their lifetime).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// A difference from Okta's `Date` smaller than this is noise (it has whole seconds).
const MIN_CLOCK_SKEW_SECS: i64 = 5;
/// Token requests for one token: a DPoP nonce challenge and a clock correction, each once.
const MAX_TOKEN_ATTEMPTS: usize = 3;

/// A value that never prints: a client secret, a key's text, an access token.
#[derive(Clone)]
struct Sensitive(String);

impl Sensitive {
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An org's credentials and, for OAuth, its cached access token.
pub struct Auth {
    org: String,
    kind: Kind,
    http: reqwest::Client,
    state: Mutex<State>,
    /// Held while a token is fetched, so concurrent callers wait for one fetch.
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("org", &self.org).field("method", &self.describe()).finish_non_exhaustive()
    }
}

enum Kind {
    Ssws(Secret),
    OAuth(Box<OAuth>),
}

struct OAuth {
    client_id: String,
    credential: Credential,
    scopes: Vec<String>,
    dpop: bool,
    token_url: String,
}

enum Credential {
    /// private_key_jwt. `source` names where the key came from, for messages.
    Key { key: SigningKey, kid: Option<String>, source: String },
    /// An OIN integration's client secret.
    Secret(Sensitive),
}

#[derive(Default)]
struct State {
    token: Option<Arc<Token>>,
    /// The token endpoint's DPoP nonce.
    as_nonce: Option<String>,
    /// A resource server's DPoP nonce, if one ever sent a `DPoP-Nonce` header.
    rs_nonce: Option<String>,
    /// Seconds to add to this host's clock to get Okta's (0 unless they differ by 5 s or more).
    clock_offset: i64,
    /// A rejected resource call was retried and nothing has succeeded since.
    retried: bool,
    tokens_fetched: u64,
}

struct Token {
    value: Sensitive,
    /// The key the token is bound to (`token_type: DPoP`).
    dpop: Option<DpopKey>,
    refresh_at: Instant,
    scope: String,
}

/// Why no credentials could be produced.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    message: String,
    retryable: bool,
    /// For a 429 from the token endpoint: how long until its window resets.
    retry_after: Option<Duration>,
}

impl AuthError {
    fn fatal(message: impl Into<String>) -> AuthError {
        AuthError { message: message.into(), retryable: false, retry_after: None }
    }

    fn retry(message: impl Into<String>) -> AuthError {
        AuthError { message: message.into(), retryable: true, retry_after: None }
    }

    /// The token endpoint's own rate limit: retry once its window has reset, as its
    /// `X-Rate-Limit-*` headers tell (measured against Okta's `Date`), not after a blind backoff.
    fn rate_limited(message: String, headers: &HeaderMap) -> AuthError {
        let wait = Snapshot::from_headers(headers).map(|s| s.wait_after_429());
        AuthError { message, retryable: true, retry_after: wait }
    }

    /// How long to wait before trying again, when Okta said (see [`AuthError::rate_limited`]).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// A network error, a 5xx or a 429 from the token endpoint: worth another try after a
    /// backoff. Anything else needs a person.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// What a resource response means for authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not an authentication problem (or a success): handle the response as usual.
    Pass,
    /// The credentials were refreshed (a new token, or the DPoP nonce Okta sent): send the same
    /// request again now. Given at most once until a request succeeds.
    Retry(String),
    /// Retrying will not help; the message says what to check.
    Fatal(String),
}

/// Checks the OAuth settings of `[org.auth]` (SSWS is checked by the config itself).
pub fn validate(auth: &AuthConfig) -> Result<(), String> {
    let check_scopes = |scopes: &[String]| -> Result<(), String> {
        if scopes.is_empty() {
            return Err("auth.scopes is empty; request at least okta.logs.read".into());
        }
        if let Some(bad) = scopes.iter().find(|s| s.is_empty() || s.contains(char::is_whitespace)) {
            return Err(format!("auth.scopes has {bad:?}; give each scope as its own string"));
        }
        Ok(())
    };
    let check_source = |what: &str, env: &Option<String>, file: &Option<std::path::PathBuf>| match (env, file) {
        (None, None) => Err(format!("auth needs {what}_env or {what}_file (secrets never go in the config file)")),
        (Some(_), Some(_)) => Err(format!("auth has both {what}_env and {what}_file; keep one")),
        _ => Ok(()),
    };
    match auth {
        AuthConfig::Ssws { .. } => Ok(()),
        AuthConfig::PrivateKeyJwt { client_id, key_env, key_file, kid, scopes, .. } => {
            if client_id.trim().is_empty() {
                return Err("auth.client_id is empty; give the service app's client ID".into());
            }
            if kid.as_deref().is_some_and(|k| k.trim().is_empty()) {
                return Err("auth.kid is empty; remove it or give the key's ID".into());
            }
            check_source("key", key_env, key_file)?;
            check_scopes(scopes)
        }
        AuthConfig::Oin { client_id, secret_env, secret_file, scopes, .. } => {
            if client_id.trim().is_empty() {
                return Err("auth.client_id is empty; give the integration's client ID".into());
            }
            check_source("secret", secret_env, secret_file)?;
            check_scopes(scopes)
        }
    }
}

impl Auth {
    /// Reads the org's credentials (the key or secret, from where the config says) and checks
    /// that a key can sign.
    pub fn from_org(org: &OrgConfig) -> Result<Auth> {
        let token_url = format!("{}/oauth2/v1/token", org.url.trim_end_matches('/'));
        let Some(auth) = &org.auth else {
            anyhow::bail!("org {}: no [org.auth]; polling the System Log needs an API token or an OAuth app", org.name)
        };
        let kind = match auth {
            AuthConfig::Ssws { .. } => Kind::Ssws(org.token()?),
            AuthConfig::PrivateKeyJwt { client_id, key_env, key_file, kid, scopes, dpop } => {
                let (text, source) = read_secret(&org.name, "key", key_env.as_deref(), key_file.as_deref())?;
                let key = SigningKey::from_text(text.expose())
                    .map_err(|e| anyhow!("org {}: the private key in {source} cannot be used: {e}", org.name))?;
                let kid = kid.clone().or_else(|| key.jwk_kid().map(str::to_owned));
                Kind::OAuth(Box::new(OAuth {
                    client_id: client_id.trim().to_owned(),
                    credential: Credential::Key { key, kid, source },
                    scopes: scopes.clone(),
                    dpop: *dpop,
                    token_url,
                }))
            }
            AuthConfig::Oin { client_id, secret_env, secret_file, scopes, dpop } => {
                let (secret, _) = read_secret(&org.name, "secret", secret_env.as_deref(), secret_file.as_deref())?;
                let secret = Sensitive(secret.expose().trim().to_owned());
                if secret.expose().is_empty() {
                    anyhow::bail!("org {}: the client secret is empty", org.name);
                }
                Kind::OAuth(Box::new(OAuth {
                    client_id: client_id.trim().to_owned(),
                    credential: Credential::Secret(secret),
                    scopes: scopes.clone(),
                    dpop: *dpop,
                    token_url,
                }))
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("okta-normalizer/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("while setting up the HTTP client for Okta's token endpoint")?;
        Ok(Auth { org: org.name.clone(), kind, http, state: Mutex::new(State::default()), refresh: Default::default() })
    }

    /// One line for logs: the method, the client and the key, never secrets.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Ssws(_) => "SSWS API token".into(),
            Kind::OAuth(o) => {
                let dpop = if o.dpop { ", DPoP" } else { "" };
                match &o.credential {
                    Credential::Key { key, kid, source } => format!(
                        "OAuth private_key_jwt, client {} ({}, kid {}, from {source}){dpop}",
                        o.client_id,
                        key.describe(),
                        kid.as_deref().map_or_else(|| "not set".to_owned(), |k| format!("{k:?}"))
                    ),
                    Credential::Secret(_) => format!("OAuth OIN client secret, client {}{dpop}", o.client_id),
                }
            }
        }
    }

    /// Access tokens fetched so far.
    pub fn tokens_fetched(&self) -> u64 {
        self.state().tokens_fetched
    }

    /// The headers that authenticate one request: `Authorization`, and for DPoP a new proof
    /// for `method` and `url` (the exact URL that will be sent). Fetches a token when needed.
    pub async fn headers(&self, method: &str, url: &str) -> Result<HeaderMap, AuthError> {
        let mut headers = HeaderMap::new();
        let oauth = match &self.kind {
            Kind::Ssws(token) => {
                headers.insert(AUTHORIZATION, header_value(&format!("SSWS {}", token.expose()), "the API token")?);
                return Ok(headers);
            }
            Kind::OAuth(oauth) => oauth,
        };
        let token = self.token(oauth).await?;
        match &token.dpop {
            None => {
                headers.insert(AUTHORIZATION, header_value(&format!("Bearer {}", token.value.expose()), "the token")?);
            }
            Some(key) => {
                let htu = dpop::htu(url).map_err(AuthError::fatal)?;
                let (now, nonce) = {
                    let state = self.state();
                    (unix_now() + state.clock_offset, state.rs_nonce.clone())
                };
                let proof = key.proof(method, &htu, now, nonce.as_deref(), Some(token.value.expose()));
                headers.insert(AUTHORIZATION, header_value(&format!("DPoP {}", token.value.expose()), "the token")?);
                headers.insert("dpop", header_value(&proof, "the DPoP proof")?);
            }
        }
        Ok(headers)
    }

    /// Reads what a resource response says about the credentials: a DPoP nonce to use, or a
    /// rejected token (401, or a `WWW-Authenticate` error), which drops the cached token and
    /// asks for one retry. A second rejection before any success is fatal. SSWS always passes,
    /// so the caller's own handling applies.
    pub fn on_response(&self, status: StatusCode, headers: &HeaderMap) -> Verdict {
        let Kind::OAuth(oauth) = &self.kind else { return Verdict::Pass };
        let mut state = self.state();
        if let Some(nonce) = header_str(headers, "dpop-nonce") {
            state.rs_nonce = Some(nonce.to_owned());
        }
        if status.is_success() {
            state.retried = false;
            return Verdict::Pass;
        }
        let challenge = Challenge::from_headers(headers);
        let error = challenge.error.as_deref();
        if status == StatusCode::FORBIDDEN || error == Some("insufficient_scope") {
            let granted =
                state.token.as_ref().map_or_else(String::new, |t| format!(" (the token has scope {:?})", t.scope));
            return Verdict::Fatal(format!(
                "Okta refused the request for client {}{}{granted}: the app needs okta.logs.read granted \
                 (Okta API Scopes) and an admin role such as Read-only Administrator",
                oauth.client_id,
                challenge.summary()
            ));
        }
        let rejected = status == StatusCode::UNAUTHORIZED
            || matches!(error, Some("invalid_token" | "invalid_dpop_proof" | "use_dpop_nonce"));
        if !rejected {
            return Verdict::Pass;
        }
        if state.retried {
            state.token = None;
            let hint = match error {
                Some("invalid_dpop_proof" | "use_dpop_nonce") => {
                    "check that the org url is the address Okta sees (a proxy that rewrites paths breaks 'htu') \
                     and that this host's clock is right"
                }
                _ => "check that the app is active and still has an admin role and the okta.logs.read scope",
            };
            return Verdict::Fatal(format!(
                "Okta rejected the credentials of client {} again after they were refreshed ({}{}); {hint}",
                oauth.client_id,
                status.as_u16(),
                challenge.summary()
            ));
        }
        state.retried = true;
        let what = if error == Some("use_dpop_nonce") && state.rs_nonce.is_some() {
            "with the DPoP nonce Okta sent"
        } else {
            state.token = None;
            "with a new access token"
        };
        Verdict::Retry(format!(
            "Okta rejected the credentials ({}{}); retrying once {what}",
            status.as_u16(),
            challenge.summary()
        ))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh_token(&self) -> Option<Arc<Token>> {
        self.state().token.as_ref().filter(|t| Instant::now() < t.refresh_at).cloned()
    }

    async fn token(&self, oauth: &OAuth) -> Result<Arc<Token>, AuthError> {
        if let Some(token) = self.fresh_token() {
            return Ok(token);
        }
        let _one_fetch = self.refresh.lock().await;
        if let Some(token) = self.fresh_token() {
            return Ok(token);
        }
        let token = Arc::new(self.fetch_token(oauth).await?);
        let mut state = self.state();
        state.token = Some(token.clone());
        state.tokens_fetched += 1;
        Ok(token)
    }

    async fn fetch_token(&self, oauth: &OAuth) -> Result<Token, AuthError> {
        let dpop_key = oauth.dpop.then(DpopKey::generate);
        let (mut nonce_retried, mut clock_retried) = (false, false);
        let mut last = String::new();
        for _ in 0..MAX_TOKEN_ATTEMPTS {
            let (offset, nonce) = {
                let state = self.state();
                (state.clock_offset, state.as_nonce.clone())
            };
            let now = unix_now() + offset;
            let mut form = vec![("grant_type", "client_credentials".to_owned()), ("scope", oauth.scopes.join(" "))];
            let mut request = self
                .http
                .post(&oauth.token_url)
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            match &oauth.credential {
                Credential::Key { key, kid, .. } => {
                    form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
                    form.push(("client_assertion", oauth.assertion(key, kid.as_deref(), now)));
                }
                Credential::Secret(secret) => {
                    let pair = format!("{}:{}", form_encode(&oauth.client_id), form_encode(secret.expose()));
                    let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                    request =
                        request.header(AUTHORIZATION, header_value(&format!("Basic {basic}"), "the client secret")?);
                }
            }
            if let Some(key) = &dpop_key {
                let proof = key.proof("POST", &oauth.token_url, now, nonce.as_deref(), None);
                request = request.header("dpop", header_value(&proof, "the DPoP proof")?);
            }
            let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
            let response = request.body(body).send().await.map_err(|e| {
                AuthError::retry(format!("the token request to {} failed: {}", oauth.token_url, plain_error(&e)))
            })?;
            let status = response.status();
            let headers = response.headers().clone();
            self.learn_clock(&headers);
            let body = response.bytes().await.map_err(|e| {
                AuthError::retry(format!("reading the answer of {} failed: {}", oauth.token_url, plain_error(&e)))
            })?;
            if status.is_success() {
                return self.accept_token(oauth, &body, dpop_key);
            }
            let (error, description) = oauth_error(&body);
            last = format!("{} {error}: {description}", status.as_u16());
            if error == "use_dpop_nonce"
                && dpop_key.is_some()
                && !nonce_retried
                && let Some(nonce) = header_str(&headers, "dpop-nonce")
            {
                nonce_retried = true;
                self.state().as_nonce = Some(nonce.to_owned());
                continue;
            }
            if matches!(error.as_str(), "invalid_client" | "invalid_dpop_proof")
                && is_clock_complaint(&description)
                && !clock_retried
            {
                let corrected = self.state().clock_offset;
                if corrected != offset {
                    clock_retried = true;
                    continue;
                }
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(AuthError::rate_limited(format!("Okta's token endpoint answered {last}"), &headers));
            }
            if status.is_server_error() {
                return Err(AuthError::retry(format!("Okta's token endpoint answered {last}")));
            }
            return Err(self.explain(oauth, status, &error, &description));
        }
        Err(AuthError::fatal(format!(
            "Okta's token endpoint refused client {} {MAX_TOKEN_ATTEMPTS} times in a row (last: {last}). Not retrying.",
            oauth.client_id
        )))
    }

    fn accept_token(&self, oauth: &OAuth, body: &[u8], dpop_key: Option<DpopKey>) -> Result<Token, AuthError> {
        let value: Value = serde_json::from_slice(body).unwrap_or_default();
        let Some(access) = value["access_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(AuthError::fatal(format!(
                "Okta's token endpoint {} answered without an access_token. Not retrying.",
                oauth.token_url
            )));
        };
        let token_type = value["token_type"].as_str().unwrap_or("Bearer");
        let dpop = if token_type.eq_ignore_ascii_case("DPoP") {
            let Some(key) = dpop_key else {
                return Err(AuthError::fatal(
                    "Okta issued a DPoP-bound token although no DPoP proof was sent. Not retrying.",
                ));
            };
            Some(key)
        } else {
            None
        };
        let expires_in = value["expires_in"].as_u64().unwrap_or(3600).max(1);
        let lifetime = Duration::from_secs(expires_in);
        let scope = value["scope"].as_str().unwrap_or_default().to_owned();
        tracing::info!(
            org = %self.org,
            client_id = %oauth.client_id,
            token_type,
            expires_in,
            scope = %scope,
            "Fetched an OAuth access token."
        );
        Ok(Token {
            value: Sensitive(access.to_owned()),
            dpop,
            refresh_at: Instant::now() + lifetime - REFRESH_MARGIN.min(lifetime / 4),
            scope,
        })
    }

    /// Follows Okta's clock when its `Date` differs from ours by 5 s or more.
    fn learn_clock(&self, headers: &HeaderMap) {
        let Some(okta) = header_str(headers, "date").and_then(|d| jiff::fmt::rfc2822::parse(d).ok()) else { return };
        let skew = okta.timestamp().as_second() - unix_now();
        let offset = if skew.abs() >= MIN_CLOCK_SKEW_SECS { skew } else { 0 };
        let mut state = self.state();
        if state.clock_offset != offset {
            if offset == 0 {
                tracing::info!(org = %self.org, "This host's clock agrees with Okta's again.");
            } else {
                tracing::warn!(
                    org = %self.org,
                    skew_secs = skew,
                    "This host's clock differs from Okta's; dating client assertions and DPoP proofs by Okta's clock (fix the host's time sync)."
                );
            }
            state.clock_offset = offset;
        }
    }

    /// A fatal token-endpoint error, with what to check.
    fn explain(&self, oauth: &OAuth, status: StatusCode, error: &str, description: &str) -> AuthError {
        let id = &oauth.client_id;
        let said = if error.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("{} {error}: {description}", status.as_u16())
        };
        let lower = description.to_ascii_lowercase();
        let hint = match (error, &oauth.credential) {
            ("invalid_client", Credential::Key { key, kid, source }) if lower.contains("signature") => format!(
                "the configured key ({}, kid {}, from {source}) does not match a public key registered on app {id}; \
                 check that its public half is among the app's public keys (Admin Console: the app, General, \
                 Public Keys) and that kid names it",
                key.describe(),
                kid.as_deref().map_or_else(|| "not set".to_owned(), |k| format!("{k:?}"))
            ),
            ("invalid_client", Credential::Key { kid: None, .. }) if lower.contains("kid") => format!(
                "app {id} has more than one public key, so the assertion must name one: set kid in [org.auth] to \
                 the key's ID from the app's Public Keys"
            ),
            ("invalid_client", Credential::Key { kid: Some(kid), .. }) if lower.contains("kid") => {
                format!("no public key with kid {kid:?} is registered on app {id}; check kid in [org.auth]")
            }
            ("invalid_client" | "invalid_dpop_proof", _) if is_clock_complaint(description) => {
                let offset = self.state().clock_offset;
                format!(
                    "Okta rejected the times in the request; this host's clock is {} Okta's by its Date header; \
                     check the host's time sync (NTP)",
                    match offset {
                        0 => "within 5 s of".to_owned(),
                        o if o > 0 => format!("{o} s behind"),
                        o => format!("{} s ahead of", -o),
                    }
                )
            }
            ("invalid_client", Credential::Key { .. }) if lower.contains("audience") => format!(
                "the assertion's audience is {}; the org url must be the org's Okta domain \
                 (https://<org>.okta.com), not a custom domain or an authorization server path",
                oauth.token_url
            ),
            ("invalid_client", Credential::Secret(_)) => format!(
                "check client_id and the client secret of the OIN integration {id} (a secret is shown once when the \
                 integration is installed; generate a new one if it is lost)"
            ),
            ("invalid_client", _) => format!("check that {id} is the client ID of an API Services app in this org"),
            ("invalid_scope", _) => format!(
                "request only scopes granted to the app (Admin Console: the app, Okta API Scopes); requested {:?}",
                oauth.scopes.join(" ")
            ),
            ("no_org_scopes_granted" | "consent_required", _) => {
                "grant okta.logs.read to the app (Admin Console: the app, Okta API Scopes)".to_owned()
            }
            ("invalid_dpop_proof", _) if lower.contains("missing") && !oauth.dpop => {
                "the app requires DPoP-bound tokens: set dpop = true in [org.auth]".to_owned()
            }
            ("invalid_dpop_proof", _) => {
                "Okta rejected the DPoP proof; check this host's clock and that the org url is the address Okta \
                 sees"
                    .to_owned()
            }
            ("unauthorized_client" | "unsupported_grant_type", _) => format!(
                "app {id} may not use the client_credentials grant; it must be an API Services app or an OIN API \
                 service integration"
            ),
            _ => "see Okta's answer".to_owned(),
        };
        AuthError::fatal(format!("Okta's token endpoint refused client {id} ({said}); {hint}. Not retrying."))
    }
}

impl OAuth {
    /// A private_key_jwt client assertion, dated by `now` (Unix seconds on Okta's clock).
    fn assertion(&self, key: &SigningKey, kid: Option<&str>, now: i64) -> String {
        let mut header = Map::new();
        if let Some(kid) = kid {
            header.insert("kid".into(), Value::from(kid));
        }
        let claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now - ASSERTION_BACKDATE_SECS,
            "exp": now + ASSERTION_LIFETIME_SECS,
            "jti": jose::random_id(18),
        });
        key.sign_jwt(&header, &claims)
    }
}

/// The `error` and `error_description` of an OAuth error body (empty when absent).
fn oauth_error(body: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
    // Okta's management errors use errorCode/errorSummary; accept both shapes.
    let error = Some(text("error")).filter(|e| !e.is_empty()).unwrap_or_else(|| text("errorCode"));
    let description = Some(text("error_description")).filter(|e| !e.is_empty()).unwrap_or_else(|| text("errorSummary"));
    (error, description)
}

/// Whether Okta complains about an assertion's or proof's times.
fn is_clock_complaint(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    ["expired", "too far into the future", "before the current time", "issued in the future", "minutes in the past"]
        .iter()
        .any(|p| d.contains(p))
}

/// `error` and `error_description` from `WWW-Authenticate` (Bearer or DPoP).
#[derive(Debug, Default)]
struct Challenge {
    error: Option<String>,
    description: Option<String>,
}

impl Challenge {
    fn from_headers(headers: &HeaderMap) -> Challenge {
        let mut out = Challenge::default();
        for value in headers.get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()) {
            for (key, val) in auth_params(value) {
                match key.to_ascii_lowercase().as_str() {
                    "error" if out.error.is_none() => out.error = Some(val),
                    "error_description" if out.description.is_none() => out.description = Some(val),
                    _ => {}
                }
            }
        }
        out
    }

    /// `, invalid_dpop_proof: 'htu' claim …` or nothing.
    fn summary(&self) -> String {
        match (&self.error, &self.description) {
            (Some(e), Some(d)) => format!(", {e}: {d}"),
            (Some(e), None) => format!(", {e}"),
            _ => String::new(),
        }
    }
}

/// The `key=value` / `key="quoted"` parameters after the scheme of one challenge.
fn auth_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let rest = value.trim_start();
    let mut rest = rest.find(char::is_whitespace).map_or("", |i| &rest[i..]);
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let mut val = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            val.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            val = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((key, val));
    }
    out
}

/// Reads a key or secret from the environment variable or file the config names. Returns it
/// and a description of where it came from (never the value).
fn read_secret(
    org: &str,
    what: &str,
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<(Sensitive, String)> {
    match (env, file) {
        (Some(var), _) => {
            let value = std::env::var(var)
                .with_context(|| format!("org {org}: the environment variable {var} (auth.{what}_env) is not set"))?;
            Ok((Sensitive(value), format!("environment variable {var}")))
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("org {org}: while reading auth.{what}_file {}", path.display()))?;
            Ok((Sensitive(text), format!("file {}", path.display())))
        }
        (None, None) => anyhow::bail!("org {org}: auth needs {what}_env or {what}_file"),
    }
}

/// A header value marked sensitive (hyper and reqwest then keep it out of `Debug`).
fn header_value(text: &str, what: &str) -> Result<HeaderValue, AuthError> {
    let mut value = HeaderValue::from_str(text)
        .map_err(|_| AuthError::fatal(format!("{what} contains characters that cannot be sent in an HTTP header")))?;
    value.set_sensitive(true);
    Ok(value)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 §2.3.1 asks for it in
/// HTTP Basic client authentication).
fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A reqwest error without its URL (which the message already names).
fn plain_error(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    if let Some(url) = e.url() {
        message = message.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_read_from_www_authenticate() {
        let mut h = HeaderMap::new();
        h.insert(
            "www-authenticate",
            HeaderValue::from_static(
                r#"DPoP algs="RS256 RS384 RS512 ES256 ES384 ES512", authorization_uri="https://a/oauth2/v1/authorize", realm="https://a", scope="okta.logs.read", error="invalid_dpop_proof", error_description="'htu' claim in the DPoP proof JWT is invalid.", resource="/api/v1/logs""#,
            ),
        );
        let c = Challenge::from_headers(&h);
        assert_eq!(c.error.as_deref(), Some("invalid_dpop_proof"));
        assert_eq!(c.description.as_deref(), Some("'htu' claim in the DPoP proof JWT is invalid."));
        let params = auth_params(r#"Bearer realm=x, error="a \"q\" b",error_description=plain"#);
        assert_eq!(
            params,
            vec![
                ("realm".to_owned(), "x".to_owned()),
                ("error".to_owned(), "a \"q\" b".to_owned()),
                ("error_description".to_owned(), "plain".to_owned())
            ]
        );
        assert!(auth_params("Bearer").is_empty());
        assert_eq!(auth_params(r#"Bearer error="unterminated"#), vec![("error".to_owned(), "unterminated".to_owned())]);
    }

    #[test]
    fn sensitive_values_do_not_print() {
        assert_eq!(format!("{:?}", Sensitive("s3cret".into())), "[redacted]");
        let v = header_value("Bearer abc", "x").expect("valid");
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("abc"));
    }

    fn org(auth: &str) -> OrgConfig {
        let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases/keys/test-ec-p256.jwk.json");
        let text = format!(
            "name = \"t\"\nurl = \"http://127.0.0.1:9/\"\n[auth]\n{}\n",
            auth.replace("KEY", &format!("{key:?}"))
        );
        toml::from_str(&text).expect("valid org")
    }

    fn challenge(error: &str, description: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let value = format!(r#"DPoP algs="ES256", error="{error}", error_description="{description}""#);
        h.insert("www-authenticate", HeaderValue::from_str(&value).expect("ascii"));
        h
    }

    #[test]
    fn a_rejected_resource_call_is_retried_once_until_one_succeeds() {
        let auth =
            Auth::from_org(&org("type = \"private_key_jwt\"\nclient_id = \"0oa1\"\nkey_file = KEY\ndpop = true"))
                .expect("auth");
        assert_eq!(auth.tokens_fetched(), 0);
        assert!(auth.describe().contains("kid \"test-ec-p256\""), "the JWK's kid is used: {}", auth.describe());
        let htu = challenge("invalid_dpop_proof", "'htu' claim in the DPoP proof JWT is invalid.");
        let Verdict::Retry(why) = auth.on_response(StatusCode::BAD_REQUEST, &htu) else { panic!("first: retry") };
        assert!(why.contains("'htu' claim"), "{why}");
        let Verdict::Fatal(why) = auth.on_response(StatusCode::BAD_REQUEST, &htu) else { panic!("second: fatal") };
        assert!(why.contains("htu") && why.contains("0oa1"), "{why}");
        assert_eq!(auth.on_response(StatusCode::OK, &HeaderMap::new()), Verdict::Pass);
        assert!(matches!(auth.on_response(StatusCode::UNAUTHORIZED, &HeaderMap::new()), Verdict::Retry(_)));
        assert_eq!(auth.on_response(StatusCode::OK, &HeaderMap::new()), Verdict::Pass);
        let mut nonce = challenge("use_dpop_nonce", "Resource server requires nonce in DPoP proof");
        nonce.insert("dpop-nonce", HeaderValue::from_static("n-1"));
        let Verdict::Retry(why) = auth.on_response(StatusCode::UNAUTHORIZED, &nonce) else { panic!("nonce: retry") };
        assert!(why.contains("nonce Okta sent"), "{why}");
        assert_eq!(auth.state().rs_nonce.as_deref(), Some("n-1"));
        let Verdict::Fatal(why) = auth.on_response(StatusCode::FORBIDDEN, &HeaderMap::new()) else { panic!("403") };
        assert!(why.contains("okta.logs.read"), "{why}");
        assert_eq!(auth.on_response(StatusCode::BAD_REQUEST, &HeaderMap::new()), Verdict::Pass, "not an auth problem");
        assert_eq!(auth.on_response(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new()), Verdict::Pass);
    }

    #[test]
    fn ssws_leaves_responses_to_the_poller() {
        let dir = std::env::temp_dir().join(format!("okta-auth-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("token");
        std::fs::write(&file, "00tok\n").expect("token");
        let auth = Auth::from_org(&org(&format!("type = \"ssws\"\ntoken_file = {file:?}"))).expect("auth");
        assert_eq!(auth.on_response(StatusCode::UNAUTHORIZED, &challenge("invalid_token", "x")), Verdict::Pass);
        assert_eq!(format!("{auth:?}"), r#"Auth { org: "t", method: "SSWS API token", .. }"#);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn settings_are_validated_with_clear_messages() {
        let err = |auth: &str| validate(org(auth).auth.as_ref().expect("auth")).expect_err("invalid");
        assert!(err("type = \"private_key_jwt\"\nclient_id = \"0oa1\"").contains("key_env or key_file"));
        assert!(
            err("type = \"private_key_jwt\"\nclient_id = \"0oa1\"\nkey_file = KEY\nkey_env = \"K\"")
                .contains("keep one")
        );
        assert!(err("type = \"private_key_jwt\"\nclient_id = \"\"\nkey_file = KEY").contains("client_id"));
        assert!(err("type = \"private_key_jwt\"\nclient_id = \"0oa1\"\nkey_file = KEY\nscopes = []").contains("empty"));
        assert!(
            err("type = \"private_key_jwt\"\nclient_id = \"0oa1\"\nkey_file = KEY\nscopes = [\"a b\"]")
                .contains("own string")
        );
        assert!(err("type = \"oin\"\nclient_id = \"0oa1\"").contains("secret_env or secret_file"));
        let ok = org("type = \"oin\"\nclient_id = \"0oa1\"\nsecret_env = \"S\"");
        assert!(validate(ok.auth.as_ref().expect("auth")).is_ok());
        let Some(AuthConfig::Oin { scopes, dpop, .. }) = &ok.auth else { panic!("oin") };
        assert_eq!((scopes.as_slice(), *dpop), (&["okta.logs.read".to_owned()][..], false), "defaults");
    }

    #[test]
    fn oauth_errors_in_both_shapes() {
        assert_eq!(
            oauth_error(
                br#"{"error":"invalid_client","error_description":"The client_assertion signature is invalid."}"#
            ),
            ("invalid_client".into(), "The client_assertion signature is invalid.".into())
        );
        assert_eq!(
            oauth_error(br#"{"errorCode":"E0000011","errorSummary":"Invalid token provided"}"#),
            ("E0000011".into(), "Invalid token provided".into())
        );
        assert_eq!(oauth_error(b"<html>"), (String::new(), String::new()));
    }
}
