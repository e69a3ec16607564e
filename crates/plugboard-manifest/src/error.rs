//! What went wrong in a manifest or host configuration, and where.

use std::fmt::{self, Write as _};

/// One problem in a `plugin.yaml` or `config.yaml`: where it is and what to do about it.
///
/// `Display` writes `file:line:column: field: message`, followed by ` (hint: ...)` when there is a
/// hint. The location is left out when it is unknown (for a value built in code rather than
/// parsed), and the field when the problem concerns the whole document, so a line may also read
/// `file: field: message` or `file:line:column: message`. Editors and CI systems recognise the
/// `file:line:column:` prefix and jump to the spot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The file, as the caller named it.
    pub file: String,
    /// The line, counted from 1.
    pub line: Option<usize>,
    /// The column, counted from 1 in characters.
    pub column: Option<usize>,
    /// The dotted path of the field, like `requires.base-utils` or `provides[0].point`; empty
    /// when the problem concerns the whole document.
    pub field: String,
    /// What is wrong, in one sentence without a trailing period.
    pub message: String,
    /// How to fix it, when there is something better to say than the message.
    pub hint: Option<String>,
}

impl Problem {
    /// A problem without a location or a hint.
    pub fn new(
        file: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line: None,
            column: None,
            field: field.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// The same problem at `line` and `column` (both counted from 1).
    #[must_use]
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// The same problem with a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(f, &self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write_line(f, &self.field)?;
            f.write_str(": ")?;
        }
        write_line(f, &self.message)?;
        if let Some(hint) = &self.hint {
            f.write_str(" (hint: ")?;
            write_line(f, hint)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Writes `text` with control characters escaped, so that a problem stays on one line even
/// when it quotes a key or value that spans several.
fn write_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

/// Every problem found in one manifest or host configuration; never empty.
///
/// `Display` writes one problem per line, in the order of the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", DisplayList(&self.problems))]
pub struct ManifestErrors {
    problems: Vec<Problem>,
}

impl ManifestErrors {
    /// Wraps `problems`, sorted by line and column (problems without a location last, in their
    /// original order); `None` when there are none.
    pub fn new(mut problems: Vec<Problem>) -> Option<Self> {
        if problems.is_empty() {
            return None;
        }
        // A stable sort keeps problems on the same spot in the order the checks found them.
        problems.sort_by_key(|p| (p.line.is_none(), p.line, p.column));
        Some(Self { problems })
    }

    /// The problems, in the order of the document.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The problems, in the order of the document.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.problems.iter()
    }

    /// The first problem in the document.
    pub fn first(&self) -> &Problem {
        // `new` refuses an empty list and nothing removes problems afterwards.
        &self.problems[0]
    }

    /// The problems, by value.
    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

impl From<Problem> for ManifestErrors {
    fn from(problem: Problem) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

impl IntoIterator for ManifestErrors {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.problems.into_iter()
    }
}

impl<'a> IntoIterator for &'a ManifestErrors {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.problems.iter()
    }
}

struct DisplayList<'a>(&'a [Problem]);

impl fmt::Display for DisplayList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_file_line_column_field_message_and_hint() {
        let p = Problem::new("plugin.yaml", "requries", "unknown key `requries`")
            .at(3, 1)
            .with_hint("did you mean `requires`?");
        assert_eq!(
            p.to_string(),
            "plugin.yaml:3:1: requries: unknown key `requries` (hint: did you mean `requires`?)"
        );
    }

    #[test]
    fn display_leaves_out_what_is_unknown() {
        assert_eq!(
            Problem::new("a.yaml", "", "the document is empty").to_string(),
            "a.yaml: the document is empty"
        );
        assert_eq!(
            Problem::new("a.yaml", "entry", "is empty").to_string(),
            "a.yaml: entry: is empty"
        );
        assert_eq!(
            Problem::new("a.yaml", "a\nb", "unknown key `a\nb`").to_string(),
            "a.yaml: a\\nb: unknown key `a\\nb`"
        );
    }

    #[test]
    fn errors_sort_by_position_and_print_one_per_line() {
        let errors = ManifestErrors::new(vec![
            Problem::new("f", "b", "second").at(2, 1),
            Problem::new("f", "c", "no location"),
            Problem::new("f", "a", "first").at(1, 5),
        ])
        .unwrap();
        assert_eq!(errors.first().message, "first");
        assert_eq!(
            errors.to_string(),
            "f:1:5: a: first\nf:2:1: b: second\nf: c: no location"
        );
        assert_eq!(errors.iter().count(), 3);
        assert!(ManifestErrors::new(Vec::new()).is_none());
    }
}
