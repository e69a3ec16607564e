//! Small values written the human way: durations, sizes, digests, on/off switches.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `text` quoted for a message, shortened when it is long so that one bad value cannot flood a
/// terminal.
pub(crate) fn quoted(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
    }
}

/// Deserializes a string and parses it with `parse` inside the visitor: an error raised there is
/// placed by serde_norway at the value, where one raised after `String::deserialize` returns
/// would be placed at the enclosing mapping.
pub(crate) fn deserialize_parsed<'de, D, T>(
    d: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Parsed<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> Visitor<'_> for Parsed<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(Parsed { expecting, parse })
}

/// A digest that an artifact must match before it is loaded: `sha256:<64 hex digits>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Integrity {
    /// The lower-case hex digest.
    hex: String,
}

impl Integrity {
    /// Parses `sha256:<hex>`; upper-case hex digits are accepted and stored in lower case.
    ///
    /// # Errors
    /// For another algorithm, or a digest that is not 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(hex) = text.strip_prefix("sha256:") else {
            return Err(format!(
                "{} is not a supported digest; write sha256:<64 hex digits>",
                quoted(text)
            ));
        };
        if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "the sha256 digest must be 64 hex digits, found {c:?}"
            ));
        }
        if hex.len() != 64 {
            return Err(format!(
                "the sha256 digest must be 64 hex digits, found {}",
                hex.len()
            ));
        }
        Ok(Self {
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// The expected SHA-256 digest as lower-case hex.
    pub fn sha256_hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Integrity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Integrity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            d,
            "a digest such as sha256:<64 hex digits>",
            Integrity::parse,
        )
    }
}

/// `on` or `off` (YAML booleans are accepted too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Toggle {
    /// Enabled (the default).
    #[default]
    On,
    /// Disabled.
    Off,
}

impl Serialize for Toggle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Toggle::On => "on",
            Toggle::Off => "off",
        })
    }
}

impl<'de> Deserialize<'de> for Toggle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ToggleVisitor;
        impl Visitor<'_> for ToggleVisitor {
            type Value = Toggle;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`on` or `off`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Toggle, E> {
                Ok(if v { Toggle::On } else { Toggle::Off })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Toggle, E> {
                match v {
                    "on" | "true" | "yes" => Ok(Toggle::On),
                    "off" | "false" | "no" => Ok(Toggle::Off),
                    other => Err(E::custom(format!(
                        "expected `on` or `off`, found {}",
                        quoted(other)
                    ))),
                }
            }
        }
        d.deserialize_any(ToggleVisitor)
    }
}

/// A duration written the human way: `250ms`, `1s`, `2m 30s`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_parsed(d, "a duration such as 500ms, 1s or 2m", |text| {
            humantime::parse_duration(text).map(Duration).map_err(|e| {
                format!(
                    "{} is not a duration ({e}); write for example 500ms, 1s or 2m",
                    quoted(text)
                )
            })
        })
    }
}

/// A size written the human way: `64MiB`, `512KiB`, `1GB`, or a number of bytes.
///
/// `K`, `M`, `G`, `T`, `P` and `E` (with or without `B`) are powers of 1000; `KiB`, `MiB`, ...
/// are powers of 1024. Letters may be in either case and a space may separate the unit.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

const SIZE_UNITS: [(&str, u64); 13] = [
    ("B", 1),
    ("KB", 1_000),
    ("KiB", 1 << 10),
    ("MB", 1_000_000),
    ("MiB", 1 << 20),
    ("GB", 1_000_000_000),
    ("GiB", 1 << 30),
    ("TB", 1_000_000_000_000),
    ("TiB", 1 << 40),
    ("PB", 1_000_000_000_000_000),
    ("PiB", 1 << 50),
    ("EB", 1_000_000_000_000_000_000),
    ("EiB", 1 << 60),
];

impl ByteSize {
    /// Parses `64MiB`, `1.5 GB`, `512`.
    ///
    /// # Errors
    /// For an unknown unit, a malformed number, or a size beyond 2^64 - 1 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim_start();
        let factor = if unit.is_empty() {
            1
        } else {
            let unit = unit.strip_suffix(['b', 'B']).unwrap_or(unit);
            let binary = unit.len() == 2 && unit.ends_with(['i', 'I']);
            let letter = unit.chars().next().map(|c| c.to_ascii_uppercase());
            let power = match (letter, unit.len(), binary) {
                (None, ..) => Some(0),
                (Some(c), 1, false) | (Some(c), 2, true) => "KMGTPE".find(c).map(|i| i + 1),
                _ => None,
            };
            let Some(power) = power else {
                return Err(format!(
                    "{} is not a size: unknown unit; write for example 64MiB, 512KiB or 1GB",
                    quoted(text)
                ));
            };
            let base: u64 = if binary { 1024 } else { 1000 };
            base.pow(power as u32)
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let bad = || {
            format!(
                "{} is not a size; write for example 64MiB, 512KiB or 1GB",
                quoted(text)
            )
        };
        if whole.is_empty() || fraction.contains('.') {
            return Err(bad());
        }
        let too_big = || format!("{} is larger than 16EiB", quoted(text));
        let whole: u64 = whole.parse().map_err(|_| too_big())?;
        let mut bytes = whole.checked_mul(factor).ok_or_else(too_big)?;
        // A fraction counts down to the byte; digits beyond the 18th cannot matter and are
        // dropped so that the arithmetic stays in range.
        let digits = &fraction[..fraction.len().min(18)];
        if !digits.is_empty() {
            let numerator: u128 = digits.parse().map_err(|_| bad())?;
            let part = numerator * u128::from(factor) / 10u128.pow(digits.len() as u32);
            bytes = u64::try_from(part)
                .ok()
                .and_then(|part| bytes.checked_add(part))
                .ok_or_else(too_big)?;
        }
        Ok(ByteSize(bytes))
    }
}

impl fmt::Debug for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Writes the exact size in the largest unit that divides it: `64MiB`, `1500KB`, `1023B`.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, factor) = SIZE_UNITS
            .iter()
            .filter(|(_, factor)| self.0.checked_rem(*factor) == Some(0))
            .min_by_key(|(_, factor)| self.0 / factor)
            .copied()
            .unwrap_or(("B", 1));
        write!(f, "{}{unit}", self.0 / factor)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 64MiB, or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_every_spelling() {
        let cases = [
            ("64MiB", 64 << 20),
            ("64 MiB", 64 << 20),
            ("64mib", 64 << 20),
            ("1GB", 1_000_000_000),
            ("1g", 1_000_000_000),
            ("1.5KiB", 1536),
            ("0.5GiB", 512 << 20),
            ("1.9999999999999999999999B", 1),
            ("512", 512),
            ("0", 0),
            ("15EiB", 15 << 60),
            ("18446744073709551615B", u64::MAX),
        ];
        for (text, bytes) in cases {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "1.2.3MB",
            "64 XB",
            "16EiB",
            "99999999999999999999",
            "-1",
            "1 MiBs",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_display_exactly_and_parse_back() {
        for bytes in [
            0,
            1,
            1023,
            1024,
            1536,
            64 << 20,
            64_000_000,
            u64::MAX,
            15 << 60,
        ] {
            let text = ByteSize(bytes).to_string();
            assert_eq!(ByteSize::parse(&text), Ok(ByteSize(bytes)), "{text}");
        }
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
        assert_eq!(ByteSize(1_500_000).to_string(), "1500KB");
    }

    #[test]
    fn integrity_wants_64_hex_digits() {
        let hex = "ab".repeat(32);
        assert_eq!(
            Integrity::parse(&format!("sha256:{}", hex.to_uppercase()))
                .unwrap()
                .sha256_hex(),
            hex
        );
        assert!(Integrity::parse("md5:00").is_err());
        assert!(Integrity::parse("sha256:abc").is_err());
        assert!(Integrity::parse(&format!("sha256:{}", "g".repeat(64))).is_err());
    }

    #[test]
    fn quoted_shortens_long_text() {
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted(&"é".repeat(100)), format!("{:?}...", "é".repeat(60)));
    }
}
