//! One module per command group; each turns parsed arguments into library
//! calls and output.

pub mod bolt;
pub mod etcd;
pub mod milvus;

use crate::args::{Cli, Command};
use crate::Outcome;

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Bolt(c) => bolt::run(c),
        Command::Etcd(c) => etcd::run(c),
        Command::Export(a) => milvus::export(a),
        Command::Verify { backup, json } => milvus::verify(&backup, json.json),
        Command::Inspect {
            input,
            root,
            salvage,
            check,
            wal,
            json,
        } => milvus::inspect(&input, root.as_deref(), salvage, check, &wal, json.json),
        Command::Diff {
            a,
            b,
            limit,
            a_members,
            b_members,
            wal,
            json,
        } => milvus::diff(&a, &b, &a_members, &b_members, limit, &wal, json.json),
        Command::Restore(a) => milvus::restore(a),
    }
}
