//! Provably fair outcomes: the seed hash and the roll. They live in `ledger::fair`, where
//! the read side (`audit verify`, `fair verify`) recomputes with the same code; the bot
//! uses them from here.
//!
//! A bet's roll is HMAC-SHA256(server_seed, "client_seed:nonce"): the first 8 bytes as a
//! big-endian integer, modulo 10,000, read as 0.00-99.99.

pub use ledger::fair::{roll, seed_hash, show_roll, ServerSeed, ROLL_RANGE};
