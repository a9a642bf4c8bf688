//! The Telegram transport and the adapter's persistence: webhook and long polling in,
//! the outbox out. The translation itself lives in the `bot-adapter` crate.

pub mod db;
pub mod dispatcher;
pub mod fake;
pub mod pipeline;
pub mod port;
pub mod reconcile;
pub mod webhook;
