//! Standard output. It cannot take back what it printed, so across a crash it is at-least-once.

use std::io::Write;

use anyhow::{Context as _, Result};

use super::Sink;
use crate::store::SinkPosition;

#[derive(Debug, Default)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn name(&self) -> &str {
        "stdout"
    }

    fn write(&mut self, docs: &[&str]) -> Result<()> {
        let mut out = std::io::stdout().lock();
        for doc in docs {
            out.write_all(doc.as_bytes()).context("while writing to stdout")?;
            out.write_all(b"\n").context("while writing to stdout")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<Option<SinkPosition>> {
        std::io::stdout().flush().context("while flushing stdout")?;
        Ok(None)
    }

    fn recover(&mut self, _committed: Option<SinkPosition>) -> Result<()> {
        Ok(())
    }
}
