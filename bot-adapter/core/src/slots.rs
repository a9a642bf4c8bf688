//! 🎰 slots: Telegram rolls the machine (`sendDice` with 🎰 gives a value 1-64) and this
//! pay table settles the bet. The value is Telegram's, not ours, so slots are not
//! provably fair the way coinflip and dice are; what the bot guarantees instead is that a
//! stake is taken before the machine is sent, and that a value it never learned (a failed
//! send, a crash while the send was in flight) voids the bet: it is never rolled twice.
//!
//! The value minus one, in base 4, gives the three reels, left reel in the lowest digit:
//! 0 bar, 1 grapes, 2 lemon, 3 seven. So 1 is three bars, 22 three grapes, 43 three
//! lemons and 64 three sevens.
//!
//! | reels | pays (stake included) | values |
//! |---|---|---|
//! | 7️⃣ 7️⃣ 7️⃣ | 20× | 1 of 64 |
//! | three bars, grapes or lemons | 8× | 3 of 64 |
//! | exactly two sevens | 2× | 9 of 64 |
//! | anything else | 0 | 51 of 64 |
//!
//! Return to player: (20 + 3·8 + 9·2) / 64 = 62/64 ≈ 96.9%, a house edge of about 3.1%.

use rust_decimal::Decimal;

/// A spin waiting for its value: the bet it settles, whose, where, and for how much.
/// Stored with the `sendDice` call in the outbox as [`Spin::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spin {
    pub player: i64,
    pub chat: i64,
    pub stake: Decimal,
    pub bet: String,
}

impl Spin {
    /// `player:chat:stake:bet`.
    pub fn encode(&self) -> String {
        format!("{}:{}:{}:{}", self.player, self.chat, self.stake, self.bet)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(4, ':');
        Some(Self {
            player: parts.next()?.parse().ok()?,
            chat: parts.next()?.parse().ok()?,
            stake: parts.next()?.parse().ok()?,
            bet: parts.next().filter(|b| !b.is_empty())?.to_owned(),
        })
    }
}

/// The emoji of the slot machine.
pub const EMOJI: &str = "🎰";

/// The highest multiplier of the pay table: what a stake could win at most.
pub const MULTIPLIER_MAX: u32 = 20;

/// A reel's symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    Bar,
    Grapes,
    Lemon,
    Seven,
}

impl Symbol {
    pub fn show(self) -> &'static str {
        match self {
            Self::Bar => "BAR",
            Self::Grapes => "🍇",
            Self::Lemon => "🍋",
            Self::Seven => "7️⃣",
        }
    }
}

/// The reels of a 🎰 value, left to right; `None` outside 1-64.
pub fn reels(value: u8) -> Option<[Symbol; 3]> {
    if !(1..=64).contains(&value) {
        return None;
    }
    let digits = value - 1;
    let symbol = |reel: u8| match (digits >> (2 * reel)) & 3 {
        0 => Symbol::Bar,
        1 => Symbol::Grapes,
        2 => Symbol::Lemon,
        _ => Symbol::Seven,
    };
    Some([symbol(0), symbol(1), symbol(2)])
}

/// What a 🎰 value pays per unit staked; `None` outside 1-64.
pub fn multiplier(value: u8) -> Option<u32> {
    let reels = reels(value)?;
    let sevens = reels.iter().filter(|s| **s == Symbol::Seven).count();
    Some(if sevens == 3 {
        MULTIPLIER_MAX
    } else if reels[0] == reels[1] && reels[1] == reels[2] {
        8
    } else if sevens == 2 {
        2
    } else {
        0
    })
}

/// The payout of `stake` at `value` (stake included; zero on a loss).
pub fn payout(stake: Decimal, value: u8) -> Option<Decimal> {
    multiplier(value).map(|m| stake * Decimal::from(m))
}

/// `🍋 🍋 7️⃣`.
pub fn show(value: u8) -> String {
    reels(value).map_or_else(
        || format!("value {value}"),
        |r| format!("{} {} {}", r[0].show(), r[1].show(), r[2].show()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_documented_values_read_as_their_reels() {
        use Symbol::*;
        assert_eq!(reels(1), Some([Bar, Bar, Bar]));
        assert_eq!(reels(22), Some([Grapes, Grapes, Grapes]));
        assert_eq!(reels(43), Some([Lemon, Lemon, Lemon]));
        assert_eq!(reels(64), Some([Seven, Seven, Seven]));
        // 2 - 1 = 1 = (left grapes, bar, bar).
        assert_eq!(reels(2), Some([Grapes, Bar, Bar]));
        assert_eq!(reels(0), None);
        assert_eq!(reels(65), None);
    }

    #[test]
    fn a_spin_reads_back_as_written() {
        let spin = Spin {
            player: 7,
            chat: -100,
            stake: Decimal::from(25),
            bet: "slots-m-7-12".to_owned(),
        };
        assert_eq!(Spin::parse(&spin.encode()), Some(spin));
        assert_eq!(Spin::parse("7:1:x:b"), None);
        assert_eq!(Spin::parse("7:1:5:"), None);
    }

    #[test]
    fn the_pay_table_returns_62_of_64() {
        let counts = (1..=64u8).fold([0u32; 21], |mut counts, v| {
            counts[multiplier(v).unwrap() as usize] += 1;
            counts
        });
        assert_eq!(counts[20], 1);
        assert_eq!(counts[8], 3);
        assert_eq!(counts[2], 9);
        assert_eq!(counts[0], 51);
        let total: u32 = (1..=64u8).map(|v| multiplier(v).unwrap()).sum();
        assert_eq!(total, 62);
        assert_eq!(payout(Decimal::from(5), 64), Some(Decimal::from(100)));
        assert_eq!(payout(Decimal::from(5), 63), Some(Decimal::from(10)));
        assert_eq!(payout(Decimal::from(5), 2), Some(Decimal::ZERO));
    }

    /// What the player reads after a spin: the three reels left to right, or the raw value
    /// when it is outside Telegram's 1-64.
    #[test]
    fn a_spin_shows_its_reels_left_to_right() {
        assert_eq!(show(1), "BAR BAR BAR");
        assert_eq!(show(2), "🍇 BAR BAR");
        assert_eq!(show(43), "🍋 🍋 🍋");
        assert_eq!(show(64), "7️⃣ 7️⃣ 7️⃣");
        assert_eq!(show(0), "value 0");
    }
}
