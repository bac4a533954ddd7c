//! Detection end to end: the built-in pack, run by `poll` in the component, finds each of the
//! simulator's attacks in an ordinary day's activity, writes the alerts to the sink, and keeps
//! its windows across a restart (a brute force split by a restart is still seen once, and an old
//! one never fires again).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use okta_normalizer_host::sim::generator::{ALL_SCENARIOS, Generator, Scenario};
use okta_normalizer_host::sim::{Chaos, SimHandle, Simulator};
use serde_json::Value;

use crate::poll::{alerts_written, assert_exactly_once, poll_once, sim_config, test_dir, write_config};

async fn simulator() -> SimHandle {
    Simulator::start(sim_config(Chaos::default()), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts")
}

/// Polls until caught up; every org must end well.
async fn poll_until_caught_up(dir: &Path, sim: &SimHandle) {
    for (org, result) in poll_once(write_config(dir, sim, 1000)).await {
        result.unwrap_or_else(|e| panic!("org {org}: {e:#}"));
    }
}

fn uuids(events: &[Value]) -> HashSet<String> {
    events.iter().map(|e| e["uuid"].as_str().expect("uuid").to_owned()).collect()
}

/// The alerts (not signals) among `alerts` that name at least one of `events`.
fn alerts_on<'a>(alerts: &'a [Value], events: &HashSet<String>) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["event"]["kind"] == "alert")
        .filter(|a| {
            a["okta"]["alert"]["event_uuids"]
                .as_array()
                .is_some_and(|ids| ids.iter().filter_map(Value::as_str).any(|id| events.contains(id)))
        })
        .collect()
}

fn rule_names(alerts: &[&Value]) -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    for a in alerts {
        *names.entry(a["rule"]["name"].as_str().unwrap_or("?").to_owned()).or_insert(0) += 1;
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builtin_pack_finds_every_simulated_attack_through_poll() {
    let sim = simulator().await;
    let dir = test_dir("detect-attacks");
    let now = jiff::Timestamp::now().as_millisecond();
    let mut generator = Generator::new(42, "acme.okta.com");
    // Almost a day of everyday activity (inside the poller's 24 h first lookback), with the four attacks staged inside it, hours apart.
    let mut all = generator.background(now - 23 * 3_600_000, now - 60_000, 6_000);
    let mut staged = Vec::new();
    for (i, scenario) in ALL_SCENARIOS.into_iter().enumerate() {
        let at = now - (20 - 4 * i64::try_from(i).expect("small")) * 3_600_000;
        let events = generator.scenario(scenario, at);
        all.extend(events.iter().cloned());
        staged.push((scenario, events));
    }
    all.sort_by_key(|e| e["published"].as_str().map(str::to_owned));
    sim.push(&all, Duration::ZERO);

    poll_until_caught_up(&dir, &sim).await;
    assert_exactly_once(&dir, &all);

    let alerts = alerts_written(&dir);
    let mut report = Vec::new();
    for (scenario, events) in &staged {
        let found = alerts_on(&alerts, &uuids(events));
        report.push(format!("{scenario:?}: {:?}", rule_names(&found)));
        assert!(!found.is_empty(), "no alert names an event of the {scenario:?} attack; alerts: {:?}", {
            let all: Vec<&Value> = alerts.iter().collect();
            rule_names(&all)
        });
        for a in &found {
            assert!(a["threat"]["tactic"]["name"].is_array(), "alerts carry ATT&CK tactics: {a}");
            assert!(a["rule"]["id"].is_string() && a["event"]["severity"].is_number(), "{a}");
        }
    }
    // The attacks' specific detections, by the detection ids of ../shared/design/detections.md.
    let fired = |scenario: Scenario| {
        let events = &staged.iter().find(|(s, _)| *s == scenario).expect("staged").1;
        rule_names(&alerts_on(&alerts, &uuids(events)))
    };
    println!("{}", report.join("\n"));
    let attack_uuids: HashSet<String> = staged.iter().flat_map(|(_, e)| uuids(e)).collect();
    let background_alerts: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["event"]["kind"] == "alert")
        .filter(|a| {
            a["okta"]["alert"]["event_uuids"]
                .as_array()
                .is_some_and(|ids| ids.iter().filter_map(Value::as_str).all(|id| !attack_uuids.contains(id)))
        })
        .collect();
    println!("alerts on everyday activity (6,000 events): {:?}", rule_names(&background_alerts));
    for scenario in ALL_SCENARIOS {
        assert!(!fired(scenario).is_empty(), "{scenario:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brute_force_split_by_a_restart_fires_once_and_never_again() {
    brute_force_split_by_a_restart("detect-restart", |_| ()).await;
}

/// The same across an upgrade: the version before stored the detection state as one document.
/// The new one reads it, and its first commit replaces it with parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_stored_whole_by_the_version_before_is_read_and_replaced_by_parts() {
    let dir = brute_force_split_by_a_restart("detect-restart-upgrade", store_the_state_whole).await;
    let db = rusqlite::Connection::open(dir.join("store.db")).expect("opens");
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table} WHERE org = 'acme'"), [], |r| r.get(0)).expect("counts")
    };
    assert_eq!(count("detection_state"), 0, "the whole document is gone");
    assert!(count("detection_state_part") > 1, "the state is in parts");
}

/// Rewrites the store in `dir` as the version before kept detection state: one whole document
/// (what an engine reading the parts exports), no parts.
fn store_the_state_whole(dir: &Path) {
    use okta_normalizer_core::{Engine, StatePart};

    let db = rusqlite::Connection::open(dir.join("store.db")).expect("opens");
    let parts: Vec<StatePart> = db
        .prepare("SELECT key, value FROM detection_state_part WHERE org = 'acme'")
        .expect("prepares")
        .query_map([], |r| Ok(StatePart { key: r.get(0)?, value: r.get(1)? }))
        .expect("reads")
        .collect::<Result<_, _>>()
        .expect("reads");
    assert!(!parts.is_empty(), "the first run stored parts");
    let mut engine = Engine::new(okta_normalizer_tests::config()).expect("the pack loads");
    engine.import_state_parts(&parts).expect("imports");
    let whole = engine.export_state();
    db.execute("DELETE FROM detection_state_part WHERE org = 'acme'", []).expect("deletes");
    db.execute("INSERT INTO detection_state (org, state) VALUES ('acme', ?1)", [whole]).expect("inserts");
}

/// A brute force whose first half is polled by one process and second half by the next (the
/// state comes from the store, after `between` did what it does to it).
async fn brute_force_split_by_a_restart(name: &str, between: impl FnOnce(&Path)) -> std::path::PathBuf {
    let sim = simulator().await;
    let dir = test_dir(name);
    let now = jiff::Timestamp::now().as_millisecond();
    let mut generator = Generator::new(7, "acme.okta.com");
    let attack = generator.scenario(Scenario::BruteForce, now - 30 * 60_000);
    let attack_uuids = uuids(&attack);
    let (first, second) = attack.split_at(attack.len() / 2);

    // The first half, then a stop: not enough failures for any threshold yet.
    sim.push(first, Duration::ZERO);
    poll_until_caught_up(&dir, &sim).await;
    let before = alerts_on(&alerts_written(&dir), &attack_uuids).len();

    // A new process (state comes from the store) polls the second half.
    between(&dir);
    sim.push(second, Duration::ZERO);
    poll_until_caught_up(&dir, &sim).await;
    let alerts = alerts_written(&dir);
    let after = alerts_on(&alerts, &attack_uuids);
    let spanning: Vec<&&Value> = after
        .iter()
        .filter(|a| {
            let ids: Vec<&str> =
                a["okta"]["alert"]["event_uuids"].as_array().expect("uuids").iter().filter_map(Value::as_str).collect();
            let first_ids = uuids(first);
            ids.iter().any(|id| first_ids.contains(*id)) && ids.iter().any(|id| !first_ids.contains(*id))
        })
        .collect();
    assert!(
        !spanning.is_empty(),
        "no alert counts failures from both sides of the restart (before: {before}, after: {:?})",
        rule_names(&after)
    );

    // A third run with nothing new fires nothing again.
    let count = alerts.len();
    poll_until_caught_up(&dir, &sim).await;
    assert_eq!(alerts_written(&dir).len(), count, "a restart with no new events raised alerts again");
    dir
}

/// Eight half-hours of the simulator's busy-org activity ending two hours ago, each with one
/// attack (the scenarios in turn from `first_scenario`), sorted by `published` within each half-hour.
fn busy_hours(seed: u64, first_scenario: usize) -> Vec<Value> {
    let start = jiff::Timestamp::now().as_millisecond() - 6 * 3_600_000;
    let mut generator = Generator::new(seed, "acme.okta.com");
    let mut events = Vec::new();
    for i in 0..8 {
        let at = start + i as i64 * 1_800_000;
        let mut block = generator.background(at, at + 1_800_000, 400);
        block.extend(generator.scenario(ALL_SCENARIOS[(i + first_scenario) % ALL_SCENARIOS.len()], at + 600_000));
        block.sort_by_key(|e| e["published"].as_str().map(str::to_owned));
        events.extend(block);
    }
    events
}

/// The host exports the detection state after every batch, and an export writes anew only the
/// correlation groups that changed since the last one. On a few hours of the simulator's busy-org
/// activity with its attacks, in batches of 250: an engine that exported after every batch, one
/// that never exported before the end, and one that restarted half way from an exported state must
/// all export the same bytes at the end.
#[test]
fn the_state_exported_after_every_batch_is_the_state_of_one_export() {
    use okta_normalizer_core::{BatchOptions, Engine, InputFormat};

    let events = busy_hours(11, 0);
    let batches: Vec<Vec<u8>> = events.chunks(250).map(|c| serde_json::to_vec(c).expect("serializes")).collect();
    let options = BatchOptions { format: InputFormat::ApiPage, ..BatchOptions::default() };
    let engine = || Engine::new(okta_normalizer_tests::config()).expect("the pack loads");

    let (mut every, mut once) = (engine(), engine());
    // Starts half way, from the state `every` exported after that batch.
    let mut restarted: Option<Engine> = None;
    let mut alerts = 0;
    for (n, batch) in batches.iter().enumerate() {
        alerts += every.normalize(batch, &options).expect("normalizes").alerts.len();
        let state = every.export_state();
        once.normalize(batch, &options).expect("normalizes");
        if let Some(restarted) = &mut restarted {
            restarted.normalize(batch, &options).expect("normalizes");
        } else if n == batches.len() / 2 {
            let mut fresh = engine();
            fresh.import_state(&state).expect("imports");
            restarted = Some(fresh);
        }
    }
    let restarted = restarted.expect("there is a half way");
    assert!(alerts > 0, "the attacks raised alerts");
    let state = every.export_state();
    assert!(state.len() > 100_000, "a state worth reusing: {} bytes", state.len());
    assert!(state == once.export_state(), "exporting after every batch changed the exported state");
    assert!(state == restarted.export_state(), "a restart from an exported state changed the exported state");
}

/// A host that keeps the detection state in parts applies each batch's changes to what it holds.
/// On the same few hours as above: the parts read back as the state of an engine that never
/// exported (less the seen uuids, which the parts leave to `mark_seen`), an engine restarted half
/// way from them raises the same alerts as one that went on, and a batch writes only the parts it
/// changed.
#[test]
fn the_state_kept_in_parts_is_the_state_and_a_batch_writes_what_it_changed() {
    use okta_normalizer_core::{BatchOptions, Engine, InputFormat, StateChanges, StatePart};

    fn apply(store: &mut BTreeMap<String, Vec<u8>>, changes: StateChanges) -> usize {
        for prefix in &changes.dropped_prefixes {
            store.retain(|key, _| !key.starts_with(prefix.as_str()));
        }
        for key in &changes.dropped {
            store.remove(key);
        }
        let written = changes.written.iter().map(|p| p.key.len() + p.value.len()).sum();
        store.extend(changes.written.into_iter().map(|p| (p.key, p.value)));
        written
    }
    fn parts(store: &BTreeMap<String, Vec<u8>>) -> Vec<StatePart> {
        store.iter().map(|(key, value)| StatePart { key: key.clone(), value: value.clone() }).collect()
    }
    /// The exported state less its seen uuids.
    fn without_seen(engine: &Engine) -> Value {
        let mut state: Value = serde_json::from_slice(&engine.export_state()).expect("JSON");
        state.as_object_mut().expect("an object").remove("seen");
        state
    }

    let events = busy_hours(12, 3);
    let batches: Vec<Vec<u8>> = events.chunks(250).map(|c| serde_json::to_vec(c).expect("serializes")).collect();
    let options = BatchOptions { format: InputFormat::ApiPage, ..BatchOptions::default() };
    let engine = || Engine::new(okta_normalizer_tests::config()).expect("the pack loads");
    let alert_ids = |engine: &mut Engine, batch: &[u8]| -> Vec<String> {
        engine.normalize(batch, &options).expect("normalizes").alerts.into_iter().map(|a| a.id).collect()
    };

    let (mut parted, mut once) = (engine(), engine());
    let mut store = BTreeMap::new();
    let mut restarted: Option<Engine> = None;
    let (mut went_on, mut after_restart) = (Vec::new(), Vec::new());
    let mut written = Vec::new();
    for (n, batch) in batches.iter().enumerate() {
        let ids = alert_ids(&mut parted, batch);
        written.push(apply(&mut store, parted.export_state_changes()));
        once.normalize(batch, &options).expect("normalizes");
        if let Some(restarted) = &mut restarted {
            went_on.extend(ids);
            after_restart.extend(alert_ids(restarted, batch));
        } else if n == batches.len() / 2 {
            let mut fresh = engine();
            fresh.import_state_parts(&parts(&store)).expect("imports");
            let seen: Vec<String> =
                events[..(n + 1) * 250].iter().filter_map(|e| Some(e["uuid"].as_str()?.to_owned())).collect();
            fresh.mark_seen(&seen);
            restarted = Some(fresh);
        }
    }
    // Changes name only what changed: with nothing new, only the head (times and counts).
    let idle = parted.export_state_changes();
    let (written_now, dropped_now) = (idle.written.len(), idle.dropped.len() + idle.dropped_prefixes.len());
    assert_eq!((written_now, dropped_now, idle.written[0].key.as_str()), (1, 0, r#"["h"]"#));
    assert!(!went_on.is_empty(), "the second half raised alerts");
    assert_eq!(after_restart, went_on, "an engine restarted from the parts raised other alerts");

    let mut read_back = engine();
    read_back.import_state_parts(&parts(&store)).expect("imports");
    assert!(without_seen(&read_back) == without_seen(&once), "the parts hold another state");
    assert!(without_seen(&parted) == without_seen(&once), "exporting changes changed the state");

    let whole = once.export_state().len();
    let half: usize = written[written.len() / 2..].iter().sum();
    assert!(
        half < whole * (written.len() - written.len() / 2),
        "the second half's batches wrote {half} bytes of parts, as much as the whole state ({whole} bytes) each time"
    );
}
