//! The Milvus messages the catalog reads, declared with prost derive.
//! Only the fields the catalog shows are declared; prost skips the others,
//! so one declaration reads every version from 2.2 to 2.6 (fields are only
//! ever added). [`unknown_fields`] finds the field numbers no Milvus line up
//! to 2.6 declares, so a newer writer shows up as counts, never as an error. Numbers are those of milvus-proto and Milvus's internal
//! protos (package milvus.proto.etcd, .schema, .data, .index).
#![allow(missing_docs)]

/// common.KeyValuePair.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValuePair {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// etcdpb.DatabaseInfo.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DatabaseInfo {
    #[prost(string, tag = "1")]
    pub tenant_id: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(int64, tag = "3")]
    pub id: i64,
    #[prost(int32, tag = "4")]
    pub state: i32,
    #[prost(uint64, tag = "5")]
    pub created_time: u64,
    /// 2.4 and later.
    #[prost(message, repeated, tag = "6")]
    pub properties: Vec<KeyValuePair>,
}

/// schemapb.ValueField (a field's default value).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueField {
    #[prost(bool, optional, tag = "1")]
    pub bool_data: Option<bool>,
    #[prost(int32, optional, tag = "2")]
    pub int_data: Option<i32>,
    #[prost(int64, optional, tag = "3")]
    pub long_data: Option<i64>,
    #[prost(float, optional, tag = "4")]
    pub float_data: Option<f32>,
    #[prost(double, optional, tag = "5")]
    pub double_data: Option<f64>,
    #[prost(string, optional, tag = "6")]
    pub string_data: Option<String>,
    #[prost(bytes = "vec", optional, tag = "7")]
    pub bytes_data: Option<Vec<u8>>,
    #[prost(int64, optional, tag = "8")]
    pub timestamptz_data: Option<i64>,
    #[prost(int32, optional, tag = "9")]
    pub date_data: Option<i32>,
    #[prost(int64, optional, tag = "10")]
    pub time_data: Option<i64>,
}

impl ValueField {
    /// The value as text (bytes in hex).
    pub fn text(&self) -> String {
        if let Some(v) = self.bool_data {
            v.to_string()
        } else if let Some(v) = self.int_data {
            v.to_string()
        } else if let Some(v) = self.long_data {
            v.to_string()
        } else if let Some(v) = self.float_data {
            v.to_string()
        } else if let Some(v) = self.double_data {
            v.to_string()
        } else if let Some(v) = &self.string_data {
            format!("{v:?}")
        } else if let Some(v) = &self.bytes_data {
            v.iter().map(|b| format!("{b:02x}")).collect()
        } else if let Some(v) = self.timestamptz_data.or(self.time_data) {
            v.to_string()
        } else if let Some(v) = self.date_data {
            v.to_string()
        } else {
            "null".into()
        }
    }
}

/// schemapb.FieldSchema.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldSchema {
    #[prost(int64, tag = "1")]
    pub field_id: i64,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(bool, tag = "3")]
    pub is_primary_key: bool,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(int32, tag = "5")]
    pub data_type: i32,
    #[prost(message, repeated, tag = "6")]
    pub type_params: Vec<KeyValuePair>,
    #[prost(message, repeated, tag = "7")]
    pub index_params: Vec<KeyValuePair>,
    #[prost(bool, tag = "8")]
    pub auto_id: bool,
    #[prost(int32, tag = "9")]
    pub state: i32,
    #[prost(int32, tag = "10")]
    pub element_type: i32,
    #[prost(message, optional, tag = "11")]
    pub default_value: Option<ValueField>,
    #[prost(bool, tag = "12")]
    pub is_dynamic: bool,
    #[prost(bool, tag = "13")]
    pub is_partition_key: bool,
    /// 2.4 and later.
    #[prost(bool, tag = "14")]
    pub is_clustering_key: bool,
    /// 2.5 and later.
    #[prost(bool, tag = "15")]
    pub nullable: bool,
    /// 2.5 and later (BM25 and embedding outputs).
    #[prost(bool, tag = "16")]
    pub is_function_output: bool,
}

/// schemapb.FunctionSchema (2.5 and later: BM25, text embedding, ...).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FunctionSchema {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int64, tag = "2")]
    pub id: i64,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(int32, tag = "4")]
    pub r#type: i32,
    #[prost(string, repeated, tag = "5")]
    pub input_field_names: Vec<String>,
    #[prost(int64, repeated, tag = "6")]
    pub input_field_ids: Vec<i64>,
    #[prost(string, repeated, tag = "7")]
    pub output_field_names: Vec<String>,
    #[prost(int64, repeated, tag = "8")]
    pub output_field_ids: Vec<i64>,
    #[prost(message, repeated, tag = "9")]
    pub params: Vec<KeyValuePair>,
}

/// schemapb.StructArrayFieldSchema (2.6 and later).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StructArrayFieldSchema {
    #[prost(int64, tag = "1")]
    pub field_id: i64,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(message, repeated, tag = "4")]
    pub fields: Vec<FieldSchema>,
    #[prost(message, repeated, tag = "5")]
    pub type_params: Vec<KeyValuePair>,
    #[prost(bool, tag = "6")]
    pub nullable: bool,
}

/// milvuspb.PrivilegeGroupInfo (2.5 and later).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PrivilegeGroupInfo {
    #[prost(string, tag = "1")]
    pub group_name: String,
    #[prost(message, repeated, tag = "2")]
    pub privileges: Vec<PrivilegeEntity>,
}

/// milvuspb.PrivilegeEntity.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PrivilegeEntity {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// schemapb.CollectionSchema.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CollectionSchema {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub description: String,
    #[prost(bool, tag = "3")]
    pub auto_id: bool,
    #[prost(message, repeated, tag = "4")]
    pub fields: Vec<FieldSchema>,
    #[prost(bool, tag = "5")]
    pub enable_dynamic_field: bool,
    /// 2.4 and later.
    #[prost(message, repeated, tag = "6")]
    pub properties: Vec<KeyValuePair>,
    /// 2.5 and later (2.5 also keeps them under `root-coord/functions/`).
    #[prost(message, repeated, tag = "7")]
    pub functions: Vec<FunctionSchema>,
    /// 2.6 and later.
    #[prost(message, repeated, tag = "9")]
    pub struct_array_fields: Vec<StructArrayFieldSchema>,
}

/// etcdpb.CollectionInfo.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CollectionInfo {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(message, optional, tag = "2")]
    pub schema: Option<CollectionSchema>,
    #[prost(uint64, tag = "3")]
    pub create_time: u64,
    #[prost(int64, repeated, tag = "4")]
    pub partition_ids: Vec<i64>,
    #[prost(string, repeated, tag = "5")]
    pub partition_names: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    pub virtual_channel_names: Vec<String>,
    #[prost(int32, tag = "10")]
    pub shards_num: i32,
    #[prost(int32, tag = "12")]
    pub consistency_level: i32,
    #[prost(int32, tag = "13")]
    pub state: i32,
    #[prost(message, repeated, tag = "14")]
    pub properties: Vec<KeyValuePair>,
    #[prost(int64, tag = "15")]
    pub db_id: i64,
}

/// etcdpb.PartitionInfo.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PartitionInfo {
    #[prost(int64, tag = "1")]
    pub partition_id: i64,
    #[prost(string, tag = "2")]
    pub partition_name: String,
    #[prost(uint64, tag = "3")]
    pub partition_created_timestamp: u64,
    #[prost(int64, tag = "4")]
    pub collection_id: i64,
    #[prost(int32, tag = "5")]
    pub state: i32,
}

/// etcdpb.AliasInfo.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AliasInfo {
    #[prost(string, tag = "1")]
    pub alias_name: String,
    #[prost(int64, tag = "2")]
    pub collection_id: i64,
    #[prost(uint64, tag = "3")]
    pub created_time: u64,
    #[prost(int32, tag = "4")]
    pub state: i32,
    #[prost(int64, tag = "5")]
    pub db_id: i64,
}

/// datapb.SegmentInfo (binlog lists stripped in the stored copy).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SegmentInfo {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub collection_id: i64,
    #[prost(int64, tag = "3")]
    pub partition_id: i64,
    #[prost(string, tag = "4")]
    pub insert_channel: String,
    #[prost(int64, tag = "5")]
    pub num_of_rows: i64,
    #[prost(int32, tag = "6")]
    pub state: i32,
    #[prost(int32, tag = "20")]
    pub level: i32,
    /// 2.4 and later.
    #[prost(int64, tag = "21")]
    pub storage_version: i64,
    /// 2.4 and later: sorted by primary key.
    #[prost(bool, tag = "25")]
    pub is_sorted: bool,
    /// 2.5 and later: hidden until a task finishes (sort, import).
    #[prost(bool, tag = "28")]
    pub is_invisible: bool,
    /// 2.6 and later.
    #[prost(bool, tag = "30")]
    pub is_created_by_streaming: bool,
}

/// indexpb.IndexInfo.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexInfo {
    #[prost(int64, tag = "1")]
    pub collection_id: i64,
    #[prost(int64, tag = "2")]
    pub field_id: i64,
    #[prost(string, tag = "3")]
    pub index_name: String,
    #[prost(int64, tag = "4")]
    pub index_id: i64,
    #[prost(message, repeated, tag = "5")]
    pub type_params: Vec<KeyValuePair>,
    #[prost(message, repeated, tag = "6")]
    pub index_params: Vec<KeyValuePair>,
    #[prost(bool, tag = "11")]
    pub is_auto_index: bool,
    #[prost(message, repeated, tag = "12")]
    pub user_index_params: Vec<KeyValuePair>,
}

/// indexpb.FieldIndex.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldIndex {
    #[prost(message, optional, tag = "1")]
    pub index_info: Option<IndexInfo>,
    #[prost(bool, tag = "2")]
    pub deleted: bool,
    #[prost(uint64, tag = "3")]
    pub create_time: u64,
}

/// indexpb.SegmentIndex (only what the catalog counts).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SegmentIndex {
    #[prost(int64, tag = "1")]
    pub collection_id: i64,
    #[prost(int64, tag = "3")]
    pub segment_id: i64,
    #[prost(int64, tag = "4")]
    pub num_rows: i64,
    #[prost(int64, tag = "5")]
    pub index_id: i64,
    #[prost(int32, tag = "9")]
    pub state: i32,
    #[prost(bool, tag = "12")]
    pub deleted: bool,
}

/// querypb.CollectionLoadInfo.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CollectionLoadInfo {
    #[prost(int64, tag = "1")]
    pub collection_id: i64,
    #[prost(int32, tag = "3")]
    pub replica_number: i32,
    #[prost(int32, tag = "4")]
    pub status: i32,
    #[prost(int32, tag = "6")]
    pub load_type: i32,
    /// 2.5 and later: the fields loaded (empty: all).
    #[prost(int64, repeated, tag = "8")]
    pub load_fields: Vec<i64>,
}

/// querypb.Replica.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Replica {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub collection_id: i64,
    #[prost(int64, repeated, tag = "3")]
    pub nodes: Vec<i64>,
    #[prost(string, tag = "4")]
    pub resource_group: String,
    /// 2.5 and later: nodes being moved out.
    #[prost(int64, repeated, tag = "5")]
    pub ro_nodes: Vec<i64>,
}

/// querypb.ResourceGroup.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceGroup {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int32, tag = "2")]
    pub capacity: i32,
    #[prost(int64, repeated, tag = "3")]
    pub nodes: Vec<i64>,
}

/// Load states (querypb.LoadStatus).
pub fn load_status_name(s: i32) -> String {
    match s {
        0 => "Invalid".into(),
        1 => "Loading".into(),
        2 => "Loaded".into(),
        n => format!("Unknown({n})"),
    }
}

/// Load kinds (querypb.LoadType).
pub fn load_type_name(s: i32) -> String {
    match s {
        0 => "Unknown".into(),
        1 => "LoadPartition".into(),
        2 => "LoadCollection".into(),
        n => format!("Unknown({n})"),
    }
}

/// Segment levels (datapb.SegmentLevel).
pub fn segment_level_name(s: i32) -> String {
    match s {
        0 => "Legacy".into(),
        1 => "L0".into(),
        2 => "L1".into(),
        3 => "L2".into(),
        n => format!("Unknown({n})"),
    }
}

/// The field numbers of one message that no Milvus line up to 2.6 declares,
/// as (message name, declared numbers).
pub mod known {
    pub const DATABASE_INFO: (&str, &[u32]) = ("etcdpb.DatabaseInfo", &[1, 2, 3, 4, 5, 6]);
    pub const COLLECTION_INFO: (&str, &[u32]) = (
        "etcdpb.CollectionInfo",
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
    );
    pub const PARTITION_INFO: (&str, &[u32]) = ("etcdpb.PartitionInfo", &[1, 2, 3, 4, 5]);
    pub const ALIAS_INFO: (&str, &[u32]) = ("etcdpb.AliasInfo", &[1, 2, 3, 4, 5]);
    pub const FIELD_SCHEMA: (&str, &[u32]) = (
        "schemapb.FieldSchema",
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
        ],
    );
    pub const FUNCTION_SCHEMA: (&str, &[u32]) =
        ("schemapb.FunctionSchema", &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    pub const STRUCT_ARRAY_FIELD: (&str, &[u32]) =
        ("schemapb.StructArrayFieldSchema", &[1, 2, 3, 4, 5, 6]);
    pub const PRIVILEGE_GROUP: (&str, &[u32]) = ("milvuspb.PrivilegeGroupInfo", &[1, 2]);
    pub const SEGMENT_INFO: (&str, &[u32]) = (
        "datapb.SegmentInfo",
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
            25, 26, 27, 28, 29, 30, 31, 32, 33,
        ],
    );
    pub const FIELD_INDEX: (&str, &[u32]) = ("indexpb.FieldIndex", &[1, 2, 3]);
    pub const SEGMENT_INDEX: (&str, &[u32]) = (
        "indexpb.SegmentIndex",
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
        ],
    );
    pub const COLLECTION_LOAD_INFO: (&str, &[u32]) =
        ("querypb.CollectionLoadInfo", &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    pub const REPLICA: (&str, &[u32]) = ("querypb.Replica", &[1, 2, 3, 4, 5, 6, 7, 8]);
    pub const RESOURCE_GROUP: (&str, &[u32]) = ("querypb.ResourceGroup", &[1, 2, 3, 4]);
}

/// The distinct top-level field numbers of an encoded message that are not
/// in `known`, in order. `None` when the bytes are not a well-formed
/// message (prost would have refused them too).
pub fn unknown_fields(mut b: &[u8], known: &[u32]) -> Option<Vec<u32>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&c, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(c & 0x7f) << (7 * i);
            if c & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = std::collections::BTreeSet::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let field = u32::try_from(key >> 3).ok()?;
        let skip = match key & 7 {
            0 => {
                varint(&mut b)?;
                0
            }
            1 => 8,
            2 => usize::try_from(varint(&mut b)?).ok()?,
            5 => 4,
            _ => return None,
        };
        b = b.get(skip..)?;
        if !known.contains(&field) {
            out.insert(field);
        }
    }
    Some(out.into_iter().collect())
}

/// Names of schemapb.DataType values.
pub fn data_type_name(t: i32) -> String {
    match t {
        0 => "None".into(),
        1 => "Bool".into(),
        2 => "Int8".into(),
        3 => "Int16".into(),
        4 => "Int32".into(),
        5 => "Int64".into(),
        10 => "Float".into(),
        11 => "Double".into(),
        20 => "String".into(),
        21 => "VarChar".into(),
        22 => "Array".into(),
        23 => "JSON".into(),
        24 => "Geometry".into(),
        25 => "Text".into(),
        26 => "Timestamptz".into(),
        27 => "Mol".into(),
        28 => "Date".into(),
        29 => "Time".into(),
        30 => "Decimal".into(),
        31 => "UUID".into(),
        100 => "BinaryVector".into(),
        101 => "FloatVector".into(),
        102 => "Float16Vector".into(),
        103 => "BFloat16Vector".into(),
        104 => "SparseFloatVector".into(),
        105 => "Int8Vector".into(),
        106 => "ArrayOfVector".into(),
        200 => "ArrayOfStruct".into(),
        201 => "Struct".into(),
        n => format!("Unknown({n})"),
    }
}

/// Collection, partition and alias states.
pub fn object_state_name(s: i32) -> String {
    match s {
        0 => "Created".into(),
        1 => "Creating".into(),
        2 => "Dropping".into(),
        3 => "Dropped".into(),
        n => format!("Unknown({n})"),
    }
}

/// Database states.
pub fn database_state_name(s: i32) -> String {
    match s {
        0 => "Unknown".into(),
        1 => "Created".into(),
        2 => "Creating".into(),
        3 => "Dropping".into(),
        4 => "Dropped".into(),
        n => format!("Unknown({n})"),
    }
}

/// Segment states (common.SegmentState).
pub fn segment_state_name(s: i32) -> String {
    match s {
        0 => "None".into(),
        1 => "NotExist".into(),
        2 => "Growing".into(),
        3 => "Sealed".into(),
        4 => "Flushed".into(),
        5 => "Flushing".into(),
        6 => "Dropped".into(),
        7 => "Importing".into(),
        n => format!("Unknown({n})"),
    }
}

/// Index build states (common.IndexState).
pub fn index_state_name(s: i32) -> String {
    match s {
        0 => "None".into(),
        1 => "Unissued".into(),
        2 => "InProgress".into(),
        3 => "Finished".into(),
        4 => "Failed".into(),
        5 => "Retry".into(),
        n => format!("Unknown({n})"),
    }
}

/// Function kinds (schemapb.FunctionType).
pub fn function_type_name(t: i32) -> String {
    match t {
        0 => "Unknown".into(),
        1 => "BM25".into(),
        2 => "TextEmbedding".into(),
        3 => "Rerank".into(),
        4 => "MinHash".into(),
        5 => "MolFingerprint".into(),
        n => format!("Unknown({n})"),
    }
}

/// Consistency levels.
pub fn consistency_name(s: i32) -> String {
    match s {
        0 => "Strong".into(),
        1 => "Session".into(),
        2 => "Bounded".into(),
        3 => "Eventually".into(),
        4 => "Customized".into(),
        n => format!("Unknown({n})"),
    }
}
