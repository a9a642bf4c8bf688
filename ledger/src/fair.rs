//! Provably fair games, as far as an auditor needs them: the seed commitment, the roll and
//! the payout rule of coinflip and dice. Pure functions: the bot rolls with them and the
//! read side (`audit verify`, `fair verify`) recomputes with the same code.
//!
//! The server commits to a seed by recording its SHA-256 in the log before any bet uses
//! it; a bet's roll is HMAC-SHA256(server_seed, "client_seed:nonce"): the first 8 bytes
//! as a big-endian integer, modulo 10,000, read as 0.00-99.99 (the modulo bias is below
//! 10^-15, far under any house edge). The seed is revealed into the log on rotation.

use hmac::{Hmac, Mac};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Rolls are 0..ROLL_RANGE, read as hundredths: 0.00-99.99.
pub const ROLL_RANGE: u32 = 10_000;

/// Dice targets: win when the roll (0.00-99.99) is under the target.
pub const DICE_TARGET_MIN: u32 = 2;
pub const DICE_TARGET_MAX: u32 = 98;

/// A server seed: 32 random bytes, hex in the log once revealed.
pub type ServerSeed = [u8; 32];

/// The public commitment to a server seed: lowercase hex SHA-256.
pub fn seed_hash(seed: &ServerSeed) -> String {
    hex::encode(Sha256::digest(seed))
}

/// Whether `text` looks like a commitment: 64 lowercase hex digits.
pub fn is_seed_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A revealed seed read from its hex; `None` when it is not 32 bytes of hex.
pub fn parse_seed(hex_seed: &str) -> Option<ServerSeed> {
    hex::decode(hex_seed).ok()?.try_into().ok()
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

/// The fair inputs a bet is placed with, as `bet_placed` carries them: the commitment of
/// the seed that decides it, the player's client seed, the nonce and the terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairBet {
    pub seed_hash: String,
    pub client_seed: String,
    pub nonce: u64,
    /// `coinflip:heads:200`, `dice:50:200`: see [`Terms`].
    pub terms: String,
}

/// A side of the coin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Heads,
    Tails,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Heads => "heads",
            Self::Tails => "tails",
        }
    }
}

/// The side a roll lands on: heads in the lower half.
pub fn coin(roll: u32) -> Side {
    if roll < ROLL_RANGE / 2 {
        Side::Heads
    } else {
        Side::Tails
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Game {
    Coinflip(Side),
    /// Wins under this target.
    Dice(u32),
}

/// What a bet was for, fixed with its fair inputs before the bet is placed, so that an
/// auditor can recompute the outcome: the game, the player's choice and the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub game: Game,
    /// The house edge in basis points (200 = 2%).
    pub edge_bps: u32,
}

/// A fair game's decided result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub won: bool,
    /// What the player gets back (0 on a loss), stake included.
    pub payout: Decimal,
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

    fn edge_factor(&self) -> Decimal {
        Decimal::from(10_000u32.saturating_sub(self.edge_bps)) / Decimal::from(10_000)
    }

    /// What a win pays per unit staked: 2x for a coinflip, 100/target for dice, less the
    /// edge.
    pub fn multiplier(&self) -> Decimal {
        let fair = match self.game {
            Game::Coinflip(_) => Decimal::TWO,
            Game::Dice(target) => Decimal::from(100) / Decimal::from(target),
        };
        fair * self.edge_factor()
    }

    /// What a win of `stake` pays in a currency of `scale` decimals, rounded down once:
    /// `stake × 2 × (10000 − edge) / 10000` for a coinflip, `stake × 100 × (10000 − edge)
    /// / (target × 10000)` for dice. Computed in one division, not through a rounded
    /// multiplier (100/3 is not exact: `stake × (100/3 × 0.98)` fell just short of a whole
    /// 98 and paid 97).
    ///
    /// Panics when the win does not fit a `Decimal`, which no stake within a currency's
    /// maximum comes near; [`Terms::checked_win`] is for stakes read from outside.
    pub fn win(&self, stake: Decimal, scale: u32) -> Decimal {
        self.checked_win(stake, scale)
            .expect("a stake within the currency maximum pays a win that fits")
    }

    /// [`Terms::win`], or `None` when the stake is too large for its win to be computed
    /// (only a tampered log holds such a stake).
    pub fn checked_win(&self, stake: Decimal, scale: u32) -> Option<Decimal> {
        let keep = Decimal::from(10_000u32.saturating_sub(self.edge_bps));
        let (numerator, denominator) = match self.game {
            Game::Coinflip(_) => (Decimal::TWO * keep, Decimal::from(10_000)),
            Game::Dice(target) => (
                Decimal::ONE_HUNDRED * keep,
                Decimal::from(target) * Decimal::from(10_000),
            ),
        };
        let win = stake.checked_mul(numerator)?.checked_div(denominator)?;
        Some(
            win.round_dp_with_strategy(scale, RoundingStrategy::ToZero)
                .normalize(),
        )
    }

    /// Whether `roll` wins: the coin lands on the chosen side, or the dice roll
    /// (hundredths) is under the target.
    pub fn wins(&self, roll: u32) -> bool {
        match self.game {
            Game::Coinflip(side) => coin(roll) == side,
            Game::Dice(target) => roll < target * (ROLL_RANGE / 100),
        }
    }

    /// The outcome of `roll` for `stake` in a currency of `scale` decimals: the one
    /// computation both the game and an auditor's recomputation use.
    pub fn outcome(&self, stake: Decimal, roll: u32, scale: u32) -> Outcome {
        self.checked_outcome(stake, roll, scale)
            .expect("a stake within the currency maximum pays a win that fits")
    }

    /// [`Terms::outcome`], or `None` when the stake is too large for its win to be
    /// computed: what an auditor uses on stakes read from the log.
    pub fn checked_outcome(&self, stake: Decimal, roll: u32, scale: u32) -> Option<Outcome> {
        let won = self.wins(roll);
        Some(Outcome {
            won,
            payout: if won {
                self.checked_win(stake, scale)?
            } else {
                Decimal::ZERO
            },
        })
    }
}

/// A win, rounded down to the currency's scale: the house never pays a fraction it
/// cannot represent.
pub fn win(stake: Decimal, multiplier: Decimal, scale: u32) -> Decimal {
    (stake * multiplier)
        .round_dp_with_strategy(scale, RoundingStrategy::ToZero)
        .normalize()
}

/// Why a fair bet does not recompute to what the log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disagreement {
    /// The revealed seed does not hash to the commitment the bet names.
    SeedMismatch,
    /// The terms do not parse.
    Terms(String),
    /// The settlement carries no roll.
    NoRoll,
    /// The settled roll is not the roll the seed gives.
    Roll { settled: u32, recomputed: u32 },
    /// The settled payout is not what the roll pays.
    Payout {
        settled: Decimal,
        recomputed: Decimal,
    },
    /// The stake is too large for what the roll pays to be computed.
    Overflow { stake: Decimal },
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SeedMismatch => f.write_str("the revealed seed does not hash to its commitment"),
            Self::Terms(terms) => write!(f, "unreadable terms '{terms}'"),
            Self::NoRoll => f.write_str("the settlement carries no roll"),
            Self::Roll {
                settled,
                recomputed,
            } => write!(
                f,
                "the settled roll {} is not the seed's roll {}",
                show_roll(*settled),
                show_roll(*recomputed)
            ),
            Self::Payout {
                settled,
                recomputed,
            } => write!(
                f,
                "the settled payout {settled} is not the {recomputed} the roll pays"
            ),
            Self::Overflow { stake } => write!(
                f,
                "the stake {stake} is too large for what the roll pays to be computed"
            ),
        }
    }
}

/// What a revealed fair bet recomputes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recomputed {
    pub roll: u32,
    pub outcome: Outcome,
}

/// Recomputes a settled fair bet from its revealed seed and checks the settlement: the
/// seed against the commitment, the roll, and the payout by the game's rule.
pub fn recompute(
    seed: &ServerSeed,
    bet: &FairBet,
    stake: Decimal,
    scale: u32,
    settled_roll: Option<u32>,
    settled_payout: Decimal,
) -> Result<Recomputed, Disagreement> {
    if seed_hash(seed) != bet.seed_hash {
        return Err(Disagreement::SeedMismatch);
    }
    let terms = Terms::parse(&bet.terms).ok_or_else(|| Disagreement::Terms(bet.terms.clone()))?;
    let recomputed = roll(seed, &bet.client_seed, bet.nonce);
    match settled_roll {
        None => return Err(Disagreement::NoRoll),
        Some(settled) if settled != recomputed => {
            return Err(Disagreement::Roll {
                settled,
                recomputed,
            })
        }
        Some(_) => {}
    }
    let outcome = terms
        .checked_outcome(stake, recomputed, scale)
        .ok_or(Disagreement::Overflow { stake })?;
    if outcome.payout != settled_payout.normalize() {
        return Err(Disagreement::Payout {
            settled: settled_payout,
            recomputed: outcome.payout,
        });
    }
    Ok(Recomputed {
        roll: recomputed,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

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
        let hash = seed_hash(&[0u8; 32]);
        assert_eq!(
            hash,
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert!(is_seed_hash(&hash));
        assert!(!is_seed_hash(&hash.to_uppercase()));
        assert_eq!(parse_seed(&hex::encode([0u8; 32])), Some([0u8; 32]));
        assert_eq!(parse_seed("00ff"), None);
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

    #[test]
    fn payouts_take_the_edge_and_round_down() {
        let flip = |side| Terms {
            game: Game::Coinflip(side),
            edge_bps: 200,
        };
        let dice = Terms {
            game: Game::Dice(50),
            edge_bps: 200,
        };
        assert_eq!(flip(Side::Heads).outcome(dec("10"), 0, 0).payout, dec("19"));
        assert!(!flip(Side::Tails).outcome(dec("10"), 0, 0).won);
        // 100/50 * 0.98 = 1.96 -> 19.6 Stars -> 19
        assert_eq!(dice.outcome(dec("10"), 4_999, 0).payout, dec("19"));
        assert!(!dice.outcome(dec("10"), 5_000, 0).won);
        assert_eq!(dice.outcome(dec("10"), 0, 2).payout, dec("19.6"));
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
    fn a_settlement_is_recomputed_and_each_disagreement_named() {
        let seed = [0u8; 32];
        let bet = FairBet {
            seed_hash: seed_hash(&seed),
            client_seed: "abc".to_owned(),
            nonce: 1,
            terms: "dice:50:200".to_owned(),
        };
        // Roll 26.32 is under 50: a win of 19 for 10.
        let ok = recompute(&seed, &bet, dec("10"), 0, Some(2632), dec("19")).unwrap();
        assert_eq!((ok.roll, ok.outcome.won), (2632, true));
        assert_eq!(
            recompute(&[1u8; 32], &bet, dec("10"), 0, Some(2632), dec("19")),
            Err(Disagreement::SeedMismatch)
        );
        assert_eq!(
            recompute(&seed, &bet, dec("10"), 0, Some(7000), dec("19")),
            Err(Disagreement::Roll {
                settled: 7000,
                recomputed: 2632
            })
        );
        assert_eq!(
            recompute(&seed, &bet, dec("10"), 0, Some(2632), dec("0")),
            Err(Disagreement::Payout {
                settled: dec("0"),
                recomputed: dec("19")
            })
        );
        assert_eq!(
            recompute(&seed, &bet, dec("10"), 0, None, dec("19")),
            Err(Disagreement::NoRoll)
        );
    }

    /// The coin's edge is exactly half the range: 0-4,999 heads, 5,000-9,999 tails. A
    /// boundary moved by one roll changes the house edge and nothing else would notice.
    #[test]
    fn the_coin_turns_at_five_thousand() {
        assert_eq!(coin(0), Side::Heads);
        assert_eq!(coin(4_999), Side::Heads);
        assert_eq!(coin(5_000), Side::Tails);
        assert_eq!(coin(ROLL_RANGE - 1), Side::Tails);
        let heads = (0..ROLL_RANGE).filter(|&r| coin(r) == Side::Heads).count();
        assert_eq!(heads, 5_000);
        let flip = |side| Terms {
            game: Game::Coinflip(side),
            edge_bps: 200,
        };
        assert!(flip(Side::Heads).wins(4_999) && !flip(Side::Heads).wins(5_000));
        assert!(!flip(Side::Tails).wins(4_999) && flip(Side::Tails).wins(5_000));
    }

    /// Dice win strictly under the target: at target 50, roll 49.99 wins and 50.00 loses;
    /// the extreme targets keep the same rule.
    #[test]
    fn dice_win_strictly_under_the_target() {
        for target in [DICE_TARGET_MIN, 50, DICE_TARGET_MAX] {
            let dice = Terms {
                game: Game::Dice(target),
                edge_bps: 200,
            };
            assert!(dice.wins(target * 100 - 1), "target {target}");
            assert!(!dice.wins(target * 100), "target {target}");
            let winning = (0..ROLL_RANGE).filter(|&r| dice.wins(r)).count();
            assert_eq!(winning, (target * 100) as usize);
        }
    }

    /// What a win pays per unit, exactly: 2 or 100/target, less the edge.
    #[test]
    fn multipliers_are_exact() {
        let terms = |game, edge_bps| Terms { game, edge_bps };
        let coinflip = Game::Coinflip(Side::Heads);
        assert_eq!(terms(coinflip, 200).multiplier(), dec("1.96"));
        assert_eq!(terms(coinflip, 0).multiplier(), dec("2"));
        assert_eq!(terms(coinflip, 10_000).multiplier(), dec("0"));
        assert_eq!(terms(Game::Dice(50), 200).multiplier(), dec("1.96"));
        assert_eq!(terms(Game::Dice(2), 200).multiplier(), dec("49"));
        assert_eq!(terms(Game::Dice(25), 0).multiplier(), dec("4"));
        // The win itself: one division, rounded down once.
        assert_eq!(terms(Game::Dice(3), 200).win(dec("3"), 0), dec("98"));
        assert_eq!(terms(coinflip, 200).win(dec("1"), 2), dec("1.96"));
    }
}
