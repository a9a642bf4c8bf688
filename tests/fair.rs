//! Fairness in the log, end to end: the bot plays coinflip and dice and rotates its seed;
//! the log alone then carries every fact an auditor needs. The exported log is checked
//! by `docs/fair-verify.py` (the README's recipe, run as written), `audit verify` and
//! `fair verify`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use bot_adapter::db::BotDb;
use serde_json::{json, Value};
use simulation::{Simulation, Updates};

const PLAYER: u64 = 515_151;

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn croupier(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap()
}

fn export(url: &str) -> (String, Vec<Value>) {
    let out = croupier(url, &["audit", "export", "--format", "jsonl"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let events = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (text, events)
}

/// Runs the recipe exactly as the README gives it, the export on its standard input.
fn recipe(export: &str) -> (Option<i32>, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/fair-verify.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), shown)
}

/// The bot's events for one player: a deposit, a client seed, a coinflip and a dice
/// round, a rotation, then one more coinflip under the new (unrevealed) seed.
async fn play(url: &str) {
    let deposit = format!(
        r#"{{"type":"deposit","idempotency_key":"seed-deposit","player":{PLAYER},"amount":"100","currency":"XTR","method":"telegram_stars","external_ref":"fair-charge"}}"#
    );
    let submitted = croupier(url, &["ledger", "submit", "--json", &deposit]);
    assert!(submitted.status.success(), "{submitted:?}");
    let database = store::Database::open(url).await.unwrap();
    let store::Database::Sqlite(store) = database else {
        panic!("a SQLite database");
    };
    let db = BotDb::connect(url, 4).await.unwrap();
    let simulation = Simulation::start(store, db, Duration::ZERO).await.unwrap();
    let mut updates = Updates::after_recorded(&simulation.db).await.unwrap();
    for text in [
        "/fair seed lucky-7",
        "/coinflip 10 heads",
        "/dice 10 50",
        "/fair rotate",
        "/coinflip 10 tails",
    ] {
        let body = updates.message(PLAYER, json!({ "text": text }));
        simulation.pipeline.process(body.as_bytes()).await.unwrap();
    }
    simulation.stop().await.unwrap();
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn an_exported_log_alone_recomputes_every_revealed_fair_bet() {
    let dir = std::env::temp_dir().join(format!("croupier-fair-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let _scratch = Scratch(dir.clone());
    let url = format!("sqlite://{}/fair.db", dir.display());
    play(&url).await;

    let (text, events) = export(&url);
    // Two commitments (the first seed, then the one the rotation made), one reveal.
    let committed = of_type(&events, "fair_seed_committed");
    let revealed = of_type(&events, "fair_seed_revealed");
    assert_eq!((committed.len(), revealed.len()), (2, 1), "{text}");
    let first = committed[0]["payload"]["seed_hash"].as_str().unwrap();
    assert_eq!(revealed[0]["payload"]["seed_hash"], first);
    // Every bet carries its fair block, committed before it; every settlement its roll.
    let placed = of_type(&events, "bet_placed");
    assert_eq!(placed.len(), 3, "{text}");
    for (nonce, bet) in placed.iter().take(2).enumerate() {
        let fair = &bet["payload"]["fair"];
        assert_eq!(fair["seed_hash"], first, "{bet}");
        assert_eq!(fair["client_seed"], "lucky-7");
        assert_eq!(fair["nonce"], nonce);
        assert!(committed[0]["position"].as_u64() < bet["position"].as_u64());
    }
    assert_eq!(placed[0]["payload"]["fair"]["terms"], "coinflip:heads:200");
    assert_eq!(placed[1]["payload"]["fair"]["terms"], "dice:50:200");
    assert_eq!(
        placed[2]["payload"]["fair"]["seed_hash"],
        committed[1]["payload"]["seed_hash"]
    );
    let seed: [u8; 32] = hex::decode(revealed[0]["payload"]["seed"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let settled = of_type(&events, "bet_settled");
    assert_eq!(settled.len(), 3);
    for (nonce, settlement) in settled.iter().take(2).enumerate() {
        let roll = ledger::fair::roll(&seed, "lucky-7", u64::try_from(nonce).unwrap());
        assert_eq!(settlement["payload"]["roll"], roll, "{settlement}");
    }
    assert!(settled[2]["payload"]["roll"].is_u64());

    // The recipe: two bets recomputed, one pending, exit 0.
    let (code, shown) = recipe(&text);
    assert_eq!(code, Some(0), "{shown}");
    assert_eq!(shown.matches(": OK roll").count(), 2, "{shown}");
    assert_eq!(shown.matches("pending").count(), 1, "{shown}");
    // A roll changed in the export is a mismatch, and the recipe fails.
    let changed_roll = settled[0]["payload"]["roll"].as_u64().unwrap();
    let tampered = text.replacen(
        &format!("\"roll\":{changed_roll}"),
        &format!("\"roll\":{}", (changed_roll + 1) % 10_000),
        1,
    );
    let (code, shown) = recipe(&tampered);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("MISMATCH"), "{shown}");

    // audit verify agrees, and counts the pending bet.
    let audit = croupier(&url, &["audit", "verify"]);
    let shown = String::from_utf8_lossy(&audit.stdout);
    assert_eq!(audit.status.code(), Some(0), "{shown}");
    assert!(shown.contains("2 recomputed"), "{shown}");
    assert!(shown.contains("1 pending"), "{shown}");

    // fair verify, from the log only: the revealed bets agree, the last one waits.
    let bet_of = |i: usize| placed[i]["payload"]["bet_id"].as_str().unwrap().to_owned();
    for i in 0..2 {
        let out = croupier(&url, &["fair", "verify", &bet_of(i)]);
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert!(shown.contains("OK: stake 10"), "{shown}");
    }
    assert_eq!(
        croupier(&url, &["fair", "verify", &bet_of(2)])
            .status
            .code(),
        Some(3)
    );
}
