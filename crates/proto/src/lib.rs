//! The distlog wire format, with no I/O: topics, the scope key grammar, the
//! record model, and decoding of JSON and pickle bodies. Pickle is decoded by
//! a data-only interpreter that never runs code.
//!
//! ```
//! use distlog_proto::{decode, Limits, Topic};
//!
//! let topic = Topic::parse(b"PLJ").unwrap();
//! let body = br#"{"name": "root", "levelno": 20, "message": "toplevel",
//!     "context": {"key": "0@e252a11f-d33d-483d-ba08-bc8f642b2f10", "user": "leo"}}"#;
//! let record = decode(topic, body, &Limits::default()).unwrap();
//! let key = record.key.unwrap();
//! assert_eq!(key.seq, 0);
//! assert_eq!(key.scope.root, "e252a11f-d33d-483d-ba08-bc8f642b2f10");
//! assert_eq!(record.levelname, "INFO");
//! ```

pub mod civil;
mod error;
mod heartbeat;
mod key;
pub mod pickle;
mod record;
mod topic;

pub use error::DecodeError;
pub use heartbeat::{decode_heartbeat, Heartbeat};
pub use key::{parse_any, Key, KeyError, ScopeId};
pub use record::{decode, level_name, level_number, Limits, Record, ScopeEvent};
pub use topic::{Encoding, Kind, System, Topic};
