//! `croupier serve --transport mtproto`: signs in as the bot with grammers, keeps the
//! session, and feeds the update stream through the same [`Pipeline`] as the webhook.
//!
//! MTProto acknowledges updates by itself; Croupier's durability comes from the update
//! state instead: it is written to the session only when every update received so far
//! has been handled, so after a crash grammers catches up from before the first
//! unhandled one (message updates only, see the README) and the inbox skips what was
//! handled already.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use grammers_client::Client;
use grammers_mtsender::{AutoSleep, ConnectionParams, SenderPool, UpdatesConfiguration};
use grammers_session::types::PeerId;
use store::EventStore;
use tokio::sync::watch;

use super::lanes::Lanes;
use super::outlet::MtprotoOutlet;
use super::session::{SessionError, SessionStore};
use super::translate::{chat_of, inbox_id, translate};
use crate::telegram::db::BotDb;
use crate::telegram::pipeline::Pipeline;

/// What the MTProto transport needs.
pub struct Settings {
    /// From my.telegram.org.
    pub api_id: i32,
    /// From my.telegram.org. Never printed or logged.
    pub api_hash: String,
    /// The bot's token. Never printed or logged.
    pub token: String,
    pub session_file: PathBuf,
}

/// How long the update state may lag behind when the bot is busy without pause.
const STATE_SYNC_INTERVAL: Duration = Duration::from_secs(10);
/// Updates buffered between the connection and the update loop. grammers drops updates
/// when this is full; the loop only queues them, so it stays far from full.
const UPDATES_BUFFERED_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum MtprotoError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot reach Telegram over MTProto: {0}")]
    Invocation(#[from] grammers_client::InvocationError),
    #[error("the update stream failed: {0}")]
    Updates(Box<dyn std::error::Error + Send + Sync>),
}

/// A signed-in bot: its client and session, and the task that drives the connection.
pub struct Connection {
    pub client: Client,
    pub session: Arc<SessionStore>,
    runner: tokio::task::JoinHandle<()>,
    pool: grammers_mtsender::SenderPoolFatHandle,
}

/// The connection's update channel, for [`run`].
pub struct Updates(tokio::sync::mpsc::Receiver<grammers_session::updates::UpdatesLike>);

impl Connection {
    /// The outbox's sender over this connection.
    pub fn outlet(&self) -> MtprotoOutlet {
        MtprotoOutlet {
            client: self.client.clone(),
            session: self.session.clone(),
        }
    }

    /// Closes the connection, after the update loop and the outbox are done with it.
    pub async fn hang_up(self) {
        self.pool.quit();
        let _ = self.runner.await;
    }
}

/// Connects and signs in as the bot unless the session already is.
pub async fn connect(
    settings: &Settings,
    db: BotDb,
) -> Result<(Connection, Updates), MtprotoError> {
    let session = Arc::new(SessionStore::open(&settings.session_file, db)?);
    let params = ConnectionParams {
        // FLOOD_WAIT is the dispatcher's to honour, like a 429: grammers only retries a
        // dropped connection once.
        retry_policy: Box::new(AutoSleep {
            tries: NonZeroU32::MIN,
            threshold: Duration::ZERO,
            io_errors_as_flood_of: Some(Duration::from_secs(1)),
        }),
        updates_channel_capacity: NonZeroUsize::new(UPDATES_BUFFERED_MAX)
            .expect("the capacity is not zero"),
        ..ConnectionParams::default()
    };
    let SenderPool {
        runner,
        handle,
        updates,
    } = SenderPool::with_configuration(session.clone(), settings.api_id, params);
    let client = Client::new(handle.clone());
    let runner = tokio::spawn(runner.run());
    let connection = Connection {
        client,
        session,
        runner,
        pool: handle,
    };
    let signed_in = async {
        if !connection.client.is_authorized().await? {
            tracing::info!("mtproto: signing in as the bot");
            connection
                .client
                .bot_sign_in(&settings.token, &settings.api_hash)
                .await?;
        }
        Ok::<_, grammers_client::InvocationError>(())
    };
    if let Err(error) = signed_in.await {
        connection.hang_up().await;
        return Err(error.into());
    }
    Ok((connection, Updates(updates)))
}

/// Streams updates into `pipeline` until `stop` turns true, then finishes the inputs in
/// hand (up to `drain`) and saves the update state if they all were handled. The
/// connection stays up for the outbox: [`Connection::hang_up`] closes it.
pub async fn run<S: EventStore>(
    pipeline: Pipeline<S>,
    client: &Client,
    updates: Updates,
    chats_parallel_max: usize,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) -> Result<(), MtprotoError> {
    let mut stream = client
        .stream_updates(updates.0, UpdatesConfiguration { catch_up: true })
        .await
        .map_err(MtprotoError::Updates)?;
    let mut lanes = Lanes::new(chats_parallel_max);
    let mut sync = tokio::time::interval(STATE_SYNC_INTERVAL);
    let result = loop {
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            Some(()) = lanes.next_done(), if !lanes.idle() => {}
            _ = sync.tick() => {
                // Only when all that was received is handled: the state is where a
                // restart catches up from.
                if lanes.idle() {
                    if let Err(error) = stream.sync_update_state().await {
                        tracing::warn!(error = %error, "mtproto: cannot save the update state");
                    }
                }
            }
            next = stream.next_raw() => match next {
                Ok((update, _state, peers)) => {
                    let is_bot = |user: i64| {
                        PeerId::user(user)
                            .and_then(|id| peers.get(id))
                            .is_some_and(|peer| matches!(peer, grammers_client::peer::Peer::User(u) if u.is_bot()))
                    };
                    let input = translate(&update, &is_bot);
                    let (Some(origin), Some(chat)) = (input.origin(), chat_of(&input)) else {
                        tracing::debug!(?input, "mtproto: update ignored");
                        continue;
                    };
                    let pipeline = pipeline.clone();
                    let inbox = inbox_id(&origin);
                    lanes.push(chat, Box::pin(async move {
                        // Nothing redelivers an MTProto update: retry until it is recorded.
                        while let Err(error) = pipeline.process_input(inbox, &input).await {
                            tracing::warn!(error = %error, origin = %origin, "mtproto: input not processed; retrying");
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                    }));
                }
                Err(grammers_client::InvocationError::Dropped(reason)) => {
                    break Err(MtprotoError::Invocation(grammers_client::InvocationError::Dropped(reason)));
                }
                Err(error) => {
                    tracing::warn!(error = %error, "mtproto: fetching updates failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            },
        }
    };
    let deadline = tokio::time::Instant::now() + drain;
    while !lanes.idle() {
        if tokio::time::timeout_at(deadline, lanes.next_done())
            .await
            .is_err()
        {
            break;
        }
    }
    if lanes.idle() {
        if let Err(error) = stream.sync_update_state().await {
            tracing::warn!(error = %error, "mtproto: cannot save the update state");
        }
    } else {
        tracing::warn!(
            pending = lanes.pending(),
            "mtproto: stopping with inputs unhandled; the update state is not saved, so messages are fetched again at the next start"
        );
    }
    result
}
