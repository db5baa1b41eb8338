//! What one batch changes about one root task, folded before touching SQL
//! so a batch of many records of one task costs one upsert.

use distlog_proto::ScopeEvent;

use crate::entry::EntryRef;

#[derive(Default)]
pub(crate) struct TaskDelta {
    pub opened: bool,
    pub message: Option<String>,
    /// The root's context, as JSON text without its `key`.
    pub context: Option<String>,
    pub host: Option<String>,
    pub process: Option<i64>,
    pub started: f64,
    pub ended: Option<f64>,
    pub duration: Option<f64>,
    pub last_seen: f64,
    pub status: Option<&'static str>,
    pub records: i64,
    pub failures: i64,
    pub last_id: u64,
}

impl TaskDelta {
    pub(crate) fn fold(&mut self, e: &EntryRef<'_>) {
        let created = e.created;
        if self.records == 0 {
            self.started = created;
            self.last_seen = created;
            self.host = Some(e.host.to_owned());
            self.process = e.process;
        }
        self.records += 1;
        self.last_id = self.last_id.max(e.id);
        self.started = self.started.min(created);
        self.last_seen = self.last_seen.max(created);
        let is_root = e.is_root_scope();
        match e.event {
            Some(ScopeEvent::Open) if is_root => {
                self.opened = true;
                self.message = Some(e.message.to_owned());
                self.context = root_context(e);
                self.host = Some(e.host.to_owned());
                self.process = e.process;
            }
            Some(ScopeEvent::Close) if is_root => {
                self.status = Some("succeeded");
                self.ended = Some(created);
                self.duration = e.duration;
            }
            Some(ScopeEvent::Fail) => {
                self.failures += 1;
                if is_root {
                    self.status = Some("failed");
                    self.ended = Some(created);
                    self.duration = e.duration;
                }
            }
            _ => {}
        }
    }
}

/// The context of a root's opening record, for filtering tasks by it.
fn root_context(e: &EntryRef<'_>) -> Option<String> {
    let mut context = e.context()?;
    let map = context.as_object_mut()?;
    map.remove("key");
    serde_json::to_string(&context).ok()
}
