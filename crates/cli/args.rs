//! What was typed: the command line, parsed by clap. No I/O here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Rescue Milvus metadata from the bbolt file of a dead etcd; read, check and
/// write bbolt files without Go.
///
/// Input files are only ever read: they are mapped read-only, no lock is
/// taken (a running etcd is never blocked), and nothing is written back.
///
/// Exit codes: 0 success; 1 the command worked and found problems (check
/// findings, `verify` of a damaged backup, differences, key not found, a
/// restore whose read-back differs, a `--salvage` read that met damage:
/// its output is written); 2 usage error or unusable input, with a
/// message naming the file.
#[derive(Parser, Debug)]
#[command(
    name = "boltsnap",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read and check any bbolt file (replaces Go's `bbolt` CLI).
    #[command(subcommand)]
    Bolt(BoltCommand),
    /// Read etcd's storage offline from a data-dir db or a snapshot file
    /// (replaces `etcdutl snapshot status` and `etcd-dump-db`).
    #[command(subcommand)]
    Etcd(EtcdCommand),
    /// Export the Milvus metadata of an etcd db to a backup: every live key
    /// except each root's `<root>/meta/session/...` and keys attached to a
    /// lease (both counted in the summary).
    Export(ExportArgs),
    /// Check a backup: magic, format version, checksum, record order and
    /// counts. A jsonl backup has no checksum: its lines, key order and
    /// counts are checked, and the report says so. Exit 1 if anything is
    /// wrong.
    Verify {
        /// The backup file.
        backup: PathBuf,
        #[command(flatten)]
        json: JsonArg,
    },
    /// What is in a db or a backup: Milvus roots, keys and bytes per area,
    /// databases, collections (fields, shards, partitions, aliases,
    /// segments, rows, indexes), users and roles, sessions.
    Inspect {
        /// An etcd db, a snapshot file, or a backup.
        input: PathBuf,
        /// Only this root.
        #[arg(long)]
        root: Option<String>,
        /// Read a damaged db as `export --salvage` does.
        #[arg(long)]
        salvage: bool,
        /// Check the cross-references Milvus relies on instead of listing
        /// the catalog: segments, indexes, partitions, fields, aliases,
        /// load infos and channel records of collections that do not exist
        /// (or are dropped), collections in missing databases, binlogs and
        /// segment indexes of missing segments, indexes on missing fields,
        /// allocators behind stored IDs and timestamps. One line per
        /// finding with the keys involved; exit 1 when there is one.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        wal: WalArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Put a backup back: offline as a snapshot file for `etcdutl snapshot
    /// restore` (--snapshot), or online into a running etcd (--endpoints).
    Restore(RestoreArgs),
    /// Key-level differences between two dbs, snapshots or backups; exit 1
    /// when they differ.
    Diff {
        /// First input (db, snapshot file or backup).
        a: PathBuf,
        /// Second input.
        b: PathBuf,
        /// Print at most this many keys per kind of difference (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Another member of A's cluster, merged with A before comparing
        /// (repeat for each; as the extra members of `export`).
        #[arg(long = "a-member", value_name = "PATH")]
        a_members: Vec<PathBuf>,
        /// Another member of B's cluster, merged with B.
        #[arg(long = "b-member", value_name = "PATH")]
        b_members: Vec<PathBuf>,
        /// WAL options, for both sides when they are data dirs.
        #[command(flatten)]
        wal: WalArgs,
        #[command(flatten)]
        json: JsonArg,
    },
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["snapshot", "endpoints"]))]
pub struct RestoreArgs {
    /// The backup to restore (.bsnap, or a jsonl backup from
    /// `export --format jsonl`).
    pub backup: PathBuf,
    /// Offline: write an etcd snapshot file here (with its sha256 trailer),
    /// for `etcdutl snapshot restore` (3.5+) or `etcdctl snapshot restore`
    /// (3.4). Revisions, create revisions and versions are kept.
    #[arg(long, value_name = "OUT")]
    pub snapshot: Option<PathBuf>,
    /// Online: write into a running etcd through its v3 gRPC API, or its
    /// JSON gateway with --transport gateway (client URLs, comma-separated;
    /// the first that answers is used). Keys get new revisions there. Refused if the target already holds keys under the
    /// backup's roots, unless --force. Everything is read back and compared.
    #[arg(long, value_delimiter = ',', value_name = "URL")]
    pub endpoints: Vec<String>,
    /// etcd user, as NAME or NAME:PASSWORD (the password may also come from
    /// the environment variable BOLTSNAP_ETCD_PASSWORD).
    #[arg(long, value_name = "NAME[:PASSWORD]")]
    pub user: Option<String>,
    /// PEM CA bundle to trust for https endpoints.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// PEM client certificate (with --key) for TLS client authentication.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Most operations per transaction (etcd's --max-txn-ops).
    #[arg(long, default_value_t = 128)]
    pub max_ops: usize,
    /// Most bytes per request (etcd's --max-request-bytes, 1.5 MiB).
    #[arg(long, default_value_t = 1536 * 1024)]
    pub max_bytes: usize,
    /// Online: transactions in flight at once (and read-back ranges). More
    /// lets etcd batch its WAL fsyncs; 1 sends one transaction at a time.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// Online: etcd's client API to write through. grpc (HTTP/2, protobuf)
    /// is about ten times faster; gateway (JSON over HTTP/1.1) passes proxies
    /// and port-forwards that carry only HTTP/1.1.
    #[arg(long, value_enum, default_value_t = Transport::Grpc)]
    pub transport: Transport,
    /// Online: continue a restore that stopped (Ctrl-C, a dropped
    /// connection, a target restart). Keys already in the target with the
    /// backup's value and no lease are skipped and counted; any other key
    /// under the backup's roots is still refused unless --force. Everything
    /// is read back and compared as usual.
    #[arg(long, conflicts_with = "snapshot")]
    pub resume: bool,
    /// Write nothing. Online: connect, check the target and count the
    /// batches. With --snapshot: read and check the backup and the output
    /// path, and say what would be written.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the keys of Milvus root OLD under NEW (`by-dev=copy`), for a
    /// Milvus configured with `etcd.rootPath: NEW`; keys of other roots are
    /// written as they are. Refused, before anything is written, when a
    /// value under OLD holds a path under OLD (it would point at a key that
    /// is gone), when NEW is already a root of the backup, or when the
    /// renamed keys would sort among another root's.
    #[arg(long, value_name = "OLD=NEW")]
    pub rename_root: Option<String>,
    /// Page size of the snapshot's bbolt file (with --snapshot).
    #[arg(long, default_value_t = 4096)]
    pub page_size: u32,
    /// Replace the snapshot file, or write into a target that already holds keys.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// etcd client APIs an online restore can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Transport {
    /// etcd's v3 gRPC API.
    #[default]
    Grpc,
    /// etcd's v3 JSON gateway (`/v3/kv/txn`, `/v3/kv/range`).
    Gateway,
}

/// Backup formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum BackupFormat {
    /// The boltsnap backup file: zstd, SHA-256, manifest.
    #[default]
    Bsnap,
    /// JSON lines: a manifest line, then one line per key as etcdctl get -w
    /// json's kvs. Readable with jq and read back by every command, but
    /// without a checksum.
    Jsonl,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The etcd source: the dead etcd's data dir (or its `member/` dir; the
    /// WAL is replayed onto the db), its `member/snap/db`, or a snapshot file.
    pub db: PathBuf,
    #[command(flatten)]
    pub wal: WalArgs,
    /// Where to write the backup (`-` for stdout).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Only these Milvus roots (repeatable; default: every key, all roots).
    #[arg(long = "root")]
    pub roots: Vec<String>,
    /// Export the keys as of this revision (0: the newest).
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// Keep `<root>/meta/session/id`, Milvus's ServerID counter.
    #[arg(long)]
    pub keep_session_id: bool,
    /// Keep keys attached to a lease (their lease is dropped).
    #[arg(long)]
    pub include_leased: bool,
    /// Leave out the copies under `<root>/meta/snapshots/` that Milvus no
    /// longer reads: every timestamped copy of a dropped object and every
    /// copy but the newest of the others (RootCoord's history; millions of
    /// them fill etcd's quota: "database space exceeded"). The newest copy
    /// of each live object stays: Milvus up to 2.6.11 reads it when it
    /// starts. With `restore --snapshot` this makes a small db a fresh etcd
    /// starts with. Counted, with the bytes saved.
    #[arg(long)]
    pub drop_snapshots: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: BackupFormat,
    /// Replace the output if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON (on stdout; on stderr when the backup goes to stdout).
    #[arg(long)]
    pub json: bool,
    /// Recover what a damaged db still holds: the tree where it is sound,
    /// the other meta page's tree, and a scan of every page for `key`-bucket
    /// entries. The salvage report goes into the summary and the manifest.
    #[arg(long)]
    pub salvage: bool,
    /// With --salvage: also leave out every key whose newest change may be
    /// lost (listed as possibly stale), so that no key gets an older value.
    #[arg(long, requires = "salvage")]
    pub exclude_stale: bool,
}

/// Output formats of the etcd commands, as etcdctl's `-w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum WriteOut {
    /// One line.
    #[default]
    Simple,
    /// JSON, in etcdctl's shapes.
    Json,
    /// An ASCII table.
    Table,
    /// `"Name" : value` lines.
    Fields,
}

/// Output formats of the key listings (`ls`, `get`, `history`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum KvWriteOut {
    /// Key and value lines, as `etcdctl get` prints them.
    #[default]
    Simple,
    /// JSON in etcdctl's shape (base64 keys and values).
    Json,
}

impl From<KvWriteOut> for WriteOut {
    fn from(w: KvWriteOut) -> WriteOut {
        match w {
            KvWriteOut::Simple => WriteOut::Simple,
            KvWriteOut::Json => WriteOut::Json,
        }
    }
}

/// Whose HashKV rules to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum HashRulesArg {
    /// etcd 3.4.34+, 3.5.16+, 3.6: only revisions below the compact revision
    /// are refused; a tombstone at the compact revision is not hashed.
    #[default]
    Current,
    /// etcd up to 3.4.26 and 3.5.9 (e.g. Debian's 3.4.23, 3.5.1): the compact
    /// revision itself is refused; a tombstone there is hashed.
    Legacy,
}

#[derive(Args, Debug)]
pub struct EtcdDbArg {
    /// An etcd data dir (holding `member/`), a `member/` dir, a db
    /// (`member/snap/db`), or a `snapshot save` file (its sha256 trailer is
    /// verified). A data dir's WAL is replayed onto its db.
    pub path: PathBuf,
    #[command(flatten)]
    pub wal: WalArgs,
}

/// An etcd db and a key: `DB KEY [MORE_MEMBERS]...` (the key before the
/// optional members, so that it is never taken for one).
#[derive(Args, Debug)]
pub struct EtcdDbKeyArg {
    /// An etcd data dir (holding `member/`), a `member/` dir, a db
    /// (`member/snap/db`), or a `snapshot save` file (its sha256 trailer is
    /// verified). A data dir's WAL is replayed onto its db.
    pub path: PathBuf,
    /// The key.
    pub key: String,
    #[command(flatten)]
    pub wal: WalArgs,
}

/// How a data dir's write-ahead log is used.
#[derive(Args, Debug, Clone, Default)]
pub struct WalArgs {
    /// More members of the same cluster (data dirs, `member/` dirs or
    /// dbs), each read with its WAL like the first: their histories are
    /// merged revision by revision, every revision checked against every
    /// member that holds it (a majority of three or more settles a
    /// disagreement; two that disagree are reported and exit 1).
    #[arg(value_name = "MORE_MEMBERS")]
    pub members: Vec<PathBuf>,
    /// The WAL dir, for an etcd started with `--wal-dir` (default:
    /// `member/wal` beside the db).
    #[arg(long, value_name = "DIR")]
    pub wal_dir: Option<PathBuf>,
    /// Read the db alone, even when a WAL is beside it (the db is then
    /// behind what etcd acknowledged: it commits in batches).
    #[arg(long, conflicts_with = "wal_dir")]
    pub no_wal: bool,
    /// Which WAL entries to replay: `end`, every valid entry (what this
    /// member serves after a restart on its own; with several members, up
    /// to the last entry a majority holds, what the cluster acknowledged),
    /// `commit`, only up to the WAL's last HardState.commit, or `longest`
    /// (several members): every member's every valid entry, also a tail
    /// only a minority holds (which a restarted cluster serves if it elects
    /// that member again).
    #[arg(long, value_enum, default_value_t, value_name = "WHERE")]
    pub wal_until: WalUntil,
}

impl WalArgs {
    /// `--wal-until commit`.
    pub fn wal_until_commit(&self) -> bool {
        self.wal_until == WalUntil::Commit
    }
}

/// Where the WAL replay stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum WalUntil {
    /// Every valid entry.
    #[default]
    End,
    /// The WAL's last HardState.commit.
    Commit,
    /// Several members: every valid entry of each, a minority's tail too.
    Longest,
}

#[derive(Subcommand, Debug)]
pub enum EtcdCommand {
    /// Hash, revision, total keys and size, computed as `etcdutl snapshot status` (3.5).
    Status {
        #[command(flatten)]
        db: EtcdDbArg,
        /// Output format.
        #[arg(short = 'w', long = "write-out", value_enum, default_value_t)]
        write_out: WriteOut,
        /// Also print the meta bucket, trailer, compact revision and live key count.
        #[arg(long)]
        detail: bool,
    },
    /// The live keys (at the head or at --rev), sorted by key.
    Ls {
        #[command(flatten)]
        db: EtcdDbArg,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// The revision to read at (0: the newest). Refused below the compact revision.
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// Print keys only.
        #[arg(long)]
        keys_only: bool,
        /// Output format: simple (key and value lines, as etcdctl get) or json
        /// (etcdctl get -w json's shape, base64 keys and values).
        #[arg(short = 'w', long = "write-out", value_enum, default_value_t)]
        write_out: KvWriteOut,
        /// Read a damaged db: sound tree parts, the other meta, and a page
        /// scan (see `export --salvage`); the report goes to stderr.
        #[arg(long)]
        salvage: bool,
    },
    /// The value of one key at the head (or at --rev); exit 1 if it is not live.
    Get {
        #[command(flatten)]
        db: EtcdDbKeyArg,
        /// The revision to read at (0: the newest).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// Output format (simple: key and value lines; json: etcdctl's shape).
        #[arg(short = 'w', long = "write-out", value_enum, default_value_t)]
        write_out: KvWriteOut,
    },
    /// Every revision of one key still on disk: puts and deletes, with leases.
    History {
        #[command(flatten)]
        db: EtcdDbKeyArg,
        /// Output format (simple or json).
        #[arg(short = 'w', long = "write-out", value_enum, default_value_t)]
        write_out: KvWriteOut,
    },
    /// The whole store of a data dir after the WAL replay, as an etcd
    /// snapshot file (sha256 trailer) that `etcdutl snapshot restore` (3.5)
    /// and `etcdctl snapshot restore` (3.4) take: `snapshot save` for an
    /// etcd that cannot start. Every bucket and all history are kept.
    Snapshot {
        #[command(flatten)]
        db: EtcdDbArg,
        /// The snapshot file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Replace the output if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        json: JsonArg,
    },
    /// The HashKV that `etcdctl endpoint hashkv --rev R` prints for this db.
    Hashkv {
        #[command(flatten)]
        db: EtcdDbArg,
        /// The revision (0: the newest).
        #[arg(long, default_value_t = 0)]
        rev: i64,
        /// Which etcd versions' rules to follow.
        #[arg(long, value_enum, default_value_t)]
        rules: HashRulesArg,
        /// Output format (simple: `hash, revision, compact revision`; json; table).
        #[arg(short = 'w', long = "write-out", value_enum, default_value_t)]
        write_out: WriteOut,
    },
}

#[derive(Subcommand, Debug)]
pub enum SurgeryCommand {
    /// Copy the file with the older valid meta page made current: rolls
    /// back the last commit (Go: `bbolt surgery revert-meta-page`). The fix
    /// for a torn last write whose newest meta points at garbage.
    RevertMeta {
        /// The damaged file (only read).
        path: PathBuf,
        /// Where to write the repaired copy.
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// Replace the output if it exists.
        #[arg(long)]
        force: bool,
    },
}

/// How bytes (keys, values) are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum ByteFormat {
    /// The text if printable, else lowercase hex.
    #[default]
    Auto,
    /// Go's %q: double-quoted with escapes.
    AsciiEncoded,
    /// Lowercase hex.
    Hex,
    /// The raw bytes.
    Bytes,
    /// `<redacted len:N sha256:...>`: never prints the content.
    Redacted,
}

/// How key arguments are given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum ParseFormat {
    /// As typed.
    #[default]
    AsciiEncoded,
    /// Hex digits.
    Hex,
}

#[derive(Args, Debug)]
pub struct DbArg {
    /// The bbolt file (opened read-only, never locked or written).
    pub path: PathBuf,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct JsonArg {
    /// Print JSON for scripts instead of text: one document, except `bolt
    /// keys` and `bolt walk`, which print one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum BoltCommand {
    /// Print the page size (`Page Size: N`); `--json` adds metas, HWM,
    /// freelist and byte order.
    Info {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// List the top-level buckets, one per line.
    Buckets {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// List the keys of a bucket (sub-bucket names too), one per line.
    Keys {
        #[command(flatten)]
        db: DbArg,
        /// Bucket path: top-level bucket, then nested buckets.
        #[arg(required = true, num_args = 1..)]
        buckets: Vec<String>,
        /// How to print keys.
        #[arg(long, value_enum, default_value_t)]
        format: ByteFormat,
        /// How bucket names on the command line are written.
        #[arg(long, value_enum, default_value_t)]
        parse_format: ParseFormat,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Print the value of a key; exit 1 if there is no such key.
    Get {
        #[command(flatten)]
        db: DbArg,
        /// Bucket path then the key: BUCKET [SUBBUCKET...] KEY.
        #[arg(required = true, num_args = 2..)]
        path_and_key: Vec<String>,
        /// How to print the value.
        #[arg(long, value_enum, default_value_t)]
        format: ByteFormat,
        /// How bucket names and the key are written.
        #[arg(long, value_enum, default_value_t)]
        parse_format: ParseFormat,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Page, key and fill statistics of the top-level buckets (Go's `Bucket.Stats`).
    Stats {
        #[command(flatten)]
        db: DbArg,
        /// Only top-level buckets whose name starts with this.
        #[arg(default_value = "")]
        prefix: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// A table of every page below the high-water mark with its type.
    Pages {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Print pages: meta fields, leaf and branch elements, freelist ids.
    Page {
        #[command(flatten)]
        db: DbArg,
        /// Page ids.
        page_ids: Vec<u64>,
        /// Every page below the high-water mark (overflow pages skipped).
        #[arg(long)]
        all: bool,
        /// How to print leaf values.
        #[arg(long, value_enum, default_value_t)]
        format_value: ByteFormat,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Verify the whole file like Go's `Tx.Check`; prints OK or the findings, exit 1 on findings.
    Check {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Hex dump of pages (one page each, as Go's `bbolt dump`).
    Dump {
        #[command(flatten)]
        db: DbArg,
        /// Page ids.
        #[arg(required = true)]
        page_ids: Vec<u64>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Rewrite a file densely: every bucket, pair and sequence, into a new
    /// file that Go opens, checks and keeps writing. SRC is only read; DST
    /// is written to a temporary file, synced, then renamed.
    Compact {
        /// The file to read.
        src: PathBuf,
        /// The file to write (refused if it exists, unless --force).
        dst: PathBuf,
        /// Page size of the new file [default: the source's].
        #[arg(long)]
        page_size: Option<u32>,
        /// How full to pack pages, 0.1 to 1.0.
        #[arg(long, default_value_t = 1.0)]
        fill: f64,
        /// Write the "no freelist" sentinel (as etcd's files) instead of an empty freelist page.
        #[arg(long)]
        no_freelist: bool,
        /// Replace DST if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Every bucket and pair, depth-first in key order.
    ///
    /// Text: an indented tree. `--json`: one object per line,
    /// `{"bucket":[<hex names>],"seq":N}` for each bucket (the path includes
    /// the bucket) and `{"bucket":[...],"key":"<hex>","value":"<hex>"}` for
    /// each pair.
    Walk {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        json: JsonArg,
        /// Skip damaged subtrees and buckets instead of stopping at the
        /// first; what was skipped goes to stderr (exit 1 if anything was).
        #[arg(long)]
        salvage: bool,
    },
    /// Repairs, always into a new file: the input is never modified.
    #[command(subcommand)]
    Surgery(SurgeryCommand),
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// clap's own consistency checks of every subcommand (positional
    /// order, conflicts, names), which a release build skips.
    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
