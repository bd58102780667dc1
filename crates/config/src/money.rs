//! Exact USD amounts as integer micro-dollars, parsed from decimal strings without floats.

use crate::error::MoneyError;

/// Micro-dollars in one US dollar.
pub const MICROS_PER_USD: u64 = 1_000_000;

/// Tokens in the unit prices are quoted per (USD per 1M tokens).
pub const TOKENS_PER_PRICE_UNIT: u64 = 1_000_000;

/// Parses a non-negative decimal USD amount such as `"3.00"`, `"0.30"` or `"25"` into micro-dollars.
///
/// At most six fractional digits are accepted, since anything finer cannot be held exactly.
pub fn parse_usd(text: &str) -> Result<u64, MoneyError> {
    let text = text.trim();
    let (whole, frac) = match text.split_once('.') {
        Some((whole, frac)) => (whole, Some(frac)),
        None => (text, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MoneyError::Syntax(text.to_owned()));
    }
    let frac = frac.unwrap_or("");
    if text.ends_with('.') || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MoneyError::Syntax(text.to_owned()));
    }
    if frac.len() > 6 {
        return Err(MoneyError::TooPrecise(text.to_owned()));
    }
    let overflow = || MoneyError::TooLarge(text.to_owned());
    let whole: u64 = whole.parse().map_err(|_| overflow())?;
    // Pad to exactly six digits so "3" and "30" and "300000" all scale the same way.
    let frac_micros: u64 = format!("{frac:0<6}").parse().unwrap_or(0);
    whole
        .checked_mul(MICROS_PER_USD)
        .and_then(|w| w.checked_add(frac_micros))
        .ok_or_else(overflow)
}

/// Formats micro-dollars as a decimal USD string with trailing zeros trimmed (`25`, `0.3`).
pub fn format_usd(micros: u64) -> String {
    let whole = micros / MICROS_PER_USD;
    let frac = micros % MICROS_PER_USD;
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Cost in micro-dollars of `tokens` at `price` micro-dollars per 1M tokens, rounded up.
///
/// Rounding up means a request is never billed less than it used; use [`cost_of`] to round once
/// over several token classes rather than once per class.
pub fn cost_micros(tokens: u64, price_micros_per_million: u64) -> u64 {
    cost_of(&[(tokens, price_micros_per_million)])
}

/// Cost in micro-dollars of several `(tokens, price per 1M)` pairs, summed exactly then rounded up once.
pub fn cost_of(items: &[(u64, u64)]) -> u64 {
    let total: u128 = items
        .iter()
        .map(|&(tokens, price)| u128::from(tokens) * u128::from(price))
        .sum();
    let micros = total.div_ceil(u128::from(TOKENS_PER_PRICE_UNIT));
    u64::try_from(micros).unwrap_or(u64::MAX)
}

/// Deserializes a required USD amount written as a string or a bare YAML number.
pub(crate) fn de_decimal<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: serde::Deserializer<'de>,
{
    de_opt_decimal(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("expected a decimal USD amount such as \"3.00\""))
}

/// Deserializes an optional USD amount written as a string (`"3.00"`) or a bare YAML number (`25`).
///
/// Numbers are turned back into their shortest decimal text, so `0.3` stays `"0.3"`.
pub(crate) fn de_opt_decimal<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct DecimalVisitor;

    impl<'de> serde::de::Visitor<'de> for DecimalVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a decimal USD amount such as \"3.00\"")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(DecimalVisitor)
        }
    }

    deserializer.deserialize_any(DecimalVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_strings_exactly() {
        assert_eq!(parse_usd("3.00"), Ok(3_000_000));
        assert_eq!(parse_usd("0.30"), Ok(300_000));
        assert_eq!(parse_usd("25"), Ok(25_000_000));
        assert_eq!(parse_usd("3.75"), Ok(3_750_000));
        assert_eq!(parse_usd("0.000001"), Ok(1));
        assert_eq!(parse_usd("0"), Ok(0));
    }

    #[test]
    fn rejects_malformed_amounts() {
        for bad in [
            "",
            "-1",
            "1e3",
            "abc",
            "3.",
            ".5",
            "1.2.3",
            "3,00",
            "0.0000001",
            "+1",
        ] {
            assert!(parse_usd(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            parse_usd("99999999999999999999"),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_usd(25_000_000), "25");
        assert_eq!(format_usd(300_000), "0.3");
        assert_eq!(format_usd(1), "0.000001");
        assert_eq!(parse_usd(&format_usd(3_750_000)), Ok(3_750_000));
    }

    #[test]
    fn cost_is_rounded_up_to_the_next_micro_dollar() {
        // 1,000 tokens at $3/1M = $0.003 exactly.
        assert_eq!(cost_micros(1_000, 3_000_000), 3_000);
        // 1 token at $3/1M = 3 micro-dollars exactly.
        assert_eq!(cost_micros(1, 3_000_000), 3);
        // 1 token at $0.30/1M = 0.3 micro-dollars: rounds up to 1.
        assert_eq!(cost_micros(1, 300_000), 1);
        assert_eq!(cost_micros(0, 300_000), 0);
        // Summed before rounding: 1 + 1 token at $0.30 and $0.40 = 0.7 micro-dollars -> 1, not 2.
        assert_eq!(cost_of(&[(1, 300_000), (1, 400_000)]), 1);
        assert_eq!(cost_micros(u64::MAX, u64::MAX), u64::MAX);
    }
}
