//! `x-absence`: `rules[0]` (the trigger) not followed by `rules[1]` (the cancel) in the same group
//! within the timespan. A trigger at `t` is cancelled by a cancel at `c` with `t ≤ c ≤ t + timespan`,
//! whichever arrives first. It fires from [`super::State::advance`] once the watermark is past the
//! deadline `t + timespan` (strictly), so a cancel at the deadline itself still counts.

use serde::{Deserialize, Serialize};

use super::{Hit, Out, Recency, Spec, push_uuids};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Pending {
    t: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    u: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Group {
    /// Triggers waiting for their deadline, sorted by time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    p: Vec<Pending>,
    /// Cancel times not yet behind the watermark (a late trigger may still need them), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    c: Vec<i64>,
}

impl Recency for Group {
    fn last(&self) -> i64 {
        let p = self.p.last().map_or(i64::MIN, |p| p.t);
        let c = self.c.last().copied().unwrap_or(i64::MIN);
        p.max(c)
    }
    fn entries(&self) -> usize {
        self.p.len() + self.c.len()
    }
    fn is_empty(&self) -> bool {
        self.p.is_empty() && self.c.is_empty()
    }
}

pub(super) fn observe(g: &mut Group, spec: &Spec, hit: &Hit<'_>) {
    let span = spec.timespan_ms;
    let t = hit.time_ms;
    let cap = spec.max_entries.max(1);
    if spec.rules.first().is_some_and(|r| r == hit.rule) {
        if g.c.iter().any(|&c| t <= c && c <= t.saturating_add(span)) {
            return;
        }
        let mut u = Vec::new();
        push_uuids(&mut u, hit.uuids);
        let pos = g.p.partition_point(|p| p.t <= t);
        g.p.insert(pos, Pending { t, u });
        if g.p.len() > cap {
            let excess = g.p.len() - cap;
            g.p.drain(..excess);
        }
    } else if spec.rules.get(1).is_some_and(|r| r == hit.rule) {
        g.p.retain(|p| !(p.t <= t && t <= p.t.saturating_add(span)));
        let pos = g.c.partition_point(|&c| c < t);
        if g.c.get(pos) != Some(&t) {
            g.c.insert(pos, t);
        }
        if g.c.len() > cap {
            let excess = g.c.len() - cap;
            g.c.drain(..excess);
        }
    }
}

impl Group {
    /// Takes the triggers whose deadline is before `watermark`; forgets cancels before it.
    pub(super) fn due(&mut self, spec: &Spec, watermark: i64) -> Vec<Out> {
        let span = spec.timespan_ms;
        self.c.retain(|&c| c >= watermark);
        // Every event asks; almost always nothing is due, and then nothing is allocated.
        if !self.p.iter().any(|p| p.t.saturating_add(span) < watermark) {
            return Vec::new();
        }
        let (due, keep): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.p).into_iter().partition(|p| p.t.saturating_add(span) < watermark);
        self.p = keep;
        let trigger = spec.rules.first().cloned().unwrap_or_default();
        let cancel = spec.rules.get(1).cloned().unwrap_or_default();
        due.into_iter()
            .map(|p| Out {
                time_ms: p.t.saturating_add(span),
                uuids: p.u,
                count: 1,
                details: vec![
                    ("trigger".to_owned(), trigger.clone()),
                    ("missing".to_owned(), cancel.clone()),
                    ("trigger_time_ms".to_owned(), p.t.to_string()),
                ],
            })
            .collect()
    }
}
