//! Reading stored rows into store types, written once for both backends.

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::event::{EventBody, Head, StoredEvent};
use crate::record::CommandRecord;
use crate::StoreError;

/// The newest event's position, hash and time: the head of the log.
pub(crate) const HEAD: &str =
    "SELECT position, hash, recorded_at FROM ledger_events ORDER BY position DESC LIMIT 1";

/// The column types both backends decode.
pub(crate) trait LedgerRow: Row
where
    for<'r> &'r str: ColumnIndex<Self>,
{
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError>;
}

impl<R> LedgerRow for R
where
    R: Row,
    for<'r> &'r str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        Ok(self.try_get::<i64, _>(column)?)
    }
    fn text(&self, column: &str) -> Result<String, StoreError> {
        Ok(self.try_get::<String, _>(column)?)
    }
    fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get::<Option<String>, _>(column)?)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get::<Vec<u8>, _>(column)?)
    }
}

pub(crate) fn head<R: LedgerRow>(row: &R) -> Result<Head, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    let position = to_u64(row.int("position")?);
    Ok(Head {
        position,
        hash: hash32(position, row.bytes("hash")?)?,
        recorded_at: row.int("recorded_at")?,
    })
}

/// The columns of an [`EventBody`]; an event's are these and its metadata and hashes.
pub(crate) const BODY_COLUMNS: &str =
    "position, stream_id, version, event_type, schema_version, payload, recorded_at";

pub(crate) fn event<R: LedgerRow>(row: &R) -> Result<StoredEvent, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    let body = body(row)?;
    Ok(StoredEvent {
        metadata: row.bytes("metadata")?,
        prev_hash: hash32(body.position, row.bytes("prev_hash")?)?,
        hash: hash32(body.position, row.bytes("hash")?)?,
        position: body.position,
        stream: body.stream,
        version: body.version,
        event_type: body.event_type,
        schema_version: body.schema_version,
        payload: body.payload,
        recorded_at: body.recorded_at,
    })
}

pub(crate) fn body<R: LedgerRow>(row: &R) -> Result<EventBody, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    let position = to_u64(row.int("position")?);
    let schema_version = row.int("schema_version")?;
    Ok(EventBody {
        position,
        stream: row.text("stream_id")?,
        version: to_u64(row.int("version")?),
        event_type: row.text("event_type")?,
        schema_version: u16::try_from(schema_version).map_err(|_| StoreError::Corrupt {
            position,
            problem: format!("schema version {schema_version} out of range"),
        })?,
        payload: row.bytes("payload")?,
        recorded_at: row.int("recorded_at")?,
    })
}

pub(crate) fn command<R: LedgerRow>(row: &R) -> Result<CommandRecord, StoreError>
where
    for<'r> &'r str: ColumnIndex<R>,
{
    let key = row.text("idempotency_key")?;
    CommandRecord::from_row(
        key.clone(),
        row.text("stream_id")?,
        row.text("command_type")?,
        &row.bytes("fingerprint")?,
        &row.text("outcome")?,
        row.optional_text("rejection_code")?,
        row.optional_text("rejection_message")?,
        &row.bytes("events")?,
        &row.bytes("balances")?,
        row.int("recorded_at")?,
    )
    .ok_or(StoreError::CorruptRecord { key })
}

fn hash32(position: u64, bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        position,
        problem: "a hash is not 32 bytes".to_owned(),
    })
}

/// Positions and versions are positive and far below 2^63; the database's CHECKs hold
/// them there.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).expect("position or version beyond 2^63")
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).expect("the database holds positions and versions above zero")
}
