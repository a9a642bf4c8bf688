//! Outbox calls to MTProto requests. The outbox holds Bot API calls (`method` and JSON
//! parameters, as `bot_core::call` makes them); over MTProto each becomes one raw TL
//! request. Pure: the peer is looked up by the caller, and `random_id` comes from the
//! outbox row's dedupe key, so a retried send is the same send and Telegram does not
//! post it twice.

use grammers_session::types::{PeerId, PeerRef};
use grammers_tl_types as tl;
use serde::Deserialize;
use serde_json::{json, Value};

/// A call this transport cannot make: the outbox gives up on it (a dead letter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    #[error("{0} is not supported over MTProto")]
    Method(String),
    #[error("{method}: parameters not understood over MTProto: {error}")]
    Params { method: String, error: String },
}

/// One outbox call, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// `sendMessage`, with inline buttons as rows of `(label, callback data)`.
    Message {
        chat: i64,
        text: String,
        buttons: Vec<Vec<(String, String)>>,
    },
    /// `sendInvoice`; Stars (XTR) have no provider.
    Invoice {
        chat: i64,
        title: String,
        description: String,
        payload: String,
        currency: String,
        prices: Vec<(String, i64)>,
        provider_token: Option<String>,
        start_parameter: Option<String>,
    },
    /// `sendDice`.
    Dice { chat: i64, emoji: String },
    /// `answerCallbackQuery`.
    AnswerCallback {
        query_id: i64,
        text: Option<String>,
        show_alert: bool,
    },
    /// `answerPreCheckoutQuery`: `error` is `None` to let the payment go ahead.
    AnswerPreCheckout {
        query_id: i64,
        error: Option<String>,
    },
    /// `refundStarPayment`.
    Refund { user: i64, charge_id: String },
}

/// Who a call must address, for the caller to find the access hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressee {
    /// A chat in the Bot API's numbering.
    Chat(i64),
    /// A user, for refunds.
    User(i64),
}

impl Addressee {
    /// grammers' peer id, when the number is a valid chat or user id.
    pub fn peer_id(self) -> Option<PeerId> {
        match self {
            Self::Chat(chat) => PeerId::from_bot_api_dialog_id(chat),
            Self::User(user) => PeerId::user(user),
        }
    }
}

/// The raw request for one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    SendMessage(tl::functions::messages::SendMessage),
    SendMedia(tl::functions::messages::SendMedia),
    SetBotCallbackAnswer(tl::functions::messages::SetBotCallbackAnswer),
    SetBotPrecheckoutResults(tl::functions::messages::SetBotPrecheckoutResults),
    RefundStarsCharge(tl::functions::payments::RefundStarsCharge),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendMessageParams {
    chat_id: i64,
    text: String,
    reply_markup: Option<ReplyMarkup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyMarkup {
    inline_keyboard: Vec<Vec<InlineButton>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineButton {
    text: String,
    callback_data: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendInvoiceParams {
    chat_id: i64,
    title: String,
    description: String,
    payload: String,
    currency: String,
    prices: Vec<Price>,
    provider_token: Option<String>,
    start_parameter: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Price {
    label: String,
    amount: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendDiceParams {
    chat_id: i64,
    emoji: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerCallbackParams {
    callback_query_id: String,
    text: Option<String>,
    show_alert: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerPreCheckoutParams {
    pre_checkout_query_id: String,
    ok: bool,
    error_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundParams {
    user_id: i64,
    telegram_payment_charge_id: String,
}

/// The Bot API's dice when `emoji` is left out.
const DICE_DEFAULT: &str = "🎲";

fn parse<T: serde::de::DeserializeOwned>(method: &str, params: &Value) -> Result<T, Unsupported> {
    serde_json::from_value(params.clone()).map_err(|error| Unsupported::Params {
        method: method.to_owned(),
        error: error.to_string(),
    })
}

fn query_id(method: &str, id: &str) -> Result<i64, Unsupported> {
    id.parse().map_err(|_| Unsupported::Params {
        method: method.to_owned(),
        error: format!("query id '{id}' is not a 64-bit integer"),
    })
}

impl Outgoing {
    /// Reads a Bot API call.
    pub fn parse(method: &str, params: &Value) -> Result<Self, Unsupported> {
        Ok(match method {
            "sendMessage" => {
                let p: SendMessageParams = parse(method, params)?;
                Self::Message {
                    chat: p.chat_id,
                    text: p.text,
                    buttons: p
                        .reply_markup
                        .map(|markup| {
                            markup
                                .inline_keyboard
                                .into_iter()
                                .map(|row| {
                                    row.into_iter().map(|b| (b.text, b.callback_data)).collect()
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            }
            "sendInvoice" => {
                let p: SendInvoiceParams = parse(method, params)?;
                Self::Invoice {
                    chat: p.chat_id,
                    title: p.title,
                    description: p.description,
                    payload: p.payload,
                    currency: p.currency,
                    prices: p.prices.into_iter().map(|p| (p.label, p.amount)).collect(),
                    provider_token: p.provider_token.filter(|t| !t.is_empty()),
                    start_parameter: p.start_parameter.filter(|s| !s.is_empty()),
                }
            }
            "sendDice" => {
                let p: SendDiceParams = parse(method, params)?;
                Self::Dice {
                    chat: p.chat_id,
                    emoji: p.emoji.unwrap_or_else(|| DICE_DEFAULT.to_owned()),
                }
            }
            "answerCallbackQuery" => {
                let p: AnswerCallbackParams = parse(method, params)?;
                Self::AnswerCallback {
                    query_id: query_id(method, &p.callback_query_id)?,
                    text: p.text,
                    show_alert: p.show_alert.unwrap_or(false),
                }
            }
            "answerPreCheckoutQuery" => {
                let p: AnswerPreCheckoutParams = parse(method, params)?;
                let error = if p.ok {
                    None
                } else {
                    // Telegram requires a reason with a refusal.
                    Some(
                        p.error_message
                            .unwrap_or_else(|| "The payment cannot go ahead.".to_owned()),
                    )
                };
                Self::AnswerPreCheckout {
                    query_id: query_id(method, &p.pre_checkout_query_id)?,
                    error,
                }
            }
            "refundStarPayment" => {
                let p: RefundParams = parse(method, params)?;
                Self::Refund {
                    user: p.user_id,
                    charge_id: p.telegram_payment_charge_id,
                }
            }
            other => return Err(Unsupported::Method(other.to_owned())),
        })
    }

    /// Who the call addresses, if anyone: its access hash must be known (or ambient).
    pub fn addressee(&self) -> Option<Addressee> {
        match self {
            Self::Message { chat, .. } | Self::Invoice { chat, .. } | Self::Dice { chat, .. } => {
                Some(Addressee::Chat(*chat))
            }
            Self::Refund { user, .. } => Some(Addressee::User(*user)),
            Self::AnswerCallback { .. } | Self::AnswerPreCheckout { .. } => None,
        }
    }

    /// The chat a send goes to, for the result's `chat.id`.
    pub fn chat(&self) -> Option<i64> {
        match self.addressee() {
            Some(Addressee::Chat(chat)) => Some(chat),
            _ => None,
        }
    }

    /// The raw request. `peer` is the addressee's reference (with its access hash);
    /// `random_id` makes a send idempotent.
    pub fn request(&self, peer: PeerRef, random_id: i64) -> Request {
        match self {
            Self::Message { text, buttons, .. } => {
                Request::SendMessage(tl::functions::messages::SendMessage {
                    no_webpage: true,
                    silent: false,
                    background: false,
                    clear_draft: false,
                    noforwards: false,
                    update_stickersets_order: false,
                    invert_media: false,
                    allow_paid_floodskip: false,
                    peer: peer.into(),
                    reply_to: None,
                    message: text.clone(),
                    random_id,
                    reply_markup: keyboard(buttons),
                    entities: None,
                    schedule_date: None,
                    schedule_repeat_period: None,
                    send_as: None,
                    quick_reply_shortcut: None,
                    effect: None,
                    allow_paid_stars: None,
                    suggested_post: None,
                    rich_message: None,
                })
            }
            Self::Invoice {
                title,
                description,
                payload,
                currency,
                prices,
                provider_token,
                start_parameter,
                ..
            } => send_media(
                peer,
                random_id,
                tl::types::InputMediaInvoice {
                    title: title.clone(),
                    description: description.clone(),
                    photo: None,
                    invoice: tl::types::Invoice {
                        test: false,
                        name_requested: false,
                        phone_requested: false,
                        email_requested: false,
                        shipping_address_requested: false,
                        flexible: false,
                        phone_to_provider: false,
                        email_to_provider: false,
                        recurring: false,
                        currency: currency.clone(),
                        prices: prices
                            .iter()
                            .map(|(label, amount)| {
                                tl::types::LabeledPrice {
                                    label: label.clone(),
                                    amount: *amount,
                                }
                                .into()
                            })
                            .collect(),
                        max_tip_amount: None,
                        suggested_tip_amounts: None,
                        terms_url: None,
                        subscription_period: None,
                    }
                    .into(),
                    payload: payload.as_bytes().to_vec(),
                    provider: provider_token.clone(),
                    provider_data: tl::types::DataJson {
                        data: "{}".to_owned(),
                    }
                    .into(),
                    start_param: start_parameter.clone(),
                    extended_media: None,
                }
                .into(),
            ),
            Self::Dice { emoji, .. } => send_media(
                peer,
                random_id,
                tl::types::InputMediaDice {
                    emoticon: emoji.clone(),
                }
                .into(),
            ),
            Self::AnswerCallback {
                query_id,
                text,
                show_alert,
            } => Request::SetBotCallbackAnswer(tl::functions::messages::SetBotCallbackAnswer {
                alert: *show_alert,
                query_id: *query_id,
                message: text.clone(),
                url: None,
                cache_time: 0,
            }),
            Self::AnswerPreCheckout { query_id, error } => Request::SetBotPrecheckoutResults(
                tl::functions::messages::SetBotPrecheckoutResults {
                    success: error.is_none(),
                    query_id: *query_id,
                    error: error.clone(),
                },
            ),
            Self::Refund { charge_id, .. } => {
                Request::RefundStarsCharge(tl::functions::payments::RefundStarsCharge {
                    user_id: peer.into(),
                    charge_id: charge_id.clone(),
                })
            }
        }
    }
}

fn send_media(peer: PeerRef, random_id: i64, media: tl::enums::InputMedia) -> Request {
    Request::SendMedia(tl::functions::messages::SendMedia {
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: peer.into(),
        reply_to: None,
        media,
        message: String::new(),
        random_id,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
    })
}

fn keyboard(buttons: &[Vec<(String, String)>]) -> Option<tl::enums::ReplyMarkup> {
    if buttons.is_empty() {
        return None;
    }
    let rows = buttons
        .iter()
        .map(|row| {
            tl::types::KeyboardInlineButtonRow {
                buttons: row
                    .iter()
                    .map(|(text, data)| {
                        tl::types::KeyboardInlineButton {
                            style: None,
                            text: text.clone(),
                            r#type: tl::types::InlineButtonTypeCallback {
                                requires_password: false,
                                data: data.as_bytes().to_vec(),
                            }
                            .into(),
                        }
                        .into()
                    })
                    .collect(),
            }
            .into()
        })
        .collect();
    Some(
        tl::types::ReplyInlineMarkup {
            force_reply: false,
            rows,
        }
        .into(),
    )
}

/// The `random_id` of an outbox call: from its dedupe key, which is stable across
/// retries and unique per call, so a send retried after an ambiguous failure is the same
/// send. (Never 0, which MTProto does not accept.)
pub fn random_id(dedupe_key: &str) -> i64 {
    match super::hash64(b"croupier mtproto random_id\0", dedupe_key) {
        0 => 1,
        id => id,
    }
}

/// The message a send produced, shaped like the Bot API's `Message` result (only the
/// fields the bot reads: `message_id`, `date`, `chat.id`, and `dice` for `sendDice`),
/// found in the `Updates` that `messages.sendMessage` / `messages.sendMedia` return.
pub fn sent_message(updates: &tl::enums::Updates, chat: i64) -> Option<Value> {
    let shaped = |id: i32, date: i32, media: Option<&tl::enums::MessageMedia>| {
        let mut message = json!({ "message_id": id, "date": date, "chat": { "id": chat } });
        if let Some(tl::enums::MessageMedia::Dice(dice)) = media {
            message["dice"] = json!({ "emoji": dice.emoticon, "value": dice.value });
        }
        message
    };
    let updates: &[tl::enums::Update] = match updates {
        tl::enums::Updates::UpdateShortSentMessage(sent) => {
            return Some(shaped(sent.id, sent.date, sent.media.as_ref()));
        }
        tl::enums::Updates::Updates(all) => &all.updates,
        tl::enums::Updates::Combined(all) => &all.updates,
        tl::enums::Updates::UpdateShort(short) => std::slice::from_ref(&short.update),
        _ => return None,
    };
    updates.iter().find_map(|update| {
        let message = match update {
            tl::enums::Update::NewMessage(new) => &new.message,
            tl::enums::Update::NewChannelMessage(new) => &new.message,
            _ => return None,
        };
        match message {
            tl::enums::Message::Message(m) => Some(shaped(m.id, m.date, m.media.as_ref())),
            _ => None,
        }
    })
}

/// Telegram's answer to a failed request, in the dispatcher's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// FLOOD_WAIT_X (and the like): wait this many seconds, as after a 429.
    Flood(u64),
    /// The call's effect is already there: a refund of a refunded charge, a send whose
    /// `random_id` Telegram has seen.
    AlreadyDone,
    /// Worth retrying with backoff (Telegram's internal errors).
    Transient,
    /// Retrying cannot help (400, 403...).
    Permanent,
}

/// Classifies an RPC error (`code` and `name` with the number taken out, as grammers
/// gives them) for a call.
pub fn failure(call: &Outgoing, code: i32, name: &str, value: Option<u32>) -> Failure {
    match name {
        "FLOOD_WAIT" | "FLOOD_PREMIUM_WAIT" | "SLOWMODE_WAIT" => {
            Failure::Flood(value.map_or(1, u64::from))
        }
        "CHARGE_ALREADY_REFUNDED" if matches!(call, Outgoing::Refund { .. }) => {
            Failure::AlreadyDone
        }
        "RANDOM_ID_DUPLICATE" => Failure::AlreadyDone,
        _ if code == 420 => Failure::Flood(value.map_or(1, u64::from)),
        // 5xx, and the negative codes Telegram uses for timeouts (-503).
        _ if !(0..500).contains(&code) => Failure::Transient,
        _ => Failure::Permanent,
    }
}
