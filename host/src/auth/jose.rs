//! The little of JOSE that Okta's OAuth needs, on aws-lc-rs (already linked for rustls): compact
//! JWS signing and verification with RS256/384/512 and ES256/384/512, private keys from PEM
//! (PKCS#8, PKCS#1, SEC1) or JWK JSON, public JWKs and RFC 7638 thumbprints.
//!
//! Both sides use it: the poller signs client assertions and DPoP proofs, the simulator verifies
//! them. Signing and verification go through different aws-lc-rs calls, and the unit tests check
//! both against signatures made by OpenSSL and against RFC 7638's example, so a mistake shared by
//! the two sides would still show.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value, json};

/// base64url without padding (RFC 7515 §2); decoding also accepts padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64url, no padding.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes base64url (with or without padding).
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    B64.decode(text).ok()
}

/// base64url(SHA-256(bytes)): DPoP's `ath` and JWK thumbprints.
pub fn sha256_b64(bytes: &[u8]) -> String {
    b64(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// `n` random bytes as base64url: `jti` values, simulator tokens and nonces.
pub fn random_id(n: usize) -> String {
    let mut buf = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut buf).expect("the system random generator works");
    b64(&buf)
}

/// The JWS algorithms Okta accepts for client assertions and DPoP proofs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    Es512,
}

impl Alg {
    pub const ALL: [Alg; 6] = [Alg::Rs256, Alg::Rs384, Alg::Rs512, Alg::Es256, Alg::Es384, Alg::Es512];

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
        }
    }

    pub fn parse(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The curve an ES algorithm signs with (`None` for RSA).
    fn curve(self) -> Option<Curve> {
        match self {
            Alg::Es256 => Some(Curve::P256),
            Alg::Es384 => Some(Curve::P384),
            Alg::Es512 => Some(Curve::P521),
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 => None,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    const ALL: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    fn from_name(name: &str) -> Option<Curve> {
        Curve::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Bytes per coordinate.
    fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn alg(self) -> Alg {
        match self {
            Curve::P256 => Alg::Es256,
            Curve::P384 => Alg::Es384,
            Curve::P521 => Alg::Es512,
        }
    }

    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }

    fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }
}

/// A private key that signs JWTs. Its `Debug` shows the kind of key, never key material.
pub struct SigningKey {
    inner: Inner,
    alg: Alg,
    /// The `kid` the key's JWK carried, if it was given as a JWK.
    jwk_kid: Option<String>,
}

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, Curve),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.describe())
    }
}

impl SigningKey {
    /// Reads a private key from PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`) or from
    /// a JWK (a JSON object with `d`, or a JWKS holding exactly one key). Errors describe the
    /// problem, never the key.
    pub fn from_text(text: &str) -> Result<SigningKey, String> {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') {
            let value: Value = serde_json::from_str(trimmed)
                .map_err(|e| format!("the key looks like JSON but is not valid JSON ({e})"))?;
            return SigningKey::from_jwk(&value);
        }
        if trimmed.contains("-----BEGIN") {
            return SigningKey::from_pem(trimmed);
        }
        Err("the key is neither PEM (-----BEGIN PRIVATE KEY-----) nor a JWK (a JSON object)".into())
    }

    fn from_pem(text: &str) -> Result<SigningKey, String> {
        let (label, der) = pem_private_key(text)?;
        let rejected = |what: &str, e: aws_lc_rs::error::KeyRejected| format!("the {what} key could not be read ({e})");
        match label.as_str() {
            "PRIVATE KEY" => {
                if let Ok(rsa) = RsaKeyPair::from_pkcs8(&der) {
                    return Ok(SigningKey::rsa(rsa, Alg::Rs256, None));
                }
                for curve in Curve::ALL {
                    if let Ok(ec) = EcdsaKeyPair::from_pkcs8(curve.signing(), &der) {
                        return Ok(SigningKey { inner: Inner::Ec(ec, curve), alg: curve.alg(), jwk_kid: None });
                    }
                }
                Err("the PKCS#8 key is neither RSA (2048 to 8192 bits) nor EC on P-256, P-384 or P-521".into())
            }
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der)
                .map(|rsa| SigningKey::rsa(rsa, Alg::Rs256, None))
                .map_err(|e| rejected("PKCS#1 RSA", e)),
            "EC PRIVATE KEY" => Curve::ALL
                .into_iter()
                .find_map(|curve| {
                    EcdsaKeyPair::from_private_key_der(curve.signing(), &der).ok().map(|ec| SigningKey {
                        inner: Inner::Ec(ec, curve),
                        alg: curve.alg(),
                        jwk_kid: None,
                    })
                })
                .ok_or_else(|| "the SEC1 EC key is not on P-256, P-384 or P-521".into()),
            other => Err(format!("unexpected PEM block {other:?}")),
        }
    }

    fn from_jwk(value: &Value) -> Result<SigningKey, String> {
        let jwk = match value.get("keys").and_then(Value::as_array) {
            Some(keys) if keys.len() == 1 => &keys[0],
            Some(keys) => {
                return Err(format!("the JWK set holds {} keys; give the one private key the app uses", keys.len()));
            }
            None => value,
        };
        let jwk = jwk.as_object().ok_or("the JWK is not a JSON object")?;
        let field = |name: &str| -> Result<Vec<u8>, String> {
            let text = jwk.get(name).and_then(Value::as_str).ok_or_else(|| format!("the JWK has no {name:?}"))?;
            b64_decode(text).ok_or_else(|| format!("the JWK's {name:?} is not base64url"))
        };
        if !jwk.contains_key("d") {
            return Err("the JWK is a public key (it has no \"d\"); the poller needs the private key".into());
        }
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        let alg = jwk.get("alg").and_then(Value::as_str);
        match jwk.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let alg = match alg {
                    None => Alg::Rs256,
                    Some(a) => Alg::parse(a)
                        .filter(|a| a.curve().is_none())
                        .ok_or_else(|| format!("the RSA JWK has alg {a:?}; use RS256, RS384 or RS512"))?,
                };
                let (n, e) = (field("n")?, field("e")?);
                let components = aws_lc_rs::rsa::KeyPairComponents {
                    public_key: signature::RsaPublicKeyComponents { n: strip_zeros(&n), e: strip_zeros(&e) },
                    d: field("d")?,
                    p: field("p")?,
                    q: field("q")?,
                    dP: field("dp")?,
                    dQ: field("dq")?,
                    qInv: field("qi")?,
                };
                let rsa = RsaKeyPair::from_components(&components)
                    .map_err(|e| format!("the RSA JWK's numbers do not form a valid key ({e})"))?;
                Ok(SigningKey::rsa(rsa, alg, kid))
            }
            Some("EC") => {
                let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
                let curve = Curve::from_name(crv)
                    .ok_or_else(|| format!("the EC JWK's curve {crv:?} is not P-256, P-384 or P-521"))?;
                let (x, y, d) = (field("x")?, field("y")?, field("d")?);
                if x.len() != curve.size() || y.len() != curve.size() {
                    return Err(format!("the EC JWK's x or y has the wrong length for {}", curve.name()));
                }
                let mut point = Vec::with_capacity(1 + 2 * curve.size());
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let ec = EcdsaKeyPair::from_private_key_and_public_key(curve.signing(), &d, &point)
                    .map_err(|e| format!("the EC JWK's numbers do not form a valid key ({e})"))?;
                Ok(SigningKey { inner: Inner::Ec(ec, curve), alg: curve.alg(), jwk_kid: kid })
            }
            other => Err(format!("the JWK's kty {other:?} is not RSA or EC")),
        }
    }

    fn rsa(rsa: RsaKeyPair, alg: Alg, jwk_kid: Option<String>) -> SigningKey {
        SigningKey { inner: Inner::Rsa(rsa), alg, jwk_kid }
    }

    /// A new P-256 key, for DPoP proofs.
    pub fn generate_es256() -> SigningKey {
        let curve = Curve::P256;
        let ec = EcdsaKeyPair::generate(curve.signing()).expect("P-256 key generation works");
        SigningKey { inner: Inner::Ec(ec, curve), alg: curve.alg(), jwk_kid: None }
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The `kid` of the JWK the key was read from.
    pub fn jwk_kid(&self) -> Option<&str> {
        self.jwk_kid.as_deref()
    }

    /// "RSA 2048-bit, RS256" or "EC P-256, ES256".
    pub fn describe(&self) -> String {
        match &self.inner {
            Inner::Rsa(rsa) => format!("RSA {}-bit, {}", rsa.public_modulus_len() * 8, self.alg),
            Inner::Ec(_, curve) => format!("EC {}, {}", curve.name(), self.alg),
        }
    }

    /// The public half as a JWK with only `kty` and its key parameters (what RFC 7638 hashes,
    /// and what a DPoP proof's `jwk` header carries).
    pub fn public_jwk(&self) -> Value {
        match &self.inner {
            Inner::Rsa(rsa) => {
                let (n, e) = rsa_public_numbers(rsa.public_key().as_ref()).expect("aws-lc-rs writes RSAPublicKey DER");
                json!({"kty": "RSA", "n": b64(n), "e": b64(e)})
            }
            Inner::Ec(ec, curve) => {
                let point = ec.public_key().as_ref();
                let (x, y) = point[1..].split_at(curve.size());
                json!({"kty": "EC", "crv": curve.name(), "x": b64(x), "y": b64(y)})
            }
        }
    }

    /// Signs `header` (an object; `alg` is set here) and `claims` into a compact JWS.
    pub fn sign_jwt(&self, header: &Map<String, Value>, claims: &Value) -> String {
        let mut header = header.clone();
        header.insert("alg".into(), Value::from(self.alg.name()));
        let input =
            format!("{}.{}", b64(Value::Object(header).to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let rng = SystemRandom::new();
        let sig = match &self.inner {
            Inner::Rsa(rsa) => {
                let encoding: &'static dyn signature::RsaEncoding = match self.alg {
                    Alg::Rs384 => &signature::RSA_PKCS1_SHA384,
                    Alg::Rs512 => &signature::RSA_PKCS1_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0u8; rsa.public_modulus_len()];
                rsa.sign(encoding, &rng, input.as_bytes(), &mut sig).expect("RSA signing works");
                sig
            }
            Inner::Ec(ec, _) => ec.sign(&rng, input.as_bytes()).expect("ECDSA signing works").as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&sig))
    }
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK.
pub fn thumbprint(jwk: &Value) -> Result<String, String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str).ok_or_else(|| format!("the JWK has no {name:?}"));
    // Members in lexicographic order, no whitespace; serde_json escapes strings as JSON requires.
    let canonical = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => {
            format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, Value::from(member("e")?), Value::from(member("n")?))
        }
        Some("EC") => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            Value::from(member("crv")?),
            Value::from(member("x")?),
            Value::from(member("y")?)
        ),
        other => return Err(format!("unsupported kty {other:?}")),
    };
    Ok(sha256_b64(canonical.as_bytes()))
}

/// A compact JWS, decoded but not verified.
#[derive(Debug)]
pub struct Jws {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jws {
    /// Splits and decodes `header.claims.signature`; both JSON parts must be objects.
    pub fn parse(token: &str) -> Option<Jws> {
        let mut parts = token.trim().split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let object = |part: &str| match serde_json::from_slice::<Value>(&b64_decode(part)?) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        };
        Some(Jws {
            header: object(h)?,
            claims: object(c)?,
            signing_input: format!("{h}.{c}"),
            signature: b64_decode(s)?,
        })
    }

    /// The header's `alg`, if it is one Okta accepts.
    pub fn alg(&self) -> Option<Alg> {
        self.header.get("alg").and_then(Value::as_str).and_then(Alg::parse)
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn claim_i64(&self, name: &str) -> Option<i64> {
        self.claims.get(name).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
    }

    /// Checks the signature against a public JWK, with the header's `alg`, which must fit the
    /// key (RS* for RSA; ES256/384/512 for P-256/384/521).
    pub fn verify(&self, jwk: &Value) -> bool {
        let Some(alg) = self.alg() else { return false };
        let decode = |name: &str| jwk.get(name).and_then(Value::as_str).and_then(b64_decode);
        let message = self.signing_input.as_bytes();
        match (jwk.get("kty").and_then(Value::as_str), alg.curve()) {
            (Some("RSA"), None) => {
                let (Some(n), Some(e)) = (decode("n"), decode("e")) else { return false };
                let params = match alg {
                    Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    _ => &signature::RSA_PKCS1_2048_8192_SHA256,
                };
                let key = signature::RsaPublicKeyComponents { n: strip_zeros(&n), e: strip_zeros(&e) };
                key.verify(params, message, &self.signature).is_ok()
            }
            (Some("EC"), Some(curve)) => {
                let jwk_curve = jwk.get("crv").and_then(Value::as_str).and_then(Curve::from_name);
                let (Some(x), Some(y)) = (decode("x"), decode("y")) else { return false };
                if jwk_curve != Some(curve) || x.len() != curve.size() || y.len() != curve.size() {
                    return false;
                }
                let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
                signature::UnparsedPublicKey::new(curve.verification(), point).verify(message, &self.signature).is_ok()
            }
            _ => false,
        }
    }
}

/// Whether a JWK carries private members (a DPoP `jwk` header must not).
pub fn has_private_members(jwk: &Value) -> bool {
    ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|m| jwk.get(m).is_some())
}

/// Big-endian integer bytes without leading zeros (keeping one byte for zero).
fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    trim_zeros(bytes).to_vec()
}

/// The label and DER of the first private-key block in a PEM text.
fn pem_private_key(text: &str) -> Result<(String, Vec<u8>), String> {
    let mut labels = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(end_label) = after.find("-----") else { break };
        let label = after[..end_label].to_owned();
        let body_start = &after[end_label + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            return Err(format!("the PEM block {label:?} has no END line"));
        };
        if matches!(label.as_str(), "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY") {
            let body = &body_start[..body_end];
            if body.contains("Proc-Type:") {
                return Err(format!(
                    "the {label} is encrypted; give the poller an unencrypted key (openssl pkcs8 -topk8 -nocrypt)"
                ));
            }
            let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| format!("the PEM block {label:?} is not valid base64"))?;
            return Ok((label, der));
        }
        labels.push(label);
        rest = &body_start[body_end + end_marker.len()..];
    }
    if labels.iter().any(|l| l == "ENCRYPTED PRIVATE KEY") {
        return Err("the key is encrypted; give the poller an unencrypted key (openssl pkcs8 -topk8 -nocrypt)".into());
    }
    if labels.is_empty() {
        return Err("no PEM block found".into());
    }
    Err(format!(
        "the PEM holds {} but no private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        labels.join(", ")
    ))
}

/// `n` and `e` from DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_numbers(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, seq, _) = der_item(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag_n, n, rest) = der_item(seq)?;
    let (tag_e, e, _) = der_item(rest)?;
    if tag_n != 0x02 || tag_e != 0x02 {
        return None;
    }
    Some((trim_zeros(n), trim_zeros(e)))
}

/// One DER item: (tag, contents, the bytes after it).
fn der_item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases/keys").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29",
        });
        assert_eq!(thumbprint(&jwk).expect("rsa"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn pem_pkcs1_and_jwk_forms_of_one_key_agree() {
        let pkcs8 = SigningKey::from_text(&key("test-rsa-a.pem")).expect("pkcs8");
        let pkcs1 = SigningKey::from_text(&key("test-rsa-a.pkcs1.pem")).expect("pkcs1");
        let jwk = SigningKey::from_text(&key("test-rsa-a.jwk.json")).expect("jwk");
        assert_eq!(pkcs8.public_jwk(), pkcs1.public_jwk());
        assert_eq!(pkcs8.public_jwk(), jwk.public_jwk());
        assert_eq!(jwk.jwk_kid(), Some("test-rsa-a"));
        assert_eq!(pkcs8.describe(), "RSA 2048-bit, RS256");

        let ec8 = SigningKey::from_text(&key("test-ec-p256.pem")).expect("ec pkcs8");
        let sec1 = SigningKey::from_text(&key("test-ec-p256.sec1.pem")).expect("sec1");
        let ecj = SigningKey::from_text(&key("test-ec-p256.jwk.json")).expect("ec jwk");
        assert_eq!(ec8.public_jwk(), sec1.public_jwk());
        assert_eq!(ec8.public_jwk(), ecj.public_jwk());
        assert_eq!(ec8.alg(), Alg::Es256);
        let p384 = SigningKey::from_text(&key("test-ec-p384.pem")).expect("p384");
        assert_eq!(p384.alg(), Alg::Es384);
        // The JWK file was written by Python's `cryptography` from the PEM: same public numbers.
        let file: Value = serde_json::from_str(&key("test-ec-p256.jwk.json")).expect("json");
        assert_eq!(ec8.public_jwk()["x"], file["x"]);
        assert_eq!(ec8.public_jwk()["y"], file["y"]);
    }

    /// RS256 is deterministic: the signature must equal OpenSSL's
    /// (`openssl dgst -sha256 -sign test-rsa-a.pem` over the signing input).
    #[test]
    fn rs256_signature_matches_openssl() {
        let k = SigningKey::from_text(&key("test-rsa-a.pem")).expect("key");
        let header = json!({"typ": "JWT"});
        let jwt = k.sign_jwt(header.as_object().expect("object"), &json!({"iss": "test"}));
        let (input, sig) = jwt.rsplit_once('.').expect("three parts");
        assert_eq!(input, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ0ZXN0In0");
        assert_eq!(
            sig,
            "soLRVVfBimQaWNqUOPwRPup4lZEtDwAv6ZffqGFRSn15_-IEcBs2TULRbzHQ3qwsTCowDMVgeyKALP_rzFzxaCOC5mg3td1UL9YQzl7fejlYQEWkEZV2-z-hT_lQDiBG4dUbRBe4788C7N0b70UCEe8UBpIN8iffAdQdJdmrFFu8jxEEgZuT9fR7QHAM_MTIWr2zLHwzXH2miaqgqDC39_x8gVCYcJdtXsy_rax02ra_cUQZHVn3wIGSLgdDorB4xXbKfTvUVYFYjXyCC0-saFwLQlrKkWK2y9Df0GuApNUAZYrPeQImpGV7Pd2FfH1J30d1KkqPA-o7rI_bFHbNTQ"
        );
        let jws = Jws::parse(&jwt).expect("parses");
        assert!(jws.verify(&k.public_jwk()));
    }

    /// An ES256 signature made by OpenSSL (DER, converted to r‖s) verifies; ours verify too, and
    /// a changed payload or another key does not.
    #[test]
    fn es256_interoperates_with_openssl() {
        let k = SigningKey::from_text(&key("test-ec-p256.pem")).expect("key");
        let openssl = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ0ZXN0In0.nJzpF8ZUQY29IdbSHKHCHBtmU3haCDgZha_TZ4az2v3mO98BYDSPpa71PPMnl87zUtJwOiUZemja7upXjrY0Iw";
        assert!(Jws::parse(openssl).expect("parses").verify(&k.public_jwk()));
        let tampered = openssl.replace("eyJpc3MiOiJ0ZXN0In0", "eyJpc3MiOiJ0ZXN1In0");
        assert!(!Jws::parse(&tampered).expect("parses").verify(&k.public_jwk()));

        let ours = k.sign_jwt(&Map::new(), &json!({"iss": "test"}));
        assert!(Jws::parse(&ours).expect("parses").verify(&k.public_jwk()));
        assert!(!Jws::parse(&ours).expect("parses").verify(&SigningKey::generate_es256().public_jwk()));
        let rsa = SigningKey::from_text(&key("test-rsa-a.pem")).expect("rsa");
        assert!(!Jws::parse(&ours).expect("parses").verify(&rsa.public_jwk()), "an ES256 JWS never verifies with RSA");
    }

    #[test]
    fn key_errors_are_clear_and_never_echo_the_key() {
        let pem = key("test-rsa-a.pem");
        let broken = pem.replace("MII", "M!I");
        let err = SigningKey::from_text(&broken).expect_err("bad base64");
        assert!(!err.contains("M!I"), "{err}");
        let public_only: Value = {
            let mut v: Value = serde_json::from_str(&key("test-rsa-a.jwk.json")).expect("json");
            v.as_object_mut().expect("object").remove("d");
            v
        };
        assert!(SigningKey::from_text(&public_only.to_string()).expect_err("public").contains("public key"));
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(SigningKey::from_text(encrypted).expect_err("encrypted").contains("encrypted"));
        assert!(SigningKey::from_text("hunter2").expect_err("junk").contains("neither PEM"));
        let k = SigningKey::from_text(&pem).expect("key");
        assert_eq!(format!("{k:?}"), "SigningKey(RSA 2048-bit, RS256)");
    }
}
