//! Stored records filtered by a condition of the rule language, for
//! `GET /api/records?filter=…` (what `distlog tail FILTER` shows first).
//!
//! SQL narrows what it can (level, logger, host, time, words); the rule is
//! evaluated on each row, newest first, page by page, until enough match
//! or a bounded number of rows has been read, so one query never scans a
//! whole large store.

use distlog_proto::{ScopeEvent, Topic};
use distlog_rules::{Condition, Subject};
use distlog_store::{Reader, RecordFilter, RecordRow, StoreError};
use serde_json::{Map, Value};

/// Rows read per query.
const PAGE: usize = 2_000;
/// Rows read at most for one request.
pub const SCAN_LIMIT: u64 = 200_000;

pub struct Scan {
    pub records: Vec<RecordRow>,
    pub scanned: u64,
    /// The scan stopped at `SCAN_LIMIT` before finding `limit` matches:
    /// older matches may exist.
    pub truncated: bool,
}

pub fn filtered(
    reader: &Reader,
    filter: &RecordFilter,
    condition: &Condition,
) -> Result<Scan, StoreError> {
    let want = filter.answer_limit();
    let ascending = filter.order.as_deref() == Some("asc");
    let mut page = filter.clone();
    page.limit = Some(PAGE);
    let mut out = Scan {
        records: Vec::new(),
        scanned: 0,
        truncated: false,
    };
    loop {
        let rows = reader.records(&page)?;
        let (n, last) = (rows.len(), rows.last().map(|r| r.id));
        for row in rows {
            out.scanned += 1;
            if condition.matches(&RowSubject(&row)) {
                out.records.push(row);
                if out.records.len() == want {
                    return Ok(out);
                }
            }
        }
        if n < PAGE {
            return Ok(out);
        }
        if out.scanned >= SCAN_LIMIT {
            out.truncated = true;
            return Ok(out);
        }
        if ascending {
            page.after = last;
        } else {
            page.before = last;
        }
    }
}

/// A stored record as conditions see it.
struct RowSubject<'a>(&'a RecordRow);

impl Subject for RowSubject<'_> {
    fn levelno(&self) -> i64 {
        self.0.levelno
    }
    fn logger(&self) -> &str {
        &self.0.logger
    }
    fn host(&self) -> &str {
        &self.0.host
    }
    fn topic(&self) -> Option<Topic> {
        Topic::parse(self.0.topic.as_bytes()).ok()
    }
    fn message(&self) -> &str {
        &self.0.message
    }
    fn event(&self) -> Option<ScopeEvent> {
        self.0.event.as_deref().and_then(ScopeEvent::parse)
    }
    fn context(&self) -> Option<&Map<String, Value>> {
        self.0.context.as_ref().and_then(Value::as_object)
    }
}
