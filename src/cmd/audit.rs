//! `croupier audit`: verify, head and export, for auditors.

use std::io::IsTerminal;
use std::process::ExitCode;

use projections::audit::PublishedHead;
use projections::export::Format;
use store::EventStore;

use store::{with_store, Database};

/// Exit status of a log that fails verification.
const EXIT_FINDING: u8 = 5;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

pub async fn verify(
    database: &Database,
    url: &str,
    on_replica: bool,
    json: bool,
    expect_head: Option<PublishedHead>,
) -> anyhow::Result<ExitCode> {
    let projector = projections::projector::Projector::connect(url).await?;
    // A replica cannot be written: its projections are compared as the primary keeps them.
    let projections = if on_replica {
        projections::audit::Projections::Compare(&projector)
    } else {
        projections::audit::Projections::CatchUpAndCompare(&projector)
    };
    // Progress on a terminal only: a script reading stderr wants the finding, not noise.
    let show_progress = std::io::stderr().is_terminal();
    let progress = |position: u64| {
        if show_progress {
            eprint!("\rverified {position} events");
        }
    };
    let result = with_store!(database, s => projections::audit::verify(s, expect_head, projections, progress).await)?;
    if show_progress {
        eprintln!();
    }
    match result {
        Ok(summary) => {
            if json {
                outln!("{}", serde_json::json!({"ok": true, "summary": summary}))?;
            } else {
                outln!(
                    "the log verifies: {} events in {} streams ({} players), head {}",
                    summary.events,
                    summary.streams,
                    summary.players,
                    summary.head.as_deref().unwrap_or("none (empty log)")
                )?;
                if summary.fair_verified + summary.fair_pending > 0 {
                    outln!(
                        "provably fair bets: {} recomputed from their revealed seeds and agreeing, {} pending (their seed is not revealed yet)",
                        summary.fair_verified, summary.fair_pending
                    )?;
                }
                if summary.projections_checked {
                    outln!("the balances, house and finance_daily projections equal a replay of the log")?;
                } else {
                    outln!("the projections were not compared: they are not at the head replayed (the log moved on, or the replica's projections lag); run it again")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(finding) => {
            if json {
                outln!("{}", serde_json::json!({"ok": false, "finding": finding}))?;
            } else {
                outln!("the log fails verification at {finding}")?;
            }
            Ok(ExitCode::from(EXIT_FINDING))
        }
    }
}

pub async fn head(database: &Database) -> anyhow::Result<ExitCode> {
    match with_store!(database, s => s.head().await)? {
        Some(head) => outln!("{}", head.display())?,
        None => outln!(
            "{}",
            PublishedHead {
                position: 0,
                hash: store::hash::GENESIS
            }
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an export range no position is in.
pub fn check_range(from: Option<u64>, to: Option<u64>) -> anyhow::Result<()> {
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(super::bad_input(format!(
            "--from {from} is after --to {to}: no position is in that range"
        ))),
        _ => Ok(()),
    }
}

pub async fn export(
    database: &Database,
    format: ExportFormat,
    from: Option<u64>,
    to: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let format = match format {
        ExportFormat::Jsonl => Format::JsonLines,
        ExportFormat::Csv => Format::Csv,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = with_store!(database, s => projections::export::export(s, format, from, to, &mut out).await)
        .map_err(|e| match e {
            // Only the export's own writes to stdout fail with `Write`.
            projections::export::ExportError::Write(e) => super::stdout_error(e),
            e => e.into(),
        })?;
    drop(out);
    eprintln!("exported {written} events");
    Ok(ExitCode::SUCCESS)
}
