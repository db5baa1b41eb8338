//! A level setting: which records (selectors) and from what level on.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The names a level may be given by, and Python's numbers for them.
const NAMES: [(&str, u8); 6] = [
    ("DEBUG", 10),
    ("INFO", 20),
    ("WARNING", 30),
    ("WARN", 30),
    ("ERROR", 40),
    ("CRITICAL", 50),
];

/// Parses `DEBUG` (any case), `WARN`, or a number 1..=50.
pub fn parse_level(text: &str) -> Result<u8, String> {
    let t = text.trim();
    if let Some((_, n)) = NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(t)) {
        return Ok(*n);
    }
    match t.parse::<u8>() {
        Ok(n @ 1..=50) => Ok(n),
        _ => Err(format!(
            "unknown level `{text}`: use DEBUG, INFO, WARNING, ERROR, CRITICAL or a number 1-50"
        )),
    }
}

pub fn level_name(n: u8) -> String {
    NAMES
        .iter()
        .find(|(name, v)| *v == n && *name != "WARN")
        .map_or_else(|| format!("Level {n}"), |(name, _)| (*name).to_owned())
}

/// Parses `10m`, `90s`, `2h`, `1d`, `1h30m` into seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let bad = || {
        format!("bad duration `{text}`: write a number and a unit, e.g. 30s, 10m, 2h, 1d, 1h30m")
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => return Err(bad()),
        };
        let n: f64 = number.parse().map_err(|_| bad())?;
        total += n * unit;
        number.clear();
    }
    if !number.is_empty() || total <= 0.0 || total.is_nan() || !total.is_finite() {
        return Err(bad());
    }
    Ok(total)
}

/// Which records a setting is for; every selector given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Selectors {
    /// A logger name: that logger and its children (`app` covers `app.db`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<u32>,
    /// `T`, `S` or `P`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// A root task id: records inside that tree, in every process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

impl Selectors {
    /// Checks the selectors' spelling; an empty string counts as absent.
    pub fn normalise(mut self) -> Result<Selectors, String> {
        let clean = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.logger = clean(self.logger);
        self.host = clean(self.host);
        self.task = clean(self.task);
        self.system = match clean(self.system) {
            None => None,
            Some(s) => match s.to_ascii_uppercase().as_str() {
                "T" | "TEST" => Some("T".into()),
                "S" | "STAGING" => Some("S".into()),
                "P" | "PRODUCTION" => Some("P".into()),
                _ => {
                    return Err(format!(
                        "unknown system `{s}`: use T (test), S (staging) or P (production)"
                    ))
                }
            },
        };
        if let Some(task) = &self.task {
            if !is_uuid(task) {
                return Err(format!("`{task}` is not a root task id (a UUID)"));
            }
        }
        Ok(self)
    }

    /// The key a setting is stored under: one setting per set of selectors.
    pub fn key(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A root task id is a UUID in its usual 8-4-4-4-12 spelling.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// One setting as the daemon keeps it (and stores it, as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setting {
    #[serde(flatten)]
    pub on: Selectors,
    pub level: u8,
    /// When it was set (seconds since the epoch).
    pub set_at: f64,
    /// When it lapses; `None` keeps it until cleared.
    #[serde(default)]
    pub expires: Option<f64>,
}

impl Setting {
    /// As the API and the control message show it, with the time left
    /// relative to `now` (clients need not trust their clocks).
    pub fn to_json(&self, now: f64) -> Value {
        let mut v = serde_json::to_value(&self.on).unwrap_or_else(|_| json!({}));
        v["level"] = json!(self.level);
        v["level_name"] = json!(level_name(self.level));
        v["set_at"] = json!(self.set_at);
        v["expires"] = json!(self.expires);
        v["expires_in"] = json!(self.expires.map(|e| (e - now).max(0.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_by_name_and_number() {
        assert_eq!(parse_level("debug"), Ok(10));
        assert_eq!(parse_level("WARN"), Ok(30));
        assert_eq!(parse_level("15"), Ok(15));
        assert!(matches!(parse_level("LOUD"), Err(e) if e.contains("unknown level `LOUD`")));
        assert!(parse_level("0").is_err());
        assert_eq!(level_name(30), "WARNING");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10m"), Ok(600.0));
        assert_eq!(parse_duration("1h30m"), Ok(5400.0));
        assert_eq!(parse_duration("45s"), Ok(45.0));
        for bad in ["", "10", "m", "10x", "0s", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selectors_are_checked() {
        let s = Selectors {
            system: Some("staging".into()),
            logger: Some(" ".into()),
            ..Default::default()
        };
        let n = s.normalise().expect("ok");
        assert_eq!(n.system.as_deref(), Some("S"));
        assert_eq!(n.logger, None);
        let bad = Selectors {
            task: Some("nope".into()),
            ..Default::default()
        };
        assert!(bad.normalise().is_err());
    }
}
