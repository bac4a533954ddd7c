//! The simulator behaves like Okta where the poller depends on it.

use std::time::Duration;

use okta_normalizer_host::sim::{SimConfig, SimHandle, Simulator, TokenStatus};
use serde_json::{Value, json};

const TOKEN: &str = "00sim-test-token";

async fn sim() -> SimHandle {
    Simulator::start(
        SimConfig { tokens: vec![(TOKEN.to_owned(), TokenStatus::Valid)], ..SimConfig::default() },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("starts")
}

fn event(i: u32, published: &str) -> Value {
    json!({"uuid": format!("e{i}"), "published": published, "eventType": "user.session.start"})
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::new().get(url).header("authorization", format!("SSWS {TOKEN}")).send().await.expect("request")
}

async fn json<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> T {
    serde_json::from_slice(&r.bytes().await.expect("body")).expect("a JSON body")
}

fn links(r: &reqwest::Response) -> Vec<String> {
    r.headers().get_all("link").iter().map(|v| v.to_str().expect("ascii").to_owned()).collect()
}

fn next_of(r: &reqwest::Response) -> Option<String> {
    links(r).iter().find(|l| l.ends_with("rel=\"next\"")).map(|l| l[1..l.find('>').expect("<url>")].to_owned())
}

#[tokio::test]
async fn polling_pages_follow_next_and_an_empty_page_keeps_the_cursor() {
    let sim = sim().await;
    let now = jiff::Timestamp::now();
    let published = |s: i64| (now - jiff::SignedDuration::from_secs(s)).to_string();
    sim.push(&[event(1, &published(30)), event(2, &published(20)), event(3, &published(10))], Duration::ZERO);
    let since = (now - jiff::SignedDuration::from_secs(3600)).to_string();
    let r = get(&format!("{}/api/v1/logs?since={since}&limit=2", sim.base_url())).await;
    assert_eq!(r.status(), 200);
    assert_eq!(links(&r).len(), 2, "self and next come as separate link header lines");
    for h in ["x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset", "date", "x-okta-request-id"] {
        assert!(r.headers().contains_key(h), "{h} is on every response");
    }
    let next = next_of(&r).expect("polling always has next");
    assert!(next.contains("after=") && !next.contains("since="), "next drops since and carries after: {next}");
    let page: Vec<Value> = json(r).await;
    assert_eq!(page.len(), 2);
    let r = get(&next).await;
    let next2 = next_of(&r).expect("next again");
    assert_eq!(json::<Vec<Value>>(r).await.len(), 1, "the short page");
    let r = get(&next2).await;
    assert_eq!(next_of(&r).as_deref(), Some(next2.as_str()), "an empty polling page returns the same cursor");
    assert!(json::<Vec<Value>>(r).await.is_empty());
    // A late event (persisted now, published an hour ago) still comes behind the cursor.
    sim.push(&[event(4, &published(3000))], Duration::ZERO);
    let late: Vec<Value> = json(get(&next2).await).await;
    assert_eq!(late[0]["uuid"], "e4");
}

#[tokio::test]
async fn bounded_queries_end_and_errors_look_like_okta() {
    let sim = sim().await;
    let now = jiff::Timestamp::now();
    let at = |s: i64| (now - jiff::SignedDuration::from_secs(s)).to_string();
    sim.push(&[event(1, &at(50)), event(2, &at(40)), event(3, &at(30))], Duration::ZERO);
    let r = get(&format!("{}/api/v1/logs?since={}&until={}&limit=2", sim.base_url(), at(100), at(0))).await;
    let next = next_of(&r).expect("more remain");
    let r = get(&next).await;
    assert_eq!(next_of(&r), None, "the last bounded page has no next");

    let r = get(&format!("{}/api/v1/logs?limit=1001", sim.base_url())).await;
    assert_eq!(r.status(), 400);
    let body: Value = json(r).await;
    assert_eq!(body["errorCode"], "E0000001");
    assert!(body["errorId"].as_str().expect("id").starts_with("oae"));
    let old = (now - jiff::SignedDuration::from_hours(24 * 181)).to_string();
    let body: Value = json(get(&format!("{}/api/v1/logs?since={old}", sim.base_url())).await).await;
    assert_eq!(body["errorCode"], "E0000053");
    let r = reqwest::get(format!("{}/api/v1/logs", sim.base_url())).await.expect("request");
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-rate-limit-remaining"), "401s carry the rate-limit headers too");
}
