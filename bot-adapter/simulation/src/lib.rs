//! Telegram without Telegram, for `croupier demo`, `croupier chat`, `bench webhook` and
//! the tests: [`fake::FakeTelegram`], a Bot API server on 127.0.0.1 that speaks the real
//! JSON (and can answer 429, 5xx or time out); [`Simulation`], the real bot wired to it;
//! [`updates`], the update JSON players send, and [`Updates`], which numbers them for a
//! simulated run.
//!
//! Architecture invariant: nothing in the product's serving path uses this crate; the
//! binary uses it only for `demo`, `chat` and `bench webhook`.

pub mod fake;
mod simulation;
pub mod updates;

pub use simulation::{Simulation, SimulationError, Updates, TOKEN};
