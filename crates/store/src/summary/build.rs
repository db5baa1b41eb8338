//! Building a segment's summary from its records as they are written.

use rustc_hash::FxHashSet;

use super::file::{DIR_ENTRY_LEN, HEADER_LEN, MAGIC, VERSION};
use super::{ScopeEntry, TaskTable};
use crate::entry::EntryRef;

/// What a summary needs of one record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rec<'a> {
    pub id: u64,
    /// The scope path as the key spells it.
    pub scope: &'a str,
    pub seq: u64,
    pub levelno: i64,
    pub host: &'a str,
    pub process: Option<i64>,
    /// A scope event (open, close, fail): the skeleton needs the record.
    pub event: bool,
}

impl<'a> Rec<'a> {
    pub(crate) fn of(e: &EntryRef<'a>) -> Rec<'a> {
        let (scope, seq) = e.key.map_or(("", u64::MAX), |k| (k.1, k.2));
        Rec {
            id: e.id,
            scope,
            seq,
            levelno: e.levelno,
            host: e.host,
            process: e.process,
            event: super::kept(e),
        }
    }
}

/// Takes a segment's records in file order, each with the block it went
/// into, and makes the summary file's bytes.
#[derive(Default)]
pub(crate) struct Builder {
    done: Vec<Section>,
    current: Option<Current>,
}

struct Section {
    task: u64,
    table: Vec<u8>,
    area: Vec<u8>,
}

struct Current {
    task: u64,
    table: TaskTable,
    processes: FxHashSet<(String, i64)>,
    last_process: Option<(String, i64)>,
    area: Vec<u8>,
    /// The current scope's least record so far.
    first: Option<Least>,
}

/// A scope's least record by (seq, id), and its payload unless it is a
/// scope event (those are in the area already).
type Least = ((u64, u64), Option<Vec<u8>>);

impl Current {
    fn end_scope(&mut self) {
        if let Some((_, Some(payload))) = self.first.take() {
            put_payload(&mut self.area, &payload);
        }
    }
}

fn put_payload(area: &mut Vec<u8>, payload: &[u8]) {
    // Fits: a record is far below 4 GiB (the segment writer refuses more
    // than a block can hold).
    area.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    area.extend_from_slice(payload);
}

impl Builder {
    /// One record, in the order of the segment. Records outside any task
    /// (task 0) are not summarised.
    pub(crate) fn push(&mut self, task: u64, block: u32, e: &Rec<'_>, payload: &[u8]) {
        if task == 0 {
            return;
        }
        if self.current.as_ref().is_some_and(|c| c.task != task) {
            self.close();
        }
        let c = self.current.get_or_insert_with(|| Current {
            task,
            table: TaskTable::default(),
            processes: FxHashSet::default(),
            last_process: None,
            area: Vec::new(),
            first: None,
        });
        if let Some(pid) = e.process {
            // Runs of one process are the rule: no pair built for those.
            if c.last_process
                .as_ref()
                .is_none_or(|(h, p)| *p != pid || h != e.host)
            {
                let pair = (e.host.to_owned(), pid);
                if c.processes.insert(pair.clone()) {
                    c.table.processes.push(pair.clone());
                }
                c.last_process = Some(pair);
            }
        }
        let (scope, seq) = (e.scope, e.seq);
        let error = u32::from(e.levelno >= 40);
        let same = c.table.scopes.last().is_some_and(|s| s.scope == scope);
        if same {
            if let Some(s) = c.table.scopes.last_mut() {
                s.last_block = block;
                s.records += 1;
                s.errors += error;
            }
        } else {
            c.end_scope();
            c.table.scopes.push(ScopeEntry {
                scope: scope.to_owned(),
                first_block: block,
                last_block: block,
                records: 1,
                errors: error,
            });
        }
        let event = e.event;
        if event {
            put_payload(&mut c.area, payload);
        }
        // Sorted segments give each scope's least record first; the test
        // keeps a summary right for any order.
        let at = (seq, e.id);
        if c.first.as_ref().is_none_or(|(f, _)| at < *f) {
            c.first = Some((at, (!event).then(|| payload.to_vec())));
        }
    }

    fn close(&mut self) {
        let Some(mut c) = self.current.take() else {
            return;
        };
        c.end_scope();
        let mut table = Vec::new();
        encode_table(&c.table, &mut table);
        self.done.push(Section {
            task: c.task,
            table,
            // Compressed as the segment's blocks are: uncompressed, the
            // scope events of a task of small scopes came to half the
            // size of its segments (bench/ui/trees.py's task).
            area: zstd::bulk::compress(&c.area, 1).unwrap_or_default(),
        });
    }

    /// The summary file's bytes, for the segment whose
    /// [`identity`](super::identity) is `of`.
    pub(crate) fn finish(mut self, of: (u64, u64)) -> Vec<u8> {
        self.close();
        let n = self.done.len();
        let mut dir = Vec::with_capacity(n * DIR_ENTRY_LEN);
        let mut at = (HEADER_LEN + n * DIR_ENTRY_LEN) as u64;
        for s in &self.done {
            dir.extend_from_slice(&s.task.to_le_bytes());
            for part in [&s.table, &s.area] {
                dir.extend_from_slice(&at.to_le_bytes());
                dir.extend_from_slice(&(part.len() as u32).to_le_bytes());
                dir.extend_from_slice(&crc32fast::hash(part).to_le_bytes());
                at += part.len() as u64;
            }
        }
        let mut out = Vec::with_capacity(at as usize);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&dir).to_le_bytes());
        out.extend_from_slice(&of.0.to_le_bytes());
        out.extend_from_slice(&of.1.to_le_bytes());
        out.extend_from_slice(&dir);
        for s in &self.done {
            out.extend_from_slice(&s.table);
            out.extend_from_slice(&s.area);
        }
        out
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_table(t: &TaskTable, out: &mut Vec<u8>) {
    out.extend_from_slice(&(t.processes.len() as u32).to_le_bytes());
    for (host, pid) in &t.processes {
        put_str(out, host);
        out.extend_from_slice(&pid.to_le_bytes());
    }
    out.extend_from_slice(&(t.scopes.len() as u32).to_le_bytes());
    for s in &t.scopes {
        put_str(out, &s.scope);
        for v in [s.first_block, s.last_block, s.records, s.errors] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// The summary of a segment written without one, from its blocks. A block
/// that cannot be read fails the whole: the segment is then read the old
/// way, which skips and counts the damaged block.
pub(crate) fn of_segment(seg: &crate::segment::Segment) -> Result<Vec<u8>, crate::StoreError> {
    let mut b = Builder::default();
    for i in 0..seg.blocks().len() {
        let block = seg.read_block(i)?;
        for r in block.records() {
            if let Ok(e) = crate::entry::decode(r.payload) {
                b.push(r.task, i as u32, &Rec::of(&e), r.payload);
            }
        }
    }
    Ok(b.finish(super::identity(seg)))
}
