//! The HTTP listener of `croupier serve`: the webhook router served with a deadline on
//! each request's headers and on its body, a bound on connections served at once, and a
//! deadline on shutdown. A client that trickles its request in, or opens connections and
//! sends nothing, ties up a task and a descriptor; without these bounds a few thousand
//! of them exhaust the process, and a half-sent request holds a shutdown forever.
//!
//! HTTP/1.1 only (Telegram's webhook speaks it), by hyper's connection builder under the
//! axum router: hyper cuts a connection whose headers are not in within the header
//! timeout (idle keep-alive connections too), a middleware answers 408 to a body not in
//! within the body timeout, and a connection beyond `connections_max` waits in the
//! kernel's backlog until another closes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::webhook::BODY_LEN_MAX;

/// The listener's bounds (`serve --header-timeout-s`, `--body-timeout-s`,
/// `--connections-max`, `--shutdown-timeout-s`).
#[derive(Debug, Clone)]
pub struct Bounds {
    /// From the first byte a connection may send (or the end of its last request) to the
    /// end of a request's headers.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub connections_max: usize,
    /// After shutdown is asked for, how long requests in flight may take to finish
    /// before their connections are dropped.
    pub shutdown_timeout: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            connections_max: 1024,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then accepts no more, lets the
/// requests in flight finish within `bounds.shutdown_timeout`, and drops what is left
/// (a request cut so is not acknowledged: Telegram delivers it again). Returns how many
/// connections were dropped at the deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    bounds: &Bounds,
    shutdown: impl Future<Output = ()>,
) -> usize {
    let app = app.layer(axum::middleware::from_fn_with_state(
        bounds.body_timeout,
        body_deadline,
    ));
    let permits = Arc::new(Semaphore::new(bounds.connections_max.max(1)));
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin.
                    tracing::warn!(error = %error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(app.clone());
        let header_timeout = bounds.header_timeout;
        let mut closing = closing.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(error = %error, "connection ended with an error");
                    }
                }
                () = async { let _ = closing.wait_for(|closing| *closing).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let drained = tokio::time::timeout(bounds.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_ok() {
        return 0;
    }
    let cut = connections.len();
    tracing::warn!(
        connections = cut,
        "requests still in flight at the shutdown deadline are dropped"
    );
    connections.shutdown().await;
    cut
}

/// Reads the whole body within `timeout` (and at most [`BODY_LEN_MAX`] of it) before the
/// router sees the request: 408 when it is not in by then, 413 when it is too long.
async fn body_deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, BODY_LEN_MAX)).await;
    match read {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(error)) => {
            let too_long = error
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            if too_long {
                (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response()
            } else {
                (StatusCode::BAD_REQUEST, "request body unreadable\n").into_response()
            }
        }
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            "request body not received in time\n",
        )
            .into_response(),
    }
}
