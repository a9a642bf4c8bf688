//! Croupier's read side: the projector and its read models (balances, house accounts,
//! bets, deposits, daily finance, sessions), the finance reports read from them, and the
//! auditors' tools (verifying the whole log from genesis, exporting it in readable form).
//! Never writes to the log.

pub mod audit;
mod bulk;
pub mod export;
pub mod fair;
pub mod follow;
mod models;
mod pages;
pub mod projector;
pub mod report;
pub mod table;
pub mod time;
