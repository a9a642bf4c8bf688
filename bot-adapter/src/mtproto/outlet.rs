//! The outbox's calls sent over MTProto: [`calls`] makes the request, this sends it with
//! the bot's client and turns the answer into the dispatcher's [`Sent`], so pacing,
//! FLOOD_WAIT (as a 429), backoff and dead letters are the dispatcher's, as for the Bot API.

use std::sync::Arc;

use grammers_client::{Client, InvocationError};
use grammers_session::Session;
use grammers_tl_types as tl;
use serde_json::Value;

use super::calls::{self, Failure, Outgoing, Request};
use super::session::SessionStore;
use crate::db::OutboxRow;
use crate::dispatcher::Sent;

/// Sends outbox calls through the bot's MTProto client.
#[derive(Clone)]
pub struct MtprotoOutlet {
    pub client: Client,
    pub session: Arc<SessionStore>,
}

impl MtprotoOutlet {
    /// Makes one queued call.
    pub async fn send(&self, call: &OutboxRow) -> Sent {
        let params: Value = serde_json::from_str(&call.params).unwrap_or(Value::Null);
        let outgoing = match Outgoing::parse(&call.method, &params) {
            Ok(outgoing) => outgoing,
            Err(unsupported) => return Sent::Permanent(unsupported.to_string()),
        };
        // A user the bot has not seen is tried with the ambient (zero) access hash,
        // which Telegram accepts from bots for users who wrote to them.
        let peer = match outgoing.addressee() {
            // Answers and the like address no one; the request ignores the peer.
            None => grammers_session::types::PeerId::self_user().to_ambient_ref(),
            Some(addressee) => {
                let Some(id) = addressee.peer_id() else {
                    return Sent::Permanent(format!("{addressee:?} is not a valid peer"));
                };
                match self.session.peer_ref(id).await {
                    Ok(peer) => peer.unwrap_or_else(|| id.to_ambient_ref()),
                    Err(error) => return Sent::Transient(error.to_string()),
                }
            }
        };
        let request = outgoing.request(peer, calls::random_id(&call.dedupe_key));
        match self.invoke(&request, outgoing.chat()).await {
            Ok(result) => Sent::Ok(result),
            Err(error) => sent_after(&outgoing, &error),
        }
    }

    async fn invoke(
        &self,
        request: &Request,
        chat: Option<i64>,
    ) -> Result<Option<Value>, InvocationError> {
        let message =
            |updates: tl::enums::Updates| chat.and_then(|c| calls::sent_message(&updates, c));
        let done = || Some(Value::Bool(true));
        match request {
            Request::SendMessage(r) => self.client.invoke(r).await.map(message),
            Request::SendMedia(r) => self.client.invoke(r).await.map(message),
            Request::SetBotCallbackAnswer(r) => self.client.invoke(r).await.map(|_| done()),
            Request::SetBotPrecheckoutResults(r) => self.client.invoke(r).await.map(|_| done()),
            Request::RefundStarsCharge(r) => self.client.invoke(r).await.map(|_| done()),
        }
    }
}

/// The dispatcher's view of a failed request.
fn sent_after(call: &Outgoing, error: &InvocationError) -> Sent {
    let InvocationError::Rpc(rpc) = error else {
        // The connection, the session, a reply not understood: worth another try.
        return Sent::Transient(error.to_string());
    };
    match calls::failure(call, rpc.code, &rpc.name, rpc.value) {
        Failure::Flood(seconds) => Sent::TooMany(seconds),
        Failure::AlreadyDone => Sent::Ok(None),
        Failure::Transient => Sent::Transient(rpc.to_string()),
        Failure::Permanent => Sent::Permanent(rpc.to_string()),
    }
}
