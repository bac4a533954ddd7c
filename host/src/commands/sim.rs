//! `okta-normalizer sim`: runs the Okta simulator with generated activity, and `demo`, which
//! runs the simulator and the poller together so a fresh clone shows events arriving.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::Value;
use tokio::sync::watch;

use crate::cli::{DemoArgs, SimArgs};
use crate::config::Config;
use crate::guest::Runtime;
use crate::sim::generator::{ALL_SCENARIOS, Generator};
use crate::sim::{
    DEFAULT_TOKEN, Directory, HookTarget, PushChaos, SimConfig, SimHandle, Simulator, StreamTarget, verify_hook,
};
use crate::time::now_ms;

pub(super) fn run_sim(args: &SimArgs) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let sim = start(args.listen, args.org_type.into(), &args.token).await?;
        let mut generator = Generator::new(args.seed, "sim.okta.example.com");
        sim.set_directory(Directory::generate(
            args.seed,
            &generator.people(),
            &generator.groups(),
            args.directory_users,
        ));
        let history = seed_history(&sim, &mut generator, args.history_hours, args.history_events);
        eprintln!(
            "okta-normalizer: Okta simulator on {} ({} events in the last {} h, {} attack scenarios; {} directory \
             users); API token: {} (not a secret). Ctrl-C stops it.",
            sim.base_url(),
            history,
            args.history_hours,
            ALL_SCENARIOS.len(),
            args.directory_users,
            args.token
        );
        tokio::select! {
            () = live_activity(&sim, &mut generator, args.events_per_minute) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn run_demo(args: &DemoArgs, runtime: &Runtime) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let sim = start("127.0.0.1:0".parse()?, crate::sim::OrgType::Workforce, DEFAULT_TOKEN).await?;
        let mut generator = Generator::new(7, "sim.okta.example.com");
        sim.set_directory(Directory::generate(7, &generator.people(), &generator.groups(), 200));
        let history = seed_history(&sim, &mut generator, 24, args.history_events);
        let dir = &args.dir;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
        let token_file = dir.join("sim-token");
        std::fs::write(&token_file, DEFAULT_TOKEN)?;
        let config_path = dir.join("poll.toml");
        std::fs::write(&config_path, crate::commands::poll::demo_config(&sim.base_url(), &token_file, dir, 2))?;
        eprintln!(
            "okta-normalizer: simulator on {} with {history} events from the last 24 h (including {} attack scenarios); \
             {} it with {} for {} s",
            sim.base_url(),
            ALL_SCENARIOS.len(),
            if args.push { "receiving its event hook and Log Stream and polling" } else { "polling" },
            config_path.display(),
            args.seconds
        );
        if args.push {
            std::fs::write(&config_path, push_config(&sim.base_url(), &token_file, dir)?)?;
        }
        let config = Config::load(&config_path)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let sim = std::sync::Arc::new(sim);
        let live = tokio::spawn({
            let sim = sim.clone();
            async move {
                // The same org (its actors are the directory's users), continuing its random stream.
                live_activity(&sim, &mut generator, 120).await;
            }
        });
        let seconds = args.seconds;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            let _ = stop_tx.send(true);
        });
        let results = if args.push {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<crate::commands::serve::Ready>();
            let push = tokio::spawn({
                let sim = sim.clone();
                let mut stop = stop_rx.clone();
                async move {
                    let Ok(ready) = ready_rx.await else { return None };
                    let addr = ready.addr?;
                    let hook = HookTarget {
                        auth: Some(("Authorization".into(), DEMO_HOOK_SECRET.into())),
                        ..HookTarget::new(format!("http://{addr}/hooks/sim"))
                    };
                    if let Err(e) = verify_hook(&hook).await {
                        eprintln!("okta-normalizer: the event hook was not verified: {e:#}");
                        return None;
                    }
                    eprintln!("okta-normalizer: event hook verified at http://{addr}/hooks/sim; streaming to http://{addr}/eventbridge/sim");
                    let hook = sim.start_event_hook(hook, PushChaos { duplicate_probability: 0.05, ..PushChaos::default() });
                    let stream = sim.start_log_stream(
                        StreamTarget::http(
                            format!("http://{addr}/eventbridge/sim"),
                            Some(("x-api-key".into(), DEMO_STREAM_KEY.into())),
                        ),
                        PushChaos::default(),
                    );
                    // Okta stops delivering when the receiver goes away; so does the demo.
                    let _ = stop.wait_for(|s| *s).await;
                    hook.stop();
                    stream.stop();
                    Some(())
                }
            });
            let results = crate::commands::serve::serve(config, runtime, stop_rx, Some(ready_tx), Duration::from_secs(2)).await?;
            push.abort();
            results
        } else {
            crate::commands::poll::poll(config, runtime, false, stop_rx, Duration::from_secs(2)).await?
        };
        live.abort();
        let mut code = ExitCode::SUCCESS;
        for (org, result) in results {
            match result {
                Ok(stats) => {
                    let s = stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    eprintln!(
                        "okta-normalizer: {org}: {} events written to {} ({} duplicates dropped, {} pages, {} rate-limited requests)",
                        s.written,
                        dir.join("events").display(),
                        s.duplicates,
                        s.pages,
                        s.rate_limited
                    );
                    eprintln!(
                        "okta-normalizer: {org}: the rules raised {} alerts and {} signals (event.kind alert/signal in the same files; `okta-normalizer rules list` shows the rules)",
                        s.alerts, s.signals
                    );
                    if args.push {
                        let [poll, hook, eventbridge, _] = s.written_by;
                        eprintln!(
                            "okta-normalizer: {org}: first brought by the event hook {hook}, the Log Stream {eventbridge}, the poller {poll}"
                        );
                    }
                }
                Err(e) => {
                    eprintln!("okta-normalizer: {org} stopped: {e:#}");
                    code = ExitCode::from(1);
                }
            }
        }
        Ok(code)
    })
}

/// The demo's push secrets. Not secrets: they only open the demo's own receiver.
const DEMO_HOOK_SECRET: &str = "Bearer demo-hook-secret-not-a-secret";
const DEMO_STREAM_KEY: &str = "demo-api-key-not-a-secret";

/// The `demo --push` config: the poll config plus an event hook and an EventBridge API
/// destination on a free local port.
fn push_config(base_url: &str, token_file: &std::path::Path, dir: &std::path::Path) -> Result<String> {
    std::fs::write(dir.join("hook-secret"), DEMO_HOOK_SECRET)?;
    std::fs::write(dir.join("stream-key"), DEMO_STREAM_KEY)?;
    let poll = crate::commands::poll::demo_config(base_url, token_file, dir, 2);
    let (store, org) = poll.split_once("[[org]]").context("the demo config has an [[org]]")?;
    let (org, sinks) = org.split_once("[[org.sinks]]").context("the demo config has sinks")?;
    Ok(format!(
        "{store}[server]\nlisten = \"127.0.0.1:0\"\ndead_letter_dir = {dead:?}\n\n[[org]]{org}         [org.event_hook]\nheader = \"Authorization\"\nsecret_file = {hook:?}\n\n         [org.eventbridge.auth]\nheader = \"x-api-key\"\nsecret_file = {key:?}\n\n[[org.sinks]]{sinks}",
        dead = dir.join("dead-letter"),
        hook = dir.join("hook-secret"),
        key = dir.join("stream-key"),
    ))
}

async fn start(addr: SocketAddr, org_type: crate::sim::OrgType, token: &str) -> Result<SimHandle> {
    let config = SimConfig {
        org_type,
        tokens: vec![(token.to_owned(), crate::sim::TokenStatus::Valid)],
        ..SimConfig::default()
    };
    Simulator::start(config, addr).await
}

/// Fills the org with `events` of background activity over the last `hours`, plus every attack
/// scenario at a random point in it. Some events are persisted a few minutes late.
fn seed_history(sim: &SimHandle, generator: &mut Generator, hours: u64, events: usize) -> usize {
    let now = now_ms();
    let from = now - i64::try_from(hours * 3_600_000).unwrap_or(0);
    let mut all: Vec<Value> = generator.background(from, now - 60_000, events);
    for (i, scenario) in ALL_SCENARIOS.iter().enumerate() {
        let at = from + (now - from) / 5 * i64::try_from(i + 1).unwrap_or(1);
        all.extend(generator.scenario(*scenario, at));
    }
    sim.push(&all, Duration::ZERO);
    all.len()
}

/// New events as they happen: `per_minute` on average, one batch a second, a few of them
/// persisted late.
async fn live_activity(sim: &SimHandle, generator: &mut Generator, per_minute: u32) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    let mut owed = 0.0f64;
    loop {
        interval.tick().await;
        owed += f64::from(per_minute) / 60.0;
        let count = owed.floor() as usize;
        owed -= count as f64;
        if count == 0 {
            continue;
        }
        let now = now_ms();
        let events = generator.background(now - 1_000, now, count);
        let (late, on_time) = events.split_at(count / 10);
        sim.push(on_time, Duration::ZERO);
        sim.push(late, Duration::from_secs(90));
    }
}
