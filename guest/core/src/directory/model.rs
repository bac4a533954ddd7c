//! The directory records and how updates change them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::entity;
use super::{
    DirectoryChange, DirectoryKind, DirectoryObject, DirectoryProblem, DirectoryResult, DirectoryUpdate,
    EnrichmentConfig, UserRoles,
};
use crate::Config;

/// One user: its Okta JSON (nulls kept out) and the fields looked up on every event.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) json: Map<String, Value>,
}

impl User {
    /// `profile.<name>`, when it is set.
    pub(crate) fn profile(&self, name: &str) -> Option<&Value> {
        self.json.get("profile").and_then(|p| p.get(name)).filter(|v| !v.is_null())
    }

    /// A top-level string field.
    pub(crate) fn top(&self, name: &str) -> Option<&str> {
        self.json.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    pub(crate) fn login(&self) -> Option<&str> {
        self.profile("login").and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// `displayName`, else "first last".
    pub(crate) fn full_name(&self) -> Option<String> {
        if let Some(name) = self.profile("displayName").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) {
            return Some(name.to_owned());
        }
        let parts: Vec<&str> = ["firstName", "lastName"]
            .iter()
            .filter_map(|k| self.profile(k).and_then(Value::as_str))
            .filter(|s| !s.trim().is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// One group: what events and documents need of it, its name.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) name: Option<String>,
}

/// One admin role assignment of a user (an element of `/api/v1/users/{id}/roles`), direct or
/// through a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Role {
    /// The assignment's id (`ra…`; a group's assignment has the same id for every member).
    pub(crate) id: Option<String>,
    /// `SUPER_ADMIN`, `ORG_ADMIN`, ..., or `CUSTOM`.
    pub(crate) kind: Option<String>,
    pub(crate) label: Option<String>,
    /// `ACTIVE` or `INACTIVE`.
    pub(crate) status: Option<String>,
    /// `USER` (assigned to the user) or `GROUP` (through one of the user's groups).
    pub(crate) assignment_type: Option<String>,
    /// A custom role's id (`cr0…`) and its resource set (`iam…`).
    pub(crate) role: Option<String>,
    pub(crate) resource_set: Option<String>,
}

impl Role {
    /// What `user.roles` lists for it: a standard role's type, a custom role's label (its id when
    /// it has none). `None` for an inactive assignment, which grants nothing.
    pub(crate) fn name(&self) -> Option<&str> {
        if self.status.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case("ACTIVE")) {
            return None;
        }
        match self.kind.as_deref() {
            Some(k) if k.eq_ignore_ascii_case("CUSTOM") => self.label.as_deref().or(self.role.as_deref()),
            Some(k) => Some(k),
            None => self.label.as_deref(),
        }
    }
}

/// One device (`/api/v1/devices?expand=user`).
#[derive(Debug, Clone)]
pub(crate) struct Device {
    pub(crate) id: String,
    pub(crate) json: Map<String, Value>,
}

impl Device {
    pub(crate) fn profile(&self, name: &str) -> Option<&Value> {
        self.json.get("profile").and_then(|p| p.get(name)).filter(|v| !v.is_null())
    }

    pub(crate) fn profile_str(&self, name: &str) -> Option<&str> {
        self.profile(name).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    pub(crate) fn status(&self) -> Option<&str> {
        self.json.get("status").and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// `_embedded.users[]`: each with `managementStatus`, `screenLockType` and the full `user`.
    pub(crate) fn users(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.json
            .get("_embedded")
            .and_then(|e| e.get("users"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
    }

    /// Managed: `profile.managed` when Okta gives it, else whether any user link says `MANAGED`.
    pub(crate) fn managed(&self) -> Option<bool> {
        if let Some(m) = self.profile("managed").and_then(Value::as_bool) {
            return Some(m);
        }
        let mut statuses = self.users().filter_map(|u| u.get("managementStatus").and_then(Value::as_str)).peekable();
        statuses.peek()?;
        Some(statuses.any(|s| s.eq_ignore_ascii_case("MANAGED")))
    }
}

/// The org's directory, as the engine holds it. Deterministic maps only.
#[derive(Debug, Default)]
pub struct Directory {
    pub(crate) users: BTreeMap<String, User>,
    /// Lowercased login → user id.
    pub(crate) logins: BTreeMap<String, String>,
    pub(crate) groups: BTreeMap<String, Group>,
    /// Group id → member user ids.
    pub(crate) members: BTreeMap<String, BTreeSet<String>>,
    /// User id → group ids.
    pub(crate) user_groups: BTreeMap<String, BTreeSet<String>>,
    pub(crate) devices: BTreeMap<String, Device>,
    /// User id → the devices whose `_embedded.users` name that user, so a rename finds its
    /// devices without reading every device.
    user_devices: BTreeMap<String, BTreeSet<String>>,
    /// User id → the user's admin role assignments (only users holding at least one), sorted.
    pub(crate) roles: BTreeMap<String, Vec<Role>>,
    /// Custom profile attributes the schema declares: name → its schema entry.
    pub(crate) custom_attributes: Option<BTreeMap<String, Value>>,
}

/// A user or device whose entity document is due, and the JSON to write it from.
enum Due {
    User(DirectoryChange, Option<User>),
    Device(DirectoryChange, Option<Device>),
}

impl Directory {
    /// True when nothing is loaded: events are then written exactly as without a directory.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty() && self.devices.is_empty()
    }

    pub(crate) fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    /// A user by login, case-insensitively.
    pub(crate) fn user_by_login(&self, login: &str) -> Option<&User> {
        self.logins.get(&login.to_lowercase()).and_then(|id| self.users.get(id))
    }

    pub(crate) fn device(&self, id: &str) -> Option<&Device> {
        self.devices.get(id)
    }

    /// The groups a user is in, sorted by group id: (id, name).
    pub(crate) fn groups_of(&self, user: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.user_groups
            .get(user)
            .into_iter()
            .flatten()
            .map(|g| (g.as_str(), self.groups.get(g).and_then(|g| g.name.as_deref())))
    }

    /// A user's admin role assignments, sorted (empty when the user holds none).
    pub(crate) fn roles_of(&self, user: &str) -> &[Role] {
        self.roles.get(user).map_or(&[], Vec::as_slice)
    }

    /// What `user.roles` holds for a user: the names of its active roles, sorted and unique.
    pub(crate) fn role_names(&self, user: &str) -> Vec<&str> {
        let mut names: Vec<&str> = self.roles_of(user).iter().filter_map(Role::name).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Applies one update and returns the entity documents of every user and device it changed.
    pub fn apply(
        &mut self,
        update: DirectoryUpdate,
        config: &Config,
        enrichment: &EnrichmentConfig,
    ) -> DirectoryResult {
        if update.reset {
            *self = Directory::default();
        }
        let mut problems = Vec::new();
        let mut due: BTreeMap<(DirectoryKind, String), Due> = BTreeMap::new();
        for object in update.objects {
            self.apply_object(object, &mut due, &mut problems, enrichment);
        }
        for m in update.memberships {
            if m.group_id.is_empty() {
                problems.push(problem(
                    DirectoryKind::Group,
                    "",
                    "Y004",
                    "a member list has no group id; it was skipped",
                ));
                continue;
            }
            let new: BTreeSet<String> = m.user_ids.into_iter().filter(|u| !u.is_empty()).collect();
            let old = self.members.remove(&m.group_id).unwrap_or_default();
            for gone in old.difference(&new) {
                if let Some(set) = self.user_groups.get_mut(gone) {
                    set.remove(&m.group_id);
                    if set.is_empty() {
                        self.user_groups.remove(gone);
                    }
                }
                mark_user(&mut due, gone);
            }
            for added in new.difference(&old) {
                self.user_groups.entry(added.clone()).or_default().insert(m.group_id.clone());
                mark_user(&mut due, added);
            }
            if !new.is_empty() {
                self.members.insert(m.group_id, new);
            }
        }
        for r in update.roles {
            self.apply_roles(r, &mut due, &mut problems);
        }
        // A reset loads state the host already had (at start, after recovery): nothing changed, so
        // no documents are built.
        if update.reset {
            due.clear();
        }
        let observed = entity::Observed::new(update.observed_ms, config);
        let mut entities = Vec::with_capacity(due.len());
        for ((kind, id), due) in due {
            let (change, document) = match due {
                Due::User(change, record) => {
                    let Some(user) = record.as_ref().or_else(|| self.users.get(&id)) else { continue };
                    (change, entity::user_document(self, user, change, &observed))
                }
                Due::Device(change, record) => {
                    let Some(device) = record.as_ref().or_else(|| self.devices.get(&id)) else { continue };
                    (change, entity::device_document(self, device, change, &observed))
                }
            };
            entities.push(super::Entity { kind, id, change, document });
        }
        DirectoryResult {
            entities,
            problems,
            users: count(self.users.len()),
            groups: count(self.groups.len()),
            devices: count(self.devices.len()),
        }
    }

    fn apply_object(
        &mut self,
        object: DirectoryObject,
        due: &mut BTreeMap<(DirectoryKind, String), Due>,
        problems: &mut Vec<DirectoryProblem>,
        enrichment: &EnrichmentConfig,
    ) {
        let DirectoryObject { kind, id, change, json } = object;
        let map = match read_object(kind, &id, &json) {
            Ok(map) => map,
            Err(p) => {
                // A deletion needs no readable JSON: the id is enough.
                if change == DirectoryChange::Deleted && !id.is_empty() {
                    self.remove(kind, &id, due);
                }
                problems.push(p);
                return;
            }
        };
        let id = if id.is_empty() { json_id(&map).unwrap_or_default().to_owned() } else { id };
        match kind {
            DirectoryKind::User => {
                let user = User { id: id.clone(), json: map };
                if change == DirectoryChange::Deleted {
                    self.remove(kind, &id, due);
                    due.insert((kind, id), Due::User(change, Some(user)));
                } else {
                    let old = self.users.get(&id).and_then(User::login).map(str::to_owned);
                    if let Some(old) = &old {
                        self.logins.remove(&old.to_lowercase());
                    }
                    if let Some(login) = user.login() {
                        self.logins.insert(login.to_lowercase(), id.clone());
                    }
                    if old.is_some() && old.as_deref() != user.login() {
                        // Device documents name their users by the current login; Okta changes
                        // no device on a rename, so an incremental sync would not refetch them.
                        for device in self.user_devices.get(&id).into_iter().flatten() {
                            mark_device(due, device);
                        }
                    }
                    self.users.insert(id.clone(), user);
                    due.insert((kind, id), Due::User(change, None));
                }
            }
            DirectoryKind::Group => {
                if change == DirectoryChange::Deleted {
                    self.remove(kind, &id, due);
                } else {
                    let name = map
                        .get("profile")
                        .and_then(|p| p.get("name"))
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned);
                    let renamed = self.groups.get(&id).is_some_and(|old| old.name != name);
                    if renamed {
                        // Members' documents carry the group's name.
                        for user in self.members.get(&id).into_iter().flatten() {
                            mark_user(due, user);
                        }
                    }
                    self.groups.insert(id, Group { name });
                }
            }
            DirectoryKind::Device => {
                let device = Device { id: id.clone(), json: map };
                if change == DirectoryChange::Deleted {
                    self.remove(kind, &id, due);
                    due.insert((kind, id), Due::Device(change, Some(device)));
                } else {
                    self.unlink_device(&id);
                    for user in device.users().filter_map(link_user_id) {
                        self.user_devices.entry(user.to_owned()).or_default().insert(id.clone());
                    }
                    self.devices.insert(id.clone(), device);
                    due.insert((kind, id), Due::Device(change, None));
                }
            }
            DirectoryKind::UserSchema => {
                if change == DirectoryChange::Deleted {
                    self.custom_attributes = None;
                    return;
                }
                let custom: BTreeMap<String, Value> = map
                    .get("definitions")
                    .and_then(|d| d.get("custom"))
                    .and_then(|c| c.get("properties"))
                    .and_then(Value::as_object)
                    .map(|props| props.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                for (attribute, output) in &enrichment.custom_attributes {
                    if !custom.contains_key(attribute) {
                        problems.push(problem(
                            kind,
                            &id,
                            "Y005",
                            &format!(
                                "the custom attribute {attribute:?} (mapped to {output:?}) is not in the user schema's \
                                 custom properties; check its spelling against the Profile Editor (the mapping stays, \
                                 and copies nothing while users lack it)"
                            ),
                        ));
                    }
                }
                self.custom_attributes = Some(custom);
            }
        }
    }

    /// Replaces one user's role assignments. A list that cannot be read is a problem and changes
    /// nothing; a list equal to the one held changes nothing either.
    fn apply_roles(
        &mut self,
        update: UserRoles,
        due: &mut BTreeMap<(DirectoryKind, String), Due>,
        problems: &mut Vec<DirectoryProblem>,
    ) {
        let UserRoles { user_id, json } = update;
        if user_id.is_empty() {
            problems.push(problem(DirectoryKind::User, "", "Y007", "a role list has no user id; it was skipped"));
            return;
        }
        let Some(roles) = read_roles(&user_id, &json, problems) else { return };
        let held = self.roles_of(&user_id);
        if held == roles.as_slice() {
            return;
        }
        if roles.is_empty() {
            self.roles.remove(&user_id);
        } else {
            self.roles.insert(user_id.clone(), roles);
        }
        mark_user(due, &user_id);
    }

    /// Forgets one object (and, for a user or group, its memberships).
    fn remove(&mut self, kind: DirectoryKind, id: &str, due: &mut BTreeMap<(DirectoryKind, String), Due>) {
        match kind {
            DirectoryKind::User => {
                if let Some(login) = self.users.remove(id).as_ref().and_then(User::login).map(str::to_lowercase) {
                    self.logins.remove(&login);
                }
                for g in self.user_groups.remove(id).unwrap_or_default() {
                    if let Some(set) = self.members.get_mut(&g) {
                        set.remove(id);
                        if set.is_empty() {
                            self.members.remove(&g);
                        }
                    }
                }
            }
            DirectoryKind::Group => {
                self.groups.remove(id);
                for user in self.members.remove(id).unwrap_or_default() {
                    if let Some(set) = self.user_groups.get_mut(&user) {
                        set.remove(id);
                        if set.is_empty() {
                            self.user_groups.remove(&user);
                        }
                    }
                    mark_user(due, &user);
                }
            }
            DirectoryKind::Device => {
                self.unlink_device(id);
                self.devices.remove(id);
            }
            DirectoryKind::UserSchema => self.custom_attributes = None,
        }
    }

    /// Drops a device from [`Directory::user_devices`] (before it is replaced or removed).
    fn unlink_device(&mut self, id: &str) {
        let Some(device) = self.devices.get(id) else { return };
        for user in device.users().filter_map(link_user_id) {
            if let Some(set) = self.user_devices.get_mut(user) {
                set.remove(id);
                if set.is_empty() {
                    self.user_devices.remove(user);
                }
            }
        }
    }
}

/// A user whose groups or roles changed gets a `modified` document, unless a change is already due.
fn mark_user(due: &mut BTreeMap<(DirectoryKind, String), Due>, user: &str) {
    due.entry((DirectoryKind::User, user.to_owned())).or_insert(Due::User(DirectoryChange::Modified, None));
}

fn mark_device(due: &mut BTreeMap<(DirectoryKind, String), Due>, device: &str) {
    due.entry((DirectoryKind::Device, device.to_owned())).or_insert(Due::Device(DirectoryChange::Modified, None));
}

/// The user id of one of a device's `_embedded.users` links.
fn link_user_id(link: &Map<String, Value>) -> Option<&str> {
    link.get("user")?.get("id")?.as_str()
}

/// Parses an object's JSON: it must be an object whose `id` (when it has one) is the record's.
fn read_object(kind: DirectoryKind, id: &str, json: &str) -> Result<Map<String, Value>, DirectoryProblem> {
    let what = kind.name();
    let value: Value = serde_json::from_str(json).map_err(|e| {
        problem(kind, id, "Y001", &format!("the {what} {id:?} is not valid JSON ({e}); it was skipped"))
    })?;
    let Value::Object(map) = value else {
        return Err(problem(
            kind,
            id,
            "Y002",
            &format!("the {what} {id:?} is {} instead of a JSON object; it was skipped", type_name(&value)),
        ));
    };
    let map = without_nulls(map);
    // The schema's `id` is its URL; the host names it "default".
    if kind != DirectoryKind::UserSchema {
        match (json_id(&map), id.is_empty()) {
            (None, true) => {
                return Err(problem(
                    kind,
                    id,
                    "Y003",
                    &format!("a {what} has no id, neither in the record nor in its JSON; it was skipped"),
                ));
            }
            (Some(own), false) if own != id => {
                return Err(problem(
                    kind,
                    id,
                    "Y003",
                    &format!("the {what} record says id {id:?} but its JSON says {own:?}; it was skipped"),
                ));
            }
            _ => {}
        }
    }
    Ok(map)
}

/// Reads a user's role list: a JSON array of role assignment objects, sorted. `None` (and a
/// problem) when it is not an array; an element that is not an object is a problem and skipped.
fn read_roles(user: &str, json: &str, problems: &mut Vec<DirectoryProblem>) -> Option<Vec<Role>> {
    let unreadable = |what: String| {
        problem(
            DirectoryKind::User,
            user,
            "Y006",
            &format!("the roles of user {user:?} are {what}; they were skipped (the user keeps the roles held before)"),
        )
    };
    let items = match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => items,
        Ok(other) => {
            problems.push(unreadable(format!("{} instead of a JSON array", type_name(&other))));
            return None;
        }
        Err(e) => {
            problems.push(unreadable(format!("not valid JSON ({e})")));
            return None;
        }
    };
    let mut roles = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            problems.push(problem(
                DirectoryKind::User,
                user,
                "Y008",
                &format!(
                    "role assignment {i} of user {user:?} is {} instead of a JSON object; it was skipped",
                    type_name(item)
                ),
            ));
            continue;
        };
        let text = |k: &str| map.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        roles.push(Role {
            id: text("id"),
            kind: text("type"),
            label: text("label"),
            status: text("status"),
            assignment_type: text("assignmentType"),
            role: text("role"),
            resource_set: text("resource-set"),
        });
    }
    roles.sort();
    Some(roles)
}

fn json_id(map: &Map<String, Value>) -> Option<&str> {
    map.get("id").and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Drops `null` members, at every depth, so documents carry no null artefacts.
fn without_nulls(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let v = match v {
                Value::Object(m) => Value::Object(without_nulls(m)),
                other => other,
            };
            (k, v)
        })
        .collect()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn problem(kind: DirectoryKind, id: &str, code: &'static str, message: &str) -> DirectoryProblem {
    DirectoryProblem { kind, id: id.to_owned(), code, message: message.to_owned() }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
