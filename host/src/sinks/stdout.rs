//! Standard output. It cannot take back what it printed, so across a crash it is at-least-once.

use std::io::Write;

use anyhow::{Context as _, Result};

use super::Doc;
use crate::store::SinkPosition;

#[derive(Debug, Default)]
pub struct StdoutSink;

impl StdoutSink {
    pub fn write(&mut self, docs: &[Doc<'_>]) -> Result<()> {
        let mut out = std::io::stdout().lock();
        for doc in docs {
            out.write_all(doc.json.as_bytes()).context("while writing to stdout")?;
            out.write_all(b"\n").context("while writing to stdout")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<Option<SinkPosition>> {
        std::io::stdout().flush().context("while flushing stdout")?;
        Ok(None)
    }
}
