//! Croupier's read side. For now, the auditors' tools: verifying the whole log from
//! genesis and exporting it in readable form. Read models (balances, bets, finance) and
//! their comparison with a replay come with the projections work.

pub mod audit;
pub mod export;
pub mod time;
