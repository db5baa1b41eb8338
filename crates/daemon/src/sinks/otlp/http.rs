//! One POST of an export request, and what its answer means for it.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;

use super::send::Signal;

pub enum Outcome {
    Sent {
        rejected: usize,
    },
    Refused(String),
    TooLarge(String),
    Redirected(String),
    Retry {
        why: String,
        after: Option<Duration>,
    },
}

pub fn attempt(
    agent: &ureq::Agent,
    endpoint: &str,
    headers: &[(String, String)],
    (signal, body): (Signal, &[u8]),
    timeout: Duration,
) -> Outcome {
    let path = match signal {
        Signal::Logs => "/v1/logs",
        Signal::Traces => "/v1/traces",
    };
    let mut req = agent
        .post(format!("{endpoint}{path}"))
        .header("Content-Type", "application/x-protobuf")
        .config()
        .timeout_global(Some(timeout))
        .build();
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut resp = match req.send(body) {
        Ok(resp) => resp,
        Err(e) => {
            return Outcome::Retry {
                why: e.to_string(),
                after: None,
            }
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        });
    // Bounded: a receiver's error page is read for the log line only.
    let answer = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    match status {
        200..=299 => Outcome::Sent {
            rejected: partial_rejects(signal, &answer),
        },
        300..=399 => Outcome::Redirected(match location {
            Some(l) => format!("HTTP {status} to {l}"),
            None => format!("HTTP {status}"),
        }),
        413 => Outcome::TooLarge(format!("HTTP 413{}", snippet(&answer))),
        408 | 429 | 500..=599 => Outcome::Retry {
            why: format!("HTTP {status}{}", snippet(&answer)),
            after: retry_after,
        },
        _ => Outcome::Refused(format!("HTTP {status}{}", snippet(&answer))),
    }
}

/// Items a 2xx answer says it rejected (OTLP's partial success).
fn partial_rejects(signal: Signal, body: &[u8]) -> usize {
    let n = match signal {
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_log_records),
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_spans),
    };
    usize::try_from(n).unwrap_or(0)
}

/// The start of an error answer, as text, for the log line. OTLP receivers
/// answer with a protobuf `Status` whose message is readable text too.
fn snippet(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}
