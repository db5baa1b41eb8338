//! What the paged queries read of one task: for a skeleton, each scope's
//! counts, scope events and first record; for a page, one scope's records.
//! A segment with a scope summary answers from the summary (a skeleton
//! reads no record block; a page reads only the blocks that hold its
//! scope); memory, and a segment without a usable summary, are read record
//! by record.

use rustc_hash::{FxHashMap, FxHashSet};

use super::{row, Reader, Snapshot};
use crate::engine::Seg;
use distlog_proto::ScopeEvent;

use crate::entry::{decode, EntryRef, Spans};
use crate::summary::{self, TaskTable};
use crate::{RecordRow, StoreError};

/// The (seq, id) a scope orders its records by; also a page cursor's content.
pub(super) fn order(seq: Option<i64>, id: i64) -> (i64, i64) {
    (seq.unwrap_or(i64::MAX), id)
}

pub(super) fn parse_path(text: &str) -> Vec<u32> {
    text.split('/').filter_map(|s| s.parse().ok()).collect()
}

#[derive(Default)]
pub(super) struct Counts {
    pub records: usize,
    pub errors: usize,
    /// The scope's least record by (seq, id), for a scope whose opening
    /// record never came: the tree takes its start from it. `None` for the
    /// row: it is a scope event, among the skeleton's rows already.
    pub first: Option<((i64, i64), Option<RecordRow>)>,
}

/// A skeleton's inputs, gathered from every source of the task.
#[derive(Default)]
pub(super) struct SkeletonParts {
    /// Per scope, in the order first met.
    counts: Vec<Counts>,
    /// A scope's slot in `counts` by its parsed path, and by its path as
    /// written (looked up per record: each text is parsed once).
    by_path: FxHashMap<Vec<u32>, usize>,
    by_text: FxHashMap<String, usize>,
    pub processes: FxHashSet<(String, i64)>,
    last_process: Option<(String, i64)>,
    /// The scope events.
    pub rows: Vec<RecordRow>,
    pub total: usize,
}

impl SkeletonParts {
    fn counts_of(&mut self, text: &str) -> &mut Counts {
        let slot = match self.by_text.get(text) {
            Some(&i) => i,
            None => {
                let next = self.counts.len();
                let i = *self.by_path.entry(parse_path(text)).or_insert(next);
                if i == next {
                    self.counts.push(Counts::default());
                }
                self.by_text.insert(text.to_owned(), i);
                i
            }
        };
        &mut self.counts[slot]
    }

    fn process(&mut self, host: &str, pid: i64) {
        // Runs of one process are the rule: no pair built for those.
        if self
            .last_process
            .as_ref()
            .is_none_or(|(h, p)| *p != pid || h != host)
        {
            self.processes.insert((host.to_owned(), pid));
            self.last_process = Some((host.to_owned(), pid));
        }
    }

    /// A skeleton's row for a scope event or a scope's first record: the
    /// tree takes message and context from opening records only, and
    /// logger and level name from none, so the others' are left out
    /// (unparsed, unallocated: there are two rows per scope).
    fn kept_row(e: &EntryRef<'_>) -> RecordRow {
        let open = e.event == Some(ScopeEvent::Open);
        row(
            &EntryRef {
                body: if open { e.body } else { b"" },
                spans: if open {
                    e.spans
                } else {
                    Some(Spans::default())
                },
                message: if open { e.message } else { "" },
                logger: "",
                levelname: "",
                ..*e
            },
            false,
        )
    }

    /// A scope event or a scope's first record, counted elsewhere.
    fn kept(&mut self, e: &EntryRef<'_>) {
        let text = e.key.map_or("", |k| k.1);
        let id = i64::try_from(e.id).unwrap_or(i64::MAX);
        let at = order(e.key.and_then(|k| i64::try_from(k.2).ok()), id);
        let event = summary::kept(e);
        let c = self.counts_of(text);
        let better = c.first.as_ref().is_none_or(|(f, _)| at < *f);
        if event {
            if better {
                c.first = Some((at, None));
            }
            self.rows.push(Self::kept_row(e));
        } else if better {
            c.first = Some((at, Some(Self::kept_row(e))));
        }
    }

    /// Any record of the task, read from memory or a segment's blocks.
    fn record(&mut self, e: &EntryRef<'_>) {
        self.total += 1;
        if let Some(p) = e.process {
            self.process(e.host, p);
        }
        let c = self.counts_of(e.key.map_or("", |k| k.1));
        c.records += 1;
        if e.levelno >= 40 {
            c.errors += 1;
        }
        let id = i64::try_from(e.id).unwrap_or(i64::MAX);
        let at = order(e.key.and_then(|k| i64::try_from(k.2).ok()), id);
        let kept = summary::kept(e);
        if kept || c.first.as_ref().is_none_or(|(f, _)| at < *f) {
            self.kept(e);
        }
    }

    fn table(&mut self, t: &TaskTable) {
        for (host, pid) in &t.processes {
            self.processes.insert((host.clone(), *pid));
        }
        for s in &t.scopes {
            self.total += s.records as usize;
            let c = self.counts_of(&s.scope);
            c.records += s.records as usize;
            c.errors += s.errors as usize;
        }
    }

    /// The rows the tree is built from: the scope events, and the first
    /// record of each scope where that is not one of them.
    pub(super) fn into_rows(mut self) -> (Vec<RecordRow>, FxHashMap<Vec<u32>, Counts>) {
        for c in &mut self.counts {
            if let Some((_, first)) = &mut c.first {
                if let Some(r) = first.take() {
                    self.rows.push(r);
                }
            }
        }
        let mut counts = self.counts;
        let by_path = self
            .by_path
            .into_iter()
            .map(|(path, i)| (path, std::mem::take(&mut counts[i])))
            .collect();
        (self.rows, by_path)
    }
}

/// A segment's table of a task and its area of kept records.
type Summarised = (TaskTable, Vec<u8>);

/// A segment's summary of one task, read whole before any of it is used,
/// so a damaged part leaves nothing half counted. `None`: the segment has
/// no usable summary; `Ok(None)`: it holds none of the task's records.
fn summarised(s: &Seg, task: u64) -> Option<Result<Option<Summarised>, StoreError>> {
    let index = s.summary()?;
    Some((|| {
        let Some(table) = index.table(task, s.file.blocks().len())? else {
            return Ok(None);
        };
        Ok(Some((table, index.area(task)?)))
    })())
}

impl Reader {
    fn snapshot_with(&self, task: u64, mut f: impl FnMut(&[u8])) -> Result<Snapshot, StoreError> {
        let view = self.inner.view.read().map_err(|_| StoreError::Closed)?;
        for p in view.active.task(task) {
            f(p);
        }
        Ok(Snapshot {
            segments: view.segments.clone(),
            frozen: view.frozen.clone(),
        })
    }

    /// Calls `f` on each record of `task` in the given blocks of `s`.
    fn blocks_of(
        &self,
        s: &Seg,
        task: u64,
        blocks: impl Iterator<Item = usize>,
        mut f: impl FnMut(&EntryRef<'_>),
    ) {
        for b in blocks {
            let block = match s.file.read_block(b) {
                Ok(block) => block,
                Err(e) => {
                    self.inner.note_corrupt(&e);
                    continue;
                }
            };
            for r in block.records().filter(|r| r.task == task) {
                if let Ok(e) = decode(r.payload) {
                    f(&e);
                }
            }
        }
    }

    /// Everything a skeleton of `task` is made of.
    pub(super) fn skeleton_parts(&self, task: u64) -> Result<SkeletonParts, StoreError> {
        let mut parts = SkeletonParts::default();
        let plain = |parts: &mut SkeletonParts, p: &[u8]| {
            if let Ok(e) = decode(p) {
                parts.record(&e);
            }
        };
        let snap = self.snapshot_with(task, |p| plain(&mut parts, p))?;
        for m in &snap.frozen {
            for p in m.task(task) {
                plain(&mut parts, p);
            }
        }
        for s in &snap.segments {
            match summarised(s, task) {
                Some(Ok(None)) => continue,
                Some(Ok(Some((table, area)))) => {
                    parts.table(&table);
                    // One row per scope event or first record.
                    parts.rows.reserve(summary::payloads(&area).count());
                    for p in summary::payloads(&area) {
                        if let Ok(e) = decode(p) {
                            parts.kept(&e);
                        }
                    }
                    continue;
                }
                Some(Err(e)) => {
                    tracing::warn!("store: {e}; reading the segment's blocks instead");
                }
                None => {}
            }
            self.blocks_of(s, task, s.file.task_blocks(task), |e| parts.record(e));
        }
        Ok(parts)
    }

    /// Every record of the scope at `want` of `task`, in no order.
    pub(super) fn scope_records(
        &self,
        task: u64,
        want: &[u32],
    ) -> Result<Vec<RecordRow>, StoreError> {
        // A scope path is compared as written first: parsing it per record
        // was most of a big scan.
        let mut seen: FxHashMap<String, bool> = FxHashMap::default();
        let mut hit = |text: &str| match seen.get(text) {
            Some(h) => *h,
            None => {
                let h = parse_path(text) == want;
                seen.insert(text.to_owned(), h);
                h
            }
        };
        let mut out = Vec::new();
        let mut take = |e: &EntryRef<'_>, out: &mut Vec<RecordRow>| {
            if hit(e.key.map_or("", |k| k.1)) {
                out.push(row(e, false));
            }
        };
        let snap = self.snapshot_with(task, |p| {
            if let Ok(e) = decode(p) {
                take(&e, &mut out);
            }
        })?;
        for m in &snap.frozen {
            for p in m.task(task) {
                if let Ok(e) = decode(p) {
                    take(&e, &mut out);
                }
            }
        }
        for s in &snap.segments {
            let blocks: Vec<usize> = match s.summary().map(|i| i.table(task, s.file.blocks().len()))
            {
                Some(Ok(None)) => continue,
                Some(Ok(Some(table))) => {
                    let mut blocks: Vec<usize> = table
                        .scopes
                        .iter()
                        .filter(|e| parse_path(&e.scope) == want)
                        .flat_map(|e| e.first_block as usize..=e.last_block as usize)
                        .collect();
                    blocks.sort_unstable();
                    blocks.dedup();
                    blocks
                }
                Some(Err(e)) => {
                    tracing::warn!("store: {e}; reading the segment's blocks instead");
                    s.file.task_blocks(task).collect()
                }
                None => s.file.task_blocks(task).collect(),
            };
            self.blocks_of(s, task, blocks.into_iter(), |e| take(e, &mut out));
        }
        Ok(out)
    }
}
