//! Okta's per-minute rate-limit windows for the simulator.
//!
//! Windows last 60 s but start at an arbitrary second, as Okta's do (12:00:20–12:01:19), so a
//! client that assumes minute boundaries gets surprised here too.

use super::SimConfig;

/// Okta org types, which set the `/api/v1/logs` per-minute limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgType {
    /// Integrator Free: 20 per minute.
    IntegratorFree,
    /// One App and Enterprise: 50 per minute.
    OneApp,
    /// Workforce Identity: 120 per minute.
    Workforce,
}

impl OrgType {
    pub fn logs_per_minute(self) -> u32 {
        match self {
            OrgType::IntegratorFree => 20,
            OrgType::OneApp => 50,
            OrgType::Workforce => 120,
        }
    }

    /// The per-minute limit of the org authorization server's `/oauth2/v1/token` (okta-api.md §2.2).
    pub fn token_per_minute(self) -> u32 {
        match self {
            OrgType::IntegratorFree => 300,
            OrgType::OneApp => 1200,
            OrgType::Workforce => 2000,
        }
    }

    /// The per-minute limit of a directory bucket (okta-api.md §2.2).
    pub fn directory_per_minute(self, bucket: DirectoryBucket) -> u32 {
        match (self, bucket) {
            (OrgType::IntegratorFree, _) => 100,
            (OrgType::OneApp, DirectoryBucket::Devices) => 150,
            (OrgType::OneApp, _) => 600,
            (OrgType::Workforce, DirectoryBucket::Users) => 600,
            (OrgType::Workforce, DirectoryBucket::Groups) => 500,
            (OrgType::Workforce, DirectoryBucket::Devices) => 100,
            (OrgType::Workforce, DirectoryBucket::Other) => 1200,
        }
    }
}

/// Okta's rate-limit buckets for the directory APIs: each has its own per-minute window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DirectoryBucket {
    /// `GET /api/v1/users` (list and search).
    Users,
    /// `GET /api/v1/groups` (list and search).
    Groups,
    /// `GET /api/v1/devices`.
    Devices,
    /// Everything else under `/api/v1`: `/groups/{id}/users`, `/meta/schemas/user/default`,
    /// `/iam/assignees/users`, `/users/{id}/roles`. This is the "most other API actions: /api/v1"
    /// row of Okta's management rate limits (developer.okta.com/docs/reference/rl-global-mgmt),
    /// which names none of these endpoints on its own.
    Other,
}

impl DirectoryBucket {
    pub const ALL: [DirectoryBucket; 4] =
        [DirectoryBucket::Users, DirectoryBucket::Groups, DirectoryBucket::Devices, DirectoryBucket::Other];
}

/// One bucket (the logs one, or a directory one) for the one principal (API token) the simulator
/// serves.
#[derive(Debug)]
pub(super) struct Limits {
    window_ms: i64,
    window_start_ms: i64,
    used: u32,
    pub(super) limit: u32,
    /// Requests spent in each completed window, oldest first (for benchmarks).
    pub(super) history: Vec<u32>,
}

/// The headers' view of a bucket.
#[derive(Debug, Clone, Copy)]
pub(super) struct Snapshot {
    pub(super) limit: u32,
    pub(super) remaining: u32,
    /// Epoch seconds at which the window resets.
    pub(super) reset: i64,
}

impl Limits {
    pub(super) fn new(config: &SimConfig, now_ms: i64) -> Limits {
        Limits::per_minute(config.org_type.logs_per_minute(), config, now_ms)
    }

    /// A bucket of `per_minute` requests (before the principal's share).
    pub(super) fn per_minute(per_minute: u32, config: &SimConfig, now_ms: i64) -> Limits {
        let limit = ((f64::from(per_minute) * config.principal_share).floor() as u32).max(1);
        // Start the first window a random number of seconds ago, so windows are not aligned.
        let window_ms = i64::try_from(config.window.as_millis()).unwrap_or(60_000).max(100);
        let offset = fastrand::i64(window_ms / 60..window_ms * 59 / 60);
        Limits { window_ms, window_start_ms: now_ms - offset, used: 0, limit, history: Vec::new() }
    }

    fn roll(&mut self, now_ms: i64) {
        if now_ms >= self.window_start_ms + self.window_ms {
            let windows = (now_ms - self.window_start_ms) / self.window_ms;
            self.window_start_ms += windows * self.window_ms;
            self.history.push(self.used);
            self.history.extend(std::iter::repeat_n(0, usize::try_from(windows - 1).unwrap_or(0).min(10_000)));
            self.used = 0;
        }
    }

    /// Spends one request if the budget allows. `Err` carries the headers for the 429.
    pub(super) fn take(&mut self, now_ms: i64) -> Result<Snapshot, Snapshot> {
        self.roll(now_ms);
        if self.used >= self.limit {
            return Err(self.snapshot());
        }
        self.used += 1;
        Ok(self.snapshot())
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let reset_ms = self.window_start_ms + self.window_ms;
        Snapshot {
            limit: self.limit,
            remaining: self.limit - self.used.min(self.limit),
            reset: (reset_ms + 999) / 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_resets_each_window() {
        let config = SimConfig { org_type: OrgType::IntegratorFree, ..SimConfig::default() };
        let mut l = Limits::new(&config, 1_000_000);
        assert_eq!(l.limit, 10, "20 per minute at a 50 % share");
        let start = l.window_start_ms;
        for i in 0..10 {
            assert_eq!(l.take(start + 10).expect("within budget").remaining, 9 - i);
        }
        let rejected = l.take(start + 20).expect_err("over budget");
        assert_eq!(rejected.remaining, 0);
        assert_eq!(rejected.reset, (start + 60_000 + 999) / 1000);
        assert!(l.take(start + 60_000).is_ok(), "a new window has a new budget");
    }
}
