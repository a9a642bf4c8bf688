//! Ledger events to and from stored payloads: MessagePack with field names, so fields can
//! be added without breaking old events. Each type has a schema version (all are at 1
//! today); when one changes, its older versions will be upcast here when read, and a
//! version this build does not know is refused, never guessed at.
//!
//! An optional field added with a name is not a change of version: `bet_placed.fair`
//! and `bet_settled.roll` are left out of the payload when absent (so every event
//! written before them keeps its bytes and its hash), read as absent from an old event
//! (serde's default), and ignored by an older build, which reads the event's money as
//! before. A version is bumped only when an old payload would mean something else under
//! the new shape (a field renamed, retyped or given a new meaning): then the old version
//! is read into its old struct here and upcast.

use ledger::event::{
    Adjusted, BetPlaced, BetSettled, BetVoided, DepositRefunded, Deposited, FairSeedCommitted,
    FairSeedRevealed, RefundConfirmed, RefundNoted, RefundRequested, RefundReversed,
    SubscriptionPaid, SubscriptionRefunded,
};
use ledger::session::SessionEvent;
use ledger::Event;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::event::{Metadata, NewEvent};

/// The schema version every ledger event type is written at today.
pub const SCHEMA_VERSION: u16 = 1;

/// Why a payload could not be read as a ledger event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type '{0}'")]
    UnknownType(String),
    #[error("{event_type} has schema version {version}, which this build does not know (newest: {SCHEMA_VERSION})")]
    UnknownVersion { event_type: String, version: u16 },
    #[error("{event_type} v{version} payload: {source}")]
    Payload {
        event_type: String,
        version: u16,
        source: rmp_serde::decode::Error,
    },
}

/// The stored form of an event: type, schema version and payload.
pub fn encode(event: &Event) -> (&'static str, u16, Vec<u8>) {
    let payload = match event {
        Event::Deposited(e) => to_bytes(e),
        Event::BetPlaced(e) => to_bytes(e),
        Event::BetSettled(e) => to_bytes(e),
        Event::BetVoided(e) => to_bytes(e),
        Event::DepositRefunded(e) => to_bytes(e),
        Event::Adjusted(e) => to_bytes(e),
        Event::SubscriptionPaid(e) => to_bytes(e),
        Event::SubscriptionRefunded(e) => to_bytes(e),
        Event::FairSeedCommitted(e) => to_bytes(e),
        Event::FairSeedRevealed(e) => to_bytes(e),
        Event::RefundNoted(e) => to_bytes(e),
        Event::RefundRequested(e) => to_bytes(e),
        Event::RefundConfirmed(e) => to_bytes(e),
        Event::RefundReversed(e) => to_bytes(e),
    };
    (event.event_type(), SCHEMA_VERSION, payload)
}

/// Reads a stored payload, upcasting older schema versions.
pub fn decode(event_type: &str, version: u16, payload: &[u8]) -> Result<Event, DecodeError> {
    known_version(event_type, version)?;
    // Version 1 is the first of every type. When a type changes, its older versions are
    // read into their old struct here and converted, so the rest of the code sees only
    // the newest shape.
    Ok(match event_type {
        "deposited" => Event::Deposited(from_bytes::<Deposited>(event_type, version, payload)?),
        "bet_placed" => Event::BetPlaced(from_bytes::<BetPlaced>(event_type, version, payload)?),
        "bet_settled" => Event::BetSettled(from_bytes::<BetSettled>(event_type, version, payload)?),
        "bet_voided" => Event::BetVoided(from_bytes::<BetVoided>(event_type, version, payload)?),
        "deposit_refunded" => {
            Event::DepositRefunded(from_bytes::<DepositRefunded>(event_type, version, payload)?)
        }
        "adjusted" => Event::Adjusted(from_bytes::<Adjusted>(event_type, version, payload)?),
        "subscription_paid" => Event::SubscriptionPaid(from_bytes::<SubscriptionPaid>(
            event_type, version, payload,
        )?),
        "subscription_refunded" => Event::SubscriptionRefunded(from_bytes::<SubscriptionRefunded>(
            event_type, version, payload,
        )?),
        "fair_seed_committed" => Event::FairSeedCommitted(from_bytes::<FairSeedCommitted>(
            event_type, version, payload,
        )?),
        "fair_seed_revealed" => Event::FairSeedRevealed(from_bytes::<FairSeedRevealed>(
            event_type, version, payload,
        )?),
        "refund_noted" => {
            Event::RefundNoted(from_bytes::<RefundNoted>(event_type, version, payload)?)
        }
        "refund_requested" => {
            Event::RefundRequested(from_bytes::<RefundRequested>(event_type, version, payload)?)
        }
        "refund_confirmed" => {
            Event::RefundConfirmed(from_bytes::<RefundConfirmed>(event_type, version, payload)?)
        }
        "refund_reversed" => {
            Event::RefundReversed(from_bytes::<RefundReversed>(event_type, version, payload)?)
        }
        other => return Err(DecodeError::UnknownType(other.to_owned())),
    })
}

/// The stored form of a session event (see `ledger::session`).
pub fn encode_session(event: &SessionEvent) -> NewEvent {
    let payload = match event {
        SessionEvent::Started(e) => to_bytes(e),
        SessionEvent::Moved(e) => to_bytes(e),
        SessionEvent::Bet(e) => to_bytes(e),
        SessionEvent::Expired(e) => to_bytes(e),
    };
    NewEvent {
        event_type: event.event_type().to_owned(),
        schema_version: SCHEMA_VERSION,
        payload,
        metadata: Metadata {
            actor: Some("bot".to_owned()),
            ..Metadata::default()
        },
    }
}

/// Reads a stored session event.
pub fn decode_session(
    event_type: &str,
    version: u16,
    payload: &[u8],
) -> Result<SessionEvent, DecodeError> {
    known_version(event_type, version)?;
    Ok(match event_type {
        "session_started" => SessionEvent::Started(from_bytes(event_type, version, payload)?),
        "session_moved" => SessionEvent::Moved(from_bytes(event_type, version, payload)?),
        "session_bet" => SessionEvent::Bet(from_bytes(event_type, version, payload)?),
        "session_expired" => SessionEvent::Expired(from_bytes(event_type, version, payload)?),
        other => return Err(DecodeError::UnknownType(other.to_owned())),
    })
}

/// A schema version this build can read (1 up to [`SCHEMA_VERSION`]).
fn known_version(event_type: &str, version: u16) -> Result<(), DecodeError> {
    if version == 0 || version > SCHEMA_VERSION {
        return Err(DecodeError::UnknownVersion {
            event_type: event_type.to_owned(),
            version,
        });
    }
    Ok(())
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("ledger events always encode")
}

fn from_bytes<T: DeserializeOwned>(
    event_type: &str,
    version: u16,
    payload: &[u8],
) -> Result<T, DecodeError> {
    rmp_serde::from_slice(payload).map_err(|source| DecodeError::Payload {
        event_type: event_type.to_owned(),
        version,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::wire::parse_command;
    use ledger::{Ledger, PlayerId, PlayerState, Timestamp};

    fn deposited() -> Event {
        let request = parse_command(
            r#"{"type":"deposit","idempotency_key":"k","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"ch"}"#,
        )
        .unwrap();
        let state = PlayerState::new(PlayerId::new(7).unwrap());
        Ledger::default()
            .decide(&state, &request.command, Timestamp::from_micros(5))
            .unwrap()
            .remove(0)
    }

    #[test]
    fn payloads_are_maps_with_field_names_and_decimal_strings() {
        let (event_type, version, payload) = encode(&deposited());
        assert_eq!((event_type, version), ("deposited", 1));
        let value: serde_json::Value = rmp_serde::from_slice(&payload).unwrap();
        assert_eq!(value["amount"], "100");
        assert_eq!(value["external_ref"], "ch");
        assert_eq!(value["postings"][1]["account"], "player:7:cash");
        assert_eq!(decode(event_type, version, &payload).unwrap(), deposited());
    }

    #[test]
    fn fields_added_later_do_not_break_reading() {
        let (_, _, payload) = encode(&deposited());
        let mut value: serde_json::Value = rmp_serde::from_slice(&payload).unwrap();
        value["added_in_a_later_release"] = serde_json::json!("ignored by this build");
        let widened = rmp_serde::to_vec_named(&value).unwrap();
        assert_eq!(decode("deposited", 1, &widened).unwrap(), deposited());
    }

    fn decided(state: &mut PlayerState, line: &str) -> Event {
        let request = parse_command(line).unwrap();
        let event = Ledger::default()
            .decide(state, &request.command, Timestamp::from_micros(5))
            .unwrap()
            .remove(0);
        state.apply(&event);
        event
    }

    #[test]
    fn fair_events_and_fields_round_trip() {
        let seed = [3u8; 32];
        let hash = ledger::fair::seed_hash(&seed);
        let mut state = PlayerState::new(PlayerId::new(7).unwrap());
        let lines = [
            r#"{"type":"deposit","idempotency_key":"k1","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"ch"}"#.to_owned(),
            format!(r#"{{"type":"commit_fair_seed","idempotency_key":"k2","player":7,"seed_hash":"{hash}"}}"#),
            format!(r#"{{"type":"place_bet","idempotency_key":"k3","player":7,"bet_id":"b","game":"dice","stake":"10","currency":"XTR","fair":{{"seed_hash":"{hash}","client_seed":"c","nonce":0,"terms":"dice:50:200"}}}}"#),
        ];
        let mut events: Vec<Event> = lines.iter().map(|l| decided(&mut state, l)).collect();
        let roll = ledger::fair::roll(&seed, "c", 0);
        let payout = ledger::fair::Terms::parse("dice:50:200")
            .unwrap()
            .outcome("10".parse().unwrap(), roll, 0)
            .payout;
        events.push(decided(
            &mut state,
            &format!(r#"{{"type":"settle_bet","idempotency_key":"k4","player":7,"bet_id":"b","payout":"{payout}","roll":{roll}}}"#),
        ));
        events.push(decided(
            &mut state,
            &format!(r#"{{"type":"reveal_fair_seed","idempotency_key":"k5","player":7,"seed_hash":"{hash}","seed":"{}"}}"#, hex::encode(seed)),
        ));
        for event in &events {
            let (event_type, version, payload) = encode(event);
            assert_eq!(version, 1);
            assert_eq!(&decode(event_type, version, &payload).unwrap(), event);
        }
        let (_, _, placed) = encode(&events[2]);
        let value: serde_json::Value = rmp_serde::from_slice(&placed).unwrap();
        assert_eq!(value["fair"]["seed_hash"], hash.as_str());
        assert_eq!(value["fair"]["nonce"], 0);
        assert_eq!(value["fair"]["terms"], "dice:50:200");
        let (_, _, settled) = encode(&events[3]);
        let value: serde_json::Value = rmp_serde::from_slice(&settled).unwrap();
        assert_eq!(value["roll"], roll);
    }

    /// `bet_placed` and `bet_settled` as they were before fairness entered the log.
    #[derive(serde::Serialize)]
    struct OldBetPlaced {
        player: PlayerId,
        bet_id: ledger::BetId,
        game: ledger::GameId,
        stake: rust_decimal::Decimal,
        currency: ledger::CurrencyCode,
        at: Timestamp,
        postings: Vec<ledger::Posting>,
    }

    #[derive(serde::Serialize)]
    struct OldBetSettled {
        player: PlayerId,
        bet_id: ledger::BetId,
        stake: rust_decimal::Decimal,
        payout: rust_decimal::Decimal,
        currency: ledger::CurrencyCode,
        at: Timestamp,
        postings: Vec<ledger::Posting>,
    }

    #[test]
    fn an_old_bet_without_fair_fields_reads_as_absent_and_keeps_its_bytes() {
        let mut state = PlayerState::new(PlayerId::new(7).unwrap());
        decided(
            &mut state,
            r#"{"type":"deposit","idempotency_key":"k1","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"ch"}"#,
        );
        let Event::BetPlaced(placed) = decided(
            &mut state,
            r#"{"type":"place_bet","idempotency_key":"k2","player":7,"bet_id":"b","game":"coinflip","stake":"10","currency":"XTR"}"#,
        ) else {
            panic!("a bet_placed");
        };
        let Event::BetSettled(settled) = decided(
            &mut state,
            r#"{"type":"settle_bet","idempotency_key":"k3","player":7,"bet_id":"b","payout":"0"}"#,
        ) else {
            panic!("a bet_settled");
        };
        let old_placed = rmp_serde::to_vec_named(&OldBetPlaced {
            player: placed.player,
            bet_id: placed.bet_id.clone(),
            game: placed.game.clone(),
            stake: placed.stake,
            currency: placed.currency.clone(),
            at: placed.at,
            postings: placed.postings.clone(),
        })
        .unwrap();
        let old_settled = rmp_serde::to_vec_named(&OldBetSettled {
            player: settled.player,
            bet_id: settled.bet_id.clone(),
            stake: settled.stake,
            payout: settled.payout,
            currency: settled.currency.clone(),
            at: settled.at,
            postings: settled.postings.clone(),
        })
        .unwrap();
        // Read: the new fields are absent.
        let read = decode("bet_placed", 1, &old_placed).unwrap();
        assert_eq!(read, Event::BetPlaced(placed.clone()));
        assert!(matches!(&read, Event::BetPlaced(e) if e.fair.is_none()));
        let read = decode("bet_settled", 1, &old_settled).unwrap();
        assert!(matches!(&read, Event::BetSettled(e) if e.roll.is_none()));
        // Written: the same bytes as before, so no hash of an old event could change.
        assert_eq!(encode(&Event::BetPlaced(placed)).2, old_placed);
        assert_eq!(encode(&Event::BetSettled(settled)).2, old_settled);
    }

    #[test]
    fn unknown_types_versions_and_garbage_are_errors_not_panics() {
        let (_, _, payload) = encode(&deposited());
        assert!(matches!(
            decode("withdrawn", 1, &payload),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            decode("deposited", 2, &payload),
            Err(DecodeError::UnknownVersion { .. })
        ));
        assert!(matches!(
            decode("deposited", 0, &payload),
            Err(DecodeError::UnknownVersion { .. })
        ));
        assert!(matches!(
            decode("deposited", 1, b"\xc1garbage"),
            Err(DecodeError::Payload { .. })
        ));
        assert!(matches!(
            decode("bet_placed", 1, &payload),
            Err(DecodeError::Payload { .. })
        ));
    }
}
