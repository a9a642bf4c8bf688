//! Game rules: limits and the edge. What a roll pays is `ledger::fair`'s rule (`Terms`),
//! which the read side recomputes with; a game decides the payout and asks the ledger to
//! settle.

use rust_decimal::Decimal;

use crate::command::Side;

/// A game's decided result (`won`, `payout`), and the terms and rule that decide it.
pub use ledger::fair::{coin, Game, Outcome as Result, Terms};

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

impl Rules {
    fn terms(&self, game: Game) -> Terms {
        Terms {
            game,
            edge_bps: self.edge_bps,
        }
    }

    /// A winning coinflip pays 2x less the edge.
    pub fn coinflip_multiplier(&self) -> Decimal {
        self.terms(Game::Coinflip(Side::Heads)).multiplier()
    }

    /// A winning dice bet at `target` pays 100/target less the edge.
    pub fn dice_multiplier(&self, target: u32) -> Decimal {
        self.terms(Game::Dice(target)).multiplier()
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
        self.terms(Game::Coinflip(side)).outcome(stake, roll, scale)
    }

    /// Wins when the roll (hundredths) is under `target`.
    pub fn dice(&self, stake: Decimal, target: u32, roll: u32, scale: u32) -> Result {
        self.terms(Game::Dice(target)).outcome(stake, roll, scale)
    }
}

/// A win, rounded down to the currency's scale: the house never pays a fraction it
/// cannot represent.
fn win(stake: Decimal, multiplier: Decimal, scale: u32) -> Decimal {
    ledger::fair::win(stake, multiplier, scale)
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

    /// The limits are inclusive: the minimum, the maximum and a win of exactly the payout
    /// maximum are allowed; one unit past any of them is refused.
    #[test]
    fn the_limits_themselves_are_allowed_and_one_unit_past_is_refused() {
        let rules = Rules::default();
        let even = Decimal::ONE; // a multiplier of 1: the win is the stake
        assert_eq!(rules.check(dec("1"), even, 0, rules.stake_max), Ok(()));
        assert_eq!(rules.check(dec("1000"), even, 0, rules.stake_max), Ok(()));
        assert_eq!(
            rules.check(dec("0.99"), even, 2, rules.stake_max),
            Err(StakeRefused::BelowMin(dec("1")))
        );
        assert_eq!(
            rules.check(dec("1000.01"), even, 2, rules.stake_max),
            Err(StakeRefused::AboveMax(dec("1000")))
        );
        // A win of exactly 100,000 is allowed, 100,001 is not.
        assert_eq!(rules.check(dec("100000"), even, 0, dec("200000")), Ok(()));
        assert_eq!(
            rules.check(dec("100001"), even, 0, dec("200000")),
            Err(StakeRefused::PayoutAboveMax(dec("100000")))
        );
        assert_eq!(rules.coinflip_multiplier(), dec("1.96"));
        assert_eq!(rules.dice_multiplier(50), dec("1.96"));
        assert_eq!(rules.dice_multiplier(4), dec("24.5"));
    }
}
