-- 🎰 spins: a sendDice whose value settles a bet. Such a call is sent at most once: it
-- goes from 'pending' to 'in_flight' (committed) before the request, then to 'sent' with
-- the value, or to 'void' when the value is unknown (a failed send, or a sender that
-- stopped while the call was in flight). A void spin voids its bet; it is never retried.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE bot_outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT   NOT NULL UNIQUE,
    chat_id         BIGINT,
    method          TEXT   NOT NULL,
    params          TEXT   NOT NULL,
    urgent          BIGINT NOT NULL,
    state           TEXT   NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'in_flight', 'sent', 'dead', 'void')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    sent_at         BIGINT,
    last_error      TEXT,
    spin            TEXT,
    spin_value      BIGINT,
    spin_settled_at BIGINT
);
INSERT INTO bot_outbox_new (id, dedupe_key, chat_id, method, params, urgent, state, attempts,
                            created_at, due_at, lease_until, sent_at, last_error)
    SELECT id, dedupe_key, chat_id, method, params, urgent, state, attempts,
           created_at, due_at, lease_until, sent_at, last_error
    FROM bot_outbox;
DROP TABLE bot_outbox;
ALTER TABLE bot_outbox_new RENAME TO bot_outbox;
CREATE INDEX bot_outbox_due ON bot_outbox (due_at) WHERE state = 'pending';
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
