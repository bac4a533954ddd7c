//! The directory's calls to Okta: the poller's credentials, Link paging (and the IAM APIs' paging
//! in the body's `_links.next`), a budget per rate-limit bucket read from Okta's headers (with a
//! larger headroom than the poller keeps), one request slot from the org's gate, retries with
//! backoff, a count of calls per endpoint, and a typed [`Forbidden`] for 403s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::watch;

use crate::auth::{Auth, Verdict};
use crate::budget::{OrgGate, Snapshot};
use crate::sources::okta_api::{link, okta_error, without_url};
use crate::sources::sleep_or_stop;
use crate::telemetry::{EndpointLabel, Metrics};

/// Attempts of one request before the sync gives up (it is tried again at the next schedule).
const MAX_ATTEMPTS: u32 = 8;

/// A directory endpoint: its name in counts and metrics, and its rate-limit bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Users,
    Groups,
    GroupUsers,
    Devices,
    Schema,
    /// `/api/v1/iam/assignees/users`: the users holding an admin role.
    RoleAssignees,
    /// `/api/v1/users/{id}/roles`: one user's role assignments.
    UserRoles,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Users => "users",
            Endpoint::Groups => "groups",
            Endpoint::GroupUsers => "group_users",
            Endpoint::Devices => "devices",
            Endpoint::Schema => "schema",
            Endpoint::RoleAssignees => "role_assignees",
            Endpoint::UserRoles => "user_roles",
        }
    }

    /// Okta's bucket (okta-api.md §2.2): users, groups and devices lists have their own; member
    /// lists, the schema and the role APIs fall in the generic `/api/v1` one.
    fn bucket(self) -> &'static str {
        match self {
            Endpoint::Users => "users",
            Endpoint::Groups => "groups",
            Endpoint::Devices => "devices",
            Endpoint::GroupUsers | Endpoint::Schema | Endpoint::RoleAssignees | Endpoint::UserRoles => "api",
        }
    }

    /// The scope an OAuth token needs for it, for messages.
    fn scope(self) -> &'static str {
        match self {
            Endpoint::Users => "okta.users.read",
            Endpoint::Groups | Endpoint::GroupUsers => "okta.groups.read",
            Endpoint::Devices => "okta.devices.read",
            Endpoint::Schema => "okta.schemas.read",
            Endpoint::RoleAssignees | Endpoint::UserRoles => "okta.roles.read",
        }
    }

    /// What the API token's admin needs, for messages.
    fn permission(self) -> &'static str {
        match self {
            Endpoint::RoleAssignees | Endpoint::UserRoles => "a role that can read admin role assignments",
            _ => "read access to users, groups and devices",
        }
    }
}

/// The sync was told to stop.
#[derive(Debug, thiserror::Error)]
#[error("stopped")]
pub struct Stopped;

/// Okta refused a call (403): the OAuth token lacks the scope or the admin the permission.
/// Retrying does not help; the role sync goes on without roles when it sees this.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Forbidden {
    /// Okta's `errorCode` (`E0000006`), or `no error code`.
    pub code: String,
    message: String,
}

/// An org's directory API client.
pub struct Api {
    org: String,
    base: String,
    client: reqwest::Client,
    auth: Arc<Auth>,
    gate: Arc<OrgGate>,
    budgets: HashMap<&'static str, Snapshot>,
    headroom: u8,
    retry_base: Duration,
    stop: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    /// Calls made, per endpoint (every attempt counts).
    pub calls: BTreeMap<&'static str, u64>,
    /// Calls answered 429.
    pub rate_limited: u64,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("org", &self.org).field("calls", &self.calls).finish_non_exhaustive()
    }
}

impl Api {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        org: &str,
        base: &str,
        auth: Arc<Auth>,
        gate: Arc<OrgGate>,
        headroom: u8,
        retry_base: Duration,
        stop: watch::Receiver<bool>,
        metrics: Arc<Metrics>,
    ) -> Result<Api> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("okta-normalizer/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Api {
            org: org.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            client,
            auth,
            gate,
            budgets: HashMap::new(),
            headroom,
            retry_base,
            stop,
            metrics,
            calls: BTreeMap::new(),
            rate_limited: 0,
        })
    }

    /// `path_and_query` under the org's URL.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// Every element of every page, following `next` links. `None` when the resource is gone
    /// (404, a group deleted while the sync ran).
    pub async fn list(&mut self, endpoint: Endpoint, url: &str) -> Result<Option<Vec<Value>>> {
        let mut out = Vec::new();
        let mut next = Some(url.to_owned());
        while let Some(url) = next.take() {
            let Some((body, link)) = self.get(endpoint, &url).await? else { return Ok(None) };
            let Value::Array(items) = body else {
                bail!("Okta answered {} with JSON that is not an array", redact_query(&url));
            };
            let empty = items.is_empty();
            out.extend(items);
            // An empty page ends the list even if it carries a next link.
            next = link.filter(|_| !empty);
        }
        Ok(Some(out))
    }

    /// Every element of `value` on every page of an IAM list, which pages in the body
    /// (`{"value": [..], "_links": {"next": {"href": ..}}}`) rather than in a Link header. `None`
    /// when the resource is gone (404).
    pub async fn list_in_body(&mut self, endpoint: Endpoint, url: &str) -> Result<Option<Vec<Value>>> {
        let mut out = Vec::new();
        let mut next = Some(url.to_owned());
        while let Some(url) = next.take() {
            let Some((mut body, _)) = self.get(endpoint, &url).await? else { return Ok(None) };
            let Some(Value::Array(items)) = body.get_mut("value").map(Value::take) else {
                bail!("Okta answered {} with JSON that has no \"value\" list", redact_query(&url));
            };
            let empty = items.is_empty();
            out.extend(items);
            // An empty page ends the list even if it links on, and so does a link to itself.
            next = body["_links"]["next"]["href"].as_str().filter(|href| !empty && *href != url).map(str::to_owned);
        }
        Ok(Some(out))
    }

    /// One JSON document (`None` on 404).
    pub async fn one(&mut self, endpoint: Endpoint, url: &str) -> Result<Option<Value>> {
        Ok(self.get(endpoint, url).await?.map(|(v, _)| v))
    }

    async fn pause(&mut self, wait: Duration) -> Result<()> {
        if sleep_or_stop(wait, &mut self.stop).await {
            return Err(Stopped.into());
        }
        Ok(())
    }

    fn backoff(&self, failures: u32) -> Duration {
        let base = self.retry_base.mul_f64(f64::from(1u32 << failures.min(6))).min(self.retry_base * 60);
        base + self.retry_base.mul_f64(fastrand::f64() * 0.5)
    }

    /// One page: the JSON body and the `next` link.
    async fn get(&mut self, endpoint: Endpoint, url: &str) -> Result<Option<(Value, Option<String>)>> {
        let mut failures = 0u32;
        loop {
            if *self.stop.borrow() {
                return Err(Stopped.into());
            }
            // The poller comes first: while it is rate limited, wait.
            if let Some(wait) = self.gate.held_for() {
                self.pause(wait).await?;
            }
            if let Some(wait) = self.budgets.get(endpoint.bucket()).and_then(|b| b.wait_for_headroom(self.headroom)) {
                tracing::debug!(org = %self.org, endpoint = endpoint.name(), wait_secs = wait.as_secs(), "Directory rate-limit headroom reached; waiting for the window to reset.");
                self.pause(wait).await?;
                self.budgets.remove(endpoint.bucket());
            }
            let gate = self.gate.clone();
            let _slot = gate.directory_slot().await;
            let credentials = match self.auth.headers("GET", url).await {
                Ok(h) => h,
                Err(e) if e.is_retryable() && failures < MAX_ATTEMPTS => {
                    failures += 1;
                    let wait = e.retry_after().unwrap_or_else(|| self.backoff(failures));
                    self.pause(wait).await?;
                    continue;
                }
                Err(e) => return Err(anyhow!(e)),
            };
            *self.calls.entry(endpoint.name()).or_insert(0) += 1;
            self.metrics
                .directory_calls
                .get_or_create(&EndpointLabel { org: self.org.clone(), endpoint: endpoint.name().to_owned() })
                .inc();
            let response = self.client.get(url).headers(credentials).header("accept", "application/json").send().await;
            let response = match response {
                Ok(r) => r,
                Err(e) if failures < MAX_ATTEMPTS => {
                    failures += 1;
                    tracing::warn!(org = %self.org, endpoint = endpoint.name(), error = %without_url(&e), "A directory request failed; retrying.");
                    let wait = self.backoff(failures);
                    self.pause(wait).await?;
                    continue;
                }
                Err(e) => bail!("{} failed {MAX_ATTEMPTS} times: {}", redact_query(url), without_url(&e)),
            };
            let status = response.status();
            let snapshot = Snapshot::from_headers(response.headers());
            if let Some(s) = snapshot {
                self.budgets.insert(endpoint.bucket(), s);
            }
            match self.auth.on_response(status, response.headers()) {
                Verdict::Pass => {}
                Verdict::Retry(_) => continue,
                Verdict::Fatal(why) => {
                    let (code, summary) = okta_error(&response.text().await.unwrap_or_default());
                    let message = format!(
                        "{why} (Okta said {} {code}: {summary} for {}; the directory needs scope {})",
                        status.as_u16(),
                        redact_query(url),
                        endpoint.scope()
                    );
                    if status == StatusCode::FORBIDDEN {
                        return Err(Forbidden { code, message }.into());
                    }
                    bail!(message);
                }
            }
            if status == StatusCode::OK {
                let next =
                    link::find(response.headers().get_all("link").iter().filter_map(|v| v.to_str().ok()), "next");
                let body = match response.bytes().await {
                    Ok(b) => b,
                    Err(e) if failures < MAX_ATTEMPTS => {
                        failures += 1;
                        tracing::warn!(org = %self.org, error = %without_url(&e), "Reading a directory page failed; retrying.");
                        let wait = self.backoff(failures);
                        self.pause(wait).await?;
                        continue;
                    }
                    Err(e) => bail!("reading {} failed: {}", redact_query(url), without_url(&e)),
                };
                let value: Value = serde_json::from_slice(&body)
                    .map_err(|e| anyhow!("Okta answered {} with a body that is not JSON ({e})", redact_query(url)))?;
                return Ok(Some((value, next)));
            }
            let body = response.text().await.unwrap_or_default();
            let (code, summary) = okta_error(&body);
            match status {
                StatusCode::NOT_FOUND => return Ok(None),
                StatusCode::TOO_MANY_REQUESTS => {
                    self.rate_limited += 1;
                    let wait = snapshot.map_or_else(|| self.backoff(failures + 1), |s| s.wait_after_429());
                    tracing::info!(org = %self.org, endpoint = endpoint.name(), wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "The directory was rate limited (429 {code}); waiting.");
                    self.budgets.remove(endpoint.bucket());
                    self.pause(wait).await?;
                }
                StatusCode::UNAUTHORIZED => bail!(
                    "Okta rejected the credentials (401 {code}: {summary}); check that the token in the configured environment variable or file is current"
                ),
                StatusCode::FORBIDDEN => {
                    let message = format!(
                        "Okta refused {} (403 {code}: {summary}); the API token's admin needs {}, or the OAuth app needs scope {}",
                        redact_query(url),
                        endpoint.permission(),
                        endpoint.scope()
                    );
                    return Err(Forbidden { code, message }.into());
                }
                StatusCode::BAD_REQUEST => {
                    bail!("Okta rejected the query {} (400 {code}: {summary})", redact_query(url))
                }
                s if failures < MAX_ATTEMPTS => {
                    failures += 1;
                    tracing::warn!(org = %self.org, endpoint = endpoint.name(), status = s.as_u16(), code = %code, "A directory request failed; retrying.");
                    let wait = self.backoff(failures);
                    self.pause(wait).await?;
                }
                s => bail!("{} failed {MAX_ATTEMPTS} times; last {} {code}: {summary}", redact_query(url), s.as_u16()),
            }
        }
    }
}

/// The URL without its query, for messages.
fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>().replace('+', "%20")
}
