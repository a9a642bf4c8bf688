//! `croupier bench`.
#[derive(clap::Args)]
pub struct AppendArgs {}
pub async fn append(
    _d: &crate::database::Database,
    _u: &str,
    _a: AppendArgs,
) -> anyhow::Result<std::process::ExitCode> {
    Ok(std::process::ExitCode::SUCCESS)
}
