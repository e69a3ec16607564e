//! From text to typed values: size and emptiness checks, serde, and serde's errors turned into
//! [`Problem`]s with a field, a position and, for near misses, a "did you mean" hint.

use serde::de::DeserializeOwned;

use crate::location::{parent, LocationIndex, Pos};
use crate::{ManifestErrors, Problem};

/// The largest document accepted. Manifests and host configurations are a few kilobytes; a
/// larger file is almost certainly the wrong file, and refusing it bounds the parser's work.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Which kind of document is parsed, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Document {
    Manifest,
    HostConfig,
}

impl Document {
    fn empty_hint(self) -> &'static str {
        match self {
            Document::Manifest => {
                "a manifest needs at least `id`, `version`, `runtime` and `entry`"
            }
            Document::HostConfig => "write `{}` to accept every default",
        }
    }

    fn mapping_hint(self) -> &'static str {
        match self {
            Document::Manifest => {
                "a manifest is a mapping of keys such as `id: my-plugin` and `version: 1.0.0`"
            }
            Document::HostConfig => {
                "a host configuration is a mapping of keys such as `plugins:` and `logging:`"
            }
        }
    }
}

/// Where the values of a parsed document are.
#[derive(Debug)]
pub(crate) enum Positions<'t> {
    /// Indexed already, duplicate keys included.
    Indexed(LocationIndex),
    /// Not indexed: the document parsed strictly, so it repeats no key that serde would merge.
    /// The index is built from the text if a semantic problem needs a position.
    Unindexed(&'t str),
}

/// Parses `text` into `T`, with what is needed to place semantic problems.
///
/// A valid document is parsed once, strictly (see [`crate::strict`]); its location index is
/// built only if a semantic check finds a problem. Anything else, a blank document included, is
/// parsed again by [`parse_indexed`], so that its problems are exactly those it reports.
///
/// # Errors
/// One problem for a syntax or type error (serde stops at the first), or every duplicate key.
pub(crate) fn parse<'t, T: DeserializeOwned>(
    text: &'t str,
    file: &str,
    document: Document,
) -> Result<(T, Positions<'t>), ManifestErrors> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(Problem::new(
            file,
            "",
            format!(
                "the file is {} bytes; documents larger than 1 MiB are refused",
                text.len()
            ),
        )
        .with_hint("check that this is the right file")
        .into());
    }
    // serde_norway reads a byte order mark as the start of a second document, and editors do
    // not count it as a column: drop it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A blank document deserializes into a struct whose keys all have defaults: check that too.
    if let Ok(value) = crate::strict::strictly(|| serde_norway::from_str::<T>(text)) {
        if !crate::location::is_blank(text) {
            return Ok((value, Positions::Unindexed(text)));
        }
    }
    parse_indexed(text, file, document).map(|(value, index)| (value, Positions::Indexed(index)))
}

/// Parses `text` (already checked for size, without a byte order mark) into `T`, with its
/// location index built first: the path for documents with a problem.
pub(crate) fn parse_indexed<T: DeserializeOwned>(
    text: &str,
    file: &str,
    document: Document,
) -> Result<(T, LocationIndex), ManifestErrors> {
    let index = LocationIndex::build(text);
    if index.is_blank() {
        return Err(Problem::new(file, "", "the document is empty")
            .at(1, 1)
            .with_hint(document.empty_hint())
            .into());
    }
    let deserializer = serde_norway::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(deserializer) {
        Ok(value) => Ok((value, index)),
        Err(error) => {
            let problem = problem_from_serde(error, file, document);
            if problem.message.starts_with("duplicate field") && !index.duplicates().is_empty() {
                let problems = duplicate_key_problems(&index, file);
                return Err(ManifestErrors::new(problems).unwrap_or_else(|| problem.into()));
            }
            Err(problem.into())
        }
    }
}

/// A problem for every key written twice in the same mapping.
pub(crate) fn duplicate_key_problems(index: &LocationIndex, file: &str) -> Vec<Problem> {
    index
        .duplicates()
        .iter()
        .map(|dup| {
            let Pos { line, column } = dup.second;
            Problem::new(
                file,
                dup.path.clone(),
                format!(
                    "the key `{}` is written twice in the same mapping (first at line {}); only one can count",
                    dup.key, dup.first.line
                ),
            )
            .at(line, column)
            .with_hint("remove one of them")
        })
        .collect()
}

fn problem_from_serde(
    error: serde_path_to_error::Error<serde_norway::Error>,
    file: &str,
    document: Document,
) -> Problem {
    let path = error.path().to_string();
    let mut field = if path == "." { String::new() } else { path };
    let inner = error.into_inner();
    let location = inner.location();
    let mut message = inner.to_string();
    if let Some(loc) = &location {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(at) = message.find(&suffix) {
            message.replace_range(at..at + suffix.len(), "");
        }
    }
    // serde_norway prefixes its own path to messages; the field says it already.
    let mut prefix: &str = &field;
    while !prefix.is_empty() {
        if let Some(rest) = message
            .strip_prefix(prefix)
            .and_then(|m| m.strip_prefix(": "))
        {
            message = rest.to_owned();
            break;
        }
        prefix = parent(prefix);
    }

    let mut hint = None;
    if let Some((name, candidates)) = backticked_after(&message, "unknown field ") {
        hint = Some(if name == "<<" {
            "YAML merge keys are not supported; write the keys out".to_owned()
        } else {
            suggestion(&name, &candidates, "valid keys here")
        });
        message = format!("unknown key `{name}`");
    } else if let Some((name, candidates)) = backticked_after(&message, "unknown variant ") {
        hint = Some(suggestion(&name, &candidates, "valid values"));
        message = format!("unknown value `{name}`");
    } else if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        field = crate::location::join(&field, name);
        message = format!("missing required key `{name}`");
    } else if let Some(at) = message.find(", expected struct ") {
        message.truncate(at);
        message.push_str(", expected a mapping");
        if field.is_empty() {
            hint = Some(document.mapping_hint().to_owned());
        }
    } else if message == "recursion limit exceeded" {
        message = "the document nests deeper than 128 levels".to_owned();
    } else if let Some((text, advice)) = split_advice(&message) {
        hint = Some(advice.to_owned());
        message = text.to_owned();
    }
    message = message.replace("unit value", "null");
    if field.len() > 200 {
        let mut cut = 200;
        while !field.is_char_boundary(cut) {
            cut -= 1;
        }
        field.truncate(cut);
        field.push_str("...");
    }

    let mut problem = Problem::new(file, field, message);
    if let Some(loc) = location {
        problem = problem.at(loc.line(), loc.column());
    }
    problem.hint = hint;
    problem
}

/// For `unknown field `x`, expected one of `a`, `b``: `x` and the expected names.
fn backticked_after(message: &str, lead: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(lead)?;
    let mut names = rest.split('`').skip(1).step_by(2).map(str::to_owned);
    let name = names.next()?;
    Some((name, names.collect()))
}

/// "did you mean `x`?" for the closest candidate, or the list of candidates.
pub(crate) fn suggestion(name: &str, candidates: &[String], list_label: &str) -> String {
    match did_you_mean(name, candidates.iter().map(String::as_str)) {
        Some(best) => format!("did you mean `{best}`?"),
        None if candidates.is_empty() => "this mapping takes no keys".to_owned(),
        None => {
            let list: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
            format!("{list_label}: {}", list.join(", "))
        }
    }
}

/// The candidate closest to `name`, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let name = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let lower = c.to_lowercase();
            let edit = strsim::normalized_damerau_levenshtein(&name, &lower);
            let prefix = strsim::jaro_winkler(&name, &lower);
            (c, edit.max(prefix - 0.2), edit >= 0.6 || prefix >= 0.88)
        })
        .filter(|(_, _, close)| *close)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, ..)| c)
}

/// Messages of this crate's own value types end with advice after `; `: split it off as a hint.
fn split_advice(message: &str) -> Option<(&str, &str)> {
    let at = message.rfind("; ")?;
    let advice = &message[at + 2..];
    ["write ", "use ", "ids use ", "did you mean "]
        .iter()
        .any(|lead| advice.starts_with(lead))
        .then(|| (&message[..at], advice))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn typos_get_a_suggestion() {
        let keys = names(&[
            "id", "version", "requires", "optional", "provides", "runtime",
        ]);
        assert_eq!(
            suggestion("requries", &keys, "k"),
            "did you mean `requires`?"
        );
        assert_eq!(suggestion("Version", &keys, "k"), "did you mean `version`?");
        assert_eq!(suggestion("runtim", &keys, "k"), "did you mean `runtime`?");
        assert_eq!(
            suggestion("provide", &keys, "k"),
            "did you mean `provides`?"
        );
        assert_eq!(
            suggestion("zzz", &names(&["a", "b"]), "valid keys here"),
            "valid keys here: `a`, `b`"
        );
        let points = names(&["point", "methods", "priority"]);
        assert_eq!(suggestion("prio", &points, "k"), "did you mean `priority`?");
        assert_eq!(
            suggestion("method", &points, "k"),
            "did you mean `methods`?"
        );
    }

    #[test]
    fn advice_is_split_off() {
        assert_eq!(
            split_advice("\"x\" is not a duration (bad); write for example 1s"),
            Some(("\"x\" is not a duration (bad)", "write for example 1s"))
        );
        assert_eq!(split_advice("a; b"), None);
    }
}
