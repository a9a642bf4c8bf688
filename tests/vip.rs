//! VIP end to end, on both backends: a subscription invoice link, its charges as house
//! revenue (never player cash), cancelling the renewal, refunds, and reconciliation.

mod common;

use serde_json::{json, Value};
use simulation::fake::FakeTelegram;
use simulation::updates::{self, Payment, Subscription};
use sqlx::Row;

use common::server::{answers, reconcile, wait_for_text, Server, TOKEN};
use common::updates::{paid, pre_checkout, refunded, text, PLAYER};
use common::{croupier, events, sqlite_url, Scratch};

/// A subscription charge, as Telegram delivers the first payment (`first`) or a renewal.
fn subscription_paid(
    update_id: i64,
    payload: &str,
    charge: &str,
    first: bool,
    until: u64,
) -> Value {
    let payment = Payment {
        subscription: Some(Subscription {
            first,
            expires: until,
        }),
        ..Payment::stars(250, payload, charge)
    };
    updates::successful_payment(update_id, update_id, PLAYER, &payment)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The house's balance of `account` in Stars, from the `house` read model.
async fn house(url: &str, account: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let balance: Option<String> =
        sqlx::query("SELECT balance FROM proj_house WHERE account = $1 AND currency = 'XTR'")
            .bind(account)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .map(|row| row.try_get(0).unwrap());
    pool.close().await;
    balance.unwrap_or_else(|| "0".to_owned())
}

async fn vip_flow(url: &str, dir: Option<Scratch>) {
    let fake = FakeTelegram::start(TOKEN).await.unwrap();
    let mut server = Server::start(url, &fake, dir);
    assert_eq!(server.post(&paid(1, 1, 3_000, "p", "charge-v")).await, 200);
    wait_for_text(&fake, "Received 3000 ⭐").await;

    // Not VIP yet: the VIP limit is named.
    assert_eq!(server.post(&text(2, 2, "/coinflip 2000 heads")).await, 200);
    let refused = wait_for_text(&fake, "The largest stake is 1000 ⭐").await;
    assert!(
        refused.contains("VIPs may stake up to 5000 ⭐: /vip"),
        "{refused}"
    );

    // /vip: a 30-day subscription link, then a message that carries it.
    assert_eq!(server.post(&text(3, 3, "/vip")).await, 200);
    let offer = wait_for_text(&fake, "VIP is 250 ⭐ a month").await;
    let link_call = fake.succeeded("createInvoiceLink");
    assert_eq!(link_call.len(), 1);
    let link_call = &link_call[0];
    assert_eq!(link_call["subscription_period"], 2_592_000);
    assert_eq!(link_call["currency"], "XTR");
    assert_eq!(link_call["prices"][0]["amount"], 250);
    let payload = link_call["payload"].as_str().unwrap().to_owned();
    let link = fake
        .calls()
        .into_iter()
        .find(|c| c.method == "createInvoiceLink")
        .and_then(|c| c.result)
        .unwrap();
    let message = fake
        .succeeded("sendMessage")
        .into_iter()
        .find(|m| m["text"] == offer.as_str())
        .unwrap();
    assert_eq!(
        message["reply_markup"]["inline_keyboard"][0][0]["url"], link,
        "the link Telegram made is the one the player gets"
    );

    // The first payment: pre-checkout accepted, then house revenue and VIP.
    assert_eq!(server.post(&pre_checkout(4, 250, &payload)).await, 200);
    assert_eq!(answers(&fake, 1).await[0]["ok"], true);
    let until = unix_now() + 30 * 86_400;
    let first = subscription_paid(5, &payload, "sub-1", true, until);
    assert_eq!(server.post(&first).await, 200);
    let welcome = wait_for_text(&fake, "Welcome to VIP!").await;
    assert!(welcome.contains("stake up to 5000 ⭐"), "{welcome}");
    assert_eq!(server.post(&first).await, 200, "a redelivery");
    let mut again = first.clone();
    again["update_id"] = json!(6);
    assert_eq!(
        server.post(&again).await,
        200,
        "the same charge, another update"
    );

    // Now the higher limit holds, and cash was never touched by the subscription.
    assert_eq!(server.post(&text(7, 7, "/coinflip 2000 heads")).await, 200);
    let played = wait_for_text(&fake, "You ").await;
    assert!(
        played.contains("You won") || played.contains("You lost"),
        "{played}"
    );
    assert_eq!(server.post(&text(8, 8, "/vip")).await, 200);
    wait_for_text(&fake, "You are VIP until").await;
    assert_eq!(server.post(&text(9, 9, "/balance")).await, 200);
    let balance = wait_for_text(&fake, "⭐ VIP until").await;
    assert!(
        balance.contains("1000 ⭐") || balance.contains("4920 ⭐"),
        "3000 deposited, 2000 staked: {balance}"
    );

    // Cancel the renewal: editUserStarSubscription names the charge Telegram renews.
    assert_eq!(server.post(&text(10, 10, "/vip cancel")).await, 200);
    wait_for_text(&fake, "Your VIP will not renew").await;
    let edits = fake.succeeded("editUserStarSubscription");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["user_id"], PLAYER);
    assert_eq!(edits[0]["telegram_payment_charge_id"], "sub-1");
    assert_eq!(edits[0]["is_canceled"], true);

    // A renewal extends VIP; a refund of it (outside the bot) takes the revenue back.
    let renewal = subscription_paid(11, &payload, "sub-2", false, until + 30 * 86_400);
    assert_eq!(server.post(&renewal).await, 200);
    wait_for_text(&fake, "Your VIP is renewed until").await;
    let refund = refunded(12, 12, 250, &payload, "sub-2");
    assert_eq!(server.post(&refund).await, 200);
    wait_for_text(&fake, "250 ⭐ refunded to you").await;

    assert!(server.stop().await.success());
    assert_eq!(events(url, "subscription_paid").await, 2);
    assert_eq!(events(url, "subscription_refunded").await, 1);
    assert_eq!(events(url, "bet_placed").await, 1);
    let verified = croupier(url, &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    assert_eq!(house(url, "house:subscriptions").await, "250");

    // Telegram lists subscription charges among its Stars transactions: they reconcile.
    fake.add_star_payment("charge-v", PLAYER, 3_000);
    fake.add_star_payment("sub-1", PLAYER, 250);
    fake.add_star_payment("sub-2", PLAYER, 250);
    fake.add_star_refund("sub-2", PLAYER, 250);
    let (code, out, err) = reconcile(url, &fake.url(), &[]).await;
    assert_eq!(code, Some(0), "{out}{err}");

    // Staff may refund a subscription charge: revenue goes back, cash is untouched.
    let refunded = croupier(url, &["payments", "refund", "sub-1"]);
    assert!(
        refunded.status.success(),
        "{}",
        String::from_utf8_lossy(&refunded.stdout)
    );
    assert_eq!(events(url, "subscription_refunded").await, 2);
    let verified = croupier(url, &["audit", "verify"]);
    assert!(verified.status.success());
    assert_eq!(house(url, "house:subscriptions").await, "0");
    let report = croupier(url, &["report", "liabilities", "--format", "json"]);
    let liabilities: Value = serde_json::from_slice(&report.stdout).unwrap();
    let cash = liabilities[0]["total"].as_str().unwrap();
    assert!(
        cash == "1000" || cash == "4920",
        "subscriptions are not player cash: {cash}"
    );
}

#[tokio::test]
async fn vip_is_a_subscription_link_whose_charges_are_house_revenue_on_sqlite() {
    let (url, dir) = sqlite_url();
    vip_flow(&url, Some(dir)).await;
}

#[sqlx::test(migrations = false)]
async fn vip_is_a_subscription_link_whose_charges_are_house_revenue_on_postgres(
    pool: sqlx::PgPool,
) {
    let url = common::database_url(&pool).await;
    vip_flow(&url, None).await;
}
