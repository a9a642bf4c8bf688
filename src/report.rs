//! `croupier projections status` and `croupier report`: finance reads, from the
//! projections, brought up to the head of the log first unless told otherwise.

use std::process::ExitCode;

use projections::projector::{Projector, BATCH_SIZE};
use store::EventStore;

use crate::database::{with_store, Database};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Report {
    /// Cash and stakes in play per player and currency.
    Balances,
    /// What is owed to players, per currency (cash only, not stakes in play).
    Liabilities,
}

pub async fn status(database: &Database, url: &str) -> anyhow::Result<ExitCode> {
    let projector = Projector::connect(url).await?;
    let head = with_store!(database, s => s.head().await)?.map_or(0, |h| h.position);
    println!(
        "{:<12} {:>12} {:>12} {:>8}",
        "projection", "checkpoint", "head", "lag"
    );
    for checkpoint in projector.checkpoints().await? {
        println!(
            "{:<12} {:>12} {:>12} {:>8}",
            checkpoint.name,
            checkpoint.position,
            head,
            head.saturating_sub(checkpoint.position)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn report(
    database: &Database,
    url: &str,
    report: Report,
    format: Format,
    catch_up: bool,
) -> anyhow::Result<ExitCode> {
    let projector = Projector::connect(url).await?;
    let head = with_store!(database, s => s.head().await)?.map_or(0, |h| h.position);
    if catch_up {
        with_store!(database, s => projector.catch_up(s, BATCH_SIZE, |_| {}).await)?;
    } else {
        let behind = projector
            .checkpoints()
            .await?
            .iter()
            .map(|c| head.saturating_sub(c.position))
            .max()
            .unwrap_or(0);
        if behind > 0 {
            eprintln!("note: the projections are {behind} events behind the log (head {head})");
        }
    }
    let (columns, rows, json): (Vec<&str>, Vec<Vec<String>>, String) = match report {
        Report::Balances => {
            let rows = projector.balances().await?;
            let cells = rows
                .iter()
                .map(|r| {
                    vec![
                        r.player.to_string(),
                        r.currency.clone(),
                        r.balance.clone(),
                        r.in_play.clone(),
                    ]
                })
                .collect();
            (
                vec!["player", "currency", "balance", "in_play"],
                cells,
                serde_json::to_string(&rows)?,
            )
        }
        Report::Liabilities => {
            let rows = projector.liabilities().await?;
            let cells = rows
                .iter()
                .map(|r| vec![r.currency.clone(), r.total.clone(), r.players.to_string()])
                .collect();
            (
                vec!["currency", "total", "players"],
                cells,
                serde_json::to_string(&rows)?,
            )
        }
    };
    match format {
        Format::Json => println!("{json}"),
        Format::Csv => {
            println!("{}", columns.join(","));
            for row in rows {
                println!("{}", row.join(","));
            }
        }
        Format::Table => print_table(&columns, &rows),
    }
    Ok(ExitCode::SUCCESS)
}

/// Columns aligned for people: text to the left, amounts and counts to the right.
fn print_table(columns: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric = |i: usize| {
        rows.iter()
            .all(|r| r[i].parse::<rust_decimal::Decimal>().is_ok())
    };
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if numeric(i) {
                    format!("{cell:>width$}", width = widths[i])
                } else {
                    format!("{cell:<width$}", width = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(columns.to_vec()));
    for row in rows {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
}
