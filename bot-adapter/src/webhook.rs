//! The HTTP side of `croupier serve`: `POST /telegram/webhook`, `GET /healthz`,
//! `GET /readyz`.
//!
//! A webhook request is acknowledged (200) only once the update and its effects are
//! durable. When the database is unavailable (a transient failure) it answers 503 with
//! `Retry-After`; when handling failed for good (unreadable data, a bug) it answers 500.
//! Either way Telegram delivers the update again later.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use store::EventStore;
use subtle::ConstantTimeEq;

use super::pipeline::{Handled, Pipeline};
use super::supervise::Health;

/// Telegram's updates are far smaller; anything bigger is not Telegram.
pub const BODY_LEN_MAX: usize = 1024 * 1024;
/// Seconds Telegram is asked to wait before redelivering after a 503.
pub const RETRY_AFTER_S: u32 = 5;
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

#[derive(Clone)]
struct AppState<S> {
    pipeline: Pipeline<S>,
    secret: Option<String>,
    health: Health,
}

/// The router. `secret` is `None` only when the webhook route is not offered (polling).
pub fn router<S: EventStore>(pipeline: Pipeline<S>, secret: Option<String>) -> Router {
    router_with(pipeline, secret, Health::untended())
}

/// The router of a supervised server: `/readyz` fails once `health` does.
pub fn router_with<S: EventStore>(
    pipeline: Pipeline<S>,
    secret: Option<String>,
    health: Health,
) -> Router {
    Router::new()
        .route("/telegram/webhook", post(webhook::<S>))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready::<S>))
        .layer(DefaultBodyLimit::max(BODY_LEN_MAX))
        .with_state(AppState {
            pipeline,
            secret,
            health,
        })
}

/// Constant-time comparison of the secret header; a missing header never matches.
fn secret_matches(expected: &str, headers: &HeaderMap) -> bool {
    let Some(given) = headers.get(SECRET_HEADER) else {
        return false;
    };
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("retry-after", RETRY_AFTER_S.to_string())],
        "database unavailable, retry later\n",
    )
        .into_response()
}

async fn webhook<S: EventStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = &state.secret else {
        return (StatusCode::NOT_FOUND, "webhook not enabled\n").into_response();
    };
    if !secret_matches(secret, &headers) {
        return (StatusCode::UNAUTHORIZED, "wrong or missing secret token\n").into_response();
    }
    match state.pipeline.process(&body).await {
        // A dead letter is stored: acknowledged, or Telegram would resend it forever.
        Ok(Handled::Done { .. } | Handled::Duplicate | Handled::DeadLetter) => {
            StatusCode::OK.into_response()
        }
        Ok(Handled::Malformed) => {
            (StatusCode::BAD_REQUEST, "not a Telegram update\n").into_response()
        }
        Err(error) if error.transient() => {
            tracing::warn!(error = %error, "update not acknowledged");
            unavailable()
        }
        Err(error) => {
            tracing::error!(error = %error, "update not acknowledged: it cannot be handled until this is mended");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the update cannot be handled\n",
            )
                .into_response()
        }
    }
}

async fn ready<S: EventStore>(State(state): State<AppState<S>>) -> Response {
    if let Some(failure) = state.health.failure() {
        tracing::warn!(failure = %failure, "not ready");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "a task of this server died; it is stopping\n",
        )
            .into_response();
    }
    match state.pipeline.port.db.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "not ready");
            unavailable()
        }
    }
}
