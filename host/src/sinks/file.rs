//! Rotating NDJSON files, the default sink.
//!
//! Files are named `<prefix>-<generation>.ndjson` with a six-digit generation; the highest is
//! the active one. Rotation starts the next generation once the active file is larger than
//! `max_bytes` or older than `max_age`, and only at a flush, so a committed position (generation,
//! length) always names bytes that are on disk. Recovery deletes newer generations and truncates
//! the committed one to its committed length: whatever a crash left half-written is gone, and the
//! poller writes it again.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::Doc;
use crate::store::SinkPosition;

#[derive(Debug, Clone)]
pub struct FileSinkConfig {
    pub dir: PathBuf,
    pub prefix: String,
    pub max_bytes: u64,
    pub max_age: Duration,
}

#[derive(Debug)]
pub struct FileSink {
    config: FileSinkConfig,
    name: String,
    generation: u64,
    file: File,
    len: u64,
    opened: Instant,
    buffer: Vec<u8>,
}

impl FileSink {
    pub fn open(config: FileSinkConfig) -> Result<FileSink> {
        std::fs::create_dir_all(&config.dir).with_context(|| format!("while creating {}", config.dir.display()))?;
        let generation = generations(&config.dir, &config.prefix)?.into_iter().max().unwrap_or(1);
        let path = path_of(&config, generation);
        let file = open_append(&path)?;
        let len = file.metadata().with_context(|| format!("while reading {}", path.display()))?.len();
        let name = format!("file:{}", config.dir.join(&config.prefix).display());
        Ok(FileSink {
            config,
            name,
            generation,
            file,
            len,
            opened: Instant::now(),
            buffer: Vec::with_capacity(1 << 20),
        })
    }

    /// The active file.
    pub fn active_path(&self) -> PathBuf {
        path_of(&self.config, self.generation)
    }

    fn rotate(&mut self) -> Result<()> {
        self.generation += 1;
        let path = path_of(&self.config, self.generation);
        self.file = open_append(&path)?;
        self.len = 0;
        self.opened = Instant::now();
        sync_dir(&self.config.dir)?;
        Ok(())
    }
}

impl FileSink {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn write(&mut self, docs: &[Doc<'_>]) -> Result<()> {
        for doc in docs {
            self.buffer.extend_from_slice(doc.json.as_bytes());
            self.buffer.push(b'\n');
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<Option<SinkPosition>> {
        if !self.buffer.is_empty() {
            let path = self.active_path();
            self.file.write_all(&self.buffer).with_context(|| format!("while writing {}", path.display()))?;
            self.len += self.buffer.len() as u64;
            self.buffer.clear();
            self.file.sync_data().with_context(|| format!("while syncing {}", path.display()))?;
        }
        if self.len > 0 && (self.len >= self.config.max_bytes || self.opened.elapsed() >= self.config.max_age) {
            self.rotate()?;
        }
        Ok(Some(SinkPosition { generation: self.generation, len: self.len }))
    }

    pub fn recover(&mut self, committed: Option<SinkPosition>) -> Result<()> {
        let committed = committed.unwrap_or(SinkPosition { generation: 1, len: 0 });
        for generation in generations(&self.config.dir, &self.config.prefix)? {
            if generation > committed.generation {
                let path = path_of(&self.config, generation);
                std::fs::remove_file(&path)
                    .with_context(|| format!("while removing uncommitted {}", path.display()))?;
            }
        }
        self.generation = committed.generation;
        let path = self.active_path();
        self.file = open_append(&path)?;
        let actual = self.file.metadata()?.len();
        if actual > committed.len {
            tracing::info!(file = %path.display(), dropped_bytes = actual - committed.len, "Rolling back writes that were never committed.");
            self.file.set_len(committed.len).with_context(|| format!("while truncating {}", path.display()))?;
            self.file.sync_all()?;
        }
        self.len = committed.len.min(actual);
        self.buffer.clear();
        Ok(())
    }
}

fn path_of(config: &FileSinkConfig, generation: u64) -> PathBuf {
    config.dir.join(format!("{}-{generation:06}.ndjson", config.prefix))
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("while opening {}", path.display()))
}

fn generations(dir: &Path, prefix: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("while listing {}", dir.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(g) =
            name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')).and_then(|r| r.strip_suffix(".ndjson"))
            && let Ok(g) = g.parse()
        {
            out.push(g);
        }
    }
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("while syncing {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> Doc<'_> {
        Doc { id: None, json }
    }

    fn sink(dir: &Path, max_bytes: u64) -> FileSink {
        FileSink::open(FileSinkConfig {
            dir: dir.to_path_buf(),
            prefix: "acme".into(),
            max_bytes,
            max_age: Duration::from_secs(3600),
        })
        .expect("opens")
    }

    #[test]
    fn rotates_and_rolls_back_uncommitted_writes() {
        let dir = std::env::temp_dir().join(format!("okta-file-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = sink(&dir, 10);
        s.write(&[doc("{\"a\":1}")]).expect("writes");
        let committed = s.flush().expect("flushes").expect("a position");
        assert_eq!(committed, SinkPosition { generation: 1, len: 8 });
        s.write(&[doc("{\"b\":22}"), doc("{\"c\":3}")]).expect("writes");
        let after = s.flush().expect("flushes").expect("a position");
        assert_eq!(after.generation, 2, "over max_bytes: rotated");
        // A crash before `after` was committed: recovery returns to `committed`.
        let mut s = sink(&dir, 10);
        s.recover(Some(committed)).expect("recovers");
        assert_eq!(std::fs::read_to_string(dir.join("acme-000001.ndjson")).expect("reads"), "{\"a\":1}\n");
        assert!(!dir.join("acme-000002.ndjson").exists(), "the uncommitted generation is gone");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
