//! `x-new_value`: first-seen. Fires when the tuple of `fields` has not been seen in the group
//! within `history` (the spec's timespan). A group seen for the first time (or again after all its
//! history expired) only learns, unless `new-group: fire`. A field with several values (an array)
//! gives several tuples (at most [`MAX_TUPLES`]); any new one fires, once per hit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Hit, Kind, Out, Recency, Spec, cap_map, distinct, key_of, push_uuids};

const MAX_TUPLES: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Group {
    /// Tuple (JSON array) → last seen event time.
    #[serde(default)]
    s: BTreeMap<String, i64>,
}

impl Recency for Group {
    fn last(&self) -> i64 {
        self.s.values().copied().max().unwrap_or(i64::MIN)
    }
    fn entries(&self) -> usize {
        self.s.len()
    }
    fn is_empty(&self) -> bool {
        self.s.is_empty()
    }
}

impl Group {
    pub(super) fn prune(&mut self, horizon: i64) -> bool {
        self.s.retain(|_, t| *t >= horizon);
        !self.s.is_empty()
    }
}

/// The value tuples of a hit; `None` when a field is missing.
fn tuples(hit: &Hit<'_>, fields: &[String]) -> Option<Vec<Vec<String>>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for field in fields {
        let values = distinct(hit.fields, field);
        if values.is_empty() {
            return None;
        }
        let mut next = Vec::new();
        for prefix in &out {
            for v in &values {
                if next.len() < MAX_TUPLES {
                    let mut tuple = prefix.clone();
                    tuple.push(v.clone());
                    next.push(tuple);
                }
            }
        }
        out = next;
    }
    Some(out)
}

/// `fresh`: the group had no state before this hit.
pub(super) fn observe(g: &mut Group, fresh: bool, spec: &Spec, hit: &Hit<'_>) -> Option<Out> {
    let Kind::NewValue { fields, new_group_fires } = &spec.kind else { return None };
    let t = hit.time_ms;
    let expired_before = t.saturating_sub(spec.timespan_ms);
    // History older than the timespan counts as none, whether or not it was pruned yet.
    let fresh = fresh || g.s.values().all(|&last| last < expired_before);
    let mut new_tuple = None;
    for tuple in tuples(hit, fields)? {
        let key = key_of(&tuple);
        let is_new = g.s.get(&key).is_none_or(|&last| last < expired_before);
        let e = g.s.entry(key).or_insert(t);
        *e = (*e).max(t);
        if is_new && new_tuple.is_none() {
            new_tuple = Some(tuple);
        }
    }
    cap_map(&mut g.s, spec.max_entries);
    if fresh && !new_group_fires {
        return None;
    }
    let tuple = new_tuple?;
    let mut uuids = Vec::new();
    push_uuids(&mut uuids, hit.uuids);
    Some(Out { time_ms: t, uuids, count: 1, details: fields.iter().cloned().zip(tuple).collect() })
}
