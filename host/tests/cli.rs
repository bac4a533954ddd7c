//! The `okta-normalizer` command as a user runs it: files, stdin, malformed lines, empty input,
//! exit codes and messages.
//!
//! This is the host's own test binary because only here does cargo provide the built executable
//! (`CARGO_BIN_EXE_okta-normalizer`); everything else lives in `tests/all`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/cases/normalize").join(name)
}

/// Runs the binary with a shared compilation cache under target/.
fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_okta-normalizer"));
    cmd.args(args)
        .env("OKTA_NORMALIZER_CACHE_DIR", root().join("target/wasmtime-cache"))
        .env_remove("OKTA_NORMALIZER_TENANT")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary runs");
    // Feed stdin from another thread: the child writes output while it reads, and a full stdout
    // pipe would otherwise deadlock both.
    let feeder = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("piped");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let output = child.wait_with_output().expect("the binary finishes");
    if let Some(f) = feeder {
        f.join().expect("the feeder thread finishes");
    }
    output
}

fn docs(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("output line is not JSON ({e}): {l}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = root().join("target/cli-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn fixture_events(n: usize) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(root().join("tests/cases/normalize"))
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    names
        .iter()
        .take(n)
        .map(|p| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json");
            v.to_string()
        })
        .collect()
}

#[test]
fn normalizes_a_file_to_ndjson() {
    let out = run(
        &[
            "normalize",
            fixture("user.session.start--success-proxy.json").to_str().unwrap(),
            "--tenant",
            "acme.okta.com",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let docs = docs(&out);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["event"]["action"], "user.session.start");
    assert_eq!(docs[0]["organization"]["id"], "acme.okta.com");
    assert!(docs[0]["event"]["ingested"].is_string(), "the host stamps the ingest time");
    assert!(stderr(&out).contains("1 events from a single LogEvent: 1 normalized, 0 failed"), "{}", stderr(&out));
}

#[test]
fn reads_an_api_page_from_stdin_and_writes_to_a_file() {
    let events = fixture_events(20);
    let page = format!("[{}]", events.join(",\n"));
    let dir = temp_dir("api-page");
    let out_path = dir.join("out.ndjson");
    let out = run(&["normalize", "-", "--output", out_path.to_str().unwrap()], Some(page.as_bytes()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "--output leaves stdout empty");
    let written = std::fs::read_to_string(&out_path).expect("output written");
    assert_eq!(written.lines().count(), 20);
    assert!(stderr(&out).contains("20 events from an API page"), "{}", stderr(&out));
}

#[test]
fn malformed_lines_are_reported_kept_and_the_run_continues() {
    let events = fixture_events(3);
    let input = format!("{}\n{{\"uuid\": \"broken\",\n{}\n\n{}\n", events[0], events[1], events[2]);
    let out = run(&["normalize"], Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(1), "a failed event makes the exit status 1");
    let err = stderr(&out);
    assert!(err.contains("line 2: D001 invalid JSON at line 1 column 18: EOF while parsing"), "{err}");
    assert!(err.contains("4 events from NDJSON: 3 normalized, 1 failed"), "{err}");
    let docs = docs(&out);
    assert_eq!(docs.len(), 4);
    assert_eq!(docs[1]["event"]["kind"], "pipeline_error");
    assert_eq!(docs[1]["event"]["original"], "{\"uuid\": \"broken\",");
    assert_eq!(docs[1]["error"]["code"], "D001");
    assert_eq!(docs[3]["event"]["kind"], "event");
}

#[test]
fn an_empty_file_gives_no_output_and_success() {
    let dir = temp_dir("empty");
    let path = dir.join("empty.json");
    std::fs::write(&path, "\n\n").expect("write");
    let out = run(&["normalize", path.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("0 events from empty input"), "{}", stderr(&out));
}

#[test]
fn large_ndjson_is_batched_and_line_numbers_stay_right() {
    let events = fixture_events(50);
    let mut input = String::new();
    for i in 0..2500 {
        if i == 1999 {
            input.push_str("not json at all\n");
        } else {
            input.push_str(&events[i % events.len()]);
            input.push('\n');
        }
    }
    let out = run(&["normalize", "--batch-size", "300"], Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(docs(&out).len(), 2500);
    assert!(stderr(&out).contains("line 2000: D001"), "{}", stderr(&out));
}

#[test]
fn secrets_are_redacted_even_in_event_original() {
    let path = fixture("app.oauth2.as.token.grant--client-credentials.json");
    let raw = std::fs::read_to_string(&path).expect("fixture");
    let secret =
        serde_json::from_str::<serde_json::Value>(&raw).expect("json")["debugContext"]["debugData"]["clientSecret"]
            .as_str()
            .expect("the fixture logs a client secret")
            .to_owned();
    let out = run(&["normalize", path.to_str().unwrap(), "--preserve-original", "--diagnostics"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&secret), "the client secret leaked into the output");
    assert!(!stderr(&out).contains(&secret), "the client secret leaked into stderr");
    let docs = docs(&out);
    assert!(docs[0]["event"]["original"].as_str().expect("original kept").contains("[REDACTED]"));
    assert!(stderr(&out).contains("N010"), "{}", stderr(&out));
    // Opting out keeps it, on purpose.
    let out = run(&["normalize", path.to_str().unwrap(), "--keep-secrets"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&secret));
}

#[test]
fn a_named_format_that_does_not_match_is_a_usage_error() {
    let out = run(&["normalize", "--format", "event-hook"], Some(b"[{\"uuid\":\"a\"}]"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("named an event-hook delivery but looks like an API page"), "{err}");
    assert!(err.contains("B001"), "{err}");
}

#[test]
fn a_missing_file_says_which() {
    let out = run(&["normalize", "/nonexistent/okta.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("while opening /nonexistent/okta.json"), "{}", stderr(&out));
}

#[test]
fn an_empty_tenant_is_refused_clearly() {
    let out = run(&["normalize", "--tenant", " "], Some(b"{}"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tenant id is empty"), "{}", stderr(&out));
}

#[test]
fn component_subcommand_writes_the_component() {
    let dir = temp_dir("component");
    let path = dir.join("okta-normalizer.wasm");
    let out = run(&["component", "--output", path.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&path).expect("written");
    assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00", "a WebAssembly component header");
    // And the host can run a component from a file.
    let out = run(
        &[
            "--component",
            path.to_str().unwrap(),
            "normalize",
            fixture("user.lifecycle.create--api-provisioned.json").to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(docs(&out)[0]["event"]["action"], "user.lifecycle.create");
}

#[test]
fn several_files_are_read_one_by_one() {
    let a = fixture("user.session.start--success-proxy.json");
    let b = fixture("user.lifecycle.create--api-provisioned.json");
    let dir = temp_dir("several");
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{ nope").expect("write");
    let out = run(&["normalize", a.to_str().unwrap(), b.to_str().unwrap(), broken.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(docs(&out).len(), 3);
    let err = stderr(&out);
    assert!(err.contains(&format!("{}: line 1: D001", broken.display())), "{err}");
    assert!(err.contains("3 events from a single LogEvent: 2 normalized, 1 failed"), "{err}");
}

/// `poll` killed with SIGKILL in the middle of batches, several times, then run to the end:
/// every event reaches the file sink exactly once.
#[test]
fn poll_survives_sigkill_mid_batch() {
    use okta_normalizer_host::sim::{Chaos, SimConfig, Simulator, TokenStatus};
    use std::collections::HashMap;
    use std::time::Duration;

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let token = "00kill-test-token-abcdef";
    let sim = rt
        .block_on(Simulator::start(
            SimConfig {
                tokens: vec![(token.to_owned(), TokenStatus::Valid)],
                chaos: Chaos { latency: Duration::from_millis(40), ..Chaos::default() },
                ..SimConfig::default()
            },
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("simulator starts");
    let mut template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("user.session.start--success-proxy.json")).expect("fixture"))
            .expect("json");
    let now = jiff::Timestamp::now().as_millisecond();
    let events: Vec<serde_json::Value> = (0..3000)
        .map(|i| {
            template["uuid"] = format!("kill-{i:05}").into();
            template["published"] =
                jiff::Timestamp::from_millisecond(now - 3_000_000 + i * 1000).expect("valid").to_string().into();
            template.clone()
        })
        .collect();
    sim.push(&events, Duration::ZERO);

    let dir = temp_dir("sigkill");
    std::fs::write(dir.join("token"), token).expect("token");
    let config = format!(
        "[store]\npath = {:?}\n\n[[org]]\nname = \"acme\"\nurl = {:?}\npage_limit = 100\n\n[org.auth]\ntype = \"ssws\"\n\
         token_file = {:?}\n\n[[org.sinks]]\ntype = \"file\"\ndir = {:?}\nmax_bytes = 150000\n",
        dir.join("store.db"),
        sim.base_url(),
        dir.join("token"),
        dir.join("events")
    );
    std::fs::write(dir.join("poll.toml"), config).expect("config");
    let poll = || {
        Command::new(env!("CARGO_BIN_EXE_okta-normalizer"))
            .args(["poll", "--once", "--config", dir.join("poll.toml").to_str().unwrap()])
            .env("OKTA_NORMALIZER_CACHE_DIR", root().join("target/wasmtime-cache"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("poll starts")
    };
    let mut interrupted = 0;
    for round in 0..5u64 {
        let mut child = poll();
        std::thread::sleep(Duration::from_millis(400 + round * 170));
        if child.try_wait().expect("status").is_none() {
            interrupted += 1;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
    assert!(interrupted >= 2, "the poller was killed while running in {interrupted} rounds; the test needs it mid-run");
    let out = poll().wait_with_output().expect("final run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut counts: HashMap<String, usize> = HashMap::new();
    for entry in std::fs::read_dir(dir.join("events")).expect("events") {
        for line in std::fs::read_to_string(entry.expect("entry").path()).expect("read").lines() {
            let doc: serde_json::Value = serde_json::from_str(line).expect("complete JSON lines only");
            *counts.entry(doc["event"]["id"].as_str().expect("id").to_owned()).or_default() += 1;
        }
    }
    let lost = events.iter().filter(|e| !counts.contains_key(e["uuid"].as_str().expect("uuid"))).count();
    let duplicated = counts.values().filter(|n| **n > 1).count();
    assert_eq!((lost, duplicated, counts.len()), (0, 0, 3000), "lost, duplicated, distinct");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(token), "the token never reaches the logs");
}
