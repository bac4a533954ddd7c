//! `event_count` and `value_count`: the condition on a window's events or distinct values.

use super::window::Entry;
use super::{Condition, f};

/// `event_count`: the number of hits in the window.
pub(super) fn events(window: &[Entry], condition: &Condition) -> Option<(u64, Vec<(String, String)>)> {
    let n = window.len();
    condition.test(f(n)).then(|| (n as u64, vec![("events".to_owned(), n.to_string())]))
}

/// `value_count`: the number of distinct values of the field in the window.
pub(super) fn values(window: &[Entry], field: &str, condition: &Condition) -> Option<(u64, Vec<(String, String)>)> {
    // At most one distinct value per entry.
    if !condition.reachable_up_to(f(window.len())) {
        return None;
    }
    // With only a lower bound (`gte`, `gt`), find out cheaply whether enough distinct values are
    // there at all before counting them all (most windows hold one value many times).
    if condition.lt.is_none() && condition.lte.is_none() && condition.eq.is_none() {
        let mut seen: Vec<&str> = Vec::new();
        let enough = window.iter().any(|x| {
            if !seen.contains(&x.k.as_str()) {
                seen.push(&x.k);
            }
            condition.test(f(seen.len()))
        });
        if !enough {
            return None;
        }
    }
    let mut distinct: Vec<&str> = window.iter().map(|x| x.k.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let n = distinct.len();
    condition
        .test(f(n))
        .then(|| (n as u64, vec![("distinct".to_owned(), n.to_string()), ("field".to_owned(), field.to_owned())]))
}
