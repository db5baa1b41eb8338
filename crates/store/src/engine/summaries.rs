//! The flush thread's part in scope summaries (crate::summary): the
//! summary of a segment it has just written, and those that segments of
//! an older build lack, written when it has nothing else to do.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::flusher::Item;
use super::{Inner, Seg};
use crate::segment::Segment;
use crate::summary;

/// Writes the scope summaries that segments lack (written by an older
/// build, or whose summary was lost), one segment at a time and only while
/// no memtable waits to be written.
pub(super) fn backfill(inner: &Inner, waiting: impl Fn() -> bool) {
    let segments: Vec<Arc<Seg>> = match inner.view.read() {
        Ok(v) => v.segments.clone(),
        Err(_) => return,
    };
    for s in segments {
        if s.scopes.get().is_some() {
            continue;
        }
        if waiting() {
            return;
        }
        match summary::of_segment(&s.file)
            .and_then(|b| summary::install(s.path(), summary::identity(&s.file), &b))
        {
            Ok(index) => {
                let _ = s.scopes.set(Some(index));
                inner
                    .counters
                    .summaries_written
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!("store: no scope summary for {}: {e}", s.name);
                let _ = s.scopes.set(None);
            }
        }
    }
}

/// The summary of a segment just written from `items` (in its order): the
/// blocks' record counts say which block each item went into.
pub(super) fn summarise(items: &[Item<'_>], segment: &Segment) -> Vec<u8> {
    let mut b = summary::Builder::default();
    let mut blocks = segment.blocks().iter().map(|m| m.count as usize);
    let (mut block, mut left) = (0u32, blocks.next().unwrap_or(0));
    for i in items {
        while left == 0 {
            block += 1;
            left = match blocks.next() {
                Some(n) => n,
                // More items than the blocks hold cannot happen; stop
                // rather than describe blocks that are not there.
                None => return summary::Builder::default().finish(summary::identity(segment)),
            };
        }
        left -= 1;
        let rec = summary::Rec {
            id: i.id,
            scope: i.scope,
            seq: i.seq,
            levelno: i.levelno,
            host: i.host,
            process: i.process,
            event: i.event,
        };
        b.push(i.task, block, &rec, i.payload);
    }
    b.finish(summary::identity(segment))
}
