//! The test player's updates, as Telegram posts them: [`simulation::updates`] with the
//! player and, for payments, Stars filled in.

use serde_json::Value;
use simulation::updates::{self, Payment};

/// The player every update comes from, in their private chat.
pub const PLAYER: u64 = 424_242;

/// A text message.
pub fn text(update_id: i64, message_id: i64, text: &str) -> Value {
    updates::text(update_id, message_id, PLAYER, text)
}

/// A pre-checkout query for `amount` Stars; its id is `pcq-UPDATE_ID`.
pub fn pre_checkout(update_id: i64, amount: u64, payload: &str) -> Value {
    updates::pre_checkout(update_id, PLAYER, "XTR", amount, payload)
}

/// A successful payment of `amount` Stars with charge id `charge`.
pub fn paid(update_id: i64, message_id: i64, amount: u64, payload: &str, charge: &str) -> Value {
    let payment = Payment::stars(amount, payload, charge);
    updates::successful_payment(update_id, message_id, PLAYER, &payment)
}

/// The refund of the Stars payment `charge`, made outside the bot.
pub fn refunded(
    update_id: i64,
    message_id: i64,
    amount: u64,
    payload: &str,
    charge: &str,
) -> Value {
    let payment = Payment::stars(amount, payload, charge);
    updates::refunded_payment(update_id, message_id, PLAYER, &payment)
}
