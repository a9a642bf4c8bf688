//! The ledger's rules, data-driven: given these accepted commands, when this command,
//! expect these events and balances, or this rejection. No database, no clock.

use ledger::wire::parse_command;
use ledger::{Event, Ledger, PlayerId, PlayerState, Timestamp};

const P: i64 = 7;

/// Builds a command line for player 7 from `type` and the remaining fields.
fn cmd(kind: &str, fields: &str) -> String {
    let sep = if fields.is_empty() { "" } else { "," };
    format!(r#"{{"type":"{kind}","idempotency_key":"k","player":{P}{sep}{fields}}}"#)
}

fn deposit(amount: &str, charge: &str) -> String {
    cmd(
        "deposit",
        &format!(
            r#""amount":"{amount}","currency":"XTR","method":"telegram_stars","external_ref":"{charge}""#
        ),
    )
}

fn bet(id: &str, stake: &str) -> String {
    cmd(
        "place_bet",
        &format!(r#""bet_id":"{id}","game":"coinflip","stake":"{stake}","currency":"XTR""#),
    )
}

fn settle(id: &str, payout: &str) -> String {
    cmd(
        "settle_bet",
        &format!(r#""bet_id":"{id}","payout":"{payout}""#),
    )
}

fn void(id: &str) -> String {
    cmd(
        "void_bet",
        &format!(r#""bet_id":"{id}","reason":"dice unknown""#),
    )
}

fn refund(charge: &str, forced: bool) -> String {
    cmd(
        "refund_deposit",
        &format!(r#""external_ref":"{charge}","forced":{forced}"#),
    )
}

fn request_refund(charge: &str) -> String {
    cmd("request_refund", &format!(r#""external_ref":"{charge}""#))
}

fn confirm_refund(charge: &str) -> String {
    cmd("confirm_refund", &format!(r#""external_ref":"{charge}""#))
}

fn reverse_refund(charge: &str) -> String {
    cmd(
        "reverse_refund",
        &format!(r#""external_ref":"{charge}","reason":"400 Bad Request: CHARGE_NOT_FOUND""#),
    )
}

fn adjust(amount: &str, currency: &str) -> String {
    cmd(
        "adjust",
        &format!(r#""amount":"{amount}","currency":"{currency}","reason":"goodwill""#),
    )
}

fn subscribe(amount: &str, charge: &str, until_micros: i64) -> String {
    cmd(
        "pay_subscription",
        &format!(
            r#""amount":"{amount}","currency":"XTR","method":"telegram_stars","external_ref":"{charge}","until_micros":{until_micros},"renewal":false"#
        ),
    )
}

enum Then {
    /// Event types, then `CURRENCY=cash/in_play` for every currency touched.
    Accepted(&'static [&'static str], &'static str),
    Rejected(&'static str),
}

fn check(given: &[String], when: String, then: Then) {
    let ledger = Ledger::default();
    let mut state = PlayerState::new(PlayerId::new(P).unwrap());
    let now = Timestamp::from_micros(1_700_000_000_000_000);
    for line in given {
        let request = parse_command(line).unwrap();
        let events = ledger
            .decide(&state, &request.command, now)
            .unwrap_or_else(|r| panic!("given {line} was rejected: {r}"));
        events.iter().for_each(|e| state.apply(e));
    }
    let request = parse_command(&when).unwrap();
    let outcome = ledger.decide(&state, &request.command, now);
    match (then, outcome) {
        (Then::Accepted(types, balances), Ok(events)) => {
            let got: Vec<_> = events.iter().map(Event::event_type).collect();
            assert_eq!(got, types, "when {when}");
            events.iter().for_each(|e| state.apply(e));
            let shown: Vec<String> = state
                .cash
                .iter()
                .map(|(c, cash)| format!("{c}={cash}/{}", state.in_play(c)))
                .collect();
            assert_eq!(shown.join(" "), balances, "when {when}");
        }
        (Then::Rejected(code), Err(rejection)) => {
            assert_eq!(rejection.code(), code, "when {when}: {rejection}");
        }
        (Then::Accepted(..), Err(rejection)) => panic!("when {when}: rejected with {rejection}"),
        (Then::Rejected(code), Ok(events)) => {
            panic!("when {when}: expected {code}, got {events:?}")
        }
    }
}

use Then::{Accepted, Rejected};

#[test]
fn deposits() {
    check(
        &[],
        deposit("100", "c1"),
        Accepted(&["deposited"], "XTR=100/0"),
    );
    check(
        &[deposit("100", "c1")],
        deposit("100", "c1"),
        Rejected("duplicate_deposit"),
    );
    check(&[], deposit("0", "c1"), Rejected("invalid_amount"));
    check(&[], deposit("-5", "c1"), Rejected("invalid_amount"));
    check(&[], deposit("1.5", "c1"), Rejected("invalid_amount"));
    check(&[], deposit("100000001", "c1"), Rejected("invalid_amount"));
    let usd_stars = cmd(
        "deposit",
        r#""amount":"5","currency":"USD","method":"telegram_stars","external_ref":"c""#,
    );
    check(&[], usd_stars, Rejected("currency_mismatch"));
    let card = cmd(
        "deposit",
        r#""amount":"5.5","currency":"USD","method":"card","external_ref":"c""#,
    );
    check(&[], card, Accepted(&["deposited"], "USD=5.50/0"));
    let gbp = cmd(
        "deposit",
        r#""amount":"5","currency":"GBP","method":"card","external_ref":"c""#,
    );
    check(&[], gbp, Rejected("unknown_currency"));
}

#[test]
fn bets_take_stakes_into_play() {
    check(
        &[deposit("100", "c1")],
        bet("b1", "10"),
        Accepted(&["bet_placed"], "XTR=90/10"),
    );
    check(
        &[deposit("100", "c1")],
        bet("b1", "100"),
        Accepted(&["bet_placed"], "XTR=0/100"),
    );
    check(
        &[deposit("100", "c1")],
        bet("b1", "101"),
        Rejected("insufficient_funds"),
    );
    check(&[], bet("b1", "1"), Rejected("insufficient_funds"));
    check(
        &[deposit("100", "c1"), bet("b1", "10")],
        bet("b1", "10"),
        Rejected("duplicate_bet"),
    );
    check(
        &[deposit("100", "c1")],
        bet("b1", "0"),
        Rejected("invalid_amount"),
    );
    let eur = cmd(
        "place_bet",
        r#""bet_id":"b","game":"dice","stake":"1","currency":"EUR""#,
    );
    check(&[deposit("100", "c1")], eur, Rejected("insufficient_funds"));
}

#[test]
fn a_bet_is_closed_exactly_once() {
    let open = [deposit("100", "c1"), bet("b1", "10")];
    check(
        &open,
        settle("b1", "18"),
        Accepted(&["bet_settled"], "XTR=108/0"),
    );
    check(
        &open,
        settle("b1", "0"),
        Accepted(&["bet_settled"], "XTR=90/0"),
    );
    check(&open, void("b1"), Accepted(&["bet_voided"], "XTR=100/0"));
    check(&open, settle("b1", "-1"), Rejected("invalid_amount"));
    check(&open, settle("b1", "1.5"), Rejected("invalid_amount"));
    check(&open, settle("b2", "10"), Rejected("unknown_bet"));
    check(&open, void("b2"), Rejected("unknown_bet"));
    let settled = [deposit("100", "c1"), bet("b1", "10"), settle("b1", "0")];
    check(&settled, settle("b1", "20"), Rejected("bet_already_closed"));
    check(&settled, void("b1"), Rejected("bet_already_closed"));
    let voided = [deposit("100", "c1"), bet("b1", "10"), void("b1")];
    check(&voided, settle("b1", "20"), Rejected("bet_already_closed"));
}

#[test]
fn a_deposit_is_refunded_at_most_once_and_only_when_covered() {
    check(
        &[deposit("100", "c1")],
        refund("c1", false),
        Accepted(&["deposit_refunded"], "XTR=0/0"),
    );
    check(
        &[deposit("100", "c1")],
        refund("c2", false),
        Rejected("unknown_deposit"),
    );
    check(
        &[deposit("100", "c1"), refund("c1", false)],
        refund("c1", false),
        Rejected("deposit_already_refunded"),
    );
    let spent = [deposit("100", "c1"), bet("b1", "60"), settle("b1", "0")];
    check(&spent, refund("c1", false), Rejected("insufficient_funds"));
    // A refund the payment network already made is recorded anyway: a visible debt.
    check(
        &spent,
        refund("c1", true),
        Accepted(&["deposit_refunded"], "XTR=-60/0"),
    );
    let in_debt = [
        deposit("100", "c1"),
        bet("b1", "60"),
        settle("b1", "0"),
        refund("c1", true),
    ];
    check(&in_debt, bet("b2", "1"), Rejected("insufficient_funds"));
    check(
        &in_debt,
        refund("c1", true),
        Rejected("deposit_already_refunded"),
    );
}

/// Issue 18, item 1: a refund Telegram delivered before its payment was refused as an
/// unknown deposit, and the payment then credited for good.
#[test]
fn a_refund_delivered_before_its_payment_is_lost() {
    let early = [refund("c1", true)];
    check(&[], refund("c1", true), Accepted(&["refund_noted"], ""));
    check(
        &early,
        refund("c1", true),
        Rejected("deposit_already_refunded"),
    );
    // The payment arrives: credited and refunded at once, both in the log.
    check(
        &early,
        deposit("100", "c1"),
        Accepted(&["deposited", "deposit_refunded"], "XTR=0/0"),
    );
    check(
        &[refund("c1", true), deposit("100", "c1")],
        refund("c1", true),
        Rejected("deposit_already_refunded"),
    );
    // Only that charge: another payment is credited as usual.
    check(
        &early,
        deposit("40", "c2"),
        Accepted(&["deposited"], "XTR=40/0"),
    );
    // The same for a subscription charge: revenue in and out, no entitlement.
    check(
        &early,
        subscribe("250", "c1", 1_800_000_000_000_000),
        Accepted(&["subscription_paid", "subscription_refunded"], ""),
    );
    // Staff ask for refunds through the bot: those of unknown charges stay refused.
    check(&[], refund("c1", false), Rejected("unknown_deposit"));
}

/// Issue 18, item 4: a staff refund debited the player at once, so a refund Telegram
/// then refused for good left the player debited and no money sent. It is now held
/// (`house:refunds_pending`) until Telegram answers: confirmed, or reversed back to the
/// player, who may then ask again.
#[test]
fn a_staff_refund_telegram_refuses_for_good_leaves_the_player_debited() {
    let requested = [deposit("100", "c1"), request_refund("c1")];
    check(
        &[deposit("100", "c1")],
        request_refund("c1"),
        Accepted(&["refund_requested"], "XTR=0/0"),
    );
    check(
        &requested,
        reverse_refund("c1"),
        Accepted(&["refund_reversed"], "XTR=100/0"),
    );
    check(
        &requested,
        confirm_refund("c1"),
        Accepted(&["refund_confirmed"], "XTR=0/0"),
    );
    // Pending: neither refundable again nor spendable; settled once.
    check(&requested, request_refund("c1"), Rejected("refund_pending"));
    check(&requested, refund("c1", false), Rejected("refund_pending"));
    check(&requested, bet("b1", "1"), Rejected("insufficient_funds"));
    let reversed = [
        deposit("100", "c1"),
        request_refund("c1"),
        reverse_refund("c1"),
    ];
    check(
        &reversed,
        confirm_refund("c1"),
        Rejected("no_refund_pending"),
    );
    check(
        &reversed,
        reverse_refund("c1"),
        Rejected("no_refund_pending"),
    );
    // Reversed, the deposit can be refunded again.
    check(
        &reversed,
        request_refund("c1"),
        Accepted(&["refund_requested"], "XTR=0/0"),
    );
    let confirmed = [
        deposit("100", "c1"),
        request_refund("c1"),
        confirm_refund("c1"),
    ];
    check(
        &confirmed,
        request_refund("c1"),
        Rejected("deposit_already_refunded"),
    );
    check(
        &confirmed,
        refund("c1", true),
        Rejected("deposit_already_refunded"),
    );
    // Telegram's report of the refund (`refunded_payment`) confirms it: no second debit.
    check(
        &requested,
        refund("c1", true),
        Accepted(&["refund_confirmed"], "XTR=0/0"),
    );
    // Only what the player can cover, of a deposit they were credited with.
    let spent = [deposit("100", "c1"), bet("b1", "50")];
    check(&spent, request_refund("c1"), Rejected("insufficient_funds"));
    check(&[], request_refund("c1"), Rejected("unknown_deposit"));
    check(&[], confirm_refund("c1"), Rejected("no_refund_pending"));
}

/// The postings of each phase: held, then out to the network or back to the player.
#[test]
fn a_staff_refund_holds_the_money_in_refunds_pending() {
    let ledger = Ledger::default();
    let mut state = PlayerState::new(PlayerId::new(P).unwrap());
    let now = Timestamp::from_micros(1_700_000_000_000_000);
    let mut postings = |line: String| {
        let request = parse_command(&line).unwrap();
        let events = ledger.decide(&state, &request.command, now).unwrap();
        events.iter().for_each(|e| state.apply(e));
        events[0]
            .postings()
            .iter()
            .map(|p| format!("{} {}", p.account, p.amount))
            .collect::<Vec<_>>()
    };
    postings(deposit("100", "c1"));
    assert_eq!(
        postings(request_refund("c1")),
        ["player:7:cash -100", "house:refunds_pending 100"]
    );
    assert_eq!(
        postings(reverse_refund("c1")),
        ["house:refunds_pending -100", "player:7:cash 100"]
    );
    postings(request_refund("c1"));
    assert_eq!(
        postings(confirm_refund("c1")),
        ["house:refunds_pending -100", "external:telegram_stars 100"]
    );
}

#[test]
fn adjustments_are_signed_and_never_overdraw() {
    check(
        &[],
        adjust("25", "XTR"),
        Accepted(&["adjusted"], "XTR=25/0"),
    );
    check(
        &[deposit("10", "c1")],
        adjust("-10", "XTR"),
        Accepted(&["adjusted"], "XTR=0/0"),
    );
    check(
        &[deposit("10", "c1")],
        adjust("-11", "XTR"),
        Rejected("insufficient_funds"),
    );
    check(&[], adjust("0", "XTR"), Rejected("invalid_amount"));
    check(
        &[],
        adjust("0.01", "EUR"),
        Accepted(&["adjusted"], "EUR=0.01/0"),
    );
}

#[test]
fn currencies_never_mix() {
    let usd = cmd(
        "deposit",
        r#""amount":"50","currency":"USD","method":"card","external_ref":"u1""#,
    );
    let given = [deposit("100", "c1"), usd];
    let usd_bet = cmd(
        "place_bet",
        r#""bet_id":"b","game":"dice","stake":"50.5","currency":"USD""#,
    );
    check(&given, usd_bet, Rejected("insufficient_funds"));
    let given = [deposit("100", "c1"), bet("b1", "10")];
    // The payout is in the bet's currency, at its scale.
    check(&given, settle("b1", "0.5"), Rejected("invalid_amount"));
}

#[test]
#[should_panic(expected = "postings do not sum to zero")]
fn apply_stops_on_unbalanced_postings() {
    let ledger = Ledger::default();
    let mut state = PlayerState::new(PlayerId::new(P).unwrap());
    let request = parse_command(&deposit("100", "c1")).unwrap();
    let mut events = ledger
        .decide(&state, &request.command, Timestamp::default())
        .unwrap();
    if let Event::Deposited(e) = &mut events[0] {
        e.postings[0].amount += rust_decimal::Decimal::ONE;
    }
    state.apply(&events[0]);
}

#[test]
fn apply_refuses_an_event_that_does_not_match_its_postings() {
    let ledger = Ledger::default();
    let mut state = PlayerState::new(PlayerId::new(P).unwrap());
    let request = parse_command(&deposit("100", "c1")).unwrap();
    let mut events = ledger
        .decide(&state, &request.command, Timestamp::default())
        .unwrap();
    if let Event::Deposited(e) = &mut events[0] {
        e.amount = rust_decimal::Decimal::from(1000);
    }
    let before = state.clone();
    let err = state.try_apply(&events[0]).unwrap_err();
    assert!(err.to_string().contains("postings do not match"), "{err}");
    assert_eq!(state, before, "a refused event leaves no trace");
}

/// Events an auditor may meet in a tampered log: balanced, with postings that match their
/// fields, yet no decision could have made them. `try_apply` refuses each.
#[test]
fn apply_refuses_events_no_decision_could_make() {
    use rust_decimal::Decimal;
    let ledger = Ledger::default();
    let now = Timestamp::default();
    let player = PlayerId::new(P).unwrap();
    let decide = |state: &PlayerState, line: &str| {
        ledger
            .decide(state, &parse_command(line).unwrap().command, now)
            .unwrap()
            .remove(0)
    };
    let with_postings = |mut event: Event, edit: &dyn Fn(&mut Event)| {
        edit(&mut event);
        let postings = event.expected_postings().unwrap();
        match &mut event {
            Event::Deposited(e) => e.postings = postings,
            Event::BetPlaced(e) => e.postings = postings,
            Event::BetSettled(e) => e.postings = postings,
            Event::BetVoided(e) => e.postings = postings,
            Event::DepositRefunded(e) => e.postings = postings,
            Event::Adjusted(e) => e.postings = postings,
            Event::SubscriptionPaid(e) => e.postings = postings,
            Event::SubscriptionRefunded(e) => e.postings = postings,
            Event::RefundRequested(e) => e.postings = postings,
            Event::RefundConfirmed(e) => e.postings = postings,
            Event::RefundReversed(e) => e.postings = postings,
            Event::FairSeedCommitted(_) | Event::FairSeedRevealed(_) | Event::RefundNoted(_) => {}
        }
        event
    };
    let empty = PlayerState::new(player);
    let mut funded = PlayerState::new(player);
    funded.apply(&decide(&funded, &deposit("100", "c1")));
    let placed = decide(&funded, &bet("b1", "10"));
    let mut open = funded.clone();
    open.apply(&placed);
    let requested = decide(&funded, &request_refund("c1"));
    let mut pending = funded.clone();
    pending.apply(&requested);
    let confirmed = decide(&pending, &confirm_refund("c1"));
    let reversed = decide(&pending, &reverse_refund("c1"));

    let cases: Vec<(&str, &PlayerState, Event)> = vec![
        ("requested twice", &pending, requested.clone()),
        ("confirmed while none is pending", &funded, confirmed),
        ("reversed while none is pending", &funded, reversed),
        ("refunded while a refund is pending", &pending, {
            let mut state = PlayerState::new(player);
            state.apply(&decide(&state, &deposit("100", "c1")));
            decide(&state, &refund("c1", true))
        }),
        (
            "not positive",
            &empty,
            with_postings(decide(&empty, &deposit("100", "c1")), &|e| {
                if let Event::Deposited(d) = e {
                    d.amount = Decimal::from(-100);
                }
            }),
        ),
        (
            "is negative",
            &open,
            with_postings(decide(&open, &settle("b1", "0")), &|e| {
                if let Event::BetSettled(s) = e {
                    s.payout = Decimal::from(-50);
                }
            }),
        ),
        (
            "overdraft",
            &funded,
            with_postings(placed.clone(), &|e| {
                if let Event::BetPlaced(b) = e {
                    b.stake = Decimal::from(101);
                }
            }),
        ),
        ("placed twice", &open, placed.clone()),
        (
            "overdraft",
            &funded,
            with_postings(decide(&funded, &adjust("-10", "XTR")), &|e| {
                if let Event::Adjusted(a) = e {
                    a.amount = Decimal::from(-101);
                }
            }),
        ),
    ];
    for (expected, state, event) in cases {
        let mut state = state.clone();
        let before = state.clone();
        let err = state.try_apply(&event).unwrap_err().to_string();
        assert!(err.contains(expected), "expected '{expected}', got '{err}'");
        assert_eq!(state, before);
    }
    let settled = decide(&open, &settle("b1", "20"));
    let mut closed = open.clone();
    closed.apply(&settled);
    assert!(closed
        .try_apply(&settled)
        .unwrap_err()
        .to_string()
        .contains("closed twice"));
}

/// Subscription money is house revenue: it never touches player cash, a charge counts
/// once whether it came as a deposit or a subscription, and its refund ends what it paid.
#[test]
fn subscriptions_are_house_revenue_and_entitle_until_their_end() {
    const DAY: i64 = 86_400_000_000;
    check(
        &[deposit("100", "c1")],
        subscribe("250", "s1", 30 * DAY),
        Accepted(&["subscription_paid"], "XTR=100/0"),
    );
    check(
        &[],
        subscribe("250", "s1", 30 * DAY),
        Accepted(&["subscription_paid"], ""),
    );
    check(
        &[deposit("100", "c1")],
        subscribe("250", "c1", 30 * DAY),
        Rejected("duplicate_deposit"),
    );
    check(
        &[subscribe("250", "s1", 30 * DAY)],
        deposit("100", "s1"),
        Rejected("duplicate_deposit"),
    );
    check(&[], subscribe("0", "s1", DAY), Rejected("invalid_amount"));
    // A subscription charge is refunded from the house, even when the player has no cash.
    check(
        &[subscribe("250", "s1", 30 * DAY)],
        refund("s1", false),
        Accepted(&["subscription_refunded"], ""),
    );
    check(
        &[subscribe("250", "s1", 30 * DAY), refund("s1", true)],
        refund("s1", true),
        Rejected("deposit_already_refunded"),
    );

    let ledger = Ledger::default();
    let now = Timestamp::from_micros(DAY);
    let mut state = PlayerState::new(PlayerId::new(P).unwrap());
    let run = |state: &mut PlayerState, line: String| {
        let events = ledger
            .decide(state, &parse_command(&line).unwrap().command, now)
            .unwrap();
        for event in &events {
            let postings: Vec<String> = event
                .postings()
                .iter()
                .map(|p| format!("{} {}", p.account, p.amount))
                .collect();
            if let Event::SubscriptionPaid(_) = event {
                assert_eq!(
                    postings,
                    ["external:telegram_stars -250", "house:subscriptions 250"]
                );
            }
            state.apply(event);
        }
        state.subscribed_until().map(Timestamp::as_micros)
    };
    let s = &mut state;
    assert_eq!(run(s, subscribe("250", "s1", 30 * DAY)), Some(30 * DAY));
    assert_eq!(run(s, subscribe("250", "s2", 60 * DAY)), Some(60 * DAY));
    assert_eq!(
        run(s, refund("s2", true)),
        Some(30 * DAY),
        "the refunded renewal ends"
    );
    assert_eq!(s.current_subscription().unwrap().0.as_str(), "s1");
    assert_eq!(run(s, refund("s1", true)), None);
    assert!(
        state.cash.is_empty(),
        "no player cash moved: {:?}",
        state.cash
    );
}

// ---- provably fair: commitments, reveals, fair bets and their settlements ----

const SEED: [u8; 32] = [1; 32];

fn seed_hash() -> String {
    ledger::fair::seed_hash(&SEED)
}

fn commit(hash: &str) -> String {
    cmd("commit_fair_seed", &format!(r#""seed_hash":"{hash}""#))
}

fn reveal(hash: &str, seed: &[u8; 32]) -> String {
    cmd(
        "reveal_fair_seed",
        &format!(r#""seed_hash":"{hash}","seed":"{}""#, hex(seed)),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 10-Star dice bet under 50 with nonce `nonce` of [`SEED`].
fn fair_bet(id: &str, nonce: u64) -> String {
    cmd(
        "place_bet",
        &format!(
            r#""bet_id":"{id}","game":"dice","stake":"10","currency":"XTR","fair":{{"seed_hash":"{}","client_seed":"lucky-7","nonce":{nonce},"terms":"dice:50:200"}}"#,
            seed_hash()
        ),
    )
}

fn settle_rolled(id: &str, payout: &str, roll: u32) -> String {
    cmd(
        "settle_bet",
        &format!(r#""bet_id":"{id}","payout":"{payout}","roll":{roll}"#),
    )
}

/// The roll and payout nonce `nonce` of [`SEED`] gives a 10-Star dice bet under 50.
fn rolled(nonce: u64) -> (u32, String) {
    let roll = ledger::fair::roll(&SEED, "lucky-7", nonce);
    let terms = ledger::fair::Terms::parse("dice:50:200").unwrap();
    let payout = terms.outcome(rust_decimal::Decimal::TEN, roll, 0).payout;
    (roll, payout.to_string())
}

#[test]
fn a_seed_is_committed_once_and_revealed_once_as_the_seed_of_its_hash() {
    let hash = seed_hash();
    check(&[], commit(&hash), Accepted(&["fair_seed_committed"], ""));
    check(
        &[commit(&hash)],
        commit(&hash),
        Rejected("fair_seed_already_committed"),
    );
    check(&[], commit("not-a-hash"), Rejected("invalid_fair"));
    check(&[], commit(&hash.to_uppercase()), Rejected("invalid_fair"));
    check(
        &[commit(&hash)],
        reveal(&hash, &SEED),
        Accepted(&["fair_seed_revealed"], ""),
    );
    check(&[], reveal(&hash, &SEED), Rejected("unknown_fair_seed"));
    check(
        &[commit(&hash)],
        reveal(&hash, &[2; 32]),
        Rejected("fair_seed_mismatch"),
    );
    check(
        &[commit(&hash), reveal(&hash, &SEED)],
        reveal(&hash, &SEED),
        Rejected("fair_seed_already_revealed"),
    );
    // Revealed, a seed is never committed again: its rolls are public.
    check(
        &[commit(&hash), reveal(&hash, &SEED)],
        commit(&hash),
        Rejected("fair_seed_already_committed"),
    );
}

#[test]
fn a_fair_bet_needs_a_committed_unrevealed_seed_a_fresh_nonce_and_its_own_terms() {
    let hash = seed_hash();
    let funded = || vec![deposit("100", "c1"), commit(&hash)];
    check(
        &funded(),
        fair_bet("b1", 0),
        Accepted(&["bet_placed"], "XTR=90/10"),
    );
    check(
        &[deposit("100", "c1")],
        fair_bet("b1", 0),
        Rejected("unknown_fair_seed"),
    );
    check(
        &[deposit("100", "c1"), commit(&hash), reveal(&hash, &SEED)],
        fair_bet("b1", 0),
        Rejected("fair_seed_already_revealed"),
    );
    let mut used = funded();
    used.push(fair_bet("b1", 0));
    check(&used, fair_bet("b2", 0), Rejected("invalid_fair"));
    check(
        &used,
        fair_bet("b2", 1),
        Accepted(&["bet_placed"], "XTR=80/20"),
    );
    let coinflip_terms_on_dice = fair_bet("b1", 0).replace("dice:50:200", "coinflip:heads:200");
    check(&funded(), coinflip_terms_on_dice, Rejected("invalid_fair"));
    let nonsense = fair_bet("b1", 0).replace("dice:50:200", "dice:99:200");
    check(&funded(), nonsense, Rejected("invalid_fair"));
}

#[test]
fn a_fair_bet_settles_with_its_roll_for_what_the_roll_pays() {
    let hash = seed_hash();
    let placed = vec![deposit("100", "c1"), commit(&hash), fair_bet("b1", 0)];
    let (roll, payout) = rolled(0);
    let balance = format!(
        "XTR={}/0",
        rust_decimal::Decimal::from(90) + payout.parse::<rust_decimal::Decimal>().unwrap()
    );
    let balance: &'static str = Box::leak(balance.into_boxed_str());
    check(
        &placed,
        settle_rolled("b1", &payout, roll),
        Accepted(&["bet_settled"], balance),
    );
    // Not what the roll pays, no roll, a roll out of range.
    let wrong = if payout == "0" { "19" } else { "0" };
    check(
        &placed,
        settle_rolled("b1", wrong, roll),
        Rejected("invalid_fair"),
    );
    check(&placed, settle("b1", &payout), Rejected("invalid_fair"));
    check(
        &placed,
        settle_rolled("b1", &payout, 10_000),
        Rejected("invalid_fair"),
    );
    // A bet without fair inputs settles without a roll, as before.
    let plain = vec![deposit("100", "c1"), bet("b1", "10")];
    check(
        &plain,
        settle_rolled("b1", "0", 5),
        Rejected("invalid_fair"),
    );
    check(
        &plain,
        settle("b1", "0"),
        Accepted(&["bet_settled"], "XTR=90/0"),
    );
    // A seed revealed after the bet was placed still lets it settle (a crash between
    // the two): the audit checks it at once.
    let mut revealed = placed.clone();
    revealed.push(reveal(&hash, &SEED));
    check(
        &revealed,
        settle_rolled("b1", &payout, roll),
        Accepted(&["bet_settled"], balance),
    );
}

#[test]
fn apply_refuses_fair_facts_no_decision_could_make() {
    use ledger::event::{FairSeedCommitted, FairSeedRevealed};
    let player = PlayerId::new(P).unwrap();
    let mut state = PlayerState::new(player);
    let at = Timestamp::default();
    let revealed = |seed: &[u8; 32]| {
        Event::FairSeedRevealed(FairSeedRevealed {
            player,
            seed_hash: seed_hash(),
            seed: hex(seed),
            at,
        })
    };
    assert!(
        state.try_apply(&revealed(&SEED)).is_err(),
        "a reveal without a commitment"
    );
    state.apply(&Event::FairSeedCommitted(FairSeedCommitted {
        player,
        seed_hash: seed_hash(),
        at,
    }));
    let wrong = state.try_apply(&revealed(&[9; 32])).unwrap_err();
    assert!(
        wrong.problem.contains("does not hash to its commitment"),
        "{wrong}"
    );
    state.apply(&revealed(&SEED));
    assert!(state.try_apply(&revealed(&SEED)).is_err(), "revealed twice");
    assert_eq!(state.version, 2, "refused events leave no trace");
}

/// Regression: a dice win was paid through a rounded multiplier (100/target × 0.98), so
/// a whole payout such as a 3-Star bet at target 3 (3 × 98 / 3 = 98) came out as
/// 97.999… and was rounded down to 97. Every target and stake now pays exactly
/// ⌊stake × 100 × (10000 − edge) / (target × 10000)⌋, the integer formula an auditor's
/// recipe uses, and a coinflip ⌊stake × 2 × (10000 − edge) / 10000⌋.
#[test]
fn a_dice_win_whose_true_payout_is_whole_is_not_paid_one_star_short() {
    use ledger::fair::{Terms, DICE_TARGET_MAX, DICE_TARGET_MIN};
    use rust_decimal::Decimal;
    for edge in [0u32, 100, 200, 250] {
        for target in DICE_TARGET_MIN..=DICE_TARGET_MAX {
            let terms = Terms::parse(&format!("dice:{target}:{edge}")).unwrap();
            for stake in 1u32..=300 {
                let exact = u64::from(stake) * 100 * u64::from(10_000 - edge)
                    / (u64::from(target) * 10_000);
                let outcome = terms.outcome(Decimal::from(stake), 0, 0);
                assert!(outcome.won, "a roll of 0 wins every dice bet");
                assert_eq!(
                    outcome.payout,
                    Decimal::from(exact),
                    "dice:{target}:{edge} stake {stake}"
                );
            }
        }
        let coin = Terms::parse(&format!("coinflip:heads:{edge}")).unwrap();
        for stake in 1u32..=300 {
            let exact = u64::from(stake) * 2 * u64::from(10_000 - edge) / 10_000;
            let won = if coin.wins(0) { 0 } else { 9_999 };
            assert_eq!(
                coin.outcome(Decimal::from(stake), won, 0).payout,
                Decimal::from(exact)
            );
        }
    }
    // Cents: 5.00 USD at target 3 pays 163.33, not 163.32.
    let terms = Terms::parse("dice:3:200").unwrap();
    assert_eq!(
        terms.outcome(Decimal::new(500, 2), 0, 2).payout,
        Decimal::new(16333, 2)
    );
}

/// Player 7's state after the given command lines, and the events they recorded.
fn replay(lines: &[String]) -> (PlayerState, Vec<Event>) {
    let ledger = Ledger::default();
    let mut state = PlayerState::new(PlayerId::new(P).unwrap());
    let mut log = Vec::new();
    for line in lines {
        let events = ledger
            .decide(
                &state,
                &parse_command(line).unwrap().command,
                Timestamp::from_micros(1_700_000_000_000_000),
            )
            .unwrap_or_else(|r| panic!("{line} was rejected: {r}"));
        events.iter().for_each(|e| state.apply(e));
        log.extend(events);
    }
    (state, log)
}

/// Each currency's maximum is a valid amount; one smallest unit more is not.
#[test]
fn amounts_at_the_maximum_pass_and_one_unit_over_is_refused() {
    check(
        &[],
        deposit("100000000", "c1"),
        Accepted(&["deposited"], "XTR=100000000/0"),
    );
    check(&[], deposit("100000001", "c1"), Rejected("invalid_amount"));
    let card = |amount: &str| {
        cmd(
            "deposit",
            &format!(r#""amount":"{amount}","currency":"USD","method":"card","external_ref":"c""#),
        )
    };
    check(
        &[],
        card("10000000.00"),
        Accepted(&["deposited"], "USD=10000000.00/0"),
    );
    check(&[], card("10000000.01"), Rejected("invalid_amount"));
}

/// The version counts applied events one by one (the session and the store's optimistic
/// check read it); an event refused by `try_apply` counts nothing and changes nothing.
#[test]
fn every_applied_event_adds_one_to_the_version_and_a_refused_one_nothing() {
    let (mut state, log) = replay(&[deposit("100", "c1"), bet("b1", "10"), settle("b1", "0")]);
    assert_eq!(state.version, 3);
    let before = state.clone();
    assert!(state.try_apply(&log[0]).is_err(), "the deposit again");
    assert_eq!(state, before);
    let (single, _) = replay(&[deposit("100", "c1")]);
    assert_eq!(single.version, 1);
    // Every event carries the time it was decided at.
    assert!(log
        .iter()
        .all(|e| e.at() == Timestamp::from_micros(1_700_000_000_000_000)));
}

/// A refund event read from a log must give back exactly what its payment brought: the
/// same amount, currency and method. A tampered one is refused with its reason, its
/// postings recomputed so that only this rule can catch it.
#[test]
fn a_logged_refund_that_differs_from_its_payment_is_refused() {
    use ledger::{CurrencyCode, PaymentMethod};
    const DAY: i64 = 86_400_000_000;
    let tampered = |event: &Event, change: &dyn Fn(&mut Event)| {
        let mut event = event.clone();
        change(&mut event);
        let postings = event.expected_postings().unwrap();
        match &mut event {
            Event::DepositRefunded(e) => e.postings = postings,
            Event::SubscriptionRefunded(e) => e.postings = postings,
            other => panic!("not a refund: {other:?}"),
        }
        event
    };
    for (payment, problem) in [
        (
            deposit("100", "c1"),
            "refund of 'c1' differs from the deposit",
        ),
        (
            subscribe("100", "c1", 30 * DAY),
            "refund of 'c1' differs from the charge",
        ),
    ] {
        let (paid, _) = replay(std::slice::from_ref(&payment));
        let (_, log) = replay(&[payment, refund("c1", false)]);
        let honest = log.last().unwrap();
        paid.clone().try_apply(honest).unwrap();
        let changes: [&dyn Fn(&mut Event); 3] = [
            &|e| match e {
                Event::DepositRefunded(r) => r.amount -= rust_decimal::Decimal::ONE,
                Event::SubscriptionRefunded(r) => r.amount -= rust_decimal::Decimal::ONE,
                _ => {}
            },
            &|e| match e {
                Event::DepositRefunded(r) => r.currency = CurrencyCode::new("USD").unwrap(),
                Event::SubscriptionRefunded(r) => r.currency = CurrencyCode::new("USD").unwrap(),
                _ => {}
            },
            &|e| match e {
                Event::DepositRefunded(r) => r.method = PaymentMethod::new("card").unwrap(),
                Event::SubscriptionRefunded(r) => r.method = PaymentMethod::new("card").unwrap(),
                _ => {}
            },
        ];
        for change in changes {
            let event = tampered(honest, change);
            let violation = paid.clone().try_apply(&event).unwrap_err();
            assert_eq!(violation.problem, problem, "{event:?}");
        }
    }
}

/// A logged settlement's roll must fit the bet: a fair bet settles with a roll in
/// 0..10,000, a bet that was not fair never carries one. Each rule is checked on an
/// event read from a log (the decision cannot make these), with nothing else wrong.
#[test]
fn a_logged_settlement_whose_roll_does_not_fit_its_bet_is_refused() {
    let (roll, payout) = rolled(0);
    let fair_lines = [
        deposit("100", "c1"),
        commit(&seed_hash()),
        fair_bet("b1", 0),
    ];
    let (fair, _) = replay(&fair_lines);
    let (_, log) = replay(
        &[
            fair_lines.to_vec(),
            vec![settle_rolled("b1", &payout, roll)],
        ]
        .concat(),
    );
    let Some(Event::BetSettled(honest)) = log.last().cloned() else {
        panic!("not a settlement: {log:?}")
    };
    fair.clone()
        .try_apply(&Event::BetSettled(honest.clone()))
        .unwrap();
    let problem = |state: &PlayerState, roll: Option<u32>| {
        let mut event = honest.clone();
        event.roll = roll;
        state
            .clone()
            .try_apply(&Event::BetSettled(event))
            .unwrap_err()
            .problem
    };
    assert_eq!(problem(&fair, Some(10_000)), "roll 10000 is out of range");
    assert_eq!(
        problem(&fair, None),
        "fair bet 'b1' settled without its roll"
    );
    let (plain, _) = replay(&[deposit("100", "c1"), bet("b1", "10")]);
    assert_eq!(
        problem(&plain, Some(roll)),
        "bet 'b1' is not fair but settled with a roll"
    );
    // It closes the bet it names, as placed: another stake is refused.
    let mut restaked = honest.clone();
    restaked.stake += rust_decimal::Decimal::ONE;
    let mut restaked = Event::BetSettled(restaked);
    let postings = restaked.expected_postings().unwrap();
    if let Event::BetSettled(e) = &mut restaked {
        e.postings = postings;
    }
    assert_eq!(
        fair.clone().try_apply(&restaked).unwrap_err().problem,
        "bet 'b1' closed with another stake or currency"
    );
    // The last valid roll passes.
    let mut last = honest.clone();
    last.roll = Some(9_999);
    fair.clone().try_apply(&Event::BetSettled(last)).unwrap();
}

/// The words and codes clients and auditors read are stable: a rejection code prints and
/// compares as its string, a bet's status prints as its name, and which rejections may
/// succeed later under a new key is fixed.
#[test]
fn codes_statuses_and_transience_read_as_documented() {
    use ledger::{BetStatus, Rejection, RejectionCode};
    let code = RejectionCode::InsufficientFunds;
    assert_eq!(code.to_string(), "insufficient_funds");
    assert!(code == *"insufficient_funds" && code != *"unknown_bet");
    assert!(code == "insufficient_funds" && code != "unknown_bet");
    assert_eq!(BetStatus::Open.to_string(), "open");
    assert_eq!(BetStatus::Settled.to_string(), "settled");
    assert_eq!(BetStatus::Voided.to_string(), "voided");
    let bet_id = ledger::BetId::new("b1").unwrap();
    let transient = Rejection::UnknownBet {
        bet_id: bet_id.clone(),
    };
    let lasting = Rejection::DuplicateBet { bet_id };
    assert!(transient.transient());
    assert!(!lasting.transient());
}

/// A currency code reads back as written wherever it goes (its string, the log's
/// encoding), and the default currencies are listed.
#[test]
fn currency_codes_read_back_as_written() {
    use ledger::{Currencies, CurrencyCode};
    let usd = CurrencyCode::new("USD").unwrap();
    assert_eq!(usd.as_str(), "USD");
    assert_eq!(String::from(usd.clone()), "USD");
    assert_eq!(serde_json::to_string(&usd).unwrap(), "\"USD\"");
    let currencies = Currencies::default();
    let codes: Vec<&str> = currencies.codes().map(CurrencyCode::as_str).collect();
    assert!(
        codes.contains(&"XTR") && codes.contains(&"USD"),
        "{codes:?}"
    );
}

/// A command's fingerprint gives each field's canonical value by name.
#[test]
fn a_fingerprint_gives_each_fields_value_by_name() {
    let request = parse_command(&deposit("100.0", "c1")).unwrap();
    let fingerprint = request.command.fingerprint();
    assert_eq!(fingerprint.get("external_ref"), Some("c1"));
    assert_eq!(fingerprint.get("currency"), Some("XTR"));
    assert_eq!(fingerprint.get("no_such_field"), None);
}

/// An auditor reads why a fair bet does not recompute, in words that name the values.
#[test]
fn a_fair_disagreement_names_its_values() {
    use ledger::fair::Disagreement;
    assert_eq!(
        Disagreement::Roll {
            settled: 4217,
            recomputed: 5
        }
        .to_string(),
        "the settled roll 42.17 is not the seed's roll 0.05"
    );
    assert_eq!(
        Disagreement::NoRoll.to_string(),
        "the settlement carries no roll"
    );
}

/// `fair::win`: the stake times the multiplier, rounded down to the currency's scale.
#[test]
fn a_win_is_the_stake_times_the_multiplier_rounded_down() {
    use ledger::fair::win;
    use rust_decimal::Decimal;
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(win(d("10"), d("1.96"), 0), d("19"));
    assert_eq!(win(d("10"), d("1.96"), 2), d("19.6"));
    assert_eq!(win(d("3"), d("0.5"), 0), d("1"));
}

/// A logged fair bet must use a committed, unrevealed seed, a nonce not used before under
/// it and terms of its own game; the decision refuses such bets, so only a log read from
/// outside can hold one, and `try_apply` names what is wrong.
#[test]
fn a_logged_fair_bet_that_breaks_a_fairness_rule_is_refused() {
    let committed = [deposit("100", "c1"), commit(&seed_hash())];
    let (_, log) = replay(&[committed.to_vec(), vec![fair_bet("b1", 0)]].concat());
    let Some(Event::BetPlaced(honest)) = log.last().cloned() else {
        panic!("not a bet: {log:?}")
    };
    let problem = |lines: &[String], change: &dyn Fn(&mut ledger::event::BetPlaced)| {
        let (state, _) = replay(lines);
        let mut event = honest.clone();
        change(&mut event);
        state
            .clone()
            .try_apply(&Event::BetPlaced(event))
            .unwrap_err()
            .problem
    };
    let hash = seed_hash();
    assert_eq!(
        problem(&[deposit("100", "c1")], &|_| {}),
        format!("the bet's seed {hash} was never committed")
    );
    assert_eq!(
        problem(
            &[committed.to_vec(), vec![reveal(&hash, &SEED)]].concat(),
            &|_| {}
        ),
        format!("the bet's seed {hash} was already revealed")
    );
    assert_eq!(
        problem(
            &[committed.to_vec(), vec![fair_bet("b0", 0)]].concat(),
            &|_| {}
        ),
        format!("nonce 0 used twice under seed {hash}")
    );
    assert_eq!(
        problem(&committed, &|e| e.fair.as_mut().unwrap().terms =
            "coinflip:heads:200".to_owned()),
        "terms 'coinflip:heads:200' do not fit a dice bet"
    );
}

/// A player left in debt by a forced refund is not overdrawing when an event leaves their
/// cash where it was: a VIP payment (house revenue, no cash moves) is recorded.
#[test]
fn a_player_in_debt_may_still_pay_for_vip() {
    const DAY: i64 = 86_400_000_000;
    check(
        &[deposit("100", "c1"), bet("b1", "100"), refund("c1", true)],
        subscribe("250", "s1", 30 * DAY),
        Accepted(&["subscription_paid"], "XTR=-100/100"),
    );
}
