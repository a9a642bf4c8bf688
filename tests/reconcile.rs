//! `croupier payments reconcile` against the fake Bot API's Stars transactions, on both
//! backends: paging, a 429 waited out, each kind of discrepancy named, a refused token.

mod common;

use std::process::{Command, Stdio};

use serde_json::Value;
use simulation::fake::{FakeTelegram, Fault};

use common::server::{reconcile, TOKEN};
use common::sqlite_url;
use common::updates::PLAYER;

/// Submits ledger commands, one JSON per line, through `croupier ledger submit`.
fn submit_lines(url: &str, lines: &[String]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(["ledger", "submit"])
        .env("DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = lines.join("\n") + "\n";
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert_eq!(said.matches("\"accepted\"").count(), lines.len(), "{said}");
}

/// A Stars deposit of `amount` under the key the bot derives from the charge.
fn stars_deposit(charge: &str, amount: u32) -> String {
    format!(
        r#"{{"type":"deposit","idempotency_key":"tg:pay:{charge}:deposit","player":{PLAYER},"amount":"{amount}","currency":"XTR","method":"telegram_stars","external_ref":"{charge}"}}"#
    )
}

async fn reconcile_flow(url: &str) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    // More than one page of 100: every charge in both places, one refunded in both.
    let charges: Vec<(String, u32)> = (0..150u32)
        .map(|i| (format!("stars-{i:03}"), 1 + i % 50))
        .collect();
    let mut lines: Vec<String> = charges.iter().map(|(c, a)| stars_deposit(c, *a)).collect();
    lines.push(format!(
        r#"{{"type":"refund_deposit","idempotency_key":"refund-3","player":{PLAYER},"external_ref":"stars-003","forced":false}}"#
    ));
    submit_lines(url, &lines);
    for (charge, amount) in &charges {
        fake.add_star_payment(charge, PLAYER, *amount);
    }
    fake.add_star_refund("stars-003", PLAYER, 4);
    // Paging waits out a 429 as told.
    fake.inject([Fault::TooManyRequests { retry_after: 1 }]);

    let (code, said, _) = reconcile(url, &fake.url(), &[]).await;
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("Telegram and the ledger agree"), "{said}");
    assert!(
        said.contains("151 transactions in 2 pages (150 payments, 1 refunds, 0 other)"),
        "{said}"
    );
    let paged: Vec<(Option<u64>, bool)> = fake
        .calls()
        .iter()
        .filter(|c| c.method == "getStarTransactions")
        .map(|c| (c.params["offset"].as_u64(), c.fault.is_some()))
        .collect();
    assert_eq!(
        paged,
        [(Some(0), true), (Some(0), false), (Some(100), false)]
    );

    // Telegram took a payment the ledger lacks; the ledger credited one Telegram does not
    // know; one amount differs; Telegram refunded a payment the ledger still counts.
    fake.add_star_payment("stars-missing", PLAYER, 10);
    fake.add_star_payment("stars-amount", PLAYER, 40);
    fake.add_star_refund("stars-010", PLAYER, 11);
    submit_lines(
        url,
        &[
            stars_deposit("stars-unknown", 30),
            stars_deposit("stars-amount", 45),
        ],
    );
    let (code, said, _) = reconcile(url, &fake.url(), &[]).await;
    assert_eq!(code, Some(5), "{said}");
    for (kind, charge) in [
        ("missing_from_ledger", "stars-missing"),
        ("unknown_to_telegram", "stars-unknown"),
        ("amount_mismatch", "stars-amount"),
        ("refund_mismatch", "stars-010"),
    ] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(kind) && l.contains(charge)),
            "{kind} {charge} not reported: {said}"
        );
    }
    assert!(said.contains("40 XTR") && said.contains("45 XTR"), "{said}");
    assert!(said.contains("4 discrepancies"), "{said}");

    let (code, said, _) = reconcile(url, &fake.url(), &["--json"]).await;
    assert_eq!(code, Some(5), "{said}");
    let report: Value = serde_json::from_str(&said).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["pages"], 2);
    let mut found: Vec<(String, String)> = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["charge_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("amount_mismatch", "stars-amount"),
            ("missing_from_ledger", "stars-missing"),
            ("refund_mismatch", "stars-010"),
            ("unknown_to_telegram", "stars-unknown"),
        ]
        .map(|(k, c)| (k.to_owned(), c.to_owned()))
    );

    // A Bot API that refuses the token is an infrastructure error: exit 1, said plainly,
    // and the token is never shown.
    let other = FakeTelegram::start("999:another-bot").await.unwrap();
    let (code, said, error) = reconcile(url, &other.url(), &[]).await;
    assert_eq!(code, Some(1), "{said}{error}");
    assert!(
        error.contains("getStarTransactions was refused: 401"),
        "{error}"
    );
    assert!(!error.contains(TOKEN) && !said.contains(TOKEN), "{error}");
}

#[tokio::test]
async fn payments_reconcile_pages_telegram_and_names_each_discrepancy_on_sqlite() {
    let (url, _dir) = sqlite_url();
    reconcile_flow(&url).await;
}

#[sqlx::test(migrations = false)]
async fn payments_reconcile_pages_telegram_and_names_each_discrepancy_on_postgres(
    pool: sqlx::PgPool,
) {
    let url = common::database_url(&pool).await;
    reconcile_flow(&url).await;
}
