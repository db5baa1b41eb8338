//! What a panic said and where, for the failure record of every scope the
//! unwinding closes. Drop cannot see the panic's payload, so a hook (chained
//! in front of whatever hook was installed before) leaves it in a
//! thread-local for the guards to read.

use std::cell::RefCell;
use std::sync::Once;

/// One panic, as the failure record shows it.
#[derive(Debug, Clone)]
pub(crate) struct PanicNote {
    pub(crate) payload: String,
    /// `file:line:col`, if the panic knew it.
    pub(crate) location: Option<String>,
    pub(crate) thread: String,
}

impl PanicNote {
    /// The text for `exc_text`, laid out as Rust's default hook prints it:
    /// a reader (and the web UI, which shows the last line) finds the
    /// payload last, as in a Python traceback.
    pub(crate) fn exc_text(&self) -> String {
        match &self.location {
            Some(at) => format!(
                "thread '{}' panicked at {at}:\n{}",
                self.thread, self.payload
            ),
            None => format!("thread '{}' panicked:\n{}", self.thread, self.payload),
        }
    }

    /// One line for the failure record's message.
    pub(crate) fn summary(&self) -> String {
        match &self.location {
            Some(at) => format!("panicked at {at}: {}", self.payload),
            None => format!("panicked: {}", self.payload),
        }
    }
}

thread_local! {
    static LAST: RefCell<Option<PanicNote>> = const { RefCell::new(None) };
}

/// Installs our hook once per process, in front of the one installed
/// before (the default hook, or the program's own), which still runs.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let payload = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_owned()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "Box<dyn Any>".to_owned()
            };
            let note = PanicNote {
                payload,
                location: info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
                thread: std::thread::current()
                    .name()
                    .unwrap_or("<unnamed>")
                    .to_owned(),
            };
            // During thread-local teardown there is nowhere to put it; the
            // guards then fall back to a note without the payload.
            let _ = LAST.try_with(|last| {
                if let Ok(mut last) = last.try_borrow_mut() {
                    *last = Some(note);
                }
            });
            previous(info);
        }));
    });
}

/// The panic unwinding this thread, as the hook saw it. Every guard the
/// unwinding drops reads the same note, so nested scopes all carry it.
pub(crate) fn current() -> Option<PanicNote> {
    if !std::thread::panicking() {
        return None;
    }
    LAST.try_with(|last| last.try_borrow().ok().and_then(|l| l.clone()))
        .ok()
        .flatten()
}
