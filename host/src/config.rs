//! The configuration of `poll` and `serve`: a TOML file, validated once here.
//!
//! Secrets never appear in the file: it names the environment variable or file that holds them.
//! `okta-normalizer config example` prints a commented example.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The push receiver of `serve` (event hooks and EventBridge API destinations).
    #[serde(default)]
    pub server: ServerConfig,
    /// The detection rules every org's engine runs.
    #[serde(default)]
    pub detection: crate::detection::DetectionSettings,
    /// Which directory fields enrich events, for every org without its own `[org.enrichment]`.
    #[serde(default)]
    pub enrichment: EnrichmentSettings,
    #[serde(rename = "org")]
    pub orgs: Vec<OrgConfig>,
}

/// `[org.directory]`: syncing the org's users, groups, memberships, devices and user schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Sync the directory (as part of `poll` and `serve`, and with `sync`).
    pub enabled: bool,
    /// Seconds between full syncs (every object listed; finds deletions).
    pub full_interval_secs: u64,
    /// Seconds between incremental syncs (only what changed since the last one).
    pub incremental_interval_secs: u64,
    /// Incremental queries reach this far behind the newest `lastUpdated` seen, to catch writes
    /// Okta's eventually consistent search showed late; what was already seen is dropped.
    pub incremental_overlap_secs: u64,
    /// Percent of each directory rate-limit bucket left for the org's other clients.
    pub rate_limit_headroom_percent: u8,
    /// Sync devices too (`/api/v1/devices?expand=user`, scope okta.devices.read).
    pub devices: bool,
    /// Sync admin role assignments too (`/api/v1/iam/assignees/users`, then each assignee's
    /// `/api/v1/users/{id}/roles`, on every sync; scope okta.roles.read). When Okta refuses them
    /// (403) the sync warns once and goes on without them; `false` stops asking and forgets the
    /// stored roles.
    pub roles: bool,
    /// On a first start (no full sync stored yet), `poll` holds its first request until the first
    /// sync has finished (or failed), at most this many seconds, so its first events are enriched.
    /// 0 polls at once.
    pub first_sync_wait_secs: u64,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            full_interval_secs: 86_400,
            incremental_interval_secs: 900,
            incremental_overlap_secs: 60,
            rate_limit_headroom_percent: 20,
            devices: true,
            roles: true,
            first_sync_wait_secs: 600,
        }
    }
}

/// `[enrichment]` or `[org.enrichment]`: which directory fields are copied onto events.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichmentSettings {
    /// Okta profile attributes copied onto the actor and User targets; empty = the defaults
    /// (email, department, title, manager, groups, roles, status).
    pub profile_fields: Vec<String>,
    /// Custom profile attributes to copy too: Okta attribute name = output name.
    pub custom_attributes: std::collections::BTreeMap<String, String>,
}

impl EnrichmentSettings {
    /// The engine's enrichment config.
    pub fn to_wit(&self) -> crate::guest::EnrichmentConfig {
        crate::guest::EnrichmentConfig {
            profile_fields: self.profile_fields.clone(),
            custom_attributes: self.custom_attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

/// The OAuth scopes a directory sync needs.
pub const DIRECTORY_SCOPES: [&str; 4] =
    ["okta.users.read", "okta.groups.read", "okta.devices.read", "okta.schemas.read"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where Prometheus metrics are served (`/metrics`), for example `127.0.0.1:9464`; off when unset.
    pub listen: Option<std::net::SocketAddr>,
}

/// Where `serve` listens, and how it treats what arrives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The address to listen on.
    pub listen: std::net::SocketAddr,
    /// A PEM certificate chain and its private key, to serve HTTPS (rustls); both or neither.
    /// Without them the server speaks plain HTTP, for use behind a TLS-terminating proxy.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// Deliveries not yet written to the sinks may use this much of the store; beyond it new
    /// deliveries get 503 (Okta retries once), so a dead sink cannot fill the disk.
    pub max_spool_bytes: u64,
    /// Where request bodies that are not valid JSON are kept, one file each.
    pub dead_letter_dir: PathBuf,
    /// Route `/hooks` and `/eventbridge` by this request header, whose value names the org
    /// (its `tenant`, or its `name`), for example Emanate's `tenant_UUID`. Paths
    /// `/hooks/<org name>` and `/eventbridge/<org name>` always work.
    pub tenant_header: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            max_body_bytes: 10 << 20,
            max_spool_bytes: 1 << 30,
            dead_letter_dir: PathBuf::from("okta-dead-letter"),
            tenant_header: None,
        }
    }
}

/// How a push sender proves itself: a static header value, compared in constant time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushAuthConfig {
    /// The header that carries the secret: Okta's `authScheme.key` for a hook, the API-key
    /// name of an EventBridge connection. Default `Authorization`.
    #[serde(default = "default_auth_header")]
    pub header: String,
    /// With a username, the header must be `Basic base64(username:secret)` (EventBridge Basic
    /// auth); without one, the header's whole value is the secret.
    pub username: Option<String>,
    /// The environment variable holding the secret.
    pub secret_env: Option<String>,
    /// Or a file holding it (its first line).
    pub secret_file: Option<PathBuf>,
}

fn default_auth_header() -> String {
    "Authorization".to_owned()
}

/// An Okta event hook pointed at `serve` (`/hooks/<org>`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventHookConfig {
    #[serde(flatten)]
    pub auth: PushAuthConfig,
}

/// Okta Log Streaming to AWS EventBridge, received as an API destination (`/eventbridge/<org>`)
/// and/or read from an SQS queue that an EventBridge rule targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBridgeConfig {
    /// The API destination's connection auth (API-key header or Basic). Without it the HTTP
    /// route is off for this org.
    pub auth: Option<PushAuthConfig>,
    /// The SQS queue URL to long-poll.
    pub queue_url: Option<String>,
    /// The queue's region; default from the AWS environment.
    pub region: Option<String>,
    /// Another SQS endpoint (a local emulator); default AWS's.
    pub endpoint_url: Option<String>,
    /// Messages per receive (1 to 10).
    #[serde(default = "default_sqs_batch")]
    pub max_messages: i32,
    /// Long-poll wait in seconds (0 to 20).
    #[serde(default = "default_sqs_wait")]
    pub wait_secs: i32,
    /// Messages written as one batch at most (1 to 10,000). While the queue keeps answering full
    /// receives, more are gathered (for at most a second) before the batch is written, because
    /// every batch also commits the detection state, whose cost does not shrink with the batch.
    #[serde(default = "default_sqs_batch_messages")]
    pub batch_messages: usize,
}

fn default_sqs_batch_messages() -> usize {
    1000
}

fn default_sqs_batch() -> i32 {
    10
}
fn default_sqs_wait() -> i32 {
    20
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The SQLite file holding cursors, the uuid window and sink positions.
    pub path: PathBuf,
    /// How many recent uuids per org are remembered to drop duplicates.
    pub uuid_window: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { path: PathBuf::from("okta-normalizer.db"), uuid_window: 100_000 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    /// A short name for the org, used as the tenant id unless `tenant` is set, and in file names.
    pub name: String,
    /// The org's base URL, `https://acme.okta.com`.
    pub url: String,
    /// Written to `organization.id`; defaults to `name`.
    pub tenant: Option<String>,
    /// How the poller signs in. Needed by `poll`; under `serve`, an org without it is push-only
    /// and nothing backfills what pushes miss.
    pub auth: Option<AuthConfig>,
    /// Receive this org's Okta event hook.
    pub event_hook: Option<EventHookConfig>,
    /// Receive this org's Log Streaming through EventBridge.
    pub eventbridge: Option<EventBridgeConfig>,
    /// How far back the first poll looks, in hours (Okta keeps 90 days).
    #[serde(default = "default_lookback_hours")]
    pub initial_lookback_hours: u64,
    /// Seconds between polls once caught up.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// Events per page (Okta's maximum is 1000).
    #[serde(default = "default_page_limit")]
    pub page_limit: u32,
    /// Percent of the rate limit left for the org's other clients (never used by the poller).
    #[serde(default = "default_headroom")]
    pub rate_limit_headroom_percent: u8,
    /// Minutes of overlap when resuming from `published` because the cursor was lost.
    #[serde(default = "default_overlap_minutes")]
    pub resume_overlap_minutes: u64,
    /// Warn (and set `okta_normalizer_healthy` to 0) when the org delivers no event for this long.
    #[serde(default = "default_no_events_hours")]
    pub no_events_alert_hours: u64,
    /// Base of the backoff after a 5xx or a network error, in milliseconds (it doubles up to 60×).
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    #[serde(default = "default_sinks")]
    pub sinks: Vec<SinkConfig>,
    /// Sync the org's directory (users, groups, devices, schema).
    #[serde(default)]
    pub directory: DirectoryConfig,
    /// This org's enrichment fields, instead of the top-level `[enrichment]`.
    pub enrichment: Option<EnrichmentSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum AuthConfig {
    /// An Okta API token, `Authorization: SSWS <token>`.
    Ssws {
        /// The environment variable holding the token.
        token_env: Option<String>,
        /// Or a file holding it (its first line).
        token_file: Option<PathBuf>,
    },
    /// An OAuth 2.0 service app: client credentials with a private_key_jwt client assertion
    /// (see `crate::auth`).
    PrivateKeyJwt {
        client_id: String,
        /// The environment variable holding the private key (PEM or JWK JSON).
        key_env: Option<String>,
        /// Or a file holding it.
        key_file: Option<PathBuf>,
        /// The key's ID on the app; needed when the app has more than one key.
        kid: Option<String>,
        #[serde(default = "default_scopes")]
        scopes: Vec<String>,
        /// DPoP-bound tokens (Okta requires them by default for new API Services apps).
        #[serde(default)]
        dpop: bool,
    },
    /// An OIN API service integration: client credentials with the client secret (HTTP Basic).
    Oin {
        client_id: String,
        /// The environment variable holding the client secret.
        secret_env: Option<String>,
        /// Or a file holding it.
        secret_file: Option<PathBuf>,
        #[serde(default = "default_scopes")]
        scopes: Vec<String>,
        #[serde(default)]
        dpop: bool,
    },
}

fn default_scopes() -> Vec<String> {
    vec!["okta.logs.read".to_owned()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// Rotating NDJSON files in `dir`, named `<org>-<generation>.ndjson`.
    File {
        dir: PathBuf,
        #[serde(default = "default_max_bytes")]
        max_bytes: u64,
        #[serde(default = "default_max_age_secs")]
        max_age_secs: u64,
    },
    /// Standard output (at-least-once across crashes: printed lines cannot be taken back).
    Stdout,
    /// Elasticsearch or OpenSearch `_bulk`, `create` with `_id` = the Okta uuid.
    Opensearch {
        /// The cluster, `https://search.example.com:9200`.
        url: String,
        /// The index (or data stream) to write to.
        #[serde(default = "default_index")]
        index: String,
        /// HTTP Basic user, with the password in `password_env`.
        username: Option<String>,
        password_env: Option<String>,
        /// Where documents the index rejects (400) are kept, one JSON line each.
        dead_letter: PathBuf,
    },
}

fn default_lookback_hours() -> u64 {
    24
}
fn default_interval_secs() -> u64 {
    60
}
fn default_page_limit() -> u32 {
    1000
}
fn default_headroom() -> u8 {
    10
}
fn default_overlap_minutes() -> u64 {
    5
}
fn default_no_events_hours() -> u64 {
    24
}
fn default_index() -> String {
    "logs-okta.system-default".into()
}
fn default_retry_base_ms() -> u64 {
    1000
}
fn default_max_bytes() -> u64 {
    128 << 20
}
fn default_max_age_secs() -> u64 {
    3600
}
fn default_sinks() -> Vec<SinkConfig> {
    vec![SinkConfig::File {
        dir: PathBuf::from("okta-events"),
        max_bytes: default_max_bytes(),
        max_age_secs: default_max_age_secs(),
    }]
}

/// A secret that prints as `[redacted]`, so it cannot end up in a log by accident.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from an environment variable.
    pub fn from_env(var: &str) -> Result<Secret> {
        let value = std::env::var(var).with_context(|| format!("the environment variable {var} is not set"))?;
        Ok(Secret(value.trim().to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("while reading the config {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).with_context(|| format!("in the config {}", path.display()))?;
        for org in &mut config.orgs {
            if org.enrichment.is_none() {
                org.enrichment = Some(config.enrichment.clone());
            }
        }
        config.validate().with_context(|| format!("in the config {}", path.display()))?;
        Ok(config)
    }

    /// [`Config::load`], then `--rules`/`--no-builtin-rules` on top of `[detection]`.
    pub fn load_with_rules(path: &Path, rules: &crate::cli::RulesArgs) -> Result<Config> {
        let mut config = Config::load(path)?;
        config.detection = config.detection.with_args(rules);
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.orgs.is_empty() {
            bail!("no [[org]] is configured; add one (see `okta-normalizer config example`)");
        }
        for org in &self.orgs {
            if org.name.is_empty()
                || !org.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                bail!("org name {:?} must be non-empty and use only letters, digits, '-', '_' and '.'", org.name);
            }
            if !(org.url.starts_with("https://") || org.url.starts_with("http://")) {
                bail!("org {}: url {:?} must start with https:// (http:// only for the simulator)", org.name, org.url);
            }
            if org.page_limit == 0 || org.page_limit > 1000 {
                bail!("org {}: page_limit must be between 1 and 1000, got {}", org.name, org.page_limit);
            }
            if org.rate_limit_headroom_percent >= 100 {
                bail!("org {}: rate_limit_headroom_percent must be below 100", org.name);
            }
            if org.sinks.is_empty() {
                bail!("org {}: no sinks; add [[org.sinks]]", org.name);
            }
            match &org.auth {
                None if org.event_hook.is_none() && org.eventbridge.is_none() => {
                    bail!("org {}: no [org.auth], so nothing can collect its events; add one", org.name)
                }
                None => {}
                Some(AuthConfig::Ssws { token_env: None, token_file: None }) => {
                    bail!("org {}: auth needs token_env or token_file (secrets never go in the config file)", org.name)
                }
                Some(AuthConfig::Ssws { token_env: Some(_), token_file: Some(_) }) => {
                    bail!("org {}: auth has both token_env and token_file; keep one", org.name)
                }
                Some(AuthConfig::Ssws { .. }) => {}
                Some(oauth) => crate::auth::validate(oauth).map_err(|e| anyhow::anyhow!("org {}: {e}", org.name))?,
            }
            if org.directory.enabled {
                let d = &org.directory;
                let scopes = match &org.auth {
                    None => bail!(
                        "org {}: [org.directory] is enabled but the org has no [org.auth] to call Okta with",
                        org.name
                    ),
                    Some(AuthConfig::Ssws { .. }) => None,
                    Some(AuthConfig::PrivateKeyJwt { scopes, .. } | AuthConfig::Oin { scopes, .. }) => Some(scopes),
                };
                if let Some(scopes) = scopes {
                    let missing: Vec<&str> = DIRECTORY_SCOPES
                        .into_iter()
                        .filter(|s| (d.devices || *s != "okta.devices.read") && !scopes.iter().any(|g| g == s))
                        .collect();
                    if !missing.is_empty() {
                        bail!(
                            "org {}: [org.directory] needs the OAuth scopes {}; add them to auth.scopes (and grant them to the app in the Admin Console)",
                            org.name,
                            missing.join(", ")
                        );
                    }
                }
                if d.full_interval_secs == 0 || d.incremental_interval_secs == 0 {
                    bail!(
                        "org {}: directory full_interval_secs and incremental_interval_secs must be above 0",
                        org.name
                    );
                }
                if d.incremental_interval_secs > d.full_interval_secs {
                    bail!(
                        "org {}: directory incremental_interval_secs ({}) must not exceed full_interval_secs ({})",
                        org.name,
                        d.incremental_interval_secs,
                        d.full_interval_secs
                    );
                }
                if d.rate_limit_headroom_percent >= 100 {
                    bail!("org {}: directory rate_limit_headroom_percent must be below 100", org.name);
                }
            }
            if let Some(hook) = &org.event_hook {
                hook.auth.validate().map_err(|e| anyhow::anyhow!("org {}: event_hook: {e}", org.name))?;
            }
            if let Some(eb) = &org.eventbridge {
                if eb.auth.is_none() && eb.queue_url.is_none() {
                    bail!(
                        "org {}: [org.eventbridge] needs auth (for an API destination) or queue_url (for an SQS target)",
                        org.name
                    );
                }
                if let Some(auth) = &eb.auth {
                    auth.validate().map_err(|e| anyhow::anyhow!("org {}: eventbridge.auth: {e}", org.name))?;
                }
                if !(1..=10).contains(&eb.max_messages) {
                    bail!("org {}: eventbridge.max_messages must be between 1 and 10", org.name);
                }
                if !(0..=20).contains(&eb.wait_secs) {
                    bail!("org {}: eventbridge.wait_secs must be between 0 and 20", org.name);
                }
                if !(1..=10_000).contains(&eb.batch_messages) {
                    bail!("org {}: eventbridge.batch_messages must be between 1 and 10000", org.name);
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for org in &self.orgs {
            if !names.insert(org.name.as_str()) {
                bail!("org name {:?} is used twice; org names must be unique", org.name);
            }
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            bail!("[server] needs both tls_cert and tls_key, or neither");
        }
        if self.server.max_body_bytes == 0 {
            bail!("[server] max_body_bytes must be above 0");
        }
        Ok(())
    }

    /// Whether any org receives pushes (so `serve` has something to listen for).
    pub fn has_push(&self) -> bool {
        self.orgs.iter().any(|o| o.event_hook.is_some() || o.eventbridge.is_some())
    }
}

impl PushAuthConfig {
    fn validate(&self) -> Result<(), String> {
        if self.header.is_empty() || axum::http::HeaderName::from_bytes(self.header.as_bytes()).is_err() {
            return Err(format!("header {:?} is not a valid HTTP header name", self.header));
        }
        match (&self.secret_env, &self.secret_file) {
            (None, None) => Err("needs secret_env or secret_file (secrets never go in the config file)".into()),
            (Some(_), Some(_)) => Err("has both secret_env and secret_file; keep one".into()),
            _ => Ok(()),
        }
    }

    /// The exact header value a sender must present.
    pub fn expected_value(&self, org: &str) -> Result<Secret> {
        let secret = match (&self.secret_env, &self.secret_file) {
            (Some(var), _) => Secret::from_env(var).with_context(|| format!("org {org}: the push secret"))?,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("org {org}: while reading secret_file {}", path.display()))?;
                Secret(text.lines().next().unwrap_or("").trim().to_owned())
            }
            (None, None) => bail!("org {org}: a push auth needs secret_env or secret_file"),
        };
        if secret.0.is_empty() {
            bail!("org {org}: the push secret is empty");
        }
        Ok(match &self.username {
            Some(user) => {
                use base64::Engine as _;
                let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", secret.0));
                Secret(format!("Basic {basic}"))
            }
            None => secret,
        })
    }
}

impl OrgConfig {
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(&self.name)
    }

    /// The enrichment fields of this org: its own, or the config's.
    pub fn enrichment<'a>(&'a self, config: &'a EnrichmentSettings) -> &'a EnrichmentSettings {
        self.enrichment.as_ref().unwrap_or(config)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs.max(1))
    }

    /// Reads the API token from where the config says it is.
    pub fn token(&self) -> Result<Secret> {
        match &self.auth {
            Some(AuthConfig::Ssws { token_env: Some(var), .. }) => {
                let value = std::env::var(var).with_context(|| {
                    format!("org {}: the environment variable {var} (auth.token_env) is not set", self.name)
                })?;
                Ok(Secret(value.trim().to_owned()))
            }
            Some(AuthConfig::Ssws { token_file: Some(path), .. }) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("org {}: while reading auth.token_file {}", self.name, path.display()))?;
                Ok(Secret(text.lines().next().unwrap_or("").trim().to_owned()))
            }
            _ => bail!("org {}: no API token source (auth.type is not ssws)", self.name),
        }
    }
}

/// What `okta-normalizer config example` prints.
pub const EXAMPLE: &str = r#"# okta-normalizer configuration, for `poll` and `serve`.
# Secrets never go in this file: it names the environment variable or file that holds them.

[store]
# Cursors, the uuid window used to drop duplicates, and sink positions (SQLite).
path = "okta-normalizer.db"
uuid_window = 100000

[metrics]
listen = "127.0.0.1:9464"           # Prometheus metrics at /metrics; remove to turn off

# Only `serve` reads [server], [org.event_hook] and [org.eventbridge].
[server]
listen = "127.0.0.1:8080"           # where event hooks and EventBridge API destinations arrive
# tls_cert = "/etc/okta-normalizer/cert.pem"   # HTTPS with rustls; without both, plain HTTP behind a proxy
# tls_key = "/etc/okta-normalizer/key.pem"
max_body_bytes = 10485760           # larger requests get 413
max_spool_bytes = 1073741824        # accepted but unwritten deliveries beyond this get 503
dead_letter_dir = "okta-dead-letter"   # bodies that are not JSON are kept here
# tenant_header = "tenant_UUID"     # route /hooks and /eventbridge by this header (org tenant or name)

# Detection rules, run on every event in the component. Alerts go to the same sinks.
[detection]
builtin = true                      # the built-in Okta pack (`okta-normalizer rules list`)
rules = []                          # directories of your own Sigma rules, e.g. ["/etc/okta-normalizer/rules"]
reorder_tolerance_secs = 300        # how late an event may arrive and still count in windows
[detection.placeholders]            # values for |expand placeholders in rules
# break_glass_accounts = ["breakglass@acme.com"]

[[org]]
name = "acme"                       # used as organization.id and in file names
url = "https://acme.okta.com"
initial_lookback_hours = 24         # the first poll reaches back this far
interval_secs = 60                  # between polls once caught up
page_limit = 1000                   # events per page (Okta's maximum)
rate_limit_headroom_percent = 10    # left for the org's other API clients
resume_overlap_minutes = 5          # overlap when the stored cursor is lost
no_events_alert_hours = 24          # warn when the org delivers nothing for this long

[org.auth]
type = "ssws"
token_env = "OKTA_API_TOKEN"        # or: token_file = "/run/secrets/okta-token"
# Or an OAuth 2.0 service app (API Services) and its private key, PEM or JWK:
# type = "private_key_jwt"
# client_id = "0oa1b2c3d4e5f6g7h8i9"
# key_file = "/run/secrets/okta-key.pem"   # or: key_env = "OKTA_PRIVATE_KEY"
# kid = "my-key-id"                        # needed when the app has more than one key
# scopes = ["okta.logs.read"]
# dpop = true                              # Okta requires DPoP for new apps by default
# Or an OIN API service integration:
# type = "oin"
# client_id = "0oa1b2c3d4e5f6g7h8i9"
# secret_env = "OKTA_CLIENT_SECRET"        # or: secret_file = "/run/secrets/okta-client-secret"
# scopes = ["okta.logs.read"]

# An Okta event hook pointed at https://<host>/hooks/acme (serve only).
# [org.event_hook]
# header = "Authorization"                 # Okta's authScheme key
# secret_env = "ACME_HOOK_SECRET"          # the header's whole value; or: secret_file = "..."

# Log Streaming through AWS EventBridge (serve only): an API destination to
# https://<host>/eventbridge/acme, and/or an SQS queue the EventBridge rule targets.
# [org.eventbridge]
# queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/okta-log-stream"
# region = "us-east-1"
# batch_messages = 1000                    # gather up to this many messages (for at most 1 s) per batch
# [org.eventbridge.auth]
# header = "x-api-key"                     # or header = "Authorization" with username = "..." for Basic
# secret_env = "ACME_STREAM_KEY"

# The org's directory: users (DEPROVISIONED ones too), groups and memberships, devices and the user
# schema, kept in the store, written to the sinks as entity documents (event.kind: asset), and used to
# enrich every event. OAuth apps need the scopes okta.users.read, okta.groups.read, okta.devices.read
# and okta.schemas.read as well, and okta.roles.read for admin roles (without it the sync warns and goes
# on without roles). `okta-normalizer sync --once` runs one on demand.
[org.directory]
enabled = false
full_interval_secs = 86400          # a full sync (also finds deleted objects) every 24 h
incremental_interval_secs = 900     # only what changed, every 15 min
incremental_overlap_secs = 60       # reach back behind the newest lastUpdated (search lags writes)
rate_limit_headroom_percent = 20    # of each directory bucket, left for the org's other clients
devices = true                      # /api/v1/devices?expand=user
roles = true                        # admin role assignments (user.roles), read on every sync
first_sync_wait_secs = 600          # first start: poll after the first sync (at most this long; 0: at once)

# Which directory fields are copied onto the actor and User targets of every event (also [enrichment]
# at the top level, for every org).
[org.enrichment]
profile_fields = []                 # empty: email, department, title, manager, groups, roles, status
custom_attributes = { }             # custom profile attributes: e.g. { costCenter = "cost_center" }

[[org.sinks]]
type = "file"                       # rotating NDJSON: <dir>/<org>-<generation>.ndjson
dir = "okta-events"
max_bytes = 134217728
max_age_secs = 3600

# [[org.sinks]]
# type = "stdout"

# [[org.sinks]]
# type = "opensearch"               # _bulk create with _id = uuid: replays never duplicate
# url = "https://search.example.com:9200"
# index = "logs-okta.system-default"
# username = "okta-writer"
# password_env = "OPENSEARCH_PASSWORD"
# dead_letter = "okta-dead-letter.ndjson"   # documents the index rejects
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_valid() {
        let config: Config = toml::from_str(EXAMPLE).expect("parses");
        config.validate().expect("valid");
        assert_eq!(config.orgs[0].tenant(), "acme");
    }

    #[test]
    fn the_example_push_sections_are_valid_when_uncommented() {
        // Uncomment the settings between the event hook's comment and the sinks.
        let mut in_push = false;
        let uncommented: String = EXAMPLE
            .lines()
            .map(|l| {
                in_push = (in_push || l.starts_with("# An Okta event hook")) && !l.starts_with("[[org.sinks]]");
                let setting = l.starts_with("# [")
                    || (l.starts_with("# ") && l.split_once(" = ").is_some_and(|(k, _)| !k[2..].contains(' ')));
                if in_push && setting { &l[2..] } else { l }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config: Config = toml::from_str(&uncommented).expect("parses");
        config.validate().expect("valid");
        let org = &config.orgs[0];
        assert_eq!(org.event_hook.as_ref().expect("hook").auth.header, "Authorization");
        let eb = org.eventbridge.as_ref().expect("eventbridge");
        assert_eq!(eb.auth.as_ref().expect("auth").header, "x-api-key");
        assert!(eb.queue_url.as_deref().is_some_and(|q| q.starts_with("https://sqs.")));
        assert!(config.has_push());
    }

    #[test]
    fn directory_settings_are_checked() {
        let on = EXAMPLE.replace("[org.directory]\nenabled = false", "[org.directory]\nenabled = true");
        let config: Config = toml::from_str(&on).expect("parses");
        config.validate().expect("valid with an API token");
        let d = &config.orgs[0].directory;
        assert!(d.enabled);
        assert_eq!((d.full_interval_secs, d.incremental_interval_secs), (86_400, 900), "the defaults");
        assert!(d.roles, "admin roles are synced unless switched off");
        let oauth = on.replace(
            "type = \"ssws\"\ntoken_env = \"OKTA_API_TOKEN\"",
            "type = \"oin\"\nclient_id = \"0oa1\"\nsecret_env = \"S\"\nscopes = [\"okta.logs.read\", \"okta.users.read\"]",
        );
        let err = toml::from_str::<Config>(&oauth).expect("parses").validate().expect_err("scopes").to_string();
        assert!(err.contains("okta.groups.read, okta.devices.read, okta.schemas.read"), "{err}");
        let bad = on.replace("incremental_interval_secs = 900", "incremental_interval_secs = 90000");
        let err = toml::from_str::<Config>(&bad).expect("parses").validate().expect_err("intervals").to_string();
        assert!(err.contains("must not exceed full_interval_secs"), "{err}");
        let mapped = on.replace("custom_attributes = { }", "custom_attributes = { costCenter = \"cost_center\" }");
        let config: Config = toml::from_str(&mapped).expect("parses");
        let wit = config.orgs[0].enrichment.as_ref().expect("set").to_wit();
        assert_eq!(wit.custom_attributes, [("costCenter".to_owned(), "cost_center".to_owned())]);
    }

    #[test]
    fn errors_name_the_problem() {
        let bad = EXAMPLE.replace("token_env = \"OKTA_API_TOKEN\"", "");
        let config: Config = toml::from_str(&bad).expect("parses");
        let err = config.validate().expect_err("no token source").to_string();
        assert!(err.contains("token_env or token_file"), "{err}");
        let err =
            toml::from_str::<Config>(&EXAMPLE.replace("interval_secs", "intervl_secs")).expect_err("typo").to_string();
        assert!(err.contains("intervl_secs"), "{err}");
        assert_eq!(format!("{:?}", Secret("s3cr3t".into())), "[redacted]");
        let push_only = EXAMPLE.replace("[org.auth]", "[org.auth_]");
        let err = toml::from_str::<Config>(&push_only).expect_err("unknown table").to_string();
        assert!(err.contains("auth_"), "{err}");
        let nothing = "[[org]]\nname = \"acme\"\nurl = \"https://acme.okta.com\"\n";
        let err = toml::from_str::<Config>(nothing).expect("parses").validate().expect_err("no channel").to_string();
        assert!(err.contains("no [org.auth], so nothing can collect its events"), "{err}");
        let push_only = format!("{nothing}[org.event_hook]\nsecret_env = \"HOOK\"\n");
        toml::from_str::<Config>(&push_only).expect("parses").validate().expect("a push-only org is fine");
        let tls = EXAMPLE.replace("# tls_cert", "tls_cert");
        let config: Config = toml::from_str(&tls).expect("parses");
        let err = config.validate().expect_err("cert without key").to_string();
        assert!(err.contains("both tls_cert and tls_key"), "{err}");
    }
}
