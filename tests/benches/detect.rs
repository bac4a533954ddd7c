//! Detection benchmark: what the full built-in rule pack costs per event, and how big its state
//! gets on a long run.
//!
//! Run: `cargo bench -p okta-normalizer-tests --bench detect` (`-- --events N` for the long run,
//! default 1,000,000; `-- --long-only` skips part 1; `-- --dump-corpus FILE` writes part 1's
//! corpus for `cargo run --release -p okta-normalizer-core --example detect_speed -- --pages FILE`).
//! Two parts, one run:
//! 1. Throughput, side by side on the same corpus (the simulator's everyday activity with its four
//!    attacks mixed in, 1000 events per call): the native core and the component, each with no
//!    rules and with the full pack. The ratios are the figures that matter.
//!    Then a peer on the same corpus: the pack's plain single-event rules that rsigma can also
//!    read (`tests/rsigma_subset.rs`), through rsigma's engine and through ours, beside the floor
//!    of parsing each event into a `serde_json::Value`.
//! 2. A long run through the component with the full pack: events/s, alerts raised, and every
//!    10% of the way the state's size (which must level off) and what exporting its changes after
//!    each page cost (time and bytes written, as the host does); at the end, one whole export.

use std::time::{Duration, Instant};

use okta_normalizer_core::{Config, Engine, InputFormat, RuleSource};
use okta_normalizer_host::sim::generator::{ALL_SCENARIOS, Generator};
use okta_normalizer_tests::{batch, config, runtime, wit_batch, wit_config};
use serde_json::Value;

#[path = "../rsigma_subset.rs"]
mod rsigma_subset;

const START_MS: i64 = 1_790_000_000_000;

/// Simulated milliseconds per event: 20 events/s, a busy workforce org.
const MS_PER_EVENT: i64 = 50;

/// `n` events from `start_ms` on, over `n / 20` seconds of simulated time, with one attack
/// scenario every 2,000 events, sorted by `published` and cut into API pages.
fn corpus(n: usize, seed: u64, start_ms: i64) -> Vec<Vec<u8>> {
    let mut generator = Generator::new(seed, "acme.okta.com");
    let mut events: Vec<Value> = Vec::with_capacity(n + n / 50);
    let chunk = 2_000usize;
    let mut at = start_ms;
    let mut i = 0;
    while events.len() < n {
        let span = (chunk as i64) * MS_PER_EVENT;
        let mut block = generator.background(at, at + span, chunk);
        block.extend(generator.scenario(ALL_SCENARIOS[i % ALL_SCENARIOS.len()], at + span / 3));
        block.sort_by_key(|e| e["published"].as_str().map(str::to_owned));
        events.extend(block);
        at += span;
        i += 1;
    }
    events.truncate(n);
    events.chunks(1000).map(|c| serde_json::to_vec(c).expect("serializes")).collect()
}

/// Best of 3 passes, each on a fresh engine from `setup` (so every pass sees the attacks for the
/// first time); only `pass` is timed. Also returns the best engine set-up time (rule loading).
fn best_of_3<E>(
    mut setup: impl FnMut() -> E,
    mut pass: impl FnMut(&mut E) -> (usize, usize),
) -> (Duration, usize, usize, Duration) {
    let mut best = Duration::MAX;
    let mut best_setup = Duration::MAX;
    let mut out = (0, 0);
    for _ in 0..3 {
        let start = Instant::now();
        let mut engine = setup();
        best_setup = best_setup.min(start.elapsed());
        let start = Instant::now();
        out = pass(&mut engine);
        best = best.min(start.elapsed());
    }
    (best, out.0, out.1, best_setup)
}

fn main() {
    let long_n =
        std::env::args().skip_while(|a| a != "--events").nth(1).and_then(|v| v.parse().ok()).unwrap_or(1_000_000usize);
    let long_only = std::env::args().any(|a| a == "--long-only");
    let n = 20_000usize;
    if let Some(path) = std::env::args().skip_while(|a| a != "--dump-corpus").nth(1) {
        // For profiling the core alone: `detect_speed --pages FILE` reads it.
        let mut text = Vec::new();
        for page in corpus(n, 11, START_MS) {
            text.extend_from_slice(&page);
            text.push(b'\n');
        }
        std::fs::write(&path, text).expect("writes the corpus");
        println!("wrote {n} events to {path}, one API page per line");
        return;
    }
    if !long_only {
        throughput(n);
    }
    long_run(long_n);
}

/// [`best_of_3`] passes of the native core over `pages`: (time, events, alerts, set-up).
fn native_passes(pages: &[Vec<u8>], cfg: &Config) -> (Duration, usize, usize, Duration) {
    best_of_3(
        || Engine::new(cfg.clone()).expect("config"),
        |engine| {
            pages.iter().fold((0, 0), |(e, a), p| {
                let r = engine.normalize(p, &batch(InputFormat::ApiPage)).expect("ok");
                (e + r.outcomes.len(), a + r.alerts.len())
            })
        },
    )
}

/// [`native_passes`] through the component in wasmtime.
fn component_passes(pages: &[Vec<u8>], cfg: &Config) -> (Duration, usize, usize, Duration) {
    let wit = wit_config(cfg);
    best_of_3(
        || runtime().instantiate(&wit).expect("no trap").expect("config"),
        |engine| {
            pages.iter().fold((0, 0), |(e, a), p| {
                let r = engine.normalize(p, &wit_batch(InputFormat::ApiPage)).expect("no trap").expect("ok");
                (e + r.outcomes.len(), a + r.alerts.len())
            })
        },
    )
}

/// Part 1: the four paths side by side on the same corpus.
fn throughput(n: usize) {
    let pages = corpus(n, 11, START_MS);
    println!("throughput corpus: {n} simulated events (everyday activity + the 4 attacks), 1000 per call");

    let no_rules = {
        let mut c = config();
        c.detection.builtin_rules = false;
        c
    };
    let with_pack = config();
    let mut rows = Vec::new();
    let mut report = |name: &str, (elapsed, events, alerts, setup): (Duration, usize, usize, Duration)| {
        let eps = events as f64 / elapsed.as_secs_f64();
        let us = elapsed.as_secs_f64() * 1e6 / events as f64;
        println!(
            "{name:<34} {eps:>9.0} events/s  {us:>6.2} µs/event  {alerts:>5} alerts+signals per pass  (engine set-up {:.0} ms)",
            setup.as_secs_f64() * 1e3
        );
        rows.push((name.to_owned(), us));
    };

    report("native core, no rules", native_passes(&pages, &no_rules));
    report("native core, full pack", native_passes(&pages, &with_pack));
    report("component, no rules", component_passes(&pages, &no_rules));
    report("component, full pack", component_passes(&pages, &with_pack));
    let us = |name: &str| rows.iter().find(|(n, _)| n == name).map(|(_, us)| *us).unwrap_or(f64::NAN);
    println!();
    println!("ratios:");
    println!(
        "  native: full pack / no rules     = {:.2}  (the pack adds {:.0}%; target <= 40%)",
        us("native core, full pack") / us("native core, no rules"),
        (us("native core, full pack") / us("native core, no rules") - 1.0) * 100.0
    );
    println!(
        "  component: full pack / no rules  = {:.2}  (the pack adds {:.0}%; target <= 40%)",
        us("component, full pack") / us("component, no rules"),
        (us("component, full pack") / us("component, no rules") - 1.0) * 100.0
    );
    println!(
        "  component with the pack          = {:.0} events/s/core  (target >= 80000)",
        1e6 / us("component, full pack")
    );
    println!("  component / native, full pack    = {:.2}", us("native core, full pack") / us("component, full pack"));
    peer(&pages, us("native core, no rules"), us("component, no rules"));
}

/// Part 1b: the single-event rules both engines read, through rsigma and through ours.
fn peer(pages: &[Vec<u8>], native_no_rules: f64, component_no_rules: f64) {
    let (subset, skipped) = rsigma_subset::candidates();
    println!();
    println!(
        "peer: the pack's {} plain single-event rules rsigma-eval 0.23 can also read ({} others left out), no alert controls",
        subset.len(),
        skipped.len()
    );
    let mut cfg = config();
    cfg.detection.builtin_rules = false;
    cfg.detection.rules =
        subset.iter().map(|r| RuleSource { name: format!("subset:{}", r.name), text: r.text.clone() }).collect();
    let mut rsigma = rsigma_eval::Engine::new();
    for rule in &subset {
        let collection = rsigma_parser::parse_sigma_yaml(&rule.text).expect("rsigma parses the subset");
        rsigma.add_collection(&collection).expect("rsigma compiles the subset");
    }
    let mut rows: Vec<(&str, f64)> = Vec::new();
    let mut report = |name: &'static str, (elapsed, events, matches, _): (Duration, usize, usize, Duration)| {
        let us = elapsed.as_secs_f64() * 1e6 / events as f64;
        println!("{name:<44} {:>9.0} events/s  {us:>6.2} µs/event  {matches:>5} matches per pass", 1e6 / us);
        rows.push((name, us));
    };
    report(
        "floor: serde_json Value parse of each event",
        best_of_3(
            || (),
            |()| {
                pages.iter().fold((0, 0), |(e, m), p| {
                    let events: Vec<Value> = serde_json::from_slice(p).expect("a page");
                    (e + events.len(), m)
                })
            },
        ),
    );
    report(
        "peer: rsigma-eval (Value parse + rules)",
        best_of_3(
            || (),
            |()| {
                pages.iter().fold((0, 0), |(e, m), p| {
                    let events: Vec<Value> = serde_json::from_slice(p).expect("a page");
                    let hits: usize =
                        events.iter().map(|v| rsigma.evaluate(&rsigma_eval::JsonEvent::borrow(v)).len()).sum();
                    (e + events.len(), m + hits)
                })
            },
        ),
    );
    report("native core (normalize + the same rules)", native_passes(pages, &cfg));
    report("component (normalize + the same rules)", component_passes(pages, &cfg));
    let us = |name: &str| rows.iter().find(|(n, _)| n.starts_with(name)).map_or(f64::NAN, |(_, us)| *us);
    let (floor, theirs) = (us("floor"), us("peer"));
    let (native, component) = (us("native core"), us("component"));
    println!("what the rules add per event, over reading the event:");
    println!("  rsigma-eval over its Value parse    {:>6.2} µs", theirs - floor);
    println!("  ours, native, over normalizing      {:>6.2} µs", native - native_no_rules);
    println!("  ours, component, over normalizing   {:>6.2} µs", component - component_no_rules);
    println!("ratios:");
    println!("  rsigma (parse + rules) / floor      = {:.2}", theirs / floor);
    println!("  native core (normalize + rules) / rsigma (parse + rules) = {:.2}", native / theirs);
    println!("  component (normalize + rules) / rsigma (parse + rules)   = {:.2}", component / theirs);
}

/// Part 2: a long run through the component with the full pack.
fn long_run(long_n: usize) {
    let with_pack = config();

    println!();
    println!("long run: {long_n} events through the component with the full pack");
    let mut engine = runtime().instantiate(&wit_config(&with_pack)).expect("no trap").expect("config");
    let mut generated = 0usize;
    let mut alerts = 0usize;
    let mut signals = 0usize;
    let start = Instant::now();
    let mut next_report = long_n / 10;
    let mut seed = 100;
    // The parts a host would hold (key → bytes), and per page since the last report: the time to
    // export the changes and the bytes they write.
    let mut parts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let (mut page_ms, mut page_bytes): (Vec<f64>, Vec<usize>) = (Vec::new(), Vec::new());
    while generated < long_n {
        // Generate in slices so the corpus never has to be in memory at once; each slice goes on
        // in time where the one before ended.
        let slice = corpus(100_000.min(long_n - generated), seed, START_MS + generated as i64 * MS_PER_EVENT);
        seed += 1;
        for page in &slice {
            let r = engine.normalize(page, &wit_batch(InputFormat::ApiPage)).expect("no trap").expect("ok");
            generated += r.outcomes.len();
            for a in &r.alerts {
                match a.kind {
                    okta_normalizer_host::guest::AlertKind::Alert => alerts += 1,
                    okta_normalizer_host::guest::AlertKind::Signal => signals += 1,
                }
            }
            let exporting = Instant::now();
            let changes = engine.export_state_changes().expect("no trap");
            page_ms.push(exporting.elapsed().as_secs_f64() * 1e3);
            page_bytes.push(changes.written.iter().map(|p| p.key.len() + p.value.len()).sum());
            for prefix in &changes.dropped_prefixes {
                parts.retain(|key, _| !key.starts_with(prefix.as_str()));
            }
            for key in &changes.dropped {
                parts.remove(key);
            }
            parts.extend(changes.written.into_iter().map(|p| (p.key, p.value.len())));
            if generated >= next_report {
                let state: usize = parts.iter().map(|(k, v)| k.len() + v).sum();
                page_ms.sort_by(f64::total_cmp);
                page_bytes.sort_unstable();
                println!(
                    "  {generated:>9} events  state {state:>9} bytes in {:>6} parts; a page's changes: median {:>5.1} ms, {:>8} bytes (p90 {:>5.1} ms, {:>8} bytes)  guest memory {:>4} MB  alerts {alerts:>6}  signals {signals:>6}",
                    parts.len(),
                    page_ms[page_ms.len() / 2],
                    page_bytes[page_bytes.len() / 2],
                    page_ms[page_ms.len() * 9 / 10],
                    page_bytes[page_bytes.len() * 9 / 10],
                    engine.memory_bytes() >> 20,
                );
                (page_ms, page_bytes) = (Vec::new(), Vec::new());
                next_report += long_n / 10;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "  {generated} events in {elapsed:.1} s (with generating them and exporting changes): {:.0} events/s; {alerts} alerts, {signals} signals",
        generated as f64 / elapsed
    );
    let exporting = Instant::now();
    let state = engine.export_state().expect("no trap");
    println!(
        "  one whole export at the end: {:.1} ms; guest memory then {} MB",
        exporting.elapsed().as_secs_f64() * 1e3,
        engine.memory_bytes() >> 20
    );
    print_state_breakdown(&state);
}

/// Where the exported state's bytes are: the detector's own parts and the largest correlations.
fn print_state_breakdown(state: &[u8]) {
    let Ok(Value::Object(saved)) = serde_json::from_slice::<Value>(state) else {
        println!("  (the state is not a JSON object)");
        return;
    };
    let size = |v: &Value| serde_json::to_vec(v).map_or(0, |b| b.len());
    let mut parts: Vec<(String, usize)> = Vec::new();
    for (key, value) in &saved {
        match value.get("specs").and_then(Value::as_object) {
            Some(specs) if key == "correlations" => {
                parts.extend(specs.iter().map(|(name, spec)| (format!("correlation {name}"), size(spec))));
            }
            _ => parts.push((key.clone(), size(value))),
        }
    }
    parts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("  final state {} bytes; largest parts:", state.len());
    for (name, bytes) in parts.iter().take(10) {
        println!("    {bytes:>10}  {name}");
    }
}
