//! One module per command group; each turns parsed arguments into library
//! calls and output.

pub mod bolt;
pub mod etcd;

use crate::args::{Cli, Command};
use crate::Outcome;

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Bolt(c) => bolt::run(c),
        Command::Etcd(c) => etcd::run(c),
    }
}
