//! Game rules: what a roll pays. The ledger knows nothing of games; a game decides the
//! payout and asks the ledger to settle.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::command::Side;
use crate::fair::ROLL_RANGE;

/// Limits and edge, configurable per deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The house edge in basis points (200 = 2%).
    pub edge_bps: u32,
    pub stake_min: Decimal,
    pub stake_max: Decimal,
    /// The most a single bet may pay out; a bet that could pay more is refused.
    pub payout_max: Decimal,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            edge_bps: 200,
            stake_min: Decimal::ONE,
            stake_max: Decimal::from(1_000),
            payout_max: Decimal::from(100_000),
        }
    }
}

/// Why a stake is refused before any money moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakeRefused {
    BelowMin(Decimal),
    AboveMax(Decimal),
    PayoutAboveMax(Decimal),
}

/// A game's decided result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Result {
    pub won: bool,
    /// What the player gets back (0 on a loss), stake included.
    pub payout: Decimal,
}

impl Rules {
    fn edge_factor(&self) -> Decimal {
        Decimal::from(10_000u32.saturating_sub(self.edge_bps)) / Decimal::from(10_000)
    }

    /// A winning coinflip pays 2x less the edge.
    pub fn coinflip_multiplier(&self) -> Decimal {
        Decimal::TWO * self.edge_factor()
    }

    /// A winning dice bet at `target` pays 100/target less the edge.
    pub fn dice_multiplier(&self, target: u32) -> Decimal {
        Decimal::from(100) / Decimal::from(target) * self.edge_factor()
    }

    /// Checks a stake against the limits, given what a win would pay.
    pub fn check(
        &self,
        stake: Decimal,
        multiplier: Decimal,
        scale: u32,
        stake_max: Decimal,
    ) -> std::result::Result<(), StakeRefused> {
        if stake < self.stake_min {
            return Err(StakeRefused::BelowMin(self.stake_min));
        }
        if stake > stake_max {
            return Err(StakeRefused::AboveMax(stake_max));
        }
        if win(stake, multiplier, scale) > self.payout_max {
            return Err(StakeRefused::PayoutAboveMax(self.payout_max));
        }
        Ok(())
    }

    /// Heads when the roll is in the lower half.
    pub fn coinflip(&self, stake: Decimal, side: Side, roll: u32, scale: u32) -> Result {
        let landed = coin(roll);
        let won = landed == side;
        Result {
            won,
            payout: if won {
                win(stake, self.coinflip_multiplier(), scale)
            } else {
                Decimal::ZERO
            },
        }
    }

    /// Wins when the roll (hundredths) is under `target`.
    pub fn dice(&self, stake: Decimal, target: u32, roll: u32, scale: u32) -> Result {
        let won = roll < target * (ROLL_RANGE / 100);
        Result {
            won,
            payout: if won {
                win(stake, self.dice_multiplier(target), scale)
            } else {
                Decimal::ZERO
            },
        }
    }
}

/// The side a roll lands on.
pub fn coin(roll: u32) -> Side {
    if roll < ROLL_RANGE / 2 {
        Side::Heads
    } else {
        Side::Tails
    }
}

/// A win, rounded down to the currency's scale: the house never pays a fraction it
/// cannot represent.
fn win(stake: Decimal, multiplier: Decimal, scale: u32) -> Decimal {
    (stake * multiplier)
        .round_dp_with_strategy(scale, RoundingStrategy::ToZero)
        .normalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn payouts_take_the_edge_and_round_down() {
        let rules = Rules::default();
        assert_eq!(
            rules.coinflip(dec("10"), Side::Heads, 0, 0).payout,
            dec("19")
        );
        assert_eq!(
            rules.coinflip(dec("10"), Side::Tails, 0, 0),
            Result {
                won: false,
                payout: Decimal::ZERO
            }
        );
        assert_eq!(
            rules.coinflip(dec("10"), Side::Tails, 9_999, 0).payout,
            dec("19")
        );
        // 100/50 * 0.98 = 1.96 -> 19.6 Stars -> 19
        assert_eq!(rules.dice(dec("10"), 50, 4_999, 0).payout, dec("19"));
        assert!(!rules.dice(dec("10"), 50, 5_000, 0).won);
        // In a currency with cents the fraction is kept.
        assert_eq!(rules.dice(dec("10"), 50, 0, 2).payout, dec("19.6"));
    }

    #[test]
    fn stakes_outside_the_limits_are_refused() {
        let rules = Rules::default();
        let m = rules.coinflip_multiplier();
        assert_eq!(
            rules.check(dec("0.5"), m, 0, rules.stake_max),
            Err(StakeRefused::BelowMin(dec("1")))
        );
        assert_eq!(
            rules.check(dec("1001"), m, 0, rules.stake_max),
            Err(StakeRefused::AboveMax(dec("1000")))
        );
        assert!(rules.check(dec("1001"), m, 0, dec("5000")).is_ok());
        let big = rules.dice_multiplier(2);
        assert_eq!(
            rules.check(dec("5000"), big, 0, dec("5000")),
            Err(StakeRefused::PayoutAboveMax(dec("100000")))
        );
    }
}
