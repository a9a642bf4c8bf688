//! Keys from Telegram's ids: the origin of an input and the idempotency keys derived from
//! it. Telegram's ids are strings we do not control (a charge id of 256 characters, a
//! callback query id with a space); whatever they hold, a key is made and nothing panics.
//!
//! A short id of visible ASCII is kept as it is, so the keys of every input handled
//! before are unchanged; any other id is replaced by its SHA-256 (`KIND#HEX`, where a
//! kept id reads `KIND:ID`: the two never meet).

use ledger::IdempotencyKey;
use sha2::{Digest, Sha256};

/// The longest id kept as it is in an origin: as long as a charge id may be
/// (`ledger::ExternalRef`). Longer ones would make outbox keys and log metadata grow
/// with whatever Telegram (or a forger) sends.
pub const ID_PLAIN_LEN_MAX: usize = 256;

/// The origin of an input of `kind` (`cb`, `pay`, ...) with Telegram's `id`: `KIND:ID`
/// when the id is plain, `KIND#SHA256HEX` otherwise.
pub fn origin(kind: &str, id: &str) -> String {
    if plain(id) {
        format!("{kind}:{id}")
    } else {
        format!("{kind}#{}", sha256_hex(id))
    }
}

/// The idempotency key of the command `suffix` (a constant of the bot: `deposit`,
/// `bet`, ...) caused by the input `origin`: `tg:ORIGIN:SUFFIX`, or
/// `tg#SHA256HEX:SUFFIX` when that would not be a valid key (too long).
pub fn idempotency_key(origin: &str, suffix: &str) -> IdempotencyKey {
    IdempotencyKey::new(format!("tg:{origin}:{suffix}")).unwrap_or_else(|_| {
        IdempotencyKey::new(format!("tg#{}:{suffix}", sha256_hex(origin)))
            .expect("suffixes are short words of the bot's own")
    })
}

fn plain(id: &str) -> bool {
    id.len() <= ID_PLAIN_LEN_MAX && id.bytes().all(|b| b.is_ascii_graphic())
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_keep_their_keys() {
        assert_eq!(origin("cb", "cb-17"), "cb:cb-17");
        assert_eq!(
            idempotency_key("pay:charge-1", "deposit").as_str(),
            "tg:pay:charge-1:deposit"
        );
        // 185 characters made a valid key before, and still make the same one.
        let id = "c".repeat(185);
        assert_eq!(
            idempotency_key(&origin("pay", &id), "deposit").as_str(),
            format!("tg:pay:{id}:deposit")
        );
    }

    #[test]
    fn long_or_odd_ids_make_valid_distinct_keys() {
        let odd = [
            "c".repeat(186),
            "c".repeat(256),
            "c".repeat(10_000),
            "a b".to_owned(),
            "tab\there".to_owned(),
            "ünïcode".to_owned(),
        ];
        let mut keys = std::collections::HashSet::new();
        for id in &odd {
            let origin = origin("pay", id);
            assert!(origin.len() <= 4 + ID_PLAIN_LEN_MAX, "{origin}");
            for suffix in ["deposit", "subscription", "refund"] {
                assert!(keys.insert(idempotency_key(&origin, suffix)));
            }
        }
        assert_ne!(origin("cb", "x y"), origin("cb", "x z"));
    }
}
