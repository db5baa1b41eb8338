use thiserror::Error;

/// Why a message was rejected. Each variant is one counted reason in the
/// daemon's statistics; [`DecodeError::reason`] gives its stable name.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DecodeError {
    #[error(
        "bad topic {0:?}: expected 3 bytes, system T/S/P, kind L/P/H, encoding J/P \
         (J only for H); a heartbeat (H) is not a record"
    )]
    BadTopic(String),
    #[error("wrong frame count: expected 2 frames [topic, body], got {0}")]
    FrameCount(usize),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("bad pickle: {0}")]
    BadPickle(String),
    #[error("body nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("body expands to more than {limit} values")]
    TooManyValues { limit: usize },
    #[error("body is not a map but {0}")]
    NotAMap(&'static str),
    #[error("bad heartbeat: {0}")]
    BadHeartbeat(&'static str),
}

impl DecodeError {
    /// The stable, machine-readable name of the reason, as counted in `/api/stats`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::BadTopic(_) => "bad_topic",
            DecodeError::FrameCount(_) => "frame_count",
            DecodeError::InvalidJson(_) => "invalid_json",
            DecodeError::BadPickle(_) => "bad_pickle",
            DecodeError::TooDeep { .. } => "too_deep",
            DecodeError::TooLarge { .. } | DecodeError::TooManyValues { .. } => "too_large",
            DecodeError::NotAMap(_) => "not_a_map",
            DecodeError::BadHeartbeat(_) => "bad_heartbeat",
        }
    }

    /// Every reason, in a fixed order, so statistics can list zero counts too.
    pub const REASONS: [&'static str; 8] = [
        "bad_topic",
        "frame_count",
        "invalid_json",
        "bad_pickle",
        "too_deep",
        "too_large",
        "not_a_map",
        "bad_heartbeat",
    ];
}
