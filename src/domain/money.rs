//! Exact amounts of money (DESIGN.md §6): at most 9 fractional digits, absolute value below 10^9,
//! stored as a whole number of nano-units so that sums are exact on every backend.

use rust_decimal::Decimal;

/// Nano-units per unit.
const SCALE: i64 = 1_000_000_000;
/// The largest fractional digits an amount may carry.
pub const MAX_FRACTION_DIGITS: u32 = 9;

/// An amount in nano-units (10^-9). The constructors keep |amount| < 10^9 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Money(i64);

/// Why a decimal is not an amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    TooManyFractionDigits,
    OutOfRange,
}

impl std::fmt::Display for MoneyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyFractionDigits => write!(
                f,
                "at most {MAX_FRACTION_DIGITS} fractional digits are allowed"
            ),
            Self::OutOfRange => write!(f, "the absolute value must be below 1000000000"),
        }
    }
}

impl Money {
    pub const ZERO: Money = Money(0);

    /// An amount from its stored nano-units.
    pub fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// The stored nano-units.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Checks the bounds of DESIGN.md §6 and converts.
    pub fn from_decimal(value: Decimal) -> Result<Self, MoneyError> {
        let value = value.normalize();
        if value.scale() > MAX_FRACTION_DIGITS {
            return Err(MoneyError::TooManyFractionDigits);
        }
        if value.abs() >= Decimal::from(SCALE) {
            return Err(MoneyError::OutOfRange);
        }
        let nanos = value * Decimal::from(SCALE);
        // |value| < 10^9 with at most 9 fractional digits: the product is a whole number < 10^18.
        let nanos = i64::try_from(nanos).map_err(|_| MoneyError::OutOfRange)?;
        Ok(Self(nanos))
    }

    /// The exact decimal value.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, MAX_FRACTION_DIGITS).normalize()
    }

    /// True when below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl std::fmt::Display for Money {
    /// The canonical text: no trailing zeros, no exponent ("1.00" is "1").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

impl serde::Serialize for Money {
    /// As its canonical text, the way the API and the stored snapshots spell it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let value: Decimal = text
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a decimal")))?;
        Money::from_decimal(value).map_err(serde::de::Error::custom)
    }
}

/// A sum of amounts, held in i128 so that adding many rows cannot overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct MoneySum(i128);

impl MoneySum {
    pub fn add(&mut self, m: Money) {
        self.0 += i128::from(m.0);
    }

    /// Adds another sum.
    pub fn add_sum(&mut self, other: MoneySum) {
        self.0 += other.0;
    }

    /// Subtracts another sum.
    pub fn sub(&mut self, other: MoneySum) {
        self.0 -= other.0;
    }

    /// Adds `units` whole units and `nanos` nano-units (a sum split to stay within 64 bits).
    pub fn add_parts(&mut self, units: i64, nanos: i64) {
        self.0 += i128::from(units) * i128::from(SCALE) + i128::from(nanos);
    }

    /// The exact decimal value of the sum.
    pub fn to_decimal(self) -> Decimal {
        Decimal::from_i128_with_scale(self.0, MAX_FRACTION_DIGITS).normalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn m(s: &str) -> Result<Money, MoneyError> {
        Money::from_decimal(Decimal::from_str(s).unwrap())
    }

    #[test]
    fn canonical_text() {
        assert_eq!(m("1.00").unwrap().to_string(), "1");
        assert_eq!(m("0.1").unwrap().to_string(), "0.1");
        assert_eq!(m("12.500000000").unwrap().to_string(), "12.5");
        assert_eq!(m("-3.000000001").unwrap().to_string(), "-3.000000001");
        assert_eq!(m("0").unwrap().to_string(), "0");
    }

    #[test]
    fn bounds() {
        assert_eq!(m("0.0000000001"), Err(MoneyError::TooManyFractionDigits));
        assert_eq!(m("1000000000"), Err(MoneyError::OutOfRange));
        assert_eq!(m("-1000000000"), Err(MoneyError::OutOfRange));
        assert_eq!(
            m("999999999.999999999").unwrap().nanos(),
            999_999_999_999_999_999
        );
    }

    #[test]
    fn serde_uses_the_canonical_text() {
        let a = m("12.50").unwrap();
        let json = serde_json::to_value(a).unwrap();
        assert_eq!(json, serde_json::json!("12.5"));
        assert_eq!(serde_json::from_value::<Money>(json).unwrap(), a);
        assert!(serde_json::from_value::<Money>(serde_json::json!("twelve")).is_err());
    }

    #[test]
    fn sums_are_exact() {
        let mut sum = MoneySum::default();
        for _ in 0..10 {
            sum.add(m("0.1").unwrap());
        }
        sum.add(m("0.2").unwrap());
        assert_eq!(sum.to_decimal().to_string(), "1.2");
        let mut big = MoneySum::default();
        for _ in 0..20 {
            big.add(m("999999999.999999999").unwrap());
        }
        assert_eq!(big.to_decimal().to_string(), "19999999999.99999998");
    }
}
