//! Formatting epoch seconds without a time-zone database: always UTC.

/// `2026-11-24 01:05:50.591Z`
pub fn datetime(epoch: f64) -> String {
    let (date, time) = split(epoch);
    format!("{date} {time}Z")
}

/// `01:05:50.591`
pub fn time(epoch: f64) -> String {
    split(epoch).1
}

fn split(epoch: f64) -> (String, String) {
    let ms_total = (epoch * 1000.0).round() as i64;
    let days = ms_total.div_euclid(86_400_000);
    let ms_of_day = ms_total.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{h:02}:{min:02}:{s:02}.{ms:03}"),
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A duration in seconds, in the unit that reads best.
pub fn duration(seconds: f64) -> String {
    if seconds < 0.001 {
        format!("{:.0} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1e3)
    } else if seconds < 120.0 {
        format!("{seconds:.2} s")
    } else if seconds < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// Parses `90s`, `15m`, `2h`, `7d` (an age) or plain epoch seconds.
pub fn parse_since(text: &str, now: f64) -> Option<f64> {
    if let Ok(epoch) = text.parse::<f64>() {
        return Some(epoch);
    }
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (n, unit) = text.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    };
    Some(now - n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorial_timestamp_formats_in_utc() {
        assert_eq!(datetime(1524085399.148067), "2018-04-18 21:03:19.148Z");
        assert_eq!(datetime(0.0), "1970-01-01 00:00:00.000Z");
        assert_eq!(datetime(951_782_400.0), "2000-02-29 00:00:00.000Z");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(0.0000012), "1 µs");
        assert_eq!(duration(0.0123), "12.3 ms");
        assert_eq!(duration(3.0), "3.00 s");
        assert_eq!(duration(600.0), "10.0 min");
    }

    #[test]
    fn since_takes_ages_or_epochs() {
        assert_eq!(parse_since("15m", 1000.0), Some(100.0));
        assert_eq!(parse_since("2h", 10_000.0), Some(2800.0));
        assert_eq!(parse_since("1524085399", 0.0), Some(1524085399.0));
        assert_eq!(parse_since("soon", 0.0), None);
        assert_eq!(parse_since("5y", 0.0), None);
    }
}
