-- Updates are de-duplicated by what they are, not by update_id, which Telegram reuses:
-- an update whose id was seen before may be a new payment. `inbox_key` is the input's
-- origin (`pay:CHARGE` for a payment, `m:CHAT:MESSAGE` for a message, `cb:ID` for a
-- button press...), or `update:ID` for an update that causes nothing (no origin), where
-- a wrong match costs nothing. update_id stays, no longer unique, for the polling offset.
-- Rows written before this migration are keyed `update:ID`: an old update delivered
-- again is handled again, which replays its commands and queues nothing twice.
-- SQLite cannot change a primary key in place: the table is rebuilt.
CREATE TABLE bot_inbox_by_origin (
    inbox_key   TEXT   PRIMARY KEY,
    update_id   BIGINT NOT NULL,
    body        TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    handled_at  BIGINT NOT NULL
);
INSERT INTO bot_inbox_by_origin (inbox_key, update_id, body, received_at, handled_at)
    SELECT 'update:' || update_id, update_id, body, received_at, handled_at FROM bot_inbox;
DROP TABLE bot_inbox;
ALTER TABLE bot_inbox_by_origin RENAME TO bot_inbox;
CREATE INDEX bot_inbox_update_id ON bot_inbox (update_id);
