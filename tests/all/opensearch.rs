//! The `_bulk` sink against a real OpenSearch-compatible server process (osmem-server, from PyPI,
//! installed by `.ci/run`): every event indexed once, replays are absorbed by `create` + `_id`,
//! and documents the server rejects go to the dead-letter file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use okta_normalizer_host::commands::poll::poll;
use okta_normalizer_host::config::Config;
use okta_normalizer_host::sim::{SimConfig, Simulator, TokenStatus};
use okta_normalizer_host::sinks::{Doc, OpenSearchSink, OpenSearchSinkConfig};
use okta_normalizer_tests::{golden_inputs, root, runtime};
use serde_json::Value;
use tokio::sync::watch;

/// A running osmem-server; it exits when its stdin closes (when this is dropped).
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn osmem_binary() -> String {
    if let Ok(path) = std::env::var("OSMEM_SERVER") {
        return path;
    }
    let out = Command::new("python3")
        .args(["-c", "import osmem_server, os; print(os.path.join(os.path.dirname(osmem_server.__file__), 'bin', 'osmem-server'))"])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "osmem-server is not installed; `pip install osmem-server` (CI's .ci/run does) or set OSMEM_SERVER"
    );
    String::from_utf8(out.stdout).expect("utf-8 path").trim().to_owned()
}

fn start_server() -> Server {
    let mut child = Command::new(osmem_binary())
        .args(["-addr", "127.0.0.1:0", "-no-ja"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("osmem-server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("it announces its address");
    let info: Value = serde_json::from_str(&line).expect("a JSON announcement");
    Server { child, url: info["url"].as_str().expect("url").to_owned() }
}

async fn count(url: &str, index: &str) -> u64 {
    let client = reqwest::Client::new();
    client.post(format!("{url}/{index}/_refresh")).send().await.expect("refresh");
    let reply = client.get(format!("{url}/{index}/_count")).send().await.expect("count").bytes().await.expect("body");
    serde_json::from_slice::<Value>(&reply).expect("json")["count"].as_u64().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_indexed_once_even_when_everything_is_sent_again() {
    let server = start_server();
    let token = "00os-test-token";
    let sim = Simulator::start(
        SimConfig { tokens: vec![(token.to_owned(), TokenStatus::Valid)], ..SimConfig::default() },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let templates: Vec<Value> = golden_inputs().iter().map(|(_, b)| serde_json::from_slice(b).expect("json")).collect();
    let now = jiff::Timestamp::now().as_millisecond();
    let events: Vec<Value> = (0..500)
        .map(|i| {
            let mut e = templates[i % templates.len()].clone();
            e["uuid"] = format!("os-{i:04}").into();
            e["published"] = jiff::Timestamp::from_millisecond(now - 600_000 + i64::try_from(i).expect("small") * 1000)
                .expect("valid")
                .to_string()
                .into();
            e
        })
        .collect();
    sim.push(&events, Duration::ZERO);

    let dir = root().join("target/poll-tests/opensearch");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("token"), token).expect("token");
    let config = |store: &str| {
        let text = format!(
            "# These tests count events in the index: no rules, so no alert documents.\n[detection]\nbuiltin = false\n\n[store]\npath = {:?}\n\n[[org]]\nname = \"acme\"\nurl = {:?}\npage_limit = 200\nretry_base_ms = 20\n\n\
             [org.auth]\ntype = \"ssws\"\ntoken_file = {:?}\n\n[[org.sinks]]\ntype = \"opensearch\"\nurl = {:?}\n\
             index = \"okta-test\"\ndead_letter = {:?}\n",
            dir.join(store),
            sim.base_url(),
            dir.join("token"),
            server.url,
            dir.join("dead.ndjson"),
        );
        std::fs::write(dir.join("poll.toml"), text).expect("config");
        Config::load(&dir.join("poll.toml")).expect("valid")
    };
    let (_tx, rx) = watch::channel(false);
    let results = poll(config("a.db"), runtime(), true, rx.clone(), Duration::from_secs(3600)).await.expect("polls");
    results[0].1.as_ref().expect("first poll");
    assert_eq!(count(&server.url, "okta-test").await, 500);

    // A fresh store forgets every uuid, so all 500 are fetched and sent again: `create` refuses
    // them (409) and the index still holds each event once.
    let results = poll(config("b.db"), runtime(), true, rx, Duration::from_secs(3600)).await.expect("polls");
    results[0].1.as_ref().expect("second poll");
    assert_eq!(count(&server.url, "okta-test").await, 500, "replays add nothing");
    let sample: Value = {
        let client = reqwest::Client::new();
        let body = client
            .get(format!("{}/okta-test/_doc/os-0007", server.url))
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        serde_json::from_slice(&body).expect("json")
    };
    assert_eq!(sample["_source"]["event"]["id"], "os-0007", "documents are stored under their uuid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn rejected_documents_go_to_the_dead_letter_file() {
    let server = start_server();
    let dead = root().join("target/poll-tests/dead-letter.ndjson");
    let _ = std::fs::remove_file(&dead);
    let mut sink = OpenSearchSink::new(OpenSearchSinkConfig {
        url: server.url.clone(),
        index: "okta-dead".into(),
        basic_auth: None,
        dead_letter: dead.clone(),
        max_attempts: 3,
        retry_base: Duration::from_millis(10),
    })
    .expect("sink");
    sink.write(&[
        Doc { id: Some("good"), json: r#"{"event":{"id":"good"}}"# },
        Doc { id: Some("bad"), json: "{not json}" },
    ]);
    sink.flush().await.expect("a rejected document does not fail the flush");
    assert_eq!(sink.counts, (1, 0, 1), "(written, duplicates, dead-lettered)");
    let dead_text = std::fs::read_to_string(&dead).expect("dead-letter file written");
    let entry: Value = serde_json::from_str(dead_text.lines().next().expect("one entry")).expect("json");
    assert_eq!(entry["id"], "bad");
    assert_eq!(entry["status"], 400);
    assert_eq!(entry["document"], "{not json}");
    assert!(entry["error"]["type"].is_string(), "the server's reason is kept: {entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_is_down_holds_the_cursor_until_it_is_back() {
    let token = "00os-down-token";
    let sim = Simulator::start(
        SimConfig { tokens: vec![(token.to_owned(), TokenStatus::Valid)], ..SimConfig::default() },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let now = jiff::Timestamp::now().as_millisecond();
    let template: Value = serde_json::from_slice(&golden_inputs()[0].1).expect("json");
    let events: Vec<Value> = (0..50)
        .map(|i| {
            let mut e = template.clone();
            e["uuid"] = format!("down-{i:03}").into();
            e["published"] =
                jiff::Timestamp::from_millisecond(now - 60_000 + i * 100).expect("valid").to_string().into();
            e
        })
        .collect();
    sim.push(&events, Duration::ZERO);
    let dir = root().join("target/poll-tests/opensearch-down");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("token"), token).expect("token");
    // A port nobody listens on: the sink is down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let config = |url: &str| {
        let text = format!(
            "# These tests count events in the index: no rules, so no alert documents.\n[detection]\nbuiltin = false\n\n[store]\npath = {:?}\n\n[[org]]\nname = \"acme\"\nurl = {:?}\nretry_base_ms = 5\n\n[org.auth]\ntype = \"ssws\"\n\
             token_file = {:?}\n\n[[org.sinks]]\ntype = \"opensearch\"\nurl = {url:?}\nindex = \"okta-down\"\ndead_letter = {:?}\n",
            dir.join("store.db"),
            sim.base_url(),
            dir.join("token"),
            dir.join("dead.ndjson"),
        );
        std::fs::write(dir.join("poll.toml"), text).expect("config");
        Config::load(&dir.join("poll.toml")).expect("valid")
    };
    let (_tx, rx) = watch::channel(false);
    let results =
        poll(config(&format!("http://127.0.0.1:{closed}")), runtime(), true, rx.clone(), Duration::from_secs(3600))
            .await
            .expect("poll runs");
    let err = format!("{:#}", results[0].1.as_ref().expect_err("the sink never came back"));
    assert!(err.contains("failed 10 times in a row"), "{err}");
    let store = okta_normalizer_host::store::Store::open(&dir.join("store.db"), 1000).expect("store");
    assert_eq!(
        store.checkpoint("acme").expect("reads").next_url,
        None,
        "nothing was committed while the sink was down"
    );

    let server = start_server();
    let results = poll(config(&server.url), runtime(), true, rx, Duration::from_secs(3600)).await.expect("poll runs");
    results[0].1.as_ref().expect("the sink is back");
    assert_eq!(count(&server.url, "okta-down").await, 50);
}
