//! Recorded Bot API updates (`tests/data/*.json`) through the translation and, for the
//! inputs that must never reach the ledger, through the core with a port that refuses
//! every ledger call: odd input gets a helpful reply or is ignored, and never crashes.

use bot_core::call::Call;
use bot_core::payload::PayloadSigner;
use bot_core::port::{
    Committed, Decision, FairState, HistoryLine, Port, PortError, Rotated, Round, Standing,
};
use bot_core::update::{Ignored, Input};
use bot_core::{translate, Bot, Config};
use ledger::command::Request;
use ledger::session::SessionState;
use ledger::{Outcome, PlayerId};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn input(name: &str) -> Input {
    translate(&fixture(name)).input
}

fn ignored(name: &str) -> Ignored {
    match input(name) {
        Input::Ignored { reason } => reason,
        other => panic!("{name}: expected to be ignored, got {other:?}"),
    }
}

#[test]
fn messages_callbacks_and_payments_translate() {
    let Input::Text {
        from,
        message_id,
        text,
    } = input("start.json")
    else {
        panic!()
    };
    assert_eq!(
        (from.user, from.chat, message_id, text.as_str()),
        (424_242, 424_242, 1, "/start")
    );
    let Input::Callback { id, data, from } = input("callback_query.json") else {
        panic!()
    };
    assert_eq!(
        (id.as_str(), data.as_str(), from.user),
        ("4382918239182391", "/balance", 424_242)
    );
    let Input::PreCheckout {
        id,
        total_amount,
        currency,
        ..
    } = input("pre_checkout_query.json")
    else {
        panic!()
    };
    assert_eq!(
        (id.as_str(), total_amount, currency.as_str()),
        ("pcq-1", 100, "XTR")
    );
    let Input::PaymentSucceeded {
        charge_id,
        total_amount,
        ..
    } = input("successful_payment.json")
    else {
        panic!()
    };
    assert_eq!((charge_id.as_str(), total_amount), ("stxAbC123", 100));
    let Input::PaymentRefunded { charge_id, .. } = input("refunded_payment.json") else {
        panic!()
    };
    assert_eq!(charge_id, "stxAbC123");
    assert_eq!(translate(&fixture("coinflip.json")).update_id, Some(101));
}

#[test]
fn odd_updates_are_ignored_with_a_reason() {
    assert_eq!(ignored("edited_message.json"), Ignored::Edited);
    assert_eq!(ignored("channel_post.json"), Ignored::NoPlayer);
    assert_eq!(ignored("group_message.json"), Ignored::NotPrivate);
    assert_eq!(ignored("sticker.json"), Ignored::NoText);
    assert_eq!(ignored("from_bot.json"), Ignored::FromBot);
    assert_eq!(ignored("not_json.json"), Ignored::Malformed);
    // An update kind this Bot API version does not know keeps its id, so it can be
    // acknowledged and is not redelivered forever.
    let unknown = translate(&fixture("unknown_kind.json"));
    assert_eq!(unknown.update_id, Some(108));
    assert_eq!(
        unknown.input,
        Input::Ignored {
            reason: Ignored::UnknownKind
        }
    );
    assert_eq!(translate(b"").update_id, None);
    assert_eq!(translate(br#"{"update_id": "7"}"#).update_id, None);
}

#[test]
fn a_forwarded_dice_is_not_a_bet() {
    assert!(matches!(
        input("user_dice.json"),
        Input::Dice { value: 64, .. }
    ));
}

/// A port for inputs that must not reach the ledger: every call fails the test.
struct NoLedger;

fn refused<T>() -> Result<T, PortError> {
    Err(PortError::Broken(
        "this input must not reach the ledger".to_owned(),
    ))
}

impl Port for NoLedger {
    async fn submit(&self, _: Request, _: &str) -> Result<Outcome, PortError> {
        refused()
    }
    async fn standing(&self, _: PlayerId) -> Result<Standing, PortError> {
        refused()
    }
    async fn history(&self, _: PlayerId, _: usize) -> Result<Vec<HistoryLine>, PortError> {
        refused()
    }
    async fn register(&self, _: PlayerId, _: i64) -> Result<bool, PortError> {
        refused()
    }
    async fn fair_state(&self, _: PlayerId) -> Result<FairState, PortError> {
        refused()
    }
    async fn fair_round(&self, _: PlayerId, _: &str, _: &str) -> Result<Round, PortError> {
        refused()
    }
    async fn set_client_seed(&self, _: PlayerId, _: &str) -> Result<FairState, PortError> {
        refused()
    }
    async fn rotate_seed(&self, _: PlayerId) -> Result<Rotated, PortError> {
        refused()
    }
    async fn session(&self, chat: i64, player: PlayerId) -> Result<SessionState, PortError> {
        let mut session = SessionState::new(&ledger::session::stream_of(chat, player.get(), 1));
        session.chat = chat;
        session.player = player.get();
        Ok(session)
    }
    async fn commit(&self, decision: Decision) -> Result<Committed, PortError> {
        if decision.commands.is_empty() {
            Ok(Committed::Done(Vec::new()))
        } else {
            refused()
        }
    }
}

fn bot() -> Bot {
    Bot::new(Config::new(PayloadSigner::new(b"test key")))
}

async fn calls(input: &Input) -> Vec<Call> {
    bot()
        .handle(&NoLedger, input, 1_800_000_000)
        .await
        .expect("handled without the ledger")
}

fn text_of(call: &Call) -> &str {
    call.params["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn bad_arguments_get_a_reply_and_never_reach_the_ledger() {
    let replies = calls(&input("non_numeric_amount.json")).await;
    assert_eq!(replies.len(), 1);
    assert!(
        text_of(&replies[0]).contains("'lots' is not an amount"),
        "{replies:?}"
    );
    let replies = calls(&input("huge_text.json")).await;
    assert!(text_of(&replies[0]).contains("too long"), "{replies:?}");
    for ignored in [
        "edited_message.json",
        "channel_post.json",
        "group_message.json",
        "unknown_kind.json",
        "user_dice.json",
    ] {
        assert!(calls(&input(ignored)).await.is_empty(), "{ignored}");
    }
}

#[tokio::test]
async fn a_pre_checkout_with_a_forged_or_expired_payload_is_refused_in_the_answer() {
    let forged = calls(&input("pre_checkout_query.json")).await;
    assert_eq!(forged[0].method, "answerPreCheckoutQuery");
    assert_eq!(forged[0].params["ok"], false);
    assert!(forged[0].params["error_message"]
        .as_str()
        .unwrap()
        .contains("not issued by this bot"));

    let bot = bot();
    let order = bot_core::payload::Order {
        kind: bot_core::payload::OrderKind::Deposit,
        player: 424_242,
        total_amount: 100,
        currency: "XTR".to_owned(),
        expires: 1_800_000_000,
    };
    let payload = bot.config().signer.sign(&order);
    let query = |user: u64, amount: u64| Input::PreCheckout {
        user,
        id: "q".to_owned(),
        currency: "XTR".to_owned(),
        total_amount: amount,
        payload: payload.clone(),
    };
    let answer = |calls: Vec<Call>| calls[0].params.clone();
    assert_eq!(
        answer(
            bot.handle(&NoLedger, &query(424_242, 100), 1_799_999_999)
                .await
                .unwrap()
        )["ok"],
        true
    );
    let late = answer(
        bot.handle(&NoLedger, &query(424_242, 100), 1_800_000_001)
            .await
            .unwrap(),
    );
    assert!(
        late["error_message"].as_str().unwrap().contains("expired"),
        "{late}"
    );
    let other = answer(
        bot.handle(&NoLedger, &query(7, 100), 1_799_999_999)
            .await
            .unwrap(),
    );
    assert!(
        other["error_message"]
            .as_str()
            .unwrap()
            .contains("another player"),
        "{other}"
    );
}

#[tokio::test]
async fn a_deposit_command_sends_a_signed_invoice_the_bot_accepts_back() {
    let bot = bot();
    let Input::Text { from, .. } = input("start.json") else {
        panic!()
    };
    let deposit = Input::Text {
        from,
        message_id: 50,
        text: "/deposit 250".to_owned(),
    };
    let invoice = bot
        .handle(&NoLedger, &deposit, 1_800_000_000)
        .await
        .unwrap();
    assert_eq!(invoice[0].method, "sendInvoice");
    assert_eq!(invoice[0].params["prices"][0]["amount"], 250);
    let payload = invoice[0].params["payload"].as_str().unwrap();
    let order = bot.config().signer.verify(payload).unwrap();
    assert_eq!(
        (order.player, order.total_amount, order.expires),
        (424_242, 250, 1_800_003_600)
    );
    let too_big = Input::Text {
        from,
        message_id: 51,
        text: "/deposit 20000".to_owned(),
    };
    let refused = bot
        .handle(&NoLedger, &too_big, 1_800_000_000)
        .await
        .unwrap();
    assert!(
        text_of(&refused[0]).contains("from 1 to 10000"),
        "{refused:?}"
    );
}
