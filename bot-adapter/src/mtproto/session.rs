//! The MTProto session grammers keeps between runs, split by what it is:
//!
//! - the session file (`--session-file`): the home datacenter, the datacenters'
//!   addresses and permanent auth keys, the bot's own user and the update state. The
//!   auth key is a credential: the file is written with mode 0600, atomically (a
//!   temporary file renamed over it), and never logged.
//! - the database (`bot_mtproto_peers`): the peers the bot has seen, with their access
//!   hashes. A bot can only address users it has seen; this grows with the players, is
//!   needed by whichever instance sends the outbox, and is no secret.
//!
//! grammers-session's own SQLite storage is not used: it bundles libsql, whose SQLite
//! symbols clash with the SQLite sqlx bundles.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use grammers_session::types::{DcOption, PeerId, PeerInfo, UpdateState, UpdatesState};
use grammers_session::{BoxFuture, Session, SessionData};
use serde::{Deserialize, Serialize};

use crate::db::{BotDb, BotDbError};

/// Why the session could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot read the session file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the session file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the session file {path} is not a Croupier session file: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot keep a peer: {0}")]
    Peers(#[from] BotDbError),
    #[error("a stored peer is unreadable: {0}")]
    Peer(serde_json::Error),
    #[error("the session is poisoned (a thread panicked while holding it)")]
    Poisoned,
}

/// What the session file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SessionFile {
    home_dc: i32,
    dc_options: Vec<DcOption>,
    /// The bot itself, once signed in.
    self_user: Option<PeerInfo>,
    updates_state: UpdatesState,
}

impl Default for SessionFile {
    /// grammers' defaults: its guess of a home datacenter and the known addresses.
    fn default() -> Self {
        let data = SessionData::default();
        let mut dc_options: Vec<DcOption> = data.dc_options.into_values().collect();
        dc_options.sort_by_key(|dc| dc.id);
        Self {
            home_dc: data.home_dc,
            dc_options,
            self_user: None,
            updates_state: UpdatesState::default(),
        }
    }
}

/// grammers' [`Session`], kept in the session file and the database.
pub struct SessionStore {
    path: PathBuf,
    file: Mutex<SessionFile>,
    /// Peers read or written already, so an update's users cost no query when known.
    peers: Mutex<HashMap<PeerId, PeerInfo>>,
    db: BotDb,
}

impl SessionStore {
    /// Opens the session at `path` (a new one when the file does not exist yet).
    pub fn open(path: &Path, db: BotDb) -> Result<Self, SessionError> {
        let file = match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| SessionError::Corrupt {
                    path: path.to_owned(),
                    source,
                })?
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => SessionFile::default(),
            Err(source) => {
                return Err(SessionError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
            peers: Mutex::new(HashMap::new()),
            db,
        })
    }

    fn file(&self) -> Result<MutexGuard<'_, SessionFile>, SessionError> {
        self.file.lock().map_err(|_| SessionError::Poisoned)
    }

    /// Changes the file's contents and writes it, under the lock, so writes keep order.
    fn change(&self, change: impl FnOnce(&mut SessionFile)) -> Result<(), SessionError> {
        let mut file = self.file()?;
        let before = file.clone();
        change(&mut file);
        if *file == before {
            return Ok(());
        }
        write_private(
            &self.path,
            &serde_json::to_vec_pretty(&*file).expect("a session serialises"),
        )
        .map_err(|source| SessionError::Write {
            path: self.path.clone(),
            source,
        })
    }

    async fn stored_peer(&self, peer: PeerId) -> Result<Option<PeerInfo>, SessionError> {
        if let Some(info) = self
            .peers
            .lock()
            .map_err(|_| SessionError::Poisoned)?
            .get(&peer)
        {
            return Ok(Some(info.clone()));
        }
        let Some(id) = peer.bot_api_dialog_id() else {
            return Ok(None);
        };
        let Some(json) = self.db.mtproto_peer(id).await? else {
            return Ok(None);
        };
        let info: PeerInfo = serde_json::from_str(&json).map_err(SessionError::Peer)?;
        self.peers
            .lock()
            .map_err(|_| SessionError::Poisoned)?
            .insert(peer, info.clone());
        Ok(Some(info))
    }
}

/// Writes `bytes` to `path` readable by the owner only, replacing it in one step.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

impl Session for SessionStore {
    type Error = SessionError;

    fn home_dc_id(&self) -> Result<i32, SessionError> {
        Ok(self.file()?.home_dc)
    }

    fn set_home_dc_id(&self, dc_id: i32) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move { self.change(|file| file.home_dc = dc_id) })
    }

    fn dc_option(&self, dc_id: i32) -> Result<Option<DcOption>, SessionError> {
        Ok(self
            .file()?
            .dc_options
            .iter()
            .find(|dc| dc.id == dc_id)
            .cloned())
    }

    fn set_dc_option(&self, dc_option: &DcOption) -> BoxFuture<'_, Result<(), SessionError>> {
        let dc_option = dc_option.clone();
        Box::pin(async move {
            self.change(|file| {
                file.dc_options.retain(|dc| dc.id != dc_option.id);
                file.dc_options.push(dc_option);
                file.dc_options.sort_by_key(|dc| dc.id);
            })
        })
    }

    fn peer(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<PeerInfo>, SessionError>> {
        Box::pin(async move {
            let self_user = self.file()?.self_user.clone();
            if let Some(me) = self_user {
                if peer == PeerId::self_user() || peer == me.id() {
                    return Ok(Some(me));
                }
            } else if peer == PeerId::self_user() {
                return Ok(None);
            }
            self.stored_peer(peer).await
        })
    }

    fn cache_peer(&self, peer: PeerInfo) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            if let PeerInfo::User {
                is_self: Some(true),
                ..
            } = peer
            {
                return self.change(|file| match &mut file.self_user {
                    Some(me) if me.id() == peer.id() => {
                        me.extend_info(&peer);
                    }
                    me => *me = Some(peer),
                });
            }
            let id = peer.id();
            let Some(dialog_id) = id.bot_api_dialog_id() else {
                return Ok(());
            };
            let merged = match self.stored_peer(id).await? {
                Some(mut known) => {
                    let before = known.clone();
                    known.extend_info(&peer);
                    if known == before {
                        return Ok(());
                    }
                    known
                }
                None => peer,
            };
            let json = serde_json::to_string(&merged).expect("a peer serialises");
            self.db.save_mtproto_peer(dialog_id, &json).await?;
            self.peers
                .lock()
                .map_err(|_| SessionError::Poisoned)?
                .insert(id, merged);
            Ok(())
        })
    }

    fn updates_state(&self) -> BoxFuture<'_, Result<UpdatesState, SessionError>> {
        Box::pin(async move { Ok(self.file()?.updates_state.clone()) })
    }

    fn set_update_state(&self, update: UpdateState) -> BoxFuture<'_, Result<(), SessionError>> {
        Box::pin(async move {
            self.change(|file| {
                let state = &mut file.updates_state;
                match update {
                    UpdateState::All(all) => *state = all,
                    UpdateState::Primary { pts, date, seq } => {
                        state.pts = pts;
                        state.date = date;
                        state.seq = seq;
                    }
                    UpdateState::Secondary { qts } => state.qts = qts,
                    UpdateState::Channel { id, pts } => {
                        state.channels.retain(|channel| channel.id != id);
                        state
                            .channels
                            .push(grammers_session::types::ChannelState { id, pts });
                    }
                }
            })
        })
    }
}
