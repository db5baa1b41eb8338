//! Settings the daemon keeps in the catalogue across restarts (today: the
//! log levels it pushes to clients). Rare writes, so each call opens its own
//! connection rather than share the engine's.

use std::path::Path;

use rusqlite::params;

use super::connect;
use crate::engine::CATALOG;
use crate::{Store, StoreError};

impl Store {
    /// Every setting of `kind`, as (id, JSON value), by id.
    pub fn settings(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = connect(&catalog_path(self.path()))?;
        let mut stmt =
            conn.prepare("SELECT id, value FROM settings WHERE kind = ?1 ORDER BY id")?;
        let rows = stmt
            .query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Sets (or replaces) one setting.
    pub fn put_setting(&self, kind: &str, id: &str, value: &str) -> Result<(), StoreError> {
        let conn = connect(&catalog_path(self.path()))?;
        conn.execute(
            "INSERT INTO settings (kind, id, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value",
            params![kind, id, value],
        )?;
        Ok(())
    }

    /// Removes one setting; says whether it was there.
    pub fn delete_setting(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        let conn = connect(&catalog_path(self.path()))?;
        let n = conn.execute(
            "DELETE FROM settings WHERE kind = ?1 AND id = ?2",
            params![kind, id],
        )?;
        Ok(n > 0)
    }
}

fn catalog_path(dir: &Path) -> std::path::PathBuf {
    dir.join(CATALOG)
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn settings_survive_a_reopen_and_can_be_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        {
            let store = Store::open(&path).expect("open");
            store.put_setting("level", "a", "1").expect("put");
            store.put_setting("level", "a", "2").expect("replace");
            store.put_setting("level", "b", "3").expect("put");
            store.put_setting("other", "a", "9").expect("put");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(
            store.settings("level").expect("list"),
            vec![("a".into(), "2".into()), ("b".into(), "3".into())]
        );
        assert!(store.delete_setting("level", "a").expect("delete"));
        assert!(!store.delete_setting("level", "a").expect("delete again"));
        assert_eq!(store.settings("level").expect("list").len(), 1);
    }

    #[test]
    fn a_schema_3_catalogue_gains_the_settings_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        drop(Store::open(&path).expect("open"));
        let db = path.join(crate::engine::CATALOG);
        {
            let conn = rusqlite::Connection::open(&db).expect("sqlite");
            conn.execute_batch("DROP TABLE settings; PRAGMA user_version = 3;")
                .expect("downgrade");
        }
        let store = Store::open(&path).expect("open schema 3");
        store.put_setting("level", "x", "{}").expect("put");
        let conn = rusqlite::Connection::open(&db).expect("sqlite");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, 4);
    }
}
