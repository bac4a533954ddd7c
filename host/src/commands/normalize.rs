//! `okta-normalizer normalize`: Okta events from a file or stdin → ECS NDJSON.
//!
//! NDJSON is streamed in batches of `--batch-size` lines, so memory stays flat on large files.
//! Any other input (one document, an API page, a hook delivery, an EventBridge envelope) is read
//! whole and sent in one call. Format detection happens in the guest; the host only decides
//! whether the input is line-oriented, by checking that the first line is a complete JSON object
//! and a second one follows.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use crate::cli::{Format, NormalizeArgs};
use crate::guest::{AlertKind, BatchOptions, EngineConfig, InputFormat, Normalizer, Outcome, OutputOptions, Runtime};

pub(super) fn run(args: &NormalizeArgs, runtime: &Runtime) -> Result<ExitCode> {
    let detection = crate::detection::DetectionSettings::default().with_args(&args.rules).to_wit()?;
    let config = EngineConfig {
        tenant_id: args.tenant.clone(),
        tenant_domain: args.tenant_domain.clone(),
        output: OutputOptions { preserve_original: args.preserve_original, redact_secrets: !args.keep_secrets },
        detection,
        enrichment: crate::guest::EnrichmentConfig::defaults(),
    };
    let mut normalizer = match runtime.instantiate(&config)? {
        Ok(n) => n,
        Err(e) => return Err(crate::detection::refused("normalize", &e)),
    };
    if let Some(path) = &args.directory {
        load_directory(&mut normalizer, path)?;
    }
    let ingested = match &args.ingested {
        Some(t) => {
            t.parse::<jiff::Timestamp>()
                .with_context(|| format!("--ingested '{t}' is not an RFC 3339 time such as 2026-11-21T10:00:00Z"))?;
            t.clone()
        }
        None => {
            jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| jiff::Timestamp::now()).to_string()
        }
    };

    let output: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(File::create(p).with_context(|| format!("while creating {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut run = Run {
        normalizer: &mut normalizer,
        out: BufWriter::with_capacity(1 << 20, output),
        ingested,
        print_diagnostics: args.diagnostics,
        alerts_only: args.alerts_only,
        source: String::new(),
        stats: Stats::default(),
    };
    let stdin = [PathBuf::from("-")];
    let inputs = if args.inputs.is_empty() { &stdin[..] } else { &args.inputs[..] };
    let mut formats = Vec::new();
    for path in inputs {
        let input: Box<dyn Read> = if path.as_os_str() == "-" {
            run.source = String::new();
            Box::new(std::io::stdin().lock())
        } else {
            run.source = if inputs.len() > 1 { format!("{}: ", path.display()) } else { String::new() };
            Box::new(File::open(path).with_context(|| format!("while opening {}", path.display()))?)
        };
        let detected = run
            .feed(BufReader::with_capacity(1 << 20, input), args.format, args.batch_size as usize)
            .with_context(|| {
                format!(
                    "while normalizing {}",
                    if path.as_os_str() == "-" { "stdin".into() } else { path.display().to_string() }
                )
            })?;
        if let Some(f) = detected.filter(|f| !formats.contains(f)) {
            formats.push(f);
        }
    }
    run.out.flush().context("while writing the output")?;

    let s = &run.stats;
    let from = if formats.is_empty() {
        "empty input".to_owned()
    } else {
        formats.into_iter().map(describe).collect::<Vec<_>>().join(" and ")
    };
    eprintln!(
        "okta-normalizer: {} events from {from}: {} normalized, {} failed, {} with diagnostics{}; {} alerts, {} signals",
        s.normalized + s.failed,
        s.normalized,
        s.failed,
        s.with_diagnostics,
        if s.with_diagnostics > 0 && !args.diagnostics { " (--diagnostics lists them)" } else { "" },
        s.alerts,
        s.signals,
    );
    Ok(if s.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[derive(Debug, Default)]
struct Stats {
    normalized: u64,
    failed: u64,
    with_diagnostics: u64,
    alerts: u64,
    signals: u64,
}

struct Run<'n, W: Write> {
    normalizer: &'n mut Normalizer,
    out: BufWriter<W>,
    ingested: String,
    print_diagnostics: bool,
    alerts_only: bool,
    /// `file: ` when several inputs are read, so messages say which.
    source: String,
    stats: Stats,
}

/// A batch of input, and how its line numbers map to the whole input's.
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    /// NDJSON: the input line number of each line in `bytes` (blank lines are left out).
    lines: Vec<u32>,
    /// A whole document: the input line where `bytes` starts.
    first_line: u32,
}

impl Chunk {
    /// The input line of the chunk's 1-based line `line`.
    fn input_line(&self, line: u32) -> u32 {
        if self.lines.is_empty() {
            return self.first_line.saturating_add(line.saturating_sub(1));
        }
        usize::try_from(line).ok().and_then(|l| self.lines.get(l.checked_sub(1)?)).copied().unwrap_or(0)
    }

    fn push(&mut self, line: &[u8], number: u32) {
        self.bytes.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            self.bytes.push(b'\n');
        }
        self.lines.push(number);
    }
}

impl<W: Write> Run<'_, W> {
    /// Reads all input and normalizes it. Returns the format the guest saw (None if empty).
    fn feed(&mut self, mut reader: impl BufRead, format: Format, batch_size: usize) -> Result<Option<InputFormat>> {
        let mut line_no = 0u32;
        let mut next_line = |reader: &mut dyn BufRead, buf: &mut Vec<u8>| -> Result<Option<u32>> {
            loop {
                buf.clear();
                if reader.read_until(b'\n', buf).context("while reading the input")? == 0 {
                    return Ok(None);
                }
                line_no += 1;
                if !buf.trim_ascii().is_empty() {
                    return Ok(Some(line_no));
                }
            }
        };

        let mut first = Vec::new();
        let Some(first_no) = next_line(&mut reader, &mut first)? else {
            return Ok(None);
        };
        let line_oriented = match format {
            Format::Ndjson => true,
            Format::Auto => is_complete_object(&first),
            _ => false,
        };
        if line_oriented {
            let mut second = Vec::new();
            let Some(second_no) = next_line(&mut reader, &mut second)? else {
                // A single line: it may be a hook delivery or envelope; let the guest detect it.
                let mut chunk = Chunk::default();
                chunk.push(&first, first_no);
                return self.call(&chunk, wit_format(format)).map(Some);
            };
            let mut chunk = Chunk::default();
            chunk.push(&first, first_no);
            chunk.push(&second, second_no);
            let mut line = Vec::new();
            let mut detected = None;
            while let Some(no) = next_line(&mut reader, &mut line)? {
                if chunk.lines.len() >= batch_size {
                    detected = Some(self.call(&chunk, InputFormat::Ndjson)?);
                    chunk = Chunk::default();
                }
                chunk.push(&line, no);
            }
            if !chunk.lines.is_empty() {
                detected = Some(self.call(&chunk, InputFormat::Ndjson)?);
            }
            return Ok(detected);
        }

        // One document: read it whole. Guest line numbers are relative to its first line.
        let mut chunk = Chunk { bytes: first, lines: Vec::new(), first_line: first_no };
        reader.read_to_end(&mut chunk.bytes).context("while reading the input")?;
        self.call(&chunk, wit_format(format)).map(Some)
    }

    /// One call into the guest; writes every outcome and reports failures.
    fn call(&mut self, chunk: &Chunk, format: InputFormat) -> Result<InputFormat> {
        let options = BatchOptions { format, ingested: Some(self.ingested.clone()) };
        let result = match self.normalizer.normalize(&chunk.bytes, &options)? {
            Ok(result) => result,
            Err(e) => bail!("{} [{}]", e.message, e.code),
        };
        for located in &result.outcomes {
            let line = chunk.input_line(located.line);
            let document = match &located.outcome {
                Outcome::Normalized(n) => {
                    self.stats.normalized += 1;
                    if !n.diagnostics.is_empty() {
                        self.stats.with_diagnostics += 1;
                        if self.print_diagnostics {
                            for d in &n.diagnostics {
                                let at = if d.path.is_empty() { String::new() } else { format!(" at {}", d.path) };
                                eprintln!(
                                    "okta-normalizer: {}line {line}: {} {}{at}: {}",
                                    self.source,
                                    d.code,
                                    n.uuid.as_deref().unwrap_or("(no uuid)"),
                                    d.message
                                );
                            }
                        }
                    }
                    &n.document
                }
                Outcome::Failed(e) => {
                    self.stats.failed += 1;
                    eprintln!(
                        "okta-normalizer: {}line {line}: {} {} (written as a pipeline_error document with the raw text)",
                        self.source, e.code, e.message
                    );
                    &e.document
                }
            };
            if !self.alerts_only {
                self.out.write_all(document.as_bytes()).context("while writing the output")?;
                self.out.write_all(b"\n").context("while writing the output")?;
            }
        }
        for alert in &result.alerts {
            match alert.kind {
                AlertKind::Alert => self.stats.alerts += 1,
                AlertKind::Signal => self.stats.signals += 1,
            }
            self.out.write_all(alert.document.as_bytes()).context("while writing the output")?;
            self.out.write_all(b"\n").context("while writing the output")?;
        }
        Ok(result.format)
    }
}

/// Whether a line holds one complete JSON object (so the input is line-oriented).
fn is_complete_object(line: &[u8]) -> bool {
    line.trim_ascii_start().starts_with(b"{") && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
}

fn wit_format(f: Format) -> InputFormat {
    match f {
        Format::Auto => InputFormat::Auto,
        Format::LogEvent => InputFormat::LogEvent,
        Format::ApiPage => InputFormat::ApiPage,
        Format::Ndjson => InputFormat::Ndjson,
        Format::EventHook => InputFormat::EventHook,
        Format::Eventbridge => InputFormat::Eventbridge,
    }
}

fn describe(f: InputFormat) -> &'static str {
    match f {
        InputFormat::Auto => "auto-detected input",
        InputFormat::LogEvent => "a single LogEvent",
        InputFormat::ApiPage => "an API page",
        InputFormat::Ndjson => "NDJSON",
        InputFormat::EventHook => "an event-hook delivery",
        InputFormat::Eventbridge => "an EventBridge envelope",
    }
}

/// Loads `--directory FILE` into the engine; objects it cannot read are warnings, a snapshot it
/// cannot read at all is an error naming the file.
fn load_directory(normalizer: &mut Normalizer, path: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--directory {}", path.display()))?;
    let result = normalizer
        .load_directory_snapshot(&text)?
        .map_err(|e| anyhow::anyhow!("--directory {}: {e}", path.display()))?;
    for p in &result.problems {
        eprintln!(
            "okta-normalizer: warning: --directory {}: {} {} skipped: {} {}",
            path.display(),
            crate::sources::directory::kind_name(p.kind),
            p.id,
            p.code,
            p.message
        );
    }
    eprintln!(
        "okta-normalizer: directory {}: {} users, {} groups, {} devices",
        path.display(),
        result.users,
        result.groups,
        result.devices
    );
    Ok(())
}
