//! `event_count` and `value_count`: the condition on a window's events or distinct values.

use super::window::Entry;
use super::{Condition, f};

/// `event_count`: the number of hits in the window.
pub(super) fn events(window: &[Entry], condition: &Condition) -> Option<(u64, Vec<(String, String)>)> {
    let n = window.len();
    condition.test(f(n)).then(|| (n as u64, vec![("events".to_owned(), n.to_string())]))
}

/// `value_count`: the number of distinct values of the field in the window. `by_hash`: the
/// entries' hashes stand for their values (see [`super::window::Group::hashes_are_keys`]).
pub(super) fn values(
    window: &[Entry],
    by_hash: bool,
    field: &str,
    condition: &Condition,
) -> Option<(u64, Vec<(String, String)>)> {
    // At most one distinct value per entry.
    if !condition.reachable_up_to(f(window.len())) {
        return None;
    }
    let n = if by_hash {
        count_distinct(window.iter().map(|x| x.h), condition)
    } else {
        count_distinct(window.iter().map(|x| x.k.as_str()), condition)
    }?;
    condition
        .test(f(n))
        .then(|| (n as u64, vec![("distinct".to_owned(), n.to_string()), ("field".to_owned(), field.to_owned())]))
}

/// The number of distinct keys; `None` early when a lower bound alone (`gte`, `gt`) cannot hold.
fn count_distinct<K: Ord + Copy>(keys: impl Iterator<Item = K> + Clone, condition: &Condition) -> Option<usize> {
    // With only a lower bound, find out cheaply whether enough distinct values are there at all
    // before counting them all (most windows hold one value many times).
    if condition.lt.is_none() && condition.lte.is_none() && condition.eq.is_none() {
        let mut seen: Vec<K> = Vec::new();
        let enough = keys.clone().any(|k| {
            if seen.contains(&k) {
                return false;
            }
            seen.push(k);
            condition.test(f(seen.len()))
        });
        if !enough {
            return None;
        }
    }
    let mut all: Vec<K> = keys.collect();
    all.sort_unstable();
    all.dedup();
    Some(all.len())
}
