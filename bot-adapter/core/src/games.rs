//! Game rules: what a roll pays. The ledger knows nothing of games; a game decides the
//! payout and asks the ledger to settle.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::command::{Side, DICE_TARGET_MAX, DICE_TARGET_MIN};
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

/// What a bet was for, fixed with its fair round before the bet is placed, so that an
/// auditor can recompute the outcome: the game, the player's choice and the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub game: Game,
    pub edge_bps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Game {
    Coinflip(Side),
    /// Wins under this target.
    Dice(u32),
}

impl Terms {
    pub fn game_name(&self) -> &'static str {
        match self.game {
            Game::Coinflip(_) => "coinflip",
            Game::Dice(_) => "dice",
        }
    }

    /// `coinflip:heads:200`, `dice:50:200`.
    pub fn encode(&self) -> String {
        match self.game {
            Game::Coinflip(side) => format!("coinflip:{}:{}", side.as_str(), self.edge_bps),
            Game::Dice(target) => format!("dice:{target}:{}", self.edge_bps),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let (game, choice, edge) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let edge_bps = edge.parse().ok().filter(|&e| e <= 10_000)?;
        let game = match (game, choice) {
            ("coinflip", "heads") => Game::Coinflip(Side::Heads),
            ("coinflip", "tails") => Game::Coinflip(Side::Tails),
            ("dice", target) => Game::Dice(
                target
                    .parse()
                    .ok()
                    .filter(|t| (DICE_TARGET_MIN..=DICE_TARGET_MAX).contains(t))?,
            ),
            _ => return None,
        };
        Some(Self { game, edge_bps })
    }

    fn rules(&self) -> Rules {
        Rules {
            edge_bps: self.edge_bps,
            ..Rules::default()
        }
    }

    /// What a win pays per unit staked.
    pub fn multiplier(&self) -> Decimal {
        match self.game {
            Game::Coinflip(_) => self.rules().coinflip_multiplier(),
            Game::Dice(target) => self.rules().dice_multiplier(target),
        }
    }

    /// The outcome of `roll` for `stake`: the one computation both the game and an
    /// auditor's recomputation use.
    pub fn outcome(&self, stake: Decimal, roll: u32, scale: u32) -> Result {
        match self.game {
            Game::Coinflip(side) => self.rules().coinflip(stake, side, roll, scale),
            Game::Dice(target) => self.rules().dice(stake, target, roll, scale),
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
    fn terms_round_trip_and_refuse_nonsense() {
        for terms in [
            Terms {
                game: Game::Coinflip(Side::Tails),
                edge_bps: 200,
            },
            Terms {
                game: Game::Dice(50),
                edge_bps: 0,
            },
        ] {
            assert_eq!(Terms::parse(&terms.encode()), Some(terms));
        }
        for bad in [
            "coinflip:edge:200",
            "dice:99:200",
            "dice:50:20000",
            "dice:50",
            "poker:1:1",
            "dice:50:200:x",
        ] {
            assert_eq!(Terms::parse(bad), None, "{bad}");
        }
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
