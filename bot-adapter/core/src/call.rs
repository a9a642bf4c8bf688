//! Bot API calls the adapter wants made. They are data: the caller writes them to the
//! outbox with the events that caused them, and a dispatcher sends them later. The
//! parameters are frankenstein's method structs, serialised as the Bot API expects.

use frankenstein::methods::{
    AnswerCallbackQueryParams, AnswerPreCheckoutQueryParams, CreateInvoiceLinkParams,
    EditUserStarSubscriptionParams, SendInvoiceParams, SendMessageParams,
};
use frankenstein::payments::LabeledPrice;
use frankenstein::types::{InlineKeyboardButton, InlineKeyboardMarkup, ReplyMarkup};
use serde::Serialize;

use crate::slots::{self, Spin};

/// One Bot API call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The Bot API method, such as `sendMessage`.
    pub method: &'static str,
    /// The method's parameters as JSON.
    pub params: serde_json::Value,
    /// The chat it speaks to, for per-chat rate limits; `None` for calls that send no
    /// message (answers to queries, refunds).
    pub chat: Option<i64>,
    /// Answers to queries expire within seconds: the dispatcher sends them first.
    pub urgent: bool,
    /// For a 🎰 `sendDice`: the bet its value settles. The dispatcher sends such a call at
    /// most once, and reports the value (or that it is unknown) back to the core.
    pub spin: Option<Spin>,
    /// For a `createInvoiceLink`: the message that carries the link to the player once
    /// Telegram made it. The dispatcher queues it when it marks this call sent.
    pub then_send: Option<LinkMessage>,
}

/// A message with one button that opens a link the message does not know yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LinkMessage {
    pub chat: i64,
    pub text: String,
    pub button: String,
}

impl LinkMessage {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a link message always serialises")
    }

    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// The `sendMessage` that shows `url` behind the button.
    pub fn with_link(&self, url: &str) -> Call {
        let button = InlineKeyboardButton::builder()
            .text(self.button.clone())
            .url(url)
            .build();
        let params = SendMessageParams::builder()
            .chat_id(self.chat)
            .text(self.text.clone())
            .reply_markup(ReplyMarkup::InlineKeyboardMarkup(InlineKeyboardMarkup {
                inline_keyboard: vec![vec![button]],
            }))
            .build();
        call("sendMessage", &params, Some(self.chat), false)
    }
}

fn call(method: &'static str, params: &impl Serialize, chat: Option<i64>, urgent: bool) -> Call {
    Call {
        method,
        params: json(params),
        chat,
        urgent,
        spin: None,
        then_send: None,
    }
}

fn json(params: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(params).expect("Bot API parameters always serialise")
}

/// A button row: `(label, callback data)`.
pub type Buttons = Vec<Vec<(String, String)>>;

pub fn message(chat: i64, text: impl Into<String>) -> Call {
    message_with_buttons(chat, text, Vec::new())
}

pub fn message_with_buttons(chat: i64, text: impl Into<String>, buttons: Buttons) -> Call {
    let params = SendMessageParams::builder().chat_id(chat).text(text);
    let params = if buttons.is_empty() {
        params.build()
    } else {
        params
            .reply_markup(ReplyMarkup::InlineKeyboardMarkup(keyboard(buttons)))
            .build()
    };
    call("sendMessage", &params, Some(chat), false)
}

fn keyboard(buttons: Buttons) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup {
        inline_keyboard: buttons
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|(text, data)| {
                        InlineKeyboardButton::builder()
                            .text(text)
                            .callback_data(data)
                            .build()
                    })
                    .collect()
            })
            .collect(),
    }
}

pub fn answer_callback(id: &str) -> Call {
    let params = AnswerCallbackQueryParams::builder()
        .callback_query_id(id)
        .build();
    call("answerCallbackQuery", &params, None, true)
}

/// `error` is `None` to let the payment go ahead.
pub fn answer_pre_checkout(id: &str, error: Option<String>) -> Call {
    let params = AnswerPreCheckoutQueryParams::builder()
        .pre_checkout_query_id(id)
        .ok(error.is_none())
        .maybe_error_message(error)
        .build();
    call("answerPreCheckoutQuery", &params, None, true)
}

/// A Stars invoice: no provider token, one price, whole Stars.
pub fn stars_invoice(
    chat: i64,
    title: &str,
    description: &str,
    payload: String,
    stars: u32,
) -> Call {
    invoice(chat, title, description, payload, "XTR", stars)
}

/// An invoice with one price, `amount` in the currency's smallest unit (whole Stars for
/// XTR). Other currencies go through the payment provider, whose token is not here: the
/// dispatcher adds it when it sends, so it is never stored with the outbox.
pub fn invoice(
    chat: i64,
    title: &str,
    description: &str,
    payload: String,
    currency: &str,
    amount: u32,
) -> Call {
    let params = SendInvoiceParams::builder()
        .chat_id(chat)
        .title(title)
        .description(description)
        .payload(payload)
        .currency(currency)
        .prices(vec![LabeledPrice {
            label: title.to_owned(),
            amount,
        }])
        .build();
    call("sendInvoice", &params, Some(chat), false)
}

/// A Stars subscription (renewed every `period_s` seconds until cancelled): only an
/// invoice link can carry one, so the link goes to the player in `then_send`.
pub fn subscription_link(
    title: &str,
    description: &str,
    payload: String,
    stars: u32,
    period_s: u32,
    then_send: LinkMessage,
) -> Call {
    let params = CreateInvoiceLinkParams::builder()
        .title(title)
        .description(description)
        .payload(payload)
        .currency("XTR")
        .prices(vec![LabeledPrice {
            label: title.to_owned(),
            amount: stars,
        }])
        .subscription_period(period_s)
        .build();
    Call {
        then_send: Some(then_send),
        ..call("createInvoiceLink", &params, None, false)
    }
}

/// Stops (`canceled`) or restores the renewal of the subscription paid by `charge_id`.
pub fn edit_subscription(user: u64, charge_id: &str, canceled: bool) -> Call {
    let params = EditUserStarSubscriptionParams::builder()
        .user_id(user)
        .telegram_payment_charge_id(charge_id)
        .is_canceled(canceled)
        .build();
    call("editUserStarSubscription", &params, None, false)
}

pub fn refund_stars(user: u64, charge_id: &str) -> Call {
    let params = frankenstein::methods::RefundStarPaymentParams::builder()
        .user_id(user)
        .telegram_payment_charge_id(charge_id)
        .build();
    call("refundStarPayment", &params, None, false)
}

/// Sends the 🎰 whose value settles `spin`'s bet.
pub fn send_dice(spin: &Spin) -> Call {
    let params = frankenstein::methods::SendDiceParams::builder()
        .chat_id(spin.chat)
        .emoji(slots::EMOJI)
        .build();
    Call {
        spin: Some(spin.clone()),
        ..call("sendDice", &params, Some(spin.chat), false)
    }
}
