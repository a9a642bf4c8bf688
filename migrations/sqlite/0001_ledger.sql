-- The ledger's append-only log and the idempotency records beside it (SQLite mirror of
-- migrations/postgres/0001_ledger.sql).

CREATE TABLE ledger_events (
    position       INTEGER PRIMARY KEY CHECK (position > 0),
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version > 0),
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL CHECK (schema_version > 0),
    payload        BLOB    NOT NULL,
    metadata       BLOB    NOT NULL,
    recorded_at    INTEGER NOT NULL,
    prev_hash      BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash           BLOB    NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT ledger_events_stream_version UNIQUE (stream_id, version)
);

CREATE TABLE ledger_commands (
    idempotency_key   TEXT    PRIMARY KEY,
    stream_id         TEXT    NOT NULL,
    command_type      TEXT    NOT NULL,
    fingerprint       BLOB    NOT NULL,
    outcome           TEXT    NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    rejection_code    TEXT,
    rejection_message TEXT,
    events            BLOB    NOT NULL,
    balances          BLOB    NOT NULL,
    recorded_at       INTEGER NOT NULL
) WITHOUT ROWID;

-- Every credited payment, by payment method and the network's reference: a charge is
-- credited once, to one player, ever.
CREATE TABLE ledger_deposit_refs (
    method       TEXT    NOT NULL,
    external_ref TEXT    NOT NULL,
    stream_id    TEXT    NOT NULL,
    position     INTEGER NOT NULL REFERENCES ledger_events (position),
    PRIMARY KEY (method, external_ref)
) WITHOUT ROWID;

-- The database itself refuses to change history (SQLite has no TRUNCATE: an unqualified
-- DELETE is caught by the DELETE trigger).
CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only: DELETE refused'); END;
CREATE TRIGGER ledger_commands_no_update BEFORE UPDATE ON ledger_commands
BEGIN SELECT RAISE(ABORT, 'ledger_commands is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_commands_no_delete BEFORE DELETE ON ledger_commands
BEGIN SELECT RAISE(ABORT, 'ledger_commands is append-only: DELETE refused'); END;
CREATE TRIGGER ledger_deposit_refs_no_update BEFORE UPDATE ON ledger_deposit_refs
BEGIN SELECT RAISE(ABORT, 'ledger_deposit_refs is append-only: UPDATE refused'); END;
CREATE TRIGGER ledger_deposit_refs_no_delete BEFORE DELETE ON ledger_deposit_refs
BEGIN SELECT RAISE(ABORT, 'ledger_deposit_refs is append-only: DELETE refused'); END;
