use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::{BatchOptions, Config, DetectionConfig, Engine, Outcome, OutputOptions};

const T0: i64 = 1_790_000_000_000;

fn config() -> Config {
    Config {
        tenant_id: "acme.okta.com".into(),
        tenant_domain: None,
        output: OutputOptions::default(),
        detection: DetectionConfig::default(),
    }
}

fn engine() -> Engine {
    Engine::new(config()).expect("valid config")
}

fn object(kind: DirectoryKind, id: &str, change: DirectoryChange, json: &Value) -> DirectoryObject {
    DirectoryObject { kind, id: id.into(), change, json: json.to_string() }
}

fn dana() -> Value {
    json!({
        "id": "00uDANA", "status": "ACTIVE", "created": "2024-01-02T03:04:05.000Z", "activated": null,
        "statusChanged": "2024-01-03T00:00:00.000Z", "lastLogin": "2026-10-14T16:00:00.000Z",
        "lastUpdated": "2026-10-01T00:00:00.000Z", "passwordChanged": null, "type": {"id": "otyDEFAULT"},
        "profile": {"login": "Dana.Whitfield@example.com", "email": "dana.whitfield@example.com",
                    "firstName": "Dana", "lastName": "Whitfield", "displayName": null, "department": "Finance",
                    "title": "Controller", "manager": "Ann Boss", "managerId": "00uBOSS", "costCenter": "CC-7",
                    "nickName": null},
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
        "_links": {"self": {"href": "https://acme.okta.com/api/v1/users/00uDANA"}}
    })
}

fn rafael() -> Value {
    json!({"id": "00uRAF", "status": "DEPROVISIONED", "profile": {"login": "rafael.gomez@example.com",
           "email": "rafael.gomez@example.com", "displayName": "Rafael Gómez"}})
}

fn group(id: &str, name: &str) -> Value {
    json!({"id": id, "type": "OKTA_GROUP", "profile": {"name": name, "description": null}})
}

fn laptop() -> Value {
    json!({"id": "guoMBP", "status": "ACTIVE", "created": "2025-05-05T00:00:00.000Z",
           "lastUpdated": "2026-09-09T00:00:00.000Z", "resourceType": "UDDevice",
           "profile": {"displayName": "DANA-MBP-14", "platform": "MACOS", "manufacturer": "APPLE",
                       "model": "MacBookPro18,3", "osVersion": "15.6.1", "serialNumber": "C02XYZ",
                       "registered": true, "secureHardwarePresent": true, "diskEncryptionType": "ALL_INTERNAL_VOLUMES"},
           "_embedded": {"users": [{"created": "2025-05-05T00:00:00.000Z", "managementStatus": "MANAGED",
                                    "screenLockType": "BIOMETRIC", "user": dana()}]}})
}

fn schema() -> Value {
    json!({"id": "https://acme.okta.com/meta/schemas/user/default", "definitions": {
        "base": {"properties": {"login": {"type": "string"}}},
        "custom": {"properties": {"costCenter": {"title": "Cost center", "type": "string"}}}}})
}

fn full_update() -> DirectoryUpdate {
    use DirectoryChange::Discovered as D;
    DirectoryUpdate {
        reset: false,
        objects: vec![
            object(DirectoryKind::UserSchema, "default", D, &schema()),
            object(DirectoryKind::User, "00uDANA", D, &dana()),
            object(DirectoryKind::User, "00uRAF", D, &rafael()),
            object(DirectoryKind::Group, "00gFIN", D, &group("00gFIN", "Finance")),
            object(DirectoryKind::Group, "00gADM", D, &group("00gADM", "Okta Admins")),
            object(DirectoryKind::Device, "guoMBP", D, &laptop()),
        ],
        memberships: vec![GroupMembers { group_id: "00gFIN".into(), user_ids: vec!["00uDANA".into()] }],
        roles: Vec::new(),
        observed_ms: T0,
    }
}

fn doc(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Normalized(n) => serde_json::from_str(&n.document).expect("documents are JSON"),
        Outcome::Failed(e) => panic!("failed: {}", e.message),
    }
}

fn normalize(engine: &mut Engine, event: &Value) -> Value {
    let result = engine.normalize(event.to_string().as_bytes(), &BatchOptions::default()).expect("a batch");
    doc(&result.outcomes[0].outcome)
}

fn sign_in(actor_id: &str, login: &str, device: Option<&str>) -> Value {
    let mut e = json!({"uuid": "11111111-2222-3333-4444-555555555555", "published": "2026-10-14T16:05:39.870Z",
        "eventType": "user.session.start", "severity": "INFO", "outcome": {"result": "SUCCESS"},
        "actor": {"id": actor_id, "type": "User", "alternateId": login, "displayName": "Dana Whitfield"},
        "target": [{"id": "00uRAF", "type": "User", "alternateId": "rafael.gomez@example.com"},
                   {"id": "0oaAPP", "type": "AppInstance", "displayName": "Okta Dashboard"}]});
    if let Some(id) = device {
        e["device"] = json!({"id": id, "name": "X", "managed": false});
    }
    e
}

#[test]
fn a_full_load_holds_everything_and_documents_users_then_devices() {
    let mut engine = engine();
    let result = engine.update_directory(full_update());
    assert!(result.problems.is_empty(), "{:?}", result.problems);
    assert_eq!((result.users, result.groups, result.devices), (2, 2, 1));
    let ids: Vec<_> = result.entities.iter().map(|e| (e.kind, e.id.as_str(), e.change)).collect();
    assert_eq!(
        ids,
        [
            (DirectoryKind::User, "00uDANA", DirectoryChange::Discovered),
            (DirectoryKind::User, "00uRAF", DirectoryChange::Discovered),
            (DirectoryKind::Device, "guoMBP", DirectoryChange::Discovered),
        ]
    );
}

#[test]
fn a_reset_loads_without_documents() {
    let mut engine = engine();
    let result = engine.update_directory(DirectoryUpdate { reset: true, ..full_update() });
    assert!(result.entities.is_empty(), "a reset is a load, not a change");
    assert_eq!((result.users, result.groups, result.devices), (2, 2, 1));
    let doc = normalize(&mut engine, &sign_in("00uDANA", "dana", None));
    assert_eq!(doc["okta"]["enrichment"]["actor"]["known"], true);
}

#[test]
fn user_entity_document_golden() {
    let result = engine().update_directory(full_update());
    assert_eq!(
        result.entities[0].document,
        concat!(
            r#"{"@timestamp":"2026-09-21T14:13:20.000Z","asset":{"category":"entity","create_date":"2024-01-02T03:04:05.000Z","#,
            r#""id":"00uDANA","last_seen":"2026-10-14T16:00:00.000Z","last_status_change_date":"2024-01-03T00:00:00.000Z","#,
            r#""last_updated":"2026-10-01T00:00:00.000Z","name":"Dana.Whitfield@example.com","status":"ACTIVE","type":"okta_user"},"#,
            r#""ecs":{"version":"8.11.0"},"event":{"action":"user-discovered","category":["iam"],"dataset":"okta.user","#,
            r#""kind":"asset","module":"okta","type":["user","creation"]},"okta":{"user":{"created":"2024-01-02T03:04:05.000Z","#,
            r#""credentials_provider":{"name":"OKTA","type":"OKTA"},"id":"00uDANA","last_login":"2026-10-14T16:00:00.000Z","#,
            r#""last_updated":"2026-10-01T00:00:00.000Z","profile":{"costCenter":"CC-7","department":"Finance","#,
            r#""email":"dana.whitfield@example.com","firstName":"Dana","lastName":"Whitfield","login":"Dana.Whitfield@example.com","#,
            r#""manager":"Ann Boss","managerId":"00uBOSS","title":"Controller"},"status":"ACTIVE","#,
            r#""status_changed":"2024-01-03T00:00:00.000Z","type_id":"otyDEFAULT"}},"organization":{"id":"acme.okta.com"},"#,
            r#""related":{"user":["00uDANA","Dana.Whitfield@example.com","dana.whitfield@example.com"]},"#,
            r#""user":{"account":{"change_date":"2024-01-03T00:00:00.000Z","create_date":"2024-01-02T03:04:05.000Z","#,
            r#""status":{"deprovisioned":false,"locked_out":false,"password_expired":false,"recovery":false,"suspended":false}},"#,
            r#""email":"dana.whitfield@example.com","full_name":"Dana Whitfield","group":{"id":["00gFIN"],"name":["Finance"]},"#,
            r#""id":"00uDANA","name":"Dana.Whitfield@example.com"}}"#
        )
    );
    let rafael: Value = serde_json::from_str(&result.entities[1].document).expect("JSON");
    assert_eq!(rafael["user"]["account"]["status"]["deprovisioned"], true);
    assert_eq!(rafael["asset"]["status"], "DEPROVISIONED");
}

#[test]
fn device_entity_document_golden() {
    let result = engine().update_directory(full_update());
    assert_eq!(
        result.entities[2].document,
        concat!(
            r#"{"@timestamp":"2026-09-21T14:13:20.000Z","asset":{"category":"entity","create_date":"2025-05-05T00:00:00.000Z","#,
            r#""id":"guoMBP","last_updated":"2026-09-09T00:00:00.000Z","name":"DANA-MBP-14","status":"ACTIVE","type":"okta_device"},"#,
            r#""device":{"id":"guoMBP","manufacturer":"APPLE","model":{"name":"MacBookPro18,3"},"serial_number":"C02XYZ"},"#,
            r#""ecs":{"version":"8.11.0"},"event":{"action":"device-discovered","category":["host"],"dataset":"okta.device","#,
            r#""kind":"asset","module":"okta","type":["info"]},"host":{"name":"DANA-MBP-14","os":{"platform":"MACOS","version":"15.6.1"}},"#,
            r#""okta":{"device":{"created":"2025-05-05T00:00:00.000Z","id":"guoMBP","last_updated":"2026-09-09T00:00:00.000Z","#,
            r#""managed":true,"profile":{"diskEncryptionType":"ALL_INTERNAL_VOLUMES","displayName":"DANA-MBP-14","#,
            r#""manufacturer":"APPLE","model":"MacBookPro18,3","osVersion":"15.6.1","platform":"MACOS","registered":true,"#,
            r#""secureHardwarePresent":true,"serialNumber":"C02XYZ"},"registered":true,"resource_type":"UDDevice","#,
            r#""status":"ACTIVE","users":[{"created":"2025-05-05T00:00:00.000Z","id":"00uDANA","#,
            r#""login":"Dana.Whitfield@example.com","management_status":"MANAGED","screen_lock_type":"BIOMETRIC"}]}},"#,
            r#""organization":{"id":"acme.okta.com"},"related":{"user":["Dana.Whitfield@example.com"]}}"#
        )
    );
}

/// A device keeps Okta's copy of its user from when the device last changed; its document names
/// the user by the directory's current login (renamed since), and by the copy for a user the
/// directory does not hold.
#[test]
fn a_device_names_its_user_by_the_current_login() {
    let mut engine = engine();
    engine.update_directory(full_update());
    let mut renamed = dana();
    renamed["profile"]["login"] = json!("dana.w@example.com");
    renamed["lastUpdated"] = json!("2026-11-01T00:00:00.000Z");
    let mut laptop = laptop();
    laptop["lastUpdated"] = json!("2026-11-02T00:00:00.000Z");
    let update = |objects| DirectoryUpdate { objects, observed_ms: T0, ..DirectoryUpdate::default() };
    let result = engine.update_directory(update(vec![
        object(DirectoryKind::User, "00uDANA", DirectoryChange::Modified, &renamed),
        object(DirectoryKind::Device, "guoMBP", DirectoryChange::Modified, &laptop),
    ]));
    let device: Value = serde_json::from_str(&result.entities.last().expect("the device").document).expect("json");
    assert_eq!(device["okta"]["device"]["users"][0]["login"], "dana.w@example.com");
    assert_eq!(device["related"]["user"], json!(["dana.w@example.com"]));

    let result = engine.update_directory(update(vec![
        object(DirectoryKind::User, "00uDANA", DirectoryChange::Deleted, &renamed),
        object(DirectoryKind::Device, "guoMBP", DirectoryChange::Modified, &laptop),
    ]));
    let device: Value = serde_json::from_str(&result.entities.last().expect("the device").document).expect("json");
    assert_eq!(device["okta"]["device"]["users"][0]["login"], "Dana.Whitfield@example.com", "the device's copy");
}

/// Okta changes no device when its user is renamed, so an incremental sync brings the user alone;
/// the user's devices get new documents under the new login all the same, and a change that keeps
/// the login writes none.
#[test]
fn a_renamed_user_rewrites_the_documents_of_the_users_devices() {
    let mut engine = engine();
    engine.update_directory(full_update());
    let mut apply = |user: &Value| {
        let objects = vec![object(DirectoryKind::User, "00uDANA", DirectoryChange::Modified, user)];
        engine.update_directory(DirectoryUpdate { objects, observed_ms: T0, ..DirectoryUpdate::default() })
    };
    let written = |result: &DirectoryResult| -> Vec<(DirectoryKind, String)> {
        result.entities.iter().map(|e| (e.kind, e.id.clone())).collect()
    };
    let mut title_only = dana();
    title_only["profile"]["title"] = json!("Principal Engineer");
    let result = apply(&title_only);
    assert_eq!(written(&result), [(DirectoryKind::User, "00uDANA".to_owned())], "the login did not change");

    let mut renamed = title_only.clone();
    renamed["profile"]["login"] = json!("dana.w@example.com");
    let result = apply(&renamed);
    assert_eq!(
        written(&result),
        [(DirectoryKind::User, "00uDANA".to_owned()), (DirectoryKind::Device, "guoMBP".to_owned())]
    );
    let device: Value = serde_json::from_str(&result.entities[1].document).expect("json");
    assert_eq!(device["okta"]["device"]["users"][0]["login"], "dana.w@example.com");
    assert_eq!(result.entities[1].change, DirectoryChange::Modified);
}

#[test]
fn bad_objects_are_problems_and_the_rest_is_applied() {
    let mut engine = engine();
    let update = DirectoryUpdate {
        reset: false,
        objects: vec![
            DirectoryObject {
                kind: DirectoryKind::User,
                id: "00uX".into(),
                change: DirectoryChange::Discovered,
                json: "{not json".into(),
            },
            DirectoryObject {
                kind: DirectoryKind::Device,
                id: "guoY".into(),
                change: DirectoryChange::Modified,
                json: "[1]".into(),
            },
            object(DirectoryKind::User, "00uOTHER", DirectoryChange::Discovered, &dana()),
            object(DirectoryKind::Group, "", DirectoryChange::Discovered, &json!({"profile": {"name": "x"}})),
            object(DirectoryKind::User, "00uRAF", DirectoryChange::Discovered, &rafael()),
        ],
        memberships: vec![GroupMembers { group_id: String::new(), user_ids: vec!["00uRAF".into()] }],
        roles: Vec::new(),
        observed_ms: T0,
    };
    let result = engine.update_directory(update);
    let codes: Vec<_> = result.problems.iter().map(|p| (p.code, p.id.as_str())).collect();
    assert_eq!(codes, [("Y001", "00uX"), ("Y002", "guoY"), ("Y003", "00uOTHER"), ("Y003", ""), ("Y004", "")]);
    assert!(result.problems[0].message.contains("not valid JSON"), "{}", result.problems[0].message);
    assert!(result.problems[1].message.contains("an array instead of a JSON object"));
    assert!(result.problems[2].message.contains("\"00uOTHER\" but its JSON says \"00uDANA\""));
    assert_eq!((result.users, result.groups, result.devices), (1, 0, 0));
}

#[test]
fn a_membership_change_documents_only_the_users_it_moved() {
    let mut engine = engine();
    engine.update_directory(full_update());
    let result = engine.update_directory(DirectoryUpdate {
        reset: false,
        objects: Vec::new(),
        memberships: vec![GroupMembers { group_id: "00gADM".into(), user_ids: vec!["00uRAF".into()] }],
        roles: Vec::new(),
        observed_ms: T0 + 1000,
    });
    assert_eq!(result.entities.len(), 1);
    assert_eq!((result.entities[0].id.as_str(), result.entities[0].change), ("00uRAF", DirectoryChange::Modified));
    let doc: Value = serde_json::from_str(&result.entities[0].document).expect("JSON");
    assert_eq!(doc["user"]["group"], json!({"id": ["00gADM"], "name": ["Okta Admins"]}));
    assert_eq!(doc["event"]["action"], "user-modified");

    // The same list again changes nothing.
    let again = engine.update_directory(DirectoryUpdate {
        memberships: vec![GroupMembers { group_id: "00gADM".into(), user_ids: vec!["00uRAF".into()] }],
        ..DirectoryUpdate::default()
    });
    assert!(again.entities.is_empty());
}

#[test]
fn a_renamed_group_documents_its_members() {
    let mut engine = engine();
    engine.update_directory(full_update());
    let rename = |name: &str| DirectoryUpdate {
        objects: vec![object(DirectoryKind::Group, "00gFIN", DirectoryChange::Modified, &group("00gFIN", name))],
        observed_ms: T0,
        ..DirectoryUpdate::default()
    };
    let result = engine.update_directory(rename("Finance & Accounting"));
    assert_eq!(result.entities.len(), 1);
    assert_eq!(result.entities[0].id, "00uDANA");
    assert!(result.entities[0].document.contains(r#""group":{"id":["00gFIN"],"name":["Finance & Accounting"]}"#));
    assert!(engine.update_directory(rename("Finance & Accounting")).entities.is_empty(), "same name, no documents");
}

#[test]
fn deletion_forgets_the_object_and_its_memberships() {
    let mut engine = engine();
    engine.update_directory(full_update());
    let result = engine.update_directory(DirectoryUpdate {
        objects: vec![
            object(DirectoryKind::User, "00uDANA", DirectoryChange::Deleted, &dana()),
            DirectoryObject {
                kind: DirectoryKind::Device,
                id: "guoMBP".into(),
                change: DirectoryChange::Deleted,
                json: String::new(),
            },
        ],
        observed_ms: T0,
        ..DirectoryUpdate::default()
    });
    assert_eq!((result.users, result.devices), (1, 0));
    assert_eq!(result.problems.len(), 1, "the unreadable deleted device is reported but still removed");
    assert_eq!(result.entities.len(), 1);
    let doc: Value = serde_json::from_str(&result.entities[0].document).expect("JSON");
    assert_eq!(doc["event"]["action"], "user-deleted");
    assert_eq!(doc["event"]["type"], json!(["user", "deletion"]));
    assert!(doc["user"].get("group").is_none());
    let mut e = engine;
    let event = normalize(&mut e, &sign_in("00uDANA", "dana.whitfield@example.com", None));
    assert_eq!(event["okta"]["enrichment"]["actor"], json!({"known": false, "id": "00uDANA"}));
}

#[test]
fn without_a_directory_documents_are_unchanged() {
    let event = sign_in("00uDANA", "dana.whitfield@example.com", Some("guoMBP"));
    let plain = normalize(&mut engine(), &event);
    let mut emptied = engine();
    emptied.update_directory(full_update());
    emptied.update_directory(DirectoryUpdate { reset: true, ..DirectoryUpdate::default() });
    assert_eq!(normalize(&mut emptied, &event), plain);
    assert!(plain["okta"].get("enrichment").is_none());
}

#[test]
fn events_gain_the_actor_targets_and_device() {
    let mut engine = engine();
    engine
        .set_enrichment(EnrichmentConfig {
            profile_fields: Vec::new(),
            custom_attributes: vec![("costCenter".into(), "cost_center".into())],
        })
        .expect("valid");
    let result = engine.update_directory(full_update());
    assert!(result.problems.is_empty());
    // By login, case-insensitively, when the id is not the directory's.
    let doc = normalize(&mut engine, &sign_in("00uELSEWHERE", "DANA.WHITFIELD@EXAMPLE.COM", Some("guoMBP")));
    assert_eq!(
        doc["okta"]["enrichment"],
        json!({
            "actor": {"known": true, "id": "00uDANA", "login": "Dana.Whitfield@example.com",
                      "email": "dana.whitfield@example.com", "department": "Finance", "title": "Controller",
                      "manager": "Ann Boss", "manager_id": "00uBOSS",
                      "groups": {"id": ["00gFIN"], "name": ["Finance"]}, "status": "ACTIVE", "cost_center": "CC-7"},
            "targets": [{"known": true, "id": "00uRAF", "login": "rafael.gomez@example.com",
                         "email": "rafael.gomez@example.com", "groups": {"id": [], "name": []},
                         "status": "DEPROVISIONED"}],
            "device": {"known": true, "id": "guoMBP", "status": "ACTIVE", "display_name": "DANA-MBP-14",
                       "platform": "MACOS", "os_version": "15.6.1", "disk_encryption_type": "ALL_INTERNAL_VOLUMES",
                       "managed": true, "registered": true, "secure_hardware_present": true, "actor_linked": true}
        })
    );
    // The event's own value wins; the directory fills only what is missing.
    assert_eq!(doc["user"]["email"], "DANA.WHITFIELD@EXAMPLE.COM");
    assert_eq!(doc["user"]["group"], json!({"id": ["00gFIN"], "name": ["Finance"]}));
    assert_eq!(doc["user"]["target"]["email"], "rafael.gomez@example.com");
    assert_eq!(
        doc["device"],
        json!({"id": "guoMBP", "manufacturer": "APPLE", "model": {"name": "MacBookPro18,3"},
                                     "serial_number": "C02XYZ"})
    );

    let unknown = normalize(&mut engine, &sign_in("00uDANA", "x", Some("guoNOPE")));
    assert_eq!(unknown["okta"]["enrichment"]["device"], json!({"known": false, "id": "guoNOPE"}));
}

#[test]
fn configured_fields_limit_what_is_copied() {
    let mut engine = engine();
    engine
        .set_enrichment(EnrichmentConfig {
            profile_fields: vec!["title".into(), "lastLogin".into()],
            ..Default::default()
        })
        .expect("valid");
    engine.update_directory(full_update());
    let doc = normalize(&mut engine, &sign_in("00uDANA", "dana", None));
    assert_eq!(
        doc["okta"]["enrichment"]["actor"],
        json!({"known": true, "id": "00uDANA", "login": "Dana.Whitfield@example.com", "title": "Controller",
               "last_login": "2026-10-14T16:00:00.000Z"})
    );
    assert!(doc["user"].get("email").is_none(), "email is not among the fields");
    assert!(doc["user"].get("group").is_none());
}

#[test]
fn bad_enrichment_configs_are_refused() {
    let mut engine = engine();
    let twice = EnrichmentConfig {
        profile_fields: Vec::new(),
        custom_attributes: vec![("a".into(), "x".into()), ("b".into(), "x".into())],
    };
    let e = engine.set_enrichment(twice).expect_err("two attributes into one name");
    assert_eq!(e.field, "enrichment");
    assert!(e.message.contains("\"x\" twice"), "{}", e.message);
    let e = engine.set_enrichment(EnrichmentConfig { profile_fields: vec![" ".into()], ..Default::default() });
    assert!(e.is_err());
}

#[test]
fn a_custom_attribute_missing_from_the_schema_is_reported() {
    let mut engine = engine();
    engine
        .set_enrichment(EnrichmentConfig {
            profile_fields: Vec::new(),
            custom_attributes: vec![("costCentre".into(), "cost_center".into())],
        })
        .expect("valid");
    let result = engine.update_directory(full_update());
    assert_eq!(result.problems.len(), 1);
    assert_eq!(result.problems[0].code, "Y005");
    assert!(result.problems[0].message.contains("\"costCentre\""));
}

#[test]
fn the_same_snapshot_in_any_order_gives_the_same_output() {
    let mut a = engine();
    let mut b = engine();
    let ra = a.update_directory(full_update());
    let mut shuffled = full_update();
    shuffled.objects.reverse();
    let rb = b.update_directory(shuffled);
    assert_eq!(ra, rb);
    let event = sign_in("00uDANA", "dana", Some("guoMBP"));
    assert_eq!(normalize(&mut a, &event), normalize(&mut b, &event));
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9@. ]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("profile".to_owned()),
                    Just("login".to_owned()),
                    Just("status".to_owned()),
                    Just("_embedded".to_owned()),
                    Just("users".to_owned()),
                    Just("user".to_owned()),
                    Just("definitions".to_owned()),
                    Just("type".to_owned()),
                    Just("label".to_owned()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn kind() -> impl Strategy<Value = DirectoryKind> {
    prop_oneof![
        Just(DirectoryKind::User),
        Just(DirectoryKind::Group),
        Just(DirectoryKind::Device),
        Just(DirectoryKind::UserSchema)
    ]
}

fn change() -> impl Strategy<Value = DirectoryChange> {
    prop_oneof![
        Just(DirectoryChange::Discovered),
        Just(DirectoryChange::Modified),
        Just(DirectoryChange::Deprovisioned),
        Just(DirectoryChange::Deleted)
    ]
}

/// Random objects never panic, every entity is JSON, and events still normalize. One engine for
/// every case (each update starts with `reset`), since building engines dominates the time.
#[test]
fn random_objects_never_panic() {
    let engine = std::cell::RefCell::new(engine());
    let objects = prop::collection::vec((kind(), "(00u|guo|00g)[A-C]{0,1}", change(), json_value()), 0..8);
    let members = prop::collection::vec(("00g[A-C]{0,1}", prop::collection::vec("00u[A-C]{0,1}", 0..3)), 0..3);
    let roles = prop::collection::vec(("(00u[A-C]){0,1}", json_value()), 0..3);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&(objects, members, roles, "00u[A-C]{0,1}"), |(objects, members, roles, actor)| {
            let mut engine = engine.borrow_mut();
            let update = DirectoryUpdate {
                reset: true,
                objects: objects.iter().map(|(k, id, c, j)| object(*k, id, *c, j)).collect(),
                memberships: members
                    .into_iter()
                    .map(|(group_id, user_ids)| GroupMembers { group_id, user_ids })
                    .collect(),
                roles: roles
                    .into_iter()
                    .map(|(user_id, json)| {
                        // Mostly arrays of objects, as Okta sends them; sometimes anything.
                        let json = match json {
                            Value::Object(_) => Value::Array(vec![json]),
                            other => other,
                        };
                        UserRoles { user_id, json: json.to_string() }
                    })
                    .collect(),
                observed_ms: T0,
            };
            let result = engine.update_directory(update);
            for e in &result.entities {
                prop_assert!(serde_json::from_str::<Value>(&e.document).is_ok());
            }
            let doc = normalize(&mut engine, &sign_in(&actor, "someone", Some("guoA")));
            prop_assert!(doc.is_object());
            Ok(())
        })
        .expect("no input panics or writes broken JSON");
}

#[test]
fn the_admin_group_rule_reads_enriched_groups() {
    let grant = json!({"uuid": "g1", "published": "2026-10-14T16:05:39.870Z", "eventType": "user.account.privilege.grant",
        "outcome": {"result": "SUCCESS"},
        "actor": {"id": "00uDANA", "type": "User", "alternateId": "dana.whitfield@example.com"},
        "target": [{"id": "00uRAF", "type": "User", "alternateId": "rafael.gomez@example.com"}],
        "debugContext": {"debugData": {"privilegeGranted": "Super administrator"}}});
    let fired = |in_admin_group: bool| {
        let mut cfg = config();
        cfg.detection.builtin_rules = true;
        cfg.detection.placeholders = vec![("okta_admin_groups".into(), vec!["Okta Admins".into()])];
        let mut engine = Engine::new(cfg).expect("valid config");
        let mut update = full_update();
        if in_admin_group {
            update.memberships.push(GroupMembers { group_id: "00gADM".into(), user_ids: vec!["00uRAF".into()] });
        }
        engine.update_directory(update);
        let result = engine.normalize(grant.to_string().as_bytes(), &BatchOptions::default()).expect("a batch");
        result.alerts.iter().any(|a| a.rule_name == "okta_admin_privilege_granted_outside_admin_groups")
    };
    assert!(fired(false), "a grant to a user in no admin group fires");
    assert!(!fired(true), "a grant to a member of an allowed admin group does not");
}

// ----- admin roles -------------------------------------------------------------------------------

fn role(id: &str, kind: &str, label: &str, assignment: &str) -> Value {
    json!({"id": id, "label": label, "type": kind, "status": "ACTIVE", "created": "2024-05-01T00:00:00.000Z",
           "lastUpdated": "2024-05-01T00:00:00.000Z", "assignmentType": assignment,
           "_links": {"assignee": {"href": "https://acme.okta.com/api/v1/users/00uDANA"}}})
}

/// Dana's roles as Okta lists them: direct ones, one through a group (a second grant of a type she
/// already has), a custom role and an inactive one.
fn dana_roles() -> Value {
    let mut custom = role("ra1CUSTOM", "CUSTOM", "Security Auditor", "USER");
    custom["role"] = json!("cr0AUDIT");
    custom["resource-set"] = json!("iamAUDIT");
    let mut inactive = role("ra1OLD", "APP_ADMIN", "Application Administrator", "USER");
    inactive["status"] = json!("INACTIVE");
    json!([
        role("ra1SUPER", "SUPER_ADMIN", "Super Administrator", "USER"),
        role("ra1HELPG", "HELP_DESK_ADMIN", "Help Desk Administrator", "GROUP"),
        custom,
        role("ra1HELP", "HELP_DESK_ADMIN", "Help Desk Administrator", "USER"),
        inactive,
    ])
}

fn roles_of(user: &str, roles: &Value) -> DirectoryUpdate {
    DirectoryUpdate {
        roles: vec![UserRoles { user_id: user.into(), json: roles.to_string() }],
        observed_ms: T0 + 1000,
        ..DirectoryUpdate::default()
    }
}

#[test]
fn roles_go_into_the_user_entity_document() {
    let mut update = full_update();
    update.roles = vec![UserRoles { user_id: "00uDANA".into(), json: dana_roles().to_string() }];
    let result = engine().update_directory(update);
    assert!(result.problems.is_empty(), "{:?}", result.problems);
    let doc: Value = serde_json::from_str(&result.entities[0].document).expect("JSON");
    assert_eq!(doc["event"]["action"], "user-discovered", "discovered with its roles, one document");
    // Active roles only: standard ones by type, custom ones by label; sorted and unique.
    assert_eq!(doc["user"]["roles"], json!(["HELP_DESK_ADMIN", "SUPER_ADMIN", "Security Auditor"]));
    // The detail, in a fixed order (by assignment id), keys in output order.
    assert!(
        result.entities[0].document.contains(concat!(
            r#""profile":{"costCenter":"CC-7","department":"Finance","email":"dana.whitfield@example.com","#,
            r#""firstName":"Dana","lastName":"Whitfield","login":"Dana.Whitfield@example.com","manager":"Ann Boss","#,
            r#""managerId":"00uBOSS","title":"Controller"},"roles":[{"assignment_type":"USER","id":"ra1CUSTOM","#,
            r#""label":"Security Auditor","resource_set":"iamAUDIT","role_id":"cr0AUDIT","status":"ACTIVE","type":"CUSTOM"},"#,
            r#"{"assignment_type":"USER","id":"ra1HELP","label":"Help Desk Administrator","status":"ACTIVE","type":"HELP_DESK_ADMIN"},"#,
            r#"{"assignment_type":"GROUP","id":"ra1HELPG","label":"Help Desk Administrator","status":"ACTIVE","type":"HELP_DESK_ADMIN"},"#,
            r#"{"assignment_type":"USER","id":"ra1OLD","label":"Application Administrator","status":"INACTIVE","type":"APP_ADMIN"},"#,
            r#"{"assignment_type":"USER","id":"ra1SUPER","label":"Super Administrator","status":"ACTIVE","type":"SUPER_ADMIN"}],"#,
            r#""status":"ACTIVE","status_changed""#,
        )),
        "{}",
        result.entities[0].document
    );
    let rafael: Value = serde_json::from_str(&result.entities[1].document).expect("JSON");
    assert!(rafael["user"].get("roles").is_none(), "no roles, no key");
    assert!(rafael["okta"]["user"].get("roles").is_none());
}

#[test]
fn a_roles_change_documents_only_that_user() {
    let mut engine = engine();
    engine.update_directory(full_update());
    let granted = engine.update_directory(roles_of(
        "00uRAF",
        &json!([role("ra1RO", "READ_ONLY_ADMIN", "Read-only Administrator", "USER")]),
    ));
    let ids: Vec<_> = granted.entities.iter().map(|e| (e.id.as_str(), e.change)).collect();
    assert_eq!(ids, [("00uRAF", DirectoryChange::Modified)]);
    let doc: Value = serde_json::from_str(&granted.entities[0].document).expect("JSON");
    assert_eq!(doc["user"]["roles"], json!(["READ_ONLY_ADMIN"]));
    assert_eq!(doc["event"]["action"], "user-modified");
    assert_eq!(doc["user"]["group"], Value::Null, "rafael is in no group");

    // The same list, in another order or not, changes nothing.
    let same = engine.update_directory(roles_of(
        "00uRAF",
        &json!([role("ra1RO", "READ_ONLY_ADMIN", "Read-only Administrator", "USER")]),
    ));
    assert!(same.entities.is_empty());
    let mut reversed = dana_roles();
    engine.update_directory(roles_of("00uDANA", &reversed));
    reversed.as_array_mut().expect("array").reverse();
    assert!(engine.update_directory(roles_of("00uDANA", &reversed)).entities.is_empty(), "order does not matter");

    // Revoked: `[]`, and the document has no roles any more.
    let revoked = engine.update_directory(roles_of("00uRAF", &json!([])));
    assert_eq!(revoked.entities.len(), 1);
    let doc: Value = serde_json::from_str(&revoked.entities[0].document).expect("JSON");
    assert!(doc["user"].get("roles").is_none());
    assert!(engine.update_directory(roles_of("00uRAF", &json!([]))).entities.is_empty());

    // Roles of a user the directory does not hold are kept, and documented once the user arrives.
    assert!(engine.update_directory(roles_of("00uNEW", &dana_roles())).entities.is_empty());
    let mut newcomer = dana();
    newcomer["id"] = json!("00uNEW");
    newcomer["profile"]["login"] = json!("new@example.com");
    let arrived = engine.update_directory(DirectoryUpdate {
        objects: vec![object(DirectoryKind::User, "00uNEW", DirectoryChange::Discovered, &newcomer)],
        observed_ms: T0,
        ..DirectoryUpdate::default()
    });
    let doc: Value = serde_json::from_str(&arrived.entities[0].document).expect("JSON");
    assert_eq!(doc["user"]["roles"], json!(["HELP_DESK_ADMIN", "SUPER_ADMIN", "Security Auditor"]));

    // A deleted user's document carries no roles, like no groups.
    engine.update_directory(roles_of(
        "00uRAF",
        &json!([role("ra1RO", "READ_ONLY_ADMIN", "Read-only Administrator", "USER")]),
    ));
    let deleted = engine.update_directory(DirectoryUpdate {
        objects: vec![object(DirectoryKind::User, "00uRAF", DirectoryChange::Deleted, &rafael())],
        observed_ms: T0,
        ..DirectoryUpdate::default()
    });
    let doc: Value = serde_json::from_str(&deleted.entities[0].document).expect("JSON");
    assert!(doc["user"].get("roles").is_none() && doc["okta"]["user"].get("roles").is_none(), "{doc}");
}

#[test]
fn unreadable_role_lists_are_problems_and_change_nothing() {
    let mut engine = engine();
    engine.update_directory(full_update());
    engine.update_directory(roles_of("00uDANA", &dana_roles()));
    let result = engine.update_directory(DirectoryUpdate {
        roles: vec![
            UserRoles { user_id: "00uDANA".into(), json: "[{not json".into() },
            UserRoles { user_id: "00uDANA".into(), json: r#"{"type":"SUPER_ADMIN"}"#.into() },
            UserRoles { user_id: String::new(), json: "[]".into() },
            UserRoles {
                user_id: "00uRAF".into(),
                json: json!([7, role("ra1RO", "READ_ONLY_ADMIN", "Read-only Administrator", "USER")]).to_string(),
            },
        ],
        observed_ms: T0,
        ..DirectoryUpdate::default()
    });
    let codes: Vec<_> = result.problems.iter().map(|p| (p.code, p.id.as_str())).collect();
    assert_eq!(codes, [("Y006", "00uDANA"), ("Y006", "00uDANA"), ("Y007", ""), ("Y008", "00uRAF")]);
    assert!(result.problems[0].message.contains("not valid JSON"), "{}", result.problems[0].message);
    assert!(result.problems[1].message.contains("an object instead of a JSON array"), "{}", result.problems[1].message);
    assert!(result.problems[3].message.contains("role assignment 0 of user \"00uRAF\" is a number"));
    // Dana keeps her roles; Rafael gets the readable one.
    let ids: Vec<_> = result.entities.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["00uRAF"]);
    let doc = normalize(&mut engine, &sign_in("00uDANA", "dana", None));
    assert_eq!(doc["user"]["roles"], json!(["HELP_DESK_ADMIN", "SUPER_ADMIN", "Security Auditor"]));
}

#[test]
fn events_carry_the_actors_and_targets_roles() {
    let mut engine = engine();
    engine.update_directory(full_update());
    engine.update_directory(roles_of("00uDANA", &dana_roles()));
    let doc = normalize(&mut engine, &sign_in("00uDANA", "dana", None));
    let names = json!(["HELP_DESK_ADMIN", "SUPER_ADMIN", "Security Auditor"]);
    assert_eq!(doc["user"]["roles"], names);
    assert_eq!(doc["okta"]["enrichment"]["actor"]["roles"], names);
    assert!(doc["okta"]["enrichment"]["targets"][0].get("roles").is_none(), "rafael holds no role");

    // Rafael as the actor, Dana as the target.
    let mut event = sign_in("00uRAF", "rafael.gomez@example.com", None);
    event["target"] = json!([{"id": "00uDANA", "type": "User", "alternateId": "dana.whitfield@example.com"}]);
    let doc = normalize(&mut engine, &event);
    assert!(doc["user"].get("roles").is_none());
    assert!(doc["okta"]["enrichment"]["actor"].get("roles").is_none());
    assert_eq!(doc["okta"]["enrichment"]["targets"][0]["roles"], names);

    // `roles` is one of the configurable fields: left out, nothing is copied.
    engine
        .set_enrichment(EnrichmentConfig { profile_fields: vec!["email".into()], ..Default::default() })
        .expect("valid");
    let doc = normalize(&mut engine, &sign_in("00uDANA", "dana", None));
    assert!(doc["user"].get("roles").is_none());
    assert!(doc["okta"]["enrichment"]["actor"].get("roles").is_none());
}

#[test]
fn a_snapshot_reads_roles() {
    let value = json!({"users": [dana()], "roles": {"00uDANA": dana_roles()}});
    let update = snapshot(&value, T0).expect("valid");
    assert_eq!(update.roles, [UserRoles { user_id: "00uDANA".into(), json: dana_roles().to_string() }]);
    let mut engine = engine();
    engine.update_directory(update);
    let doc = normalize(&mut engine, &sign_in("00uDANA", "dana", None));
    assert_eq!(doc["user"]["roles"], json!(["HELP_DESK_ADMIN", "SUPER_ADMIN", "Security Auditor"]));
    let bad = snapshot(&json!({"roles": {"00uDANA": {"type": "SUPER_ADMIN"}}}), T0).expect_err("not a list");
    assert!(bad.contains("roles.00uDANA must be a list"), "{bad}");
    let bad = snapshot(&json!({"roles": []}), T0).expect_err("not an object");
    assert!(bad.contains("roles must be an object"), "{bad}");
}

#[derive(Debug, Clone)]
enum DeviceOp {
    /// Device `d` now lists these users (by index).
    Link(u8, Vec<u8>),
    Delete(u8),
    /// User `u` gets a new login.
    Rename(u8),
    /// The whole directory again, as a full sync's first batch after a reset.
    Reset,
}

fn device_op() -> impl Strategy<Value = DeviceOp> {
    prop_oneof![
        5 => (0u8..5, prop::collection::vec(0u8..4, 0..3)).prop_map(|(d, users)| DeviceOp::Link(d, users)),
        1 => (0u8..5).prop_map(DeviceOp::Delete),
        3 => (0u8..4).prop_map(DeviceOp::Rename),
        1 => Just(DeviceOp::Reset),
    ]
}

proptest! {
    /// A rename writes new documents for exactly the devices that list the user at that moment,
    /// however devices were linked, relinked, deleted or reset before.
    #[test]
    fn a_rename_rewrites_exactly_the_devices_that_list_the_user(ops in prop::collection::vec(device_op(), 1..40)) {
        let user = |u: u8, n: usize| {
            json!({"id": format!("00u{u}"), "status": "ACTIVE",
                   "profile": {"login": format!("user{u}.v{n}@example.com"), "email": format!("user{u}@example.com")}})
        };
        let device = |d: u8, users: &[u8]| {
            let links: Vec<Value> = users.iter().map(|&u| json!({"managementStatus": "MANAGED", "user": user(u, 0)})).collect();
            json!({"id": format!("guo{d}"), "status": "ACTIVE", "profile": {"displayName": format!("D{d}")},
                   "_embedded": {"users": links}})
        };
        let users = || (0u8..4).map(|u| object(DirectoryKind::User, &format!("00u{u}"), DirectoryChange::Discovered, &user(u, 0)));
        // No rules: only the directory is under test, and loading the pack for every case is slow.
        let mut engine = Engine::new(Config { detection: DetectionConfig { builtin_rules: false, ..DetectionConfig::default() }, ..config() })
            .expect("valid config");
        engine.update_directory(DirectoryUpdate { objects: users().collect(), observed_ms: T0, ..DirectoryUpdate::default() });
        // The test's own record: device → the users it lists.
        let mut linked: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        for (n, op) in ops.into_iter().enumerate() {
            let (objects, reset) = match &op {
                DeviceOp::Link(d, us) => {
                    linked.insert(*d, us.clone());
                    (vec![object(DirectoryKind::Device, &format!("guo{d}"), DirectoryChange::Modified, &device(*d, us))], false)
                }
                DeviceOp::Delete(d) => {
                    linked.remove(d);
                    (vec![object(DirectoryKind::Device, &format!("guo{d}"), DirectoryChange::Deleted, &json!({}))], false)
                }
                DeviceOp::Rename(u) => {
                    (vec![object(DirectoryKind::User, &format!("00u{u}"), DirectoryChange::Modified, &user(*u, n + 1))], false)
                }
                DeviceOp::Reset => {
                    linked.clear();
                    (users().collect(), true)
                }
            };
            let result = engine.update_directory(DirectoryUpdate { reset, objects, observed_ms: T0, ..DirectoryUpdate::default() });
            if let DeviceOp::Rename(u) = op {
                let written: Vec<String> =
                    result.entities.iter().filter(|e| e.kind == DirectoryKind::Device).map(|e| e.id.clone()).collect();
                let expected: Vec<String> =
                    linked.iter().filter(|(_, us)| us.contains(&u)).map(|(d, _)| format!("guo{d}")).collect();
                prop_assert_eq!(written, expected);
            }
        }
    }
}
