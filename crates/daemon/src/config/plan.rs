use crate::sinks::SinkConfig;

/// A validated configuration, ready to start.
#[derive(Debug)]
pub struct Plan {
    pub listen: Option<Vec<String>>,
    pub http: Option<String>,
    pub control: Option<String>,
    pub peers: Option<Vec<String>>,
    /// Sinks by name, in name order; rules refer to them by index.
    pub sinks: Vec<(String, SinkConfig)>,
    /// Sources by name; started once, not replaced by a reload.
    pub sources: Vec<(String, crate::jetstream::source::SourceConfig)>,
    pub mode: Mode,
    pub rules: Vec<RulePlan>,
    pub default: Vec<usize>,
    /// Bounds for holding tasks that `task: failed` rules wait on.
    pub tail: distlog_rules::tail::TailLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    All,
    First,
}

#[derive(Debug)]
pub struct RulePlan {
    pub name: String,
    pub condition: distlog_rules::Condition,
    pub sinks: Vec<usize>,
    /// Records this rule matched, for `/api/stats`.
    pub matched: std::sync::atomic::AtomicU64,
}
