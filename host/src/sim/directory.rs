//! The directory APIs of the simulated org (okta-api.md §6 and the §9 checklist):
//! `GET /api/v1/users`, `/api/v1/groups`, `/api/v1/groups/{id}/users`, `/api/v1/devices` (with
//! `expand=user`) and `/api/v1/meta/schemas/user/default`; and the admin role APIs,
//! `/api/v1/iam/assignees/users` and `/api/v1/users/{id}/roles`.
//!
//! - Users: a plain list hides `DEPROVISIONED` users; `search` and `filter` include them. `search`
//!   reads an index that lags writes by [`Directory::search_lag`] (Okta's search is eventually
//!   consistent); `filter` and plain lists read the truth. Expressions: `attr op value` with `eq`,
//!   `ne`, `gt`, `ge`, `lt`, `le`, `sw`, `co`, `pr`, joined by `and`/`or`, with parentheses.
//! - `lastUpdated` (and every other date) has second resolution (`.000Z`), as in Okta.
//! - Link pagination with an opaque `after` (the last id of the page); `limit` defaults to and is
//!   capped at 200 (1000 for group members, whose default is 1000 "for historical reasons").
//! - Each API has its own per-minute bucket (§2.2) and every call counts against the org's shared
//!   concurrency limit. Calls are counted per endpoint for tests and benchmarks.
//! - Admin roles are assigned to users or to groups (whose members then hold them, with
//!   `assignmentType: GROUP`). The assignee list holds every user with a role either way, 100 per
//!   page at most, paged in the body's `_links.next` (not a Link header); a user's roles are one
//!   unpaged array. Assigning or removing a role does not move the user's `lastUpdated`. Both
//!   need scope `okta.roles.read`, and answer 403 `E0000006` when [`super::SimConfig::roles_denied`].
//!
//! Tests change the directory while the simulator runs through [`super::SimHandle::directory`]:
//! create users, update profiles, deprovision, delete, move between groups, add or remove devices.
//! [`Directory::generate`] builds an org of any size whose first users are the log generator's
//! people, so log events' actors and devices are directory users and devices.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as AxumPath, Query, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::generator::Person;
use super::logs::{append_link, encode, rate_headers, too_many};
use super::ratelimit::{DirectoryBucket, Snapshot};
use super::{State, lock, now_ms, okta_error, parse_ms};

const MAX_LIMIT: usize = 200;
const MAX_MEMBERS_LIMIT: usize = 1000;
const MAX_ASSIGNEES_LIMIT: usize = 100;

/// The simulated org's id, in `orn`s.
const ORG_ID: &str = "00o1sim0000000000000";

/// Okta's standard admin roles: (type, label).
pub const STANDARD_ROLES: [(&str, &str); 10] = [
    ("SUPER_ADMIN", "Super Administrator"),
    ("ORG_ADMIN", "Organizational Administrator"),
    ("APP_ADMIN", "Application Administrator"),
    ("USER_ADMIN", "Group Administrator"),
    ("HELP_DESK_ADMIN", "Help Desk Administrator"),
    ("READ_ONLY_ADMIN", "Read-only Administrator"),
    ("MOBILE_ADMIN", "Mobile Administrator"),
    ("API_ACCESS_MANAGEMENT_ADMIN", "API Access Management Administrator"),
    ("REPORT_ADMIN", "Report Administrator"),
    ("GROUP_MEMBERSHIP_ADMIN", "Group Membership Administrator"),
];

/// The group the generator assigns a role to, and that role.
pub const ROLE_GROUP: (&str, &str) = ("Help Desk", "HELP_DESK_ADMIN");

/// The custom profile attributes of the simulated org's schema: (name, title, JSON type).
pub const CUSTOM_ATTRIBUTES: [(&str, &str, &str); 4] = [
    ("badgeId", "Badge ID", "string"),
    ("clearanceLevel", "Clearance level", "integer"),
    ("contractor", "Contractor", "boolean"),
    ("region", "Sales region", "string"),
];

const DEPARTMENTS: [&str; 6] = ["Engineering", "Sales", "Finance", "Support", "IT", "Marketing"];
const TITLES: [&str; 6] =
    ["Engineer", "Account Executive", "Analyst", "Support Specialist", "Administrator", "Manager"];
const FILLER_FIRST: [&str; 16] = [
    "Avery", "Blake", "Casey", "Drew", "Emerson", "Finley", "Gray", "Harper", "Indy", "Jules", "Kai", "Logan",
    "Morgan", "Noel", "Parker", "Quinn",
];
const FILLER_LAST: [&str; 12] =
    ["Adams", "Baker", "Clark", "Diaz", "Evans", "Fox", "Green", "Hill", "Ito", "Jones", "King", "Lopez"];

/// One device and the users it is registered to.
#[derive(Debug, Clone)]
struct Device {
    json: Value,
    /// (user id, created, managementStatus, screenLockType).
    users: Vec<(String, String, String, String)>,
}

#[derive(Debug, Clone)]
struct Group {
    json: Value,
    members: BTreeSet<String>,
}

/// One admin role assignment, to a user or to a group.
#[derive(Debug, Clone)]
struct Assignment {
    id: String,
    /// A standard type, or `CUSTOM`.
    kind: String,
    label: String,
    /// A custom role's id (`cr0…`) and resource set (`iam…`).
    custom: Option<(String, String)>,
    created: String,
}

/// The simulated org's directory.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Now, for mutations (set by the simulator before each change).
    now_ms: i64,
    /// The org's base URL, for `_links`.
    base: String,
    users: BTreeMap<String, Value>,
    /// What `search` sees: `users` as of `search_lag` ago.
    index: BTreeMap<String, Value>,
    /// Writes not yet in the index: (visible from, user id, the new value or `None` for a delete).
    pending: VecDeque<(i64, String, Option<Value>)>,
    /// How long a write takes to reach `search`.
    pub search_lag: Duration,
    groups: BTreeMap<String, Group>,
    devices: BTreeMap<String, Device>,
    schema: Value,
    /// Role assignments made to users, by user id.
    user_roles: BTreeMap<String, Vec<Assignment>>,
    /// Role assignments made to groups (held by their members), by group id.
    group_roles: BTreeMap<String, Vec<Assignment>>,
    rng: fastrand::Rng,
}

/// A copy of the whole directory as the API serves it, to compare with a synced copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectorySnapshot {
    /// Every user (any status), by id, as `search` returns them.
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
    /// Member ids of each group, sorted.
    pub members: BTreeMap<String, Vec<String>>,
    /// Devices as `expand=user` returns them.
    pub devices: BTreeMap<String, Value>,
    pub schema: Value,
    /// Every user holding an admin role: its roles as `/api/v1/users/{id}/roles` returns them.
    pub roles: BTreeMap<String, Vec<Value>>,
}

impl Directory {
    /// An empty directory (just the Everyone group and the schema).
    pub fn new(seed: u64) -> Directory {
        let now = now_ms();
        let mut d = Directory {
            now_ms: now,
            base: "https://sim.okta.example.com".to_owned(),
            users: BTreeMap::new(),
            index: BTreeMap::new(),
            pending: VecDeque::new(),
            search_lag: Duration::ZERO,
            groups: BTreeMap::new(),
            devices: BTreeMap::new(),
            schema: Value::Null,
            user_roles: BTreeMap::new(),
            group_roles: BTreeMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        };
        d.schema = d.build_schema(&CUSTOM_ATTRIBUTES.map(|(n, t, ty)| (n.to_owned(), t.to_owned(), ty.to_owned())));
        let everyone = d.new_id("00g");
        d.insert_group(&everyone, "Everyone", "All users in your organization", "BUILT_IN");
        d
    }

    /// A directory of `users` users: the log generator's `people` first (with their ids, logins
    /// and devices), then invented ones. Groups: Everyone, the generator's `groups`, and one per
    /// ~100 users; every user is in Everyone and one or two more. About 70 % of users have a device.
    /// Admin roles: the generator's admins are SUPER_ADMIN (the first) and ORG_ADMIN; of the other
    /// users, the first has HELP_DESK_ADMIN, the next two READ_ONLY_ADMIN, the fourth a custom
    /// role, and the third, fifth and sixth are the members of the [`ROLE_GROUP`] group, which
    /// holds HELP_DESK_ADMIN (so they have it with `assignmentType: GROUP`).
    pub fn generate(seed: u64, people: &[Person], groups: &[(String, &str)], users: usize) -> Directory {
        let mut d = Directory::new(seed);
        let everyone = d.everyone();
        let mut group_ids: Vec<String> = Vec::new();
        // Users in creation order, and the admins among them.
        let mut order: Vec<(String, bool)> = Vec::with_capacity(users);
        for (id, name) in groups {
            if *name == "Everyone" {
                // Keep the generator's id for the built-in group.
                if let Some(g) = d.groups.remove(&everyone) {
                    let mut g = g;
                    g.json["id"] = json!(id);
                    d.groups.insert(id.clone(), g);
                }
                continue;
            }
            d.insert_group(id, name, &format!("{name} team"), "OKTA_GROUP");
            group_ids.push(id.clone());
        }
        for i in 0..users.saturating_sub(groups.len()) / 100 {
            let id = d.new_id("00g");
            let name = format!("{} {}", DEPARTMENTS[i % DEPARTMENTS.len()], i / DEPARTMENTS.len() + 1);
            d.insert_group(&id, &name, "Generated team", "OKTA_GROUP");
            group_ids.push(id);
        }
        let created = d.now_ms - 400 * 24 * 3_600_000;
        // The groups and their memberships are as old as the org, not as the simulator: the
        // first sync must not see every group as changed in the second it runs.
        let settled = second(d.now_ms - 24 * 3_600_000);
        for g in d.groups.values_mut() {
            for key in ["created", "lastUpdated", "lastMembershipUpdated"] {
                g.json[key] = json!(settled);
            }
        }
        for i in 0..users {
            let (id, first, last, login, device) = match people.get(i) {
                Some(p) => (p.id.clone(), p.first_name.clone(), p.last_name.clone(), p.login.clone(), p.device.clone()),
                None => {
                    let first = FILLER_FIRST[i % FILLER_FIRST.len()].to_owned();
                    let last = format!("{}{}", FILLER_LAST[(i / FILLER_FIRST.len()) % FILLER_LAST.len()], i);
                    let login = format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase());
                    (d.new_id("00u"), first, last, login, None)
                }
            };
            let admin = people.get(i).is_some_and(|p| p.admin);
            order.push((id.clone(), admin));
            let stamp = created + i64::try_from(i).unwrap_or(0) * 1000;
            d.insert_user(&id, &first, &last, &login, i, stamp);
            let join = |d: &mut Directory, g: &str| {
                if let Some(g) = d.groups.get_mut(g) {
                    g.members.insert(id.clone());
                }
            };
            if admin && let Some((it, _)) = groups.iter().find(|(_, n)| *n == "IT Admins") {
                join(&mut d, it);
            }
            if !group_ids.is_empty() {
                let g = group_ids[i % group_ids.len()].clone();
                join(&mut d, &g);
                if d.rng.u8(..100) < 40 {
                    let g = group_ids[d.rng.usize(..group_ids.len())].clone();
                    join(&mut d, &g);
                }
            }
            match device {
                Some(dev) => d.insert_device(
                    &dev.id,
                    &id,
                    &dev.name,
                    &dev.platform,
                    &dev.os_version,
                    dev.managed,
                    &dev.screen_lock,
                    stamp,
                ),
                None if people.get(i).is_none() && d.rng.u8(..100) < 70 => {
                    let dev = d.new_id("guo");
                    let (platform, version) =
                        [("MACOS", "15.6.1"), ("WINDOWS", "10.0.26100"), ("IOS", "18.6.2")][d.rng.usize(..3)];
                    let managed = d.rng.u8(..100) < 75;
                    let name = format!("{first}-{platform}");
                    d.insert_device(&dev, &id, &name, platform, version, managed, "BIOMETRIC", stamp);
                }
                None => {}
            }
        }
        let all: Vec<String> = d.users.keys().cloned().collect();
        let everyone = d.everyone();
        if let Some(g) = d.groups.get_mut(&everyone) {
            g.members.extend(all);
        }
        d.generate_roles(&order, &settled);
        d.index = d.users.clone();
        d
    }

    /// The generator's admin roles (see [`Directory::generate`]), dated `settled`.
    fn generate_roles(&mut self, order: &[(String, bool)], settled: &str) {
        let mut admins = order.iter().filter(|(_, admin)| *admin).map(|(id, _)| id.clone());
        if let Some(first) = admins.next() {
            self.push_user_role(&first, "SUPER_ADMIN", None, settled);
        }
        for other in admins {
            self.push_user_role(&other, "ORG_ADMIN", None, settled);
        }
        let others: Vec<String> = order.iter().filter(|(_, admin)| !*admin).map(|(id, _)| id.clone()).collect();
        let pick = |i: usize| others.get(i).cloned();
        if let Some(u) = pick(0) {
            self.push_user_role(&u, "HELP_DESK_ADMIN", None, settled);
        }
        for u in [pick(1), pick(2)].into_iter().flatten() {
            self.push_user_role(&u, "READ_ONLY_ADMIN", None, settled);
        }
        if let Some(u) = pick(3) {
            let custom = (self.new_id("cr0"), self.new_id("iam"));
            self.push_user_role(&u, "Security Auditor", Some(custom), settled);
        }
        let members: Vec<String> = [pick(2), pick(4), pick(5)].into_iter().flatten().collect();
        if !members.is_empty() {
            let (name, role) = ROLE_GROUP;
            let id = self.new_id("00g");
            self.insert_group(&id, name, "Help desk staff (admin role through the group)", "OKTA_GROUP");
            if let Some(g) = self.groups.get_mut(&id) {
                for key in ["created", "lastUpdated", "lastMembershipUpdated"] {
                    g.json[key] = json!(settled);
                }
                g.members.extend(members);
            }
            let assignment = self.assignment(role, None, settled);
            self.group_roles.entry(id).or_default().push(assignment);
        }
    }

    /// A new assignment of the standard role `kind`, or of a custom role labelled `kind`.
    fn assignment(&mut self, kind: &str, custom: Option<(String, String)>, created: &str) -> Assignment {
        let label = STANDARD_ROLES.iter().find(|(t, _)| *t == kind).map_or(kind, |(_, l)| *l).to_owned();
        Assignment {
            id: self.new_id("ra1"),
            kind: if custom.is_some() { "CUSTOM".to_owned() } else { kind.to_owned() },
            label,
            custom,
            created: created.to_owned(),
        }
    }

    fn push_user_role(&mut self, user: &str, kind: &str, custom: Option<(String, String)>, created: &str) -> String {
        let a = self.assignment(kind, custom, created);
        let id = a.id.clone();
        self.user_roles.entry(user.to_owned()).or_default().push(a);
        id
    }

    /// The id of the Everyone group.
    pub fn everyone(&self) -> String {
        self.groups.iter().find(|(_, g)| g.json["type"] == "BUILT_IN").map(|(id, _)| id.clone()).unwrap_or_default()
    }

    pub(super) fn set_base(&mut self, base: &str) {
        self.base = base.to_owned();
        let rebase = |v: &mut Value, path: String| v["_links"]["self"]["href"] = json!(path);
        for (id, u) in &mut self.users {
            rebase(u, format!("{base}/api/v1/users/{id}"));
        }
        for (id, u) in &mut self.index {
            rebase(u, format!("{base}/api/v1/users/{id}"));
        }
        for (id, g) in &mut self.groups {
            rebase(&mut g.json, format!("{base}/api/v1/groups/{id}"));
        }
        for (id, d) in &mut self.devices {
            rebase(&mut d.json, format!("{base}/api/v1/devices/{id}"));
        }
        self.schema["id"] = json!(format!("{base}/meta/schemas/user/default"));
    }

    pub(super) fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms.max(self.now_ms);
    }

    fn new_id(&mut self, prefix: &str) -> String {
        let mut id = prefix.to_owned();
        while id.len() < 20 {
            let c = self.rng.alphanumeric();
            id.push(c);
        }
        id
    }

    /// Now at second resolution, as Okta writes `lastUpdated`.
    fn stamp(&self) -> String {
        second(self.now_ms)
    }

    fn insert_user(&mut self, id: &str, first: &str, last: &str, login: &str, i: usize, created_ms: i64) {
        let created = second(created_ms);
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        let custom = |d: &mut Directory| {
            let badge =
                if d.rng.u8(..100) < 80 { json!(format!("B{:06}", d.rng.u32(..1_000_000))) } else { Value::Null };
            (badge, json!(d.rng.u8(1..=5)), json!(d.rng.u8(..100) < 10))
        };
        let (badge, clearance, contractor) = custom(self);
        let user = json!({
            "id": id,
            "status": "ACTIVE",
            "created": created,
            "activated": created,
            "statusChanged": created,
            "lastLogin": self.stamp(),
            "lastUpdated": created,
            "passwordChanged": created,
            "type": {"id": "oty1sim0000000000000"},
            "profile": {
                "firstName": first,
                "lastName": last,
                "mobilePhone": null,
                "secondEmail": null,
                "login": login,
                "email": login,
                "displayName": format!("{first} {last}"),
                "title": TITLES[i % TITLES.len()],
                "department": dept,
                "employeeNumber": format!("{:05}", i + 1),
                "costCenter": format!("CC-{}", 100 + i % DEPARTMENTS.len()),
                "manager": if i > 0 { json!("Quinn Adams") } else { Value::Null },
                "managerId": null,
                "badgeId": badge,
                "clearanceLevel": clearance,
                "contractor": contractor,
                "region": if dept == "Sales" { json!("EMEA") } else { Value::Null },
            },
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": format!("{}/api/v1/users/{id}", self.base)}},
        });
        self.users.insert(id.to_owned(), user.clone());
        self.write_index(id, Some(user));
    }

    fn insert_group(&mut self, id: &str, name: &str, description: &str, kind: &str) {
        let now = self.stamp();
        let group = json!({
            "id": id,
            "created": now,
            "lastUpdated": now,
            "lastMembershipUpdated": now,
            "objectClass": ["okta:user_group"],
            "type": kind,
            "profile": {"name": name, "description": description},
            "_links": {"self": {"href": format!("{}/api/v1/groups/{id}", self.base)}},
        });
        self.groups.insert(id.to_owned(), Group { json: group, members: BTreeSet::new() });
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_device(
        &mut self,
        id: &str,
        user: &str,
        name: &str,
        platform: &str,
        version: &str,
        managed: bool,
        lock: &str,
        at_ms: i64,
    ) {
        let now = second(at_ms);
        let serial = format!("SN{}", self.rng.u64(..1_000_000_000));
        let device = json!({
            "id": id,
            "status": "ACTIVE",
            "created": now,
            "lastUpdated": now,
            "profile": {
                "displayName": name,
                "platform": platform,
                "manufacturer": if platform == "WINDOWS" { "Lenovo" } else { "Apple" },
                "model": if platform == "IOS" { "iPhone15,2" } else { "Laptop" },
                "osVersion": version,
                "serialNumber": serial,
                "registered": true,
                "secureHardwarePresent": true,
                "diskEncryptionType": "ALL_INTERNAL_VOLUMES",
            },
            "resourceType": "UDDevice",
            "resourceId": id,
            "resourceDisplayName": {"value": name, "sensitive": false},
            "_links": {"self": {"href": format!("{}/api/v1/devices/{id}", self.base)}},
        });
        let status = if managed { "MANAGED" } else { "NOT_MANAGED" };
        self.devices.insert(
            id.to_owned(),
            Device { json: device, users: vec![(user.to_owned(), now, status.to_owned(), lock.to_owned())] },
        );
    }

    fn build_schema(&self, custom: &[(String, String, String)]) -> Value {
        let mut base = Map::new();
        for (name, title) in [
            ("login", "Username"),
            ("firstName", "First name"),
            ("lastName", "Last name"),
            ("email", "Primary email"),
            ("displayName", "Display name"),
            ("title", "Title"),
            ("department", "Department"),
            ("employeeNumber", "Employee number"),
            ("costCenter", "Cost center"),
            ("manager", "Manager"),
            ("managerId", "ManagerId"),
            ("mobilePhone", "Mobile phone"),
            ("secondEmail", "Secondary email"),
        ] {
            base.insert(name.to_owned(), json!({"title": title, "type": "string", "mutability": "READ_WRITE", "scope": "NONE", "permissions": [{"principal": "SELF", "action": "READ_WRITE"}]}));
        }
        let mut props = Map::new();
        for (name, title, ty) in custom {
            props.insert(
                name.clone(),
                json!({"title": title, "description": title, "type": ty, "required": false, "mutability": "READ_WRITE", "scope": "NONE", "permissions": [{"principal": "SELF", "action": "READ_ONLY"}], "master": {"type": "PROFILE_MASTER"}}),
            );
        }
        json!({
            "id": format!("{}/meta/schemas/user/default", self.base),
            "$schema": "http://json-schema.org/draft-04/schema#",
            "name": "user",
            "title": "Default Okta User",
            "created": "2015-02-02T10:27:36.000Z",
            "lastUpdated": self.stamp(),
            "definitions": {
                "base": {"id": "#base", "type": "object", "properties": base, "required": ["login", "firstName", "lastName", "email"]},
                "custom": {"id": "#custom", "type": "object", "properties": props, "required": []},
            },
            "type": "object",
            "properties": {"profile": {"allOf": [{"$ref": "#/definitions/base"}, {"$ref": "#/definitions/custom"}]}},
        })
    }

    /// Records a write for `search`, visible after the lag.
    fn write_index(&mut self, id: &str, user: Option<Value>) {
        let lag = i64::try_from(self.search_lag.as_millis()).unwrap_or(i64::MAX);
        if lag == 0 && self.pending.is_empty() {
            match user {
                Some(u) => self.index.insert(id.to_owned(), u),
                None => self.index.remove(id),
            };
        } else {
            self.pending.push_back((self.now_ms.saturating_add(lag), id.to_owned(), user));
        }
    }

    /// Moves writes whose lag has passed into the index.
    fn settle(&mut self, now_ms: i64) {
        while self.pending.front().is_some_and(|(at, _, _)| *at <= now_ms) {
            if let Some((_, id, user)) = self.pending.pop_front() {
                match user {
                    Some(u) => self.index.insert(id, u),
                    None => self.index.remove(&id),
                };
            }
        }
    }

    fn touch_user(&mut self, id: &str, change: impl FnOnce(&mut Value, &str)) -> bool {
        let stamp = self.stamp();
        let Some(user) = self.users.get_mut(id) else { return false };
        change(user, &stamp);
        user["lastUpdated"] = json!(stamp);
        let user = user.clone();
        self.write_index(id, Some(user));
        // Devices embed their users: a device's `lastUpdated` does not move (as in Okta).
        true
    }

    // ----- mutations, for tests ---------------------------------------------------------------

    /// Creates an ACTIVE user in Everyone; returns its id.
    pub fn create_user(&mut self, first: &str, last: &str) -> String {
        let id = self.new_id("00u");
        let login = format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase());
        let n = self.users.len();
        self.insert_user(&id, first, last, &login, n, self.now_ms);
        let everyone = self.everyone();
        self.add_member(&everyone, &id);
        id
    }

    /// Sets profile attributes (a JSON object merged into `profile`; `null` values are kept, as
    /// Okta keeps them). Returns whether the user exists.
    pub fn update_profile(&mut self, id: &str, patch: &Value) -> bool {
        self.touch_user(id, |u, _| {
            if let (Some(profile), Some(patch)) = (u["profile"].as_object_mut(), patch.as_object()) {
                for (k, v) in patch {
                    profile.insert(k.clone(), v.clone());
                }
            }
        })
    }

    /// Changes a user's status (`SUSPENDED`, `LOCKED_OUT`, `DEPROVISIONED`, `ACTIVE`...).
    pub fn set_status(&mut self, id: &str, status: &str) -> bool {
        self.touch_user(id, |u, stamp| {
            u["status"] = json!(status);
            u["statusChanged"] = json!(stamp);
        })
    }

    /// Deactivates a user (status `DEPROVISIONED`; Okta keeps group memberships).
    pub fn deprovision(&mut self, id: &str) -> bool {
        self.set_status(id, "DEPROVISIONED")
    }

    /// Deletes a user for good: gone from every list, group and device.
    pub fn delete_user(&mut self, id: &str) -> bool {
        if self.users.remove(id).is_none() {
            return false;
        }
        self.user_roles.remove(id);
        self.write_index(id, None);
        let stamp = self.stamp();
        for g in self.groups.values_mut() {
            if g.members.remove(id) {
                g.json["lastMembershipUpdated"] = json!(stamp);
            }
        }
        for d in self.devices.values_mut() {
            let before = d.users.len();
            d.users.retain(|(u, ..)| u != id);
            if d.users.len() != before {
                d.json["lastUpdated"] = json!(stamp);
            }
        }
        true
    }

    /// Adds a user to a group (bumps the group's `lastMembershipUpdated`).
    pub fn add_member(&mut self, group: &str, user: &str) -> bool {
        let stamp = self.stamp();
        match self.groups.get_mut(group) {
            Some(g) if self.users.contains_key(user) => {
                if g.members.insert(user.to_owned()) {
                    g.json["lastMembershipUpdated"] = json!(stamp);
                }
                true
            }
            _ => false,
        }
    }

    /// Removes a user from a group.
    pub fn remove_member(&mut self, group: &str, user: &str) -> bool {
        let stamp = self.stamp();
        match self.groups.get_mut(group) {
            Some(g) => {
                let removed = g.members.remove(user);
                if removed {
                    g.json["lastMembershipUpdated"] = json!(stamp);
                }
                removed
            }
            None => false,
        }
    }

    /// Moves a user from one group to another.
    pub fn move_member(&mut self, user: &str, from: &str, to: &str) -> bool {
        self.remove_member(from, user) && self.add_member(to, user)
    }

    /// Creates an OKTA_GROUP; returns its id.
    pub fn create_group(&mut self, name: &str) -> String {
        let id = self.new_id("00g");
        self.insert_group(&id, name, "Created by a test", "OKTA_GROUP");
        id
    }

    /// Renames a group (bumps its `lastUpdated`).
    pub fn rename_group(&mut self, id: &str, name: &str) -> bool {
        let stamp = self.stamp();
        self.groups
            .get_mut(id)
            .map(|g| {
                g.json["profile"]["name"] = json!(name);
                g.json["lastUpdated"] = json!(stamp);
            })
            .is_some()
    }

    pub fn delete_group(&mut self, id: &str) -> bool {
        self.group_roles.remove(id);
        self.groups.remove(id).is_some()
    }

    /// Assigns the standard admin role `kind` (`SUPER_ADMIN`, `READ_ONLY_ADMIN`, ...) to a user;
    /// returns the assignment's id. `None` when the user or the role type does not exist, or the
    /// user already holds it directly (Okta answers 409). The user's `lastUpdated` does not move.
    pub fn assign_role(&mut self, user: &str, kind: &str) -> Option<String> {
        let known = STANDARD_ROLES.iter().any(|(t, _)| *t == kind);
        let held = self.user_roles.get(user).is_some_and(|r| r.iter().any(|a| a.kind == kind));
        if !known || held || !self.users.contains_key(user) {
            return None;
        }
        let now = self.stamp();
        Some(self.push_user_role(user, kind, None, &now))
    }

    /// Assigns a custom role (labelled `label`, with a new role id and resource set) to a user.
    pub fn assign_custom_role(&mut self, user: &str, label: &str) -> Option<String> {
        if !self.users.contains_key(user) {
            return None;
        }
        let now = self.stamp();
        let custom = (self.new_id("cr0"), self.new_id("iam"));
        Some(self.push_user_role(user, label, Some(custom), &now))
    }

    /// Assigns the standard admin role `kind` to a group: every member holds it.
    pub fn assign_group_role(&mut self, group: &str, kind: &str) -> Option<String> {
        if !STANDARD_ROLES.iter().any(|(t, _)| *t == kind) || !self.groups.contains_key(group) {
            return None;
        }
        let now = self.stamp();
        let a = self.assignment(kind, None, &now);
        let id = a.id.clone();
        self.group_roles.entry(group.to_owned()).or_default().push(a);
        Some(id)
    }

    /// Removes a role assignment made to the user (not one it holds through a group).
    pub fn unassign_role(&mut self, user: &str, assignment: &str) -> bool {
        let Some(roles) = self.user_roles.get_mut(user) else { return false };
        let before = roles.len();
        roles.retain(|a| a.id != assignment);
        let removed = roles.len() != before;
        if roles.is_empty() {
            self.user_roles.remove(user);
        }
        removed
    }

    /// Registers a new device to a user; returns its id.
    pub fn add_device(&mut self, user: &str, name: &str, platform: &str, managed: bool) -> Option<String> {
        if !self.users.contains_key(user) {
            return None;
        }
        let id = self.new_id("guo");
        self.insert_device(&id, user, name, platform, "1.0", managed, "PASSCODE", self.now_ms);
        Some(id)
    }

    pub fn remove_device(&mut self, id: &str) -> bool {
        self.devices.remove(id).is_some()
    }

    /// Sets a device's status (`SUSPENDED`, `DEACTIVATED`, ...).
    pub fn set_device_status(&mut self, id: &str, status: &str) -> bool {
        let stamp = self.stamp();
        self.devices
            .get_mut(id)
            .map(|d| {
                d.json["status"] = json!(status);
                d.json["lastUpdated"] = json!(stamp);
            })
            .is_some()
    }

    /// Adds a custom attribute to the user schema (the Profile Editor's "Add attribute").
    pub fn add_custom_attribute(&mut self, name: &str, title: &str, ty: &str) {
        let stamp = self.stamp();
        if let Some(props) = self.schema["definitions"]["custom"]["properties"].as_object_mut() {
            props.insert(
                name.to_owned(),
                json!({"title": title, "type": ty, "required": false, "mutability": "READ_WRITE", "scope": "NONE", "permissions": [{"principal": "SELF", "action": "READ_ONLY"}]}),
            );
        }
        self.schema["lastUpdated"] = json!(stamp);
    }

    // ----- reading ----------------------------------------------------------------------------

    /// Ids of every user (any status).
    pub fn user_ids(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// Ids of every group.
    pub fn group_ids(&self) -> Vec<String> {
        self.groups.keys().cloned().collect()
    }

    /// Ids of every device.
    pub fn device_ids(&self) -> Vec<String> {
        self.devices.keys().cloned().collect()
    }

    pub fn user(&self, id: &str) -> Option<&Value> {
        self.users.get(id)
    }

    /// The users holding an admin role, directly or through a group, sorted.
    pub fn role_assignees(&self) -> Vec<String> {
        let mut ids: BTreeSet<&String> =
            self.user_roles.iter().filter(|(_, r)| !r.is_empty()).map(|(u, _)| u).collect();
        for group in self.group_roles.iter().filter(|(_, r)| !r.is_empty()).map(|(g, _)| g) {
            ids.extend(self.groups.get(group).into_iter().flat_map(|g| g.members.iter()));
        }
        ids.into_iter().filter(|u| self.users.contains_key(*u)).cloned().collect()
    }

    /// A user's role assignments as `/api/v1/users/{id}/roles` returns them: its own, then those
    /// of its groups (by group id). `None` when the user does not exist.
    pub fn roles(&self, user: &str) -> Option<Vec<Value>> {
        if !self.users.contains_key(user) {
            return None;
        }
        let base = &self.base;
        let json = |a: &Assignment, assignee: String, via_group: bool| {
            let mut v = json!({
                "id": a.id,
                "label": a.label,
                "type": a.kind,
                "status": "ACTIVE",
                "created": a.created,
                "lastUpdated": a.created,
                "assignmentType": if via_group { "GROUP" } else { "USER" },
                "_links": {"assignee": {"href": assignee}},
            });
            if let Some((role, set)) = &a.custom {
                v["role"] = json!(role);
                v["resource-set"] = json!(set);
                v["_links"]["role"] = json!({"href": format!("{base}/api/v1/iam/roles/{role}")});
                v["_links"]["resource-set"] = json!({"href": format!("{base}/api/v1/iam/resource-sets/{set}")});
            }
            v
        };
        let mut out: Vec<Value> = self
            .user_roles
            .get(user)
            .into_iter()
            .flatten()
            .map(|a| json(a, format!("{base}/api/v1/users/{user}"), false))
            .collect();
        for (group, roles) in &self.group_roles {
            if self.groups.get(group).is_some_and(|g| g.members.contains(user)) {
                out.extend(roles.iter().map(|a| json(a, format!("{base}/api/v1/groups/{group}"), true)));
            }
        }
        Some(out)
    }

    /// The members of a group.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.groups.get(group).map(|g| g.members.iter().cloned().collect()).unwrap_or_default()
    }

    /// The whole directory as the API serves it (no lag).
    pub fn snapshot(&self) -> DirectorySnapshot {
        DirectorySnapshot {
            users: self.users.clone(),
            groups: self.groups.iter().map(|(id, g)| (id.clone(), g.json.clone())).collect(),
            members: self.groups.iter().map(|(id, g)| (id.clone(), g.members.iter().cloned().collect())).collect(),
            devices: self.devices.keys().filter_map(|id| Some((id.clone(), self.device_json(id, true)?))).collect(),
            schema: self.schema.clone(),
            roles: self.role_assignees().into_iter().filter_map(|u| Some((u.clone(), self.roles(&u)?))).collect(),
        }
    }

    fn device_json(&self, id: &str, expand: bool) -> Option<Value> {
        let d = self.devices.get(id)?;
        let mut json = d.json.clone();
        if expand {
            let users: Vec<Value> = d
                .users
                .iter()
                .filter_map(|(u, created, managed, lock)| {
                    Some(json!({"created": created, "managementStatus": managed, "screenLockType": lock, "user": self.users.get(u)?}))
                })
                .collect();
            json["_embedded"] = json!({"users": users});
        }
        Some(json)
    }
}

/// Epoch ms → RFC 3339 at whole seconds (`.000Z`).
fn second(ms: i64) -> String {
    crate::time::format_ms(ms.div_euclid(1000) * 1000)
}

// ----- search and filter expressions -------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
}

#[derive(Debug)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp { attr: String, op: String, value: Option<Value> },
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => s.extend(chars.next()),
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("an unterminated string".into()),
                    }
                }
                out.push(Token::Str(s));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn parse(text: &str) -> Result<Expr, String> {
        let mut p = Parser { tokens: tokenize(text)?, pos: 0 };
        let e = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(format!("unexpected {:?}", p.tokens[p.pos]));
        }
        Ok(e)
    }

    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.keyword("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.keyword("and") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            let e = self.or()?;
            if self.tokens.get(self.pos) != Some(&Token::Close) {
                return Err("a missing ')'".into());
            }
            self.pos += 1;
            return Ok(e);
        }
        let Some(Token::Word(attr)) = self.tokens.get(self.pos).cloned() else {
            return Err("an attribute name was expected".into());
        };
        let Some(Token::Word(op)) = self.tokens.get(self.pos + 1).cloned() else {
            return Err(format!("an operator was expected after {attr}"));
        };
        let op = op.to_ascii_lowercase();
        self.pos += 2;
        if op == "pr" {
            return Ok(Expr::Cmp { attr, op, value: None });
        }
        if !["eq", "ne", "gt", "ge", "lt", "le", "sw", "co"].contains(&op.as_str()) {
            return Err(format!("unknown operator {op}"));
        }
        let value = match self.tokens.get(self.pos).cloned() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => w.parse::<f64>().map(|n| json!(n)).map_err(|_| format!("a value was expected after {op}"))?,
            },
            _ => return Err(format!("a value was expected after {op}")),
        };
        self.pos += 1;
        Ok(Expr::Cmp { attr, op, value: Some(value) })
    }
}

impl Expr {
    fn matches(&self, object: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.matches(object) && b.matches(object),
            Expr::Or(a, b) => a.matches(object) || b.matches(object),
            Expr::Not(a) => !a.matches(object),
            Expr::Cmp { attr, op, value } => {
                let field = attr.split('.').try_fold(object, |v, k| v.get(k));
                let field = field.filter(|f| !f.is_null());
                let Some(value) = value else { return field.is_some() };
                let Some(field) = field else { return op == "ne" };
                let ordering = compare(field, value);
                match op.as_str() {
                    "eq" => ordering == Some(std::cmp::Ordering::Equal),
                    "ne" => ordering != Some(std::cmp::Ordering::Equal),
                    "gt" => ordering == Some(std::cmp::Ordering::Greater),
                    "ge" => matches!(ordering, Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)),
                    "lt" => ordering == Some(std::cmp::Ordering::Less),
                    "le" => matches!(ordering, Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)),
                    "sw" => field
                        .as_str()
                        .zip(value.as_str())
                        .is_some_and(|(f, v)| f.to_lowercase().starts_with(&v.to_lowercase())),
                    "co" => field
                        .as_str()
                        .zip(value.as_str())
                        .is_some_and(|(f, v)| f.to_lowercase().contains(&v.to_lowercase())),
                    _ => false,
                }
            }
        }
    }
}

/// Dates compare as instants, numbers as numbers, strings case-insensitively (as Okta does).
fn compare(field: &Value, value: &Value) -> Option<std::cmp::Ordering> {
    match (field, value) {
        (Value::String(f), Value::String(v)) => match (parse_ms(f), parse_ms(v)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(f.to_lowercase().cmp(&v.to_lowercase())),
        },
        (Value::Number(f), Value::Number(v)) => f.as_f64()?.partial_cmp(&v.as_f64()?),
        (Value::Bool(f), Value::Bool(v)) => Some(f.cmp(v)),
        (Value::Array(items), v) => items.iter().find_map(|i| compare(i, v).filter(|o| o.is_eq())),
        _ => None,
    }
}

// ----- HTTP --------------------------------------------------------------------------------------

/// The endpoint names calls are counted under.
pub const ENDPOINTS: [&str; 7] =
    ["users", "groups", "group_users", "devices", "schema", "role_assignees", "user_roles"];

/// Counts of directory calls, per endpoint, and how many were 429s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryCalls {
    pub calls: BTreeMap<String, u64>,
    pub rejected_429: u64,
}

impl DirectoryCalls {
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
}

type Shared = Arc<Mutex<State>>;

struct Query_ {
    params: Vec<(String, String)>,
    limit: usize,
    after: Option<String>,
}

/// `limit` (at most `max`, and `max` when absent) and `after`.
fn parse_query(params: Vec<(String, String)>, max: usize) -> Result<Query_, Box<Response>> {
    let mut limit = max;
    let mut after = None;
    for (k, v) in &params {
        match k.as_str() {
            "limit" => {
                limit = v.parse::<usize>().ok().filter(|l| *l > 0).map(|l| l.min(max)).ok_or_else(|| {
                    Box::new(okta_error(
                        StatusCode::BAD_REQUEST,
                        "E0000001",
                        &format!("Api validation failed: limit must be a positive number, got {v:?}"),
                        HeaderMap::new(),
                    ))
                })?;
            }
            "after" => after = Some(v.clone()),
            _ => {}
        }
    }
    Ok(Query_ { params, limit, after })
}

/// [`admit`], then the list query.
fn admit_list(
    s: &mut State,
    headers: &HeaderMap,
    path: &str,
    bucket: DirectoryBucket,
    endpoint: &str,
    params: Vec<(String, String)>,
    max: usize,
) -> Result<(HeaderMap, Query_), Box<Response>> {
    let h = admit(s, headers, path, bucket, endpoint)?;
    Ok((h, parse_query(params, max)?))
}

/// Everything before the answer: concurrency, credentials, the bucket, the call counter.
/// Returns the headers for the answer, or the rejection.
fn admit(
    s: &mut State,
    headers: &HeaderMap,
    path: &str,
    bucket: DirectoryBucket,
    endpoint: &str,
) -> Result<HeaderMap, Box<Response>> {
    *s.directory_calls.calls.entry(endpoint.to_owned()).or_insert(0) += 1;
    let now = now_ms();
    if s.in_flight > s.config.concurrency_limit {
        let snap = Snapshot { limit: 0, remaining: 0, reset: now / 1000 + 1 };
        s.directory_calls.rejected_429 += 1;
        return Err(Box::new(too_many(snap)));
    }
    let limits = s.directory_limits.entry(bucket).or_insert_with(|| {
        let per_minute =
            s.config.directory_per_minute.unwrap_or_else(|| s.config.org_type.directory_per_minute(bucket));
        super::ratelimit::Limits::per_minute(per_minute, &s.config, now)
    });
    let snapshot = limits.snapshot();
    if let Some(response) = super::oauth::check_resource(s, headers, "GET", path, rate_headers(snapshot)) {
        return Err(Box::new(response));
    }
    let Some(limits) = s.directory_limits.get_mut(&bucket) else { return Err(Box::new(too_many(snapshot))) };
    match limits.take(now) {
        Ok(snap) => {
            let mut h = rate_headers(snap);
            h.insert("content-type", HeaderValue::from_static("application/json"));
            Ok(h)
        }
        Err(snap) => {
            s.directory_calls.rejected_429 += 1;
            Err(Box::new(too_many(snap)))
        }
    }
}

async fn serve(state: &Shared, f: impl FnOnce(&mut State) -> Response) -> Response {
    let latency = {
        let mut s = lock(state);
        s.in_flight += 1;
        s.config.chaos.latency
    };
    if latency > Duration::ZERO {
        tokio::time::sleep(latency).await;
    }
    let mut s = lock(state);
    let response = f(&mut s);
    s.in_flight -= 1;
    response
}

/// The entries of `map` after the cursor.
fn after<'m, V>(map: &'m BTreeMap<String, V>, q: &Query_) -> impl Iterator<Item = (&'m String, &'m V)> {
    use std::ops::Bound;
    match &q.after {
        Some(a) => map.range::<str, _>((Bound::Excluded(a.as_str()), Bound::Unbounded)),
        None => map.range::<str, _>(..),
    }
}

/// One page of `items` (sorted by id, starting after the cursor), with Link headers.
/// The first `limit` items, and whether more follow.
fn take_page<T>(mut items: impl Iterator<Item = T>, limit: usize) -> (Vec<T>, bool) {
    let page: Vec<T> = items.by_ref().take(limit).collect();
    let more = items.next().is_some();
    (page, more)
}

/// The URL the client asked for, without its query (for `next` links).
fn request_url(request: &HeaderMap, uri: &Uri) -> String {
    let host = request.get("host").and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}{}", uri.path())
}

fn page(
    mut headers: HeaderMap,
    request: &HeaderMap,
    uri: &Uri,
    q: &Query_,
    items: impl Iterator<Item = (String, Value)>,
) -> Response {
    let (body, more) = take_page(items, q.limit);
    let base = request_url(request, uri);
    let query = |after: Option<&str>| {
        let mut parts: Vec<String> =
            q.params.iter().filter(|(k, _)| k != "after").map(|(k, v)| format!("{k}={}", encode(v))).collect();
        if let Some(a) = after {
            parts.push(format!("after={a}"));
        }
        parts.join("&")
    };
    append_link(&mut headers, &format!("<{base}?{}>; rel=\"self\"", query(q.after.as_deref())));
    if more && let Some((last, _)) = body.last() {
        append_link(&mut headers, &format!("<{base}?{}>; rel=\"next\"", query(Some(last))));
    }
    let text = Value::Array(body.into_iter().map(|(_, v)| v).collect()).to_string();
    (StatusCode::OK, headers, text).into_response()
}

fn param<'q>(q: &'q Query_, name: &str) -> Option<&'q str> {
    q.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn expression(q: &Query_, name: &str, headers: &HeaderMap) -> Result<Option<Expr>, Box<Response>> {
    match param(q, name) {
        None => Ok(None),
        Some(text) => Parser::parse(text).map(Some).map_err(|why| {
            Box::new(okta_error(
                StatusCode::BAD_REQUEST,
                if name == "search" { "E0000031" } else { "E0000001" },
                &format!("Invalid search criteria: {why}"),
                headers.clone(),
            ))
        }),
    }
}

pub(super) async fn get_users(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    serve(&state, |s| {
        let (h, q) = match admit_list(s, &headers, uri.path(), DirectoryBucket::Users, "users", params, MAX_LIMIT) {
            Ok(admitted) => admitted,
            Err(r) => return *r,
        };
        let (search, filter) = match (expression(&q, "search", &h), expression(&q, "filter", &h)) {
            (Ok(s), Ok(f)) => (s, f),
            (Err(r), _) | (_, Err(r)) => return *r,
        };
        let prefix = param(&q, "q").map(str::to_lowercase);
        let d = &mut s.directory;
        d.settle(now_ms());
        let items: Box<dyn Iterator<Item = (&String, &Value)>> = if let Some(search) = search {
            Box::new(after(&d.index, &q).filter(move |(_, u)| search.matches(u)))
        } else if let Some(filter) = filter {
            Box::new(after(&d.users, &q).filter(move |(_, u)| filter.matches(u)))
        } else {
            Box::new(after(&d.users, &q).filter(move |(_, u)| {
                u["status"] != "DEPROVISIONED"
                    && prefix.as_deref().is_none_or(|p| {
                        ["firstName", "lastName", "email"]
                            .iter()
                            .any(|k| u["profile"][k].as_str().is_some_and(|v| v.to_lowercase().starts_with(p)))
                    })
            }))
        };
        page(h, &headers, &uri, &q, items.map(|(id, u)| (id.clone(), u.clone())))
    })
    .await
}

pub(super) async fn get_groups(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    serve(&state, |s| {
        let (h, q) = match admit_list(s, &headers, uri.path(), DirectoryBucket::Groups, "groups", params, MAX_LIMIT) {
            Ok(admitted) => admitted,
            Err(r) => return *r,
        };
        let expr = match (expression(&q, "search", &h), expression(&q, "filter", &h)) {
            (Ok(s), Ok(f)) => s.or(f),
            (Err(r), _) | (_, Err(r)) => return *r,
        };
        let stats = param(&q, "expand").is_some_and(|e| e.split(',').any(|e| e == "stats"));
        let items = after(&s.directory.groups, &q)
            .filter(|(_, g)| expr.as_ref().is_none_or(|e| e.matches(&g.json)))
            .map(|(id, g)| {
                let mut json = g.json.clone();
                if stats {
                    json["_embedded"] = json!({"stats": {"usersCount": g.members.len()}});
                }
                (id.clone(), json)
            });
        page(h, &headers, &uri, &q, items)
    })
    .await
}

pub(super) async fn get_group_users(
    AxumState(state): AxumState<Shared>,
    AxumPath(group): AxumPath<String>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    serve(&state, |s| {
        let (h, q) =
            match admit_list(s, &headers, uri.path(), DirectoryBucket::Other, "group_users", params, MAX_MEMBERS_LIMIT)
            {
                Ok(admitted) => admitted,
                Err(r) => return *r,
            };
        let d = &s.directory;
        let Some(g) = d.groups.get(&group) else {
            return okta_error(
                StatusCode::NOT_FOUND,
                "E0000007",
                &format!("Not found: Resource not found: {group} (UserGroup)"),
                h,
            );
        };
        let start = q.after.clone().unwrap_or_default();
        let items = g
            .members
            .range::<str, _>((std::ops::Bound::Excluded(start.as_str()), std::ops::Bound::Unbounded))
            .filter_map(|id| Some((id.clone(), d.users.get(id)?.clone())));
        page(h, &headers, &uri, &q, items)
    })
    .await
}

pub(super) async fn get_devices(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    serve(&state, |s| {
        let (h, q) = match admit_list(s, &headers, uri.path(), DirectoryBucket::Devices, "devices", params, MAX_LIMIT) {
            Ok(admitted) => admitted,
            Err(r) => return *r,
        };
        let search = match expression(&q, "search", &h) {
            Ok(s) => s,
            Err(r) => return *r,
        };
        let expand = param(&q, "expand").is_some_and(|e| e.split(',').any(|e| e == "user"));
        let d = &s.directory;
        let items = after(&d.devices, &q).filter_map(|(id, _)| {
            let json = d.device_json(id, expand)?;
            search.as_ref().is_none_or(|e| e.matches(&json)).then(|| (id.clone(), json))
        });
        page(h, &headers, &uri, &q, items)
    })
    .await
}

pub(super) async fn get_schema(
    AxumState(state): AxumState<Shared>,
    AxumPath(id): AxumPath<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    serve(&state, |s| {
        let h = match admit(s, &headers, uri.path(), DirectoryBucket::Other, "schema") {
            Ok(h) => h,
            Err(r) => return *r,
        };
        if id != "default" && !id.starts_with("osc") {
            return okta_error(StatusCode::NOT_FOUND, "E0000007", "Not found: Resource not found: schema", h);
        }
        (StatusCode::OK, h, s.directory.schema.to_string()).into_response()
    })
    .await
}

/// 403 `E0000006` when the principal may not read admin roles ([`super::SimConfig::roles_denied`]).
fn roles_denied(s: &State, h: &HeaderMap) -> Option<Response> {
    s.config.roles_denied.then(|| {
        okta_error(
            StatusCode::FORBIDDEN,
            "E0000006",
            "You do not have permission to perform the requested action",
            h.clone(),
        )
    })
}

/// `GET /api/v1/iam/assignees/users`: the users holding an admin role, paged in the body.
pub(super) async fn get_role_assignees(
    AxumState(state): AxumState<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    serve(&state, |s| {
        let (h, q) = match admit_list(
            s,
            &headers,
            uri.path(),
            DirectoryBucket::Other,
            "role_assignees",
            params,
            MAX_ASSIGNEES_LIMIT,
        ) {
            Ok(admitted) => admitted,
            Err(r) => return *r,
        };
        if let Some(r) = roles_denied(s, &h) {
            return r;
        }
        let d = &s.directory;
        let start = q.after.clone().unwrap_or_default();
        let (page, more) = take_page(d.role_assignees().into_iter().filter(|id| *id > start), q.limit);
        let base = &d.base;
        let value: Vec<Value> = page
            .iter()
            .map(|id| {
                json!({
                    "id": id,
                    "orn": format!("orn:okta:directory:{ORG_ID}:users:{id}"),
                    "_links": {
                        "self": {"href": format!("{base}/api/v1/users/{id}")},
                        "roles": {"href": format!("{base}/api/v1/users/{id}/roles")},
                    },
                })
            })
            .collect();
        let mut body = json!({"value": value, "_links": {}});
        if more && let Some(last) = page.last() {
            let href = format!("{}?after={}&limit={}", request_url(&headers, &uri), encode(last), q.limit);
            body["_links"]["next"] = json!({"href": href});
        }
        (StatusCode::OK, h, body.to_string()).into_response()
    })
    .await
}

/// `GET /api/v1/users/{id}/roles`: one user's role assignments, direct and through groups.
pub(super) async fn get_user_roles(
    AxumState(state): AxumState<Shared>,
    AxumPath(user): AxumPath<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    serve(&state, |s| {
        let h = match admit(s, &headers, uri.path(), DirectoryBucket::Other, "user_roles") {
            Ok(h) => h,
            Err(r) => return *r,
        };
        if let Some(r) = roles_denied(s, &h) {
            return r;
        }
        match s.directory.roles(&user) {
            Some(roles) => (StatusCode::OK, h, Value::Array(roles).to_string()).into_response(),
            None => okta_error(
                StatusCode::NOT_FOUND,
                "E0000007",
                &format!("Not found: Resource not found: {user} (User)"),
                h,
            ),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_expressions() {
        let u = json!({"status": "DEPROVISIONED", "lastUpdated": "2026-11-20T10:00:00.000Z", "profile": {"department": "Sales", "n": 3}});
        let t = |e: &str| Parser::parse(e).expect(e).matches(&u);
        assert!(t("status pr"));
        assert!(t(r#"status eq "DEPROVISIONED""#));
        assert!(t(r#"lastUpdated ge "2026-11-20T10:00:00.000Z" and status pr"#));
        assert!(!t(r#"lastUpdated gt "2026-11-20T10:00:00.000Z""#));
        assert!(t(r#"lastUpdated gt "2026-11-20T09:59:59Z""#), "dates compare as instants");
        assert!(t(r#"(profile.department eq "sales" or status eq "ACTIVE") and profile.n ge 3"#));
        assert!(!t("profile.missing pr"));
        assert!(t(r#"not status eq "ACTIVE""#));
        assert!(Parser::parse("status eq").is_err());
        assert!(Parser::parse(r#"status xx "A""#).is_err());
        assert!(Parser::parse(r#"(status pr"#).is_err());
    }

    #[test]
    fn mutations_keep_the_directory_consistent() {
        let mut d = Directory::generate(7, &[], &[], 300);
        assert_eq!(d.users.len(), 300);
        let everyone = d.everyone();
        assert_eq!(d.members(&everyone).len(), 300, "everyone is in Everyone");
        assert!(d.groups.len() >= 3);
        let u = d.user_ids()[0].clone();
        d.set_now(d.now_ms + 5_000);
        assert!(d.deprovision(&u));
        assert_eq!(d.users[&u]["status"], "DEPROVISIONED");
        assert!(d.users[&u]["lastUpdated"].as_str().is_some_and(|s| s.ends_with(".000Z")), "second resolution");
        assert!(d.delete_user(&u));
        assert!(!d.members(&everyone).contains(&u));
        assert!(!d.index.contains_key(&u));
        d.search_lag = Duration::from_secs(10);
        let v = d.user_ids()[0].clone();
        d.update_profile(&v, &json!({"title": "CTO"}));
        assert_ne!(d.index[&v]["profile"]["title"], "CTO", "search lags");
        d.settle(d.now_ms + 10_000);
        assert_eq!(d.index[&v]["profile"]["title"], "CTO");
    }

    #[test]
    fn roles_are_held_directly_and_through_a_group() {
        let mut d = Directory::generate(7, &[], &[], 50);
        let assignees = d.role_assignees();
        assert_eq!(assignees.len(), 6, "four users with own roles, two more through the group: {assignees:?}");
        let all: Vec<Value> = assignees.iter().flat_map(|u| d.roles(u).expect("a user")).collect();
        let kinds: BTreeSet<&str> = all.iter().filter_map(|a| a["type"].as_str()).collect();
        assert_eq!(kinds, BTreeSet::from(["CUSTOM", "HELP_DESK_ADMIN", "READ_ONLY_ADMIN"]));
        let custom = all.iter().find(|a| a["type"] == "CUSTOM").expect("a custom role");
        assert_eq!(custom["label"], "Security Auditor");
        assert!(custom["role"].as_str().is_some_and(|r| r.starts_with("cr0")));
        assert!(custom["resource-set"].as_str().is_some_and(|r| r.starts_with("iam")));
        let via_group: Vec<&Value> = all.iter().filter(|a| a["assignmentType"] == "GROUP").collect();
        assert_eq!(via_group.len(), 3, "the group's three members");
        assert!(via_group.windows(2).all(|w| w[0]["id"] == w[1]["id"]), "one assignment, held by each member");
        let group = d.groups.iter().find(|(_, g)| g.json["profile"]["name"] == ROLE_GROUP.0).map(|(id, _)| id.clone());
        let group = group.expect("the role group");

        let user = d.user_ids().into_iter().find(|u| !assignees.contains(u)).expect("a user without a role");
        let updated = d.users[&user]["lastUpdated"].clone();
        assert_eq!(d.roles(&user), Some(Vec::new()));
        let granted = d.assign_role(&user, "SUPER_ADMIN").expect("assigned");
        assert_eq!(d.assign_role(&user, "SUPER_ADMIN"), None, "already held (409)");
        assert_eq!(d.assign_role(&user, "NOT_A_ROLE"), None);
        assert_eq!(d.users[&user]["lastUpdated"], updated, "a role does not move lastUpdated");
        assert!(d.role_assignees().contains(&user));
        assert!(d.add_member(&group, &user));
        let held: Vec<Value> = d.roles(&user).expect("a user").iter().map(|a| a["assignmentType"].clone()).collect();
        assert_eq!(held, [json!("USER"), json!("GROUP")], "its own role, then the group's");
        assert!(d.unassign_role(&user, &granted));
        assert!(!d.unassign_role(&user, &granted), "gone already");
        assert!(d.remove_member(&group, &user));
        assert!(!d.role_assignees().contains(&user));
        assert!(d.delete_group(&group));
        assert_eq!(d.role_assignees().len(), 4, "members who held a role only through the group hold none");
        assert_eq!(d.roles("00uNOPE"), None);
    }
}
