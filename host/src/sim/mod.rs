//! The Okta simulator: a stand-in for an Okta org, faithful where our host depends on Okta's
//! behaviour (`../shared/design/okta-api.md` §1–3 and the §9 checklist).
//!
//! It serves `GET /api/v1/logs` with Okta's polling and bounded semantics, opaque `after` cursors,
//! separate `link:` header lines, per-minute rate-limit windows that are not aligned to the minute,
//! a concurrency limit, SSWS tokens that can be expired or revoked, Okta's error bodies, and chaos
//! switches for tests. Events can be persisted late, so they appear behind a polling cursor's
//! `published` time, as in a real org.
//!
//! Tests start it on 127.0.0.1 with [`Simulator::start`] and add events with
//! [`SimHandle::push`]; `okta-normalizer sim` runs it with a generator of realistic activity.
//!
//! It also pushes, as Okta does (§4–5): [`verify_hook`] is the event-hook handshake,
//! [`SimHandle::start_event_hook`] and [`SimHandle::start_log_stream`] follow the log and deliver
//! it to an event hook or a Log Stream (EventBridge), with the same retries, failures and chaos
//! (`push.rs`).

pub mod directory;
pub mod generator;
mod logs;
mod oauth;
mod push;
mod ratelimit;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use directory::{Directory, DirectoryCalls, DirectorySnapshot};
pub use oauth::{OAuthClient, OAuthConfig, OAuthCounts, OinClient};
pub use push::{HookTarget, PushChaos, PushHandle, PushStats, StreamTarget, verify_hook};
pub use ratelimit::{DirectoryBucket, OrgType};

/// How an SSWS token behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Valid,
    /// Unused for 30 days; Okta answers 401 E0000011.
    Expired,
    /// Revoked by an admin; also 401 E0000011.
    Revoked,
}

/// Switches that make the simulator misbehave the ways Okta does, for tests.
#[derive(Debug, Clone, Default)]
pub struct Chaos {
    /// Every n-th logs request fails with a 5xx (alternating 500 E0000009 and 503 E0000010).
    pub server_error_every: Option<u32>,
    /// The next n logs requests get 429 E0000047, whatever the budget says.
    pub rate_limit_storm: u32,
    /// Each non-empty page starts with the last event of the page before (a duplicate).
    pub duplicate_across_pages: bool,
    /// Every response is delayed this long.
    pub latency: Duration,
}

/// What the simulated org is like.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Sets the `/api/v1/logs` per-minute limit: 20, 50 or 120.
    pub org_type: OrgType,
    /// The share of each bucket one API token gets (Okta's default is 50 %).
    pub principal_share: f64,
    /// In-flight requests allowed before 429s with `X-Rate-Limit-Limit: 0`.
    pub concurrency_limit: u32,
    pub tokens: Vec<(String, TokenStatus)>,
    /// Data older than this is not returned.
    pub retention: Duration,
    /// Length of a rate-limit window (Okta's is a minute; tests shorten it).
    pub window: Duration,
    pub chaos: Chaos,
    /// OAuth apps, OIN integrations and token rules (`oauth.rs`).
    pub oauth: OAuthConfig,
    /// Overrides the per-minute limit of every directory bucket (before the principal's share);
    /// by default each bucket has the org type's limit (okta-api.md §2.2).
    pub directory_per_minute: Option<u32>,
    /// The API token's admin may not read admin roles: the role APIs answer 403 `E0000006` (an
    /// OAuth token without `okta.roles.read` gets the same from the scope check).
    pub roles_denied: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            org_type: OrgType::Workforce,
            principal_share: 0.5,
            concurrency_limit: 75,
            tokens: vec![(DEFAULT_TOKEN.to_owned(), TokenStatus::Valid)],
            retention: Duration::from_secs(90 * 24 * 3600),
            window: Duration::from_secs(60),
            chaos: Chaos::default(),
            oauth: OAuthConfig::default(),
            directory_per_minute: None,
            roles_denied: false,
        }
    }
}

/// The token `okta-normalizer sim` accepts unless told otherwise. Not a secret: it only opens the
/// simulator.
pub const DEFAULT_TOKEN: &str = "00sim-demo-token-not-a-secret";

/// One stored event, in persistence order.
#[derive(Debug, Clone)]
struct Stored {
    /// When Okta persisted it (its position for polling queries).
    persisted_ms: i64,
    /// Tie-breaker among events persisted in the same millisecond.
    seq: u64,
    published_ms: i64,
    json: String,
}

#[derive(Debug)]
struct State {
    config: SimConfig,
    /// Sorted by (persisted_ms, seq).
    events: Vec<Stored>,
    next_seq: u64,
    limits: ratelimit::Limits,
    in_flight: u32,
    requests: u64,
    /// How many logs requests were answered 429 (any cause); tests read it.
    rejected_429: u64,
    /// The last event of the last non-empty page, for `duplicate_across_pages`.
    last_served: Option<String>,
    oauth: oauth::OAuthState,
    /// The org's users, groups, devices and schema (`directory.rs`).
    directory: Directory,
    directory_limits: std::collections::BTreeMap<DirectoryBucket, ratelimit::Limits>,
    directory_calls: DirectoryCalls,
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<oneshot::Sender<()>>,
    /// Wakes the hook and stream deliveries when events arrive, and stops them on drop.
    hub: push::Hub,
}

/// Builds and starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Serves the simulator on `addr` (use port 0 for any free port) until the handle is dropped.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> Result<SimHandle> {
        let limits = ratelimit::Limits::new(&config, now_ms());
        let state = Arc::new(Mutex::new(State {
            config,
            events: Vec::new(),
            next_seq: 0,
            limits,
            in_flight: 0,
            requests: 0,
            rejected_429: 0,
            last_served: None,
            oauth: oauth::OAuthState::new(),
            directory: Directory::new(0),
            directory_limits: std::collections::BTreeMap::new(),
            directory_calls: DirectoryCalls::default(),
        }));
        let app = Router::new()
            .route("/api/v1/logs", axum::routing::get(logs::get_logs))
            .route("/oauth2/v1/token", axum::routing::post(oauth::token))
            .route("/api/v1/users", axum::routing::get(directory::get_users))
            .route("/api/v1/groups", axum::routing::get(directory::get_groups))
            .route("/api/v1/groups/{id}/users", axum::routing::get(directory::get_group_users))
            .route("/api/v1/devices", axum::routing::get(directory::get_devices))
            .route("/api/v1/meta/schemas/user/{id}", axum::routing::get(directory::get_schema))
            .route("/api/v1/iam/assignees/users", axum::routing::get(directory::get_role_assignees))
            .route("/api/v1/users/{id}/roles", axum::routing::get(directory::get_user_roles))
            .fallback(not_found)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("while binding {addr}"))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        lock(&state).directory.set_base(&format!("http://{addr}"));
        Ok(SimHandle { addr, state, shutdown: Some(tx), hub: push::Hub::new() })
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, the org URL to point a poller at.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds events, persisted `delay` from now. An event whose `published` time is older than
    /// that is late: it appears behind cursors that already passed its `published` time.
    pub fn push(&self, events: &[Value], delay: Duration) {
        let persisted_ms = now_ms().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        store(&mut lock(&self.state), events, persisted_ms);
        self.hub.wake();
    }

    /// Changes the chaos switches while running.
    pub fn set_chaos(&self, chaos: Chaos) {
        lock(&self.state).config.chaos = chaos;
    }

    /// Changes a token's status (expire or revoke it mid-run).
    pub fn set_token(&self, token: &str, status: TokenStatus) {
        let mut state = lock(&self.state);
        match state.config.tokens.iter_mut().find(|(t, _)| t == token) {
            Some(entry) => entry.1 = status,
            None => state.config.tokens.push((token.to_owned(), status)),
        }
    }

    /// Logs requests answered so far, and how many of them were 429s.
    pub fn request_counts(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.requests, state.rejected_429)
    }

    /// Requests spent in each completed rate-limit window, and the window's limit.
    pub fn window_usage(&self) -> (Vec<u32>, u32) {
        let state = lock(&self.state);
        (state.limits.history.clone(), state.limits.limit)
    }

    /// Replaces the org's directory (users, groups, devices, schema).
    pub fn set_directory(&self, mut directory: Directory) {
        directory.set_base(&self.base_url());
        lock(&self.state).directory = directory;
    }

    /// Reads or changes the directory while the simulator runs; changes are stamped with now.
    pub fn directory<R>(&self, f: impl FnOnce(&mut Directory) -> R) -> R {
        let mut state = lock(&self.state);
        state.directory.set_now(now_ms());
        f(&mut state.directory)
    }

    /// The directory as the API serves it.
    pub fn directory_snapshot(&self) -> DirectorySnapshot {
        lock(&self.state).directory.snapshot()
    }

    /// Directory calls so far, per endpoint (`users`, `groups`, `group_users`, `devices`,
    /// `schema`, `role_assignees`, `user_roles`), and how many were answered 429.
    pub fn directory_calls(&self) -> DirectoryCalls {
        lock(&self.state).directory_calls.clone()
    }

    /// Starts counting directory calls from zero.
    pub fn reset_directory_calls(&self) {
        lock(&self.state).directory_calls = DirectoryCalls::default();
    }

    /// Requests spent in each completed window of a directory bucket, and its limit.
    pub fn directory_window_usage(&self, bucket: DirectoryBucket) -> (Vec<u32>, u32) {
        let state = lock(&self.state);
        state.directory_limits.get(&bucket).map(|l| (l.history.clone(), l.limit)).unwrap_or_default()
    }

    /// How many events the org holds.
    pub fn event_count(&self) -> usize {
        lock(&self.state).events.len()
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.hub.close();
    }
}

/// Adds events to the log, persisted at `persisted_ms` (the one way events enter it).
fn store(state: &mut State, events: &[Value], persisted_ms: i64) {
    for e in events {
        let published_ms = e["published"].as_str().and_then(parse_ms).unwrap_or(persisted_ms);
        let seq = state.next_seq;
        state.next_seq += 1;
        state.events.push(Stored { persisted_ms, seq, published_ms, json: e.to_string() });
    }
    state.events.sort_by_key(|s| (s.persisted_ms, s.seq));
}

fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a handler must not take the simulator down for the rest of a test.
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn not_found() -> Response {
    okta_error(StatusCode::NOT_FOUND, "E0000007", "Not found: Resource not found", HeaderMap::new())
}

/// Okta's error body, with the headers every response carries.
fn okta_error(status: StatusCode, code: &str, summary: &str, mut headers: HeaderMap) -> Response {
    let id = format!("oae{:022x}", fastrand::u128(..) & ((1 << 88) - 1));
    let body = json!({
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": id,
        "errorCauses": [],
    });
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (status, headers, body.to_string()).into_response()
}

pub(crate) use crate::time::{now_ms, parse_ms};
