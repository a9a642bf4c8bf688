//! Croupier's Telegram adapter: the pure core ([`bot_core`], re-exported here) and the IO
//! around it. Updates come in by webhook, long polling or (feature `mtproto`) MTProto;
//! the [`pipeline`] runs the core on each and records what it decided; the
//! [`dispatcher`] sends the outbox.
//!
//! - [`pipeline`]: an update in, the bot's decision recorded, then the acknowledgement.
//! - [`ledger_port`]: [`LedgerPort`](ledger_port::LedgerPort), the core's `Port` over
//!   the ledger and the adapter's tables.
//! - [`db`]: [`BotDb`](db::BotDb), the adapter's tables (inbox, outbox, players, fair
//!   seeds and rounds, sessions).
//! - [`webhook`]: the axum router; [`listen`]: the listener it is served by (timeouts,
//!   a connection bound, a shutdown deadline); [`dispatcher`]: the outbox sender.
//! - [`supervise`]: `serve`'s long-running tasks, watched: one dying is fatal.
//! - [`failpoint`]: crash drills for the tests (feature `failpoints`).
//! - [`reconcile`]: Telegram's Stars transactions against the ledger's deposits.

pub use bot_core::{bot, call, command, fair, games, key, limit, payload, port, slots, update};
pub use bot_core::{translate, Bot, Call, Config, Input, Port, PortError, Translated};

pub mod db;
pub mod dispatcher;
pub mod failpoint;
pub mod ledger_port;
pub mod listen;
#[cfg(feature = "mtproto")]
pub mod mtproto;
pub mod pipeline;
pub mod polling;
pub mod reconcile;
pub mod settings;
pub mod staff;
pub mod supervise;
pub mod sweeper;
pub mod webhook;
