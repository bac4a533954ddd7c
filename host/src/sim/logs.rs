//! `GET /api/v1/logs`, as Okta serves it.
//!
//! - Polling (no `until`, ascending): events in *persistence* order, from `since` or after the
//!   opaque `after` cursor; every page, even an empty one, has a `next` link (an empty page's
//!   `next` repeats the cursor).
//! - Bounded (`since` and `until`, or descending): events filtered and ordered by `published`;
//!   the last page has no `next`.
//! - `limit` 0–1000 (default 100); `since` and `after` are exclusive; `since` older than 180 days
//!   is a 400 E0000053; events older than the retention are never returned.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::ratelimit::Snapshot;
use super::{State, Stored, lock, now_ms, okta_error, parse_ms};

const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 100;
const SINCE_MAX_AGE_MS: i64 = 180 * 24 * 3600 * 1000;

pub(super) async fn get_logs(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let latency = {
        let mut s = lock(&state);
        s.in_flight += 1;
        s.config.chaos.latency
    };
    if latency > Duration::ZERO {
        tokio::time::sleep(latency).await;
    }
    let mut s = lock(&state);
    let response = answer(&mut s, &headers, uri.path(), &params);
    s.in_flight -= 1;
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        s.rejected_429 += 1;
    }
    response
}

fn answer(s: &mut State, headers: &HeaderMap, path: &str, params: &[(String, String)]) -> Response {
    let now = now_ms();
    s.requests += 1;

    // Concurrency first: Okta reports it with a zero limit and an estimated reset.
    if s.in_flight > s.config.concurrency_limit {
        let snap = Snapshot { limit: 0, remaining: 0, reset: now / 1000 + 1 };
        return okta_error(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            rate_headers(snap),
        );
    }
    let snapshot = s.limits.snapshot();

    // Authentication: an SSWS token, or an OAuth access token (Bearer or DPoP-bound).
    if let Some(response) = super::oauth::check_resource(s, headers, "GET", path, rate_headers(snapshot)) {
        return response;
    }

    // The budget, then the chaos switches.
    let snapshot = match s.limits.take(now) {
        Ok(snap) => snap,
        Err(snap) => return too_many(snap),
    };
    if s.config.chaos.rate_limit_storm > 0 {
        s.config.chaos.rate_limit_storm -= 1;
        return too_many(Snapshot { remaining: 0, ..snapshot });
    }
    if let Some(n) = s.config.chaos.server_error_every.filter(|n| *n > 0)
        && s.requests.is_multiple_of(u64::from(n))
    {
        return if (s.requests / u64::from(n)).is_multiple_of(2) {
            okta_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "E0000010",
                "Service is in read only mode",
                rate_headers(snapshot),
            )
        } else {
            okta_error(StatusCode::INTERNAL_SERVER_ERROR, "E0000009", "Internal Server Error", rate_headers(snapshot))
        };
    }

    let query = match Params::parse(params, now) {
        Ok(q) => q,
        Err((code, summary)) => return okta_error(StatusCode::BAD_REQUEST, code, &summary, rate_headers(snapshot)),
    };
    let oldest = now - i64::try_from(s.config.retention.as_millis()).unwrap_or(i64::MAX);
    let (page, next) =
        if query.polling() { polling_page(s, &query, now, oldest) } else { bounded_page(s, &query, oldest) };

    let mut body: Vec<&str> = Vec::with_capacity(page.len() + 1);
    let duplicate = s.config.chaos.duplicate_across_pages && !page.is_empty();
    let previous_last = s.last_served.clone();
    if duplicate && let Some(prev) = &previous_last {
        body.push(prev);
    }
    body.extend(page.iter().map(|e| e.json.as_str()));
    if let Some(last) = page.last() {
        s.last_served = Some(last.json.clone());
    }
    let body = format!("[{}]", body.join(","));

    let mut h = rate_headers(snapshot);
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let base = headers.get("host").and_then(|v| v.to_str().ok()).map(|host| format!("http://{host}/api/v1/logs"));
    let base = base.unwrap_or_else(|| "/api/v1/logs".into());
    let self_query = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&");
    append_link(&mut h, &format!("<{base}?{self_query}>; rel=\"self\""));
    if let Some(after) = next {
        // The next link keeps the query but drops `since` and any old `after`.
        let mut q: Vec<String> = params
            .iter()
            .filter(|(k, _)| k != "since" && k != "after")
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        q.push(format!("after={after}"));
        append_link(&mut h, &format!("<{base}?{}>; rel=\"next\"", q.join("&")));
    }
    (StatusCode::OK, h, body).into_response()
}

/// The events of one polling page and the cursor for the next.
fn polling_page(s: &State, q: &Params, now: i64, oldest: i64) -> (Vec<Stored>, Option<String>) {
    let start_key = match q.after {
        Some(key) => key,
        None => (q.since.unwrap_or(now - 7 * 24 * 3600 * 1000) - 1, u64::MAX),
    };
    let first = s.events.partition_point(|e| (e.persisted_ms, e.seq) <= start_key);
    let page: Vec<Stored> = s.events[first..]
        .iter()
        .take_while(|e| e.persisted_ms <= now)
        .filter(|e| e.published_ms >= oldest)
        .take(q.limit)
        .cloned()
        .collect();
    let cursor = page.last().map_or(start_key, |e| (e.persisted_ms, e.seq));
    (page, Some(format!("{}_{}", cursor.0, cursor.1)))
}

/// The events of one bounded page (by `published`) and, if more remain, the cursor.
fn bounded_page(s: &State, q: &Params, oldest: i64) -> (Vec<Stored>, Option<String>) {
    let since = q.since.unwrap_or(i64::MIN).max(oldest);
    let until = q.until.unwrap_or(i64::MAX);
    let mut matching: Vec<&Stored> = s
        .events
        .iter()
        .filter(|e| e.published_ms >= since && e.published_ms < until && e.persisted_ms <= now_ms())
        .collect();
    matching.sort_by_key(|e| (e.published_ms, e.seq));
    if q.descending {
        matching.reverse();
    }
    let offset = q.offset.unwrap_or(0);
    let page: Vec<Stored> = matching.iter().skip(offset).take(q.limit).map(|e| (*e).clone()).collect();
    let next = (offset + page.len() < matching.len() && !page.is_empty()).then(|| format!("o{}", offset + page.len()));
    (page, next)
}

/// The query, validated the way Okta validates it.
#[derive(Debug, Default)]
struct Params {
    since: Option<i64>,
    until: Option<i64>,
    /// A polling cursor: (persisted_ms, seq).
    after: Option<(i64, u64)>,
    /// A bounded cursor: an offset into the matching events.
    offset: Option<usize>,
    limit: usize,
    descending: bool,
}

impl Params {
    fn parse(params: &[(String, String)], now: i64) -> Result<Params, (&'static str, String)> {
        let mut p = Params { limit: DEFAULT_LIMIT, ..Params::default() };
        let mut saw_after = false;
        for (key, value) in params {
            match key.as_str() {
                "since" => p.since = Some(date(value, "since")?),
                "until" => p.until = Some(date(value, "until")?),
                "limit" => {
                    p.limit = value.parse::<usize>().ok().filter(|l| *l <= MAX_LIMIT).ok_or((
                        "E0000001",
                        format!("Api validation failed: limit must be between 0 and {MAX_LIMIT}"),
                    ))?;
                }
                "sortOrder" => match value.as_str() {
                    "ASCENDING" => p.descending = false,
                    "DESCENDING" => p.descending = true,
                    _ => return Err(("E0000001", "Api validation failed: sortOrder".into())),
                },
                "after" => {
                    saw_after = true;
                    if let Some(offset) = value.strip_prefix('o') {
                        p.offset = Some(offset.parse().map_err(|_| invalid_after())?);
                    } else {
                        let (ms, seq) = value.split_once('_').ok_or_else(invalid_after)?;
                        p.after =
                            Some((ms.parse().map_err(|_| invalid_after())?, seq.parse().map_err(|_| invalid_after())?));
                    }
                }
                // Accepted and not evaluated by the simulator.
                "filter" | "q" => {}
                _ => {}
            }
        }
        if saw_after && p.since.is_some() {
            return Err(("E0000001", "Api validation failed: since and after cannot be used together".into()));
        }
        if p.since.is_some_and(|since| since < now - SINCE_MAX_AGE_MS) {
            return Err((
                "E0000053",
                "Invalid parameter: The since parameter is over 180 days prior to the current day.".into(),
            ));
        }
        Ok(p)
    }

    fn polling(&self) -> bool {
        self.until.is_none() && !self.descending && self.offset.is_none()
    }
}

fn invalid_after() -> (&'static str, String) {
    ("E0000001", "Api validation failed: after".into())
}

fn date(value: &str, name: &str) -> Result<i64, (&'static str, String)> {
    parse_ms(value).ok_or(("E0000001", format!("Api validation failed: {name} is not a valid date: {value}")))
}

pub(super) fn too_many(snapshot: Snapshot) -> Response {
    okta_error(
        StatusCode::TOO_MANY_REQUESTS,
        "E0000047",
        "API call exceeded rate limit due to too many requests.",
        rate_headers(snapshot),
    )
}

/// The headers every response carries. hyper adds `Date`.
pub(super) fn rate_headers(snap: Snapshot) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-rate-limit-limit", HeaderValue::from(snap.limit));
    h.insert("x-rate-limit-remaining", HeaderValue::from(snap.remaining));
    h.insert("x-rate-limit-reset", HeaderValue::from(snap.reset));
    let id = format!("sim{:020x}", fastrand::u128(..) & ((1 << 80) - 1));
    h.insert("x-okta-request-id", HeaderValue::from_str(&id).expect("hex is a valid header value"));
    h
}

/// Okta sends one `link:` header line per relation.
pub(super) fn append_link(h: &mut HeaderMap, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.append("link", v);
    }
}

/// Percent-encodes a query value (what Okta's links contain is URL-safe).
pub(super) fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
