//! Times as people read them: see [`ledger::time`], which the bot shares.

pub use ledger::time::*;
