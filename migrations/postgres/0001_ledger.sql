-- The ledger's append-only log and the idempotency records beside it.
-- Times are microseconds since the Unix epoch (BIGINT), the same on both backends, so the
-- hash of an event is computed from exactly what is stored.

CREATE TABLE ledger_events (
    position       BIGINT  PRIMARY KEY CHECK (position > 0),
    stream_id      TEXT    NOT NULL,
    version        BIGINT  NOT NULL CHECK (version > 0),
    event_type     TEXT    NOT NULL,
    schema_version BIGINT  NOT NULL CHECK (schema_version > 0),
    payload        BYTEA   NOT NULL,
    metadata       BYTEA   NOT NULL,
    recorded_at    BIGINT  NOT NULL,
    prev_hash      BYTEA   NOT NULL CHECK (length(prev_hash) = 32),
    hash           BYTEA   NOT NULL CHECK (length(hash) = 32),
    CONSTRAINT ledger_events_stream_version UNIQUE (stream_id, version)
);

CREATE TABLE ledger_commands (
    idempotency_key   TEXT    PRIMARY KEY,
    stream_id         TEXT    NOT NULL,
    command_type      TEXT    NOT NULL,
    fingerprint       BYTEA   NOT NULL,
    outcome           TEXT    NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    rejection_code    TEXT,
    rejection_message TEXT,
    events            BYTEA   NOT NULL,
    balances          BYTEA   NOT NULL,
    recorded_at       BIGINT  NOT NULL
);

-- The database itself refuses to change history.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER ledger_events_append_only
    BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_events_no_truncate
    BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_commands_append_only
    BEFORE UPDATE OR DELETE ON ledger_commands
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_commands_no_truncate
    BEFORE TRUNCATE ON ledger_commands
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
