//! `x-geo_velocity`: impossible travel. Each located match of a group is compared with the
//! group's previous located match in event time (and, for a late hit, with the next one): it fires
//! when the great-circle (Haversine) distance exceeds `min-distance-km` (which damps the noise of
//! IP geolocation over short hops) and the speed exceeds `max-speed-kmh`. Pairs further apart
//! in time than the timespan are not compared. Time gaps under one second count as one second.

use serde::{Deserialize, Serialize};

use super::{Hit, Kind, Out, Recency, Spec, push_uuids};

pub(crate) const LAT: &str = "client.geographicalContext.geolocation.lat";
pub(crate) const LON: &str = "client.geographicalContext.geolocation.lon";
pub(crate) const COUNTRY: &str = "client.geographicalContext.country";
pub(crate) const PROXY: &str = "securityContext.isProxy";

/// Located matches kept per group (a late hit needs only its neighbours).
const MAX_POINTS: usize = 64;
/// Mean Earth radius (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Point {
    t: i64,
    lat: f64,
    lon: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    c: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    u: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Group {
    /// Sorted by event time.
    #[serde(default)]
    p: Vec<Point>,
}

impl Recency for Group {
    fn last(&self) -> i64 {
        self.p.last().map_or(i64::MIN, |p| p.t)
    }
    fn entries(&self) -> usize {
        self.p.len()
    }
    fn is_empty(&self) -> bool {
        self.p.is_empty()
    }
}

impl Group {
    pub(super) fn prune(&mut self, horizon: i64) -> bool {
        self.p.retain(|p| p.t >= horizon);
        !self.p.is_empty()
    }
}

fn coordinate(hit: &Hit<'_>, path: &str, limit: f64) -> Option<f64> {
    let v: f64 = hit.fields.first(path)?.trim().parse().ok()?;
    (v.is_finite() && v.abs() <= limit).then_some(v)
}

/// Great-circle distance in km.
pub(crate) fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().clamp(0.0, 1.0).asin()
}

pub(super) fn observe(g: &mut Group, spec: &Spec, hit: &Hit<'_>) -> Option<Out> {
    let Kind::GeoVelocity { max_speed_kmh, min_distance_km, skip_proxies } = &spec.kind else { return None };
    if *skip_proxies && hit.fields.values(PROXY).iter().any(|v| v.trim().eq_ignore_ascii_case("true")) {
        return None;
    }
    let lat = coordinate(hit, LAT, 90.0)?;
    let lon = coordinate(hit, LON, 180.0)?;
    let mut u = Vec::new();
    push_uuids(&mut u, hit.uuids);
    let cur = Point { t: hit.time_ms, lat, lon, c: hit.fields.first(COUNTRY).unwrap_or_default(), u };
    let pos = g.p.partition_point(|p| p.t <= cur.t);
    let check = |a: &Point, b: &Point| -> Option<Out> {
        let dt_ms = b.t.saturating_sub(a.t);
        if dt_ms > spec.timespan_ms {
            return None;
        }
        let km = haversine_km(a.lat, a.lon, b.lat, b.lon);
        if km <= *min_distance_km {
            return None;
        }
        let kmh = km / (dt_ms.max(1_000) as f64 / 3_600_000.0);
        if kmh <= *max_speed_kmh {
            return None;
        }
        let mut uuids = a.u.clone();
        push_uuids(&mut uuids, &b.u);
        let mut details = vec![
            ("distance_km".to_owned(), format!("{km:.0}")),
            ("speed_kmh".to_owned(), format!("{kmh:.0}")),
            ("seconds".to_owned(), (dt_ms / 1_000).to_string()),
        ];
        if !a.c.is_empty() {
            details.push(("from_country".to_owned(), a.c.clone()));
        }
        if !b.c.is_empty() {
            details.push(("to_country".to_owned(), b.c.clone()));
        }
        Some(Out { time_ms: b.t, uuids, count: 2, details })
    };
    let before = pos.checked_sub(1).and_then(|i| g.p.get(i)).and_then(|prev| check(prev, &cur));
    let out = before.or_else(|| g.p.get(pos).and_then(|next| check(&cur, next)));
    g.p.insert(pos, cur);
    let cap = MAX_POINTS.min(spec.max_entries).max(2);
    if g.p.len() > cap {
        let excess = g.p.len() - cap;
        g.p.drain(..excess);
    }
    out
}
