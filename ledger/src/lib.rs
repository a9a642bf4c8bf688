//! Croupier's ledger domain: a pure, double-entry, event-sourced ledger.
//!
//! Nothing here does IO or reads a clock. The caller loads a player's state, passes the
//! time in, and gets back either events or a [`Rejection`]:
//!
//! ```
//! use ledger::{Command, Ledger, PlayerState, PlayerId, Timestamp};
//! let ledger = Ledger::default();
//! let mut state = PlayerState::new(PlayerId::new(7).unwrap());
//! let deposit = ledger::wire::parse_command(
//!     r#"{"type":"deposit","idempotency_key":"k1","player":7,"amount":"100","currency":"XTR",
//!         "method":"telegram_stars","external_ref":"ch_1"}"#,
//! ).unwrap();
//! let events = ledger.decide(&state, &deposit.command, Timestamp::from_micros(0)).unwrap();
//! for event in &events {
//!     state.apply(event);
//! }
//! assert_eq!(state.cash(&"XTR".parse().unwrap()).to_string(), "100");
//! ```

pub mod account;
pub mod command;
pub mod decide;
pub mod event;
pub mod fair;
pub mod fingerprint;
pub mod id;
pub mod money;
pub mod outcome;
pub mod rejection;
pub mod session;
pub mod state;
pub mod time;
pub mod wire;

pub use account::{Account, Posting};
pub use command::Command;
pub use decide::Ledger;
pub use event::Event;
pub use fingerprint::Fingerprint;
pub use id::{BetId, ExternalRef, GameId, IdempotencyKey, PaymentMethod, PlayerId, Timestamp};
pub use money::{Currencies, CurrencyCode, CurrencySpec};
pub use outcome::{EventRef, Outcome, OutcomeKind};
pub use rejection::{AmountProblem, FairProblem, Rejection, RejectionCode, UnknownRejectionCode};
pub use state::{Bet, BetStatus, Deposit, InvariantViolation, PlayerState, Subscription};
