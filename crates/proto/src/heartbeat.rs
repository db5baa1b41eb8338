//! Heartbeats: a client's sign of life while it has scopes open, so the
//! daemon can tell a long silent step from a dead process. Never a record:
//! not stored, not routed. See `docs/protocol.md`, "Heartbeats".

use std::collections::HashMap;

use serde_json::value::RawValue;

use crate::record::fields::{check_json_depth, json_error, raw_f64, raw_i64, raw_string};
use crate::{DecodeError, Limits};

/// One heartbeat: which process is alive, and how many scopes it has open.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub hostname: String,
    pub process: i64,
    /// When the client sent it, seconds since the epoch.
    pub created: Option<f64>,
    pub open_scopes: Option<u64>,
}

/// Decodes a heartbeat body (JSON, whatever the client's record encoding),
/// e.g. `{"hostname": "obelix", "process": 6156, "created": 1733230000.25,
/// "open_scopes": 2}`. `hostname` (a string) and `process` (an integer)
/// are required; `created` and `open_scopes` of the wrong type count as
/// absent, as fields of records do.
pub fn decode_heartbeat(body: &[u8], limits: &Limits) -> Result<Heartbeat, DecodeError> {
    if body.len() > limits.max_body {
        return Err(DecodeError::TooLarge {
            size: body.len(),
            limit: limits.max_body,
        });
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| DecodeError::InvalidJson(format!("not UTF-8: {e}")))?;
    if !text.trim_start().starts_with('{') {
        return Err(DecodeError::BadHeartbeat("body is not a JSON map"));
    }
    check_json_depth(text.as_bytes(), limits.max_depth)?;
    // A few per process every few seconds: serde_json's map is fast enough,
    // and inserting keeps the last of a repeated field, as for records.
    let fields: HashMap<String, &RawValue> = serde_json::from_str(text).map_err(json_error)?;
    let field = |name: &str| fields.get(name).map(|raw| raw.get());
    let hostname = field("hostname")
        .and_then(raw_string)
        .ok_or(DecodeError::BadHeartbeat("no \"hostname\" string"))?;
    let process = field("process")
        .filter(|raw| !raw.starts_with('"'))
        .and_then(raw_i64)
        .ok_or(DecodeError::BadHeartbeat("no \"process\" number"))?;
    Ok(Heartbeat {
        hostname,
        process,
        created: field("created").and_then(raw_f64),
        open_scopes: field("open_scopes").and_then(|raw| raw.parse::<u64>().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &str) -> Result<Heartbeat, DecodeError> {
        decode_heartbeat(body.as_bytes(), &Limits::default())
    }

    #[test]
    fn a_heartbeat_decodes_with_every_field() {
        let hb = decode(
            r#"{"hostname": "obelix", "process": 6156, "created": 1733230000.25,
            "open_scopes": 2}"#,
        )
        .expect("decodes");
        assert_eq!(
            hb,
            Heartbeat {
                hostname: "obelix".into(),
                process: 6156,
                created: Some(1733230000.25),
                open_scopes: Some(2),
            }
        );
    }

    #[test]
    fn created_and_open_scopes_are_optional_and_extra_fields_are_ignored() {
        let hb = decode(r#"{"process": 1, "hostname": "h", "open_scopes": "x", "v": [1]}"#)
            .expect("decodes");
        assert_eq!((hb.created, hb.open_scopes), (None, None));
    }

    #[test]
    fn a_heartbeat_without_hostname_or_process_is_a_bad_heartbeat() {
        for body in [
            r#"{"process": 6156}"#,
            r#"{"hostname": 7, "process": 6156}"#,
            r#"{"hostname": "obelix"}"#,
            r#"{"hostname": "obelix", "process": "6156"}"#,
            r#"{"hostname": "obelix", "process": null}"#,
            r#"[1]"#,
        ] {
            let err = decode(body).expect_err(body);
            assert_eq!(err.reason(), "bad_heartbeat", "{body}: {err}");
        }
    }

    #[test]
    fn malformed_heartbeats_get_the_usual_reasons() {
        assert_eq!(
            decode("{\"hostname\": ").expect_err("cut").reason(),
            "invalid_json"
        );
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(decode(&deep).expect_err("deep").reason(), "too_deep");
        let err = decode_heartbeat(b"\xff{}", &Limits::default()).expect_err("not UTF-8");
        assert_eq!(err.reason(), "invalid_json");
    }

    #[test]
    fn a_heartbeat_is_never_decoded_as_a_record() {
        let topic = crate::Topic::parse(b"PHJ").expect("topic");
        let body = br#"{"hostname": "obelix", "process": 6156}"#;
        let err = crate::decode(topic, body, &Limits::default()).expect_err("not a record");
        assert_eq!(err.reason(), "bad_topic");
    }
}
