//! Milvus metadata (coming).
