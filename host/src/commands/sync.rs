//! `okta-normalizer sync --config FILE [--once [--incremental]] [--org NAME]`: syncs the directory
//! of every org with `[org.directory] enabled = true` (or the one named) into the store and its
//! entity documents into the sinks; and [`start`], which `poll` and `serve` use to run the same
//! sync on its schedule beside each org's poller.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::Auth;
use crate::budget::OrgGate;
use crate::cli::SyncArgs;
use crate::config::{Config, OrgConfig};
use crate::guest::Runtime;
use crate::pipeline::{OrgPipeline, SharedPipeline};
use crate::sources::directory::{DirectorySync, Mode, SyncReport};
use crate::store::Store;
use crate::telemetry::Metrics;

pub(super) fn run(args: &SyncArgs, runtime: &Runtime) -> Result<ExitCode> {
    let config = Config::load_with_rules(&args.config, &args.rules)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let stop_rx = super::stop_on_ctrl_c("Stopping after the current request (Ctrl-C).");
        let mode = match (args.once, args.incremental) {
            (false, _) => None,
            (true, false) => Some(Mode::Full),
            (true, true) => Some(Mode::Incremental),
        };
        let results =
            sync(config, runtime, mode, args.org.as_deref(), stop_rx, Duration::from_secs(args.status_secs)).await?;
        let mut failed = false;
        for (org, result) in &results {
            match result {
                Ok(Some(r)) => println!("{}", summary(org, r)),
                Ok(None) => {}
                Err(e) => {
                    failed = true;
                    eprintln!("okta-normalizer: org {org}: the directory sync failed: {e:#}");
                }
            }
        }
        Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
    })
}

/// One line about a finished sync.
pub fn summary(org: &str, r: &SyncReport) -> String {
    let calls: Vec<String> = r.calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let roles = match &r.roles_refused {
        None => format!("{} users' roles changed, {} hold an admin role", r.roles_changed, r.role_holders),
        Some(why) => format!("admin roles not read ({why}), {} hold one as stored", r.role_holders),
    };
    format!(
        "{org}: {} sync in {:.1} s, {} calls ({}), {} users, {} groups, {} devices; {} discovered, {} modified, {} deprovisioned, {} deleted; {roles}; {} groups' members fetched; {} entity documents written",
        if r.full { "full" } else { "incremental" },
        r.elapsed.as_secs_f64(),
        r.total_calls(),
        calls.join(", "),
        r.users,
        r.groups,
        r.devices,
        r.changes[0],
        r.changes[1],
        r.changes[2],
        r.changes[3],
        r.groups_refetched,
        r.entities,
    )
}

/// Syncs the selected orgs: once (`mode`), or on their schedule until `stop`.
pub async fn sync(
    config: Config,
    runtime: &Runtime,
    mode: Option<Mode>,
    only: Option<&str>,
    stop: watch::Receiver<bool>,
    status_every: Duration,
) -> Result<Vec<(String, Result<Option<SyncReport>>)>> {
    if let Some(name) = only
        && !config.orgs.iter().any(|o| o.name == name)
    {
        bail!("no org named {name:?} in the config");
    }
    let selected: Vec<&OrgConfig> =
        config.orgs.iter().filter(|o| only.map_or(o.directory.enabled, |name| o.name == name)).collect();
    if selected.is_empty() {
        bail!("no org has [org.directory] enabled = true; enable it, or name an org with --org");
    }
    let detection = config.detection.to_wit()?;
    let store = Arc::new(Mutex::new(Store::open(&config.store.path, config.store.uuid_window)?));
    let metrics = Metrics::new();
    if let Some(addr) = config.metrics.listen {
        let bound = crate::telemetry::serve(metrics.clone(), addr).await?;
        tracing::info!(address = %bound, "Serving Prometheus metrics at /metrics.");
    }
    let mut tasks = Vec::new();
    let mut all_stats = Vec::new();
    for org in selected {
        if org.auth.is_none() {
            bail!("org {}: no [org.auth], so its directory cannot be read", org.name);
        }
        let pipeline = OrgPipeline::build(org, runtime, &detection, store.clone(), metrics.clone())?;
        all_stats.push((org.name.clone(), pipeline.stats_handle()));
        let pipeline = Arc::new(tokio::sync::Mutex::new(pipeline));
        let auth = Arc::new(Auth::from_org(org)?);
        let mut sync =
            DirectorySync::new(org, auth, OrgGate::new(1), pipeline, store.clone(), metrics.clone(), stop.clone())?;
        let task: JoinHandle<Result<Option<SyncReport>>> = tokio::spawn(async move {
            match mode {
                Some(mode) => sync.sync(mode).await.map(Some),
                None => sync.run().await.map(|()| None),
            }
        });
        tasks.push((org.name.clone(), task));
    }
    let status = tokio::spawn(crate::commands::poll::status_lines(all_stats, status_every, stop.clone()));
    let mut results = Vec::new();
    for (name, task) in tasks {
        let result = match task.await {
            Ok(r) => r,
            Err(join) => Err(anyhow::anyhow!("the directory task failed: {join}")),
        };
        results.push((name, result));
    }
    status.abort();
    Ok(results)
}

/// Starts `org`'s directory sync beside its poller (sharing the poller's credentials and gate):
/// on its schedule until `stop`, or with `once` only the sync that is due now. The receiver turns
/// `true` once the first sync has settled (see [`DirectorySync::settled`]).
#[allow(clippy::too_many_arguments)]
pub fn start(
    org: &OrgConfig,
    auth: Arc<Auth>,
    gate: Arc<OrgGate>,
    pipeline: SharedPipeline,
    store: Arc<Mutex<Store>>,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
    once: bool,
) -> Result<(JoinHandle<Result<()>>, watch::Receiver<bool>)> {
    let mut sync = DirectorySync::new(org, auth, gate, pipeline, store, metrics, stop)?;
    let settled = sync.settled();
    let task = tokio::spawn(async move { if once { sync.run_due().await.map(|_| ()) } else { sync.run().await } });
    Ok((task, settled))
}
