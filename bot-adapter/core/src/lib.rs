//! The Telegram bot adapter: turns Telegram inputs into ledger commands and replies,
//! independent of the transport (webhook, long polling, MTProto).
//!
//! - [`update`]: Bot API `Update` JSON to [`Input`].
//! - [`bot`]: [`Bot::handle`], the core: an input in, commands through a [`Port`], calls out.
//! - [`command`]: what a player typed, parsed.
//! - [`payload`]: signed invoice payloads; [`fair`]: provably fair rolls; [`games`]: payouts;
//!   [`slots`]: the 🎰 pay table.
//! - [`key`]: origins and idempotency keys from any Telegram id.
//! - [`limit`]: the per-player inbound rate limit.
//! - [`call`]: the Bot API calls the adapter asks for, as data for the outbox.

pub mod bot;
pub mod call;
pub mod command;
pub mod fair;
pub mod games;
pub mod key;
pub mod limit;
pub mod payload;
pub mod port;
pub mod slots;
pub mod update;

pub use bot::{Bot, Config};
pub use call::Call;
pub use port::{Port, PortError};
pub use update::{translate, Input, Translated};
