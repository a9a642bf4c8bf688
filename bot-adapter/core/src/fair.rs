//! Provably fair outcomes. The server commits to a seed by publishing its SHA-256 before
//! any bet uses it; a bet's roll is HMAC-SHA256(server_seed, "client_seed:nonce"), and
//! anyone holding the revealed seed can recompute it.
//!
//! The roll is the first 8 bytes of the HMAC as a big-endian integer, modulo 10,000,
//! read as 0.00-99.99. The modulo bias is below 10^-15, far under any house edge.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Rolls are 0..ROLL_RANGE, read as hundredths: 0.00-99.99.
pub const ROLL_RANGE: u32 = 10_000;

/// A server seed: 32 random bytes, hex in storage.
pub type ServerSeed = [u8; 32];

/// The public commitment to a server seed: lowercase hex SHA-256.
pub fn seed_hash(seed: &ServerSeed) -> String {
    hex::encode(Sha256::digest(seed))
}

/// The roll for one bet, 0..10,000.
pub fn roll(seed: &ServerSeed, client_seed: &str, nonce: u64) -> u32 {
    let mut mac = Hmac::<Sha256>::new_from_slice(seed).expect("HMAC takes keys of any size");
    mac.update(format!("{client_seed}:{nonce}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let value = u64::from_be_bytes(first) % u64::from(ROLL_RANGE);
    u32::try_from(value).expect("below ROLL_RANGE")
}

/// Shows a roll as `42.17`.
pub fn show_roll(roll: u32) -> String {
    format!("{}.{:02}", roll / 100, roll % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_are_deterministic_and_depend_on_every_input() {
        let seed = [7u8; 32];
        let a = roll(&seed, "client", 0);
        assert_eq!(a, roll(&seed, "client", 0));
        assert!(a < ROLL_RANGE);
        let others = [
            roll(&seed, "client", 1),
            roll(&seed, "other", 0),
            roll(&[8u8; 32], "client", 0),
        ];
        assert!(others.iter().any(|&r| r != a));
    }

    #[test]
    fn the_roll_matches_an_independent_computation() {
        // Computed with Python: hmac.new(bytes(32), b"abc:1", sha256), first 8 bytes
        // 1bcdd5f743f23008 as a big-endian integer, modulo 10,000.
        assert_eq!(roll(&[0u8; 32], "abc", 1), 2632);
        assert_eq!(
            seed_hash(&[0u8; 32]),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert_eq!(show_roll(4217), "42.17");
        assert_eq!(show_roll(5), "0.05");
    }

    #[test]
    fn rolls_spread_over_the_range() {
        let seed = [42u8; 32];
        let under_half = (0..2000)
            .filter(|&n| roll(&seed, "s", n) < ROLL_RANGE / 2)
            .count();
        assert!((850..1150).contains(&under_half), "{under_half}");
    }
}
