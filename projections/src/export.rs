//! `croupier audit export`: the log in readable form, payloads decoded from MessagePack,
//! with positions and hashes, as JSON lines or CSV.

use std::io::Write;

use serde_json::{json, Value};
use store::{EventStore, StoreError, StoredEvent};

use crate::time::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export")]
    Write(#[from] std::io::Error),
}

const CSV_HEADER: &str =
    "position,stream,version,type,schema_version,recorded_at,prev_hash,hash,metadata,payload";

/// Writes the events with positions `from..=to` (all of them by default) to `out`;
/// returns how many were written.
pub async fn export<S: EventStore>(
    store: &S,
    format: Format,
    from: Option<u64>,
    to: Option<u64>,
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    const BATCH_SIZE: u32 = 10_000;
    if format == Format::Csv {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let mut position = from.unwrap_or(1).saturating_sub(1);
    let mut written = 0;
    'read: loop {
        let batch = store.read_all(position, BATCH_SIZE).await?;
        let Some(last) = batch.last() else { break };
        position = last.position;
        for event in &batch {
            if to.is_some_and(|to| event.position > to) {
                break 'read;
            }
            let record = readable(event);
            match format {
                Format::JsonLines => writeln!(out, "{record}")?,
                Format::Csv => writeln!(out, "{}", csv_row(&record))?,
            }
            written += 1;
        }
    }
    out.flush()?;
    Ok(written)
}

/// One event as JSON. A payload or metadata that does not decode is shown as hex, so an
/// export never hides what is stored.
pub fn readable(event: &StoredEvent) -> Value {
    json!({
        "position": event.position,
        "stream": event.stream,
        "version": event.version,
        "type": event.event_type,
        "schema_version": event.schema_version,
        "recorded_at": rfc3339(event.recorded_at),
        "prev_hash": hex::encode(event.prev_hash),
        "hash": hex::encode(event.hash),
        "metadata": decoded(&event.metadata),
        "payload": decoded(&event.payload),
    })
}

fn decoded(bytes: &[u8]) -> Value {
    rmp_serde::from_slice::<Value>(bytes)
        .unwrap_or_else(|_| json!({ "undecodable_hex": hex::encode(bytes) }))
}

fn csv_row(record: &Value) -> String {
    CSV_HEADER
        .split(',')
        .map(|column| {
            let field = match &record[column] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            csv_field(&field)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled.
pub fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_when_they_must_be() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field(r#"{"k":"v"}"#), r#""{""k"":""v""}""#);
    }
}
