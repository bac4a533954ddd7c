//! ECS asset documents (`event.kind: asset`) for users and devices, in the spirit of Elastic's
//! entity analytics (`../shared/design/ecs-mapping.md` §4). Typed like `normalize/ecs.rs`: field
//! order is output key order and empty values are never written.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::DirectoryChange;
use super::model::{Device, Directory, User};
use crate::Config;
use crate::normalize::ECS_VERSION;
use crate::normalize::json::{WriteJson, ecs_object};

type S<'a> = Option<Cow<'a, str>>;

ecs_object! {
    /// One entity document.
    pub struct EntityDocument<'a> {
        pub timestamp as "@timestamp": Option<String>,
        pub asset: Asset<'a>,
        pub device: EntityDevice<'a>,
        pub ecs: Ecs,
        pub event: EntityEvent,
        pub host: Host<'a>,
        pub okta: EntityOkta<'a>,
        pub organization: Organization<'a>,
        pub related: Related<'a>,
        pub user: EntityUser<'a>,
    }
}

ecs_object! {
    pub struct Asset<'a> {
        pub category: S<'a>,
        pub create_date: S<'a>,
        pub id: S<'a>,
        pub last_seen: S<'a>,
        pub last_status_change_date: S<'a>,
        pub last_updated: S<'a>,
        pub name: S<'a>,
        pub status: S<'a>,
        pub kind as "type": S<'a>,
    }
}

ecs_object! {
    pub struct EntityDevice<'a> {
        pub id: S<'a>,
        pub manufacturer: S<'a>,
        pub model: Model<'a>,
        pub serial_number: S<'a>,
    }
}

ecs_object! {
    pub struct Model<'a> {
        pub name: S<'a>,
    }
}

ecs_object! {
    pub struct Ecs {
        pub version: Option<&'static str>,
    }
}

ecs_object! {
    pub struct EntityEvent {
        pub action: Option<String>,
        pub category: &'static [&'static str],
        pub dataset: Option<&'static str>,
        pub kind: Option<&'static str>,
        pub module: Option<&'static str>,
        pub kind_type as "type": &'static [&'static str],
    }
}

ecs_object! {
    pub struct Host<'a> {
        pub name: S<'a>,
        pub os: HostOs<'a>,
    }
}

ecs_object! {
    pub struct HostOs<'a> {
        pub platform: S<'a>,
        pub version: S<'a>,
    }
}

ecs_object! {
    /// `okta.user` or `okta.device`: Okta's own object, with the raw profile.
    pub struct EntityOkta<'a> {
        pub device: OktaDevice<'a>,
        pub user: OktaUser<'a>,
    }
}

ecs_object! {
    pub struct OktaUser<'a> {
        pub activated: S<'a>,
        pub created: S<'a>,
        pub credentials_provider: CredentialsProvider<'a>,
        pub id: S<'a>,
        pub last_login: S<'a>,
        pub last_updated: S<'a>,
        pub password_changed: S<'a>,
        pub profile: Map<String, Value>,
        pub realm_id: S<'a>,
        pub roles: Vec<UserRole<'a>>,
        pub status: S<'a>,
        pub status_changed: S<'a>,
        pub transitioning_to_status: S<'a>,
        pub type_id: S<'a>,
    }
}

ecs_object! {
    pub struct CredentialsProvider<'a> {
        pub name: S<'a>,
        pub kind as "type": S<'a>,
    }
}

ecs_object! {
    /// `okta.user.roles[]`: one admin role assignment, direct (`USER`) or through a group (`GROUP`).
    pub struct UserRole<'a> {
        pub assignment_type: S<'a>,
        pub id: S<'a>,
        pub label: S<'a>,
        /// A custom role's resource set (`iam…`) and role id (`cr0…`).
        pub resource_set: S<'a>,
        pub role_id: S<'a>,
        pub status: S<'a>,
        pub kind as "type": S<'a>,
    }
}

ecs_object! {
    pub struct OktaDevice<'a> {
        pub created: S<'a>,
        pub id: S<'a>,
        pub last_updated: S<'a>,
        pub managed: Option<bool>,
        pub profile: Map<String, Value>,
        pub registered: Option<bool>,
        pub resource_type: S<'a>,
        pub status: S<'a>,
        pub users: Vec<DeviceUser<'a>>,
    }
}

ecs_object! {
    pub struct DeviceUser<'a> {
        pub created: S<'a>,
        pub id: S<'a>,
        pub login: S<'a>,
        pub management_status: S<'a>,
        pub screen_lock_type: S<'a>,
    }
}

ecs_object! {
    pub struct Organization<'a> {
        pub id: S<'a>,
    }
}

ecs_object! {
    pub struct Related<'a> {
        pub user: Vec<Cow<'a, str>>,
    }
}

ecs_object! {
    pub struct EntityUser<'a> {
        pub account: Account<'a>,
        pub email: S<'a>,
        pub full_name: S<'a>,
        pub group: Groups<'a>,
        pub id: S<'a>,
        pub name: S<'a>,
        /// Active admin roles: a standard role's type, a custom role's label; sorted, unique.
        pub roles: Vec<Cow<'a, str>>,
    }
}

ecs_object! {
    pub struct Account<'a> {
        pub activated_date: S<'a>,
        pub change_date: S<'a>,
        pub create_date: S<'a>,
        pub password_change_date: S<'a>,
        pub status: AccountStatus,
    }
}

ecs_object! {
    /// Elastic's status flags, all written (false included) so a query can test them.
    pub struct AccountStatus {
        pub deprovisioned: Option<bool>,
        pub locked_out: Option<bool>,
        pub password_expired: Option<bool>,
        pub recovery: Option<bool>,
        pub suspended: Option<bool>,
    }
}

ecs_object! {
    /// `user.group.*`: parallel lists, sorted by group id.
    pub struct Groups<'a> {
        pub id: Vec<Cow<'a, str>>,
        pub name: Vec<Cow<'a, str>>,
    }
}

/// What every entity document of one update shares.
pub(crate) struct Observed<'c> {
    timestamp: String,
    tenant: &'c str,
}

impl<'c> Observed<'c> {
    pub(crate) fn new(observed_ms: i64, config: &'c Config) -> Observed<'c> {
        Observed { timestamp: format_ms(observed_ms), tenant: &config.tenant_id }
    }
}

/// Epoch ms → `2026-03-01T10:00:00.000Z` (the host's observation time; the guest has no clock).
fn format_ms(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

fn s(v: Option<&str>) -> S<'_> {
    v.filter(|s| !s.is_empty()).map(Cow::Borrowed)
}

fn base<'a>(observed: &'a Observed<'_>, change: DirectoryChange, what: &str) -> EntityDocument<'a> {
    let mut doc = EntityDocument { timestamp: Some(observed.timestamp.clone()), ..EntityDocument::default() };
    doc.ecs.version = Some(ECS_VERSION);
    doc.event.action = Some(format!("{what}-{}", change.name()));
    doc.event.kind = Some("asset");
    doc.event.module = Some("okta");
    doc.organization.id = Some(Cow::Borrowed(observed.tenant));
    doc.asset.category = Some(Cow::Borrowed("entity"));
    doc
}

fn write(doc: &EntityDocument<'_>) -> String {
    let mut out = Vec::with_capacity(1024);
    doc.write_json(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn push_unique<'a>(list: &mut Vec<Cow<'a, str>>, value: Option<&'a str>) {
    if let Some(v) = value.filter(|v| !v.is_empty())
        && !list.iter().any(|x| x == v)
    {
        list.push(Cow::Borrowed(v));
    }
}

/// The entity document of one user.
pub(crate) fn user_document(dir: &Directory, user: &User, change: DirectoryChange, observed: &Observed<'_>) -> String {
    let mut doc = base(observed, change, "user");
    doc.event.category = &["iam"];
    doc.event.dataset = Some("okta.user");
    doc.event.kind_type = match change {
        DirectoryChange::Discovered => &["user", "creation"],
        DirectoryChange::Modified | DirectoryChange::Deprovisioned => &["user", "change"],
        DirectoryChange::Deleted => &["user", "deletion"],
    };
    let status = user.top("status");
    doc.asset.id = Some(Cow::Borrowed(&user.id));
    doc.asset.kind = Some(Cow::Borrowed("okta_user"));
    doc.asset.name = s(user.login());
    doc.asset.status = s(status);
    doc.asset.create_date = s(user.top("created"));
    doc.asset.last_updated = s(user.top("lastUpdated"));
    doc.asset.last_seen = s(user.top("lastLogin"));
    doc.asset.last_status_change_date = s(user.top("statusChanged"));

    let u = &mut doc.user;
    u.id = Some(Cow::Borrowed(&user.id));
    u.name = s(user.login());
    u.email = s(user.profile("email").and_then(Value::as_str));
    u.full_name = user.full_name().map(Cow::Owned);
    u.account.create_date = s(user.top("created"));
    u.account.activated_date = s(user.top("activated"));
    u.account.change_date = s(user.top("statusChanged"));
    u.account.password_change_date = s(user.top("passwordChanged"));
    if let Some(status) = status {
        let is = |name: &str| Some(status.eq_ignore_ascii_case(name));
        u.account.status = AccountStatus {
            deprovisioned: is("DEPROVISIONED"),
            locked_out: is("LOCKED_OUT"),
            password_expired: is("PASSWORD_EXPIRED"),
            recovery: is("RECOVERY"),
            suspended: is("SUSPENDED"),
        };
    }
    if change != DirectoryChange::Deleted {
        for (id, name) in dir.groups_of(&user.id) {
            u.group.id.push(Cow::Borrowed(id));
            if let Some(name) = name {
                u.group.name.push(Cow::Borrowed(name));
            }
        }
        u.roles = dir.role_names(&user.id).into_iter().map(Cow::Borrowed).collect();
    }

    let o = &mut doc.okta.user;
    o.id = Some(Cow::Borrowed(&user.id));
    o.status = s(status);
    o.created = s(user.top("created"));
    o.activated = s(user.top("activated"));
    o.status_changed = s(user.top("statusChanged"));
    o.last_login = s(user.top("lastLogin"));
    o.last_updated = s(user.top("lastUpdated"));
    o.password_changed = s(user.top("passwordChanged"));
    o.transitioning_to_status = s(user.top("transitioningToStatus"));
    o.realm_id = s(user.top("realmId"));
    o.type_id = s(user.json.get("type").and_then(|t| t.get("id")).and_then(Value::as_str));
    let provider = user.json.get("credentials").and_then(|c| c.get("provider"));
    o.credentials_provider.kind = s(provider.and_then(|p| p.get("type")).and_then(Value::as_str));
    o.credentials_provider.name = s(provider.and_then(|p| p.get("name")).and_then(Value::as_str));
    if let Some(Value::Object(profile)) = user.json.get("profile") {
        o.profile = profile.clone();
    }
    if change != DirectoryChange::Deleted {
        o.roles = dir
            .roles_of(&user.id)
            .iter()
            .map(|r| UserRole {
                assignment_type: s(r.assignment_type.as_deref()),
                id: s(r.id.as_deref()),
                label: s(r.label.as_deref()),
                resource_set: s(r.resource_set.as_deref()),
                role_id: s(r.role.as_deref()),
                status: s(r.status.as_deref()),
                kind: s(r.kind.as_deref()),
            })
            .collect();
    }

    push_unique(&mut doc.related.user, Some(&user.id));
    push_unique(&mut doc.related.user, user.login());
    push_unique(&mut doc.related.user, user.profile("email").and_then(Value::as_str));
    write(&doc)
}

/// The entity document of one device.
pub(crate) fn device_document(
    dir: &Directory,
    device: &Device,
    change: DirectoryChange,
    observed: &Observed<'_>,
) -> String {
    let mut doc = base(observed, change, "device");
    doc.event.category = &["host"];
    doc.event.dataset = Some("okta.device");
    doc.event.kind_type = match change {
        DirectoryChange::Discovered | DirectoryChange::Deleted => &["info"],
        DirectoryChange::Modified | DirectoryChange::Deprovisioned => &["change"],
    };
    let top = |k: &str| device.json.get(k).and_then(Value::as_str);
    doc.asset.id = Some(Cow::Borrowed(&device.id));
    doc.asset.kind = Some(Cow::Borrowed("okta_device"));
    doc.asset.name = s(device.profile_str("displayName"));
    doc.asset.status = s(device.status());
    doc.asset.create_date = s(top("created"));
    doc.asset.last_updated = s(top("lastUpdated"));

    doc.device.id = Some(Cow::Borrowed(&device.id));
    doc.device.manufacturer = s(device.profile_str("manufacturer"));
    doc.device.model.name = s(device.profile_str("model"));
    doc.device.serial_number = s(device.profile_str("serialNumber"));
    doc.host.name = s(device.profile_str("displayName"));
    doc.host.os.platform = s(device.profile_str("platform"));
    doc.host.os.version = s(device.profile_str("osVersion"));

    let o = &mut doc.okta.device;
    o.id = Some(Cow::Borrowed(&device.id));
    o.status = s(device.status());
    o.created = s(top("created"));
    o.last_updated = s(top("lastUpdated"));
    o.resource_type = s(top("resourceType"));
    o.managed = device.managed();
    o.registered = device.profile("registered").and_then(Value::as_bool);
    if let Some(Value::Object(profile)) = device.json.get("profile") {
        o.profile = profile.clone();
    }
    for link in device.users() {
        let user = link.get("user");
        let field = |k: &str| user.and_then(|u| u.get(k)).and_then(Value::as_str);
        // The device's copy of its user is as old as the device's own last change (an incremental
        // sync refetches only changed devices); the directory's user is current, so a renamed
        // user shows under the new login. The copy serves for a user the directory lacks.
        let login = field("id")
            .and_then(|id| dir.user(id))
            .and_then(User::login)
            .or_else(|| user.and_then(|u| u.get("profile")).and_then(|p| p.get("login")).and_then(Value::as_str));
        o.users.push(DeviceUser {
            created: s(link.get("created").and_then(Value::as_str)),
            id: s(field("id")),
            login: s(login),
            management_status: s(link.get("managementStatus").and_then(Value::as_str)),
            screen_lock_type: s(link.get("screenLockType").and_then(Value::as_str)),
        });
        push_unique(&mut doc.related.user, login);
    }
    write(&doc)
}
