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
    let c = distlog_proto::civil::Civil::from_epoch(epoch);
    (c.date(), format!("{}.{:03}", c.time(), c.millis))
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
