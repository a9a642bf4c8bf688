//! Telegram updates, as the adapter sees them: [`translate`] turns the Bot API's `Update`
//! JSON into an [`Input`], or says why it is ignored. Transports that do not speak the Bot
//! API (MTProto) build the same [`Input`] values.

use frankenstein::payments::{PreCheckoutQuery, RefundedPayment, SuccessfulPayment};
use frankenstein::types::{ChatType, MaybeInaccessibleMessage, Message};
use frankenstein::updates::{Update, UpdateContent};
use ledger::{Currencies, CurrencyCode};
use serde::{Deserialize, Serialize};

/// Texts longer than this are not parsed as commands (Telegram allows 4096 characters).
pub const TEXT_LEN_MAX: usize = 4096;

/// Who sent something, in which chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct From {
    /// The Telegram user id, which is the player id.
    pub user: u64,
    pub chat: i64,
}

/// What the adapter acts on. Everything a transport delivers becomes one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// A text message in a private chat with the bot. `message_id` is unique per chat,
    /// which makes `(chat, message_id)` a stable idempotency key.
    Text {
        from: From,
        message_id: i64,
        text: String,
    },
    /// A press on one of the bot's inline buttons.
    Callback {
        from: From,
        /// Telegram's callback query id, unique forever.
        id: String,
        data: String,
    },
    /// Telegram asks whether a payment may go ahead; answer within 10 seconds.
    PreCheckout {
        user: u64,
        id: String,
        currency: String,
        total_amount: u64,
        payload: String,
    },
    /// A payment went through: credit it, once, keyed by `charge_id`.
    PaymentSucceeded {
        from: From,
        currency: String,
        total_amount: u64,
        payload: String,
        charge_id: String,
        provider_charge_id: String,
        /// A subscription charge: its first payment or a renewal.
        is_recurring: bool,
        /// The first payment of a subscription (renewals are recurring but not first).
        #[serde(default)]
        is_first_recurring: bool,
        /// When the subscription this charge pays for ends (Unix seconds).
        subscription_expires: Option<u64>,
    },
    /// A payment was refunded, possibly outside the bot.
    PaymentRefunded {
        from: From,
        currency: String,
        total_amount: u64,
        payload: String,
        charge_id: String,
    },
    /// A 🎰 (or other) dice in a chat. Only dice the bot sent can decide money, and the
    /// bot learns those from its own `sendDice` result, so these are ignored.
    Dice {
        from: From,
        emoji: String,
        value: u8,
    },
    /// Nothing to do; the reason is logged.
    Ignored { reason: Ignored },
    /// A payment update whose money fields cannot be read (a missing or mistyped field,
    /// an amount no amount rule of the ledger allows): never acted on, kept as a dead
    /// letter with this reason for an operator to look at.
    Unreadable { reason: String },
}

impl Input {
    /// The player behind a message or a button press: the inputs a player can send as
    /// fast as they like, which the inbound rate limit applies to.
    pub fn typed_by(&self) -> Option<From> {
        match self {
            Self::Text { from, .. } | Self::Callback { from, .. } | Self::Dice { from, .. } => {
                Some(*from)
            }
            _ => None,
        }
    }
}

/// Why an update is not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ignored {
    /// Not a JSON object with an `update_id`.
    Malformed,
    /// An update kind this Bot API version does not know, or the bot does not handle.
    UnknownKind,
    /// An edited message: acting on it would run the command twice.
    Edited,
    /// Channel posts and messages sent on behalf of a chat have no player.
    NoPlayer,
    /// Groups are not supported: money talk stays in private chats.
    NotPrivate,
    /// Sent by a bot.
    FromBot,
    /// A message with nothing the bot handles (a sticker, a photo...).
    NoText,
}

/// An update's id and what it means. The id comes out even when the rest is not
/// understood, so the update can still be acknowledged and de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub update_id: Option<i64>,
    pub input: Input,
}

/// Reads a Bot API `Update` from its JSON body, checking payment amounts against the
/// ledger's default currencies. See [`translate_with`].
pub fn translate(body: &[u8]) -> Translated {
    translate_with(body, &Currencies::default())
}

/// Reads a Bot API `Update` from its JSON body. Never fails: a payment whose money fields
/// cannot be read, or whose amount does not fit `currencies`, becomes
/// [`Input::Unreadable`]; anything else not understood becomes [`Input::Ignored`].
/// Payments are read from their money fields alone, before the rest of the update, so
/// that nothing else in it can make one be dropped.
pub fn translate_with(body: &[u8], currencies: &Currencies) -> Translated {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Translated {
            update_id: None,
            input: ignored(Ignored::Malformed),
        };
    };
    let update_id = value.get("update_id").and_then(serde_json::Value::as_i64);
    if update_id.is_none() {
        return Translated {
            update_id: None,
            input: ignored(Ignored::Malformed),
        };
    }
    if let Some(input) = payment_message(&value, currencies) {
        return Translated { update_id, input };
    }
    let input = match serde_json::from_value::<Update>(value) {
        Ok(update) => from_update(update),
        // An unknown field is fine, but an update kind serde does not know fails the
        // whole struct: ignore it rather than refuse it, so Telegram stops resending.
        Err(_) => ignored(Ignored::UnknownKind),
    };
    Translated { update_id, input }
}

fn ignored(reason: Ignored) -> Input {
    Input::Ignored { reason }
}

/// The fields of a payment message that money depends on, read on their own: a payment
/// is recorded whatever else in its update is odd (a chat type, a date or a flag this
/// build does not read as frankenstein expects).
#[derive(Deserialize)]
struct PaymentMessage {
    from: Option<Sender>,
    chat: MoneyChat,
    #[serde(default)]
    successful_payment: Option<PaidFields>,
    #[serde(default)]
    refunded_payment: Option<RefundFields>,
}

#[derive(Deserialize)]
struct Sender {
    id: u64,
}

#[derive(Deserialize)]
struct MoneyChat {
    id: i64,
}

#[derive(Deserialize)]
struct PaidFields {
    currency: String,
    total_amount: u64,
    invoice_payload: String,
    telegram_payment_charge_id: String,
    #[serde(default)]
    provider_payment_charge_id: String,
    /// Only tells a renewal from a first charge: an odd value is read as absent.
    #[serde(default)]
    is_recurring: serde_json::Value,
    #[serde(default)]
    is_first_recurring: serde_json::Value,
    /// Makes the charge a subscription's, not a deposit: read strictly.
    #[serde(default)]
    subscription_expiration_date: Option<u64>,
}

#[derive(Deserialize)]
struct RefundFields {
    currency: String,
    total_amount: u64,
    invoice_payload: String,
    telegram_payment_charge_id: String,
}

/// A message carrying a successful or refunded payment, read from its money fields alone;
/// `None` when the update is no such message.
fn payment_message(value: &serde_json::Value, currencies: &Currencies) -> Option<Input> {
    let message = value.get("message")?;
    let present = |field: &str| message.get(field).is_some_and(|v| !v.is_null());
    if !present("successful_payment") && !present("refunded_payment") {
        return None;
    }
    let unreadable = |reason: String| Some(Input::Unreadable { reason });
    let read = match PaymentMessage::deserialize(message) {
        Ok(read) => read,
        Err(error) => return unreadable(format!("payment message: {error}")),
    };
    let Some(user) = read.from else {
        return unreadable("payment message without message.from".to_owned());
    };
    let from = From {
        user: user.id,
        chat: read.chat.id,
    };
    // The amount is checked before anything is built from it.
    let unfit = |currency: &str, total_amount| fits(currencies, currency, total_amount).err();
    Some(match (read.successful_payment, read.refunded_payment) {
        (Some(paid), _) => match unfit(&paid.currency, paid.total_amount) {
            Some(reason) => Input::Unreadable { reason },
            None => Input::PaymentSucceeded {
                from,
                currency: paid.currency,
                total_amount: paid.total_amount,
                payload: paid.invoice_payload,
                charge_id: paid.telegram_payment_charge_id,
                provider_charge_id: paid.provider_payment_charge_id,
                is_recurring: paid.is_recurring.as_bool().unwrap_or(false),
                is_first_recurring: paid.is_first_recurring.as_bool().unwrap_or(false),
                subscription_expires: paid.subscription_expiration_date,
            },
        },
        (None, Some(refund)) => match unfit(&refund.currency, refund.total_amount) {
            Some(reason) => Input::Unreadable { reason },
            None => Input::PaymentRefunded {
                from,
                currency: refund.currency,
                total_amount: refund.total_amount,
                payload: refund.invoice_payload,
                charge_id: refund.telegram_payment_charge_id,
            },
        },
        // Both absent or null: not a payment message after all.
        (None, None) => return None,
    })
}

/// Whether `total_amount` minor units of `currency` are an amount the ledger can hold.
/// A currency the ledger does not hold is let through: the bot answers it.
fn fits(currencies: &Currencies, currency: &str, total_amount: u64) -> Result<(), String> {
    let Some(spec) = CurrencyCode::new(currency)
        .ok()
        .and_then(|code| currencies.get(&code).ok())
    else {
        return Ok(());
    };
    let amount = spec
        .from_minor_units(total_amount)
        .ok_or_else(|| format!("{currency} has too many decimal places"))?;
    spec.positive(amount)
        .map(drop)
        .map_err(|rejection| format!("total_amount {total_amount} {currency}: {rejection}"))
}

/// The adapter's view of an already-parsed update.
pub fn from_update(update: Update) -> Input {
    match update.content {
        UpdateContent::Message(message) => from_message(&message),
        UpdateContent::EditedMessage(_) | UpdateContent::EditedBusinessMessage(_) => {
            ignored(Ignored::Edited)
        }
        UpdateContent::ChannelPost(_) | UpdateContent::EditedChannelPost(_) => {
            ignored(Ignored::NoPlayer)
        }
        UpdateContent::CallbackQuery(query) => {
            if query.from.is_bot {
                return ignored(Ignored::FromBot);
            }
            let Some(MaybeInaccessibleMessage::Message(message)) = &query.message else {
                return ignored(Ignored::NoPlayer);
            };
            if message.chat.type_field != ChatType::Private {
                return ignored(Ignored::NotPrivate);
            }
            Input::Callback {
                from: From {
                    user: query.from.id,
                    chat: message.chat.id,
                },
                id: query.id.clone(),
                data: query.data.clone().unwrap_or_default(),
            }
        }
        UpdateContent::PreCheckoutQuery(query) => pre_checkout(&query),
        _ => ignored(Ignored::UnknownKind),
    }
}

fn pre_checkout(query: &PreCheckoutQuery) -> Input {
    Input::PreCheckout {
        user: query.from.id,
        id: query.id.clone(),
        currency: query.currency.clone(),
        total_amount: u64::from(query.total_amount),
        payload: query.invoice_payload.clone(),
    }
}

fn from_message(message: &Message) -> Input {
    let Some(user) = message.from.as_deref() else {
        return ignored(Ignored::NoPlayer);
    };
    if message.sender_chat.is_some() {
        return ignored(Ignored::NoPlayer);
    }
    let from = From {
        user: user.id,
        chat: message.chat.id,
    };
    // Payments are service messages in the payer's chat with the bot; they are money
    // and must be recorded whatever else is odd about the message.
    if let Some(payment) = message.successful_payment.as_deref() {
        return succeeded(from, payment);
    }
    if let Some(refund) = message.refunded_payment.as_deref() {
        return refunded(from, refund);
    }
    if user.is_bot {
        return ignored(Ignored::FromBot);
    }
    if message.chat.type_field != ChatType::Private {
        return ignored(Ignored::NotPrivate);
    }
    if let Some(dice) = message.dice.as_deref() {
        return Input::Dice {
            from,
            emoji: dice.emoji.clone(),
            value: dice.value,
        };
    }
    match &message.text {
        Some(text) => Input::Text {
            from,
            message_id: i64::from(message.message_id),
            text: text.clone(),
        },
        None => ignored(Ignored::NoText),
    }
}

fn succeeded(from: From, payment: &SuccessfulPayment) -> Input {
    Input::PaymentSucceeded {
        from,
        currency: payment.currency.clone(),
        total_amount: u64::from(payment.total_amount),
        payload: payment.invoice_payload.clone(),
        charge_id: payment.telegram_payment_charge_id.clone(),
        provider_charge_id: payment.provider_payment_charge_id.clone(),
        is_recurring: payment.is_recurring.unwrap_or(false),
        is_first_recurring: payment.is_first_recurring.unwrap_or(false),
        subscription_expires: payment.subscription_expiration_date,
    }
}

fn refunded(from: From, refund: &RefundedPayment) -> Input {
    Input::PaymentRefunded {
        from,
        currency: refund.currency.clone(),
        total_amount: u64::from(refund.total_amount),
        payload: refund.invoice_payload.clone(),
        charge_id: refund.telegram_payment_charge_id.clone(),
    }
}
