//! A fake Bot API server on 127.0.0.1 for tests, `croupier chat` and `bench webhook`.
//! It speaks the Bot API's JSON, records every call, and can be told to answer the next
//! calls with a 429, a 500 or a timeout. It also keeps a list of Stars transactions
//! (registered by tests, plus refunds it is asked for) for `getStarTransactions`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::updates;

/// How the fake answers the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    TooManyRequests {
        retry_after: u16,
    },
    ServerError,
    /// 403, as when the player has blocked the bot.
    Forbidden,
    /// Answers only after this long (the client should have given up).
    Timeout(Duration),
    /// 400 with this description, as Telegram refuses a call for good
    /// (`Bad Request: CHARGE_ALREADY_REFUNDED`).
    BadRequest(&'static str),
}

/// A call the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub method: String,
    pub params: Value,
    /// The fault it was answered with, `None` when it succeeded.
    pub fault: Option<Fault>,
    /// The `result` it answered with, when it succeeded (the sent message, ...).
    pub result: Option<Value>,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Received>,
    faults: VecDeque<Fault>,
    /// Faults for the next calls of one method only, before `faults`.
    method_faults: HashMap<String, VecDeque<Fault>>,
    updates: Vec<Value>,
    next_message_id: i64,
    webhook_url: String,
    /// Values the next `sendDice` calls roll.
    dice: VecDeque<i64>,
    /// `StarTransaction`s, oldest first, as `getStarTransactions` lists them.
    star_transactions: Vec<Value>,
}

/// An incoming Stars payment from `user`, as `getStarTransactions` lists it; `id` is the
/// payment's `telegram_payment_charge_id`.
pub fn star_payment(charge_id: &str, user: u64, amount: u32, date: u64) -> Value {
    json!({
        "id": charge_id, "amount": amount, "date": date,
        "source": { "type": "user", "transaction_type": "invoice_payment",
                    "user": updates::user(user) },
    })
}

/// The refund of a Stars payment: outgoing, to `user`, with the payment's id.
pub fn star_refund(charge_id: &str, user: u64, amount: u32, date: u64) -> Value {
    json!({
        "id": charge_id, "amount": amount, "date": date,
        "receiver": { "type": "user", "transaction_type": "invoice_payment",
                      "user": updates::user(user) },
    })
}

/// The date the fake gives the transactions it makes up.
const STAR_DATE: u64 = 1_700_000_000;

/// The running fake. Dropping it does not stop the server; it lives as long as the runtime.
#[derive(Clone)]
pub struct FakeTelegram {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

#[derive(Clone)]
struct FakeState {
    token: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl FakeTelegram {
    /// Starts a fake for bot `token` on a free port of 127.0.0.1.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            next_message_id: 1000,
            ..Inner::default()
        }));
        let changed = Arc::new(Notify::new());
        let state = FakeState {
            token: token.to_owned(),
            inner: inner.clone(),
            changed: changed.clone(),
        };
        let app = Router::new()
            .route("/{bot}/{method}", post(api))
            .with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            inner,
            changed,
        })
    }

    /// The value for `TELEGRAM_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Received> {
        self.inner.lock().expect("fake state").calls.clone()
    }

    /// Calls of one method that succeeded.
    pub fn succeeded(&self, method: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.fault.is_none())
            .map(|c| c.params)
            .collect()
    }

    /// The next calls are answered with these faults, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().expect("fake state").faults.extend(faults);
    }

    /// The next calls of `method` are answered with these faults, in order; other
    /// methods are not affected.
    pub fn inject_for(&self, method: &str, faults: impl IntoIterator<Item = Fault>) {
        self.inner
            .lock()
            .expect("fake state")
            .method_faults
            .entry(method.to_owned())
            .or_default()
            .extend(faults);
    }

    /// The next `sendDice` calls roll these values, in order (then values of its own).
    pub fn set_dice(&self, values: impl IntoIterator<Item = i64>) {
        self.inner.lock().expect("fake state").dice.extend(values);
    }

    /// Adds a Stars transaction (a `StarTransaction` as JSON, see [`star_payment`] and
    /// [`star_refund`]) to the end of the list `getStarTransactions` pages through.
    pub fn add_star_transaction(&self, transaction: Value) {
        self.inner
            .lock()
            .expect("fake state")
            .star_transactions
            .push(transaction);
    }

    /// Adds an incoming payment of `amount` Stars from `user` with this charge id.
    pub fn add_star_payment(&self, charge_id: &str, user: u64, amount: u32) {
        self.add_star_transaction(star_payment(charge_id, user, amount, STAR_DATE));
    }

    /// Adds the refund of the payment with this charge id.
    pub fn add_star_refund(&self, charge_id: &str, user: u64, amount: u32) {
        self.add_star_transaction(star_refund(charge_id, user, amount, STAR_DATE));
    }

    /// Queues an update for `getUpdates`.
    pub fn push_update(&self, update: Value) {
        self.inner.lock().expect("fake state").updates.push(update);
    }

    /// Waits until `done` holds for the calls received, or `timeout` passes; returns
    /// whether it held.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if done(&self.calls()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return done(&self.calls());
            }
        }
    }
}

fn ok(result: Value) -> Response {
    Json(json!({ "ok": true, "result": result })).into_response()
}

fn error(status: StatusCode, description: &str, parameters: Option<Value>) -> Response {
    let mut body =
        json!({ "ok": false, "error_code": status.as_u16(), "description": description });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    (status, Json(body)).into_response()
}

async fn api(
    State(state): State<FakeState>,
    Path((bot, method)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let expected = format!("bot{}", state.token);
    if bot.len() != expected.len() || bot != expected {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    let params: Value = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: can't parse JSON",
                    None,
                )
            }
        }
    };
    let (fault, response) = {
        let mut inner = state.inner.lock().expect("fake state");
        let fault = if method == "getUpdates" {
            None
        } else {
            let method_fault = inner
                .method_faults
                .get_mut(&method)
                .and_then(VecDeque::pop_front);
            method_fault.or_else(|| inner.faults.pop_front())
        };
        let answered = match fault {
            Some(_) => None,
            None => Some(answer(&mut inner, &method, &params)),
        };
        inner.calls.push(Received {
            method: method.clone(),
            params,
            fault,
            result: answered.as_ref().and_then(|a| a.as_ref().ok()).cloned(),
        });
        let response =
            answered.map(|a| a.map_or_else(|bad| error(StatusCode::BAD_REQUEST, bad, None), ok));
        (fault, response)
    };
    state.changed.notify_waiters();
    match (fault, response) {
        (Some(Fault::TooManyRequests { retry_after }), _) => error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too Many Requests: retry after {retry_after}"),
            Some(json!({ "retry_after": retry_after })),
        ),
        (Some(Fault::ServerError), _) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            None,
        ),
        (Some(Fault::Forbidden), _) => error(
            StatusCode::FORBIDDEN,
            "Forbidden: bot was blocked by the user",
            None,
        ),
        (Some(Fault::BadRequest(description)), _) => {
            error(StatusCode::BAD_REQUEST, description, None)
        }
        (Some(Fault::Timeout(wait)), _) => {
            tokio::time::sleep(wait).await;
            error(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout", None)
        }
        (None, Some(response)) => response,
        (None, None) => unreachable!("a call without a fault has a response"),
    }
}

/// The `result` of a successful call, or the description of a 400 Bad Request.
fn answer(inner: &mut Inner, method: &str, params: &Value) -> Result<Value, &'static str> {
    Ok(match method {
        "sendMessage" | "sendInvoice" | "sendDice" => {
            let Some(chat) = params.get("chat_id").and_then(Value::as_i64) else {
                return Err("Bad Request: chat_id is empty");
            };
            inner.next_message_id += 1;
            let mut message = json!({
                "message_id": inner.next_message_id,
                "date": 1_700_000_000,
                "chat": { "id": chat, "type": "private" },
                "from": updates::bot(),
            });
            match method {
                "sendMessage" => message["text"] = params["text"].clone(),
                "sendDice" => {
                    let own = 1 + inner.next_message_id % 64;
                    let value = inner.dice.pop_front().unwrap_or(own);
                    message["dice"] = json!({ "emoji": params.get("emoji").cloned().unwrap_or(json!("🎲")), "value": value });
                }
                _ => {
                    message["invoice"] = json!({
                        "title": params["title"], "description": params["description"],
                        "start_parameter": "", "currency": params["currency"],
                        "total_amount": params["prices"][0]["amount"],
                    });
                }
            }
            message
        }
        "getUpdates" => {
            let offset = params.get("offset").and_then(Value::as_i64).unwrap_or(0);
            inner
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            Value::Array(inner.updates.iter().take(100).cloned().collect())
        }
        "setWebhook" => {
            inner.webhook_url = params["url"].as_str().unwrap_or_default().to_owned();
            json!(true)
        }
        "deleteWebhook" => {
            inner.webhook_url.clear();
            json!(true)
        }
        "getWebhookInfo" => json!({
            "url": inner.webhook_url, "has_custom_certificate": false, "pending_update_count": 0,
        }),
        "getMe" => {
            json!({ "id": 1, "is_bot": true, "first_name": "Croupier", "username": "croupier_bot" })
        }
        "createInvoiceLink" => {
            if params.get("payload").and_then(Value::as_str).is_none() {
                return Err("Bad Request: payload is empty");
            }
            inner.next_message_id += 1;
            json!(format!(
                "https://t.me/$fakeInvoice{}",
                inner.next_message_id
            ))
        }
        "getStarTransactions" => star_transactions(inner, params)?,
        "refundStarPayment" => {
            refund_star_payment(inner, params);
            json!(true)
        }
        _ => json!(true),
    })
}

/// A page of the Stars transactions, oldest first, as Telegram pages them: skip
/// `offset`, return at most `limit` (1-100, default 100).
fn star_transactions(inner: &Inner, params: &Value) -> Result<Value, &'static str> {
    let number = |name: &str, default: u64| params.get(name).map_or(Some(default), Value::as_u64);
    let (Some(offset), Some(limit @ 1..=100)) = (number("offset", 0), number("limit", 100)) else {
        return Err("Bad Request: invalid offset or limit");
    };
    let page: Vec<Value> = inner
        .star_transactions
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(100))
        .cloned()
        .collect();
    Ok(json!({ "transactions": page }))
}

/// A refund of a payment the fake lists (and has not refunded yet) is listed too, as
/// Telegram would; any other refund is just answered `true`.
fn refund_star_payment(inner: &mut Inner, params: &Value) {
    let charge = params["telegram_payment_charge_id"].as_str();
    let same = |t: &&Value, side: &str| t["id"].as_str() == charge && t.get(side).is_some();
    let paid = inner.star_transactions.iter().find(|t| same(t, "source"));
    let refunded = inner.star_transactions.iter().any(|t| same(&t, "receiver"));
    if let (Some(paid), false) = (paid, refunded) {
        let user = paid["source"]["user"]["id"].as_u64().unwrap_or_default();
        let amount = u32::try_from(paid["amount"].as_u64().unwrap_or_default()).unwrap_or(0);
        let refund = star_refund(charge.unwrap_or_default(), user, amount, STAR_DATE);
        inner.star_transactions.push(refund);
    }
}
