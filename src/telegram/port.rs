//! The adapter's [`Port`] over the real ledger: commands go to the process's group-commit
//! writer, reads come from the player's stream, fair seeds and players from [`BotDb`].

use std::collections::BTreeMap;

use bot_adapter::bot::show;
use bot_adapter::port::{FairState, HistoryLine, Port, PortError, Rotated, Round, Verdict};
use ledger::command::Request;
use ledger::{Event, PlayerId};
use store::{codec, player, EventStore, GroupCommit, OutcomeKind, Submission};

use super::db::{BotDb, BotDbError};

/// Connects the adapter's core to one database.
#[derive(Clone)]
pub struct LedgerPort<S> {
    pub store: S,
    pub writer: GroupCommit,
    pub db: BotDb,
}

fn port_error(error: impl std::fmt::Display) -> PortError {
    PortError(error.to_string())
}

impl From<BotDbError> for PortError {
    fn from(error: BotDbError) -> Self {
        port_error(error)
    }
}

impl<S: EventStore> Port for LedgerPort<S> {
    async fn submit(&self, request: Request, causation: &str) -> Result<Verdict, PortError> {
        let mut submission = Submission::new(request);
        submission.causation = Some(causation.to_owned());
        submission.actor = Some("bot".to_owned());
        let outcome = self
            .writer
            .submit(submission)
            .await
            .map_err(|e| port_error(format!("{e:#}")))?;
        Ok(match outcome.kind {
            OutcomeKind::Accepted => Verdict::Accepted {
                replayed: outcome.replayed,
                balances: outcome.balances,
            },
            OutcomeKind::Rejected { code, message } => Verdict::Rejected {
                code,
                message,
                balances: outcome.balances,
            },
            OutcomeKind::Conflict { field } => Verdict::Conflict { field },
        })
    }

    async fn balances(&self, player: PlayerId) -> Result<BTreeMap<String, String>, PortError> {
        let state = player::load(&self.store, player)
            .await
            .map_err(port_error)?;
        Ok(state
            .cash
            .iter()
            .map(|(currency, amount)| (currency.to_string(), amount.to_string()))
            .collect())
    }

    async fn history(&self, player: PlayerId, limit: usize) -> Result<Vec<HistoryLine>, PortError> {
        let events = self
            .store
            .read_stream(&player::stream_of(player), 0)
            .await
            .map_err(port_error)?;
        let mut lines = Vec::new();
        for stored in events.iter().rev().take(limit) {
            let event = codec::decode(&stored.event_type, stored.schema_version, &stored.payload)
                .map_err(port_error)?;
            let text = match &event {
                Event::Deposited(e) => format!(
                    "+{} deposit",
                    show(&e.amount.to_string(), e.currency.as_str())
                ),
                Event::BetPlaced(e) => format!(
                    "−{} {} bet {}",
                    show(&e.stake.to_string(), e.currency.as_str()),
                    e.game,
                    e.bet_id
                ),
                Event::BetSettled(e) => format!(
                    "+{} settled {}",
                    show(&e.payout.to_string(), e.currency.as_str()),
                    e.bet_id
                ),
                Event::BetVoided(e) => format!(
                    "+{} voided {} ({})",
                    show(&e.stake.to_string(), e.currency.as_str()),
                    e.bet_id,
                    e.reason
                ),
                Event::DepositRefunded(e) => format!(
                    "−{} refund",
                    show(&e.amount.to_string(), e.currency.as_str())
                ),
                Event::Adjusted(e) => format!(
                    "{} adjustment ({})",
                    show(&e.amount.to_string(), e.currency.as_str()),
                    e.reason
                ),
            };
            lines.push(HistoryLine { text });
        }
        Ok(lines)
    }

    async fn register(&self, player: PlayerId, chat: i64) -> Result<bool, PortError> {
        Ok(self.db.register(player.get(), chat).await?)
    }

    async fn fair_state(&self, player: PlayerId) -> Result<FairState, PortError> {
        Ok(self.db.fair_state(player.get()).await?)
    }

    async fn fair_round(
        &self,
        player: PlayerId,
        bet: &str,
        terms: &str,
    ) -> Result<Round, PortError> {
        Ok(self.db.fair_round(player.get(), bet, terms).await?)
    }

    async fn set_client_seed(
        &self,
        player: PlayerId,
        client_seed: &str,
    ) -> Result<FairState, PortError> {
        Ok(self.db.set_client_seed(player.get(), client_seed).await?)
    }

    async fn rotate_seed(&self, player: PlayerId) -> Result<Rotated, PortError> {
        Ok(self.db.rotate_seed(player.get()).await?)
    }
}
