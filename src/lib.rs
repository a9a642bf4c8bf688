//! The parts of the `croupier` binary that tests and benches use too: the Telegram
//! transport (webhook, polling, outbox, the fake Bot API server) and the adapter's
//! persistence. The `croupier` binary (`main.rs`) wires them to the command line.

pub mod telegram;
