//! `croupier projections status` and `croupier report`: finance reads, from the
//! projections, brought up to the head of the log first unless told otherwise.

use std::process::ExitCode;

use projections::export::csv_field;
use projections::projector::{Projector, BATCH_SIZE};
use store::EventStore;

use store::{with_store, Database};

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
    /// Per UTC day and currency: deposits, refunds, stakes and payouts of the bets settled
    /// that day, GGR, settled bets, active players.
    Daily,
    /// One player (give the id): balances, then bets with --format table.
    Player,
    /// Every deposit, credited or refunded.
    Deposits,
    /// Every round.
    Bets,
    /// Conversation sessions with the bot, and their play counts (bets, wagered, won).
    Sessions,
}

/// What `croupier report` was asked for.
pub struct Request {
    pub report: Report,
    pub player: Option<i64>,
    pub days: projections::report::Days,
    pub format: Format,
    pub catch_up: bool,
    /// Answer as of this point, by replaying the log (balances, liabilities, player).
    pub at: Option<projections::report::At>,
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

/// Catches the projections up, showing progress: a line redrawn on a terminal, plain
/// lines (at most one a second) otherwise.
pub async fn catch_up(database: &Database, url: &str, batch_size: u32) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let projector = Projector::connect(url).await?;
    let head = with_store!(database, s => s.head().await)?.map_or(0, |h| h.position);
    let terminal = std::io::stderr().is_terminal();
    let mut shown = std::time::Instant::now();
    let progress = |position: u64| {
        if terminal {
            eprint!("\rprojected {position} of {head} events");
        } else if shown.elapsed() >= std::time::Duration::from_secs(1) {
            eprintln!("projected {position} of {head} events");
            shown = std::time::Instant::now();
        }
    };
    let reached = with_store!(database, s => projector.catch_up(s, batch_size, progress).await)?;
    if terminal {
        eprintln!();
    }
    println!("projections at position {reached}");
    Ok(ExitCode::SUCCESS)
}

/// Rebuilds projections, with a progress bar on a terminal, plain lines otherwise.
pub async fn rebuild(
    database: &Database,
    url: &str,
    names: &[String],
    batch_size: u32,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let projector = Projector::connect(url).await?;
    let terminal = std::io::stderr().is_terminal();
    let mut shown = std::time::Instant::now();
    let progress = |position: u64, target: u64| {
        if terminal {
            const WIDTH: u64 = 40;
            let done = (position * WIDTH)
                .checked_div(target)
                .unwrap_or(WIDTH)
                .min(WIDTH);
            let bar: String = (0..WIDTH)
                .map(|i| if i < done { '#' } else { '.' })
                .collect();
            eprint!("\rrebuilding [{bar}] {position}/{target}");
        } else if shown.elapsed() >= std::time::Duration::from_secs(1) || position == target {
            eprintln!("rebuilding: {position} of {target} events");
            shown = std::time::Instant::now();
        }
    };
    let reached =
        with_store!(database, s => projector.rebuild(s, names, batch_size, progress).await)?;
    if terminal {
        eprintln!();
    }
    let rebuilt = if names.is_empty() {
        "all projections".to_owned()
    } else {
        names.join(", ")
    };
    println!("rebuilt {rebuilt} and swapped them in at position {reached}");
    Ok(ExitCode::SUCCESS)
}

pub async fn report(database: &Database, url: &str, request: Request) -> anyhow::Result<ExitCode> {
    if let Some(at) = request.at {
        return report_at(database, &request, at).await;
    }
    let projector = Projector::connect(url).await?;
    if request.catch_up {
        with_store!(database, s => projector.catch_up(s, BATCH_SIZE, |_| {}).await)?;
    } else {
        let head = with_store!(database, s => s.head().await)?.map_or(0, |h| h.position);
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
    let days = &request.days;
    let (table, columns) = match request.report {
        Report::Balances => (
            Table::of(projector.balances().await?, balance_cells),
            COLUMNS_BALANCES,
        ),
        Report::Liabilities => (
            Table::of(projector.liabilities().await?, liability_cells),
            COLUMNS_LIABILITIES,
        ),
        Report::Daily => (
            Table::of(projector.daily(days).await?, |r| {
                vec![
                    r.day.clone(),
                    r.currency.clone(),
                    r.deposits.clone(),
                    r.refunds.clone(),
                    r.stakes.clone(),
                    r.payouts.clone(),
                    r.ggr.clone(),
                    r.bets.to_string(),
                    r.active_players.to_string(),
                ]
            }),
            &[
                "day",
                "currency",
                "deposits",
                "refunds",
                "stakes",
                "payouts",
                "ggr",
                "bets",
                "active_players",
            ][..],
        ),
        Report::Deposits => (
            Table::of(projector.deposits(days).await?, |r| {
                vec![
                    r.method.clone(),
                    r.external_ref.clone(),
                    r.player.to_string(),
                    r.amount.clone(),
                    r.currency.clone(),
                    r.status.clone(),
                    r.credited_at.clone(),
                    r.refunded_at.clone().unwrap_or_default(),
                ]
            }),
            &[
                "method",
                "external_ref",
                "player",
                "amount",
                "currency",
                "status",
                "credited_at",
                "refunded_at",
            ][..],
        ),
        Report::Sessions => (
            Table::of(projector.sessions(days).await?, |r| {
                vec![
                    r.stream.clone(),
                    r.chat.to_string(),
                    r.player.to_string(),
                    r.state.clone(),
                    r.status.clone(),
                    r.started_at.clone(),
                    r.last_activity_at.clone(),
                    r.ended_at.clone().unwrap_or_default(),
                    r.play_started_at.clone().unwrap_or_default(),
                    r.bets.to_string(),
                    r.wagered.clone(),
                    r.won.clone(),
                ]
            }),
            &[
                "stream",
                "chat",
                "player",
                "state",
                "status",
                "started_at",
                "last_activity_at",
                "ended_at",
                "play_started_at",
                "bets",
                "wagered",
                "won",
            ][..],
        ),
        Report::Bets => (
            Table::of(projector.bets(days, None).await?, bet_cells),
            COLUMNS_BETS,
        ),
        Report::Player => {
            let player = requested_player(&request)?;
            let balances = only_player(projector.balances().await?, player);
            if matches!(request.format, Format::Table) {
                Table::of(balances, balance_cells).print(request.format, COLUMNS_BALANCES);
                println!();
                Table::of(projector.bets(days, Some(player)).await?, bet_cells)
                    .print(request.format, COLUMNS_BETS);
                return Ok(ExitCode::SUCCESS);
            }
            (Table::of(balances, balance_cells), COLUMNS_BALANCES)
        }
    };
    table.print(request.format, columns);
    Ok(ExitCode::SUCCESS)
}

fn requested_player(request: &Request) -> anyhow::Result<i64> {
    request.player.ok_or_else(|| {
        anyhow::anyhow!("report player needs the player's id: croupier report player 7")
    })
}

fn only_player(
    balances: Vec<projections::report::BalanceRow>,
    player: i64,
) -> Vec<projections::report::BalanceRow> {
    balances
        .into_iter()
        .filter(|b| b.player == player)
        .collect()
}

/// Balances, liabilities or one player's balances as of a point, replayed from the log.
async fn report_at(
    database: &Database,
    request: &Request,
    at: projections::report::At,
) -> anyhow::Result<ExitCode> {
    let balances = with_store!(database, s => projections::report::balances_at(s, at).await)?;
    let (table, columns) = match request.report {
        Report::Balances => (Table::of(balances, balance_cells), COLUMNS_BALANCES),
        Report::Player => {
            let mine = only_player(balances, requested_player(request)?);
            (Table::of(mine, balance_cells), COLUMNS_BALANCES)
        }
        Report::Liabilities => (
            Table::of(
                projections::report::liabilities_of(&balances)?,
                liability_cells,
            ),
            COLUMNS_LIABILITIES,
        ),
        _ => anyhow::bail!("--at works with balances, liabilities and player only"),
    };
    table.print(request.format, columns);
    Ok(ExitCode::SUCCESS)
}

const COLUMNS_BALANCES: &[&str] = &["player", "currency", "balance", "in_play"];
const COLUMNS_LIABILITIES: &[&str] = &["currency", "total", "players"];
const COLUMNS_BETS: &[&str] = &[
    "player",
    "bet_id",
    "game",
    "currency",
    "stake",
    "payout",
    "status",
    "placed_at",
    "closed_at",
];

fn balance_cells(r: &projections::report::BalanceRow) -> Vec<String> {
    vec![
        r.player.to_string(),
        r.currency.clone(),
        r.balance.clone(),
        r.in_play.clone(),
    ]
}

fn liability_cells(r: &projections::report::LiabilityRow) -> Vec<String> {
    vec![r.currency.clone(), r.total.clone(), r.players.to_string()]
}

fn bet_cells(r: &projections::report::BetRow) -> Vec<String> {
    vec![
        r.player.to_string(),
        r.bet_id.clone(),
        r.game.clone(),
        r.currency.clone(),
        r.stake.clone(),
        r.payout.clone().unwrap_or_default(),
        r.status.clone(),
        r.placed_at.clone(),
        r.closed_at.clone().unwrap_or_default(),
    ]
}

/// A report's rows, as cells for `table` and `csv`, and as JSON.
struct Table {
    cells: Vec<Vec<String>>,
    json: String,
}

impl Table {
    fn of<T: serde::Serialize>(rows: Vec<T>, cells: impl Fn(&T) -> Vec<String>) -> Self {
        Self {
            cells: rows.iter().map(cells).collect(),
            json: serde_json::to_string(&rows).expect("report rows always serialise"),
        }
    }

    fn print(&self, format: Format, columns: &[&str]) {
        match format {
            Format::Json => println!("{}", self.json),
            Format::Csv => {
                println!("{}", columns.join(","));
                for row in &self.cells {
                    let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
                    println!("{}", fields.join(","));
                }
            }
            Format::Table => print_table(columns, &self.cells),
        }
    }
}

/// Columns aligned for people: text to the left, amounts and counts to the right.
pub fn print_table(columns: &[&str], rows: &[Vec<String>]) {
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
    // A column is right-aligned when every value in it is a number: decided once per
    // column, not per cell.
    let numeric: Vec<bool> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .all(|r| r[i].parse::<rust_decimal::Decimal>().is_ok())
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if numeric[i] {
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
