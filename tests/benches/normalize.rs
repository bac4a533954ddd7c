//! Throughput benchmark: events per second on one core, measured side by side in one run.
//!
//! Run: `cargo bench -p okta-normalizer-tests --bench normalize` (add `-- --events N` to change the
//! corpus size). It compares, on the same realistic ~2 KB Okta events (the golden fixtures with
//! fresh uuids):
//! - the floor: serde_json parsing each event into a `Value` and serializing it again;
//! - the native core, one event per call and 1000 per call;
//! - the component in wasmtime, 1, 100 and 1000 events per call;
//! - a peer: jq (Debian's) running an Okta→ECS mapping of the common fields, if `jq` is installed.
//!
//! Each figure is the best of 5 passes over the corpus. Ratios matter more than absolutes: this
//! machine is a shared VM.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use okta_normalizer_core::{Engine, InputFormat};
use okta_normalizer_tests::{batch, config, golden_inputs, runtime, wit_batch, wit_config};
use serde_json::Value;

struct Corpus {
    events: Vec<String>,
    bytes: usize,
}

fn corpus(n: usize) -> Corpus {
    let templates: Vec<Value> =
        golden_inputs().iter().map(|(_, b)| serde_json::from_slice(b).expect("fixtures are JSON")).collect();
    let events: Vec<String> = (0..n)
        .map(|i| {
            let mut e = templates[i % templates.len()].clone();
            e["uuid"] = Value::String(format!("00000000-0000-4000-8000-{i:012}"));
            e.to_string()
        })
        .collect();
    let bytes = events.iter().map(String::len).sum();
    Corpus { events, bytes }
}

/// Joins events into API pages of `size` events.
fn pages(events: &[String], size: usize) -> Vec<Vec<u8>> {
    events.chunks(size).map(|c| format!("[{}]", c.join(",")).into_bytes()).collect()
}

fn best_of_5(mut pass: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..5 {
        let start = Instant::now();
        count = pass();
        best = best.min(start.elapsed());
    }
    (best, count)
}

struct Row {
    name: String,
    events_per_sec: f64,
}

fn main() {
    let n = std::env::args().skip_while(|a| a != "--events").nth(1).and_then(|v| v.parse().ok()).unwrap_or(20_000usize);
    let corpus = corpus(n);
    let avg = corpus.bytes as f64 / n as f64;
    println!("corpus: {n} events, {:.0} bytes per event on average, {:.1} MB", avg, corpus.bytes as f64 / 1e6);
    let mut rows: Vec<Row> = Vec::new();
    let mut record = |name: &str, (elapsed, count): (Duration, usize)| {
        assert_eq!(count, n, "{name} processed {count} of {n} events");
        let eps = n as f64 / elapsed.as_secs_f64();
        println!("{name:<44} {:>10.0} events/s  {:>7.1} MB/s", eps, corpus.bytes as f64 / elapsed.as_secs_f64() / 1e6);
        rows.push(Row { name: name.to_owned(), events_per_sec: eps });
    };

    // The floor: parse into a DOM and write it back out.
    record(
        "floor: serde_json Value parse + serialize",
        best_of_5(|| {
            let mut count = 0;
            for e in &corpus.events {
                let v: Value = serde_json::from_str(e).expect("json");
                let out = serde_json::to_string(&v).expect("serializes");
                count += usize::from(!out.is_empty());
            }
            count
        }),
    );

    // The normalizer alone: detection has its own benchmark (`--bench detect`).
    let config = {
        let mut c = config();
        c.detection.builtin_rules = false;
        c
    };

    // Native core.
    let single: Vec<&[u8]> = corpus.events.iter().map(|e| e.as_bytes()).collect();
    let mut engine = Engine::new(config.clone()).expect("config");
    record(
        "native core, 1 event per call",
        best_of_5(|| {
            single.iter().map(|e| engine.normalize(e, &batch(InputFormat::LogEvent)).expect("ok").outcomes.len()).sum()
        }),
    );
    let pages_1000 = pages(&corpus.events, 1000);
    record(
        "native core, 1000 events per call",
        best_of_5(|| {
            pages_1000
                .iter()
                .map(|p| engine.normalize(p, &batch(InputFormat::ApiPage)).expect("ok").outcomes.len())
                .sum()
        }),
    );

    // The component in wasmtime.
    let mut component = runtime().instantiate(&wit_config(&config)).expect("no trap").expect("config");
    record(
        "component, 1 event per call",
        best_of_5(|| {
            single
                .iter()
                .map(|e| {
                    component
                        .normalize(e, &wit_batch(InputFormat::LogEvent))
                        .expect("no trap")
                        .expect("ok")
                        .outcomes
                        .len()
                })
                .sum()
        }),
    );
    for size in [100, 1000] {
        let p = pages(&corpus.events, size);
        record(
            &format!("component, {size} events per call"),
            best_of_5(|| {
                p.iter()
                    .map(|page| {
                        component
                            .normalize(page, &wit_batch(InputFormat::ApiPage))
                            .expect("no trap")
                            .expect("ok")
                            .outcomes
                            .len()
                    })
                    .sum()
            }),
        );
    }

    // Peer: jq with a mapping of the common fields.
    if let Some(result) = jq_peer(&corpus) {
        record("peer: jq 1.x, Okta→ECS mapping (common fields)", result);
    } else {
        println!("peer: jq not found; skipped");
    }

    let eps = |name: &str| rows.iter().find(|r| r.name.starts_with(name)).map(|r| r.events_per_sec);
    let (Some(floor), Some(native1000), Some(c1000)) = (eps("floor"), eps("native core, 1000"), eps("component, 1000"))
    else {
        return;
    };
    println!();
    println!("ratios:");
    println!("  component (1000/call) / native core (1000/call) = {:.2}   target >= 0.65", c1000 / native1000);
    println!("  native core (1000/call) / serde_json floor      = {:.2}   target >= 0.5", native1000 / floor);
    println!("  component (1000/call) events/s/core             = {c1000:.0}   target >= 100000");
    if let Some(jq) = eps("peer: jq") {
        println!("  component (1000/call) / jq                      = {:.1}", c1000 / jq);
    }
}

/// Runs jq over the corpus as NDJSON and times the whole process.
fn jq_peer(corpus: &Corpus) -> Option<(Duration, usize)> {
    Command::new("jq").arg("--version").output().ok()?;
    let input = corpus.events.join("\n") + "\n";
    let program = include_str!("okta-to-ecs.jq");
    Some(best_of_5(|| {
        let mut child = Command::new("jq")
            .args(["-c", program])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("jq runs");
        let mut stdin = child.stdin.take().expect("piped");
        let feed = input.clone();
        let feeder = std::thread::spawn(move || stdin.write_all(feed.as_bytes()));
        let out = child.wait_with_output().expect("jq finishes");
        feeder.join().expect("feeder").expect("jq reads its input");
        out.stdout.iter().filter(|&&b| b == b'\n').count()
    }))
}
