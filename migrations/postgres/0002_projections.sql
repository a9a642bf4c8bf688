-- Read models, rebuilt from the log at any time. Amounts are exact decimal strings: all
-- arithmetic on them is done in Rust with rust_decimal, never in SQL (SQLite would use
-- floating point). Each projection's checkpoint is written in the same transaction as
-- its changes.

CREATE TABLE projection_checkpoints (
    name       TEXT   PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO projection_checkpoints (name, position, updated_at) VALUES
    ('balances', 0, 0),
    ('house', 0, 0);

-- Per player and currency: cash, stakes in play, and the last event that changed them.
CREATE TABLE proj_balances (
    player        BIGINT NOT NULL,
    currency      TEXT   NOT NULL,
    balance       TEXT   NOT NULL,
    in_play       TEXT   NOT NULL,
    last_position BIGINT NOT NULL,
    PRIMARY KEY (player, currency)
);

-- The house, clearing and external accounts: derived, never locked.
CREATE TABLE proj_house (
    account       TEXT   NOT NULL,
    currency      TEXT   NOT NULL,
    balance       TEXT   NOT NULL,
    last_position BIGINT NOT NULL,
    PRIMARY KEY (account, currency)
);
