//! Signed invoice payloads. An invoice's payload comes back in the pre-checkout query and
//! in the successful payment; the bot signs it so that only invoices it issued, for the
//! player, amount and currency it chose, before the expiry, are accepted.
//!
//! The payload is an order reference, never an idempotency key: one invoice can be paid
//! several times, each time with a new charge id.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Telegram's limit on an invoice payload.
pub const PAYLOAD_LEN_MAX: usize = 128;
/// Bytes of the HMAC kept in the payload (128 bits).
const TAG_LEN: usize = 16;
const VERSION: &str = "v1";

/// What an invoice is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub kind: OrderKind,
    pub player: u64,
    /// In the currency's smallest unit, as Telegram counts `total_amount`.
    pub total_amount: u64,
    pub currency: String,
    /// Unix seconds after which the invoice is refused at pre-checkout.
    pub expires: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    Deposit,
    Subscription,
}

impl OrderKind {
    fn tag(self) -> &'static str {
        match self {
            Self::Deposit => "d",
            Self::Subscription => "s",
        }
    }
}

/// Why a payload is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the invoice payload is not one of ours")]
    Malformed,
    #[error("the invoice signature does not match")]
    BadSignature,
}

/// Signs and checks payloads with the bot's secret.
#[derive(Clone)]
pub struct PayloadSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for PayloadSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadSigner { key: <hidden> }")
    }
}

impl PayloadSigner {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(body.as_bytes());
        mac
    }

    pub fn sign(&self, order: &Order) -> String {
        let body = format!(
            "{VERSION}.{}.{}.{}.{}.{}",
            order.kind.tag(),
            order.player,
            order.total_amount,
            order.currency,
            order.expires
        );
        let tag = self.mac(&body).finalize().into_bytes();
        let payload = format!("{body}.{}", hex::encode(&tag[..TAG_LEN]));
        debug_assert!(payload.len() <= PAYLOAD_LEN_MAX);
        payload
    }

    /// Checks the signature in constant time and returns the order. Expiry is the
    /// caller's to check, against its own clock.
    pub fn verify(&self, payload: &str) -> Result<Order, PayloadError> {
        if payload.len() > PAYLOAD_LEN_MAX {
            return Err(PayloadError::Malformed);
        }
        let (body, tag_hex) = payload.rsplit_once('.').ok_or(PayloadError::Malformed)?;
        let tag = hex::decode(tag_hex).map_err(|_| PayloadError::Malformed)?;
        if tag.len() != TAG_LEN {
            return Err(PayloadError::Malformed);
        }
        self.mac(body)
            .verify_truncated_left(&tag)
            .map_err(|_| PayloadError::BadSignature)?;
        let parts: Vec<&str> = body.split('.').collect();
        let [version, kind, player, amount, currency, expires] = parts.as_slice() else {
            return Err(PayloadError::Malformed);
        };
        if *version != VERSION {
            return Err(PayloadError::Malformed);
        }
        let kind = match *kind {
            "d" => OrderKind::Deposit,
            "s" => OrderKind::Subscription,
            _ => return Err(PayloadError::Malformed),
        };
        let number = |s: &str| s.parse::<u64>().map_err(|_| PayloadError::Malformed);
        Ok(Order {
            kind,
            player: number(player)?,
            total_amount: number(amount)?,
            currency: (*currency).to_owned(),
            expires: number(expires)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        Order {
            kind: OrderKind::Deposit,
            player: 4_503_599_627_370_495,
            total_amount: 100_000_000,
            currency: "XTR".to_owned(),
            expires: 1_900_000_000,
        }
    }

    #[test]
    fn a_signed_payload_verifies_and_fits_telegrams_limit() {
        let signer = PayloadSigner::new(b"secret");
        let payload = signer.sign(&order());
        assert!(payload.len() <= PAYLOAD_LEN_MAX, "{}", payload.len());
        assert_eq!(signer.verify(&payload), Ok(order()));
    }

    #[test]
    fn a_changed_payload_or_another_key_is_refused() {
        let signer = PayloadSigner::new(b"secret");
        let payload = signer.sign(&order());
        let forged = payload.replacen(".100000000.", ".100000001.", 1);
        assert_eq!(signer.verify(&forged), Err(PayloadError::BadSignature));
        assert_eq!(
            PayloadSigner::new(b"other").verify(&payload),
            Err(PayloadError::BadSignature)
        );
        assert_eq!(signer.verify("hello"), Err(PayloadError::Malformed));
        assert_eq!(
            signer.verify(&"x".repeat(500)),
            Err(PayloadError::Malformed)
        );
    }

    /// Both kinds of order round-trip with their kind: a subscription invoice is read as a
    /// subscription, not refused and not taken for a deposit.
    #[test]
    fn a_subscription_payload_is_read_as_a_subscription() {
        let signer = PayloadSigner::new(b"secret");
        let subscription = Order {
            kind: OrderKind::Subscription,
            ..order()
        };
        let payload = signer.sign(&subscription);
        assert!(payload.starts_with("v1.s."), "{payload}");
        assert_eq!(signer.verify(&payload), Ok(subscription));
        assert!(signer.sign(&order()).starts_with("v1.d."));
        // An unknown kind, even correctly signed, is not one of ours.
        let body = "v1.x.1.1.XTR.1";
        let tag = signer.mac(body).finalize().into_bytes();
        let forged = format!("{body}.{}", hex::encode(&tag[..TAG_LEN]));
        assert_eq!(signer.verify(&forged), Err(PayloadError::Malformed));
    }

    /// Telegram's limit is inclusive: a payload of exactly 128 bytes with a good signature
    /// is ours; one byte more is refused before its signature is looked at, however good.
    #[test]
    fn a_payload_of_exactly_the_limit_verifies_and_one_byte_more_is_refused() {
        let signer = PayloadSigner::new(b"secret");
        let signed = |currency: &str| {
            let body = format!("v1.d.7.100.{currency}.1900000000");
            let tag = signer.mac(&body).finalize().into_bytes();
            format!("{body}.{}", hex::encode(&tag[..TAG_LEN]))
        };
        let fill = PAYLOAD_LEN_MAX - signed("").len();
        let exact = signed(&"X".repeat(fill));
        assert_eq!(exact.len(), PAYLOAD_LEN_MAX);
        assert_eq!(signer.verify(&exact).map(|o| o.player), Ok(7));
        let over = signed(&"X".repeat(fill + 1));
        assert_eq!(signer.verify(&over), Err(PayloadError::Malformed));
    }

    /// The signer's key never reaches a log through `{:?}`.
    #[test]
    fn the_signers_debug_hides_its_key() {
        let shown = format!("{:?}", PayloadSigner::new(b"hunter2"));
        assert_eq!(shown, "PayloadSigner { key: <hidden> }");
    }
}
