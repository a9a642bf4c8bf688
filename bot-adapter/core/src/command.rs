//! What a player typed, parsed: `/coinflip 10 heads` becomes [`PlayerCommand::Coinflip`].
//! Parsing is pure and never fails: a bad argument becomes [`PlayerCommand::Usage`] with
//! a reply that says what to type instead.

use rust_decimal::Decimal;

use crate::update::TEXT_LEN_MAX;

/// A side of the coin, and the dice targets: the fair games' terms, from `ledger::fair`.
pub use ledger::fair::{Side, DICE_TARGET_MAX, DICE_TARGET_MIN};

/// What `/fair` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FairAction {
    Show,
    /// `/fair seed TEXT`: the player's own client seed.
    SetClientSeed(String),
    /// `/fair rotate`: reveal the current server seed and commit to a new one.
    Rotate,
}

/// What `/vip` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipAction {
    /// `/vip`: the player's status, or a subscription link.
    Show,
    /// `/vip cancel`: stop the renewal (VIP lasts until the paid period ends).
    Cancel,
    /// `/vip renew`: turn a stopped renewal back on.
    Renew,
}

/// A game the `/play` flow offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayGame {
    Coinflip(Side),
    /// Dice, winning under this target.
    Dice(u32),
    Slots,
}

impl PlayGame {
    /// `coinflip:heads`, `dice:50`, `slots`: how buttons and the session name it.
    pub fn name(self) -> String {
        match self {
            Self::Coinflip(side) => format!("coinflip:{}", side.as_str()),
            Self::Dice(target) => format!("dice:{target}"),
            Self::Slots => "slots".to_owned(),
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name.split_once(':') {
            Some(("coinflip", "heads")) => Some(Self::Coinflip(Side::Heads)),
            Some(("coinflip", "tails")) => Some(Self::Coinflip(Side::Tails)),
            Some(("dice", target)) => target
                .parse()
                .ok()
                .filter(|t| (DICE_TARGET_MIN..=DICE_TARGET_MAX).contains(t))
                .map(Self::Dice),
            None if name == "slots" => Some(Self::Slots),
            _ => None,
        }
    }

    /// What the player reads: `🪙 Coinflip on heads`.
    pub fn label(self) -> String {
        match self {
            Self::Coinflip(side) => format!("🪙 Coinflip on {}", side.as_str()),
            Self::Dice(target) => format!("🎲 Dice under {target}"),
            Self::Slots => "🎰 Slots".to_owned(),
        }
    }
}

/// A step of the `/play` flow; its buttons send these as `/play ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayStep {
    /// `/play`: choose a game.
    Start,
    /// `/play game coinflip:heads`: choose a stake next.
    Game(PlayGame),
    /// `/play stake 10`, or a number typed while choosing a stake.
    Stake(Decimal),
    /// `/play go`: confirmed, play.
    Go,
}

/// A client seed: 1-64 characters of A-Z a-z 0-9 _ -.
pub const CLIENT_SEED_LEN_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerCommand {
    Start,
    Help,
    Balance,
    /// `/deposit` alone offers a choice; `/deposit N` sends a Stars invoice for N;
    /// `/deposit N USD` an invoice in that currency through the payment provider.
    Deposit {
        amount: Option<Decimal>,
        currency: Option<String>,
    },
    Coinflip {
        stake: Decimal,
        side: Side,
    },
    Dice {
        stake: Decimal,
        target: u32,
    },
    /// `/slots STAKE`: Telegram's 🎰.
    Slots {
        stake: Decimal,
    },
    History,
    Fair(FairAction),
    Vip(VipAction),
    Play(PlayStep),
    PaySupport,
    Privacy,
    Cancel,
    /// A command the bot does not know.
    Unknown(String),
    /// A known command with bad arguments: the reply says what to type.
    Usage(String),
    /// Text that is not a command.
    NotACommand,
}

pub fn parse(text: &str) -> PlayerCommand {
    if text.len() > TEXT_LEN_MAX {
        return PlayerCommand::Usage("That message is too long for me. Try /help.".to_owned());
    }
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return PlayerCommand::NotACommand;
    };
    let Some(name) = first.strip_prefix('/') else {
        return PlayerCommand::NotACommand;
    };
    // `/balance@CroupierBot` in a chat with several bots.
    let name = name
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let args: Vec<&str> = words.collect();
    match name.as_str() {
        "start" => PlayerCommand::Start,
        "help" => PlayerCommand::Help,
        "balance" => PlayerCommand::Balance,
        "deposit" => deposit(&args),
        "coinflip" => coinflip(&args),
        "dice" => dice(&args),
        "slots" => match args.as_slice() {
            [stake] => match amount_arg(stake) {
                Ok(stake) => PlayerCommand::Slots { stake },
                Err(reply) => PlayerCommand::Usage(reply),
            },
            _ => PlayerCommand::Usage(
                "Type /slots and a stake, like /slots 10. Three sevens pay 20x.".to_owned(),
            ),
        },
        "history" => PlayerCommand::History,
        "fair" => fair(&args),
        "vip" => match args.as_slice() {
            [] => PlayerCommand::Vip(VipAction::Show),
            [word] if word.eq_ignore_ascii_case("cancel") => PlayerCommand::Vip(VipAction::Cancel),
            [word] if word.eq_ignore_ascii_case("renew") => PlayerCommand::Vip(VipAction::Renew),
            _ => PlayerCommand::Usage(
                "Type /vip to see VIP, /vip cancel to stop its renewal or /vip renew to restore it."
                    .to_owned(),
            ),
        },
        "play" => play(&args),
        "paysupport" => PlayerCommand::PaySupport,
        "privacy" => PlayerCommand::Privacy,
        "cancel" => PlayerCommand::Cancel,
        _ => PlayerCommand::Unknown(shorten(&name)),
    }
}

fn deposit(args: &[&str]) -> PlayerCommand {
    const USAGE: &str = "Type /deposit and a number of Stars, like /deposit 100.";
    let (amount, currency) = match args {
        [] => {
            return PlayerCommand::Deposit {
                amount: None,
                currency: None,
            }
        }
        [amount] => (amount, None),
        [amount, currency] => (amount, Some(currency)),
        _ => return PlayerCommand::Usage(USAGE.to_owned()),
    };
    let amount = match amount_arg(amount) {
        Ok(amount) => amount,
        Err(reply) => return PlayerCommand::Usage(reply),
    };
    let currency = match currency {
        None => None,
        Some(code) if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(code.to_ascii_uppercase())
        }
        Some(code) => {
            return PlayerCommand::Usage(format!(
                "'{}' is not a currency: use a code such as USD, like /deposit 5 USD.",
                shorten(code)
            ))
        }
    };
    PlayerCommand::Deposit {
        amount: Some(amount),
        currency,
    }
}

fn coinflip(args: &[&str]) -> PlayerCommand {
    const USAGE: &str = "Type /coinflip, a stake and a side, like /coinflip 10 heads.";
    let [stake, side] = args else {
        return PlayerCommand::Usage(USAGE.to_owned());
    };
    let stake = match amount_arg(stake) {
        Ok(stake) => stake,
        Err(reply) => return PlayerCommand::Usage(reply),
    };
    let side = match side.to_ascii_lowercase().as_str() {
        "heads" | "h" => Side::Heads,
        "tails" | "t" => Side::Tails,
        _ => {
            return PlayerCommand::Usage(format!(
                "'{}' is not a side: choose heads or tails, like /coinflip 10 heads.",
                shorten(side)
            ))
        }
    };
    PlayerCommand::Coinflip { stake, side }
}

fn dice(args: &[&str]) -> PlayerCommand {
    const USAGE: &str = "Type /dice, a stake and a target from 2 to 98, like /dice 10 50: you win when the roll (0.00-99.99) is under the target.";
    let [stake, target] = args else {
        return PlayerCommand::Usage(USAGE.to_owned());
    };
    let stake = match amount_arg(stake) {
        Ok(stake) => stake,
        Err(reply) => return PlayerCommand::Usage(reply),
    };
    match target.parse::<u32>() {
        Ok(target) if (DICE_TARGET_MIN..=DICE_TARGET_MAX).contains(&target) => {
            PlayerCommand::Dice { stake, target }
        }
        _ => PlayerCommand::Usage(format!(
            "'{}' is not a target: choose a whole number from {DICE_TARGET_MIN} to {DICE_TARGET_MAX}, like /dice 10 50.",
            shorten(target)
        )),
    }
}

fn fair(args: &[&str]) -> PlayerCommand {
    match args {
        [] => PlayerCommand::Fair(FairAction::Show),
        ["rotate"] => PlayerCommand::Fair(FairAction::Rotate),
        ["seed", seed] => {
            let ok = !seed.is_empty()
                && seed.len() <= CLIENT_SEED_LEN_MAX
                && seed.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if ok {
                PlayerCommand::Fair(FairAction::SetClientSeed((*seed).to_owned()))
            } else {
                PlayerCommand::Usage(format!(
                    "A client seed is 1-{CLIENT_SEED_LEN_MAX} letters, digits, _ or -, like /fair seed lucky-7."
                ))
            }
        }
        _ => PlayerCommand::Usage(
            "Type /fair to see the seeds, /fair seed TEXT to choose your client seed, or /fair rotate to reveal the server seed.".to_owned(),
        ),
    }
}

fn play(args: &[&str]) -> PlayerCommand {
    match args {
        [] => PlayerCommand::Play(PlayStep::Start),
        ["go"] => PlayerCommand::Play(PlayStep::Go),
        ["game", game] => PlayGame::parse(game).map_or_else(
            || {
                PlayerCommand::Usage(format!(
                    "I don't know the game '{}'. Type /play to choose one.",
                    shorten(game)
                ))
            },
            |game| PlayerCommand::Play(PlayStep::Game(game)),
        ),
        ["stake", stake] => match amount_arg(stake) {
            Ok(stake) => PlayerCommand::Play(PlayStep::Stake(stake)),
            Err(reply) => PlayerCommand::Usage(reply),
        },
        _ => PlayerCommand::Usage("Type /play to choose a game, then a stake.".to_owned()),
    }
}

/// A positive decimal amount, written as every edge of the ledger writes one
/// ([`ledger::money::parse_amount`]: no exponent, plus sign, leading zeros or separators);
/// the currency's own rules (scale, maximum) are checked later, where the currency is
/// known.
pub fn amount_arg(text: &str) -> Result<Decimal, String> {
    match ledger::money::parse_amount(text) {
        Some(amount) if amount > Decimal::ZERO => Ok(amount.normalize()),
        Some(_) => Err(format!(
            "The amount must be more than zero, not {}.",
            shorten(text)
        )),
        None => Err(format!(
            "'{}' is not an amount: type a whole number of Stars, like 10.",
            shorten(text)
        )),
    }
}

/// Echoed input is cut so a huge message cannot make a huge reply.
fn shorten(text: &str) -> String {
    const SHOWN_MAX: usize = 32;
    if text.chars().count() <= SHOWN_MAX {
        text.to_owned()
    } else {
        let head: String = text.chars().take(SHOWN_MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(parse("/start"), PlayerCommand::Start);
        assert_eq!(parse("/balance@CroupierBot"), PlayerCommand::Balance);
        let deposit = |amount: Option<&str>, currency: Option<&str>| PlayerCommand::Deposit {
            amount: amount.map(dec),
            currency: currency.map(str::to_owned),
        };
        assert_eq!(parse("/deposit 100"), deposit(Some("100"), None));
        assert_eq!(parse("/deposit"), deposit(None, None));
        assert_eq!(
            parse("/deposit 5.50 usd"),
            deposit(Some("5.50"), Some("USD"))
        );
        assert!(matches!(parse("/deposit 5 US$"), PlayerCommand::Usage(_)));
        assert!(matches!(parse("/deposit 5 USD x"), PlayerCommand::Usage(_)));
        assert_eq!(parse("/vip"), PlayerCommand::Vip(VipAction::Show));
        assert_eq!(parse("/vip Cancel"), PlayerCommand::Vip(VipAction::Cancel));
        assert_eq!(parse("/vip renew"), PlayerCommand::Vip(VipAction::Renew));
        assert!(matches!(parse("/vip gold"), PlayerCommand::Usage(_)));
        assert_eq!(
            parse("/coinflip 10 Heads"),
            PlayerCommand::Coinflip {
                stake: dec("10"),
                side: Side::Heads
            }
        );
        assert_eq!(
            parse("  /dice 5 50 "),
            PlayerCommand::Dice {
                stake: dec("5"),
                target: 50
            }
        );
        assert_eq!(
            parse("/fair seed my-seed_1"),
            PlayerCommand::Fair(FairAction::SetClientSeed("my-seed_1".to_owned()))
        );
        assert_eq!(parse("/slots 5"), PlayerCommand::Slots { stake: dec("5") });
        assert!(matches!(parse("/slots"), PlayerCommand::Usage(_)));
        assert_eq!(parse("/play"), PlayerCommand::Play(PlayStep::Start));
        assert_eq!(
            parse("/play game dice:40"),
            PlayerCommand::Play(PlayStep::Game(PlayGame::Dice(40)))
        );
        assert_eq!(
            parse("/play game coinflip:tails"),
            PlayerCommand::Play(PlayStep::Game(PlayGame::Coinflip(Side::Tails)))
        );
        assert_eq!(
            parse("/play stake 25"),
            PlayerCommand::Play(PlayStep::Stake(dec("25")))
        );
        assert_eq!(parse("/play go"), PlayerCommand::Play(PlayStep::Go));
        assert!(matches!(
            parse("/play game dice:99"),
            PlayerCommand::Usage(_)
        ));
        assert!(matches!(parse("/play game poker"), PlayerCommand::Usage(_)));
        for game in [
            PlayGame::Coinflip(Side::Heads),
            PlayGame::Dice(50),
            PlayGame::Slots,
        ] {
            assert_eq!(PlayGame::parse(&game.name()), Some(game));
        }
        assert_eq!(parse("hello"), PlayerCommand::NotACommand);
        assert_eq!(
            parse("/frobnicate"),
            PlayerCommand::Unknown("frobnicate".to_owned())
        );
    }

    /// Regression: the bot read amounts with `Decimal::from_str`, which takes `1e3` (a
    /// deposit of 1,000), `+5`, `.5` and `1_000`, while `ledger submit` refused them. Both
    /// edges now share `ledger::money::parse_amount`: what one refuses, the other does.
    #[test]
    fn an_exponent_or_any_spelling_ledger_submit_refuses_is_refused_here_too() {
        for bad in [
            "1e3", "1E3", "+5", ".5", "5.", "1_000", "1,000", "007", "0x10", "NaN",
        ] {
            for text in [
                format!("/deposit {bad}"),
                format!("/coinflip {bad} heads"),
                format!("/dice {bad} 50"),
                format!("/slots {bad}"),
                format!("/play stake {bad}"),
            ] {
                assert!(
                    matches!(parse(&text), PlayerCommand::Usage(ref r) if r.contains("is not an amount")),
                    "{text}: {:?}",
                    parse(&text)
                );
            }
        }
        for text in ["10", "0.5", "1e3", "+5", "007", "-5", "0"] {
            assert_eq!(
                amount_arg(text).is_ok(),
                ledger::money::parse_amount(text).is_some_and(|a| a > Decimal::ZERO),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_arguments_get_a_usage_reply_naming_the_input() {
        let PlayerCommand::Usage(reply) = parse("/coinflip ten heads") else {
            panic!("expected usage");
        };
        assert!(reply.contains("'ten' is not an amount"), "{reply}");
        assert!(
            matches!(parse("/coinflip 10 edge"), PlayerCommand::Usage(r) if r.contains("'edge' is not a side"))
        );
        assert!(
            matches!(parse("/dice 10 99"), PlayerCommand::Usage(r) if r.contains("'99' is not a target"))
        );
        assert!(matches!(parse("/dice 10 1"), PlayerCommand::Usage(_)));
        assert!(
            matches!(parse("/deposit -5"), PlayerCommand::Usage(r) if r.contains("more than zero"))
        );
        assert!(matches!(parse("/deposit 0"), PlayerCommand::Usage(_)));
        assert!(matches!(
            parse("/fair seed bad!seed"),
            PlayerCommand::Usage(_)
        ));
        let huge = format!("/deposit {}", "9".repeat(5000));
        assert!(matches!(parse(&huge), PlayerCommand::Usage(r) if r.contains("too long")));
    }
}
