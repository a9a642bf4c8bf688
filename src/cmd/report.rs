//! `croupier projections status` and `croupier report`: finance reads, from the
//! projections, brought up to the head of the log first unless told otherwise.

use std::process::ExitCode;

use projections::projector::{Projector, BATCH_SIZE};
use projections::table::{self, Table};
use store::EventStore;

use store::{with_store, Database};

use super::bad_input;

/// The clock, in microseconds since the epoch, for `--at` times.
fn now_micros() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl From<Format> for table::Format {
    fn from(format: Format) -> Self {
        match format {
            Format::Table => Self::Table,
            Format::Json => Self::Json,
            Format::Csv => Self::Csv,
        }
    }
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

/// Refuses arguments that do not go together, before the database is opened: a player id
/// for another report than `player` (or none for it), `--at` for a report the log cannot
/// replay, days where they would be ignored, and an inverted range of days.
pub fn check(
    report: Report,
    player: Option<i64>,
    from: &Option<String>,
    to: &Option<String>,
    at: Option<&projections::report::At>,
) -> anyhow::Result<()> {
    let days = projections::report::Days::new(from.clone(), to.clone()).map_err(bad_input)?;
    match (report, player) {
        (Report::Player, None) => {
            return Err(bad_input(
                "report player needs the player's id: croupier report player 7",
            ))
        }
        (Report::Player, Some(_)) | (_, None) => {}
        (_, Some(id)) => {
            return Err(bad_input(format!(
                "only report player takes a player id, not {id}: croupier report player {id}"
            )))
        }
    }
    let replayable = matches!(
        report,
        Report::Balances | Report::Liabilities | Report::Player
    );
    if at.is_some() && !replayable {
        return Err(bad_input(
            "--at works with balances, liabilities and player only",
        ));
    }
    if days.is_bounded()
        && (at.is_some() || matches!(report, Report::Balances | Report::Liabilities))
    {
        return Err(bad_input(
            "--from and --to apply to daily, deposits, bets, sessions and player, without --at",
        ));
    }
    Ok(())
}

pub async fn status(database: &Database, url: &str) -> anyhow::Result<ExitCode> {
    let projector = Projector::connect(url).await?;
    let head = with_store!(database, s => s.head().await)?.map_or(0, |h| h.position);
    outln!(
        "{:<12} {:>12} {:>12} {:>8}",
        "projection",
        "checkpoint",
        "head",
        "lag"
    )?;
    for checkpoint in projector.checkpoints().await? {
        outln!(
            "{:<12} {:>12} {:>12} {:>8}",
            checkpoint.name,
            checkpoint.position,
            head,
            head.saturating_sub(checkpoint.position)
        )?;
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
    outln!("projections at position {reached}")?;
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
    outln!("rebuilt {rebuilt} and swapped them in at position {reached}")?;
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
    let table = match request.report {
        Report::Balances => Table::of(&projector.balances().await?),
        Report::Liabilities => Table::of(&projector.liabilities().await?),
        Report::Daily => Table::of(&projector.daily(days).await?),
        Report::Deposits => Table::of(&projector.deposits(days).await?),
        Report::Sessions => Table::of(&projector.sessions(days).await?),
        Report::Bets => Table::of(&projector.bets(days, None).await?),
        Report::Player => {
            let player = requested_player(&request)?;
            let balances = only_player(projector.balances().await?, player);
            if matches!(request.format, Format::Table) {
                out!("{}", Table::of(&balances).render(table::Format::Table))?;
                outln!()?;
                let bets = projector.bets(days, Some(player)).await?;
                out!("{}", Table::of(&bets).render(table::Format::Table))?;
                return Ok(ExitCode::SUCCESS);
            }
            Table::of(&balances)
        }
    };
    out!("{}", table.render(request.format.into()))?;
    Ok(ExitCode::SUCCESS)
}

fn requested_player(request: &Request) -> anyhow::Result<i64> {
    request
        .player
        .ok_or_else(|| bad_input("report player needs the player's id: croupier report player 7"))
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
    let head = with_store!(database, s => s.head().await)?.map_or(0, |h| h.position);
    at.within(head, now_micros()).map_err(bad_input)?;
    let balances = with_store!(database, s => projections::report::balances_at(s, at).await)?;
    let table = match request.report {
        Report::Balances => Table::of(&balances),
        Report::Player => Table::of(&only_player(balances, requested_player(request)?)),
        Report::Liabilities => Table::of(&projections::report::liabilities_of(&balances)?),
        _ => {
            return Err(bad_input(
                "--at works with balances, liabilities and player only",
            ))
        }
    };
    out!("{}", table.render(request.format.into()))?;
    Ok(ExitCode::SUCCESS)
}
