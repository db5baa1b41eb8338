//! `log` → distlog: `log::info!` and friends inside a scope become records
//! in that scope.

use std::borrow::Cow;

use crate::record::{emit_with, Event, Level, Site};

/// A `log::Log` that sends every record through distlog.
pub struct LogBridge {
    max: log::LevelFilter,
}

impl LogBridge {
    /// Installs the bridge as the `log` facade's logger.
    pub fn install(max: log::LevelFilter) -> Result<(), log::SetLoggerError> {
        log::set_boxed_logger(Box::new(LogBridge { max }))?;
        log::set_max_level(max);
        crate::levels::note_bridge_max(max);
        Ok(())
    }
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // A level pushed by distlogd (`distlog level`) replaces the
        // installed one for the loggers and tasks it names.
        if let Some(pushed) = crate::levels::threshold(metadata.target()) {
            return number(metadata.level()) >= pushed;
        }
        metadata.level() <= self.max
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warning,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        };
        let site = Site {
            file: match record.file_static() {
                Some(f) => Cow::Borrowed(f),
                None => Cow::Owned(record.file().unwrap_or("").to_owned()),
            },
            line: record.line().unwrap_or(0),
            module: record.module_path_static().map(Cow::Borrowed),
        };
        let target: Cow<'static, str> = Cow::Owned(record.target().to_owned());
        emit_with(
            level,
            target,
            record.args().to_string(),
            site,
            None,
            Event::None,
            None,
        );
    }

    fn flush(&self) {}
}

fn number(level: log::Level) -> i64 {
    match level {
        log::Level::Error => 40,
        log::Level::Warn => 30,
        log::Level::Info => 20,
        log::Level::Debug => 10,
        log::Level::Trace => 5,
    }
}
