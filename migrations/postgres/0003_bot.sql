-- The Telegram adapter's own tables. None of them is the ledger: money lives only in
-- ledger_events. Times are microseconds since the epoch.

-- Every update handled, recorded in the same statement (or transaction) as the calls it
-- queued, before Telegram gets its 200. An update whose handling was cut short (a crash,
-- the database gone) is not here, was not acknowledged, and is delivered again; handling
-- it again does the same, because every command it causes has a key derived from the
-- update's content.
CREATE TABLE bot_inbox (
    update_id   BIGINT PRIMARY KEY,
    body        TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    handled_at  BIGINT NOT NULL
);

-- Bot API calls waiting to be made, made, or given up on (dead).
-- dedupe_key is derived from the input that caused the call, so handling an input twice
-- queues its calls once.
CREATE TABLE bot_outbox (
    id          BIGSERIAL PRIMARY KEY,
    dedupe_key  TEXT   NOT NULL UNIQUE,
    chat_id     BIGINT,
    method      TEXT   NOT NULL,
    params      TEXT   NOT NULL,
    urgent      BIGINT NOT NULL,
    state       TEXT   NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    sent_at     BIGINT,
    last_error  TEXT
);
CREATE INDEX bot_outbox_due ON bot_outbox (due_at) WHERE state = 'pending';

CREATE TABLE bot_players (
    player_id     BIGINT PRIMARY KEY,
    chat_id       BIGINT NOT NULL,
    registered_at BIGINT NOT NULL
);

-- Provably fair server seeds. The hash is recorded (and shown) before the seed decides
-- any bet; the seed itself is shown only when it is revealed by rotation.
CREATE TABLE bot_fair_seeds (
    seed_hash   TEXT   PRIMARY KEY,
    player_id   BIGINT NOT NULL,
    seed        TEXT   NOT NULL,
    client_seed TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    revealed_at BIGINT
);
CREATE UNIQUE INDEX bot_fair_seeds_active ON bot_fair_seeds (player_id) WHERE revealed_at IS NULL;

-- The fair inputs of each bet, fixed before the bet is placed. Append-only: they are an
-- auditor's evidence that a roll was not chosen after the fact.
CREATE TABLE bot_fair_rounds (
    bet_id      TEXT   PRIMARY KEY,
    player_id   BIGINT NOT NULL,
    seed_hash   TEXT   NOT NULL REFERENCES bot_fair_seeds (seed_hash),
    client_seed TEXT   NOT NULL,
    nonce       BIGINT NOT NULL,
    -- The game, the player's choice and the edge (`coinflip:heads:200`, `dice:50:200`).
    terms       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (seed_hash, nonce)
);

CREATE TRIGGER bot_fair_rounds_append_only
    BEFORE UPDATE OR DELETE ON bot_fair_rounds
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER bot_fair_rounds_no_truncate
    BEFORE TRUNCATE ON bot_fair_rounds
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
