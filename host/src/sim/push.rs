//! Push delivery, as Okta does it: event hooks (`../shared/design/okta-api.md` §4) and Log
//! Streaming to Amazon EventBridge (§5).
//!
//! **What Okta does.**
//! - *Event hooks.* Before a hook receives anything, Okta verifies it once: a GET (the only GET it
//!   ever sends) with `x-okta-verification-challenge: <value>`, answered by 200 and
//!   `{"verification":"<value>"}` within 3 s, with one retry. Then every hook-eligible event of a
//!   subscribed type is POSTed in a `com.okta.event_hook` envelope whose `data.events` batches
//!   events that occurred close together. The receiver has 3 s to answer 200 or 204; a 4xx is not
//!   retried, a 5xx or a timeout is retried once, and then the batch is dropped and an
//!   `event_hook.delivery` event in the System Log records the failure. Delivery is at least once
//!   and best effort: duplicates, several requests at once and out-of-order batches all happen.
//! - *Log Streaming (EventBridge).* Every System Log event, without filter, becomes one EventBridge
//!   event from the partner source `aws.partner/okta.com/<org>/<eventSourceName>`, with detail-type
//!   `SystemLog` and the LogEvent as `detail`. On an error or a timeout Okta makes two attempts back
//!   to back, then *deactivates* the stream (`system.log_stream.lifecycle.deactivate`) until an
//!   admin activates it again; what happened in between is never replayed.
//!
//! **What the simulator emulates.** [`SimHandle::start_event_hook`] and
//! [`SimHandle::start_log_stream`] each start a task that follows the log in persistence order (a
//! cursor over `(persisted_ms, seq)`, like a polling `after` cursor; events persisted in the future
//! are not visible yet), starting at the end of the log when called: like Okta, a new hook or stream
//! receives nothing from before. The task applies the rules above, logs the failure events through
//! the same path as [`SimHandle::push`], and can misbehave on purpose ([`PushChaos`]: duplicates,
//! reordering, concurrent requests, batch sizes), reproducibly from a seed. [`verify_hook`] is the
//! handshake. A stream target is either an HTTP endpoint that receives the envelopes EventBridge
//! would deliver (an API destination), or EventBridge itself (`PutEvents`, so that rules route the
//! events to SQS and other targets).
//!
//! Not emulated: the management APIs (registration, activation, verification status), expression
//! filters, the 400,000 events per day limit, the historic circuit breaker and Okta's start-up
//! delay of a few minutes.
//!
//! Secrets (the auth header value, AWS secret keys) are only sent, never logged: the target types
//! print `[redacted]` in their place.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};

use super::generator::{alnum, uuid};
use super::{SimHandle, State, Stored, lock, now_ms, store};
use crate::time::format_ms;

/// Okta's deadline for a hook's answer, to the verification GET and to every delivery.
const HOOK_TIMEOUT: Duration = Duration::from_secs(3);
/// The simulator's deadline for a stream delivery (Okta does not document its own).
const STREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a delivery task looks at the log when nothing woke it.
const POLL: Duration = Duration::from_millis(100);
/// Events in one hook batch were persisted at most this far apart ("close together").
const BATCH_WINDOW_MS: i64 = 1_000;
/// `PutEvents` takes at most 10 entries.
const PUT_EVENTS_MAX: usize = 10;
/// Event types Okta never sends to a hook, whatever it subscribes to (a sample of the catalog's
/// ineligible types; the failure event is one of them, so a failing hook is not fed its own
/// failures).
const NOT_HOOK_ELIGIBLE: [&str; 3] = ["event_hook.delivery", "policy.evaluate_sign_on", "security.threat.detected"];

/// The hook id in Okta's documentation sample, used by [`HookTarget::new`].
const SAMPLE_HOOK_ID: &str = "who7hphp39JoHLni81d7";
/// The partner event source of [`StreamTarget::http`]: `aws.partner/okta.com/<org>/<eventSourceName>`.
const SAMPLE_STREAM_SOURCE: &str = "aws.partner/okta.com/simulator/okta-normalizer";
const SAMPLE_ACCOUNT: &str = "999999999999";
const SAMPLE_REGION: &str = "us-east-1";

/// An event hook as registered with Okta (`channel.config` of `POST /api/v1/eventHooks`).
#[derive(Clone)]
pub struct HookTarget {
    /// The hook's id (`who…`); it appears in the envelope's `source`.
    pub id: String,
    /// Where deliveries (and the verification GET) go.
    pub url: String,
    /// `authScheme`: a header name and its static secret value (often `Basic …`).
    pub auth: Option<(String, String)>,
    /// Custom headers, sent with every request. `Accept` and `Content-Type` cannot be overridden.
    pub headers: Vec<(String, String)>,
    /// Subscribed event types; empty means every hook-eligible type.
    pub event_types: Vec<String>,
}

impl HookTarget {
    /// A hook to `url` with the documentation's sample id, no auth, no custom headers, all types.
    pub fn new(url: impl Into<String>) -> HookTarget {
        HookTarget {
            id: SAMPLE_HOOK_ID.to_owned(),
            url: url.into(),
            auth: None,
            headers: Vec::new(),
            event_types: Vec::new(),
        }
    }
}

impl fmt::Debug for HookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookTarget")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("auth", &redacted(self.auth.as_ref()))
            .field("headers", &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .field("event_types", &self.event_types)
            .finish()
    }
}

/// Where a Log Stream goes.
#[derive(Clone)]
pub enum StreamTarget {
    /// An HTTPS endpoint that receives each envelope as EventBridge delivers it to an API
    /// destination: one POST per event, the envelope as the body.
    Http {
        url: String,
        /// The API destination connection's header (name, value), e.g. an API key.
        auth: Option<(String, String)>,
        /// The envelope's `source`: `aws.partner/okta.com/<org subdomain>/<eventSourceName>`.
        source: String,
        /// The envelope's `account` (12 digits).
        account: String,
        /// The envelope's `region`.
        region: String,
    },
    /// Amazon EventBridge (or an emulator): `PutEvents` on `bus`, so that the bus's rules deliver
    /// the envelopes, e.g. into SQS.
    EventBridge {
        /// Another endpoint than AWS's, e.g. `http://127.0.0.1:5055` for moto.
        endpoint_url: Option<String>,
        region: String,
        /// The event bus: the partner bus (named like the source) or any bus for an emulator.
        bus: String,
        /// `aws.partner/okta.com/<org subdomain>/<eventSourceName>`.
        source: String,
        /// Static credentials (access key id, secret access key); `None` uses the AWS SDK's
        /// default chain (environment, profile, instance role).
        credentials: Option<(String, String)>,
    },
}

impl StreamTarget {
    /// An API destination at `url`, with a sample source, account and region.
    pub fn http(url: impl Into<String>, auth: Option<(String, String)>) -> StreamTarget {
        StreamTarget::Http {
            url: url.into(),
            auth,
            source: SAMPLE_STREAM_SOURCE.to_owned(),
            account: SAMPLE_ACCOUNT.to_owned(),
            region: SAMPLE_REGION.to_owned(),
        }
    }

    /// The partner event source the envelopes come from.
    pub fn source(&self) -> &str {
        match self {
            StreamTarget::Http { source, .. } | StreamTarget::EventBridge { source, .. } => source,
        }
    }
}

impl fmt::Debug for StreamTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamTarget::Http { url, auth, source, account, region } => f
                .debug_struct("Http")
                .field("url", url)
                .field("auth", &redacted(auth.as_ref()))
                .field("source", source)
                .field("account", account)
                .field("region", region)
                .finish(),
            StreamTarget::EventBridge { endpoint_url, region, bus, source, credentials } => f
                .debug_struct("EventBridge")
                .field("endpoint_url", endpoint_url)
                .field("region", region)
                .field("bus", bus)
                .field("source", source)
                .field("credentials", &redacted(credentials.as_ref()))
                .finish(),
        }
    }
}

/// `(name, value)` → `(name, "[redacted]")`: the name helps, the value is a secret.
fn redacted(pair: Option<&(String, String)>) -> Option<(&str, &str)> {
    pair.map(|(name, _)| (name.as_str(), "[redacted]"))
}

/// How a delivery misbehaves, on purpose. The default is a well-behaved Okta: batches of up to 50,
/// one request at a time, no duplicates, in order.
#[derive(Debug, Clone, Copy)]
pub struct PushChaos {
    /// The chance that a delivered batch is sent again later (for a hook, with a new `eventId`
    /// half of the time).
    pub duplicate_probability: f64,
    /// Now and then hold a batch back and send it after the next one, so batches arrive out of
    /// order.
    pub reorder: bool,
    /// Events per hook request are 1..=`max_batch` (drawn per batch). A stream sends one event
    /// per HTTP request, and at most 10 per `PutEvents` call.
    pub max_batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Seeds batch sizes, chaos decisions and generated ids, so a run can be repeated.
    pub seed: u64,
}

impl Default for PushChaos {
    fn default() -> Self {
        PushChaos { duplicate_probability: 0.0, reorder: false, max_batch: 50, concurrency: 1, seed: 0 }
    }
}

/// What a delivery task has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Requests sent (HTTP requests or `PutEvents` calls), including retries and duplicates.
    pub requests: u64,
    /// Batches acknowledged, not counting duplicates.
    pub batches_delivered: u64,
    /// Events acknowledged, each counted once however often it was sent.
    pub events_delivered: u64,
    /// Second attempts.
    pub retries: u64,
    /// Batches given up on (after the retry, or at once for a hook's 4xx).
    pub failed_batches: u64,
    /// Events that were never acknowledged: in failed batches, or queued when a stream was
    /// deactivated.
    pub dropped_events: u64,
    /// Requests that sent an already delivered batch again (chaos).
    pub duplicate_requests: u64,
    /// Batches that went out after a later one (chaos).
    pub reordered_batches: u64,
    /// A stream's: events that occurred while it was deactivated, skipped on reactivation.
    pub skipped_events: u64,
    /// A stream's: deactivated after two failed attempts, until [`PushHandle::reactivate`].
    pub deactivated: bool,
    /// How many times the stream was deactivated.
    pub deactivations: u64,
    /// The task has ended (stopped, or the simulator is gone, or it could not start).
    pub stopped: bool,
    /// The last failure, without secrets.
    pub last_error: Option<String>,
}

/// A running event hook or Log Stream delivery. Dropping it stops the delivery.
pub struct PushHandle {
    shared: Arc<Mutex<Shared>>,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl fmt::Debug for PushHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = lock(&self.shared);
        f.debug_struct("PushHandle").field("subject", &shared.subject).field("stats", &shared.stats).finish()
    }
}

impl PushHandle {
    /// What has been delivered, retried, dropped and so on.
    pub fn stats(&self) -> PushStats {
        lock(&self.shared).stats.clone()
    }

    /// True when every event visible in the log has been handled (delivered, or given up on) and
    /// nothing is queued or in flight. False while a stream is deactivated or after the task ended.
    pub fn caught_up(&self) -> bool {
        let shared = lock(&self.shared);
        if shared.busy > 0 || shared.stats.deactivated || shared.stats.stopped {
            return false;
        }
        let state = lock(&self.state);
        let next = state.events.partition_point(|e| key(e) <= shared.cursor);
        state.events.get(next).is_none_or(|e| e.persisted_ms > now_ms())
    }

    /// Waits until [`caught_up`](Self::caught_up), at most `timeout`; returns whether it got there.
    pub async fn until_caught_up(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.caught_up() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Activates a deactivated stream again, as an admin does: delivery resumes with the events
    /// that occur from now on. What occurred while it was deactivated is skipped (Okta has no
    /// replay; the poller back-fills the gap). Does nothing to a hook or an active stream.
    pub fn reactivate(&self) {
        let mut shared = lock(&self.shared);
        if !shared.stats.deactivated {
            return;
        }
        let Subject::Stream { id, name } = shared.subject.clone() else { return };
        let mut state = lock(&self.state);
        let now = now_ms();
        // The simulator has no admin, so Okta itself is the actor.
        let event = system_event(
            &mut shared.event_rng,
            now,
            &SystemEvent {
                event_type: "system.log_stream.lifecycle.activate",
                message: "Activate log stream",
                severity: "INFO",
                result: "SUCCESS",
                reason: None,
                target: stream_entity(&id, &name),
            },
        );
        store(&mut state, &[event], now);
        let start = state.events.partition_point(|e| key(e) <= shared.cursor);
        let end = state.events.partition_point(|e| e.persisted_ms <= now);
        if end > start {
            shared.stats.skipped_events += u64::try_from(end - start).unwrap_or(u64::MAX);
            shared.cursor = key(&state.events[end - 1]);
        }
        shared.stats.deactivated = false;
        drop(state);
        drop(shared);
        self.wake.notify_waiters();
    }

    /// Stops delivering (requests in flight are abandoned). Dropping the handle does the same.
    pub fn stop(&self) {
        self.task.abort();
        lock(&self.shared).stats.stopped = true;
    }
}

impl Drop for PushHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the simulator shares with its delivery tasks: a wake-up for new events, and the signal
/// that it is gone.
#[derive(Debug)]
pub(super) struct Hub {
    wake: Arc<Notify>,
    closed: watch::Sender<bool>,
}

impl Hub {
    pub(super) fn new() -> Hub {
        Hub { wake: Arc::new(Notify::new()), closed: watch::Sender::new(false) }
    }

    /// New events are in the log.
    pub(super) fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// The simulator is going away: every delivery task ends.
    pub(super) fn close(&self) {
        self.closed.send_replace(true);
    }
}

impl SimHandle {
    /// Starts delivering to an event hook, as Okta does once the hook is active and verified
    /// (call [`verify_hook`] first to check the handshake). Delivery begins with the events
    /// persisted after this call and stops when the handle or the simulator is dropped.
    /// Must be called within a Tokio runtime.
    pub fn start_event_hook(&self, target: HookTarget, chaos: PushChaos) -> PushHandle {
        let source = format!("{}/api/v1/eventHooks/{}", self.base_url(), target.id);
        let subject = Subject::Hook { id: target.id.clone() };
        self.start_delivery(subject, Setup::Hook { target, source }, chaos)
    }

    /// Starts a Log Stream: every event persisted after this call, one EventBridge event each.
    /// Two failed attempts deactivate the stream until [`PushHandle::reactivate`]. Stops when
    /// the handle or the simulator is dropped. Must be called within a Tokio runtime.
    pub fn start_log_stream(&self, target: StreamTarget, chaos: PushChaos) -> PushHandle {
        let mut rng = fastrand::Rng::with_seed(chaos.seed ^ 0x5743_4541_4d49_4e47);
        let name = target.source().rsplit('/').next().unwrap_or_default().to_owned();
        let subject = Subject::Stream { id: okta_id(&mut rng, "0oa"), name };
        self.start_delivery(subject, Setup::Stream(target), chaos)
    }

    fn start_delivery(&self, subject: Subject, setup: Setup, chaos: PushChaos) -> PushHandle {
        let cursor = {
            let state = lock(&self.state);
            let now = now_ms();
            let end = state.events.partition_point(|e| e.persisted_ms <= now);
            end.checked_sub(1).map_or((i64::MIN, 0), |last| key(&state.events[last]))
        };
        let shared = Arc::new(Mutex::new(Shared {
            subject,
            stats: PushStats::default(),
            cursor,
            busy: 0,
            event_rng: fastrand::Rng::with_seed(chaos.seed ^ 0x4556_454e_5455_5549),
        }));
        let max_batch = match &setup {
            Setup::Hook { .. } => chaos.max_batch.max(1),
            Setup::Stream(StreamTarget::Http { .. }) => 1,
            Setup::Stream(StreamTarget::EventBridge { .. }) => chaos.max_batch.clamp(1, PUT_EVENTS_MAX),
        };
        let filter = match &setup {
            Setup::Hook { target, .. } => Some(target.event_types.clone()),
            Setup::Stream(_) => None,
        };
        let follower = Follower {
            shared: shared.clone(),
            state: self.state.clone(),
            wake: self.hub.wake.clone(),
            rng: fastrand::Rng::with_seed(chaos.seed),
            duplicate_probability: if chaos.duplicate_probability.is_finite() {
                chaos.duplicate_probability.clamp(0.0, 1.0)
            } else {
                0.0
            },
            reorder: chaos.reorder,
            max_batch,
            concurrency: chaos.concurrency.max(1),
            filter,
            stream: matches!(setup, Setup::Stream(_)),
            ids_per_event: matches!(setup, Setup::Stream(StreamTarget::Http { .. })),
        };
        let task = tokio::spawn(follower.run(setup, self.hub.closed.subscribe()));
        PushHandle { shared, state: self.state.clone(), wake: self.hub.wake.clone(), task }
    }
}

/// A delivery's position and counters, shared by its task and its handle. Lock order: this,
/// then the simulator's state.
#[derive(Debug)]
struct Shared {
    subject: Subject,
    stats: PushStats,
    /// The last event read from the log.
    cursor: (i64, u64),
    /// Batches read from the log and not finished: queued, held back or in flight.
    busy: usize,
    /// For the uuids of the events this delivery adds to the log.
    event_rng: fastrand::Rng,
}

/// Whom the failure and lifecycle events are about.
#[derive(Debug, Clone)]
enum Subject {
    Hook { id: String },
    Stream { id: String, name: String },
}

/// The target, before the task has connected to it.
enum Setup {
    Hook { target: HookTarget, source: String },
    Stream(StreamTarget),
}

/// One LogEvent of a batch.
#[derive(Clone)]
struct Item {
    json: Box<RawValue>,
    published_ms: i64,
}

/// Events sent together: one hook request, one stream request, or one `PutEvents` call.
struct Batch {
    items: Vec<Item>,
    /// A hook's `eventId`, or a stream's envelope ids (one per event); empty for `PutEvents`,
    /// where EventBridge assigns them.
    ids: Vec<String>,
    /// A chaos re-send of a batch already delivered.
    duplicate: bool,
    /// Send it again once delivered (chaos).
    resend: bool,
}

struct Outcome {
    batch: Batch,
    /// `Err` holds the reason, without secrets.
    result: Result<(), String>,
    /// Events acknowledged (a `PutEvents` call can succeed in part).
    delivered: u64,
}

/// The delivery loop: reads batches from the log, hands them to up to `concurrency` requests,
/// and settles their outcomes.
struct Follower {
    shared: Arc<Mutex<Shared>>,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    rng: fastrand::Rng,
    duplicate_probability: f64,
    reorder: bool,
    max_batch: usize,
    concurrency: usize,
    /// A hook's subscribed types (empty: all eligible ones); `None` for a stream (everything).
    filter: Option<Vec<String>>,
    stream: bool,
    /// A stream to an API destination: each envelope gets its own id.
    ids_per_event: bool,
}

impl Follower {
    async fn run(mut self, setup: Setup, mut closed: watch::Receiver<bool>) {
        let sender = match Sender::connect(setup).await {
            Ok(sender) => Arc::new(sender),
            Err(reason) => {
                tracing::warn!("The simulator's push delivery could not start: {reason}");
                let mut shared = lock(&self.shared);
                shared.stats.last_error = Some(reason);
                shared.stats.stopped = true;
                return;
            }
        };
        let mut queue: VecDeque<Batch> = VecDeque::new();
        let mut held: Option<Batch> = None;
        let mut jobs: JoinSet<Outcome> = JoinSet::new();
        loop {
            if *closed.borrow() {
                break;
            }
            self.fill(&mut queue, &mut held, jobs.len());
            while jobs.len() < self.concurrency
                && let Some(batch) = queue.pop_front()
            {
                jobs.spawn(deliver(sender.clone(), self.shared.clone(), batch));
            }
            let wake = self.wake.clone();
            tokio::select! {
                Some(done) = jobs.join_next(), if !jobs.is_empty() => self.settle(done, &mut queue, &mut held),
                _ = tokio::time::timeout(POLL, wake.notified()) => {}
                _ = closed.changed() => break,
            }
        }
        lock(&self.shared).stats.stopped = true;
    }

    /// Reads batches until `concurrency` are queued or in flight; a held-back batch goes out
    /// right after the next one, or when the log has nothing more.
    fn fill(&mut self, queue: &mut VecDeque<Batch>, held: &mut Option<Batch>, in_flight: usize) {
        while queue.len() + in_flight < self.concurrency {
            let Some(batch) = self.next_batch() else {
                queue.extend(held.take());
                break;
            };
            if self.reorder && held.is_none() && self.rng.bool() {
                *held = Some(batch);
                continue;
            }
            queue.push_back(batch);
            if let Some(earlier) = held.take() {
                lock(&self.shared).stats.reordered_batches += 1;
                queue.push_back(earlier);
            }
        }
    }

    /// The next batch from the log, advancing the cursor past every event it looked at.
    fn next_batch(&mut self) -> Option<Batch> {
        let shared = self.shared.clone();
        let mut shared = lock(&shared);
        if shared.stats.deactivated {
            return None;
        }
        let state = self.state.clone();
        let state = lock(&state);
        let now = now_ms();
        let start = state.events.partition_point(|e| key(e) <= shared.cursor);
        let mut items: Vec<Item> = Vec::new();
        let mut size = 0;
        let mut first_ms = None;
        for e in &state.events[start..] {
            if e.persisted_ms > now
                || (size > 0 && items.len() >= size)
                || first_ms.is_some_and(|first| e.persisted_ms - first > BATCH_WINDOW_MS)
            {
                break;
            }
            shared.cursor = key(e);
            if !self.eligible(e) {
                continue;
            }
            let Ok(json) = RawValue::from_string(e.json.clone()) else { continue };
            if size == 0 {
                // Drawn only when there is something to send, so the sequence does not depend on
                // how often the log was looked at.
                size = self.rng.usize(1..=self.max_batch);
                first_ms = Some(e.persisted_ms);
            }
            items.push(Item { json, published_ms: e.published_ms });
        }
        if items.is_empty() {
            return None;
        }
        shared.busy += 1;
        drop(state);
        drop(shared);
        let ids = self.ids(items.len());
        let resend = self.duplicate_probability > 0.0 && self.rng.f64() < self.duplicate_probability;
        Some(Batch { items, ids, duplicate: false, resend })
    }

    fn eligible(&self, e: &Stored) -> bool {
        let Some(types) = &self.filter else { return true };
        #[derive(Deserialize)]
        struct TypeOnly<'a> {
            #[serde(rename = "eventType", borrow, default)]
            event_type: Option<Cow<'a, str>>,
        }
        let event_type = serde_json::from_str::<TypeOnly<'_>>(&e.json).ok().and_then(|t| t.event_type);
        match event_type {
            Some(t) => !NOT_HOOK_ELIGIBLE.contains(&t.as_ref()) && (types.is_empty() || types.iter().any(|x| *x == t)),
            None => types.is_empty(),
        }
    }

    /// Fresh ids for a batch of `n` events.
    fn ids(&mut self, n: usize) -> Vec<String> {
        let count = if self.ids_per_event {
            n
        } else if self.stream {
            0
        } else {
            1
        };
        (0..count).map(|_| uuid(&mut self.rng)).collect()
    }

    /// Books a finished request: counts, chaos re-sends, and Okta's reaction to a failure.
    fn settle(&mut self, done: Result<Outcome, JoinError>, queue: &mut VecDeque<Batch>, held: &mut Option<Batch>) {
        let shared = self.shared.clone();
        let mut shared = lock(&shared);
        shared.busy = shared.busy.saturating_sub(1);
        let Outcome { batch, result, delivered } = match done {
            Ok(outcome) => outcome,
            Err(e) => {
                shared.stats.last_error = Some(format!("a delivery request failed: {e}"));
                return;
            }
        };
        if !batch.duplicate {
            shared.stats.events_delivered += delivered;
        }
        let reason = match result {
            Ok(()) => {
                if !batch.duplicate {
                    shared.stats.batches_delivered += 1;
                }
                if batch.resend && !shared.stats.deactivated {
                    shared.busy += 1;
                    drop(shared);
                    let again = self.again(&batch);
                    queue.push_back(again);
                }
                return;
            }
            Err(reason) => reason,
        };
        let what = if self.stream { "Log stream" } else { "Event hook" };
        tracing::warn!("{what} delivery failed: {reason}");
        shared.stats.last_error = Some(reason.clone());
        if batch.duplicate {
            // Its events were delivered before; nothing is lost.
            return;
        }
        shared.stats.failed_batches += 1;
        shared.stats.dropped_events += len(&batch.items).saturating_sub(delivered);
        let now = now_ms();
        let event = match shared.subject.clone() {
            Subject::Hook { id } => SystemEvent {
                event_type: "event_hook.delivery",
                message: "Event hook delivery",
                severity: "WARN",
                result: "FAILURE",
                reason: Some(format!("Event hook delivery failed: {reason}")),
                target: json!({"id": id, "type": "EventHook", "alternateId": "unknown", "displayName": id, "detailEntry": null}),
            },
            Subject::Stream { id, name } => {
                if shared.stats.deactivated {
                    return;
                }
                shared.stats.deactivated = true;
                shared.stats.deactivations += 1;
                for lost in queue.drain(..).chain(held.take()) {
                    shared.busy = shared.busy.saturating_sub(1);
                    if !lost.duplicate {
                        shared.stats.dropped_events += len(&lost.items);
                    }
                }
                SystemEvent {
                    event_type: "system.log_stream.lifecycle.deactivate",
                    message: "Deactivate log stream",
                    severity: "WARN",
                    result: "SUCCESS",
                    reason: Some(format!("Deactivated after two failed delivery attempts: {reason}")),
                    target: stream_entity(&id, &name),
                }
            }
        };
        let event = system_event(&mut shared.event_rng, now, &event);
        store(&mut lock(&self.state), &[event], now);
        drop(shared);
        self.wake.notify_waiters();
    }

    /// A chaos copy of a delivered batch. A hook's copy keeps the `eventId` half of the time;
    /// a stream's envelopes always get new ids (EventBridge assigns one per event it receives).
    fn again(&mut self, batch: &Batch) -> Batch {
        let ids = if !self.stream && self.rng.bool() { batch.ids.clone() } else { self.ids(batch.items.len()) };
        Batch { items: batch.items.clone(), ids, duplicate: true, resend: false }
    }
}

/// How a task talks to its target.
enum Sender {
    Hook(HookSender),
    Http(HttpStream),
    EventBridge(EventBridgeStream),
}

struct HookSender {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    /// `<org>/api/v1/eventHooks/<id>`.
    source: String,
}

struct HttpStream {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    source: String,
    account: String,
    region: String,
}

struct EventBridgeStream {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    source: String,
}

impl Sender {
    async fn connect(setup: Setup) -> Result<Sender, String> {
        match setup {
            Setup::Hook { target, source } => Ok(Sender::Hook(HookSender {
                client: http_client(HOOK_TIMEOUT)?,
                headers: headers(target.auth.as_ref(), &target.headers, true)?,
                url: target.url,
                source,
            })),
            Setup::Stream(StreamTarget::Http { url, auth, source, account, region }) => Ok(Sender::Http(HttpStream {
                client: http_client(STREAM_TIMEOUT)?,
                headers: headers(auth.as_ref(), &[], true)?,
                url,
                source,
                account,
                region,
            })),
            Setup::Stream(StreamTarget::EventBridge { endpoint_url, region, bus, source, credentials }) => {
                use aws_sdk_eventbridge::config::{Credentials, Region};
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(Region::new(region))
                    // Okta's rule is two attempts, so the SDK must not retry on its own.
                    .retry_config(aws_config::retry::RetryConfig::disabled());
                if let Some(url) = endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                if let Some((key_id, secret)) = credentials {
                    loader = loader.credentials_provider(Credentials::new(key_id, secret, None, None, "okta-sim"));
                }
                let config = loader.load().await;
                Ok(Sender::EventBridge(EventBridgeStream {
                    client: aws_sdk_eventbridge::Client::new(&config),
                    bus,
                    source,
                }))
            }
        }
    }
}

/// Sends one batch with the target's retry rule.
async fn deliver(sender: Arc<Sender>, shared: Arc<Mutex<Shared>>, batch: Batch) -> Outcome {
    let (result, delivered) = match &*sender {
        Sender::Hook(hook) => hook.deliver(&shared, &batch).await,
        Sender::Http(stream) => stream.deliver(&shared, &batch).await,
        Sender::EventBridge(stream) => stream.deliver(&shared, &batch).await,
    };
    Outcome { batch, result, delivered }
}

fn count_attempt(shared: &Mutex<Shared>, batch: &Batch, attempt: u32) {
    let mut shared = lock(shared);
    shared.stats.requests += 1;
    if attempt > 0 {
        shared.stats.retries += 1;
    } else if batch.duplicate {
        shared.stats.duplicate_requests += 1;
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HookEnvelope<'a> {
    event_type: &'static str,
    event_type_version: &'static str,
    cloud_events_version: &'static str,
    source: &'a str,
    event_id: &'a str,
    event_time: String,
    content_type: &'static str,
    data: HookData<'a>,
}

#[derive(Serialize)]
struct HookData<'a> {
    events: Vec<&'a RawValue>,
}

impl HookSender {
    /// One POST; a 5xx, a timeout or a transport error is retried once, a 4xx is not.
    async fn deliver(&self, shared: &Mutex<Shared>, batch: &Batch) -> (Result<(), String>, u64) {
        let envelope = HookEnvelope {
            event_type: "com.okta.event_hook",
            event_type_version: "1.0",
            cloud_events_version: "0.1",
            source: &self.source,
            event_id: batch.ids.first().map_or("", String::as_str),
            event_time: format_ms(now_ms()),
            content_type: "application/json",
            data: HookData { events: batch.items.iter().map(|i| i.json.as_ref()).collect() },
        };
        let body = match serde_json::to_string(&envelope) {
            Ok(body) => body,
            Err(e) => return (Err(format!("could not build the delivery: {e}")), 0),
        };
        let mut last = String::new();
        for attempt in 0..2 {
            count_attempt(shared, batch, attempt);
            match post(&self.client, &self.url, &self.headers, body.clone(), HOOK_TIMEOUT).await {
                Ok(status) if status == StatusCode::OK || status == StatusCode::NO_CONTENT => {
                    return (Ok(()), len(&batch.items));
                }
                Ok(status) if status.is_client_error() => return (Err(format!("HTTP {status} (not retried)")), 0),
                Ok(status) => last = format!("HTTP {status}"),
                Err(reason) => last = reason,
            }
        }
        (Err(format!("{last}, also on the retry")), 0)
    }
}

#[derive(Serialize)]
struct EventBridgeEnvelope<'a> {
    version: &'static str,
    id: &'a str,
    #[serde(rename = "detail-type")]
    detail_type: &'static str,
    source: &'a str,
    account: &'a str,
    time: String,
    region: &'a str,
    resources: [&'static str; 0],
    detail: &'a RawValue,
}

impl HttpStream {
    /// One POST per envelope, each tried twice back to back.
    async fn deliver(&self, shared: &Mutex<Shared>, batch: &Batch) -> (Result<(), String>, u64) {
        let mut delivered = 0;
        for (item, id) in batch.items.iter().zip(&batch.ids) {
            let envelope = EventBridgeEnvelope {
                version: "0",
                id,
                detail_type: "SystemLog",
                source: &self.source,
                account: &self.account,
                time: whole_seconds(item.published_ms),
                region: &self.region,
                resources: [],
                detail: &item.json,
            };
            let body = match serde_json::to_string(&envelope) {
                Ok(body) => body,
                Err(e) => return (Err(format!("could not build the envelope: {e}")), delivered),
            };
            let mut last = None;
            for attempt in 0..2 {
                count_attempt(shared, batch, attempt);
                match post(&self.client, &self.url, &self.headers, body.clone(), STREAM_TIMEOUT).await {
                    Ok(status) if status.is_success() => {
                        last = None;
                        break;
                    }
                    Ok(status) => last = Some(format!("HTTP {status}")),
                    Err(reason) => last = Some(reason),
                }
            }
            if let Some(reason) = last {
                return (Err(reason), delivered);
            }
            delivered += 1;
        }
        (Ok(()), delivered)
    }
}

impl EventBridgeStream {
    /// One `PutEvents` call; entries that failed (or all, on an error) get one more attempt.
    async fn deliver(&self, shared: &Mutex<Shared>, batch: &Batch) -> (Result<(), String>, u64) {
        use aws_sdk_eventbridge::primitives::DateTime;
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;

        let mut pending: Vec<&Item> = batch.items.iter().collect();
        let mut reason = String::new();
        for attempt in 0..2 {
            count_attempt(shared, batch, attempt);
            let entries: Vec<PutEventsRequestEntry> = pending
                .iter()
                .map(|item| {
                    PutEventsRequestEntry::builder()
                        .source(&self.source)
                        .detail_type("SystemLog")
                        .detail(item.json.get())
                        .event_bus_name(&self.bus)
                        .time(DateTime::from_millis(item.published_ms))
                        .build()
                })
                .collect();
            let call = self.client.put_events().set_entries(Some(entries)).send();
            match tokio::time::timeout(STREAM_TIMEOUT, call).await {
                Err(_) => reason = format!("PutEvents: no answer within {} s", STREAM_TIMEOUT.as_secs()),
                Ok(Err(e)) => reason = format!("PutEvents: {}", aws_sdk_eventbridge::error::DisplayErrorContext(&e)),
                Ok(Ok(out)) => {
                    let results = out.entries();
                    let failed: Vec<usize> = (0..pending.len())
                        .filter(|i| results.get(*i).is_none_or(|r| r.error_code().is_some()))
                        .collect();
                    if failed.is_empty() {
                        return (Ok(()), len(&batch.items));
                    }
                    let first = failed.first().and_then(|i| results.get(*i));
                    reason = format!(
                        "PutEvents rejected {} of {} entries: {}: {}",
                        failed.len(),
                        pending.len(),
                        first.and_then(|r| r.error_code()).unwrap_or("no result"),
                        first.and_then(|r| r.error_message()).unwrap_or("")
                    );
                    pending = failed.into_iter().filter_map(|i| pending.get(i).copied()).collect();
                }
            }
        }
        (Err(reason), len(&batch.items).saturating_sub(len(&pending)))
    }
}

/// Okta's one-time verification of an event hook (§4.2): a GET to the hook's URL with
/// `x-okta-verification-challenge`, its auth header and custom headers. The hook must answer 200
/// with `{"verification":"<the challenge>"}` within 3 s; a timeout, a 5xx or a transport error is
/// retried once. The error says what was wrong.
pub async fn verify_hook(target: &HookTarget) -> Result<()> {
    let client = http_client(HOOK_TIMEOUT).map_err(anyhow::Error::msg)?;
    let mut headers = headers(target.auth.as_ref(), &target.headers, false).map_err(anyhow::Error::msg)?;
    let challenge = alnum(&mut fastrand::Rng::new(), 40);
    headers.insert(
        "x-okta-verification-challenge",
        HeaderValue::from_str(&challenge).map_err(|_| anyhow!("the challenge is not a header value"))?,
    );
    let mut last = String::new();
    for _ in 0..2 {
        let response = match client.get(&target.url).headers(headers.clone()).send().await {
            Ok(response) => response,
            Err(e) => {
                last = format!("the verification GET failed: {}", describe(e, HOOK_TIMEOUT));
                continue;
            }
        };
        let status = response.status();
        if status.is_server_error() {
            last = format!("the hook answered HTTP {status} to the verification GET");
            continue;
        }
        match response.bytes().await {
            Ok(body) => return check_verification(status, &body, &challenge),
            Err(e) => {
                last = format!("reading the answer to the verification GET failed: {}", describe(e, HOOK_TIMEOUT))
            }
        }
    }
    bail!("{last} (twice: Okta retries once)")
}

fn check_verification(status: StatusCode, body: &[u8], challenge: &str) -> Result<()> {
    const EXPECTED: &str = "it must answer 200 with {\"verification\":\"<value of x-okta-verification-challenge>\"}";
    if status != StatusCode::OK {
        bail!("the hook answered HTTP {status} to the verification GET; {EXPECTED}");
    }
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| anyhow!("the hook's answer to the verification GET is not JSON ({e}); {EXPECTED}"))?;
    match answer.get("verification") {
        Some(Value::String(value)) if value == challenge => Ok(()),
        Some(Value::String(value)) => {
            let shown: String = value.chars().take(80).collect();
            bail!("the hook echoed the wrong verification value: {shown:?} instead of {challenge:?}; {EXPECTED}")
        }
        Some(_) => bail!("the hook's \"verification\" is not a string; {EXPECTED}"),
        None => bail!("the hook's answer to the verification GET has no \"verification\" field; {EXPECTED}"),
    }
}

/// A client as Okta behaves: a hard deadline, no redirects followed.
fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("okta-normalizer-sim/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("could not set up the HTTP client: {}", describe(e, timeout)))
}

/// Custom headers, then the auth header (marked sensitive), then the reserved headers Okta always
/// sets. Errors name the header, never its value.
fn headers(auth: Option<&(String, String)>, custom: &[(String, String)], body: bool) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in custom {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name"))?;
        let value = HeaderValue::from_str(value).map_err(|_| format!("the value of header {name} is not valid"))?;
        map.append(name, value);
    }
    if let Some((name, value)) = auth {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name"))?;
        let mut value =
            HeaderValue::from_str(value).map_err(|_| format!("the value of the auth header {name} is not valid"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    map.insert(ACCEPT, HeaderValue::from_static("application/json"));
    if body {
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    } else {
        map.remove(CONTENT_TYPE);
    }
    Ok(map)
}

/// POSTs `body`; the status, or why there is none. The answer's body is read and ignored.
async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    body: String,
    timeout: Duration,
) -> Result<StatusCode, String> {
    match client.post(url).headers(headers.clone()).body(body).send().await {
        Ok(response) => {
            let status = response.status();
            // The deadline covers the body too; a slow body is a timeout like a slow status.
            match response.bytes().await {
                Ok(_) => Ok(status),
                Err(e) => Err(describe(e, timeout)),
            }
        }
        Err(e) => Err(describe(e, timeout)),
    }
}

/// A transport error without its URL (which may carry a token), with its causes.
fn describe(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs());
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// What [`system_event`] varies.
struct SystemEvent {
    event_type: &'static str,
    message: &'static str,
    severity: &'static str,
    result: &'static str,
    reason: Option<String>,
    target: Value,
}

/// A System Log event done by Okta itself (a JOB, with the system principal as the actor).
fn system_event(rng: &mut fastrand::Rng, now: i64, e: &SystemEvent) -> Value {
    let transaction = alnum(rng, 27);
    json!({
        "uuid": uuid(rng),
        "published": format_ms(now),
        "eventType": e.event_type,
        "version": "0",
        "severity": e.severity,
        "legacyEventType": null,
        "displayMessage": e.message,
        "actor": {
            "id": "system@okta.com",
            "type": "SystemPrincipal",
            "alternateId": "system@okta.com",
            "displayName": "Okta System",
            "detailEntry": null,
        },
        "client": {
            "userAgent": null,
            "zone": null,
            "device": null,
            "id": null,
            "ipAddress": null,
            "geographicalContext": null,
        },
        "device": null,
        "authenticationContext": {
            "authenticationProvider": null,
            "credentialProvider": null,
            "credentialType": null,
            "issuer": null,
            "interface": null,
            "authenticationStep": 0,
            "externalSessionId": null,
        },
        "securityContext": {"asNumber": null, "asOrg": null, "isp": null, "domain": null, "isProxy": null},
        "debugContext": {"debugData": {}},
        "outcome": {"result": e.result, "reason": e.reason},
        "target": [e.target],
        "transaction": {"type": "JOB", "id": transaction, "detail": {}},
        "request": {"ipChain": []},
    })
}

fn stream_entity(id: &str, name: &str) -> Value {
    json!({"id": id, "type": "LogStream", "alternateId": "unknown", "displayName": name, "detailEntry": null})
}

fn key(e: &Stored) -> (i64, u64) {
    (e.persisted_ms, e.seq)
}

fn len<T>(items: &[T]) -> u64 {
    u64::try_from(items.len()).unwrap_or(u64::MAX)
}

/// An EventBridge `time`: RFC 3339 in whole seconds (`2023-05-30T14:17:58Z`).
fn whole_seconds(ms: i64) -> String {
    jiff::Timestamp::from_second(ms.div_euclid(1000))
        .map_or_else(|_| "1970-01-01T00:00:00Z".to_owned(), |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// An Okta object id: a 3-letter prefix and 17 alphanumerics.
fn okta_id(rng: &mut fastrand::Rng, prefix: &str) -> String {
    format!("{prefix}{}", alnum(rng, 20 - prefix.len().min(20)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventbridge_time_is_published_truncated_to_seconds() {
        assert_eq!(whole_seconds(1_685_456_278_126), "2023-05-30T14:17:58Z");
        assert_eq!(whole_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(whole_seconds(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn verification_errors_say_what_was_wrong() {
        let ok = |body: &str| check_verification(StatusCode::OK, body.as_bytes(), "abc");
        assert!(ok(r#"{"verification":"abc"}"#).is_ok());
        assert!(ok(r#"{"verification":"abd"}"#).unwrap_err().to_string().contains("wrong verification value"));
        assert!(ok("abc").unwrap_err().to_string().contains("not JSON"));
        assert!(ok("{}").unwrap_err().to_string().contains("no \"verification\""));
        assert!(ok(r#"{"verification":1}"#).unwrap_err().to_string().contains("not a string"));
        let e = check_verification(StatusCode::NOT_FOUND, b"", "abc").unwrap_err().to_string();
        assert!(e.contains("404"), "{e}");
    }

    #[test]
    fn auth_values_are_sensitive_and_reserved_headers_win() {
        let auth = ("Authorization".to_owned(), "Basic c2VjcmV0".to_owned());
        let custom = [("Accept".to_owned(), "text/plain".to_owned()), ("X-Other".to_owned(), "v".to_owned())];
        let h = headers(Some(&auth), &custom, true).expect("valid headers");
        assert!(h["authorization"].is_sensitive());
        assert_eq!(h["accept"], "application/json");
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["x-other"], "v");
        let bad = [("X-Bad".to_owned(), "line\nbreak".to_owned())];
        let e = headers(None, &bad, true).unwrap_err();
        assert!(e.contains("x-bad") && !e.contains("break"), "{e}");
    }
}
