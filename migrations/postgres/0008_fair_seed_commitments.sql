-- Fairness is in the log: a seed's commitment (`fair_seed_committed`) and its reveal
-- (`fair_seed_revealed`) are ledger events. `committed_at` caches that this seed's
-- commitment is in the log, so it is submitted once; NULL (every seed written before
-- this migration) means "not known to be committed": it is committed before it is next
-- used or shown.
ALTER TABLE bot_fair_seeds ADD COLUMN committed_at BIGINT;
