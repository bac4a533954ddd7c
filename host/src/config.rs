//! The `poll` configuration: a TOML file, validated once here.
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
    #[serde(rename = "org")]
    pub orgs: Vec<OrgConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where Prometheus metrics are served (`/metrics`), for example `127.0.0.1:9464`; off when unset.
    pub listen: Option<std::net::SocketAddr>,
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
    pub auth: AuthConfig,
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
        let config: Config = toml::from_str(&text).with_context(|| format!("in the config {}", path.display()))?;
        config.validate().with_context(|| format!("in the config {}", path.display()))?;
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
                AuthConfig::Ssws { token_env: None, token_file: None } => {
                    bail!("org {}: auth needs token_env or token_file (secrets never go in the config file)", org.name)
                }
                AuthConfig::Ssws { token_env: Some(_), token_file: Some(_) } => {
                    bail!("org {}: auth has both token_env and token_file; keep one", org.name)
                }
                AuthConfig::Ssws { .. } => {}
                oauth => crate::auth::validate(oauth).map_err(|e| anyhow::anyhow!("org {}: {e}", org.name))?,
            }
        }
        Ok(())
    }
}

impl OrgConfig {
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(&self.name)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs.max(1))
    }

    /// Reads the API token from where the config says it is.
    pub fn token(&self) -> Result<Secret> {
        match &self.auth {
            AuthConfig::Ssws { token_env: Some(var), .. } => {
                let value = std::env::var(var).with_context(|| {
                    format!("org {}: the environment variable {var} (auth.token_env) is not set", self.name)
                })?;
                Ok(Secret(value.trim().to_owned()))
            }
            AuthConfig::Ssws { token_file: Some(path), .. } => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("org {}: while reading auth.token_file {}", self.name, path.display()))?;
                Ok(Secret(text.lines().next().unwrap_or("").trim().to_owned()))
            }
            _ => bail!("org {}: no API token source (auth.type is not ssws)", self.name),
        }
    }
}

/// What `okta-normalizer config example` prints.
pub const EXAMPLE: &str = r#"# okta-normalizer poll configuration.
# Secrets never go in this file: it names the environment variable or file that holds them.

[store]
# Cursors, the uuid window used to drop duplicates, and sink positions (SQLite).
path = "okta-normalizer.db"
uuid_window = 100000

[metrics]
listen = "127.0.0.1:9464"           # Prometheus metrics at /metrics; remove to turn off

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
    fn errors_name_the_problem() {
        let bad = EXAMPLE.replace("token_env = \"OKTA_API_TOKEN\"", "");
        let config: Config = toml::from_str(&bad).expect("parses");
        let err = config.validate().expect_err("no token source").to_string();
        assert!(err.contains("token_env or token_file"), "{err}");
        let err =
            toml::from_str::<Config>(&EXAMPLE.replace("interval_secs", "intervl_secs")).expect_err("typo").to_string();
        assert!(err.contains("intervl_secs"), "{err}");
        assert_eq!(format!("{:?}", Secret("s3cr3t".into())), "[redacted]");
    }
}
