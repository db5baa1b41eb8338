use serde::{Deserialize, Serialize};

/// Where a scope (or a whole task) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Opened and not closed; its process was heard from recently.
    Running,
    Succeeded,
    Failed,
    /// Never closed, and its process has been silent longer than the
    /// store's `unfinished_after`: most likely it died.
    Unfinished,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Unfinished => "unfinished",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "running" => Status::Running,
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            "unfinished" => Status::Unfinished,
            _ => return None,
        })
    }
}

/// One root task in the task list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    pub root: String,
    /// The root scope's message; `None` until its opening record arrives.
    pub message: Option<String>,
    pub host: Option<String>,
    pub process: Option<i64>,
    pub started: f64,
    pub ended: Option<f64>,
    /// Seconds, from the closing record (or `ended - started`).
    pub duration: Option<f64>,
    pub last_seen: f64,
    pub status: Status,
    pub records: i64,
    /// How many scopes in the tree failed.
    pub failures: i64,
    /// The root scope's context (without its `key`), from its opening record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
}

/// One stored record: the indexed fields, and the whole body on request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordRow {
    pub id: i64,
    pub received: f64,
    pub created: f64,
    pub topic: String,
    pub key: Option<String>,
    pub root: Option<String>,
    /// The path below the root, `""` for the root scope, `"/1/3"` below.
    pub scope: Option<String>,
    pub seq: Option<i64>,
    pub event: Option<String>,
    pub levelno: i64,
    pub levelname: String,
    pub logger: String,
    pub host: String,
    pub process: Option<i64>,
    pub message: String,
    pub duration: Option<f64>,
    /// `context` without `key`; `None` outside a scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exc_text: Option<String>,
    /// Every field as sent, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// Which root tasks to list. Newest first.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TaskFilter {
    /// `failed` also finds tasks that succeeded with a failed subtask
    /// (`failures > 0`): a caught failure is still one to look at.
    pub status: Option<Status>,
    /// Started at or after, epoch seconds.
    pub since: Option<f64>,
    /// Started before, epoch seconds.
    pub until: Option<f64>,
    /// Substring of the root message or of the root id.
    pub text: Option<String>,
    pub host: Option<String>,
    /// The start of the root id (`1844aa91`), as the UI shows short ids.
    pub root_prefix: Option<String>,
    /// `field=value` pairs, comma-separated, that the root's context must hold.
    pub context: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// Which records to list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RecordFilter {
    /// Minimum level number (e.g. 30 for WARNING and above).
    pub level: Option<i64>,
    /// Logger name or a prefix of it ending in `.`; `root` matches exactly.
    pub logger: Option<String>,
    pub host: Option<String>,
    pub root: Option<String>,
    pub since: Option<f64>,
    pub until: Option<f64>,
    /// Search in messages and exception texts: every word must occur
    /// (case-insensitive); a word ending in `*` is a prefix (`Key*`).
    pub q: Option<String>,
    /// `field=value` pairs, comma-separated, that the record's context must
    /// hold (`user=leo,request.id=7`).
    pub context: Option<String>,
    /// Only records stored after this id (for following).
    pub after: Option<i64>,
    /// Only records stored before this id (for paging backwards).
    pub before: Option<i64>,
    pub limit: Option<usize>,
    /// `asc` (oldest first) or `desc` (newest first, the default).
    pub order: Option<String>,
    /// Include every field of each record.
    pub full: Option<bool>,
}

pub(crate) const DEFAULT_LIMIT: usize = 100;
pub(crate) const MAX_LIMIT: usize = 10_000;

impl RecordFilter {
    /// How many records an answer holds: `limit`, or the default, within
    /// the bound.
    pub fn answer_limit(&self) -> usize {
        clamp_limit(self.limit)
    }
}

pub(crate) fn clamp_limit(requested: Option<usize>) -> usize {
    requested.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}
