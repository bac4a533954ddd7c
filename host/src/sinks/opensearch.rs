//! Elasticsearch / OpenSearch `_bulk`, with `create` and `_id` = the Okta uuid.
//!
//! `create` refuses a document whose `_id` exists (409), so a batch sent again after a crash adds
//! nothing: the index holds each event once without any position to roll back. Per item:
//! 201 written; 409 already there (a duplicate, counted); 400 rejected by the mapping, appended to
//! a dead-letter file with the reason (made durable before the batch counts as flushed); 429 and
//! 5xx retried with backoff. A flush succeeds only when every item is settled one of those ways.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::Doc;
use crate::config::Secret;

#[derive(Debug, Clone)]
pub struct OpenSearchSinkConfig {
    /// `http://127.0.0.1:9200`
    pub url: String,
    pub index: String,
    /// `user` and password for HTTP Basic auth, if the cluster needs it.
    pub basic_auth: Option<(String, Secret)>,
    /// Where rejected documents go, one JSON line each.
    pub dead_letter: PathBuf,
    /// Attempts for 429/5xx items before the flush fails (the poller then retries the page).
    pub max_attempts: u32,
    pub retry_base: Duration,
}

#[derive(Debug)]
pub struct OpenSearchSink {
    config: OpenSearchSinkConfig,
    name: String,
    client: reqwest::Client,
    /// (id, document) waiting for the next flush.
    pending: Vec<(Option<String>, String)>,
    /// Counters: (written, already present, dead-lettered).
    pub counts: (u64, u64, u64),
}

impl OpenSearchSink {
    pub fn new(config: OpenSearchSinkConfig) -> Result<OpenSearchSink> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .context("while setting up the OpenSearch client")?;
        let name = format!("opensearch:{}/{}", config.url.trim_end_matches('/'), config.index);
        Ok(OpenSearchSink { config, name, client, pending: Vec::new(), counts: (0, 0, 0) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops documents that were never flushed (the batch will be sent again).
    pub fn discard_pending(&mut self) {
        self.pending.clear();
    }

    pub fn write(&mut self, docs: &[Doc<'_>]) {
        self.pending.extend(docs.iter().map(|d| (d.id.map(str::to_owned), d.json.to_owned())));
    }

    pub async fn flush(&mut self) -> Result<()> {
        let mut attempt = 0;
        while !self.pending.is_empty() {
            attempt += 1;
            let retry = match self.send().await {
                Ok(retry) => retry,
                Err(error) if attempt < self.config.max_attempts => {
                    tracing::warn!(sink = %self.name, error = %format!("{error:#}"), attempt, "Bulk request failed; retrying.");
                    self.pending.len()
                }
                Err(error) => return Err(error),
            };
            if retry == 0 {
                break;
            }
            if attempt >= self.config.max_attempts {
                bail!("{}: {retry} documents were still refused (429/5xx) after {attempt} attempts", self.name);
            }
            let wait = self.config.retry_base * (1 << attempt.min(6)) + self.config.retry_base.mul_f64(fastrand::f64());
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// One `_bulk` request for everything pending. Keeps only the items to retry in `pending`
    /// and returns how many there are.
    async fn send(&mut self) -> Result<usize> {
        let mut body = String::with_capacity(self.pending.iter().map(|(_, d)| d.len() + 80).sum());
        for (id, doc) in &self.pending {
            let action = match id {
                Some(id) => serde_json::json!({"create": {"_index": self.config.index, "_id": id}}),
                None => serde_json::json!({"create": {"_index": self.config.index}}),
            };
            body.push_str(&action.to_string());
            body.push('\n');
            body.push_str(doc);
            body.push('\n');
        }
        let url = format!("{}/_bulk", self.config.url.trim_end_matches('/'));
        let mut request = self.client.post(&url).header("content-type", "application/x-ndjson").body(body);
        if let Some((user, password)) = &self.config.basic_auth {
            request = request.basic_auth(user, Some(password.expose()));
        }
        let response =
            request.send().await.with_context(|| format!("{}: the bulk request did not complete", self.name))?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            bail!("{}: the bulk request got {status}", self.name);
        }
        let bytes = response.bytes().await.with_context(|| format!("{}: the bulk reply did not arrive", self.name))?;
        let reply: Value =
            serde_json::from_slice(&bytes).with_context(|| format!("{}: the bulk reply is not JSON", self.name))?;
        if !status.is_success() {
            bail!("{}: the bulk request was refused ({status}): {}", self.name, reply["error"]);
        }
        let items = reply["items"].as_array().map_or(&[][..], Vec::as_slice);
        if items.len() != self.pending.len() {
            bail!("{}: the bulk reply has {} items for {} documents", self.name, items.len(), self.pending.len());
        }
        let mut retry = Vec::new();
        let mut dead = Vec::new();
        for (item, pending) in items.iter().zip(self.pending.drain(..)) {
            let result = &item["create"];
            match result["status"].as_u64().unwrap_or(0) {
                200..=299 => self.counts.0 += 1,
                409 => self.counts.1 += 1,
                429 | 500..=599 => retry.push(pending),
                _ => dead.push(serde_json::json!({
                    "index": self.config.index,
                    "id": pending.0,
                    "status": result["status"],
                    "error": result["error"],
                    "document": pending.1,
                })),
            }
        }
        if !dead.is_empty() {
            self.dead_letter(&dead)?;
        }
        self.pending = retry;
        Ok(self.pending.len())
    }

    fn dead_letter(&mut self, entries: &[Value]) -> Result<()> {
        let path = &self.config.dead_letter;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("while opening the dead-letter file {}", path.display()))?;
        for e in entries {
            writeln!(file, "{e}").with_context(|| format!("while writing {}", path.display()))?;
        }
        file.sync_data().with_context(|| format!("while syncing {}", path.display()))?;
        self.counts.2 += entries.len() as u64;
        tracing::warn!(sink = %self.name, count = entries.len(), file = %path.display(), "Documents were rejected by the index and kept in the dead-letter file.");
        Ok(())
    }
}
