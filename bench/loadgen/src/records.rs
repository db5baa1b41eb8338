//! Realistic record streams: what a Python service using distlog sends.
//!
//! Each stream is one simulated process (a host name, a pid, a thread).
//! It runs root tasks one after the other; a task of `task_records` records
//! opens (`seq` 0, `scope_event: "open"`), logs, opens subtasks (keys
//! `<seq>@<uuid>/<n>[/<m>…]`, up to three levels deep) that log and close
//! themselves, and finally closes (`scope_event: "close"` with
//! `scope_duration`). About one subtask in 200 fails instead (level ERROR,
//! `exc_text`, `scope_event: "fail"`). Between tasks, now and then, a record
//! outside any scope (`context: null`). Every body carries the tutorial's
//! field set (Python's `LogRecord.__dict__` plus `hostname` and `context`)
//! and weighs about 600 bytes as JSON.
//!
//! One record message in 1,000 holds the rare word [`RARE_WORD`], so a
//! search benchmark has a selective word to look for; every message holds
//! one of [`COMMON_WORDS`].

use crate::value::Value;

/// A word in about one message in 1,000.
pub const RARE_WORD: &str = "zanzibar";
/// Words that many messages hold.
pub const COMMON_WORDS: &[&str] = &["batch", "cache", "query", "request", "order"];

/// Deepest subtask nesting below a root.
const MAX_DEPTH: usize = 3;

/// A small, fast, seedable generator (SplitMix64); benchmarks need
/// reproducible streams, not cryptographic randomness.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A random version-4 UUID in its usual text form.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Where a simulated function lives.
struct Site {
    logger: &'static str,
    pathname: &'static str,
    filename: &'static str,
    module: &'static str,
    func: &'static str,
}

const SITES: &[Site] = &[
    Site {
        logger: "app.orders",
        pathname: "/srv/shop/orders/service.py",
        filename: "service.py",
        module: "service",
        func: "process_orders",
    },
    Site {
        logger: "app.db.pool",
        pathname: "/srv/shop/db/pool.py",
        filename: "pool.py",
        module: "pool",
        func: "checkout",
    },
    Site {
        logger: "app.http",
        pathname: "/srv/shop/http/client.py",
        filename: "client.py",
        module: "client",
        func: "request",
    },
    Site {
        logger: "worker.jobs",
        pathname: "/srv/shop/worker/jobs.py",
        filename: "jobs.py",
        module: "jobs",
        func: "run_job",
    },
    Site {
        logger: "root",
        pathname: "/srv/shop/bin/nightly.py",
        filename: "nightly.py",
        module: "nightly",
        func: "main",
    },
];

const ENTITIES: &[&str] = &["orders", "invoices", "customers", "shipments", "refunds"];
const SERVICES: &[&str] = &["billing", "inventory", "payments", "search"];
const TABLES: &[&str] = &["orders", "order_lines", "customers", "stock"];
const USERS: &[&str] = &["leo", "ana", "kim", "raj", "zoe"];

/// One open scope of the stream's current task.
#[derive(Debug)]
struct Scope {
    id: String,
    message: String,
    /// The next `seq` to send.
    seq: u64,
    /// Records this scope still has to send, its closing record and its
    /// subtasks' records included.
    budget: u64,
    /// Subtasks opened so far (the last child slot `n`).
    children: u64,
    context: Vec<(String, Value)>,
    opened: f64,
}

/// What a stream has produced so far.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamCounts {
    pub records: u64,
    pub tasks: u64,
    pub scopes: u64,
    pub closed: u64,
    pub failed: u64,
    pub unscoped: u64,
    pub rare: u64,
}

/// One simulated process's records, forever.
#[derive(Debug)]
pub struct Stream {
    rng: Rng,
    task_records: u64,
    hostname: String,
    process: i64,
    thread: i64,
    thread_name: String,
    /// Simulated clock: seconds since the epoch, advancing ~1 ms a record.
    clock: f64,
    started: f64,
    stack: Vec<Scope>,
    /// An extra `payload` field of this many bytes on every record.
    padding: Option<String>,
    /// Root ids of the tasks started, the first [`ROOTS_KEPT`] of them.
    pub roots: Vec<String>,
    pub counts: StreamCounts,
}

/// How many root ids a stream remembers for the caller.
pub const ROOTS_KEPT: usize = 16;

impl Stream {
    /// A stream for simulated process `index`, reproducible from `seed`,
    /// starting its simulated clock at `epoch`; every task sends
    /// `task_records` records (at least 2: opening and closing).
    pub fn new(seed: u64, index: u64, task_records: u64, epoch: f64) -> Stream {
        let mut rng = Rng::new(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        let process = 1000 + rng.below(60_000) as i64;
        Stream {
            hostname: format!("web-{:02}", index % 100),
            process,
            thread: 139_753_641_113_344 + (rng.below(1 << 20) as i64) * 4096,
            thread_name: if index.is_multiple_of(2) {
                "MainThread".into()
            } else {
                format!("ThreadPoolExecutor-0_{}", index % 8)
            },
            rng,
            task_records: task_records.max(2),
            clock: epoch,
            started: epoch - 3600.0,
            stack: Vec::new(),
            padding: None,
            roots: Vec::new(),
            counts: StreamCounts::default(),
        }
    }

    /// Adds a `payload` field of `bytes` bytes of text to every record
    /// (as an `extra=` argument would), to make bodies larger.
    pub fn with_padding(mut self, bytes: usize) -> Stream {
        const TEXT: &str = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
        self.padding = (bytes > 0).then(|| TEXT.chars().cycle().take(bytes).collect());
        self
    }

    /// The next record's body.
    pub fn next_record(&mut self) -> Value {
        self.clock += 0.0005 + (self.rng.below(1000) as f64) * 1e-6;
        self.counts.records += 1;
        if self.stack.is_empty() {
            if self.rng.below(10) == 0 {
                self.counts.unscoped += 1;
                let msg = self.message_text();
                return self.body(msg, 20, None, None, None);
            }
            return self.open_root();
        }
        let depth = self.stack.len();
        let top = self.stack.len() - 1;
        if self.stack[top].budget == 1 {
            return self.close_top();
        }
        // A subtask needs at least its opening and closing records and
        // leaves the parent its closing record.
        if depth <= MAX_DEPTH && self.stack[top].budget >= 4 && self.rng.below(4) == 0 {
            let size = (3 + self.rng.below(6)).min(self.stack[top].budget - 1);
            return self.open_child(size);
        }
        let levelno = match self.rng.below(20) {
            0 => 30,
            1..=4 => 10,
            _ => 20,
        };
        let msg = self.message_text();
        let scope = &mut self.stack[top];
        let seq = scope.seq;
        scope.seq += 1;
        scope.budget -= 1;
        self.scoped_body(top, seq, msg, levelno, None)
    }

    fn open_root(&mut self) -> Value {
        let id = self.rng.uuid();
        if self.roots.len() < ROOTS_KEPT {
            self.roots.push(id.clone());
        }
        self.counts.tasks += 1;
        self.counts.scopes += 1;
        let message = format!("import {}", self.rng.pick(ENTITIES));
        let user = *self.rng.pick(USERS);
        let context = vec![("user".into(), Value::from(user))];
        self.push_scope(id, message, self.task_records, context)
    }

    fn open_child(&mut self, size: u64) -> Value {
        let parent = self.stack.len() - 1;
        let p = &mut self.stack[parent];
        p.budget -= size;
        p.children += 1;
        let id = format!("{}/{}", p.id, p.children);
        self.counts.scopes += 1;
        let entity = *self.rng.pick(ENTITIES);
        let n = self.rng.below(100_000);
        let message = format!("sync {entity} {n}");
        let context = vec![
            ("entity".into(), Value::from(entity)),
            ("arg".into(), Value::Int(n as i64)),
        ];
        self.push_scope(id, message, size, context)
    }

    fn push_scope(
        &mut self,
        id: String,
        message: String,
        budget: u64,
        context: Vec<(String, Value)>,
    ) -> Value {
        self.stack.push(Scope {
            id,
            message: message.clone(),
            seq: 1,
            budget: budget - 1,
            children: 0,
            context,
            opened: self.clock,
        });
        let top = self.stack.len() - 1;
        self.scoped_body(top, 0, message, 20, Some(("open", None)))
    }

    fn close_top(&mut self) -> Value {
        let top = self.stack.len() - 1;
        // Roots always succeed; one subtask in 200 fails.
        let fail = top > 0 && self.rng.below(200) == 0;
        let scope = &self.stack[top];
        let duration = self.clock - scope.opened;
        let (message, seq) = (scope.message.clone(), scope.seq);
        let body = if fail {
            self.counts.failed += 1;
            self.scoped_body(top, seq, message, 40, Some(("fail", Some(duration))))
        } else {
            self.counts.closed += 1;
            self.scoped_body(top, seq, message, 20, Some(("close", Some(duration))))
        };
        self.stack.pop();
        body
    }

    fn message_text(&mut self) -> String {
        if self.rng.below(1000) == 0 {
            self.counts.rare += 1;
            return format!(
                "checksum mismatch in {RARE_WORD} shard {}",
                self.rng.below(64)
            );
        }
        let n = self.rng.below(10_000);
        match self.rng.below(5) {
            0 => format!("processed batch {n} of {}", self.rng.pick(ENTITIES)),
            1 => format!("cache miss for {} {n}", self.rng.pick(ENTITIES)),
            2 => format!(
                "slow query on {} took {} ms",
                self.rng.pick(TABLES),
                100 + self.rng.below(2000)
            ),
            3 => format!(
                "request to {} took {} ms",
                self.rng.pick(SERVICES),
                self.rng.below(300)
            ),
            _ => format!("order {n} shipped"),
        }
    }

    fn scoped_body(
        &mut self,
        scope: usize,
        seq: u64,
        message: String,
        levelno: i64,
        event: Option<(&'static str, Option<f64>)>,
    ) -> Value {
        let s = &self.stack[scope];
        let mut context = Vec::with_capacity(s.context.len() + 1);
        context.push(("key".to_owned(), Value::Str(format!("{seq}@{}", s.id))));
        context.extend(s.context.iter().cloned());
        let exc = matches!(event, Some(("fail", _))).then(|| {
            format!(
                "Traceback (most recent call last):\n  File \"{}\", line 88, in {}\n    \
                 raise SyncError(entity)\nshop.errors.SyncError: upstream refused the update",
                SITES[0].pathname, SITES[0].func
            )
        });
        self.body(message, levelno, Some(Value::Dict(context)), event, exc)
    }

    fn body(
        &mut self,
        message: String,
        levelno: i64,
        context: Option<Value>,
        event: Option<(&'static str, Option<f64>)>,
        exc_text: Option<String>,
    ) -> Value {
        let site = self.rng.pick(SITES);
        let created = self.clock;
        let msecs = (created.fract() * 1000.0 * 1000.0).round() / 1000.0;
        let levelname = match levelno {
            10 => "DEBUG",
            30 => "WARNING",
            40 => "ERROR",
            _ => "INFO",
        };
        let mut fields: Vec<(String, Value)> = vec![
            ("name".into(), site.logger.into()),
            ("msg".into(), message.clone().into()),
            ("args".into(), Value::None),
            ("levelname".into(), levelname.into()),
            ("levelno".into(), Value::Int(levelno)),
            ("pathname".into(), site.pathname.into()),
            ("filename".into(), site.filename.into()),
            ("module".into(), site.module.into()),
            ("exc_info".into(), Value::None),
            ("exc_text".into(), exc_text.into()),
            ("stack_info".into(), Value::None),
            ("lineno".into(), Value::Int(20 + self.rng.below(400) as i64)),
            ("funcName".into(), site.func.into()),
            ("created".into(), Value::Float(created)),
            ("msecs".into(), Value::Float(msecs)),
            (
                "relativeCreated".into(),
                Value::Float(((created - self.started) * 1e6).round() / 1e3),
            ),
            ("thread".into(), Value::Int(self.thread)),
            ("threadName".into(), self.thread_name.clone().into()),
            ("processName".into(), "MainProcess".into()),
            ("process".into(), Value::Int(self.process)),
            ("message".into(), message.into()),
            ("asctime".into(), asctime(created).into()),
            ("hostname".into(), self.hostname.clone().into()),
            ("context".into(), context.unwrap_or(Value::None)),
        ];
        if let Some(p) = &self.padding {
            fields.push(("payload".into(), p.clone().into()));
        }
        if let Some((name, duration)) = event {
            fields.push(("scope_event".into(), name.into()));
            if let Some(d) = duration {
                fields.push(("scope_duration".into(), Value::Float(d)));
            }
        }
        Value::Dict(fields)
    }
}

/// `logging`'s default `asctime`: `2018-04-18 23:03:19,148` (UTC here).
pub fn asctime(epoch: f64) -> String {
    let secs = epoch.floor() as i64;
    let millis = ((epoch - secs as f64) * 1000.0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02},{millis:03}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use distlog_proto::{decode, Encoding, Limits, Topic};

    fn topic(encoding: Encoding) -> Result<Topic, Box<dyn std::error::Error>> {
        let text: &[u8] = match encoding {
            Encoding::Json => b"PLJ",
            Encoding::Pickle => b"PLP",
        };
        Ok(Topic::parse(text)?)
    }

    #[test]
    fn padding_adds_that_many_bytes() {
        let plain = Stream::new(5, 0, 20, 1.7e9).next_record().to_json().len();
        let padded = Stream::new(5, 0, 20, 1.7e9)
            .with_padding(4096)
            .next_record()
            .to_json()
            .len();
        assert_eq!(padded - plain, 4096 + r#", "payload": """#.len());
    }

    #[test]
    fn asctime_matches_the_tutorial() {
        assert_eq!(asctime(1_524_092_599.148_067), "2018-04-18 23:03:19,148");
    }

    #[test]
    fn a_task_opens_nests_and_closes_within_its_budget() -> Result<(), Box<dyn std::error::Error>> {
        let mut s = Stream::new(7, 0, 50, 1.7e9);
        let limits = Limits::default();
        let mut opened = 0;
        let mut closed = 0;
        let mut in_task = 0;
        let mut tasks_done = 0;
        while tasks_done < 3 {
            let body = s.next_record().to_json();
            let r = decode(topic(Encoding::Json)?, &body, &limits)?;
            assert!(r.key_error.is_none());
            let Some(key) = r.key else { continue };
            in_task += 1;
            match r.event.map(|e| e.as_str()) {
                Some("open") => opened += 1,
                Some("close" | "fail") => {
                    closed += 1;
                    assert!(r.duration.is_some());
                    if key.scope.path_text().is_empty() {
                        tasks_done += 1;
                    }
                }
                _ => {}
            }
        }
        assert_eq!(in_task, 150);
        assert_eq!(opened, closed);
        assert!(opened > 3, "subtasks were opened");
        Ok(())
    }

    #[test]
    fn bodies_weigh_about_600_bytes_and_decode_the_same_either_way(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut s = Stream::new(1, 3, 20, 1.7e9);
        let limits = Limits::default();
        let mut total = 0;
        for _ in 0..500 {
            let v = s.next_record();
            let json = v.to_json();
            total += json.len();
            let a = decode(topic(Encoding::Json)?, &json, &limits)?;
            let b = decode(topic(Encoding::Pickle)?, &v.to_pickle(), &limits)?;
            let a_body: serde_json::Value = serde_json::from_str(&a.body)?;
            let b_body: serde_json::Value = serde_json::from_str(&b.body)?;
            assert_eq!(a_body, b_body);
            assert_eq!(a.key, b.key);
        }
        let avg = total / 500;
        assert!((520..=720).contains(&avg), "average body {avg} bytes");
        Ok(())
    }
}
