//! How much detection (the built-in rule pack) adds to normalization, per event.
//!
//! Loads `tests/cases/normalize/*.json`, builds compact API pages from them (each event a few
//! times, with fresh uuids), and times `Engine::normalize` with `builtin_rules: false` and with
//! the default config; best of 5 runs each. Prints µs/event, the ratio, and a checksum of every
//! outcome and alert (so an optimization can be checked not to change any output).
//!
//! `cargo run --release -p okta-normalizer-core --example detect_speed` (`-- --pages FILE` times
//! a corpus of API pages instead, one per line, such as the detection benchmark's `--dump-corpus`;
//! add `--per-rule` to time each file of `rules/` alone instead, most expensive first).

#![allow(clippy::disallowed_methods, reason = "a benchmark reads the clock")]

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::{Duration, Instant};

use okta_normalizer_core::{BatchOptions, Config, DetectionConfig, Engine, OutputOptions};

/// Copies of each case event (the first argument overrides it).
const COPIES: usize = 12;
/// Events per API page.
const PAGE: usize = 200;
const RUNS: usize = 5;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/normalize");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let cases: Vec<serde_json::Value> = files
        .iter()
        .filter_map(|p| serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok())
        .filter(serde_json::Value::is_object)
        .collect();
    if let Some(path) = std::env::args().skip_while(|a| a != "--pages").nth(1) {
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let pages: Vec<Vec<u8>> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
        let n = pages.iter().map(|p| count_events(p)).sum();
        println!("{path}: {n} events in {} pages", pages.len());
        if std::env::args().any(|a| a == "--per-rule") {
            per_rule(&pages, n);
        } else {
            report(&pages, n);
        }
        return;
    }
    let copies = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(COPIES);
    let mut events = Vec::new();
    for copy in 0..copies {
        for (i, case) in cases.iter().enumerate() {
            let mut event = case.clone();
            event["uuid"] = format!("{i:08x}-0000-4000-8000-{copy:012x}").into();
            events.push(event);
        }
    }
    let pages: Vec<Vec<u8>> = events
        .chunks(PAGE)
        .map(|c| serde_json::to_vec(&serde_json::Value::Array(c.to_vec())).unwrap_or_default())
        .collect();
    let n = events.len();
    println!("{} case files, {n} events in {} pages", cases.len(), pages.len());
    report(&pages, n);
}

fn count_events(page: &[u8]) -> usize {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(page).map_or(0, |v| v.len())
}

fn report(pages: &[Vec<u8>], n: usize) {
    let (base, base_sum, _) = run(pages, false);
    let (detect, detect_sum, alerts) = run(pages, true);
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!("normalize only:     {:8.2} µs/event  (checksum {base_sum:016x})", per(base));
    println!("normalize + detect: {:8.2} µs/event  (checksum {detect_sum:016x}, {alerts} alerts)", per(detect));
    println!("ratio: {:.3} (+{:.1} %)", per(detect) / per(base), (per(detect) / per(base) - 1.0) * 100.0);
}

/// What each rule file of the pack costs alone, most expensive first.
fn per_rule(pages: &[Vec<u8>], n: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    let (base, _, _) = run_with(pages, &DetectionConfig { builtin_rules: false, ..DetectionConfig::default() });
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let mut costs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let name = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
        let detection = DetectionConfig {
            builtin_rules: false,
            rules: vec![okta_normalizer_core::RuleSource { name: name.clone(), text }],
            ..DetectionConfig::default()
        };
        if let Err(e) = Engine::new(config(detection.clone())) {
            println!("{name}: does not load alone ({})", e.message);
            continue;
        }
        let (d, _, alerts) = run_with(pages, &detection);
        costs.push((per(d) - per(base), name, alerts));
    }
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!(
        "normalize only: {:.2} µs/event; sum of the files' costs: {:.2} µs/event",
        per(base),
        costs.iter().map(|c| c.0).sum::<f64>()
    );
    for (cost, name, alerts) in costs {
        println!("{cost:8.2} µs  {alerts:5} alerts  {name}");
    }
}

fn config(detection: DetectionConfig) -> Config {
    Config {
        tenant_id: "acme.okta.com".into(),
        tenant_domain: Some("acme.okta.com".into()),
        output: OutputOptions::default(),
        detection,
    }
}

fn run(pages: &[Vec<u8>], builtin_rules: bool) -> (Duration, u64, usize) {
    run_with(pages, &DetectionConfig { builtin_rules, ..DetectionConfig::default() })
}

/// Best time of [`RUNS`] passes over `pages` (a fresh engine each pass), and the output checksum.
fn run_with(pages: &[Vec<u8>], detection: &DetectionConfig) -> (Duration, u64, usize) {
    let mut best = Duration::MAX;
    let mut sum = 0;
    let mut alerts = 0;
    for _ in 0..RUNS {
        let mut engine = Engine::new(config(detection.clone())).unwrap_or_else(|e| panic!("config: {}", e.message));
        let options = BatchOptions::default();
        let mut hasher = std::hash::DefaultHasher::new();
        let start = Instant::now();
        let mut results = Vec::with_capacity(pages.len());
        for page in pages {
            results.push(engine.normalize(page, &options));
        }
        best = best.min(start.elapsed());
        alerts = 0;
        for result in results {
            let result = result.unwrap_or_else(|e| panic!("batch: {e:?}"));
            alerts += result.alerts.len();
            format!("{:?} {:?}", result.outcomes, result.alerts).hash(&mut hasher);
        }
        sum = hasher.finish();
    }
    (best, sum, alerts)
}
