//! `boltsnap`: rescue Milvus metadata from the bbolt file of a dead etcd, and
//! read, check and write bbolt files without Go.
//!
//! This binary only parses arguments and prints; the work is done by the
//! `bbolt`, `etcd-store` and `milvus-meta` crates.

// The CLI indexes only what it built itself (JSON objects, fixed tables);
// bytes from files are read through the bbolt crate.
#![allow(clippy::indexing_slicing)]

/// mimalloc: the export and the live view allocate a few large tables and
/// free them at the end; glibc's malloc hands such blocks back to the
/// kernel and faults fresh pages in each time (a fifth of the export's
/// time went to the kernel), mimalloc keeps and reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod cmd;
mod input;
mod out;

use std::process::ExitCode;

use clap::Parser;

/// How a command ended, mapped to the exit code.
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: the command worked and found problems (check findings, key
    /// not found, differences).
    Problems,
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let lost = || input::WAL_LOST_ENTRIES.load(std::sync::atomic::Ordering::Relaxed);
    match cmd::run(cli) {
        Ok(Outcome::Ok) if lost() => {
            eprintln!("boltsnap: the WAL is damaged: the entries after the damage are lost (the WAL line above says which); exit status 1");
            ExitCode::from(1)
        }
        Ok(Outcome::Ok) if input::MERGE_UNDECIDED.load(std::sync::atomic::Ordering::Relaxed) => {
            eprintln!("boltsnap: the members disagree on revisions no majority settles, or every member lost some (see the merge line above); exit status 1");
            ExitCode::from(1)
        }
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("boltsnap: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
