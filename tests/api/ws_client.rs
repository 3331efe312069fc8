//! A websocket client for the subscription tests: a real socket (tokio-tungstenite) to the
//! running app, speaking either subprotocol.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const TRANSPORT: &str = "graphql-transport-ws";
pub const LEGACY: &str = "graphql-ws";

/// What the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Got {
    Json(Value),
    Close(u16, String),
    /// The socket ended without a close frame.
    Ended,
    /// Nothing came in time.
    Silence,
}

pub struct Ws {
    pub socket: Socket,
    pub protocol: String,
    /// Messages read while waiting for another operation's, in order.
    pending: std::collections::VecDeque<Value>,
}

impl Ws {
    /// Opens a socket to `/graphql` asking for `protocol`.
    pub async fn connect(addr: SocketAddr, protocol: &str) -> Self {
        let mut request = format!("ws://{addr}/graphql")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async_with_config(
            request,
            Some(WebSocketConfig::default()),
            false,
        )
        .await
        .expect("websocket connect");
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol),
            "the server speaks the protocol asked for"
        );
        Self {
            socket,
            protocol: protocol.to_string(),
            pending: Default::default(),
        }
    }

    /// Connects and initialises with `token` (expects the ack).
    pub async fn ready(addr: SocketAddr, protocol: &str, token: &str) -> Self {
        let mut ws = Self::connect(addr, protocol).await;
        ws.send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}))
            .await;
        match ws.recv().await {
            Got::Json(v) if v["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
        ws
    }

    pub async fn send(&mut self, value: Value) {
        self.socket
            .send(Message::Text(value.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("send");
    }

    /// The next message within 10 s (legacy keep-alives skipped).
    pub async fn recv(&mut self) -> Got {
        self.recv_within(Duration::from_secs(10)).await
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Got {
        if let Some(v) = self.pending.pop_front() {
            return Got::Json(v);
        }
        loop {
            let next = match tokio::time::timeout(wait, self.socket.next()).await {
                Err(_) => return Got::Silence,
                Ok(next) => next,
            };
            return match next {
                None | Some(Err(_)) => Got::Ended,
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON from the server");
                    if v["type"] == "ka" {
                        continue;
                    }
                    Got::Json(v)
                }
                Some(Ok(Message::Close(frame))) => match frame {
                    Some(f) => Got::Close(f.code.into(), f.reason.to_string()),
                    None => Got::Close(1005, String::new()),
                },
                Some(Ok(_)) => continue,
            };
        }
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == LEGACY {
            "start"
        } else {
            "subscribe"
        };
        self.send(
            json!({"type": kind, "id": id, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// The next `next`/`data` payload of `id` (other ids' messages are kept for later).
    pub async fn next_of(&mut self, id: &str) -> Value {
        let check = |v: Value| {
            if v["type"] == "next" || v["type"] == "data" {
                v["payload"].clone()
            } else {
                panic!("expected a result of {id}, got {v}")
            }
        };
        if let Some(pos) = self.pending.iter().position(|v| v["id"] == id) {
            let v = self.pending.remove(pos).unwrap();
            return check(v);
        }
        let mut kept = std::collections::VecDeque::new();
        let found = loop {
            let got = {
                let saved = std::mem::take(&mut self.pending);
                let got = self.recv().await;
                self.pending = saved;
                got
            };
            match got {
                Got::Json(v) if v["id"] == id => break v,
                Got::Json(v) => kept.push_back(v),
                other => panic!("expected a result of {id}, got {other:?}"),
            }
        };
        self.pending.extend(kept);
        check(found)
    }

    /// Expects the socket to close with `code`; returns the reason.
    pub async fn closed_with(&mut self, code: u16) -> String {
        loop {
            match self.recv().await {
                Got::Close(c, reason) => {
                    assert_eq!(c, code, "closed with {c} ({reason})");
                    return reason;
                }
                Got::Json(v) if v["type"] == "ka" || v["type"] == "connection_error" => continue,
                other => panic!("expected close {code}, got {other:?}"),
            }
        }
    }
}
