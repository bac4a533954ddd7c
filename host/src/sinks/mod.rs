//! Sinks: where ECS documents go.
//!
//! A sink buffers documents with [`Sink::write`], makes them durable with [`Sink::flush`] and
//! returns the position to commit with the checkpoint. After a crash, [`Sink::recover`] rolls the
//! sink back to the committed position, so the batch that is fetched again is not written twice.
//! The OpenSearch sink needs no position: `create` with `_id` = uuid makes a replay a no-op.

mod file;
mod opensearch;
mod stdout;

pub use file::{FileSink, FileSinkConfig};
pub use opensearch::{OpenSearchSink, OpenSearchSinkConfig};
pub use stdout::StdoutSink;

use anyhow::Result;

use crate::store::SinkPosition;

/// One document on its way out: its uuid (the idempotency key where a sink has one) and its
/// compact JSON.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    pub id: Option<&'a str>,
    pub json: &'a str,
}

/// Every kind of sink. An enum rather than a trait object, so flushing can be async.
#[derive(Debug)]
pub enum Sink {
    File(FileSink),
    Stdout(StdoutSink),
    OpenSearch(OpenSearchSink),
}

impl Sink {
    /// A name unique among an org's sinks, the key of its committed position.
    pub fn name(&self) -> &str {
        match self {
            Sink::File(s) => s.name(),
            Sink::Stdout(_) => "stdout",
            Sink::OpenSearch(s) => s.name(),
        }
    }

    /// Buffers documents.
    pub fn write(&mut self, docs: &[Doc<'_>]) -> Result<()> {
        match self {
            Sink::File(s) => s.write(docs),
            Sink::Stdout(s) => s.write(docs),
            Sink::OpenSearch(s) => {
                s.write(docs);
                Ok(())
            }
        }
    }

    /// Makes everything written durable. `Some` position for sinks that roll back to it.
    pub async fn flush(&mut self) -> Result<Option<SinkPosition>> {
        match self {
            Sink::File(s) => s.flush(),
            Sink::Stdout(s) => s.flush(),
            Sink::OpenSearch(s) => s.flush().await.map(|()| None),
        }
    }

    /// Rolls back to the last committed position.
    pub fn recover(&mut self, committed: Option<SinkPosition>) -> Result<()> {
        match self {
            Sink::File(s) => s.recover(committed),
            Sink::OpenSearch(s) => {
                s.discard_pending();
                Ok(())
            }
            Sink::Stdout(_) => Ok(()),
        }
    }
}
