//! Prometheus metrics at `/metrics`, and the no-events health check.
//!
//! Metric names: `okta_normalizer_events_in_total`, `_events_written_total`,
//! `_events_duplicate_total`, `_events_failed_total`, `_requests_total{status}`,
//! `_rate_limit_remaining`, `_lag_seconds` and `_healthy` (0 once an org has had no events for
//! longer than its `no_events_alert_hours`), all labelled with `org`; `_events_by_channel_total`
//! (`org`, `channel`: poll, event_hook, eventbridge, sqs) and `_batches_total` (the same labels;
//! each batch is one flush and one commit), `_detection_state_written_bytes_total` (`org`: bytes
//! of detection state parts written by the commits), `_guest_memory_bytes` (`org`: the linear
//! memory the org's component instance has grown to); for `serve`,
//! `_push_requests_total` (`org`, `channel`, `status`) and the `_push_ack_seconds` histogram;
//! `_alerts_total` (`org`, `rule`, `severity`, `kind`: alert or signal) for what the rules found;
//! for the directory sync, `_directory_objects{org,kind}`, `_directory_sync_calls_total{org,endpoint}`,
//! `_directory_changes_total{org,kind,change}` and `_directory_syncs_total{org,kind}`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OrgLabel {
    pub org: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    pub org: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub org: String,
    pub channel: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabel {
    pub org: String,
    pub rule: String,
    pub severity: String,
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushLabel {
    pub org: String,
    pub channel: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub org: String,
    pub endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub org: String,
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChangeLabel {
    pub org: String,
    pub kind: String,
    pub change: String,
}

/// Every metric the host exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub events_in: Family<OrgLabel, Counter>,
    pub events_written: Family<OrgLabel, Counter>,
    pub events_duplicate: Family<OrgLabel, Counter>,
    pub events_failed: Family<OrgLabel, Counter>,
    pub requests: Family<RequestLabel, Counter>,
    pub rate_limit_remaining: Family<OrgLabel, Gauge>,
    pub lag_seconds: Family<OrgLabel, Gauge>,
    pub healthy: Family<OrgLabel, Gauge>,
    pub events_by_channel: Family<ChannelLabel, Counter>,
    pub batches: Family<ChannelLabel, Counter>,
    pub detection_state_written_bytes: Family<OrgLabel, Counter>,
    pub guest_memory_bytes: Family<OrgLabel, Gauge>,
    pub push_requests: Family<PushLabel, Counter>,
    pub push_ack_seconds: Histogram,
    pub alerts: Family<AlertLabel, Counter>,
    pub directory_objects: Family<KindLabel, Gauge>,
    pub directory_calls: Family<EndpointLabel, Counter>,
    pub directory_changes: Family<ChangeLabel, Counter>,
    pub directory_syncs: Family<KindLabel, Counter>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("okta_normalizer");
        let m = Metrics {
            events_in: Family::default(),
            events_written: Family::default(),
            events_duplicate: Family::default(),
            events_failed: Family::default(),
            requests: Family::default(),
            rate_limit_remaining: Family::default(),
            lag_seconds: Family::default(),
            healthy: Family::default(),
            events_by_channel: Family::default(),
            batches: Family::default(),
            detection_state_written_bytes: Family::default(),
            guest_memory_bytes: Family::default(),
            push_requests: Family::default(),
            push_ack_seconds: Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            alerts: Family::default(),
            directory_objects: Family::default(),
            directory_calls: Family::default(),
            directory_changes: Family::default(),
            directory_syncs: Family::default(),
            registry: Registry::default(),
        };
        registry.register("events_in", "Events received from Okta", m.events_in.clone());
        registry.register("events_written", "Events written to the sinks", m.events_written.clone());
        registry.register(
            "events_duplicate",
            "Events dropped because their uuid was already written",
            m.events_duplicate.clone(),
        );
        registry.register(
            "events_failed",
            "Events that could not be read (written as pipeline_error documents)",
            m.events_failed.clone(),
        );
        registry.register("requests", "Requests to the Okta API, by HTTP status", m.requests.clone());
        registry.register(
            "rate_limit_remaining",
            "X-Rate-Limit-Remaining of the last response",
            m.rate_limit_remaining.clone(),
        );
        registry.register(
            "lag_seconds",
            "Seconds between the newest event written and when it was written",
            m.lag_seconds.clone(),
        );
        registry.register(
            "healthy",
            "1 while the org delivers events, 0 after no_events_alert_hours without any",
            m.healthy.clone(),
        );
        registry.register(
            "events_by_channel",
            "Events written, by the channel that brought them",
            m.events_by_channel.clone(),
        );
        registry.register(
            "batches",
            "Batches written (each one sink flush and one store commit), by the channel that brought them",
            m.batches.clone(),
        );
        registry.register(
            "detection_state_written_bytes",
            "Bytes of detection state (the parts a batch changed) written by the org's commits",
            m.detection_state_written_bytes.clone(),
        );
        registry.register(
            "guest_memory_bytes",
            "Linear memory the org's component instance has grown to (it never shrinks)",
            m.guest_memory_bytes.clone(),
        );
        registry.register(
            "push_requests",
            "Push requests received by serve, by org, channel and answer",
            m.push_requests.clone(),
        );
        registry.register(
            "push_ack_seconds",
            "Seconds from a push request's arrival to its answer",
            m.push_ack_seconds.clone(),
        );
        registry.register("alerts", "Alerts and signals the detection rules raised", m.alerts.clone());
        registry.register(
            "directory_objects",
            "Directory objects held, by kind (user, group, device)",
            m.directory_objects.clone(),
        );
        registry.register(
            "directory_sync_calls",
            "Directory API calls, by endpoint (users, groups, group_users, devices, schema)",
            m.directory_calls.clone(),
        );
        registry.register(
            "directory_changes",
            "Directory changes found, by kind and change (discovered, modified, deprovisioned, deleted)",
            m.directory_changes.clone(),
        );
        registry.register(
            "directory_syncs",
            "Directory syncs finished, by kind (full, incremental, failed)",
            m.directory_syncs.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    pub fn org(org: &str) -> OrgLabel {
        OrgLabel { org: org.to_owned() }
    }
}

/// Serves `/metrics` on `addr` in the background. Returns the bound address.
pub async fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> Result<SocketAddr> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.encode())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("while binding the metrics address {addr}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}

/// Panther's "no logs received" check: an org that delivers no event for `threshold_ms`
/// is reported once (and again once it recovers).
#[derive(Debug)]
pub struct Health {
    threshold_ms: i64,
    last_event_ms: i64,
    alerting: bool,
}

/// What changed at a health check.
#[derive(Debug, PartialEq, Eq)]
pub enum HealthChange {
    /// No events for this many hours.
    Silent(i64),
    Recovered,
}

impl Health {
    pub fn new(threshold_hours: u64, now_ms: i64) -> Health {
        let threshold_ms = i64::try_from(threshold_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
        Health { threshold_ms, last_event_ms: now_ms, alerting: false }
    }

    /// Records that events arrived.
    pub fn saw_events(&mut self, now_ms: i64) -> Option<HealthChange> {
        self.last_event_ms = now_ms;
        std::mem::take(&mut self.alerting).then_some(HealthChange::Recovered)
    }

    /// Checks for silence; reports it once.
    pub fn check(&mut self, now_ms: i64) -> Option<HealthChange> {
        if self.alerting || now_ms - self.last_event_ms < self.threshold_ms {
            return None;
        }
        self.alerting = true;
        Some(HealthChange::Silent((now_ms - self.last_event_ms) / 3_600_000))
    }

    pub fn healthy(&self) -> bool {
        !self.alerting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_reported_once_and_recovery_too() {
        let hour = 3_600_000;
        let mut h = Health::new(24, 0);
        assert_eq!(h.check(23 * hour), None);
        assert_eq!(h.check(25 * hour), Some(HealthChange::Silent(25)));
        assert_eq!(h.check(26 * hour), None, "reported once");
        assert!(!h.healthy());
        assert_eq!(h.saw_events(27 * hour), Some(HealthChange::Recovered));
        assert_eq!(h.saw_events(28 * hour), None);
        assert!(h.healthy());
    }

    #[test]
    fn metrics_encode_with_labels() {
        let m = Metrics::new();
        m.events_written.get_or_create(&Metrics::org("acme")).inc_by(3);
        m.requests.get_or_create(&RequestLabel { org: "acme".into(), status: 429 }).inc();
        let text = m.encode();
        assert!(text.contains("okta_normalizer_events_written_total{org=\"acme\"} 3"), "{text}");
        assert!(text.contains("okta_normalizer_requests_total{org=\"acme\",status=\"429\"} 1"), "{text}");
    }
}
