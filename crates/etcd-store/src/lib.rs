//! etcd storage schema (coming).
