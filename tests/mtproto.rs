//! The MTProto transport (feature `mtproto`), without Telegram: no network reaches it
//! here. What can be checked is checked with constructed TL objects:
//!
//! - every recorded Bot API fixture (`bot-adapter/core/tests/data`) has a TL equivalent
//!   built here, and both translations must give the same `Input`;
//! - the outbox's Bot API calls become the right TL requests, with a deterministic
//!   `random_id`; FLOOD_WAIT and CHARGE_ALREADY_REFUNDED are read as the dispatcher needs;
//! - the session survives a restart (file and database), `Pipeline::process_input`
//!   de-duplicates, and `serve` refuses MTProto while a webhook is set.
#![cfg(feature = "mtproto")]

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use bot_adapter::call::{self, Call};
use bot_adapter::db::{BotDb, OutboxState};
use bot_adapter::limit::RateLimit;
use bot_adapter::mtproto::calls::{self, Failure, Outgoing, Request, Unsupported};
use bot_adapter::mtproto::session::SessionStore;
use bot_adapter::mtproto::translate::{chat_of, inbox_id, translate};
use bot_adapter::pipeline::{self, Handled, Pipeline};
use bot_adapter::update::{From, Input};
use grammers_mtsender::RpcError;
use grammers_session::types::{DcOption, PeerAuth, PeerId, PeerInfo, PeerRef, UpdateState};
use grammers_session::Session;
use grammers_tl_types as tl;
use serde_json::{json, Value};
use simulation::fake::FakeTelegram;
use store::EventStore;

use common::Scratch;

const PLAYER: i64 = 424_242;
const TOKEN: &str = "123456:test-token_ABC";

// ---- fixtures: the same expectations as the webhook's ----

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bot-adapter/core/tests/data")
}

fn peer(chat: &Value) -> tl::enums::Peer {
    let id = chat["id"].as_i64().unwrap();
    match chat["type"].as_str().unwrap() {
        "private" => tl::types::PeerUser { user_id: id }.into(),
        "group" => tl::types::PeerChat { chat_id: -id }.into(),
        _ => tl::types::PeerChannel {
            channel_id: -id - 1_000_000_000_000,
        }
        .into(),
    }
}

fn user_peer(id: i64) -> tl::enums::Peer {
    tl::types::PeerUser { user_id: id }.into()
}

fn charge(id: &Value, provider: &Value) -> tl::enums::PaymentCharge {
    tl::types::PaymentCharge {
        id: id.as_str().unwrap().to_owned(),
        provider_charge_id: provider.as_str().unwrap_or_default().to_owned(),
    }
    .into()
}

fn amount(value: &Value) -> i64 {
    value.as_i64().unwrap()
}

fn bytes(value: &Value) -> Vec<u8> {
    value.as_str().unwrap().as_bytes().to_vec()
}

/// A plain message with every field MTProto has; most are empty.
fn plain_message(
    id: i32,
    from_id: Option<tl::enums::Peer>,
    peer_id: tl::enums::Peer,
    text: &str,
    media: Option<tl::enums::MessageMedia>,
) -> tl::types::Message {
    tl::types::Message {
        out: false,
        mentioned: false,
        media_unread: false,
        silent: false,
        post: false,
        from_scheduled: false,
        legacy: false,
        edit_hide: false,
        pinned: false,
        noforwards: false,
        invert_media: false,
        offline: false,
        video_processing_pending: false,
        paid_suggested_post_stars: false,
        paid_suggested_post_ton: false,
        id,
        from_id,
        from_boosts_applied: None,
        from_rank: None,
        peer_id,
        saved_peer_id: None,
        fwd_from: None,
        via_bot_id: None,
        via_business_bot_id: None,
        guestchat_via_from: None,
        reply_to: None,
        date: 1_763_683_200,
        message: text.to_owned(),
        media,
        reply_markup: None,
        entities: None,
        views: None,
        forwards: None,
        replies: None,
        edit_date: None,
        post_author: None,
        grouped_id: None,
        reactions: None,
        restriction_reason: None,
        ttl_period: None,
        quick_reply_shortcut_id: None,
        effect: None,
        factcheck: None,
        report_delivery_until_date: None,
        paid_message_stars: None,
        suggested_post: None,
        schedule_repeat_period: None,
        summary_from_language: None,
        rich_message: None,
    }
}

fn service(
    id: i32,
    from_id: Option<tl::enums::Peer>,
    peer_id: tl::enums::Peer,
    action: tl::enums::MessageAction,
) -> tl::enums::Message {
    tl::types::MessageService {
        out: false,
        mentioned: false,
        media_unread: false,
        reactions_are_possible: false,
        silent: false,
        post: false,
        legacy: false,
        id,
        from_id,
        peer_id,
        saved_peer_id: None,
        reply_to: None,
        date: 1_763_683_200,
        action,
        reactions: None,
        ttl_period: None,
    }
    .into()
}

/// The message as MTProto carries it. In a private chat an incoming message leaves
/// `from_id` out; elsewhere it names the sender (a user, or the chat it speaks for).
fn message(m: &Value, post: bool) -> tl::enums::Message {
    let id = i32::try_from(m["message_id"].as_i64().unwrap()).unwrap();
    let peer_id = peer(&m["chat"]);
    let from_id = if let Some(sender_chat) = m.get("sender_chat") {
        Some(peer(sender_chat))
    } else if m["chat"]["type"] == "private" && m["from"]["id"] == m["chat"]["id"] {
        None
    } else {
        m["from"]["id"].as_i64().map(user_peer)
    };
    if let Some(p) = m.get("successful_payment") {
        let action = tl::types::MessageActionPaymentSentMe {
            recurring_init: p["is_first_recurring"].as_bool().unwrap_or(false),
            recurring_used: p["is_recurring"].as_bool().unwrap_or(false),
            currency: p["currency"].as_str().unwrap().to_owned(),
            total_amount: amount(&p["total_amount"]),
            payload: bytes(&p["invoice_payload"]),
            info: None,
            shipping_option_id: None,
            charge: charge(
                &p["telegram_payment_charge_id"],
                &p["provider_payment_charge_id"],
            ),
            subscription_until_date: p["subscription_expiration_date"]
                .as_i64()
                .map(|d| i32::try_from(d).unwrap()),
        };
        return service(id, from_id, peer_id, action.into());
    }
    if let Some(p) = m.get("refunded_payment") {
        let action = tl::types::MessageActionPaymentRefunded {
            peer: peer(&m["chat"]),
            currency: p["currency"].as_str().unwrap().to_owned(),
            total_amount: amount(&p["total_amount"]),
            payload: Some(bytes(&p["invoice_payload"])),
            charge: charge(&p["telegram_payment_charge_id"], &Value::Null),
        };
        return service(id, from_id, peer_id, action.into());
    }
    let (text, media): (&str, Option<tl::enums::MessageMedia>) = if let Some(dice) = m.get("dice") {
        let media = tl::types::MessageMediaDice {
            value: i32::try_from(dice["value"].as_i64().unwrap()).unwrap(),
            emoticon: dice["emoji"].as_str().unwrap().to_owned(),
            game_outcome: None,
        };
        ("", Some(media.into()))
    } else if m.get("sticker").is_some() {
        let media = tl::types::MessageMediaDocument {
            nopremium: false,
            spoiler: false,
            video: false,
            round: false,
            voice: false,
            document: None,
            alt_documents: None,
            video_cover: None,
            video_timestamp: None,
            ttl_seconds: None,
        };
        ("", Some(media.into()))
    } else {
        (m["text"].as_str().unwrap_or_default(), None)
    };
    let mut message = plain_message(id, from_id, peer_id, text, media);
    message.post = post;
    if let Some(origin) = m.get("forward_origin") {
        message.fwd_from = Some(
            tl::types::MessageFwdHeader {
                imported: false,
                saved_out: false,
                from_id: origin["sender_user"]["id"].as_i64().map(user_peer),
                from_name: None,
                date: i32::try_from(origin["date"].as_i64().unwrap()).unwrap(),
                channel_post: None,
                post_author: None,
                saved_from_peer: None,
                saved_from_msg_id: None,
                saved_from_id: None,
                saved_from_name: None,
                saved_date: None,
                psa_type: None,
            }
            .into(),
        );
    }
    message.into()
}

/// A Bot API query id as MTProto's number. The fixtures' made-up non-numeric ids
/// (`pcq-1`) get a number, and the expected input is given the same.
fn query_id(id: &Value) -> i64 {
    id.as_str().unwrap().parse().unwrap_or(777)
}

/// The TL update MTProto delivers for a Bot API update, and the bots among its users;
/// `None` for a body that is not an update at all (MTProto frames are typed).
fn tl_equivalent(update: &Value) -> Option<(tl::enums::Update, HashSet<i64>)> {
    let mut bots = HashSet::new();
    for sender in [
        &update["message"]["from"],
        &update["callback_query"]["from"],
        &update["edited_message"]["from"],
    ] {
        if sender["is_bot"] == true {
            bots.insert(sender["id"].as_i64().unwrap());
        }
    }
    let tl_update: tl::enums::Update = if let Some(m) = update.get("message") {
        tl::types::UpdateNewMessage {
            message: message(m, false),
            pts: 1,
            pts_count: 1,
        }
        .into()
    } else if let Some(m) = update.get("edited_message") {
        tl::types::UpdateEditMessage {
            message: message(m, false),
            pts: 1,
            pts_count: 1,
        }
        .into()
    } else if let Some(m) = update.get("channel_post") {
        tl::types::UpdateNewChannelMessage {
            message: message(m, true),
            pts: 1,
            pts_count: 1,
        }
        .into()
    } else if let Some(q) = update.get("callback_query") {
        tl::types::UpdateBotCallbackQuery {
            query_id: query_id(&q["id"]),
            user_id: q["from"]["id"].as_i64().unwrap(),
            peer: peer(&q["message"]["chat"]),
            msg_id: i32::try_from(q["message"]["message_id"].as_i64().unwrap()).unwrap(),
            chat_instance: q["chat_instance"].as_str().unwrap().parse().unwrap(),
            data: q.get("data").map(bytes),
            game_short_name: None,
        }
        .into()
    } else if let Some(q) = update.get("pre_checkout_query") {
        tl::types::UpdateBotPrecheckoutQuery {
            query_id: query_id(&q["id"]),
            user_id: q["from"]["id"].as_i64().unwrap(),
            payload: bytes(&q["invoice_payload"]),
            info: None,
            shipping_option_id: None,
            currency: q["currency"].as_str().unwrap().to_owned(),
            total_amount: amount(&q["total_amount"]),
        }
        .into()
    } else if update.get("update_id").is_some() {
        // An update kind the bot does not handle.
        tl::types::UpdateUserTyping {
            user_id: PLAYER,
            top_msg_id: None,
            action: tl::enums::SendMessageAction::SendMessageTypingAction,
        }
        .into()
    } else {
        return None;
    };
    Some((tl_update, bots))
}

#[test]
fn every_webhook_fixture_translates_to_the_same_input_over_mtproto() {
    let mut checked = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(&path).unwrap();
        let mut expected = bot_adapter::translate(&body).input;
        let Ok(update) = serde_json::from_slice::<Value>(&body) else {
            // Not JSON: MTProto has no such thing; the list below says which.
            assert_eq!(name, "not_json.json", "{name} is not JSON");
            continue;
        };
        let (tl_update, bots) = tl_equivalent(&update).unwrap_or_else(|| panic!("{name}"));
        if let Input::PreCheckout { id, .. } = &mut expected {
            *id = query_id(&json!(id)).to_string();
        }
        let actual = translate(&tl_update, &|user| bots.contains(&user));
        assert_eq!(actual, expected, "{name}");
        checked.push(name);
    }
    // Every kind of input is among them, so a fixture added later is checked too.
    for name in [
        "start.json",
        "callback_query.json",
        "pre_checkout_query.json",
        "successful_payment.json",
        "refunded_payment.json",
        "user_dice.json",
        "edited_message.json",
        "channel_post.json",
        "group_message.json",
        "sticker.json",
        "from_bot.json",
        "unknown_kind.json",
    ] {
        assert!(checked.iter().any(|c| c == name), "{name} not checked");
    }
}

#[test]
fn payment_details_survive_the_translation() {
    let payment = tl::types::MessageActionPaymentSentMe {
        recurring_init: true,
        recurring_used: false,
        currency: "XTR".to_owned(),
        total_amount: 250,
        payload: b"v1.d.424242.250.XTR.1900000000.00".to_vec(),
        info: None,
        shipping_option_id: None,
        charge: charge(&json!("stxSub1"), &json!("prov-1")),
        subscription_until_date: Some(1_900_000_000),
    };
    let update: tl::enums::Update = tl::types::UpdateNewMessage {
        message: service(
            20,
            Some(user_peer(PLAYER)),
            user_peer(PLAYER),
            payment.into(),
        ),
        pts: 1,
        pts_count: 1,
    }
    .into();
    let input = translate(&update, &|_| false);
    assert_eq!(
        input,
        Input::PaymentSucceeded {
            from: From {
                user: 424_242,
                chat: PLAYER
            },
            currency: "XTR".to_owned(),
            total_amount: 250,
            payload: "v1.d.424242.250.XTR.1900000000.00".to_owned(),
            charge_id: "stxSub1".to_owned(),
            provider_charge_id: "prov-1".to_owned(),
            is_recurring: true,
            is_first_recurring: true,
            subscription_expires: Some(1_900_000_000),
        }
    );
    // The inbox id comes from the origin: the same charge is one inbox row, and it never
    // meets a Bot API update id.
    let origin = input.origin().unwrap();
    assert_eq!(inbox_id(&origin), inbox_id("pay:stxSub1"));
    assert!(inbox_id(&origin) < 0);
    assert_ne!(inbox_id("pay:stxSub1"), inbox_id("pay:stxSub2"));
    assert_eq!(chat_of(&input), Some(PLAYER));

    // The bot's own outgoing messages are never inputs.
    let mut own = plain_message(21, None, user_peer(PLAYER), "/balance", None);
    own.out = true;
    let update: tl::enums::Update = tl::types::UpdateNewMessage {
        message: own.into(),
        pts: 1,
        pts_count: 1,
    }
    .into();
    assert!(matches!(
        translate(&update, &|_| false),
        Input::Ignored { .. }
    ));
}

// ---- the outbox: Bot API calls to TL requests ----

fn player_ref() -> PeerRef {
    PeerRef {
        id: PeerId::user(PLAYER).unwrap(),
        auth: PeerAuth::from_hash(77),
    }
}

fn request(call: &Call, dedupe_key: &str) -> Request {
    Outgoing::parse(call.method, &call.params)
        .unwrap_or_else(|e| panic!("{}: {e}", call.method))
        .request(player_ref(), calls::random_id(dedupe_key))
}

fn input_peer() -> tl::enums::InputPeer {
    tl::types::InputPeerUser {
        user_id: PLAYER,
        access_hash: 77,
    }
    .into()
}

#[test]
fn a_message_with_buttons_becomes_send_message_with_an_inline_keyboard() {
    let call = call::message_with_buttons(
        PLAYER,
        "Welcome!",
        vec![
            vec![
                ("Balance".to_owned(), "/balance".to_owned()),
                ("Deposit".to_owned(), "/deposit".to_owned()),
            ],
            vec![("Help".to_owned(), "/help".to_owned())],
        ],
    );
    let outgoing = Outgoing::parse(call.method, &call.params).unwrap();
    assert_eq!(outgoing.chat(), Some(PLAYER));
    let Request::SendMessage(sent) = request(&call, "m:424242:1:0") else {
        panic!("not sendMessage")
    };
    assert_eq!(sent.peer, input_peer());
    assert_eq!(sent.message, "Welcome!");
    assert_eq!(sent.random_id, calls::random_id("m:424242:1:0"));
    let button = |text: &str, data: &str| -> tl::enums::KeyboardInlineButton {
        tl::types::KeyboardInlineButton {
            style: None,
            text: text.to_owned(),
            r#type: tl::types::InlineButtonTypeCallback {
                requires_password: false,
                data: data.as_bytes().to_vec(),
            }
            .into(),
        }
        .into()
    };
    let row =
        |buttons: Vec<tl::enums::KeyboardInlineButton>| -> tl::enums::KeyboardInlineButtonRow {
            tl::types::KeyboardInlineButtonRow { buttons }.into()
        };
    assert_eq!(
        sent.reply_markup,
        Some(
            tl::types::ReplyInlineMarkup {
                force_reply: false,
                rows: vec![
                    row(vec![
                        button("Balance", "/balance"),
                        button("Deposit", "/deposit")
                    ]),
                    row(vec![button("Help", "/help")]),
                ],
            }
            .into()
        )
    );
    let Request::SendMessage(plain) = request(&call::message(PLAYER, "hi"), "k") else {
        panic!()
    };
    assert_eq!(plain.reply_markup, None);
}

#[test]
fn random_id_is_deterministic_per_outbox_row() {
    // A retried row sends the same random_id, so Telegram does not post it twice...
    assert_eq!(
        calls::random_id("m:424242:1:0"),
        calls::random_id("m:424242:1:0")
    );
    // ...and the next call of the same input is another message.
    assert_ne!(
        calls::random_id("m:424242:1:0"),
        calls::random_id("m:424242:1:1")
    );
    // Pinned: a release that derived it differently would repeat a message that was
    // queued before the upgrade and retried after it.
    assert_eq!(calls::random_id("m:424242:1:0"), -7_504_767_271_891_036_109);
    for key in ["", "a", "pay:x:0"] {
        assert_ne!(calls::random_id(key), 0);
    }
}

#[test]
fn answers_become_set_bot_callback_answer_and_set_bot_precheckout_results() {
    let Request::SetBotCallbackAnswer(answer) =
        request(&call::answer_callback("4382918239182391"), "k")
    else {
        panic!()
    };
    assert_eq!(
        answer,
        tl::functions::messages::SetBotCallbackAnswer {
            alert: false,
            query_id: 4_382_918_239_182_391,
            message: None,
            url: None,
            cache_time: 0,
        }
    );
    let Request::SetBotPrecheckoutResults(ok) =
        request(&call::answer_pre_checkout("-5123", None), "k")
    else {
        panic!()
    };
    assert_eq!(
        ok,
        tl::functions::messages::SetBotPrecheckoutResults {
            success: true,
            query_id: -5123,
            error: None,
        }
    );
    let refusal = call::answer_pre_checkout("5123", Some("This invoice has expired.".into()));
    let Request::SetBotPrecheckoutResults(refused) = request(&refusal, "k") else {
        panic!()
    };
    assert!(!refused.success);
    assert_eq!(refused.error.as_deref(), Some("This invoice has expired."));
    // A Bot API id that is not a number cannot be an MTProto query id.
    assert!(matches!(
        Outgoing::parse(
            "answerCallbackQuery",
            &json!({"callback_query_id": "pcq-1"})
        ),
        Err(Unsupported::Params { .. })
    ));
}

#[test]
fn a_stars_invoice_becomes_send_media_with_an_xtr_invoice() {
    let call = call::stars_invoice(PLAYER, "Deposit", "100 Stars", "v1.d.payload".into(), 100);
    let Request::SendMedia(sent) = request(&call, "m:424242:3:0") else {
        panic!()
    };
    assert_eq!(sent.peer, input_peer());
    assert_eq!(sent.random_id, calls::random_id("m:424242:3:0"));
    assert_eq!(sent.message, "");
    let tl::enums::InputMedia::Invoice(invoice) = sent.media else {
        panic!("{:?}", sent.media)
    };
    assert_eq!(
        (invoice.title.as_str(), invoice.description.as_str()),
        ("Deposit", "100 Stars")
    );
    assert_eq!(invoice.payload, b"v1.d.payload");
    assert_eq!(invoice.provider, None, "Stars have no provider");
    let tl::enums::Invoice::Invoice(terms) = invoice.invoice;
    assert_eq!(terms.currency, "XTR");
    assert_eq!(
        terms.prices,
        vec![tl::types::LabeledPrice {
            label: "Deposit".to_owned(),
            amount: 100
        }
        .into()]
    );
}

#[test]
fn send_dice_becomes_send_media_and_its_value_comes_back_as_the_bot_api_would_give_it() {
    // The call the core makes for `/slots`.
    let call = bot_adapter::call::send_dice(&bot_adapter::slots::Spin {
        player: PLAYER,
        chat: PLAYER,
        stake: 10.into(),
        bet: "slots-m-424242-9".to_owned(),
    });
    let Request::SendMedia(sent) = request(&call, "m:424242:9:1") else {
        panic!()
    };
    assert_eq!(
        sent.media,
        tl::types::InputMediaDice {
            emoticon: "🎰".to_owned()
        }
        .into()
    );
    assert_eq!(sent.random_id, calls::random_id("m:424242:9:1"));

    let dice = |value| -> tl::enums::MessageMedia {
        tl::types::MessageMediaDice {
            value,
            emoticon: "🎰".to_owned(),
            game_outcome: None,
        }
        .into()
    };
    let mut message = plain_message(
        501,
        Some(user_peer(1)),
        user_peer(PLAYER),
        "",
        Some(dice(64)),
    );
    message.out = true;
    let updates: tl::enums::Updates = tl::types::Updates {
        updates: vec![
            tl::types::UpdateMessageId {
                id: 501,
                random_id: sent.random_id,
            }
            .into(),
            tl::types::UpdateNewMessage {
                message: message.into(),
                pts: 2,
                pts_count: 1,
            }
            .into(),
        ],
        users: Vec::new(),
        chats: Vec::new(),
        date: 1_763_683_200,
        seq: 0,
    }
    .into();
    let result = calls::sent_message(&updates, PLAYER).unwrap();
    assert_eq!(result["message_id"], 501);
    assert_eq!(result["chat"]["id"], PLAYER);
    assert_eq!(result["dice"], json!({ "emoji": "🎰", "value": 64 }));

    let short: tl::enums::Updates = tl::types::UpdateShortSentMessage {
        out: true,
        id: 502,
        pts: 3,
        pts_count: 1,
        date: 1_763_683_201,
        media: Some(dice(22)),
        entities: None,
        ttl_period: None,
    }
    .into();
    assert_eq!(
        calls::sent_message(&short, PLAYER).unwrap()["dice"]["value"],
        22
    );
}

#[test]
fn refund_star_payment_becomes_refund_stars_charge() {
    let Request::RefundStarsCharge(refund) =
        request(&call::refund_stars(424_242, "stxAbC123"), "k")
    else {
        panic!()
    };
    assert_eq!(
        refund,
        tl::functions::payments::RefundStarsCharge {
            user_id: tl::types::InputUser {
                user_id: PLAYER,
                access_hash: 77
            }
            .into(),
            charge_id: "stxAbC123".to_owned(),
        }
    );
    assert_eq!(
        Outgoing::parse("sendPhoto", &json!({})),
        Err(Unsupported::Method("sendPhoto".to_owned()))
    );
}

/// An RPC error as grammers reads it off the wire (`FLOOD_WAIT_31` → name and value).
fn rpc(code: i32, message: &str) -> RpcError {
    RpcError::from(tl::types::RpcError {
        error_code: code,
        error_message: message.to_owned(),
    })
}

#[test]
fn flood_wait_is_a_429_and_a_refunded_charge_is_done() {
    let refund = Outgoing::parse(
        "refundStarPayment",
        &call::refund_stars(424_242, "stx").params,
    )
    .unwrap();
    let message = Outgoing::parse("sendMessage", &call::message(PLAYER, "hi").params).unwrap();
    let failure = |call: &Outgoing, e: RpcError| calls::failure(call, e.code, &e.name, e.value);
    assert_eq!(
        failure(&message, rpc(420, "FLOOD_WAIT_31")),
        Failure::Flood(31)
    );
    assert_eq!(
        failure(&refund, rpc(420, "FLOOD_WAIT_5")),
        Failure::Flood(5)
    );
    assert_eq!(
        failure(&refund, rpc(400, "CHARGE_ALREADY_REFUNDED")),
        Failure::AlreadyDone
    );
    assert_eq!(
        failure(&message, rpc(400, "CHARGE_ALREADY_REFUNDED")),
        Failure::Permanent
    );
    assert_eq!(
        failure(&message, rpc(400, "RANDOM_ID_DUPLICATE")),
        Failure::AlreadyDone
    );
    assert_eq!(
        failure(&message, rpc(403, "USER_IS_BLOCKED")),
        Failure::Permanent
    );
    assert_eq!(
        failure(&message, rpc(500, "INTERDC_2_CALL_ERROR")),
        Failure::Transient
    );
}

// ---- session and pipeline, on SQLite ----

async fn migrated(dir: &Scratch) -> (String, store::SqliteStore) {
    let url = dir.url();
    let store = store::SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (url, store)
}

#[tokio::test]
async fn the_session_survives_a_restart_with_peers_in_the_database() {
    let dir = Scratch::new();
    let (url, _store) = migrated(&dir).await;
    let path = dir.0.join("bot.session");
    let db = BotDb::connect(&url, 2).await.unwrap();
    let session = SessionStore::open(&path, db.clone()).unwrap();
    let mut dc: DcOption = session.dc_option(2).unwrap().expect("known datacenter");
    dc.auth_key = Some([7; 256]);
    session.set_dc_option(&dc).await.unwrap();
    session.set_home_dc_id(4).await.unwrap();
    let me = PeerInfo::User {
        id: 1,
        auth: Some(PeerAuth::from_hash(5)),
        bot: Some(true),
        is_self: Some(true),
    };
    session.cache_peer(me.clone()).await.unwrap();
    let player = PeerInfo::User {
        id: PLAYER,
        auth: Some(PeerAuth::from_hash(77)),
        bot: Some(false),
        is_self: Some(false),
    };
    session.cache_peer(player.clone()).await.unwrap();
    // A later sighting without the hash (a "min" user) does not lose it.
    session
        .cache_peer(PeerInfo::User {
            id: PLAYER,
            auth: None,
            bot: None,
            is_self: None,
        })
        .await
        .unwrap();
    session
        .set_update_state(UpdateState::Primary {
            pts: 10,
            date: 20,
            seq: 30,
        })
        .await
        .unwrap();
    drop(session);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the auth key is readable by the owner only"
        );
    }
    let reopened = SessionStore::open(&path, db).unwrap();
    assert_eq!(reopened.home_dc_id().unwrap(), 4);
    assert_eq!(
        reopened.dc_option(2).unwrap().unwrap().auth_key,
        Some([7; 256])
    );
    assert_eq!(reopened.peer(PeerId::self_user()).await.unwrap(), Some(me));
    assert_eq!(
        reopened
            .peer_ref(PeerId::user(PLAYER).unwrap())
            .await
            .unwrap(),
        Some(player_ref())
    );
    assert_eq!(reopened.peer(PeerId::user(9).unwrap()).await.unwrap(), None);
    let state = reopened.updates_state().await.unwrap();
    assert_eq!((state.pts, state.date, state.seq), (10, 20, 30));

    std::fs::write(&path, b"not a session").unwrap();
    let db = BotDb::connect(&url, 1).await.unwrap();
    let error = SessionStore::open(&path, db).err().unwrap().to_string();
    assert!(error.contains("not a Croupier session file"), "{error}");
}

#[tokio::test]
async fn an_input_from_mtproto_is_handled_once() {
    let dir = Scratch::new();
    let (url, store) = migrated(&dir).await;
    let db = BotDb::connect(&url, 4).await.unwrap();
    let pipeline = Pipeline::start(
        store,
        db.clone(),
        pipeline::bot(TOKEN),
        RateLimit::default(),
    );
    let start = Input::Text {
        from: From {
            user: 424_242,
            chat: PLAYER,
        },
        message_id: 1,
        text: "/start".to_owned(),
    };
    let inbox = inbox_id(&start.origin().unwrap());
    let first = pipeline.process_input(inbox, &start).await.unwrap();
    assert!(
        matches!(first, Handled::Done { queued } if queued > 0),
        "{first:?}"
    );
    assert_eq!(
        pipeline.process_input(inbox, &start).await.unwrap(),
        Handled::Duplicate
    );
    assert!(db.handled(&start.origin().unwrap()).await.unwrap());
    let pending = db.list_calls(OutboxState::Pending, 10).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].dedupe_key, "m:424242:1:0");
}

// ---- serve ----

#[tokio::test]
async fn serve_refuses_mtproto_while_a_webhook_is_set() {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let set = reqwest::Client::new()
        .post(format!("{}/bot{TOKEN}/setWebhook", fake.url()))
        .header("content-type", "application/json")
        .body(json!({ "url": "https://bot.example.com/telegram/webhook" }).to_string())
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let dir = Scratch::new();
    let session_file = dir.0.join("bot.session");
    let url = dir.url();
    let binary = env!("CARGO_BIN_EXE_croupier");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(binary)
            .args(["serve", "--transport", "mtproto", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", &url)
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_API_URL", fake.url())
            .env("TELEGRAM_API_ID", "12345")
            .env("TELEGRAM_API_HASH", "0123456789abcdef0123456789abcdef")
            .env("TELEGRAM_SESSION_FILE", &session_file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("a webhook is set for this bot (https://bot.example.com/telegram/webhook)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("0123456789abcdef"),
        "the api_hash leaked: {stderr}"
    );
    assert!(!stderr.contains("test-token"), "the token leaked: {stderr}");
    assert!(
        !dir.0.join("bot.session").exists(),
        "nothing was started before the refusal"
    );
}

#[tokio::test]
async fn serve_checks_the_mtproto_settings_before_anything_else() {
    let dir = Scratch::new();
    let url = dir.url();
    let binary = env!("CARGO_BIN_EXE_croupier");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(binary)
            .args(["serve", "--transport", "mtproto"])
            .env("DATABASE_URL", &url)
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_API_URL", "http://127.0.0.1:9")
            .env("TELEGRAM_API_ID", "12345")
            .env("TELEGRAM_API_HASH", "secret-but-malformed")
            .env_remove("TELEGRAM_SESSION_FILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("TELEGRAM_API_HASH does not look like an api_hash"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-but-malformed"), "{stderr}");
}
