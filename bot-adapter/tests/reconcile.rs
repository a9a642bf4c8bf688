//! `reconcile`, pure: Telegram's Stars transactions against the ledger's deposits.

use bot_adapter::dispatcher::RefundAnswer;
use bot_adapter::reconcile::*;
use frankenstein::payments::StarTransaction;
use rust_decimal::Decimal;
use simulation::fake::{star_payment, star_refund};

const DAY_1: u64 = 1_700_000_000; // 2023-11-14
const DAY_2: u64 = DAY_1 + 86_400;

fn listed(values: &[serde_json::Value]) -> Vec<StarTransaction> {
    values
        .iter()
        .map(|v| serde_json::from_value(v.clone()).expect("the fake's JSON is a StarTransaction"))
        .collect()
}

fn deposit(charge: &str, player: i64, amount: i64, refunded: bool) -> LedgerDeposit {
    LedgerDeposit {
        charge_id: charge.to_owned(),
        player,
        amount: Decimal::from(amount),
        currency: "XTR".to_owned(),
        refunded,
        refund_pending: false,
        credited_at: "2023-11-14T22:13:21.000000Z".to_owned(),
    }
}

#[test]
fn payments_and_refunds_both_sides_have_agree() {
    let telegram = listed(&[
        star_payment("a", 7, 50, DAY_1),
        star_payment("b", 8, 20, DAY_1),
        star_refund("b", 8, 20, DAY_2),
    ]);
    let ledger = [deposit("a", 7, 50, false), deposit("b", 8, 20, true)];
    let result = reconcile(&telegram, &ledger, None);
    assert_eq!(result.discrepancies, []);
    assert_eq!(result.agreed, 2);
    assert_eq!(
        result.telegram,
        TelegramCounts {
            transactions: 3,
            payments: 2,
            refunds: 1,
            other: 0
        }
    );
}

#[test]
fn each_kind_of_disagreement_is_named() {
    let telegram = listed(&[
        star_payment("missing", 7, 10, DAY_1),
        star_payment("amount", 7, 40, DAY_1),
        star_payment("player", 7, 5, DAY_1),
        star_payment("refund", 7, 5, DAY_1),
        star_refund("refund", 7, 5, DAY_1),
    ]);
    let ledger = [
        deposit("amount", 7, 45, false),
        deposit("player", 9, 5, false),
        deposit("refund", 7, 5, false),
        deposit("unknown", 7, 30, false),
    ];
    let found: Vec<(&str, String)> = reconcile(&telegram, &ledger, None)
        .discrepancies
        .iter()
        .map(|d| (d.kind(), d.charge_id().to_owned()))
        .collect();
    let expected = [
        ("missing_from_ledger", "missing"),
        ("amount_mismatch", "amount"),
        ("player_mismatch", "player"),
        ("refund_mismatch", "refund"),
        ("unknown_to_telegram", "unknown"),
    ];
    assert_eq!(found, expected.map(|(k, c)| (k, c.to_owned())).to_vec());
}

#[test]
fn since_drops_older_discrepancies_but_still_matches_across_the_bound() {
    let telegram = listed(&[
        star_payment("old", 7, 10, DAY_1),
        star_payment("late", 7, 10, DAY_1),
        star_payment("new", 7, 10, DAY_2),
    ]);
    // "late" was paid on day 1 and credited on day 2: it matches, nothing to say.
    let mut late = deposit("late", 7, 10, false);
    late.credited_at = "2023-11-15T00:00:01.000000Z".to_owned();
    let result = reconcile(&telegram, &[late], Some("2023-11-15"));
    let charges: Vec<&str> = result
        .discrepancies
        .iter()
        .map(Discrepancy::charge_id)
        .collect();
    assert_eq!(charges, ["new"]);
}

#[test]
fn other_transactions_are_counted_not_compared() {
    let withdrawal = serde_json::json!({
        "id": "w1", "amount": 500, "date": DAY_1,
        "receiver": { "type": "fragment" },
    });
    let result = reconcile(&listed(&[withdrawal]), &[], None);
    assert_eq!(result.telegram.other, 1);
    assert_eq!(result.discrepancies, []);
}

/// Issue 18, item 4: a staff refund the ledger still holds pending is settled by what
/// Telegram's side says: made when Telegram lists its refund, refused when the latest
/// request's call is a dead letter, left pending while the call is on its way.
#[test]
fn staff_refunds_left_pending_are_settled_by_telegrams_side() {
    let telegram = listed(&[
        star_payment("made", 7, 50, DAY_1),
        star_refund("made", 7, 50, DAY_2),
        star_payment("refused", 7, 20, DAY_1),
        star_payment("waiting", 7, 5, DAY_1),
    ]);
    let pending = |charge: &str, amount| LedgerDeposit {
        refund_pending: true,
        ..deposit(charge, 7, amount, false)
    };
    let ledger = [
        pending("made", 50),
        pending("refused", 20),
        pending("waiting", 5),
        deposit("settled", 7, 5, true),
    ];
    let dead = [
        DeadRefund {
            charge_id: "refused".to_owned(),
            attempt: 0,
            error: "400 Bad Request: CHARGE_NOT_FOUND".to_owned(),
        },
        DeadRefund {
            charge_id: "refused".to_owned(),
            attempt: 1,
            error: "403 Forbidden".to_owned(),
        },
        DeadRefund {
            charge_id: "settled".to_owned(),
            attempt: 0,
            error: "403 Forbidden".to_owned(),
        },
    ];
    let answers: Vec<(String, Option<u32>, RefundAnswer)> =
        pending_refunds(&telegram, &ledger, &dead)
            .into_iter()
            .map(|p| (p.charge_id, p.attempt, p.answer))
            .collect();
    assert_eq!(
        answers,
        [
            ("made".to_owned(), None, RefundAnswer::Made),
            (
                "refused".to_owned(),
                Some(1),
                RefundAnswer::Refused("403 Forbidden".to_owned())
            ),
        ]
    );
}

#[test]
fn a_staff_refund_calls_dedupe_key_names_its_charge_and_attempt() {
    use bot_adapter::staff::refund_attempt;
    assert_eq!(refund_attempt("staffrefund:ch-1:2:0"), Some(("ch-1", 2)));
    assert_eq!(refund_attempt("staffrefund:ch-1:0"), None);
    assert_eq!(refund_attempt("spin:b1:0"), None);
}
