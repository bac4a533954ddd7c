//! Wall-clock time for the host, as Okta writes it: epoch milliseconds and RFC 3339 with
//! milliseconds (`2026-11-21T10:15:02.123Z`). The guest reads no clock; the host passes times in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// RFC 3339 → epoch milliseconds.
pub fn parse_ms(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

/// Epoch milliseconds → RFC 3339 UTC with exactly three fractional digits.
pub fn format_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| "1970-01-01T00:00:00.000Z".into(), |t| format!("{t:.3}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_okta_and_parses_back() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_ms(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(format_ms(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_ms(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
        for ms in [0, 1, -1, 86_399_999, 951_782_400_000, 1_709_164_800_000, 4_107_542_400_000] {
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms));
        }
    }
}
