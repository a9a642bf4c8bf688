-- A call whose answer another call needs: the link createInvoiceLink returns (a VIP
-- subscription) is sent to the player by a sendMessage that the dispatcher queues, in
-- the transaction that marks the first call sent. `then_send` is that message without
-- the link (JSON of bot_adapter::call::LinkMessage); NULL for every other call.
ALTER TABLE bot_outbox ADD COLUMN then_send TEXT;
