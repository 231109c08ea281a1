//! The Milvus messages the catalog reads, declared with prost derive.
//! Only the fields the catalog shows are declared; prost skips the others,
//! so one declaration reads every version from 2.2 to 2.5 (fields are only
//! ever added). Numbers are those of milvus-proto and Milvus's internal
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
    #[prost(bool, tag = "12")]
    pub is_dynamic: bool,
    #[prost(bool, tag = "13")]
    pub is_partition_key: bool,
    #[prost(bool, tag = "15")]
    pub nullable: bool,
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
    #[prost(int64, tag = "5")]
    pub index_id: i64,
    #[prost(int32, tag = "9")]
    pub state: i32,
    #[prost(bool, tag = "12")]
    pub deleted: bool,
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
        100 => "BinaryVector".into(),
        101 => "FloatVector".into(),
        102 => "Float16Vector".into(),
        103 => "BFloat16Vector".into(),
        104 => "SparseFloatVector".into(),
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
