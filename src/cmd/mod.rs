//! One module per subcommand: each parses nothing (clap did), wires the crates together
//! and prints; the logic lives in the crates.

/// `println!` that returns the error instead of panicking: use it with `?`, so that a
/// closed standard output (`croupier report balances | head -0`) ends the command through
/// `main`, which exits quietly, as ripgrep does, and never with a panic's backtrace.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err($crate::cmd::stdout_error)
    }};
}

/// `print!` as [`outln!`] is `println!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*).map_err($crate::cmd::stdout_error)
    }};
}

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

/// Standard output was closed by its reader (`| head`): nothing more can be said there,
/// and nothing is wrong. `main` exits 0 without a word.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output is closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// The error of a write to standard output: [`StdoutClosed`] for a broken pipe, else the
/// write error, saying where it happened. Only writes to stdout come through here, so a
/// broken pipe elsewhere (a database connection) is never mistaken for it.
pub fn stdout_error(error: std::io::Error) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        anyhow::Error::new(error).context("cannot write to standard output")
    }
}
