//! `croupier demo`: a short scripted ledger session (the bot issue replaces it with
//! simulated players driving the real adapter).
pub async fn run(_database: &crate::database::Database) -> anyhow::Result<std::process::ExitCode> {
    Ok(std::process::ExitCode::SUCCESS)
}
