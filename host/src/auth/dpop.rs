//! DPoP proofs (RFC 9449) as Okta checks them (okta-api.md §3.3): an ephemeral ES256 key per
//! access token, and a fresh proof per request with `htm`, `htu`, `iat`, a unique `jti`, the
//! `nonce` when one is known and, on resource calls, `ath`.

use serde_json::{Map, Value, json};

use super::jose::{self, SigningKey};

/// The key an access token is bound to. Its `Debug` shows only the thumbprint.
pub struct DpopKey {
    key: SigningKey,
    /// The public JWK, sent in every proof's header.
    jwk: Value,
    /// Its RFC 7638 thumbprint (Okta puts it in the token's `cnf.jkt`).
    jkt: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DpopKey(jkt {})", self.jkt)
    }
}

impl DpopKey {
    /// A new ES256 key.
    pub fn generate() -> DpopKey {
        let key = SigningKey::generate_es256();
        let jwk = key.public_jwk();
        let jkt = jose::thumbprint(&jwk).expect("an EC JWK has a thumbprint");
        DpopKey { key, jwk, jkt }
    }

    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    /// A proof for one request. `iat` is Unix seconds (on Okta's clock, when it is known);
    /// `access_token` is given on resource calls, to bind the proof with `ath`.
    pub fn proof(&self, method: &str, htu: &str, iat: i64, nonce: Option<&str>, access_token: Option<&str>) -> String {
        let mut header = Map::new();
        header.insert("typ".into(), Value::from("dpop+jwt"));
        header.insert("jwk".into(), self.jwk.clone());
        let mut claims = json!({
            "htm": method,
            "htu": htu,
            "iat": iat,
            "jti": jose::random_id(18),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::from(nonce);
        }
        if let Some(token) = access_token {
            claims["ath"] = Value::from(jose::sha256_b64(token.as_bytes()));
        }
        self.key.sign_jwt(&header, &claims)
    }
}

/// `htu` for a request URL: the URL exactly as the HTTP client sends it (parsed the same way
/// reqwest parses it), without query and fragment.
pub fn htu(url: &str) -> Result<String, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| format!("{e} in the request URL"))?;
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jose::Jws;

    #[test]
    fn proofs_carry_what_okta_checks() {
        let key = DpopKey::generate();
        let proof = key.proof("GET", "https://acme.okta.com/api/v1/logs", 1_700_000_000, Some("n0nce"), Some("tok"));
        let jws = Jws::parse(&proof).expect("parses");
        assert_eq!(jws.header_str("typ"), Some("dpop+jwt"));
        assert_eq!(jws.header_str("alg"), Some("ES256"));
        let jwk = &jws.header["jwk"];
        assert!(!jose::has_private_members(jwk), "only the public key travels");
        assert!(jws.verify(jwk));
        assert_eq!(jose::thumbprint(jwk).expect("thumbprint"), key.thumbprint());
        assert_eq!(jws.claim_str("htm"), Some("GET"));
        assert_eq!(jws.claim_str("nonce"), Some("n0nce"));
        assert_eq!(jws.claim_str("ath"), Some(jose::sha256_b64(b"tok").as_str()));
        let again = Jws::parse(&key.proof("GET", "https://a/b", 1, None, None)).expect("parses");
        assert_ne!(jws.claim_str("jti"), again.claim_str("jti"), "every proof has its own jti");
        assert!(again.claims.get("nonce").is_none() && again.claims.get("ath").is_none());
    }

    #[test]
    fn htu_drops_query_and_fragment_only() {
        assert_eq!(
            htu("https://acme.okta.com/api/v1/logs?since=2026-01-01T00%3A00%3A00Z&limit=1000#x").expect("url"),
            "https://acme.okta.com/api/v1/logs"
        );
        assert_eq!(
            htu("http://127.0.0.1:8090/api/v1/logs?after=1_2").expect("url"),
            "http://127.0.0.1:8090/api/v1/logs"
        );
        assert_eq!(
            htu("HTTPS://ACME.okta.com:443/api/v1/users/a%40b").expect("url"),
            "https://acme.okta.com/api/v1/users/a%40b"
        );
        assert!(htu("not a url").is_err());
    }
}
