//! Subscriptions over websockets on `/graphql` (DESIGN.md §2, §7): the protocol loop is ours,
//! over `Schema::execute_stream`, because async-graphql's own handler answers with other close
//! codes, cannot end a socket when its token expires, and cannot tell a lagging subscriber
//! where to resume.
//!
//! One socket is a reader loop (this file) and a writer task. Everything the server sends goes
//! through one bounded queue to the writer, so messages keep their order and a slow client
//! holds up only its own subscriptions; a write that takes longer than
//! `--subscriber-write-timeout-ms` closes the socket. The reader enforces the protocol: auth in
//! `connection_init` (4403), a subscribe before the ack (4401), an unknown message (4400), no
//! init in time (4408), a duplicate id (4409), a second init (4429), the token's `exp` (4403),
//! shutdown (1001), and the limits (subscriptions per socket, message size).

mod groups;
pub mod protocol;

pub use groups::Groups;

use super::AppState;
use crate::auth::Actor;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, Protocol, close};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Limits of the websocket endpoint.
#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    /// Operations one socket may run at once.
    pub max_subscriptions: usize,
    /// How long one write may take before the socket is closed.
    pub write_timeout: Duration,
    /// How long a client has to send `connection_init`.
    pub init_timeout: Duration,
    /// The largest message a client may send.
    pub max_message_bytes: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_subscriptions: 100,
            write_timeout: Duration::from_millis(10_000),
            init_timeout: Duration::from_secs(10),
            max_message_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Messages waiting for the writer, per socket.
const OUT_QUEUE: usize = 64;
/// The legacy protocol's keep-alive period.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Takes the upgrade of a websocket request to `/graphql`.
pub fn upgrade(state: AppState, ws: WebSocketUpgrade) -> Response {
    use axum::response::IntoResponse;
    if state.shutdown.is_cancelled() {
        // Draining: a client reconnecting after its 1001 must find another replica.
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
            .into_response();
    }
    let ws = ws.protocols([Protocol::TRANSPORT_WS, Protocol::LEGACY_WS]);
    let protocol = Protocol::negotiated(ws.selected_protocol().and_then(|p| p.to_str().ok()));
    let limits = state.ws;
    // Small buffers: tungstenite's defaults reserve 128 KiB per socket for reading and never
    // cap the write buffer.
    ws.read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(limits.max_message_bytes.max(64 * 1024) * 2)
        .max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        .on_upgrade(move |socket| serve(socket, protocol, state))
}

/// The close frame with `code` and `reason` (cut to the 123 bytes a close frame allows).
fn close_frame(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].to_string().into(),
    }))
}

/// A running operation of the socket, counted in `/metrics` while it runs.
struct Running {
    how: How,
    _open: crate::metrics::Open,
}

impl Running {
    fn new(how: How) -> Self {
        Self {
            how,
            _open: crate::metrics::Open::subscription(),
        }
    }
}

enum How {
    /// Executed for this socket alone.
    Own(tokio::task::AbortHandle),
    /// A member of a shared execution; dropping it leaves.
    Shared(#[allow(dead_code)] groups::Membership),
}

impl Drop for Running {
    fn drop(&mut self) {
        if let How::Own(task) = &self.how {
            task.abort();
        }
    }
}

/// What the reader does after a message.
enum Flow {
    Continue,
    /// Close with this code and reason, then stop.
    Close(u16, String),
}

struct Connection {
    state: AppState,
    protocol: Protocol,
    out: mpsc::Sender<Message>,
    done: mpsc::Sender<String>,
    actor: Option<Actor>,
    /// When the token expires (microseconds of the server's clock).
    expires_at: Option<i64>,
    inits: u32,
    running: HashMap<String, Running>,
}

type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

async fn serve(socket: WebSocket, protocol: Protocol, state: AppState) {
    let _open = crate::metrics::Open::websocket();
    let (mut sink, mut incoming) = socket.split();
    let (out, mut queue) = mpsc::channel::<Message>(OUT_QUEUE);
    let (done, mut finished) = mpsc::channel::<String>(16);
    let gone = CancellationToken::new();
    let write_timeout = state.ws.write_timeout;
    let writer = tokio::spawn({
        let gone = gone.clone();
        async move {
            while let Some(message) = queue.recv().await {
                let closing = matches!(message, Message::Close(_));
                match tokio::time::timeout(write_timeout, sink.send(message)).await {
                    Ok(Ok(())) => {}
                    // A client that takes no writes (or a dead socket) is let go.
                    _ => break,
                }
                if closing {
                    break;
                }
            }
            let _ = tokio::time::timeout(write_timeout, sink.close()).await;
            gone.cancel();
        }
    });
    let shutdown = state.shutdown.clone();
    let init_timeout = state.ws.init_timeout;
    let mut conn = Connection {
        state,
        protocol,
        out,
        done,
        actor: None,
        expires_at: None,
        inits: 0,
        running: HashMap::new(),
    };
    let mut init_deadline: Timer = Box::pin(tokio::time::sleep(init_timeout));
    let mut expiry: Timer = Box::pin(std::future::pending());
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.tick().await;
    let ending: Option<(u16, String)> = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Some((close::GOING_AWAY, "the server is shutting down".into())),
            _ = gone.cancelled() => break None,
            _ = &mut init_deadline, if conn.actor.is_none() => {
                break Some((close::INIT_TIMEOUT, "connection initialisation timeout".into()));
            }
            _ = &mut expiry => break Some((close::FORBIDDEN, "UNAUTHENTICATED: the token has expired".into())),
            Some(id) = finished.recv() => {
                conn.running.remove(&id);
            }
            _ = keep_alive.tick(), if conn.protocol == Protocol::LegacyWs && conn.actor.is_some() => {
                conn.send(protocol::keep_alive()).await;
            }
            message = incoming.next() => match message {
                None | Some(Ok(Message::Close(_))) => break None,
                Some(Err(err)) => break Some(read_error(err)),
                Some(Ok(Message::Text(text))) => match conn.handle(text.as_str()).await {
                    Flow::Continue => {
                        if let (Some(at), true) = (conn.expires_at.take(), conn.actor.is_some()) {
                            let clock = conn.state.services.clock().clone();
                            expiry = Box::pin(async move { clock.sleep_until(at).await });
                        }
                    }
                    Flow::Close(code, reason) => break Some((code, reason)),
                },
                Some(Ok(Message::Binary(_))) => {
                    break Some((close::BAD_MESSAGE, "send messages as text".into()));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
        }
    };
    // Stop every operation first, so that nothing is queued after the close frame.
    conn.running.clear();
    if let Some((code, reason)) = ending {
        let _ = conn.out.send(close_frame(code, &reason)).await;
    }
    drop(conn);
    let _ = tokio::time::timeout(write_timeout, writer).await;
}

/// The close for a failed read: a message over the limit is 1009, anything else the socket
/// breaking (no close frame can be sent).
fn read_error(err: axum::Error) -> (u16, String) {
    let inner = err.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => (
            close::TOO_BIG,
            "the message is larger than the limit".into(),
        ),
        _ => (close::BAD_MESSAGE, "the message could not be read".into()),
    }
}

impl Connection {
    async fn send(&self, text: String) {
        let _ = self.out.send(Message::Text(text.into())).await;
    }

    async fn handle(&mut self, text: &str) -> Flow {
        let message = match protocol::parse(self.protocol, text) {
            Ok(message) => message,
            Err(bad) => return Flow::Close(close::BAD_MESSAGE, bad.0),
        };
        match message {
            ClientMessage::Init(payload) => self.init(payload.as_ref()).await,
            ClientMessage::Ping(payload) => {
                self.send(protocol::pong(payload.as_ref())).await;
                Flow::Continue
            }
            ClientMessage::Pong => Flow::Continue,
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload).await,
            ClientMessage::Complete { id } => {
                self.running.remove(&id);
                Flow::Continue
            }
            ClientMessage::Terminate => Flow::Close(1000, "terminated by the client".into()),
        }
    }

    async fn init(&mut self, payload: Option<&serde_json::Value>) -> Flow {
        self.inits += 1;
        if self.inits > 1 {
            return Flow::Close(
                close::TOO_MANY_INITS,
                "too many initialisation requests".into(),
            );
        }
        let verified = protocol::token_from_init(payload)
            .and_then(|token| self.state.keys.verify_until(token));
        match verified {
            Ok((actor, exp)) => {
                self.actor = Some(actor);
                self.expires_at = Some(exp.saturating_mul(1_000_000));
                self.send(protocol::ack()).await;
                if self.protocol == Protocol::LegacyWs {
                    self.send(protocol::keep_alive()).await;
                }
                Flow::Continue
            }
            Err(err) => {
                let reason = format!("UNAUTHENTICATED: {err}");
                if self.protocol == Protocol::LegacyWs {
                    self.send(protocol::connection_error(&reason)).await;
                }
                Flow::Close(close::FORBIDDEN, reason)
            }
        }
    }

    async fn subscribe(&mut self, id: String, payload: serde_json::Value) -> Flow {
        let Some(actor) = self.actor.clone() else {
            return Flow::Close(close::UNAUTHORIZED, "Unauthorized".into());
        };
        if self.running.contains_key(&id) {
            return Flow::Close(
                close::DUPLICATE_ID,
                format!("Subscriber for {id} already exists"),
            );
        }
        let request: async_graphql::Request = match serde_json::from_value(payload) {
            Ok(request) => request,
            Err(_) => {
                return Flow::Close(
                    close::BAD_MESSAGE,
                    "the payload must be {\"query\": …, \"variables\": …, \"operationName\": …}"
                        .into(),
                );
            }
        };
        let max = self.state.ws.max_subscriptions;
        if self.running.len() >= max {
            let errors = protocol::errors(
                &format!("a socket runs at most {max} operations at once: complete one first"),
                "BAD_USER_INPUT",
            );
            self.send(protocol::error(self.protocol, &id, &errors))
                .await;
            return Flow::Continue;
        }
        let running = match groups::key_of(&actor, &request) {
            Some(key) => Running::new(How::Shared(self.state.groups.join(
                key,
                groups::Member::new(
                    id.clone(),
                    self.protocol,
                    self.out.clone(),
                    self.done.clone(),
                ),
                groups::Execution {
                    schema: self.state.schema.clone(),
                    services: self.state.services.clone(),
                    actor,
                    request,
                },
            ))),
            None => Running::new(How::Own(
                tokio::spawn(run_own(
                    self.state.clone(),
                    actor,
                    request,
                    id.clone(),
                    self.protocol,
                    self.out.clone(),
                    self.done.clone(),
                ))
                .abort_handle(),
            )),
        };
        self.running.insert(id, running);
        Flow::Continue
    }
}

/// A response as the socket sends it.
enum Rendered {
    /// A result: the JSON a `next` carries.
    Next(String),
    /// No data, only errors (the request did not validate, or the stream ended with
    /// EVENTS_PRUNED or SUBSCRIBER_LAGGING): the JSON list an `error` carries, which ends the
    /// operation.
    Error(serde_json::Value),
}

fn render(response: async_graphql::Response) -> Rendered {
    // Errors async-graphql raised itself get their code here too (a stream skips the
    // request-level extension that adds them).
    let response = crate::graphql::error::add_missing_codes(response);
    if !response.errors.is_empty() && response.data == async_graphql::Value::Null {
        Rendered::Error(serde_json::to_value(&response.errors).unwrap_or(serde_json::Value::Null))
    } else {
        Rendered::Next(serde_json::to_string(&response).unwrap_or_else(|_| "{}".into()))
    }
}

/// Runs one operation for one socket.
async fn run_own(
    state: AppState,
    actor: Actor,
    request: async_graphql::Request,
    id: String,
    protocol: Protocol,
    out: mpsc::Sender<Message>,
    done: mpsc::Sender<String>,
) {
    let request = crate::graphql::context::for_actor(request, &state.services, actor);
    let mut responses = state.schema.execute_stream(request);
    let mut failed = false;
    while let Some(response) = responses.next().await {
        let text = match render(response) {
            Rendered::Error(errors) => {
                failed = true;
                protocol::error(protocol, &id, &errors)
            }
            Rendered::Next(payload) => protocol::next(protocol, &id, &payload),
        };
        if out.send(Message::Text(text.into())).await.is_err() || failed {
            break;
        }
    }
    if !failed {
        let _ = out
            .send(Message::Text(protocol::complete(&id).into()))
            .await;
    }
    let _ = done.send(id).await;
}
