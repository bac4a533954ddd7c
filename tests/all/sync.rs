//! The directory sync against the simulator: a full sync and then incremental ones after
//! mutations leave the store equal to the simulated directory, deprovisioned users and admin roles
//! included; a membership change refetches only that group; role changes reach an incremental
//! sync; a refused role API (403) or `roles = false` leaves a working sync without roles; the poll
//! and the sync share a tight budget without a 429 for the poller; a first poll waits for the first
//! sync, so its events are enriched; a 10k-user org syncs within the rate budget (figures printed).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use okta_normalizer_host::commands::sync::{summary, sync};
use okta_normalizer_host::config::Config;
use okta_normalizer_host::sim::directory::ROLE_GROUP;
use okta_normalizer_host::sim::generator::Generator;
use okta_normalizer_host::sim::{
    Chaos, Directory, OAuthConfig, OinClient, SimConfig, SimHandle, Simulator, TokenStatus,
};
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
    write_config_with(dir, sim, &format!("type = \"ssws\"\ntoken_file = {token_file:?}"), extra)
}

/// A config whose `[org.auth]` holds `auth`, with `extra` lines in `[org.directory]`.
fn write_config_with(dir: &Path, sim: &SimHandle, auth: &str, extra: &str) -> Config {
    let text = format!(
        "[store]\npath = {store:?}\n\n[[org]]\nname = \"acme\"\nurl = {url:?}\ntenant = {DOMAIN:?}\npage_limit = 100\n\
         interval_secs = 1\nretry_base_ms = 20\n\n[org.auth]\n{auth}\n\n\
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
    sync_config(write_config(dir, sim, ""), mode).await
}

async fn sync_config(config: Config, mode: Mode) -> SyncReport {
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
    let roles: BTreeMap<String, Value> = store
        .directory_roles("acme")
        .expect("reads")
        .into_iter()
        .map(|(id, json)| (id, serde_json::from_str(&json).expect("stored JSON")))
        .collect();
    assert_eq!(roles, sorted_roles(expected.roles), "admin roles");
}

/// Role lists as the sync stores them: each sorted by assignment id.
fn sorted_roles(roles: BTreeMap<String, Vec<Value>>) -> BTreeMap<String, Value> {
    roles
        .into_iter()
        .map(|(id, mut list)| {
            list.sort_by_key(|a| (a["id"].as_str().unwrap_or_default().to_owned(), a.to_string()));
            (id, Value::Array(list))
        })
        .collect()
}

/// What `user.roles` should say for a role list: active standard types and custom labels.
fn role_names(list: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = list
        .iter()
        .filter(|a| a["status"] == "ACTIVE")
        .filter_map(|a| if a["type"] == "CUSTOM" { a["label"].as_str() } else { a["type"].as_str() })
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The last entity document written for a user.
fn last_entity(dir: &Path, user: &str) -> Value {
    entities_written(dir)
        .into_iter()
        .filter(|e| e["user"]["id"] == user)
        .max_by_key(|e| e["@timestamp"].as_str().map(str::to_owned))
        .expect("an entity document")
}

/// Every entity document in the sink files.
/// An hour of everyday activity by the log generator of the same org (its actors are directory
/// users), in the simulator's log.
fn log_directory_users_activity(sim: &SimHandle) -> Vec<Value> {
    let mut generator = Generator::new(7, DOMAIN);
    let now = jiff::Timestamp::now().as_millisecond();
    let logged = generator.background(now - 3_600_000, now - 60_000, 300);
    sim.push(&logged, Duration::ZERO);
    logged
}

/// `poll --once` with the directory on; every logged event is written exactly once.
async fn poll_all_once(dir: &Path, sim: &SimHandle, logged: &[Value]) {
    let results = poll_once(write_config(dir, sim, "")).await;
    assert!(results[0].1.is_ok(), "{:?}", results[0].1);
    assert_events_once(dir, logged);
}

/// Every document in the file sink: entity documents (`event.kind: asset`) when `entities`,
/// otherwise the events.
fn written(dir: &Path, entities: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("events")).expect("events dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("readable");
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
                .filter(|d| (d["event"]["kind"] == "asset") == entities),
        );
    }
    out
}

fn entities_written(dir: &Path) -> Vec<Value> {
    written(dir, true)
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

    // Admin roles: the generator's admins, a custom role and a role held through a group.
    let admins = sim.directory_snapshot().roles;
    let all: Vec<&Value> = admins.values().flatten().collect();
    assert!(all.iter().any(|a| a["assignmentType"] == "GROUP"), "a role through a group: {all:?}");
    assert!(all.iter().any(|a| a["type"] == "CUSTOM" && a["resource-set"].is_string()), "a custom role");
    assert!(all.iter().any(|a| a["type"] == "SUPER_ADMIN"));
    let holders = admins.len();
    assert!(holders >= 6, "a handful of admins: {holders}");
    assert_eq!(usize::try_from(full.role_holders).expect("small"), holders);
    assert_eq!(usize::try_from(full.roles_changed).expect("small"), holders, "every admin's roles are new");
    assert_eq!(full.calls.get("role_assignees"), Some(&1), "one page of assignees");
    assert_eq!(full.calls.get("user_roles").copied(), Some(u64::try_from(holders).expect("small")));
    for (id, list) in &admins {
        let doc = entities.iter().find(|e| e["user"]["id"] == id.as_str()).expect("the admin's document");
        assert_eq!(doc["user"]["roles"], json!(role_names(list)), "{id}");
        assert_eq!(doc["okta"]["user"]["roles"].as_array().map(Vec::len), Some(list.len()), "{id}");
    }
    let plain = entities.iter().find(|e| !admins.contains_key(e["user"]["id"].as_str().unwrap_or_default()));
    assert!(plain.is_some_and(|e| e["user"].get("roles").is_none()), "users without roles have no user.roles");

    // Mutations: one of each kind, then an incremental sync once search caught up.
    let groups = sim.directory(|d| d.group_ids());
    let everyone = sim.directory(|d| d.everyone());
    let (from, to) = {
        let member = &ids[10];
        // Not the group holding a role: this move is about memberships, not roles.
        let names = sim.directory_snapshot().groups;
        let plain = |g: &&String| **g != everyone && names[*g]["profile"]["name"] != ROLE_GROUP.0;
        let from = groups.iter().filter(plain).find(|g| sim.directory(|d| d.members(g).contains(member)));
        let to = groups.iter().filter(plain).find(|g| !sim.directory(|d| d.members(g).contains(member)));
        (from.expect("a group of the member").clone(), to.expect("another group").clone())
    };
    // Roles: one user without a role gets one, and one direct assignment is removed. Neither moves
    // a user's lastUpdated, so only reading the roles on every sync finds them.
    let (granted, revoked) = sim.directory(|d| {
        let granted = ids[20..].iter().find(|u| !admins.contains_key(*u)).expect("a user without a role").clone();
        assert!(d.assign_role(&granted, "REPORT_ADMIN").is_some());
        let (revoked, assignment) = admins
            .iter()
            .filter(|(u, _)| **u != granted)
            .find_map(|(u, list)| {
                let a = list.iter().find(|a| a["assignmentType"] == "USER" && a["type"] == "READ_ONLY_ADMIN")?;
                Some((u.clone(), a["id"].as_str()?.to_owned()))
            })
            .expect("a direct READ_ONLY_ADMIN");
        assert!(d.unassign_role(&revoked, &assignment));
        (granted, revoked)
    });
    let docs_of = |user: &str| entities_written(&dir).iter().filter(|e| e["user"]["id"] == user).count();
    let before = (docs_of(&granted), docs_of(&revoked));
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
    assert_eq!(inc.roles_changed, 2, "the granted and the revoked role");
    assert_eq!(calls.calls.get("role_assignees"), Some(&1));
    assert_eq!((docs_of(&granted), docs_of(&revoked)), (before.0 + 1, before.1 + 1), "both get a new document");
    let roles_now = sim.directory_snapshot().roles;
    assert_eq!(last_entity(&dir, &granted)["user"]["roles"], json!(["REPORT_ADMIN"]));
    let left = roles_now.get(&revoked).map(|l| role_names(l)).unwrap_or_default();
    let doc = last_entity(&dir, &revoked);
    assert_eq!(doc["user"].get("roles").cloned().unwrap_or(json!([])), json!(left), "{doc}");
    assert!(
        !doc["okta"]["user"]["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["type"] == "READ_ONLY_ADMIN" && a["assignment_type"] == "USER"),
        "the revoked assignment is gone: {doc}"
    );

    // Nothing changed: an incremental sync finds nothing (boundary duplicates are absorbed).
    let idle = sync_once(&dir, &sim, Mode::Incremental).await;
    assert_eq!(idle.changes, [0, 0, 0, 0], "nothing new");
    assert_eq!((idle.roles_changed, idle.entities), (0, 0), "no role changed, no document");

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
    let logged = log_directory_users_activity(&sim);
    let report = sync_once(&dir, &sim, Mode::Full).await;
    assert!(report.users > 0);
    poll_all_once(&dir, &sim, &logged).await;
    let directory = sim.directory_snapshot();
    let (mut enriched, mut by_admins) = (0, 0);
    for doc in written(&dir, false) {
        let actor = &doc["okta"]["enrichment"]["actor"];
        if actor["known"] != true {
            continue;
        }
        let id = actor["id"].as_str().expect("a known actor has an id");
        let user = &directory.users[id];
        assert_eq!(actor["department"], user["profile"]["department"], "{doc}");
        assert_eq!(doc["user"]["email"], user["profile"]["email"], "{doc}");
        enriched += 1;
        // The actor's admin roles, from the directory.
        match directory.roles.get(id) {
            Some(list) => {
                let names = json!(role_names(list));
                assert_eq!(doc["user"]["roles"], names, "{doc}");
                assert_eq!(actor["roles"], names, "{doc}");
                by_admins += 1;
            }
            None => assert!(doc["user"].get("roles").is_none() && actor.get("roles").is_none(), "{doc}"),
        }
    }
    assert!(enriched > 100, "most events have a known actor: {enriched} of {}", logged.len());
    assert!(by_admins > 0, "the generator's admins act too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_poll_waits_for_the_first_sync_so_its_events_are_enriched() {
    // Every response takes 5 ms, so the sync (dozens of calls) would finish long after the
    // poller's 3 pages if the poller did not wait for it.
    let config =
        SimConfig { chaos: Chaos { latency: Duration::from_millis(5), ..Chaos::default() }, ..SimConfig::default() };
    let sim = start_sim(config, 300, Duration::ZERO).await;
    let dir = test_dir("sync-first-start");
    let logged = log_directory_users_activity(&sim);
    poll_all_once(&dir, &sim, &logged).await;
    let directory = sim.directory_snapshot();
    let (mut by_users, mut enriched) = (0, 0);
    for doc in written(&dir, false) {
        let Some(actor_id) = doc["okta"]["actor"]["id"].as_str() else { continue };
        if !directory.users.contains_key(actor_id) {
            continue;
        }
        by_users += 1;
        if doc["okta"]["enrichment"]["actor"]["known"] == true {
            enriched += 1;
        }
    }
    assert!(by_users > 100, "most events are by directory users: {by_users} of {}", logged.len());
    assert_eq!(enriched, by_users, "every event by a directory user is enriched, the first page's too");
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
    // Poll at once, beside the first sync, rather than after it.
    let config = write_config(&dir, &sim, "first_sync_wait_secs = 0");
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
        "10k-user org: full sync {} calls {:?} in {:.2} s; incremental sync {} calls {:?} in {:.2} s; {} admins",
        full_calls.total(),
        full_calls.calls,
        full.elapsed.as_secs_f64(),
        inc_calls.total(),
        inc_calls.calls,
        inc.elapsed.as_secs_f64(),
        inc.role_holders
    );
    // Roles are read on every sync: one page of assignees, then one call per admin.
    let roles = 1 + u64::from(inc.role_holders);
    assert_eq!(
        inc_calls.calls.get("role_assignees").copied().unwrap_or(0)
            + inc_calls.calls.get("user_roles").copied().unwrap_or(0),
        roles
    );
    assert!(inc_calls.total() - roles <= 10, "an incremental sync is a handful of calls besides the roles");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_roles_leave_a_working_sync_without_roles() {
    // An admin who may not read roles (SSWS): 403 E0000006 from the role APIs.
    let sim = start_sim(SimConfig { roles_denied: true, ..SimConfig::default() }, 60, Duration::ZERO).await;
    let dir = test_dir("sync-roles-denied");
    let full = sync_once(&dir, &sim, Mode::Full).await;
    assert_eq!(full.users, 60, "the rest of the directory is synced");
    let why = full.roles_refused.as_deref().expect("the report says why the roles were not read");
    assert!(why.contains("403 E0000006") && why.contains("okta.roles.read"), "{why}");
    assert_eq!((full.roles_changed, full.role_holders), (0, 0));
    assert_eq!(full.calls.get("role_assignees"), Some(&1), "one refused call, then no more");
    assert_eq!(full.calls.get("user_roles"), None);
    assert!(store(&dir).directory_roles("acme").expect("reads").is_empty());
    assert!(entities_written(&dir).iter().all(|e| e["user"].get("roles").is_none()));
    let again = sync_once(&dir, &sim, Mode::Incremental).await;
    assert!(again.roles_refused.is_some());

    // OAuth without okta.roles.read: the scope check refuses (403 insufficient_scope), same result.
    let scopes = ["okta.logs.read", "okta.users.read", "okta.groups.read", "okta.devices.read", "okta.schemas.read"];
    let oauth = OAuthConfig {
        oin_clients: vec![OinClient {
            client_id: "0oa-sync".into(),
            secret: "sync-secret-0123456789abcdefghijklmnop".into(),
            scopes: scopes.map(str::to_owned).to_vec(),
            dpop_required: false,
        }],
        ..OAuthConfig::default()
    };
    let sim = start_sim(SimConfig { oauth, ..SimConfig::default() }, 60, Duration::ZERO).await;
    let dir = test_dir("sync-roles-scope");
    let secret = dir.join("secret");
    std::fs::write(&secret, "sync-secret-0123456789abcdefghijklmnop").expect("secret file");
    let auth = format!("type = \"oin\"\nclient_id = \"0oa-sync\"\nsecret_file = {secret:?}\nscopes = {scopes:?}");
    let full = sync_config(write_config_with(&dir, &sim, &auth, ""), Mode::Full).await;
    assert_eq!(full.users, 60);
    let why = full.roles_refused.as_deref().expect("refused");
    assert!(why.contains("insufficient_scope") && why.contains("okta.roles.read"), "{why}");
    assert!(!why.contains("sync-secret"), "no secret in messages: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_switched_off_are_not_read_and_are_forgotten() {
    let sim = start_sim(SimConfig::default(), 60, Duration::ZERO).await;
    let dir = test_dir("sync-roles-off");
    let full = sync_once(&dir, &sim, Mode::Full).await;
    let holders = sim.directory_snapshot().roles;
    assert_eq!(usize::try_from(full.role_holders).expect("small"), holders.len());
    assert_store_matches(&dir, &sim);
    sim.reset_directory_calls();
    let off = sync_config(write_config(&dir, &sim, "roles = false"), Mode::Incremental).await;
    let calls = sim.directory_calls();
    assert!(!calls.calls.contains_key("role_assignees") && !calls.calls.contains_key("user_roles"), "{calls:?}");
    assert_eq!(usize::try_from(off.roles_changed).expect("small"), holders.len(), "every stored list is dropped");
    assert_eq!(off.role_holders, 0);
    assert!(store(&dir).directory_roles("acme").expect("reads").is_empty());
    for id in holders.keys() {
        assert!(last_entity(&dir, id)["user"].get("roles").is_none(), "{id}'s new document has no roles");
    }
}
