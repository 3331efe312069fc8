//! Automatic persisted queries (Apollo's protocol, DESIGN.md §11): a client sends
//! `extensions.persistedQuery = {version: 1, sha256Hash}` with no `query`; on a miss the answer
//! is PERSISTED_QUERY_NOT_FOUND and the client sends the query with its hash once, which
//! registers it; from then on the hash alone runs it, by POST or by GET.
//!
//! The cache holds query texts, least recently used first out, bounded in bytes (text plus a
//! fixed per-entry overhead), not only in entries: a client cannot fill memory with large
//! queries. Each replica has its own; a miss on another replica costs one round trip.

use lru::LruCache;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// What an entry costs beyond its text: the key, the `Arc`, the list links.
const ENTRY_OVERHEAD: usize = 96;

/// The query texts registered by hash.
pub struct PersistedQueries {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

struct Inner {
    entries: LruCache<[u8; 32], Arc<str>>,
    bytes: usize,
}

/// Why a persisted-query request cannot run.
#[derive(Debug, PartialEq, Eq)]
pub enum ApqError {
    /// The hash is not registered here: send the query with it.
    NotFound,
    /// The extension is malformed (the message names the field).
    Invalid(String),
}

/// A parsed `extensions.persistedQuery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistedQuery {
    pub hash: [u8; 32],
}

impl PersistedQuery {
    /// Reads `extensions.persistedQuery`, if present.
    pub fn from_extensions(
        extensions: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<Self>, ApqError> {
        let Some(value) = extensions.get("persistedQuery") else {
            return Ok(None);
        };
        let invalid = |why: &str| ApqError::Invalid(format!("`extensions.persistedQuery`: {why}"));
        let object = value
            .as_object()
            .ok_or_else(|| invalid("must be an object {version: 1, sha256Hash}"))?;
        if object.get("version").and_then(serde_json::Value::as_i64) != Some(1) {
            return Err(invalid("only `version: 1` is supported"));
        }
        let hex = object
            .get("sha256Hash")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| invalid("`sha256Hash` (a string) is required"))?;
        let hash =
            parse_hex(hex).ok_or_else(|| invalid("`sha256Hash` must be 64 hexadecimal digits"))?;
        Ok(Some(Self { hash }))
    }
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The SHA-256 of a query text.
pub fn hash_of(query: &str) -> [u8; 32] {
    Sha256::digest(query.as_bytes()).into()
}

impl PersistedQueries {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
            max_bytes,
        }
    }

    /// The query a request runs: `query` itself when given (registered under `persisted`'s
    /// hash after checking it matches), else the registered text of the hash.
    pub fn resolve(
        &self,
        query: Option<String>,
        persisted: Option<PersistedQuery>,
    ) -> Result<Option<Arc<str>>, ApqError> {
        match (query, persisted) {
            (query, None) => Ok(query.map(Arc::from)),
            (Some(query), Some(p)) => {
                if hash_of(&query) != p.hash {
                    return Err(ApqError::Invalid(
                        "`extensions.persistedQuery.sha256Hash` is not the SHA-256 of `query`"
                            .into(),
                    ));
                }
                let text: Arc<str> = Arc::from(query);
                self.insert(p.hash, text.clone());
                Ok(Some(text))
            }
            (None, Some(p)) => self.get(&p.hash).map(Some).ok_or(ApqError::NotFound),
        }
    }

    fn get(&self, hash: &[u8; 32]) -> Option<Arc<str>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.get(hash).cloned()
    }

    fn insert(&self, hash: [u8; 32], text: Arc<str>) {
        let cost = text.len() + ENTRY_OVERHEAD;
        if cost > self.max_bytes {
            return; // larger than the whole cache: it runs, but is not kept
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.entries.put(hash, text) {
            inner.bytes -= old.len() + ENTRY_OVERHEAD;
        }
        inner.bytes += cost;
        while inner.bytes > self.max_bytes {
            match inner.entries.pop_lru() {
                Some((_, evicted)) => inner.bytes -= evicted.len() + ENTRY_OVERHEAD,
                None => break,
            }
        }
    }

    /// (entries, bytes) held now.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (inner.entries.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn persisted(query: &str) -> Option<PersistedQuery> {
        Some(PersistedQuery {
            hash: hash_of(query),
        })
    }

    #[test]
    fn round_trip_and_mismatch() {
        let cache = PersistedQueries::new(1 << 20);
        let q = "{ me { id } }";
        assert_eq!(cache.resolve(None, persisted(q)), Err(ApqError::NotFound));
        assert_eq!(
            cache
                .resolve(Some(q.into()), persisted(q))
                .unwrap()
                .as_deref(),
            Some(q)
        );
        assert_eq!(
            cache.resolve(None, persisted(q)).unwrap().as_deref(),
            Some(q)
        );
        let wrong = cache.resolve(Some("{ other }".into()), persisted(q));
        assert!(matches!(wrong, Err(ApqError::Invalid(_))));
        assert_eq!(cache.resolve(None, None).unwrap(), None);
    }

    #[test]
    fn bounded_in_bytes_least_recently_used_out() {
        let big = |i: usize| format!("{{ me {{ id }} }} # {i} {}", "x".repeat(1000));
        let cache = PersistedQueries::new(10 * (1030 + ENTRY_OVERHEAD));
        for i in 0..10 {
            cache.resolve(Some(big(i)), persisted(&big(i))).unwrap();
        }
        // Touch the first so that the second is the oldest.
        cache.resolve(None, persisted(&big(0))).unwrap();
        for i in 10..15 {
            cache.resolve(Some(big(i)), persisted(&big(i))).unwrap();
        }
        let (entries, bytes) = cache.usage();
        assert!(bytes <= 10 * (1030 + ENTRY_OVERHEAD), "{bytes}");
        assert!(entries <= 10, "{entries}");
        assert!(
            cache.resolve(None, persisted(&big(0))).is_ok(),
            "recently used stays"
        );
        assert_eq!(
            cache.resolve(None, persisted(&big(1))),
            Err(ApqError::NotFound),
            "least recently used goes first"
        );
        // A text larger than the whole cache runs but is not kept.
        let huge = "y".repeat(20_000);
        assert!(cache.resolve(Some(huge.clone()), persisted(&huge)).is_ok());
        assert_eq!(
            cache.resolve(None, persisted(&huge)),
            Err(ApqError::NotFound)
        );
    }

    #[test]
    fn the_extension_is_checked() {
        let ext = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert_eq!(PersistedQuery::from_extensions(&ext(json!({}))), Ok(None));
        let hash = "a".repeat(64);
        assert!(
            PersistedQuery::from_extensions(&ext(
                json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
            ))
            .unwrap()
            .is_some()
        );
        for bad in [
            json!({"persistedQuery": "x"}),
            json!({"persistedQuery": {"version": 2, "sha256Hash": hash}}),
            json!({"persistedQuery": {"version": 1}}),
            json!({"persistedQuery": {"version": 1, "sha256Hash": "abc"}}),
            json!({"persistedQuery": {"version": 1, "sha256Hash": "g".repeat(64)}}),
        ] {
            assert!(
                matches!(
                    PersistedQuery::from_extensions(&ext(bad.clone())),
                    Err(ApqError::Invalid(m)) if m.contains("extensions.persistedQuery")
                ),
                "{bad}"
            );
        }
    }
}
