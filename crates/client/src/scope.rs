//! Scopes: the tree of tasks and subtasks.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::record::{emit, Event, Level, Site};

/// One open scope, shared by the guard, the threads that log into it and
/// futures that carry it. Counters are atomic: threads sharing a scope never
/// get the same key.
#[derive(Debug)]
pub struct Scope {
    id: String,
    context: Mutex<Map<String, Value>>,
    seq: AtomicU64,
    children: AtomicU32,
}

impl Scope {
    fn new(id: String, context: Map<String, Value>) -> Arc<Scope> {
        Arc::new(Scope {
            id,
            context: Mutex::new(context),
            seq: AtomicU64::new(0),
            children: AtomicU32::new(0),
        })
    }

    /// The scope id: `<root-uuid>[/<n>]*`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key of the scope's next record: `<seq>@<scope-id>`.
    pub(crate) fn next_key(&self) -> String {
        format!("{}@{}", self.seq.fetch_add(1, Ordering::Relaxed), self.id)
    }

    pub(crate) fn context(&self) -> Map<String, Value> {
        match self.context.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reserves the next subtask slot: `<scope-id>/<n>`.
    pub fn next_child(&self) -> String {
        format!(
            "{}/{}",
            self.id,
            self.children.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// Adds fields to the context of the scope's later records.
    pub fn bind(&self, key: impl Into<String>, value: impl Into<Value>) {
        let mut ctx = match self.context.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        ctx.insert(key.into(), value.into());
    }
}

pub(crate) fn new_scope(id: String, context: Map<String, Value>) -> Arc<Scope> {
    Scope::new(id, context)
}

/// Scopes open in the process (guards alive, spans not closed): the
/// sender's heartbeats run while this is above zero.
static OPEN: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn opened() {
    OPEN.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn closed() {
    // Opens and closes pair up; saturate anyway so a bug cannot wrap the
    // count into heartbeats forever.
    let _ = OPEN.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

pub(crate) fn open_scopes() -> usize {
    OPEN.load(Ordering::Relaxed)
}

thread_local! {
    static CURRENT: RefCell<Vec<Arc<Scope>>> = const { RefCell::new(Vec::new()) };
}

/// The innermost scope open on this thread (or carried by the future being
/// polled), if any.
pub fn current() -> Option<Arc<Scope>> {
    CURRENT.with(|c| c.borrow().last().cloned())
}

pub(crate) fn push(scope: Arc<Scope>) {
    CURRENT.with(|c| c.borrow_mut().push(scope));
}

pub(crate) fn pop(scope: &Arc<Scope>) {
    CURRENT.with(|c| {
        let mut stack = c.borrow_mut();
        // Guards usually drop in order; if not, remove this one wherever it is.
        if let Some(i) = stack.iter().rposition(|s| Arc::ptr_eq(s, scope)) {
            stack.remove(i);
        }
    });
}

/// How a scope starts: a new root, a subtask of the current scope, or a
/// foreign slot handed over from another process.
enum Start {
    Root,
    Child,
    Import(String),
}

/// A scope being described, before it opens. Add context fields with
/// [`field`](TaskBuilder::field), then [`enter`](TaskBuilder::enter).
#[must_use = "a task opens only when entered"]
pub struct TaskBuilder {
    message: String,
    start: Start,
    context: Map<String, Value>,
}

impl TaskBuilder {
    /// Adds a typed context field (string, number, bool, or any JSON value).
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Value>) -> TaskBuilder {
        self.context.insert(key.into(), value.into());
        self
    }

    /// Opens the scope on this thread, sends its opening record, and
    /// returns the guard that closes it.
    #[track_caller]
    pub fn enter(self) -> Task {
        let site = Site::caller();
        let id = match self.start {
            Start::Import(id) => id,
            Start::Child => match current() {
                Some(parent) => parent.next_child(),
                None => uuid::Uuid::new_v4().to_string(),
            },
            Start::Root => uuid::Uuid::new_v4().to_string(),
        };
        let scope = Scope::new(id, self.context);
        push(scope.clone());
        opened();
        emit(
            Level::Info,
            "root",
            self.message.clone(),
            site.clone(),
            Some(&scope),
            Event::Open,
        );
        Task {
            scope,
            message: self.message,
            success: None,
            failure: None,
            started: Instant::now(),
            site,
        }
    }
}

/// An open scope. Dropping it sends the closing record (or, during a panic
/// or after [`fail`](Task::fail), a failure record at ERROR).
#[must_use = "the scope closes when this guard is dropped"]
pub struct Task {
    scope: Arc<Scope>,
    message: String,
    success: Option<String>,
    failure: Option<String>,
    started: Instant,
    site: Site,
}

impl Task {
    pub fn id(&self) -> &str {
        self.scope.id()
    }

    /// The shared scope, to carry into other threads or futures.
    pub fn scope(&self) -> Arc<Scope> {
        self.scope.clone()
    }

    /// The closing record's message when the scope ends normally.
    pub fn success(&mut self, message: impl Into<String>) {
        self.success = Some(message.into());
    }

    /// Ends the scope as failed when dropped, with `error` as `exc_text`.
    pub fn fail(&mut self, error: impl std::fmt::Display) {
        self.failure = Some(error.to_string());
    }

    pub fn bind(&self, key: impl Into<String>, value: impl Into<Value>) {
        self.scope.bind(key, value);
    }

    /// Reserves the next subtask slot for another process, which continues
    /// it with [`import_task`]. Sends nothing.
    pub fn get_foreign_task(&self) -> String {
        self.scope.next_child()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let duration = self.started.elapsed().as_secs_f64();
        // Counted closed before the closing record is queued, so no
        // heartbeat can follow it on the wire.
        closed();
        let failure = match self.failure.take() {
            Some(error) => Some((self.message.clone(), error)),
            None if std::thread::panicking() => Some(match crate::panic::current() {
                Some(note) => (
                    format!("{}: {}", self.message, note.summary()),
                    note.exc_text(),
                ),
                // Our hook was replaced or never ran on this thread.
                None => (
                    self.message.clone(),
                    "panicked while this scope was open".to_owned(),
                ),
            }),
            None => None,
        };
        match failure {
            Some((message, exc_text)) => emit(
                Level::Error,
                "root",
                message,
                self.site.clone(),
                Some(&self.scope),
                Event::Fail { duration, exc_text },
            ),
            None => emit(
                Level::Info,
                "root",
                self.success.take().unwrap_or_else(|| self.message.clone()),
                self.site.clone(),
                Some(&self.scope),
                Event::Close { duration },
            ),
        }
        pop(&self.scope);
    }
}

/// A new root task: the outermost scope of a tree.
pub fn task(message: impl Into<String>) -> TaskBuilder {
    builder(message, Start::Root)
}

/// A subtask of the current scope (a new root task if none is open).
pub fn to(message: impl Into<String>) -> TaskBuilder {
    builder(message, Start::Child)
}

/// A scope continuing a slot handed over from elsewhere; `id` is valid.
pub(crate) fn imported(id: String, message: impl Into<String>) -> TaskBuilder {
    builder(message, Start::Import(id))
}

fn builder(message: impl Into<String>, start: Start) -> TaskBuilder {
    TaskBuilder {
        message: message.into(),
        start,
        context: Map::new(),
    }
}
