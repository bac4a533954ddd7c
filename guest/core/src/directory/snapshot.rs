//! A whole directory as one JSON object, for tools and tests (the CLI's `--directory FILE`, rule
//! tests' `directory:`): `{"users": [..], "groups": [..], "devices": [..], "memberships":
//! {"<group id>": ["<user id>", ..]}, "roles": {"<user id>": [<role assignment>, ..]}, "schema":
//! {..}}`, each object as Okta's API returns it (a role list as `/api/v1/users/{id}/roles` does).

use serde_json::Value;

use super::{DirectoryChange, DirectoryKind, DirectoryObject, DirectoryUpdate, GroupMembers, UserRoles};

/// The keys a snapshot may have.
pub const SNAPSHOT_KEYS: [&str; 6] = ["users", "groups", "devices", "memberships", "roles", "schema"];

/// Reads a snapshot into a full load (`reset`, every object `discovered`). The error names the
/// key at fault and what was expected there.
pub fn snapshot(value: &Value, observed_ms: i64) -> Result<DirectoryUpdate, String> {
    let Value::Object(map) = value else {
        return Err(format!("a directory snapshot must be a JSON object with the keys {}", SNAPSHOT_KEYS.join(", ")));
    };
    if let Some(key) = map.keys().find(|k| !SNAPSHOT_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key {key:?} in the directory snapshot; the keys are {}",
            SNAPSHOT_KEYS.join(", ")
        ));
    }
    let mut update = DirectoryUpdate { reset: true, observed_ms, ..DirectoryUpdate::default() };
    for (key, kind) in
        [("users", DirectoryKind::User), ("groups", DirectoryKind::Group), ("devices", DirectoryKind::Device)]
    {
        let Some(list) = map.get(key) else { continue };
        let Value::Array(items) = list else {
            return Err(format!("{key} must be a list of Okta {key} objects"));
        };
        for (i, item) in items.iter().enumerate() {
            let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
            if id.is_empty() {
                return Err(format!("{key}[{i}] has no \"id\" string"));
            }
            update.objects.push(DirectoryObject {
                kind,
                id: id.to_owned(),
                change: DirectoryChange::Discovered,
                json: item.to_string(),
            });
        }
    }
    if let Some(schema) = map.get("schema") {
        update.objects.push(DirectoryObject {
            kind: DirectoryKind::UserSchema,
            id: "default".into(),
            change: DirectoryChange::Discovered,
            json: schema.to_string(),
        });
    }
    match map.get("memberships") {
        None => {}
        Some(Value::Object(groups)) => {
            for (group, users) in groups {
                let ids = users.as_array().and_then(|a| a.iter().map(|u| u.as_str().map(str::to_owned)).collect());
                let Some(user_ids) = ids else {
                    return Err(format!("memberships.{group} must be a list of user ids (strings)"));
                };
                update.memberships.push(GroupMembers { group_id: group.clone(), user_ids });
            }
        }
        Some(_) => return Err("memberships must be an object: group id → list of user ids".into()),
    }
    match map.get("roles") {
        None => {}
        Some(Value::Object(users)) => {
            for (user, roles) in users {
                if !roles.is_array() {
                    return Err(format!(
                        "roles.{user} must be a list of role assignments (as /api/v1/users/{{id}}/roles returns them)"
                    ));
                }
                update.roles.push(UserRoles { user_id: user.clone(), json: roles.to_string() });
            }
        }
        Some(_) => return Err("roles must be an object: user id → list of role assignments".into()),
    }
    Ok(update)
}
