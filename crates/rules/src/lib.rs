//! distlog's rule language: conditions on records, written as YAML in
//! `distlogd.yml` (routing rules) or as terms on the command line
//! (`distlog tail -f FILTER`), compiled once and matched cheaply.
//!
//! ```
//! use distlog_proto::{decode, Limits, Topic};
//! use distlog_rules::{parse_filter, ConditionSpec, RecordSubject};
//!
//! let body = br#"{"name": "app.db.pool", "levelno": 40, "message": "timed out",
//!     "context": {"key": "3@e252a11f", "user": "leo"}}"#;
//! let record = decode(Topic::parse(b"PLJ").unwrap(), body, &Limits::default()).unwrap();
//! let subject = RecordSubject::new(&record);
//!
//! let yaml: ConditionSpec = serde_saphyr::from_str(
//!     "{all: [{level: WARNING}, {logger: app.db}], not: {context: {user: ann}}}").unwrap();
//! assert!(yaml.compile().unwrap().matches(&subject));
//! assert!(parse_filter("level>=ERROR context.user=leo message~time(d)?.out").unwrap().matches(&subject));
//! assert!(!parse_filter("host=web-*").unwrap().matches(&subject));
//!
//! // Routing on how the record's task ends (see `tail`): asked both ways.
//! let kept: ConditionSpec = serde_saphyr::from_str("{any: [{task: failed}, {sample: 0.1}]}").unwrap();
//! let kept = kept.compile().unwrap();
//! assert!(kept.needs_task() && kept.matches_task(&subject, true));
//! ```

mod compile;
mod condition;
mod error;
mod filter;
mod sample;
mod spec;
mod subject;
pub mod tail;

pub use condition::Condition;
pub use error::RuleError;
pub use filter::parse_filter;
pub use sample::sample_point;
pub use spec::ConditionSpec;
pub use subject::{JsonSubject, RecordSubject, Subject};

#[cfg(test)]
mod tests;
