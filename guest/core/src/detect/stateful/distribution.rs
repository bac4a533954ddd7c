//! `x-distribution`: per outer group (`group-by`), counts per inner key (`per`) over the window,
//! then tests the shape. Spray: many keys, each with a few tries in a band. Stuffing: many keys,
//! at most one or two tries each. Evaluated when a hit arrives, over the windows ending at the hit
//! and at the group's newest event. Cost: linear in the window's entries (capped per group).

use super::window::{Entry, Group, key_hash, tuple_key, uuids};
use super::{DistCondition, Hit, Kind, Out, Spec, f, push_uuids, ratio};

pub(super) fn observe(g: &mut Group, spec: &Spec, hit: &Hit<'_>) -> Option<Out> {
    let Kind::Distribution { per, condition } = &spec.kind else { return None };
    let t = hit.time_ms;
    let k = tuple_key(hit, per)?;
    g.touch(t);
    if !g.accepts(t) {
        return None;
    }
    let d = condition.distinct.as_ref().and_then(|(field, _)| hit.fields.first(field)).unwrap_or_default();
    let mut u = Vec::new();
    push_uuids(&mut u, hit.uuids);
    g.insert(Entry { t, k, d, u, ..Entry::default() }, spec.max_entries);
    let newest = g.e.last().map_or(t, |x| x.t);
    let ends = if newest > t { vec![t, newest] } else { vec![t] };
    let by_hash = g.hashes_are_keys();
    for end in ends {
        let w = g.window(end, spec.timespan_ms);
        if let Some((n, details)) = evaluate(w, by_hash, condition) {
            let uuids = uuids(w);
            g.clear_through(end);
            return Some(Out { time_ms: end, uuids, count: n, details });
        }
    }
    None
}

/// Every set test must hold. Details carry every measure that was computed. `by_hash`: the
/// entries' hashes stand for their keys.
fn evaluate(w: &[Entry], by_hash: bool, c: &DistCondition) -> Option<(u64, Vec<(String, String)>)> {
    let (Some(oldest), Some(newest)) = (w.first(), w.last()) else { return None };
    // Cheap bounds first: the events are the window's length, and there are at most as many keys.
    let len = f(w.len());
    if c.events.as_ref().is_some_and(|cond| !cond.test(len))
        || c.groups.as_ref().is_some_and(|cond| !cond.reachable_up_to(len))
    {
        return None;
    }
    let per = if by_hash { tallies(w.iter().map(|x| x.h)) } else { tallies(w.iter().map(|x| x.k.as_str())) };
    let groups = per.len();
    let events = w.len();
    let max_per = per.iter().copied().max().unwrap_or(0);
    let span_ms = newest.t.saturating_sub(oldest.t);
    let pass = |cond: &Option<super::Condition>, v: f64| cond.as_ref().is_none_or(|c| c.test(v));
    if !pass(&c.groups, f(groups))
        || !pass(&c.events, f(events))
        || !pass(&c.max_per_group, max_per as f64)
        || !pass(&c.span_minutes, span_ms as f64 / 60_000.0)
    {
        return None;
    }
    let mut details = vec![
        ("groups".to_owned(), groups.to_string()),
        ("events".to_owned(), events.to_string()),
        ("max_per_group".to_owned(), max_per.to_string()),
        ("span_minutes".to_owned(), (span_ms / 60_000).to_string()),
    ];
    if let (Some(band), Some(share_cond)) = (&c.band, &c.share_in_band) {
        let in_band = per.iter().filter(|n| band.test(**n as f64)).count();
        let share = f(in_band) / f(groups);
        if !share_cond.test(share) {
            return None;
        }
        details.push(("share_in_band".to_owned(), ratio(share)));
    }
    if let Some((_, cond)) = &c.distinct {
        // By (hash, value): equal hashes compare the values, so the count stays exact.
        let mut distinct: Vec<(u64, &str)> =
            w.iter().filter(|x| !x.d.is_empty()).map(|x| (key_hash(&x.d), x.d.as_str())).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if !cond.test(f(distinct.len())) {
            return None;
        }
        details.push(("distinct".to_owned(), distinct.len().to_string()));
    }
    Some((events as u64, details))
}

/// How many times each distinct key occurs (in key order).
fn tallies<K: Ord>(keys: impl Iterator<Item = K>) -> Vec<u64> {
    let mut keys: Vec<K> = keys.collect();
    keys.sort_unstable();
    let mut counts: Vec<u64> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        match counts.last_mut() {
            Some(n) if i > 0 && keys[i - 1] == *k => *n += 1,
            _ => counts.push(1),
        }
    }
    counts
}
