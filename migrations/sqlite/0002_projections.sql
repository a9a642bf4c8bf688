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
    ('bets', 0, 0),
    ('deposits', 0, 0),
    ('finance_daily', 0, 0),
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

-- Every round: open until settled or voided. Times are microseconds since the epoch.
CREATE TABLE proj_bets (
    player          BIGINT NOT NULL,
    bet_id          TEXT   NOT NULL,
    game            TEXT   NOT NULL,
    currency        TEXT   NOT NULL,
    stake           TEXT   NOT NULL,
    payout          TEXT,
    status          TEXT   NOT NULL,
    placed_at       BIGINT NOT NULL,
    closed_at       BIGINT,
    placed_position BIGINT NOT NULL,
    closed_position BIGINT,
    PRIMARY KEY (player, bet_id)
);

-- Every deposit, by payment method and the network's reference.
CREATE TABLE proj_deposits (
    method            TEXT   NOT NULL,
    external_ref      TEXT   NOT NULL,
    player            BIGINT NOT NULL,
    amount            TEXT   NOT NULL,
    currency          TEXT   NOT NULL,
    status            TEXT   NOT NULL,
    credited_at       BIGINT NOT NULL,
    refunded_at       BIGINT,
    credited_position BIGINT NOT NULL,
    refunded_position BIGINT,
    PRIMARY KEY (method, external_ref)
);

-- Per UTC day and currency. Stakes and payouts are those of the bets settled that day;
-- GGR is those stakes less those payouts. An open bet counts once it is settled; a
-- voided one never.
CREATE TABLE proj_finance_daily (
    day            TEXT   NOT NULL,
    currency       TEXT   NOT NULL,
    deposits       TEXT   NOT NULL,
    refunds        TEXT   NOT NULL,
    stakes         TEXT   NOT NULL,
    payouts        TEXT   NOT NULL,
    ggr            TEXT   NOT NULL,
    bets           BIGINT NOT NULL,
    active_players BIGINT NOT NULL,
    PRIMARY KEY (day, currency)
);

-- Who had a money event that day, to count active players.
CREATE TABLE proj_finance_active (
    day      TEXT   NOT NULL,
    currency TEXT   NOT NULL,
    player   BIGINT NOT NULL,
    PRIMARY KEY (day, currency, player)
);
