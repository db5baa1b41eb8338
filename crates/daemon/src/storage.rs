//! Time as the daemon stamps it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, as a float like Python's `time.time()`.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
