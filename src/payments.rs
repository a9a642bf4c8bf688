//! `croupier payments refund CHARGE_ID`: staff refund a Stars deposit. The refund is
//! recorded in the ledger first (refused, with the reason, when the player's balance does
//! not cover it); then `refundStarPayment` and a note to the player go through the outbox,
//! which a running `croupier serve` sends. When Telegram later reports the refund
//! (`refunded_payment`), the ledger already has it and nothing changes.

use std::process::ExitCode;

use anyhow::Context;
use bot_adapter::bot::show;
use bot_adapter::call;
use croupier::telegram::db::BotDb;
use ledger::command::{Command, Request};
use ledger::{ExternalRef, IdempotencyKey, Ledger, PaymentMethod};
use store::{player, EventStore, GroupCommit, GroupCommitConfig, OutcomeKind, Submission};

use crate::database::{with_store, Database};

pub async fn refund(database: &Database, url: &str, charge: &str) -> anyhow::Result<ExitCode> {
    let external_ref = ExternalRef::new(charge).map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = BotDb::connect(url, 2)
        .await
        .context("cannot open the bot's tables")?;
    let method = PaymentMethod::telegram_stars();
    let Some(stream) = db.deposit_stream(method.as_str(), charge).await? else {
        eprintln!("error: no Stars deposit with charge id '{charge}'");
        return Ok(ExitCode::from(2));
    };
    let player = player::player_of(&stream).context("the deposit's stream names no player")?;
    with_store!(database, store => refund_on(store.clone(), &db, player, external_ref).await)
}

async fn refund_on<S: EventStore>(
    store: S,
    db: &BotDb,
    player: ledger::PlayerId,
    external_ref: ExternalRef,
) -> anyhow::Result<ExitCode> {
    let charge = external_ref.as_str().to_owned();
    let state = player::load(&store, player).await?;
    let deposit = state
        .deposits
        .get(&external_ref)
        .context("the deposit is not in the player's stream")?
        .clone();
    let writer = GroupCommit::start(store, Ledger::default(), GroupCommitConfig::default());
    let request = Request {
        idempotency_key: IdempotencyKey::new(format!("staff:refund:{charge}"))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
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
            println!("refused ({code}): {message}");
            return Ok(ExitCode::from(3));
        }
        OutcomeKind::Conflict { field } => {
            println!("conflict: this charge was refunded before with a different {field}");
            return Ok(ExitCode::from(4));
        }
    }
    let user = u64::try_from(player.get()).context("player ids are positive")?;
    let amount = show(&deposit.amount.to_string(), deposit.currency.as_str());
    let balance = outcome
        .balances
        .get(deposit.currency.as_str())
        .map_or("0", String::as_str);
    let calls = [
        call::refund_stars(user, &charge),
        // In a private chat the chat id is the user id.
        call::message(
            player.get(),
            format!(
                "↩️ Your deposit of {amount} is being refunded to you. Your balance: {}.",
                show(balance, deposit.currency.as_str())
            ),
        ),
    ];
    db.finish_update(None, &format!("staffrefund:{charge}"), &calls)
        .await?;
    let again = if outcome.replayed {
        " (already recorded earlier)"
    } else {
        ""
    };
    println!("refund of {amount} to player {player} recorded{again}; refundStarPayment queued in the outbox");
    Ok(ExitCode::SUCCESS)
}
