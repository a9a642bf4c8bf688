//! The MTProto transport (cargo feature `mtproto`), built on grammers-client: the bot
//! signs in with its token and an api_id/api_hash, streams updates, and sends the outbox.
//! It feeds the same transport-neutral core as the webhook.
//!
//! - [`translate`]: raw TL updates to the adapter's `Input`.
//! - [`calls`]: outbox calls (Bot API methods) to raw TL requests, with `random_id`.
//! - [`outlet`]: sends those requests; FLOOD_WAIT becomes the dispatcher's 429.
//! - [`session`]: grammers' session, in the session file and the database.
//! - [`lanes`]: one chat in order, chats in parallel.
//! - [`transport`]: connect, sign in, the update loop.

pub mod calls;
pub mod lanes;
pub mod outlet;
pub mod session;
pub mod translate;
pub mod transport;
