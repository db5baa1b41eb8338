use thiserror::Error;

/// Why a condition does not compile or a filter does not parse.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RuleError {
    #[error("unknown level {0:?} (use DEBUG, INFO, WARNING, ERROR, CRITICAL, TRACE or a number)")]
    BadLevel(String),
    #[error("{field}: {value:?} is not one of {expected}")]
    BadValue {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("message regex {pattern:?}: {error}")]
    BadRegex { pattern: String, error: String },
    #[error("bad glob {0:?}")]
    BadGlob(String),
    #[error("unknown field {field:?} in filter term {term} (expected level, logger, host, system, kind, encoding, event, context.NAME, message, sample)")]
    UnknownField { term: usize, field: String },
    #[error("filter term {term} ({text:?}): {problem}")]
    BadTerm {
        term: usize,
        text: String,
        problem: String,
    },
    #[error("filter: {0}")]
    Yaml(String),
    #[error("context field {field:?}: give a value, or one of `equals`, `exists`, `in`")]
    BadFieldTest { field: String },
    #[error("sample: {0} is not a share between 0 and 1 (0.1 keeps one task in ten)")]
    BadSample(String),
    #[error("`task: failed` is known only once a task is decided, so it works only in routing rules (distlogd.yml), not in a filter")]
    TaskInFilter,
}
