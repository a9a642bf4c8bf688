//! Telegram updates as the Bot API posts them, written once for the simulation
//! ([`crate::Updates`]), `bench webhook` and the end-to-end tests: a text message, a button
//! press, a pre-checkout query, a successful or refunded payment. Every player writes to
//! the bot in their private chat, whose id is the player's own.

use serde_json::{json, Value};

/// The date every message carries; nothing reads it.
const DATE: u64 = 1_700_000_000;

/// `player` as a Telegram `User`.
pub fn user(player: u64) -> Value {
    json!({ "id": player, "is_bot": false, "first_name": "Player" })
}

/// `player`'s private chat with the bot.
pub fn chat(player: u64) -> Value {
    json!({ "id": player, "type": "private", "first_name": "Player" })
}

/// The bot, as the sender of its own messages.
pub fn bot() -> Value {
    json!({ "id": 1, "is_bot": true, "first_name": "Croupier" })
}

/// A message from `player` in their chat; `content` holds the message's own fields
/// (`text`, `successful_payment`, ...).
pub fn message(update_id: i64, message_id: i64, player: u64, content: Value) -> Value {
    let mut message = content;
    message["message_id"] = json!(message_id);
    message["date"] = json!(DATE);
    message["chat"] = chat(player);
    message["from"] = user(player);
    json!({ "update_id": update_id, "message": message })
}

/// A text message (a command, or a reply such as a stake) from `player`.
pub fn text(update_id: i64, message_id: i64, player: u64, text: &str) -> Value {
    message(update_id, message_id, player, json!({ "text": text }))
}

/// `player` presses a button carrying `data` under the bot's message `message_id`; the
/// query's id is `cb-UPDATE_ID`.
pub fn callback(update_id: i64, message_id: i64, player: u64, data: &str) -> Value {
    json!({ "update_id": update_id, "callback_query": {
        "id": format!("cb-{update_id}"), "from": user(player),
        "chat_instance": player.to_string(), "data": data,
        "message": {
            "message_id": message_id, "date": DATE, "chat": chat(player), "from": bot(),
            "text": "",
        },
    }})
}

/// `player` confirms paying an invoice of `total_amount` (in the currency's smallest
/// unit); the query's id is `pcq-UPDATE_ID`.
pub fn pre_checkout(
    update_id: i64,
    player: u64,
    currency: &str,
    total_amount: u64,
    payload: &str,
) -> Value {
    json!({ "update_id": update_id, "pre_checkout_query": {
        "id": format!("pcq-{update_id}"), "from": user(player), "currency": currency,
        "total_amount": total_amount, "invoice_payload": payload,
    }})
}

/// A payment, as `successful_payment` and `refunded_payment` describe it.
#[derive(Debug, Clone, Copy)]
pub struct Payment<'a> {
    pub currency: &'a str,
    /// In the currency's smallest unit (cents; Stars are whole).
    pub total_amount: u64,
    pub invoice_payload: &'a str,
    pub telegram_payment_charge_id: &'a str,
    /// The payment provider's id of the charge; empty for Stars.
    pub provider_payment_charge_id: &'a str,
    /// Set when the payment is a subscription's charge.
    pub subscription: Option<Subscription>,
}

/// What a subscription's charge says beyond a one-off payment.
#[derive(Debug, Clone, Copy)]
pub struct Subscription {
    /// The first charge, not a renewal.
    pub first: bool,
    /// When the period paid for ends, in Unix seconds.
    pub expires: u64,
}

impl<'a> Payment<'a> {
    /// A one-off payment of the invoice `invoice_payload`, charged as `charge`.
    pub fn new(
        currency: &'a str,
        total_amount: u64,
        invoice_payload: &'a str,
        charge: &'a str,
    ) -> Self {
        Self {
            currency,
            total_amount,
            invoice_payload,
            telegram_payment_charge_id: charge,
            provider_payment_charge_id: "",
            subscription: None,
        }
    }

    /// A one-off payment of `total_amount` Stars.
    pub fn stars(total_amount: u64, invoice_payload: &'a str, charge: &'a str) -> Self {
        Self::new("XTR", total_amount, invoice_payload, charge)
    }
}

/// `player` has paid: the service message Telegram sends once the money is taken.
pub fn successful_payment(
    update_id: i64,
    message_id: i64,
    player: u64,
    payment: &Payment,
) -> Value {
    let mut paid = json!({
        "currency": payment.currency, "total_amount": payment.total_amount,
        "invoice_payload": payment.invoice_payload,
        "telegram_payment_charge_id": payment.telegram_payment_charge_id,
        "provider_payment_charge_id": payment.provider_payment_charge_id,
    });
    if let Some(subscription) = payment.subscription {
        paid["is_recurring"] = json!(true);
        paid["is_first_recurring"] = json!(subscription.first);
        paid["subscription_expiration_date"] = json!(subscription.expires);
    }
    message(
        update_id,
        message_id,
        player,
        json!({ "successful_payment": paid }),
    )
}

/// `payment` was refunded to `player` (by the bot, or outside it): the service message
/// Telegram sends.
pub fn refunded_payment(update_id: i64, message_id: i64, player: u64, payment: &Payment) -> Value {
    let mut refunded = json!({
        "currency": payment.currency, "total_amount": payment.total_amount,
        "invoice_payload": payment.invoice_payload,
        "telegram_payment_charge_id": payment.telegram_payment_charge_id,
    });
    if !payment.provider_payment_charge_id.is_empty() {
        refunded["provider_payment_charge_id"] = json!(payment.provider_payment_charge_id);
    }
    message(
        update_id,
        message_id,
        player,
        json!({ "refunded_payment": refunded }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bot_adapter::update::From;
    use bot_adapter::{translate, Input};

    const PLAYER: u64 = 42;
    const FROM: From = From {
        user: PLAYER,
        chat: 42,
    };

    #[test]
    fn each_update_reads_as_the_input_it_stands_for() {
        let dollars = Payment {
            provider_payment_charge_id: "stripe-1",
            ..Payment::new("USD", 550, "inv", "tg-1")
        };
        let renewal = Payment {
            subscription: Some(Subscription {
                first: false,
                expires: 1_800_000_000,
            }),
            ..Payment::stars(250, "vip", "sub-2")
        };
        let cases = [
            (
                text(1, 2, PLAYER, "/start"),
                Input::Text {
                    from: FROM,
                    message_id: 2,
                    text: "/start".into(),
                },
            ),
            (
                callback(3, 2, PLAYER, "/play go"),
                Input::Callback {
                    from: FROM,
                    id: "cb-3".into(),
                    data: "/play go".into(),
                },
            ),
            (
                pre_checkout(4, PLAYER, "USD", 550, "inv"),
                Input::PreCheckout {
                    user: PLAYER,
                    id: "pcq-4".into(),
                    currency: "USD".into(),
                    total_amount: 550,
                    payload: "inv".into(),
                },
            ),
            (
                successful_payment(5, 5, PLAYER, &dollars),
                Input::PaymentSucceeded {
                    from: FROM,
                    currency: "USD".into(),
                    total_amount: 550,
                    payload: "inv".into(),
                    charge_id: "tg-1".into(),
                    provider_charge_id: "stripe-1".into(),
                    is_recurring: false,
                    is_first_recurring: false,
                    subscription_expires: None,
                },
            ),
            (
                successful_payment(6, 6, PLAYER, &renewal),
                Input::PaymentSucceeded {
                    from: FROM,
                    currency: "XTR".into(),
                    total_amount: 250,
                    payload: "vip".into(),
                    charge_id: "sub-2".into(),
                    provider_charge_id: String::new(),
                    is_recurring: true,
                    is_first_recurring: false,
                    subscription_expires: Some(1_800_000_000),
                },
            ),
            (
                refunded_payment(7, 7, PLAYER, &renewal),
                Input::PaymentRefunded {
                    from: FROM,
                    currency: "XTR".into(),
                    total_amount: 250,
                    payload: "vip".into(),
                    charge_id: "sub-2".into(),
                },
            ),
        ];
        for (update, expected) in cases {
            let read = translate(update.to_string().as_bytes());
            assert_eq!(read.update_id, update["update_id"].as_i64());
            assert_eq!(read.input, expected, "{update}");
        }
    }

    /// Issue 18, item 3: a payment whose update had anything frankenstein could not parse
    /// was ignored as an unknown update kind, and the money dropped.
    #[test]
    fn a_payment_that_fails_to_parse_is_acknowledged_and_dropped() {
        let stars = Payment::stars(40, "p", "c-1");
        let credited = |edit: &dyn Fn(&mut Value)| {
            let mut update = successful_payment(1, 1, PLAYER, &stars);
            edit(&mut update["message"]);
            translate(update.to_string().as_bytes()).input
        };
        let expected = Input::PaymentSucceeded {
            from: FROM,
            currency: "XTR".into(),
            total_amount: 40,
            payload: "p".into(),
            charge_id: "c-1".into(),
            provider_charge_id: String::new(),
            is_recurring: false,
            is_first_recurring: false,
            subscription_expires: None,
        };
        let odd: [&dyn Fn(&mut Value); 4] = [
            &|m| m["chat"]["type"] = json!("direct_messages_topic"),
            &|m| m["successful_payment"]["is_recurring"] = json!("no"),
            &|m| m["date"] = json!("yesterday"),
            &|m| m["from"]["is_bot"] = json!(null),
        ];
        for edit in odd {
            assert_eq!(credited(edit), expected);
        }
        let refund = refunded_payment(2, 2, PLAYER, &stars);
        let mut odd_refund = refund.clone();
        odd_refund["message"]["chat"]["type"] = json!("direct_messages_topic");
        assert_eq!(
            translate(odd_refund.to_string().as_bytes()).input,
            translate(refund.to_string().as_bytes()).input
        );
        // What money depends on cannot be guessed: such an update cannot be read.
        let unreadable: [&dyn Fn(&mut Value); 6] = [
            &|m| m["successful_payment"]["total_amount"] = json!(4_294_967_296_u64),
            &|m| m["successful_payment"]["total_amount"] = json!(100_000_001),
            &|m| m["successful_payment"]["total_amount"] = json!("40"),
            &|m| m["successful_payment"]["total_amount"] = json!(-40),
            &|m| m["successful_payment"]["subscription_expiration_date"] = json!("soon"),
            &|m| m["from"] = json!(null),
        ];
        for edit in unreadable {
            let input = credited(edit);
            assert!(matches!(input, Input::Unreadable { .. }), "{input:?}");
        }
    }
}
