//! Keeps a current copy of an org's directory (okta-api.md §6, ecs-mapping.md §4).
//!
//! - **Full sync** (at start when none was ever done, then every `full_interval_secs`): users with
//!   `search=status pr` (so `DEPROVISIONED` users are included), groups, the members of each group
//!   whose `lastMembershipUpdated` differs from the stored one (only those), devices with
//!   `expand=user`, and the user schema. Objects stored before and not listed now are `deleted`.
//! - **Incremental sync** (every `incremental_interval_secs`): users with
//!   `search=lastUpdated ge "<newest lastUpdated seen − overlap>" and status pr` (second resolution;
//!   `ge` and the overlap bring back objects already seen, which are dropped because their JSON is
//!   unchanged), groups with `filter=lastUpdated ge … or lastMembershipUpdated ge …` and their
//!   changed member lists, devices with `search=lastUpdated ge …`, and the schema (one call).
//!   Deletions are invisible to these queries; the next full sync finds them.
//! - **Admin roles**, on every sync, full and incremental (a role assignment does not move a
//!   user's `lastUpdated`, so no incremental query can see it): the users holding a role
//!   (`/api/v1/iam/assignees/users`, paged in the body), then each one's complete list
//!   (`/api/v1/users/{id}/roles`, direct and group assignments). A user no longer listed holds no
//!   role. A list that differs from the stored one replaces it, and the user gets a new entity
//!   document. When Okta refuses (403: no `okta.roles.read`, or an admin who may not read roles)
//!   the sync warns once and goes on, keeping the stored roles; `roles = false` forgets them.
//! - Every object is compared with the stored one: `discovered`, `modified`, `deprovisioned` (a
//!   user whose status became DEPROVISIONED) or `deleted`; unchanged objects are dropped.
//! - The changes go to the org's pipeline ([`crate::pipeline::OrgPipeline::apply_directory`]),
//!   which updates the engine, writes the entity documents it returns to the sinks, makes them
//!   durable, and commits the objects, memberships and marks in one transaction.
//! - Calls use the poller's credentials and the org's gate ([`api`]): one request at a time, a
//!   budget per rate-limit bucket with its own headroom, and a pause whenever the poller is rate
//!   limited, so the log poller always comes first.

pub mod api;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use tokio::sync::watch;

use crate::auth::Auth;
use crate::budget::OrgGate;
use crate::config::{DirectoryConfig, OrgConfig};
use crate::guest::{DirectoryChange, DirectoryKind};
use crate::pipeline::SharedPipeline;
use crate::sources::sleep_or_stop;
use crate::store::{DirectoryMarks, Store, StoredObject};
use crate::telemetry::{KindLabel, Metrics};
use api::{Api, Endpoint, Forbidden, Stopped, encode};

/// Users, groups and devices per page (Okta's maximum).
const PAGE_LIMIT: u32 = 200;

/// Role assignees per page (the IAM API's maximum).
const ASSIGNEES_LIMIT: u32 = 100;

/// The store's name for a kind.
pub fn kind_name(kind: DirectoryKind) -> &'static str {
    match kind {
        DirectoryKind::User => "user",
        DirectoryKind::Group => "group",
        DirectoryKind::Device => "device",
        DirectoryKind::UserSchema => "user-schema",
    }
}

pub fn change_name(change: DirectoryChange) -> &'static str {
    match change {
        DirectoryChange::Discovered => "discovered",
        DirectoryChange::Modified => "modified",
        DirectoryChange::Deprovisioned => "deprovisioned",
        DirectoryChange::Deleted => "deleted",
    }
}

/// One changed object.
#[derive(Debug, Clone)]
pub struct Delta {
    pub kind: DirectoryKind,
    pub id: String,
    pub change: DirectoryChange,
    /// Okta's JSON (for `deleted`, the last stored JSON).
    pub json: String,
    pub status: Option<String>,
}

/// What one sync found.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub deltas: Vec<Delta>,
    /// Complete member lists of the groups whose members changed (empty for a deleted group).
    pub memberships: Vec<(String, Vec<String>)>,
    /// Complete role lists (the JSON array, assignments sorted by id) of the users whose roles
    /// changed; `None` for a user who holds no role any more.
    pub roles: Vec<(String, Option<String>)>,
    pub marks: DirectoryMarks,
}

/// What one sync did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub full: bool,
    /// Calls per endpoint.
    pub calls: BTreeMap<String, u64>,
    pub rate_limited: u64,
    pub elapsed: Duration,
    /// Changes by kind: discovered, modified, deprovisioned, deleted.
    pub changes: [u64; 4],
    /// Groups whose member list was fetched.
    pub groups_refetched: u64,
    /// Entity documents written.
    pub entities: u64,
    /// Objects held afterwards.
    pub users: u32,
    pub groups: u32,
    pub devices: u32,
    /// Users whose admin roles changed.
    pub roles_changed: u64,
    /// Users holding an admin role afterwards.
    pub role_holders: u32,
    /// Why the roles were not read this time (Okta refused them), if so.
    pub roles_refused: Option<String>,
}

impl SyncReport {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// Counters for the status line.
#[derive(Debug, Clone, Default)]
pub struct SyncStats {
    pub full_syncs: u64,
    pub incremental_syncs: u64,
    pub failures: u64,
    pub calls: u64,
    pub entities: u64,
    pub users: u32,
    pub groups: u32,
    pub devices: u32,
    pub last: Option<SyncReport>,
}

/// Which sync to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Incremental,
}

/// One org's directory sync.
pub struct DirectorySync {
    org: String,
    settings: DirectoryConfig,
    api: Api,
    store: Arc<Mutex<Store>>,
    pipeline: SharedPipeline,
    metrics: Arc<Metrics>,
    stats: Arc<Mutex<SyncStats>>,
    stop: watch::Receiver<bool>,
    /// Okta refused the role APIs and that was logged (once; later refusals are debug lines).
    roles_refused: bool,
    /// Set once the first sync of this run has finished, failed, or was not due.
    settled: watch::Sender<bool>,
}

/// What reading the roles found.
struct RolesRead {
    holders: u32,
    refused: Option<String>,
}

impl std::fmt::Debug for DirectorySync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectorySync").field("org", &self.org).finish_non_exhaustive()
    }
}

impl DirectorySync {
    /// The sync of `org`, calling Okta with `auth` (the poller's, to share its token) through
    /// `gate` (shared with the poller), and writing through `pipeline`.
    pub fn new(
        org: &OrgConfig,
        auth: Arc<Auth>,
        gate: Arc<OrgGate>,
        pipeline: SharedPipeline,
        store: Arc<Mutex<Store>>,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> Result<DirectorySync> {
        let settings = org.directory.clone();
        let api = Api::new(
            &org.name,
            &org.url,
            auth,
            gate,
            settings.rate_limit_headroom_percent,
            Duration::from_millis(org.retry_base_ms.max(1)),
            stop.clone(),
            metrics.clone(),
        )?;
        Ok(DirectorySync {
            org: org.name.clone(),
            settings,
            api,
            store,
            pipeline,
            metrics,
            stats: Arc::new(Mutex::new(SyncStats::default())),
            stop,
            roles_refused: false,
            settled: watch::Sender::new(false),
        })
    }

    /// Turns `true` once the first sync of this run has finished (or failed, or was not due);
    /// closes when the sync stops. `poll` waits on it at a first start.
    pub fn settled(&self) -> watch::Receiver<bool> {
        self.settled.subscribe()
    }

    /// The counters, shared.
    pub fn stats_handle(&self) -> Arc<Mutex<SyncStats>> {
        self.stats.clone()
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, SyncStats> {
        self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Which sync is due now, and otherwise how long until one is.
    fn due(&self, marks: &DirectoryMarks, now: i64) -> std::result::Result<Mode, Duration> {
        let secs = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let Some(full) = marks.last_full_ms else { return Ok(Mode::Full) };
        let next_full = full.saturating_add(secs(self.settings.full_interval_secs));
        if now >= next_full {
            return Ok(Mode::Full);
        }
        let last = marks.last_incremental_ms.unwrap_or(full).max(full);
        let next_incremental = last.saturating_add(secs(self.settings.incremental_interval_secs));
        if now >= next_incremental {
            return Ok(Mode::Incremental);
        }
        let wait = next_full.min(next_incremental) - now;
        Err(Duration::from_millis(u64::try_from(wait).unwrap_or(0)))
    }

    /// Syncs on schedule until `stop`. A failed sync is logged and tried again after a backoff;
    /// it never stops the org's poller.
    pub async fn run(&mut self) -> Result<()> {
        let mut failures = 0u32;
        loop {
            if *self.stop.borrow() {
                return Ok(());
            }
            let marks = self.store().directory_marks(&self.org)?;
            let mode = match self.due(&marks, crate::time::now_ms()) {
                Ok(mode) => mode,
                Err(wait) => {
                    self.settled.send_replace(true);
                    let mut stop = self.stop.clone();
                    if sleep_or_stop(wait, &mut stop).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            let result = self.sync(mode).await;
            self.settled.send_replace(true);
            match result {
                Ok(_) => failures = 0,
                Err(e) if e.is::<Stopped>() => return Ok(()),
                Err(e) => {
                    failures += 1;
                    self.stats().failures += 1;
                    self.metrics.directory_syncs.get_or_create(&self.label("failed")).inc();
                    let wait = Duration::from_secs(30u64 << failures.min(5))
                        .min(Duration::from_secs(self.settings.incremental_interval_secs.max(1)));
                    tracing::warn!(org = %self.org, error = %format!("{e:#}"), retry_secs = wait.as_secs(), "The directory sync failed; trying again later.");
                    let mut stop = self.stop.clone();
                    if sleep_or_stop(wait, &mut stop).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Runs the sync that is due now, if any (`poll --once`).
    pub async fn run_due(&mut self) -> Result<Option<SyncReport>> {
        let marks = self.store().directory_marks(&self.org)?;
        let due = self.due(&marks, crate::time::now_ms());
        let result = match due {
            Ok(mode) => self.sync(mode).await.map(Some),
            Err(_) => Ok(None),
        };
        self.settled.send_replace(true);
        match result {
            Err(e) if e.is::<Stopped>() => Ok(None),
            other => other,
        }
    }

    fn label(&self, kind: &str) -> KindLabel {
        KindLabel { org: self.org.clone(), kind: kind.to_owned() }
    }

    /// One sync, now. An incremental sync without a full one before it runs a full one.
    pub async fn sync(&mut self, mode: Mode) -> Result<SyncReport> {
        let started = Instant::now();
        let marks = self.store().directory_marks(&self.org)?;
        let mode = if marks.last_full_ms.is_none() { Mode::Full } else { mode };
        self.api.calls.clear();
        self.api.rate_limited = 0;
        let (mut changes, groups_refetched) = match mode {
            Mode::Full => self.fetch(marks, None).await?,
            Mode::Incremental => {
                let overlap = i64::try_from(self.settings.incremental_overlap_secs.saturating_mul(1000)).unwrap_or(0);
                self.fetch(marks, Some(overlap)).await?
            }
        };
        let roles = self.fetch_roles(&mut changes).await?;
        let mut report = SyncReport {
            full: mode == Mode::Full,
            calls: self.api.calls.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            rate_limited: self.api.rate_limited,
            groups_refetched,
            roles_changed: u64::try_from(changes.roles.len()).unwrap_or(u64::MAX),
            role_holders: roles.holders,
            roles_refused: roles.refused,
            ..SyncReport::default()
        };
        if !changes.roles.is_empty() {
            self.metrics
                .directory_changes
                .get_or_create(&crate::telemetry::ChangeLabel {
                    org: self.org.clone(),
                    kind: "user-roles".to_owned(),
                    change: change_name(DirectoryChange::Modified).to_owned(),
                })
                .inc_by(report.roles_changed);
        }
        for d in &changes.deltas {
            report.changes[d.change as usize] += 1;
            self.metrics
                .directory_changes
                .get_or_create(&crate::telemetry::ChangeLabel {
                    org: self.org.clone(),
                    kind: kind_name(d.kind).to_owned(),
                    change: change_name(d.change).to_owned(),
                })
                .inc();
        }
        let applied = self.pipeline.lock().await.apply_directory(&changes).await?;
        report.entities = applied.entities;
        (report.users, report.groups, report.devices) = (applied.users, applied.groups, applied.devices);
        report.elapsed = started.elapsed();
        let kind = if report.full { "full" } else { "incremental" };
        self.metrics.directory_syncs.get_or_create(&self.label(kind)).inc();
        tracing::info!(
            org = %self.org,
            sync = kind,
            calls = report.total_calls(),
            users = report.users,
            groups = report.groups,
            devices = report.devices,
            discovered = report.changes[0],
            modified = report.changes[1],
            deprovisioned = report.changes[2],
            deleted = report.changes[3],
            roles_changed = report.roles_changed,
            entities = report.entities,
            elapsed_ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
            "Directory synced."
        );
        let mut stats = self.stats();
        if report.full {
            stats.full_syncs += 1;
        } else {
            stats.incremental_syncs += 1;
        }
        stats.calls += report.total_calls();
        stats.entities += report.entities;
        (stats.users, stats.groups, stats.devices) = (report.users, report.groups, report.devices);
        stats.last = Some(report.clone());
        Ok(report)
    }

    /// Fetches what changed: everything (`overlap` = `None`) or what changed since the marks.
    async fn fetch(&mut self, marks: DirectoryMarks, overlap: Option<i64>) -> Result<(Changes, u64)> {
        let now = crate::time::now_ms();
        let full = overlap.is_none();
        let since = |mark: Option<i64>| {
            let ms = mark.unwrap_or(0).saturating_sub(overlap.unwrap_or(0)).max(0);
            // Second resolution, as Okta stores lastUpdated.
            crate::time::format_ms(ms.div_euclid(1000) * 1000)
        };
        let mut changes = Changes { marks, ..Changes::default() };

        // Users.
        let query = match overlap {
            None => "status pr".to_owned(),
            Some(_) => format!("lastUpdated ge \"{}\" and status pr", since(marks.users_updated_ms)),
        };
        let url = self.api.url(&format!("/api/v1/users?search={}&limit={PAGE_LIMIT}", encode(&query)));
        let users = self.api.list(Endpoint::Users, &url).await?.unwrap_or_default();
        changes.marks.users_updated_ms = max_ms(marks.users_updated_ms, &users, &["lastUpdated"]);
        let stored_users = if full { Some(self.store().directory_objects(&self.org, "user")?) } else { None };
        self.diff(DirectoryKind::User, users, stored_users.as_ref(), &mut changes.deltas)?;

        // Groups, and the members of those whose membership changed.
        let url = match overlap {
            None => self.api.url(&format!("/api/v1/groups?limit={PAGE_LIMIT}")),
            Some(_) => {
                let s = since(marks.groups_updated_ms);
                let filter = format!("lastUpdated ge \"{s}\" or lastMembershipUpdated ge \"{s}\"");
                self.api.url(&format!("/api/v1/groups?filter={}&limit={PAGE_LIMIT}", encode(&filter)))
            }
        };
        let groups = self.api.list(Endpoint::Groups, &url).await?.unwrap_or_default();
        changes.marks.groups_updated_ms =
            max_ms(marks.groups_updated_ms, &groups, &["lastUpdated", "lastMembershipUpdated"]);
        let stored_members = self.store().directory_members(&self.org)?;
        // When the previous sync started: every stored member list was fetched after it.
        let previous = marks.last_full_ms.max(marks.last_incremental_ms);
        let mut refetched = 0u64;
        for group in &groups {
            let Some(id) = group["id"].as_str() else { continue };
            let stored = self.store().directory_object(&self.org, "group", id)?;
            let stored_at = stored
                .as_ref()
                .and_then(|s| serde_json::from_str::<Value>(&s.json).ok())
                .and_then(|v| v["lastMembershipUpdated"].as_str().map(str::to_owned));
            // `lastMembershipUpdated` has second resolution: an equal stamp proves nothing changed
            // only when its second ended before the previous sync began; a change later in that
            // same second would not have moved it.
            let settled = stored_at
                .as_deref()
                .and_then(crate::time::parse_ms)
                .zip(previous)
                .is_some_and(|(stamp, previous)| stamp.saturating_add(1000) <= previous);
            if stored.is_some() && stored_at.as_deref() == group["lastMembershipUpdated"].as_str() && settled {
                continue;
            }
            refetched += 1;
            let url = self.api.url(&format!("/api/v1/groups/{}/users?limit={PAGE_LIMIT}", encode(id)));
            let Some(members) = self.api.list(Endpoint::GroupUsers, &url).await? else { continue };
            let mut ids: Vec<String> = members.iter().filter_map(|u| u["id"].as_str().map(str::to_owned)).collect();
            ids.sort();
            ids.dedup();
            if stored_members.get(id).map_or(!ids.is_empty() || stored.is_none(), |m| *m != ids) {
                changes.memberships.push((id.to_owned(), ids));
            }
        }
        let stored_groups = if full { Some(self.store().directory_objects(&self.org, "group")?) } else { None };
        let before = changes.deltas.len();
        self.diff(DirectoryKind::Group, groups, stored_groups.as_ref(), &mut changes.deltas)?;
        for d in &changes.deltas[before..] {
            if d.change == DirectoryChange::Deleted && stored_members.contains_key(&d.id) {
                changes.memberships.push((d.id.clone(), Vec::new()));
            }
        }

        // Devices, with their users.
        if self.settings.devices {
            let url = match overlap {
                None => self.api.url(&format!("/api/v1/devices?expand=user&limit={PAGE_LIMIT}")),
                Some(_) => {
                    let search = format!("lastUpdated ge \"{}\"", since(marks.devices_updated_ms));
                    self.api.url(&format!("/api/v1/devices?expand=user&search={}&limit={PAGE_LIMIT}", encode(&search)))
                }
            };
            let devices = self.api.list(Endpoint::Devices, &url).await?.unwrap_or_default();
            changes.marks.devices_updated_ms = max_ms(marks.devices_updated_ms, &devices, &["lastUpdated"]);
            let stored_devices = if full { Some(self.store().directory_objects(&self.org, "device")?) } else { None };
            self.diff(DirectoryKind::Device, devices, stored_devices.as_ref(), &mut changes.deltas)?;
        }

        // The user schema, with its custom attributes.
        let url = self.api.url("/api/v1/meta/schemas/user/default");
        // Stored under the id "default" (Okta's own id is the schema's URL).
        if let Some(schema) = self.api.one(Endpoint::Schema, &url).await? {
            let json = schema.to_string();
            let stored = self.store().directory_object(&self.org, "user-schema", "default")?;
            let change = match stored {
                None => Some(DirectoryChange::Discovered),
                Some(s) if s.json != json => Some(DirectoryChange::Modified),
                Some(_) => None,
            };
            if let Some(change) = change {
                changes.deltas.push(Delta {
                    kind: DirectoryKind::UserSchema,
                    id: "default".to_owned(),
                    change,
                    json,
                    status: None,
                });
            }
        }

        if full {
            changes.marks.last_full_ms = Some(now);
        }
        changes.marks.last_incremental_ms = Some(now);
        Ok((changes, refetched))
    }

    /// Reads every admin's roles (on every sync: assigning a role does not move `lastUpdated`)
    /// and adds the users whose roles changed to `changes`. A refusal (403) is not an error: the
    /// sync goes on with the stored roles, and says so once.
    async fn fetch_roles(&mut self, changes: &mut Changes) -> Result<RolesRead> {
        let stored = self.store().directory_roles(&self.org)?;
        if !self.settings.roles {
            // Switched off: forget what an earlier sync stored, so nothing stale enriches events.
            changes.roles.extend(stored.into_keys().map(|id| (id, None)));
            return Ok(RolesRead { holders: 0, refused: None });
        }
        // Until the roles are read, the stored ones stand.
        let holders = u32::try_from(stored.len()).unwrap_or(u32::MAX);
        let url = self.api.url(&format!("/api/v1/iam/assignees/users?limit={ASSIGNEES_LIMIT}"));
        let assignees = match self.api.list_in_body(Endpoint::RoleAssignees, &url).await {
            Ok(Some(a)) => a,
            // Not "nobody holds a role": the org does not serve the API, so nothing is known.
            Ok(None) => {
                let why = "Okta answered /api/v1/iam/assignees/users with 404".to_owned();
                return Ok(self.roles_skipped(why, "E0000007", holders));
            }
            Err(e) => return self.roles_refused(e, holders),
        };
        let mut ids: Vec<String> = assignees.iter().filter_map(|a| a["id"].as_str().map(str::to_owned)).collect();
        ids.sort();
        ids.dedup();
        let mut fetched = BTreeMap::new();
        for id in ids {
            let url = self.api.url(&format!("/api/v1/users/{}/roles", encode(&id)));
            let roles = match self.api.one(Endpoint::UserRoles, &url).await {
                // 404: the user was deleted since the list was read.
                Ok(r) => r.unwrap_or_default(),
                Err(e) => return self.roles_refused(e, holders),
            };
            let mut assignments = match roles {
                Value::Array(a) => a,
                Value::Null => Vec::new(),
                _ => bail!("Okta answered /api/v1/users/{id}/roles with JSON that is not an array"),
            };
            if assignments.is_empty() {
                // Unassigned since the list was read.
                continue;
            }
            // Okta's order carries no meaning; a fixed one keeps an unchanged list unchanged.
            assignments.sort_by_cached_key(|a| (a["id"].as_str().unwrap_or_default().to_owned(), a.to_string()));
            fetched.insert(id, Value::Array(assignments).to_string());
        }
        if self.roles_refused {
            self.roles_refused = false;
            tracing::info!(org = %self.org, "Okta answers the admin role APIs again; the directory syncs roles.");
        }
        for (id, json) in &fetched {
            if stored.get(id) != Some(json) {
                changes.roles.push((id.clone(), Some(json.clone())));
            }
        }
        changes.roles.extend(stored.into_keys().filter(|id| !fetched.contains_key(id)).map(|id| (id, None)));
        Ok(RolesRead { holders: u32::try_from(fetched.len()).unwrap_or(u32::MAX), refused: None })
    }

    /// A failed role call: a refusal (403) skips the roles this time; any other error stays an
    /// error (the sync is tried again later).
    fn roles_refused(&mut self, e: anyhow::Error, holders: u32) -> Result<RolesRead> {
        let Some(forbidden) = e.downcast_ref::<Forbidden>() else { return Err(e) };
        Ok(self.roles_skipped(forbidden.to_string(), &forbidden.code, holders))
    }

    /// The roles cannot be read: the stored ones stay. Logged as a warning the first time.
    fn roles_skipped(&mut self, why: String, code: &str, holders: u32) -> RolesRead {
        if self.roles_refused {
            tracing::debug!(org = %self.org, code = %code, error = %why, "Okta still refuses the admin role APIs; syncing without roles.");
        } else {
            self.roles_refused = true;
            tracing::warn!(
                org = %self.org,
                code = %code,
                error = %why,
                "Okta refused to list admin roles, so the directory syncs without them (users keep the roles stored before). \
                 The token needs scope okta.roles.read (OAuth) and an admin role that can read role assignments; \
                 set [org.directory] roles = false to stop asking."
            );
        }
        RolesRead { holders, refused: Some(why) }
    }

    /// Compares fetched objects with the stored ones. With `stored_all` (a full sync), objects
    /// stored and not fetched are deleted; otherwise each fetched object is looked up by id.
    fn diff(
        &self,
        kind: DirectoryKind,
        fetched: Vec<Value>,
        stored_all: Option<&BTreeMap<String, StoredObject>>,
        out: &mut Vec<Delta>,
    ) -> Result<()> {
        let name = kind_name(kind);
        let mut seen = HashSet::new();
        for object in fetched {
            let Some(id) = object["id"].as_str().map(str::to_owned) else {
                tracing::warn!(org = %self.org, kind = name, "Okta listed a {name} without an id; skipping it.");
                continue;
            };
            if !seen.insert(id.clone()) {
                // The same object on two pages (it changed while we paged): the first is enough.
                continue;
            }
            let json = object.to_string();
            let status = object["status"].as_str().map(str::to_owned);
            let stored = match stored_all {
                Some(all) => all.get(&id).cloned(),
                None => self
                    .store()
                    .directory_object(&self.org, name, &id)
                    .with_context(|| format!("while reading the stored {name} {id}"))?,
            };
            let change = match &stored {
                None => DirectoryChange::Discovered,
                Some(s) if s.json == json => continue,
                Some(s)
                    if kind == DirectoryKind::User
                        && status.as_deref() == Some("DEPROVISIONED")
                        && s.status.as_deref() != Some("DEPROVISIONED") =>
                {
                    DirectoryChange::Deprovisioned
                }
                Some(_) => DirectoryChange::Modified,
            };
            out.push(Delta { kind, id, change, json, status });
        }
        if let Some(all) = stored_all {
            for (id, s) in all {
                if !seen.contains(id) {
                    out.push(Delta {
                        kind,
                        id: id.clone(),
                        change: DirectoryChange::Deleted,
                        json: s.json.clone(),
                        status: s.status.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The largest of `mark` and every date in `fields` of `objects` (epoch ms).
fn max_ms(mark: Option<i64>, objects: &[Value], fields: &[&str]) -> Option<i64> {
    objects
        .iter()
        .flat_map(|o| fields.iter().filter_map(|f| o[*f].as_str().and_then(crate::time::parse_ms)))
        .chain(mark)
        .max()
}
