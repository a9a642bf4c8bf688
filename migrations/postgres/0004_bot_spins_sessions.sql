-- 🎰 spins: a sendDice whose value settles a bet. Such a call is sent at most once: it
-- goes from 'pending' to 'in_flight' (committed) before the request, then to 'sent' with
-- the value, or to 'void' when the value is unknown (a failed send, or a sender that
-- stopped while the call was in flight). A void spin voids its bet; it is never retried.
ALTER TABLE bot_outbox DROP CONSTRAINT bot_outbox_state_check;
ALTER TABLE bot_outbox ADD CONSTRAINT bot_outbox_state_check
    CHECK (state IN ('pending', 'in_flight', 'sent', 'dead', 'void'));
ALTER TABLE bot_outbox ADD COLUMN spin TEXT;
ALTER TABLE bot_outbox ADD COLUMN spin_value BIGINT;
ALTER TABLE bot_outbox ADD COLUMN spin_settled_at BIGINT;
CREATE INDEX bot_outbox_spins ON bot_outbox (id) WHERE spin IS NOT NULL AND spin_settled_at IS NULL;

-- The current conversation session of each (chat, user): a cache of the session
-- stream's state in the log (the log is the truth: a reader folds the events after
-- `version` on top), and when the player was last active, for the expiry sweeper.
CREATE TABLE bot_sessions (
    chat_id       BIGINT NOT NULL,
    user_id       BIGINT NOT NULL,
    stream        TEXT   NOT NULL,
    version       BIGINT NOT NULL,
    state         TEXT   NOT NULL,
    last_activity BIGINT NOT NULL,
    active        BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX bot_sessions_idle ON bot_sessions (last_activity) WHERE active = 1;
