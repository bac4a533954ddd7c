//! The per-engine detection runtime: matches each normalized event against its candidate
//! rules, applies filters, turns matches into alerts, feeds correlations and chains their fires.
//!
//! ```text
//!  event ─▶ candidates (eventType index) ─▶ detection ∧ filters ─▶ matched rules
//!     matched rule ─▶ alerts on its own? ─▶ threshold/dedup ─▶ Alert
//!                  └▶ correlations reading it (on time, not late) ─▶ Fired ─▶ Alert, and a hit for
//!                                                                    correlations reading that one
//!  event time ─▶ watermark (newest − reorder tolerance) ─▶ advance: expiry, x-absence deadlines
//! ```
//!
//! Only events that matched some rule are remembered (their uuids, in a bounded FIFO window), so
//! a duplicate delivery never counts twice nor alerts again. Everything here is exported by
//! [`Detector::export`] as deterministic JSON.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::alert::{self, Tally, Trigger};
use super::field::{EventView, FieldPath, PathBook, RawEvent, ViewScratch};
use super::rule::Body;
use super::ruleset::{Candidates, RuleSet};
use super::stateful::{self, Fields, Fired, Hit};
use crate::normalize::json::Members;
use crate::{Alert, FixedHash, Normalized, StateChanges, StateError, StatePart};

/// How many uuids of matched events are remembered.
pub(crate) const SEEN_WINDOW: usize = 50_000;

/// The export format's version.
const VERSION: u32 = 1;

/// Event time moves the correlations on at most once per this many ms of watermark.
const ADVANCE_STEP_MS: i64 = 1_000;

/// What the detector reads from its engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'e> {
    pub(crate) rules: &'e RuleSet,
    pub(crate) tenant: &'e str,
    pub(crate) tolerance_ms: i64,
}

/// Detection state of one engine.
#[derive(Debug, Default)]
pub(crate) struct Detector {
    correlations: stateful::State,
    /// rule name → dedup key → tally.
    tallies: BTreeMap<String, BTreeMap<String, Tally>>,
    seen: VecDeque<String>,
    seen_set: HashSet<String, FixedHash>,
    newest_ms: Option<i64>,
    watermark_ms: Option<i64>,
    advanced_ms: Option<i64>,
    /// Matches not fed to correlations because their event was older than the watermark or
    /// had no time.
    late: u64,
    /// uuid → the fields an `x-absence` alert needs from its trigger event, which is long gone
    /// when the deadline passes.
    snapshots: Snapshots,
    /// In-rule tests: this rule alerts on its own even when only correlations read it. Not state.
    alone: Option<usize>,
    /// The paths read by their text, numbered (from the rule set's numbers on). Not state.
    book: Option<RefCell<PathBook>>,
    /// The event views' buffers, and the rules an event matched, from one event to the next.
    /// Not state.
    scratch: ViewScratch,
    matched: Vec<usize>,
    /// Whether the host's stored parts are this state as of the last [`Detector::changes`] (or
    /// [`Detector::from_parts`]); if not, the next changes rewrite every part.
    in_parts: Cell<bool>,
    /// (rule, dedup key) of the tallies changed since then.
    tallies_touched: Touched<(String, String)>,
}

/// Keys of a map changed since the last [`Detector::changes`]. Past `cap` of them it stops
/// counting and the map is written again whole.
#[derive(Debug)]
struct Touched<K> {
    keys: BTreeSet<K>,
    all: bool,
    cap: usize,
}

impl<K: Ord> Touched<K> {
    fn new(cap: usize) -> Touched<K> {
        Touched { keys: BTreeSet::new(), all: false, cap }
    }

    fn touch(&mut self, key: impl FnOnce() -> K) {
        if !self.all {
            self.keys.insert(key());
            if self.keys.len() > self.cap {
                self.all = true;
                self.keys.clear();
            }
        }
    }

    /// (whether to write it whole, the keys touched), and starts counting afresh.
    fn take(&mut self) -> (bool, BTreeSet<K>) {
        (std::mem::take(&mut self.all), std::mem::take(&mut self.keys))
    }
}

impl Default for Touched<(String, String)> {
    fn default() -> Self {
        Touched::new(MAX_TOUCHED_TALLIES)
    }
}

impl Default for Touched<String> {
    fn default() -> Self {
        Touched::new(2 * MAX_SNAPSHOTS)
    }
}

/// Past this many changed tallies, the next changes write them all.
const MAX_TOUCHED_TALLIES: usize = 100_000;

/// The detector's own part when the state is kept in parts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Head {
    v: u32,
    #[serde(default)]
    newest_ms: Option<i64>,
    #[serde(default)]
    watermark_ms: Option<i64>,
    #[serde(default)]
    late: u64,
}

/// A few fields of one event, as a nested JSON object (`{"actor":{"alternateId":[...]}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Snapshot {
    time_ms: i64,
    fields: Value,
}

/// At most this many snapshots are kept (the oldest go first).
const MAX_SNAPSHOTS: usize = 20_000;

/// The `x-absence` snapshots by uuid, with an index by age, so that dropping the oldest (at the
/// cap, or past the horizon) costs a lookup rather than a scan of every snapshot.
#[derive(Debug, Default)]
struct Snapshots {
    by_uuid: BTreeMap<String, Snapshot>,
    /// `(time_ms, uuid)` of every entry of `by_uuid`.
    by_age: BTreeSet<(i64, String)>,
    /// uuids added or dropped since the last [`Detector::changes`].
    touched: Touched<String>,
}

impl Snapshots {
    fn from_map(by_uuid: BTreeMap<String, Snapshot>) -> Snapshots {
        let by_age = by_uuid.iter().map(|(uuid, s)| (s.time_ms, uuid.clone())).collect();
        Snapshots { by_uuid, by_age, touched: Touched::default() }
    }

    fn get(&self, uuid: &str) -> Option<&Snapshot> {
        self.by_uuid.get(uuid)
    }

    /// Keeps `snapshot` for `uuid` (replacing an older one), then drops the oldest beyond `cap`.
    fn insert(&mut self, uuid: &str, snapshot: Snapshot, cap: usize) {
        self.touched.touch(|| uuid.to_owned());
        self.by_age.insert((snapshot.time_ms, uuid.to_owned()));
        if let Some(old) = self.by_uuid.insert(uuid.to_owned(), snapshot)
            && self.by_uuid[uuid].time_ms != old.time_ms
        {
            self.by_age.remove(&(old.time_ms, uuid.to_owned()));
        }
        while self.by_uuid.len() > cap {
            let Some((_, oldest)) = self.by_age.pop_first() else { break };
            self.by_uuid.remove(&oldest);
            self.touched.touch(|| oldest);
        }
    }

    /// Drops the snapshots of events older than `horizon`.
    fn drop_before(&mut self, horizon: i64) {
        while self.by_age.first().is_some_and(|(time_ms, _)| *time_ms < horizon) {
            if let Some((_, uuid)) = self.by_age.pop_first() {
                self.by_uuid.remove(&uuid);
                self.touched.touch(|| uuid);
            }
        }
    }
}

/// What [`Detector::export`] writes, borrowed from the detector, so that the whole state is
/// written in one pass (the correlations inside it, not read back and written again).
#[derive(Serialize)]
struct SavedRef<'a> {
    v: u32,
    newest_ms: Option<i64>,
    watermark_ms: Option<i64>,
    late: u64,
    seen: &'a VecDeque<String>,
    tallies: &'a BTreeMap<String, BTreeMap<String, Tally>>,
    correlations: stateful::Saved<'a>,
    snapshots: &'a BTreeMap<String, Snapshot>,
}

/// What [`Detector::import`] reads: [`SavedRef`]'s fields, owned; the correlations stay text
/// for [`stateful::State::import`].
#[derive(Debug, Deserialize)]
struct Saved {
    v: u32,
    #[serde(default)]
    newest_ms: Option<i64>,
    #[serde(default)]
    watermark_ms: Option<i64>,
    #[serde(default)]
    late: u64,
    #[serde(default)]
    seen: Vec<String>,
    #[serde(default)]
    tallies: BTreeMap<String, BTreeMap<String, Tally>>,
    #[serde(default)]
    correlations: Option<Box<RawValue>>,
    #[serde(default)]
    snapshots: BTreeMap<String, Snapshot>,
}

/// A correlation's group values, as fields for a chained hit that has no event behind it.
struct GroupFields<'g>(&'g [(String, String)]);

impl Fields for GroupFields<'_> {
    fn values(&self, path: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k.eq_ignore_ascii_case(path)).map(|(_, v)| v.clone()).collect()
    }
}

impl Fields for EventView<'_> {
    fn values(&self, path: &str) -> Vec<String> {
        self.texts_of(path)
    }

    fn first(&self, path: &str) -> Option<String> {
        self.first_text_of(path)
    }

    fn write_first(&self, path: &str, out: &mut Vec<u8>) -> bool {
        self.write_first_text_of(path, out)
    }
}

impl Detector {
    /// Runs the rules on one normalized event. `raw` is the LogEvent text, given when
    /// `candidates` (from [`RuleSet::candidates`]) is not empty.
    pub(crate) fn on_event(
        &mut self,
        env: Env<'_>,
        raw: Option<RawEvent<'_>>,
        candidates: &Candidates,
        event: &Normalized,
        document: &dyn Members,
        alerts: &mut Vec<Alert>,
    ) {
        let time = event.published_ms;
        if let Some(raw) = raw
            && !candidates.is_empty()
        {
            let book = self.book.take().unwrap_or_else(|| RefCell::new(PathBook::new(env.rules.path_ids.clone())));
            let scratch = std::mem::take(&mut self.scratch);
            let view = EventView::with_scratch(raw, document, Some(&book), Some(&candidates.trie), scratch);
            let mut matched = std::mem::take(&mut self.matched);
            matched.extend(candidates.iter().copied().filter(|&r| matches(env.rules, r, &view)));
            if !matched.is_empty() && self.first_sight(event.uuid.as_deref()) {
                let on_time = match (time, self.watermark_ms) {
                    (Some(t), Some(w)) => t >= w,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                let uuids = event.uuid.as_slice();
                let mut counted_late = false;
                for &r in &matched {
                    if self.alerts_alone(env, r) {
                        let trigger = Trigger {
                            time_ms: time.unwrap_or(0),
                            uuids,
                            count: 1,
                            group: &[],
                            details: &[],
                            view: Some(&view),
                        };
                        self.alert(env, r, &trigger, alerts);
                    }
                    if env.rules.listeners[r].is_empty() {
                        continue;
                    }
                    match time {
                        Some(t) if on_time => self.feed(env, r, t, uuids, &view, Some(&view), alerts),
                        _ if !counted_late => {
                            self.late += 1;
                            counted_late = true;
                        }
                        _ => {}
                    }
                }
            }
            matched.clear();
            self.matched = matched;
            self.scratch = view.into_scratch();
            self.book = Some(book);
        }
        if let Some(t) = time {
            self.advance_to(env, t, alerts);
        }
    }

    /// Makes rule `r` alert on its own (in-rule tests of a rule only correlations read).
    pub(crate) fn test_alone(&mut self, r: usize) {
        self.alone = Some(r);
    }

    fn alerts_alone(&self, env: Env<'_>, r: usize) -> bool {
        (env.rules.alerts_alone[r] && !env.rules.rules[r].controls.silent) || self.alone == Some(r)
    }

    /// Records a uuid as processed (the host already delivered that event).
    pub(crate) fn mark_seen(&mut self, uuid: &str) {
        self.first_sight(Some(uuid));
    }

    /// Remembers a matched event's uuid; `false` when it was already seen.
    fn first_sight(&mut self, uuid: Option<&str>) -> bool {
        let Some(uuid) = uuid else {
            return true;
        };
        if self.seen_set.contains(uuid) {
            return false;
        }
        self.seen.push_back(uuid.to_owned());
        self.seen_set.insert(uuid.to_owned());
        while self.seen.len() > SEEN_WINDOW {
            if let Some(old) = self.seen.pop_front() {
                self.seen_set.remove(&old);
            }
        }
        true
    }

    /// Alert controls, then the alert.
    fn alert(&mut self, env: Env<'_>, r: usize, trigger: &Trigger<'_, '_>, alerts: &mut Vec<Alert>) {
        let rule = &env.rules.rules[r];
        let count = if rule.controls.dedup.is_some() {
            let key = alert::dedup_key(rule, trigger.view, trigger.group);
            self.tallies_touched.touch(|| (rule.name.clone(), key.clone()));
            let tallies = self.tallies.entry(rule.name.clone()).or_default();
            match alert::admit(rule, tallies, key, trigger.time_ms) {
                Some(n) => n.max(trigger.count),
                None => return,
            }
        } else {
            trigger.count
        };
        alerts.push(alert::build(rule, &Trigger { count, ..*trigger }, env.tenant));
    }

    /// A hit of rule `r` for every correlation that reads it.
    #[allow(clippy::too_many_arguments)]
    fn feed(
        &mut self,
        env: Env<'_>,
        r: usize,
        time_ms: i64,
        uuids: &[String],
        fields: &dyn Fields,
        view: Option<&EventView<'_>>,
        alerts: &mut Vec<Alert>,
    ) {
        let name = &env.rules.rules[r].name;
        if let (Some(view), Some(uuid)) = (view, uuids.last()) {
            self.snapshot(env, r, uuid, time_ms, view);
        }
        for &s in &env.rules.listeners[r] {
            let hit = Hit { rule: name, time_ms, uuids, fields };
            for fired in self.correlations.observe(&env.rules.specs, s, &hit) {
                self.fired(env, &fired, view, alerts);
            }
        }
    }

    /// Keeps what the alerts of `x-absence` correlations reading rule `r` will need from this event.
    fn snapshot(&mut self, env: Env<'_>, r: usize, uuid: &str, time_ms: i64, view: &EventView<'_>) {
        let mut paths: Vec<&FieldPath> = Vec::new();
        let name = &env.rules.rules[r].name;
        for &s in &env.rules.listeners[r] {
            // Only a trigger (`rules[0]`) can fire later; a cancel's fields are never needed.
            let spec = &env.rules.specs[s];
            if !matches!(spec.kind, stateful::Kind::Absence) || spec.rules.first() != Some(name) {
                continue;
            }
            let rule = &env.rules.rules[env.rules.spec_rule[s]];
            paths.extend(rule.controls.field_paths());
            paths.extend(alert::related_paths());
        }
        if paths.is_empty() {
            return;
        }
        let mut fields = Value::Object(serde_json::Map::new());
        for path in paths {
            let values = view.texts(path);
            if !values.is_empty() {
                insert_path(&mut fields, &path.text, values);
            }
        }
        self.snapshots.insert(uuid, Snapshot { time_ms, fields }, MAX_SNAPSHOTS);
    }

    /// A correlation fired: its alert, and a hit for the correlations that read it.
    fn fired(&mut self, env: Env<'_>, fired: &Fired, view: Option<&EventView<'_>>, alerts: &mut Vec<Alert>) {
        if view.is_none()
            && let Some(snapshot) = fired.uuids.iter().rev().find_map(|u| self.snapshots.get(u))
        {
            let text = snapshot.fields.to_string();
            let arena = bumpalo::Bump::new();
            let restored = EventView::new(&arena, &text, "{}");
            self.fired_with(env, fired, Some(&restored), alerts);
            return;
        }
        self.fired_with(env, fired, view, alerts);
    }

    fn fired_with(&mut self, env: Env<'_>, fired: &Fired, view: Option<&EventView<'_>>, alerts: &mut Vec<Alert>) {
        let r = env.rules.spec_rule[fired.spec];
        if self.alerts_alone(env, r) {
            let trigger = Trigger {
                time_ms: fired.time_ms,
                uuids: &fired.uuids,
                count: fired.count,
                group: &fired.group,
                details: &fired.details,
                view,
            };
            self.alert(env, r, &trigger, alerts);
        }
        if !env.rules.listeners[r].is_empty() {
            let group = GroupFields(&fired.group);
            let fields: &dyn Fields = match view {
                Some(v) => v,
                None => &group,
            };
            self.feed(env, r, fired.time_ms, &fired.uuids, fields, view, alerts);
        }
    }

    /// Moves the watermark with the newest event time; expires state and fires deadlines.
    fn advance_to(&mut self, env: Env<'_>, time_ms: i64, alerts: &mut Vec<Alert>) {
        if self.newest_ms.is_some_and(|n| time_ms <= n) {
            return;
        }
        self.newest_ms = Some(time_ms);
        let watermark = time_ms.saturating_sub(env.tolerance_ms);
        self.watermark_ms = Some(watermark);
        if self.advanced_ms.is_some_and(|a| watermark < a.saturating_add(ADVANCE_STEP_MS)) {
            return;
        }
        let minute_changed = self.advanced_ms.is_none_or(|a| a / 60_000 != watermark / 60_000);
        self.advanced_ms = Some(watermark);
        if !env.rules.specs.is_empty() {
            // Deadlines on every step; expired state is dropped once per minute of event time.
            let fires = if minute_changed {
                self.correlations.advance(&env.rules.specs, watermark)
            } else {
                self.correlations.fire_due(&env.rules.specs, watermark)
            };
            for fired in fires {
                self.fired(env, &fired, None, alerts);
            }
        }
        if minute_changed {
            self.prune_tallies(env, watermark);
            let longest = env
                .rules
                .specs
                .iter()
                .filter(|s| matches!(s.kind, stateful::Kind::Absence))
                .map(|s| s.timespan_ms)
                .max()
                .unwrap_or(0);
            let horizon = watermark.saturating_sub(longest.saturating_add(env.tolerance_ms));
            self.snapshots.drop_before(horizon);
        }
    }

    /// Drops dedup tallies no window reaching the watermark can use.
    fn prune_tallies(&mut self, env: Env<'_>, watermark: i64) {
        for rule in &env.rules.rules {
            let Some(dedup) = &rule.controls.dedup else {
                continue;
            };
            if let Some(tallies) = self.tallies.get_mut(&rule.name) {
                let horizon = watermark.saturating_sub(dedup.window_ms);
                let touched = &mut self.tallies_touched;
                tallies.retain(|key, t| {
                    let keep = t.newest() >= horizon;
                    if !keep {
                        touched.touch(|| (rule.name.clone(), key.clone()));
                    }
                    keep
                });
                if tallies.is_empty() {
                    self.tallies.remove(&rule.name);
                }
            }
        }
    }

    /// The state as deterministic JSON bytes. Parts a host keeps (see [`Detector::changes`]) are
    /// written whole next time, since this export keeps the JSON of the groups it writes.
    pub(crate) fn export(&self) -> Vec<u8> {
        self.in_parts.set(false);
        let saved = SavedRef {
            v: VERSION,
            newest_ms: self.newest_ms,
            watermark_ms: self.watermark_ms,
            late: self.late,
            seen: &self.seen,
            tallies: &self.tallies,
            correlations: self.correlations.saved(),
            snapshots: &self.snapshots.by_uuid,
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    /// Reads what [`Detector::export`] wrote; state of rules not in `rules` is dropped.
    pub(crate) fn import(bytes: &[u8], rules: &RuleSet) -> Result<Detector, StateError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Detector::default());
        }
        let saved: Saved = serde_json::from_slice(bytes).map_err(|e| StateError {
            message: format!(
                "the detection state could not be read ({e}); it was not written by export_state of this version, \
                 so start without it (pass no state)"
            ),
        })?;
        check_version(saved.v)?;
        let correlations_text = saved.correlations.as_deref().map_or("", RawValue::get);
        let correlations =
            stateful::State::import(correlations_text.as_bytes()).map_err(|message| StateError { message })?;
        let head = Head { v: saved.v, newest_ms: saved.newest_ms, watermark_ms: saved.watermark_ms, late: saved.late };
        Ok(Detector::assemble(rules, head, correlations, saved.tallies, saved.snapshots, saved.seen))
    }

    /// What changed since the last call (or [`Detector::from_parts`]), for a host that keeps the
    /// state in parts: `["h"]` (times and counts), `["t", rule, dedup key]` (a tally),
    /// `["n", uuid]` (an `x-absence` snapshot) and the correlations' parts
    /// ([`stateful::State::changes`]). The first call, and the first after an [`Detector::export`]
    /// or an [`Detector::import`], drops every stored part and writes all of them. The seen uuids
    /// are not in the parts: the host gives them back with `mark_seen`.
    pub(crate) fn changes(&mut self) -> StateChanges {
        let whole = !self.in_parts.get();
        let mut out = StateChanges::default();
        if whole {
            out.dropped_prefixes.push(String::new());
        }
        let head = Head { v: VERSION, newest_ms: self.newest_ms, watermark_ms: self.watermark_ms, late: self.late };
        out.written.push(part(&["h"], &head));

        let (all, keys) = self.tallies_touched.take();
        if whole || all {
            if !whole {
                out.dropped_prefixes.push(stateful::part_prefix(&["t"]));
            }
            for (rule, tallies) in &self.tallies {
                out.written.extend(tallies.iter().map(|(key, tally)| part(&["t", rule, key], tally)));
            }
        } else {
            for (rule, key) in keys {
                let path = ["t", rule.as_str(), key.as_str()];
                match self.tallies.get(&rule).and_then(|t| t.get(&key)) {
                    Some(tally) => out.written.push(part(&path, tally)),
                    None => out.dropped.push(stateful::part_key(&path)),
                }
            }
        }

        let (all, uuids) = self.snapshots.touched.take();
        if whole || all {
            if !whole {
                out.dropped_prefixes.push(stateful::part_prefix(&["n"]));
            }
            out.written.extend(self.snapshots.by_uuid.iter().map(|(uuid, s)| part(&["n", uuid], s)));
        } else {
            for uuid in uuids {
                match self.snapshots.get(&uuid) {
                    Some(snapshot) => out.written.push(part(&["n", &uuid], snapshot)),
                    None => out.dropped.push(stateful::part_key(&["n", &uuid])),
                }
            }
        }

        self.correlations.changes(whole, &mut out);
        self.in_parts.set(true);
        out
    }

    /// Reads the parts [`Detector::changes`] wrote (all that a host holds, in any order); state
    /// of rules not in `rules` is dropped, and dropped from the parts by the next changes.
    pub(crate) fn from_parts(parts: &[StatePart], rules: &RuleSet) -> Result<Detector, StateError> {
        if parts.is_empty() {
            let detector = Detector::default();
            detector.in_parts.set(true);
            return Ok(detector);
        }
        let mut head = None;
        let mut tallies: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
        let mut snapshots = BTreeMap::new();
        let mut specs: BTreeMap<String, stateful::SpecParts<'_>> = BTreeMap::new();
        for p in parts {
            let bad = |why: &dyn std::fmt::Display| StateError {
                message: format!(
                    "the detection state part {} {why}; it was not written by export-state-changes of this version, \
                     so start without the stored state",
                    p.key
                ),
            };
            let path: Vec<String> =
                serde_json::from_str(&p.key).map_err(|_| bad(&"has a key that is not a JSON array of strings"))?;
            let text = std::str::from_utf8(&p.value).map_err(|_| bad(&"is not UTF-8 text"))?;
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            match path.as_slice() {
                ["h"] => head = Some(serde_json::from_str::<Head>(text).map_err(|e| bad(&e))?),
                ["t", rule, key] => {
                    let tally = serde_json::from_str(text).map_err(|e| bad(&e))?;
                    tallies.entry((*rule).to_owned()).or_default().insert((*key).to_owned(), tally);
                }
                ["n", uuid] => {
                    snapshots.insert((*uuid).to_owned(), serde_json::from_str(text).map_err(|e| bad(&e))?);
                }
                path if stateful::SpecParts::file(&mut specs, path, text) => {}
                _ => return Err(bad(&"is not a part this version writes")),
            }
        }
        let head = head.ok_or_else(|| StateError {
            message: "the detection state parts have no [\"h\"] part; they are not a whole state export-state-changes \
                      wrote, so start without the stored state"
                .to_owned(),
        })?;
        check_version(head.v)?;
        let correlations = stateful::State::from_parts(specs).map_err(|message| StateError {
            message: format!(
                "the detection state parts could not be read: {message}; they were not written by export-state-changes \
                 of this version, so start without the stored state"
            ),
        })?;
        // The parts of tallies the rules no longer keep are dropped by the next changes.
        let gone: Vec<(String, String)> = tallies
            .iter()
            .filter(|(rule, _)| !keeps_tallies(rules, rule))
            .flat_map(|(rule, keys)| keys.keys().map(|key| (rule.clone(), key.clone())))
            .collect();
        let mut detector = Detector::assemble(rules, head, correlations, tallies, snapshots, Vec::new());
        for key in gone {
            detector.tallies_touched.touch(|| key);
        }
        detector.in_parts.set(true);
        Ok(detector)
    }

    /// A detector from saved state, less what `rules` no longer reads.
    fn assemble(
        rules: &RuleSet,
        head: Head,
        mut correlations: stateful::State,
        mut tallies: BTreeMap<String, BTreeMap<String, Tally>>,
        snapshots: BTreeMap<String, Snapshot>,
        saved_seen: Vec<String>,
    ) -> Detector {
        correlations.retain_specs(&rules.specs);
        tallies.retain(|name, _| keeps_tallies(rules, name));
        let mut seen = VecDeque::with_capacity(saved_seen.len());
        let mut seen_set = HashSet::default();
        for uuid in saved_seen.into_iter().rev().take(SEEN_WINDOW).collect::<Vec<_>>().into_iter().rev() {
            if seen_set.insert(uuid.clone()) {
                seen.push_back(uuid);
            }
        }
        Detector {
            correlations,
            tallies,
            seen,
            seen_set,
            newest_ms: head.newest_ms,
            watermark_ms: head.watermark_ms,
            advanced_ms: head.watermark_ms,
            late: head.late,
            snapshots: Snapshots::from_map(snapshots),
            ..Detector::default()
        }
    }

    /// Matches that reached no correlation because they came too late (or without a time).
    #[allow(dead_code, reason = "for diagnostics and tests")]
    pub(crate) fn late(&self) -> u64 {
        self.late
    }
}

/// Whether `rule` is a loaded rule with dedup, which keeps tallies.
fn keeps_tallies(rules: &RuleSet, rule: &str) -> bool {
    rules.rules.iter().any(|r| r.name == rule && r.controls.dedup.is_some())
}

/// Refuses a state of another format version.
fn check_version(v: u32) -> Result<(), StateError> {
    if v == VERSION {
        return Ok(());
    }
    Err(StateError {
        message: format!(
            "the detection state is format version {v}, this engine reads version {VERSION}; start without it"
        ),
    })
}

/// A part of the state kept in parts.
fn part(path: &[&str], value: &impl Serialize) -> StatePart {
    StatePart { key: stateful::part_key(path), value: serde_json::to_vec(value).unwrap_or_default() }
}

/// Sets `values` at a dotted `path` inside a JSON object.
fn insert_path(root: &mut Value, path: &str, values: Vec<String>) {
    let mut node = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(map) = node else {
            return;
        };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), Value::from(values));
            return;
        }
        node = map.entry(part.to_owned()).or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
}

/// Whether detection rule `r` and every filter on it match.
fn matches(rules: &RuleSet, r: usize, view: &EventView<'_>) -> bool {
    let Body::Detection(detection) = &rules.rules[r].body else {
        return false;
    };
    detection.eval(view)
        && rules.filters[r].iter().all(|&f| match &rules.rules[f].body {
            Body::Filter(filter) => filter.eval(view),
            _ => true,
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, i64),
        DropBefore(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..12, 0i64..50).prop_map(|(u, t)| Op::Insert(u, t)),
            1 => (0i64..50).prop_map(Op::DropBefore),
        ]
    }

    proptest! {
        /// The age index drops exactly what a scan for the oldest `(time, uuid)` would drop,
        /// and always lists every snapshot it holds, once.
        #[test]
        fn snapshots_drop_what_a_scan_for_the_oldest_drops(ops in prop::collection::vec(op(), 0..80)) {
            const CAP: usize = 5;
            let mut snapshots = Snapshots::default();
            let mut model: BTreeMap<String, i64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(u, time_ms) => {
                        let uuid = format!("u{u}");
                        snapshots.insert(&uuid, Snapshot { time_ms, fields: Value::Null }, CAP);
                        model.insert(uuid, time_ms);
                        while model.len() > CAP {
                            let oldest = model.iter().min_by_key(|(k, t)| (**t, (*k).clone())).map(|(k, _)| k.clone());
                            model.remove(&oldest.unwrap());
                        }
                    }
                    Op::DropBefore(horizon) => {
                        snapshots.drop_before(horizon);
                        model.retain(|_, t| *t >= horizon);
                    }
                }
                let held: BTreeMap<String, i64> =
                    snapshots.by_uuid.iter().map(|(k, s)| (k.clone(), s.time_ms)).collect();
                prop_assert_eq!(&held, &model);
                let ages: BTreeSet<(i64, String)> = model.iter().map(|(k, t)| (*t, k.clone())).collect();
                prop_assert_eq!(&snapshots.by_age, &ages);
            }
        }
    }
}
