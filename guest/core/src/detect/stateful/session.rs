//! `x-session_drift`: one session (the group) used from a new IP **and** a user agent unlike every
//! earlier one (stolen cookie replayed elsewhere), or from at least `max-devices` devices.
//!
//! User-agent similarity is the Sørensen–Dice coefficient over character bigrams of the lowercased
//! strings (first 512 characters), counted as multisets: `2·|A∩B| / (|A|+|B|)`. Identical strings
//! are 1, strings of fewer than two characters that differ are 0. A browser update
//! (`Chrome/120.0.0.0` → `Chrome/121.0.0.0`) stays near 0.98; a browser against `curl/8.4.0` or a
//! Python client is far below 0.5.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Hit, Kind, Out, Recency, Spec, cap_map, push_uuids, ratio};

const UA_CHARS: usize = 512;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Group {
    /// IP → last seen event time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    ips: BTreeMap<String, i64>,
    /// User agent → last seen event time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    uas: BTreeMap<String, i64>,
    /// Device → last seen event time (cleared when the device check fires).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    dev: BTreeMap<String, i64>,
}

impl Recency for Group {
    fn last(&self) -> i64 {
        self.ips.values().chain(self.uas.values()).chain(self.dev.values()).copied().max().unwrap_or(i64::MIN)
    }
    fn entries(&self) -> usize {
        self.ips.len() + self.uas.len() + self.dev.len()
    }
    fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.uas.is_empty() && self.dev.is_empty()
    }
}

impl Group {
    pub(super) fn prune(&mut self, horizon: i64) -> bool {
        for map in [&mut self.ips, &mut self.uas, &mut self.dev] {
            map.retain(|_, t| *t >= horizon);
        }
        !self.is_empty()
    }
}

fn bump(map: &mut BTreeMap<String, i64>, key: String, t: i64) {
    let e = map.entry(key).or_insert(t);
    *e = (*e).max(t);
}

/// Sørensen–Dice similarity of character bigrams, 0–1 (see the module docs).
pub(crate) fn ua_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).take(UA_CHARS).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).take(UA_CHARS).collect();
    if a == b {
        return 1.0;
    }
    if a.len() < 2 || b.len() < 2 {
        return 0.0;
    }
    let mut grams: BTreeMap<(char, char), u32> = BTreeMap::new();
    for w in a.windows(2) {
        if let [x, y] = w {
            *grams.entry((*x, *y)).or_default() += 1;
        }
    }
    let mut shared = 0u32;
    for w in b.windows(2) {
        if let [x, y] = w
            && let Some(n) = grams.get_mut(&(*x, *y))
            && *n > 0
        {
            *n -= 1;
            shared += 1;
        }
    }
    2.0 * f64::from(shared) / ((a.len() - 1 + b.len() - 1) as f64)
}

pub(super) fn observe(g: &mut Group, spec: &Spec, hit: &Hit<'_>) -> Option<Out> {
    let Kind::SessionDrift { ip_field, ua_field, max_ua_similarity, device_field, max_devices } = &spec.kind else {
        return None;
    };
    let t = hit.time_ms;
    // Only what the group saw within the timespan counts, whether or not it was pruned yet.
    g.prune(t.saturating_sub(spec.timespan_ms));
    let mut details = Vec::new();
    if let Some(max_similarity) = max_ua_similarity {
        let ip = hit.fields.first(ip_field);
        let ua = hit.fields.first(ua_field);
        if let (Some(ip), Some(ua)) = (&ip, &ua)
            && !g.ips.is_empty()
            && !g.uas.is_empty()
            && !g.ips.contains_key(ip)
        {
            let best = g.uas.keys().map(|known| ua_similarity(known, ua)).fold(0.0, f64::max);
            if best < *max_similarity {
                details.push(("new_ip".to_owned(), ip.clone()));
                details.push(("ua_similarity".to_owned(), ratio(best)));
                details.push(("known_ips".to_owned(), g.ips.len().to_string()));
            }
        }
        if let Some(ip) = ip {
            bump(&mut g.ips, ip, t);
            cap_map(&mut g.ips, spec.max_entries);
        }
        if let Some(ua) = ua {
            bump(&mut g.uas, ua, t);
            cap_map(&mut g.uas, spec.max_entries);
        }
    }
    if let (Some(field), Some(max)) = (device_field, max_devices)
        && let Some(device) = hit.fields.first(field)
    {
        bump(&mut g.dev, device, t);
        cap_map(&mut g.dev, spec.max_entries);
        if g.dev.len() as u64 >= *max {
            details.push(("devices".to_owned(), g.dev.len().to_string()));
            g.dev.clear();
        }
    }
    if details.is_empty() {
        return None;
    }
    let mut uuids = Vec::new();
    push_uuids(&mut uuids, hit.uuids);
    Some(Out { time_ms: t, uuids, count: 1, details })
}
