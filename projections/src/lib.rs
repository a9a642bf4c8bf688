//! Croupier's read side: the projector and its read models (balances and house accounts
//! so far), the finance reports read from them, and the auditors' tools (verifying the
//! whole log from genesis, exporting it in readable form). Never writes to the log.

pub mod audit;
pub mod export;
pub mod projector;
pub mod report;
pub mod time;
