//! One module per subcommand: each parses nothing (clap did), wires the crates together
//! and prints; the logic lives in the crates.

pub mod audit;
pub mod bot_admin;
pub mod chat;
pub mod demo;
pub mod fair;
pub mod ledger_demo;
pub mod payments;
pub mod report;
pub mod serve;
pub mod submit;

use std::fmt;

/// Input the user has to correct, found after clap's own checks (arguments that only make
/// sense together, a position beyond the head): `main` prints it and exits 2, as clap does
/// for what it checks itself. Exit 1 stays for infrastructure.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// A [`BadInput`] as the error a command returns.
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    BadInput(message.into()).into()
}
