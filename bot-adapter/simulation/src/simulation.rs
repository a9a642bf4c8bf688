//! The real bot against an in-process fake Telegram, for `croupier demo` and `croupier
//! chat`: the pipeline a webhook feeds, the real ledger on the configured database, and a
//! dispatcher that hands the bot's calls to the fake at once. [`Updates`] numbers the
//! updates simulated players send.

use std::time::Duration;

use crate::fake::FakeTelegram;
use crate::updates;
use bot_adapter::db::{BotDb, BotDbError};
use bot_adapter::dispatcher::{self, Limits};
use bot_adapter::limit::RateLimit;
use bot_adapter::pipeline::{self, Pipeline};
use serde_json::Value;
use store::EventStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The simulated bot's token (its invoices are signed with a key derived from it).
pub const TOKEN: &str = "1:demo";

/// Why a simulation could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    #[error("cannot start the fake Telegram")]
    Fake(#[source] std::io::Error),
    #[error("the dispatcher panicked")]
    DispatcherPanicked,
    #[error(transparent)]
    Bot(#[from] BotDbError),
}

/// The bot, its fake Telegram and the dispatcher between them.
pub struct Simulation<S> {
    pub fake: FakeTelegram,
    pub pipeline: Pipeline<S>,
    pub db: BotDb,
    stop: watch::Sender<bool>,
    dispatching: JoinHandle<Result<(), BotDbError>>,
}

impl<S: EventStore> Simulation<S> {
    /// Starts the fake and the dispatcher. Players are not rate-limited, and the fake
    /// answers at once, so nothing keeps Telegram's pace but `chat_interval`, the gap
    /// between two messages to one chat.
    pub async fn start(
        store: S,
        db: BotDb,
        chat_interval: Duration,
    ) -> Result<Self, SimulationError> {
        let fake = FakeTelegram::start(TOKEN)
            .await
            .map_err(SimulationError::Fake)?;
        let pipeline = Pipeline::start(
            store,
            db.clone(),
            pipeline::bot(TOKEN),
            RateLimit::new(u32::MAX, u32::MAX),
        );
        let limits = Limits {
            global_per_s: 100_000,
            chat_interval,
            claim_size: 500,
            ..Limits::default()
        };
        let (stop, stop_rx) = watch::channel(false);
        let dispatcher = pipeline.dispatcher(
            dispatcher::api(&fake.url(), TOKEN, Duration::from_secs(10)),
            limits,
        );
        let dispatching = tokio::spawn(dispatcher.run(stop_rx, Duration::from_secs(30)));
        Ok(Self {
            fake,
            pipeline,
            db,
            stop,
            dispatching,
        })
    }

    /// Lets the dispatcher send what is queued (for up to 30 s), then closes the bot's
    /// tables.
    pub async fn stop(self) -> Result<(), SimulationError> {
        let _ = self.stop.send(true);
        self.dispatching
            .await
            .map_err(|_| SimulationError::DispatcherPanicked)??;
        self.db.close().await;
        Ok(())
    }
}

/// Updates from simulated players in their private chats, as [`crate::updates`] writes
/// them, numbered: update ids (and message ids, equal to them) start above any recorded,
/// so that runs can repeat on one database.
pub struct Updates {
    last: i64,
}

impl Updates {
    pub async fn after_recorded(db: &BotDb) -> Result<Self, BotDbError> {
        Ok(Self {
            last: db.last_update_id().await?,
        })
    }

    fn next(&mut self) -> i64 {
        self.last += 1;
        self.last
    }

    /// A message from `player`; `content` holds the message's own fields (`text`,
    /// `successful_payment`, ...).
    pub fn message(&mut self, player: u64, content: Value) -> String {
        let id = self.next();
        updates::message(id, id, player, content).to_string()
    }

    /// `player` has paid `payment`.
    pub fn paid(&mut self, player: u64, payment: &updates::Payment) -> String {
        let id = self.next();
        updates::successful_payment(id, id, player, payment).to_string()
    }

    /// `payment` was refunded to `player`.
    pub fn refunded(&mut self, player: u64, payment: &updates::Payment) -> String {
        let id = self.next();
        updates::refunded_payment(id, id, player, payment).to_string()
    }

    /// `player` presses a button with `data` under the bot's message `message_id`.
    pub fn callback(&mut self, player: u64, message_id: i64, data: &str) -> String {
        let id = self.next();
        updates::callback(id, message_id, player, data).to_string()
    }

    /// `player` confirms paying an invoice; the query's id is `pcq-UPDATE_ID`.
    pub fn pre_checkout(
        &mut self,
        player: u64,
        currency: &str,
        total_amount: u64,
        payload: &str,
    ) -> (String, String) {
        let id = self.next();
        let update = updates::pre_checkout(id, player, currency, total_amount, payload);
        let query = update["pre_checkout_query"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (update.to_string(), query)
    }
}
