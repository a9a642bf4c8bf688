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

/// The first 8 bytes of SHA-256(`domain`, `key`) as a number: a stable id derived from
/// a key (inbox ids, `random_id`s), separate per domain.
fn hash64(domain: &[u8], key: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(domain)
        .chain_update(key.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}
