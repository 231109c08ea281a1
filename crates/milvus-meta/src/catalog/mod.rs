//! A catalog of a Milvus instance read from its etcd keys: databases,
//! collections with fields, partitions, aliases, segments, row counts and
//! indexes; users and roles (never password hashes); sessions. Decoding is
//! tolerant: an undecodable value is listed, not fatal.

pub mod areas;
pub mod proto;

use std::collections::BTreeMap;

use prost::Message;
use serde::Serialize;

use crate::roots;
use proto::*;

/// The value rootcoord writes to mark a key deleted (U+26FC).
pub const TOMBSTONE: &[u8] = &[0xE2, 0x9B, 0xBC];

/// Where Woodpecker keeps its metadata outside every root (2.6).
pub const WOODPECKER: &[u8] = b"woodpecker/";

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
    /// Properties (2.4 and later: replica number, resource groups, ...).
    pub properties: BTreeMap<String, String>,
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
    /// Element type of an array field.
    pub element_type: Option<String>,
    /// Nullable (2.5 and later).
    pub nullable: bool,
    /// Default value, as text.
    pub default_value: Option<String>,
    /// The partition key.
    pub partition_key: bool,
    /// The clustering key (2.4 and later).
    pub clustering_key: bool,
    /// The dynamic field (`$meta`).
    pub dynamic: bool,
    /// Written by a function (2.5 and later: BM25's sparse output).
    pub function_output: bool,
}

/// A function of a collection (2.5 and later).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Function {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Kind (BM25, TextEmbedding, ...).
    pub kind: String,
    /// Input field names.
    pub inputs: Vec<String>,
    /// Output field names.
    pub outputs: Vec<String>,
    /// Parameters.
    pub params: BTreeMap<String, String>,
}

/// A struct-array field (2.6 and later): named sub-fields stored as arrays.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct StructField {
    /// Field id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Its sub-fields.
    pub fields: Vec<Field>,
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
    /// Segment index records of live segments per build state (Finished,
    /// InProgress, ...).
    pub builds: BTreeMap<String, u64>,
    /// Rows in segments whose index is built (Finished).
    pub indexed_rows: i64,
}

/// How a collection is loaded (QueryCoord's records).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Load {
    /// Loading, Loaded, ...
    pub status: String,
    /// LoadCollection or LoadPartition.
    pub load_type: String,
    /// Replicas asked for.
    pub replica_number: i32,
    /// Fields loaded (2.5 and later; empty: all).
    pub load_fields: Vec<i64>,
    /// Partitions with a load record.
    pub partitions: u64,
    /// Replicas found.
    pub replicas: Vec<ReplicaInfo>,
}

/// One replica of a loaded collection.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// Id.
    pub id: i64,
    /// Its resource group.
    pub resource_group: String,
    /// Query nodes serving it.
    pub nodes: Vec<i64>,
}

/// A QueryCoord resource group.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ResourceGroupInfo {
    /// Name.
    pub name: String,
    /// Query nodes in it.
    pub nodes: Vec<i64>,
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
    /// Live segments per level (Legacy, L0, L1, L2).
    pub segment_levels: BTreeMap<String, u64>,
    /// Live segments sorted by primary key (2.4 and later).
    pub sorted_segments: u64,
    /// Live segments marked invisible (2.5 and later).
    pub invisible_segments: u64,
    /// QueryCoord's load record, when the collection is loaded.
    pub load: Option<Load>,
    /// Indexes.
    pub indexes: Vec<Index>,
    /// Properties (TTL, mmap, ...).
    pub properties: BTreeMap<String, String>,
    /// Dynamic fields enabled.
    pub dynamic_field: bool,
    /// Functions (2.5 and later).
    pub functions: Vec<Function>,
    /// Struct-array fields (2.6 and later).
    pub struct_fields: Vec<StructField>,
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
    /// Keys and bytes per fine area (`meta/datacoord-meta/import-job`), with
    /// what each holds and the Milvus line that added it; `holds` is empty
    /// for an area no Milvus line up to 2.6 writes.
    pub fine_areas: BTreeMap<String, FineArea>,
    /// Privilege groups (2.5 and later).
    pub privilege_groups: Vec<PrivilegeGroup>,
    /// QueryCoord resource groups.
    pub resource_groups: Vec<ResourceGroupInfo>,
    /// Field numbers no Milvus line up to 2.6 declares, per message: how
    /// many values carry each (a newer writer; the rest was read).
    pub unknown_fields: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Objects whose key holds RootCoord's tombstone: dropped.
    pub dropped: Vec<Dropped>,
}

/// Keys and bytes of one fine area.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct FineArea {
    /// Keys.
    pub keys: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
    /// What it holds (empty: an area boltsnap does not know).
    pub holds: String,
    /// The Milvus line that added it.
    pub since: String,
}

/// A privilege group.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct PrivilegeGroup {
    /// Name.
    pub name: String,
    /// Privileges.
    pub privileges: Vec<String>,
}

/// A dropped object: its key holds the tombstone.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Dropped {
    /// What it was: database, collection, partition, field, alias, function.
    pub kind: String,
    /// The last path segment of its key (an id or a name).
    pub id: String,
    /// The collection it belonged to, when the key says.
    pub collection: Option<i64>,
}

/// Every Milvus instance found.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Catalog {
    /// One per root, sorted.
    pub roots: Vec<RootCatalog>,
    /// Keys under no Milvus root.
    pub other_keys: u64,
    /// Of those, Woodpecker's (2.6's write-ahead log) under the top-level
    /// `woodpecker/`, where releases before mid-2026 keep them whatever the
    /// root; `export` keeps them whatever `--root` says.
    pub woodpecker_keys: u64,
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
    functions: BTreeMap<i64, Vec<Function>>,
    struct_fields: BTreeMap<i64, Vec<StructField>>,
    /// Segment index records by collection: (segment, index id, state, rows).
    segment_indexes: BTreeMap<i64, Vec<(i64, i64, i32, i64)>>,
    loads: BTreeMap<i64, Load>,
    partition_loads: BTreeMap<i64, u64>,
    replicas: BTreeMap<i64, Vec<ReplicaInfo>>,
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
        element_type: (f.element_type != 0).then(|| data_type_name(f.element_type)),
        nullable: f.nullable,
        default_value: f.default_value.as_ref().map(ValueField::text),
        partition_key: f.is_partition_key,
        clustering_key: f.is_clustering_key,
        dynamic: f.is_dynamic,
        function_output: f.is_function_output,
    }
}

fn function_of(f: &FunctionSchema) -> Function {
    Function {
        id: f.id,
        name: f.name.clone(),
        kind: function_type_name(f.r#type),
        inputs: f.input_field_names.clone(),
        outputs: f.output_field_names.clone(),
        params: params(&f.params),
    }
}

fn struct_field_of(f: &StructArrayFieldSchema) -> StructField {
    StructField {
        id: f.field_id,
        name: f.name.clone(),
        fields: f.fields.iter().map(field_of).collect(),
    }
}

impl Building {
    fn bad(&mut self, key: &str, e: impl ToString) {
        self.cat.undecodable.push((key.to_string(), e.to_string()));
    }

    /// Counts the field numbers of `v` that no Milvus line declares.
    fn unknown(&mut self, (message, known): (&str, &[u32]), v: &[u8]) {
        let Some(found) = unknown_fields(v, known) else {
            return;
        };
        if found.is_empty() {
            return;
        }
        let per = self
            .cat
            .unknown_fields
            .entry(message.to_string())
            .or_default();
        for f in found {
            *per.entry(f).or_default() += 1;
        }
    }

    /// A key holding the tombstone: the object it names was dropped.
    fn tombstone(&mut self, rel: &str) {
        let seg: Vec<&str> = rel.split('/').collect();
        let (kind, id, coll) = match seg.as_slice() {
            ["root-coord", "database", "db-info", id] => ("database", *id, None),
            ["root-coord", "database", "collection-info", _, id]
            | ["root-coord", "collection", id] => ("collection", *id, None),
            ["root-coord", "partitions", c, id] => ("partition", *id, Some(*c)),
            ["root-coord", "fields", c, id] => ("field", *id, Some(*c)),
            ["root-coord", "functions", c, id] => ("function", *id, Some(*c)),
            ["root-coord", "struct-array-fields", c, id] => ("struct field", *id, Some(*c)),
            ["root-coord", "database", "aliases", _, id] | ["root-coord", "aliases", id] => {
                ("alias", *id, None)
            }
            _ => return,
        };
        self.cat.dropped.push(Dropped {
            kind: kind.into(),
            id: id.into(),
            collection: coll.and_then(|c| c.parse().ok()),
        });
    }

    fn collection(&mut self, key: &str, v: &[u8]) {
        match CollectionInfo::decode(v) {
            Ok(c) => {
                self.unknown(known::COLLECTION_INFO, v);
                let schema = c.schema.clone().unwrap_or_default();
                if !schema.fields.is_empty() {
                    self.fields
                        .entry(c.id)
                        .or_default()
                        .extend(schema.fields.iter().map(field_of));
                }
                if !schema.functions.is_empty() {
                    self.functions
                        .entry(c.id)
                        .or_default()
                        .extend(schema.functions.iter().map(function_of));
                }
                if !schema.struct_array_fields.is_empty() {
                    self.struct_fields
                        .entry(c.id)
                        .or_default()
                        .extend(schema.struct_array_fields.iter().map(struct_field_of));
                }
                let mut props = params(&c.properties);
                props.extend(params(&schema.properties));
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
                        properties: props,
                        dynamic_field: schema.enable_dynamic_field,
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
                    self.unknown(known::DATABASE_INFO, v);
                    self.dbs.insert(
                        d.id,
                        Database {
                            id: d.id,
                            name: d.name,
                            state: database_state_name(d.state),
                            properties: params(&d.properties),
                        },
                    );
                }
                Err(e) => self.bad(key, e),
            },
            ["root-coord", "database", "collection-info", _, _]
            | ["root-coord", "collection", _] => self.collection(key, v),
            ["root-coord", "fields", coll, _] => {
                match (coll.parse::<i64>(), FieldSchema::decode(v)) {
                    (Ok(c), Ok(f)) => {
                        self.unknown(known::FIELD_SCHEMA, v);
                        self.fields.entry(c).or_default().push(field_of(&f))
                    }
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["root-coord", "functions", coll, _] => {
                match (coll.parse::<i64>(), FunctionSchema::decode(v)) {
                    (Ok(c), Ok(f)) => {
                        self.unknown(known::FUNCTION_SCHEMA, v);
                        self.functions.entry(c).or_default().push(function_of(&f))
                    }
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["root-coord", "struct-array-fields", coll, _] => {
                match (coll.parse::<i64>(), StructArrayFieldSchema::decode(v)) {
                    (Ok(c), Ok(f)) => {
                        self.unknown(known::STRUCT_ARRAY_FIELD, v);
                        self.struct_fields
                            .entry(c)
                            .or_default()
                            .push(struct_field_of(&f))
                    }
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["root-coord", "privilege-group", _] => match PrivilegeGroupInfo::decode(v) {
                Ok(g) => {
                    self.unknown(known::PRIVILEGE_GROUP, v);
                    self.cat.privilege_groups.push(PrivilegeGroup {
                        name: g.group_name,
                        privileges: g.privileges.into_iter().map(|p| p.name).collect(),
                    })
                }
                Err(e) => self.bad(key, e),
            },
            ["root-coord", "partitions", coll, _] => {
                match (coll.parse::<i64>(), PartitionInfo::decode(v)) {
                    (Ok(c), Ok(p)) => {
                        self.unknown(known::PARTITION_INFO, v);
                        self.parts.entry(c).or_default().push(Partition {
                            id: p.partition_id,
                            name: p.partition_name,
                            state: object_state_name(p.state),
                        })
                    }
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
                    (Ok(c), Ok(s)) => {
                        self.unknown(known::SEGMENT_INFO, v);
                        self.segments.entry(c).or_default().push(s)
                    }
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["segment-index", coll, _, _, _] => {
                match (coll.parse::<i64>(), SegmentIndex::decode(v)) {
                    (Ok(c), Ok(si)) => {
                        self.unknown(known::SEGMENT_INDEX, v);
                        if !si.deleted {
                            self.segment_indexes.entry(c).or_default().push((
                                si.segment_id,
                                si.index_id,
                                si.state,
                                si.num_rows,
                            ));
                        }
                    }
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["querycoord-collection-loadinfo", coll] => {
                match (coll.parse::<i64>(), CollectionLoadInfo::decode(v)) {
                    (Ok(c), Ok(l)) => {
                        self.unknown(known::COLLECTION_LOAD_INFO, v);
                        self.loads.insert(
                            c,
                            Load {
                                status: load_status_name(l.status),
                                load_type: load_type_name(l.load_type),
                                replica_number: l.replica_number,
                                load_fields: l.load_fields,
                                ..Default::default()
                            },
                        );
                    }
                    (_, Err(e)) => self.bad(key, e),
                    (Err(e), _) => self.bad(key, e),
                }
            }
            ["querycoord-partition-loadinfo", coll, _] => {
                if let Ok(c) = coll.parse::<i64>() {
                    *self.partition_loads.entry(c).or_default() += 1;
                }
            }
            ["querycoord-replica", coll, _] => match (coll.parse::<i64>(), Replica::decode(v)) {
                (Ok(c), Ok(r)) => {
                    self.unknown(known::REPLICA, v);
                    self.replicas.entry(c).or_default().push(ReplicaInfo {
                        id: r.id,
                        resource_group: r.resource_group,
                        nodes: r.nodes,
                    })
                }
                (_, Err(e)) => self.bad(key, e),
                (Err(e), _) => self.bad(key, e),
            },
            ["queryCoord-ResourceGroup", _] => match ResourceGroup::decode(v) {
                Ok(g) => {
                    self.unknown(known::RESOURCE_GROUP, v);
                    self.cat.resource_groups.push(ResourceGroupInfo {
                        name: g.name,
                        nodes: g.nodes,
                    })
                }
                Err(e) => self.bad(key, e),
            },
            ["field-index", coll, _] => match (coll.parse::<i64>(), FieldIndex::decode(v)) {
                (Ok(c), Ok(fi)) => {
                    self.unknown(known::FIELD_INDEX, v);
                    let info = fi.index_info.unwrap_or_default();
                    let mut p = params(&info.index_params);
                    p.extend(params(&info.user_index_params));
                    self.indexes.entry(c).or_default().push(Index {
                        id: info.index_id,
                        name: info.index_name,
                        field_id: info.field_id,
                        params: p,
                        deleted: fi.deleted,
                        ..Default::default()
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
                    properties: BTreeMap::new(),
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
            let mut fns = self.functions.remove(&id).unwrap_or_default();
            fns.sort_by_key(|f| f.id);
            fns.dedup_by_key(|f| f.id);
            c.functions = fns;
            let mut sf = self.struct_fields.remove(&id).unwrap_or_default();
            sf.sort_by_key(|f| f.id);
            sf.dedup_by_key(|f| f.id);
            c.struct_fields = sf;
            let mut live = std::collections::BTreeSet::new();
            for s in self.segments.remove(&id).unwrap_or_default() {
                c.segments += 1;
                *c.segment_states
                    .entry(segment_state_name(s.state))
                    .or_default() += 1;
                if s.state != 6 && s.state != 1 {
                    live.insert(s.id);
                    c.rows += s.num_of_rows;
                    *c.segment_levels
                        .entry(segment_level_name(s.level))
                        .or_default() += 1;
                    c.sorted_segments += u64::from(s.is_sorted);
                    c.invisible_segments += u64::from(s.is_invisible);
                }
            }
            // Only live segments count: a compacted segment's index stays
            // until garbage collection.
            for (seg, index, state, rows) in self.segment_indexes.remove(&id).unwrap_or_default() {
                if !live.contains(&seg) {
                    continue;
                }
                if let Some(i) = c.indexes.iter_mut().find(|i| i.id == index) {
                    *i.builds.entry(index_state_name(state)).or_default() += 1;
                    if state == 3 {
                        i.indexed_rows += rows;
                    }
                }
            }
            if let Some(mut l) = self.loads.remove(&id) {
                l.partitions = self.partition_loads.remove(&id).unwrap_or_default();
                let mut r = self.replicas.remove(&id).unwrap_or_default();
                r.sort_by_key(|r| r.id);
                l.replicas = r;
                c.load = Some(l);
            }
            self.cat.collections.push(c);
        }
        self.cat.databases = self.dbs.into_values().collect();
        self.cat.users.sort();
        self.cat.roles.sort();
        self.cat.user_roles.sort();
        self.cat
            .privilege_groups
            .sort_by(|a, b| a.name.cmp(&b.name));
        self.cat.resource_groups.sort_by(|a, b| a.name.cmp(&b.name));
        self.cat
            .dropped
            .sort_by(|a, b| (&a.kind, a.collection, &a.id).cmp(&(&b.kind, b.collection, &b.id)));
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
        let mut woodpecker = 0;
        for (k, v) in kvs {
            let Some(root) = found
                .iter()
                .filter(|r| roots::under(k, r))
                .max_by_key(|r| r.len())
            else {
                other += 1;
                woodpecker += u64::from(k.starts_with(WOODPECKER));
                continue;
            };
            let Some(bd) = b.get_mut(root) else { continue };
            let area = roots::area(k, root);
            let st = bd.cat.areas.entry(area).or_default();
            st.keys += 1;
            st.bytes += (k.len() + v.len()) as u64;
            let below = k.get(root.len() + 1..).unwrap_or_default();
            let fine = String::from_utf8_lossy(areas::sub_area(below));
            let fa = match bd.cat.fine_areas.get_mut(&*fine) {
                Some(fa) => fa,
                None => {
                    let known = areas::describe(&fine);
                    bd.cat
                        .fine_areas
                        .entry(fine.into_owned())
                        .or_insert_with(|| FineArea {
                            holds: known.map(|k| k.holds.to_string()).unwrap_or_default(),
                            since: known.map(|k| k.since.to_string()).unwrap_or_default(),
                            ..Default::default()
                        })
                }
            };
            fa.keys += 1;
            fa.bytes += (k.len() + v.len()) as u64;
            let key = String::from_utf8_lossy(k);
            let Some(rel) = key
                .get(root.len() + 1..)
                .and_then(|r| r.strip_prefix("meta/"))
            else {
                continue;
            };
            let rel = rel.to_string();
            if v == TOMBSTONE {
                bd.tombstone(&rel);
                continue;
            }
            bd.add(&key, &rel, v);
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
            woodpecker_keys: woodpecker,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(kvs: &[(Vec<u8>, Vec<u8>)]) -> Catalog {
        Catalog::build(kvs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
    }

    /// A newer Milvus: a field number no line up to 2.6 declares, and an
    /// area no line writes. Both are counted and shown; the rest is read.
    #[test]
    fn unknown_fields_and_areas_are_counted_not_fatal() {
        let mut coll = CollectionInfo {
            id: 7,
            db_id: 1,
            schema: Some(CollectionSchema {
                name: "c".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        // Field 40, varint 1; field 41, bytes "x": a future writer's.
        // Keys are varints: 40 << 3 = 0xc0 0x02, (41 << 3) | 2 = 0xca 0x02.
        coll.extend([0xc0, 0x02, 1, 0xca, 0x02, 1, b'x']);
        let kvs = vec![
            (
                b"by-dev/meta/root-coord/database/collection-info/1/7".to_vec(),
                coll,
            ),
            (
                b"by-dev/meta/datacoord-meta/brand-new-task/1".to_vec(),
                b"?".to_vec(),
            ),
            (b"by-dev/kv/gid/timestamp".to_vec(), vec![0; 8]),
        ];
        let cat = build(&kvs);
        let r = &cat.roots[0];
        assert_eq!(r.collections[0].name, "c");
        assert_eq!(
            r.unknown_fields.get("etcdpb.CollectionInfo"),
            Some(&BTreeMap::from([(40, 1), (41, 1)]))
        );
        let fa = &r.fine_areas["meta/datacoord-meta/brand-new-task"];
        assert_eq!((fa.keys, fa.holds.as_str()), (1, ""));
        assert_eq!(r.fine_areas["kv/gid"].since, "2.0");
        assert!(r.undecodable.is_empty());
    }

    #[test]
    fn tombstones_mark_objects_dropped() {
        let kvs = vec![
            (
                b"by-dev/meta/root-coord/database/collection-info/1/7".to_vec(),
                TOMBSTONE.to_vec(),
            ),
            (
                b"by-dev/meta/root-coord/partitions/7/8".to_vec(),
                TOMBSTONE.to_vec(),
            ),
            (
                b"by-dev/meta/root-coord/database/aliases/1/a".to_vec(),
                TOMBSTONE.to_vec(),
            ),
            // A tombstone among the timestamped copies is history, not a drop.
            (
                b"by-dev/meta/snapshots/root-coord/partitions/7/9_ts1".to_vec(),
                TOMBSTONE.to_vec(),
            ),
            (b"by-dev/kv/gid/timestamp".to_vec(), vec![0; 8]),
        ];
        let cat = build(&kvs);
        let d: Vec<(String, String, Option<i64>)> = cat.roots[0]
            .dropped
            .iter()
            .map(|d| (d.kind.clone(), d.id.clone(), d.collection))
            .collect();
        assert_eq!(
            d,
            [
                ("alias".into(), "a".into(), None),
                ("collection".into(), "7".into(), None),
                ("partition".into(), "8".into(), Some(7)),
            ]
        );
        assert!(cat.roots[0].collections.is_empty());
    }

    #[test]
    fn unknown_fields_scanner() {
        // Known 1 (varint), unknown 9 (fixed64), unknown 10 (fixed32), known 2 (bytes).
        let mut b = vec![1 << 3, 0x96, 0x01, (9 << 3) | 1];
        b.extend([0; 8]);
        b.extend([(10 << 3) | 5, 0, 0, 0, 0, (2 << 3) | 2, 2, b'h', b'i']);
        assert_eq!(unknown_fields(&b, &[1, 2]), Some(vec![9, 10]));
        // Truncated and group-typed input: not well formed.
        assert_eq!(unknown_fields(&b[..b.len() - 1], &[1, 2]), None);
        assert_eq!(unknown_fields(&[(3 << 3) | 3], &[]), None);
        assert_eq!(unknown_fields(&[0xff; 11], &[]), None);
        assert_eq!(unknown_fields(&[], &[]), Some(vec![]));
    }
}
