//! `serve`: event hooks and EventBridge API destinations received over HTTP, spooled before the
//! acknowledgement, and written exactly once together with the poller; the handshake, auth,
//! size and JSON errors; and a bounded load test on loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use okta_normalizer_host::commands::poll::OrgResult;
use okta_normalizer_host::commands::serve::{Ready, serve};
use okta_normalizer_host::config::Config;
use okta_normalizer_host::pipeline::Channel;
use okta_normalizer_host::sim::{
    HookTarget, PushChaos, SimConfig, SimHandle, Simulator, StreamTarget, TokenStatus, verify_hook,
};
use okta_normalizer_host::store::Store;
use okta_normalizer_tests::runtime;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use crate::poll::{assert_exactly_once, events, test_dir, written, written_so_far};

const TOKEN: &str = "00serve-test-token-0123456789";
const HOOK_SECRET: &str = "Bearer hook-secret-0123456789abcdef";
const EB_USER: &str = "okta-stream";
const EB_PASSWORD: &str = "eventbridge-password-42";

/// A running `serve`, stopped when dropped.
struct Running {
    addr: SocketAddr,
    ready: Ready,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<Vec<OrgResult>>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn stats(&self) -> okta_normalizer_host::pipeline::Stats {
        self.ready.stats[0].1.lock().expect("stats").clone()
    }

    async fn stop(mut self) -> Vec<OrgResult> {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(20), self.task.take().expect("running"))
            .await
            .expect("serve stops within 20 s")
            .expect("serve task")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn start(config: Config) -> Running {
    let (stop, stop_rx) = watch::channel(false);
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        serve(config, runtime(), stop_rx, Some(tx), Duration::from_secs(3600)).await.expect("serve starts")
    });
    let ready =
        tokio::time::timeout(Duration::from_secs(60), rx).await.expect("serve is ready in time").expect("ready");
    Running { addr: ready.addr.expect("listening"), ready, stop, task: Some(task) }
}

/// A config for org `acme`: an event hook and an EventBridge API destination, polling `sim`
/// when given. `extra` goes into `[server]`.
fn config(dir: &Path, sim: Option<&SimHandle>, extra: &str) -> Config {
    std::fs::write(dir.join("token"), TOKEN).expect("token");
    std::fs::write(dir.join("hook-secret"), HOOK_SECRET).expect("hook secret");
    std::fs::write(dir.join("eb-password"), EB_PASSWORD).expect("eb password");
    let auth = match sim {
        Some(_) => format!("[org.auth]\ntype = \"ssws\"\ntoken_file = {:?}\n\n", dir.join("token")),
        None => String::new(),
    };
    let url = sim.map_or_else(|| "http://127.0.0.1:9".to_owned(), SimHandle::base_url);
    let text = format!(
        "[store]\npath = {store:?}\n\n[server]\nlisten = \"127.0.0.1:0\"\ndead_letter_dir = {dead:?}\n\
         tenant_header = \"tenant_UUID\"\n{extra}\n\n\
         [[org]]\nname = \"acme\"\ntenant = \"5e1f6c1e-0000-4000-8000-00000000acme\"\nurl = {url:?}\ninterval_secs = 1\n\
         retry_base_ms = 20\n\n{auth}\
         [org.event_hook]\nheader = \"Authorization\"\nsecret_file = {hook:?}\n\n\
         [org.eventbridge.auth]\nheader = \"Authorization\"\nusername = \"{EB_USER}\"\nsecret_file = {eb:?}\n\n\
         [[org.sinks]]\ntype = \"file\"\ndir = {events:?}\n",
        store = dir.join("store.db"),
        dead = dir.join("dead"),
        hook = dir.join("hook-secret"),
        eb = dir.join("eb-password"),
        events = dir.join("events"),
    );
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).expect("config");
    Config::load(&path).expect("valid config")
}

fn delivery(events: &[Value]) -> Value {
    json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://acme.okta.com/api/v1/eventHooks/who7hphp39JoHLni81d7",
        "eventId": format!("{:032x}", fastrand::u128(..)),
        "eventTime": "2026-11-22T00:00:00.000Z",
        "contentType": "application/json",
        "data": { "events": events },
    })
}

fn hook_target(running: &Running, path: &str) -> HookTarget {
    HookTarget {
        url: running.url(path),
        auth: Some(("Authorization".into(), HOOK_SECRET.into())),
        headers: Vec::new(),
        event_types: Vec::new(),
        id: "who7hphp39JoHLni81d7".into(),
    }
}

/// Waits until `f` holds, up to `limit`.
async fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sink_count(dir: &Path) -> usize {
    if !dir.join("events").exists() {
        return 0;
    }
    written_so_far(dir).values().sum()
}

fn spool_rows(dir: &Path) -> u64 {
    Store::open(&dir.join("store.db"), 10).expect("store").spool_size().expect("size").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_handshake_answers_okta_and_checks_the_secret() {
    let dir = test_dir("serve-verify");
    let running = start(config(&dir, None, "")).await;
    verify_hook(&hook_target(&running, "/hooks/acme")).await.expect("the simulator's Okta verifies the hook");

    let client = reqwest::Client::new();
    let challenge = "c1f2e3d4-verification";
    // By tenant header instead of the path, as Emanate routes.
    let answer = client
        .get(running.url("/hooks"))
        .header("x-okta-verification-challenge", challenge)
        .header("authorization", HOOK_SECRET)
        .header("tenant_UUID", "5e1f6c1e-0000-4000-8000-00000000acme")
        .send()
        .await
        .expect("request");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.text().await.expect("text")).expect("json"),
        json!({ "verification": challenge })
    );

    let no_secret =
        client.get(running.url("/hooks/acme")).header("x-okta-verification-challenge", challenge).send().await;
    assert_eq!(no_secret.expect("request").status(), 401, "the challenge is not echoed to strangers");
    let no_challenge = client.get(running.url("/hooks/acme")).header("authorization", HOOK_SECRET).send().await;
    let no_challenge = no_challenge.expect("request");
    assert_eq!(no_challenge.status(), 400);
    assert!(no_challenge.text().await.expect("text").contains("x-okta-verification-challenge"));
    let unknown = client.get(running.url("/hooks/globex")).header("authorization", HOOK_SECRET).send().await;
    assert_eq!(unknown.expect("request").status(), 404);

    // Deliveries route by the tenant header too; an unknown tenant is refused and stores nothing.
    let tenant_events = events(4, 1, "tenant");
    let body = delivery(&tenant_events).to_string();
    for (tenant, status) in [("5e1f6c1e-0000-4000-8000-00000000acme", 200), ("someone-else", 404)] {
        let posted = client
            .post(running.url("/hooks"))
            .header("authorization", HOOK_SECRET)
            .header("tenant_UUID", tenant)
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(posted.status(), status, "tenant {tenant}");
    }
    eventually(Duration::from_secs(30), "the tenant-routed events", || sink_count(&dir) == 4).await;
    running.stop().await;
    assert_exactly_once(&dir, &tenant_events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_from_the_configured_certificate_and_key_serves_https() {
    let dir = test_dir("serve-tls");
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("a self-signed certificate");
    let cert = certified.cert.pem();
    std::fs::write(dir.join("cert.pem"), &cert).expect("cert");
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).expect("key");
    let tls = format!("tls_cert = {:?}\ntls_key = {:?}", dir.join("cert.pem"), dir.join("key.pem"));
    let running = start(config(&dir, None, &tls)).await;
    let https = format!("https://{}/hooks/acme", running.addr);
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let answer = client
        .get(&https)
        .header("x-okta-verification-challenge", "over-tls")
        .header("authorization", HOOK_SECRET)
        .send()
        .await
        .expect("an HTTPS request");
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.expect("text").contains("over-tls"));
    let body = delivery(&events(5, 1, "tls")).to_string();
    let posted = client.post(&https).header("authorization", HOOK_SECRET).body(body).send().await.expect("post");
    assert_eq!(posted.status(), 200);
    let plain = reqwest::get(running.url("/healthz")).await;
    assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()), "plain HTTP is not served");
    eventually(Duration::from_secs(30), "the events at the sink", || sink_count(&dir) == 5).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_auth_is_401_and_stores_nothing() {
    let dir = test_dir("serve-auth");
    let running = start(config(&dir, None, "")).await;
    let body = delivery(&events(3, 1, "auth")).to_string();
    let client = reqwest::Client::new();
    for auth in [None, Some("Bearer wrong"), Some(&HOOK_SECRET[..HOOK_SECRET.len() - 1]), Some("")] {
        let mut request = client.post(running.url("/hooks/acme")).body(body.clone());
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 401, "auth {auth:?}");
        let text = response.text().await.expect("text");
        assert!(text.contains("Authorization header is missing or does not match"), "{text}");
        assert!(!text.contains("hook-secret"), "the secret never appears: {text}");
    }
    // The EventBridge route wants its own (Basic) secret, not the hook's.
    let response = client
        .post(running.url("/eventbridge/acme"))
        .header("authorization", HOOK_SECRET)
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(spool_rows(&dir), 0, "nothing was spooled");
    let results = running.stop().await;
    assert!(results[0].1.is_ok());
    assert_eq!(sink_count(&dir), 0, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_413_and_malformed_json_is_400_and_kept() {
    let dir = test_dir("serve-bad-bodies");
    let running = start(config(&dir, None, "max_body_bytes = 65536")).await;
    let client = reqwest::Client::new();
    let big = delivery(&events(60, 1, "big")).to_string();
    assert!(big.len() > 65536, "the test body is over the limit ({} bytes)", big.len());
    let response = client.post(running.url("/hooks/acme")).header("authorization", HOOK_SECRET).body(big).send().await;
    let response = response.expect("request");
    assert_eq!(response.status(), 413);
    assert!(response.text().await.expect("text").contains("max_body_bytes"));

    let broken = "{\"data\": {\"events\": [{\"uuid\": \"x\",}]}}";
    let response =
        client.post(running.url("/hooks/acme")).header("authorization", HOOK_SECRET).body(broken).send().await;
    let response = response.expect("request");
    assert_eq!(response.status(), 400);
    let message = serde_json::from_str::<Value>(&response.text().await.expect("text")).expect("json")["error"]
        .as_str()
        .expect("error")
        .to_owned();
    assert!(message.starts_with("the body is not valid JSON: key must be a string at line 1, column 35"), "{message}");
    assert!(message.contains("the body is kept as"), "{message}");
    let index = std::fs::read_to_string(dir.join("dead/index.ndjson")).expect("dead-letter index");
    let entry: Value = serde_json::from_str(index.lines().next().expect("a line")).expect("json");
    assert_eq!(entry["org"], "acme");
    assert_eq!(entry["channel"], "event_hook");
    let kept = std::fs::read(dir.join("dead").join(entry["file"].as_str().expect("file"))).expect("kept body");
    assert_eq!(kept, broken.as_bytes(), "the raw body is kept byte for byte");

    let not_a_delivery = json!({"events": []}).to_string();
    let response =
        client.post(running.url("/hooks/acme")).header("authorization", HOOK_SECRET).body(not_a_delivery).send().await;
    let response = response.expect("request");
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("text").contains("data.events[]"));
    assert_eq!(spool_rows(&dir), 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_out_of_order_deliveries_reach_the_sink_once() {
    let dir = test_dir("serve-duplicates");
    let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().expect("addr")).await.expect("sim");
    let running = start(config(&dir, None, "")).await;
    let chaos = PushChaos { duplicate_probability: 0.5, reorder: true, max_batch: 20, concurrency: 4, seed: 11 };
    let hook = sim.start_event_hook(hook_target(&running, "/hooks/acme"), chaos);
    let pushed = events(600, 5, "dup");
    sim.push(&pushed, Duration::ZERO);
    // Okta never sends some types to a hook; the simulator knows a few of them.
    let not_eligible = ["event_hook.delivery", "policy.evaluate_sign_on", "security.threat.detected"];
    let all: Vec<Value> =
        pushed.into_iter().filter(|e| !not_eligible.contains(&e["eventType"].as_str().unwrap_or(""))).collect();
    eventually(Duration::from_secs(60), "the hook to deliver everything", || hook.caught_up()).await;
    let stats = hook.stats();
    assert!(stats.duplicate_requests > 0, "the simulator sent duplicates: {stats:?}");
    assert!(stats.reordered_batches > 0, "the simulator sent batches out of order: {stats:?}");
    eventually(Duration::from_secs(60), "the sink to have every event", || sink_count(&dir) >= all.len()).await;
    let metrics = running.ready.metrics.encode();
    let results = running.stop().await;
    assert!(results[0].1.is_ok());
    assert_exactly_once(&dir, &all);
    assert_eq!(spool_rows(&dir), 0, "the spool is empty once written");
    let requests = format!(
        "okta_normalizer_push_requests_total{{org=\"acme\",channel=\"event_hook\",status=\"200\"}} {}",
        stats.requests
    );
    assert!(metrics.contains(&requests), "{requests} in\n{metrics}");
    let by_channel =
        format!("okta_normalizer_events_by_channel_total{{org=\"acme\",channel=\"event_hook\"}} {}", all.len());
    assert!(metrics.contains(&by_channel), "{by_channel} in\n{metrics}");
    assert!(metrics.contains("okta_normalizer_push_ack_seconds_count"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_stream_and_poller_together_write_each_uuid_exactly_once() {
    let dir = test_dir("serve-all-channels");
    let sim_config = SimConfig {
        tokens: vec![(TOKEN.to_owned(), TokenStatus::Valid)],
        window: Duration::from_secs(2),
        ..SimConfig::default()
    };
    let sim = Simulator::start(sim_config, "127.0.0.1:0".parse().expect("addr")).await.expect("sim");
    let history = events(300, 30, "before");
    sim.push(&history, Duration::ZERO);
    let running = start(config(&dir, Some(&sim), "")).await;
    // The hook carries only some event types (as Okta's hook-eligible list does); the stream
    // carries everything, with duplicates, until it fails and Okta deactivates it.
    let mut target = hook_target(&running, "/hooks/acme");
    target.event_types = vec!["user.session.start".into(), "user.authentication.sso".into()];
    let hook = sim.start_event_hook(target, PushChaos { duplicate_probability: 0.2, seed: 3, ..PushChaos::default() });
    let basic = format!(
        "Basic {}",
        // as EventBridge's Basic connection sends it
        base64::engine::general_purpose::STANDARD.encode(format!("{EB_USER}:{EB_PASSWORD}"))
    );
    let stream = sim.start_log_stream(
        StreamTarget::http(running.url("/eventbridge/acme"), Some(("Authorization".into(), basic))),
        PushChaos { duplicate_probability: 0.2, seed: 4, ..PushChaos::default() },
    );
    let live = events(400, 1, "live");
    for chunk in live.chunks(50) {
        sim.push(chunk, Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all: Vec<Value> = history.iter().chain(&live).cloned().collect();
    eventually(Duration::from_secs(90), "every event at the sink", || sink_count(&dir) >= all.len()).await;
    // Give the channels time to bring their late duplicates, too.
    eventually(Duration::from_secs(30), "the pushes to finish", || hook.caught_up() && stream.caught_up()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = running.stats();
    let results = running.stop().await;
    assert!(results[0].1.is_ok(), "{:?}", results[0].1.as_ref().err());
    assert_exactly_once(&dir, &all);
    let by = |c: Channel| stats.written_by[c as usize];
    assert!(by(Channel::Poll) > 0, "the poller wrote what no push carried: {stats:?}");
    assert!(
        by(Channel::EventHook) + by(Channel::EventBridge) > 0,
        "the pushes wrote events before the poller got to them: {stats:?}"
    );
    assert!(stats.duplicates > 0, "duplicates across channels were dropped: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_stream_leaves_a_gap_that_the_poller_backfills() {
    let dir = test_dir("serve-stream-gap");
    let sim_config = SimConfig {
        tokens: vec![(TOKEN.to_owned(), TokenStatus::Valid)],
        window: Duration::from_secs(2),
        ..SimConfig::default()
    };
    let sim = Simulator::start(sim_config, "127.0.0.1:0".parse().expect("addr")).await.expect("sim");
    let running = start(config(&dir, Some(&sim), "")).await;
    // Wrong credentials: both attempts fail, and Okta deactivates the stream.
    let stream = sim.start_log_stream(
        StreamTarget::http(
            running.url("/eventbridge/acme"),
            Some(("Authorization".into(), "Basic d3Jvbmc6d3Jvbmc=".into())),
        ),
        PushChaos::default(),
    );
    let lost = events(50, 1, "gap");
    sim.push(&lost, Duration::ZERO);
    eventually(Duration::from_secs(30), "the stream to be deactivated", || stream.stats().deactivated).await;
    let backfilled = || {
        let counts = if dir.join("events").exists() { written_so_far(&dir) } else { Default::default() };
        lost.iter().all(|e| counts.contains_key(e["uuid"].as_str().unwrap_or_default()))
    };
    eventually(Duration::from_secs(60), "the poller to backfill the gap", backfilled).await;
    let stats = running.stats();
    running.stop().await;
    assert!(stats.written_by[Channel::EventBridge as usize] == 0, "nothing came through the stream: {stats:?}");
    let counts = written(&dir);
    for e in &lost {
        assert_eq!(counts.get(e["uuid"].as_str().expect("uuid")), Some(&1), "backfilled once");
    }
}

/// The load test: 50 concurrent senders, each posting deliveries of 100 events (at most one
/// every 500 ms each) for 30 s. Nothing may be lost or rejected, and the p99 time to the
/// acknowledgement must stay under 1 s. `OKTA_NORMALIZER_LOAD_SECS` and
/// `OKTA_NORMALIZER_LOAD_PACE_MS` change the duration and the pace (0 = as fast as acknowledged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_50_concurrent_deliveries_of_100_events_for_30_s() {
    let secs: u64 = std::env::var("OKTA_NORMALIZER_LOAD_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let pace_ms: u64 = std::env::var("OKTA_NORMALIZER_LOAD_PACE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let dir = test_dir("serve-load");
    let running = start(config(&dir, None, "")).await;
    let url = Arc::new(running.url("/hooks/acme"));
    let template = small_event();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let mut senders = Vec::new();
    for sender in 0..50u32 {
        let (client, url, template) = (client.clone(), url.clone(), template.clone());
        senders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut rejected = Vec::new();
            let mut sent = 0u64;
            let mut n = 0u32;
            while Instant::now() < until {
                let next = Instant::now() + Duration::from_millis(pace_ms);
                let batch: Vec<Value> = (0..100)
                    .map(|i| {
                        let mut e = template.clone();
                        e["uuid"] = Value::String(format!("load-{sender:02}-{n:06}-{i:03}"));
                        e
                    })
                    .collect();
                let body = delivery(&batch).to_string();
                let t = Instant::now();
                let response = client.post(url.as_str()).header("authorization", HOOK_SECRET).body(body).send().await;
                latencies.push(t.elapsed());
                match response {
                    Ok(r) if r.status() == 200 => sent += 100,
                    Ok(r) => rejected.push(r.status().as_u16()),
                    Err(e) => rejected.push(if e.is_timeout() { 1 } else { 0 }),
                }
                n += 1;
                tokio::time::sleep_until(next.into()).await;
            }
            (latencies, rejected, sent)
        }));
    }
    let mut latencies = Vec::new();
    let mut rejected = Vec::new();
    let mut acknowledged = 0u64;
    for s in senders {
        let (l, r, sent) = s.await.expect("sender");
        latencies.extend(l);
        rejected.extend(r);
        acknowledged += sent;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let acks = latencies.len() - rejected.len();
    let drained = Instant::now();
    let expected = usize::try_from(acknowledged).expect("fits");
    let limit = Duration::from_secs(300);
    eventually(limit, "the spool to drain", || running.stats().written as usize >= expected).await;
    let drain_time = drained.elapsed();
    let stats = running.stats();
    running.stop().await;
    let counts = written(&dir);
    let duplicated = counts.values().filter(|n| **n > 1).count();
    let lost = expected.saturating_sub(counts.len());
    eprintln!(
        "load: {acks} deliveries acknowledged in {:.1} s ({:.0}/s, {:.0} events/s), ack latency p50 {:?} p99 {:?} max {:?}; \
         {} rejected; {lost} lost, {duplicated} duplicated of {expected} events; spool drained {:.1} s after the last send",
        elapsed.as_secs_f64(),
        acks as f64 / elapsed.as_secs_f64(),
        acknowledged as f64 / elapsed.as_secs_f64(),
        p(0.5),
        p(0.99),
        latencies.last().copied().unwrap_or_default(),
        rejected.len(),
        drain_time.as_secs_f64(),
    );
    assert!(rejected.is_empty(), "valid requests were rejected: {:?}", &rejected[..rejected.len().min(10)]);
    assert!(p(0.99) < Duration::from_secs(1), "p99 acknowledgement latency {:?} is over 1 s", p(0.99));
    assert_eq!(lost, 0, "events lost");
    assert_eq!(duplicated, 0, "events duplicated");
    assert_eq!(counts.len(), expected);
    assert_eq!(stats.written_by[Channel::EventHook as usize] as usize, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small, realistic LogEvent (a sign-on), so the load test measures the receiver, not disk.
fn small_event() -> Value {
    json!({
        "uuid": "", "published": "2026-11-21T10:00:00.000Z", "eventType": "user.session.start", "version": "0",
        "severity": "INFO", "displayMessage": "User login to Okta", "legacyEventType": "core.user_auth.login_success",
        "actor": {"id": "00u1", "type": "User", "alternateId": "ana@example.com", "displayName": "Ana"},
        "client": {"ipAddress": "198.51.100.7", "userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"}},
        "outcome": {"result": "SUCCESS"},
        "authenticationContext": {"externalSessionId": "102abc"},
        "transaction": {"type": "WEB", "id": "Xyz"},
        "target": []
    })
}
