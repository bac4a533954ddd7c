//! `temporal` (every rule within the timespan, any order) and `temporal_ordered` (in the listed
//! order by event time; equal times count as in order).

use super::window::Entry;
use super::{Condition, f};

/// Tests the window: `temporal` counts the distinct listed rules seen; `temporal_ordered` the
/// longest prefix of `rules` matched by hits in non-decreasing event time (each hit used once).
pub(super) fn evaluate(
    window: &[Entry],
    rules: &[String],
    ordered: bool,
    condition: &Condition,
) -> Option<(u64, Vec<(String, String)>)> {
    let n = if ordered { ordered_prefix(window, rules) } else { seen(window, rules) };
    condition.test(f(n)).then(|| (n as u64, vec![("rules".to_owned(), n.to_string())]))
}

/// How many of the listed rules have a hit in the window (stops once all have).
fn seen(window: &[Entry], rules: &[String]) -> usize {
    let mut present = vec![false; rules.len()];
    let mut n = 0;
    for x in window {
        if let Some(i) = rules.iter().position(|r| *r == x.k)
            && !present[i]
        {
            present[i] = true;
            n += 1;
            if n == rules.len() {
                break;
            }
        }
    }
    n
}

/// Greedy: for each listed rule in turn, the earliest unused hit of it at or after the previous
/// step's time. The window is sorted by time, so the earliest choice is always the best one.
fn ordered_prefix(window: &[Entry], rules: &[String]) -> usize {
    let mut used = vec![false; window.len()];
    let mut prev = i64::MIN;
    let mut n = 0;
    for rule in rules {
        let found = (0..window.len()).find(|&j| !used[j] && window[j].t >= prev && &window[j].k == rule);
        match found {
            Some(j) => {
                used[j] = true;
                prev = window[j].t;
                n += 1;
            }
            None => break,
        }
    }
    n
}
