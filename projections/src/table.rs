//! Report rows as people and scripts read them: aligned columns, CSV or JSON. The
//! columns of each read model's rows are named here, once, for `croupier report` and
//! anything else that prints them.

use serde::Serialize;

use crate::export::csv_field;
use crate::report::{BalanceRow, BetRow, DailyRow, DepositRow, LiabilityRow, SessionRow};

/// How a table is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON array of the rows.
    Json,
    /// A header line, then one line per row.
    Csv,
}

/// A row with named columns.
pub trait Tabular: Serialize {
    /// The column names, in the order of [`Tabular::cells`].
    const COLUMNS: &'static [&'static str];
    /// The row's values as text, one per column.
    fn cells(&self) -> Vec<String>;
}

/// Rows, as cells for `table` and `csv` and as JSON.
pub struct Table {
    columns: Vec<String>,
    cells: Vec<Vec<String>>,
    json: String,
}

impl Table {
    /// The table of `rows`.
    pub fn of<T: Tabular>(rows: &[T]) -> Self {
        Self {
            columns: T::COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
            cells: rows.iter().map(Tabular::cells).collect(),
            json: serde_json::to_string(rows).expect("report rows always serialise"),
        }
    }

    /// A table of plain cells (its JSON is an array of objects keyed by column, the keys
    /// in column order: serde_json's map would sort them).
    pub fn new(columns: &[&str], cells: Vec<Vec<String>>) -> Self {
        let quoted = |text: &str| serde_json::to_string(text).expect("strings always serialise");
        let objects: Vec<String> = cells
            .iter()
            .map(|row| {
                let fields: Vec<String> = columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| format!("{}:{}", quoted(c), quoted(v)))
                    .collect();
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        Self {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            cells,
            json: format!("[{}]", objects.join(",")),
        }
    }

    /// The table written in `format`, each line ending in a newline.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => format!("{}\n", self.json),
            Format::Csv => {
                let mut out = self.columns.join(",");
                out.push('\n');
                for row in &self.cells {
                    let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
                    out.push_str(&fields.join(","));
                    out.push('\n');
                }
                out
            }
            Format::Table => aligned(&self.columns, &self.cells),
        }
    }
}

/// Columns aligned for people: text to the left, amounts and counts to the right.
fn aligned(columns: &[String], rows: &[Vec<String>]) -> String {
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
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = cells
            .enumerate()
            .map(|(i, cell)| {
                if numeric[i] {
                    format!("{cell:>width$}", width = widths[i])
                } else {
                    format!("{cell:<width$}", width = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ");
        text.push('\n');
        text
    };
    let mut out = line(&mut columns.iter().map(String::as_str));
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

impl Tabular for BalanceRow {
    const COLUMNS: &'static [&'static str] = &["player", "currency", "balance", "in_play"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.player.to_string(),
            self.currency.clone(),
            self.balance.clone(),
            self.in_play.clone(),
        ]
    }
}

impl Tabular for LiabilityRow {
    const COLUMNS: &'static [&'static str] = &["currency", "total", "players"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.currency.clone(),
            self.total.clone(),
            self.players.to_string(),
        ]
    }
}

impl Tabular for DailyRow {
    const COLUMNS: &'static [&'static str] = &[
        "day",
        "currency",
        "deposits",
        "refunds",
        "stakes",
        "payouts",
        "ggr",
        "bets",
        "active_players",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.day.clone(),
            self.currency.clone(),
            self.deposits.clone(),
            self.refunds.clone(),
            self.stakes.clone(),
            self.payouts.clone(),
            self.ggr.clone(),
            self.bets.to_string(),
            self.active_players.to_string(),
        ]
    }
}

impl Tabular for DepositRow {
    const COLUMNS: &'static [&'static str] = &[
        "method",
        "external_ref",
        "player",
        "amount",
        "currency",
        "status",
        "credited_at",
        "refunded_at",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.method.clone(),
            self.external_ref.clone(),
            self.player.to_string(),
            self.amount.clone(),
            self.currency.clone(),
            self.status.clone(),
            self.credited_at.clone(),
            self.refunded_at.clone().unwrap_or_default(),
        ]
    }
}

impl Tabular for SessionRow {
    const COLUMNS: &'static [&'static str] = &[
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
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.stream.clone(),
            self.chat.to_string(),
            self.player.to_string(),
            self.state.clone(),
            self.status.clone(),
            self.started_at.clone(),
            self.last_activity_at.clone(),
            self.ended_at.clone().unwrap_or_default(),
            self.play_started_at.clone().unwrap_or_default(),
            self.bets.to_string(),
            self.wagered.clone(),
            self.won.clone(),
        ]
    }
}

impl Tabular for BetRow {
    const COLUMNS: &'static [&'static str] = &[
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
    fn cells(&self) -> Vec<String> {
        vec![
            self.player.to_string(),
            self.bet_id.clone(),
            self.game.clone(),
            self.currency.clone(),
            self.stake.clone(),
            self.payout.clone().unwrap_or_default(),
            self.status.clone(),
            self.placed_at.clone(),
            self.closed_at.clone().unwrap_or_default(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_align_right_text_left_and_csv_quotes_what_needs_it() {
        let table = Table::new(
            &["kind", "amount"],
            vec![
                vec!["deposit".into(), "5".into()],
                vec!["a,b".into(), "150".into()],
            ],
        );
        assert_eq!(
            table.render(Format::Table),
            "kind     amount\ndeposit       5\na,b         150\n"
        );
        assert_eq!(
            table.render(Format::Csv),
            "kind,amount\ndeposit,5\n\"a,b\",150\n"
        );
        assert_eq!(
            table.render(Format::Json),
            "[{\"kind\":\"deposit\",\"amount\":\"5\"},{\"kind\":\"a,b\",\"amount\":\"150\"}]\n"
        );
    }
}
