//! `croupier ledger submit`: commands in, one JSON outcome line per command out.

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

use ledger::wire::parse_command;
use ledger::Ledger;
use store::{GroupCommit, GroupCommitConfig, Outcome, OutcomeKind, Submission};

use store::{with_store, Database};

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
            let mut input = std::io::stdin().lock();
            while let Some(line) = next_line(&mut input)? {
                status = match line {
                    Ok(line) if line.trim().is_empty() => continue,
                    Ok(line) => submit_line(&ledger, &line, &mut out).await?,
                    Err(problem) => print_invalid(&mut out, &problem)?,
                };
            }
        }
    }
    Ok(ExitCode::from(status))
}

/// The longest command line accepted, in bytes.
const LINE_LEN_MAX: u64 = 64 * 1024;

/// The next line of input without its line ending; `Err` for a line that is not UTF-8 or
/// is too long (the rest of which is skipped), so one bad line never stops the others.
fn next_line(input: &mut impl BufRead) -> std::io::Result<Option<Result<String, String>>> {
    let mut line = Vec::new();
    if input
        .by_ref()
        .take(LINE_LEN_MAX + 1)
        .read_until(b'\n', &mut line)?
        == 0
    {
        return Ok(None);
    }
    if !line.ends_with(b"\n") && u64::try_from(line.len()).unwrap_or(u64::MAX) > LINE_LEN_MAX {
        loop {
            let mut rest = Vec::new();
            if input
                .by_ref()
                .take(LINE_LEN_MAX)
                .read_until(b'\n', &mut rest)?
                == 0
                || rest.ends_with(b"\n")
            {
                break;
            }
        }
        return Ok(Some(Err(format!(
            "error reading command: the line is longer than {LINE_LEN_MAX} bytes"
        ))));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(String::from_utf8(line).map_err(|_| {
        "error reading command: the line is not valid UTF-8".to_owned()
    })))
}

fn print_invalid(out: &mut impl Write, message: &str) -> anyhow::Result<u8> {
    let printed = serde_json::json!({"outcome": "invalid", "error": {"code": "bad_input", "message": message}});
    writeln!(out, "{printed}").map_err(super::stdout_error)?;
    out.flush().map_err(super::stdout_error)?;
    Ok(EXIT_BAD_INPUT)
}

async fn submit_line(ledger: &GroupCommit, line: &str, out: &mut impl Write) -> anyhow::Result<u8> {
    let (printed, status) = match parse_command(line) {
        Err(e) => return print_invalid(out, &e.to_string()),
        Ok(request) => {
            let submission = Submission {
                request,
                causation: None,
                actor: Some("cli".to_owned()),
            };
            match ledger.submit(submission).await {
                Ok(outcome) => (serde_json::to_string(&outcome)?, exit_status(&outcome)),
                Err(e) => (
                    serde_json::json!({"outcome": "error", "error": {"code": "infrastructure", "message": e.chain(), "transient": e.transient()}}).to_string(),
                    EXIT_INFRASTRUCTURE,
                ),
            }
        }
    };
    writeln!(out, "{printed}").map_err(super::stdout_error)?;
    out.flush().map_err(super::stdout_error)?;
    Ok(status)
}

fn exit_status(outcome: &Outcome) -> u8 {
    match outcome.kind {
        OutcomeKind::Accepted => EXIT_ACCEPTED,
        OutcomeKind::Rejected { .. } => EXIT_REJECTED,
        OutcomeKind::Conflict { .. } => EXIT_CONFLICT,
    }
}
