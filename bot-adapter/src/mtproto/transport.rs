//! `croupier serve --transport mtproto`: signs in as the bot with grammers, keeps the
//! session, and feeds the update stream through the same [`Pipeline`] as the webhook.
//!
//! MTProto acknowledges updates by itself; Croupier's durability comes from the update
//! state instead: it is written to the session only when every update received so far
//! has been handled, so after a crash or a stop grammers catches up from before the
//! first unhandled one (message updates only, see the README) and the inbox skips what
//! was handled already.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use grammers_client::client::UpdateStream;
use grammers_client::peer::{Peer, PeerMap};
use grammers_client::{Client, InvocationError};
use grammers_mtsender::{AutoSleep, ConnectionParams, SenderPool, UpdatesConfiguration};
use grammers_session::types::PeerId;
use grammers_session::updates::State;
use grammers_tl_types as tl;
use store::EventStore;
use tokio::sync::watch;
use tokio::time::Instant;

use super::lanes::Lanes;
use super::outlet::MtprotoOutlet;
use super::session::{SessionError, SessionStore};
use super::translate::{chat_of, inbox_id, translate};
use crate::db::BotDb;
use crate::pipeline::Pipeline;

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
    Invocation(#[from] InvocationError),
    #[error("the update stream failed: {0}")]
    Updates(Box<dyn std::error::Error + Send + Sync>),
    #[error("the update stream panicked")]
    Panicked,
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
        Ok::<_, InvocationError>(())
    };
    if let Err(error) = signed_in.await {
        connection.hang_up().await;
        return Err(error.into());
    }
    Ok((connection, Updates(updates)))
}

/// What one fetch gives back: the stream (so that nothing else holds it while it waits)
/// and the next update with the peers that came with it.
type Fetched = (
    UpdateStream,
    Result<(tl::enums::Update, State, PeerMap), InvocationError>,
);

/// Waits for the next update in a task of its own. A fetch is never cancelled while the
/// bot runs: grammers may have taken updates off the wire and moved the update state
/// past them before it hands them over, and a cancelled fetch would lose them.
fn fetch(mut stream: UpdateStream) -> tokio::task::JoinHandle<Fetched> {
    tokio::spawn(async move {
        let next = stream.next_raw().await;
        (stream, next)
    })
}

/// Streams updates into `pipeline` until `stop` turns true, then finishes the inputs in
/// hand (up to `drain`). The connection stays up for the outbox: [`Connection::hang_up`]
/// closes it.
///
/// The update state is saved at most every [`STATE_SYNC_INTERVAL`], between fetches, once
/// every input received so far is handled: a restart catches up on messages from there,
/// and the inbox skips those handled already.
pub async fn run<S: EventStore>(
    pipeline: Pipeline<S>,
    client: &Client,
    updates: Updates,
    chats_parallel_max: usize,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) -> Result<(), MtprotoError> {
    let stream = client
        .stream_updates(updates.0, UpdatesConfiguration { catch_up: true })
        .await
        .map_err(MtprotoError::Updates)?;
    let mut lanes = Lanes::new(chats_parallel_max);
    let mut saved_at = Instant::now();
    let mut fetching = fetch(stream);
    let result = loop {
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            Some(()) = lanes.next_done(), if !lanes.idle() => {}
            fetched = &mut fetching => {
                let Ok((stream, next)) = fetched else {
                    break Err(MtprotoError::Panicked);
                };
                match next {
                    Ok((update, _, peers)) => queue(&pipeline, &mut lanes, &update, &peers),
                    Err(InvocationError::Dropped(reason)) => {
                        break Err(InvocationError::Dropped(reason).into());
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "mtproto: fetching updates failed; retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
                if saved_at.elapsed() >= STATE_SYNC_INTERVAL {
                    if !finish(&mut lanes, &mut stop).await {
                        break Ok(());
                    }
                    if let Err(error) = stream.sync_update_state().await {
                        tracing::warn!(error = %error, "mtproto: cannot save the update state");
                    }
                    saved_at = Instant::now();
                }
                fetching = fetch(stream);
            }
        }
    };
    fetching.abort();
    let deadline = Instant::now() + drain;
    while !lanes.idle() {
        if tokio::time::timeout_at(deadline, lanes.next_done())
            .await
            .is_err()
        {
            tracing::warn!(
                pending = lanes.pending(),
                "mtproto: stopping with inputs unhandled; messages among them are fetched again at the next start"
            );
            break;
        }
    }
    result
}

/// Handles every input in hand; `false` when told to stop first.
async fn finish(lanes: &mut Lanes, stop: &mut watch::Receiver<bool>) -> bool {
    while !lanes.idle() {
        tokio::select! {
            _ = stop.changed() => return false,
            _ = lanes.next_done() => {}
        }
    }
    true
}

/// Translates an update and queues it behind its chat's earlier inputs.
fn queue<S: EventStore>(
    pipeline: &Pipeline<S>,
    lanes: &mut Lanes,
    update: &tl::enums::Update,
    peers: &PeerMap,
) {
    let is_bot = |user: i64| {
        PeerId::user(user)
            .and_then(|id| peers.get(id))
            .is_some_and(|peer| matches!(peer, Peer::User(user) if user.is_bot()))
    };
    let input = translate(update, &is_bot);
    let (Some(origin), Some(chat)) = (input.origin(), chat_of(&input)) else {
        tracing::debug!(?input, "mtproto: update ignored");
        return;
    };
    let pipeline = pipeline.clone();
    let inbox = inbox_id(&origin);
    lanes.push(
        chat,
        Box::pin(async move {
            // Nothing redelivers an MTProto update: retry until it is recorded.
            while let Err(error) = pipeline.process_input(inbox, &input).await {
                if error.transient() {
                    tracing::warn!(error = %error, origin = %origin, "mtproto: input not processed; retrying");
                } else {
                    tracing::error!(error = %error, origin = %origin, "mtproto: input cannot be processed until this is mended; retrying");
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }),
    );
}
