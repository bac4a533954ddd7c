//! The poller against the simulator: every event reaches the sink exactly once through 5xx blips,
//! 429 storms, duplicated pages, late-persisted events, restarts and a lost cursor; a rejected
//! token stops it with a clear message and no hot loop; the token never reaches the output.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use okta_normalizer_host::commands::poll::{OrgResult, poll};
use okta_normalizer_host::config::Config;
use okta_normalizer_host::sim::{Chaos, SimConfig, SimHandle, Simulator, TokenStatus};
use okta_normalizer_host::store::Store;
use okta_normalizer_tests::{golden_inputs, root, runtime};
use serde_json::Value;
use tokio::sync::watch;

const TOKEN: &str = "00test-token-0123456789abcdef";

/// `n` realistic events (the golden fixtures, with fresh uuids) published over the last `minutes`.
pub(crate) fn events(n: usize, minutes: i64, tag: &str) -> Vec<Value> {
    let templates: Vec<Value> = golden_inputs().iter().map(|(_, b)| serde_json::from_slice(b).expect("json")).collect();
    let now = jiff::Timestamp::now().as_millisecond();
    (0..n)
        .map(|i| {
            let mut e = templates[i % templates.len()].clone();
            e["uuid"] = Value::String(format!("{tag}-{i:06}"));
            let published = now - minutes * 60_000
                + i64::try_from(i).expect("small") * (minutes * 60_000) / i64::try_from(n).expect("small");
            e["published"] = Value::String(jiff::Timestamp::from_millisecond(published).expect("valid").to_string());
            e
        })
        .collect()
}

pub(crate) fn test_dir(name: &str) -> PathBuf {
    let dir = root().join("target/poll-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    dir
}

pub(crate) fn write_config(dir: &Path, sim: &SimHandle, page_limit: u32) -> Config {
    write_config_with(dir, sim, page_limit, "")
}

fn write_config_with(dir: &Path, sim: &SimHandle, page_limit: u32, top: &str) -> Config {
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    let text = format!(
        "{top}[store]\npath = {store:?}\n\n[[org]]\nname = \"acme\"\nurl = {url:?}\npage_limit = {page_limit}\ninterval_secs = 1\n\
         retry_base_ms = 20\n\n[org.auth]\ntype = \"ssws\"\ntoken_file = {token_file:?}\n\n[[org.sinks]]\ntype = \"file\"\n\
         dir = {events:?}\nmax_bytes = 200000\n",
        store = dir.join("store.db"),
        url = sim.base_url(),
        events = dir.join("events"),
    );
    let path = dir.join("poll.toml");
    std::fs::write(&path, text).expect("config");
    Config::load(&path).expect("valid config")
}

pub(crate) async fn poll_once(config: Config) -> Vec<OrgResult> {
    let (_tx, rx) = watch::channel(false);
    poll(config, runtime(), true, rx, Duration::from_secs(3600)).await.expect("poll runs")
}

/// Every document in the sink files, by uuid, with how often it appears.
pub(crate) fn written(dir: &Path) -> HashMap<String, usize> {
    read_written(dir, false)
}

/// [`written`] while a sink may be writing: a last line without its newline is a write in
/// progress, not a broken document, and is left out.
pub(crate) fn written_so_far(dir: &Path) -> HashMap<String, usize> {
    read_written(dir, true)
}

fn read_written(dir: &Path, in_progress: bool) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for entry in std::fs::read_dir(dir.join("events")).expect("events dir") {
        let mut text = std::fs::read_to_string(entry.expect("entry").path()).expect("readable");
        if in_progress {
            text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
        }
        for line in text.lines() {
            let doc: Value = serde_json::from_str(line).expect("each line is a JSON document");
            if is_alert(&doc) {
                continue;
            }
            let uuid = doc["event"]["id"].as_str().expect("every document has event.id").to_owned();
            *counts.entry(uuid).or_insert(0) += 1;
        }
    }
    counts
}

/// Whether a sink document is an alert or signal the rules raised, not an Okta event (some Okta
/// events, such as `security.threat.detected`, are `event.kind: alert` themselves).
pub(crate) fn is_alert(doc: &Value) -> bool {
    doc["okta"]["alert"].is_object()
}

/// The alert and signal documents in the sink files.
pub(crate) fn alerts_written(dir: &Path) -> Vec<Value> {
    let mut alerts = Vec::new();
    for entry in std::fs::read_dir(dir.join("events")).expect("events dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("readable");
        alerts.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).expect("JSON")).filter(is_alert));
    }
    alerts
}

pub(crate) fn assert_exactly_once(dir: &Path, expected: &[Value]) {
    let counts = written(dir);
    let missing: Vec<&str> =
        expected.iter().filter_map(|e| e["uuid"].as_str()).filter(|u| !counts.contains_key(*u)).collect();
    let duplicated: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(missing.is_empty(), "{} events lost, e.g. {:?}", missing.len(), &missing[..missing.len().min(5)]);
    assert!(
        duplicated.is_empty(),
        "{} events duplicated, e.g. {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(5)]
    );
    assert_eq!(counts.len(), expected.len(), "nothing else was written");
}

pub(crate) fn sim_config(chaos: Chaos) -> SimConfig {
    SimConfig {
        tokens: vec![(TOKEN.to_owned(), TokenStatus::Valid)],
        window: Duration::from_secs(2),
        chaos,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_through_chaos_late_events_and_restarts() {
    let sim = Simulator::start(
        sim_config(Chaos {
            server_error_every: Some(4),
            rate_limit_storm: 3,
            duplicate_across_pages: true,
            ..Chaos::default()
        }),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator starts");
    let dir = test_dir("chaos");
    let first = events(1500, 50, "first");
    sim.push(&first, Duration::ZERO);
    // Late events: published earlier than most of the first batch, persisted only later.
    let late = events(120, 55, "late");
    sim.push(&late, Duration::from_secs(3));

    let results = poll_once(write_config(&dir, &sim, 100)).await;
    let stats = results[0].1.as_ref().expect("poll succeeded").lock().expect("stats").clone_counts();
    assert!(stats.0 >= 1500, "first run wrote {}", stats.0);
    let (requests, rejected) = sim.request_counts();
    assert!(rejected >= 3, "the 429 storm was seen ({rejected} of {requests})");

    // Wait for the late events to be persisted, add more, and poll again (a restart).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let second = events(300, 1, "second");
    sim.push(&second, Duration::ZERO);
    poll_once(write_config(&dir, &sim, 100)).await[0].1.as_ref().expect("second poll");

    let all: Vec<Value> = first.into_iter().chain(late).chain(second).collect();
    assert_exactly_once(&dir, &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_cursor_resumes_with_overlap_and_no_duplicates() {
    let sim =
        Simulator::start(sim_config(Chaos::default()), "127.0.0.1:0".parse().expect("addr")).await.expect("starts");
    let dir = test_dir("lost-cursor");
    let first = events(400, 20, "a");
    sim.push(&first, Duration::ZERO);
    poll_once(write_config(&dir, &sim, 1000)).await[0].1.as_ref().expect("first poll");
    Store::open(&dir.join("store.db"), 100_000).expect("store").forget_cursor("acme").expect("forget");
    let second = events(50, 1, "b");
    sim.push(&second, Duration::ZERO);
    let results = poll_once(write_config(&dir, &sim, 1000)).await;
    let dropped = results[0].1.as_ref().expect("second poll").lock().expect("stats").clone_counts().1;
    assert!(dropped > 0, "the overlap re-fetched events and they were dropped by uuid");
    assert_exactly_once(&dir, &first.into_iter().chain(second).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_stops_with_a_clear_error_and_no_hot_loop() {
    let sim =
        Simulator::start(sim_config(Chaos::default()), "127.0.0.1:0".parse().expect("addr")).await.expect("starts");
    sim.set_token(TOKEN, TokenStatus::Revoked);
    let dir = test_dir("bad-token");
    let results = poll_once(write_config(&dir, &sim, 1000)).await;
    let err = format!("{:#}", results[0].1.as_ref().expect_err("a revoked token is fatal"));
    assert!(err.contains("Okta rejected the API token (401 E0000011"), "{err}");
    assert!(err.contains("Not retrying"), "{err}");
    assert!(!err.contains(TOKEN), "the token must not appear in errors: {err}");
    assert_eq!(sim.request_counts().0, 1, "one request, no retry loop");
}

trait CloneCounts {
    /// (written, duplicates dropped)
    fn clone_counts(&self) -> (u64, u64);
}

impl CloneCounts for okta_normalizer_host::sources::okta_api::Stats {
    fn clone_counts(&self) -> (u64, u64) {
        (self.written, self.duplicates)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_count_what_happened() {
    let sim =
        Simulator::start(sim_config(Chaos::default()), "127.0.0.1:0".parse().expect("addr")).await.expect("starts");
    let dir = test_dir("metrics");
    sim.push(&events(120, 5, "m"), Duration::ZERO);
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let config = write_config_with(&dir, &sim, 1000, &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n"));
    poll_once(config).await[0].1.as_ref().expect("poll");
    let body =
        reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.expect("scrape").text().await.expect("text");
    assert!(body.contains("okta_normalizer_events_written_total{org=\"acme\"} 120"), "{body}");
    assert!(body.contains("okta_normalizer_requests_total{org=\"acme\",status=\"200\"}"), "{body}");
    assert!(body.contains("okta_normalizer_healthy{org=\"acme\"} 1"), "{body}");
    assert!(body.contains("okta_normalizer_rate_limit_remaining{org=\"acme\"}"), "{body}");
}
