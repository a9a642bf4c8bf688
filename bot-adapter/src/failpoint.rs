//! Crash drills: named points on the way from an update to a sent reply where a test can
//! make the process die at once, as `kill -9` would (no destructor runs, nothing is
//! flushed), to check that a restart loses, doubles and resends nothing it should not.
//!
//! Compiled in only with the cargo feature `failpoints` (the test suite's build); without
//! it [`hit`] is empty. With it, `CROUPIER_FAILPOINT=NAME` aborts the process when the
//! point `NAME` is reached:
//!
//! - `after_commit`: an input's ledger unit is committed, its inbox and outbox rows are
//!   not written, the update is not acknowledged;
//! - `before_ack`: the inbox and outbox rows are written, the update is not acknowledged;
//! - `after_send`: Telegram accepted a call, the outbox does not know it yet.
//!
//! [`panic_at`] makes a long-running task panic instead (the process lives on, which is
//! what its supervision must notice): `dispatcher_panics`, at the dispatcher's first
//! round; `writer_panics` is the ledger writer's (the store's own feature `failpoints`).

/// The point `name` is reached: abort here if the drill names it.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    if std::env::var("CROUPIER_FAILPOINT").is_ok_and(|point| point == name) {
        eprintln!("croupier: failpoint {name} reached: aborting");
        std::process::abort();
    }
}

/// The point `name` is reached (failpoints are not compiled in: nothing happens).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}

/// The point `name` is reached in a long-running task: panic here (the task dies, the
/// process does not) if the drill names it.
#[cfg(feature = "failpoints")]
pub fn panic_at(name: &str) {
    if std::env::var("CROUPIER_FAILPOINT").is_ok_and(|point| point == name) {
        panic!("failpoint {name} reached");
    }
}

/// The point `name` is reached (failpoints are not compiled in: nothing happens).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn panic_at(_name: &str) {}
