//! OAuth against the simulator: the poller with private_key_jwt (RSA and EC keys, PEM and JWK),
//! DPoP (the nonce challenge, a fresh proof per request, nonce rotation) and OIN client secrets;
//! tokens refreshed before they expire and once after a rejection; Okta's clock followed when it
//! differs from ours; clear errors for a wrong key, a missing kid, a wrong secret, a missing DPoP
//! setting and a missing scope, none of which shows a secret. The simulator's own checks
//! (assertion lifetime, replays, audience, scopes, proofs for another URL) are tested with raw
//! requests. Everything runs on 127.0.0.1 and takes a few seconds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use okta_normalizer_host::auth::jose::SigningKey;
use okta_normalizer_host::auth::{ASSERTION_TYPE, Auth};
use okta_normalizer_host::commands::poll::{OrgResult, poll};
use okta_normalizer_host::config::Config;
use okta_normalizer_host::sim::{OAuthClient, OAuthConfig, OAuthCounts, OinClient, SimConfig, SimHandle, Simulator};
use okta_normalizer_tests::{cases, golden_inputs, root, runtime};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

const RS_CLIENT: &str = "0oa-rs-service-app";
const ES_CLIENT: &str = "0oa-es-service-app";
const ES512_CLIENT: &str = "0oa-es512-app";
const DPOP_CLIENT: &str = "0oa-dpop-service-app";
const OIN_CLIENT: &str = "0oa-oin-integration";
const OIN_SECRET: &str = "oin-secret-Zx81-qq_0123456789abcdefghij";
const WRONG_SECRET: &str = "not-the-secret-Yy72-rr_9876543210";

fn key_path(name: &str) -> PathBuf {
    cases("keys").join(name)
}

fn key_text(name: &str) -> String {
    std::fs::read_to_string(key_path(name)).expect("test key")
}

/// The public JWK of a test key, as registered on an app.
fn public_jwk(name: &str, kid: &str) -> Value {
    let key = SigningKey::from_text(&key_text(name)).expect("test key loads");
    let mut jwk = key.public_jwk();
    jwk["kid"] = Value::from(kid);
    jwk["use"] = Value::from("sig");
    jwk["alg"] = Value::from(key.alg().name());
    jwk
}

fn app(client_id: &str, jwks: Vec<Value>, dpop_required: bool) -> OAuthClient {
    OAuthClient { client_id: client_id.into(), jwks, dpop_required, scopes: vec!["okta.logs.read".into()] }
}

/// The apps most tests use: an RSA app with two keys (so `kid` is required), an EC app, a
/// DPoP-required app and an OIN integration.
fn oauth_config() -> OAuthConfig {
    OAuthConfig {
        clients: vec![
            app(RS_CLIENT, vec![public_jwk("test-rsa-a.pem", "rsa-a"), public_jwk("test-rsa-b.pem", "rsa-b")], false),
            app(ES_CLIENT, vec![public_jwk("test-ec-p256.pem", "test-ec-p256")], false),
            app(ES512_CLIENT, vec![public_jwk("test-ec-p521.pem", "test-ec-p521")], false),
            app(DPOP_CLIENT, vec![public_jwk("test-ec-p256.pem", "dpop-app-key")], true),
        ],
        oin_clients: vec![OinClient {
            client_id: OIN_CLIENT.into(),
            secret: OIN_SECRET.into(),
            scopes: vec!["okta.logs.read".into(), "okta.users.read".into()],
            dpop_required: false,
        }],
        ..OAuthConfig::default()
    }
}

async fn simulator(oauth: OAuthConfig) -> SimHandle {
    let config = SimConfig { window: Duration::from_secs(2), oauth, ..SimConfig::default() };
    Simulator::start(config, "127.0.0.1:0".parse().expect("addr")).await.expect("simulator starts")
}

/// `n` realistic events (golden fixtures with fresh uuids) published over the last ten minutes.
fn events(n: usize, tag: &str) -> Vec<Value> {
    let templates: Vec<Value> = golden_inputs().iter().map(|(_, b)| serde_json::from_slice(b).expect("json")).collect();
    let now = jiff::Timestamp::now().as_millisecond();
    (0..n)
        .map(|i| {
            let mut e = templates[i % templates.len()].clone();
            e["uuid"] = Value::String(format!("{tag}-{i:05}"));
            let published = now - 600_000 + i64::try_from(i).expect("small") * 1000;
            e["published"] = Value::String(jiff::Timestamp::from_millisecond(published).expect("valid").to_string());
            e
        })
        .collect()
}

fn test_dir(name: &str) -> PathBuf {
    let dir = root().join("target/oauth-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    dir
}

/// One `[[org]]` named `name` with the given `[org.auth]` lines.
fn org_toml(dir: &Path, sim: &SimHandle, name: &str, auth: &str, page_limit: u32) -> String {
    format!(
        "[[org]]\nname = {name:?}\nurl = {url:?}\npage_limit = {page_limit}\ninterval_secs = 1\nretry_base_ms = 20\n\n\
         [org.auth]\n{auth}\n\n[[org.sinks]]\ntype = \"file\"\ndir = {events:?}\n\n",
        url = sim.base_url(),
        events = dir.join(format!("events-{name}")),
    )
}

fn load_config(dir: &Path, orgs: &[String]) -> Config {
    let text = format!("[store]\npath = {:?}\n\n{}", dir.join("store.db"), orgs.concat());
    let path = dir.join("poll.toml");
    std::fs::write(&path, text).expect("config");
    Config::load(&path).expect("valid config")
}

fn secret_file(dir: &Path, secret: &str) -> PathBuf {
    let path = dir.join(format!("secret-{}", secret.len()));
    std::fs::write(&path, format!("{secret}\n")).expect("secret file");
    path
}

async fn poll_once(config: Config) -> Vec<OrgResult> {
    let (_tx, rx) = watch::channel(false);
    tokio::time::timeout(Duration::from_secs(20), poll(config, runtime(), true, rx, Duration::from_secs(3600)))
        .await
        .expect("the poll ends")
        .expect("poll runs")
}

/// Polls (not `--once`) while `during` runs, then stops.
async fn poll_while(config: Config, during: impl Future<Output = ()>) -> Vec<OrgResult> {
    let (tx, rx) = watch::channel(false);
    let stopper = async {
        during.await;
        // The poller may have stopped already (with an error the caller looks at).
        let _ = tx.send(true);
    };
    let both = async { tokio::join!(poll(config, runtime(), false, rx, Duration::from_secs(3600)), stopper) };
    let (results, ()) = tokio::time::timeout(Duration::from_secs(30), both).await.expect("the poll stops");
    results.expect("poll runs")
}

fn result<'a>(results: &'a [OrgResult], name: &str) -> &'a OrgResult {
    results.iter().find(|(org, _)| org == name).expect("the org ran")
}

fn error_text(results: &[OrgResult], name: &str) -> String {
    format!("{:#}", result(results, name).1.as_ref().expect_err("the org stopped with an error"))
}

/// Every uuid written for `name`, with how often.
fn written(dir: &Path, name: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join(format!("events-{name}"))) else { return counts };
    for entry in entries {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("readable");
        for line in text.lines() {
            let doc: Value = serde_json::from_str(line).expect("a JSON document per line");
            if crate::poll::is_alert(&doc) {
                continue;
            }
            *counts.entry(doc["event"]["id"].as_str().expect("event.id").to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn assert_exactly_once(dir: &Path, name: &str, expected: &[Value]) {
    let counts = written(dir, name);
    for e in expected {
        let uuid = e["uuid"].as_str().expect("uuid");
        assert_eq!(counts.get(uuid), Some(&1), "org {name}: event {uuid} written once");
    }
    assert_eq!(counts.len(), expected.len(), "org {name}: nothing else was written");
}

/// Asserts that no secret of the tests' keys and clients appears in `text`.
fn assert_no_secrets(text: &str) {
    for name in ["test-rsa-a.jwk.json", "test-ec-p256.jwk.json", "test-ec-p521.jwk.json"] {
        let jwk: Value = serde_json::from_str(&key_text(name)).expect("jwk");
        for member in ["d", "p", "q", "dp", "dq", "qi"] {
            if let Some(v) = jwk[member].as_str() {
                assert!(!text.contains(&v[..16]), "private key material ({name} {member}) in: {text}");
            }
        }
    }
    for pem in ["test-rsa-a.pem", "test-rsa-b.pem", "test-ec-p256.pem", "test-ec-p521.pem", "test-ec-p521.sec1.pem"] {
        let body = key_text(pem);
        let line = body.lines().nth(1).expect("a base64 line");
        assert!(!text.contains(line), "PEM key material ({pem}) in: {text}");
    }
    for secret in [OIN_SECRET, WRONG_SECRET] {
        assert!(!text.contains(secret), "a client secret in: {text}");
    }
}

// ------------------------------------------------------------------------------------------------
// The poller end to end.

/// Three orgs, one per kind of key: RSA (PKCS#8 PEM; the app has two keys, so `kid` names the
/// right one), EC P-256 (a private JWK; its own kid is used) and ES512 (P-521, which
/// jsonwebtoken lacks; a SEC1 PEM).
fn key_orgs(dir: &Path, sim: &SimHandle) -> [String; 3] {
    let org = |name: &str, client: &str, key: &str, kid: &str| {
        let auth = format!("type = \"private_key_jwt\"\nclient_id = {client:?}\nkey_file = {:?}{kid}", key_path(key));
        org_toml(dir, sim, name, &auth, 50)
    };
    [
        org("rsa", RS_CLIENT, "test-rsa-a.pem", "\nkid = \"rsa-a\""),
        org("ec", ES_CLIENT, "test-ec-p256.jwk.json", ""),
        org("ec521", ES512_CLIENT, "test-ec-p521.sec1.pem", ""),
    ]
}

/// Polls `n` events with the three [`key_orgs`] and checks that each org wrote every event
/// exactly once; returns the simulator's OAuth counts.
async fn poll_with_key_orgs(oauth: OAuthConfig, tag: &str, n: usize) -> OAuthCounts {
    let sim = simulator(oauth).await;
    let dir = test_dir(tag);
    let batch = events(n, tag);
    sim.push(&batch, Duration::ZERO);
    let results = poll_once(load_config(&dir, &key_orgs(&dir, &sim))).await;
    for name in ["rsa", "ec", "ec521"] {
        result(&results, name).1.as_ref().unwrap_or_else(|e| panic!("org {name}: {e:#}"));
        assert_exactly_once(&dir, name, &batch);
    }
    sim.oauth_counts()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_with_rsa_and_ec_keys_polls_every_event() {
    let counts = poll_with_key_orgs(oauth_config(), "pkj", 120).await;
    assert_eq!(counts.tokens_issued, 3, "one token per org, reused for every page: {counts:?}");
    assert_eq!(counts.token_errors, 0, "{counts:?}");
    assert!(counts.resource_calls >= 9, "three pages per org at least: {counts:?}");
    assert_eq!(counts.resource_rejections, 0, "{counts:?}");
}

/// The token endpoint has its own rate limit. Three orgs ask for a token at once where a window
/// allows one: the others are answered 429, wait for the window's reset (its `X-Rate-Limit-*`
/// headers), and poll everything. A blind backoff (20 ms here, doubling) would have asked about
/// seven times per waiting org per window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_token_request_waits_for_the_window_to_reset() {
    // 2 per minute-window at the app's 50 % share: one token request per (2 s) window.
    let counts = poll_with_key_orgs(OAuthConfig { token_per_minute: Some(2), ..oauth_config() }, "t429", 60).await;
    assert_eq!(counts.tokens_issued, 3, "{counts:?}");
    assert!(
        (1..=6).contains(&counts.token_rate_limited),
        "the waiting orgs asked again only after each reset: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_answers_the_nonce_challenge_and_sends_a_fresh_proof_per_request() {
    let sim = simulator(oauth_config()).await;
    let dir = test_dir("dpop");
    let batch = events(230, "dpop");
    sim.push(&batch, Duration::ZERO);
    let auth = format!(
        "type = \"private_key_jwt\"\nclient_id = {DPOP_CLIENT:?}\nkey_file = {:?}\nkid = \"dpop-app-key\"\ndpop = true",
        key_path("test-ec-p256.sec1.pem")
    );
    let results = poll_once(load_config(&dir, &[org_toml(&dir, &sim, "dpop", &auth, 50)])).await;
    result(&results, "dpop").1.as_ref().unwrap_or_else(|e| panic!("{e:#}"));
    assert_exactly_once(&dir, "dpop", &batch);
    let counts = sim.oauth_counts();
    // The first token request is answered use_dpop_nonce; the retry (new proof with the nonce, new
    // assertion) gets the token. Five pages, each with its own proof: a reused jti, a wrong htu
    // or ath would have been rejected.
    assert_eq!(
        (counts.nonce_challenges, counts.token_errors, counts.tokens_issued),
        (1, 1, 1),
        "one challenge, one token: {counts:?}"
    );
    assert_eq!(counts.dpop_resource_calls, 5, "{counts:?}");
    assert_eq!(counts.resource_rejections, 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oin_client_secret_flow_polls_and_a_wrong_secret_is_a_clear_error() {
    let sim = simulator(oauth_config()).await;
    let dir = test_dir("oin");
    let batch = events(40, "oin");
    sim.push(&batch, Duration::ZERO);
    let good = secret_file(&dir, OIN_SECRET);
    let bad = secret_file(&dir, WRONG_SECRET);
    let orgs = [
        org_toml(
            &dir,
            &sim,
            "oin",
            &format!("type = \"oin\"\nclient_id = {OIN_CLIENT:?}\nsecret_file = {good:?}"),
            1000,
        ),
        org_toml(
            &dir,
            &sim,
            "oin-bad",
            &format!("type = \"oin\"\nclient_id = {OIN_CLIENT:?}\nsecret_file = {bad:?}"),
            1000,
        ),
    ];
    let results = poll_once(load_config(&dir, &orgs)).await;
    result(&results, "oin").1.as_ref().unwrap_or_else(|e| panic!("{e:#}"));
    assert_exactly_once(&dir, "oin", &batch);
    let err = error_text(&results, "oin-bad");
    assert!(err.contains("The client secret supplied for a confidential client is invalid."), "{err}");
    assert!(err.contains(OIN_CLIENT) && err.contains("OIN integration") && err.contains("Not retrying"), "{err}");
    assert_no_secrets(&err);
    assert!(written(&dir, "oin-bad").is_empty());
    let counts = sim.oauth_counts();
    assert_eq!((counts.tokens_issued, counts.token_errors), (1, 1), "one request each, no retry loop: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misconfigurations_stop_the_org_with_what_to_check_and_no_secret() {
    let mut oauth = oauth_config();
    // An app that registered key B under the kid the poller is configured with (key A).
    oauth.clients.push(app("0oa-wrong-key", vec![public_jwk("test-rsa-b.pem", "rsa-a")], false));
    // An app granted only okta.users.read: its token gets 403 on the System Log.
    oauth.clients.push(OAuthClient {
        scopes: vec!["okta.users.read".into()],
        ..app("0oa-no-logs", vec![public_jwk("test-ec-p256.pem", "k")], false)
    });
    let sim = simulator(oauth).await;
    let dir = test_dir("misconfigured");
    sim.push(&events(5, "mis"), Duration::ZERO);
    let rsa_a = key_path("test-rsa-a.pem");
    let pkj = |client: &str, extra: &str| {
        format!("type = \"private_key_jwt\"\nclient_id = {client:?}\nkey_file = {rsa_a:?}\n{extra}")
    };
    let orgs = [
        org_toml(&dir, &sim, "wrong-key", &pkj("0oa-wrong-key", "kid = \"rsa-a\""), 1000),
        org_toml(&dir, &sim, "no-kid", &pkj(RS_CLIENT, ""), 1000),
        org_toml(
            &dir,
            &sim,
            "no-dpop",
            &format!(
                "type = \"private_key_jwt\"\nclient_id = {DPOP_CLIENT:?}\nkey_file = {:?}\nkid = \"dpop-app-key\"",
                key_path("test-ec-p256.pem")
            ),
            1000,
        ),
        org_toml(&dir, &sim, "unknown-kid", &pkj(RS_CLIENT, "kid = \"rsa-z\""), 1000),
        org_toml(
            &dir,
            &sim,
            "scope",
            &format!(
                "type = \"private_key_jwt\"\nclient_id = \"0oa-no-logs\"\nkey_file = {:?}\nscopes = [\"okta.users.read\"]",
                key_path("test-ec-p256.pem")
            ),
            1000,
        ),
        org_toml(
            &dir,
            &sim,
            "not-granted",
            &pkj(RS_CLIENT, "kid = \"rsa-a\"\nscopes = [\"okta.logs.read\", \"okta.groups.read\"]"),
            1000,
        ),
    ];
    let results = poll_once(load_config(&dir, &orgs)).await;

    let err = error_text(&results, "wrong-key");
    assert!(err.contains("The client_assertion signature is invalid."), "{err}");
    assert!(
        err.contains("RSA 2048-bit, RS256, kid \"rsa-a\"") && err.contains("test-rsa-a.pem"),
        "names the key: {err}"
    );
    assert!(err.contains("public half") && err.contains("Not retrying"), "{err}");

    let err = error_text(&results, "no-kid");
    assert!(err.contains("The client_assertion JWT kid is invalid.") && err.contains("set kid"), "{err}");
    let err = error_text(&results, "unknown-kid");
    assert!(err.contains("no public key with kid \"rsa-z\""), "{err}");
    let err = error_text(&results, "no-dpop");
    assert!(err.contains("The DPoP proof JWT header is missing.") && err.contains("set dpop = true"), "{err}");
    let err = error_text(&results, "scope");
    assert!(err.contains("403") && err.contains("okta.logs.read") && err.contains("admin role"), "{err}");
    let err = error_text(&results, "not-granted");
    assert!(err.contains("invalid_scope") && err.contains("okta.groups.read"), "{err}");

    for name in ["wrong-key", "no-kid", "no-dpop", "unknown-kid", "scope", "not-granted"] {
        assert_no_secrets(&error_text(&results, name));
    }
    let counts = sim.oauth_counts();
    assert_eq!(counts.token_errors, 5, "one token request per misconfigured org: {counts:?}");
    assert_eq!(counts.resource_rejections, 1, "and one resource request for the 403: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_replaced_before_they_expire() {
    let sim = simulator(OAuthConfig { token_lifetime: Duration::from_secs(2), ..oauth_config() }).await;
    let dir = test_dir("refresh");
    let (first, second) = (events(30, "early"), events(30, "late"));
    sim.push(&first, Duration::ZERO);
    let auth = format!(
        "type = \"private_key_jwt\"\nclient_id = {DPOP_CLIENT:?}\nkey_file = {:?}\nkid = \"dpop-app-key\"\ndpop = true",
        key_path("test-ec-p256.pem")
    );
    let results = poll_while(load_config(&dir, &[org_toml(&dir, &sim, "refresh", &auth, 1000)]), async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        sim.push(&second, Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(2500)).await;
    })
    .await;
    result(&results, "refresh").1.as_ref().unwrap_or_else(|e| panic!("{e:#}"));
    assert_exactly_once(&dir, "refresh", &[first, second].concat());
    let counts = sim.oauth_counts();
    // A poll a second for five seconds with tokens that live two: a new token (and DPoP key)
    // every 1.5 s, and never an expired one presented.
    assert!(counts.tokens_issued >= 3, "{counts:?}");
    assert_eq!(counts.resource_rejections, 0, "tokens were replaced before they expired: {counts:?}");
    assert_eq!(counts.nonce_challenges, 1, "the nonce is remembered across tokens: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_replaced_once_and_polling_goes_on() {
    let sim = simulator(oauth_config()).await;
    let dir = test_dir("revoked");
    let (first, second) = (events(20, "before"), events(20, "after"));
    sim.push(&first, Duration::ZERO);
    let auth = format!(
        "type = \"private_key_jwt\"\nclient_id = {RS_CLIENT:?}\nkey_file = {:?}\nkid = \"rsa-a\"",
        key_path("test-rsa-a.pkcs1.pem")
    );
    let results = poll_while(load_config(&dir, &[org_toml(&dir, &sim, "revoked", &auth, 1000)]), async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        sim.revoke_access_tokens();
        sim.push(&second, Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(2000)).await;
    })
    .await;
    result(&results, "revoked").1.as_ref().unwrap_or_else(|e| panic!("{e:#}"));
    assert_exactly_once(&dir, "revoked", &[first, second].concat());
    let counts = sim.oauth_counts();
    assert_eq!(counts.resource_rejections, 1, "one 401: {counts:?}");
    assert_eq!(counts.tokens_issued, 2, "then one new token: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_dpop_nonce_is_picked_up_mid_run() {
    let sim = simulator(OAuthConfig { token_lifetime: Duration::from_secs(2), ..oauth_config() }).await;
    let dir = test_dir("rotation");
    let batch = events(25, "rot");
    sim.push(&batch, Duration::ZERO);
    let auth = format!(
        "type = \"private_key_jwt\"\nclient_id = {DPOP_CLIENT:?}\nkey_file = {:?}\nkid = \"dpop-app-key\"\ndpop = true",
        key_path("test-ec-p256.pem")
    );
    let results = poll_while(load_config(&dir, &[org_toml(&dir, &sim, "rotation", &auth, 1000)]), async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        sim.rotate_dpop_nonce();
        tokio::time::sleep(Duration::from_millis(2800)).await;
    })
    .await;
    result(&results, "rotation").1.as_ref().unwrap_or_else(|e| panic!("{e:#}"));
    assert_exactly_once(&dir, "rotation", &batch);
    let counts = sim.oauth_counts();
    assert_eq!(counts.nonce_challenges, 2, "the first token and the first after the rotation: {counts:?}");
    assert!(counts.tokens_issued >= 2, "{counts:?}");
    assert_eq!(counts.resource_rejections, 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_clock_ten_minutes_behind_is_followed_by_its_date_header() {
    let sim = simulator(OAuthConfig { clock_offset_secs: -600, ..oauth_config() }).await;
    let dir = test_dir("skew");
    let batch = events(10, "skew");
    sim.push(&batch, Duration::ZERO);
    let auth = format!(
        "type = \"private_key_jwt\"\nclient_id = {DPOP_CLIENT:?}\nkey_file = {:?}\nkid = \"dpop-app-key\"\ndpop = true",
        key_path("test-ec-p256.pem")
    );
    let results = poll_once(load_config(&dir, &[org_toml(&dir, &sim, "skew", &auth, 1000)])).await;
    result(&results, "skew").1.as_ref().unwrap_or_else(|e| panic!("{e:#}"));
    assert_exactly_once(&dir, "skew", &batch);
    let counts = sim.oauth_counts();
    // "must be issued before the current time", then (on Okta's clock) the nonce challenge, then
    // the token. The resource proofs are dated by Okta's clock too, or they would be "in the
    // future".
    assert_eq!((counts.token_errors, counts.nonce_challenges, counts.tokens_issued), (2, 1, 1), "{counts:?}");
    assert_eq!(counts.resource_rejections, 0, "{counts:?}");
}

// ------------------------------------------------------------------------------------------------
// The simulator's checks, with raw requests.

/// One HTTP/1.1 exchange with the simulator.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("a JSON body: {}", self.body))
    }

    /// `error: error_description` of an OAuth error.
    fn oauth_error(&self) -> String {
        let v = self.json();
        format!("{}: {}", v["error"].as_str().unwrap_or(""), v["error_description"].as_str().unwrap_or(""))
    }
}

async fn send(sim: &SimHandle, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let addr = sim.base_url().trim_start_matches("http://").to_owned();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connects");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\naccept: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.expect("writes");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("reads");
        String::from_utf8(raw).expect("UTF-8 answer")
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange).await.expect("the simulator answers");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply { status, headers, body: body.to_owned() }
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A client assertion for `client` signed with `key`, with claims changed by `edit`.
fn assertion(sim: &SimHandle, key: &str, kid: Option<&str>, client: &str, edit: impl FnOnce(&mut Value)) -> String {
    let key = SigningKey::from_text(&key_text(key)).expect("key");
    let now = now_secs();
    let mut claims = json!({
        "iss": client,
        "sub": client,
        "aud": format!("{}/oauth2/v1/token", sim.base_url()),
        "iat": now - 30,
        "exp": now + 300,
        "jti": format!("jti-{now}-{}", unique()),
    });
    edit(&mut claims);
    let mut header = serde_json::Map::new();
    if let Some(kid) = kid {
        header.insert("kid".into(), Value::from(kid));
    }
    key.sign_jwt(&header, &claims)
}

/// A value unique within the test process.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

async fn token_request(sim: &SimHandle, assertion: &str, scope: &str) -> Reply {
    let body = format!(
        "grant_type=client_credentials&scope={}&client_assertion_type={}&client_assertion={assertion}",
        scope.replace(' ', "+"),
        ASSERTION_TYPE.replace(':', "%3A")
    );
    send(sim, "POST", "/oauth2/v1/token", &[("content-type", "application/x-www-form-urlencoded")], &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_checks_client_assertions_as_okta_does() {
    let sim = simulator(oauth_config()).await;
    let es = |edit: fn(&mut Value)| assertion(&sim, "test-ec-p256.pem", None, ES_CLIENT, edit);

    // The SDK bug: exp = now + 3600 is refused ("strictly less than an hour"); so is anything later.
    let r = token_request(&sim, &es(|c| c["exp"] = Value::from(now_secs() + 3700)), "okta.logs.read").await;
    assert_eq!(
        (r.status, r.oauth_error().as_str()),
        (401, "invalid_client: The client_assertion token has an expiration too far into the future.")
    );
    let r = token_request(&sim, &es(|c| c["exp"] = Value::from(now_secs() - 5)), "okta.logs.read").await;
    assert_eq!(r.oauth_error(), "invalid_client: The client_assertion token is expired.");
    let r = token_request(&sim, &es(|c| c["iat"] = Value::from(now_secs() + 120)), "okta.logs.read").await;
    assert_eq!(r.oauth_error(), "invalid_client: The client_assertion token must be issued before the current time.");
    let r = token_request(
        &sim,
        &es(|c| c["aud"] = Value::from("https://elsewhere.okta.com/oauth2/v1/token")),
        "okta.logs.read",
    )
    .await;
    assert_eq!(
        r.oauth_error(),
        "invalid_client: The audience claim for client_assertion must be the endpoint invoked for the request."
    );
    let r = token_request(&sim, &es(|c| c["sub"] = Value::from("someone-else")), "okta.logs.read").await;
    assert!(r.oauth_error().starts_with("invalid_client: The client_assertion token's 'iss' and 'sub'"), "{}", r.body);

    // Signed with another key; or no kid while the app has two keys.
    let r = token_request(&sim, &assertion(&sim, "test-rsa-b.pem", Some("rsa-a"), RS_CLIENT, |_| {}), "okta.logs.read")
        .await;
    assert_eq!(r.oauth_error(), "invalid_client: The client_assertion signature is invalid.");
    let r = token_request(&sim, &assertion(&sim, "test-rsa-a.pem", None, RS_CLIENT, |_| {}), "okta.logs.read").await;
    assert_eq!(r.oauth_error(), "invalid_client: The client_assertion JWT kid is invalid.");

    // Scopes: none, or more than granted.
    let r = token_request(&sim, &es(|_| {}), "").await;
    assert_eq!((r.status, r.oauth_error().as_str()), (400, "invalid_scope: No scopes were requested."));
    let r = token_request(&sim, &es(|_| {}), "okta.logs.read okta.users.read").await;
    assert!(r.oauth_error().starts_with("invalid_scope:") && r.body.contains("okta.users.read"), "{}", r.body);

    // A good assertion works once; the same one again is a replay.
    let good = es(|_| {});
    let r = token_request(&sim, &good, "okta.logs.read").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json();
    assert_eq!((token["token_type"].as_str(), token["expires_in"].as_u64()), (Some("Bearer"), Some(3600)));
    assert_eq!(token["scope"], "okta.logs.read");
    assert!(r.header("date").is_some() && r.header("x-okta-request-id").is_some());
    let r = token_request(&sim, &good, "okta.logs.read").await;
    assert_eq!(r.oauth_error(), "invalid_client: The client_assertion token has already been used.");

    // The token opens the System Log as a Bearer token; a made-up one is 401 E0000011 with a
    // Bearer challenge.
    let bearer = format!("Bearer {}", token["access_token"].as_str().expect("token"));
    let r = send(&sim, "GET", "/api/v1/logs?limit=1", &[("authorization", &bearer)], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(&sim, "GET", "/api/v1/logs?limit=1", &[("authorization", "Bearer made-up")], "").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["errorCode"], "E0000011");
    let challenge = r.header("www-authenticate").expect("a challenge");
    assert!(challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(r.header("x-rate-limit-limit").is_some(), "rate-limit headers on a 401 too");
}

/// The headers `auth` makes for one request, as text.
async fn credentials(auth: &Auth, method: &str, url: &str) -> Vec<(String, String)> {
    let headers = auth.headers(method, url).await.expect("credentials");
    headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().expect("ASCII").to_owned())).collect()
}

fn refs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_proofs_are_bound_to_method_url_token_and_a_single_use() {
    let sim = simulator(oauth_config()).await;
    let dir = test_dir("dpop-raw");
    let auth = format!(
        "type = \"private_key_jwt\"\nclient_id = {DPOP_CLIENT:?}\nkey_file = {:?}\nkid = \"dpop-app-key\"\ndpop = true",
        key_path("test-ec-p256.pem")
    );
    let config = load_config(&dir, &[org_toml(&dir, &sim, "raw", &auth, 1000)]);
    let auth = Auth::from_org(&config.orgs[0]).expect("auth");
    let logs = format!("{}/api/v1/logs", sim.base_url());

    // A token request without a proof, against a DPoP-required app.
    let bare = assertion(&sim, "test-ec-p256.pem", Some("dpop-app-key"), DPOP_CLIENT, |_| {});
    let r = token_request(&sim, &bare, "okta.logs.read").await;
    assert_eq!(
        (r.status, r.oauth_error().as_str()),
        (400, "invalid_dpop_proof: The DPoP proof JWT header is missing.")
    );

    // The poller's credentials: `Authorization: DPoP` and a proof for this URL (query aside).
    let good = credentials(&auth, "GET", &format!("{logs}?limit=5")).await;
    let authorization = good.iter().find(|(k, _)| k == "authorization").expect("authorization").1.clone();
    assert!(authorization.starts_with("DPoP "), "the DPoP scheme: not Bearer");
    let r = send(&sim, "GET", "/api/v1/logs?limit=5", &refs(&good), "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The same proof again is a replay.
    let r = send(&sim, "GET", "/api/v1/logs?limit=5", &refs(&good), "").await;
    assert_eq!(r.status, 400);
    assert!(r.header("www-authenticate").expect("challenge").contains("The DPoP proof JWT has already been used."));

    // A proof made for another URL, or another method, is refused with Okta's words.
    let other = credentials(&auth, "GET", &format!("{}/api/v1/users", sim.base_url())).await;
    let r = send(&sim, "GET", "/api/v1/logs", &refs(&other), "").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errorCode"], "E0000011");
    let challenge = r.header("www-authenticate").expect("challenge");
    assert!(challenge.starts_with("DPoP algs=\"RS256 RS384 RS512 ES256 ES384 ES512\""), "{challenge}");
    assert!(
        challenge.contains("error=\"invalid_dpop_proof\"")
            && challenge.contains("error_description=\"'htu' claim in the DPoP proof JWT is invalid.\"")
            && challenge.contains("resource=\"/api/v1/logs\""),
        "{challenge}"
    );
    let post = credentials(&auth, "POST", &logs).await;
    let r = send(&sim, "GET", "/api/v1/logs", &refs(&post), "").await;
    assert!(r.header("www-authenticate").expect("challenge").contains("'htm' claim in the DPoP proof JWT is invalid."));

    // The DPoP-bound token as a Bearer token, or with no proof.
    let access_token = authorization.trim_start_matches("DPoP ").to_owned();
    let r = send(&sim, "GET", "/api/v1/logs", &[("authorization", &format!("Bearer {access_token}"))], "").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").expect("challenge").contains("error=\"invalid_token\""));
    let r = send(&sim, "GET", "/api/v1/logs", &[("authorization", &authorization)], "").await;
    assert!(r.header("www-authenticate").expect("challenge").contains("The DPoP proof JWT header is missing."));

    // Nothing printable about the client holds the token or the key.
    let text = format!("{auth:?} {}", auth.describe());
    assert!(!text.contains(&access_token), "{text}");
    assert_no_secrets(&text);
    assert_eq!(auth.tokens_fetched(), 1, "one token for all these proofs");
    let counts: OAuthCounts = sim.oauth_counts();
    assert_eq!(counts.dpop_resource_calls, 1, "{counts:?}");
    assert_eq!(counts.resource_rejections, 5, "{counts:?}");
}
