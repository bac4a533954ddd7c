//! `x-distribution`: per outer group (`group-by`), counts per inner key (`per`) over the window,
//! then tests the shape. Spray: many keys, each with a few tries in a band. Stuffing: many keys,
//! at most one or two tries each. Evaluated when a hit arrives, over the windows ending at the hit
//! and at the group's newest event. Cost: linear in the window's entries (capped per group).

use std::collections::{BTreeMap, BTreeSet};

use super::window::{Entry, Group, tuple_key, uuids};
use super::{DistCondition, Hit, Kind, Out, Spec, f, first, push_uuids, ratio};

pub(super) fn observe(g: &mut Group, spec: &Spec, hit: &Hit<'_>) -> Option<Out> {
    let Kind::Distribution { per, condition } = &spec.kind else { return None };
    let t = hit.time_ms;
    let k = tuple_key(hit, per)?;
    g.touch(t);
    if !g.accepts(t) {
        return None;
    }
    let d = condition.distinct.as_ref().and_then(|(field, _)| first(hit.fields, field)).unwrap_or_default();
    let mut u = Vec::new();
    push_uuids(&mut u, hit.uuids);
    g.insert(Entry { t, k, d, u }, spec.max_entries);
    let newest = g.e.last().map_or(t, |x| x.t);
    let ends = if newest > t { vec![t, newest] } else { vec![t] };
    for end in ends {
        let w = g.window(end, spec.timespan_ms);
        if let Some((n, details)) = evaluate(w, condition) {
            let uuids = uuids(w);
            g.clear_through(end);
            return Some(Out { time_ms: end, uuids, count: n, details });
        }
    }
    None
}

/// Every set test must hold. Details carry every measure that was computed.
fn evaluate(w: &[Entry], c: &DistCondition) -> Option<(u64, Vec<(String, String)>)> {
    let (Some(oldest), Some(newest)) = (w.first(), w.last()) else { return None };
    // Cheap bounds first: the events are the window's length, and there are at most as many keys.
    let len = f(w.len());
    if c.events.as_ref().is_some_and(|cond| !cond.test(len))
        || c.groups.as_ref().is_some_and(|cond| !cond.reachable_up_to(len))
    {
        return None;
    }
    let mut per: BTreeMap<&str, u64> = BTreeMap::new();
    for x in w {
        *per.entry(x.k.as_str()).or_default() += 1;
    }
    let groups = per.len();
    let events = w.len();
    let max_per = per.values().copied().max().unwrap_or(0);
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
        let in_band = per.values().filter(|n| band.test(**n as f64)).count();
        let share = f(in_band) / f(groups);
        if !share_cond.test(share) {
            return None;
        }
        details.push(("share_in_band".to_owned(), ratio(share)));
    }
    if let Some((_, cond)) = &c.distinct {
        let distinct: BTreeSet<&str> = w.iter().map(|x| x.d.as_str()).filter(|d| !d.is_empty()).collect();
        if !cond.test(f(distinct.len())) {
            return None;
        }
        details.push(("distinct".to_owned(), distinct.len().to_string()));
    }
    Some((events as u64, details))
}
