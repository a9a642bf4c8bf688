//! The per-player inbound rate limit: a token bucket per player. A player over the limit
//! gets one polite notice, then silence until the bucket refills. Payments and
//! pre-checkout queries are never limited: they are money, and Telegram paces them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// What to do with one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Over the limit for the first time since the last admitted input: say so, once.
    Notice,
    /// Over the limit, already told.
    Silent,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    warned: bool,
}

/// Token buckets keyed by player. Per process: with several instances each keeps its
/// own, so the effective limit is that many times higher.
#[derive(Debug)]
pub struct RateLimit {
    capacity: f64,
    per_s: f64,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

/// Buckets kept before full ones are forgotten.
const BUCKETS_MAX: usize = 100_000;

impl RateLimit {
    /// `burst` inputs at once, then `per_s` a second.
    pub fn new(burst: u32, per_s: u32) -> Self {
        Self {
            capacity: f64::from(burst.max(1)),
            per_s: f64::from(per_s.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `burst` inputs at once, then one more every `every` (at least a millisecond).
    pub fn refilling(burst: u32, every: std::time::Duration) -> Self {
        Self {
            capacity: f64::from(burst.max(1)),
            per_s: 1.0 / every.as_secs_f64().max(0.001),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn admit(&self, player: u64, now: Instant) -> Admit {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > BUCKETS_MAX {
            let (capacity, per_s) = (self.capacity, self.per_s);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_s < capacity
            });
        }
        let bucket = buckets.entry(player).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
            warned: false,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_s).min(self.capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.warned = false;
            Admit::Yes
        } else if bucket.warned {
            Admit::Silent
        } else {
            bucket.warned = true;
            Admit::Notice
        }
    }
}

/// Inputs a player may send at once by default before the limit holds them back.
pub const BURST_DEFAULT: u32 = 8;

impl Default for RateLimit {
    /// 8 at once, then one a second.
    fn default() -> Self {
        Self::new(BURST_DEFAULT, 1)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_passes_then_one_notice_then_silence_until_refilled() {
        let limit = RateLimit::new(3, 1);
        let t0 = Instant::now();
        let seen: Vec<Admit> = (0..6).map(|_| limit.admit(7, t0)).collect();
        assert_eq!(
            seen,
            [
                Admit::Yes,
                Admit::Yes,
                Admit::Yes,
                Admit::Notice,
                Admit::Silent,
                Admit::Silent
            ]
        );
        // Another player is not affected.
        assert_eq!(limit.admit(8, t0), Admit::Yes);
        // One second refills one token; after it is used the next excess gets a notice again.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(limit.admit(7, t1), Admit::Yes);
        assert_eq!(limit.admit(7, t1), Admit::Notice);
        assert_eq!(limit.admit(7, t1 + Duration::from_secs(10)), Admit::Yes);
    }

    #[test]
    fn a_slow_refill_keeps_a_flooding_player_silent_for_its_whole_period() {
        let limit = RateLimit::refilling(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(limit.admit(7, t0), Admit::Yes);
        assert_eq!(limit.admit(7, t0), Admit::Yes);
        assert_eq!(limit.admit(7, t0), Admit::Notice);
        assert_eq!(limit.admit(7, t0 + Duration::from_secs(30)), Admit::Silent);
        assert_eq!(limit.admit(7, t0 + Duration::from_secs(61)), Admit::Yes);
    }

    /// The bucket's arithmetic, step by step: a refill is proportional to the time passed
    /// (half a second at one a second is half a token: not enough), capped at the burst
    /// (a long silence does not bank more than `burst`), and each admission costs one.
    #[test]
    fn refills_are_proportional_capped_at_the_burst_and_cost_one_each() {
        let limit = RateLimit::new(2, 1);
        let t0 = Instant::now();
        assert_eq!(limit.admit(7, t0), Admit::Yes);
        assert_eq!(limit.admit(7, t0), Admit::Yes);
        assert_eq!(limit.admit(7, t0), Admit::Notice);
        let half = t0 + Duration::from_millis(500);
        assert_eq!(limit.admit(7, half), Admit::Silent);
        // Another half second completes the token; the half already counted is kept.
        let one = t0 + Duration::from_millis(1_000);
        assert_eq!(limit.admit(7, one), Admit::Yes);
        assert_eq!(limit.admit(7, one), Admit::Notice);
        // An hour of silence refills to the burst, not to 3,600.
        let later = t0 + Duration::from_secs(3_600);
        let admitted = (0..10)
            .filter(|_| limit.admit(7, later) == Admit::Yes)
            .count();
        assert_eq!(admitted, 2);
        // Four a second: a quarter of a second brings exactly one.
        let fast = RateLimit::refilling(1, Duration::from_millis(250));
        assert_eq!(fast.admit(1, t0), Admit::Yes);
        assert_eq!(
            fast.admit(1, t0 + Duration::from_millis(200)),
            Admit::Notice
        );
        assert_eq!(fast.admit(1, t0 + Duration::from_millis(250)), Admit::Yes);
        // A clock that goes backwards refills nothing.
        assert_eq!(fast.admit(1, t0), Admit::Notice);
    }

    /// Past the bucket cap, full buckets (players idle long enough to be back at the
    /// burst) are forgotten and a limited player's bucket is kept.
    #[test]
    fn full_buckets_are_forgotten_past_the_cap_and_limited_players_kept() {
        let limit = RateLimit::new(1, 2);
        let t0 = Instant::now();
        for player in 1..=BUCKETS_MAX as u64 {
            assert_eq!(limit.admit(player, t0), Admit::Yes);
        }
        // Half a second on, at two a second, all of them are exactly full again. The
        // limited player's second input finds more buckets than the cap: the full ones
        // go, its own (empty) stays.
        let t1 = t0 + Duration::from_millis(500);
        let limited = u64::MAX;
        assert_eq!(limit.admit(limited, t1), Admit::Yes);
        assert_eq!(limit.buckets.lock().unwrap().len(), BUCKETS_MAX + 1);
        assert_eq!(limit.admit(limited, t1), Admit::Notice);
        assert_eq!(limit.buckets.lock().unwrap().len(), 1);
        assert_eq!(
            limit.admit(limited, t1),
            Admit::Silent,
            "its bucket was kept"
        );
    }
}
