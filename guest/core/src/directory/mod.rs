//! The org's directory (users, groups, memberships, devices, the user schema) as the host loads it
//! with [`crate::Engine::update_directory`], and what the engine makes of it: entity documents for
//! changed users and devices, and enrichment of events.
//!
//! Every map is a `BTreeMap`, so the same snapshot always gives the same output.
//!
//! - `model.rs`: Okta's JSON → records (users by id and by login, groups, memberships both ways,
//!   admin role assignments per user, devices, the schema's custom attributes), read leniently: an
//!   unreadable object is a [`DirectoryProblem`], never a panic.
//! - `entity.rs`: the ECS asset documents (`event.kind: asset`) for changed users and devices.
//! - `enrich.rs`: what an event gains from the directory (`okta.enrichment`, `user.email`,
//!   `user.group.*`, `user.roles`, `device.*`).

/// Which kind of directory object. Mirrors the WIT `directory-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirectoryKind {
    User,
    Group,
    Device,
    UserSchema,
}

impl DirectoryKind {
    /// The WIT name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            DirectoryKind::User => "user",
            DirectoryKind::Group => "group",
            DirectoryKind::Device => "device",
            DirectoryKind::UserSchema => "user-schema",
        }
    }
}

/// What happened to an object since the host last saw it. Mirrors the WIT `directory-change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirectoryChange {
    Discovered,
    Modified,
    Deprovisioned,
    Deleted,
}

impl DirectoryChange {
    /// The lifecycle word used in `event.action` (`user-discovered`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DirectoryChange::Discovered => "discovered",
            DirectoryChange::Modified => "modified",
            DirectoryChange::Deprovisioned => "deprovisioned",
            DirectoryChange::Deleted => "deleted",
        }
    }
}

/// One object as Okta's API returned it. Mirrors the WIT `directory-object`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryObject {
    pub kind: DirectoryKind,
    pub id: String,
    pub change: DirectoryChange,
    /// Okta's JSON for the object.
    pub json: String,
}

/// The complete member list of one group, replacing the previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembers {
    pub group_id: String,
    pub user_ids: Vec<String>,
}

/// The complete admin role assignments of one user, replacing the previous ones. Mirrors the WIT
/// `user-roles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRoles {
    pub user_id: String,
    /// The JSON array `/api/v1/users/{id}/roles` returned (`[]`: the user holds no role now).
    pub json: String,
}

/// A batch of directory changes. Mirrors the WIT `directory-update`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryUpdate {
    /// Forget the whole directory first. A reset builds no entity documents (it reloads known state).
    pub reset: bool,
    pub objects: Vec<DirectoryObject>,
    pub memberships: Vec<GroupMembers>,
    /// Users whose role assignments changed (applied after the objects and memberships).
    pub roles: Vec<UserRoles>,
    /// When the host observed these changes, ms since the epoch.
    pub observed_ms: i64,
}

/// An ECS asset document for a user or device whose record changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub kind: DirectoryKind,
    pub id: String,
    pub change: DirectoryChange,
    /// Compact JSON.
    pub document: String,
}

/// An object the engine could not read; it was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryProblem {
    pub kind: DirectoryKind,
    pub id: String,
    /// Stable code `Y0xx`.
    pub code: &'static str,
    pub message: String,
}

/// What an update did. Mirrors the WIT `directory-result`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryResult {
    pub entities: Vec<Entity>,
    pub problems: Vec<DirectoryProblem>,
    pub users: u32,
    pub groups: u32,
    pub devices: u32,
}

/// Which directory fields enrich events. Mirrors the WIT `enrichment-config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrichmentConfig {
    /// Okta profile attributes copied onto the actor and User targets; empty = [`DEFAULT_PROFILE_FIELDS`].
    pub profile_fields: Vec<String>,
    /// Custom profile attributes to copy as well: (Okta attribute name, output name).
    pub custom_attributes: Vec<(String, String)>,
}

/// The profile fields enrichment copies when the config names none. `groups` and `roles` are not
/// profile attributes: they name the user's groups and admin roles from the directory.
pub const DEFAULT_PROFILE_FIELDS: [&str; 7] = ["email", "department", "title", "manager", "groups", "roles", "status"];

mod enrich;
pub mod entity;
mod model;
mod snapshot;

pub use enrich::Enricher;
pub use model::Directory;
pub use snapshot::{SNAPSHOT_KEYS, snapshot};

/// Checks an enrichment config: names must be non-empty and output names unique.
pub(crate) fn check_enrichment(config: &EnrichmentConfig) -> Result<(), String> {
    if let Some(f) = config.profile_fields.iter().find(|f| f.trim().is_empty()) {
        return Err(format!(
            "enrichment.profile-fields holds an empty name ({f:?}); remove it or name an Okta profile attribute"
        ));
    }
    let mut outputs = std::collections::BTreeSet::new();
    for (attribute, output) in &config.custom_attributes {
        if attribute.trim().is_empty() || output.trim().is_empty() {
            return Err(format!(
                "enrichment.custom-attributes has an empty name in ({attribute:?}, {output:?}); give both the Okta attribute and the output name"
            ));
        }
        if !outputs.insert(output.as_str()) {
            return Err(format!(
                "enrichment.custom-attributes writes {output:?} twice; give each attribute its own output name"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
