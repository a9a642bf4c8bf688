//! Updates from the test player in their private chat, as Telegram posts them.

use serde_json::{json, Value};

/// The player every update comes from, in their private chat.
pub const PLAYER: u64 = 424_242;

/// The player as a Telegram `User`.
pub fn user() -> Value {
    json!({ "id": PLAYER, "is_bot": false, "first_name": "Pat" })
}

/// The player's private chat.
pub fn chat() -> Value {
    json!({ "id": PLAYER, "type": "private", "first_name": "Pat" })
}

/// A text message.
pub fn text(update_id: i64, message_id: i64, text: &str) -> Value {
    json!({ "update_id": update_id, "message": {
        "message_id": message_id, "date": 1_700_000_000, "chat": chat(), "from": user(), "text": text,
    }})
}

/// A pre-checkout query for `amount` Stars; its id is `pcq-UPDATE_ID`.
pub fn pre_checkout(update_id: i64, amount: u64, payload: &str) -> Value {
    json!({ "update_id": update_id, "pre_checkout_query": {
        "id": format!("pcq-{update_id}"), "from": user(), "currency": "XTR",
        "total_amount": amount, "invoice_payload": payload,
    }})
}

/// A successful payment of `amount` Stars with charge id `charge`.
pub fn paid(update_id: i64, message_id: i64, amount: u64, payload: &str, charge: &str) -> Value {
    json!({ "update_id": update_id, "message": {
        "message_id": message_id, "date": 1_700_000_000, "chat": chat(), "from": user(),
        "successful_payment": {
            "currency": "XTR", "total_amount": amount, "invoice_payload": payload,
            "telegram_payment_charge_id": charge, "provider_payment_charge_id": "",
        },
    }})
}

/// The refund of the Stars payment `charge`, made outside the bot.
pub fn refunded(
    update_id: i64,
    message_id: i64,
    amount: u64,
    payload: &str,
    charge: &str,
) -> Value {
    json!({ "update_id": update_id, "message": {
        "message_id": message_id, "date": 1_700_000_000, "chat": chat(), "from": user(),
        "refunded_payment": {
            "currency": "XTR", "total_amount": amount, "invoice_payload": payload,
            "telegram_payment_charge_id": charge,
        },
    }})
}
