//! `croupier payments refund CHARGE_ID`: staff refund a Stars deposit. The refund is
//! recorded in the ledger first as pending, the money held (refused, with the reason, when
//! the player's balance does not cover it); then `refundStarPayment` and a note to the
//! player go through the outbox, which a running `croupier serve` sends, and Telegram's
//! answer confirms or reverses the refund (see `bot_adapter::staff`).
//!
//! `croupier payments reconcile`: Telegram's Stars transactions against the ledger's
//! Stars charges: deposits (the `deposits` read model, brought up to the head of the log)
//! and VIP subscription charges (read from the log). Staff refunds the ledger still holds
//! pending are settled first: confirmed when Telegram lists the refund, reversed when
//! their `refundStarPayment` is a dead letter.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use bot_adapter::db::BotDb;
use bot_adapter::dispatcher;
use bot_adapter::reconcile::{self, Reconciliation};
use bot_adapter::settings::check_token;
use bot_adapter::staff::{self, StaffRefund};
use projections::projector::{Projector, BATCH_SIZE};
use projections::table::{self, Table};
use store::{with_store, Database};

/// Exit status when Telegram and the ledger disagree (as `audit verify` on a finding).
const EXIT_DISCREPANCIES: u8 = 5;

pub async fn refund(database: &Database, url: &str, charge: &str) -> anyhow::Result<ExitCode> {
    let db = BotDb::connect(url, 2)
        .await
        .context("cannot open the bot's tables")?;
    let refund = with_store!(database, store => staff::refund(store.clone(), &db, charge).await)?;
    Ok(match refund {
        StaffRefund::UnknownCharge => {
            eprintln!("error: no Stars payment with charge id '{charge}'");
            ExitCode::from(2)
        }
        StaffRefund::Refused { code, message } => {
            outln!("refused ({code}): {message}")?;
            ExitCode::from(3)
        }
        StaffRefund::Conflict { field } => {
            outln!("conflict: this charge was refunded before with a different {field}")?;
            ExitCode::from(4)
        }
        StaffRefund::Recorded {
            player,
            amount,
            replayed,
        } => {
            let again = if replayed {
                " (already recorded earlier)"
            } else {
                ""
            };
            outln!("refund of {amount} to player {player} recorded{again}; refundStarPayment queued in the outbox (a deposit's refund is held until Telegram answers)")?;
            ExitCode::SUCCESS
        }
    })
}

/// How `payments reconcile` reports.
pub struct ReportAs {
    pub json: bool,
    /// Only discrepancies dated this UTC day (`YYYY-MM-DD`) or later.
    pub since: Option<String>,
}

pub async fn reconcile(
    database: &Database,
    url: &str,
    token: &str,
    api_url: &str,
    report: ReportAs,
) -> anyhow::Result<ExitCode> {
    check_token(token)?;
    // Telegram first: a payment the bot credits meanwhile is then in the ledger too.
    let api = dispatcher::api(api_url, token, Duration::from_secs(30));
    let terminal = std::io::stderr().is_terminal();
    let mut shown = Instant::now();
    let mut pages = 0;
    let transactions = reconcile::fetch(&api, |page, transactions| {
        pages = page;
        if terminal {
            eprint!("\rfetched {page} pages of Stars transactions ({transactions} transactions)");
        } else if shown.elapsed() >= Duration::from_secs(1) {
            eprintln!("fetched {page} pages of Stars transactions ({transactions} transactions)");
            shown = Instant::now();
        }
    })
    .await
    .context(
        "cannot list the bot's Stars transactions (check TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL)",
    )?;
    if terminal {
        eprintln!();
    }

    let projector = Projector::connect(url).await?;
    with_store!(database, s => projector.catch_up(s, BATCH_SIZE, |_| {}).await)?;
    let mut ledger = reconcile::ledger_charges(&projector).await?;

    // Staff refunds still held: settled by what Telegram lists, or by their dead letter.
    let db = BotDb::connect(url, 2)
        .await
        .context("cannot open the bot's tables")?;
    let dead = reconcile::dead_refunds(&db.dead_refund_calls().await?);
    let pending = reconcile::pending_refunds(&transactions, &ledger, &dead);
    let (confirmed, reversed) =
        with_store!(database, s => staff::settle_pending(s.clone(), &db, &pending).await)?;
    if confirmed + reversed > 0 {
        eprintln!("settled staff refunds left pending: {confirmed} confirmed, {reversed} reversed");
        with_store!(database, s => projector.catch_up(s, BATCH_SIZE, |_| {}).await)?;
        ledger = reconcile::ledger_charges(&projector).await?;
    }
    let still = ledger.iter().filter(|d| d.refund_pending).count();
    if still > 0 {
        eprintln!("{still} staff refunds are still waiting for Telegram's answer");
    }

    let result = reconcile::reconcile(&transactions, &ledger, report.since.as_deref());
    if report.json {
        outln!(
            "{}",
            serde_json::json!({
                "ok": result.discrepancies.is_empty(),
                "pages": pages,
                "since": report.since,
                "telegram": result.telegram,
                "ledger_deposits": result.ledger_deposits,
                "agreed": result.agreed,
                "discrepancies": result.discrepancies,
            })
        )?;
    } else {
        print_reconciliation(&result, pages)?;
    }
    Ok(if result.discrepancies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DISCREPANCIES)
    })
}

fn print_reconciliation(result: &Reconciliation, pages: u32) -> anyhow::Result<()> {
    let t = &result.telegram;
    outln!(
        "Telegram: {} transactions in {pages} pages ({} payments, {} refunds, {} other); ledger: {} Stars charges (deposits and VIP); {} payments agree",
        t.transactions, t.payments, t.refunds, t.other, result.ledger_deposits, result.agreed
    )?;
    if result.discrepancies.is_empty() {
        outln!("Telegram and the ledger agree")?;
        return Ok(());
    }
    outln!("{} discrepancies:", result.discrepancies.len())?;
    let rows: Vec<Vec<String>> = result
        .discrepancies
        .iter()
        .map(|d| {
            let (telegram, ledger) = d.sides();
            vec![
                d.kind().to_owned(),
                d.charge_id().to_owned(),
                telegram,
                ledger,
            ]
        })
        .collect();
    let table = Table::new(&["kind", "charge_id", "telegram", "ledger"], rows);
    out!("{}", table.render(table::Format::Table))?;
    Ok(())
}
