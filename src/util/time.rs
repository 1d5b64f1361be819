//! Timestamps in the exact formats runc's callers parse (Go's RFC3339 and RFC3339Nano, UTC),
//! without pulling in a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Converts days since 1970-01-01 into (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn format(secs: i64, nanos: u32, with_nanos: bool) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if with_nanos && nanos != 0 {
        // Go's RFC3339Nano trims trailing zeros of the fraction.
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

fn now() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

/// Current time as Go's time.RFC3339Nano in UTC.
pub fn rfc3339_nano_now() -> String {
    let (s, n) = now();
    format(s, n, true)
}

/// Current time as Go's time.RFC3339 in UTC (what logrus writes in runc's JSON log).
pub fn rfc3339_now() -> String {
    let (s, _) = now();
    format(s, 0, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(format(0, 0, true), "1970-01-01T00:00:00Z");
        assert_eq!(
            format(1_700_000_000, 120_000_000, true),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(
            format(951_782_400, 5, true),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(format(1_700_000_000, 5, false), "2023-11-14T22:13:20Z");
    }
}
