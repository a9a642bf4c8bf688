//! `croupier ledger submit`: commands in, one JSON outcome line per command out.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use ledger::wire::parse_command;
use ledger::Ledger;
use store::{GroupCommit, GroupCommitConfig, Outcome, OutcomeKind, Submission};

use crate::database::{with_store, Database};

const EXIT_ACCEPTED: u8 = 0;
const EXIT_INFRASTRUCTURE: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_REJECTED: u8 = 3;
const EXIT_CONFLICT: u8 = 4;

pub async fn run(database: &Database, json: Option<String>) -> anyhow::Result<ExitCode> {
    let ledger = with_store!(database, s => GroupCommit::start(s.clone(), Ledger::default(), GroupCommitConfig::default()));
    let mut status = EXIT_ACCEPTED;
    let mut out = std::io::stdout().lock();
    match json {
        Some(text) => status = submit_line(&ledger, &text, &mut out).await?,
        None => {
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                status = submit_line(&ledger, &line, &mut out).await?;
            }
        }
    }
    Ok(ExitCode::from(status))
}

async fn submit_line(ledger: &GroupCommit, line: &str, out: &mut impl Write) -> anyhow::Result<u8> {
    let (printed, status) = match parse_command(line) {
        Err(e) => (
            serde_json::json!({"outcome": "invalid", "error": {"code": "bad_input", "message": e.to_string()}}).to_string(),
            EXIT_BAD_INPUT,
        ),
        Ok(request) => {
            let submission = Submission {
                request,
                causation: None,
                actor: Some("cli".to_owned()),
            };
            match ledger.submit(submission).await {
                Ok(outcome) => (serde_json::to_string(&outcome)?, exit_status(&outcome)),
                Err(e) => (
                    serde_json::json!({"outcome": "error", "error": {"code": "infrastructure", "message": format!("{e:#}"), "transient": e.transient()}}).to_string(),
                    EXIT_INFRASTRUCTURE,
                ),
            }
        }
    };
    writeln!(out, "{printed}")?;
    out.flush()?;
    Ok(status)
}

fn exit_status(outcome: &Outcome) -> u8 {
    match outcome.kind {
        OutcomeKind::Accepted => EXIT_ACCEPTED,
        OutcomeKind::Rejected { .. } => EXIT_REJECTED,
        OutcomeKind::Conflict { .. } => EXIT_CONFLICT,
    }
}
