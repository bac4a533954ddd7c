//! `okta-normalizer serve --config FILE`: receives Okta event hooks and Log Streaming
//! (EventBridge API destinations over HTTP(S), SQS queues), and polls every org that has
//! `[org.auth]`, all into the same sinks through one pipeline per org, so each event is written
//! once whichever channel brings it. The poller is the backstop: hooks only carry hook-eligible
//! event types and can be paused, and Okta deactivates a stream after failed deliveries, so
//! whatever the pushes miss, the poll brings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::budget::OrgGate;
use crate::cli::ServeArgs;
use crate::commands::poll::FirstSync;
use crate::commands::poll::{OrgResult, OrgStats, status_lines};
use crate::commands::sync::start;
use crate::config::Config;
use crate::guest::Runtime;
use crate::pipeline::OrgPipeline;
use crate::sources::okta_api::OrgPoller;
use crate::sources::push::{Receiver, drain, router};
use crate::store::{Spooler, Store};
use crate::telemetry::Metrics;

pub(super) fn run(args: &ServeArgs, runtime: &Runtime) -> Result<ExitCode> {
    let config = Config::load_with_rules(&args.config, &args.rules)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("Stopping: finishing the requests and batches in flight.");
            let _ = stop_tx.send(true);
        });
        let results = serve(config, runtime, stop_rx, None, Duration::from_secs(args.status_secs)).await?;
        let failed: Vec<_> = results.iter().filter_map(|(org, r)| r.as_ref().err().map(|e| (org, e))).collect();
        for (org, error) in &failed {
            eprintln!("okta-normalizer: org {org} stopped: {error:#}");
        }
        Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// What a running `serve` tells its caller once it listens.
#[derive(Debug)]
pub struct Ready {
    /// Where the push receiver listens (`None` when no org receives pushes over HTTP).
    pub addr: Option<SocketAddr>,
    /// Each org's counters.
    pub stats: OrgStats,
    pub metrics: Arc<Metrics>,
}

/// Runs every channel of every org in `config` until `stop`.
pub async fn serve(
    config: Config,
    runtime: &Runtime,
    stop: watch::Receiver<bool>,
    ready: Option<oneshot::Sender<Ready>>,
    status_every: Duration,
) -> Result<Vec<OrgResult>> {
    let detection = config.detection.to_wit()?;
    let store = Store::open(&config.store.path, config.store.uuid_window)?;
    let (rows, held) = store.spool_size()?;
    if rows > 0 {
        tracing::info!(deliveries = rows, bytes = held, "Writing deliveries spooled before the last stop.");
    }
    let store = Arc::new(std::sync::Mutex::new(store));
    let spooler = Spooler::open(&config.store.path, held, config.server.max_spool_bytes)?;
    let metrics = Metrics::new();
    if let Some(addr) = config.metrics.listen {
        let bound = crate::telemetry::serve(metrics.clone(), addr).await?;
        tracing::info!(address = %bound, "Serving Prometheus metrics at /metrics.");
    }
    let receiver = Arc::new(Receiver::new(&config, spooler.clone(), metrics.clone())?);
    let push_orgs: HashMap<String, _> = receiver.orgs().map(|o| (o.name.clone(), o.clone())).collect();

    let mut tasks: Vec<(String, &'static str, JoinHandle<Result<()>>)> = Vec::new();
    let mut all_stats = Vec::new();
    let server = &config.server;
    for org in config.orgs {
        let name = org.name.clone();
        let pipeline = OrgPipeline::build(&org, runtime, &detection, store.clone(), metrics.clone())?
            .with_dead_letters(server.dead_letter_dir.clone());
        let stats = pipeline.stats_handle();
        let pipeline = Arc::new(tokio::sync::Mutex::new(pipeline));
        all_stats.push((name.clone(), stats.clone()));
        if let Some(push) = push_orgs.get(&name) {
            let task = tokio::spawn(drain(push.clone(), pipeline.clone(), spooler.clone(), stop.clone()));
            tasks.push((name.clone(), "spool", task));
        }
        if let Some(eventbridge) = org.eventbridge.as_ref().filter(|e| e.queue_url.is_some()) {
            let (pipeline, stop, org_name) = (pipeline.clone(), stop.clone(), name.clone());
            let eventbridge = eventbridge.clone();
            let task =
                tokio::spawn(async move { crate::sources::sqs::consume(org_name, &eventbridge, pipeline, stop).await });
            tasks.push((name.clone(), "sqs", task));
        }
        if org.auth.is_some() {
            let gate = OrgGate::new(1);
            let poller =
                OrgPoller::new(org, pipeline.clone(), store.clone(), stats, metrics.clone())?.with_gate(gate.clone());
            let mut first_sync = None;
            if poller.org().directory.enabled {
                let (auth, org) = (poller.auth(), poller.org());
                let (task, settled) =
                    start(org, auth, gate, pipeline, store.clone(), metrics.clone(), stop.clone(), false)?;
                first_sync = FirstSync::for_org(org, &store, settled)?;
                tasks.push((name.clone(), "directory", task));
            }
            tasks.push((name, "poll", tokio::spawn(FirstSync::then_poll(first_sync, poller, stop.clone(), false))));
        } else {
            tracing::warn!(org = %name, "No [org.auth]: this org only receives pushes, and nothing backfills what they miss (event types hooks do not carry, paused hooks, a deactivated stream).");
        }
    }

    let handle = axum_server::Handle::new();
    let server_task = if push_orgs.is_empty() {
        None
    } else {
        let app = router(receiver.clone(), server);
        let listen = server.listen;
        let task = match (&server.tls_cert, &server.tls_key) {
            (Some(cert), Some(key)) => {
                // reqwest brings rustls with aws-lc-rs; the server uses the same provider.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await.with_context(|| {
                    format!("while loading the TLS certificate {} and key {}", cert.display(), key.display())
                })?;
                let server = axum_server::bind_rustls(listen, tls).handle(handle.clone());
                tokio::spawn(async move { server.serve(app.into_make_service()).await })
            }
            _ => {
                let server = axum_server::bind(listen).handle(handle.clone());
                tokio::spawn(async move { server.serve(app.into_make_service()).await })
            }
        };
        Some(task)
    };
    let addr = match &server_task {
        Some(_) => {
            let Some(addr) = handle.listening().await else {
                let error = match server_task {
                    Some(task) => match task.await {
                        Ok(Err(e)) => e.to_string(),
                        _ => "it stopped".to_owned(),
                    },
                    None => String::new(),
                };
                bail!("could not listen on {}: {error}", server.listen);
            };
            let scheme = if server.tls_cert.is_some() { "https" } else { "http" };
            tracing::info!(
                address = %addr,
                "Receiving pushes: event hooks at {scheme}://{addr}/hooks/<org>, EventBridge API destinations at {scheme}://{addr}/eventbridge/<org>."
            );
            Some(addr)
        }
        None => None,
    };
    if let Some(ready) = ready {
        let _ = ready.send(Ready { addr, stats: all_stats.clone(), metrics: metrics.clone() });
    }
    let status = tokio::spawn(status_lines(all_stats.clone(), status_every, stop.clone()));

    // Stop accepting when told to; requests in flight still get their answer.
    let mut stop_server = stop.clone();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        let _ = stop_server.wait_for(|s| *s).await;
        shutdown.graceful_shutdown(Some(Duration::from_secs(5)));
    });

    let mut errors: HashMap<String, anyhow::Error> = HashMap::new();
    for (name, what, task) in tasks {
        let result = match task.await {
            Ok(r) => r,
            Err(join) => Err(anyhow::anyhow!("the {what} task failed: {join}")),
        };
        if let Err(e) = result {
            tracing::error!(org = %name, task = what, error = %format!("{e:#}"), "A task of this org stopped.");
            errors.entry(name).or_insert(e.context(what));
        }
    }
    if let Some(task) = server_task {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "The push receiver stopped with an error."),
            Err(e) => tracing::error!(error = %e, "The push receiver task failed."),
        }
    }
    status.abort();
    Ok(all_stats
        .into_iter()
        .map(|(name, stats)| {
            let result = match errors.remove(&name) {
                Some(e) => Err(e),
                None => Ok(stats),
            };
            (name, result)
        })
        .collect())
}
