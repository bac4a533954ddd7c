//! The spool: pushed deliveries (event hooks, EventBridge API destinations) made durable before
//! they are acknowledged.
//!
//! Okta gives a hook 3 s and retries once, so `serve` answers 200 only after the request body is
//! in the store and fsynced, and writes it to the sinks afterwards. One thread owns a connection
//! of its own and commits whatever requests are waiting in a single transaction (group commit):
//! under load, 50 concurrent deliveries cost one fsync, not 50.
//!
//! The spool is its own SQLite file (`spool_path`), so an acknowledgement never waits for the
//! main file's write lock. Rows leave it right after the transaction that records their uuids
//! and the sinks' positions (`Store::commit`); a crash in between writes them again on restart,
//! and the uuid window drops them all as already written.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use anyhow::{Context as _, Result};
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

/// One spooled delivery.
#[derive(Debug, Clone)]
pub struct SpoolEntry {
    pub id: i64,
    /// `event_hook` or `eventbridge`.
    pub channel: String,
    pub received_ms: i64,
    pub body: Vec<u8>,
}

/// Why a delivery could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool holds {held} bytes not yet written to the sinks (limit {limit}); are the sinks failing?")]
    Full { held: u64, limit: u64 },
    #[error("the store could not save the delivery: {0}")]
    Store(String),
}

struct Job {
    org: String,
    channel: &'static str,
    received_ms: i64,
    body: Vec<u8>,
    reply: oneshot::Sender<Result<i64, String>>,
}

/// The spool's writer: cheap to clone, shared by every request handler.
#[derive(Debug, Clone)]
pub struct Spooler {
    tx: mpsc::Sender<Job>,
    /// Bytes in the spool: added here, taken off by [`Spooler::done`].
    held: Arc<AtomicU64>,
    limit: u64,
}

/// At most this much is committed in one transaction.
const GROUP_BYTES: usize = 64 << 20;
const GROUP_JOBS: usize = 512;

/// The spool file beside the store at `store`: `okta-normalizer.db` → `okta-normalizer.spool.db`.
pub fn spool_path(store: &Path) -> std::path::PathBuf {
    let stem = store.file_stem().map_or_else(|| "store".into(), |s| s.to_string_lossy().into_owned());
    store.with_file_name(format!("{stem}.spool.db"))
}

/// Opens (or creates) the spool file.
pub(super) fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("while opening the spool {}", path.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 10000;
         CREATE TABLE IF NOT EXISTS spool (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             org TEXT NOT NULL,
             channel TEXT NOT NULL,
             received_ms INTEGER NOT NULL,
             body BLOB NOT NULL
         );
         CREATE INDEX IF NOT EXISTS spool_by_org ON spool (org, id);",
    )
    .with_context(|| format!("while preparing the spool {}", path.display()))?;
    Ok(conn)
}

impl Spooler {
    /// Opens a second connection to the spool of the store at `path` (which `Store::open` has
    /// created) and starts the writer thread. `held` is what the spool holds now.
    pub fn open(path: &Path, held: u64, limit: u64) -> Result<Spooler> {
        let conn = open(&spool_path(path))?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("okta-spool".into())
            .spawn(move || writer(conn, &rx))
            .context("while starting the spool writer")?;
        Ok(Spooler { tx, held: Arc::new(AtomicU64::new(held)), limit })
    }

    /// Makes `body` durable; returns its spool id once it is fsynced.
    pub async fn spool(&self, org: &str, channel: &'static str, body: Vec<u8>) -> Result<i64, SpoolError> {
        let held = self.held.load(Ordering::Relaxed);
        if held.saturating_add(body.len() as u64) > self.limit {
            return Err(SpoolError::Full { held, limit: self.limit });
        }
        let len = body.len() as u64;
        let (reply, answer) = oneshot::channel();
        let job = Job { org: org.to_owned(), channel, received_ms: crate::time::now_ms(), body, reply };
        self.tx.send(job).map_err(|_| SpoolError::Store("the spool writer has stopped".into()))?;
        let id = answer
            .await
            .map_err(|_| SpoolError::Store("the spool writer has stopped".into()))?
            .map_err(SpoolError::Store)?;
        self.held.fetch_add(len, Ordering::Relaxed);
        Ok(id)
    }

    /// Records that spooled deliveries of `bytes` in all were written and removed.
    pub fn done(&self, bytes: u64) {
        let _ = self.held.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| Some(h.saturating_sub(bytes)));
    }

    /// Bytes in the spool now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

/// The writer thread: waits for a job, takes every job already waiting (up to a group's size),
/// commits them in one transaction and answers each.
fn writer(mut conn: Connection, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        let mut bytes = group[0].body.len();
        while group.len() < GROUP_JOBS && bytes < GROUP_BYTES {
            match rx.try_recv() {
                Ok(job) => {
                    bytes += job.body.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        match insert(&mut conn, &group) {
            Ok(ids) => {
                for (job, id) in group.into_iter().zip(ids) {
                    let _ = job.reply.send(Ok(id));
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                tracing::error!(error = %message, "The spool could not save deliveries; answering 503.");
                for job in group {
                    let _ = job.reply.send(Err(message.clone()));
                }
            }
        }
    }
}

fn insert(conn: &mut Connection, group: &[Job]) -> Result<Vec<i64>> {
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(group.len());
    {
        let mut stmt =
            tx.prepare_cached("INSERT INTO spool (org, channel, received_ms, body) VALUES (?1, ?2, ?3, ?4)")?;
        for job in group {
            stmt.execute(params![job.org, job.channel, job.received_ms, job.body])?;
            ids.push(tx.last_insert_rowid());
        }
    }
    tx.commit()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Commit, Store};

    #[tokio::test]
    async fn spooled_deliveries_survive_until_committed_and_the_limit_holds() {
        let dir = std::env::temp_dir().join(format!("okta-spool-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("s.db");
        let mut store = Store::open(&path, 100).expect("opens");
        let spooler = Spooler::open(&path, 0, 50).expect("spooler");
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let s = spooler.clone();
                tokio::spawn(async move { s.spool("acme", "event_hook", vec![b'a' + i; 5]).await })
            })
            .collect();
        let mut ids = Vec::new();
        for h in handles {
            ids.push(h.await.expect("joins").expect("spools"));
        }
        assert_eq!(spooler.held(), 40);
        let err = spooler.spool("acme", "event_hook", vec![0; 20]).await.expect_err("over the limit");
        assert!(matches!(err, SpoolError::Full { held: 40, limit: 50 }), "{err}");
        drop(store);
        // Reopened (as after a crash), everything is still there, oldest first.
        store = Store::open(&path, 100).expect("reopens");
        let entries = store.spooled("acme", 100, usize::MAX).expect("reads");
        assert_eq!(entries.len(), 8);
        assert!(entries.windows(2).all(|w| w[0].id < w[1].id));
        assert!(store.spooled("other", 100, usize::MAX).expect("reads").is_empty());
        assert_eq!(store.spooled("acme", 100, 9).expect("reads").len(), 2, "a byte budget stops early");
        store
            .commit("acme", &Commit { spooled: entries.iter().take(3).map(|e| e.id).collect(), ..Commit::default() })
            .expect("commits");
        assert_eq!(store.spool_size().expect("size"), (5, 25));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
