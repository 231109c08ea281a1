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
/// findings, key not found); 2 usage error or unusable input.
#[derive(Parser, Debug)]
#[command(name = "boltsnap", version, about, long_about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read and check any bbolt file (replaces Go's `bbolt` CLI).
    #[command(subcommand)]
    Bolt(BoltCommand),
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
    /// Print JSON for scripts instead of text.
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
    },
}
