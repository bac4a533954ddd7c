//! The simulator pushes like Okta: the event-hook handshake, hook deliveries with Okta's retry
//! rule and failure events, Log Streaming envelopes and stream deactivation, and the chaos
//! (duplicates, reordering) a receiver must survive.
//!
//! The receivers are a few lines of HTTP/1.1 over tokio (this crate does not depend on axum): they
//! record every request and answer what the test's closure says.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use okta_normalizer_host::sim::{
    HookTarget, PushChaos, PushHandle, SimConfig, SimHandle, Simulator, StreamTarget, TokenStatus, verify_hook,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "00sim-push-test-token";
const SECRET: &str = "Basic aG9vazpzM2NyM3Q=";
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// A recording receiver.

#[derive(Debug, Clone)]
struct Request {
    method: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Decides the answer to the n-th request (from 0): status and body.
type Reply = dyn Fn(&Request, usize) -> (u16, String) + Send + Sync;

struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(reply: impl Fn(&Request, usize) -> (u16, String) + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/okta", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reply: Arc<Reply> = Arc::new(reply);
        let log = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, log.clone(), reply.clone()));
            }
        });
        Receiver { url, requests, task }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("lock").clone()
    }

    fn count(&self) -> usize {
        self.requests.lock().expect("lock").len()
    }
}

/// Answers the requests of one keep-alive connection.
async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<Request>>>, reply: Arc<Reply>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let method = lines.next().and_then(|l| l.split(' ').next()).unwrap_or_default().to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let request = Request { method, headers, body };
        let index = {
            let mut log = log.lock().expect("lock");
            log.push(request.clone());
            log.len() - 1
        };
        let (status, body) = reply(&request, index);
        let response = if status == 204 {
            "HTTP/1.1 204 No Content\r\n\r\n".to_owned()
        } else {
            format!(
                "HTTP/1.1 {status} Status\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn ok(_: &Request, _: usize) -> (u16, String) {
    (200, String::new())
}

// ---------------------------------------------------------------------------------------------
// Helpers.

async fn sim() -> SimHandle {
    Simulator::start(
        SimConfig { tokens: vec![(TOKEN.to_owned(), TokenStatus::Valid)], ..SimConfig::default() },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("starts")
}

/// `n` events `<tag>-000`, `<tag>-001`, … published just now, in that order.
fn events(tag: &str, n: usize, event_type: &str) -> Vec<Value> {
    let published = jiff::Timestamp::now().to_string();
    (0..n)
        .map(|i| {
            json!({
                "uuid": format!("{tag}-{i:03}"),
                "published": published,
                "eventType": event_type,
                "version": "0",
                "severity": "INFO",
                "displayMessage": "User login to Okta",
                "actor": {"id": "00u1", "type": "User", "alternateId": "a@example.com", "displayName": "A"},
                "outcome": {"result": "SUCCESS", "reason": null},
            })
        })
        .collect()
}

fn hook(receiver: &Receiver) -> HookTarget {
    HookTarget {
        auth: Some(("Authorization".to_owned(), SECRET.to_owned())),
        headers: vec![("X-Custom".to_owned(), "custom-value".to_owned())],
        ..HookTarget::new(receiver.url.clone())
    }
}

/// The uuids of a hook delivery, in order.
fn hook_uuids(request: &Request) -> Vec<String> {
    request.json()["data"]["events"]
        .as_array()
        .expect("data.events is an array")
        .iter()
        .map(|e| e["uuid"].as_str().expect("uuid").to_owned())
        .collect()
}

async fn caught_up(handle: &PushHandle) {
    assert!(handle.until_caught_up(WAIT).await, "delivery did not catch up: {:?}", handle.stats());
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every event in the simulated org, through the System Log API.
async fn org_log(sim: &SimHandle) -> Vec<Value> {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/logs?limit=1000", sim.base_url()))
        .header("authorization", format!("SSWS {TOKEN}"))
        .send()
        .await
        .expect("logs request");
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.expect("body")).expect("a JSON array")
}

fn of_type<'a>(log: &'a [Value], event_type: &str) -> Vec<&'a Value> {
    log.iter().filter(|e| e["eventType"] == event_type).collect()
}

// ---------------------------------------------------------------------------------------------
// Verification.

#[tokio::test]
async fn verify_hook_succeeds_when_the_receiver_echoes_the_challenge_and_sends_auth_and_custom_headers() {
    let receiver = Receiver::start(|request, _| {
        let challenge = request.header("x-okta-verification-challenge").unwrap_or_default();
        (200, json!({ "verification": challenge }).to_string())
    })
    .await;
    verify_hook(&hook(&receiver)).await.expect("verified");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let get = &requests[0];
    assert_eq!(get.method, "GET", "verification is the only GET Okta sends");
    assert!(get.header("x-okta-verification-challenge").is_some_and(|c| c.len() >= 20));
    assert_eq!(get.header("authorization"), Some(SECRET));
    assert_eq!(get.header("x-custom"), Some("custom-value"));
}

#[tokio::test]
async fn verify_hook_fails_with_a_clear_message_on_a_wrong_echo_a_non_json_answer_or_a_5xx() {
    let wrong = Receiver::start(|_, _| (200, r#"{"verification":"not-the-challenge"}"#.to_owned())).await;
    let error = verify_hook(&hook(&wrong)).await.expect_err("a wrong value fails").to_string();
    assert!(error.contains("wrong verification value") && error.contains("not-the-challenge"), "{error}");
    assert_eq!(wrong.count(), 1, "a wrong answer is not retried");

    let text = Receiver::start(|_, _| (200, "hello".to_owned())).await;
    let error = verify_hook(&hook(&text)).await.expect_err("not JSON fails").to_string();
    assert!(error.contains("not JSON"), "{error}");

    let failing = Receiver::start(|_, _| (503, String::new())).await;
    let error = verify_hook(&hook(&failing)).await.expect_err("a 5xx fails").to_string();
    assert!(error.contains("503"), "{error}");
    assert_eq!(failing.count(), 2, "a 5xx is retried once");

    let target = hook(&failing);
    assert!(!format!("{target:?}").contains(SECRET), "Debug never shows the auth value");
}

// ---------------------------------------------------------------------------------------------
// Hook delivery.

#[tokio::test]
async fn hook_delivers_every_pushed_event_once_in_okta_envelopes_with_the_auth_header() {
    let receiver = Receiver::start(|_, n| if n % 2 == 0 { (200, String::new()) } else { (204, String::new()) }).await;
    let sim = sim().await;
    sim.push(&events("before", 3, "user.session.start"), Duration::ZERO);
    let handle = sim.start_event_hook(hook(&receiver), PushChaos { max_batch: 7, seed: 1, ..PushChaos::default() });
    let pushed = events("hook", 40, "user.session.start");
    sim.push(&pushed[..25], Duration::ZERO);
    sim.push(&pushed[25..], Duration::from_millis(300));
    // Events persisted later become visible (and are delivered) only then.
    eventually("all 40 events", || handle.stats().events_delivered == 40).await;
    caught_up(&handle).await;

    let requests = receiver.requests();
    let mut seen = Vec::new();
    let mut event_ids = HashSet::new();
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("accept"), Some("application/json"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("authorization"), Some(SECRET));
        assert_eq!(request.header("x-custom"), Some("custom-value"));
        let body = request.json();
        assert_eq!(body["eventType"], "com.okta.event_hook");
        assert_eq!(body["eventTypeVersion"], "1.0");
        assert_eq!(body["cloudEventsVersion"], "0.1");
        assert_eq!(body["contentType"], "application/json");
        assert_eq!(body["source"], format!("{}/api/v1/eventHooks/who7hphp39JoHLni81d7", sim.base_url()));
        let event_time = body["eventTime"].as_str().expect("eventTime");
        assert!(event_time.len() == 24 && event_time.ends_with('Z'), "RFC 3339 with ms: {event_time}");
        assert!(event_ids.insert(body["eventId"].as_str().expect("eventId").to_owned()), "eventIds are fresh");
        let uuids = hook_uuids(request);
        assert!((1..=7).contains(&uuids.len()), "batches of 1..=max_batch: {}", uuids.len());
        seen.extend(uuids);
    }
    let expected: Vec<String> = pushed.iter().map(|e| e["uuid"].as_str().expect("uuid").to_owned()).collect();
    assert_eq!(seen, expected, "every event once, in order, and nothing from before the hook started");
    assert_eq!(requests[0].json()["data"]["events"][0], pushed[0], "the LogEvent is delivered as it is");
    let stats = handle.stats();
    assert_eq!(stats.events_delivered, 40);
    assert_eq!(stats.requests, u64::try_from(requests.len()).expect("small"));
    assert_eq!((stats.retries, stats.failed_batches, stats.dropped_events), (0, 0, 0));
}

#[tokio::test]
async fn hook_delivers_only_subscribed_hook_eligible_types() {
    let receiver = Receiver::start(ok).await;
    let sim = sim().await;
    let target = HookTarget {
        event_types: vec!["user.session.start".to_owned(), "policy.evaluate_sign_on".to_owned()],
        ..hook(&receiver)
    };
    let handle = sim.start_event_hook(target, PushChaos::default());
    sim.push(&events("start", 3, "user.session.start"), Duration::ZERO);
    sim.push(&events("sso", 3, "user.authentication.sso"), Duration::ZERO);
    sim.push(&events("policy", 3, "policy.evaluate_sign_on"), Duration::ZERO);
    caught_up(&handle).await;
    let seen: Vec<String> = receiver.requests().iter().flat_map(hook_uuids).collect();
    assert_eq!(seen, ["start-000", "start-001", "start-002"], "unsubscribed and ineligible types are not sent");
}

#[tokio::test]
async fn hook_retries_a_5xx_once_then_drops_the_batch_and_logs_an_event_hook_delivery_failure() {
    // Request 0 fails and its retry (1) succeeds; the next batch fails twice (2, 3); then all is well.
    let receiver =
        Receiver::start(|_, n| if matches!(n, 0 | 2 | 3) { (500, String::new()) } else { (200, String::new()) }).await;
    let sim = sim().await;
    let handle = sim.start_event_hook(hook(&receiver), PushChaos { max_batch: 1, ..PushChaos::default() });
    sim.push(&events("retry", 3, "user.session.start"), Duration::ZERO);
    caught_up(&handle).await;

    let requests: Vec<Vec<String>> = receiver.requests().iter().map(hook_uuids).collect();
    assert_eq!(requests, [["retry-000"], ["retry-000"], ["retry-001"], ["retry-001"], ["retry-002"]]);
    let ids: Vec<Value> = receiver.requests().iter().map(|r| r.json()["eventId"].clone()).collect();
    assert_eq!(ids[0], ids[1], "a retry is the same delivery");
    let stats = handle.stats();
    assert_eq!((stats.retries, stats.failed_batches, stats.dropped_events, stats.events_delivered), (2, 1, 1, 2));
    assert!(stats.last_error.as_deref().is_some_and(|e| e.contains("500")), "{stats:?}");

    let log = org_log(&sim).await;
    let failures = of_type(&log, "event_hook.delivery");
    assert_eq!(failures.len(), 1, "one failure event for the dropped batch");
    let failure = failures[0];
    assert_eq!(failure["outcome"]["result"], "FAILURE");
    assert!(failure["outcome"]["reason"].as_str().is_some_and(|r| r.contains("500")), "{failure}");
    assert_eq!(failure["severity"], "WARN");
    assert_eq!(failure["displayMessage"], "Event hook delivery");
    assert_eq!(failure["actor"]["type"], "SystemPrincipal");
    assert_eq!(failure["target"][0]["id"], "who7hphp39JoHLni81d7");
    assert_eq!(failure["target"][0]["type"], "EventHook");
    assert!(failure["uuid"].as_str().is_some_and(|u| u.len() == 36));
    assert_eq!(receiver.count(), 5, "the failure event itself is not delivered to the hook");
}

#[tokio::test]
async fn hook_does_not_retry_a_4xx() {
    let receiver = Receiver::start(|_, _| (400, String::new())).await;
    let sim = sim().await;
    let handle = sim.start_event_hook(hook(&receiver), PushChaos::default());
    sim.push(&events("rejected", 2, "user.session.start"), Duration::ZERO);
    caught_up(&handle).await;
    assert_eq!(receiver.count(), 1, "one request for the batch, no retry");
    let stats = handle.stats();
    assert_eq!((stats.requests, stats.retries, stats.failed_batches, stats.dropped_events), (1, 0, 1, 2));
    assert_eq!(of_type(&org_log(&sim).await, "event_hook.delivery").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Chaos.

#[tokio::test]
async fn duplicate_chaos_sends_delivered_batches_again_and_counts_each_event_once() {
    let receiver = Receiver::start(ok).await;
    let sim = sim().await;
    let chaos = PushChaos { duplicate_probability: 0.5, max_batch: 4, seed: 7, ..PushChaos::default() };
    let handle = sim.start_event_hook(hook(&receiver), chaos);
    let pushed = events("dup", 30, "user.session.start");
    sim.push(&pushed, Duration::ZERO);
    caught_up(&handle).await;

    let mut times: HashMap<String, usize> = HashMap::new();
    for uuid in receiver.requests().iter().flat_map(hook_uuids) {
        *times.entry(uuid).or_default() += 1;
    }
    assert_eq!(times.len(), 30, "every event arrives");
    assert!(times.values().any(|n| *n > 1), "some arrive more than once");
    let stats = handle.stats();
    assert!(stats.duplicate_requests > 0, "{stats:?}");
    assert_eq!(stats.requests, stats.batches_delivered + stats.duplicate_requests);
    assert_eq!(stats.events_delivered, 30, "duplicates are not counted as more events");
}

#[tokio::test]
async fn reorder_chaos_delivers_batches_out_of_order_without_losing_any() {
    let receiver = Receiver::start(ok).await;
    let sim = sim().await;
    let chaos = PushChaos { reorder: true, max_batch: 3, seed: 3, ..PushChaos::default() };
    let handle = sim.start_event_hook(hook(&receiver), chaos);
    let pushed = events("order", 30, "user.session.start");
    sim.push(&pushed, Duration::ZERO);
    caught_up(&handle).await;

    let batches: Vec<Vec<String>> = receiver.requests().iter().map(hook_uuids).collect();
    let firsts: Vec<&String> = batches.iter().map(|b| &b[0]).collect();
    assert!(firsts.windows(2).any(|w| w[0] > w[1]), "some batch arrives after a later one: {firsts:?}");
    let mut all: Vec<String> = batches.concat();
    all.sort();
    let expected: Vec<String> = pushed.iter().map(|e| e["uuid"].as_str().expect("uuid").to_owned()).collect();
    assert_eq!(all, expected, "each event exactly once");
    assert!(handle.stats().reordered_batches > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 6)]
async fn concurrency_chaos_sends_several_requests_at_once_and_still_delivers_each_event_once() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (now, peak) = (in_flight.clone(), most.clone());
    let receiver = Receiver::start(move |_, _| {
        peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
        // A slow receiver (this blocks its worker thread, which is what makes requests overlap).
        std::thread::sleep(Duration::from_millis(30));
        now.fetch_sub(1, Ordering::SeqCst);
        (200, String::new())
    })
    .await;
    let sim = sim().await;
    let chaos = PushChaos { concurrency: 3, max_batch: 2, seed: 5, ..PushChaos::default() };
    let handle = sim.start_event_hook(hook(&receiver), chaos);
    sim.push(&events("parallel", 24, "user.session.start"), Duration::ZERO);
    caught_up(&handle).await;

    let mut all: Vec<String> = receiver.requests().iter().flat_map(hook_uuids).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 24, "every event");
    assert_eq!(receiver.count(), usize::try_from(handle.stats().batches_delivered).expect("small"), "once");
    assert!(most.load(Ordering::SeqCst) > 1, "requests overlapped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_hook_chaos_at_once_still_delivers_every_event() {
    let receiver = Receiver::start(ok).await;
    let sim = sim().await;
    let chaos = PushChaos { duplicate_probability: 0.5, reorder: true, max_batch: 20, concurrency: 4, seed: 11 };
    let handle = sim.start_event_hook(hook(&receiver), chaos);
    let pushed = events("mixed", 600, "user.session.start");
    sim.push(&pushed, Duration::ZERO);
    caught_up(&handle).await;

    let received: HashSet<String> = receiver.requests().iter().flat_map(hook_uuids).collect();
    assert_eq!(received.len(), 600, "every event");
    let stats = handle.stats();
    assert_eq!(stats.events_delivered, 600, "{stats:?}");
    assert!(stats.duplicate_requests > 0 && stats.reordered_batches > 0, "{stats:?}");
}

// ---------------------------------------------------------------------------------------------
// Log Streaming.

#[tokio::test]
async fn stream_posts_one_eventbridge_envelope_per_event_with_the_partner_source() {
    let receiver = Receiver::start(ok).await;
    let sim = sim().await;
    let auth = Some(("x-api-key".to_owned(), "destination-key".to_owned()));
    let target = StreamTarget::http(receiver.url.clone(), auth);
    assert!(!format!("{target:?}").contains("destination-key"), "Debug never shows the auth value");
    let handle = sim.start_log_stream(target, PushChaos::default());
    let mut pushed = events("stream", 5, "user.session.start");
    pushed[1]["eventType"] = json!("policy.evaluate_sign_on");
    pushed[2]["published"] = json!("2023-05-30T14:17:58.126Z");
    sim.push(&pushed, Duration::ZERO);
    caught_up(&handle).await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 5, "one request per event, and every event type");
    for (request, event) in requests.iter().zip(&pushed) {
        assert_eq!(request.header("x-api-key"), Some("destination-key"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        let envelope = request.json();
        assert_eq!(envelope["version"], "0");
        assert_eq!(envelope["detail-type"], "SystemLog");
        assert!(envelope["source"].as_str().is_some_and(|s| s.starts_with("aws.partner/okta.com/")));
        assert!(envelope["account"].as_str().is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())));
        assert_eq!(envelope["region"], "us-east-1");
        assert_eq!(envelope["resources"], json!([]));
        assert_eq!(envelope["id"].as_str().map(str::len), Some(36));
        assert_eq!(&envelope["detail"], event);
    }
    assert_eq!(requests[2].json()["time"], "2023-05-30T14:17:58Z", "published truncated to seconds");
    assert_eq!(handle.stats().events_delivered, 5);
}

#[tokio::test]
async fn stream_deactivates_after_two_failed_attempts_and_reactivation_skips_the_gap() {
    let healthy = Arc::new(AtomicBool::new(false));
    let up = healthy.clone();
    let receiver = Receiver::start(
        move |_, _| {
            if up.load(Ordering::SeqCst) { (200, String::new()) } else { (502, String::new()) }
        },
    )
    .await;
    let sim = sim().await;
    let handle = sim.start_log_stream(StreamTarget::http(receiver.url.clone(), None), PushChaos::default());
    sim.push(&events("outage", 3, "user.session.start"), Duration::ZERO);
    eventually("the stream to be deactivated", || handle.stats().deactivated).await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "exactly two attempts");
    assert!(requests.iter().all(|r| r.json()["detail"]["uuid"] == "outage-000"), "both for the first event");
    let stats = handle.stats();
    assert_eq!((stats.requests, stats.retries, stats.failed_batches, stats.deactivations), (2, 1, 1, 1));
    assert!(!handle.caught_up(), "a deactivated stream is not caught up");
    let deactivations = of_type(&org_log(&sim).await, "system.log_stream.lifecycle.deactivate").len();
    assert_eq!(deactivations, 1, "Okta logs the deactivation");

    // While deactivated nothing is sent, even when the destination is back.
    healthy.store(true, Ordering::SeqCst);
    sim.push(&events("gap", 4, "user.session.start"), Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 2, "nothing is delivered while the stream is deactivated");

    handle.reactivate();
    let after = events("after", 3, "user.session.start");
    sim.push(&after, Duration::ZERO);
    caught_up(&handle).await;
    let delivered: Vec<Value> = receiver.requests()[2..].iter().map(|r| r.json()["detail"]["uuid"].clone()).collect();
    assert_eq!(delivered, [json!("after-000"), json!("after-001"), json!("after-002")], "no replay of the gap");
    let stats = handle.stats();
    assert!(!stats.deactivated);
    // outage-001/002, gap-000..003, the deactivation and the activation events.
    assert_eq!(stats.skipped_events, 8, "{stats:?}");
    assert_eq!(of_type(&org_log(&sim).await, "system.log_stream.lifecycle.activate").len(), 1);
}

#[tokio::test]
async fn stream_chaos_duplicates_envelopes_with_new_ids_and_reorders_them() {
    let receiver = Receiver::start(ok).await;
    let sim = sim().await;
    let chaos = PushChaos { duplicate_probability: 0.3, reorder: true, seed: 11, ..PushChaos::default() };
    let handle = sim.start_log_stream(StreamTarget::http(receiver.url.clone(), None), chaos);
    sim.push(&events("chaos", 20, "user.session.start"), Duration::ZERO);
    caught_up(&handle).await;

    let envelopes: Vec<Value> = receiver.requests().iter().map(Request::json).collect();
    let uuids: Vec<&str> = envelopes.iter().map(|e| e["detail"]["uuid"].as_str().expect("uuid")).collect();
    let ids: HashSet<&str> = envelopes.iter().map(|e| e["id"].as_str().expect("id")).collect();
    assert_eq!(ids.len(), envelopes.len(), "every envelope has its own EventBridge id");
    assert_eq!(uuids.iter().collect::<HashSet<_>>().len(), 20, "every event arrives");
    assert!(uuids.len() > 20, "some arrive twice");
    assert!(uuids.windows(2).any(|w| w[0] > w[1]), "some arrive out of order: {uuids:?}");
    assert_eq!(handle.stats().events_delivered, 20);
}

#[tokio::test]
async fn deliveries_stop_when_the_simulator_is_dropped() {
    let receiver = Receiver::start(ok).await;
    let sim = sim().await;
    let handle = sim.start_event_hook(hook(&receiver), PushChaos::default());
    drop(sim);
    eventually("the delivery to stop", || handle.stats().stopped).await;
}
