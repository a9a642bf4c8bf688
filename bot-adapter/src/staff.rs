//! What staff do to a player's money from outside the chat.
//!
//! A staff refund of a Stars deposit has two phases. `refund` records it in the ledger as
//! requested (`refund_requested`: the money leaves the player's cash for
//! `house:refunds_pending`; refused, with the reason, when the balance does not cover it),
//! then queues `refundStarPayment` and a note to the player in the outbox. When Telegram
//! answers, the dispatcher calls `settle`: a refund made (or `CHARGE_ALREADY_REFUNDED`)
//! is confirmed (`refund_confirmed`: the money goes out to Telegram), one refused for good
//! is reversed (`refund_reversed`: the money goes back to the player, who is told), and
//! the deposit can then be refunded again. A `refunded_payment` Telegram reports for a
//! pending refund confirms it; `payments reconcile` settles any refund left pending.
//! A VIP subscription charge is still refunded in one step (`subscription_refunded`).

use ledger::command::{Command, Request};
use ledger::{ExternalRef, IdempotencyKey, Ledger, PaymentMethod, PlayerId};
use store::{
    player, EventStore, GroupCommit, GroupCommitConfig, OutcomeKind, StoreError, Submission,
};

use crate::bot::show;
use crate::call;
use crate::db::{BotDb, BotDbError};
use crate::dispatcher::RefundAnswer;
use crate::reconcile::PendingRefund;

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
    let external_ref = ExternalRef::new(charge).map_err(bad_charge(charge))?;
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
    // A deposit's refund is requested, and held until Telegram answers; the attempt
    // number (how many requests Telegram refused) keys it, so that a refund Telegram
    // refused can be asked again, and the same request asked twice is a replay.
    let (request, origin) = match state.deposits.get(&external_ref) {
        Some(deposit) => {
            let attempt = deposit.refunds_reversed;
            (
                Request {
                    idempotency_key: IdempotencyKey::new(request_key(charge, attempt))
                        .map_err(bad_charge(charge))?,
                    command: Command::RequestRefund {
                        player,
                        external_ref,
                    },
                },
                format!("staffrefund:{charge}:{attempt}"),
            )
        }
        None => (
            Request {
                idempotency_key: IdempotencyKey::new(format!("staff:refund:{charge}"))
                    .map_err(bad_charge(charge))?,
                command: Command::RefundDeposit {
                    player,
                    external_ref,
                    forced: false,
                },
            },
            format!("staffrefund:{charge}"),
        ),
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
    db.finish_update(None, &origin, &calls).await?;
    Ok(StaffRefund::Recorded {
        player,
        amount,
        replayed: outcome.replayed,
    })
}

/// Refuses `charge`, which makes no valid reference or key.
fn bad_charge(charge: &str) -> impl Fn(ledger::id::IdError) -> StaffError + '_ {
    move |e| StaffError::BadCharge {
        charge: charge.to_owned(),
        problem: e.to_string(),
    }
}

/// The idempotency key of the `attempt`th request to refund `charge`.
fn request_key(charge: &str, attempt: u32) -> String {
    format!("staff:refund:{charge}:{attempt}")
}

/// What recording Telegram's answer to a staff refund came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The pending refund is confirmed: the money went to Telegram.
    Confirmed { player: PlayerId },
    /// The pending refund is reversed: the money is the player's again.
    Reversed { player: PlayerId },
    /// No refund of this charge is pending (settled before, by another instance or by
    /// Telegram's `refunded_payment`; or a VIP charge, refunded in one step).
    NotPending,
}

/// Records Telegram's `answer` to the staff refund of `charge` paid by `player`: confirms
/// or reverses the refund pending for it (only if it is request number `attempt`, when
/// given: an answer to an older request must not settle a newer one). Keyed by the charge
/// and the attempt, so a retry, or a second instance, replays instead of settling twice.
/// A reversal tells the player.
pub async fn settle<S: EventStore>(
    store: &S,
    writer: &GroupCommit,
    db: &BotDb,
    (player, charge): (PlayerId, &str),
    attempt: Option<u32>,
    answer: RefundAnswer,
) -> Result<Settled, StaffError> {
    let external_ref = ExternalRef::new(charge).map_err(bad_charge(charge))?;
    let state = player::load(store, player).await?;
    let Some(deposit) = state
        .deposits
        .get(&external_ref)
        .filter(|d| d.refund_pending)
    else {
        return Ok(Settled::NotPending);
    };
    if attempt.is_some_and(|a| a != deposit.refunds_reversed) {
        return Ok(Settled::NotPending);
    }
    let attempt = deposit.refunds_reversed;
    let (paid, currency) = (deposit.amount, deposit.currency.clone());
    let (suffix, command) = match &answer {
        RefundAnswer::Made => (
            "confirmed",
            Command::ConfirmRefund {
                player,
                external_ref,
            },
        ),
        RefundAnswer::Refused(reason) => (
            "reversed",
            Command::ReverseRefund {
                player,
                external_ref,
                reason: reason.clone(),
            },
        ),
    };
    let key = format!("{}:{suffix}", request_key(charge, attempt));
    let mut submission = Submission::new(Request {
        idempotency_key: IdempotencyKey::new(key).map_err(bad_charge(charge))?,
        command,
    });
    submission.actor = Some("telegram".to_owned());
    submission.causation = Some(format!("refundStarPayment {charge}"));
    let outcome = writer.submit(submission).await?;
    if !matches!(outcome.kind, OutcomeKind::Accepted) {
        // Settled meanwhile (Telegram's `refunded_payment`, another instance): the
        // ledger says no refund is pending any more.
        return Ok(Settled::NotPending);
    }
    if matches!(answer, RefundAnswer::Made) {
        return Ok(Settled::Confirmed { player });
    }
    let balance = outcome
        .balances
        .get(currency.as_str())
        .map_or("0", String::as_str);
    let note = call::message(
        player.get(),
        format!(
            "⚠️ The refund of your deposit of {} could not be made; the money is back in your balance: {}.",
            show(&paid.to_string(), currency.as_str()),
            show(balance, currency.as_str())
        ),
    );
    db.finish_update(
        None,
        &format!("staffrefund:{charge}:{attempt}:reversed"),
        &[note],
    )
    .await?;
    Ok(Settled::Reversed { player })
}

/// Settles the staff refunds `payments reconcile` found answered (see
/// `reconcile::pending_refunds`); returns how many it confirmed and reversed.
pub async fn settle_pending<S: EventStore>(
    store: S,
    db: &BotDb,
    pending: &[PendingRefund],
) -> Result<(usize, usize), StaffError> {
    let (mut confirmed, mut reversed) = (0, 0);
    if pending.is_empty() {
        return Ok((0, 0));
    }
    let writer = GroupCommit::start(
        store.clone(),
        Ledger::default(),
        GroupCommitConfig::default(),
    );
    for refund in pending {
        let player = PlayerId::new(refund.player).map_err(|_| StaffError::NoPlayer {
            stream: refund.player.to_string(),
        })?;
        let answer = refund.answer.clone();
        match settle(
            &store,
            &writer,
            db,
            (player, &refund.charge_id),
            refund.attempt,
            answer,
        )
        .await?
        {
            Settled::Confirmed { .. } => confirmed += 1,
            Settled::Reversed { .. } => reversed += 1,
            Settled::NotPending => {}
        }
    }
    Ok((confirmed, reversed))
}

/// The player and charge of a `refundStarPayment` call's parameters.
pub fn refund_params(params: &str) -> Option<(PlayerId, String)> {
    let params: serde_json::Value = serde_json::from_str(params).ok()?;
    let user = params.get("user_id")?.as_i64()?;
    let charge = params.get("telegram_payment_charge_id")?.as_str()?;
    Some((PlayerId::new(user).ok()?, charge.to_owned()))
}

/// The charge and attempt of a staff refund's outbox call, from its dedupe key
/// (`staffrefund:CHARGE:ATTEMPT:INDEX`).
pub fn refund_attempt(dedupe_key: &str) -> Option<(&str, u32)> {
    let rest = dedupe_key.strip_prefix("staffrefund:")?;
    let (rest, _index) = rest.rsplit_once(':')?;
    let (charge, attempt) = rest.rsplit_once(':')?;
    Some((charge, attempt.parse().ok()?))
}
