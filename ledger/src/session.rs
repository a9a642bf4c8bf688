//! Conversation sessions: what a player is doing with the bot in one chat, as events in
//! the session's own stream (`session-{chat}-{player}-{n}`, `n` counting that pair's
//! sessions from 1). No money moves here; the bets a session records are copies of
//! settled ledger bets, for the `sessions` read model.
//!
//! A session starts at the first input after the last one ended, moves through the
//! `/play` flow, counts the bets settled while it lasts (the play session runs from the
//! first of them), and ends when a sweeper finds it idle and records the expiry.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::id::Timestamp;

/// Where a player is in the `/play` flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Flow {
    #[default]
    Idle,
    ChoosingGame,
    /// `game` as the bot names it: `coinflip:heads`, `dice:50`, `slots`.
    ChoosingStake {
        game: String,
    },
    Confirming {
        game: String,
        stake: Decimal,
    },
}

impl Flow {
    /// The step's name, as the read model shows it.
    pub fn step(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::ChoosingGame => "choosing_game",
            Self::ChoosingStake { .. } => "choosing_stake",
            Self::Confirming { .. } => "confirming",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStarted {
    pub chat: i64,
    pub player: i64,
    pub at: Timestamp,
}

/// The flow moved, because of the input `cause` (its origin, such as `cb:123`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMoved {
    pub from: Flow,
    pub to: Flow,
    pub cause: String,
    pub at: Timestamp,
}

/// A bet settled while the session lasted (XTR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionBet {
    pub bet_id: String,
    pub game: String,
    pub stake: Decimal,
    pub payout: Decimal,
    pub at: Timestamp,
}

/// The sweeper found the session idle since `last_activity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionExpired {
    pub last_activity: Timestamp,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    Started(SessionStarted),
    Moved(SessionMoved),
    Bet(SessionBet),
    Expired(SessionExpired),
}

impl SessionEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Started(_) => "session_started",
            Self::Moved(_) => "session_moved",
            Self::Bet(_) => "session_bet",
            Self::Expired(_) => "session_expired",
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            Self::Started(e) => e.at,
            Self::Moved(e) => e.at,
            Self::Bet(e) => e.at,
            Self::Expired(e) => e.at,
        }
    }
}

/// How many recent inputs a session remembers, to handle a redelivered one from the
/// state it first found.
pub const SEEN_MAX: usize = 16;

/// A session folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub stream: String,
    /// The number of events folded in.
    pub version: u64,
    pub chat: i64,
    pub player: i64,
    pub flow: Flow,
    pub started_at: Timestamp,
    pub expired: bool,
    /// The flow each recent input found, newest last.
    pub seen: Vec<(String, Flow)>,
    /// Bets recorded, so a settlement seen twice is counted once.
    pub bets: BTreeSet<String>,
    /// The latest bets recorded, newest last: what a second press of a button already
    /// played is answered from.
    #[serde(default)]
    pub recent: Vec<SessionBet>,
}

impl SessionState {
    /// An empty session of `stream`, before its first event.
    pub fn new(stream: &str) -> Self {
        Self {
            stream: stream.to_owned(),
            version: 0,
            chat: 0,
            player: 0,
            flow: Flow::Idle,
            started_at: Timestamp::default(),
            expired: false,
            seen: Vec::new(),
            bets: BTreeSet::new(),
            recent: Vec::new(),
        }
    }

    pub fn apply(&mut self, event: &SessionEvent) {
        self.version += 1;
        match event {
            SessionEvent::Started(e) => {
                self.chat = e.chat;
                self.player = e.player;
                self.started_at = e.at;
            }
            SessionEvent::Moved(e) => {
                self.seen.push((e.cause.clone(), e.from.clone()));
                if self.seen.len() > SEEN_MAX {
                    self.seen.remove(0);
                }
                self.flow = e.to.clone();
            }
            SessionEvent::Bet(e) => {
                self.bets.insert(e.bet_id.clone());
                self.recent.push(e.clone());
                if self.recent.len() > SEEN_MAX {
                    self.recent.remove(0);
                }
            }
            SessionEvent::Expired(_) => self.expired = true,
        }
    }

    /// The flow a redelivered input first found, if it moved the flow.
    pub fn found_by(&self, cause: &str) -> Option<&Flow> {
        self.seen
            .iter()
            .rev()
            .find(|(seen, _)| seen == cause)
            .map(|(_, flow)| flow)
    }

    /// The input that last confirmed a `/play` round and what it confirmed, when the
    /// flow has not moved since (it is idle after it): a second press of the same
    /// button is answered from it.
    pub fn last_confirmed(&self) -> Option<(&str, &str, Decimal)> {
        if self.flow != Flow::Idle {
            return None;
        }
        match self.seen.last() {
            Some((cause, Flow::Confirming { game, stake })) => Some((cause, game, *stake)),
            _ => None,
        }
    }

    /// A bet recorded lately, by id.
    pub fn recent_bet(&self, bet_id: &str) -> Option<&SessionBet> {
        self.recent.iter().rev().find(|bet| bet.bet_id == bet_id)
    }

    /// The number of this session among its (chat, player)'s sessions.
    pub fn number(&self) -> u64 {
        parse_stream(&self.stream).map_or(0, |(_, _, n)| n)
    }
}

/// `session-{chat}-{player}-{n}`. A chat id may be negative.
pub fn stream_of(chat: i64, player: i64, n: u64) -> String {
    format!("session-{chat}-{player}-{n}")
}

/// `(chat, player, n)` of a session stream.
pub fn parse_stream(stream: &str) -> Option<(i64, i64, u64)> {
    let rest = stream.strip_prefix("session-")?;
    let (rest, n) = rest.rsplit_once('-')?;
    let (chat, player) = rest.rsplit_once('-')?;
    Some((chat.parse().ok()?, player.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_read_back_with_negative_chats() {
        assert_eq!(
            parse_stream(&stream_of(-100_123, 7, 3)),
            Some((-100_123, 7, 3))
        );
        assert_eq!(parse_stream(&stream_of(7, 7, 1)), Some((7, 7, 1)));
        assert_eq!(parse_stream("player-7"), None);
        assert_eq!(parse_stream("session-x-7-1"), None);
    }

    #[test]
    fn a_session_remembers_what_each_input_found_and_each_bet_once() {
        let mut state = SessionState::new("session-1-1-1");
        let at = Timestamp::from_micros(1);
        state.apply(&SessionEvent::Started(SessionStarted {
            chat: 1,
            player: 1,
            at,
        }));
        state.apply(&SessionEvent::Moved(SessionMoved {
            from: Flow::Idle,
            to: Flow::ChoosingGame,
            cause: "m:1:5".to_owned(),
            at,
        }));
        assert_eq!(state.flow, Flow::ChoosingGame);
        assert_eq!(state.found_by("m:1:5"), Some(&Flow::Idle));
        assert_eq!(state.found_by("m:1:6"), None);
        assert_eq!(state.version, 2);
        assert_eq!(state.number(), 1);
    }
}
