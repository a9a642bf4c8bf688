-- Updates are de-duplicated by what they are, not by update_id, which Telegram reuses:
-- an update whose id was seen before may be a new payment. `inbox_key` is the input's
-- origin (`pay:CHARGE` for a payment, `m:CHAT:MESSAGE` for a message, `cb:ID` for a
-- button press...), or `update:ID` for an update that causes nothing (no origin), where
-- a wrong match costs nothing. update_id stays, no longer unique, for the polling offset.
-- Rows written before this migration are keyed `update:ID`: an old update delivered
-- again is handled again, which replays its commands and queues nothing twice.
ALTER TABLE bot_inbox ADD COLUMN inbox_key TEXT;
UPDATE bot_inbox SET inbox_key = 'update:' || update_id;
ALTER TABLE bot_inbox ALTER COLUMN inbox_key SET NOT NULL;
ALTER TABLE bot_inbox DROP CONSTRAINT bot_inbox_pkey;
ALTER TABLE bot_inbox ADD PRIMARY KEY (inbox_key);
CREATE INDEX bot_inbox_update_id ON bot_inbox (update_id);
