//! `croupier demo` and `croupier chat`: the real bot against the in-process fake Telegram,
//! with no Bot API server of ours to start.

mod common;

use std::process::{Command, Stdio};

use common::{croupier, sqlite_url};

#[test]
fn the_demo_plays_through_the_bot_and_its_figures_add_up_run_after_run() {
    let (url, _dir) = sqlite_url();
    for run in 1..=2 {
        let out = croupier(
            &url,
            &["demo", "--players", "12", "--rounds", "4", "--seed", "7"],
        );
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "run {run}: {shown}");
        assert!(shown.contains("100%  84 of 84 updates handled"), "{shown}");
        assert!(shown.contains("the read models equal a replay"), "{shown}");
        let figure = |label: &str| -> i64 {
            shown
                .lines()
                .find_map(|l| l.trim_start().strip_prefix(label))
                .unwrap_or_else(|| panic!("no {label} in {shown}"))
                .trim()
                .parse()
                .unwrap()
        };
        let (deposits, refunds, ggr) = (figure("deposits"), figure("refunds"), figure("GGR"));
        assert_eq!(figure("stakes settled") - figure("payouts"), ggr);
        assert_eq!(figure("liabilities"), deposits - refunds - ggr, "{shown}");
        // One of every ten players takes the deposit back; run 2 adds to run 1.
        assert!(refunds > 0 && deposits > 0, "{shown}");
    }
}

#[test]
fn chat_pays_an_invoice_and_plays_with_the_keyboard_from_piped_input() {
    let (url, _dir) = sqlite_url();
    let script = "/start\n/deposit 100\npay\n/balance\n/coinflip 10 heads\n1\nhelp\n/deposit\n2\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(["chat", "--user", "1001"])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    // Each reply follows what it answers.
    let after = |input: &str| -> &str {
        let start = said
            .find(&format!("you> {input}\n"))
            .unwrap_or_else(|| panic!("{input} not echoed: {said}"));
        let rest = &said[start + input.len() + 6..];
        &rest[..rest.find("you> ").unwrap_or(rest.len())]
    };
    let start = after("/start");
    assert!(start.contains("bot: Welcome to Croupier!"), "{start}");
    assert!(start.contains("[1] 💰 Balance  [2] ⭐ Deposit"), "{start}");
    assert!(
        after("/deposit 100")
            .contains("invoice \"100 Stars for Croupier\" for 100 ⭐ (type `pay` to pay)"),
        "{said}"
    );
    let paid = after("pay");
    assert!(paid.contains("(pre-checkout accepted)"), "{paid}");
    assert!(
        paid.contains("Received 100 ⭐. Your balance: 100 ⭐."),
        "{paid}"
    );
    assert!(
        after("/balance").contains("bot: Your balance: 100 ⭐."),
        "{said}"
    );
    let played = after("/coinflip 10 heads");
    assert!(played.contains("bot: "), "{played}");
    // 1 presses 💰 Balance on the menu /start showed: 90 after a loss, 109 after a win.
    let pressed = after("1");
    assert!(
        pressed.contains("Your balance: 90 ⭐.") || pressed.contains("Your balance: 109 ⭐."),
        "{said}"
    );
    assert!(after("help").contains("press button N"), "{said}");
    assert!(
        after("/deposit").contains("[1] 50 ⭐  [2] 100 ⭐  [3] 500 ⭐"),
        "{said}"
    );
    assert!(after("2").contains("for 100 ⭐"), "{said}");
}

/// Regression: `chat` stopped at a line that was not UTF-8, silently, and left every line
/// after it unread. It says so on stderr and goes on.
#[test]
fn chat_says_a_line_is_not_utf8_and_goes_on() {
    let (url, _dir) = sqlite_url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(["chat", "--user", "1001"])
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        b"/start\n\xff\xfe /balance\n/balance\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}{stderr}");
    assert!(
        stderr.contains("line 2 is not valid UTF-8"),
        "stderr: {stderr}"
    );
    assert!(
        said.contains("you> /balance\nbot: Your balance is 0 ⭐."),
        "the line after it is handled: {said}"
    );
}
