//! The `Decimal` scalar (DESIGN.md §6). async-graphql's own parses numbers through f64, so it
//! is not enabled: this one takes strings (and integer literals) and answers canonical strings.
//! `BigInt`: a 64-bit integer as a JSON number (token totals).
//! The `DateTime` scalar: RFC 3339 in, UTC with microseconds and `Z` out, so a value reads back
//! exactly as it was stored. `UUID`: checked at validation, so a malformed id is a request
//! error (HTTP 400 under `application/graphql-response+json`), not a field error. `JSON` is
//! async-graphql's (serde_json).
//!
//! Each scalar's `is_valid` is its `parse`: async-graphql checks literals and variables with
//! `is_valid` while validating, before anything runs (GraphQL over HTTP, DESIGN.md §11).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An exact decimal number as a string ("12.5"); never rounded through floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

/// An exact decimal number, serialised as a string (e.g. "12.5"); never rounded through floating point.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => plain_decimal(s.trim()).map(Decimal).ok_or_else(|| {
                InputValueError::custom(format!("`{s}` is not a decimal number such as \"12.5\""))
            }),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Decimal(rust_decimal::Decimal::from(i)))
                } else if let Some(u) = n.as_u64() {
                    Ok(Decimal(rust_decimal::Decimal::from(u)))
                } else {
                    Err(InputValueError::custom(
                        "send decimals as strings, e.g. \"12.5\": a JSON number with a fraction would be rounded",
                    ))
                }
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        Self::parse(value.clone()).is_ok()
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.normalize().to_string())
    }
}

/// A 64-bit integer, as a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BigInt(pub i64);

/// A 64-bit integer as a JSON number (exact up to 2^53): token totals.
#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_i64()
                .map(BigInt)
                .ok_or_else(|| InputValueError::custom(format!("`{n}` is not a 64-bit integer"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        Self::parse(value.clone()).is_ok()
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// An RFC 3339 date-time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<chrono::Utc>);

/// An RFC 3339 date-time in UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| {
                    use chrono::SubsecRound;
                    DateTime(t.with_timezone(&chrono::Utc).trunc_subsecs(6))
                })
                .map_err(|_| {
                    InputValueError::custom(format!(
                        "`{s}` is not an RFC 3339 date-time such as \"2030-01-02T03:04:05Z\""
                    ))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

impl From<chrono::DateTime<chrono::Utc>> for DateTime {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Self {
        DateTime(t)
    }
}

impl DateTime {
    /// A stored time (microseconds since the epoch).
    pub fn from_micros(us: i64) -> Self {
        DateTime(crate::domain::time::from_micros(us))
    }
}

impl From<crate::domain::money::Money> for Decimal {
    fn from(m: crate::domain::money::Money) -> Self {
        Decimal(m.to_decimal())
    }
}

/// `[+-]digits[.digits]`, nothing else (no exponent, no separators).
fn plain_decimal(s: &str) -> Option<rust_decimal::Decimal> {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if int.is_empty()
        || !digits(int)
        || !digits(frac)
        || (unsigned.contains('.') && frac.is_empty())
    {
        return None;
    }
    rust_decimal::Decimal::from_str_exact(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strings_and_integers_only() {
        let p = |v: Value| <Decimal as ScalarType>::parse(v).map(|d| d.0.to_string());
        assert_eq!(p(Value::String("12.50".into())).unwrap(), "12.50");
        assert_eq!(
            p(Value::from(9_007_199_254_740_993_i64)).unwrap(),
            "9007199254740993"
        );
        assert!(p(Value::Number(async_graphql::Number::from_f64(0.1).unwrap())).is_err());
        assert!(p(Value::String("abc".into())).is_err());
        assert!(p(Value::Boolean(true)).is_err());
        for bad in ["1e5", "1_000", "", ".5", "1.", "--1", "0x10"] {
            assert!(p(Value::String(bad.into())).is_err(), "{bad}");
        }
        assert_eq!(
            p(Value::String("-0.000000001".into())).unwrap(),
            "-0.000000001"
        );
    }

    #[test]
    fn date_times_read_back_in_utc_with_z() {
        let t = <DateTime as ScalarType>::parse(Value::String(
            "2030-01-02T05:04:05.1234567+02:00".into(),
        ))
        .unwrap();
        assert_eq!(
            t.to_value(),
            Value::String("2030-01-02T03:04:05.123456Z".into())
        );
        let whole =
            <DateTime as ScalarType>::parse(Value::String("2030-01-02T03:04:05Z".into())).unwrap();
        assert_eq!(
            whole.to_value(),
            Value::String("2030-01-02T03:04:05Z".into())
        );
        assert!(<DateTime as ScalarType>::parse(Value::String("yesterday".into())).is_err());
    }

    #[test]
    fn answers_canonical_strings() {
        let d = Decimal(plain_decimal("1.500").unwrap());
        assert_eq!(d.to_value(), Value::String("1.5".into()));
    }
}

/// A UUID in its canonical text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub uuid::Uuid);

/// A UUID, as a string such as "0195d3c8-8b1e-7a4f-9c2d-3e4f5a6b7c8d" (RFC 9562).
#[Scalar(
    name = "UUID",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc9562"
)]
impl ScalarType for Uuid {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => uuid::Uuid::parse_str(s)
                .map(Uuid)
                .map_err(|_| InputValueError::custom(format!("`{s}` is not a UUID"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if uuid::Uuid::parse_str(s).is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl From<uuid::Uuid> for Uuid {
    fn from(id: uuid::Uuid) -> Self {
        Uuid(id)
    }
}

impl From<Uuid> for uuid::Uuid {
    fn from(id: Uuid) -> Self {
        id.0
    }
}

impl std::ops::Deref for Uuid {
    type Target = uuid::Uuid;
    fn deref(&self) -> &uuid::Uuid {
        &self.0
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
