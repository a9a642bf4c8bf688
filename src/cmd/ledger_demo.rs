//! `croupier demo`: a short scripted ledger session on the configured database (SQLite by
//! default), narrated step by step, ending with the balances and a check of the hash
//! chain. Each run uses fresh keys, so it can be run again and again.

use std::process::ExitCode;

use anyhow::Context;
use ledger::wire::parse_command;
use ledger::Ledger;
use projections::audit::{verify, Projections};
use store::{EventStore, GroupCommit, GroupCommitConfig, Outcome, OutcomeKind, Submission};

use store::{with_store, Database};

const ALICE: i64 = 1001;
const BOB: i64 = 1002;

pub async fn run(database: &Database) -> anyhow::Result<ExitCode> {
    with_store!(database, store => run_on(store, database.describe()).await)
}

async fn run_on<S: EventStore>(store: &S, backend: &str) -> anyhow::Result<ExitCode> {
    let ledger = GroupCommit::start(
        store.clone(),
        Ledger::default(),
        GroupCommitConfig::default(),
    );
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let deposit = |key: &str, player: i64, amount: &str, charge: &str| {
        format!(
            r#"{{"type":"deposit","idempotency_key":"{run}-{key}","player":{player},"amount":"{amount}","currency":"XTR","method":"telegram_stars","external_ref":"{run}-{charge}"}}"#
        )
    };
    let bet = |key: &str, player: i64, bet: &str, stake: &str| {
        format!(
            r#"{{"type":"place_bet","idempotency_key":"{run}-{key}","player":{player},"bet_id":"{run}-{bet}","game":"coinflip","stake":"{stake}","currency":"XTR"}}"#
        )
    };
    let steps: Vec<(&str, String)> = vec![
        (
            "Alice pays 100 Stars",
            deposit("a-dep", ALICE, "100", "charge-a"),
        ),
        (
            "Telegram delivers that payment again",
            deposit("a-dep", ALICE, "100", "charge-a"),
        ),
        (
            "Alice bets 10 on a coin flip",
            bet("a-bet", ALICE, "flip-1", "10"),
        ),
        (
            "Alice wins: payout 20",
            format!(
                r#"{{"type":"settle_bet","idempotency_key":"{run}-a-win","player":{ALICE},"bet_id":"{run}-flip-1","payout":"20"}}"#
            ),
        ),
        (
            "the game tries to settle that bet again",
            format!(
                r#"{{"type":"settle_bet","idempotency_key":"{run}-a-win-2","player":{ALICE},"bet_id":"{run}-flip-1","payout":"20"}}"#
            ),
        ),
        ("Bob pays 50 Stars", deposit("b-dep", BOB, "50", "charge-b")),
        (
            "Bob bets 80 (more than he has)",
            bet("b-bet-1", BOB, "dice-1", "80"),
        ),
        (
            "Bob bets 30 on a dice roll",
            bet("b-bet-2", BOB, "dice-2", "30"),
        ),
        (
            "the dice value is lost: the bet is voided",
            format!(
                r#"{{"type":"void_bet","idempotency_key":"{run}-b-void","player":{BOB},"bet_id":"{run}-dice-2","reason":"dice value unknown after a restart"}}"#
            ),
        ),
        (
            "Bob asks for a refund of his payment",
            format!(
                r#"{{"type":"refund_deposit","idempotency_key":"{run}-b-refund","player":{BOB},"external_ref":"{run}-charge-b"}}"#
            ),
        ),
        (
            "a client reuses Alice's key for 90 Stars",
            deposit("a-dep", ALICE, "90", "charge-a"),
        ),
    ];

    outln!("Croupier demo: a scripted ledger session on {backend}\n")?;
    outln!("  {:<44} {:<40} player's cash", "step", "outcome")?;
    for (what, line) in steps {
        let request = parse_command(&line).context("the demo script is malformed")?;
        let outcome = ledger.submit(Submission::new(request)).await?;
        outln!("  {what:<44} {:<40} {}", describe(&outcome), cash(&outcome))?;
    }

    let summary = verify(store, None, Projections::Skip, |_| {})
        .await?
        .map_err(|finding| anyhow::anyhow!("the log does not verify: {finding}"))?;
    outln!(
        "\nThe log holds {} events; its hash chain verifies from genesis.",
        summary.events
    )?;
    if let Some(head) = summary.head {
        outln!("Head (position:hash): {head}")?;
    }
    outln!(
        "Try it yourself: cargo run --release -- ledger submit --json '{{\"type\":\"deposit\",...}}' (see README.md)"
    )?;
    Ok(ExitCode::SUCCESS)
}

fn describe(outcome: &Outcome) -> String {
    match &outcome.kind {
        OutcomeKind::Accepted if outcome.replayed => "replayed (nothing new appended)".to_owned(),
        OutcomeKind::Accepted => {
            let types: Vec<_> = outcome
                .events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect();
            format!("accepted: {}", types.join(", "))
        }
        OutcomeKind::Rejected { code, .. } => format!("rejected: {code}"),
        OutcomeKind::Conflict { field } => format!("conflict: {field} differs"),
    }
}

fn cash(outcome: &Outcome) -> String {
    outcome
        .balances
        .iter()
        .map(|(currency, amount)| format!("{amount} {currency}"))
        .collect::<Vec<_>>()
        .join(", ")
}
