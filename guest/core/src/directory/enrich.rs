//! Enrichment: what an event's document gains from the directory, before detection reads it.
//!
//! - The actor (when Okta says it is a `User`) and every `User` target are looked up by id, then
//!   by login (case-insensitively). What is found goes to `okta.enrichment.actor` and
//!   `okta.enrichment.targets[]`: `known`, `id`, `login`, the configured profile fields (`groups`
//!   and `roles` name the user's groups and active admin roles) and the mapped custom attributes. A
//!   user the directory lacks gets `known: false`.
//! - The actor's email, full name, groups and admin roles also fill the ECS `user.email`,
//!   `user.full_name`, `user.group.*` and `user.roles` (the email and the name only where the event
//!   had none), and the first User target's email fills `user.target.email`.
//! - An event naming a device (`device.id`) gets `okta.enrichment.device` (`known`, status,
//!   managed, registered, platform, ...) and, when known, the ECS `device.manufacturer`,
//!   `device.model.name` and `device.serial_number`.
//!
//! `okta.enrichment` is the mark that the directory was used. With no directory loaded, nothing
//! here runs and documents are byte-identical to those of an engine without one.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::model::{Directory, User};
use super::{DEFAULT_PROFILE_FIELDS, EnrichmentConfig};
use crate::normalize::ecs::Document;

/// A loaded directory and what to copy from it; built per batch.
#[derive(Debug)]
pub struct Enricher<'c> {
    dir: &'c Directory,
    fields: Vec<&'c str>,
    custom: &'c [(String, String)],
}

impl<'c> Enricher<'c> {
    /// `None` when no directory is loaded.
    pub(crate) fn new(dir: &'c Directory, config: &'c EnrichmentConfig) -> Option<Enricher<'c>> {
        if dir.is_empty() {
            return None;
        }
        let fields = if config.profile_fields.is_empty() {
            DEFAULT_PROFILE_FIELDS.to_vec()
        } else {
            config.profile_fields.iter().map(String::as_str).collect()
        };
        Some(Enricher { dir, fields, custom: &config.custom_attributes })
    }

    fn wants(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f.eq_ignore_ascii_case(field))
    }

    fn find(&self, id: Option<&str>, login: Option<&str>) -> Option<&'c User> {
        id.and_then(|id| self.dir.user(id)).or_else(|| login.and_then(|l| self.dir.user_by_login(l)))
    }

    /// Adds what the directory knows to `doc`.
    pub(crate) fn enrich<'a>(&self, doc: &mut Document<'a>)
    where
        'c: 'a,
    {
        let mut enrichment = Map::new();

        let actor = &doc.okta.actor;
        if actor.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("User")) {
            let found = self.find(actor.id.as_deref(), actor.alternate_id.as_deref());
            enrichment.insert("actor".into(), self.describe(found, actor.id.as_deref()));
            if let Some(user) = found {
                if doc.user.email.is_none() && self.wants("email") {
                    doc.user.email = user.profile("email").and_then(Value::as_str).map(Cow::Borrowed);
                }
                if doc.user.full_name.is_none() {
                    doc.user.full_name = user.full_name().map(Cow::Owned);
                }
                if self.wants("groups") {
                    for (id, name) in self.dir.groups_of(&user.id) {
                        doc.user.group.id.push(Cow::Borrowed(id));
                        if let Some(name) = name {
                            doc.user.group.name.push(Cow::Borrowed(name));
                        }
                    }
                }
                if self.wants("roles") {
                    doc.user.roles = self.dir.role_names(&user.id).into_iter().map(Cow::Borrowed).collect();
                }
            }
        }

        let mut targets = Vec::new();
        for target in &doc.okta.target {
            if !target.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("User")) {
                continue;
            }
            let found = self.find(target.id.as_deref(), target.alternate_id.as_deref());
            let is_lifted = doc.user.target.id.is_some() && doc.user.target.id == target.id;
            if let (Some(user), true) = (found, is_lifted)
                && doc.user.target.email.is_none()
                && self.wants("email")
            {
                doc.user.target.email = user.profile("email").and_then(Value::as_str).map(Cow::Borrowed);
            }
            targets.push(self.describe(found, target.id.as_deref()));
        }
        if !targets.is_empty() {
            enrichment.insert("targets".into(), Value::Array(targets));
        }

        if let Some(id) = doc.device.id.clone() {
            let mut d = Map::new();
            match self.dir.device(&id) {
                Some(device) => {
                    d.insert("known".into(), Value::Bool(true));
                    d.insert("id".into(), Value::String(id.into_owned()));
                    let mut text = |key: &str, value: Option<&str>| {
                        if let Some(v) = value.filter(|v| !v.is_empty()) {
                            d.insert(key.into(), Value::String(v.to_owned()));
                        }
                    };
                    text("status", device.status());
                    text("display_name", device.profile_str("displayName"));
                    text("platform", device.profile_str("platform"));
                    text("os_version", device.profile_str("osVersion"));
                    text("disk_encryption_type", device.profile_str("diskEncryptionType"));
                    if let Some(m) = device.managed() {
                        d.insert("managed".into(), Value::Bool(m));
                    }
                    for (key, name) in [
                        ("registered", "registered"),
                        ("secure_hardware_present", "secureHardwarePresent"),
                        ("jailbreak", "integrityJailbreak"),
                    ] {
                        if let Some(b) = device.profile(name).and_then(Value::as_bool) {
                            d.insert(key.into(), Value::Bool(b));
                        }
                    }
                    if let Some(actor) = enrichment.get("actor").and_then(|a| a.get("id")).and_then(Value::as_str) {
                        let linked = device
                            .users()
                            .any(|u| u.get("user").and_then(|u| u.get("id")).and_then(Value::as_str) == Some(actor));
                        d.insert("actor_linked".into(), Value::Bool(linked));
                    }
                    doc.device.manufacturer = device.profile_str("manufacturer").map(Cow::Borrowed);
                    doc.device.model.name = device.profile_str("model").map(Cow::Borrowed);
                    doc.device.serial_number = device.profile_str("serialNumber").map(Cow::Borrowed);
                }
                None => {
                    d.insert("known".into(), Value::Bool(false));
                    d.insert("id".into(), Value::String(id.into_owned()));
                }
            }
            enrichment.insert("device".into(), Value::Object(d));
        }
        doc.okta.enrichment = enrichment;
    }

    /// `okta.enrichment.actor` or one `okta.enrichment.targets[]` entry.
    fn describe(&self, user: Option<&User>, event_id: Option<&str>) -> Value {
        let mut out = Map::new();
        let Some(user) = user else {
            out.insert("known".into(), Value::Bool(false));
            if let Some(id) = event_id {
                out.insert("id".into(), Value::String(id.to_owned()));
            }
            return Value::Object(out);
        };
        out.insert("known".into(), Value::Bool(true));
        out.insert("id".into(), Value::String(user.id.clone()));
        if let Some(login) = user.login() {
            out.insert("login".into(), Value::String(login.to_owned()));
        }
        for field in &self.fields {
            match *field {
                "groups" => {
                    let (mut ids, mut names) = (Vec::new(), Vec::new());
                    for (id, name) in self.dir.groups_of(&user.id) {
                        ids.push(Value::String(id.to_owned()));
                        if let Some(name) = name {
                            names.push(Value::String(name.to_owned()));
                        }
                    }
                    let mut groups = Map::new();
                    groups.insert("id".into(), Value::Array(ids));
                    groups.insert("name".into(), Value::Array(names));
                    out.insert("groups".into(), Value::Object(groups));
                }
                "roles" => {
                    // Only a user holding a role gets the key: none is the common case.
                    let names = self.dir.role_names(&user.id);
                    if !names.is_empty() {
                        let names = names.into_iter().map(|n| Value::String(n.to_owned())).collect();
                        out.insert("roles".into(), Value::Array(names));
                    }
                }
                "manager" => {
                    if let Some(v) = user.profile("manager") {
                        out.insert("manager".into(), v.clone());
                    }
                    if let Some(v) = user.profile("managerId") {
                        out.insert("manager_id".into(), v.clone());
                    }
                }
                name => {
                    if let Some(v) = user.profile(name).or_else(|| user.json.get(name).filter(|v| !v.is_object())) {
                        out.insert(snake_key(name), v.clone());
                    }
                }
            }
        }
        for (attribute, output) in self.custom {
            if let Some(v) = user.profile(attribute) {
                out.insert(output.clone(), v.clone());
            }
        }
        Value::Object(out)
    }
}

/// `costCenter` → `cost_center`; other shapes are kept as they are.
fn snake_key(k: &str) -> String {
    let mut s = String::with_capacity(k.len() + 4);
    for c in k.chars() {
        if c.is_ascii_uppercase() {
            if !s.is_empty() {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}
