//! MTProto updates (grammers' raw TL types) to the adapter's [`Input`], the same values
//! the Bot API's updates become in `bot_core::update::translate`, so both transports
//! are held to one behaviour (tests/mtproto.rs checks every recorded Bot API fixture
//! against its TL equivalent).
//!
//! Where the two differ: MTProto has no update id (an input is de-duplicated by
//! [`inbox_id`], from its origin), ids are signed 64-bit, payloads are bytes, and
//! payments come as service-message actions rather than message fields.

use bot_core::update::{From, Ignored, Input};
use grammers_tl_types as tl;

fn ignored(reason: Ignored) -> Input {
    Input::Ignored { reason }
}

/// The adapter's view of one raw update. `is_bot` says whether a user id is a bot, from
/// the users that came with the update. Never fails: what is not understood becomes
/// [`Input::Ignored`].
pub fn translate(update: &tl::enums::Update, is_bot: &dyn Fn(i64) -> bool) -> Input {
    use tl::enums::Update;
    match update {
        Update::NewMessage(update) => message(&update.message, is_bot),
        Update::NewChannelMessage(update) => message(&update.message, is_bot),
        Update::EditMessage(_) | Update::EditChannelMessage(_) => ignored(Ignored::Edited),
        Update::BotCallbackQuery(query) => callback(query, is_bot),
        // A button under an inline-mode message: there is no chat, so no player.
        Update::InlineBotCallbackQuery(_) => ignored(Ignored::NoPlayer),
        Update::BotPrecheckoutQuery(query) => pre_checkout(query),
        _ => ignored(Ignored::UnknownKind),
    }
}

/// The inbox id of an input from its [`Input::origin`]: the first 8 bytes of a SHA-256,
/// with the sign bit set, so it never meets a Bot API update id (0 to 2^31).
pub fn inbox_id(origin: &str) -> i64 {
    super::hash64(b"croupier mtproto inbox\0", origin) | i64::MIN
}

/// The chat an input belongs to: inputs of one chat are handled in order.
pub fn chat_of(input: &Input) -> Option<i64> {
    match input {
        Input::Text { from, .. }
        | Input::Callback { from, .. }
        | Input::PaymentSucceeded { from, .. }
        | Input::PaymentRefunded { from, .. }
        | Input::Dice { from, .. } => Some(from.chat),
        Input::PreCheckout { user, .. } => i64::try_from(*user).ok(),
        Input::Ignored { .. } | Input::Unreadable { .. } => None,
    }
}

/// A peer as the Bot API numbers chats: users as is, basic groups negated, channels and
/// supergroups as -100... .
pub fn bot_api_chat_id(peer: &tl::enums::Peer) -> i64 {
    match peer {
        tl::enums::Peer::User(user) => user.user_id,
        tl::enums::Peer::Chat(chat) => -chat.chat_id,
        tl::enums::Peer::Channel(channel) => -1_000_000_000_000 - channel.channel_id,
    }
}

/// Who sent a message: its `from_id` when that is a user; in a private chat an incoming
/// message may leave `from_id` out, and the sender is the chat. `None` when it was sent
/// on behalf of a chat or channel.
fn sender(from_id: Option<&tl::enums::Peer>, peer_id: &tl::enums::Peer) -> Option<i64> {
    match (from_id, peer_id) {
        (Some(tl::enums::Peer::User(user)), _) | (None, tl::enums::Peer::User(user)) => {
            Some(user.user_id)
        }
        _ => None,
    }
}

/// What every message needs: the sender and chat, or why there is no player.
fn origin(
    out: bool,
    post: bool,
    from_id: Option<&tl::enums::Peer>,
    peer_id: &tl::enums::Peer,
) -> Result<From, Ignored> {
    if post {
        return Err(Ignored::NoPlayer);
    }
    // The bot's own messages: the Bot API never delivers them.
    if out {
        return Err(Ignored::FromBot);
    }
    let user = sender(from_id, peer_id).ok_or(Ignored::NoPlayer)?;
    Ok(From {
        user: u64::try_from(user).map_err(|_| Ignored::Malformed)?,
        chat: bot_api_chat_id(peer_id),
    })
}

fn message(message: &tl::enums::Message, is_bot: &dyn Fn(i64) -> bool) -> Input {
    match message {
        tl::enums::Message::Empty(_) => ignored(Ignored::UnknownKind),
        tl::enums::Message::Message(message) => {
            let from = match origin(
                message.out,
                message.post,
                message.from_id.as_ref(),
                &message.peer_id,
            ) {
                Ok(from) => from,
                Err(reason) => return ignored(reason),
            };
            if let Err(reason) = player_in_private(from, &message.peer_id, is_bot) {
                return ignored(reason);
            }
            match &message.media {
                Some(tl::enums::MessageMedia::Dice(dice)) => match u8::try_from(dice.value) {
                    Ok(value) => Input::Dice {
                        from,
                        emoji: dice.emoticon.clone(),
                        value,
                    },
                    Err(_) => ignored(Ignored::Malformed),
                },
                // A link preview belongs to a text message; any other media has at most
                // a caption, which the Bot API does not call text either.
                None | Some(tl::enums::MessageMedia::WebPage(_)) if !message.message.is_empty() => {
                    Input::Text {
                        from,
                        message_id: i64::from(message.id),
                        text: message.message.clone(),
                    }
                }
                _ => ignored(Ignored::NoText),
            }
        }
        tl::enums::Message::Service(service) => {
            let from = match origin(
                service.out,
                service.post,
                service.from_id.as_ref(),
                &service.peer_id,
            ) {
                Ok(from) => from,
                Err(reason) => return ignored(reason),
            };
            // Payments are money and are recorded whatever else is odd about the message.
            match &service.action {
                tl::enums::MessageAction::PaymentSentMe(payment) => succeeded(from, payment),
                tl::enums::MessageAction::PaymentRefunded(refund) => refunded(from, refund),
                _ => match player_in_private(from, &service.peer_id, is_bot) {
                    Err(reason) => ignored(reason),
                    Ok(()) => ignored(Ignored::NoText),
                },
            }
        }
    }
}

/// A person (not a bot) in a private chat with the bot.
fn player_in_private(
    from: From,
    peer_id: &tl::enums::Peer,
    is_bot: &dyn Fn(i64) -> bool,
) -> Result<(), Ignored> {
    if i64::try_from(from.user).is_ok_and(is_bot) {
        return Err(Ignored::FromBot);
    }
    if !matches!(peer_id, tl::enums::Peer::User(_)) {
        return Err(Ignored::NotPrivate);
    }
    Ok(())
}

fn callback(query: &tl::types::UpdateBotCallbackQuery, is_bot: &dyn Fn(i64) -> bool) -> Input {
    if is_bot(query.user_id) {
        return ignored(Ignored::FromBot);
    }
    let tl::enums::Peer::User(chat) = &query.peer else {
        return ignored(Ignored::NotPrivate);
    };
    let Ok(user) = u64::try_from(query.user_id) else {
        return ignored(Ignored::Malformed);
    };
    Input::Callback {
        from: From {
            user,
            chat: chat.user_id,
        },
        // The Bot API's callback query id is this number as a string.
        id: query.query_id.to_string(),
        data: query
            .data
            .as_deref()
            .map(|data| String::from_utf8_lossy(data).into_owned())
            .unwrap_or_default(),
    }
}

fn pre_checkout(query: &tl::types::UpdateBotPrecheckoutQuery) -> Input {
    let (Ok(user), Ok(total_amount)) = (
        u64::try_from(query.user_id),
        u64::try_from(query.total_amount),
    ) else {
        return ignored(Ignored::Malformed);
    };
    Input::PreCheckout {
        user,
        id: query.query_id.to_string(),
        currency: query.currency.clone(),
        total_amount,
        payload: String::from_utf8_lossy(&query.payload).into_owned(),
    }
}

fn succeeded(from: From, payment: &tl::types::MessageActionPaymentSentMe) -> Input {
    let Ok(total_amount) = u64::try_from(payment.total_amount) else {
        return ignored(Ignored::Malformed);
    };
    let tl::enums::PaymentCharge::Charge(charge) = &payment.charge;
    Input::PaymentSucceeded {
        from,
        currency: payment.currency.clone(),
        total_amount,
        payload: String::from_utf8_lossy(&payment.payload).into_owned(),
        charge_id: charge.id.clone(),
        provider_charge_id: charge.provider_charge_id.clone(),
        // The Bot API's is_recurring covers the first payment of a subscription too.
        is_recurring: payment.recurring_init || payment.recurring_used,
        is_first_recurring: payment.recurring_init,
        subscription_expires: payment
            .subscription_until_date
            .and_then(|date| u64::try_from(date).ok()),
    }
}

fn refunded(from: From, refund: &tl::types::MessageActionPaymentRefunded) -> Input {
    let Ok(total_amount) = u64::try_from(refund.total_amount) else {
        return ignored(Ignored::Malformed);
    };
    let tl::enums::PaymentCharge::Charge(charge) = &refund.charge;
    Input::PaymentRefunded {
        from,
        currency: refund.currency.clone(),
        total_amount,
        payload: refund
            .payload
            .as_deref()
            .map(|payload| String::from_utf8_lossy(payload).into_owned())
            .unwrap_or_default(),
        charge_id: charge.id.clone(),
    }
}
