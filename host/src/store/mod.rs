//! The durable store: SQLite (WAL, synchronous writes) holding, per org, the polling cursor, the
//! last `published` time, a bounded window of recently seen uuids, each sink's committed
//! position; and, in a second file beside it (`<name>.spool.db`), the spool of pushed
//! deliveries not yet written (`spool.rs`); and each org's synced directory (`directory.rs`).
//!
//! A batch is committed in one transaction *after* the sinks made it durable, so a crash either
//! loses nothing (the batch is fetched again, or is still in the spool, and the sinks roll back
//! to their committed position) or has already recorded everything. The uuid window is shared by
//! every channel (poll, event hook, EventBridge), so an event reaches the sinks once whichever
//! channel brings it first.
//!
//! The spool is a file of its own so that acknowledging a push never waits for the write lock a
//! large batch commit holds on the main file. Spool rows are deleted right *after* their batch
//! commits: a crash in between leaves them to be written again on restart, and the uuid window
//! drops every event in them as already written.

mod directory;
mod spool;

pub use directory::{DirectoryCommit, DirectoryMarks, ObjectWrite, StoredObject};
pub use spool::{SpoolEntry, SpoolError, Spooler, spool_path};

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context as _, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::guest::{StateChanges, StatePart};

/// Where polling resumes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// The `next` link of the last page committed (it carries Okta's opaque `after` cursor).
    pub next_url: Option<String>,
    /// The largest `published` time committed, in epoch milliseconds.
    pub last_published_ms: Option<i64>,
}

/// A sink's committed position: the file generation and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkPosition {
    pub generation: u64,
    pub len: u64,
}

/// The poller's progress through one page.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    pub next_url: &'a str,
    pub last_published_ms: Option<i64>,
}

/// What one batch commits.
#[derive(Debug, Default)]
pub struct Commit<'a> {
    /// Set by the poller only: pushed events must never move the polling cursor or the
    /// last-published mark it resumes from, or a gap in the pushes would be skipped.
    pub cursor: Option<Cursor<'a>>,
    /// (uuid, published_ms) of the events written.
    pub uuids: Vec<(&'a str, Option<i64>)>,
    pub sinks: Vec<(&'a str, SinkPosition)>,
    /// Spooled deliveries this batch finished (deleted once the batch is committed).
    pub spooled: Vec<i64>,
    /// How the detection engine's stored state changes with this batch (the guest's
    /// `export-state-changes`), so windows survive a restart exactly.
    pub detection_state: Option<&'a StateChanges>,
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// The spool file (`spool_path`).
    spool: Connection,
    /// How many uuids per org the dedupe window keeps.
    window: i64,
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path, window: u64) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("while opening the store {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 10000;
             CREATE TABLE IF NOT EXISTS checkpoint (
                 org TEXT PRIMARY KEY,
                 next_url TEXT,
                 last_published_ms INTEGER
             );
             CREATE TABLE IF NOT EXISTS seen (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 org TEXT NOT NULL,
                 uuid TEXT NOT NULL,
                 published_ms INTEGER,
                 UNIQUE (org, uuid)
             );
             CREATE TABLE IF NOT EXISTS sink_position (
                 org TEXT NOT NULL,
                 sink TEXT NOT NULL,
                 generation INTEGER NOT NULL,
                 len INTEGER NOT NULL,
                 PRIMARY KEY (org, sink)
             );
             CREATE TABLE IF NOT EXISTS detection_state (
                 org TEXT PRIMARY KEY,
                 state BLOB NOT NULL
             );
             CREATE TABLE IF NOT EXISTS detection_state_part (
                 org TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (org, key)
             );",
        )
        .with_context(|| format!("while preparing the store {}", path.display()))?;
        conn.execute_batch(directory::SCHEMA)
            .with_context(|| format!("while preparing the directory tables of the store {}", path.display()))?;
        let spool = spool::open(&spool_path(path))?;
        Ok(Store { conn, spool, window: i64::try_from(window).unwrap_or(i64::MAX) })
    }

    pub fn checkpoint(&self, org: &str) -> Result<Checkpoint> {
        Ok(self
            .conn
            .query_row("SELECT next_url, last_published_ms FROM checkpoint WHERE org = ?1", [org], |row| {
                Ok(Checkpoint { next_url: row.get(0)?, last_published_ms: row.get(1)? })
            })
            .optional()?
            .unwrap_or_default())
    }

    /// Forgets the cursor but keeps the last `published` time, so polling resumes from an
    /// overlapping `since` window (used when Okta rejects a stored cursor, and by tests).
    pub fn forget_cursor(&self, org: &str) -> Result<()> {
        self.conn.execute("UPDATE checkpoint SET next_url = NULL WHERE org = ?1", [org])?;
        Ok(())
    }

    /// Which of `uuids` were already written for this org.
    pub fn already_seen<'u>(&self, org: &str, uuids: impl Iterator<Item = &'u str>) -> Result<HashSet<String>> {
        let mut stmt = self.conn.prepare_cached("SELECT 1 FROM seen WHERE org = ?1 AND uuid = ?2")?;
        let mut seen = HashSet::new();
        for uuid in uuids {
            if stmt.exists(params![org, uuid])? {
                seen.insert(uuid.to_owned());
            }
        }
        Ok(seen)
    }

    /// The parts of the detection state committed with the org's last batch, by key.
    pub fn detection_state_parts(&self, org: &str) -> Result<Vec<StatePart>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT key, value FROM detection_state_part WHERE org = ?1 ORDER BY key")?;
        let rows = stmt.query_map([org], |row| Ok(StatePart { key: row.get(0)?, value: row.get(1)? }))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The detection state as one document, as versions before the parts committed it; the
    /// first commit of parts removes it.
    pub fn detection_state(&self, org: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT state FROM detection_state WHERE org = ?1", [org], |row| row.get(0))
            .optional()?)
    }

    /// The uuids in the org's dedupe window, oldest first.
    pub fn window_uuids(&self, org: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached("SELECT uuid FROM seen WHERE org = ?1 ORDER BY id")?;
        let rows = stmt.query_map([org], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    pub fn sink_position(&self, org: &str, sink: &str) -> Result<Option<SinkPosition>> {
        Ok(self
            .conn
            .query_row("SELECT generation, len FROM sink_position WHERE org = ?1 AND sink = ?2", [org, sink], |row| {
                Ok(SinkPosition {
                    generation: row.get::<_, i64>(0)?.unsigned_abs(),
                    len: row.get::<_, i64>(1)?.unsigned_abs(),
                })
            })
            .optional()?)
    }

    /// Records one batch: cursor, last published time, uuids and sink positions, atomically.
    pub fn commit(&mut self, org: &str, c: &Commit<'_>) -> Result<()> {
        let tx = self.conn.transaction()?;
        if let Some(cursor) = c.cursor {
            tx.execute(
                "INSERT INTO checkpoint (org, next_url, last_published_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (org) DO UPDATE SET
                     next_url = excluded.next_url,
                     last_published_ms = max(coalesce(checkpoint.last_published_ms, 0), coalesce(excluded.last_published_ms, 0))",
                params![org, cursor.next_url, cursor.last_published_ms],
            )?;
        }
        {
            let mut insert =
                tx.prepare_cached("INSERT OR IGNORE INTO seen (org, uuid, published_ms) VALUES (?1, ?2, ?3)")?;
            for (uuid, published) in &c.uuids {
                insert.execute(params![org, uuid, published])?;
            }
            write_sink_positions(&tx, org, &c.sinks)?;
        }
        if let Some(changes) = c.detection_state {
            apply_state_changes(&tx, org, changes)?;
        }
        // Keep the window bounded: the newest `window` uuids per org.
        tx.execute(
            "DELETE FROM seen WHERE org = ?1 AND id <= (SELECT max(id) FROM seen WHERE org = ?1) - ?2",
            params![org, self.window],
        )?;
        tx.commit().context("while committing a batch to the store")?;
        if !c.spooled.is_empty() {
            let tx = self.spool.transaction()?;
            {
                let mut done = tx.prepare_cached("DELETE FROM spool WHERE id = ?1")?;
                for id in &c.spooled {
                    done.execute([id])?;
                }
            }
            tx.commit().context("while removing written deliveries from the spool")?;
        }
        Ok(())
    }

    /// The oldest spooled deliveries of an org, up to `max_rows` or about `max_bytes`.
    pub fn spooled(&self, org: &str, max_rows: usize, max_bytes: usize) -> Result<Vec<SpoolEntry>> {
        let mut stmt = self
            .spool
            .prepare_cached("SELECT id, channel, received_ms, body FROM spool WHERE org = ?1 ORDER BY id LIMIT ?2")?;
        let mut rows = stmt.query(params![org, i64::try_from(max_rows).unwrap_or(i64::MAX)])?;
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some(row) = rows.next()? {
            let body: Vec<u8> = row.get(3)?;
            bytes += body.len();
            out.push(SpoolEntry { id: row.get(0)?, channel: row.get(1)?, received_ms: row.get(2)?, body });
            if bytes >= max_bytes {
                break;
            }
        }
        Ok(out)
    }

    /// Spooled deliveries and their bytes, over every org.
    pub fn spool_size(&self) -> Result<(u64, u64)> {
        let (rows, bytes) =
            self.spool.query_row("SELECT count(*), coalesce(sum(length(body)), 0) FROM spool", [], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?;
        Ok((rows.unsigned_abs(), bytes.unsigned_abs()))
    }

    /// How many uuids the window holds for an org.
    pub fn window_len(&self, org: &str) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM seen WHERE org = ?1", [org], |r| r.get::<_, i64>(0))?
            .unsigned_abs())
    }
}

/// Applies the detection state's changes to its parts, inside the caller's transaction: the
/// dropped prefixes (each a range of keys), the dropped keys, then the written parts.
fn apply_state_changes(tx: &Connection, org: &str, changes: &StateChanges) -> Result<()> {
    tx.execute("DELETE FROM detection_state WHERE org = ?1", [org])?;
    for prefix in &changes.dropped_prefixes {
        if prefix.is_empty() {
            tx.execute("DELETE FROM detection_state_part WHERE org = ?1", [org])?;
        } else if let Some(end) = key_after_prefix(prefix) {
            tx.execute(
                "DELETE FROM detection_state_part WHERE org = ?1 AND key >= ?2 AND key < ?3",
                params![org, prefix, end],
            )?;
        } else {
            tx.execute(
                "DELETE FROM detection_state_part WHERE org = ?1 AND substr(key, 1, length(?2)) = ?2",
                params![org, prefix],
            )?;
        }
    }
    let mut drop = tx.prepare_cached("DELETE FROM detection_state_part WHERE org = ?1 AND key = ?2")?;
    for key in &changes.dropped {
        drop.execute(params![org, key])?;
    }
    let mut write = tx.prepare_cached(
        "INSERT INTO detection_state_part (org, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (org, key) DO UPDATE SET value = excluded.value",
    )?;
    for part in &changes.written {
        write.execute(params![org, part.key, part.value])?;
    }
    Ok(())
}

/// The least text greater than every text that starts with `prefix` (SQLite compares text by
/// its bytes): `prefix` with its last character moved one on, when that stays ASCII.
fn key_after_prefix(prefix: &str) -> Option<String> {
    let last = *prefix.as_bytes().last()?;
    (last < 0x7f).then(|| format!("{}{}", &prefix[..prefix.len() - 1], char::from(last + 1)))
}

/// Records each sink's committed position, inside the caller's transaction.
fn write_sink_positions(tx: &Connection, org: &str, sinks: &[(&str, SinkPosition)]) -> Result<()> {
    let mut position = tx.prepare_cached(
        "INSERT INTO sink_position (org, sink, generation, len) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (org, sink) DO UPDATE SET generation = excluded.generation, len = excluded.len",
    )?;
    for (sink, pos) in sinks {
        position.execute(params![
            org,
            sink,
            i64::try_from(pos.generation).unwrap_or(i64::MAX),
            i64::try_from(pos.len).unwrap_or(i64::MAX)
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_and_dedupes_within_a_bounded_window() {
        let dir = std::env::temp_dir().join(format!("okta-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open(&dir.join("s.db"), 3).expect("opens");
        assert_eq!(store.checkpoint("acme").expect("reads"), Checkpoint::default());
        let commit = Commit {
            cursor: Some(Cursor { next_url: "http://x/api/v1/logs?after=1_1", last_published_ms: Some(10) }),
            uuids: vec![("a", Some(1)), ("b", Some(2))],
            sinks: vec![("file", SinkPosition { generation: 1, len: 99 })],
            spooled: Vec::new(),
            detection_state: None,
        };
        store.commit("acme", &commit).expect("commits");
        assert_eq!(store.window_uuids("acme").expect("reads"), ["a", "b"]);
        let seen = store.already_seen("acme", ["a", "c"].into_iter()).expect("reads");
        assert_eq!(seen, HashSet::from(["a".to_owned()]));
        assert!(store.already_seen("other", ["a"].into_iter()).expect("reads").is_empty(), "orgs do not share uuids");
        store
            .commit(
                "acme",
                &Commit {
                    uuids: vec![("c", None), ("d", None)],
                    cursor: Some(Cursor { next_url: "http://x/api/v1/logs?after=2_1", last_published_ms: Some(5) }),
                    ..Commit::default()
                },
            )
            .expect("commits");
        assert_eq!(store.window_len("acme").expect("count"), 3, "the window is bounded");
        let cp = store.checkpoint("acme").expect("reads");
        assert_eq!(cp.last_published_ms, Some(10), "last published never goes back");
        assert_eq!(store.sink_position("acme", "file").expect("reads"), Some(SinkPosition { generation: 1, len: 99 }));
        store.forget_cursor("acme").expect("forgets");
        assert_eq!(store.checkpoint("acme").expect("reads").next_url, None);
        store.commit("acme", &Commit { uuids: vec![("e", Some(99))], ..Commit::default() }).expect("commits");
        let cp = store.checkpoint("acme").expect("reads");
        assert_eq!((cp.next_url, cp.last_published_ms), (None, Some(10)), "a pushed batch never moves the cursor");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn part(key: &str, value: &str) -> StatePart {
        StatePart { key: key.to_owned(), value: value.as_bytes().to_vec() }
    }

    fn parts(store: &Store, org: &str) -> Vec<(String, String)> {
        let parts = store.detection_state_parts(org).expect("reads");
        parts.into_iter().map(|p| (p.key, String::from_utf8(p.value).expect("text"))).collect()
    }

    #[test]
    fn detection_state_changes_apply_in_order_and_replace_the_old_document() {
        let dir = std::env::temp_dir().join(format!("okta-store-parts-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open(&dir.join("s.db"), 10).expect("opens");
        store
            .conn
            .execute("INSERT INTO detection_state (org, state) VALUES ('acme', x'7b7d')", [])
            .expect("an old whole state");
        assert_eq!(store.detection_state("acme").expect("reads").as_deref(), Some(&b"{}"[..]));
        let mut commit = |org: &str, changes: StateChanges| {
            store.commit(org, &Commit { detection_state: Some(&changes), ..Commit::default() }).expect("commits");
        };
        commit(
            "acme",
            StateChanges {
                dropped_prefixes: vec![String::new()],
                dropped: Vec::new(),
                written: vec![
                    part(r#"["h"]"#, "1"),
                    part(r#"["g","a","x"]"#, "2"),
                    part(r#"["g","a","y"]"#, "3"),
                    part(r#"["g","ab","x"]"#, "4"),
                    part(r#"["g","é","x"]"#, "5"),
                ],
            },
        );
        let other = vec![part(r#"["g","a","x"]"#, "other")];
        commit("other", StateChanges { dropped_prefixes: Vec::new(), dropped: Vec::new(), written: other });
        commit(
            "acme",
            StateChanges {
                // A range for the ASCII prefix, a scan for the other; neither reaches `["g","ab",`.
                dropped_prefixes: vec![r#"["g","a","#.to_owned(), "[\"g\",\"é".to_owned()],
                dropped: vec![r#"["h"]"#.to_owned()],
                written: vec![part(r#"["g","a","y"]"#, "6"), part(r#"["h"]"#, "7")],
            },
        );
        let want = [(r#"["g","a","y"]"#, "6"), (r#"["g","ab","x"]"#, "4"), (r#"["h"]"#, "7")];
        let want: Vec<(String, String)> = want.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(parts(&store, "acme"), want);
        assert_eq!(store.detection_state("acme").expect("reads"), None, "the first parts replace the old document");
        assert_eq!(parts(&store, "other"), [(r#"["g","a","x"]"#.to_owned(), "other".to_owned())]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
