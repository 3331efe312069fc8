//! HS256 bearer tokens (DESIGN.md §2): claims `sub`, `tenant`, `roles`, `exp`; no leeway.

use super::{Actor, Role};
use crate::domain::time::Clock;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims jobgraph reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    pub roles: Vec<String>,
    pub exp: i64,
}

/// Why a token was refused; the text goes to the client after `UNAUTHENTICATED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token's claims are invalid: {0}")]
    BadClaims(String),
}

/// The signing and verifying keys of one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// `exp` is checked against this clock (so tests move time instead of waiting).
    clock: Clock,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

/// Longest accepted `sub` and `tenant`.
const MAX_ID_CHARS: usize = 200;

/// The shortest HS256 secret accepted: 32 bytes, the size of the hash (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` is required, and checked below against the server's clock with no grace: a
        // token is dead the second it expires.
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            clock: Clock::system(),
        }
    }

    /// The same keys, reading time from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now_seconds(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// Signs a token for `actor` valid for `ttl_seconds` from now.
    pub fn mint(&self, actor: &Actor, ttl_seconds: i64) -> Result<String, TokenError> {
        let claims = Claims {
            sub: actor.id.clone(),
            tenant: actor.tenant.clone(),
            roles: actor.roles.iter().map(|r| r.as_str().to_string()).collect(),
            exp: self.now_seconds() + ttl_seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Malformed(e.to_string()))
    }

    /// Verifies a raw token and returns its actor.
    pub fn verify(&self, token: &str) -> Result<Actor, TokenError> {
        self.verify_until(token).map(|(actor, _)| actor)
    }

    /// Verifies a raw token; returns its actor and when it expires (`exp`, Unix seconds).
    pub fn verify_until(&self, token: &str) -> Result<(Actor, i64), TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::MissingRequiredClaim(c) => {
                    TokenError::BadClaims(format!("`{c}` is required"))
                }
                ErrorKind::Json(_) => TokenError::BadClaims(
                    "`sub`, `tenant` (strings), `roles` (a list) and `exp` (a number) are required"
                        .into(),
                ),
                ErrorKind::InvalidAlgorithm => {
                    TokenError::Malformed("only HS256 is accepted".into())
                }
                _ => TokenError::Malformed(e.to_string()),
            })?;
        let exp = data.claims.exp;
        if exp <= self.now_seconds() {
            return Err(TokenError::Expired);
        }
        Ok((actor_from_claims(data.claims)?, exp))
    }

    /// Verifies an `Authorization` header value (`Bearer <token>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Actor, TokenError> {
        self.verify(bearer(header.ok_or(TokenError::Missing)?)?)
    }
}

/// The token of a `Bearer <token>` value.
pub fn bearer(value: &str) -> Result<&str, TokenError> {
    let (scheme, token) = value.trim().split_once(' ').ok_or(TokenError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(TokenError::NotBearer);
    }
    Ok(token.trim())
}

impl TokenKeys {}

fn actor_from_claims(claims: Claims) -> Result<Actor, TokenError> {
    let sub = identity("sub", &claims.sub)?;
    let tenant = identity("tenant", &claims.tenant)?;
    if claims.roles.is_empty() {
        return Err(TokenError::BadClaims("`roles` must not be empty".into()));
    }
    let mut roles = Vec::with_capacity(claims.roles.len());
    for name in &claims.roles {
        let role = Role::parse(name).ok_or_else(|| {
            TokenError::BadClaims(format!(
                "unknown role `{name}` (ADMIN, MEMBER, AGENT or VIEWER)"
            ))
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(Actor::new(sub, tenant, roles))
}

/// A `sub` or `tenant` claim checked like any input (DESIGN.md §2): trimmed, 1..200
/// characters, no control characters (a NUL would otherwise reach the database).
fn identity(name: &str, value: &str) -> Result<String, TokenError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_ID_CHARS {
        return Err(TokenError::BadClaims(format!(
            "`{name}` must be 1..{MAX_ID_CHARS} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(TokenError::BadClaims(format!(
            "`{name}` must not contain control characters"
        )));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"test-secret-test-secret-test-secret")
    }

    fn raw(claims: serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let actor = Actor::new("alice", "acme", vec![Role::Member, Role::Agent]);
        let token = keys().mint(&actor, 60).unwrap();
        assert_eq!(keys().verify(&token).unwrap(), actor);
        assert_eq!(
            keys()
                .verify_header(Some(&format!("Bearer {token}")))
                .unwrap(),
            actor
        );
    }

    #[test]
    fn expiry_follows_the_clock() {
        let manual = crate::domain::time::ManualClock::new();
        let k = keys().with_clock(manual.clock());
        let actor = Actor::new("a", "t", vec![Role::Viewer]);
        let token = k.mint(&actor, 60).unwrap();
        let (_, exp) = k.verify_until(&token).unwrap();
        assert!(exp > chrono::Utc::now().timestamp());
        manual.advance(std::time::Duration::from_secs(61));
        assert_eq!(k.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn refusals() {
        let k = keys();
        let actor = Actor::new("a", "t", vec![Role::Viewer]);
        assert_eq!(
            k.verify(&k.mint(&actor, -1).unwrap()),
            Err(TokenError::Expired)
        );
        let other = TokenKeys::new(b"another-secret");
        assert_eq!(
            k.verify(&other.mint(&actor, 60).unwrap()),
            Err(TokenError::BadSignature)
        );
        assert_eq!(k.verify_header(None), Err(TokenError::Missing));
        assert_eq!(
            k.verify_header(Some("Basic abc")),
            Err(TokenError::NotBearer)
        );
        assert!(matches!(
            k.verify("not-a-jwt"),
            Err(TokenError::Malformed(_))
        ));
        let exp = chrono::Utc::now().timestamp() + 60;
        let secret = b"test-secret-test-secret-test-secret";
        let no_exp = raw(
            serde_json::json!({"sub": "a", "tenant": "t", "roles": ["ADMIN"]}),
            secret,
        );
        assert!(matches!(k.verify(&no_exp), Err(TokenError::BadClaims(_))));
        let no_roles = raw(
            serde_json::json!({"sub": "a", "tenant": "t", "roles": [], "exp": exp}),
            secret,
        );
        assert!(matches!(k.verify(&no_roles), Err(TokenError::BadClaims(_))));
        let bad_role = raw(
            serde_json::json!({"sub": "a", "tenant": "t", "roles": ["ROOT"], "exp": exp}),
            secret,
        );
        assert!(matches!(k.verify(&bad_role), Err(TokenError::BadClaims(_))));
        let no_tenant = raw(
            serde_json::json!({"sub": "a", "roles": ["ADMIN"], "exp": exp}),
            secret,
        );
        assert!(matches!(
            k.verify(&no_tenant),
            Err(TokenError::BadClaims(_))
        ));
    }

    #[test]
    fn identity_claims_are_checked_like_input() {
        let k = keys();
        let secret = b"test-secret-test-secret-test-secret";
        let exp = chrono::Utc::now().timestamp() + 60;
        let token = |sub: &str, tenant: &str| {
            raw(
                serde_json::json!({"sub": sub, "tenant": tenant, "roles": ["MEMBER"], "exp": exp}),
                secret,
            )
        };
        let long = "x".repeat(201);
        for (sub, tenant) in [
            ("a\0b", "t"),
            ("a", "t\0"),
            ("a\nb", "t"),
            ("   ", "t"),
            ("a", ""),
            (long.as_str(), "t"),
            ("a", long.as_str()),
        ] {
            assert!(
                matches!(k.verify(&token(sub, tenant)), Err(TokenError::BadClaims(_))),
                "{sub:?}/{tenant:?} was accepted"
            );
        }
        // Surrounding whitespace is trimmed, as titles are; 200 characters pass.
        let actor = k.verify(&token("  alice ", " acme")).unwrap();
        assert_eq!(
            (actor.id.as_str(), actor.tenant.as_str()),
            ("alice", "acme")
        );
        let max = "é".repeat(200);
        assert_eq!(k.verify(&token(&max, "t")).unwrap().id, max);
    }
}
