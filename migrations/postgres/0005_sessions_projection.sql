-- The `sessions` read model: one row per conversation session (a `session-...` stream),
-- with its play session's counts (from the first settled bet; XTR amounts as decimal
-- strings).
CREATE TABLE proj_sessions (
    stream           TEXT   PRIMARY KEY,
    chat_id          BIGINT NOT NULL,
    player           BIGINT NOT NULL,
    number           BIGINT NOT NULL,
    -- The /play flow's step: idle, choosing_game, choosing_stake, confirming.
    state            TEXT   NOT NULL,
    -- active, or expired.
    status           TEXT   NOT NULL,
    started_at       BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    ended_at         BIGINT,
    play_started_at  BIGINT,
    bets             BIGINT NOT NULL,
    wagered          TEXT   NOT NULL,
    won              TEXT   NOT NULL,
    started_position BIGINT NOT NULL,
    last_position    BIGINT NOT NULL
);

-- No session events exist before this migration, so the new projection starts level
-- with the others.
INSERT INTO projection_checkpoints (name, position, updated_at)
    SELECT 'sessions', COALESCE(MIN(position), 0), 0 FROM projection_checkpoints;
