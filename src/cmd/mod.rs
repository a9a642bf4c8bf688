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
