//! Poller benchmark: sim → poller → component → file sink, in one process.
//!
//! Run: `cargo bench -p okta-normalizer-tests --bench poll` (`-- --rate-seconds N` sets the length
//! of the rate-limit run, default 200; `-- --events N` the size of the throughput run, default
//! 1,000,000).
//! 1. Request rate at Okta's Workforce limit (120 requests/min, 50 % per token = 60/min), with
//!    full pages, the default 10 % headroom: requests per minute in steady state, and 429s.
//! 2. Throughput with the limit out of the way: events per second end to end, and the growth of
//!    resident memory between 100k and the last event written (the simulator's own storage is
//!    allocated before polling starts, so the growth is the poller's). The events are the golden
//!    fixtures over and over, so the detection state stays small.
//! 3. The same with the simulator's busy-org mix (`-- --mix-events N`, default 200,000: the
//!    generator's workforce activity at 20 events/s of simulated time, with its attacks), where
//!    the detection state grows as it does in a real org; every page's batch exports and commits
//!    it, so this is the end-to-end figure to expect once the state has levelled off.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use okta_normalizer_host::commands::poll::poll;
use okta_normalizer_host::config::Config;
use okta_normalizer_host::sim::generator::{ALL_SCENARIOS, Generator};
use okta_normalizer_host::sim::{OrgType, SimConfig, SimHandle, Simulator, TokenStatus};
use okta_normalizer_tests::{golden_inputs, root, runtime};
use serde_json::Value;
use tokio::sync::watch;

const TOKEN: &str = "00bench-token";

fn arg(name: &str, default: u64) -> u64 {
    std::env::args().skip_while(|a| a != name).nth(1).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Pushes `n` events made from the golden fixtures, in chunks, published over the last hour.
fn fill(sim: &SimHandle, n: u64) {
    let templates: Vec<Value> = golden_inputs().iter().map(|(_, b)| serde_json::from_slice(b).expect("json")).collect();
    let now = jiff::Timestamp::now().as_millisecond();
    let mut chunk = Vec::with_capacity(10_000);
    for i in 0..n {
        let mut e = templates[usize::try_from(i).expect("fits") % templates.len()].clone();
        e["uuid"] = format!("bench-{i:08}").into();
        let published = now - 3_600_000 + i64::try_from(i * 3_000_000 / n.max(1)).expect("fits");
        e["published"] = jiff::Timestamp::from_millisecond(published).expect("valid").to_string().into();
        chunk.push(e);
        if chunk.len() == 10_000 {
            sim.push(&chunk, Duration::ZERO);
            chunk.clear();
        }
    }
    sim.push(&chunk, Duration::ZERO);
}

/// `n` events of the generator's busy-org mix, 20 per second of simulated time ending a minute
/// ago, with one attack scenario every 2,000 events.
fn fill_mix(sim: &SimHandle, n: u64) {
    const MS_PER_EVENT: i64 = 50;
    let n = usize::try_from(n).expect("fits");
    let mut generator = Generator::new(7, "acme.okta.com");
    let mut at = jiff::Timestamp::now().as_millisecond() - 60_000 - i64::try_from(n).expect("fits") * MS_PER_EVENT;
    let mut written = 0;
    let mut i = 0;
    while written < n {
        let chunk = 2_000.min(n - written);
        let span = i64::try_from(chunk).expect("fits") * MS_PER_EVENT;
        let mut block = generator.background(at, at + span, chunk);
        block.extend(generator.scenario(ALL_SCENARIOS[i % ALL_SCENARIOS.len()], at + span / 3));
        block.sort_by_key(|e| e["published"].as_str().map(str::to_owned));
        written += block.len();
        sim.push(&block, Duration::ZERO);
        at += span;
        i += 1;
    }
}

/// A simulator whose rate limit is out of the way (a token may use 1,000 times the org's limit).
async fn unlimited_sim() -> SimHandle {
    Simulator::start(
        SimConfig { principal_share: 1000.0, tokens: vec![(TOKEN.into(), TokenStatus::Valid)], ..SimConfig::default() },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sim")
}

fn config(name: &str, sim: &SimHandle, page_limit: u32) -> Config {
    let dir = root().join("target/bench-poll").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("token"), TOKEN).expect("token");
    let text = format!(
        "[store]\npath = {:?}\n\n[[org]]\nname = \"bench\"\nurl = {:?}\npage_limit = {page_limit}\ninterval_secs = 1\n\n\
         [org.auth]\ntype = \"ssws\"\ntoken_file = {:?}\n\n[[org.sinks]]\ntype = \"file\"\ndir = {:?}\nmax_bytes = 268435456\n",
        dir.join("store.db"),
        sim.base_url(),
        dir.join("token"),
        dir.join("events"),
    );
    std::fs::write(dir.join("poll.toml"), text).expect("config");
    Config::load(&dir.join("poll.toml")).expect("valid")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rate_seconds = arg("--rate-seconds", 200);
    let events = arg("--events", 1_000_000);

    // 1. Request rate at the Workforce limit.
    let sim = Simulator::start(
        SimConfig {
            org_type: OrgType::Workforce,
            tokens: vec![(TOKEN.into(), TokenStatus::Valid)],
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("sim");
    fill(&sim, 200_000);
    let (tx, rx) = watch::channel(false);
    let counts: Arc<Mutex<Vec<(f64, u64, u64)>>> = Arc::default();
    let sampler = {
        let counts = counts.clone();
        let sim = Arc::new(sim);
        let s = sim.clone();
        let started = Instant::now();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let (requests, rejected) = s.request_counts();
                counts.lock().expect("lock").push((started.elapsed().as_secs_f64(), requests, rejected));
            }
        });
        sim
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(rate_seconds)).await;
        let _ = tx.send(true);
    });
    poll(config("rate", &sampler, 10), runtime(), false, rx, Duration::from_secs(3600)).await.expect("poll");
    let samples = counts.lock().expect("lock").clone();
    let rejected = samples.last().map_or(0, |s| s.2);
    let (windows, limit) = sampler.window_usage();
    // Steady state: every completed window but the first (which starts part-way through).
    let steady: Vec<u32> = windows.iter().skip(1).copied().collect();
    let per_window = f64::from(steady.iter().sum::<u32>()) / steady.len().max(1) as f64;
    let after_headroom = f64::from(limit) * 0.9;
    println!(
        "1. rate limit: Workforce 120/min at a 50 % share = {limit} requests/min allowed; the default 10 % headroom leaves {after_headroom:.0}"
    );
    println!(
        "   requests per completed window {windows:?}; steady state {per_window:.1}/min = {:.1} % of the {limit} allowed, {:.1} % of the {after_headroom:.0} left after headroom; 429s: {rejected}",
        per_window / f64::from(limit) * 100.0,
        per_window / after_headroom * 100.0,
    );

    // 2. Throughput and memory, with the limit out of the way.
    let sim = unlimited_sim().await;
    fill(&sim, events);
    let (tx, rx) = watch::channel(false);
    let rss_at_100k: Arc<Mutex<Option<f64>>> = Arc::default();
    let written_dir = root().join("target/bench-poll/throughput/events");
    let watcher = {
        let rss_at_100k = rss_at_100k.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let bytes: u64 = std::fs::read_dir(&written_dir)
                    .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
                    .unwrap_or(0);
                // About 3.7 KB of ECS per event.
                if bytes > 100_000 * 3_700 && rss_at_100k.lock().expect("lock").is_none() {
                    *rss_at_100k.lock().expect("lock") = Some(rss_mb());
                }
            }
        })
    };
    let before = rss_mb();
    let start = Instant::now();
    let results =
        poll(config("throughput", &sim, 1000), runtime(), true, rx, Duration::from_secs(3600)).await.expect("poll");
    let elapsed = start.elapsed().as_secs_f64();
    let rss_end = rss_mb();
    watcher.abort();
    let _ = tx.send(true);
    let written = results[0].1.as_ref().expect("poll succeeded").lock().expect("stats").written;
    println!(
        "2. throughput: {written} events in {elapsed:.1} s = {:.0} events/s end to end (sim → poller → component → file)",
        written as f64 / elapsed
    );
    let at_100k = rss_at_100k.lock().expect("lock").unwrap_or(rss_end);
    println!(
        "   resident memory: {before:.0} MB before polling (mostly the simulator's {events} events), {at_100k:.0} MB at 100k written, {rss_end:.0} MB at {written}: {:+.1} % from 100k to the end",
        (rss_end - at_100k) / at_100k * 100.0
    );
    drop(sampler);

    // 3. Throughput with the busy-org mix: the detection state grows as in a real org.
    let mix_events = arg("--mix-events", 200_000);
    let sim = unlimited_sim().await;
    fill_mix(&sim, mix_events);
    let (tx, rx) = watch::channel(false);
    let start = Instant::now();
    let results = poll(config("mix", &sim, 1000), runtime(), true, rx, Duration::from_secs(3600)).await.expect("poll");
    let elapsed = start.elapsed().as_secs_f64();
    let _ = tx.send(true);
    let written = results[0].1.as_ref().expect("poll succeeded").lock().expect("stats").written;
    let store = okta_normalizer_host::store::Store::open(&root().join("target/bench-poll/mix/store.db"), 100_000)
        .expect("store opens");
    let parts = store.detection_state_parts("bench").expect("reads");
    let state: usize = parts.iter().map(|p| p.key.len() + p.value.len()).sum();
    println!(
        "3. busy-org mix: {written} events in {elapsed:.1} s = {:.0} events/s end to end; detection state at the end {:.1} MB in {} parts (each page commits the parts it changed)",
        written as f64 / elapsed,
        state as f64 / 1e6,
        parts.len()
    );
}
