//! `tracing` → distlog: spans become scopes (their fields the context),
//! events become records in the scope of the span they occur in.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::record::{emit_with, Event, Level, Site};
use crate::scope::{self, Scope};

/// A `tracing_subscriber` layer: add it to a registry.
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// let subscriber = tracing_subscriber::registry().with(distlog::DistlogLayer);
/// tracing::subscriber::set_global_default(subscriber).unwrap();
/// ```
pub struct DistlogLayer;

/// What a span carries in its extensions.
struct SpanScope {
    scope: Arc<Scope>,
    name: String,
    started: Instant,
    site: Site,
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    map: Map<String, Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.map.insert(field.name().to_owned(), value);
        }
    }
}

fn level(l: &tracing::Level) -> Level {
    match *l {
        tracing::Level::ERROR => Level::Error,
        tracing::Level::WARN => Level::Warning,
        tracing::Level::INFO => Level::Info,
        tracing::Level::DEBUG => Level::Debug,
        tracing::Level::TRACE => Level::Trace,
    }
}

fn site(meta: &'static tracing::Metadata<'static>) -> Site {
    Site {
        file: Cow::Borrowed(meta.file().unwrap_or("")),
        line: meta.line().unwrap_or(0),
        module: meta.module_path().map(Cow::Borrowed),
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for DistlogLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        // The parent is the enclosing span's scope, else the distlog scope
        // open on this thread, else none: a new root.
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<SpanScope>().map(|s| s.scope.clone()))
            .or_else(scope::current);
        let id = match parent {
            Some(p) => p.next_child(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let scope = scope::new_scope(id, fields.map);
        scope::opened();
        let name = fields.message.unwrap_or_else(|| span.name().to_owned());
        let meta = span.metadata();
        let s = site(meta);
        emit_with(
            level(meta.level()),
            Cow::Borrowed(meta.target()),
            name.clone(),
            s.clone(),
            Some(&scope),
            Event::Open,
            None,
        );
        span.extensions_mut().insert(SpanScope {
            scope,
            name,
            started: Instant::now(),
            site: s,
        });
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let in_span = ctx.event_span(event).and_then(|span| {
            span.extensions()
                .get::<SpanScope>()
                .map(|s| s.scope.clone())
        });
        let message = fields.message.unwrap_or_default();
        let extra = (!fields.map.is_empty()).then_some(fields.map);
        emit_with(
            level(meta.level()),
            Cow::Borrowed(meta.target()),
            message,
            site(meta),
            in_span.as_ref(),
            Event::None,
            extra,
        );
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(s) = span.extensions_mut().remove::<SpanScope>() else {
            return;
        };
        let duration = s.started.elapsed().as_secs_f64();
        scope::closed();
        emit_with(
            Level::Info,
            Cow::Borrowed(span.metadata().target()),
            s.name,
            s.site,
            Some(&s.scope),
            Event::Close { duration },
            None,
        );
    }
}
