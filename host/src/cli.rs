//! Command-line arguments, as parsed by clap. Validation and defaults that need more than clap
//! live in the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Turns the Okta System Log into Elastic Common Schema (ECS) documents.
#[derive(Debug, Parser)]
#[command(name = "okta-normalizer", version, propagate_version = true)]
#[command(about = "Turns the Okta System Log into Elastic Common Schema (ECS) documents")]
pub struct Cli {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// How the normalizer component is loaded.
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Run this component file instead of the one built into the binary.
    #[arg(long, global = true, value_name = "FILE", env = "OKTA_NORMALIZER_COMPONENT_FILE")]
    pub component: Option<PathBuf>,
    /// Where compiled component code is cached [default: $XDG_CACHE_HOME/okta-normalizer or ~/.cache/okta-normalizer].
    #[arg(long, global = true, value_name = "DIR", env = "OKTA_NORMALIZER_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile the component on every start instead of caching it.
    #[arg(long, global = true)]
    pub no_cache: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Normalize Okta events from a file or stdin into ECS NDJSON.
    ///
    /// The input may be one LogEvent, a JSON array (an API page), NDJSON, an event-hook delivery or an
    /// EventBridge envelope; it is detected unless --format names it. Events that cannot be read are
    /// reported on stderr and written as `event.kind: pipeline_error` documents that keep the raw
    /// text; the run continues. Exit status: 0 when every event was normalized, 1 when any failed,
    /// 2 on a usage or I/O error.
    Normalize(NormalizeArgs),
    /// Write the embedded normalizer component (a WebAssembly component) to a file, for platforms
    /// that embed it themselves.
    Component(ComponentArgs),
    /// Poll the System Log of every org in a config file into its sinks, exactly once.
    ///
    /// Resumes from the cursor in the store after a restart. Stops on Ctrl-C after the current page.
    Poll(PollArgs),
    /// Receive Okta event hooks and Log Streaming (EventBridge API destinations, SQS queues), and
    /// poll every org that has [org.auth] to fill what pushes miss, exactly once into the sinks.
    ///
    /// A delivery is answered 200 only once it is durable in the store; it is written to the sinks
    /// right after. Stops on Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Sync the directory (users, groups, memberships, devices, admin roles, user schema) of every
    /// org with [org.directory] enabled = true into the store, and write changed users and devices
    /// to the sinks as entity documents.
    ///
    /// Without --once it runs on the schedule (a full sync every full_interval_secs, an incremental
    /// one every incremental_interval_secs) until Ctrl-C; `poll` and `serve` run the same schedule.
    Sync(SyncArgs),
    /// Run the Okta simulator: the System Log API with generated activity and attack scenarios.
    Sim(SimArgs),
    /// Run the simulator and the poller together for a while: events flow from a simulated org into
    /// ECS files, with a status line every 2 s.
    Demo(DemoArgs),
    /// Serve the browser playground (built by ./scripts/web) on localhost: paste Okta events, see
    /// the ECS output, where each field came from, and the rules that fire, all computed in the page.
    Web(WebArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Detection rules: list them, run the tests written inside them, check a file.
    #[command(subcommand)]
    Rules(RulesCommand),
}

/// Which rules an engine loads; shared by `normalize`, `poll`, `serve` and `rules`.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// A directory (or file) of your own Sigma rules, loaded after the built-in pack; repeatable.
    /// `poll` and `serve` add these to the rules of the config's `[detection]` table.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Do not load the built-in Okta pack.
    #[arg(long)]
    pub no_builtin_rules: bool,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List every loaded rule: id, level, kind, ATT&CK tactics and file.
    List(RulesListArgs),
    /// Run the tests inside the rules of DIR (default: the built-in pack), each as written and with
    /// lowercased keys. Exit status 1 when any test fails.
    Test(RulesTestArgs),
    /// Check one rule file: every problem with its line and column. Exit status 1 when any.
    Lint(RulesLintArgs),
}

#[derive(Debug, Args)]
pub struct RulesListArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// One JSON object per rule instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RulesTestArgs {
    /// A directory or file of rules to test; without it, the built-in pack.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Also load the built-in pack when testing DIR (so DIR's rules can refer to it).
    #[arg(long)]
    pub with_builtin: bool,
    /// Print every test, not only the failures.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct RulesLintArgs {
    /// The rule file (YAML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct PollArgs {
    /// The TOML config (`okta-normalizer config example` prints one).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Stop once every org is caught up, instead of polling on.
    #[arg(long)]
    pub once: bool,
    /// Seconds between status lines.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub status_secs: u64,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The TOML config (`okta-normalizer config example` prints one).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Run one sync now and stop: a full one, or with --incremental only what changed since the
    /// last one (a full one when there was none).
    #[arg(long)]
    pub once: bool,
    /// With --once: an incremental sync.
    #[arg(long, requires = "once")]
    pub incremental: bool,
    /// Only this org (its [org.directory] need not be enabled).
    #[arg(long, value_name = "NAME")]
    pub org: Option<String>,
    /// Seconds between status lines.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub status_secs: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The TOML config (`okta-normalizer config example` prints one).
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Seconds between status lines.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub status_secs: u64,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: std::net::SocketAddr,
    /// The rate-limit preset for /api/v1/logs.
    #[arg(long, value_enum, default_value_t = OrgTypeArg::Workforce)]
    pub org_type: OrgTypeArg,
    /// The API token the simulator accepts.
    #[arg(long, default_value = crate::sim::DEFAULT_TOKEN)]
    pub token: String,
    /// Seed for the generated activity (same seed, same events).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Hours of history to start with.
    #[arg(long, default_value_t = 24)]
    pub history_hours: u64,
    /// Events of history to start with.
    #[arg(long, default_value_t = 5000)]
    pub history_events: usize,
    /// New events per minute while it runs.
    #[arg(long, default_value_t = 60)]
    pub events_per_minute: u32,
    /// Users in the simulated directory (/api/v1/users, groups, devices, admin roles, schema); the
    /// log's actors are among them.
    #[arg(long, default_value_t = 200)]
    pub directory_users: usize,
}

/// Okta org types, which set the System Log rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrgTypeArg {
    /// 20 requests per minute.
    IntegratorFree,
    /// 50 requests per minute.
    OneApp,
    /// 120 requests per minute.
    Workforce,
}

impl From<OrgTypeArg> for crate::sim::OrgType {
    fn from(a: OrgTypeArg) -> Self {
        match a {
            OrgTypeArg::IntegratorFree => crate::sim::OrgType::IntegratorFree,
            OrgTypeArg::OneApp => crate::sim::OrgType::OneApp,
            OrgTypeArg::Workforce => crate::sim::OrgType::Workforce,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the config, store and ECS files go (replaced on each run).
    #[arg(long, default_value = "target/demo")]
    pub dir: PathBuf,
    /// How long to run.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Events of history in the simulated org.
    #[arg(long, default_value_t = 20000)]
    pub history_events: usize,
    /// Run `serve` instead of `poll`: the simulated org also delivers through an event hook
    /// (after Okta's verification handshake) and a Log Stream to an EventBridge API destination,
    /// while the poller backfills; each event is written once.
    #[arg(long)]
    pub push: bool,
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The built playground directory.
    #[arg(long, value_name = "DIR", default_value = "web-demo/dist")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented example config for `poll`.
    Example,
}

#[derive(Debug, Args)]
pub struct NormalizeArgs {
    /// Input files, each read on its own; `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Write only the alerts and signals the rules raise, not the events.
    #[arg(long)]
    pub alerts_only: bool,
    /// Enrich events from this directory snapshot, as `poll` does from a synced directory: one
    /// JSON object `{"users": [..], "groups": [..], "devices": [..], "memberships": {..}, "roles":
    /// {..}, "schema": {..}}`, each object as Okta's API returns it (the format of rule tests'
    /// `directory:`).
    #[arg(long, value_name = "FILE")]
    pub directory: Option<PathBuf>,
    /// Write the ECS NDJSON here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// What the input is.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// The Okta org the events come from, written to `organization.id`.
    #[arg(long, value_name = "ID", env = "OKTA_NORMALIZER_TENANT", default_value = "default")]
    pub tenant: String,
    /// The org's domain (for example acme.okta.com), written to `host.name`.
    #[arg(long, value_name = "DOMAIN")]
    pub tenant_domain: Option<String>,
    /// Keep each event's raw JSON in `event.original`.
    #[arg(long)]
    pub preserve_original: bool,
    /// Keep secret values Okta logged (such as debugData.clientSecret) instead of redacting them.
    #[arg(long)]
    pub keep_secrets: bool,
    /// Events per call into the component when reading NDJSON.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// Print every diagnostic (non-fatal oddity) on stderr, not just a count.
    #[arg(long)]
    pub diagnostics: bool,
    /// Set `event.ingested` (and the fallback `@timestamp`) to this RFC 3339 time instead of now,
    /// for reproducible output.
    #[arg(long, value_name = "TIME")]
    pub ingested: Option<String>,
}

/// What the input bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Detect it.
    Auto,
    /// One LogEvent object.
    LogEvent,
    /// A JSON array of LogEvents, as `GET /api/v1/logs` returns.
    ApiPage,
    /// One LogEvent, EventBridge envelope or event-hook delivery per line.
    Ndjson,
    /// An Okta event-hook delivery.
    EventHook,
    /// An EventBridge envelope from Okta Log Streaming.
    Eventbridge,
}

#[derive(Debug, Args)]
pub struct ComponentArgs {
    /// Where to write the component.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}
