//! What staff do to a player's money from outside the chat. A staff refund of a Stars
//! charge is recorded in the ledger first (refused, with the reason, when the player's
//! balance does not cover it); then `refundStarPayment` and a note to the player go
//! through the outbox, which a running `serve` sends. When Telegram later reports the
//! refund (`refunded_payment`), the ledger already has it and nothing changes.

use ledger::command::{Command, Request};
use ledger::{ExternalRef, IdempotencyKey, Ledger, PaymentMethod, PlayerId};
use store::{
    player, EventStore, GroupCommit, GroupCommitConfig, OutcomeKind, StoreError, Submission,
};

use crate::bot::show;
use crate::call;
use crate::db::{BotDb, BotDbError};

/// How a staff refund ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffRefund {
    /// No Stars payment has this charge id.
    UnknownCharge,
    /// The ledger refused it (the player's balance does not cover it, ...).
    Refused {
        code: ledger::RejectionCode,
        message: String,
    },
    /// The same key was used before for a different refund.
    Conflict { field: String },
    /// Recorded (now, or earlier when `replayed`), the Telegram refund queued.
    Recorded {
        player: PlayerId,
        /// The amount, as the player reads it (`50 ⭐`).
        amount: String,
        replayed: bool,
    },
}

/// Why a staff refund could not be carried out; nothing was recorded unless the ledger
/// said so (a retry with the same charge is then safe).
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("'{charge}' is not a charge id: {problem}")]
    BadCharge { charge: String, problem: String },
    #[error("the deposit's stream '{stream}' names no player")]
    NoPlayer { stream: String },
    #[error("the charge is not in the player's stream")]
    NotInStream,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bot(#[from] BotDbError),
}

/// Refunds the Stars charge `charge` (a deposit or a VIP subscription charge) in full.
pub async fn refund<S: EventStore>(
    store: S,
    db: &BotDb,
    charge: &str,
) -> Result<StaffRefund, StaffError> {
    let external_ref = ExternalRef::new(charge).map_err(|e| StaffError::BadCharge {
        charge: charge.to_owned(),
        problem: e.to_string(),
    })?;
    let method = PaymentMethod::telegram_stars();
    let Some(stream) = db.deposit_stream(method.as_str(), charge).await? else {
        return Ok(StaffRefund::UnknownCharge);
    };
    let player = player::player_of(&stream).ok_or(StaffError::NoPlayer { stream })?;
    let state = player::load(&store, player).await?;
    // A VIP subscription charge is refunded the same way; it takes revenue back from the
    // house instead of cash from the player.
    let (paid, currency, what) = match (
        state.deposits.get(&external_ref),
        state.subscriptions.get(&external_ref),
    ) {
        (Some(deposit), _) => (deposit.amount, deposit.currency.clone(), "deposit"),
        (None, Some(charge)) => (charge.amount, charge.currency.clone(), "VIP payment"),
        (None, None) => return Err(StaffError::NotInStream),
    };
    let writer = GroupCommit::start(store, Ledger::default(), GroupCommitConfig::default());
    let request = Request {
        idempotency_key: IdempotencyKey::new(format!("staff:refund:{charge}")).map_err(|e| {
            StaffError::BadCharge {
                charge: charge.to_owned(),
                problem: e.to_string(),
            }
        })?,
        command: Command::RefundDeposit {
            player,
            external_ref,
            forced: false,
        },
    };
    let mut submission = Submission::new(request);
    submission.actor = Some("staff".to_owned());
    submission.causation = Some("croupier payments refund".to_owned());
    let outcome = writer.submit(submission).await?;
    match outcome.kind {
        OutcomeKind::Accepted => {}
        OutcomeKind::Rejected { code, message } => {
            return Ok(StaffRefund::Refused { code, message })
        }
        OutcomeKind::Conflict { field } => return Ok(StaffRefund::Conflict { field }),
    }
    let user = u64::try_from(player.get()).expect("player ids are positive");
    let amount = show(&paid.to_string(), currency.as_str());
    let balance = outcome
        .balances
        .get(currency.as_str())
        .map_or("0", String::as_str);
    let calls = [
        call::refund_stars(user, charge),
        // In a private chat the chat id is the user id.
        call::message(
            player.get(),
            format!(
                "↩️ Your {what} of {amount} is being refunded to you. Your balance: {}.",
                show(balance, currency.as_str())
            ),
        ),
    ];
    db.finish_update(None, &format!("staffrefund:{charge}"), &calls)
        .await?;
    Ok(StaffRefund::Recorded {
        player,
        amount,
        replayed: outcome.replayed,
    })
}
