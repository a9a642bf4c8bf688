//! The Telegram transport and the adapter's persistence: webhook, long polling or
//! (feature `mtproto`) MTProto in, the outbox out. The translation itself lives in the `bot-adapter` crate.

pub mod db;
pub mod dispatcher;
pub mod fake;
#[cfg(feature = "mtproto")]
pub mod mtproto;
pub mod pipeline;
pub mod port;
pub mod reconcile;
pub mod webhook;
