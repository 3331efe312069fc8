//! The two websocket subprotocols (DESIGN.md §2, §7) as messages: `graphql-transport-ws` (the
//! `graphql-ws` library's protocol) and the legacy `graphql-ws` (subscriptions-transport-ws).
//! Pure: parsing what a client sends, spelling what the server sends, the close codes, and
//! reading the token out of `connection_init`.

use crate::auth::TokenError;
use serde_json::{Value, json};

/// The subprotocol a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// The legacy `graphql-ws` of subscriptions-transport-ws.
    LegacyWs,
}

impl Protocol {
    pub const TRANSPORT_WS: &'static str = "graphql-transport-ws";
    pub const LEGACY_WS: &'static str = "graphql-ws";

    /// The protocol of a negotiated `Sec-WebSocket-Protocol` (none: graphql-transport-ws).
    pub fn negotiated(name: Option<&str>) -> Self {
        match name {
            Some(Self::LEGACY_WS) => Self::LegacyWs,
            _ => Self::TransportWs,
        }
    }
}

/// Close codes (graphql-transport-ws, RFC 6455).
pub mod close {
    /// The server is going away (shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// A message was larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// An unknown or malformed message.
    pub const BAD_MESSAGE: u16 = 4400;
    /// A subscribe before `connection_ack`.
    pub const UNAUTHORIZED: u16 = 4401;
    /// Authentication failed, or the token expired.
    pub const FORBIDDEN: u16 = 4403;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// A subscribe with an id already in use.
    pub const DUPLICATE_ID: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INITS: u16 = 4429;
}

/// What a client sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Init(Option<Value>),
    Ping(Option<Value>),
    Pong,
    /// `subscribe` (or legacy `start`): an operation under a client-chosen id.
    Subscribe {
        id: String,
        payload: Value,
    },
    /// `complete` (or legacy `stop`): the client is done with `id`.
    Complete {
        id: String,
    },
    /// Legacy `connection_terminate`.
    Terminate,
}

/// Why a message was refused (close 4400 with this reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMessage(pub String);

/// Reads one text message of `protocol`.
pub fn parse(protocol: Protocol, text: &str) -> Result<ClientMessage, BadMessage> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| BadMessage("the message is not JSON".into()))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| BadMessage("the message has no `type`".into()))?;
    let id = || -> Result<String, BadMessage> {
        match value.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && id.len() <= 200 => Ok(id.to_string()),
            _ => Err(BadMessage(format!(
                "`{kind}` needs an `id` of 1..200 characters"
            ))),
        }
    };
    let payload = value.get("payload").filter(|p| !p.is_null()).cloned();
    Ok(match (protocol, kind) {
        (_, "connection_init") => ClientMessage::Init(payload),
        (Protocol::TransportWs, "ping") => ClientMessage::Ping(payload),
        (Protocol::TransportWs, "pong") => ClientMessage::Pong,
        (Protocol::TransportWs, "subscribe") | (Protocol::LegacyWs, "start") => {
            let id = id()?;
            let payload = payload
                .filter(Value::is_object)
                .ok_or_else(|| BadMessage(format!("`{kind}` needs a `payload` object")))?;
            ClientMessage::Subscribe { id, payload }
        }
        (Protocol::TransportWs, "complete") | (Protocol::LegacyWs, "stop") => {
            ClientMessage::Complete { id: id()? }
        }
        (Protocol::LegacyWs, "connection_terminate") => ClientMessage::Terminate,
        _ => return Err(BadMessage(format!("unknown message type `{kind}`"))),
    })
}

/// The bearer token a `connection_init` payload carries: `{"Authorization": "Bearer …"}` (the
/// key in any case) or `{"token": "…"}` (with or without `Bearer `).
pub fn token_from_init(payload: Option<&Value>) -> Result<&str, TokenError> {
    let Some(Value::Object(map)) = payload else {
        return Err(TokenError::Missing);
    };
    for (key, value) in map {
        if key.eq_ignore_ascii_case("authorization") {
            return crate::auth::token::bearer(value.as_str().ok_or(TokenError::NotBearer)?);
        }
    }
    let token = map
        .get("token")
        .and_then(Value::as_str)
        .ok_or(TokenError::Missing)?
        .trim();
    let token = match token.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => token,
    };
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    Ok(token)
}

/// What the server sends.
pub fn ack() -> String {
    json!({"type": "connection_ack"}).to_string()
}

pub fn pong(payload: Option<&Value>) -> String {
    match payload {
        Some(p) => json!({"type": "pong", "payload": p}).to_string(),
        None => json!({"type": "pong"}).to_string(),
    }
}

/// Legacy keep-alive.
pub fn keep_alive() -> String {
    json!({"type": "ka"}).to_string()
}

/// Legacy `connection_error`, sent before the close.
pub fn connection_error(message: &str) -> String {
    json!({"type": "connection_error", "payload": {"message": message}}).to_string()
}

/// One result of operation `id`; `payload` is the serialised GraphQL response, shared as is by
/// every subscriber of a shared execution.
pub fn next(protocol: Protocol, id: &str, payload: &str) -> String {
    let kind = match protocol {
        Protocol::TransportWs => "next",
        Protocol::LegacyWs => "data",
    };
    envelope(kind, id, payload)
}

/// The errors that end operation `id`; `errors` is a JSON array of GraphQL errors. The legacy
/// protocol wants one error object rather than a list.
pub fn error(protocol: Protocol, id: &str, errors: &Value) -> String {
    let payload = match (protocol, errors) {
        (Protocol::LegacyWs, Value::Array(list)) if list.len() == 1 => list[0].to_string(),
        _ => errors.to_string(),
    };
    envelope("error", id, &payload)
}

/// Operation `id` is done.
pub fn complete(id: &str) -> String {
    json!({"type": "complete", "id": id}).to_string()
}

fn envelope(kind: &str, id: &str, payload: &str) -> String {
    let id = Value::String(id.to_string()).to_string();
    let mut out = String::with_capacity(payload.len() + id.len() + kind.len() + 32);
    out.push_str("{\"type\":\"");
    out.push_str(kind);
    out.push_str("\",\"id\":");
    out.push_str(&id);
    out.push_str(",\"payload\":");
    out.push_str(payload);
    out.push('}');
    out
}

/// A GraphQL error list of one error with `code` (and extension keys).
pub fn errors(message: &str, code: &str) -> Value {
    json!([{"message": message, "extensions": {"code": code}}])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_protocols_parse_their_own_messages() {
        use ClientMessage::*;
        let t = Protocol::TransportWs;
        let l = Protocol::LegacyWs;
        assert_eq!(parse(t, r#"{"type":"connection_init"}"#), Ok(Init(None)));
        assert_eq!(
            parse(t, r#"{"type":"ping","payload":{"a":1}}"#),
            Ok(Ping(Some(json!({"a": 1}))))
        );
        assert_eq!(
            parse(
                t,
                r#"{"type":"subscribe","id":"1","payload":{"query":"{ me { id } }"}}"#
            ),
            Ok(Subscribe {
                id: "1".into(),
                payload: json!({"query": "{ me { id } }"})
            })
        );
        assert_eq!(
            parse(l, r#"{"type":"start","id":"1","payload":{"query":"q"}}"#),
            Ok(Subscribe {
                id: "1".into(),
                payload: json!({"query": "q"})
            })
        );
        assert_eq!(
            parse(l, r#"{"type":"stop","id":"9"}"#),
            Ok(Complete { id: "9".into() })
        );
        assert_eq!(
            parse(l, r#"{"type":"connection_terminate"}"#),
            Ok(Terminate)
        );
        // Each protocol's words only.
        assert!(parse(t, r#"{"type":"start","id":"1","payload":{}}"#).is_err());
        assert!(parse(l, r#"{"type":"ping"}"#).is_err());
        for bad in [
            "not json",
            "{}",
            r#"{"type":"subscribe","payload":{"query":"q"}}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"q"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"1","payload":"q"}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"next","id":"1","payload":{}}"#,
        ] {
            assert!(parse(t, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_come_in_either_shape() {
        let ok = |v: Value| token_from_init(Some(&v)).map(str::to_string);
        assert_eq!(ok(json!({"Authorization": "Bearer abc"})), Ok("abc".into()));
        assert_eq!(ok(json!({"authorization": "bearer abc"})), Ok("abc".into()));
        assert_eq!(ok(json!({"AUTHORIZATION": "Bearer abc"})), Ok("abc".into()));
        assert_eq!(ok(json!({"token": "abc"})), Ok("abc".into()));
        assert_eq!(ok(json!({"token": "Bearer abc"})), Ok("abc".into()));
        assert_eq!(
            ok(json!({"Authorization": "Basic abc"})),
            Err(TokenError::NotBearer)
        );
        assert_eq!(ok(json!({"token": ""})), Err(TokenError::Missing));
        assert_eq!(ok(json!({})), Err(TokenError::Missing));
        assert_eq!(token_from_init(None), Err(TokenError::Missing));
    }

    #[test]
    fn server_messages_are_json_with_the_payload_as_given() {
        let next: Value = serde_json::from_str(&super::next(
            Protocol::TransportWs,
            "a\"b",
            r#"{"data":{"x":1}}"#,
        ))
        .unwrap();
        assert_eq!(
            next,
            json!({"type": "next", "id": "a\"b", "payload": {"data": {"x": 1}}})
        );
        let data: Value =
            serde_json::from_str(&super::next(Protocol::LegacyWs, "1", "{}")).unwrap();
        assert_eq!(data["type"], "data");
        let errs = errors("no", "BAD_USER_INPUT");
        let e: Value = serde_json::from_str(&error(Protocol::TransportWs, "1", &errs)).unwrap();
        assert!(e["payload"].is_array());
        let e: Value = serde_json::from_str(&error(Protocol::LegacyWs, "1", &errs)).unwrap();
        assert_eq!(e["payload"]["extensions"]["code"], "BAD_USER_INPUT");
    }
}
