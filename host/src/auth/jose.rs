//! The little of JOSE that Okta's OAuth needs: compact JWS signing and verification with RS256/384/512
//! and ES256/384/512, private keys from PEM (PKCS#8, PKCS#1, SEC1) or JWK JSON, public JWKs and
//! RFC 7638 thumbprints.
//!
//! The cryptography is `jsonwebtoken`'s (on the aws-lc-rs that rustls already links), and for ES512,
//! which `jsonwebtoken` lacks, aws-lc-rs's own ECDSA; keys are read by RustCrypto's format crates
//! (`pem`, `pkcs8`, `pkcs1`, and `p256`/`p384`/`p521` for EC keys and their JWKs). This module only
//! chooses among them and keeps the JWS header as the caller wrote it.
//!
//! Both sides use it: the poller signs client assertions and DPoP proofs, the simulator verifies
//! them. The unit tests check both against signatures made by OpenSSL and against RFC 7638's
//! example, so a mistake shared by the two sides would still show.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    ECDSA_P521_SHA512_FIXED, ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, crypto, jwk::Jwk};
use pkcs8::der::{Decode as _, Encode as _, asn1::UintRef};
use pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use serde_json::{Map, Value};

/// base64url without padding (RFC 7515 §2); decoding also accepts padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64url, no padding.
fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes base64url (with or without padding).
fn b64_decode(text: &str) -> Option<Vec<u8>> {
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

/// The JWS algorithms the poller signs with and the simulator accepts: the ones Okta accepts.
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

    /// `jsonwebtoken`'s name for it (`None` for ES512, which it does not implement).
    fn jwt(self) -> Option<Algorithm> {
        match self {
            Alg::Rs256 => Some(Algorithm::RS256),
            Alg::Rs384 => Some(Algorithm::RS384),
            Alg::Rs512 => Some(Algorithm::RS512),
            Alg::Es256 => Some(Algorithm::ES256),
            Alg::Es384 => Some(Algorithm::ES384),
            Alg::Es512 => None,
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
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
}

/// A private key that signs JWTs. Its `Debug` shows the kind of key, never key material.
pub struct SigningKey {
    key: Signer,
    kind: Kind,
    alg: Alg,
    /// The public half as a JWK (`kty` and its key parameters only).
    public: Value,
    /// The `kid` the key's JWK carried, if it was given as a JWK.
    jwk_kid: Option<String>,
}

/// What signs: `jsonwebtoken` for RSA, P-256 and P-384; aws-lc-rs for P-521 (fixed `r‖s`
/// signatures, as JWS wants them).
enum Signer {
    Jwt(EncodingKey),
    P521(EcdsaKeyPair),
}

impl Signer {
    /// The base64url signature of `input`.
    fn sign(&self, input: &[u8], alg: Alg) -> Option<String> {
        match self {
            Signer::Jwt(key) => crypto::sign(input, key, alg.jwt()?).ok(),
            Signer::P521(pair) => {
                let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), input).ok()?;
                Some(b64(sig.as_ref()))
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Rsa { bits: usize },
    Ec(Curve),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.describe())
    }
}

/// PKCS#8's `rsaEncryption` algorithm identifier.
const RSA_ENCRYPTION: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

const PRIVATE_KEY_LABELS: [&str; 3] = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

const UNENCRYPTED_HINT: &str = "give the poller an unencrypted key (openssl pkcs8 -topk8 -nocrypt)";

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
        // The `pem` crate's errors can quote the text; say what is wrong without them.
        let blocks = pem::parse_many(text).map_err(|_| {
            "the PEM is malformed (a block without its END line, or a body that is not base64)".to_owned()
        })?;
        let Some(block) = blocks.iter().find(|b| PRIVATE_KEY_LABELS.contains(&b.tag())) else {
            if blocks.iter().any(|b| b.tag() == "ENCRYPTED PRIVATE KEY") {
                return Err(format!("the key is encrypted; {UNENCRYPTED_HINT}"));
            }
            if blocks.is_empty() {
                return Err("no complete PEM block found (a BEGIN line without its END line?)".into());
            }
            let labels: Vec<&str> = blocks.iter().map(pem::Pem::tag).collect();
            return Err(format!(
                "the PEM holds {} but no private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
                labels.join(", ")
            ));
        };
        let label = block.tag();
        if block.headers().get("Proc-Type").is_some() {
            return Err(format!("the {label} is encrypted; {UNENCRYPTED_HINT}"));
        }
        let der = block.contents();
        match label {
            "PRIVATE KEY" => {
                if let Ok(ec) = p256::SecretKey::from_pkcs8_der(der) {
                    return SigningKey::p256(&ec, None);
                }
                if let Ok(ec) = p384::SecretKey::from_pkcs8_der(der) {
                    return SigningKey::p384(&ec, None);
                }
                if let Ok(ec) = p521::SecretKey::from_pkcs8_der(der) {
                    return SigningKey::p521(&ec, None);
                }
                let info = pkcs8::PrivateKeyInfo::from_der(der)
                    .map_err(|e| format!("the PKCS#8 key could not be read ({e})"))?;
                if info.algorithm.oid != RSA_ENCRYPTION {
                    return Err("the PKCS#8 key is neither RSA nor EC on P-256, P-384 or P-521".into());
                }
                SigningKey::rsa_pkcs1(info.private_key, Alg::Rs256, None)
            }
            "RSA PRIVATE KEY" => SigningKey::rsa_pkcs1(der, Alg::Rs256, None),
            _ => {
                if let Ok(ec) = p256::SecretKey::from_sec1_der(der) {
                    return SigningKey::p256(&ec, None);
                }
                if let Ok(ec) = p384::SecretKey::from_sec1_der(der) {
                    return SigningKey::p384(&ec, None);
                }
                let ec = p521::SecretKey::from_sec1_der(der)
                    .map_err(|_| "the SEC1 EC key could not be read, or is not on P-256, P-384 or P-521".to_owned())?;
                SigningKey::p521(&ec, None)
            }
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
        let object = jwk.as_object().ok_or("the JWK is not a JSON object")?;
        if !object.contains_key("d") {
            return Err("the JWK is a public key (it has no \"d\"); the poller needs the private key".into());
        }
        let kid = object.get("kid").and_then(Value::as_str).map(str::to_owned);
        let alg = object.get("alg").and_then(Value::as_str);
        match object.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let alg = match alg {
                    None => Alg::Rs256,
                    Some(a) => Alg::parse(a)
                        .filter(|a| a.curve().is_none())
                        .ok_or_else(|| format!("the RSA JWK has alg {a:?}; use RS256, RS384 or RS512"))?,
                };
                let field = |name: &str| -> Result<Vec<u8>, String> {
                    let text =
                        object.get(name).and_then(Value::as_str).ok_or_else(|| format!("the JWK has no {name:?}"))?;
                    b64_decode(text).ok_or_else(|| format!("the JWK's {name:?} is not base64url"))
                };
                let numbers = ["n", "e", "d", "p", "q", "dp", "dq", "qi"].map(field);
                let numbers: Vec<Vec<u8>> = numbers.into_iter().collect::<Result<_, _>>()?;
                let uint = |i: usize| {
                    UintRef::new(&numbers[i]).map_err(|_| "the RSA JWK's numbers do not form a valid key".to_owned())
                };
                let der = pkcs1::RsaPrivateKey {
                    modulus: uint(0)?,
                    public_exponent: uint(1)?,
                    private_exponent: uint(2)?,
                    prime1: uint(3)?,
                    prime2: uint(4)?,
                    exponent1: uint(5)?,
                    exponent2: uint(6)?,
                    coefficient: uint(7)?,
                    other_prime_infos: None,
                }
                .to_der()
                .map_err(|_| "the RSA JWK's numbers do not form a valid key".to_owned())?;
                SigningKey::rsa_pkcs1(&der, alg, kid)
            }
            Some("EC") => {
                let crv = object.get("crv").and_then(Value::as_str).unwrap_or("");
                let invalid = |_| "the EC JWK's numbers do not form a valid key".to_owned();
                // The curve crates read only the EC members and refuse others (`kid`, `alg`, `use`).
                let members: Map<String, Value> = ["kty", "crv", "x", "y", "d"]
                    .into_iter()
                    .filter_map(|m| object.get(m).map(|v| (m.to_owned(), v.clone())))
                    .collect();
                let text = Value::Object(members).to_string();
                match crv {
                    "P-256" => SigningKey::p256(&p256::SecretKey::from_jwk_str(&text).map_err(invalid)?, kid),
                    "P-384" => SigningKey::p384(&p384::SecretKey::from_jwk_str(&text).map_err(invalid)?, kid),
                    "P-521" => SigningKey::p521(&p521::SecretKey::from_jwk_str(&text).map_err(invalid)?, kid),
                    _ => Err(format!("the EC JWK's curve {crv:?} is not P-256, P-384 or P-521")),
                }
            }
            other => Err(format!("the JWK's kty {other:?} is not RSA or EC")),
        }
    }

    /// An RSA key from PKCS#1 `RSAPrivateKey` DER.
    fn rsa_pkcs1(der: &[u8], alg: Alg, jwk_kid: Option<String>) -> Result<SigningKey, String> {
        let rsa = pkcs1::RsaPrivateKey::from_der(der).map_err(|e| format!("the RSA key could not be read ({e})"))?;
        let public = serde_json::json!({
            "kty": "RSA",
            "n": b64(rsa.modulus.as_bytes()),
            "e": b64(rsa.public_exponent.as_bytes()),
        });
        let kind = Kind::Rsa { bits: rsa.modulus.as_bytes().len() * 8 };
        SigningKey::checked(Signer::Jwt(EncodingKey::from_rsa_der(der)), kind, alg, public, jwk_kid)
    }

    fn p256(ec: &p256::SecretKey, jwk_kid: Option<String>) -> Result<SigningKey, String> {
        let der = ec.to_pkcs8_der().map_err(|e| format!("the EC key could not be encoded ({e})"))?;
        let public = serde_json::to_value(ec.public_key().to_jwk()).expect("a JWK serializes");
        SigningKey::checked(
            Signer::Jwt(EncodingKey::from_ec_der(der.as_bytes())),
            Kind::Ec(Curve::P256),
            Alg::Es256,
            public,
            jwk_kid,
        )
    }

    fn p384(ec: &p384::SecretKey, jwk_kid: Option<String>) -> Result<SigningKey, String> {
        let der = ec.to_pkcs8_der().map_err(|e| format!("the EC key could not be encoded ({e})"))?;
        let public = serde_json::to_value(ec.public_key().to_jwk()).expect("a JWK serializes");
        SigningKey::checked(
            Signer::Jwt(EncodingKey::from_ec_der(der.as_bytes())),
            Kind::Ec(Curve::P384),
            Alg::Es384,
            public,
            jwk_kid,
        )
    }

    fn p521(ec: &p521::SecretKey, jwk_kid: Option<String>) -> Result<SigningKey, String> {
        let der = ec.to_pkcs8_der().map_err(|e| format!("the EC key could not be encoded ({e})"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P521_SHA512_FIXED_SIGNING, der.as_bytes())
            .map_err(|_| "the EC key's numbers do not form a valid key".to_owned())?;
        // The public JWK from the key pair's own point (uncompressed: 0x04, x, y), so it is the
        // key that signs.
        let point = pair.public_key().as_ref();
        let coordinate = |range: std::ops::Range<usize>| point.get(range).map(b64);
        let (Some(x), Some(y)) = (coordinate(1..67), coordinate(67..133)) else {
            return Err("the EC key's public point is not an uncompressed P-521 point".into());
        };
        let public = serde_json::json!({"kty": "EC", "crv": "P-521", "x": x, "y": y});
        SigningKey::checked(Signer::P521(pair), Kind::Ec(Curve::P521), Alg::Es512, public, jwk_kid)
    }

    /// The key, once it has signed a test message: `jsonwebtoken` reads the key only when it
    /// signs, and a key that cannot sign should fail when it is loaded, not on first use.
    fn checked(
        key: Signer,
        kind: Kind,
        alg: Alg,
        public: Value,
        jwk_kid: Option<String>,
    ) -> Result<SigningKey, String> {
        if key.sign(b"probe", alg).is_none() {
            return Err(match kind {
                Kind::Rsa { .. } => "the RSA key's numbers do not form a valid 2048- to 8192-bit key".to_owned(),
                Kind::Ec(_) => "the EC key's numbers do not form a valid key".to_owned(),
            });
        }
        Ok(SigningKey { key, kind, alg, public, jwk_kid })
    }

    /// A new P-256 key, for DPoP proofs.
    pub fn generate_es256() -> SigningKey {
        let mut bytes = [0u8; 32];
        loop {
            aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
            // Fails only for zero or a value past the group order: about one in 2^32.
            if let Ok(ec) = p256::SecretKey::from_slice(&bytes) {
                return SigningKey::p256(&ec, None).expect("a new P-256 key signs");
            }
        }
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
        match self.kind {
            Kind::Rsa { bits } => format!("RSA {bits}-bit, {}", self.alg),
            Kind::Ec(curve) => format!("EC {}, {}", curve.name(), self.alg),
        }
    }

    /// The public half as a JWK with only `kty` and its key parameters (what RFC 7638 hashes,
    /// and what a DPoP proof's `jwk` header carries).
    pub fn public_jwk(&self) -> Value {
        self.public.clone()
    }

    /// Signs `header` (an object; `alg` is set here) and `claims` into a compact JWS. The header
    /// is serialized as given (not through `jsonwebtoken::Header`, which would reorder and
    /// reshape it), then `jsonwebtoken` signs the signing input.
    pub fn sign_jwt(&self, header: &Map<String, Value>, claims: &Value) -> String {
        let mut header = header.clone();
        header.insert("alg".into(), Value::from(self.alg.name()));
        let input =
            format!("{}.{}", b64(Value::Object(header).to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = self.key.sign(input.as_bytes(), self.alg).expect("a checked key signs");
        format!("{input}.{sig}")
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
    /// The signature as sent (base64url).
    signature: String,
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
        b64_decode(s)?;
        Some(Jws { header: object(h)?, claims: object(c)?, signing_input: format!("{h}.{c}"), signature: s.to_owned() })
    }

    /// The header's `alg`, if it is one the simulator accepts.
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
        let fits = match (jwk.get("kty").and_then(Value::as_str), alg.curve()) {
            (Some("RSA"), None) => true,
            (Some("EC"), Some(curve)) => jwk.get("crv").and_then(Value::as_str) == Some(curve.name()),
            _ => false,
        };
        if !fits {
            return false;
        }
        if alg == Alg::Es512 {
            return self.verify_es512(jwk).unwrap_or(false);
        }
        let Some(algorithm) = alg.jwt() else { return false };
        let Ok(jwk) = serde_json::from_value::<Jwk>(jwk.clone()) else { return false };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { return false };
        crypto::verify(&self.signature, self.signing_input.as_bytes(), &key, algorithm).unwrap_or(false)
    }

    /// ES512 by aws-lc-rs: the JWK's `x` and `y` (66 bytes each) as an uncompressed point, and
    /// the signature as `r‖s` (132 bytes). `None` when the JWK's members are not that.
    fn verify_es512(&self, jwk: &Value) -> Option<bool> {
        let coordinate = |name: &str| b64_decode(jwk.get(name)?.as_str()?).filter(|c| c.len() == 66);
        let mut point = vec![0x04];
        point.extend(coordinate("x")?);
        point.extend(coordinate("y")?);
        let signature = b64_decode(&self.signature)?;
        let key = UnparsedPublicKey::new(&ECDSA_P521_SHA512_FIXED, point);
        Some(key.verify(self.signing_input.as_bytes(), &signature).is_ok())
    }
}

/// Whether a JWK carries private members (a DPoP `jwk` header must not).
pub fn has_private_members(jwk: &Value) -> bool {
    ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|m| jwk.get(m).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// Loads the test key files `forms` (one key written three ways) and checks that all give the
    /// same public key.
    fn one_key_in_three_forms(forms: [&str; 3]) -> [SigningKey; 3] {
        let keys = forms.map(|f| SigningKey::from_text(&key(f)).unwrap_or_else(|e| panic!("{f}: {e}")));
        assert_eq!(keys[0].public_jwk(), keys[1].public_jwk(), "{} and {}", forms[0], forms[1]);
        assert_eq!(keys[0].public_jwk(), keys[2].public_jwk(), "{} and {}", forms[0], forms[2]);
        keys
    }

    #[test]
    fn pem_pkcs1_and_jwk_forms_of_one_key_agree() {
        let [pkcs8, _, jwk] = one_key_in_three_forms(["test-rsa-a.pem", "test-rsa-a.pkcs1.pem", "test-rsa-a.jwk.json"]);
        assert_eq!(jwk.jwk_kid(), Some("test-rsa-a"));
        assert_eq!(pkcs8.describe(), "RSA 2048-bit, RS256");

        let [ec8, ..] = one_key_in_three_forms(["test-ec-p256.pem", "test-ec-p256.sec1.pem", "test-ec-p256.jwk.json"]);
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

    /// ES512, which `jsonwebtoken` lacks: the three forms of a P-521 key load alike, a signature
    /// made by OpenSSL (`openssl dgst -sha512 -sign test-ec-p521.pem`, DER converted to r‖s)
    /// verifies, ours verify (ECDSA is randomized, so not byte-equal), and a changed payload,
    /// another P-521 key, a P-256 key or an RSA key do not.
    #[test]
    fn es512_loads_every_form_and_interoperates_with_openssl() {
        let [k, _, jwk] =
            one_key_in_three_forms(["test-ec-p521.pem", "test-ec-p521.sec1.pem", "test-ec-p521.jwk.json"]);
        let file: Value = serde_json::from_str(&key("test-ec-p521.jwk.json")).expect("json");
        assert_eq!(k.public_jwk()["x"], file["x"]);
        assert_eq!(k.public_jwk()["y"], file["y"]);
        assert_eq!((k.alg(), k.describe()), (Alg::Es512, "EC P-521, ES512".to_owned()));
        assert_eq!(jwk.jwk_kid(), Some("test-ec-p521"));

        let openssl = "eyJhbGciOiJFUzUxMiJ9.eyJpc3MiOiJ0ZXN0In0.AYm91HUhYAL4coVJIitO7lxB5A4flMAKpRo8dSJkN7Dbf_FqoDNWMPIHoN0slndcaL3XObrn71OJxlWnuRElKRKAAESsusrxcMAcWlosZhKb9F5y0WkUo43Wv65846rbv8NLQbHzG_j-94eDTZAalNjAWTdK39o9NbWWhbNF07QnjiL_";
        assert!(Jws::parse(openssl).expect("parses").verify(&k.public_jwk()));
        let tampered = openssl.replace("eyJpc3MiOiJ0ZXN0In0", "eyJpc3MiOiJ0ZXN1In0");
        assert!(!Jws::parse(&tampered).expect("parses").verify(&k.public_jwk()));

        let ours = k.sign_jwt(&Map::new(), &json!({"iss": "test"}));
        let jws = Jws::parse(&ours).expect("parses");
        assert_eq!(jws.header_str("alg"), Some("ES512"));
        assert!(jws.verify(&k.public_jwk()));
        let mut scalar = [7u8; 66];
        scalar[0] = 0; // below the group order
        let other = p521::SecretKey::from_slice(&scalar).expect("a valid scalar");
        let other = SigningKey::p521(&other, None).expect("signs");
        assert!(!jws.verify(&other.public_jwk()), "another P-521 key");
        assert!(!jws.verify(&SigningKey::generate_es256().public_jwk()), "a P-256 key");
        let rsa = SigningKey::from_text(&key("test-rsa-a.pem")).expect("rsa");
        assert!(!jws.verify(&rsa.public_jwk()), "an ES512 JWS never verifies with RSA");
        // A JWK whose coordinates are not 66 bytes is refused, not read short.
        let mut short = k.public_jwk();
        short["x"] = Value::from("AAAA");
        assert!(!jws.verify(&short));
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
