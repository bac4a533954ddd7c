//! Sinks: where ECS documents go.
//!
//! A sink buffers documents with [`Sink::write`], makes them durable with [`Sink::flush`] and
//! returns the position to commit with the checkpoint. After a crash, [`Sink::recover`] rolls the
//! sink back to the committed position, so the batch that is fetched again is not written twice.

mod file;
mod stdout;

pub use file::{FileSink, FileSinkConfig};
pub use stdout::StdoutSink;

use anyhow::Result;

use crate::store::SinkPosition;

pub trait Sink: Send + std::fmt::Debug {
    /// A name unique among an org's sinks, used as the key of its committed position.
    fn name(&self) -> &str;
    /// Buffers documents (each is one line of compact JSON).
    fn write(&mut self, docs: &[&str]) -> Result<()>;
    /// Makes everything written durable. `Some` position for sinks that can roll back to it.
    fn flush(&mut self) -> Result<Option<SinkPosition>>;
    /// Rolls back to the last committed position (drops writes that were never committed).
    fn recover(&mut self, committed: Option<SinkPosition>) -> Result<()>;
}
