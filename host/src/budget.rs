//! The rate-limit budget: Okta's `X-Rate-Limit-*` headers, read after every response.
//!
//! The poller keeps a headroom (10 % by default) for the org's other API clients, waits for the
//! window to reset instead of retrying blindly, and measures the reset against Okta's own `Date`
//! header, so a skewed local clock does not matter. A response without the headers changes
//! nothing: missing headers never stop the poller.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// The bucket as the last response described it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds from the response's `Date` to the window's reset.
    pub reset_in_secs: i64,
}

impl Snapshot {
    /// Reads the headers; `None` when any is missing or unreadable.
    pub fn from_headers(headers: &HeaderMap) -> Option<Snapshot> {
        let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
        let limit = u64::try_from(num("x-rate-limit-limit")?).ok()?;
        let remaining = u64::try_from(num("x-rate-limit-remaining")?).ok()?;
        let reset = num("x-rate-limit-reset")?;
        let now = headers
            .get("date")
            .and_then(|d| d.to_str().ok())
            .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
            .map_or_else(|| jiff::Timestamp::now().as_second(), |z| z.timestamp().as_second());
        Some(Snapshot { limit, remaining, reset_in_secs: reset - now })
    }

    /// How long to wait before the next request, if the headroom is used up.
    pub fn wait_for_headroom(&self, headroom_percent: u8) -> Option<Duration> {
        let keep = (self.limit * u64::from(headroom_percent)).div_ceil(100);
        (self.limit > 0 && self.remaining <= keep).then(|| self.until_reset())
    }

    /// How long until the window resets, plus a second of margin (Okta's reset is inclusive).
    pub fn until_reset(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.reset_in_secs.clamp(0, 300)).unwrap_or(0) + 1)
    }

    /// How long to wait after a 429 that carried these headers: until the reset, with up to
    /// half a second of jitter so clients do not return together. A concurrency 429 reports a zero
    /// limit and only an estimated reset, so it waits a jittered 1–5 s instead.
    pub fn wait_after_429(&self) -> Duration {
        if self.limit == 0 {
            Duration::from_millis(1_000 + fastrand::u64(..4_000))
        } else {
            self.until_reset() + Duration::from_millis(fastrand::u64(..500))
        }
    }
}

/// What an org's API callers share beyond the per-endpoint buckets: Okta's org-wide concurrency
/// limit. The log poller always comes first. The directory sync takes at most
/// `directory_concurrency` request slots (one by default), and when the poller is rate limited
/// the directory holds off until the poller's window resets, so the directory backs off first
/// and never takes the poller's turn.
#[derive(Debug)]
pub struct OrgGate {
    held_until: std::sync::Mutex<Option<std::time::Instant>>,
    slots: tokio::sync::Semaphore,
}

impl OrgGate {
    pub fn new(directory_concurrency: usize) -> std::sync::Arc<OrgGate> {
        std::sync::Arc::new(OrgGate {
            held_until: std::sync::Mutex::new(None),
            slots: tokio::sync::Semaphore::new(directory_concurrency.max(1)),
        })
    }

    /// The poller was rate limited: hold the directory's requests for `wait`.
    pub fn hold(&self, wait: Duration) {
        let until = std::time::Instant::now() + wait;
        let mut held = self.held_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *held = Some(held.map_or(until, |h| h.max(until)));
    }

    /// How long the directory must still wait, if held.
    pub fn held_for(&self) -> Option<Duration> {
        let held = *self.held_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.and_then(|h| h.checked_duration_since(std::time::Instant::now())).filter(|d| !d.is_zero())
    }

    /// A request slot for the directory (held until the request is answered).
    pub async fn directory_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(limit: &str, remaining: &str, reset: &str, date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-limit", HeaderValue::from_str(limit).unwrap());
        h.insert("x-rate-limit-remaining", HeaderValue::from_str(remaining).unwrap());
        h.insert("x-rate-limit-reset", HeaderValue::from_str(reset).unwrap());
        h.insert("date", HeaderValue::from_str(date).unwrap());
        h
    }

    #[test]
    fn waits_on_okta_time_when_the_headroom_is_used() {
        // Date is 2026-11-21T10:00:00Z = 1795255200; reset 20 s later.
        let h = headers("60", "6", "1795255220", "Sat, 21 Nov 2026 10:00:00 GMT");
        let s = Snapshot::from_headers(&h).expect("all headers present");
        assert_eq!(s.reset_in_secs, 20);
        assert_eq!(s.wait_for_headroom(10), Some(Duration::from_secs(21)));
        assert_eq!(s.wait_for_headroom(5), None, "3 of 60 kept: 6 left is enough");
    }

    #[test]
    fn missing_headers_change_nothing() {
        let mut h = headers("60", "6", "1795255220", "Sat, 21 Nov 2026 10:00:00 GMT");
        h.remove("x-rate-limit-remaining");
        assert_eq!(Snapshot::from_headers(&h), None);
    }
}
