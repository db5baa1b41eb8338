//! distlog for Rust: scoped, structured logging for distributed systems.
//!
//! Records logged through `log` or `tracing` inside a scope carry the
//! scope's context and key, and go to `distlogd` in the same wire format as
//! the Python client, so one request's tree spans both languages.
//!
//! ```
//! // Nothing listens on port 9: logging still never blocks, and the guard
//! // waits at most its linger (here 100 ms) at the end.
//! let mut config = distlog::Config::new("tcp://127.0.0.1:9");
//! config.linger = std::time::Duration::from_millis(100);
//! let _guard = distlog::init(config).unwrap();
//! distlog::LogBridge::install(log::LevelFilter::Info).unwrap();
//!
//! let job = distlog::task("toplevel").field("user", "leo").enter();
//! log::info!("into task");
//! {
//!     let mut sub = distlog::to("subtask").field("arg", 42).enter();
//!     log::info!("into task");
//!     sub.success("subtask done");
//! }
//! let foreign = job.get_foreign_task(); // hand this to another process
//! assert!(foreign.ends_with("/2"));
//! drop(job);
//! log::info!("all done");
//! ```
//!
//! Spans of `tracing` become scopes with [`DistlogLayer`]; a future carries
//! its scope across threads with [`FutureExt::in_scope`].

mod bridge_log;
mod bridge_tracing;
mod error;
mod future;
mod import;
mod levels;
mod metric;
mod panic;
mod record;
mod scope;
mod sender;

pub use bridge_log::LogBridge;
pub use bridge_tracing::DistlogLayer;
pub use error::Error;
pub use future::{FutureExt, InScope};
pub use import::import_task;
pub use levels::pushed_levels;
pub use metric::{metric, timed, MetricKind, Timer};
pub use scope::{current, task, to, Scope, Task, TaskBuilder};
pub use sender::{dropped, init, Config, Curve, FlushGuard};
