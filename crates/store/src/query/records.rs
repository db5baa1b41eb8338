//! Record lists: filters by time, level, logger, host, task, context and
//! words, newest first. Sources are read newest first (memory, then
//! segments by id range); blocks are skipped on their metadata and token
//! filters before any is decompressed; a source's matches are complete
//! before the next is read, so the answer stops at `limit` without
//! materialising every match.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::LazyLock;

use serde_json::Value;

use super::{row, Reader, Snapshot};
use crate::catalog::{self, context_conditions};
use crate::entry::{decode, EntryRef};
use crate::memtable::CHUNK;
use crate::segment::BlockMeta;
use crate::tokens::{self, Term};
use crate::{RecordFilter, RecordRow, StoreError};

/// A filter made ready: parsed once, tested per block and per record.
struct Plan {
    level: Option<i64>,
    logger: Option<String>,
    host: Option<String>,
    task: Option<u64>,
    since: Option<f64>,
    until: Option<f64>,
    after: Option<u64>,
    before: Option<u64>,
    terms: Vec<Term>,
    /// Token hashes every candidate block must hold.
    hashes: Vec<u64>,
    context: Vec<(String, String)>,
    ascending: bool,
    limit: usize,
    full: bool,
}

impl Plan {
    fn block_may_match(&self, m: &BlockMeta) -> bool {
        self.level.is_none_or(|l| m.max_level >= l)
            && self.since.is_none_or(|s| m.max_created >= s)
            && self.until.is_none_or(|u| m.min_created < u)
            && self.after.is_none_or(|a| m.max_id > a)
            && self.before.is_none_or(|b| m.min_id < b)
            && self.task.is_none_or(|t| m.min_task <= t && t <= m.max_task)
    }

    fn id_in_range(&self, id: u64) -> bool {
        self.after.is_none_or(|a| id > a) && self.before.is_none_or(|b| id < b)
    }

    fn matches(&self, e: &EntryRef<'_>, task: Option<u64>) -> bool {
        if !self.id_in_range(e.id)
            || self.level.is_some_and(|l| e.levelno < l)
            || self.since.is_some_and(|s| e.created < s)
            || self.until.is_some_and(|u| e.created >= u)
            || self.host.as_deref().is_some_and(|h| e.host != h)
        {
            return false;
        }
        if let (Some(want), Some(got)) = (self.task, task) {
            if want != got {
                return false;
            }
        }
        if let Some(logger) = &self.logger {
            // `a.b` matches `a.b` and its children `a.b.c`, as Python's
            // logger hierarchy does.
            let l = e.logger;
            if !(l == logger
                || (l.starts_with(logger.as_str()) && l[logger.len()..].starts_with('.')))
            {
                return false;
            }
        }
        if !self.terms.is_empty() {
            let in_message =
                may_hold(e.message, &self.terms) && tokens::matches(e.message, &self.terms);
            if !in_message {
                let text = match e.exc_text() {
                    Some(exc) => format!("{}\n{exc}", e.message),
                    None => return false,
                };
                if !tokens::matches(&text, &self.terms) {
                    return false;
                }
            }
        }
        if !self.context.is_empty() && !context_matches(e, &self.context) {
            return false;
        }
        true
    }
}

/// The best `n` records of a source by id (newest, or oldest when
/// ascending), kept as they are found, so a common word's thousands of
/// matches in a segment are never all turned into rows.
struct TopN {
    n: usize,
    ascending: bool,
    /// Min-heap on rank: the worst kept record is on top.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    rows: Vec<Option<RecordRow>>,
}

impl TopN {
    fn new(n: usize, ascending: bool) -> TopN {
        TopN {
            n,
            ascending,
            heap: BinaryHeap::with_capacity(n + 1),
            rows: Vec::new(),
        }
    }

    fn rank(&self, id: u64) -> u64 {
        if self.ascending {
            u64::MAX - id
        } else {
            id
        }
    }

    /// Whether a record with this id could still make the cut.
    fn may_take(&self, id: u64) -> bool {
        self.heap.len() < self.n || self.heap.peek().is_some_and(|w| self.rank(id) > w.0 .0)
    }

    fn may_take_range(&self, min_id: u64, max_id: u64) -> bool {
        self.may_take(if self.ascending { min_id } else { max_id })
    }

    fn push(&mut self, id: u64, row: RecordRow) {
        let slot = self.rows.len();
        self.rows.push(Some(row));
        self.heap.push(Reverse((self.rank(id), slot)));
        if self.heap.len() > self.n {
            if let Some(Reverse((_, worst))) = self.heap.pop() {
                self.rows[worst] = None;
            }
        }
    }

    /// Best first.
    fn into_sorted(mut self) -> Vec<RecordRow> {
        // Ascending in `Reverse`: the best rank first.
        let kept = self.heap.into_sorted_vec();
        kept.into_iter()
            .filter_map(|Reverse((_, slot))| self.rows[slot].take())
            .collect()
    }
}

/// A quick "no" before the exact word test: an ASCII text that lacks a
/// term's ASCII letters anywhere cannot hold it as a word or prefix. Most
/// records of a block that the filter let through fail here (a rare
/// word's block holds one match among ~100 records).
fn may_hold(text: &str, terms: &[Term]) -> bool {
    if !text.is_ascii() {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    terms.iter().all(|t| {
        let (Term::Word(w) | Term::Prefix(w)) = t;
        !w.is_ascii()
            || w.bytes().any(|b| b.is_ascii_uppercase())
            || memchr::memmem::find(lower.as_bytes(), w.as_bytes()).is_some()
    })
}

/// A quick "no" on a whole payload (message and body): when it is all
/// ASCII and has no `\u` escape, every word of its message and exception
/// text stands in its bytes as written, so an ASCII term whose letters
/// appear nowhere (in any case) cannot match. Anything else may match.
pub(crate) fn payload_may_hold(payload: &[u8], terms: &[Term]) -> bool {
    static ESCAPE: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\\u"));
    if terms.is_empty() || !payload.is_ascii() || ESCAPE.find(payload).is_some() {
        return true;
    }
    terms.iter().all(|t| {
        let (Term::Word(w) | Term::Prefix(w)) = t;
        !w.is_ascii() || contains_ignoring_ascii_case(payload, w.as_bytes())
    })
}

/// Whether `needle` occurs in `hay`, ASCII letters compared without case.
fn contains_ignoring_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lo, up, hay).any(|at| {
        hay.get(at..at + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// `field=value` pairs against the record's context; dotted fields reach
/// into nested objects; values compare as text (`7` finds 7 and "7").
fn context_matches(e: &EntryRef<'_>, pairs: &[(String, String)]) -> bool {
    let Some(context) = e.context() else {
        return false;
    };
    pairs.iter().all(|(field, want)| {
        let mut at = &context;
        for step in field.split('.') {
            match at.get(step) {
                Some(v) => at = v,
                None => return false,
            }
        }
        match at {
            Value::String(s) => s == want,
            Value::Null => want == "null",
            // Numbers and booleans as JSON prints them (`7`, `true`).
            other => serde_json::to_string(other).is_ok_and(|t| t == *want),
        }
    })
}

impl Reader {
    /// Records matching `filter`, newest first unless `order=asc`.
    pub fn records(&self, filter: &RecordFilter) -> Result<Vec<RecordRow>, StoreError> {
        let Some(plan) = self.plan(filter)? else {
            return Ok(Vec::new());
        };
        let mut out: Vec<RecordRow> = Vec::new();
        let want = plan.limit;
        // Memory first (the newest), taken under the view lock.
        let (snap, mut memory) = {
            let view = self.inner.view.read().map_err(|_| StoreError::Closed)?;
            let mut memory: Vec<Vec<RecordRow>> = Vec::new();
            let tables =
                std::iter::once(&view.active).chain(view.frozen.iter().rev().map(|m| &**m));
            for m in tables {
                let mut found = Vec::new();
                let scan = |e: &crate::memtable::MemEntry, found: &mut Vec<RecordRow>| {
                    // Memory has no block filters: a quick look at the raw
                    // bytes turns most records away before decoding.
                    if !payload_may_hold(&e.payload, &plan.terms) {
                        return;
                    }
                    if let Ok(r) = decode(&e.payload) {
                        if plan.matches(&r, Some(e.task)) {
                            found.push(row(&r, plan.full));
                        }
                    }
                };
                let skip = |i: usize| {
                    !plan.hashes.is_empty()
                        && i.is_multiple_of(CHUNK)
                        && !m.chunk_may_contain(i, &plan.hashes)
                };
                let n = m.entries.len();
                if plan.ascending {
                    let mut i = 0;
                    while i < n && found.len() < want {
                        if skip(i) {
                            i += CHUNK;
                            continue;
                        }
                        scan(&m.entries[i], &mut found);
                        i += 1;
                    }
                } else {
                    // Newest first, a chunk at a time (each from its end).
                    let mut chunk_start = n.saturating_sub(1) / CHUNK * CHUNK;
                    'chunks: loop {
                        if !(n > 0 && skip(chunk_start)) {
                            let end = (chunk_start + CHUNK).min(n);
                            for e in m.entries[chunk_start..end].iter().rev() {
                                scan(e, &mut found);
                                if found.len() >= want {
                                    break 'chunks;
                                }
                            }
                        }
                        if chunk_start == 0 {
                            break;
                        }
                        chunk_start -= CHUNK;
                    }
                }
                memory.push(found);
            }
            let snap = Snapshot {
                segments: view.segments.clone(),
                frozen: Vec::new(),
            };
            (snap, memory)
        };
        if plan.ascending {
            // Oldest first: segments, then the frozen tables oldest first,
            // then the active one.
            memory.reverse();
        } else {
            for found in memory.drain(..) {
                out.extend(found);
                if out.len() >= want {
                    out.truncate(want);
                    return Ok(out);
                }
            }
        }
        let segments: Vec<_> = if plan.ascending {
            snap.segments.iter().collect()
        } else {
            snap.segments.iter().rev().collect()
        };
        for s in segments {
            let info = s.info();
            if plan.after.is_some_and(|a| info.max_id <= a)
                || plan.before.is_some_and(|b| info.min_id >= b)
                || plan.since.is_some_and(|t| info.max_created < t)
                || plan.until.is_some_and(|t| info.min_created >= t)
            {
                continue;
            }
            let need = want - out.len();
            let mut top = TopN::new(need, plan.ascending);
            let blocks: Vec<usize> = match plan.task {
                Some(t) => s.file.task_blocks(t).collect(),
                None => (0..s.file.blocks().len()).collect(),
            };
            // Blocks hold tasks in the order they began, so the last blocks
            // hold the newest records: read newest first, and most older
            // candidates are turned away on their id before any decoding.
            let order: Box<dyn Iterator<Item = usize>> = if plan.ascending {
                Box::new(blocks.into_iter())
            } else {
                Box::new(blocks.into_iter().rev())
            };
            for b in order {
                let Some(meta) = s.file.blocks().get(b) else {
                    continue;
                };
                if !plan.block_may_match(meta)
                    || !top.may_take_range(meta.min_id, meta.max_id)
                    || !s.file.block_may_contain(b, &plan.hashes)
                {
                    continue;
                }
                let block = match s.file.read_block(b) {
                    Ok(block) => block,
                    Err(e) => {
                        self.inner.note_corrupt(&e);
                        continue;
                    }
                };
                for r in block.records() {
                    if !plan.id_in_range(r.id)
                        || plan.level.is_some_and(|l| r.levelno < l)
                        || !top.may_take(r.id)
                        || !payload_may_hold(r.payload, &plan.terms)
                    {
                        continue;
                    }
                    if let Ok(e) = decode(r.payload) {
                        if plan.matches(&e, Some(r.task)) {
                            top.push(r.id, row(&e, plan.full));
                        }
                    }
                }
            }
            let found = top.into_sorted();
            out.extend(found);
            if out.len() >= want {
                out.truncate(want);
                return Ok(out);
            }
        }
        for found in memory {
            out.extend(found);
        }
        out.truncate(want);
        Ok(out)
    }

    fn plan(&self, f: &RecordFilter) -> Result<Option<Plan>, StoreError> {
        let ascending = match f.order.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(other) => {
                return Err(StoreError::BadQuery(format!(
                    "order must be asc or desc, not {other:?}"
                )))
            }
        };
        let task = match &f.root {
            Some(root) => match catalog::task_one(&self.conn, root, 0.0)? {
                Some((id, _)) => Some(id),
                // No such task: nothing can match.
                None => return Ok(None),
            },
            None => None,
        };
        let terms = f.q.as_deref().map(tokens::parse_query).unwrap_or_default();
        let mut hashes = tokens::term_hashes(&terms);
        if let Some(h) = &f.host {
            hashes.push(tokens::field_token("host", h));
        }
        if let Some(l) = &f.logger {
            hashes.push(tokens::field_token("logger", l));
        }
        Ok(Some(Plan {
            level: f.level,
            logger: f.logger.clone(),
            host: f.host.clone(),
            task,
            since: f.since,
            until: f.until,
            after: f.after.map(|a| a.max(0) as u64),
            before: f.before.map(|b| b.max(0) as u64),
            terms,
            hashes,
            context: context_conditions(f.context.as_deref())?,
            ascending,
            limit: f.answer_limit(),
            full: f.full.unwrap_or(false),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_raw_byte_check_never_turns_away_a_record_that_matches() {
        let q = tokens::parse_query;
        // Case does not matter; a missing word is turned away.
        assert!(payload_may_hold(b"xx ZANZIBAR yy", &q("zanzibar")));
        assert!(!payload_may_hold(b"xx zanzi bar yy", &q("zanzibar")));
        // Non-ASCII text, or an escape that may hide a letter, always passes:
        // `Zürich` folds to `zurich` though its bytes differ.
        assert!(payload_may_hold("Zürich".as_bytes(), &q("zurich")));
        assert!(payload_may_hold(
            br#"{"exc_text": "Z\u00fcrich"}"#,
            &q("zurich")
        ));
        assert!(payload_may_hold(b"anything", &[]));
    }
}
