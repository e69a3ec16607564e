//! Plugin identifiers.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A plugin's identifier: `[a-z0-9][a-z0-9._-]*`, unique within a host.
///
/// Identifiers name log files, storage namespaces and directories, so they are restricted to
/// characters that are safe in all three. Shared text: cloning an id (as every call result that
/// names its plugin does) is a reference-count increment, not an allocation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginId(Arc<str>);

impl PluginId {
    /// The longest identifier accepted; long enough for reverse-DNS names, short enough for a
    /// file name on every file system.
    pub const MAX_LEN: usize = 128;

    /// Checks `text` and wraps it.
    ///
    /// # Errors
    /// When `text` is empty, too long, or has a character outside `[a-z0-9._-]` (or does not
    /// start with `[a-z0-9]`); the message says which character and where.
    pub fn new(text: impl Into<String>) -> Result<Self, InvalidId> {
        let text = text.into();
        validate_id(&text)?;
        Ok(Self(text.into()))
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a text is not a valid [`PluginId`] (or extension point id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id {text:?}: {problem}; ids use lower-case letters, digits, '.', '_' and '-', and start with a letter or digit")]
pub struct InvalidId {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Checks the id rules shared by plugin ids and extension point ids.
pub(crate) fn validate_id(text: &str) -> Result<(), InvalidId> {
    let fail = |problem: String| {
        Err(InvalidId {
            text: text.chars().take(PluginId::MAX_LEN).collect(),
            problem,
        })
    };
    if text.is_empty() {
        return fail("it is empty".into());
    }
    if text.len() > PluginId::MAX_LEN {
        return fail(format!("it is longer than {} bytes", PluginId::MAX_LEN));
    }
    for (i, c) in text.chars().enumerate() {
        let ok =
            c.is_ascii_lowercase() || c.is_ascii_digit() || (i > 0 && matches!(c, '.' | '_' | '-'));
        if !ok {
            let why = if c.is_ascii_uppercase() {
                " (upper case)"
            } else if i == 0 && matches!(c, '.' | '_' | '-') {
                " at the start"
            } else {
                ""
            };
            return fail(format!(
                "character {c:?} at position {} is not allowed{why}",
                i + 1
            ));
        }
    }
    Ok(())
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl FromStr for PluginId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for PluginId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for PluginId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Serialize for PluginId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PluginId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::values::deserialize_parsed(d, "a plugin id", |text| {
            PluginId::new(text).map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_rules() {
        for ok in ["a", "text-tools", "com.example.x_1", "0day"] {
            assert!(PluginId::new(ok).is_ok(), "{ok}");
        }
        let err = PluginId::new("Text").unwrap_err();
        assert_eq!(
            err.problem,
            "character 'T' at position 1 is not allowed (upper case)"
        );
        let err = PluginId::new("-x").unwrap_err();
        assert!(err.problem.ends_with("at the start"), "{}", err.problem);
        let err = PluginId::new("aé b").unwrap_err();
        assert_eq!(err.problem, "character 'é' at position 2 is not allowed");
        assert!(PluginId::new("").is_err());
        assert!(PluginId::new("a".repeat(129)).is_err());
        assert!(PluginId::new("a".repeat(128)).is_ok());
    }
}
