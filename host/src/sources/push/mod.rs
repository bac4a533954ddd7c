//! Push sources: Okta event hooks and Okta Log Streaming through an EventBridge API destination,
//! received over HTTP(S) by `serve` (`../shared/design/okta-api.md` §4 and §5).
//!
//! Routes (an org is named by the path, or by `[server] tenant_header`):
//! - `GET /hooks/{org}` answers Okta's one-time verification (`x-okta-verification-challenge`
//!   → `{"verification": …}`).
//! - `POST /hooks/{org}` takes a delivery (`data.events[]`).
//! - `POST /eventbridge/{org}` takes what an API destination sends: an envelope, an array of
//!   them, NDJSON, or bare LogEvents (when an input transformer stripped `detail`).
//! - `GET /healthz` for load balancers.
//!
//! A request is checked (the org's secret header, compared in constant time; the size; that the
//! body is JSON of the right shape), made durable in the spool, and only then answered 200.
//! [`drain`] writes spooled deliveries to the sinks afterwards, so Okta's 3 s timeout never
//! waits on a sink. A rejected request stores nothing; a body that is not JSON is kept in the
//! dead-letter directory so it can be looked at.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::IgnoredAny;
use subtle::ConstantTimeEq as _;
use tokio::sync::{Notify, watch};

use crate::config::{Config, PushAuthConfig, ServerConfig};
use crate::pipeline::{Channel, SharedPipeline};
use crate::store::{SpoolError, Spooler};
use crate::telemetry::{Metrics, PushLabel};

/// Okta's verification header.
pub const CHALLENGE_HEADER: &str = "x-okta-verification-challenge";

/// A configured secret header. Only its SHA-256 is kept, and presented values are hashed and
/// compared in constant time, so neither the secret nor its length leaks through timing.
struct Verifier {
    header: HeaderName,
    /// The header's name as configured, for messages.
    name: String,
    digest: [u8; 32],
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("header", &self.header).field("secret", &"[redacted]").finish()
    }
}

impl Verifier {
    fn new(org: &str, auth: &PushAuthConfig) -> Result<Verifier> {
        let expected = auth.expected_value(org)?;
        let header = HeaderName::from_bytes(auth.header.as_bytes())
            .with_context(|| format!("org {org}: {:?} is not a valid header name", auth.header))?;
        Ok(Verifier { header, name: auth.header.clone(), digest: sha256(expected.expose().as_bytes()) })
    }

    fn check(&self, headers: &HeaderMap) -> bool {
        // Every value of the header is tried, so a proxy that adds one cannot lock Okta out.
        let mut ok = false;
        for value in headers.get_all(&self.header) {
            ok |= bool::from(sha256(value.as_bytes()).ct_eq(&self.digest));
        }
        ok
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// One org as the receiver sees it.
#[derive(Debug)]
pub struct PushOrg {
    pub name: String,
    hook: Option<Verifier>,
    eventbridge: Option<Verifier>,
    /// Wakes the org's [`drain`] task when a delivery is spooled.
    pub notify: Arc<Notify>,
}

/// What the request handlers share.
#[derive(Debug)]
pub struct Receiver {
    orgs: HashMap<String, Arc<PushOrg>>,
    /// Tenant header value → org name.
    tenants: HashMap<String, String>,
    tenant_header: Option<HeaderName>,
    spooler: Spooler,
    dead_letter_dir: PathBuf,
    metrics: Arc<Metrics>,
}

impl Receiver {
    /// Reads every org's push secrets. Orgs without `event_hook` or `eventbridge.auth` get no
    /// HTTP route.
    pub fn new(config: &Config, spooler: Spooler, metrics: Arc<Metrics>) -> Result<Receiver> {
        let mut orgs = HashMap::new();
        let mut tenants = HashMap::new();
        for org in &config.orgs {
            let hook = org.event_hook.as_ref().map(|h| Verifier::new(&org.name, &h.auth)).transpose()?;
            let eventbridge = org
                .eventbridge
                .as_ref()
                .and_then(|e| e.auth.as_ref())
                .map(|a| Verifier::new(&org.name, a))
                .transpose()?;
            if hook.is_none() && eventbridge.is_none() {
                continue;
            }
            tenants.insert(org.tenant().to_owned(), org.name.clone());
            tenants.insert(org.name.clone(), org.name.clone());
            let push = PushOrg { name: org.name.clone(), hook, eventbridge, notify: Arc::new(Notify::new()) };
            orgs.insert(org.name.clone(), Arc::new(push));
        }
        let tenant_header = config
            .server
            .tenant_header
            .as_deref()
            .map(|h| HeaderName::from_bytes(h.as_bytes()).with_context(|| format!("[server] tenant_header {h:?}")))
            .transpose()?;
        Ok(Receiver {
            orgs,
            tenants,
            tenant_header,
            spooler,
            dead_letter_dir: config.server.dead_letter_dir.clone(),
            metrics,
        })
    }

    /// The orgs that receive pushes over HTTP.
    pub fn orgs(&self) -> impl Iterator<Item = &Arc<PushOrg>> {
        self.orgs.values()
    }

    fn org_by_path(&self, name: &str) -> Result<&Arc<PushOrg>, Rejection> {
        self.orgs.get(name).ok_or_else(|| {
            Rejection::new(StatusCode::NOT_FOUND, format!("no org named {name:?} receives pushes here; check the URL"))
        })
    }

    fn org_by_header(&self, headers: &HeaderMap) -> Result<&Arc<PushOrg>, Rejection> {
        let Some(header) = &self.tenant_header else {
            return Err(Rejection::new(
                StatusCode::NOT_FOUND,
                "name the org in the path (/hooks/<org> or /eventbridge/<org>); no tenant_header is configured".into(),
            ));
        };
        let value = headers.get(header).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            Rejection::new(StatusCode::BAD_REQUEST, format!("the {header} header is missing; it names the org"))
        })?;
        let name = self.tenants.get(value.trim()).ok_or_else(|| {
            Rejection::new(StatusCode::NOT_FOUND, format!("no org has tenant {value:?} (from the {header} header)"))
        })?;
        self.org_by_path(name)
    }
}

/// An answer that is not 200, with a message for whoever reads Okta's delivery log.
#[derive(Debug)]
pub struct Rejection {
    status: StatusCode,
    message: String,
}

impl Rejection {
    fn new(status: StatusCode, message: String) -> Rejection {
        Rejection { status, message }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

/// The receiver's routes.
pub fn router(receiver: Arc<Receiver>, server: &ServerConfig) -> Router {
    Router::new()
        .route("/hooks/{org}", axum::routing::get(verify_by_path).post(hook_by_path))
        .route("/hooks", axum::routing::get(verify_by_header).post(hook_by_header))
        .route("/eventbridge/{org}", axum::routing::post(eventbridge_by_path))
        .route("/eventbridge", axum::routing::post(eventbridge_by_header))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(server.max_body_bytes))
        .with_state(receiver)
}

type Shared = State<Arc<Receiver>>;

async fn verify_by_path(State(r): Shared, UrlPath(org): UrlPath<String>, headers: HeaderMap) -> Response {
    verify(&r, r.org_by_path(&org), &headers)
}

async fn verify_by_header(State(r): Shared, headers: HeaderMap) -> Response {
    verify(&r, r.org_by_header(&headers), &headers)
}

/// Okta's one-time verification: echo the challenge, if the request carries the hook's secret.
fn verify(r: &Receiver, org: Result<&Arc<PushOrg>, Rejection>, headers: &HeaderMap) -> Response {
    let org = match org {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let answer = (|| {
        let verifier = org.hook.as_ref().ok_or_else(|| {
            Rejection::new(StatusCode::NOT_FOUND, format!("org {} has no [org.event_hook]", org.name))
        })?;
        if !verifier.check(headers) {
            return Err(unauthorized(verifier));
        }
        let challenge = headers.get(CHALLENGE_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                format!("a GET is Okta's one-time verification and must carry the {CHALLENGE_HEADER} header"),
            )
        })?;
        tracing::info!(org = %org.name, "Answered Okta's event hook verification.");
        Ok(axum::Json(serde_json::json!({ "verification": challenge })).into_response())
    })();
    let response = answer.unwrap_or_else(IntoResponse::into_response);
    count(r, &org.name, Channel::EventHook, response.status());
    response
}

fn unauthorized(verifier: &Verifier) -> Rejection {
    let header = &verifier.name;
    Rejection::new(
        StatusCode::UNAUTHORIZED,
        format!("the {header} header is missing or does not match the configured secret"),
    )
}

async fn hook_by_path(
    State(r): Shared,
    UrlPath(org): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    receive(&r, r.org_by_path(&org), Channel::EventHook, &headers, body, start).await
}

async fn hook_by_header(State(r): Shared, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let start = Instant::now();
    receive(&r, r.org_by_header(&headers), Channel::EventHook, &headers, body, start).await
}

async fn eventbridge_by_path(
    State(r): Shared,
    UrlPath(org): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    receive(&r, r.org_by_path(&org), Channel::EventBridge, &headers, body, start).await
}

async fn eventbridge_by_header(State(r): Shared, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let start = Instant::now();
    receive(&r, r.org_by_header(&headers), Channel::EventBridge, &headers, body, start).await
}

/// Checks, spools and acknowledges one delivery for the org the route resolved.
async fn receive(
    r: &Receiver,
    org: Result<&Arc<PushOrg>, Rejection>,
    channel: Channel,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    start: Instant,
) -> Response {
    let org = match org {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let response = match accept(r, org, channel, headers, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(rejection) => {
            if rejection.status.is_server_error() {
                tracing::warn!(org = %org.name, channel = channel.as_str(), error = %rejection.message, "Could not accept a delivery.");
            } else {
                tracing::info!(org = %org.name, channel = channel.as_str(), status = rejection.status.as_u16(), error = %rejection.message, "Rejected a delivery.");
            }
            rejection.into_response()
        }
    };
    count(r, &org.name, channel, response.status());
    r.metrics.push_ack_seconds.observe(start.elapsed().as_secs_f64());
    response
}

async fn accept(
    r: &Receiver,
    org: &PushOrg,
    channel: Channel,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), Rejection> {
    let verifier = match channel {
        Channel::EventHook => org.hook.as_ref(),
        _ => org.eventbridge.as_ref(),
    };
    let verifier = verifier.ok_or_else(|| {
        let what = if channel == Channel::EventHook { "[org.event_hook]" } else { "[org.eventbridge] auth" };
        Rejection::new(StatusCode::NOT_FOUND, format!("org {} has no {what}", org.name))
    })?;
    // Authentication comes before the body is even looked at: a stranger learns nothing.
    if !verifier.check(headers) {
        return Err(unauthorized(verifier));
    }
    let body = body.map_err(|e| {
        let status = e.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the body is larger than [server] max_body_bytes".to_owned()
        } else {
            format!("the body could not be read: {e}")
        };
        Rejection::new(status, message)
    })?;
    let events = match check_shape(channel, &body) {
        Ok(n) => n,
        Err(why) => {
            let kept = keep_dead_letter(&r.dead_letter_dir, &org.name, channel, &body, &why);
            let kept = match kept {
                Ok(path) => format!("; the body is kept as {}", path.display()),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "Could not keep a rejected body.");
                    String::new()
                }
            };
            return Err(Rejection::new(StatusCode::BAD_REQUEST, format!("{why}{kept}")));
        }
    };
    if events == 0 {
        return Ok(());
    }
    match r.spooler.spool(&org.name, channel.as_str(), body.to_vec()).await {
        Ok(_) => {
            org.notify.notify_one();
            Ok(())
        }
        Err(e @ SpoolError::Full { .. }) => Err(Rejection::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e @ SpoolError::Store(_)) => Err(Rejection::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

fn count(r: &Receiver, org: &str, channel: Channel, status: StatusCode) {
    r.metrics
        .push_requests
        .get_or_create(&PushLabel {
            org: org.to_owned(),
            channel: channel.as_str().to_owned(),
            status: status.as_u16(),
        })
        .inc();
}

#[derive(Deserialize)]
struct HookDelivery {
    data: HookData,
}

#[derive(Deserialize)]
struct HookData {
    events: Vec<IgnoredAny>,
}

/// Checks that a body is what the channel sends, and counts its events (an upper bound for
/// EventBridge NDJSON). The message says what is wrong and where.
fn check_shape(channel: Channel, body: &[u8]) -> Result<usize, String> {
    let syntax = |e: &serde_json::Error| {
        format!("the body is not valid JSON: {} at line {}, column {}", describe(e), e.line(), e.column())
    };
    match channel {
        Channel::EventHook => match serde_json::from_slice::<HookDelivery>(body) {
            Ok(d) => Ok(d.data.events.len()),
            Err(e) if e.is_data() => Err(format!(
                "an Okta event hook delivery is a JSON object with data.events[]: {} at line {}, column {}",
                describe(&e),
                e.line(),
                e.column()
            )),
            Err(e) => Err(syntax(&e)),
        },
        _ => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Array(items)) => Ok(items.len()),
            Ok(serde_json::Value::Object(_)) => Ok(1),
            Ok(other) => Err(format!(
                "expected an EventBridge envelope, an array of them, NDJSON or LogEvents, not a JSON {}",
                kind(&other)
            )),
            Err(whole) => {
                // NDJSON: every non-empty line must be JSON.
                let mut n = 0;
                for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    if let Err(e) = serde_json::from_slice::<IgnoredAny>(line) {
                        return Err(if n == 0 && i == 0 {
                            syntax(&whole)
                        } else {
                            format!("line {} of the NDJSON body is not valid JSON: {}", i + 1, describe(&e))
                        });
                    }
                    n += 1;
                }
                Ok(n)
            }
        },
    }
}

/// serde_json's message without its own " at line … column …" suffix.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

static DEAD_LETTERS: AtomicU64 = AtomicU64::new(0);

/// Keeps a body nobody could read: `<dir>/<org>-<channel>-<ms>-<n>.body` holds the bytes as
/// they arrived, and `<dir>/index.ndjson` gets a line saying when, from where and why.
pub fn keep_dead_letter(dir: &Path, org: &str, channel: Channel, body: &[u8], why: &str) -> Result<PathBuf> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("while creating the dead-letter directory {}", dir.display()))?;
    let now = crate::time::now_ms();
    let n = DEAD_LETTERS.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{org}-{}-{now}-{}-{n}.body", channel.as_str(), std::process::id()));
    std::fs::write(&path, body).with_context(|| format!("while writing {}", path.display()))?;
    let line = serde_json::json!({
        "received": crate::time::format_ms(now),
        "org": org,
        "channel": channel.as_str(),
        "bytes": body.len(),
        "file": path.file_name().map(|f| f.to_string_lossy().into_owned()),
        "error": why,
    });
    let mut index = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("index.ndjson"))
        .with_context(|| format!("while opening {}", dir.join("index.ndjson").display()))?;
    writeln!(index, "{line}").context("while writing the dead-letter index")?;
    Ok(path)
}

/// Writes an org's spooled deliveries to its sinks, oldest first, until `stop`. A failing sink
/// is retried with backoff for as long as it takes: the deliveries stay in the spool meanwhile.
pub async fn drain(
    org: Arc<PushOrg>,
    pipeline: SharedPipeline,
    spooler: Spooler,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        // Every error is retried: the deliveries are safe in the spool, and giving up would leave
        // the receiver acknowledging deliveries that nothing writes.
        match drain_once(&org, &pipeline, &spooler).await {
            Ok(true) => failures = 0,
            Ok(false) => {
                tokio::select! {
                    () = org.notify.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.wait_for(|s| *s) => return Ok(()),
                }
            }
            Err(error) => {
                failures += 1;
                let wait = Duration::from_millis(200u64 << failures.min(8)).min(Duration::from_secs(60));
                tracing::warn!(org = %org.name, error = %format!("{error:#}"), attempt = failures, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "Writing spooled deliveries failed; they stay in the spool and will be retried.");
                if crate::sources::sleep_or_stop(wait, &mut stop).await {
                    return Ok(());
                }
            }
        }
    }
}

/// Writes the oldest run of spooled deliveries from one channel. `Ok(false)` when the spool is
/// empty. On an error the deliveries stay in the spool (and the pipeline rolls its sinks back).
async fn drain_once(org: &PushOrg, pipeline: &SharedPipeline, spooler: &Spooler) -> Result<bool> {
    let mut p = pipeline.lock().await;
    let entries = p.store().spooled(&org.name, 256, 16 << 20)?;
    let Some(first) = entries.first() else { return Ok(false) };
    let channel = Channel::parse(&first.channel).unwrap_or(Channel::EventBridge);
    let run = entries.iter().take_while(|e| e.channel == first.channel).count();
    let batch = &entries[..run];
    let bodies: Vec<&[u8]> = batch.iter().map(|e| e.body.as_slice()).collect();
    let ids: Vec<i64> = batch.iter().map(|e| e.id).collect();
    let bytes: u64 = batch.iter().map(|e| e.body.len() as u64).sum();
    p.deliver(channel, &bodies, None, &ids).await?;
    spooler.done(bytes);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked_with_a_clear_message() {
        assert_eq!(check_shape(Channel::EventHook, br#"{"data":{"events":[{},{}]}}"#), Ok(2));
        let err = check_shape(Channel::EventHook, br#"{"data":{}}"#).expect_err("no events");
        assert!(err.contains("data.events[]") && err.contains("missing field `events`"), "{err}");
        let err = check_shape(Channel::EventHook, b"{\"data\":\n{\"events\": [}").expect_err("broken");
        assert!(err.starts_with("the body is not valid JSON") && err.contains("line 2"), "{err}");
        assert_eq!(check_shape(Channel::EventBridge, br#"{"detail":{}}"#), Ok(1));
        assert_eq!(check_shape(Channel::EventBridge, br#"[{"detail":{}},{}]"#), Ok(2));
        assert_eq!(check_shape(Channel::EventBridge, b"{\"a\":1}\n\n{\"b\":2}\n"), Ok(2));
        let err = check_shape(Channel::EventBridge, b"{\"a\":1}\n{\"b\":").expect_err("broken line");
        assert!(err.starts_with("line 2 of the NDJSON body"), "{err}");
        let err = check_shape(Channel::EventBridge, b"\"text\"").expect_err("a string");
        assert!(err.contains("not a JSON string"), "{err}");
    }

    #[test]
    fn secrets_compare_by_digest_and_never_print() {
        let v = Verifier {
            header: HeaderName::from_static("authorization"),
            name: "Authorization".into(),
            digest: sha256(b"s3cret"),
        };
        let mut headers = HeaderMap::new();
        assert!(!v.check(&headers));
        headers.insert("authorization", "s3cre".parse().expect("value"));
        assert!(!v.check(&headers));
        headers.append("authorization", "s3cret".parse().expect("value"));
        assert!(v.check(&headers));
        assert!(!format!("{v:?}").contains("s3cret"));
    }
}
