//! One org's way from Okta bytes to its sinks, shared by every channel that brings its events:
//! the poller, event hooks, EventBridge API destinations and the SQS consumer.
//!
//! [`OrgPipeline::deliver`] normalizes a batch in the component, drops uuids the store has
//! already seen, writes the rest to every sink, makes the sinks durable, and then commits the
//! uuids, the sinks' positions and the channel's own progress (the poller's cursor, or the spool
//! rows the batch came from) in one transaction. Channels share one pipeline per org behind a
//! mutex, so batches are written one at a time and the uuid check and the commit never race:
//! each uuid reaches the sinks once, whichever channel delivers it first and however often.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::config::{OrgConfig, SinkConfig};
use crate::guest::{
    AlertKind, BatchOptions, DetectionConfig, DirectoryChange, DirectoryKind, DirectoryObject, DirectoryUpdate,
    EngineConfig, GroupMembers, InputFormat, Normalizer, Outcome, OutputOptions, Runtime, UserRoles,
};
use crate::sinks::{Doc, FileSink, FileSinkConfig, OpenSearchSink, OpenSearchSinkConfig, Sink, StdoutSink};
use crate::sources::directory::{Changes, kind_name};
use crate::store::{Commit, Cursor, Store};
use crate::store::{DirectoryCommit, ObjectWrite};
use crate::telemetry::{AlertLabel, ChannelLabel, Health, HealthChange, Metrics, OrgLabel};

/// Where a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `GET /api/v1/logs`.
    Poll,
    /// An Okta event hook delivery.
    EventHook,
    /// An EventBridge API destination (HTTP).
    EventBridge,
    /// An SQS queue that an EventBridge rule targets.
    Sqs,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Poll => "poll",
            Channel::EventHook => "event_hook",
            Channel::EventBridge => "eventbridge",
            Channel::Sqs => "sqs",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [Channel::Poll, Channel::EventHook, Channel::EventBridge, Channel::Sqs].into_iter().find(|c| c.as_str() == s)
    }

    /// The input format a body from this channel has.
    pub fn format(self) -> InputFormat {
        match self {
            Channel::Poll => InputFormat::ApiPage,
            Channel::EventHook => InputFormat::EventHook,
            // An envelope, an array of them, NDJSON, or bare LogEvents (an input transformer).
            Channel::EventBridge | Channel::Sqs => InputFormat::Auto,
        }
    }
}

/// Counters a status line and the tests read.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub pages: u64,
    pub events_in: u64,
    pub written: u64,
    pub duplicates: u64,
    pub failed: u64,
    pub rate_limited: u64,
    pub retries: u64,
    /// Events written per channel: poll, event hook, EventBridge, SQS.
    pub written_by: [u64; 4],
    /// Alerts and signals the rules raised.
    pub alerts: u64,
    pub signals: u64,
    /// Milliseconds between the newest `published` written and the moment it was written.
    pub lag_ms: i64,
    pub caught_up: bool,
    /// Directory objects the engine holds, and entity documents written.
    pub directory_users: u32,
    pub directory_groups: u32,
    pub directory_devices: u32,
    pub entities_written: u64,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Delivered {
    pub events_in: usize,
    pub written: u64,
    pub duplicates: u64,
    pub failed: u64,
    pub alerts: u64,
}

/// What one directory sync did to the engine and the sinks.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirectoryApplied {
    /// Entity documents written.
    pub entities: u64,
    /// Objects the engine could not read (skipped).
    pub problems: u64,
    /// Objects the engine holds now.
    pub users: u32,
    pub groups: u32,
    pub devices: u32,
}

/// One org's normalizer, sinks and store, shared by its channels.
pub struct OrgPipeline {
    name: String,
    normalizer: Normalizer,
    store: Arc<Mutex<Store>>,
    sinks: Vec<Sink>,
    stats: Arc<Mutex<Stats>>,
    metrics: Arc<Metrics>,
    label: OrgLabel,
    health: Health,
    /// Where pushed bodies the normalizer cannot read are kept (`serve` only).
    dead_letter_dir: Option<std::path::PathBuf>,
    /// A batch failed and the sinks have not been rolled back since.
    dirty: bool,
    /// The engine holds a directory (so a recovery must reload it even if the store has none).
    directory_loaded: bool,
}

impl std::fmt::Debug for OrgPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgPipeline").field("org", &self.name).finish_non_exhaustive()
    }
}

/// The shared handle channels hold.
pub type SharedPipeline = Arc<tokio::sync::Mutex<OrgPipeline>>;

impl OrgPipeline {
    /// The pipeline of one configured org: its normalizer instance (with the rules in
    /// `detection`) and its sinks.
    pub fn build(
        org: &OrgConfig,
        runtime: &Runtime,
        detection: &DetectionConfig,
        store: Arc<Mutex<Store>>,
        metrics: Arc<Metrics>,
    ) -> Result<OrgPipeline> {
        let name = &org.name;
        let engine_config = EngineConfig {
            tenant_id: org.tenant().to_owned(),
            tenant_domain: host_of(&org.url),
            output: OutputOptions { preserve_original: false, redact_secrets: true },
            detection: detection.clone(),
            enrichment: org.enrichment.clone().unwrap_or_default().to_wit(),
        };
        let normalizer = match runtime.instantiate(&engine_config)? {
            Ok(n) => n,
            Err(e) => return Err(crate::detection::refused(&format!("org {name}"), &e)),
        };
        let sinks = org.sinks.iter().map(|s| build_sink(org, s)).collect::<Result<Vec<_>>>()?;
        OrgPipeline::new(name.clone(), normalizer, store, sinks, metrics, org.no_events_alert_hours)
    }

    /// Builds the pipeline and rolls every sink back to its committed position (a crash may have
    /// left uncommitted output behind).
    pub fn new(
        name: String,
        normalizer: Normalizer,
        store: Arc<Mutex<Store>>,
        sinks: Vec<Sink>,
        metrics: Arc<Metrics>,
        no_events_alert_hours: u64,
    ) -> Result<OrgPipeline> {
        let label = Metrics::org(&name);
        metrics.healthy.get_or_create(&label).set(1);
        let health = Health::new(no_events_alert_hours, crate::time::now_ms());
        let mut pipeline = OrgPipeline {
            name,
            normalizer,
            store,
            sinks,
            stats: Arc::new(Mutex::new(Stats::default())),
            metrics,
            label,
            health,
            dead_letter_dir: None,
            dirty: false,
            directory_loaded: false,
        };
        pipeline.recover()?;
        Ok(pipeline)
    }

    /// Keeps pushed bodies without readable events in `dir` instead of failing the batch.
    pub fn with_dead_letters(mut self, dir: std::path::PathBuf) -> OrgPipeline {
        self.dead_letter_dir = Some(dir);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The counters, shared.
    pub fn stats_handle(&self) -> Arc<Mutex<Stats>> {
        self.stats.clone()
    }

    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Rolls every sink back to its committed position, and the detection engine back to the
    /// state committed with them. [`OrgPipeline::deliver`] does this itself before the batch
    /// after a failed one.
    pub fn recover(&mut self) -> Result<()> {
        let name = &self.name.clone();
        let (parts, whole, window) = {
            let store = self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (store.detection_state_parts(name)?, store.detection_state(name)?, store.window_uuids(name)?)
        };
        // A store written before the state was kept in parts holds it whole; the next commit
        // replaces it with parts.
        let imported = match whole {
            Some(whole) if parts.is_empty() => self.normalizer.import_state(&whole)?,
            _ => self.normalizer.import_state_parts(&parts)?,
        };
        drop(parts);
        if let Err(why) = imported {
            // Rules changed shape, or the file was damaged: start detection afresh rather than stop.
            tracing::warn!(org = %name, error = %why, "The stored detection state cannot be used; detection starts with empty windows.");
            self.normalizer.import_state(&[])?.map_err(|e| anyhow::anyhow!("org {name}: resetting detection: {e}"))?;
        }
        self.normalizer.mark_seen(&window)?;
        self.load_directory()?;
        for sink in &mut self.sinks {
            let committed = self
                .store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .sink_position(name, sink.name())?;
            sink.recover(committed).with_context(|| format!("org {name}: while recovering sink {}", sink.name()))?;
        }
        Ok(())
    }

    /// Loads the stored directory into the engine (replacing what it held), so enrichment
    /// matches the store after a start or a failed batch. The entity documents it returns were
    /// written when the objects were synced, so they are dropped.
    fn load_directory(&mut self) -> Result<()> {
        let name = self.name.clone();
        let (objects, memberships, roles) = {
            let store = self.store();
            let mut objects = Vec::new();
            for kind in [DirectoryKind::UserSchema, DirectoryKind::User, DirectoryKind::Group, DirectoryKind::Device] {
                for (id, o) in store.directory_objects(&name, kind_name(kind))? {
                    objects.push(DirectoryObject { kind, id, change: DirectoryChange::Discovered, json: o.json });
                }
            }
            let members = store.directory_members(&name)?;
            let roles = store.directory_roles(&name)?;
            (objects, members, roles)
        };
        if objects.is_empty() && !self.directory_loaded {
            return Ok(());
        }
        let update = DirectoryUpdate {
            reset: true,
            objects,
            memberships: memberships
                .into_iter()
                .map(|(group_id, user_ids)| GroupMembers { group_id, user_ids })
                .collect(),
            roles: roles.into_iter().map(|(user_id, json)| UserRoles { user_id, json }).collect(),
            observed_ms: crate::time::now_ms(),
        };
        let result = blocking(|| self.normalizer.update_directory(&update))
            .with_context(|| format!("org {name}: while loading the stored directory into the engine"))?;
        self.directory_loaded = true;
        self.directory_counts(result.users, result.groups, result.devices);
        Ok(())
    }

    fn directory_counts(&self, users: u32, groups: u32, devices: u32) {
        for (kind, n) in [("user", users), ("group", groups), ("device", devices)] {
            self.metrics
                .directory_objects
                .get_or_create(&crate::telemetry::KindLabel { org: self.name.clone(), kind: kind.to_owned() })
                .set(i64::from(n));
        }
        let mut stats = self.stats();
        (stats.directory_users, stats.directory_groups, stats.directory_devices) = (users, groups, devices);
    }

    /// Applies one directory sync: updates the engine, writes the entity documents it returns
    /// to every sink, makes them durable, then commits the objects, memberships, role lists, marks
    /// and sink positions in one transaction. On an error nothing is committed, and the sinks and the
    /// engine's directory return to the store's state.
    pub async fn apply_directory(&mut self, changes: &Changes) -> Result<DirectoryApplied> {
        if self.dirty {
            self.recover()?;
        }
        let result = self.apply_directory_batch(changes).await;
        if result.is_err() {
            self.dirty = true;
            if let Err(e) = self.recover() {
                tracing::warn!(org = %self.name, error = %format!("{e:#}"), "Rolling the sinks back failed; trying again before the next batch.");
            }
        }
        result
    }

    async fn apply_directory_batch(&mut self, changes: &Changes) -> Result<DirectoryApplied> {
        let name = self.name.clone();
        let update = DirectoryUpdate {
            reset: false,
            objects: changes
                .deltas
                .iter()
                .map(|d| DirectoryObject { kind: d.kind, id: d.id.clone(), change: d.change, json: d.json.clone() })
                .collect(),
            memberships: changes
                .memberships
                .iter()
                .map(|(g, users)| GroupMembers { group_id: g.clone(), user_ids: users.clone() })
                .collect(),
            roles: changes
                .roles
                .iter()
                .map(|(user, json)| UserRoles {
                    user_id: user.clone(),
                    json: json.clone().unwrap_or_else(|| "[]".to_owned()),
                })
                .collect(),
            observed_ms: crate::time::now_ms(),
        };
        let result = blocking(|| self.normalizer.update_directory(&update))?;
        self.directory_loaded = true;
        for p in &result.problems {
            tracing::warn!(org = %name, kind = kind_name(p.kind), id = %p.id, code = %p.code, error = %p.message, "The engine could not read a directory object; it is stored but does not enrich events.");
        }
        let ids: Vec<String> = result.entities.iter().map(entity_id).collect();
        let docs: Vec<Doc<'_>> =
            result.entities.iter().zip(&ids).map(|(e, id)| Doc { id: Some(id), json: &e.document }).collect();
        let mut positions = Vec::new();
        for sink in &mut self.sinks {
            sink.write(&docs).with_context(|| format!("org {name}: sink {}", sink.name()))?;
            if let Some(pos) = sink.flush().await.with_context(|| format!("org {name}: sink {}", sink.name()))? {
                positions.push((sink.name().to_owned(), pos));
            }
        }
        let commit = DirectoryCommit {
            objects: changes
                .deltas
                .iter()
                .map(|d| match d.change {
                    DirectoryChange::Deleted => ObjectWrite::Delete { kind: kind_name(d.kind), id: &d.id },
                    _ => ObjectWrite::Put {
                        kind: kind_name(d.kind),
                        id: &d.id,
                        json: &d.json,
                        status: d.status.as_deref(),
                    },
                })
                .collect(),
            memberships: changes.memberships.iter().map(|(g, users)| (g.as_str(), users.as_slice())).collect(),
            roles: changes.roles.iter().map(|(user, json)| (user.as_str(), json.as_deref())).collect(),
            marks: changes.marks,
            sinks: positions.iter().map(|(n, p)| (n.as_str(), *p)).collect(),
        };
        self.store().commit_directory(&name, &commit)?;
        self.directory_counts(result.users, result.groups, result.devices);
        let entities = u64::try_from(docs.len()).unwrap_or(u64::MAX);
        self.stats().entities_written += entities;
        Ok(DirectoryApplied {
            entities,
            problems: u64::try_from(result.problems.len()).unwrap_or(u64::MAX),
            users: result.users,
            groups: result.groups,
            devices: result.devices,
        })
    }

    /// Warns once when the org has been silent for too long (on every channel).
    pub fn check_health(&mut self) {
        if let Some(HealthChange::Silent(hours)) = self.health.check(crate::time::now_ms()) {
            self.metrics.healthy.get_or_create(&self.label).set(0);
            tracing::warn!(
                org = %self.name,
                hours,
                "No events from this org for {hours} h; check that the token still has access, that hooks and streams are active, and that the org is active."
            );
        }
    }

    /// Normalizes, dedupes, writes and commits one batch of `bodies` from `channel`.
    ///
    /// `cursor` is the poller's progress (committed with the batch); `spooled` are the spool rows
    /// the bodies came from (deleted with the batch). On an error nothing is committed, and the
    /// next call first rolls the sinks back to their committed position.
    pub async fn deliver(
        &mut self,
        channel: Channel,
        bodies: &[&[u8]],
        cursor: Option<&str>,
        spooled: &[i64],
    ) -> Result<Delivered> {
        if self.dirty {
            self.recover()?;
        }
        let result = self.deliver_batch(channel, bodies, cursor, spooled).await;
        if result.is_err() {
            self.dirty = true;
            // Roll back now if possible, so a sink does not hold uncommitted output while idle.
            if let Err(e) = self.recover() {
                tracing::warn!(org = %self.name, error = %format!("{e:#}"), "Rolling the sinks back failed; trying again before the next batch.");
            }
        }
        result
    }

    async fn deliver_batch(
        &mut self,
        channel: Channel,
        bodies: &[&[u8]],
        cursor: Option<&str>,
        spooled: &[i64],
    ) -> Result<Delivered> {
        let name = self.name.clone();
        let ingested = crate::time::format_ms(crate::time::now_ms());
        let options = BatchOptions { format: channel.format(), ingested: Some(ingested) };
        let mut results = Vec::with_capacity(bodies.len());
        for body in bodies {
            let result = blocking(|| self.normalizer.normalize(body, &options))?;
            match result {
                Ok(r) => results.push(r),
                Err(e) if channel == Channel::Poll => {
                    bail!("org {name}: Okta sent a page that is not a JSON array ({}: {})", e.code, e.message)
                }
                // A pushed body was checked before it was accepted, so this is a shape the guest
                // does not take: keep the body in the dead-letter directory rather than lose it.
                Err(e) => {
                    let Some(dir) = &self.dead_letter_dir else {
                        bail!(
                            "org {name}: a {} body has no events to read ({}: {})",
                            channel.as_str(),
                            e.code,
                            e.message
                        )
                    };
                    let why = format!("{}: {}", e.code, e.message);
                    let path = crate::sources::push::keep_dead_letter(dir, &name, channel, body, &why)?;
                    tracing::warn!(org = %name, channel = channel.as_str(), error = %why, path = %path.display(), "A pushed body has no events the normalizer can read; kept it as a dead letter.");
                    self.stats().failed += 1;
                    self.metrics.events_failed.get_or_create(&self.label).inc();
                }
            }
        }
        let outcomes = results.iter().flat_map(|r| r.outcomes.iter());
        let count = results.iter().map(|r| r.outcomes.len()).sum::<usize>();
        let uuids: Vec<&str> = outcomes
            .clone()
            .filter_map(|o| match &o.outcome {
                Outcome::Normalized(n) => n.uuid.as_deref(),
                Outcome::Failed(_) => None,
            })
            .collect();
        let seen = self.store().already_seen(&name, uuids.iter().copied())?;
        let mut in_batch = HashSet::new();
        let mut docs = Vec::with_capacity(count);
        let mut commit = Commit::default();
        let mut last_published_ms = None;
        let (mut duplicates, mut failed) = (0u64, 0u64);
        for o in outcomes {
            match &o.outcome {
                Outcome::Normalized(n) => {
                    if let Some(uuid) = n.uuid.as_deref() {
                        if seen.contains(uuid) || !in_batch.insert(uuid) {
                            duplicates += 1;
                            continue;
                        }
                        commit.uuids.push((uuid, n.published_ms));
                    }
                    last_published_ms = last_published_ms.max(n.published_ms);
                    docs.push(Doc { id: n.uuid.as_deref(), json: &n.document });
                }
                Outcome::Failed(e) => {
                    failed += 1;
                    tracing::warn!(org = %name, channel = channel.as_str(), code = %e.code, error = %e.message, "An event could not be read; writing it as a pipeline_error document.");
                    docs.push(Doc { id: None, json: &e.document });
                }
            }
        }
        let alerts: Vec<_> = results.iter().flat_map(|r| r.alerts.iter()).collect();
        docs.extend(alerts.iter().map(|a| Doc { id: Some(&a.id), json: &a.document }));
        let state = self.normalizer.export_state_changes()?;
        let mut positions = Vec::new();
        for sink in &mut self.sinks {
            sink.write(&docs).with_context(|| format!("org {name}: sink {}", sink.name()))?;
            if let Some(pos) = sink.flush().await.with_context(|| format!("org {name}: sink {}", sink.name()))? {
                positions.push((sink.name().to_owned(), pos));
            }
        }
        commit.sinks = positions.iter().map(|(n, p)| (n.as_str(), *p)).collect();
        commit.cursor = cursor.map(|next_url| Cursor { next_url, last_published_ms });
        commit.spooled = spooled.to_vec();
        commit.detection_state = Some(&state);
        self.store().commit(&name, &commit)?;
        let state_bytes: usize = state.written.iter().map(|p| p.key.len() + p.value.len()).sum();
        self.metrics
            .detection_state_written_bytes
            .get_or_create(&self.label)
            .inc_by(u64::try_from(state_bytes).unwrap_or(u64::MAX));
        self.metrics
            .guest_memory_bytes
            .get_or_create(&self.label)
            .set(i64::try_from(self.normalizer.memory_bytes()).unwrap_or(i64::MAX));

        let written = u64::try_from(docs.len() - alerts.len()).unwrap_or(u64::MAX) - failed;
        self.record(channel, count, written, duplicates, failed, last_published_ms);
        let mut stats = self.stats();
        for alert in &alerts {
            let kind = match alert.kind {
                AlertKind::Alert => {
                    stats.alerts += 1;
                    "alert"
                }
                AlertKind::Signal => {
                    stats.signals += 1;
                    "signal"
                }
            };
            self.metrics
                .alerts
                .get_or_create(&AlertLabel {
                    org: name.clone(),
                    rule: alert.rule_name.clone(),
                    severity: alert.severity.clone(),
                    kind: kind.to_owned(),
                })
                .inc();
        }
        let alerts = u64::try_from(alerts.len()).unwrap_or(u64::MAX);
        Ok(Delivered { events_in: count, written, duplicates, failed, alerts })
    }

    fn record(
        &mut self,
        channel: Channel,
        count: usize,
        written: u64,
        duplicates: u64,
        failed: u64,
        last_published_ms: Option<i64>,
    ) {
        let now = crate::time::now_ms();
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        self.metrics.events_in.get_or_create(&self.label).inc_by(count);
        self.metrics.events_written.get_or_create(&self.label).inc_by(written);
        let by_channel = ChannelLabel { org: self.name.clone(), channel: channel.as_str().to_owned() };
        self.metrics.events_by_channel.get_or_create(&by_channel).inc_by(written);
        self.metrics.batches.get_or_create(&by_channel).inc();
        self.metrics.events_duplicate.get_or_create(&self.label).inc_by(duplicates);
        self.metrics.events_failed.get_or_create(&self.label).inc_by(failed);
        if count > 0 && self.health.saw_events(now) == Some(HealthChange::Recovered) {
            self.metrics.healthy.get_or_create(&self.label).set(1);
            tracing::info!(org = %self.name, "Events are arriving again.");
        }
        if let Some(last) = last_published_ms {
            self.metrics.lag_seconds.get_or_create(&self.label).set((now - last) / 1000);
        }
        let mut stats = self.stats();
        stats.events_in += count;
        stats.written += written;
        stats.written_by[channel as usize] += written;
        stats.failed += failed;
        stats.duplicates += duplicates;
        if let Some(last) = last_published_ms {
            stats.lag_ms = now - last;
        }
    }
}

/// The `_id` of an entity document: its kind, id and a digest of the document without its
/// `@timestamp` (when the sync saw the object). So the same change written again (a sync replayed
/// after a crash between the sink write and the commit, at another time) has the same id and the
/// OpenSearch sink's `create` keeps one copy, while each new state of an object (its
/// `lastUpdated`, groups, roles or the kind of change differ) gets a new one.
fn entity_id(e: &crate::guest::Entity) -> String {
    let timeless = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&e.document) {
        Ok(mut doc) => {
            doc.remove("@timestamp");
            serde_json::to_string(&doc).unwrap_or_default()
        }
        Err(_) => e.document.clone(),
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, timeless.as_bytes());
    let hex: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{}:{hex}", kind_name(e.kind), e.id)
}

fn build_sink(org: &OrgConfig, config: &SinkConfig) -> Result<Sink> {
    let name = &org.name;
    Ok(match config {
        SinkConfig::File { dir, max_bytes, max_age_secs } => Sink::File(FileSink::open(FileSinkConfig {
            dir: dir.clone(),
            prefix: name.clone(),
            max_bytes: *max_bytes,
            max_age: Duration::from_secs(*max_age_secs),
        })?),
        SinkConfig::Stdout => Sink::Stdout(StdoutSink),
        SinkConfig::Opensearch { url, index, username, password_env, dead_letter } => {
            let basic_auth = match (username, password_env) {
                (Some(user), Some(var)) => Some((user.clone(), crate::config::Secret::from_env(var)?)),
                (None, None) => None,
                _ => bail!("org {name}: an opensearch sink needs both username and password_env, or neither"),
            };
            Sink::OpenSearch(OpenSearchSink::new(OpenSearchSinkConfig {
                url: url.clone(),
                index: index.clone(),
                basic_auth,
                dead_letter: dead_letter.clone(),
                max_attempts: 6,
                retry_base: Duration::from_millis(org.retry_base_ms.max(1)),
            })?)
        }
    })
}

/// `https://acme.okta.com/...` → `acme.okta.com`.
pub(crate) fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?']).next()?.split('@').next_back()?;
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    (!host.is_empty()).then(|| host.to_owned())
}

/// Runs CPU-heavy work (the component) without stalling the other tasks on this worker thread,
/// such as request handlers waiting to acknowledge.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(document: &str) -> crate::guest::Entity {
        crate::guest::Entity {
            kind: DirectoryKind::User,
            id: "00u1".into(),
            change: DirectoryChange::Modified,
            document: document.into(),
        }
    }

    /// A replayed sync writes the same change at another time: same `_id`, so OpenSearch keeps
    /// one copy. Another state of the object gets another `_id`.
    #[test]
    fn an_entity_id_ignores_when_the_change_was_seen_but_not_what_changed() {
        let at = |time: &str, updated: &str| {
            entity(&format!(
                r#"{{"@timestamp":"{time}","event":{{"action":"user-modified"}},"asset":{{"last_updated":"{updated}"}}}}"#
            ))
        };
        let first = entity_id(&at("2026-11-22T10:00:00.000Z", "2026-11-22T09:59:00.000Z"));
        assert_eq!(first, entity_id(&at("2026-11-22T11:30:00.000Z", "2026-11-22T09:59:00.000Z")));
        assert_ne!(first, entity_id(&at("2026-11-22T10:00:00.000Z", "2026-11-22T10:05:00.000Z")));
        assert!(first.starts_with("user:00u1:"), "{first}");
        // Not JSON (cannot happen; the guest writes the documents): the whole text is digested.
        assert_ne!(entity_id(&entity("x")), entity_id(&entity("y")));
    }
}
