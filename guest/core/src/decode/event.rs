//! The Okta System Log `LogEvent`, as a borrowed, lenient serde model.
//!
//! Field names follow Okta's JSON (camelCase). Strings borrow from the input where they have no
//! escapes. Every field is a [`Field`], so a wrong type is recorded, not fatal. Free-form parts
//! (`detailEntry`, `changeDetails`, `debugData`, the OIE `device`, newer `securityContext` blocks)
//! stay JSON. Keys this model does not name are skipped; they survive in `event.original` when a
//! host asks for it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::lenient::{Field, Lenient, lenient_struct};

/// A string field.
pub type Str<'a> = Field<Cow<'a, str>>;
/// A free-form JSON field.
pub type Json = Field<Value>;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LogEvent<'a> {
    #[serde(borrow)]
    pub uuid: Str<'a>,
    #[serde(borrow)]
    pub published: Str<'a>,
    #[serde(borrow)]
    pub event_type: Str<'a>,
    #[serde(borrow)]
    pub version: Str<'a>,
    #[serde(borrow)]
    pub severity: Str<'a>,
    #[serde(borrow)]
    pub legacy_event_type: Str<'a>,
    #[serde(borrow)]
    pub display_message: Str<'a>,
    #[serde(borrow)]
    pub actor: Field<Actor<'a>>,
    #[serde(borrow)]
    pub client: Field<Client<'a>>,
    pub device: Field<Map<String, Value>>,
    #[serde(borrow)]
    pub authentication_context: Field<AuthenticationContext<'a>>,
    #[serde(borrow)]
    pub security_context: Field<SecurityContext<'a>>,
    #[serde(borrow)]
    pub debug_context: Field<DebugContext<'a>>,
    #[serde(borrow)]
    pub outcome: Field<Outcome<'a>>,
    #[serde(borrow)]
    pub target: Field<Vec<Field<Target<'a>>>>,
    #[serde(borrow)]
    pub transaction: Field<Transaction<'a>>,
    #[serde(borrow)]
    pub request: Field<Request<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Actor<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(borrow, rename = "type")]
    pub kind: Str<'a>,
    #[serde(borrow)]
    pub alternate_id: Str<'a>,
    #[serde(borrow)]
    pub display_name: Str<'a>,
    pub detail_entry: Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Client<'a> {
    #[serde(borrow)]
    pub user_agent: Field<UserAgent<'a>>,
    #[serde(borrow)]
    pub geographical_context: Field<GeographicalContext<'a>>,
    #[serde(borrow)]
    pub zone: Str<'a>,
    #[serde(borrow)]
    pub ip_address: Str<'a>,
    #[serde(borrow)]
    pub device: Str<'a>,
    #[serde(borrow)]
    pub id: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserAgent<'a> {
    #[serde(borrow)]
    pub raw_user_agent: Str<'a>,
    #[serde(borrow)]
    pub os: Str<'a>,
    #[serde(borrow)]
    pub browser: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GeographicalContext<'a> {
    #[serde(borrow)]
    pub city: Str<'a>,
    #[serde(borrow)]
    pub state: Str<'a>,
    #[serde(borrow)]
    pub country: Str<'a>,
    #[serde(borrow)]
    pub postal_code: Str<'a>,
    pub geolocation: Field<Geolocation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Geolocation {
    pub lat: Field<f64>,
    pub lon: Field<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthenticationContext<'a> {
    #[serde(borrow)]
    pub authentication_provider: Str<'a>,
    #[serde(borrow)]
    pub credential_provider: Str<'a>,
    #[serde(borrow)]
    pub credential_type: Str<'a>,
    #[serde(borrow)]
    pub issuer: Field<Issuer<'a>>,
    #[serde(borrow)]
    pub external_session_id: Str<'a>,
    #[serde(borrow)]
    pub interface: Str<'a>,
    pub authentication_step: Field<i64>,
    #[serde(borrow)]
    pub root_session_id: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Issuer<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(borrow, rename = "type")]
    pub kind: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SecurityContext<'a> {
    pub as_number: Field<i64>,
    #[serde(borrow)]
    pub as_org: Str<'a>,
    #[serde(borrow)]
    pub isp: Str<'a>,
    #[serde(borrow)]
    pub domain: Str<'a>,
    pub is_proxy: Field<bool>,
    /// Newer blocks (ITP / IP intelligence); kept as JSON.
    pub ip_details: Json,
    pub risk: Json,
    pub user_behaviors: Json,
    pub bot_protection: Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DebugContext<'a> {
    #[serde(borrow)]
    pub debug_data: Field<DebugMap<'a>>,
}

/// `debugData`: string values borrowed, anything else kept as JSON; sorted by key, so output
/// does not depend on Okta's key order. A repeated key keeps its last value.
#[derive(Debug, Default)]
pub struct DebugMap<'a>(pub Vec<(Cow<'a, str>, Loose<'a>)>);

/// A debugData value: almost always a string, occasionally anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Loose<'a> {
    Str(Cow<'a, str>),
    Json(Value),
}

impl<'de: 'a, 'a> Lenient<'de> for DebugMap<'a> {
    const EXPECTED: &'static str = "an object";
    fn from_map<A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(12));
        while let Some(key) = map.next_key::<Field<Cow<'a, str>>>()? {
            let value = map.next_value::<Field<Loose<'a>>>()?;
            if let (Field::Value(k), Field::Value(v)) = (key, value) {
                entries.push((k, v));
            }
        }
        let kept = super::lenient::last_of_each_key(&mut entries, |(key, _)| key);
        entries.truncate(kept);
        Ok(Some(DebugMap(entries)))
    }
}

impl<'de: 'a, 'a> Lenient<'de> for Loose<'a> {
    const EXPECTED: &'static str = "any JSON value";
    fn from_str(v: Cow<'de, str>) -> Option<Self> {
        Some(Loose::Str(v))
    }
    fn from_bool(v: bool) -> Option<Self> {
        <Value as Lenient<'de>>::from_bool(v).map(Loose::Json)
    }
    fn from_i64(v: i64) -> Option<Self> {
        <Value as Lenient<'de>>::from_i64(v).map(Loose::Json)
    }
    fn from_u64(v: u64) -> Option<Self> {
        <Value as Lenient<'de>>::from_u64(v).map(Loose::Json)
    }
    fn from_f64(v: f64) -> Option<Self> {
        <Value as Lenient<'de>>::from_f64(v).map(Loose::Json)
    }
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        <Value as Lenient<'de>>::from_map(map).map(|v| v.map(Loose::Json))
    }
    fn from_seq<A: serde::de::SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        <Value as Lenient<'de>>::from_seq(seq).map(|v| v.map(Loose::Json))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Outcome<'a> {
    #[serde(borrow)]
    pub result: Str<'a>,
    #[serde(borrow)]
    pub reason: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Target<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(borrow, rename = "type")]
    pub kind: Str<'a>,
    #[serde(borrow)]
    pub alternate_id: Str<'a>,
    #[serde(borrow)]
    pub display_name: Str<'a>,
    pub detail_entry: Json,
    pub change_details: Field<ChangeDetails>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChangeDetails {
    pub from: Json,
    pub to: Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Transaction<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(borrow, rename = "type")]
    pub kind: Str<'a>,
    #[serde(borrow)]
    pub detail: Field<TransactionDetail<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TransactionDetail<'a> {
    #[serde(borrow)]
    pub request_api_token_id: Str<'a>,
    #[serde(borrow)]
    pub root_api_token_id: Str<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Request<'a> {
    #[serde(borrow)]
    pub ip_chain: Field<Vec<Field<IpAddress<'a>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IpAddress<'a> {
    #[serde(borrow)]
    pub ip: Str<'a>,
    #[serde(borrow)]
    pub geographical_context: Field<GeographicalContext<'a>>,
    #[serde(borrow)]
    pub version: Str<'a>,
    #[serde(borrow)]
    pub source: Str<'a>,
    pub ip_details: Json,
}

lenient_struct!(
    LogEvent,
    DebugContext,
    Actor,
    Client,
    UserAgent,
    GeographicalContext,
    AuthenticationContext,
    Issuer,
    SecurityContext,
    Outcome,
    Target,
    Transaction,
    TransactionDetail,
    Request,
    IpAddress,
);

/// Structs without borrowed strings.
macro_rules! lenient_owned_struct {
    ($($name:ident),*) => {$(
        impl<'de> Lenient<'de> for $name {
            const EXPECTED: &'static str = "an object";
            fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
                <$name as Deserialize<'de>>::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
            }
        }
    )*};
}
lenient_owned_struct!(Geolocation, ChangeDetails);
