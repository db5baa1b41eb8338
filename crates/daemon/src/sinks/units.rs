//! Sizes (`100MiB`) and durations (`7d`) as written in the configuration.

use std::time::Duration;

use anyhow::{bail, Result};

pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let Ok(n) = n.parse::<u64>() else {
        bail!("size {text:?} must be a whole number with a unit, like 100MiB");
    };
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "KiB" | "K" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" | "M" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" | "G" => 1 << 30,
        other => bail!("size {text:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, KB, MB, GB)"),
    };
    Ok(n.saturating_mul(scale))
}

pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let Ok(n) = n.parse::<u64>() else {
        bail!("duration {text:?} must be a whole number with a unit, like 30s, 15m, 1h or 7d");
    };
    if unit.trim() == "ms" {
        if n == 0 {
            bail!("duration {text:?} must be more than zero");
        }
        return Ok(Duration::from_millis(n));
    }
    let secs = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => bail!("duration {text:?}: unknown unit {other:?} (use ms, s, m, h, d or w)"),
    };
    if n == 0 {
        bail!("duration {text:?} must be more than zero");
    }
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_write_them() {
        assert_eq!(parse_size("100MiB").expect("size"), 100 << 20);
        assert_eq!(parse_size("2 GB").expect("size"), 2_000_000_000);
        assert_eq!(parse_size("512").expect("size"), 512);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5XB").is_err());
        assert_eq!(parse_duration("7d").expect("d").as_secs(), 7 * 86_400);
        assert_eq!(parse_duration("15m").expect("d").as_secs(), 900);
        assert_eq!(parse_duration("200ms").expect("ms").as_millis(), 200);
        assert!(parse_duration("0ms").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1y").is_err());
    }
}
