//! `okta-normalizer poll --config FILE`: collects every configured org's System Log into its
//! sinks, exactly once, until stopped (Ctrl-C) or, with `--once`, until caught up.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::sync::watch;

use crate::budget::OrgGate;
use crate::cli::PollArgs;
use crate::commands::sync::start;
use crate::config::{Config, OrgConfig};
use crate::guest::Runtime;
use crate::pipeline::OrgPipeline;
use crate::sources::okta_api::{OrgPoller, Stats};
use crate::store::Store;
use crate::telemetry::Metrics;

pub(super) fn run(args: &PollArgs, runtime: &Runtime) -> Result<ExitCode> {
    let config = Config::load_with_rules(&args.config, &args.rules)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let stop_rx = super::stop_on_ctrl_c("Stopping after the current page (Ctrl-C).");
        let results = poll(config, runtime, args.once, stop_rx, Duration::from_secs(args.status_secs)).await?;
        let failed: Vec<_> = results.iter().filter_map(|(org, r)| r.as_ref().err().map(|e| (org, e))).collect();
        for (org, error) in &failed {
            eprintln!("okta-normalizer: org {org} stopped: {error:#}");
        }
        Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

/// What one org's poll ended with, and its counters.
pub type OrgResult = (String, Result<Arc<Mutex<Stats>>>);

/// Polls every org of `config` until `stop` (or caught up, with `once`), logging a status line
/// every `status_every`.
/// Each org's name and counters, for [`status_lines`].
pub type OrgStats = Vec<(String, Arc<Mutex<Stats>>)>;

pub async fn poll(
    config: Config,
    runtime: &Runtime,
    once: bool,
    stop: watch::Receiver<bool>,
    status_every: Duration,
) -> Result<Vec<OrgResult>> {
    let detection = config.detection.to_wit()?;
    let store = Arc::new(Mutex::new(Store::open(&config.store.path, config.store.uuid_window)?));
    let metrics = Metrics::new();
    if let Some(addr) = config.metrics.listen {
        let bound = crate::telemetry::serve(metrics.clone(), addr).await?;
        tracing::info!(address = %bound, "Serving Prometheus metrics at /metrics.");
    }
    let mut tasks = Vec::new();
    let mut directory_tasks = Vec::new();
    let mut all_stats = Vec::new();
    for org in config.orgs {
        let name = org.name.clone();
        if org.auth.is_none() {
            bail!("org {name}: no [org.auth], so it cannot be polled (it only receives pushes; run `serve` for it)");
        }
        let pipeline = OrgPipeline::build(&org, runtime, &detection, store.clone(), metrics.clone())?;
        let stats = pipeline.stats_handle();
        let pipeline = Arc::new(tokio::sync::Mutex::new(pipeline));
        let gate = OrgGate::new(1);
        let poller = OrgPoller::new(org, pipeline.clone(), store.clone(), stats.clone(), metrics.clone())?
            .with_gate(gate.clone());
        let mut first_sync = None;
        if poller.org().directory.enabled {
            let (auth, org) = (poller.auth(), poller.org());
            let (task, settled) = start(org, auth, gate, pipeline, store.clone(), metrics.clone(), stop.clone(), once)?;
            first_sync = FirstSync::for_org(org, &store, settled)?;
            directory_tasks.push((name.clone(), task));
        }
        all_stats.push((name.clone(), stats.clone()));
        let task = tokio::spawn(FirstSync::then_poll(first_sync, poller, stop.clone(), once));
        tasks.push((name, stats, task));
    }

    let status = tokio::spawn(status_lines(all_stats, status_every, stop.clone()));
    let mut results = Vec::new();
    for (name, stats, task) in tasks {
        let result = match task.await {
            Ok(Ok(())) => Ok(stats),
            Ok(Err(e)) => Err(e),
            Err(join) => Err(anyhow::anyhow!("the poller task failed: {join}")),
        };
        results.push((name, result));
    }
    finish_directory(directory_tasks).await;
    status.abort();
    Ok(results)
}

/// At a first start (no full directory sync stored yet) the poller holds its first request until
/// the first sync has settled, so the events it writes first are enriched too.
pub(crate) struct FirstSync {
    settled: watch::Receiver<bool>,
    limit: Duration,
}

impl FirstSync {
    /// For an org whose directory sync was just started (`settled` is its signal): `Some` when the
    /// org has never finished a full sync and waits for one.
    pub(crate) fn for_org(
        org: &OrgConfig,
        store: &Mutex<Store>,
        settled: watch::Receiver<bool>,
    ) -> Result<Option<FirstSync>> {
        let limit = org.directory.first_sync_wait_secs;
        if limit == 0 {
            return Ok(None);
        }
        let marks = store.lock().unwrap_or_else(std::sync::PoisonError::into_inner).directory_marks(&org.name)?;
        Ok(marks.last_full_ms.is_none().then(|| FirstSync { settled, limit: Duration::from_secs(limit) }))
    }

    /// Runs `poller` until `stop`, after `first_sync` (when there is one) has settled.
    pub(crate) async fn then_poll(
        first_sync: Option<FirstSync>,
        mut poller: OrgPoller,
        mut stop: watch::Receiver<bool>,
        once: bool,
    ) -> Result<()> {
        if let Some(first_sync) = first_sync {
            first_sync.wait(&poller.org().name, &mut stop).await;
        }
        poller.run(stop, once).await
    }

    /// Returns once the first sync has finished or failed, after the limit, or on stop.
    async fn wait(mut self, org: &str, stop: &mut watch::Receiver<bool>) {
        tracing::info!(org = %org, limit_secs = self.limit.as_secs(), "First start: polling begins once the first directory sync has finished, so the first events are enriched.");
        tokio::select! {
            _ = self.settled.wait_for(|settled| *settled) => {}
            () = tokio::time::sleep(self.limit) => {
                tracing::warn!(org = %org, limit_secs = self.limit.as_secs(), "The first directory sync is still running; polling begins now, and the events written before it finishes are not enriched (raise [org.directory] first_sync_wait_secs to wait longer).");
            }
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
    }
}

/// Waits for the directory tasks; a failed one is reported, and does not fail its org's poll.
pub(crate) async fn finish_directory(tasks: Vec<(String, tokio::task::JoinHandle<Result<()>>)>) {
    for (name, task) in tasks {
        let error = match task.await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("{e:#}"),
            Err(join) => join.to_string(),
        };
        tracing::error!(org = %name, error = %error, "The directory sync stopped.");
    }
}

/// Progress: in a terminal, a live line per org (indicatif); otherwise a status log line per org
/// every `every`.
pub async fn status_lines(orgs: OrgStats, every: Duration, mut stop: watch::Receiver<bool>) {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}").expect("a valid template");
    let lines: Vec<indicatif::ProgressBar> = if terminal {
        orgs.iter()
            .map(|(name, _)| {
                bars.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()).with_prefix(name.clone()))
            })
            .collect()
    } else {
        Vec::new()
    };
    let tick = if terminal { Duration::from_millis(200) } else { every };
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        for (i, (name, stats)) in orgs.iter().enumerate() {
            let s = stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(bar) = lines.get(i) {
                let directory = if s.directory_users + s.directory_groups + s.directory_devices > 0 {
                    format!(
                        "; directory {} users, {} groups, {} devices, {} entities written",
                        s.directory_users, s.directory_groups, s.directory_devices, s.entities_written
                    )
                } else {
                    String::new()
                };
                bar.set_message(format!(
                    "{} events written, {} alerts, {} duplicates dropped, {} pages, lag {} s{}{directory}",
                    s.written,
                    s.alerts,
                    s.duplicates,
                    s.pages,
                    s.lag_ms / 1000,
                    if s.caught_up { ", caught up" } else { ", backfilling" }
                ));
                bar.tick();
            } else {
                tracing::info!(
                    org = %name,
                    written = s.written,
                    alerts = s.alerts,
                    signals = s.signals,
                    duplicates_dropped = s.duplicates,
                    failed = s.failed,
                    pages = s.pages,
                    rate_limited = s.rate_limited,
                    lag_secs = s.lag_ms / 1000,
                    caught_up = s.caught_up,
                    directory_users = s.directory_users,
                    directory_groups = s.directory_groups,
                    directory_devices = s.directory_devices,
                    entities_written = s.entities_written,
                    "Status."
                );
            }
        }
    }
    for bar in lines {
        bar.finish();
    }
}

/// The text of a config that polls the simulator at `base_url` into `dir` and syncs its directory
/// (used by `demo`).
pub fn demo_config(base_url: &str, token_file: &std::path::Path, dir: &std::path::Path, interval_secs: u64) -> String {
    let store: PathBuf = dir.join("okta-normalizer.db");
    format!(
        "[store]\npath = {store:?}\n\n[[org]]\nname = \"sim\"\nurl = {base_url:?}\ntenant = \"sim.okta.example.com\"\n\
         interval_secs = {interval_secs}\ninitial_lookback_hours = 24\n\n[org.auth]\ntype = \"ssws\"\ntoken_file = {token_file:?}\n\n\
         [org.directory]\nenabled = true\n\n[org.enrichment]\ncustom_attributes = {{ badgeId = \"badge_id\" }}\n\n\
         [[org.sinks]]\ntype = \"file\"\ndir = {events:?}\n",
        events = dir.join("events"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names() {
        use crate::pipeline::host_of;
        assert_eq!(host_of("https://acme.okta.com").as_deref(), Some("acme.okta.com"));
        assert_eq!(host_of("http://127.0.0.1:8090/x").as_deref(), Some("127.0.0.1"));
    }
}
