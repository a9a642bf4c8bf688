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

-- Every credited payment, by payment method and the network's reference (Telegram's
-- telegram_payment_charge_id): a charge is credited once, to one player, ever. Written
-- in the same transaction as the deposit event.
CREATE TABLE ledger_deposit_refs (
    method       TEXT   NOT NULL,
    external_ref TEXT   NOT NULL,
    stream_id    TEXT   NOT NULL,
    position     BIGINT NOT NULL REFERENCES ledger_events (position),
    PRIMARY KEY (method, external_ref)
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
CREATE TRIGGER ledger_deposit_refs_append_only
    BEFORE UPDATE OR DELETE ON ledger_deposit_refs
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_deposit_refs_no_truncate
    BEFORE TRUNCATE ON ledger_deposit_refs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Every append holds this transaction-scoped lock from before it reads the head until it
-- commits, so commit order is position order (docs/adr/0001). The key is "croupier".
CREATE FUNCTION ledger_append_lock() RETURNS void LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(7165912507287692658)
$$;

-- Appends a batch whose positions and hashes were computed for the head `expected_head`
-- with hash `expected_hash` (both NULL: an empty log), in one statement: the whole of
-- group commit's fast path. Returns false, writing nothing, when the head is not that
-- one any more. The hash makes the check exact: a batch sealed after another batch that
-- was never written cannot be written either, even if the log reached the same position. A key or a payment
-- already recorded fails the statement on its primary key, also writing nothing. Either
-- way the writer takes its locked path, which looks keys and payments up. (Looking them
-- up here instead cost a fifth of the throughput, for the sake of retries, which are
-- rare.) Statements inside a VOLATILE function take fresh snapshots, so under READ
-- COMMITTED the head is read after the lock is granted; other levels would read a head
-- from before the lock, hence the check.
CREATE FUNCTION ledger_append(
    expected_head BIGINT, expected_hash BYTEA,
    e_position BIGINT[], e_stream TEXT[], e_version BIGINT[], e_type TEXT[], e_schema BIGINT[],
    e_payload BYTEA[], e_metadata BYTEA[], e_recorded_at BIGINT[], e_prev_hash BYTEA[], e_hash BYTEA[],
    c_key TEXT[], c_stream TEXT[], c_type TEXT[], c_fingerprint BYTEA[], c_outcome TEXT[],
    c_code TEXT[], c_message TEXT[], c_events BYTEA[], c_balances BYTEA[], c_recorded_at BIGINT[],
    r_method TEXT[], r_ref TEXT[], r_stream TEXT[], r_position BIGINT[]
) RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head BIGINT;
    head_hash BYTEA;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'ledger_append needs READ COMMITTED, not %',
            current_setting('transaction_isolation');
    END IF;
    PERFORM ledger_append_lock();
    SELECT position, hash INTO head, head_hash
        FROM ledger_events ORDER BY position DESC LIMIT 1;
    IF head IS DISTINCT FROM expected_head OR head_hash IS DISTINCT FROM expected_hash THEN
        RETURN false;
    END IF;
    IF cardinality(e_position) > 0 AND (
           e_position[1] <> coalesce(head, 0) + 1
           OR e_prev_hash[1] <> coalesce(head_hash, decode(repeat('00', 32), 'hex'))) THEN
        RAISE EXCEPTION 'batch at position % does not continue the chain at %',
            e_position[1], coalesce(head, 0);
    END IF;
    INSERT INTO ledger_events (position, stream_id, version, event_type, schema_version,
                               payload, metadata, recorded_at, prev_hash, hash)
        SELECT * FROM unnest(e_position, e_stream, e_version, e_type, e_schema,
                             e_payload, e_metadata, e_recorded_at, e_prev_hash, e_hash);
    INSERT INTO ledger_commands (idempotency_key, stream_id, command_type, fingerprint, outcome,
                                 rejection_code, rejection_message, events, balances, recorded_at)
        SELECT k, s, t, f, o, NULLIF(rc, ''), NULLIF(rm, ''), e, b, r
        FROM unnest(c_key, c_stream, c_type, c_fingerprint, c_outcome,
                    c_code, c_message, c_events, c_balances, c_recorded_at)
             AS u(k, s, t, f, o, rc, rm, e, b, r);
    INSERT INTO ledger_deposit_refs (method, external_ref, stream_id, position)
        SELECT * FROM unnest(r_method, r_ref, r_stream, r_position);
    IF cardinality(e_position) > 0 THEN
        PERFORM pg_notify('croupier_events', '');
    END IF;
    RETURN true;
END
$$;
