//! Safe pickle decoding (placeholder until the decoder lands).

use serde_json::Value;

use crate::{DecodeError, Limits};

/// Decodes a pickle (protocols 0–5) into a JSON value without running code.
pub fn to_json(_input: &[u8], _limits: &Limits) -> Result<Value, DecodeError> {
    Err(DecodeError::BadPickle("pickle decoding not implemented yet".into()))
}
