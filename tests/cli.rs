//! The command-line contract of `croupier ledger submit`, `migrate` and `demo`, which
//! other tools depend on exactly: output lines and exit codes.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use common::Scratch;

fn croupier(dir: &Path, args: &[&str], stdin: &str) -> Output {
    croupier_bytes(dir, args, stdin.as_bytes())
}

fn croupier_bytes(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn submit(scratch: &Scratch, json: &str) -> (i32, Value) {
    let output = croupier(
        &scratch.0,
        &[
            "--database-url",
            &scratch.url(),
            "ledger",
            "submit",
            "--json",
            json,
        ],
        "",
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    (output.status.code().unwrap(), value)
}

const DEPOSIT: &str = r#"{"type":"deposit","idempotency_key":"d1","player":7,"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"ch_1"}"#;

#[test]
fn accepted_replayed_rejected_and_conflict() {
    let scratch = Scratch::new();
    let (status, first) = submit(&scratch, DEPOSIT);
    assert_eq!(status, 0);
    assert_eq!(
        first,
        serde_json::json!({"outcome":"accepted","replayed":false,
            "events":[{"position":1,"stream":"player-7","version":1,"type":"deposited"}],
            "balances":{"XTR":"100"}})
    );
    let (status, again) = submit(&scratch, DEPOSIT);
    assert_eq!(status, 0);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["events"], first["events"]);

    let (status, conflict) = submit(&scratch, &DEPOSIT.replace(r#""100""#, r#""90""#));
    assert_eq!(status, 4);
    assert_eq!(conflict["outcome"], "conflict");
    assert_eq!(conflict["conflict"]["field"], "amount");

    let bet = r#"{"type":"place_bet","idempotency_key":"b1","player":7,"bet_id":"r1","game":"coinflip","stake":"500","currency":"XTR"}"#;
    let (status, rejected) = submit(&scratch, bet);
    assert_eq!(status, 3);
    assert_eq!(rejected["outcome"], "rejected");
    assert_eq!(rejected["rejection"]["code"], "insufficient_funds");
    assert_eq!(rejected["balances"]["XTR"], "100");

    let (status, invalid) = submit(
        &scratch,
        &bet.replace("b1", "b2").replace(r#""500""#, r#""1.5""#),
    );
    assert_eq!(
        status, 3,
        "a decimal amount for Stars is a business rejection"
    );
    assert_eq!(invalid["rejection"]["code"], "invalid_amount");
    assert!(invalid["rejection"]["message"]
        .as_str()
        .unwrap()
        .contains("'1.5'"));
}

#[test]
fn bad_input_exits_2_and_records_nothing() {
    let scratch = Scratch::new();
    for bad in [
        "{not json",
        r#"{"type":"withdraw","idempotency_key":"k","player":7}"#,
        &DEPOSIT.replace(r#""100""#, r#""ten""#),
        &DEPOSIT.replace(r#""player":7"#, r#""player":0"#),
    ] {
        let (status, output) = submit(&scratch, bad);
        assert_eq!(status, 2, "{bad}");
        assert_eq!(output["outcome"], "invalid");
        assert!(!output["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, first) = submit(&scratch, DEPOSIT);
    assert_eq!(
        (status, first["events"][0]["position"].as_u64()),
        (0, Some(1))
    );
}

#[test]
fn stdin_takes_json_lines_and_the_last_command_sets_the_status() {
    let scratch = Scratch::new();
    let bet = r#"{"type":"place_bet","idempotency_key":"b1","player":7,"bet_id":"r1","game":"coinflip","stake":"10","currency":"XTR"}"#;
    let settle =
        r#"{"type":"settle_bet","idempotency_key":"s1","player":7,"bet_id":"r1","payout":"0"}"#;
    let settle_again =
        r#"{"type":"settle_bet","idempotency_key":"s2","player":7,"bet_id":"r1","payout":"5"}"#;
    let input = format!("{DEPOSIT}\n\n{bet}\n{settle}\n{settle_again}\n");
    let output = croupier(
        &scratch.0,
        &["--database-url", &scratch.url(), "ledger", "submit"],
        &input,
    );
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "one line per command, blank lines skipped");
    assert_eq!(lines[2]["balances"]["XTR"], "90");
    assert_eq!(lines[3]["rejection"]["code"], "bet_already_closed");
    assert_eq!(output.status.code(), Some(3));

    let accepted_last = format!("{settle_again}\n{DEPOSIT}\n");
    let output = croupier(
        &scratch.0,
        &["--database-url", &scratch.url(), "ledger", "submit"],
        &accepted_last,
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn an_unreachable_database_exits_1_with_a_clear_message() {
    let scratch = Scratch::new();
    let output = croupier(
        &scratch.0,
        &[
            "--database-url",
            "postgres://croupier:secret@127.0.0.1:1/ledger",
            "ledger",
            "submit",
            "--json",
            DEPOSIT,
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("cannot connect to postgres://croupier:***@127.0.0.1:1/ledger"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password is never printed");

    let output = croupier(&scratch.0, &["--database-url", "mysql://x", "migrate"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("unsupported database url"));
}

#[test]
fn the_default_database_is_sqlite_in_the_working_directory() {
    let scratch = Scratch::new();
    let output = croupier(&scratch.0, &["migrate"], "");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(scratch.0.join("croupier.db").exists());
    let output = croupier(&scratch.0, &["ledger", "demo"], "");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("rejected: insufficient_funds"), "{stdout}");
    assert!(stdout.contains("hash chain verifies"), "{stdout}");
}

#[test]
fn a_line_that_is_not_utf8_or_too_long_does_not_stop_the_others() {
    let scratch = Scratch::new();
    let second = DEPOSIT.replace("d1", "d2").replace("ch_1", "ch_2");
    let mut input = Vec::new();
    input.extend_from_slice(DEPOSIT.as_bytes());
    input.extend_from_slice(b"\n\xff\xfe not utf-8\n");
    input.extend_from_slice(&vec![b'x'; 100_000]);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(second.as_bytes());
    input.extend_from_slice(b"\n");
    let output = croupier_bytes(
        &scratch.0,
        &["--database-url", &scratch.url(), "ledger", "submit"],
        &input,
    );
    let outcomes: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<_> = outcomes
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["accepted", "invalid", "invalid", "accepted"]);
    assert!(outcomes[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("UTF-8"));
    assert!(outcomes[2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("longer than"));
    assert_eq!(outcomes[3]["balances"]["XTR"], "200");
    assert_eq!(
        output.status.code(),
        Some(0),
        "the last command was accepted"
    );
}

#[test]
fn bench_append_prints_its_ratio_and_leaves_the_ledger_alone() {
    let scratch = Scratch::new();
    let (status, _) = submit(&scratch, DEPOSIT);
    assert_eq!(status, 0);
    let output = croupier(
        &scratch.0,
        &[
            "--database-url",
            &scratch.url(),
            "bench",
            "append",
            "--seconds",
            "1",
            "--players",
            "4",
            "--json",
        ],
        "",
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(String::from_utf8(output.stdout).unwrap().trim()).unwrap();
    for key in [
        "events_per_s",
        "raw_rows_per_s",
        "ratio",
        "p50_ms",
        "p99_ms",
    ] {
        let figure = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing: {report}"));
        assert!(figure > 0.0, "{key} = {figure}");
    }
    // The ledger's own database still holds exactly what it held.
    let (status, again) = submit(&scratch, DEPOSIT);
    assert_eq!((status, &again["replayed"]), (0, &Value::Bool(true)));
    assert_eq!(again["events"][0]["position"], 1);
}

#[test]
fn audit_head_verify_and_export() {
    let scratch = Scratch::new();
    let url = scratch.url();
    assert_eq!(
        croupier(&scratch.0, &["--database-url", &url, "ledger", "demo"], "")
            .status
            .code(),
        Some(0)
    );
    let head = croupier(&scratch.0, &["--database-url", &url, "audit", "head"], "");
    let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
    assert!(head.starts_with("7:") && head.len() == 2 + 64, "{head}");
    let verified = croupier(
        &scratch.0,
        &[
            "--database-url",
            &url,
            "audit",
            "verify",
            "--json",
            "--expect-head",
            &head,
        ],
        "",
    );
    assert_eq!(verified.status.code(), Some(0));
    let summary: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(summary["summary"]["events"], 7);
    let export = croupier(
        &scratch.0,
        &[
            "--database-url",
            &url,
            "audit",
            "export",
            "--format",
            "csv",
            "--from",
            "2",
            "--to",
            "3",
        ],
        "",
    );
    let csv = String::from_utf8(export.stdout).unwrap();
    let rows: Vec<_> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("position,stream,version,type"));
    assert!(rows[1].starts_with("2,player-1001,2,bet_placed,"));
    let lines = croupier(&scratch.0, &["--database-url", &url, "audit", "export"], "");
    let first: Value = serde_json::from_str(
        String::from_utf8(lines.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["payload"]["amount"], "100");

    // Someone with access to the file drops the guard and edits an event.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::raw_sql("DROP TRIGGER ledger_events_no_update; UPDATE ledger_events SET recorded_at = recorded_at + 1 WHERE position = 4")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let failed = croupier(&scratch.0, &["--database-url", &url, "audit", "verify"], "");
    assert_eq!(failed.status.code(), Some(5));
    let text = String::from_utf8(failed.stdout).unwrap();
    assert!(text.contains("position 4, stream 'player-1002'"), "{text}");
}

#[test]
fn reports_in_all_three_formats() {
    let scratch = Scratch::new();
    let url = scratch.url();
    let history = [
        DEPOSIT.to_owned(),
        DEPOSIT.replace("d1", "d2").replace("ch_1", "ch_2").replace(r#""player":7"#, r#""player":8"#).replace(r#""100""#, r#""35""#),
        r#"{"type":"place_bet","idempotency_key":"b1","player":7,"bet_id":"r1","game":"dice","stake":"40","currency":"XTR"}"#.to_owned(),
        r#"{"type":"settle_bet","idempotency_key":"s1","player":7,"bet_id":"r1","payout":"0"}"#.to_owned(),
        r#"{"type":"place_bet","idempotency_key":"b2","player":7,"bet_id":"r2","game":"dice","stake":"10","currency":"XTR"}"#.to_owned(),
    ];
    let output = croupier(
        &scratch.0,
        &["--database-url", &url, "ledger", "submit"],
        &history.join("\n"),
    );
    assert_eq!(output.status.code(), Some(0));
    let report = |args: &[&str]| {
        let mut all = vec!["--database-url", url.as_str(), "report"];
        all.extend_from_slice(args);
        let output = croupier(&scratch.0, &all, "");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let balances: Value = serde_json::from_str(&report(&["balances", "--format", "json"])).unwrap();
    assert_eq!(
        balances,
        serde_json::json!([
            {"player":7,"currency":"XTR","balance":"50","in_play":"10"},
            {"player":8,"currency":"XTR","balance":"35","in_play":"0"}
        ])
    );
    let liabilities: Value =
        serde_json::from_str(&report(&["liabilities", "--format", "json"])).unwrap();
    assert_eq!(
        liabilities,
        serde_json::json!([{"currency":"XTR","total":"85","players":2}])
    );
    let daily: Value = serde_json::from_str(&report(&["daily", "--format", "json"])).unwrap();
    assert_eq!(daily[0]["deposits"], "135");
    assert_eq!(
        (
            daily[0]["stakes"].as_str(),
            daily[0]["ggr"].as_str(),
            daily[0]["bets"].as_i64()
        ),
        (Some("40"), Some("40"), Some(1))
    );
    assert_eq!(
        report(&["liabilities", "--format", "csv"]),
        "currency,total,players\nXTR,85,2\n"
    );
    assert_eq!(
        report(&["balances", "--format", "table"]),
        "player  currency  balance  in_play\n     7  XTR            50       10\n     8  XTR            35        0\n"
    );
    assert_eq!(report(&["bets", "--format", "csv"]).lines().count(), 3);
}

/// A replica is read-only: reports and audits sent there must never write, and say how
/// far behind its projections are. A session with `default_transaction_read_only` on
/// stands for the replica.
#[sqlx::test(migrations = "migrations/postgres")]
async fn reports_and_audits_read_from_a_replica(pool: sqlx::PgPool) {
    let primary = common::database_url(&pool).await;
    let replica = format!("{primary}?options=-c%20default_transaction_read_only%3Don");
    let scratch = Scratch::new();
    let run = |args: Vec<&str>| croupier(&scratch.0, &args, "");
    let output = croupier(
        &scratch.0,
        &[
            "--database-url",
            &primary,
            "ledger",
            "submit",
            "--json",
            DEPOSIT,
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(0));

    let behind = run(vec![
        "--database-url",
        &primary,
        "--read-database-url",
        &replica,
        "report",
        "balances",
        "--format",
        "json",
    ]);
    assert_eq!(
        behind.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&behind.stderr)
    );
    assert_eq!(String::from_utf8(behind.stdout).unwrap().trim(), "[]");
    assert!(String::from_utf8(behind.stderr)
        .unwrap()
        .contains("1 events behind"));

    // The primary's projector catches up (here: a report run against the primary).
    assert_eq!(
        run(vec!["--database-url", &primary, "report", "balances"])
            .status
            .code(),
        Some(0)
    );
    let current = run(vec![
        "--database-url",
        &primary,
        "--read-database-url",
        &replica,
        "report",
        "liabilities",
        "--format",
        "json",
    ]);
    let liabilities: Value = serde_json::from_slice(&current.stdout).unwrap();
    assert_eq!(
        liabilities,
        serde_json::json!([{"currency":"XTR","total":"100","players":1}])
    );
    let audit = run(vec![
        "--database-url",
        &primary,
        "--read-database-url",
        &replica,
        "audit",
        "verify",
        "--json",
    ]);
    assert_eq!(
        audit.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let summary: Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(summary["summary"]["projections_checked"], true);
}

#[test]
fn bench_replay_prints_its_ratios() {
    let scratch = Scratch::new();
    let output = croupier(
        &scratch.0,
        &[
            "--database-url",
            &scratch.url(),
            "bench",
            "replay",
            "--events",
            "500",
            "--json",
        ],
        "",
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in [
        "rebuild_events_per_s",
        "verify_events_per_s",
        "raw_rows_per_s",
        "rebuild_ratio",
        "verify_ratio",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {report}"
        );
    }
    assert_eq!(report["events"], 500);
}

/// A player whose only money events are subscription charges has no cash: the read
/// models hold no balance for them, a replay agrees, and the house holds the revenue.
#[test]
fn a_subscriber_who_never_deposited_has_no_balance_and_the_audit_agrees() {
    let scratch = Scratch::new();
    let url = scratch.url();
    let paid = r#"{"type":"pay_subscription","idempotency_key":"s1","player":9,"amount":"250","currency":"XTR","method":"telegram_stars","external_ref":"sub_1","until_micros":1900000000000000,"renewal":false}"#;
    let (code, outcome) = submit(&scratch, paid);
    assert_eq!(code, 0, "{outcome}");
    assert_eq!(outcome["events"][0]["type"], "subscription_paid");
    let verified = croupier(&scratch.0, &["--database-url", &url, "audit", "verify"], "");
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    let balances = croupier(
        &scratch.0,
        &[
            "--database-url",
            &url,
            "report",
            "balances",
            "--format",
            "json",
        ],
        "",
    );
    let balances: Value = serde_json::from_slice(&balances.stdout).unwrap();
    assert_eq!(
        balances,
        serde_json::json!([]),
        "no cash row for a subscriber"
    );
}

/// Regression: `--expect-head 0:HASH` named position 0, which only the empty log's
/// genesis hash can have, and was reported as tampering (exit 5, "events were removed").
/// It is malformed input (exit 2); the empty log's own head, `0:000...`, always verifies.
#[test]
fn expect_head_at_position_zero_is_bad_input_not_tampering() {
    let scratch = Scratch::new();
    let url = scratch.url();
    assert_eq!(submit(&scratch, DEPOSIT).0, 0);
    let head = croupier(&scratch.0, &["--database-url", &url, "audit", "head"], "");
    let head = String::from_utf8(head.stdout).unwrap();
    let (_, hash) = head.trim().split_once(':').unwrap();
    let verify = |expected: &str| {
        croupier(
            &scratch.0,
            &[
                "--database-url",
                &url,
                "audit",
                "verify",
                "--expect-head",
                expected,
            ],
            "",
        )
    };
    let malformed = verify(&format!("0:{hash}"));
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert_eq!(malformed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("position 0 is the empty log"), "{stderr}");
    assert!(malformed.stdout.is_empty(), "no verdict on the log");
    let genesis = verify(&format!("0:{}", "0".repeat(64)));
    assert_eq!(
        genesis.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&genesis.stdout)
    );
}

/// Regression: `--from 2026-02-30` (read as March 2nd) and an `--at` offset of +99:00
/// were accepted. They are refused, exit 2, with a message naming the input.
#[test]
fn impossible_dates_and_offsets_are_bad_input() {
    let scratch = Scratch::new();
    let url = scratch.url();
    assert_eq!(submit(&scratch, DEPOSIT).0, 0);
    for (args, named) in [
        (
            &["report", "daily", "--from", "2026-02-30"][..],
            "2026-02-30",
        ),
        (&["report", "daily", "--to", "2025-02-29"][..], "2025-02-29"),
        (
            &["report", "balances", "--at", "2026-01-01T00:00:00+99:00"][..],
            "+99:00",
        ),
        (
            &[
                "payments",
                "reconcile",
                "--since",
                "2026-04-31",
                "--token",
                "1:x",
            ][..],
            "2026-04-31",
        ),
    ] {
        let mut all = vec!["--database-url", url.as_str()];
        all.extend_from_slice(args);
        let output = croupier(&scratch.0, &all, "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

/// Runs croupier on `url` with `args`, expecting exit 2 and a message on stderr that
/// contains `named`, and nothing on stdout.
fn assert_bad_input(scratch: &Scratch, url: &str, args: &[&str], named: &str) {
    let mut all = vec!["--database-url", url];
    all.extend_from_slice(args);
    let output = croupier(&scratch.0, &all, "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(named),
        "{args:?} should name {named}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Regression: an inverted range (`audit export --from 10 --to 5`, `report daily` with
/// --from after --to) answered nothing with exit 0, and `--at` beyond the head of the log
/// silently answered with the present. Each is refused, exit 2, naming the input.
#[test]
fn inverted_ranges_and_at_beyond_the_head_are_bad_input_not_an_answer() {
    let scratch = Scratch::new();
    let url = scratch.url();
    assert_eq!(submit(&scratch, DEPOSIT).0, 0);
    assert_bad_input(
        &scratch,
        &url,
        &["audit", "export", "--from", "10", "--to", "5"],
        "--from 10 is after --to 5",
    );
    assert_bad_input(
        &scratch,
        &url,
        &[
            "report",
            "daily",
            "--from",
            "2026-05-02",
            "--to",
            "2026-05-01",
        ],
        "--from 2026-05-02 is after --to 2026-05-01",
    );
    assert_bad_input(
        &scratch,
        &url,
        &["report", "balances", "--at", "2"],
        "--at 2 is beyond the head of the log, at position 1",
    );
    assert_bad_input(
        &scratch,
        &url,
        &["report", "liabilities", "--at", "2999-01-01T00:00:00Z"],
        "2999-01-01T00:00:00.000000Z is in the future",
    );
    // The head itself, and a range of one position, are fine.
    let at_head = croupier(
        &scratch.0,
        &["--database-url", &url, "report", "balances", "--at", "1"],
        "",
    );
    assert_eq!(
        at_head.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&at_head.stderr)
    );
    let one = croupier(
        &scratch.0,
        &[
            "--database-url",
            &url,
            "audit",
            "export",
            "--from",
            "1",
            "--to",
            "1",
        ],
        "",
    );
    assert_eq!(String::from_utf8(one.stdout).unwrap().lines().count(), 1);
}

/// Regression: bad input exited 1, the infrastructure code, which a script retries:
/// `projections rebuild nosuch`, `report daily --at 5`, `report player` without an id,
/// `payments refund ''` or a 1,000-character charge id. Each exits 2, naming the input
/// (a long one shortened).
#[test]
fn bad_arguments_exit_2_not_the_infrastructure_code() {
    let scratch = Scratch::new();
    let url = scratch.url();
    assert_eq!(submit(&scratch, DEPOSIT).0, 0);
    assert_bad_input(
        &scratch,
        &url,
        &["projections", "rebuild", "balances", "nosuch"],
        "nosuch",
    );
    assert_bad_input(
        &scratch,
        &url,
        &["report", "daily", "--at", "5"],
        "--at works with balances, liabilities and player only",
    );
    assert_bad_input(
        &scratch,
        &url,
        &["report", "player"],
        "needs the player's id",
    );
    assert_bad_input(
        &scratch,
        &url,
        &["report", "balances", "7"],
        "only report player takes a player id",
    );
    assert_bad_input(
        &scratch,
        &url,
        &["report", "balances", "--from", "2026-01-01"],
        "--from and --to apply to",
    );
    assert_bad_input(
        &scratch,
        &url,
        &["payments", "refund", ""],
        "invalid external_ref ''",
    );
    let long = "x".repeat(1000);
    assert_bad_input(
        &scratch,
        &url,
        &["payments", "refund", &long],
        "invalid external_ref 'xxxx",
    );
    let output = croupier(
        &scratch.0,
        &["--database-url", &url, "payments", "refund", &long],
        "",
    );
    assert!(
        output.stderr.len() < 400,
        "the id is shortened: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Regression: with standard output closed by its reader (`| head -0`), `audit verify`,
/// `audit head`, `report` and `projections status` panicked ("failed printing to
/// stdout") with a backtrace. Every command that prints ends quietly instead, exit 0, as
/// ripgrep does.
#[test]
fn a_closed_stdout_is_a_quiet_exit_not_a_panic() {
    let scratch = Scratch::new();
    let url = scratch.url();
    assert_eq!(submit(&scratch, DEPOSIT).0, 0);
    let second = DEPOSIT.replace("d1", "d2").replace("ch_1", "ch_2");
    for args in [
        &["audit", "verify"][..],
        &["audit", "verify", "--json"],
        &["audit", "head"],
        &["audit", "export"],
        &["report", "balances"],
        &["report", "daily", "--format", "csv"],
        &["report", "balances", "--at", "1"],
        &["projections", "status"],
        &["projections", "catch-up"],
        &["migrate"],
        &["ledger", "submit", "--json", &second],
    ] {
        // A pipe whose reader is gone before the command starts: its first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_croupier"))
            .args(["--database-url", &url])
            .args(args)
            .current_dir(&scratch.0)
            .env_remove("DATABASE_URL")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

/// Regression: `--database-url sqlite://` (a temporary database, one per connection) or
/// `sqlite://:memory:` accepted commands that write and kept nothing: `ledger submit`
/// answered "accepted" for a deposit gone when the process ended. Commands that record
/// refuse such a database, exit 2; the demo still runs on one.
#[test]
fn a_database_that_keeps_nothing_is_refused_for_commands_that_write() {
    let scratch = Scratch::new();
    for url in [
        "sqlite://",
        "sqlite:",
        "sqlite://:memory:",
        "sqlite::memory:",
        "sqlite://ledger.db?mode=memory",
        "sqlite://file::memory:?cache=shared",
    ] {
        for args in [
            &["ledger", "submit", "--json", DEPOSIT][..],
            &["migrate"],
            &["payments", "refund", "ch_1"],
            &["projections", "rebuild"],
        ] {
            assert_bad_input(&scratch, url, args, "keeps nothing once croupier exits");
        }
    }
    let demo = croupier(
        &scratch.0,
        &["--database-url", "sqlite::memory:", "ledger", "demo"],
        "",
    );
    assert_eq!(
        demo.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    // A file lasts, whatever its parameters.
    let file = format!("{}?mode=rwc", scratch.url());
    let output = croupier(
        &scratch.0,
        &[
            "--database-url",
            &file,
            "ledger",
            "submit",
            "--json",
            DEPOSIT,
        ],
        "",
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Regression: `ledger submit` took a key given twice as its last value
/// (`"player":7,"player":8` credited player 8), a player written as the string "007",
/// and a whole JSON number as an amount though the README says exit 2. Each exits 2 and
/// records nothing.
#[test]
fn second_spellings_of_a_command_exit_2_and_record_nothing() {
    let scratch = Scratch::new();
    for bad in [
        DEPOSIT.replace(r#""player":7"#, r#""player":7,"player":8"#),
        DEPOSIT.replace(r#""player":7"#, r#""player":"007""#),
        DEPOSIT.replace(r#""100""#, "100"),
        DEPOSIT.replace(r#""100""#, r#""1e2""#),
    ] {
        let (status, output) = submit(&scratch, &bad);
        assert_eq!(status, 2, "{bad}: {output}");
        assert_eq!(output["outcome"], "invalid", "{bad}");
    }
    let (status, first) = submit(&scratch, DEPOSIT);
    assert_eq!(
        (
            status,
            &first["replayed"],
            first["events"][0]["position"].as_u64()
        ),
        (0, &Value::Bool(false), Some(1)),
        "nothing was recorded before: {first}"
    );
}
