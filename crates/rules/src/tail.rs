//! Tail decisions: whether a task has a failed scope is known only once
//! the task is over, so a router that routes on `task: failed` holds the
//! task's records here until the task is decided, then routes them all.
//!
//! A task is **decided**
//! - as *failed* the moment any of its scopes sends a failure record (its
//!   held records are released at once, and its later records pass
//!   straight through);
//! - as *not failed* (`Why::Closed`) once its root scope has closed, no
//!   scope it opened is still open, and no record of it has arrived for
//!   `grace`: a foreign process that joined the tree sends on its own
//!   connection, so its last records may arrive after the root's closing
//!   record, and each late one restarts the grace;
//! - as it stands (`Why::Timeout`) when no record of it has arrived for
//!   `timeout`, closed or not (a process died, or a scope's closing record
//!   was filtered out by level);
//! - as it stands (`Why::Bound`) when holding it would pass `max_tasks` or
//!   `max_bytes`: the task nearest its own decision goes first;
//! - as it stands (`Why::Flush`) when the router stops or is replaced.
//!
//! Decided outcomes are remembered (the last `remember` tasks), so a
//! record arriving after its task was decided is routed at once with the
//! same outcome; a failure arriving then turns the remembered outcome to
//! failed for the records that follow (they cannot recall what was already
//! routed), and is reported as late.
//!
//! Time is passed in, never read, so the rules are testable without
//! waiting.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use distlog_proto::ScopeEvent;
//! use distlog_rules::tail::{Seen, Tail, TailLimits, Why};
//!
//! let mut tail = Tail::new(TailLimits::default());
//! let t0 = Instant::now();
//! let (seen, _) = tail.observe("r1", &[], Some(ScopeEvent::Open), t0, Some(("open", 100)));
//! assert!(matches!(seen, Seen::Waiting));
//! tail.observe("r1", &[1], Some(ScopeEvent::Open), t0, Some(("child", 100)));
//! // The child fails: the task is failed, and what was held comes back.
//! let (seen, decided) = tail.observe("r1", &[1], Some(ScopeEvent::Fail), t0, Some(("fail", 100)));
//! assert!(matches!(seen, Seen::Known { failed: true, item: Some("fail"), .. }));
//! assert_eq!(decided[0].held, ["open", "child"]);
//! assert_eq!(decided[0].why, Why::Failed);
//! ```

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use distlog_proto::ScopeEvent;

/// How long tasks are held, and how many.
#[derive(Debug, Clone, PartialEq)]
pub struct TailLimits {
    /// After the root closes (and every known scope with it): how long to
    /// wait for late records of other processes.
    pub grace: Duration,
    /// A task with no record for this long is decided as it stands.
    pub timeout: Duration,
    /// Tasks held (open, undecided) at most.
    pub max_tasks: usize,
    /// Bytes of held records (and open-scope bookkeeping) at most.
    pub max_bytes: u64,
    /// Decided outcomes remembered for late records.
    pub remember: usize,
}

impl Default for TailLimits {
    fn default() -> Self {
        TailLimits {
            grace: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
            max_tasks: 10_000,
            max_bytes: 256 << 20,
            remember: 100_000,
        }
    }
}

/// Why a task was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// One of its scopes failed.
    Failed,
    /// Its root closed, and nothing more came within the grace.
    Closed,
    /// Nothing came for `timeout`.
    Timeout,
    /// Decided early: holding it would pass a bound.
    Bound,
    /// The router stopped or was replaced.
    Flush,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Failed => "failed",
            Why::Closed => "closed",
            Why::Timeout => "timeout",
            Why::Bound => "bound",
            Why::Flush => "flush",
        }
    }
}

/// A decided task and the records that were held for it, in arrival order.
#[derive(Debug)]
pub struct Decision<T> {
    pub root: String,
    pub failed: bool,
    pub why: Why,
    pub held: Vec<T>,
}

/// What to do with the record just observed.
#[derive(Debug)]
pub enum Seen<T> {
    /// The task's outcome is known: route the record with it now. The item
    /// offered is handed back. `late` is set when this record is a failure
    /// that arrived after its task had been decided as not failed.
    Known {
        failed: bool,
        item: Option<T>,
        late: bool,
    },
    /// Not known yet: the item offered, if any, is held.
    Waiting,
}

struct Open<T> {
    root: String,
    root_closed: bool,
    /// Scopes opened and not yet closed, by path.
    open_scopes: HashSet<Vec<u32>>,
    /// Its key in `Tail::by_deadline`.
    deadline: Instant,
    held: Vec<T>,
    /// Held records' weights plus the open-scope bookkeeping.
    bytes: u64,
}

impl<T> Open<T> {
    fn settled(&self) -> bool {
        self.root_closed && self.open_scopes.is_empty()
    }
}

/// What an entry costs besides its records: the map entries, the root id.
const TASK_OVERHEAD: u64 = 160;

/// `now + wait`, or as far off as the clock goes: limits come from
/// configuration, and a huge one must mean "never", not a panic.
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

fn scope_cost(path: &[u32]) -> u64 {
    48 + 4 * path.len() as u64
}

/// The open tasks, their held records, and the outcomes decided lately.
pub struct Tail<T> {
    limits: TailLimits,
    ids: HashMap<String, u64>,
    tasks: HashMap<u64, Open<T>>,
    /// Undecided tasks by when they are due: the first is the next to
    /// time out, and the first to go at a bound.
    by_deadline: BTreeMap<(Instant, u64), ()>,
    next_id: u64,
    decided: HashMap<String, bool>,
    decided_order: VecDeque<String>,
    held_bytes: u64,
    held_records: u64,
}

impl<T> Tail<T> {
    pub fn new(limits: TailLimits) -> Tail<T> {
        Tail {
            limits,
            ids: HashMap::new(),
            tasks: HashMap::new(),
            by_deadline: BTreeMap::new(),
            next_id: 0,
            decided: HashMap::new(),
            decided_order: VecDeque::new(),
            held_bytes: 0,
            held_records: 0,
        }
    }

    pub fn limits(&self) -> &TailLimits {
        &self.limits
    }

    /// Undecided tasks.
    pub fn held_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Records held for undecided tasks.
    pub fn held_records(&self) -> u64 {
        self.held_records
    }

    /// What the held tasks cost, as counted against `max_bytes`.
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// The remembered outcome of a decided task.
    pub fn outcome(&self, root: &str) -> Option<bool> {
        self.decided.get(root).copied()
    }

    /// Notes a record of task `root` at scope `path` with its scope
    /// `event`, arriving at `now`. `item` (with its weight in bytes) is held
    /// if the outcome is not known yet; pass `None` for a record that
    /// routes the same either way (it still counts for the task's state).
    /// Returns what to do with this record and the tasks decided meanwhile
    /// (this one on a failure, others at a bound).
    pub fn observe(
        &mut self,
        root: &str,
        path: &[u32],
        event: Option<ScopeEvent>,
        now: Instant,
        item: Option<(T, u64)>,
    ) -> (Seen<T>, Vec<Decision<T>>) {
        if let Some(failed) = self.decided.get_mut(root) {
            let late = !*failed && event == Some(ScopeEvent::Fail);
            if late {
                *failed = true;
            }
            let seen = Seen::Known {
                failed: *failed,
                item: item.map(|(t, _)| t),
                late,
            };
            return (seen, Vec::new());
        }
        let id = match self.ids.get(root) {
            Some(id) => *id,
            None => self.insert(root, now),
        };
        let limits_grace = self.limits.grace;
        let limits_timeout = self.limits.timeout;
        let Some(task) = self.tasks.get_mut(&id) else {
            // `ids` and `tasks` change together; unreachable, but route the
            // record rather than lose it.
            return (
                Seen::Known {
                    failed: false,
                    item: item.map(|(t, _)| t),
                    late: false,
                },
                Vec::new(),
            );
        };
        match event {
            Some(ScopeEvent::Open) if task.open_scopes.insert(path.to_vec()) => {
                task.bytes += scope_cost(path);
                self.held_bytes += scope_cost(path);
            }
            Some(ScopeEvent::Close | ScopeEvent::Fail) => {
                if task.open_scopes.remove(path) {
                    task.bytes -= scope_cost(path);
                    self.held_bytes -= scope_cost(path);
                }
                if path.is_empty() {
                    task.root_closed = true;
                }
            }
            Some(ScopeEvent::Open) | None => {}
        }
        if event == Some(ScopeEvent::Fail) {
            let decision = self.decide(id, Why::Failed, true);
            let seen = Seen::Known {
                failed: true,
                item: item.map(|(t, _)| t),
                late: false,
            };
            return (seen, decision.into_iter().collect());
        }
        if let Some((t, weight)) = item {
            task.held.push(t);
            task.bytes += weight;
            self.held_bytes += weight;
            self.held_records += 1;
        }
        let wait = if task.settled() {
            limits_grace
        } else {
            limits_timeout
        };
        let deadline = later(now, wait);
        if deadline != task.deadline {
            self.by_deadline.remove(&(task.deadline, id));
            task.deadline = deadline;
            self.by_deadline.insert((deadline, id), ());
        }
        (Seen::Waiting, self.enforce_bounds())
    }

    /// Decides every task due by `now`: closed ones past their grace,
    /// silent ones past the timeout.
    pub fn expire(&mut self, now: Instant) -> Vec<Decision<T>> {
        let mut out = Vec::new();
        while let Some((&(deadline, id), ())) = self.by_deadline.first_key_value() {
            if deadline > now {
                break;
            }
            let why = match self.tasks.get(&id) {
                Some(t) if t.settled() => Why::Closed,
                _ => Why::Timeout,
            };
            out.extend(self.decide(id, why, false));
        }
        out
    }

    /// Decides every held task as it stands: nothing is held afterwards.
    pub fn flush(&mut self) -> Vec<Decision<T>> {
        let ids: Vec<u64> = self.by_deadline.keys().map(|(_, id)| *id).collect();
        ids.into_iter()
            .filter_map(|id| self.decide(id, Why::Flush, false))
            .collect()
    }

    /// When the next task is due, if any is held.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.keys().next().map(|(d, _)| *d)
    }

    fn insert(&mut self, root: &str, now: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let deadline = later(now, self.limits.timeout);
        let bytes = TASK_OVERHEAD + root.len() as u64;
        self.held_bytes += bytes;
        self.tasks.insert(
            id,
            Open {
                root: root.to_owned(),
                root_closed: false,
                open_scopes: HashSet::new(),
                deadline,
                held: Vec::new(),
                bytes,
            },
        );
        self.ids.insert(root.to_owned(), id);
        self.by_deadline.insert((deadline, id), ());
        id
    }

    fn enforce_bounds(&mut self) -> Vec<Decision<T>> {
        let mut out = Vec::new();
        while self.tasks.len() > self.limits.max_tasks || self.held_bytes > self.limits.max_bytes {
            let Some((&(_, id), ())) = self.by_deadline.first_key_value() else {
                break;
            };
            out.extend(self.decide(id, Why::Bound, false));
        }
        out
    }

    fn decide(&mut self, id: u64, why: Why, failed: bool) -> Option<Decision<T>> {
        let task = self.tasks.remove(&id)?;
        self.by_deadline.remove(&(task.deadline, id));
        self.ids.remove(&task.root);
        self.held_bytes -= task.bytes;
        self.held_records -= task.held.len() as u64;
        self.remember(&task.root, failed);
        Some(Decision {
            root: task.root,
            failed,
            why,
            held: task.held,
        })
    }

    fn remember(&mut self, root: &str, failed: bool) {
        if self.limits.remember == 0 {
            return;
        }
        if self.decided.insert(root.to_owned(), failed).is_none() {
            self.decided_order.push_back(root.to_owned());
        }
        while self.decided_order.len() > self.limits.remember {
            if let Some(old) = self.decided_order.pop_front() {
                self.decided.remove(&old);
            }
        }
    }
}
