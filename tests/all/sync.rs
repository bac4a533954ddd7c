//! The directory sync against the simulator: a full sync and then incremental ones after
//! mutations leave the store equal to the simulated directory, deprovisioned users included; a
//! membership change refetches only that group; the poll and the sync share a tight budget
//! without a 429 for the poller; a 10k-user org syncs within the rate budget (figures printed).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use okta_normalizer_host::commands::sync::{summary, sync};
use okta_normalizer_host::config::Config;
use okta_normalizer_host::sim::generator::Generator;
use okta_normalizer_host::sim::{Chaos, Directory, SimConfig, SimHandle, Simulator, TokenStatus};
use okta_normalizer_host::sources::directory::{Mode, SyncReport};
use okta_normalizer_host::store::Store;
use okta_normalizer_tests::runtime;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::poll::{events, poll_once, test_dir};

const TOKEN: &str = "00test-token-0123456789abcdef";
const DOMAIN: &str = "sync.okta.example.com";

async fn start_sim(config: SimConfig, users: usize, lag: Duration) -> SimHandle {
    let sim = Simulator::start(
        SimConfig { tokens: vec![(TOKEN.to_owned(), TokenStatus::Valid)], ..config },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator starts");
    let generator = Generator::new(7, DOMAIN);
    let mut directory = Directory::generate(7, &generator.people(), &generator.groups(), users);
    directory.search_lag = lag;
    sim.set_directory(directory);
    sim
}

fn write_config(dir: &Path, sim: &SimHandle, extra: &str) -> Config {
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    let text = format!(
        "[store]\npath = {store:?}\n\n[[org]]\nname = \"acme\"\nurl = {url:?}\ntenant = {DOMAIN:?}\npage_limit = 100\n\
         interval_secs = 1\nretry_base_ms = 20\n\n[org.auth]\ntype = \"ssws\"\ntoken_file = {token_file:?}\n\n\
         [org.directory]\nenabled = true\nincremental_overlap_secs = 2\n{extra}\n\n[[org.sinks]]\ntype = \"file\"\n\
         dir = {events:?}\nmax_bytes = 50000000\n",
        store = dir.join("store.db"),
        url = sim.base_url(),
        events = dir.join("events"),
    );
    let path = dir.join("poll.toml");
    std::fs::write(&path, text).expect("config");
    Config::load(&path).expect("valid config")
}

async fn sync_once(dir: &Path, sim: &SimHandle, mode: Mode) -> SyncReport {
    let config = write_config(dir, sim, "");
    let (_tx, rx) = watch::channel(false);
    let mut results =
        sync(config, runtime(), Some(mode), None, rx, Duration::from_secs(3600)).await.expect("sync runs");
    let (org, result) = results.pop().expect("one org");
    let report = result.expect("the sync succeeds").expect("a report");
    println!("{}", summary(&org, &report));
    report
}

fn store(dir: &Path) -> Store {
    Store::open(&dir.join("store.db"), 100).expect("store opens")
}

/// A device as compared: its embedded users reduced to their ids (a device's `lastUpdated`
/// does not move when its user's profile does, so a synced copy may hold an older user).
fn device_shape(mut d: Value) -> Value {
    if let Some(users) = d["_embedded"]["users"].as_array_mut() {
        for u in users {
            u["user"] = json!(u["user"]["id"]);
        }
    }
    d
}

/// The stored directory equals the simulator's, object for object.
fn assert_store_matches(dir: &Path, sim: &SimHandle) {
    let expected = sim.directory_snapshot();
    let store = store(dir);
    let parse = |kind: &str| -> BTreeMap<String, Value> {
        store
            .directory_objects("acme", kind)
            .expect("reads")
            .into_iter()
            .map(|(id, o)| (id, serde_json::from_str(&o.json).expect("stored JSON")))
            .collect()
    };
    let users = parse("user");
    assert_eq!(users.len(), expected.users.len(), "user count");
    for (id, user) in &expected.users {
        assert_eq!(users.get(id), Some(user), "user {id}");
    }
    assert_eq!(parse("group"), expected.groups, "groups");
    let members: BTreeMap<String, Vec<String>> = expected.members.into_iter().filter(|(_, m)| !m.is_empty()).collect();
    assert_eq!(store.directory_members("acme").expect("reads"), members, "memberships");
    let devices: BTreeMap<String, Value> = parse("device").into_iter().map(|(k, v)| (k, device_shape(v))).collect();
    let expected_devices: BTreeMap<String, Value> =
        expected.devices.into_iter().map(|(k, v)| (k, device_shape(v))).collect();
    assert_eq!(devices, expected_devices, "devices");
    assert_eq!(parse("user-schema").get("default"), Some(&expected.schema), "schema");
}

/// Every entity document in the sink files.
fn entities_written(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("events")).expect("events dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("readable");
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
                .filter(|d| d["event"]["kind"] == "asset"),
        );
    }
    out
}

/// Every event in `expected` is in the sink files exactly once (entity documents aside).
fn assert_events_once(dir: &Path, expected: &[Value]) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(dir.join("events")).expect("events dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("readable");
        for doc in text.lines().map(|l| serde_json::from_str::<Value>(l).expect("JSON")) {
            if doc["event"]["kind"] == "asset" || doc["okta"]["alert"].is_object() {
                continue;
            }
            *counts.entry(doc["event"]["id"].as_str().expect("event.id").to_owned()).or_insert(0) += 1;
        }
    }
    for e in expected {
        assert_eq!(counts.get(e["uuid"].as_str().expect("uuid")), Some(&1), "event {}", e["uuid"]);
    }
    assert_eq!(counts.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_incremental_syncs_leave_the_store_equal_to_the_directory() {
    let lag = Duration::from_millis(300);
    let sim = start_sim(SimConfig::default(), 120, lag).await;
    let dir = test_dir("sync-equal");
    let ids = sim.directory(|d| d.user_ids());
    let gone = ids[5].clone();
    sim.directory(|d| d.deprovision(&gone));
    tokio::time::sleep(lag + Duration::from_millis(100)).await;

    let full = sync_once(&dir, &sim, Mode::Full).await;
    assert!(full.full);
    assert_eq!(full.users, 120, "DEPROVISIONED users are synced too");
    assert_eq!(full.changes[0], u64::from(full.users + full.groups + full.devices) + 1, "all discovered, + schema");
    assert_store_matches(&dir, &sim);
    let stored = store(&dir).directory_object("acme", "user", &gone).expect("reads").expect("deprovisioned user kept");
    assert_eq!(stored.status.as_deref(), Some("DEPROVISIONED"));
    let entities = entities_written(&dir);
    assert_eq!(
        entities.len(),
        usize::try_from(full.users + full.devices).expect("small"),
        "a document per user and device"
    );
    assert_eq!(u64::try_from(entities.len()).expect("small"), full.entities);
    assert!(entities.iter().any(|e| e["user"]["id"] == gone.as_str()), "the deprovisioned user has a document");

    // Mutations: one of each kind, then an incremental sync once search caught up.
    let groups = sim.directory(|d| d.group_ids());
    let everyone = sim.directory(|d| d.everyone());
    let (from, to) = {
        let member = &ids[10];
        let from = groups.iter().find(|g| **g != everyone && sim.directory(|d| d.members(g).contains(member)));
        let to = groups.iter().find(|g| **g != everyone && !sim.directory(|d| d.members(g).contains(member)));
        (from.expect("a group of the member").clone(), to.expect("another group").clone())
    };
    sim.directory(|d| {
        let new = d.create_user("Rowan", "Test");
        assert!(d.update_profile(&ids[1], &json!({"title": "VP Engineering", "badgeId": "B999999"})));
        assert!(d.deprovision(&ids[2]));
        assert!(d.move_member(&ids[10], &from, &to));
        d.add_device(&new, "ROWAN-MBP", "MACOS", true).expect("device added");
        d.add_custom_attribute("shirtSize", "Shirt size", "string");
    });
    tokio::time::sleep(lag + Duration::from_millis(100)).await;
    sim.reset_directory_calls();
    let inc = sync_once(&dir, &sim, Mode::Incremental).await;
    assert!(!inc.full);
    assert_store_matches(&dir, &sim);
    assert_eq!(inc.changes[2], 1, "one user deprovisioned");
    assert!(inc.changes[0] >= 2, "the new user and device are discovered: {:?}", inc.changes);
    assert!(inc.changes[1] >= 1, "the profile change, the groups and the schema are modified: {:?}", inc.changes);
    let calls = sim.directory_calls();
    assert_eq!(calls.calls.get("users"), Some(&1), "one page of changed users: {calls:?}");
    assert_eq!(calls.calls.get("group_users"), Some(&3), "members of Everyone and the two groups only: {calls:?}");
    assert_eq!(inc.groups_refetched, 3);
    assert_eq!(calls.rejected_429, 0);

    // Nothing changed: an incremental sync finds nothing (boundary duplicates are absorbed).
    let idle = sync_once(&dir, &sim, Mode::Incremental).await;
    assert_eq!(idle.changes, [0, 0, 0, 0], "nothing new");

    // Deletions are only visible to a full sync.
    let mentions = |id: &str| entities_written(&dir).iter().filter(|e| e.to_string().contains(id)).count();
    let before = mentions(&ids[3]);
    let device = sim.directory(|d| d.device_ids()[0].clone());
    sim.directory(|d| {
        assert!(d.delete_user(&ids[3]));
        assert!(d.remove_device(&device));
    });
    tokio::time::sleep(lag + Duration::from_millis(100)).await;
    let full = sync_once(&dir, &sim, Mode::Full).await;
    assert!(full.changes[3] >= 2, "the user and the device are deleted: {:?}", full.changes);
    assert_store_matches(&dir, &sim);
    assert!(mentions(&ids[3]) > before, "the deleted user gets an entity document");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_events_are_enriched_from_the_synced_directory() {
    let sim = start_sim(SimConfig::default(), 60, Duration::ZERO).await;
    let dir = test_dir("sync-enrich");
    // The log generator of the same org: its actors are directory users.
    let mut generator = Generator::new(7, DOMAIN);
    let now = jiff::Timestamp::now().as_millisecond();
    let logged = generator.background(now - 3_600_000, now - 60_000, 300);
    sim.push(&logged, Duration::ZERO);
    let report = sync_once(&dir, &sim, Mode::Full).await;
    assert!(report.users > 0);
    let results = poll_once(write_config(&dir, &sim, "")).await;
    assert!(results[0].1.is_ok(), "{:?}", results[0].1);
    assert_events_once(&dir, &logged);
    let directory = sim.directory_snapshot();
    let mut enriched = 0;
    for entry in std::fs::read_dir(dir.join("events")).expect("events dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("readable");
        for doc in text.lines().map(|l| serde_json::from_str::<Value>(l).expect("JSON")) {
            if doc["event"]["kind"] == "asset" {
                continue;
            }
            let actor = &doc["okta"]["enrichment"]["actor"];
            if actor["known"] != true {
                continue;
            }
            let id = actor["id"].as_str().expect("a known actor has an id");
            let user = &directory.users[id];
            assert_eq!(actor["department"], user["profile"]["department"], "{doc}");
            assert_eq!(doc["user"]["email"], user["profile"]["email"], "{doc}");
            enriched += 1;
        }
    }
    assert!(enriched > 100, "most events have a known actor: {enriched} of {}", logged.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_refetches_only_that_group() {
    let sim = start_sim(SimConfig::default(), 450, Duration::ZERO).await;
    let dir = test_dir("sync-membership");
    let full = sync_once(&dir, &sim, Mode::Full).await;
    let everyone_pages = 450_u64.div_ceil(200);
    assert!(full.calls["group_users"] >= u64::from(full.groups) - 1 + everyone_pages, "every group's members at first");
    let (group, user) = sim.directory(|d| {
        let everyone = d.everyone();
        let g = d.group_ids().into_iter().find(|g| *g != everyone && !d.members(g).is_empty()).expect("a group");
        let u = d.user_ids().into_iter().find(|u| !d.members(&g).contains(u)).expect("a user outside it");
        (g, u)
    });
    sim.directory(|d| assert!(d.add_member(&group, &user)));
    sim.reset_directory_calls();
    let inc = sync_once(&dir, &sim, Mode::Incremental).await;
    let calls = sim.directory_calls();
    assert_eq!(calls.calls.get("group_users"), Some(&1), "only the changed group's members: {calls:?}");
    assert_eq!(inc.groups_refetched, 1);
    assert!(store(&dir).directory_members("acme").expect("reads")[&group].contains(&user));
    assert_store_matches(&dir, &sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_and_sync_share_a_tight_budget_without_a_429_for_the_poller() {
    // Two requests in flight at most (the poller's and the directory's), small directory
    // buckets and 1-second windows; every response takes 10 ms.
    let config = SimConfig {
        concurrency_limit: 2,
        window: Duration::from_secs(1),
        directory_per_minute: Some(16),
        chaos: Chaos { latency: Duration::from_millis(10), ..Chaos::default() },
        ..SimConfig::default()
    };
    let sim = start_sim(config, 600, Duration::ZERO).await;
    let dir = test_dir("sync-budget");
    let logged = events(1200, 30, "budget");
    sim.push(&logged, Duration::ZERO);
    let config = write_config(&dir, &sim, "");
    let started = Instant::now();
    let results = poll_once(config).await;
    let elapsed = started.elapsed();
    for (org, r) in &results {
        assert!(r.is_ok(), "org {org}: {r:?}");
    }
    let (requests, rejected) = sim.request_counts();
    let calls = sim.directory_calls();
    println!(
        "poll + sync: {requests} log requests, {} directory calls ({:?}), {} s",
        calls.total(),
        calls.calls,
        elapsed.as_secs_f64()
    );
    assert_eq!(rejected, 0, "the poller never saw a 429");
    let stats = results[0].1.as_ref().expect("polled").lock().expect("stats").clone();
    assert_eq!((stats.rate_limited, stats.retries), (0, 0), "the poller never waited or retried");
    assert_events_once(&dir, &logged);
    assert_store_matches(&dir, &sim);
    // The directory kept to its share: never more than the bucket allows in a window.
    for bucket in okta_normalizer_host::sim::DirectoryBucket::ALL {
        let (history, limit) = sim.directory_window_usage(bucket);
        assert!(history.iter().all(|n| *n <= limit), "{bucket:?}: {history:?} over {limit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10k_user_org_syncs_within_the_rate_budget() {
    // Okta's Workforce limits at a 50 % share, with 1-second windows instead of minutes so the
    // test takes seconds: the call counts are what a real org sees; the times scale with the window.
    let config = SimConfig { window: Duration::from_secs(1), ..SimConfig::default() };
    let sim = start_sim(config, 10_000, Duration::ZERO).await;
    let dir = test_dir("sync-10k");
    let full = sync_once(&dir, &sim, Mode::Full).await;
    let full_calls = sim.directory_calls();
    assert_eq!(full.users, 10_000);
    assert_eq!(full_calls.rejected_429, 0, "no 429");
    assert_eq!(full_calls.calls["users"], 50, "10,000 users in pages of 200");
    sim.directory(|d| {
        let ids = d.user_ids();
        for (i, id) in ids.iter().step_by(200).enumerate() {
            d.update_profile(id, &json!({"title": format!("Title {i}")}));
        }
        let g = d.group_ids().into_iter().find(|g| *g != d.everyone()).expect("a group");
        d.add_member(&g, &ids[1]);
        d.deprovision(&ids[2]);
    });
    sim.reset_directory_calls();
    let inc = sync_once(&dir, &sim, Mode::Incremental).await;
    let inc_calls = sim.directory_calls();
    assert_eq!(inc_calls.rejected_429, 0, "no 429");
    assert_eq!(inc.changes[2], 1);
    assert!(inc.changes[1] >= 50, "the 50 profile changes: {:?}", inc.changes);
    assert_store_matches(&dir, &sim);
    println!(
        "10k-user org: full sync {} calls {:?} in {:.2} s; incremental sync {} calls {:?} in {:.2} s",
        full_calls.total(),
        full_calls.calls,
        full.elapsed.as_secs_f64(),
        inc_calls.total(),
        inc_calls.calls,
        inc.elapsed.as_secs_f64()
    );
    assert!(inc_calls.total() <= 10, "an incremental sync is a handful of calls");
}
