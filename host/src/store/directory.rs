//! The directory tables: each org's users, groups, devices and user schema as Okta's JSON, the
//! group memberships, the admin role assignments of each user holding any (the array
//! `/api/v1/users/{id}/roles` returned), and the sync marks (when the last full and incremental
//! syncs ran, and the largest `lastUpdated` seen per kind). A sync is committed in one transaction
//! with the sinks' positions of the entity documents it wrote, after the sinks made them durable.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use rusqlite::{Connection, OptionalExtension, params};

use super::{SinkPosition, Store};

pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS directory_object (
        org TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        json TEXT NOT NULL,
        status TEXT,
        PRIMARY KEY (org, kind, id)
    );
    CREATE TABLE IF NOT EXISTS directory_member (
        org TEXT NOT NULL,
        group_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (org, group_id, user_id)
    );
    CREATE TABLE IF NOT EXISTS directory_role (
        org TEXT NOT NULL,
        user_id TEXT NOT NULL,
        json TEXT NOT NULL,
        PRIMARY KEY (org, user_id)
    );
    CREATE TABLE IF NOT EXISTS directory_mark (
        org TEXT PRIMARY KEY,
        last_full_ms INTEGER,
        last_incremental_ms INTEGER,
        users_updated_ms INTEGER,
        groups_updated_ms INTEGER,
        devices_updated_ms INTEGER
    );";

/// Where the directory sync of an org stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectoryMarks {
    /// When the last full sync finished (epoch ms).
    pub last_full_ms: Option<i64>,
    /// When the last incremental sync finished.
    pub last_incremental_ms: Option<i64>,
    /// The largest `lastUpdated` among users seen (second resolution, epoch ms).
    pub users_updated_ms: Option<i64>,
    /// The largest `lastUpdated` or `lastMembershipUpdated` among groups seen.
    pub groups_updated_ms: Option<i64>,
    /// The largest `lastUpdated` among devices seen.
    pub devices_updated_ms: Option<i64>,
}

/// One stored object: Okta's JSON and its status (users and devices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub json: String,
    pub status: Option<String>,
}

/// A change to one stored object.
#[derive(Debug, Clone)]
pub enum ObjectWrite<'a> {
    Put { kind: &'a str, id: &'a str, json: &'a str, status: Option<&'a str> },
    Delete { kind: &'a str, id: &'a str },
}

/// What one sync commits.
#[derive(Debug, Default)]
pub struct DirectoryCommit<'a> {
    pub objects: Vec<ObjectWrite<'a>>,
    /// Complete member lists of the groups whose members were fetched (or that were deleted).
    pub memberships: Vec<(&'a str, &'a [String])>,
    /// Complete role lists (a JSON array) of the users whose roles changed; `None`: no role now.
    pub roles: Vec<(&'a str, Option<&'a str>)>,
    pub marks: DirectoryMarks,
    /// The sinks' positions after the sync's entity documents.
    pub sinks: Vec<(&'a str, SinkPosition)>,
}

impl Store {
    /// Every stored object of one kind, by id.
    pub fn directory_objects(&self, org: &str, kind: &str) -> Result<BTreeMap<String, StoredObject>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT id, json, status FROM directory_object WHERE org = ?1 AND kind = ?2")?;
        let rows = stmt.query_map(params![org, kind], |r| {
            Ok((r.get::<_, String>(0)?, StoredObject { json: r.get(1)?, status: r.get(2)? }))
        })?;
        Ok(rows.collect::<rusqlite::Result<BTreeMap<_, _>>>()?)
    }

    /// One stored object.
    pub fn directory_object(&self, org: &str, kind: &str, id: &str) -> Result<Option<StoredObject>> {
        Ok(self
            .conn
            .prepare_cached("SELECT json, status FROM directory_object WHERE org = ?1 AND kind = ?2 AND id = ?3")?
            .query_row(params![org, kind, id], |r| Ok(StoredObject { json: r.get(0)?, status: r.get(1)? }))
            .optional()?)
    }

    /// Every group's member ids (sorted), by group id.
    pub fn directory_members(&self, org: &str) -> Result<BTreeMap<String, Vec<String>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT group_id, user_id FROM directory_member WHERE org = ?1 ORDER BY group_id, user_id",
        )?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let rows = stmt.query_map([org], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (g, u) = row?;
            out.entry(g).or_default().push(u);
        }
        Ok(out)
    }

    /// Every stored role list (a JSON array), by user id: only users holding a role.
    pub fn directory_roles(&self, org: &str) -> Result<BTreeMap<String, String>> {
        let mut stmt = self.conn.prepare_cached("SELECT user_id, json FROM directory_role WHERE org = ?1")?;
        let rows = stmt.query_map([org], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<BTreeMap<_, _>>>()?)
    }

    pub fn directory_marks(&self, org: &str) -> Result<DirectoryMarks> {
        Ok(self
            .conn
            .query_row(
                "SELECT last_full_ms, last_incremental_ms, users_updated_ms, groups_updated_ms, devices_updated_ms
                 FROM directory_mark WHERE org = ?1",
                [org],
                |r| {
                    Ok(DirectoryMarks {
                        last_full_ms: r.get(0)?,
                        last_incremental_ms: r.get(1)?,
                        users_updated_ms: r.get(2)?,
                        groups_updated_ms: r.get(3)?,
                        devices_updated_ms: r.get(4)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    /// How many objects of each kind the org holds.
    pub fn directory_counts(&self, org: &str) -> Result<BTreeMap<String, u64>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT kind, count(*) FROM directory_object WHERE org = ?1 GROUP BY kind")?;
        let rows = stmt.query_map([org], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.unsigned_abs())))?;
        Ok(rows.collect::<rusqlite::Result<BTreeMap<_, _>>>()?)
    }

    /// Records one sync: objects, memberships, marks and sink positions, atomically.
    pub fn commit_directory(&mut self, org: &str, c: &DirectoryCommit<'_>) -> Result<()> {
        let tx = self.conn.transaction()?;
        write_directory(&tx, org, c)?;
        tx.commit().context("while committing a directory sync to the store")
    }
}

fn write_directory(tx: &Connection, org: &str, c: &DirectoryCommit<'_>) -> Result<()> {
    {
        let mut put = tx.prepare_cached(
            "INSERT INTO directory_object (org, kind, id, json, status) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (org, kind, id) DO UPDATE SET json = excluded.json, status = excluded.status",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM directory_object WHERE org = ?1 AND kind = ?2 AND id = ?3")?;
        for write in &c.objects {
            match write {
                ObjectWrite::Put { kind, id, json, status } => {
                    put.execute(params![org, kind, id, json, status])?;
                }
                ObjectWrite::Delete { kind, id } => {
                    delete.execute(params![org, kind, id])?;
                }
            }
        }
        let mut clear = tx.prepare_cached("DELETE FROM directory_member WHERE org = ?1 AND group_id = ?2")?;
        let mut add =
            tx.prepare_cached("INSERT OR IGNORE INTO directory_member (org, group_id, user_id) VALUES (?1, ?2, ?3)")?;
        for (group, users) in &c.memberships {
            clear.execute(params![org, group])?;
            for user in *users {
                add.execute(params![org, group, user])?;
            }
        }
        let mut put_roles = tx.prepare_cached(
            "INSERT INTO directory_role (org, user_id, json) VALUES (?1, ?2, ?3)
             ON CONFLICT (org, user_id) DO UPDATE SET json = excluded.json",
        )?;
        let mut drop_roles = tx.prepare_cached("DELETE FROM directory_role WHERE org = ?1 AND user_id = ?2")?;
        for (user, json) in &c.roles {
            match json {
                Some(json) => put_roles.execute(params![org, user, json])?,
                None => drop_roles.execute(params![org, user])?,
            };
        }
    }
    super::write_sink_positions(tx, org, &c.sinks)?;
    let m = c.marks;
    tx.execute(
        "INSERT INTO directory_mark (org, last_full_ms, last_incremental_ms, users_updated_ms, groups_updated_ms, devices_updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (org) DO UPDATE SET last_full_ms = excluded.last_full_ms,
             last_incremental_ms = excluded.last_incremental_ms, users_updated_ms = excluded.users_updated_ms,
             groups_updated_ms = excluded.groups_updated_ms, devices_updated_ms = excluded.devices_updated_ms",
        params![
            org,
            m.last_full_ms,
            m.last_incremental_ms,
            m.users_updated_ms,
            m.groups_updated_ms,
            m.devices_updated_ms
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_commits_objects_memberships_and_marks() {
        let dir = std::env::temp_dir().join(format!("okta-store-dir-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open(&dir.join("s.db"), 10).expect("opens");
        let members = vec!["00u1".to_owned(), "00u2".to_owned()];
        let marks = DirectoryMarks { last_full_ms: Some(5), users_updated_ms: Some(1000), ..DirectoryMarks::default() };
        store
            .commit_directory(
                "acme",
                &DirectoryCommit {
                    objects: vec![
                        ObjectWrite::Put {
                            kind: "user",
                            id: "00u1",
                            json: "{\"id\":\"00u1\"}",
                            status: Some("ACTIVE"),
                        },
                        ObjectWrite::Put { kind: "user", id: "00u2", json: "{\"id\":\"00u2\"}", status: None },
                        ObjectWrite::Put { kind: "group", id: "00g1", json: "{}", status: None },
                    ],
                    memberships: vec![("00g1", &members)],
                    roles: vec![("00u1", Some("[{\"type\":\"SUPER_ADMIN\"}]")), ("00u2", Some("[]"))],
                    marks,
                    sinks: vec![("file", SinkPosition { generation: 1, len: 10 })],
                },
            )
            .expect("commits");
        assert_eq!(store.directory_objects("acme", "user").expect("reads").len(), 2);
        assert_eq!(store.directory_counts("acme").expect("counts")["user"], 2);
        assert_eq!(store.directory_members("acme").expect("reads")["00g1"], members);
        assert_eq!(store.directory_marks("acme").expect("reads"), marks);
        assert_eq!(store.directory_roles("acme").expect("reads").len(), 2);
        assert_eq!(store.sink_position("acme", "file").expect("reads"), Some(SinkPosition { generation: 1, len: 10 }));
        let fewer = vec!["00u2".to_owned()];
        store
            .commit_directory(
                "acme",
                &DirectoryCommit {
                    objects: vec![ObjectWrite::Delete { kind: "user", id: "00u1" }],
                    memberships: vec![("00g1", &fewer)],
                    roles: vec![("00u1", None)],
                    marks,
                    sinks: Vec::new(),
                },
            )
            .expect("commits");
        assert_eq!(store.directory_object("acme", "user", "00u1").expect("reads"), None);
        assert_eq!(store.directory_members("acme").expect("reads")["00g1"], fewer);
        let roles = store.directory_roles("acme").expect("reads");
        assert_eq!(roles.keys().collect::<Vec<_>>(), ["00u2"], "the dropped list is gone, the other kept");
        assert!(store.directory_roles("other").expect("reads").is_empty(), "orgs are separate");
        assert!(store.directory_objects("other", "user").expect("reads").is_empty(), "orgs are separate");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
