//! The adapter's core: an [`Input`] in, ledger commands through the [`Port`], and the
//! Bot API [`Call`]s to make in reply.
//!
//! Every ledger command's idempotency key is derived from the Telegram input that caused
//! it (chat and message id, callback id, charge id), never from the update id, which
//! Telegram may reuse after a quiet week. Handling the same input again therefore
//! replays the same commands and produces the same calls, which the outbox de-duplicates.

use ledger::command::{Command, Request};
use ledger::session::{Flow, SessionBet, SessionEvent, SessionMoved, SessionState};
use ledger::{
    BetId, Currencies, CurrencyCode, ExternalRef, GameId, IdempotencyKey, Outcome, OutcomeKind,
    PaymentMethod, PlayerId, RejectionCode,
};
use rust_decimal::Decimal;

use crate::call::{self, Buttons, Call, LinkMessage};
use crate::command::{self, FairAction, PlayGame, PlayStep, PlayerCommand, VipAction};
use crate::fair;
use crate::games::{Game, Rules, StakeRefused, Terms};
use crate::key;
use crate::payload::{Order, OrderKind, PayloadSigner};
use crate::port::{Committed, Decision, Planned, Port, PortError, Standing, Subscription};
use crate::slots::{self, Spin};
use crate::update::{From, Input};
use ledger::fair::FairBet;

/// Deployment settings of the bot.
#[derive(Debug, Clone)]
pub struct Config {
    pub rules: Rules,
    pub currencies: Currencies,
    pub signer: PayloadSigner,
    /// Whole Stars per invoice.
    pub deposit_min: u32,
    pub deposit_max: u32,
    /// Seconds an invoice may be paid after it was sent.
    pub invoice_ttl_s: u64,
    /// What `/paysupport` says (Telegram requires paying bots to answer it).
    pub support: String,
    /// What `/privacy` says.
    pub privacy: String,
    /// The VIP subscription `/vip` sells.
    pub vip: VipPlan,
    /// Currencies players may deposit through the payment provider (the dispatcher adds
    /// `TELEGRAM_PROVIDER_TOKEN` to their invoices); empty when no provider is set up.
    pub provider_currencies: Vec<CurrencyCode>,
}

/// The VIP subscription: Stars every period, renewed by Telegram until cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipPlan {
    /// Stars per period; Telegram allows at most 10,000.
    pub stars: u32,
    /// Telegram offers one period: 30 days.
    pub period_s: u32,
    /// The largest stake a VIP may place (others: `rules.stake_max`).
    pub stake_max: Decimal,
    /// How long after the paid period VIP still holds: a renewal may arrive a little
    /// late, and an input handled again after a crash should meet the same limits.
    pub grace_s: u64,
}

impl Default for VipPlan {
    fn default() -> Self {
        Self {
            stars: 250,
            period_s: 2_592_000,
            stake_max: Decimal::from(5_000),
            grace_s: 3_600,
        }
    }
}

impl Config {
    pub fn new(signer: PayloadSigner) -> Self {
        Self {
            rules: Rules::default(),
            currencies: Currencies::default(),
            signer,
            deposit_min: 1,
            deposit_max: 10_000,
            invoice_ttl_s: 3_600,
            support: "For help with a payment, write to the operator of this bot and include the time of the payment. Refunds of unspent Stars are possible on request.".to_owned(),
            privacy: "This bot stores your Telegram user id, your chat id and the record of your deposits and bets, which a money ledger must keep. It stores no other personal data.".to_owned(),
            vip: VipPlan::default(),
            provider_currencies: Vec::new(),
        }
    }
}

/// The currency of the games and of Stars deposits.
fn xtr() -> CurrencyCode {
    CurrencyCode::xtr()
}

/// Shows an amount with its currency: `60 ⭐`, `12.50 USD`.
pub fn show(amount: &str, currency: &str) -> String {
    if currency == "XTR" {
        format!("{amount} ⭐")
    } else {
        format!("{amount} {currency}")
    }
}

impl Input {
    /// A stable identity of the input, the root of its idempotency and outbox keys;
    /// Telegram's ids in it are kept or hashed by [`key::origin`].
    pub fn origin(&self) -> Option<String> {
        match self {
            Self::Text {
                from, message_id, ..
            } => Some(format!("m:{}:{message_id}", from.chat)),
            Self::Callback { id, .. } => Some(key::origin("cb", id)),
            Self::PreCheckout { id, .. } => Some(key::origin("pc", id)),
            Self::PaymentSucceeded { charge_id, .. } => Some(key::origin("pay", charge_id)),
            // With the user: a refund reported in another user's chat must not take the
            // key of the payer's own refund.
            Self::PaymentRefunded {
                from, charge_id, ..
            } => Some(key::origin("refund", &format!("{}:{charge_id}", from.user))),
            Self::Dice { .. } | Self::Ignored { .. } | Self::Unreadable { .. } => None,
        }
    }
}

/// How many times an input is decided again because its session moved meanwhile (other
/// inputs of the same player, each of which commits) before it is given up as
/// unavailable.
const DECIDE_ATTEMPTS: usize = 32;

/// What a player input decided, before it is committed.
struct Plan {
    decision: Decision,
    /// Session events of bets, each conditional on its settlement.
    bets: Vec<Planned<SessionEvent>>,
    /// Where the `/play` flow goes.
    next: Flow,
    /// The play to answer once committed.
    pending: Option<Pending>,
}

/// A play decided but not yet committed: how to answer it from the outcomes of its
/// commands (indexes into the decision's commands).
enum Pending {
    Fair {
        bet: usize,
        settle: usize,
        stake: Decimal,
        /// The roll and the verdict.
        text: String,
        /// The fair round and the "again" shortcut.
        footer: String,
    },
    Slots {
        bet: usize,
        spin: Spin,
    },
}

/// The adapter's core. Cheap to share; holds no state of its own.
#[derive(Debug, Clone)]
pub struct Bot {
    config: Config,
}

struct Ctx<'a, P> {
    port: &'a P,
    player: PlayerId,
    chat: i64,
    origin: &'a str,
    now: u64,
}

impl<P: Port> Ctx<'_, P> {
    fn key(&self, suffix: &str) -> IdempotencyKey {
        key::idempotency_key(self.origin, suffix)
    }

    fn request(&self, suffix: &str, command: Command) -> Request {
        Request {
            idempotency_key: self.key(suffix),
            command,
        }
    }

    async fn submit(&self, suffix: &str, command: Command) -> Result<Outcome, PortError> {
        let request = self.request(suffix, command);
        self.port
            .submit(request, &format!("telegram:{}", self.origin))
            .await
    }

    /// The player's Telegram user id.
    fn user(&self) -> u64 {
        u64::try_from(self.player.get()).expect("player ids are positive")
    }

    fn say(&self, text: impl Into<String>) -> Call {
        call::message(self.chat, text)
    }
}

impl Bot {
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one input. `now` is Unix seconds. An `Err` means nothing may be
    /// acknowledged: the same input must be handled again later, and will do the same.
    pub async fn handle<P: Port>(
        &self,
        port: &P,
        input: &Input,
        now: u64,
    ) -> Result<Vec<Call>, PortError> {
        let Some(origin) = input.origin() else {
            return Ok(Vec::new());
        };
        match input {
            Input::Text { from, text, .. } => {
                self.player_input(port, *from, &origin, text, now).await
            }
            Input::Callback { from, id, data } => {
                let mut calls = vec![call::answer_callback(id)];
                calls.extend(self.player_input(port, *from, &origin, data, now).await?);
                Ok(calls)
            }
            Input::PreCheckout {
                user,
                id,
                currency,
                total_amount,
                payload,
            } => {
                let refusal = self
                    .pre_checkout(*user, currency, *total_amount, payload, now)
                    .err();
                Ok(vec![call::answer_pre_checkout(id, refusal)])
            }
            Input::PaymentSucceeded {
                from,
                currency,
                total_amount,
                charge_id,
                is_recurring,
                is_first_recurring,
                subscription_expires,
                ..
            } => {
                let paid = Paid {
                    from: *from,
                    currency,
                    total_amount: *total_amount,
                    charge_id,
                };
                let paying = match subscription_expires {
                    Some(until) => Paying::Subscription {
                        until: *until,
                        renewal: *is_recurring && !*is_first_recurring,
                    },
                    None => Paying::Deposit,
                };
                self.payment(port, &origin, paid, paying, now).await
            }
            Input::PaymentRefunded {
                from,
                charge_id,
                currency,
                total_amount,
                ..
            } => {
                let paid = Paid {
                    from: *from,
                    currency,
                    total_amount: *total_amount,
                    charge_id,
                };
                self.refunded(port, &origin, paid, now).await
            }
            Input::Dice { .. } | Input::Ignored { .. } | Input::Unreadable { .. } => Ok(Vec::new()),
        }
    }

    /// A message or a button press: a command, or a step of the `/play` flow, in the
    /// player's conversation session in that chat. It is decided against the session as
    /// read, and what it decided (bets, settlements, the session's step) is committed at
    /// once; if the session moved meanwhile (another input of the player's), nothing
    /// was written and it is decided again from the new state. A redelivered input is
    /// handled from the state it first found and records no step again.
    async fn player_input<P: Port>(
        &self,
        port: &P,
        from: From,
        origin: &str,
        text: &str,
        now: u64,
    ) -> Result<Vec<Call>, PortError> {
        let Some(player) = player_id(from.user) else {
            return Ok(vec![call::message(
                from.chat,
                "Sorry, I cannot open an account for this Telegram account.",
            )]);
        };
        let ctx = Ctx {
            port,
            player,
            chat: from.chat,
            origin,
            now,
        };
        for _ in 0..DECIDE_ATTEMPTS {
            let session = port.session(from.chat, player).await?;
            let found = session.found_by(origin).cloned();
            let flow = found.clone().unwrap_or_else(|| session.flow.clone());
            let mut plan = Plan {
                decision: Decision {
                    causation: format!("telegram:{origin}"),
                    ..Decision::default()
                },
                bets: Vec::new(),
                next: flow.clone(),
                pending: None,
            };
            let calls = self
                .player_command(&ctx, &session, &flow, text, &mut plan)
                .await?;
            let Plan {
                mut decision,
                bets,
                next,
                pending,
            } = plan;
            if found.is_none() {
                let at = ledger::Timestamp::from_micros(micros(now));
                let mut events: Vec<Planned<SessionEvent>> = bets
                    .into_iter()
                    .filter(|bet| match &bet.item {
                        SessionEvent::Bet(bet) => !session.bets.contains(&bet.bet_id),
                        _ => true,
                    })
                    .collect();
                if next != flow {
                    events.push(Planned {
                        item: SessionEvent::Moved(SessionMoved {
                            from: flow,
                            to: next,
                            cause: origin.to_owned(),
                            at,
                        }),
                        requires: None,
                    });
                }
                decision.session = Some((session, events));
            }
            let outcomes = if decision.is_empty() {
                Vec::new()
            } else {
                match port.commit(decision).await? {
                    Committed::Done(outcomes) => outcomes,
                    Committed::Moved => continue,
                }
            };
            let mut calls = calls;
            if let Some(pending) = pending {
                calls.extend(self.played(&ctx, pending, &outcomes)?);
            }
            return Ok(calls);
        }
        Err(PortError::Unavailable(format!(
            "the session of player {player} kept moving for {DECIDE_ATTEMPTS} decisions"
        )))
    }

    /// Decides one player command against the flow it found, into `plan`; the calls
    /// returned are the answer whatever the commit brings.
    async fn player_command<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        session: &SessionState,
        flow: &Flow,
        text: &str,
        plan: &mut Plan,
    ) -> Result<Vec<Call>, PortError> {
        let parsed = match command::parse(text) {
            PlayerCommand::NotACommand if matches!(flow, Flow::ChoosingStake { .. }) => {
                match command::amount_arg(text.trim()) {
                    Ok(stake) => PlayerCommand::Play(PlayStep::Stake(stake)),
                    Err(reply) => PlayerCommand::Usage(reply),
                }
            }
            parsed => parsed,
        };
        Ok(match parsed {
            PlayerCommand::Start => {
                let new = ctx.port.register(ctx.player, ctx.chat).await?;
                let greeting = if new { "Welcome to Croupier!" } else { "Welcome back!" };
                vec![call::message_with_buttons(
                    ctx.chat,
                    format!("{greeting} Deposit Stars, then play coinflip or dice. Every round is provably fair: see /fair."),
                    menu(),
                )]
            }
            PlayerCommand::Help => vec![ctx.say(help())],
            PlayerCommand::Balance => vec![self.balance(ctx).await?],
            PlayerCommand::Deposit { amount, currency } => {
                vec![self.deposit(ctx, amount, currency.as_deref())]
            }
            PlayerCommand::Coinflip { stake, side } => {
                self.play(ctx, Game::Coinflip(side), stake, plan).await?
            }
            PlayerCommand::Dice { stake, target } => {
                self.play(ctx, Game::Dice(target), stake, plan).await?
            }
            PlayerCommand::Play(step) => self.play_flow(ctx, session, flow, step, plan).await?,
            PlayerCommand::Slots { stake } => self.slots(ctx, stake, plan).await?,
            PlayerCommand::History => vec![self.history(ctx).await?],
            PlayerCommand::Fair(action) => vec![self.fair(ctx, action).await?],
            PlayerCommand::Vip(action) => self.vip(ctx, action).await?,
            PlayerCommand::PaySupport => vec![ctx.say(self.config.support.clone())],
            PlayerCommand::Privacy => vec![ctx.say(self.config.privacy.clone())],
            PlayerCommand::Cancel if *flow != Flow::Idle => {
                plan.next = Flow::Idle;
                vec![ctx.say("Cancelled. Type /play to choose a game again.")]
            }
            PlayerCommand::Cancel => vec![ctx.say("Nothing to cancel. Type /help to see what you can do.")],
            PlayerCommand::Unknown(name) => {
                vec![ctx.say(format!("I don't know /{name}. Type /help to see what you can do."))]
            }
            PlayerCommand::Usage(reply) => vec![ctx.say(reply)],
            PlayerCommand::NotACommand => vec![ctx.say("I understand commands such as /balance or /coinflip 10 heads. Type /help for the list.")],
        })
    }

    /// One step of `/play`: choose a game, then a stake, then confirm. `next` is where
    /// the flow goes; a step that does not fit the flow's state says what to do instead.
    async fn play_flow<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        session: &SessionState,
        flow: &Flow,
        step: PlayStep,
        plan: &mut Plan,
    ) -> Result<Vec<Call>, PortError> {
        let cancel = ("✖ Cancel".to_owned(), "/cancel".to_owned());
        Ok(match (step, flow) {
            (PlayStep::Start, _) => {
                plan.next = Flow::ChoosingGame;
                let button = |game: PlayGame| (game.label(), format!("/play game {}", game.name()));
                vec![call::message_with_buttons(
                    ctx.chat,
                    "What would you like to play?",
                    vec![
                        vec![
                            button(PlayGame::Coinflip(command::Side::Heads)),
                            button(PlayGame::Coinflip(command::Side::Tails)),
                        ],
                        vec![button(PlayGame::Dice(50)), button(PlayGame::Slots)],
                        vec![cancel],
                    ],
                )]
            }
            (PlayStep::Game(game), _) => {
                plan.next = Flow::ChoosingStake { game: game.name() };
                let (min, max) = (self.config.rules.stake_min, self.config.rules.stake_max);
                let stakes = [5u32, 10, 25, 50]
                    .into_iter()
                    .map(|s| (show(&s.to_string(), "XTR"), format!("/play stake {s}")))
                    .collect();
                vec![call::message_with_buttons(
                    ctx.chat,
                    format!(
                        "{}. How much? Choose a stake or type one ({} to {}).",
                        game.label(),
                        show(&min.to_string(), "XTR"),
                        show(&max.to_string(), "XTR")
                    ),
                    vec![stakes, vec![cancel]],
                )]
            }
            (
                PlayStep::Stake(stake),
                Flow::ChoosingStake { game } | Flow::Confirming { game, .. },
            ) => {
                let Some(chosen) = PlayGame::parse(game) else {
                    plan.next = Flow::Idle;
                    return Ok(vec![ctx.say("That game is gone. Type /play to choose again.")]);
                };
                let stake = match self.check_stake(ctx, stake, self.multiplier(chosen)).await? {
                    Ok(stake) => stake,
                    Err(reply) => return Ok(vec![ctx.say(format!("{reply} Choose another stake."))]),
                };
                plan.next = Flow::Confirming {
                    game: game.clone(),
                    stake,
                };
                vec![call::message_with_buttons(
                    ctx.chat,
                    format!(
                        "{} for {}?",
                        chosen.label(),
                        show(&stake.to_string(), "XTR")
                    ),
                    vec![
                        vec![("✅ Play".to_owned(), "/play go".to_owned())],
                        vec![
                            (
                                "Change stake".to_owned(),
                                format!("/play game {game}"),
                            ),
                            cancel,
                        ],
                    ],
                )]
            }
            (PlayStep::Go, Flow::Confirming { game, stake }) => {
                plan.next = Flow::Idle;
                match PlayGame::parse(game).map(fair_game) {
                    Some(Some(fair)) => self.play(ctx, fair, *stake, plan).await?,
                    Some(None) => self.slots(ctx, *stake, plan).await?,
                    None => vec![ctx.say("That game is gone. Type /play to choose again.")],
                }
            }
            (PlayStep::Go, _) if session.last_confirmed().is_some_and(|(by, ..)| by != ctx.origin) => {
                vec![ctx.say(self.already_played(session))]
            }
            (PlayStep::Stake(_) | PlayStep::Go, _) => vec![ctx.say(
                "That choice is no longer open (it timed out or was played). Type /play to start again.",
            )],
        })
    }

    /// What a win pays per unit staked, for the stake limits.
    fn multiplier(&self, game: PlayGame) -> Decimal {
        fair_game(game).map_or(Decimal::from(slots::MULTIPLIER_MAX), |game| {
            Terms {
                game,
                edge_bps: self.config.rules.edge_bps,
            }
            .multiplier()
        })
    }

    /// The notice a player gets when their session expires in the middle of `/play`.
    pub fn session_expired(&self, chat: i64, flow: &Flow) -> Vec<Call> {
        if *flow == Flow::Idle {
            return Vec::new();
        }
        vec![call::message(
            chat,
            "⏱ Your game choice timed out after a quiet while, so nothing was played. Type /play to start again.",
        )]
    }

    async fn balance<P: Port>(&self, ctx: &Ctx<'_, P>) -> Result<Call, PortError> {
        let Standing {
            balances,
            subscription,
        } = ctx.port.standing(ctx.player).await?;
        let text = if balances.is_empty() {
            "Your balance is 0 ⭐. Top up with /deposit 100.".to_owned()
        } else {
            let shown: Vec<String> = balances.iter().map(|(c, a)| show(a, c)).collect();
            format!("Your balance: {}.", shown.join(", "))
        };
        let text = match self.holding(subscription, ctx.now) {
            Some(s) => format!("{text} ⭐ VIP until {}.", shown_date(s.until)),
            None => text,
        };
        Ok(ctx.say(text))
    }

    fn deposit<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        amount: Option<Decimal>,
        currency: Option<&str>,
    ) -> Call {
        if let (Some(amount), Some(code)) = (amount, currency.filter(|c| *c != "XTR")) {
            return self.provider_deposit(ctx, amount, code);
        }
        let (min, max) = (self.config.deposit_min, self.config.deposit_max);
        let Some(amount) = amount else {
            return call::message_with_buttons(
                ctx.chat,
                format!("How many Stars? Choose below or type /deposit N ({min}-{max})."),
                vec![vec![
                    ("50 ⭐".to_owned(), "/deposit 50".to_owned()),
                    ("100 ⭐".to_owned(), "/deposit 100".to_owned()),
                    ("500 ⭐".to_owned(), "/deposit 500".to_owned()),
                ]],
            );
        };
        let stars = match u32::try_from(amount.trunc().mantissa()) {
            Ok(stars) if amount.fract().is_zero() && (min..=max).contains(&stars) => stars,
            _ => {
                return ctx.say(format!(
                "Deposits are whole Stars from {min} to {max}; {amount} is not. Try /deposit 100."
            ))
            }
        };
        call::stars_invoice(
            ctx.chat,
            &format!("{stars} Stars for Croupier"),
            "Credits your Croupier balance. Unspent Stars can be refunded: /paysupport.",
            self.payload(ctx, OrderKind::Deposit, u64::from(stars), "XTR"),
            stars,
        )
    }

    /// An invoice in another currency than Stars, through the payment provider: the
    /// amount in the currency's smallest unit, as Telegram counts it.
    fn provider_deposit<P: Port>(&self, ctx: &Ctx<'_, P>, amount: Decimal, code: &str) -> Call {
        let accepted = &self.config.provider_currencies;
        let Some(code) = accepted.iter().find(|c| c.as_str() == code) else {
            let offer = if accepted.is_empty() {
                "Deposits here are in Stars only: try /deposit 100.".to_owned()
            } else {
                let codes: Vec<&str> = accepted.iter().map(CurrencyCode::as_str).collect();
                format!(
                    "Deposits are in Stars (/deposit 100) or in {} (/deposit 5 {}).",
                    codes.join(", "),
                    codes[0]
                )
            };
            return ctx.say(format!("I cannot take {code}. {offer}"));
        };
        let spec = self
            .config
            .currencies
            .get(code)
            .expect("provider currencies are known currencies");
        let max = Decimal::from(self.config.deposit_max);
        let amount_minor = spec
            .positive(amount)
            .ok()
            .filter(|a| *a <= max)
            .and_then(|a| {
                let minor = (a * Decimal::from(10u64.pow(spec.scale)))
                    .normalize()
                    .to_string()
                    .parse::<u32>()
                    .ok()?;
                Some((a, minor))
            });
        let Some((amount, minor)) = amount_minor else {
            return ctx.say(format!(
                "Deposits in {code} are from {} to {}, with at most {} decimals; {amount} is not. Try /deposit 5 {code}.",
                show(&Decimal::new(1, spec.scale).to_string(), code.as_str()),
                show(&max.to_string(), code.as_str()),
                spec.scale
            ));
        };
        call::invoice(
            ctx.chat,
            &format!("{} for Croupier", show(&amount.to_string(), code.as_str())),
            "Credits your Croupier balance in this currency.",
            self.payload(ctx, OrderKind::Deposit, u64::from(minor), code.as_str()),
            code.as_str(),
            minor,
        )
    }

    /// `/vip`: the player's VIP status and what to do with it, or a subscription link.
    async fn vip<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        action: VipAction,
    ) -> Result<Vec<Call>, PortError> {
        let plan = &self.config.vip;
        let perk = format!(
            "stakes up to {} instead of {}",
            show(&plan.stake_max.to_string(), "XTR"),
            show(&self.config.rules.stake_max.to_string(), "XTR")
        );
        let active = self.active_vip(ctx).await?;
        let user = ctx.user();
        Ok(match (action, active) {
            (VipAction::Show, Some(s)) => vec![ctx.say(format!(
                "⭐ You are VIP until {}: {perk}. It renews every 30 days unless you type /vip cancel.",
                shown_date(s.until)
            ))],
            (VipAction::Show, None) => {
                let price = show(&plan.stars.to_string(), "XTR");
                vec![call::subscription_link(
                    "Croupier VIP",
                    &format!("VIP for 30 days, renewed monthly: {perk}. Cancel any time with /vip cancel."),
                    self.payload(ctx, OrderKind::Subscription, u64::from(plan.stars), "XTR"),
                    plan.stars,
                    plan.period_s,
                    LinkMessage {
                        chat: ctx.chat,
                        text: format!("⭐ VIP is {price} a month: {perk}. Subscribe below; /vip cancel stops it any time."),
                        button: format!("Subscribe for {price}"),
                    },
                )]
            }
            (VipAction::Cancel, Some(s)) => vec![
                call::edit_subscription(user, &s.charge_id, true),
                ctx.say(format!(
                    "Your VIP will not renew. It lasts until {}; /vip renew turns the renewal back on.",
                    shown_date(s.until)
                )),
            ],
            (VipAction::Renew, Some(s)) => vec![
                call::edit_subscription(user, &s.charge_id, false),
                ctx.say(format!(
                    "Your VIP renews again on {}. /vip cancel stops it.",
                    shown_date(s.until)
                )),
            ],
            (VipAction::Cancel | VipAction::Renew, None) => {
                vec![ctx.say("You have no VIP subscription. Type /vip to get one.")]
            }
        })
    }

    /// The player's subscription, if their VIP holds now.
    async fn active_vip<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
    ) -> Result<Option<Subscription>, PortError> {
        let standing = ctx.port.standing(ctx.player).await?;
        Ok(self.holding(standing.subscription, ctx.now))
    }

    /// `subscription` if VIP holds at `now`: within its paid period or the grace after.
    fn holding(&self, subscription: Option<Subscription>, now: u64) -> Option<Subscription> {
        subscription.filter(|s| s.until.saturating_add(self.config.vip.grace_s) > now)
    }

    /// `Err` carries the reason shown to the payer.
    fn pre_checkout(
        &self,
        user: u64,
        currency: &str,
        total_amount: u64,
        payload: &str,
        now: u64,
    ) -> Result<(), String> {
        let order = self.config.signer.verify(payload).map_err(|_| {
            "This invoice was not issued by this bot. Ask for a new one with /deposit.".to_owned()
        })?;
        if order.player != user {
            return Err(
                "This invoice was issued to another player. Ask for your own with /deposit."
                    .to_owned(),
            );
        }
        if order.currency != currency || order.total_amount != total_amount {
            return Err(
                "The amount does not match the invoice. Ask for a new one with /deposit."
                    .to_owned(),
            );
        }
        // A subscription link may be used later than an invoice, and Telegram renews
        // with the first payment's payload: its signed price is honoured for good.
        if order.kind == OrderKind::Deposit && now > order.expires {
            return Err("This invoice has expired. Ask for a new one with /deposit.".to_owned());
        }
        let provider_currency = self
            .config
            .provider_currencies
            .iter()
            .any(|c| c.as_str() == currency);
        if currency != "XTR" && (order.kind != OrderKind::Deposit || !provider_currency) {
            return Err(format!(
                "Payments in {currency} are not taken any more. Ask for a new invoice with /deposit."
            ));
        }
        if player_id(user).is_none() {
            return Err("This Telegram account cannot hold a balance here.".to_owned());
        }
        Ok(())
    }

    /// Reads a payment's charge: its amount and currency as the ledger counts them and
    /// the method it came through. `Err` is the reply when it cannot be read.
    fn charge(&self, paid: &Paid<'_>) -> Result<Charge, String> {
        let (Ok(code), Ok(external_ref)) = (
            CurrencyCode::new(paid.currency),
            ExternalRef::new(paid.charge_id),
        ) else {
            return Err(
                "Your payment arrived but I could not read it. Please write to /paysupport."
                    .to_owned(),
            );
        };
        let Some(amount) = self.amount_of_minor_units(&code, paid.total_amount) else {
            return Err(
                "Your payment arrived in a currency I do not hold. Please write to /paysupport."
                    .to_owned(),
            );
        };
        let method = if code == xtr() {
            PaymentMethod::telegram_stars()
        } else {
            PaymentMethod::new("telegram_provider").expect("valid")
        };
        Ok(Charge {
            code,
            amount,
            method,
            external_ref,
        })
    }

    /// Money arrived, once per charge whatever the payload says (a charge is real money;
    /// the payload only helped decide whether to accept it): a deposit credits the
    /// payer; a subscription charge is house revenue that makes the payer VIP.
    async fn payment<P: Port>(
        &self,
        port: &P,
        origin: &str,
        paid: Paid<'_>,
        paying: Paying,
        now: u64,
    ) -> Result<Vec<Call>, PortError> {
        let Some(player) = player_id(paid.from.user) else {
            return Ok(Vec::new());
        };
        let ctx = Ctx {
            port,
            player,
            chat: paid.from.chat,
            origin,
            now,
        };
        let currency = paid.currency;
        let Charge {
            code,
            amount,
            method,
            external_ref,
        } = match self.charge(&paid) {
            Ok(charge) => charge,
            Err(reply) => return Ok(vec![ctx.say(reply)]),
        };
        let (suffix, command, what) = match paying {
            Paying::Deposit => (
                "deposit",
                Command::Deposit {
                    player,
                    amount,
                    currency: code,
                    method,
                    external_ref,
                },
                "payment",
            ),
            Paying::Subscription { until, renewal } => (
                "subscription",
                Command::PaySubscription {
                    player,
                    amount,
                    currency: code,
                    method,
                    external_ref,
                    until: ledger::Timestamp::from_micros(micros(until)),
                    renewal,
                },
                "VIP payment",
            ),
        };
        let outcome = ctx.submit(suffix, command).await?;
        let text = match (&outcome.kind, paying) {
            // Its refund came first: credited and given back at once.
            (OutcomeKind::Accepted, _) if gave_back(&outcome) => format!(
                "↩️ Your {what} of {} arrived after its refund: it is refunded to you. Your balance: {}.",
                show(&amount.to_string(), currency),
                shown_balance(&outcome.balances, currency)
            ),
            (OutcomeKind::Accepted, Paying::Deposit) => format!(
                "✅ Received {}. Your balance: {}. Play with /coinflip 10 heads.",
                show(&amount.to_string(), currency),
                shown_balance(&outcome.balances, currency)
            ),
            (OutcomeKind::Accepted, Paying::Subscription { until, renewal: true }) => {
                format!("⭐ Your VIP is renewed until {}. Thank you!", shown_date(until))
            }
            (OutcomeKind::Accepted, Paying::Subscription { until, .. }) => format!(
                "⭐ Welcome to VIP! Until {} you may stake up to {}. /vip cancel stops the renewal.",
                shown_date(until),
                show(&self.config.vip.stake_max.to_string(), "XTR")
            ),
            (OutcomeKind::Rejected { message, .. }, _) => format!("Your {what} arrived but could not be recorded: {message}. Please write to /paysupport."),
            (OutcomeKind::Conflict { .. }, _) => format!("Your {what} arrived but could not be recorded. Please write to /paysupport."),
        };
        Ok(vec![ctx.say(text)])
    }

    /// A refund happened (possibly outside the bot): the money is gone, so it is recorded
    /// as a forced refund of that deposit, once.
    async fn refunded<P: Port>(
        &self,
        port: &P,
        origin: &str,
        paid: Paid<'_>,
        now: u64,
    ) -> Result<Vec<Call>, PortError> {
        let (Some(player), Ok(external_ref)) =
            (player_id(paid.from.user), ExternalRef::new(paid.charge_id))
        else {
            return Ok(Vec::new());
        };
        let ctx = Ctx {
            port,
            player,
            chat: paid.from.chat,
            origin,
            now,
        };
        let outcome = ctx
            .submit(
                "refund",
                Command::RefundDeposit {
                    player,
                    external_ref,
                    forced: true,
                },
            )
            .await?;
        let currency = paid.currency;
        let amount = self.charge(&paid).map_or_else(
            |_| paid.total_amount.to_string(),
            |charge| charge.amount.to_string(),
        );
        Ok(match outcome.kind {
            // Before its payment: the ledger noted it, and gives the payment back when it
            // arrives.
            OutcomeKind::Accepted if !gave_back(&outcome) => Vec::new(),
            OutcomeKind::Accepted => vec![ctx.say(format!(
                "↩️ {} refunded to you. Your balance: {}.",
                show(&amount, currency),
                shown_balance(&outcome.balances, currency)
            ))],
            // Already refunded through the bot (`croupier payments refund`): nothing new.
            OutcomeKind::Rejected { .. } | OutcomeKind::Conflict { .. } => Vec::new(),
        })
    }

    /// The signed payload of an invoice to `ctx`'s player, payable until the invoice TTL
    /// has passed.
    fn payload<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        kind: OrderKind,
        total_amount: u64,
        currency: &str,
    ) -> String {
        self.config.signer.sign(&Order {
            kind,
            player: ctx.user(),
            total_amount,
            currency: currency.to_owned(),
            expires: ctx.now + self.config.invoice_ttl_s,
        })
    }

    /// Telegram counts amounts in the currency's smallest unit.
    fn amount_of_minor_units(&self, code: &CurrencyCode, total_amount: u64) -> Option<Decimal> {
        self.config
            .currencies
            .get(code)
            .ok()?
            .from_minor_units(total_amount)
    }

    /// Checks a stake against the currency and the limits, VIP's when the player is
    /// one; the inner `Err` is the reply.
    async fn check_stake<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        stake: Decimal,
        multiplier: Decimal,
    ) -> Result<Result<Decimal, String>, PortError> {
        let spec = self
            .config
            .currencies
            .get(&xtr())
            .expect("XTR is always known");
        let Ok(stake) = spec.positive(stake) else {
            return Ok(Err(format!(
                "Stakes are whole Stars; {stake} is not. Try 10."
            )));
        };
        let rules = &self.config.rules;
        // The ledger is asked about VIP only when the stake needs it.
        let vip = stake > rules.stake_max && self.active_vip(ctx).await?.is_some();
        let stake_max = if vip {
            self.config.vip.stake_max
        } else {
            rules.stake_max
        };
        Ok(rules
            .check(stake, multiplier, spec.scale, stake_max)
            .map_err(|refused| match refused {
                StakeRefused::BelowMin(min) => {
                    format!("The smallest stake is {}.", show(&min.to_string(), "XTR"))
                }
                StakeRefused::AboveMax(max) if !vip => format!(
                    "The largest stake is {}; VIPs may stake up to {}: /vip.",
                    show(&max.to_string(), "XTR"),
                    show(&self.config.vip.stake_max.to_string(), "XTR")
                ),
                StakeRefused::AboveMax(max) => {
                    format!("The largest stake is {}.", show(&max.to_string(), "XTR"))
                }
                StakeRefused::PayoutAboveMax(max) => {
                    format!(
                        "That bet could pay more than the limit of {}: lower the stake.",
                        show(&max.to_string(), "XTR")
                    )
                }
            })
            .map(|()| stake))
    }

    /// Decides a bet, its roll and its settlement, into `plan`: the bet and the
    /// settlement are committed together, or not at all. The roll is fixed by the bet's
    /// fair round, so deciding again (a retry, a redelivery) settles the same way.
    async fn play<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        game: Game,
        stake: Decimal,
        plan: &mut Plan,
    ) -> Result<Vec<Call>, PortError> {
        let terms = Terms {
            game,
            edge_bps: self.config.rules.edge_bps,
        };
        let stake = match self.check_stake(ctx, stake, terms.multiplier()).await? {
            Ok(stake) => stake,
            Err(reply) => return Ok(vec![ctx.say(reply)]),
        };
        let game = terms.game_name();
        let bet_id = bet_id(game, ctx.origin);
        let round = ctx
            .port
            .fair_round(ctx.player, bet_id.as_str(), &terms.encode())
            .await?;
        let roll = fair::roll(&round.seed, &round.client_seed, round.nonce);
        // The bet carries its fair inputs into the log, and the settlement its roll: an
        // auditor holding the log and the revealed seed recomputes the outcome.
        let inputs = FairBet {
            seed_hash: round.seed_hash.clone(),
            client_seed: round.client_seed.clone(),
            nonce: round.nonce,
            terms: terms.encode(),
        };
        let result = terms.outcome(stake, roll, 0);
        let bet = plan.decision.command(
            ctx.request("bet", place(ctx, &bet_id, game, stake, Some(inputs))),
            None,
        );
        let settle = plan.decision.command(
            ctx.request(
                "settle",
                Command::SettleBet {
                    player: ctx.player,
                    bet_id: bet_id.clone(),
                    payout: result.payout,
                    roll: Some(roll),
                },
            ),
            Some(bet),
        );
        plan.bets.push(Planned {
            item: SessionEvent::Bet(SessionBet {
                bet_id: bet_id.as_str().to_owned(),
                game: game.to_owned(),
                stake,
                payout: result.payout,
                at: ledger::Timestamp::from_micros(micros(ctx.now)),
            }),
            requires: Some(settle),
        });
        let (headline, again) = match terms.game {
            Game::Coinflip(side) => (
                format!(
                    "🪙 {}! (you chose {})",
                    capitalised(crate::games::coin(roll).as_str()),
                    side.as_str()
                ),
                format!("/coinflip {stake} {}", side.as_str()),
            ),
            Game::Dice(target) => (
                format!("🎲 Rolled {} (under {target} wins)", fair::show_roll(roll)),
                format!("/dice {stake} {target}"),
            ),
        };
        let verdict = if result.won {
            format!("You won {}!", show(&result.payout.to_string(), "XTR"))
        } else {
            format!("You lost {}.", show(&stake.to_string(), "XTR"))
        };
        plan.pending = Some(Pending::Fair {
            bet,
            settle,
            stake,
            text: format!("{headline}\n{verdict}"),
            footer: format!(
                "Nonce {} of seed {}…: /fair. Again: {again}",
                round.nonce,
                &round.seed_hash[..12],
            ),
        });
        Ok(Vec::new())
    }

    /// Decides a 🎰 bet into `plan`; once it is placed, the 🎰 whose value settles it
    /// is sent ([`Bot::spin_result`]).
    async fn slots<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        stake: Decimal,
        plan: &mut Plan,
    ) -> Result<Vec<Call>, PortError> {
        let stake = match self
            .check_stake(ctx, stake, Decimal::from(slots::MULTIPLIER_MAX))
            .await?
        {
            Ok(stake) => stake,
            Err(reply) => return Ok(vec![ctx.say(reply)]),
        };
        let bet_id = bet_id("slots", ctx.origin);
        let bet = plan.decision.command(
            ctx.request("bet", place(ctx, &bet_id, "slots", stake, None)),
            None,
        );
        plan.pending = Some(Pending::Slots {
            bet,
            spin: Spin {
                player: ctx.player.get(),
                chat: ctx.chat,
                stake,
                bet: bet_id.as_str().to_owned(),
            },
        });
        Ok(Vec::new())
    }

    /// The answer to a play once its decision is committed: the result, or why the
    /// ledger refused the bet.
    fn played<P: Port>(
        &self,
        ctx: &Ctx<'_, P>,
        pending: Pending,
        outcomes: &[Option<Outcome>],
    ) -> Result<Vec<Call>, PortError> {
        let outcome = |i: usize| {
            outcomes.get(i).cloned().flatten().ok_or_else(|| {
                PortError::Broken(format!("the ledger did not decide command {i} of a play"))
            })
        };
        match pending {
            Pending::Fair {
                bet,
                settle,
                stake,
                text,
                footer,
            } => {
                let placed = outcome(bet)?;
                if let Some(refusal) = refusal(&placed, stake) {
                    return Ok(vec![ctx.say(refusal)]);
                }
                let settled = outcome(settle)?;
                let balance = match &settled.kind {
                    OutcomeKind::Accepted => shown_balance(&settled.balances, "XTR"),
                    OutcomeKind::Rejected { message, .. }
                    | OutcomeKind::Conflict { field: message } => {
                        // The stake is taken and the outcome known; a refused settle is a bug.
                        return Err(PortError::Broken(format!(
                            "settling a decided bet was refused: {message}"
                        )));
                    }
                };
                Ok(vec![
                    ctx.say(format!("{text} Balance: {balance}.\n{footer}"))
                ])
            }
            Pending::Slots { bet, spin } => {
                let placed = outcome(bet)?;
                Ok(match refusal(&placed, spin.stake) {
                    Some(refusal) => vec![ctx.say(refusal)],
                    None => vec![call::send_dice(&spin)],
                })
            }
        }
    }

    /// The answer to a second press of a "✅ Play" button whose round another press
    /// already played: what that round did.
    fn already_played(&self, session: &SessionState) -> String {
        let Some((cause, game, stake)) = session.last_confirmed() else {
            return "That choice is no longer open. Type /play to start again.".to_owned();
        };
        let Some(chosen) = PlayGame::parse(game) else {
            return "That round was already played. Type /play to start again.".to_owned();
        };
        let kind = fair_game(chosen).map_or("slots", |game| {
            Terms {
                game,
                edge_bps: self.config.rules.edge_bps,
            }
            .game_name()
        });
        let round = format!("{} for {}", chosen.label(), show(&stake.to_string(), "XTR"));
        let result = match session.recent_bet(bet_id(kind, cause).as_str()) {
            Some(bet) if bet.payout > Decimal::ZERO => {
                format!("you won {}", show(&bet.payout.to_string(), "XTR"))
            }
            Some(_) => format!("you lost {}", show(&stake.to_string(), "XTR")),
            None if kind == "slots" => "the 🎰 is spinning".to_owned(),
            None => "the bet was refused (see the answer above)".to_owned(),
        };
        format!("Already played: {round}, and {result}. Type /play for another round.")
    }

    /// The 🎰 of `spin` showed `value`, or (`None`) its value will never be known (the
    /// send failed, or was cut short by a crash): settles the bet from the pay table, or
    /// voids it. Safe to call again: the commands are keyed by the bet.
    pub async fn spin_result<P: Port>(
        &self,
        port: &P,
        spin: &Spin,
        value: Option<u8>,
        now: u64,
    ) -> Result<Vec<Call>, PortError> {
        let Ok(player) = PlayerId::new(spin.player) else {
            return Ok(Vec::new());
        };
        let Ok(bet_id) = BetId::new(spin.bet.clone()) else {
            return Ok(Vec::new());
        };
        let origin = format!("spin:{}", spin.bet);
        let ctx = Ctx {
            port,
            player,
            chat: spin.chat,
            origin: &origin,
            now,
        };
        let stake = show(&spin.stake.to_string(), "XTR");
        let payout = value.and_then(|v| slots::payout(spin.stake, v).map(|p| (v, p)));
        let (outcome, text) = match payout {
            Some((value, payout)) => {
                let outcome = ctx
                    .submit(
                        "settle",
                        Command::SettleBet {
                            player,
                            bet_id,
                            payout,
                            roll: None,
                        },
                    )
                    .await?;
                let result = if payout.is_zero() {
                    format!("No luck: you lost {stake}.")
                } else {
                    format!("You won {}!", show(&payout.to_string(), "XTR"))
                };
                (outcome, format!("🎰 {}\n{result}", slots::show(value)))
            }
            None => {
                let outcome = ctx
                    .submit(
                        "void",
                        Command::VoidBet {
                            player,
                            bet_id,
                            reason: "the slot machine's value is unknown".to_owned(),
                        },
                    )
                    .await?;
                (
                    outcome,
                    format!("🎰 The slot machine did not spin, so your stake of {stake} is back."),
                )
            }
        };
        if let (OutcomeKind::Accepted, Some((_, payout))) = (&outcome.kind, payout) {
            let bet = SessionBet {
                bet_id: spin.bet.clone(),
                game: "slots".to_owned(),
                stake: spin.stake,
                payout,
                at: ledger::Timestamp::from_micros(micros(now)),
            };
            record_bet(port, spin.chat, player, bet, &origin).await?;
        }
        Ok(match outcome.kind {
            OutcomeKind::Accepted => vec![ctx.say(format!(
                "{text} Balance: {}. Again: /slots {}",
                shown_balance(&outcome.balances, "XTR"),
                spin.stake
            ))],
            // Settled or voided before (a second instance, an operator): nothing new.
            OutcomeKind::Rejected { .. } | OutcomeKind::Conflict { .. } => Vec::new(),
        })
    }

    async fn history<P: Port>(&self, ctx: &Ctx<'_, P>) -> Result<Call, PortError> {
        let lines = ctx.port.history(ctx.player, 10).await?;
        if lines.is_empty() {
            return Ok(ctx.say("No history yet. Start with /deposit 100."));
        }
        let text: Vec<String> = lines.into_iter().map(|l| l.text).collect();
        Ok(ctx.say(format!("Your latest activity:\n{}", text.join("\n"))))
    }

    async fn fair<P: Port>(&self, ctx: &Ctx<'_, P>, action: FairAction) -> Result<Call, PortError> {
        let text = match action {
            FairAction::Show => {
                let state = ctx.port.fair_state(ctx.player).await?;
                format!(
                    "Server seed hash: {}\nClient seed: {}\nNext nonce: {}\nEach roll is HMAC-SHA256(server seed, \"client seed:nonce\"): the first 8 bytes as a number, modulo 10000, read as 0.00-99.99; heads is under 50.00.\nSet your seed with /fair seed TEXT; reveal the server seed with /fair rotate.",
                    state.seed_hash, state.client_seed, state.next_nonce
                )
            }
            FairAction::SetClientSeed(seed) => {
                let state = ctx.port.set_client_seed(ctx.player, &seed).await?;
                format!(
                    "Client seed set to {}. Next nonce: {}.",
                    state.client_seed, state.next_nonce
                )
            }
            FairAction::Rotate => {
                let rotated = ctx.port.rotate_seed(ctx.player).await?;
                format!(
                    "Revealed server seed: {}\nIts hash: {}\nIt decided {} rounds; check them with any HMAC-SHA256 tool.\nNew server seed hash: {}",
                    rotated.revealed_seed, rotated.revealed_hash, rotated.rounds, rotated.next.seed_hash
                )
            }
        };
        Ok(ctx.say(text))
    }
}

/// Whether an accepted command gave a charge back (a refund of a deposit or of a
/// subscription charge), rather than only noting a refund or only crediting.
fn gave_back(outcome: &Outcome) -> bool {
    outcome.events.iter().any(|e| {
        matches!(
            e.event_type.as_str(),
            "deposit_refunded" | "subscription_refunded" | "refund_confirmed"
        )
    })
}

/// The bet a player input places: `{game}-{origin}`, or a hash of the origin when that is
/// too long for a bet id.
fn bet_id(game: &str, origin: &str) -> BetId {
    BetId::new(format!("{game}-{}", origin.replace(':', "-")))
        .or_else(|_| BetId::new(format!("{game}-{}", short_hash(origin))))
        .expect("bet ids are short tokens")
}

/// The command that places a bet (with its fair inputs for coinflip and dice).
fn place<P: Port>(
    ctx: &Ctx<'_, P>,
    bet_id: &BetId,
    game: &str,
    stake: Decimal,
    fair: Option<FairBet>,
) -> Command {
    Command::PlaceBet {
        player: ctx.player,
        bet_id: bet_id.clone(),
        game: GameId::new(game).expect("game names are snake case"),
        stake,
        currency: xtr(),
        fair,
    }
}

/// The reply to a bet the ledger refused; `None` when it was placed.
fn refusal(placed: &Outcome, stake: Decimal) -> Option<String> {
    match &placed.kind {
        OutcomeKind::Accepted => None,
        OutcomeKind::Rejected { code, message } => {
            Some(if *code == RejectionCode::InsufficientFunds {
                format!(
                    "You have {}, not enough for a stake of {}. Top up with /deposit 100.",
                    shown_balance(&placed.balances, "XTR"),
                    show(&stake.to_string(), "XTR")
                )
            } else {
                format!("That bet was refused: {message}.")
            })
        }
        OutcomeKind::Conflict { .. } => {
            Some("That message was already used for another bet.".to_owned())
        }
    }
}

/// Records a settled bet in the player's session in `chat`, once, deciding again when
/// the session moves meanwhile.
async fn record_bet<P: Port>(
    port: &P,
    chat: i64,
    player: PlayerId,
    bet: SessionBet,
    origin: &str,
) -> Result<(), PortError> {
    for _ in 0..DECIDE_ATTEMPTS {
        let session = port.session(chat, player).await?;
        if session.bets.contains(&bet.bet_id) {
            return Ok(());
        }
        let decision = Decision {
            commands: Vec::new(),
            session: Some((
                session,
                vec![Planned {
                    item: SessionEvent::Bet(bet.clone()),
                    requires: None,
                }],
            )),
            causation: format!("telegram:{origin}"),
        };
        if let Committed::Done(_) = port.commit(decision).await? {
            return Ok(());
        }
    }
    Err(PortError::Unavailable(format!(
        "the session of player {player} kept moving for {DECIDE_ATTEMPTS} decisions"
    )))
}

/// The provably fair game a `/play` choice is; `None` for 🎰 slots.
fn fair_game(game: PlayGame) -> Option<Game> {
    match game {
        PlayGame::Coinflip(side) => Some(Game::Coinflip(side)),
        PlayGame::Dice(target) => Some(Game::Dice(target)),
        PlayGame::Slots => None,
    }
}

/// `60 ⭐`: the player's cash in `currency` from an outcome's balances.
fn shown_balance(balances: &std::collections::BTreeMap<String, String>, currency: &str) -> String {
    show(balances.get(currency).map_or("0", String::as_str), currency)
}

/// A payment as Telegram reported it.
struct Paid<'a> {
    from: From,
    currency: &'a str,
    total_amount: u64,
    charge_id: &'a str,
}

/// What a payment pays for.
#[derive(Debug, Clone, Copy)]
enum Paying {
    Deposit,
    /// A subscription charge paying until `until` (Unix seconds).
    Subscription {
        until: u64,
        renewal: bool,
    },
}

/// A payment as the ledger counts it.
struct Charge {
    code: CurrencyCode,
    amount: Decimal,
    method: PaymentMethod,
    external_ref: ExternalRef,
}

/// `2026-12-21 10:00 UTC` for Unix seconds.
fn shown_date(seconds: u64) -> String {
    let time = ledger::time::rfc3339(micros(seconds));
    format!("{} {} UTC", &time[..10], &time[11..16])
}

/// Unix seconds as microseconds.
fn micros(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

fn player_id(user: u64) -> Option<PlayerId> {
    i64::try_from(user)
        .ok()
        .and_then(|id| PlayerId::new(id).ok())
}

fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn menu() -> Buttons {
    vec![
        vec![
            ("💰 Balance".to_owned(), "/balance".to_owned()),
            ("⭐ Deposit".to_owned(), "/deposit".to_owned()),
        ],
        vec![
            ("🪙 Coinflip 10".to_owned(), "/coinflip 10 heads".to_owned()),
            ("🎲 Dice 10 under 50".to_owned(), "/dice 10 50".to_owned()),
        ],
        vec![
            ("🎮 Play".to_owned(), "/play".to_owned()),
            ("🎰 Slots 10".to_owned(), "/slots 10".to_owned()),
        ],
        vec![
            ("📜 History".to_owned(), "/history".to_owned()),
            ("🔐 Fairness".to_owned(), "/fair".to_owned()),
        ],
    ]
}

fn help() -> String {
    [
        "/balance — your Stars",
        "/deposit 100 — buy Stars credit",
        "/coinflip 10 heads — double or nothing (2% edge)",
        "/dice 10 50 — win when the roll is under 50",
        "/slots 10 — Telegram's 🎰: three sevens pay 20x",
        "/play — choose a game and a stake with buttons",
        "/vip — VIP subscription: stakes up to 5000 ⭐",
        "/history — your latest activity",
        "/fair — seeds and nonces; every roll can be checked",
        "/paysupport — payment help, /privacy — what is stored",
    ]
    .join("\n")
}
