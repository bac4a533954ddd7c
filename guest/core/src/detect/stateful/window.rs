//! Sliding windows on event time, shared by `event_count`, `value_count`, `temporal`,
//! `temporal_ordered` (evaluated in `count.rs` and `temporal.rs`) and `x-distribution`.
//!
//! A group keeps its entries sorted by (event time, key), so the stored state does not depend on
//! the arrival order of hits with different times. After a fire (or an `x-reset` hit) the group
//! remembers a floor: hits at or before it no longer count.
//!
//! Every entry carries a hash of its key, so counting a window's distinct keys compares numbers,
//! not strings (a window holds one long value, such as an email or a device hash, many times).
//! The group checks each new key against an entry with the same hash and notes a clash, after
//! which it counts by the keys themselves: the hashes stand for the keys only while no two keys
//! share one.

use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use super::{Hit, Kind, Out, Recency, Spec, count, distinct, push_uuids, temporal};
use crate::FixedHash;

/// One hit in a window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Entry {
    /// Event time.
    pub(super) t: i64,
    /// The counted value (`value_count`), the rule (temporal types) or the `per` key
    /// (`x-distribution`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(super) k: String,
    /// `x-distribution`: the value of `distinct.field`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(super) d: String,
    /// The uuids behind the hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) u: Vec<String>,
    /// The hash of `k`, set by [`Group::insert`] and when a group is loaded (never saved).
    #[serde(skip)]
    pub(super) h: u64,
}

/// Equal when the saved fields are (the hash follows from the key).
impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.t, &self.k, &self.d, &self.u) == (other.t, &other.k, &other.d, &other.u)
    }
}

impl Eq for Entry {}

/// One group's window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Saved")]
pub(super) struct Group {
    /// Hits at or before this time no longer count (set by a fire or an `x-reset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) floor: Option<i64>,
    /// The newest event time seen (for eviction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last: Option<i64>,
    #[serde(default)]
    pub(super) e: Vec<Entry>,
    /// Two different keys of this group had the same hash: count by the keys themselves.
    #[serde(skip)]
    clash: bool,
}

/// Equal when the saved fields are.
impl PartialEq for Group {
    fn eq(&self, other: &Group) -> bool {
        (self.floor, self.last, &self.e) == (other.floor, other.last, &other.e)
    }
}

impl Eq for Group {}

/// A [`Group`] as saved; loading hashes its keys again.
#[derive(Deserialize)]
struct Saved {
    #[serde(default)]
    floor: Option<i64>,
    #[serde(default)]
    last: Option<i64>,
    #[serde(default)]
    e: Vec<Entry>,
}

impl From<Saved> for Group {
    fn from(saved: Saved) -> Group {
        let mut g = Group { floor: saved.floor, last: saved.last, e: saved.e, clash: false };
        for x in &mut g.e {
            x.h = key_hash(&x.k);
        }
        let mut keys: Vec<(u64, &str)> = g.e.iter().map(|x| (x.h, x.k.as_str())).collect();
        keys.sort_unstable();
        keys.dedup();
        g.clash = keys.windows(2).any(|w| w[0].0 == w[1].0);
        g
    }
}

/// Written by hand, because windows are most of the state a batch changes and serde_json escapes
/// strings a byte at a time: the bytes serde_json writes for [`Group`] (held to them by a property
/// test), with strings through our escaper, which skips eight bytes at a time. Written through
/// `normalize::json::ObjectWriter` instead, a page's changes took 5 to 10 % longer, so it stays
/// spelled out.
impl super::ToJson for Group {
    fn to_json(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(32 + self.e.iter().map(|x| 24 + x.k.len() + x.d.len() + 40 * x.u.len()).sum::<usize>());
        let mut int = itoa::Buffer::new();
        out.push(b'{');
        if let Some(floor) = self.floor {
            out.extend_from_slice(b"\"floor\":");
            out.extend_from_slice(int.format(floor).as_bytes());
            out.push(b',');
        }
        if let Some(last) = self.last {
            out.extend_from_slice(b"\"last\":");
            out.extend_from_slice(int.format(last).as_bytes());
            out.push(b',');
        }
        out.extend_from_slice(b"\"e\":[");
        for (i, x) in self.e.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"t\":");
            out.extend_from_slice(int.format(x.t).as_bytes());
            for (name, value) in [(&b",\"k\":"[..], &x.k), (&b",\"d\":"[..], &x.d)] {
                if !value.is_empty() {
                    out.extend_from_slice(name);
                    crate::normalize::json::write_str(&mut out, value);
                }
            }
            if !x.u.is_empty() {
                out.extend_from_slice(b",\"u\":[");
                for (j, u) in x.u.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    crate::normalize::json::write_str(&mut out, u);
                }
                out.push(b']');
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// The hash entries carry (foldhash with a fixed seed, so it is the same in every run).
pub(super) fn key_hash(k: &str) -> u64 {
    FixedHash::default().hash_one(k)
}

impl Recency for Group {
    fn last(&self) -> i64 {
        self.last.unwrap_or(i64::MIN)
    }
    fn entries(&self) -> usize {
        self.e.len()
    }
    fn is_empty(&self) -> bool {
        self.e.is_empty() && self.floor.is_none()
    }
}

impl Group {
    pub(super) fn touch(&mut self, t: i64) {
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    pub(super) fn accepts(&self, t: i64) -> bool {
        self.floor.is_none_or(|f| t > f)
    }

    /// Inserts at its place by (time, key); drops the oldest beyond `cap`.
    pub(super) fn insert(&mut self, entry: Entry, cap: usize) {
        let h = key_hash(&entry.k);
        self.insert_hashed(entry, h, cap);
    }

    /// [`Group::insert`] with the key's hash given (a test gives two keys the same one).
    pub(super) fn insert_hashed(&mut self, mut entry: Entry, h: u64, cap: usize) {
        entry.h = h;
        if !self.clash
            && let Some(same) = self.e.iter().find(|x| x.h == entry.h)
        {
            self.clash = same.k != entry.k;
        }
        let pos = self.e.partition_point(|x| (x.t, &x.k) <= (entry.t, &entry.k));
        self.e.insert(pos, entry);
        if self.e.len() > cap.max(1) {
            let excess = self.e.len() - cap.max(1);
            self.e.drain(..excess);
        }
    }

    /// Starts afresh at `t`: clears entries up to it and ignores later hits at or before it.
    pub(super) fn clear_through(&mut self, t: i64) {
        self.e.retain(|x| x.t > t);
        self.floor = Some(self.floor.map_or(t, |f| f.max(t)));
    }

    /// Drops entries before `horizon` and a floor no future hit can reach; false when empty.
    pub(super) fn prune(&mut self, horizon: i64, watermark: i64) -> bool {
        self.e.retain(|x| x.t >= horizon);
        if self.floor.is_some_and(|f| f < watermark) {
            self.floor = None;
        }
        !self.e.is_empty() || self.floor.is_some()
    }

    /// `temporal_ordered`: drops hits of a later step that no hit of an earlier step precedes (at
    /// or before their time) once they are older than the watermark. No future hit can come before
    /// them, so they can never be part of a sequence. This is what keeps a sequence that ends in a
    /// common event (a successful login) from holding every such event for its whole timespan.
    pub(super) fn prune_unreachable(&mut self, steps: &[String], watermark: i64) {
        let step = |k: &str| steps.iter().position(|s| s == k).unwrap_or(usize::MAX);
        let mut earliest = usize::MAX;
        let mut i = 0;
        let mut keep = vec![true; self.e.len()];
        while i < self.e.len() {
            // Entries at the same time are in order with each other.
            let t = self.e[i].t;
            let end = i + self.e[i..].iter().take_while(|x| x.t == t).count();
            earliest = self.e[i..end].iter().map(|x| step(&x.k)).fold(earliest, usize::min);
            for (j, x) in self.e[i..end].iter().enumerate() {
                let s = step(&x.k);
                keep[i + j] = s == 0 || earliest < s || x.t >= watermark;
            }
            i = end;
        }
        let mut flags = keep.into_iter();
        self.e.retain(|_| flags.next().unwrap_or(true));
    }

    /// The ends of every window (of length `span`) that contains `t` and could have changed: `t`
    /// itself and each later entry time up to `t + span`, ascending.
    pub(super) fn candidate_ends(&self, t: i64, span: i64) -> impl Iterator<Item = i64> + use<'_> {
        let from = self.e.partition_point(|x| x.t <= t);
        let limit = t.saturating_add(span);
        let mut last = t;
        let later = self.e[from..].iter().map(|x| x.t).take_while(move |&x| x <= limit).filter(move |&x| {
            let new = x != last;
            last = x;
            new
        });
        std::iter::once(t).chain(later)
    }

    /// Whether the entries' hashes stand for their keys: equal hashes, equal keys.
    pub(super) fn hashes_are_keys(&self) -> bool {
        !self.clash
    }

    /// The entries in `[end − span, end]`.
    pub(super) fn window(&self, end: i64, span: i64) -> &[Entry] {
        let start = end.saturating_sub(span);
        let lo = self.e.partition_point(|x| x.t < start);
        let hi = self.e.partition_point(|x| x.t <= end);
        self.e.get(lo..hi).unwrap_or(&[])
    }
}

/// The uuids of a window, oldest first, deduplicated, the newest [`super::MAX_UUIDS`].
pub(super) fn uuids(window: &[Entry]) -> Vec<String> {
    let mut out = Vec::new();
    for x in window {
        push_uuids(&mut out, &x.u);
    }
    out
}

fn capped(uuids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    push_uuids(&mut out, uuids);
    out
}

/// A hit of a count or temporal correlation (`reset`: an `x-reset` rule matched).
pub(super) fn observe(g: &mut Group, spec: &Spec, hit: &Hit<'_>, reset: bool) -> Option<Out> {
    let t = hit.time_ms;
    g.touch(t);
    if reset {
        g.clear_through(t);
        return None;
    }
    if !g.accepts(t) {
        return None;
    }
    let u = capped(hit.uuids);
    match &spec.kind {
        Kind::ValueCount { field, .. } => {
            let values = distinct(hit.fields, field);
            if values.is_empty() {
                return None;
            }
            for k in values {
                g.insert(Entry { t, k, u: u.clone(), ..Entry::default() }, spec.max_entries);
            }
        }
        Kind::Temporal { .. } => g.insert(Entry { t, k: hit.rule.to_owned(), u, ..Entry::default() }, spec.max_entries),
        _ => g.insert(Entry { t, u, ..Entry::default() }, spec.max_entries),
    }
    let by_hash = g.hashes_are_keys();
    let fire = g.candidate_ends(t, spec.timespan_ms).find_map(|end| {
        let w = g.window(end, spec.timespan_ms);
        let verdict = match &spec.kind {
            Kind::EventCount { condition } => count::events(w, condition),
            Kind::ValueCount { field, condition } => count::values(w, by_hash, field, condition),
            Kind::Temporal { ordered, condition } => temporal::evaluate(w, &spec.rules, *ordered, condition),
            _ => None,
        };
        verdict.map(|(n, details)| Out { time_ms: end, uuids: uuids(w), count: n, details })
    })?;
    g.clear_through(fire.time_ms);
    Some(fire)
}

/// The first non-empty value of each path, as a JSON array; `None` when one is missing.
pub(super) fn tuple_key(hit: &Hit<'_>, paths: &[String]) -> Option<String> {
    let mut key = Vec::with_capacity(64);
    super::key_into(hit.fields, paths.iter().map(String::as_str), &mut key)
        .then(|| String::from_utf8(key).ok())
        .flatten()
}
