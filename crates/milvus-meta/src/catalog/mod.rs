//! A catalog of a Milvus instance read from its etcd keys: databases,
//! collections with fields, partitions, aliases, segments, row counts and
//! indexes; users and roles (never password hashes); sessions. Decoding is
//! tolerant: an undecodable value is listed, not fatal.

pub mod proto;

use std::collections::BTreeMap;

use prost::Message;
use serde::Serialize;

use crate::roots;
use proto::*;

/// The value rootcoord writes to mark a key deleted (U+26FC).
pub const TOMBSTONE: &[u8] = &[0xE2, 0x9B, 0xBC];

/// Keys and bytes of one Milvus area.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct AreaStats {
    /// Keys.
    pub keys: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

/// A database.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Database {
    /// Id (1 is `default`).
    pub id: i64,
    /// Name.
    pub name: String,
    /// State name.
    pub state: String,
}

/// A field of a collection.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Field {
    /// Field id (0 and 1 are the system fields RowID and Timestamp).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Data type name.
    pub data_type: String,
    /// Primary key.
    pub primary_key: bool,
    /// Auto id.
    pub auto_id: bool,
    /// Type parameters (dim, max_length, ...).
    pub params: BTreeMap<String, String>,
}

/// A partition.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Partition {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// State name.
    pub state: String,
}

/// An index on a field.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Index {
    /// Index id.
    pub id: i64,
    /// Index name.
    pub name: String,
    /// Indexed field id.
    pub field_id: i64,
    /// Index parameters (index_type, metric_type, params).
    pub params: BTreeMap<String, String>,
    /// Marked deleted.
    pub deleted: bool,
}

/// A collection.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Collection {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Database id (0 in old versions means default).
    pub db_id: i64,
    /// Database name.
    pub database: String,
    /// Description.
    pub description: String,
    /// State name.
    pub state: String,
    /// Shards.
    pub shards: i32,
    /// Consistency level.
    pub consistency: String,
    /// Fields, by id.
    pub fields: Vec<Field>,
    /// Partitions, by id.
    pub partitions: Vec<Partition>,
    /// Aliases pointing at it.
    pub aliases: Vec<String>,
    /// Segments known to datacoord.
    pub segments: u64,
    /// Segments per state.
    pub segment_states: BTreeMap<String, u64>,
    /// Rows in segments that are not dropped.
    pub rows: i64,
    /// Indexes.
    pub indexes: Vec<Index>,
}

/// A session record (a live Milvus process when the db was written).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Session {
    /// The key under `session/`.
    pub name: String,
    /// ServerName (role).
    pub role: String,
    /// ServerID.
    pub server_id: i64,
    /// Milvus version of the process.
    pub version: String,
    /// Address.
    pub address: String,
}

/// One Milvus instance.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RootCatalog {
    /// Its rootPath.
    pub root: String,
    /// Keys and bytes per area.
    pub areas: BTreeMap<String, AreaStats>,
    /// Databases.
    pub databases: Vec<Database>,
    /// Collections (dropped ones included, with their state).
    pub collections: Vec<Collection>,
    /// Users (names only).
    pub users: Vec<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// (user, role) grants.
    pub user_roles: Vec<(String, String)>,
    /// Sessions found.
    pub sessions: Vec<Session>,
    /// Milvus version(s) seen in sessions.
    pub milvus_versions: Vec<String>,
    /// Values that did not decode: (key, why).
    pub undecodable: Vec<(String, String)>,
}

/// Every Milvus instance found.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Catalog {
    /// One per root, sorted.
    pub roots: Vec<RootCatalog>,
    /// Keys under no Milvus root.
    pub other_keys: u64,
}

#[derive(Default)]
struct Building {
    cat: RootCatalog,
    dbs: BTreeMap<i64, Database>,
    colls: BTreeMap<i64, Collection>,
    fields: BTreeMap<i64, Vec<Field>>,
    parts: BTreeMap<i64, Vec<Partition>>,
    aliases: BTreeMap<i64, Vec<String>>,
    indexes: BTreeMap<i64, Vec<Index>>,
    segments: BTreeMap<i64, Vec<SegmentInfo>>,
}

fn params(kv: &[KeyValuePair]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect()
}

fn field_of(f: &FieldSchema) -> Field {
    Field {
        id: f.field_id,
        name: f.name.clone(),
        data_type: data_type_name(f.data_type),
        primary_key: f.is_primary_key,
        auto_id: f.auto_id,
        params: params(&f.type_params),
    }
}

impl Building {
    fn bad(&mut self, key: &str, e: impl ToString) {
        self.cat.undecodable.push((key.to_string(), e.to_string()));
    }

    fn collection(&mut self, key: &str, v: &[u8]) {
        match CollectionInfo::decode(v) {
            Ok(c) => {
                let schema = c.schema.clone().unwrap_or_default();
                if !schema.fields.is_empty() {
                    self.fields
                        .entry(c.id)
                        .or_default()
                        .extend(schema.fields.iter().map(field_of));
                }
                for (i, id) in c.partition_ids.iter().enumerate() {
                    let name = c.partition_names.get(i).cloned().unwrap_or_default();
                    self.parts.entry(c.id).or_default().push(Partition {
                        id: *id,
                        name,
                        state: "Created".into(),
                    });
                }
                self.colls.insert(
                    c.id,
                    Collection {
                        id: c.id,
                        name: schema.name,
                        db_id: if c.db_id == 0 { 1 } else { c.db_id },
                        description: schema.description,
                        state: object_state_name(c.state),
                        shards: c.shards_num,
                        consistency: consistency_name(c.consistency_level),
                        ..Default::default()
                    },
                );
            }
            Err(e) => self.bad(key, e),
        }
    }

    fn add(&mut self, key: &str, rel: &str, v: &[u8]) {
        let seg: Vec<&str> = rel.split('/').collect();
        match seg.as_slice() {
            ["root-coord", "database", "db-info", _] => match DatabaseInfo::decode(v) {
                Ok(d) => {
                    self.dbs.insert(
                        d.id,
                        Database {
                            id: d.id,
                            name: d.name,
                            state: database_state_name(d.state),
                        },
                    );
                }
                Err(e) => self.bad(key, e),
            },
            ["root-coord", "database", "collection-info", _, _]
            | ["root-coord", "collection", _] => self.collection(key, v),
            ["root-coord", "fields", coll, _] => {
                match (coll.parse::<i64>(), FieldSchema::decode(v)) {
                    (Ok(c), Ok(f)) => self.fields.entry(c).or_default().push(field_of(&f)),
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["root-coord", "partitions", coll, _] => {
                match (coll.parse::<i64>(), PartitionInfo::decode(v)) {
                    (Ok(c), Ok(p)) => self.parts.entry(c).or_default().push(Partition {
                        id: p.partition_id,
                        name: p.partition_name,
                        state: object_state_name(p.state),
                    }),
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["root-coord", "database", "aliases", _, _] | ["root-coord", "aliases", _] => {
                match AliasInfo::decode(v) {
                    Ok(a) if a.state == 0 => self
                        .aliases
                        .entry(a.collection_id)
                        .or_default()
                        .push(a.alias_name),
                    Ok(_) => {}
                    Err(e) => self.bad(key, e),
                }
            }
            ["root-coord", "credential", "users", user] => self.cat.users.push((*user).to_string()),
            ["root-coord", "credential", "roles", role] => self.cat.roles.push((*role).to_string()),
            ["root-coord", "credential", "user-role-mapping", user, role] => self
                .cat
                .user_roles
                .push(((*user).to_string(), (*role).to_string())),
            ["datacoord-meta", "s", coll, _, _] => {
                match (coll.parse::<i64>(), SegmentInfo::decode(v)) {
                    (Ok(c), Ok(s)) => self.segments.entry(c).or_default().push(s),
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["field-index", coll, _] => match (coll.parse::<i64>(), FieldIndex::decode(v)) {
                (Ok(c), Ok(fi)) => {
                    let info = fi.index_info.unwrap_or_default();
                    let mut p = params(&info.index_params);
                    p.extend(params(&info.user_index_params));
                    self.indexes.entry(c).or_default().push(Index {
                        id: info.index_id,
                        name: info.index_name,
                        field_id: info.field_id,
                        params: p,
                        deleted: fi.deleted,
                    });
                }
                (_, Err(e)) => self.bad(key, e),
                (Err(e), _) => self.bad(key, e),
            },
            ["session", name] if *name != "id" => {
                match serde_json::from_slice::<serde_json::Value>(v) {
                    Ok(j) => self.cat.sessions.push(Session {
                        name: (*name).to_string(),
                        role: j
                            .get("ServerName")
                            .unwrap_or(&serde_json::Value::Null)
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        server_id: j
                            .get("ServerID")
                            .unwrap_or(&serde_json::Value::Null)
                            .as_i64()
                            .unwrap_or_default(),
                        version: j
                            .get("Version")
                            .unwrap_or(&serde_json::Value::Null)
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        address: j
                            .get("Address")
                            .unwrap_or(&serde_json::Value::Null)
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    }),
                    Err(e) => self.bad(key, e),
                }
            }
            _ => {}
        }
    }

    fn finish(mut self) -> RootCatalog {
        if !self.dbs.contains_key(&1) && !self.colls.is_empty() {
            self.dbs.insert(
                1,
                Database {
                    id: 1,
                    name: "default".into(),
                    state: "Created".into(),
                },
            );
        }
        for (id, mut c) in std::mem::take(&mut self.colls) {
            c.database = self
                .dbs
                .get(&c.db_id)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            let mut f = self.fields.remove(&id).unwrap_or_default();
            f.sort_by_key(|f| f.id);
            f.dedup_by_key(|f| f.id);
            c.fields = f;
            let mut p = self.parts.remove(&id).unwrap_or_default();
            p.sort_by_key(|p| p.id);
            p.dedup_by_key(|p| p.id);
            c.partitions = p;
            let mut a = self.aliases.remove(&id).unwrap_or_default();
            a.sort();
            c.aliases = a;
            c.indexes = self.indexes.remove(&id).unwrap_or_default();
            c.indexes.sort_by_key(|i| i.id);
            for s in self.segments.remove(&id).unwrap_or_default() {
                c.segments += 1;
                *c.segment_states
                    .entry(segment_state_name(s.state))
                    .or_default() += 1;
                if s.state != 6 && s.state != 1 {
                    c.rows += s.num_of_rows;
                }
            }
            self.cat.collections.push(c);
        }
        self.cat.databases = self.dbs.into_values().collect();
        self.cat.users.sort();
        self.cat.roles.sort();
        self.cat.user_roles.sort();
        let mut versions: Vec<String> = self
            .cat
            .sessions
            .iter()
            .map(|s| s.version.clone())
            .filter(|v| !v.is_empty())
            .collect();
        versions.sort();
        versions.dedup();
        self.cat.milvus_versions = versions;
        self.cat
    }
}

impl Catalog {
    /// Builds the catalog from live keys and values (any order).
    pub fn build<'a>(kvs: impl IntoIterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Catalog {
        let found: Vec<String> = roots::discover(kvs.clone().into_iter().map(|(k, _)| k))
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        let mut b: BTreeMap<String, Building> = found
            .iter()
            .map(|r| (r.clone(), Building::default()))
            .collect();
        let mut other = 0;
        for (k, v) in kvs {
            let Some(root) = found
                .iter()
                .filter(|r| roots::under(k, r))
                .max_by_key(|r| r.len())
            else {
                other += 1;
                continue;
            };
            let Some(bd) = b.get_mut(root) else { continue };
            let area = roots::area(k, root);
            let st = bd.cat.areas.entry(area).or_default();
            st.keys += 1;
            st.bytes += (k.len() + v.len()) as u64;
            if v == TOMBSTONE {
                continue;
            }
            let key = String::from_utf8_lossy(k);
            if let Some(rel) = key
                .get(root.len() + 1..)
                .and_then(|r| r.strip_prefix("meta/"))
            {
                let rel = rel.to_string();
                bd.add(&key, &rel, v);
            }
        }
        Catalog {
            roots: b
                .into_iter()
                .map(|(r, bd)| {
                    let mut c = bd.finish();
                    c.root = r;
                    c
                })
                .collect(),
            other_keys: other,
        }
    }
}
