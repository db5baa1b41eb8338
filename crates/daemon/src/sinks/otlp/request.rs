//! Export requests: items grouped by the process that sent them (one OTLP
//! resource each) and, within it, by logger (one instrumentation scope).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, InstrumentationScope};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::values::{kv, text};

/// What groups records into one OTLP resource: the process that sent them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub host: String,
    pub process: Option<i64>,
    pub system: &'static str,
}

/// A log record or span with the process and logger it came from.
pub struct Item<T> {
    pub origin: Origin,
    pub logger: String,
    pub value: T,
}

fn resource(service: &str, o: &Origin) -> Resource {
    let mut attributes = vec![
        kv("service.name", text(service)),
        kv("host.name", text(o.host.clone())),
        kv("deployment.environment.name", text(o.system)),
    ];
    if let Some(p) = o.process {
        attributes.push(kv("process.pid", any_value::Value::IntValue(p)));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// Items grouped by process, then by logger, in the order first seen
/// within each.
fn group<T>(items: Vec<Item<T>>) -> BTreeMap<Origin, BTreeMap<String, Vec<T>>> {
    let mut out: BTreeMap<Origin, BTreeMap<String, Vec<T>>> = BTreeMap::new();
    for it in items {
        out.entry(it.origin)
            .or_default()
            .entry(it.logger)
            .or_default()
            .push(it.value);
    }
    out
}

fn scope_of(logger: String) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: logger,
        ..Default::default()
    })
}

pub fn logs_request(service: &str, items: Vec<Item<LogRecord>>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: group(items)
            .into_iter()
            .map(|(origin, loggers)| ResourceLogs {
                resource: Some(resource(service, &origin)),
                scope_logs: loggers
                    .into_iter()
                    .map(|(logger, log_records)| ScopeLogs {
                        scope: scope_of(logger),
                        log_records,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    }
}

pub fn traces_request(service: &str, items: Vec<Item<Span>>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: group(items)
            .into_iter()
            .map(|(origin, loggers)| ResourceSpans {
                resource: Some(resource(service, &origin)),
                scope_spans: loggers
                    .into_iter()
                    .map(|(logger, spans)| ScopeSpans {
                        scope: scope_of(logger),
                        spans,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    }
}
