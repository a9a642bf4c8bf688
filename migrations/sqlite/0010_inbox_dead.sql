-- Inbound dead letters: updates that cannot be read (a payment whose money fields are
-- missing or mistyped, or whose amount no amount rule allows). Each is kept with its
-- body and the reason before Telegram gets its 200, so nothing is acknowledged into
-- nothing; `croupier inbox dead` lists them. update_id is NULL when the body had none.
CREATE TABLE bot_inbox_dead (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    update_id   BIGINT,
    body        TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    received_at BIGINT NOT NULL
);
