//! Telegram updates, as the adapter sees them: [`translate`] turns the Bot API's `Update`
//! JSON into an [`Input`], or says why it is ignored. Transports that do not speak the Bot
//! API (MTProto) build the same [`Input`] values.

use frankenstein::payments::{PreCheckoutQuery, RefundedPayment, SuccessfulPayment};
use frankenstein::types::{ChatType, MaybeInaccessibleMessage, Message};
use frankenstein::updates::{Update, UpdateContent};
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

/// Reads a Bot API `Update` from its JSON body. Never fails: anything not understood
/// becomes [`Input::Ignored`].
pub fn translate(body: &[u8]) -> Translated {
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
