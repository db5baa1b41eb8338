//! `distlogd.yml`: parsed, then validated and compiled into a [`Plan`]
//! before any socket opens or any sink starts.

mod explain;
mod plan;
mod tail;

pub use plan::{Mode, Plan, RulePlan};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::sinks::SinkConfig;

/// Routing marks target sinks in a 128-bit set.
const MAX_SINKS: usize = 128;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// ZeroMQ endpoints to bind; `--listen` flags replace them.
    #[serde(default)]
    pub listen: Option<Vec<String>>,
    /// HTTP API address; `--http` replaces it.
    #[serde(default)]
    pub http: Option<String>,
    /// ZeroMQ PUB endpoint the log levels are published on; `--control`
    /// replaces it. See docs/protocol.md.
    #[serde(default)]
    pub control: Option<String>,
    /// Other collectors' HTTP base URLs whose stores this daemon's query
    /// API also answers from (docs/federation.md); `--peer` replaces them.
    #[serde(default)]
    pub peers: Option<Vec<String>>,
    #[serde(default)]
    pub sinks: BTreeMap<String, Spanned<SinkConfig>>,
    /// Intakes besides the ZeroMQ one (a JetStream consumer); their
    /// records are routed like the intake's. See docs/scale-out.md.
    #[serde(default)]
    pub sources: BTreeMap<String, Spanned<crate::jetstream::source::SourceConfig>>,
    #[serde(default)]
    pub routes: Option<RoutesConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesConfig {
    /// `all`: a record goes to the sinks of every rule it matches;
    /// `first`: only to those of the first rule it matches.
    pub mode: Spanned<String>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Where records that match no rule go; `[]` drops them.
    pub default: Vec<Spanned<String>>,
    /// Holding tasks for `task: failed` rules (see `config/tail.rs`).
    #[serde(default)]
    pub tail: Option<Spanned<tail::TailConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "match", default)]
    pub condition: Option<Spanned<distlog_rules::ConditionSpec>>,
    pub to: Vec<Spanned<String>>,
}

impl ConfigFile {
    pub fn read(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<ConfigFile> {
        serde_saphyr::from_str(text).map_err(|e| match explain::sinks(text) {
            Some(plain) => anyhow::anyhow!("{plain}"),
            None => anyhow::anyhow!("{e}"),
        })
    }

    /// The configuration distlogd runs with when given no file: everything
    /// into the store, and the live feed for `distlog tail -f` and the UI.
    pub fn defaults(store: &Path) -> Result<ConfigFile> {
        let text = format!(
            "sinks:\n  store:\n    type: store\n    path: {store:?}\n  feed:\n    type: feed\n\
             routes:\n  mode: all\n  default: [store, feed]\n",
            store = store.display().to_string()
        );
        Self::parse(&text)
    }

    /// Checks everything that can be checked without opening anything, and
    /// compiles the rules. `store` is the `--store` default for store sinks
    /// that name no path.
    pub fn compile(self, store: &Path) -> Result<Plan> {
        // A pure query front (docs/federation.md) stores nothing itself.
        let front = self.peers.as_ref().is_some_and(|p| !p.is_empty());
        if self.sinks.is_empty() && !front {
            bail!("no sinks configured: records would go nowhere (add a `sinks:` section, or `peers:` for a query front)");
        }
        if self.sinks.len() > MAX_SINKS {
            bail!(
                "{} sinks configured; at most {MAX_SINKS} are supported",
                self.sinks.len()
            );
        }
        let names: Vec<String> = self.sinks.keys().cloned().collect();
        let mut sinks = Vec::new();
        for (name, spec) in self.sinks {
            if !valid_name(&name) {
                bail!(
                    "line {}: sink name {name:?} must be letters, digits, '-' or '_'",
                    spec.referenced.line()
                );
            }
            let config = spec
                .value
                .validated(store)
                .with_context(|| format!("line {}: sink {name:?}", spec.referenced.line()))?;
            if let SinkConfig::Store(store_config) = &config {
                let path = store_config.path();
                let same = sinks.iter().find(|(_, c): &&(String, SinkConfig)| {
                    matches!(c, SinkConfig::Store(o) if o.path() == path)
                });
                if let Some((other, _)) = same {
                    bail!(
                        "line {}: store sinks {other:?} and {name:?} both use the store at {}: one store takes one sink (give each its own `path`; a store sink without one uses --store)",
                        spec.referenced.line(),
                        path.display()
                    );
                }
            }
            sinks.push((name, config));
        }
        let mut sources = Vec::new();
        for (name, spec) in self.sources {
            if !valid_name(&name) {
                bail!(
                    "line {}: source name {name:?} must be letters, digits, '-' or '_'",
                    spec.referenced.line()
                );
            }
            let config = spec
                .value
                .validated()
                .with_context(|| format!("line {}: source {name:?}", spec.referenced.line()))?;
            sources.push((name, config));
        }
        let routes = match self.routes {
            Some(r) => r,
            None => RoutesConfig {
                mode: unplaced("all".into()),
                rules: Vec::new(),
                default: names.iter().map(|n| unplaced(n.clone())).collect(),
                tail: None,
            },
        };
        let tail = match &routes.tail {
            Some(t) => t
                .value
                .limits()
                .with_context(|| format!("line {}", t.referenced.line()))?,
            None => Default::default(),
        };
        let mode = match routes.mode.value.as_str() {
            "all" => Mode::All,
            "first" => Mode::First,
            other => bail!(
                "line {}: routes.mode is {other:?}; use `all` (every matching rule) or `first` (the first matching rule)",
                routes.mode.referenced.line()
            ),
        };
        let index = |target: &Spanned<String>, place: &str| -> Result<usize> {
            names
                .iter()
                .position(|n| *n == target.value)
                .ok_or_else(|| {
                    let hint = closest(&target.value, &names)
                        .map(|c| format!("; did you mean {c:?}?"))
                        .unwrap_or_else(|| format!(" (sinks: {})", names.join(", ")));
                    anyhow::anyhow!(
                        "line {}: unknown sink {:?} in {place}{hint}",
                        target.referenced.line(),
                        target.value
                    )
                })
        };
        let mut rules = Vec::new();
        for (i, rule) in routes.rules.into_iter().enumerate() {
            let label = match &rule.name {
                Some(n) => format!("rule {} ({n})", i + 1),
                None => format!("rule {}", i + 1),
            };
            let condition = match &rule.condition {
                Some(spec) => spec
                    .value
                    .compile()
                    .with_context(|| format!("line {}: {label}: match", spec.referenced.line()))?,
                None => distlog_rules::Condition::always(),
            };
            let targets = rule
                .to
                .iter()
                .map(|t| index(t, &label))
                .collect::<Result<Vec<_>>>()?;
            rules.push(RulePlan {
                name: rule.name.unwrap_or_else(|| format!("rule {}", i + 1)),
                condition,
                sinks: targets,
                matched: Default::default(),
            });
        }
        let default = routes
            .default
            .iter()
            .map(|t| index(t, "routes.default"))
            .collect::<Result<Vec<_>>>()?;
        Ok(Plan {
            listen: self.listen,
            http: self.http,
            control: self.control,
            peers: self.peers,
            sinks,
            sources,
            mode,
            rules,
            default,
            tail,
        })
    }
}

/// A value the file did not spell out, so it has no line to point at.
fn unplaced(value: String) -> Spanned<String> {
    use serde_saphyr::Location;
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The known name closest to a misspelt one, if any is close enough.
fn closest<'a>(wrong: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .map(|n| (edit_distance(wrong, n), n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The plan to run: from `path` when given, else the defaults. A
/// `distlogd.yml` in the working directory is never picked up silently.
pub fn resolve(path: Option<&PathBuf>, store: &Path) -> Result<Plan> {
    match path {
        Some(p) => ConfigFile::read(p)?
            .compile(store)
            .with_context(|| format!("in {}", p.display())),
        None => ConfigFile::defaults(store)?.compile(store),
    }
}

/// As [`resolve`], with the `--peer` flags: they replace the file's
/// `peers`, so a file without sinks is a valid pure front with them.
pub fn resolve_with_peers(path: Option<&PathBuf>, store: &Path, peers: &[String]) -> Result<Plan> {
    match path {
        Some(p) if !peers.is_empty() => {
            let mut file = ConfigFile::read(p)?;
            file.peers = Some(peers.to_vec());
            file.compile(store)
                .with_context(|| format!("in {}", p.display()))
        }
        _ => resolve(path, store),
    }
}

#[cfg(test)]
mod tests;
