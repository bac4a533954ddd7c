//! The stateful correlation engine: Sigma correlations (`event_count`, `value_count`, `temporal`,
//! `temporal_ordered`) and our `x-` types (`x-new_value`, `x-absence`, `x-geo_velocity`,
//! `x-session_drift`, `x-distribution`). See `rules/README.md` §2 and §4.
//!
//! ```text
//!  Hit (rule, event time, uuids, fields) ──observe──▶ per spec, per group state ──▶ Fired
//!  watermark ──────────────────────────────advance──▶ prune old state, x-absence deadlines ──▶ Fired
//! ```
//!
//! Semantics shared by every type:
//! - **Event time.** Windows are `[end − timespan, end]`, both ends inclusive, on the hits'
//!   `time_ms`. Hits may arrive out of order: a late hit is inserted at its place and every window
//!   that contains it is evaluated (for `x-distribution`, the windows ending at the hit and at the
//!   group's newest event).
//! - **Watermark.** [`State::advance`] takes a time before which no more hits will arrive (the
//!   caller's newest event time minus its reorder tolerance). State that no window starting at or
//!   after the watermark can use is dropped; `x-absence` deadlines strictly before it fire.
//! - **Groups.** The `group-by` values of a hit (the first non-empty value of each field, read
//!   through the rule's alias). A hit that lacks any of them is ignored by that correlation.
//! - **Reset.** A window correlation that fires starts afresh: its entries up to the window end are
//!   cleared and hits at or before that time no longer count in the group. `x-reset` clears the same
//!   way at the reset hit's time.
//! - **Bounded memory.** At most `max_groups` groups per spec: when exceeded, the least recently
//!   seen groups (by event time, ties by key) are evicted down to 90 % of the cap. At most
//!   `max_entries` entries per group; the oldest go first.
//! - **Determinism.** Only `BTreeMap`s and sorted `Vec`s; [`State::export`] is byte-identical for
//!   identical inputs.

mod absence;
mod count;
mod distribution;
mod geo;
mod new_value;
mod session;
mod spec;
mod temporal;
mod window;

#[cfg(test)]
mod tests;

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::FixedHash;

#[allow(unused_imports, reason = "the whole contract, whether or not detect/ names every item yet")]
pub(crate) use spec::{
    Condition, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_GROUPS, DistCondition, GroupBy, Kind, Spec, SpecError, TYPES, parse,
    parse_duration,
};

/// Uuids kept per fire (and per stored entry).
pub(crate) const MAX_UUIDS: usize = 100;

/// The export format's version; [`State::import`] refuses others.
const VERSION: u32 = 1;

/// The caller's field resolver over one event.
pub(crate) trait Fields {
    /// Every value of a dotted path (case-insensitive keys, any element of arrays); numbers and
    /// booleans as JSON text; empty when absent.
    fn values(&self, path: &str) -> Vec<String>;

    /// The first non-empty one of [`Fields::values`].
    fn first(&self, path: &str) -> Option<String> {
        self.values(path).into_iter().find(|v| !v.is_empty())
    }

    /// Writes [`Fields::first`] onto `out` as a JSON string; `false` (and nothing written) when
    /// there is none.
    fn write_first(&self, path: &str, out: &mut Vec<u8>) -> bool {
        self.first(path).map(|v| crate::normalize::json::write_str(out, &v)).is_some()
    }
}

/// One match of a rule (or correlation) that a spec reads.
pub(crate) struct Hit<'a> {
    /// The name of the rule or correlation that matched: one of the spec's [`Spec::inputs`].
    pub(crate) rule: &'a str,
    /// Event time, ms since the epoch.
    pub(crate) time_ms: i64,
    /// The uuids of the events behind the match (one for a plain rule).
    pub(crate) uuids: &'a [String],
    pub(crate) fields: &'a dyn Fields,
}

impl std::fmt::Debug for Hit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hit")
            .field("rule", &self.rule)
            .field("time_ms", &self.time_ms)
            .field("uuids", &self.uuids)
            .finish()
    }
}

/// A correlation fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fired {
    /// Index into the `specs` slice.
    pub(crate) spec: usize,
    /// Event time of the fire: the newest event in the window (for `x-absence`, the deadline).
    pub(crate) time_ms: i64,
    /// group-by name → value, in group-by order.
    pub(crate) group: Vec<(String, String)>,
    /// The triggering events, oldest first, at most [`MAX_UUIDS`] (the newest are kept).
    pub(crate) uuids: Vec<String>,
    /// The number the condition tested: events (`event_count`, `x-distribution`), distinct values
    /// (`value_count`), rules seen (`temporal`), 2 for `x-geo_velocity` (the pair), else 1.
    pub(crate) count: u64,
    /// Type-specific facts, e.g. `("distance_km", "8412")`.
    pub(crate) details: Vec<(String, String)>,
}

/// What a kind module returns; [`State`] adds the spec index and the group.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    time_ms: i64,
    uuids: Vec<String>,
    count: u64,
    details: Vec<(String, String)>,
}

/// All correlation state. It is saved keyed by spec name, so it survives rule reloads; in memory
/// each spec's state sits at the spec's index, so a hit finds it without comparing names.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// [`VERSION`]; a missing one reads as 0 and is refused.
    v: u32,
    /// By spec index, once the spec at that index has been seen: its name and its state.
    slots: Vec<Option<Slot>>,
    /// State no spec has claimed yet: just imported, or set aside when the rule set changed.
    /// [`State::slot`] claims it by name.
    unclaimed: BTreeMap<String, SpecState>,
    /// The specs [`State::changes`] last wrote parts for; `None` before it first ran (or after an
    /// import of the whole state), so that it writes everything.
    in_parts: Option<BTreeSet<String>>,
    /// The group key of the hit being observed, kept from one hit to the next. Not state.
    key_buffer: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Slot {
    /// The spec this index belongs to; another name here means the rule set changed.
    name: String,
    state: Option<SpecState>,
}

impl Default for State {
    fn default() -> Self {
        State { v: VERSION, slots: Vec::new(), unclaimed: BTreeMap::new(), in_parts: None, key_buffer: Vec::new() }
    }
}

/// Equal when they hold the same state under the same names, wherever it sits.
impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        self.v == other.v && self.by_name() == other.by_name()
    }
}

/// The saved form of [`State`].
#[derive(Serialize)]
pub(crate) struct Saved<'a> {
    v: u32,
    specs: BTreeMap<&'a str, &'a SpecState>,
}

#[derive(Deserialize)]
struct Loaded {
    #[serde(default)]
    v: u32,
    #[serde(default)]
    specs: BTreeMap<String, SpecState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SpecState {
    /// What the group keys were built from; state built for another shape is dropped.
    fp: String,
    groups: Groups,
}

/// A spec's groups by key. Hashed, because a hit looks its group up among thousands by a key
/// that starts like all the others (`["user@…`), where a sorted map compares a dozen keys. It is
/// saved sorted by key, so the bytes do not depend on the map's order; nothing else iterates it
/// in an order that shows (eviction and fires sort what they take from it).
///
/// It also knows, for each group, what the last exports did with it until the group changes,
/// because a host exports the state after every batch while a batch changes few of the
/// thousands of groups: a whole export ([`State::saved`]) keeps each group's JSON and writes only
/// the changed ones anew, and [`State::changes`] (for a host that keeps one part per group) names
/// only the groups changed or removed since the last changes. So that no change can miss that,
/// groups are changed only through [`GroupMap::get_mut`], [`GroupMap::insert`],
/// [`GroupMap::remove`] and [`GroupMap::sweep`], which forget it; nothing else hands out a `&mut`
/// group. For the changes it also keeps the keys removed since; `None` when the map is new since
/// then (or gave up counting), so that the changes write the whole map again.
#[derive(Debug, Clone)]
struct GroupMap<G> {
    groups: HashMap<String, Kept<G>, FixedHash>,
    removed: Option<Vec<String>>,
}

/// One group, and what the last exports know of it while it has not changed since.
#[derive(Debug, Clone)]
struct Kept<G> {
    group: G,
    /// Its JSON as the last whole export wrote it.
    json: OnceCell<Box<RawValue>>,
    /// The host's parts hold it as it is (the last [`GroupMap::changes`] wrote it, or it was read
    /// from them). Its JSON is not kept for that: the parts are the host's to keep.
    in_parts: bool,
}

impl<G> Kept<G> {
    fn new(group: G) -> Kept<G> {
        Kept { group, json: OnceCell::new(), in_parts: false }
    }

    /// Forgets what the exports knew: the group changed.
    fn changed(&mut self) {
        self.json.take();
        self.in_parts = false;
    }

    /// The group's JSON: the kept one, or written now and kept.
    fn json(&self) -> serde_json::Result<&RawValue>
    where
        G: Serialize,
    {
        if let Some(json) = self.json.get() {
            return Ok(json);
        }
        let json = serde_json::value::to_raw_value(&self.group)?;
        Ok(self.json.get_or_init(|| json))
    }

    /// The group, to change.
    fn changing(&mut self) -> &mut G {
        self.changed();
        &mut self.group
    }
}

/// What a [`GroupMap::sweep`] did to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// The group is left as it was.
    Same,
    /// The group changed and stays.
    Changed,
    /// The group goes.
    Drop,
}

impl Pass {
    fn of(keep: bool, changed: bool) -> Pass {
        match (keep, changed) {
            (false, _) => Pass::Drop,
            (true, true) => Pass::Changed,
            (true, false) => Pass::Same,
        }
    }
}

impl<G> Default for GroupMap<G> {
    fn default() -> Self {
        GroupMap { groups: HashMap::default(), removed: None }
    }
}

impl<G: PartialEq> PartialEq for GroupMap<G> {
    fn eq(&self, other: &Self) -> bool {
        self.groups.len() == other.groups.len()
            && self.groups.iter().all(|(key, kept)| other.groups.get(key).is_some_and(|o| o.group == kept.group))
    }
}

impl<G> GroupMap<G> {
    fn len(&self) -> usize {
        self.groups.len()
    }

    fn values(&self) -> impl Iterator<Item = &G> {
        self.groups.values().map(|kept| &kept.group)
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &G)> {
        self.groups.iter().map(|(key, kept)| (key, &kept.group))
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut G> {
        self.groups.get_mut(key).map(Kept::changing)
    }

    fn insert(&mut self, key: String, group: G) {
        self.groups.insert(key, Kept::new(group));
    }

    fn remove(&mut self, key: &str) -> Option<G> {
        let (key, kept) = self.groups.remove_entry(key)?;
        self.removed_key(key);
        Some(kept.group)
    }

    /// Runs `f` on every group: it says whether the group changed, or goes.
    fn sweep(&mut self, mut f: impl FnMut(&String, &mut G) -> Pass) {
        let mut removed = self.removed.take();
        self.groups.retain(|key, kept| match f(key, &mut kept.group) {
            Pass::Same => true,
            Pass::Changed => {
                kept.changed();
                true
            }
            Pass::Drop => {
                if let Some(removed) = &mut removed {
                    removed.push(key.clone());
                }
                false
            }
        });
        self.removed = removed;
        self.bound_removed();
    }

    /// Notes a removed group's key for the next [`GroupMap::changes`].
    fn removed_key(&mut self, key: String) {
        if let Some(removed) = &mut self.removed {
            removed.push(key);
            self.bound_removed();
        }
    }

    /// A map whose removals outnumber its groups is cheaper to write again whole than to list
    /// (and a host that stopped exporting changes must not make the list grow for ever).
    fn bound_removed(&mut self) {
        if self.removed.as_ref().is_some_and(|r| r.len() > 2 * self.groups.len() + 1024) {
            self.removed = None;
        }
    }

    /// What changed since the last call: `drop` for each group removed since (sorted by key), then
    /// `put` for each group changed or added since (sorted by key). A map new since then (or
    /// `whole`) puts every group and returns `true`: the caller drops the map's stored parts first.
    fn changes(&mut self, whole: bool, mut drop: impl FnMut(&str), mut put: impl FnMut(&str, Vec<u8>)) -> bool
    where
        G: ToJson,
    {
        let whole = whole || self.removed.is_none();
        let mut removed = self.removed.replace(Vec::new()).unwrap_or_default();
        if !whole {
            removed.sort_unstable();
            removed.dedup();
            for key in removed.iter().filter(|key| !self.groups.contains_key(key.as_str())) {
                drop(key);
            }
        }
        let mut changed: Vec<(&String, &mut Kept<G>)> =
            self.groups.iter_mut().filter(|(_, kept)| whole || !kept.in_parts).collect();
        changed.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (key, kept) in changed {
            let json = match kept.json.get() {
                Some(json) => json.get().as_bytes().to_vec(),
                None => kept.group.to_json(),
            };
            put(key, json);
            kept.in_parts = true;
        }
        whole
    }

    /// A map read from its stored parts; an error names the group it could not read.
    fn from_parts<'p>(
        parts: impl IntoIterator<Item = (String, &'p str)>,
    ) -> Result<GroupMap<G>, (String, serde_json::Error)>
    where
        G: serde::de::DeserializeOwned,
    {
        let mut groups = HashMap::default();
        for (key, text) in parts {
            match serde_json::from_str(text) {
                Ok(group) => groups.insert(key, Kept { group, json: OnceCell::new(), in_parts: true }),
                Err(e) => return Err((key, e)),
            };
        }
        Ok(GroupMap { groups, removed: Some(Vec::new()) })
    }

    #[cfg(test)]
    fn forget_written(&mut self) {
        for kept in self.groups.values_mut() {
            kept.changed();
        }
    }

    #[cfg(test)]
    fn written_len(&self) -> usize {
        self.groups.values().filter(|kept| kept.json.get().is_some()).count()
    }
}

impl<G: Serialize> Serialize for GroupMap<G> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut sorted: Vec<(&String, &Kept<G>)> = self.groups.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (_, kept) in &sorted {
            kept.json().map_err(serde::ser::Error::custom)?;
        }
        serializer.collect_map(sorted.iter().filter_map(|(key, kept)| Some((*key, kept.json.get()?))))
    }
}

impl<'de, G: Deserialize<'de>> Deserialize<'de> for GroupMap<G> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let groups: HashMap<String, G, FixedHash> = HashMap::deserialize(deserializer)?;
        Ok(GroupMap { groups: groups.into_iter().map(|(key, group)| (key, Kept::new(group))).collect(), removed: None })
    }
}

/// One spec's parts as a host holds them: its own part (`["s", spec]`) and its groups' parts
/// (`["g", spec, key]`) as (group key, JSON).
#[derive(Debug, Default)]
pub(crate) struct SpecParts<'p> {
    pub(crate) head: Option<&'p str>,
    pub(crate) groups: Vec<(String, &'p str)>,
}

impl<'p> SpecParts<'p> {
    /// Files a part under its spec when `path` is a correlation's (`["s", spec]` or
    /// `["g", spec, key]`); `false` when it is not.
    pub(crate) fn file(specs: &mut BTreeMap<String, SpecParts<'p>>, path: &[&str], text: &'p str) -> bool {
        match path {
            ["s", spec] => specs.entry((*spec).to_owned()).or_default().head = Some(text),
            ["g", spec, key] => specs.entry((*spec).to_owned()).or_default().groups.push(((*key).to_owned(), text)),
            _ => return false,
        }
        true
    }
}

/// A spec's part when the state is kept in parts: what [`SpecState`] holds besides its groups.
#[derive(Serialize, Deserialize)]
struct SpecHead<'a> {
    fp: std::borrow::Cow<'a, str>,
    kind: std::borrow::Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Groups {
    Window(GroupMap<window::Group>),
    NewValue(GroupMap<new_value::Group>),
    Absence(GroupMap<absence::Group>),
    Geo(GroupMap<geo::Group>),
    Session(GroupMap<session::Group>),
}

impl Groups {
    fn empty_for(kind: &Kind) -> Groups {
        match kind {
            Kind::EventCount { .. } | Kind::ValueCount { .. } | Kind::Temporal { .. } | Kind::Distribution { .. } => {
                Groups::Window(GroupMap::default())
            }
            Kind::NewValue { .. } => Groups::NewValue(GroupMap::default()),
            Kind::Absence => Groups::Absence(GroupMap::default()),
            Kind::GeoVelocity { .. } => Groups::Geo(GroupMap::default()),
            Kind::SessionDrift { .. } => Groups::Session(GroupMap::default()),
        }
    }

    /// The name its saved form is tagged with.
    fn kind_name(&self) -> &'static str {
        match self {
            Groups::Window(_) => "window",
            Groups::NewValue(_) => "new_value",
            Groups::Absence(_) => "absence",
            Groups::Geo(_) => "geo",
            Groups::Session(_) => "session",
        }
    }

    /// The groups of spec `spec`, of the kind `kind`, read from their parts (key, JSON).
    fn from_parts(spec: &str, kind: &str, parts: Vec<(String, &str)>) -> Result<Groups, String> {
        let read = |(key, e): (String, serde_json::Error)| {
            format!("part {} is not a group ({e})", part_key(&["g", spec, &key]))
        };
        Ok(match kind {
            "window" => Groups::Window(GroupMap::from_parts(parts).map_err(read)?),
            "new_value" => Groups::NewValue(GroupMap::from_parts(parts).map_err(read)?),
            "absence" => Groups::Absence(GroupMap::from_parts(parts).map_err(read)?),
            "geo" => Groups::Geo(GroupMap::from_parts(parts).map_err(read)?),
            "session" => Groups::Session(GroupMap::from_parts(parts).map_err(read)?),
            other => return Err(format!("part {} names an unknown kind {other:?}", part_key(&["s", spec]))),
        })
    }

    /// [`GroupMap::changes`] of whichever map this is.
    fn changes(&mut self, whole: bool, drop: impl FnMut(&str), put: impl FnMut(&str, Vec<u8>)) -> bool {
        match self {
            Groups::Window(g) => g.changes(whole, drop, put),
            Groups::NewValue(g) => g.changes(whole, drop, put),
            Groups::Absence(g) => g.changes(whole, drop, put),
            Groups::Geo(g) => g.changes(whole, drop, put),
            Groups::Session(g) => g.changes(whole, drop, put),
        }
    }

    fn fits(&self, kind: &Kind) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(&Groups::empty_for(kind))
    }

    fn len(&self) -> usize {
        match self {
            Groups::Window(g) => g.len(),
            Groups::NewValue(g) => g.len(),
            Groups::Absence(g) => g.len(),
            Groups::Geo(g) => g.len(),
            Groups::Session(g) => g.len(),
        }
    }

    fn entries(&self) -> usize {
        fn sum<G: Recency>(g: &GroupMap<G>) -> usize {
            g.values().map(Recency::entries).sum()
        }
        match self {
            Groups::Window(g) => sum(g),
            Groups::NewValue(g) => sum(g),
            Groups::Absence(g) => sum(g),
            Groups::Geo(g) => sum(g),
            Groups::Session(g) => sum(g),
        }
    }
}

/// A group's JSON for its part: by default as serde_json writes it; a kind whose groups change
/// often writes the same bytes faster by hand.
trait ToJson: Serialize {
    fn to_json(&self) -> Vec<u8> {
        // Plain data into memory: serde_json does not fail on it.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl ToJson for new_value::Group {}
impl ToJson for absence::Group {}
impl ToJson for geo::Group {}
impl ToJson for session::Group {}

/// What eviction and [`State::size`] need from a group.
trait Recency {
    /// The newest event time the group has seen.
    fn last(&self) -> i64;
    /// Stored entries (timestamps, values, points).
    fn entries(&self) -> usize;
    /// Holds nothing worth keeping.
    fn is_empty(&self) -> bool;
}

/// Runs `f` on the group under `key` (created when missing; `fresh` tells), then drops the group if
/// it holds nothing or evicts over the cap.
fn with_group<G: Recency + Default>(
    groups: &mut GroupMap<G>,
    key: &str,
    cap: usize,
    f: impl FnOnce(&mut G, bool) -> Option<Out>,
) -> Option<Out> {
    match groups.get_mut(key) {
        Some(group) => {
            let out = f(group, false);
            if group.is_empty() {
                groups.remove(key);
            }
            out
        }
        None => {
            let mut group = G::default();
            let out = f(&mut group, true);
            if !group.is_empty() {
                groups.insert(key.to_owned(), group);
                evict(groups, cap);
            }
            out
        }
    }
}

/// What a prune that only removes entries did: `prune` says whether the group stays.
fn pruned<G: Recency>(group: &mut G, prune: impl FnOnce(&mut G) -> bool) -> Pass {
    let before = group.entries();
    let keep = prune(group);
    Pass::of(keep, group.entries() != before)
}

/// Keeps at most `cap` groups: evicts the least recently seen (ties by key) down to 90 % of `cap`,
/// so eviction runs once per many new groups.
fn evict<G: Recency>(groups: &mut GroupMap<G>, cap: usize) {
    if groups.len() <= cap {
        return;
    }
    let target = cap.saturating_sub(cap / 10).max(1);
    let mut order: Vec<(i64, &String)> = groups.iter().map(|(k, g)| (g.last(), k)).collect();
    order.sort();
    let victims: Vec<String> = order.into_iter().take(groups.len() - target).map(|(_, k)| k.clone()).collect();
    for k in victims {
        groups.remove(&k);
    }
}

/// Drops the least recently used keys of a per-group map (value = last seen time) down to `cap`.
fn cap_map(map: &mut BTreeMap<String, i64>, cap: usize) {
    if map.len() <= cap {
        return;
    }
    let mut order: Vec<(i64, &String)> = map.iter().map(|(k, t)| (*t, k)).collect();
    order.sort();
    let victims: Vec<String> = order.into_iter().take(map.len() - cap).map(|(_, k)| k.clone()).collect();
    for k in victims {
        map.remove(&k);
    }
}

/// Appends `new` to `into`, skipping ones already there, keeping the newest [`MAX_UUIDS`].
fn push_uuids(into: &mut Vec<String>, new: &[String]) {
    for u in new {
        if !into.contains(u) {
            into.push(u.clone());
        }
    }
    if into.len() > MAX_UUIDS {
        into.drain(..into.len() - MAX_UUIDS);
    }
}

/// The distinct non-empty values of a path, sorted (empty when the field is missing).
fn distinct(fields: &dyn Fields, path: &str) -> Vec<String> {
    let mut values = fields.values(path);
    values.retain(|v| !v.is_empty());
    values.sort();
    values.dedup();
    values
}

/// Every field path a hit of `rule` makes `spec` read: its group-by field for that rule and the
/// fields of its kind. The rule set has the event walk gather them with the rule's own paths.
pub(crate) fn paths_read<'s>(spec: &'s Spec, rule: &str) -> Vec<&'s str> {
    let mut paths: Vec<&str> = spec.group_by.iter().map(|g| g.field_for(rule)).collect();
    match &spec.kind {
        Kind::ValueCount { field, .. } => paths.push(field),
        Kind::NewValue { fields, .. } => paths.extend(fields.iter().map(String::as_str)),
        Kind::GeoVelocity { .. } => paths.extend([geo::PROXY, geo::LAT, geo::LON, geo::COUNTRY]),
        Kind::SessionDrift { ip_field, ua_field, device_field, .. } => {
            paths.extend([ip_field.as_str(), ua_field.as_str()]);
            paths.extend(device_field.as_deref());
        }
        Kind::Distribution { per, condition } => {
            paths.extend(per.iter().map(String::as_str));
            paths.extend(condition.distinct.as_ref().map(|(field, _)| field.as_str()));
        }
        Kind::EventCount { .. } | Kind::Temporal { .. } | Kind::Absence => {}
    }
    paths
}

/// The first value of the hit at each of `paths` (the group-by fields, a window's distinct
/// fields), as [`key_of`] writes them, into `out` (emptied first); `false` when one is missing.
/// No value is copied on the way, and a key already held is looked up from `out` as it is.
fn key_into<'p>(fields: &dyn Fields, paths: impl IntoIterator<Item = &'p str>, out: &mut Vec<u8>) -> bool {
    out.clear();
    out.push(b'[');
    for (i, path) in paths.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !fields.write_first(path, out) {
            return false;
        }
    }
    out.push(b']');
    true
}

/// A group's map key: its values as a JSON array (unambiguous, and sorts deterministically),
/// written as serde_json writes it (saved state holds these keys).
fn key_of(values: &[String]) -> String {
    let mut out = Vec::with_capacity(2 + values.iter().map(|v| v.len() + 3).sum::<usize>());
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::normalize::json::write_str(&mut out, v);
    }
    out.push(b']');
    // Only whole UTF-8 strings and ASCII punctuation were written.
    String::from_utf8(out).unwrap_or_default()
}

fn values_of(key: &str) -> Vec<String> {
    serde_json::from_str(key).unwrap_or_default()
}

/// What group keys depend on; state kept under another fingerprint is dropped.
fn fingerprint(spec: &Spec) -> String {
    let groups: Vec<String> = spec
        .group_by
        .iter()
        .map(|g| {
            let aliases: Vec<String> = g.aliases.iter().map(|(r, f)| format!("{r}={f}")).collect();
            format!("{}({})", g.name, aliases.join(","))
        })
        .collect();
    let extra = match &spec.kind {
        Kind::NewValue { fields, .. } => fields.join(","),
        Kind::Distribution { per, .. } => per.join(","),
        Kind::ValueCount { field, .. } => field.clone(),
        _ => String::new(),
    };
    format!("{}|{}|{}", spec.kind.type_name(), groups.join(","), extra)
}

impl State {
    /// Feeds one hit of `specs[spec]`; returns what fired (at most one per call for every type).
    pub(crate) fn observe(&mut self, specs: &[Spec], spec: usize, hit: &Hit<'_>) -> Vec<Fired> {
        let mut key = std::mem::take(&mut self.key_buffer);
        let fired = self.observe_into(specs, spec, hit, &mut key);
        if key.capacity() <= crate::SCRATCH_KEEPS_AT_MOST {
            self.key_buffer = key;
        }
        fired
    }

    /// [`State::observe`], writing the group key into `key`.
    fn observe_into(&mut self, specs: &[Spec], spec: usize, hit: &Hit<'_>, key: &mut Vec<u8>) -> Vec<Fired> {
        let Some(s) = specs.get(spec) else { return Vec::new() };
        let is_input = s.rules.iter().any(|r| r == hit.rule);
        let is_reset = !is_input && s.reset.iter().any(|r| r == hit.rule);
        if !is_input && !is_reset {
            return Vec::new();
        }
        if !key_into(hit.fields, s.group_by.iter().map(|g| g.field_for(hit.rule)), key) {
            return Vec::new();
        }
        // Only whole UTF-8 strings and ASCII punctuation were written.
        let Ok(key) = std::str::from_utf8(key) else { return Vec::new() };
        let Some(state) = self.spec_state(spec, s) else { return Vec::new() };
        let groups = &mut state.groups;
        let cap = s.max_groups;
        let out = match (&s.kind, groups) {
            (Kind::EventCount { .. } | Kind::ValueCount { .. } | Kind::Temporal { .. }, Groups::Window(g)) => {
                with_group(g, key, cap, |grp, _| window::observe(grp, s, hit, is_reset))
            }
            (Kind::Distribution { .. }, Groups::Window(g)) => {
                with_group(g, key, cap, |grp, _| distribution::observe(grp, s, hit))
            }
            (Kind::NewValue { .. }, Groups::NewValue(g)) => {
                with_group(g, key, cap, |grp, fresh| new_value::observe(grp, fresh, s, hit))
            }
            (Kind::Absence, Groups::Absence(g)) => with_group(g, key, cap, |grp, _| {
                absence::observe(grp, s, hit);
                None
            }),
            (Kind::GeoVelocity { .. }, Groups::Geo(g)) => with_group(g, key, cap, |grp, _| geo::observe(grp, s, hit)),
            (Kind::SessionDrift { .. }, Groups::Session(g)) => {
                with_group(g, key, cap, |grp, _| session::observe(grp, s, hit))
            }
            _ => None,
        };
        out.into_iter().map(|o| fired(s, spec, &values_of(key), o)).collect()
    }

    /// Moves event time forward: drops state no window at or after `watermark_ms` can use and fires
    /// the `x-absence` deadlines before it. Fires come sorted by (time, spec, group).
    pub(crate) fn advance(&mut self, specs: &[Spec], watermark_ms: i64) -> Vec<Fired> {
        self.advance_with(specs, watermark_ms, true)
    }

    /// Fires the `x-absence` deadlines before `watermark_ms`, without dropping expired state.
    /// Expired state never changes a result (every type compares event times itself), so the
    /// detector prunes only now and then and fires deadlines on every step.
    pub(crate) fn fire_due(&mut self, specs: &[Spec], watermark_ms: i64) -> Vec<Fired> {
        self.advance_with(specs, watermark_ms, false)
    }

    fn advance_with(&mut self, specs: &[Spec], watermark_ms: i64, prune: bool) -> Vec<Fired> {
        let mut fires = Vec::new();
        for (index, s) in specs.iter().enumerate() {
            let is_absence = matches!(s.kind, Kind::Absence);
            if !prune && !is_absence {
                continue;
            }
            let Some(st) = self.slot(index, s) else { continue };
            if !st.groups.fits(&s.kind) {
                self.clear(index);
                continue;
            }
            let horizon = watermark_ms.saturating_sub(s.timespan_ms);
            match &mut st.groups {
                // Pruning only removes entries (and a window's floor), so a group changed exactly
                // when its entry count or floor did.
                Groups::Window(g) => {
                    let ordered = matches!(s.kind, Kind::Temporal { ordered: true, .. });
                    g.sweep(|_, grp| {
                        let before = (grp.entries(), grp.floor);
                        if ordered {
                            grp.prune_unreachable(&s.rules, watermark_ms);
                        }
                        let keep = grp.prune(horizon, watermark_ms);
                        Pass::of(keep, (grp.entries(), grp.floor) != before)
                    });
                }
                Groups::NewValue(g) => g.sweep(|_, grp| pruned(grp, |grp| grp.prune(horizon))),
                Groups::Absence(g) => g.sweep(|key, grp| {
                    let before = grp.entries();
                    let due = grp.due(s, watermark_ms);
                    if !due.is_empty() {
                        let values = values_of(key);
                        for o in due {
                            fires.push(fired(s, index, &values, o));
                        }
                    }
                    Pass::of(!grp.is_empty(), grp.entries() != before)
                }),
                Groups::Geo(g) => g.sweep(|_, grp| pruned(grp, |grp| grp.prune(horizon))),
                Groups::Session(g) => g.sweep(|_, grp| pruned(grp, |grp| grp.prune(horizon))),
            }
            if st.groups.len() == 0 {
                self.clear(index);
            }
        }
        fires.sort_by(|a, b| (a.time_ms, a.spec, &a.group).cmp(&(b.time_ms, b.spec, &b.group)));
        fires
    }

    /// The state as deterministic bytes (JSON over sorted maps).
    #[cfg(test)]
    pub(crate) fn export(&self) -> Vec<u8> {
        serde_json::to_vec(&self.saved()).unwrap_or_default()
    }

    /// What [`State::export`] writes when every group is written anew, as the first export does.
    #[cfg(test)]
    pub(crate) fn export_fresh(&self) -> Vec<u8> {
        let mut fresh = self.clone();
        for spec in
            fresh.slots.iter_mut().flatten().filter_map(|slot| slot.state.as_mut()).chain(fresh.unclaimed.values_mut())
        {
            match &mut spec.groups {
                Groups::Window(g) => g.forget_written(),
                Groups::NewValue(g) => g.forget_written(),
                Groups::Absence(g) => g.forget_written(),
                Groups::Geo(g) => g.forget_written(),
                Groups::Session(g) => g.forget_written(),
            }
        }
        fresh.export()
    }

    /// How many groups' JSON the state keeps from its last export.
    #[cfg(test)]
    pub(crate) fn written_groups(&self) -> usize {
        self.by_name()
            .values()
            .map(|spec| match &spec.groups {
                Groups::Window(g) => g.written_len(),
                Groups::NewValue(g) => g.written_len(),
                Groups::Absence(g) => g.written_len(),
                Groups::Geo(g) => g.written_len(),
                Groups::Session(g) => g.written_len(),
            })
            .sum()
    }

    /// What [`State::export`] writes, for a caller that writes it inside its own document.
    pub(crate) fn saved(&self) -> Saved<'_> {
        Saved { v: self.v, specs: self.by_name() }
    }

    /// What changed since the last call (or [`State::from_parts`]), as changes to parts keyed
    /// `["s", spec]` (the spec's fingerprint and kind) and `["g", spec, group key]` (one group).
    /// The first call, or any with `whole`, writes every part; the caller drops what was stored.
    pub(crate) fn changes(&mut self, whole: bool, out: &mut crate::StateChanges) {
        let whole = whole || self.in_parts.is_none();
        let before = self.in_parts.take().unwrap_or_default();
        let mut specs: Vec<(&str, &mut SpecState)> = self.unclaimed.iter_mut().map(|(k, v)| (k.as_str(), v)).collect();
        specs.extend(
            self.slots.iter_mut().flatten().filter_map(|slot| Some((slot.name.as_str(), slot.state.as_mut()?))),
        );
        specs.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for gone in before.iter().filter(|name| specs.binary_search_by(|(n, _)| n.cmp(&name.as_str())).is_err()) {
            out.dropped.push(part_key(&["s", gone]));
            out.dropped_prefixes.push(part_prefix(&["g", gone]));
        }
        let mut now = BTreeSet::new();
        for (name, st) in specs {
            let mut dropped = Vec::new();
            let mut written = Vec::new();
            let fresh = st.groups.changes(
                whole,
                |key| dropped.push(part_key(&["g", name, key])),
                |key, json| written.push(crate::StatePart { key: part_key(&["g", name, key]), value: json }),
            );
            if fresh {
                if !whole {
                    out.dropped_prefixes.push(part_prefix(&["g", name]));
                }
                let head = SpecHead { fp: st.fp.as_str().into(), kind: st.groups.kind_name().into() };
                let value = serde_json::to_vec(&head).unwrap_or_default();
                out.written.push(crate::StatePart { key: part_key(&["s", name]), value });
            }
            out.dropped.append(&mut dropped);
            out.written.append(&mut written);
            now.insert(name.to_owned());
        }
        self.in_parts = Some(now);
    }

    /// Reads the parts [`State::changes`] wrote, by spec name.
    pub(crate) fn from_parts(specs: BTreeMap<String, SpecParts<'_>>) -> Result<State, String> {
        let mut unclaimed = BTreeMap::new();
        for (name, SpecParts { head, groups }) in specs {
            let head =
                head.ok_or_else(|| format!("correlation {name:?} has groups but no {} part", part_key(&["s", &name])))?;
            let head: SpecHead<'_> = serde_json::from_str(head)
                .map_err(|e| format!("part {} is not a correlation's own part ({e})", part_key(&["s", &name])))?;
            let groups = Groups::from_parts(&name, &head.kind, groups)?;
            unclaimed.insert(name, SpecState { fp: head.fp.into_owned(), groups });
        }
        let in_parts = Some(unclaimed.keys().cloned().collect());
        Ok(State { v: VERSION, slots: Vec::new(), unclaimed, in_parts, key_buffer: Vec::new() })
    }

    /// Every spec's state by name.
    fn by_name(&self) -> BTreeMap<&str, &SpecState> {
        let mut specs: BTreeMap<&str, &SpecState> = self.unclaimed.iter().map(|(k, v)| (k.as_str(), v)).collect();
        specs.extend(self.slots.iter().flatten().filter_map(|slot| Some((slot.name.as_str(), slot.state.as_ref()?))));
        specs
    }

    /// Reads what [`State::export`] wrote. Empty bytes are an empty state.
    pub(crate) fn import(bytes: &[u8]) -> Result<State, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(State::default());
        }
        let loaded: Loaded = serde_json::from_slice(bytes)
            .map_err(|e| format!("the detection state is not one this version wrote ({e}); start without it"))?;
        let state =
            State { v: loaded.v, slots: Vec::new(), unclaimed: loaded.specs, in_parts: None, key_buffer: Vec::new() };
        if state.v != VERSION {
            return Err(format!(
                "the detection state is format version {}, this engine reads version {VERSION}; start without it",
                state.v
            ));
        }
        Ok(state)
    }

    /// Drops the state of specs not in `specs`, and state built for another shape of a spec (its
    /// group keys or its type changed).
    pub(crate) fn retain_specs(&mut self, specs: &[Spec]) {
        let keep: BTreeMap<&str, (String, &Kind)> =
            specs.iter().map(|s| (s.name.as_str(), (fingerprint(s), &s.kind))).collect();
        self.set_aside();
        self.unclaimed
            .retain(|name, st| keep.get(name.as_str()).is_some_and(|(fp, kind)| *fp == st.fp && st.groups.fits(kind)));
    }

    /// (groups, entries) over all specs.
    #[allow(dead_code, reason = "for stats and tests; the detector does not report it yet")]
    pub(crate) fn size(&self) -> (usize, usize) {
        let slotted = self.slots.iter().flatten().filter_map(|slot| slot.state.as_ref());
        slotted.chain(self.unclaimed.values()).fold((0, 0), |(g, e), s| (g + s.groups.len(), e + s.groups.entries()))
    }

    /// The state of `specs[index]` when it has any. The first use of an index claims the spec's
    /// state from [`State::unclaimed`]; a use that finds another spec's name there (the rule set
    /// changed) first sets every slot's state aside, to be claimed again by name.
    fn slot(&mut self, index: usize, spec: &Spec) -> Option<&mut SpecState> {
        if self.slots.get(index).and_then(Option::as_ref).is_some_and(|slot| slot.name != spec.name) {
            self.set_aside();
        }
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        let slot = self.slots[index]
            .get_or_insert_with(|| Slot { name: spec.name.clone(), state: self.unclaimed.remove(&spec.name) });
        slot.state.as_mut()
    }

    /// Moves every slot's state to [`State::unclaimed`] and forgets which spec each index held.
    fn set_aside(&mut self) {
        for slot in std::mem::take(&mut self.slots).into_iter().flatten() {
            if let Some(state) = slot.state {
                self.unclaimed.insert(slot.name, state);
            }
        }
    }

    /// Drops the state of `specs[index]` (after [`State::slot`] found it).
    fn clear(&mut self, index: usize) {
        if let Some(Some(slot)) = self.slots.get_mut(index) {
            slot.state = None;
        }
    }

    /// The state of `specs[index]`, created (or replaced when it was built for another shape) as
    /// needed. State this engine made, or imported through [`State::retain_specs`], has the
    /// spec's fingerprint already, so only a new or misfit state computes it.
    fn spec_state(&mut self, index: usize, spec: &Spec) -> Option<&mut SpecState> {
        let fits = self.slot(index, spec).is_some_and(|st| st.groups.fits(&spec.kind));
        let slot = self.slots.get_mut(index)?.as_mut()?;
        if !fits {
            slot.state = Some(SpecState { fp: fingerprint(spec), groups: Groups::empty_for(&spec.kind) });
        }
        slot.state.as_mut()
    }
}

/// A part's key: its path as a JSON array of strings, so that the keys of one spec's groups
/// share a prefix ([`part_prefix`]) no other key has.
pub(crate) fn part_key(path: &[&str]) -> String {
    serde_json::to_string(path).unwrap_or_default()
}

/// What every key [`part_key`] makes from a longer path that starts with `path` starts with.
pub(crate) fn part_prefix(path: &[&str]) -> String {
    let mut key = part_key(path);
    key.pop();
    key.push(',');
    key
}

fn fired(spec: &Spec, index: usize, values: &[String], out: Out) -> Fired {
    Fired {
        spec: index,
        time_ms: out.time_ms,
        group: spec.group_by.iter().map(|g| g.name.clone()).zip(values.iter().cloned()).collect(),
        uuids: out.uuids,
        count: out.count,
        details: out.details,
    }
}

/// Formats a ratio with two decimals (deterministic text for details).
fn ratio(x: f64) -> String {
    format!("{x:.2}")
}

/// Converts a count to f64 for conditions (exact below 2^53).
fn f(n: usize) -> f64 {
    n as f64
}
