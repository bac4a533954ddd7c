//! Polls an org's System Log (`GET /api/v1/logs`) exactly once into its sinks.
//!
//! - Cold start: `since` = now − `initial_lookback_hours`. After that the poller follows and
//!   persists Okta's `next` link (its opaque `after` cursor), as Okta recommends; a cursor that is
//!   lost or rejected falls back to `since` = last `published` − `resume_overlap_minutes`, and the
//!   overlap is dropped by uuid.
//! - A page shorter than `page_limit` means caught up: wait `interval_secs`, then ask the same
//!   `next` link again. An empty page never makes the poller spin.
//! - Per page: normalize in the component, drop uuids already written, write to every sink, make
//!   the sinks durable, then commit cursor + uuids + sink positions in one store transaction. A
//!   crash anywhere before the commit rolls the sinks back on restart and fetches the page again.
//! - Rate limits: see `budget.rs`. 5xx and transport errors back off with jitter. A rejected token
//!   (401) stops the org with a clear error instead of retrying in a loop.

pub mod link;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use reqwest::StatusCode;
use tokio::sync::watch;

use crate::auth::{Auth, Verdict};
use crate::budget::{self, Snapshot};
use crate::config::OrgConfig;
pub use crate::pipeline::Stats;
use crate::pipeline::{Channel, SharedPipeline};
use crate::sources::sleep_or_stop;
use crate::store::Store;
use crate::telemetry::{Metrics, OrgLabel, RequestLabel};

/// Consecutive failed batches (a sink or the store failing) before an org stops.
const MAX_BATCH_FAILURES: u32 = 10;

/// One org's poller.
pub struct OrgPoller {
    org: OrgConfig,
    client: reqwest::Client,
    auth: Arc<Auth>,
    /// Normalizes, dedupes, writes and commits; shared with the org's push channels.
    pipeline: SharedPipeline,
    store: Arc<Mutex<Store>>,
    stats: Arc<Mutex<Stats>>,
    budget: Option<Snapshot>,
    /// Failed requests in a row, for the backoff.
    failures: u32,
    metrics: Arc<Metrics>,
    label: OrgLabel,
    /// Base of the exponential backoff for 5xx and transport errors.
    retry_base: Duration,
    /// Shared with the org's directory sync, which holds off while the poller is rate limited.
    gate: Option<Arc<budget::OrgGate>>,
}

impl std::fmt::Debug for OrgPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgPoller").field("org", &self.org.name).finish_non_exhaustive()
    }
}

/// Why one request did not give a page.
enum Failure {
    /// Wait this long, then try the same URL again.
    Retry(Duration, String),
    /// The stored cursor was rejected: resume from `published`.
    BadCursor(String),
    /// Nothing will fix this without a person (a rejected token, missing permission).
    Fatal(anyhow::Error),
}

/// The page of events behind one URL.
struct Page {
    body: Vec<u8>,
    next: Option<String>,
}

impl OrgPoller {
    /// A poller for `org`, writing through `pipeline` (whose store is `store` and counters
    /// `stats`).
    pub fn new(
        org: OrgConfig,
        pipeline: SharedPipeline,
        store: Arc<Mutex<Store>>,
        stats: Arc<Mutex<Stats>>,
        metrics: Arc<Metrics>,
    ) -> Result<OrgPoller> {
        let auth = Arc::new(Auth::from_org(&org)?);
        tracing::info!(org = %org.name, auth = %auth.describe(), "Authenticating.");
        let retry_base = Duration::from_millis(org.retry_base_ms.max(1));
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("okta-normalizer/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("while setting up the HTTP client")?;
        let label = Metrics::org(&org.name);
        Ok(OrgPoller {
            org,
            client,
            auth,
            pipeline,
            store,
            stats,
            budget: None,
            failures: 0,
            metrics,
            label,
            retry_base,
            gate: None,
        })
    }

    /// The org it polls.
    pub fn org(&self) -> &OrgConfig {
        &self.org
    }

    /// The poller's credentials (and OAuth token cache), to share with the org's directory sync.
    pub fn auth(&self) -> Arc<Auth> {
        self.auth.clone()
    }

    /// Shares the org's request gate with its directory sync (see [`budget::OrgGate`]).
    pub fn with_gate(mut self, gate: Arc<budget::OrgGate>) -> OrgPoller {
        self.gate = Some(gate);
        self
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Polls until `stop` turns true, or, with `once`, until caught up.
    pub async fn run(&mut self, mut stop: watch::Receiver<bool>, once: bool) -> Result<()> {
        let name = self.org.name.clone();
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if let Some(wait) = self.budget.and_then(|b| b.wait_for_headroom(self.org.rate_limit_headroom_percent)) {
                tracing::debug!(org = %name, wait_secs = wait.as_secs(), "Rate-limit headroom reached; waiting for the window to reset.");
                if sleep_or_stop(wait, &mut stop).await {
                    return Ok(());
                }
                // The window has reset; the old snapshot no longer applies.
                self.budget = None;
            }
            self.pipeline.lock().await.check_health();
            let url = self.next_url()?;
            match self.fetch(&url).await {
                Ok(page) => {
                    let full = match self.process(&url, page).await {
                        Ok(full) => full,
                        Err(error) => {
                            // A sink or the store failed mid-batch: nothing was committed (the pipeline
                            // rolls its sinks back), so fetch the same page again after a backoff.
                            self.failures += 1;
                            self.stats().retries += 1;
                            if self.failures >= MAX_BATCH_FAILURES {
                                return Err(error.context(format!(
                                    "org {name}: the batch failed {MAX_BATCH_FAILURES} times in a row; stopping"
                                )));
                            }
                            let wait = self.backoff();
                            tracing::warn!(org = %name, error = %format!("{error:#}"), attempt = self.failures, "Writing a batch failed; retrying it.");
                            if sleep_or_stop(wait, &mut stop).await {
                                return Ok(());
                            }
                            continue;
                        }
                    };
                    self.failures = 0;
                    if !full {
                        self.stats().caught_up = true;
                        if once {
                            return Ok(());
                        }
                        if sleep_or_stop(self.org.interval(), &mut stop).await {
                            return Ok(());
                        }
                    }
                }
                Err(Failure::Retry(wait, why)) => {
                    self.failures += 1;
                    self.stats().retries += 1;
                    tracing::warn!(
                        org = %name,
                        error = %why,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        attempt = self.failures,
                        "Request failed; retrying."
                    );
                    if sleep_or_stop(wait, &mut stop).await {
                        return Ok(());
                    }
                }
                Err(Failure::BadCursor(why)) => {
                    tracing::warn!(org = %name, error = %why, "Okta rejected the stored cursor; resuming from the last published time with an overlap.");
                    self.store().forget_cursor(&name)?;
                }
                Err(Failure::Fatal(error)) => return Err(error.context(format!("org {name}"))),
            }
        }
    }

    /// The URL to ask next: the stored `next` link, or a `since` query.
    fn next_url(&self) -> Result<String> {
        let checkpoint = self.store().checkpoint(&self.org.name)?;
        if let Some(next) = checkpoint.next_url {
            return Ok(next);
        }
        let now = crate::time::now_ms();
        let since = match checkpoint.last_published_ms {
            Some(last) => last - i64::try_from(self.org.resume_overlap_minutes * 60_000).unwrap_or(0),
            None => now - i64::try_from(self.org.initial_lookback_hours * 3_600_000).unwrap_or(0),
        };
        // Okta keeps 90 days; asking further back only risks a 400.
        let since = since.max(now - 90 * 24 * 3_600_000);
        Ok(format!(
            "{}/api/v1/logs?since={}&limit={}",
            self.org.url.trim_end_matches('/'),
            crate::time::format_ms(since).replace(':', "%3A"),
            self.org.page_limit
        ))
    }

    async fn fetch(&mut self, url: &str) -> Result<Page, Failure> {
        let credentials = match self.auth.headers("GET", url).await {
            Ok(headers) => headers,
            Err(e) if e.is_retryable() => {
                return Err(Failure::Retry(e.retry_after().unwrap_or_else(|| self.backoff()), e.to_string()));
            }
            Err(e) => return Err(Failure::Fatal(e.into())),
        };
        let response = self.client.get(url).headers(credentials).header("accept", "application/json").send().await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return Err(Failure::Retry(self.backoff(), format!("transport error: {}", without_url(&e)))),
        };
        let status = response.status();
        self.metrics
            .requests
            .get_or_create(&RequestLabel { org: self.org.name.clone(), status: status.as_u16() })
            .inc();
        let snapshot = Snapshot::from_headers(response.headers());
        if let Some(s) = snapshot {
            self.metrics
                .rate_limit_remaining
                .get_or_create(&self.label)
                .set(i64::try_from(s.remaining).unwrap_or(i64::MAX));
            self.budget = snapshot;
        }
        match self.auth.on_response(status, response.headers()) {
            Verdict::Pass => {}
            Verdict::Retry(why) => return Err(Failure::Retry(Duration::ZERO, why)),
            Verdict::Fatal(why) => {
                let (code, summary) = okta_error(&response.text().await.unwrap_or_default());
                return Err(Failure::Fatal(anyhow!(
                    "{why} (Okta said {} {code}: {summary}). Not retrying.",
                    status.as_u16()
                )));
            }
        }
        if status == StatusCode::OK {
            let next = link::find(response.headers().get_all("link").iter().filter_map(|v| v.to_str().ok()), "next");
            let body = response.bytes().await.map_err(|e| Failure::Retry(self.backoff(), without_url(&e)))?;
            return Ok(Page { body: body.to_vec(), next });
        }
        let body = response.text().await.unwrap_or_default();
        let (code, summary) = okta_error(&body);
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                self.stats().rate_limited += 1;
                let wait = snapshot.map_or_else(|| self.backoff(), |s| s.wait_after_429());
                if let Some(gate) = &self.gate {
                    gate.hold(wait);
                }
                Err(Failure::Retry(wait, format!("rate limited (429 {code})")))
            }
            StatusCode::UNAUTHORIZED => Err(Failure::Fatal(anyhow!(
                "Okta rejected the API token (401 {code}: {summary}); check that the token in the configured \
                 environment variable or file is current (tokens expire after 30 days unused, and are revoked \
                 when their admin is deactivated). Not retrying."
            ))),
            StatusCode::FORBIDDEN => Err(Failure::Fatal(anyhow!(
                "Okta refused the request (403 {code}: {summary}); the token's admin needs read access to the System Log. Not retrying."
            ))),
            StatusCode::BAD_REQUEST if url.contains("after=") => {
                Err(Failure::BadCursor(format!("400 {code}: {summary}")))
            }
            StatusCode::BAD_REQUEST => Err(Failure::Fatal(anyhow!(
                "Okta rejected the query (400 {code}: {summary}) for {}",
                redact_query(url)
            ))),
            s if s.is_server_error() => {
                Err(Failure::Retry(self.backoff(), format!("{} {code}: {summary}", s.as_u16())))
            }
            s => Err(Failure::Retry(self.backoff(), format!("unexpected {} {code}: {summary}", s.as_u16()))),
        }
    }

    /// 1, 2, 4 … 60 × the retry base, with jitter, growing with consecutive failures.
    fn backoff(&self) -> Duration {
        let base = self.retry_base.mul_f64(f64::from(1u32 << self.failures.min(6))).min(self.retry_base * 60);
        base + self.retry_base.mul_f64(fastrand::f64() * 0.5)
    }

    /// Normalizes, dedupes, writes and commits one page (through the pipeline). Returns whether
    /// the page was full (so more is waiting).
    async fn process(&mut self, url: &str, page: Page) -> Result<bool> {
        let next = page.next.unwrap_or_else(|| url.to_owned());
        let delivered = self.pipeline.lock().await.deliver(Channel::Poll, &[&page.body], Some(&next), &[]).await?;
        self.stats().pages += 1;
        Ok(delivered.events_in >= usize::try_from(self.org.page_limit).unwrap_or(usize::MAX))
    }
}

/// Okta's `errorCode` and `errorSummary`, or placeholders.
pub(crate) fn okta_error(body: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let code = v["errorCode"].as_str().unwrap_or("no error code").to_owned();
    let summary = v["errorSummary"].as_str().unwrap_or("no error summary").to_owned();
    (code, summary)
}

/// A reqwest error without its URL (URLs are safe, but keep messages short).
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), "<url>");
    }
    msg
}

/// The URL without its query, for messages.
fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
