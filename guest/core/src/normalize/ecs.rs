//! The ECS document we write, as types.
//!
//! The field set is Elastic's Okta integration (`okta.*` plus ECS) with its bugs fixed; see
//! `../shared/design/ecs-mapping.md`. Struct field order is output key order: alphabetical, with
//! `@timestamp` first. Empty strings, `None`, empty lists and objects whose fields are all empty are
//! never written, so documents carry no `null` artefacts.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::debug_data::Flattened;
use super::json::{AsNode, Members, Node, WriteJson, ecs_object};

type S<'a> = Option<Cow<'a, str>>;

ecs_object! {
    /// One normalized event.
    pub struct Document<'a> {
        pub timestamp as "@timestamp": S<'a>,
        pub client: Endpoint<'a>,
        pub device: Device<'a>,
        pub ecs: Ecs,
        pub event: Event<'a>,
        pub host: Host<'a>,
        pub log: Log,
        pub okta: Okta<'a>,
        pub organization: Organization<'a>,
        pub related: Related<'a>,
        pub source: Endpoint<'a>,
        pub user: User<'a>,
        pub user_agent: UserAgent<'a>,
    }
}

ecs_object! {
    /// `client.*` and `source.*`: both describe where the request came from.
    pub struct Endpoint<'a> {
        pub autonomous_system as "as": AutonomousSystem<'a>,
        pub domain: S<'a>,
        pub geo: Geo<'a>,
        pub ip: S<'a>,
        pub user: EndpointUser<'a>,
    }
}

ecs_object! {
    pub struct AutonomousSystem<'a> {
        pub number: Option<i64>,
        pub organization: Named<'a>,
    }
}

ecs_object! {
    pub struct Named<'a> {
        pub name: S<'a>,
    }
}

ecs_object! {
    pub struct Geo<'a> {
        pub city_name: S<'a>,
        pub country_name: S<'a>,
        pub location: Option<Location>,
        pub postal_code: S<'a>,
        pub region_name: S<'a>,
    }
}

/// An ECS `geo_point`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

impl Members for Location {
    fn members(&self, f: &mut dyn FnMut(&str, Node<'_>) -> bool) -> bool {
        [("lat", self.lat), ("lon", self.lon)].into_iter().any(|(k, v)| v.as_node().is_some_and(|n| f(k, n)))
    }
}

impl AsNode for Location {
    fn as_node(&self) -> Option<Node<'_>> {
        Some(Node::Object(self))
    }
}

impl WriteJson for Location {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"lat\":");
        self.lat.write_json(out);
        out.extend_from_slice(b",\"lon\":");
        self.lon.write_json(out);
        out.push(b'}');
    }
}

ecs_object! {
    pub struct EndpointUser<'a> {
        pub email: S<'a>,
        pub full_name: S<'a>,
        pub id: S<'a>,
        pub name: S<'a>,
    }
}

ecs_object! {
    pub struct Device<'a> {
        pub id: S<'a>,
        /// From the directory (enrichment), as are the two below.
        pub manufacturer: S<'a>,
        pub model: Named<'a>,
        pub serial_number: S<'a>,
    }
}

ecs_object! {
    pub struct Ecs {
        pub version: Option<&'static str>,
    }
}

ecs_object! {
    pub struct Event<'a> {
        pub action: S<'a>,
        pub category: &'static [&'static str],
        pub dataset: Option<&'static str>,
        pub id: S<'a>,
        pub ingested: S<'a>,
        pub kind: Option<&'static str>,
        pub module: Option<&'static str>,
        pub original: S<'a>,
        pub outcome: Option<&'static str>,
        pub kind_type as "type": &'static [&'static str],
    }
}

ecs_object! {
    pub struct Host<'a> {
        pub name: S<'a>,
    }
}

ecs_object! {
    pub struct Log {
        pub level: Option<&'static str>,
    }
}

ecs_object! {
    pub struct Organization<'a> {
        pub id: S<'a>,
    }
}

ecs_object! {
    pub struct Related<'a> {
        pub hosts: Vec<Cow<'a, str>>,
        pub ip: Vec<Cow<'a, str>>,
        pub user: Vec<Cow<'a, str>>,
    }
}

ecs_object! {
    pub struct User<'a> {
        pub email: S<'a>,
        pub full_name: S<'a>,
        /// The actor's groups, from the directory (enrichment).
        pub group: Groups<'a>,
        pub id: S<'a>,
        pub name: S<'a>,
        /// The actor's active admin roles, from the directory (enrichment).
        pub roles: Vec<Cow<'a, str>>,
        pub target: UserTarget<'a>,
    }
}

ecs_object! {
    pub struct UserTarget<'a> {
        pub email: S<'a>,
        pub full_name: S<'a>,
        pub group: Group<'a>,
        pub id: S<'a>,
        pub name: S<'a>,
    }
}

ecs_object! {
    pub struct Group<'a> {
        pub id: S<'a>,
        pub name: S<'a>,
    }
}

ecs_object! {
    /// Several groups: parallel lists, sorted by group id.
    pub struct Groups<'a> {
        pub id: Vec<Cow<'a, str>>,
        pub name: Vec<Cow<'a, str>>,
    }
}

ecs_object! {
    pub struct UserAgent<'a> {
        pub device: Named<'a>,
        pub name: S<'a>,
        pub original: S<'a>,
        pub os: Os<'a>,
        pub version: S<'a>,
    }
}

ecs_object! {
    pub struct Os<'a> {
        pub full: S<'a>,
        pub name: S<'a>,
        pub version: S<'a>,
    }
}

ecs_object! {
    /// `okta.*`: Okta's own fields, snake_cased, with Elastic's names.
    pub struct Okta<'a> {
        pub actor: OktaActor<'a>,
        pub app: OktaApp<'a>,
        pub authentication_context: AuthenticationContext<'a>,
        pub client: OktaClient<'a>,
        pub debug_context: DebugContext<'a>,
        pub device: Map<String, Value>,
        pub display_message: S<'a>,
        /// What the directory added (see `directory/enrich.rs`); present only when one is loaded.
        pub enrichment: Map<String, Value>,
        pub event_type: S<'a>,
        pub legacy_event_type: S<'a>,
        pub outcome: OktaOutcome<'a>,
        pub request: OktaRequest<'a>,
        pub security_context: SecurityContext<'a>,
        pub severity: S<'a>,
        pub target: Vec<OktaTarget<'a>>,
        pub transaction: Transaction<'a>,
        pub uuid: S<'a>,
        pub version: S<'a>,
    }
}

ecs_object! {
    pub struct OktaActor<'a> {
        pub alternate_id: S<'a>,
        pub detail_entry: Option<Value>,
        pub display_name: S<'a>,
        pub id: S<'a>,
        pub kind as "type": S<'a>,
    }
}

ecs_object! {
    /// The application an event is about: the first `AppInstance` target.
    pub struct OktaApp<'a> {
        pub display_name: S<'a>,
        pub id: S<'a>,
        pub name: S<'a>,
    }
}

ecs_object! {
    pub struct AuthenticationContext<'a> {
        pub authentication_provider: S<'a>,
        pub authentication_step: Option<i64>,
        pub credential_provider: S<'a>,
        pub credential_type: S<'a>,
        pub external_session_id: S<'a>,
        pub interface: S<'a>,
        pub issuer: Issuer<'a>,
        pub root_session_id: S<'a>,
    }
}

ecs_object! {
    pub struct Issuer<'a> {
        pub id: S<'a>,
        pub kind as "type": S<'a>,
    }
}

ecs_object! {
    pub struct OktaClient<'a> {
        pub device: S<'a>,
        pub id: S<'a>,
        pub ip: S<'a>,
        pub user_agent: OktaUserAgent<'a>,
        pub zone: S<'a>,
    }
}

ecs_object! {
    pub struct OktaUserAgent<'a> {
        pub browser: S<'a>,
        pub os: S<'a>,
        pub raw_user_agent: S<'a>,
    }
}

ecs_object! {
    pub struct DebugContext<'a> {
        pub debug_data: DebugData<'a>,
    }
}

ecs_object! {
    /// `okta.debug_context.debug_data.*`: the promoted keywords, the parsed structures, and the
    /// whole map as `flattened` (as Elastic's default mode has it), with secrets redacted.
    pub struct DebugData<'a> {
        pub authn_request_id: S<'a>,
        pub behaviors: Map<String, Value>,
        pub client_secret: S<'a>,
        pub device_fingerprint: S<'a>,
        pub dt_hash: S<'a>,
        pub factor: S<'a>,
        pub flattened: Flattened<'a>,
        pub grant_type: S<'a>,
        pub granted_scopes: S<'a>,
        pub log_only_security_data: Option<Value>,
        pub privilege_granted: S<'a>,
        pub request_id: S<'a>,
        pub request_uri: S<'a>,
        pub requested_scopes: S<'a>,
        pub risk_behaviors: Vec<String>,
        pub risk_level: S<'a>,
        pub risk_reasons: Vec<String>,
        pub threat_detections: Option<Value>,
        pub threat_suspected: S<'a>,
        pub tunnels: Option<Value>,
        pub url: S<'a>,
    }
}

ecs_object! {
    pub struct OktaOutcome<'a> {
        pub reason: S<'a>,
        pub result: S<'a>,
    }
}

ecs_object! {
    pub struct OktaRequest<'a> {
        pub ip_chain: Vec<IpChainEntry<'a>>,
    }
}

ecs_object! {
    pub struct IpChainEntry<'a> {
        pub geographical_context: GeographicalContext<'a>,
        pub ip: S<'a>,
        pub ip_details: Option<Value>,
        pub source: S<'a>,
        pub version: S<'a>,
    }
}

ecs_object! {
    /// Okta's own geographicalContext, snake_cased (used inside `okta.request.ip_chain`).
    pub struct GeographicalContext<'a> {
        pub city: S<'a>,
        pub country: S<'a>,
        pub geolocation: Option<Location>,
        pub postal_code: S<'a>,
        pub state: S<'a>,
    }
}

ecs_object! {
    pub struct SecurityContext<'a> {
        pub autonomous_system as "as": AutonomousSystem<'a>,
        pub bot_protection: Option<Value>,
        pub domain: S<'a>,
        pub ip_details: Option<Value>,
        pub is_proxy: Option<bool>,
        pub isp: S<'a>,
        pub risk: Option<Value>,
        pub user_behaviors: Option<Value>,
    }
}

ecs_object! {
    pub struct OktaTarget<'a> {
        pub alternate_id: S<'a>,
        pub change_details: ChangeDetails,
        pub detail_entry: Option<Value>,
        pub display_name: S<'a>,
        pub id: S<'a>,
        pub kind as "type": S<'a>,
    }
}

ecs_object! {
    pub struct ChangeDetails {
        pub from: Map<String, Value>,
        pub to: Map<String, Value>,
    }
}

ecs_object! {
    pub struct Transaction<'a> {
        pub detail: TransactionDetail<'a>,
        pub id: S<'a>,
        pub kind as "type": S<'a>,
    }
}

ecs_object! {
    pub struct TransactionDetail<'a> {
        pub request_api_token_id: S<'a>,
        pub root_api_token_id: S<'a>,
    }
}
