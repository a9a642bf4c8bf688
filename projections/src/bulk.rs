//! Multi-row statements for both backends: rows looked up by their keys, inserted, and
//! upserted, as many per statement as the backend allows. The projector writes a batch's
//! changes with a few of these instead of a statement per row.
//!
//! Dialect differences, and only these:
//! - Placeholders. PostgreSQL wants `$N`; SQLite reads `$N` too, but sqlx looks each
//!   named parameter up by name, and SQLite's lookup walks the list of names, which
//!   makes binding quadratic in the number of parameters (a 500-row statement binds
//!   hundreds of times slower per row than a 1-row one). Anonymous `?` are bound by index.
//! - While a rebuild fills its shadow tables on PostgreSQL, new rows go in with `COPY`
//!   (sqlx's `Any` driver has no COPY), about twice as fast as multi-row INSERTs there,
//!   sent by a [`Copier`] on a connection of its own while the batch's other statements
//!   run. Shadow tables are read by no one but the rebuild until they are swapped in, so
//!   their new rows need not commit in the same transaction as the rest of the batch.

use std::borrow::Cow;
use std::fmt::Write as _;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::postgres::PgPool;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Rows per statement at most: beyond this, bigger statements stop paying (measured on
/// both backends) and only cost memory.
const ROWS_MAX: usize = 500;

/// What sets the two backends' SQL apart here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// The dialect of a connection of the `Any` driver.
    pub(crate) fn of(backend_name: &str) -> Self {
        if backend_name == "PostgreSQL" {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    /// Bound parameters per statement at most: PostgreSQL counts them in 16 bits,
    /// SQLite's `SQLITE_MAX_VARIABLE_NUMBER` is 32,766 by default.
    fn binds_max(self) -> usize {
        match self {
            Self::Postgres => 65_535,
            Self::Sqlite => 32_766,
        }
    }

    /// Appends the placeholder of the `n`th parameter (from 1).
    fn placeholder(self, sql: &mut String, n: usize) {
        match self {
            Self::Postgres => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
            Self::Sqlite => sql.push('?'),
        }
    }

    /// Rows of `width` values per statement.
    fn rows_per_statement(self, width: usize) -> usize {
        (self.binds_max() / width.max(1)).clamp(1, ROWS_MAX)
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Self::Int(Some(n))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(n: Option<i64>) -> Self {
        Self::Int(n)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Self::Text(Some(Cow::Borrowed(s)))
    }
}

impl<'a> From<Cow<'a, str>> for Value<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        Self::Text(Some(s))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Self::Text(Some(Cow::Owned(s)))
    }
}

impl From<Option<String>> for Value<'_> {
    fn from(s: Option<String>) -> Self {
        Self::Text(s.map(Cow::Owned))
    }
}

/// A row: its key's values, then the other columns', in the table's order.
pub(crate) type Values<'a> = Vec<Value<'a>>;

/// A read model's table: its key columns, then the others.
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) key: &'static [&'static str],
    pub(crate) columns: &'static [&'static str],
}

impl Table {
    fn width(&self) -> usize {
        self.key.len() + self.columns.len()
    }

    fn all_columns(&self) -> String {
        let mut all = self.key.to_vec();
        all.extend_from_slice(self.columns);
        all.join(", ")
    }
}

/// Writes one batch's changes to the live tables (`suffix` empty) or to a rebuild's
/// shadow tables (`_shadow`), in the batch's transaction.
pub(crate) struct Writer<'c> {
    conn: &'c mut AnyConnection,
    dialect: Dialect,
    suffix: &'c str,
    /// What copies new rows instead, if anything.
    copier: Option<&'c Copier>,
}

impl<'c> Writer<'c> {
    pub(crate) fn new(
        conn: &'c mut AnyConnection,
        dialect: Dialect,
        suffix: &'c str,
        copier: Option<&'c Copier>,
    ) -> Self {
        Self {
            conn,
            dialect,
            suffix,
            copier,
        }
    }

    /// The rows of `table` whose keys are among `keys`, every column.
    pub(crate) async fn select(
        &mut self,
        table: &Table,
        keys: Vec<Values<'_>>,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut found = Vec::new();
        for chunk in chunks(keys, self.dialect.rows_per_statement(table.key.len())) {
            let sql = select_sql(table, self.suffix, self.dialect, chunk.len());
            let rows = bind(sqlx::query(&sql), chunk)
                .fetch_all(&mut *self.conn)
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// Inserts rows whose keys are new: a key that is taken is an error.
    pub(crate) async fn insert(
        &mut self,
        table: &Table,
        rows: Vec<Values<'_>>,
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        if let Some(copier) = self.copier {
            copier.copy(table, self.suffix, &rows);
            return Ok(());
        }
        self.statements(table, "", rows).await
    }

    /// Inserts rows, replacing every column but the key of those already stored.
    pub(crate) async fn upsert(
        &mut self,
        table: &Table,
        rows: Vec<Values<'_>>,
    ) -> Result<(), sqlx::Error> {
        let set: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let conflict = if set.is_empty() {
            format!(" ON CONFLICT ({}) DO NOTHING", table.key.join(", "))
        } else {
            format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                table.key.join(", "),
                set.join(", ")
            )
        };
        self.statements(table, &conflict, rows).await
    }

    /// Multi-row INSERTs, `conflict` appended to each.
    async fn statements(
        &mut self,
        table: &Table,
        conflict: &str,
        rows: Vec<Values<'_>>,
    ) -> Result<(), sqlx::Error> {
        let width = table.width();
        for chunk in chunks(rows, self.dialect.rows_per_statement(width)) {
            let mut sql = format!(
                "INSERT INTO {}{} ({}) VALUES ",
                table.name,
                self.suffix,
                table.all_columns()
            );
            tuples(&mut sql, self.dialect, chunk.len(), width);
            sql.push_str(conflict);
            bind(sqlx::query(&sql), chunk)
                .execute(&mut *self.conn)
                .await?;
        }
        Ok(())
    }
}

/// `items` in order, `size` at a time: one statement's worth each.
fn chunks<T>(items: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        Some(items.by_ref().take(size).collect())
    })
}

/// The rows of `table` with one of `keys` keys: a join of the keys with the table, which
/// both backends answer through its primary key (SQLite 3.40 answers `(key) IN (VALUES
/// ...)` by scanning the table; the SQLite bundled with sqlx today does not).
fn select_sql(table: &Table, suffix: &str, dialect: Dialect, keys: usize) -> String {
    let columns: Vec<String> = table
        .key
        .iter()
        .chain(table.columns)
        .map(|c| format!("t.{c}"))
        .collect();
    let mut sql = format!("SELECT {} FROM (VALUES ", columns.join(", "));
    tuples(&mut sql, dialect, keys, table.key.len());
    write!(sql, ") AS k JOIN {}{suffix} AS t ON ", table.name).expect("writing to a String");
    for (i, key) in table.key.iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        write!(sql, "t.{key} = k.column{}", i + 1).expect("writing to a String");
    }
    sql
}

/// `(p, p), (p, p)`: `rows` tuples of `width` placeholders.
fn tuples(sql: &mut String, dialect: Dialect, rows: usize, width: usize) {
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            n += 1;
            dialect.placeholder(sql, n);
        }
        sql.push(')');
    }
}

fn bind<'q>(
    mut query: Query<'q, Any, AnyArguments<'q>>,
    rows: Vec<Values<'q>>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for value in rows.into_iter().flatten() {
        query = match value {
            Value::Int(n) => query.bind(n),
            Value::Text(Some(Cow::Borrowed(s))) => query.bind(s),
            Value::Text(Some(Cow::Owned(s))) => query.bind(s),
            Value::Text(None) => query.bind(None::<String>),
        };
    }
    query
}

/// Sends `COPY ... FROM STDIN`s on a PostgreSQL connection of its own, in the order they
/// are given, while the caller goes on with its other statements; [`Copier::commit`]
/// waits for them and commits them. The first failure fails every later copy and the
/// commit, which then rolls back.
pub(crate) struct Copier {
    jobs: mpsc::UnboundedSender<Job>,
    task: JoinHandle<()>,
}

enum Job {
    Copy { statement: String, data: String },
    Commit(oneshot::Sender<Result<(), sqlx::Error>>),
}

impl Copier {
    pub(crate) fn start(pool: &PgPool) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let task = tokio::spawn(copy_jobs(pool.clone(), queue));
        Self { jobs, task }
    }

    /// Queues the COPY of `rows` into `table` (named with `suffix`).
    fn copy(&self, table: &Table, suffix: &str, rows: &[Values<'_>]) {
        let statement = format!(
            "COPY {}{suffix} ({}) FROM STDIN",
            table.name,
            table.all_columns()
        );
        let mut data = String::new();
        for row in rows {
            copy_line(&mut data, row);
        }
        // Refused only once the task has ended, which `commit` reports.
        let _ = self.jobs.send(Job::Copy { statement, data });
    }

    /// Waits for every copy queued so far and commits them.
    pub(crate) async fn commit(&self) -> Result<(), sqlx::Error> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Job::Commit(done))
            .map_err(|_| sqlx::Error::PoolClosed)?;
        result.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

impl Drop for Copier {
    /// A rebuild that stops early stops its copies; their transaction rolls back.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The copier's task: each batch's copies in a transaction, committed when asked.
async fn copy_jobs(pool: PgPool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let mut tx: Option<Transaction<'static, Postgres>> = None;
    let mut failed: Option<sqlx::Error> = None;
    while let Some(job) = queue.recv().await {
        match job {
            Job::Copy { statement, data } if failed.is_none() => {
                let copied = async {
                    let tx = match &mut tx {
                        Some(tx) => tx,
                        None => tx.insert(pool.begin().await?),
                    };
                    let mut copy = tx.copy_in_raw(&statement).await?;
                    copy.send(data.as_bytes()).await?;
                    copy.finish().await
                };
                failed = copied.await.err();
            }
            Job::Copy { .. } => {}
            Job::Commit(done) => {
                let result = match (failed.take(), tx.take()) {
                    (None, Some(tx)) => tx.commit().await,
                    (None, None) => Ok(()),
                    // Dropping the transaction rolls it back.
                    (Some(e), _) => Err(e),
                };
                let _ = done.send(result);
            }
        }
    }
}

/// One row of COPY text: tab-separated, `\N` for NULL, backslash escapes.
fn copy_line(data: &mut String, row: &[Value<'_>]) {
    for (i, value) in row.iter().enumerate() {
        if i > 0 {
            data.push('\t');
        }
        match value {
            Value::Int(Some(n)) => {
                write!(data, "{n}").expect("writing to a String");
            }
            Value::Int(None) | Value::Text(None) => data.push_str("\\N"),
            Value::Text(Some(text)) => {
                for c in text.chars() {
                    match c {
                        '\\' => data.push_str("\\\\"),
                        '\t' => data.push_str("\\t"),
                        '\n' => data.push_str("\\n"),
                        '\r' => data.push_str("\\r"),
                        c => data.push(c),
                    }
                }
            }
        }
    }
    data.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_on_postgres_and_anonymous_on_sqlite() {
        let mut pg = String::new();
        tuples(&mut pg, Dialect::Postgres, 2, 3);
        assert_eq!(pg, "($1, $2, $3), ($4, $5, $6)");
        let mut sqlite = String::new();
        tuples(&mut sqlite, Dialect::Sqlite, 2, 2);
        assert_eq!(sqlite, "(?, ?), (?, ?)");
    }

    #[test]
    fn statements_stay_under_each_backends_bind_limit() {
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            for width in [1, 2, 11, 15, 3_000, 40_000] {
                let rows = dialect.rows_per_statement(width);
                assert!((1..=ROWS_MAX).contains(&rows), "{dialect:?} {width}");
                if width <= dialect.binds_max() {
                    assert!(rows * width <= dialect.binds_max(), "{dialect:?} {width}");
                }
            }
        }
        assert_eq!(Dialect::Sqlite.rows_per_statement(3_000), 10);
        assert_eq!(Dialect::Postgres.rows_per_statement(3_000), 21);
    }

    /// A scan per batch would make a rebuild quadratic in the number of rows.
    #[test]
    fn rows_are_looked_up_by_key_through_the_index() {
        const BETS: Table = Table {
            name: "bets",
            key: &["player", "bet_id"],
            columns: &["stake"],
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            sqlx::any::install_default_drivers();
            let mut conn = <AnyConnection as sqlx::Connection>::connect("sqlite::memory:")
                .await
                .unwrap();
            sqlx::query(
                "CREATE TABLE bets (player BIGINT NOT NULL, bet_id TEXT NOT NULL, \
                 stake TEXT NOT NULL, PRIMARY KEY (player, bet_id))",
            )
            .execute(&mut conn)
            .await
            .unwrap();
            let sql = select_sql(&BETS, "", Dialect::Sqlite, 2);
            let keys = || vec![vec![1.into(), "a".into()], vec![2.into(), "b".into()]];
            let plan: Vec<String> = bind(sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")), keys())
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|row| sqlx::Row::get(row, "detail"))
                .collect();
            assert!(
                plan.iter()
                    .any(|step| step.contains("SEARCH t USING INDEX")),
                "{plan:?}"
            );
            assert!(!plan.iter().any(|step| step == "SCAN t"), "{plan:?}");
            let found = bind(sqlx::query(&sql), keys()).fetch_all(&mut conn).await;
            assert!(found.unwrap().is_empty());
        });
    }

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_row() {
        let mut data = String::new();
        let row = vec![
            Value::from(7),
            Value::from("a\tb\nc\\d\re"),
            Value::Int(None),
            Value::Text(None),
            Value::from(-3),
        ];
        copy_line(&mut data, &row);
        assert_eq!(data, "7\ta\\tb\\nc\\\\d\\re\t\\N\t\\N\t-3\n");
    }
}
