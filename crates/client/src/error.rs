use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("system must be 'T' (test), 'S' (staging) or 'P' (production), not {0:?}")]
    BadSystem(char),
    #[error("not a distlog task id: {id:?}: {problem} (expected <root-uuid>[/<n>]*)")]
    BadTaskId { id: String, problem: String },
    #[error("distlog is already initialised in this process")]
    AlreadyInitialised,
    #[error("connecting to {0}: {1}")]
    Connect(String, zmq::Error),
    #[error("ZeroMQ: {0}")]
    Zmq(#[from] zmq::Error),
    #[error("CURVE key: {0}")]
    Key(#[from] distlog_keys::KeyError),
    #[error("bad metric: {0}")]
    BadMetric(String),
    #[error("starting the sender thread: {0}")]
    Thread(std::io::Error),
}
