//! The harness behind `croupier bench append|replay|webhook`: each measures Croupier
//! against a raw baseline in the same run, in a scratch database it creates and drops,
//! and prints the ratio. The criterion benches beside it (`benches/benches/`) measure
//! CPU costs without a database.
//!
//! A measuring tool like the binary that drives it, it reports failures with `anyhow`.

pub mod append;
pub mod replay;
pub mod webhook;
