//! The `okta-normalizer` command as a user runs it: files, stdin, malformed lines, empty input,
//! exit codes and messages; `poll` and `serve` killed with SIGKILL and restarted; and `serve`
//! reading Log Streaming from SQS behind a local AWS emulator (moto).
//!
//! This is the host's own test binary because only here does cargo provide the built executable
//! (`CARGO_BIN_EXE_okta-normalizer`); everything else lives in `tests/all`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// Every JSON line of the output.
fn all_docs(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("output line is not JSON ({e}): {l}")))
        .collect()
}

/// Whether a document is an alert or signal the rules raised, not an Okta event (some Okta events
/// are `event.kind: alert` themselves).
fn is_alert(doc: &serde_json::Value) -> bool {
    doc["okta"]["alert"].is_object()
}

/// The output lines that are events, not alerts or signals the built-in rules raised.
fn docs(out: &Output) -> Vec<serde_json::Value> {
    all_docs(out).into_iter().filter(|d| !is_alert(d)).collect()
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
fn web_without_a_built_page_says_how_to_build_it() {
    let dir = temp_dir("web-unbuilt");
    let out = run(&["web", "--listen", "127.0.0.1:0", "--dir", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("the playground is not built in"), "{}", stderr(&out));
    assert!(stderr(&out).contains("./scripts/web"), "{}", stderr(&out));
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
    let events = written.lines().filter(|l| !is_alert(&serde_json::from_str(l).expect("JSON")));
    assert_eq!(events.count(), 20);
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
/// A rule of the user's own, with a test inside it.
const CUSTOM_RULE: &str = r#"title: Sign-in from the lab network
id: 6a0d6a8e-5a3f-4c1e-9a53-0b3d54f1c0aa
name: acme_lab_sign_in
status: experimental
description: Someone signed in from the lab range, which only test accounts should use.
author: acme
date: 2026-11-22
tags: [attack.initial-access, attack.t1078]
logsource: {product: okta, service: okta}
detection:
  selection:
    eventType: user.session.start
    client.ipAddress|cidr: 198.51.100.0/24
  condition: selection
level: low
x-okta:
  title: "Lab sign-in by {actor.alternateId}"
  tests:
    - name: from the lab
      event: {eventType: user.session.start, client: {ipAddress: 198.51.100.23}, actor: {alternateId: a@acme.com}}
      expect: {fires: 1, title: "Lab sign-in by a@acme.com"}
    - name: from elsewhere
      event: {eventType: user.session.start, client: {ipAddress: 203.0.113.5}}
      expect: {fires: 0}
"#;

#[test]
fn rules_list_shows_the_builtin_pack() {
    let out = run(&["rules", "list", "--json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let rules = docs(&out);
    assert!(rules.len() >= 60, "the built-in pack has {} rules", rules.len());
    let tactics: std::collections::BTreeSet<String> = rules
        .iter()
        .flat_map(|r| r["tactics"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    for tactic in
        ["Initial Access", "Credential Access", "Persistence", "Privilege Escalation", "Defense Evasion", "Impact"]
    {
        assert!(tactics.contains(tactic), "no rule for {tactic}: {tactics:?}");
    }
    let table = run(&["rules", "list"], None);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("NAME"), "a table with a header");
}

/// `normalize --directory FILE` enriches events from a snapshot, as `poll` does from a synced
/// directory; a snapshot it cannot read is an error that names the file and what is wrong.
#[test]
fn normalize_enriches_from_a_directory_snapshot() {
    let event = fixture("user.session.start--success.json");
    let dir = temp_dir("normalize-directory");
    let snapshot = dir.join("directory.json");
    std::fs::write(
        &snapshot,
        r#"{"users": [{"id": "00uy0BQuEwUby3aaFMqV", "status": "ACTIVE",
                       "profile": {"login": "dana.whitfield@example.com", "email": "dana@example.com", "department": "Finance"}},
                      {"status": "ACTIVE"}],
            "groups": [{"id": "00g1", "profile": {"name": "Finance"}}],
            "memberships": {"00g1": ["00uy0BQuEwUby3aaFMqV"]}}"#,
    )
    .expect("snapshot");
    let args = |extra: &[&str]| {
        let mut a = vec!["normalize", event.to_str().unwrap(), "--tenant", "acme.okta.com"];
        a.extend_from_slice(extra);
        a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    };
    let with: Vec<String> = args(&["--directory", snapshot.to_str().unwrap()]);
    let out = run(&with.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(!out.status.success(), "a user without an id makes the snapshot unreadable: {}", stderr(&out));
    assert!(stderr(&out).contains("users[1] has no \"id\" string"), "{}", stderr(&out));
    assert!(stderr(&out).contains("directory.json"), "the message names the file: {}", stderr(&out));

    let text = std::fs::read_to_string(&snapshot)
        .expect("snapshot")
        .replace(",\n                      {\"status\": \"ACTIVE\"}", "");
    std::fs::write(&snapshot, text).expect("snapshot");
    let out = run(&with.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 users, 1 groups, 0 devices"), "{}", stderr(&out));
    let doc = &docs(&out)[0];
    assert_eq!(doc["okta"]["enrichment"]["actor"]["known"], true, "{doc}");
    assert_eq!(doc["okta"]["enrichment"]["actor"]["department"], "Finance");
    assert_eq!(doc["user"]["group"]["name"], serde_json::json!(["Finance"]));

    let without = run(&args(&[]).iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(docs(&without)[0]["okta"].get("enrichment").is_none(), "no directory, no enrichment");

    std::fs::write(&snapshot, r#"{"people": []}"#).expect("snapshot");
    let out = run(&with.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(r#"unknown key "people""#), "{}", stderr(&out));
    std::fs::write(&snapshot, "{").expect("snapshot");
    let out = run(&with.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert!(stderr(&out).contains("the directory snapshot is not JSON"), "{}", stderr(&out));
}

#[test]
fn rules_test_runs_the_builtin_tests_and_a_users_directory() {
    let out = run(&["rules", "test"], None);
    let err = stderr(&out);
    assert!(out.status.success(), "{}\n{err}", String::from_utf8_lossy(&out.stdout));
    assert!(err.contains(" failed") && err.contains(", 0 failed"), "{err}");

    let dir = temp_dir("rules-test");
    std::fs::write(dir.join("lab.yml"), CUSTOM_RULE).expect("rule file");
    let out = run(&["rules", "test", dir.to_str().unwrap(), "-v"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    // Two tests, each also run with lowercased keys.
    assert!(stderr(&out).contains("4 tests of 1 rules: 4 passed, 0 failed"), "{}", stderr(&out));

    let failing = CUSTOM_RULE.replace("expect: {fires: 0}", "expect: {fires: 1}");
    std::fs::write(dir.join("lab.yml"), failing).expect("rule file");
    let out = run(&["rules", "test", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL"), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn rules_lint_points_at_the_line_and_says_what_is_wrong() {
    let dir = temp_dir("rules-lint");
    let good = dir.join("good.yml");
    std::fs::write(&good, CUSTOM_RULE).expect("rule file");
    let out = run(&["rules", "lint", good.to_str().unwrap()], None);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));

    let bad = dir.join("bad.yml");
    std::fs::write(&bad, CUSTOM_RULE.replace("client.ipAddress|cidr", "client.ipAddress|cdir")).expect("rule file");
    let out = run(&["rules", "lint", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = CUSTOM_RULE.lines().position(|l| l.contains("|cidr")).expect("the line") + 1;
    assert!(text.contains(&format!("bad.yml:{line}:")), "the problem's line ({line}) is given: {text}");
    assert!(text.contains("cdir"), "names the unknown modifier: {text}");
}

#[test]
fn normalize_runs_the_pack_and_a_users_rules() {
    let dir = temp_dir("normalize-rules");
    std::fs::write(dir.join("lab.yml"), CUSTOM_RULE).expect("rule file");
    let input = fixture("user.session.start--success.json");
    let out = run(&["normalize", input.to_str().unwrap(), "--rules", dir.to_str().unwrap(), "--alerts-only"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts = all_docs(&out);
    assert!(alerts.iter().all(is_alert), "--alerts-only");
    let lab: Vec<_> = alerts.iter().filter(|a| a["rule"]["name"] == "Sign-in from the lab network").collect();
    assert_eq!(lab.len(), 1, "{alerts:?}");
    assert_eq!(lab[0]["event"]["kind"], "alert");
    assert_eq!(lab[0]["threat"]["tactic"]["name"][0], "Initial Access");

    // A broken rule stops the run with every problem and its place.
    std::fs::write(dir.join("broken.yml"), CUSTOM_RULE.replace("condition: selection", "condition: selectoin"))
        .expect("rule file");
    let out = run(&["normalize", input.to_str().unwrap(), "--rules", dir.to_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("broken.yml:") && stderr(&out).contains("selectoin"), "{}", stderr(&out));
}

#[test]
fn poll_survives_sigkill_mid_batch() {
    use okta_normalizer_host::sim::{Chaos, SimConfig, Simulator, TokenStatus};
    use std::collections::HashMap;

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
    let mut alerts: HashMap<String, usize> = HashMap::new();
    for entry in std::fs::read_dir(dir.join("events")).expect("events") {
        for line in std::fs::read_to_string(entry.expect("entry").path()).expect("read").lines() {
            let doc: serde_json::Value = serde_json::from_str(line).expect("complete JSON lines only");
            let id = doc["event"]["id"].as_str().expect("id").to_owned();
            if is_alert(&doc) {
                *alerts.entry(id).or_default() += 1;
            } else {
                *counts.entry(id).or_default() += 1;
            }
        }
    }
    let lost = events.iter().filter(|e| !counts.contains_key(e["uuid"].as_str().expect("uuid"))).count();
    let duplicated = counts.values().filter(|n| **n > 1).count();
    assert_eq!((lost, duplicated, counts.len()), (0, 0, 3000), "lost, duplicated, distinct");
    // Detection state is committed with each batch, so replays after a kill raise no alert twice.
    let repeated: Vec<_> = alerts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "alerts written more than once across restarts: {repeated:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(token), "the token never reaches the logs");
}

// `serve`, as a process: killed with SIGKILL and restarted, and reading SQS behind moto.

const HOOK_SECRET: &str = "Bearer cli-hook-secret-0123456789abcdef";
const EVENTS_PER_DELIVERY: usize = 50;

/// A child process, killed (SIGKILL) and reaped when dropped, so that a failing test leaves
/// nothing running. Its stdout and stderr go to a log file, quoted when something goes wrong.
struct ChildGuard {
    child: std::process::Child,
    what: &'static str,
    log: PathBuf,
}

impl ChildGuard {
    fn spawn(mut cmd: Command, what: &'static str, log: &Path) -> std::io::Result<ChildGuard> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let child = cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn()?;
        Ok(ChildGuard { child, what, log: log.to_path_buf() })
    }

    /// The end of the log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("--- the end of {} ({}) ---\n{tail}", self.log.display(), self.what)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails the test, with the log, if the process has ended.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("child status") {
            panic!("{} exited unexpectedly ({status})\n{}", self.what, self.log_tail());
        }
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM (a graceful stop), then waits for the exit, at most `limit`.
    fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop within {limit:?} of SIGTERM\n{}",
                self.what,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Does nothing to a child already reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

fn serve_command(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_okta-normalizer"));
    cmd.args(["serve", "--status-secs", "1", "--config", config.to_str().expect("utf-8 path")])
        .env("OKTA_NORMALIZER_CACHE_DIR", root().join("target/wasmtime-cache"))
        .env_remove("OKTA_NORMALIZER_TENANT");
    cmd
}

fn start_serve(cmd: Command, what: &'static str, log: &Path) -> ChildGuard {
    ChildGuard::spawn(cmd, what, log).unwrap_or_else(|e| panic!("{what} could not start: {e}"))
}

/// Writes `<dir>/<name>`: a `serve` config for the push-only org `acme` (an event hook whose
/// secret is in a file, and no `[org.auth]`), listening on `port`, with `sink` as its only
/// `[[org.sinks]]` table.
fn hook_config(dir: &Path, name: &str, port: u16, sink: &str) -> PathBuf {
    std::fs::write(dir.join("hook-secret"), HOOK_SECRET).expect("hook secret");
    let text = format!(
        "[store]\npath = {store:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\ndead_letter_dir = {dead:?}\n\n\
         [[org]]\nname = \"acme\"\nurl = \"https://acme.okta.com\"\nretry_base_ms = 5\n\n\
         [org.event_hook]\nheader = \"Authorization\"\nsecret_file = {hook:?}\n\n[[org.sinks]]\n{sink}",
        store = dir.join("store.db"),
        dead = dir.join("dead"),
        hook = dir.join("hook-secret"),
    );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config");
    path
}

/// A file sink in `<dir>/events`, small enough to rotate a few times.
fn file_sink(dir: &Path) -> String {
    format!("type = \"file\"\ndir = {:?}\nmax_bytes = 200000\n", dir.join("events"))
}

/// Realistic LogEvents: the golden inputs in turn, each with the uuid `<tag>-<i>` and a
/// `published` time in the last ten minutes.
fn log_events(tag: &str, n: usize) -> Vec<serde_json::Value> {
    let templates = fixture_events(usize::MAX);
    let now = jiff::Timestamp::now().as_millisecond();
    (0..n)
        .map(|i| {
            let mut e: serde_json::Value = serde_json::from_str(&templates[i % templates.len()]).expect("json");
            e["uuid"] = format!("{tag}-{i:06}").into();
            let published =
                now - 600_000 + i64::try_from(i).expect("small") * 600_000 / i64::try_from(n).expect("small");
            e["published"] = jiff::Timestamp::from_millisecond(published).expect("valid").to_string().into();
            e
        })
        .collect()
}

fn uuids(events: &[serde_json::Value]) -> std::collections::HashSet<String> {
    events.iter().map(|e| e["uuid"].as_str().expect("uuid").to_owned()).collect()
}

/// An Okta event hook delivery of `events`.
fn hook_delivery(events: &[serde_json::Value]) -> String {
    serde_json::json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://acme.okta.com/api/v1/eventHooks/who7hphp39JoHLni81d7",
        "eventId": format!("{:032x}", fastrand::u128(..)),
        "eventTime": jiff::Timestamp::now().to_string(),
        "contentType": "application/json",
        "data": { "events": events },
    })
    .to_string()
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client")
}

/// Waits until `serve` answers `/healthz` on `port`, at most 60 s.
async fn wait_until_healthy(serve: &mut ChildGuard, port: u16) {
    let client = http_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        serve.assert_running();
        let answer = client.get(format!("http://127.0.0.1:{port}/healthz")).send().await;
        if answer.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "serve did not answer /healthz within 60 s\n{}", serve.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Complete lines in the sink's files (cheap: no JSON is read).
fn sink_lines(events_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(events_dir) else { return 0 };
    entries
        .map(|e| std::fs::read(e.expect("entry").path()).expect("readable").iter().filter(|b| **b == b'\n').count())
        .sum()
}

/// Bytes in the sink's files.
fn sink_bytes(events_dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(events_dir) else { return 0 };
    entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()
}

/// The documents in the sink. While `serve` runs, a file's last line may be half written:
/// unless `complete`, such lines are skipped; after a stop, every line must be a document.
fn sink_docs(events_dir: &Path, complete: bool) -> Vec<serde_json::Value> {
    let mut docs = Vec::new();
    let Ok(entries) = std::fs::read_dir(events_dir) else { return docs };
    for entry in entries {
        let path = entry.expect("entry").path();
        for line in std::fs::read_to_string(&path).expect("readable").lines() {
            match serde_json::from_str(line) {
                Ok(doc) => docs.push(doc),
                Err(e) => assert!(!complete, "{}: a line is not a JSON document ({e}): {line}", path.display()),
            }
        }
    }
    docs
}

fn counts_by_id(docs: &[serde_json::Value]) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for doc in docs.iter().filter(|d| !is_alert(d)) {
        *counts.entry(doc["event"]["id"].as_str().expect("every document has event.id").to_owned()).or_default() += 1;
    }
    counts
}

/// Waits until the sink holds every uuid of `expected`, at most `limit`, while `serve` runs.
async fn wait_for_sink(
    serve: &mut ChildGuard,
    events_dir: &Path,
    expected: &std::collections::HashSet<String>,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    loop {
        serve.assert_running();
        // Reading JSON is slow in a debug build: only once there are enough lines.
        let lines = sink_lines(events_dir);
        if lines >= expected.len() {
            let counts = counts_by_id(&sink_docs(events_dir, false));
            if expected.iter().all(|u| counts.contains_key(u)) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the sink holds {lines} lines, not every one of the {} events, after {limit:?}\n{}",
            expected.len(),
            serve.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts that the sink holds each uuid of `expected` once and nothing else; returns its documents.
fn assert_each_once(events_dir: &Path, expected: &std::collections::HashSet<String>) -> Vec<serde_json::Value> {
    let docs = sink_docs(events_dir, true);
    let counts = counts_by_id(&docs);
    let mut missing: Vec<&String> = expected.iter().filter(|u| !counts.contains_key(*u)).collect();
    let mut duplicated: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    let mut unexpected: Vec<&String> = counts.keys().filter(|u| !expected.contains(*u)).collect();
    missing.sort();
    duplicated.sort();
    unexpected.sort();
    assert!(missing.is_empty(), "{} events lost, e.g. {:?}", missing.len(), &missing[..missing.len().min(5)]);
    assert!(
        duplicated.is_empty(),
        "{} events written more than once, e.g. {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(5)]
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected documents, e.g. {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(5)]
    );
    let (alerts, events): (Vec<_>, Vec<_>) = docs.iter().partition(|d| is_alert(d));
    assert_eq!(events.len(), expected.len());
    let mut alert_ids: Vec<&str> = alerts.iter().map(|a| a["event"]["id"].as_str().expect("alert id")).collect();
    alert_ids.sort_unstable();
    let before = alert_ids.len();
    alert_ids.dedup();
    assert_eq!(alert_ids.len(), before, "an alert was written more than once");
    docs
}

/// The documents are normalized Okta events of org `acme`.
fn assert_okta_documents(docs: &[serde_json::Value]) {
    for doc in docs {
        if is_alert(doc) {
            assert_eq!(doc["organization"]["id"], "acme", "alerts carry the org too: {doc}");
            continue;
        }
        assert_eq!(doc["event"]["module"], "okta", "{doc}");
        assert_eq!(doc["event"]["dataset"], "okta.system", "{doc}");
        assert_ne!(doc["event"]["kind"], "pipeline_error", "{doc}");
        assert_eq!(doc["organization"]["id"], "acme", "{doc}");
        assert!(doc["@timestamp"].is_string() && doc["event"]["ingested"].is_string(), "{doc}");
    }
}

/// Spooled deliveries (rows, bytes) in the store under `dir` (SQLite in WAL mode: readable while
/// `serve` runs).
fn spool_size(dir: &Path) -> (u64, u64) {
    okta_normalizer_host::store::Store::open(&dir.join("store.db"), 10)
        .expect("store")
        .spool_size()
        .expect("spool size")
}

/// Waits until the spool is empty, at most 30 s, while `serve` runs: deliveries whose events are
/// all duplicates may still be in it after the sink holds every event.
async fn wait_for_empty_spool(serve: &mut ChildGuard, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        serve.assert_running();
        let size = spool_size(dir);
        if size.0 == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the spool still holds {size:?} (rows, bytes)\n{}", serve.log_tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `serve` answers 200 only once a delivery is in its spool: killed with SIGKILL right after the
/// last of 20 acknowledgements, while its only sink (an OpenSearch nobody listens for) has
/// taken nothing, and restarted with a working file sink, it writes every spooled event exactly
/// once and empties the spool.
#[test]
fn serve_delivers_spooled_events_after_sigkill() {
    const DELIVERIES: usize = 20;
    let started = Instant::now();
    test_runtime().block_on(async {
        let dir = temp_dir("serve-spool-sigkill");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/hooks/acme");
        let unreachable = format!(
            "type = \"opensearch\"\nurl = \"http://127.0.0.1:9\"\ndead_letter = {:?}\n",
            dir.join("rejected.ndjson")
        );
        let config = hook_config(&dir, "serve-unreachable-sink.toml", port, &unreachable);
        let mut serve = start_serve(serve_command(&config), "serve (unreachable sink)", &dir.join("serve-1.log"));
        wait_until_healthy(&mut serve, port).await;

        let events = log_events("spooled", DELIVERIES * EVENTS_PER_DELIVERY);
        let client = http_client();
        for (i, chunk) in events.chunks(EVENTS_PER_DELIVERY).enumerate() {
            let response =
                client.post(&url).header("authorization", HOOK_SECRET).body(hook_delivery(chunk)).send().await;
            let response = response.unwrap_or_else(|e| panic!("delivery {i}: {e}\n{}", serve.log_tail()));
            let status = response.status();
            assert_eq!(
                status,
                200,
                "delivery {i}: {}\n{}",
                response.text().await.unwrap_or_default(),
                serve.log_tail()
            );
        }
        serve.kill();
        // Nothing reached a sink, so nothing left the spool.
        assert_eq!(spool_size(&dir).0, DELIVERIES as u64, "every acknowledged delivery is in the spool");
        assert!(!dir.join("events").exists());

        let config = hook_config(&dir, "serve-file-sink.toml", port, &file_sink(&dir));
        let mut serve = start_serve(serve_command(&config), "serve (file sink)", &dir.join("serve-2.log"));
        let expected = uuids(&events);
        wait_for_sink(&mut serve, &dir.join("events"), &expected, Duration::from_secs(60)).await;
        wait_for_empty_spool(&mut serve, &dir).await;
        let status = serve.terminate(Duration::from_secs(30));
        assert!(status.success(), "serve stopped with {status}\n{}", serve.log_tail());
        assert!(
            serve.log_text().contains("Writing deliveries spooled before the last stop"),
            "the restart found the spool\n{}",
            serve.log_tail()
        );
        assert_okta_documents(&assert_each_once(&dir.join("events"), &expected));
        assert_eq!(spool_size(&dir), (0, 0), "the spool is empty once written");
    });
    eprintln!("serve_delivers_spooled_events_after_sigkill: {:.1} s", started.elapsed().as_secs_f64());
}

/// With a working file sink, `serve` is killed with SIGKILL soon after its 100th acknowledgement
/// (as the sink's files grow), while 8 senders still have deliveries in flight; restarted, it is
/// sent again every delivery that got no 200 (as Okta retries) and some that did (duplicates).
/// Every event reaches the sink exactly once: what was acknowledged survived the kill, output
/// written but not committed was truncated on restart, and the duplicates were dropped.
#[test]
fn serve_sigkill_right_after_acks_with_a_working_sink_loses_and_duplicates_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    const DELIVERIES: usize = 300;
    const SENDERS: usize = 8;
    const KILL_AFTER: usize = 100;
    const KILL_BY: usize = 200;
    let started = Instant::now();
    test_runtime().block_on(async {
        let dir = temp_dir("serve-ack-sigkill");
        let port = free_port();
        let url = Arc::new(format!("http://127.0.0.1:{port}/hooks/acme"));
        let config = hook_config(&dir, "serve.toml", port, &file_sink(&dir));
        let mut serve = start_serve(serve_command(&config), "serve (before the kill)", &dir.join("serve-1.log"));
        wait_until_healthy(&mut serve, port).await;

        let events = log_events("acked", DELIVERIES * EVENTS_PER_DELIVERY);
        // One body per delivery, sent byte for byte the same when retried (same eventId).
        let bodies: Arc<Vec<String>> = Arc::new(events.chunks(EVENTS_PER_DELIVERY).map(hook_delivery).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let reached = Arc::new(tokio::sync::Notify::new());
        let client = http_client();
        let mut senders = Vec::new();
        for _ in 0..SENDERS {
            let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
            let (next, in_flight, stop, acked, reached) =
                (next.clone(), in_flight.clone(), stop.clone(), acked.clone(), reached.clone());
            senders.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= DELIVERIES {
                        break;
                    }
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let request = client.post(url.as_str()).header("authorization", HOOK_SECRET).body(bodies[i].clone());
                    let response = request.send().await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    if response.is_ok_and(|r| r.status() == 200) {
                        let mut acked = acked.lock().expect("acked");
                        acked.push(i);
                        if acked.len() == KILL_AFTER {
                            reached.notify_one();
                        }
                    }
                }
            }));
        }
        let enough = tokio::time::timeout(Duration::from_secs(60), reached.notified()).await;
        assert!(enough.is_ok(), "{KILL_AFTER} deliveries were not acknowledged within 60 s\n{}", serve.log_tail());
        // The kill comes when the sink's files next grow: most likely between a batch's write and
        // its commit, so that the restart has output to roll back. But not later than 2 s, nor
        // than the 200th acknowledgement, so that deliveries are still in flight and to be sent.
        let sink_size = sink_bytes(&dir.join("events"));
        let deadline = Instant::now() + Duration::from_secs(2);
        while sink_bytes(&dir.join("events")) == sink_size
            && Instant::now() < deadline
            && acked.lock().expect("acked").len() < KILL_BY
        {
            std::thread::sleep(Duration::from_micros(500));
        }
        let flying = in_flight.load(Ordering::SeqCst);
        serve.kill();
        stop.store(true, Ordering::SeqCst);
        for sender in senders {
            tokio::time::timeout(Duration::from_secs(30), sender).await.expect("the senders end").expect("sender");
        }
        let acked: std::collections::BTreeSet<usize> = acked.lock().expect("acked").iter().copied().collect();
        assert!(flying > 0, "requests were in flight at the kill");
        assert!(acked.len() < DELIVERIES, "the kill came before every delivery was acknowledged");
        let wrote_before = sink_lines(&dir.join("events"));

        let mut serve = start_serve(serve_command(&config), "serve (after the kill)", &dir.join("serve-2.log"));
        wait_until_healthy(&mut serve, port).await;
        // Okta sends again what got no 200; and some acknowledged deliveries come twice anyway.
        let again: Vec<usize> =
            (0..DELIVERIES).filter(|i| !acked.contains(i) || i % 5 == 0).collect();
        for &i in &again {
            let response = client.post(url.as_str()).header("authorization", HOOK_SECRET).body(bodies[i].clone()).send().await;
            let response = response.unwrap_or_else(|e| panic!("delivery {i} again: {e}\n{}", serve.log_tail()));
            assert_eq!(response.status(), 200, "delivery {i} again\n{}", serve.log_tail());
        }
        let expected = uuids(&events);
        wait_for_sink(&mut serve, &dir.join("events"), &expected, Duration::from_secs(60)).await;
        wait_for_empty_spool(&mut serve, &dir).await;
        let status = serve.terminate(Duration::from_secs(30));
        assert!(status.success(), "serve stopped with {status}\n{}", serve.log_tail());
        let rolled_back = serve.log_text().contains("Rolling back writes that were never committed");
        assert_okta_documents(&assert_each_once(&dir.join("events"), &expected));
        assert_eq!(spool_size(&dir), (0, 0), "the spool is empty once written");
        eprintln!(
            "serve killed after {} of {DELIVERIES} acknowledgements with {flying} requests in flight and {wrote_before} \
             lines in the sink; {} deliveries sent again; uncommitted output rolled back on restart: {rolled_back}",
            acked.len(),
            again.len()
        );
    });
    eprintln!(
        "serve_sigkill_right_after_acks_with_a_working_sink_loses_and_duplicates_nothing: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// moto's server (a local AWS), killed when dropped.
struct Moto {
    process: ChildGuard,
    url: String,
}

impl Moto {
    /// Starts `moto_server` on a free port and waits until it answers HTTP, at most 60 s.
    async fn start(dir: &Path) -> Moto {
        let port = free_port();
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let mut process = match ChildGuard::spawn(cmd, "moto_server", &dir.join("moto.log")) {
            Ok(process) => process,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "moto_server is not on PATH; this test needs the local AWS emulator: pip install 'moto[server]==5.2.5'"
            ),
            Err(e) => panic!("moto_server could not start: {e}"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let client = http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        // Any HTTP answer means it is up.
        while client.get(format!("{url}/")).send().await.is_err() {
            process.assert_running();
            assert!(Instant::now() < deadline, "moto_server did not answer within 60 s\n{}", process.log_tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto { process, url }
    }
}

/// The queue's visible and in-flight message counts.
/// `serve` with one push-only org reading `queue_url` from moto (long-poll wait 1 s), a file sink
/// in `dir`, and `extra` config sections before the org.
fn start_sqs_serve(dir: &Path, moto: &Moto, queue_url: &str, extra: &str, what: &'static str) -> ChildGuard {
    let text = format!(
        "[store]\npath = {store:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\ndead_letter_dir = {dead:?}\n\n{extra}\
         [[org]]\nname = \"acme\"\nurl = \"https://acme.okta.com\"\nretry_base_ms = 5\n\n\
         [org.eventbridge]\nqueue_url = {queue_url:?}\nendpoint_url = {endpoint:?}\nregion = \"us-east-1\"\n\
         wait_secs = 1\n\n[[org.sinks]]\n{sink}",
        store = dir.join("store.db"),
        port = free_port(),
        dead = dir.join("dead"),
        endpoint = moto.url,
        sink = file_sink(dir),
    );
    let config = dir.join("serve.toml");
    std::fs::write(&config, text).expect("config");
    let mut cmd = serve_command(&config);
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    start_serve(cmd, what, &dir.join("serve.log"))
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(Name::ApproximateNumberOfMessages)
        .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    let get = |name: Name| {
        out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).expect("the attribute is a number")
    };
    (get(Name::ApproximateNumberOfMessages), get(Name::ApproximateNumberOfMessagesNotVisible))
}

/// Okta Log Streaming the way AWS delivers it to an SQS target, against a real local AWS (moto):
/// the simulator's stream calls EventBridge `PutEvents` (with duplicates), a rule on the bus
/// sends each envelope to an SQS queue, and `serve` (a push-only org with only `queue_url`)
/// long-polls the queue: every event is written exactly once, as an Okta ECS document, and every
/// message, duplicates included, is deleted from the queue once written.
#[test]
fn serve_reads_log_streaming_from_sqs_through_moto_eventbridge() {
    use aws_sdk_eventbridge::types::Target;
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_sqs::types::QueueAttributeName;
    use okta_normalizer_host::sim::{PushChaos, SimConfig, Simulator, StreamTarget, TokenStatus};

    // moto spends about 0.2 s of CPU on each event PutEvents routes to a target (it rebuilds the
    // envelope through eight JSONPath expressions), so the stream is kept short.
    const EVENTS: usize = 60;
    let started = Instant::now();
    test_runtime().block_on(async {
        let dir = temp_dir("serve-sqs-moto");
        let moto = Moto::start(&dir).await;
        let credentials = Credentials::new("test", "test", None, None, "test");
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&moto.url)
                .credentials_provider(credentials.clone())
                .build(),
        );
        let eventbridge = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&moto.url)
                .credentials_provider(credentials)
                .build(),
        );
        let queue_url = sqs.create_queue().queue_name("okta-stream").send().await.expect("CreateQueue");
        let queue_url = queue_url.queue_url().expect("a queue URL").to_owned();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes");
        let queue_arn =
            attributes.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).expect("ARN").clone();
        // Okta's stream lands on a partner event bus named like its source
        // (aws.partner/okta.com/...); moto cannot create a bus whose name has a '/', so the
        // stream goes to a custom bus, with the source and the rule as on AWS.
        let bus = "okta-log-stream";
        eventbridge.create_event_bus().name(bus).send().await.expect("CreateEventBus");
        eventbridge
            .put_rule()
            .name("okta-to-sqs")
            .event_bus_name(bus)
            .event_pattern(r#"{"source":[{"prefix":"aws.partner/okta.com/"}]}"#)
            .send()
            .await
            .expect("PutRule");
        let target = Target::builder().id("okta-stream-queue").arn(&queue_arn).build().expect("target");
        let put = eventbridge.put_targets().rule("okta-to-sqs").event_bus_name(bus).targets(target).send().await;
        assert_eq!(put.expect("PutTargets").failed_entry_count(), 0);

        let mut serve = start_sqs_serve(&dir, &moto, &queue_url, "", "serve (SQS)");

        let sim = Simulator::start(
            SimConfig {
                tokens: vec![("00sqs-test-token-0123456789".to_owned(), TokenStatus::Valid)],
                window: Duration::from_secs(2),
                ..SimConfig::default()
            },
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("simulator starts");
        let stream = sim.start_log_stream(
            StreamTarget::EventBridge {
                endpoint_url: Some(moto.url.clone()),
                region: "us-east-1".into(),
                bus: bus.into(),
                source: "aws.partner/okta.com/acme/okta-normalizer".into(),
                credentials: Some(("test".into(), "test".into())),
            },
            PushChaos { duplicate_probability: 0.2, seed: 5, ..PushChaos::default() },
        );
        let events = log_events("sqs", EVENTS);
        sim.push(&events, Duration::ZERO);
        let expected = uuids(&events);
        wait_for_sink(&mut serve, &dir.join("events"), &expected, Duration::from_secs(90)).await;

        // The stream's late duplicates, then the queue: empty once everything was written.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stream.caught_up() {
            assert!(Instant::now() < deadline, "the stream did not finish: {:?}", stream.stats());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stats = stream.stats();
        assert_eq!((stats.failed_batches, stats.dropped_events), (0, 0), "PutEvents never failed: {stats:?}");
        assert!(stats.duplicate_requests > 0, "the stream sent duplicates: {stats:?}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            serve.assert_running();
            let depth = queue_depth(&sqs, &queue_url).await;
            if depth == (0, 0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the queue still holds {depth:?} (visible, in flight) messages\n{}",
                serve.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let status = serve.terminate(Duration::from_secs(30));
        assert!(status.success(), "serve stopped with {status}\n{}", serve.log_tail());
        let docs = assert_each_once(&dir.join("events"), &expected);
        assert_okta_documents(&docs);
        let log = serve.log_text();
        assert!(log.contains("Reading Log Streaming events from SQS"), "{}", serve.log_tail());
        assert!(!log.contains("SQS keeps failing"), "{}", serve.log_tail());
        drop(moto.process);
        eprintln!("stream: {stats:?}");
    });
    eprintln!("serve_reads_log_streaming_from_sqs_through_moto_eventbridge: {:.1} s", started.elapsed().as_secs_f64());
}

/// A queue that already holds a backlog is written in few large batches, not one batch per
/// receive of ten: each batch also exports and commits the detection state, so batch count is what
/// a backlog costs. 120 envelopes (12 full receives) must arrive in at most 3 batches, and the
/// queue must end empty (every message deleted, ten per call).
#[test]
fn serve_gathers_an_sqs_backlog_into_few_batches() {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

    const EVENTS: usize = 120;
    test_runtime().block_on(async {
        let dir = temp_dir("serve-sqs-backlog");
        let moto = Moto::start(&dir).await;
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&moto.url)
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .build(),
        );
        let queue_url = sqs.create_queue().queue_name("okta-backlog").send().await.expect("CreateQueue");
        let queue_url = queue_url.queue_url().expect("a queue URL").to_owned();
        let events = log_events("backlog", EVENTS);
        for (chunk_index, chunk) in events.chunks(10).enumerate() {
            let entries = chunk.iter().enumerate().map(|(i, event)| {
                let envelope = serde_json::json!({
                    "version": "0", "id": format!("env-{chunk_index}-{i}"), "detail-type": "SystemLog",
                    "source": "aws.partner/okta.com/acme/okta-normalizer", "account": "123456789012",
                    "time": event["published"], "region": "us-east-1", "resources": [], "detail": event,
                });
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(envelope.to_string())
                    .build()
                    .expect("entry")
            });
            let sent = sqs
                .send_message_batch()
                .queue_url(&queue_url)
                .set_entries(Some(entries.collect()))
                .send()
                .await
                .expect("SendMessageBatch");
            assert!(sent.failed.is_empty(), "{:?}", sent.failed);
        }
        assert_eq!(queue_depth(&sqs, &queue_url).await, (EVENTS as u64, 0), "the backlog is in the queue");

        let metrics_port = free_port();
        let metrics = format!("[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n\n");
        let mut serve = start_sqs_serve(&dir, &moto, &queue_url, &metrics, "serve (SQS backlog)");
        let expected = uuids(&events);
        wait_for_sink(&mut serve, &dir.join("events"), &expected, Duration::from_secs(60)).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while queue_depth(&sqs, &queue_url).await != (0, 0) {
            assert!(Instant::now() < deadline, "the queue is not empty\n{}", serve.log_tail());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let scrape = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        let batches: u64 = scrape
            .lines()
            .find(|l| l.starts_with("okta_normalizer_batches_total{") && l.contains("channel=\"sqs\""))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no SQS batch count in\n{scrape}"));
        assert!((1..=3).contains(&batches), "{EVENTS} queued messages took {batches} batches");
        assert!(scrape.contains("okta_normalizer_detection_state_written_bytes_total{org=\"acme\"}"), "{scrape}");
        assert!(scrape.contains("okta_normalizer_guest_memory_bytes{org=\"acme\"}"), "{scrape}");
        let status = serve.terminate(Duration::from_secs(30));
        assert!(status.success(), "serve stopped with {status}\n{}", serve.log_tail());
        assert_each_once(&dir.join("events"), &expected);
        drop(moto.process);
    });
}

#[test]
fn sync_once_pulls_the_directory_and_says_what_it_did() {
    use okta_normalizer_host::sim::{Directory, SimConfig, Simulator, TokenStatus};

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let token = "00sync-cli-token-abcdef";
    let sim = rt
        .block_on(Simulator::start(
            SimConfig { tokens: vec![(token.to_owned(), TokenStatus::Valid)], ..SimConfig::default() },
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("simulator starts");
    sim.set_directory(Directory::generate(3, &[], &[], 250));
    let deprovisioned = sim.directory(|d| d.user_ids()[0].clone());
    sim.directory(|d| d.deprovision(&deprovisioned));
    let dir = temp_dir("sync-once");
    std::fs::write(dir.join("token"), token).expect("token");
    let config = format!(
        "[store]\npath = {:?}\n\n[[org]]\nname = \"acme\"\nurl = {:?}\n\n[org.auth]\ntype = \"ssws\"\ntoken_file = {:?}\n\n\
         [org.directory]\nenabled = true\n\n[[org.sinks]]\ntype = \"file\"\ndir = {:?}\n",
        dir.join("store.db"),
        sim.base_url(),
        dir.join("token"),
        dir.join("events")
    );
    std::fs::write(dir.join("poll.toml"), config).expect("config");
    let config = dir.join("poll.toml");
    let out = run(&["sync", "--once", "--config", config.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(line.starts_with("acme: full sync in "), "{line}");
    assert!(line.contains(", 250 users, "), "deprovisioned users included: {line}");
    assert!(line.contains("; 6 users' roles changed, 6 hold an admin role;"), "admin roles: {line}");
    let entities = std::fs::read_dir(dir.join("events"))
        .expect("events dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("readable"))
        .flat_map(|t| {
            t.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON")).collect::<Vec<_>>()
        })
        .filter(|d| d["event"]["kind"] == "asset")
        .count();
    assert!(entities >= 250, "an entity document per user and device: {entities}");

    let out = run(&["sync", "--once", "--incremental", "--config", config.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(line.contains("incremental sync") && line.contains("0 discovered, 0 modified"), "{line}");
    assert!(line.contains("0 users' roles changed, 6 hold an admin role"), "roles are read every time: {line}");
    assert!(!line.contains(token) && !stderr(&out).contains(token), "the token never appears");

    let out = run(&["sync", "--once", "--org", "nope", "--config", config.to_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no org named \"nope\""), "{}", stderr(&out));
}
