//! Semantic checks: what serde accepts but Plugboard cannot use. Every check runs, so that one
//! pass reports every problem, each at the position of the value (or key) it concerns.

pub(crate) mod config;
pub(crate) mod manifest;

use std::collections::HashMap;
use std::net::Ipv6Addr;

use crate::location::LocationIndex;
use crate::parse::Positions;
use crate::values::quoted;
use crate::{ManifestErrors, Permissions, Problem};

/// Collects problems and places them with the location index.
pub(crate) struct Report<'a> {
    file: &'a str,
    /// The text to index when the parse left it unindexed.
    text: &'a str,
    index: Option<LocationIndex>,
    problems: Vec<Problem>,
}

impl<'a> Report<'a> {
    pub(crate) fn new(file: &'a str, positions: Positions<'a>) -> Self {
        let (text, index, problems) = match positions {
            Positions::Indexed(index) => {
                let problems = crate::parse::duplicate_key_problems(&index, file);
                ("", Some(index), problems)
            }
            Positions::Unindexed(text) => (text, None, Vec::new()),
        };
        Self {
            file,
            text,
            index,
            problems,
        }
    }

    /// The index, built now if the parse left it for later.
    fn index(&mut self) -> &LocationIndex {
        let (file, text, problems) = (self.file, self.text, &mut self.problems);
        self.index.get_or_insert_with(|| {
            let index = LocationIndex::build(text);
            // The strict parse rules out duplicate keys; should one slip through, it is still
            // reported, first, as the full parse would have.
            problems.splice(0..0, crate::parse::duplicate_key_problems(&index, file));
            index
        })
    }

    /// Whether the document has a value at `path` itself; `true` for a value built in code
    /// (no document), which has every key.
    pub(crate) fn has(&mut self, path: &str) -> bool {
        let index = self.index();
        index.is_empty() || index.has(path)
    }

    /// A problem about the value at `path`.
    pub(crate) fn value(&mut self, path: &str, message: impl Into<String>) -> &mut Problem {
        let pos = self.index().value(path);
        self.push(path, pos, message.into())
    }

    /// A problem about the key of the value at `path` (a map key that is itself wrong).
    pub(crate) fn key(&mut self, path: &str, message: impl Into<String>) -> &mut Problem {
        let pos = self.index().key(path);
        self.push(path, pos, message.into())
    }

    fn push(
        &mut self,
        path: &str,
        pos: Option<crate::location::Pos>,
        message: String,
    ) -> &mut Problem {
        let mut problem = Problem::new(self.file, path, message);
        if let Some(pos) = pos {
            problem = problem.at(pos.line, pos.column);
        }
        self.problems.push(problem);
        let last = self.problems.len() - 1;
        &mut self.problems[last]
    }

    pub(crate) fn finish(self) -> Result<(), ManifestErrors> {
        match ManifestErrors::new(self.problems) {
            None => Ok(()),
            Some(errors) => Err(errors),
        }
    }
}

impl Problem {
    /// Sets the hint in place, for problems built through a [`Report`].
    pub(crate) fn set_hint(&mut self, hint: impl Into<String>) {
        self.hint = Some(hint.into());
    }
}

/// Reports empty and repeated entries of a list of names; `what` names an entry in messages.
pub(crate) fn check_names<'s>(
    report: &mut Report<'_>,
    path: &str,
    names: impl IntoIterator<Item = &'s String>,
    what: &str,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.into_iter().enumerate() {
        let at = format!("{path}[{i}]");
        if name.trim().is_empty() {
            report.value(&at, format!("the {what} is empty"));
        } else if let Some(first) = seen.get(name.as_str()) {
            report
                .value(&at, format!("the {what} {} is listed twice", quoted(name)))
                .set_hint(format!("it is already at {path}[{first}]; remove one"));
        } else {
            seen.insert(name, i);
        }
    }
}

/// Checks a plugin or extension point id written as a plain string.
pub(crate) fn check_id(report: &mut Report<'_>, path: &str, text: &str, what: &str) {
    if text.is_empty() {
        report.value(path, format!("the {what} is empty"));
    } else if let Err(e) = crate::id::validate_id(text) {
        report
            .value(path, format!("invalid {what} {}: {}", quoted(text), e.problem))
            .set_hint("ids use lower-case letters, digits, '.', '_' and '-', and start with a letter or digit");
    }
}

/// Checks `permissions:` (in a manifest, `strict`) or a `grant:` (in the host configuration).
///
/// A manifest travels between machines, so its paths are relative to the plugin's own
/// directory and cannot climb out of it; an operator's grant may name any path.
pub(crate) fn check_permissions(
    report: &mut Report<'_>,
    path: &str,
    permissions: &Permissions,
    strict: bool,
) {
    for (list, paths) in [
        ("read", &permissions.fs.read),
        ("write", &permissions.fs.write),
    ] {
        for (i, p) in paths.iter().enumerate() {
            let at = format!("{path}.fs.{list}[{i}]");
            let problem = if strict {
                relative_path_problem(p)
            } else if p.is_empty() {
                Some(("the path is empty".to_owned(), "remove the entry"))
            } else {
                None
            };
            if let Some((message, hint)) = problem {
                report.value(&at, message).set_hint(hint);
            }
        }
    }
    for (i, entry) in permissions.net.iter().enumerate() {
        if let Some((message, hint)) = net_problem(entry) {
            report
                .value(&format!("{path}.net[{i}]"), message)
                .set_hint(hint);
        }
    }
    for (i, name) in permissions.env.iter().enumerate() {
        if let Some(message) = env_name_problem(name) {
            report
                .value(&format!("{path}.env[{i}]"), message)
                .set_hint("environment variable names use letters, digits and '_', and do not start with a digit");
        }
    }
}

/// Why `path` is not a safe path relative to a plugin directory, with a hint.
pub(crate) fn relative_path_problem(path: &str) -> Option<(String, &'static str)> {
    let stay = "write it relative to the plugin directory, like `data/cache`";
    let problem = if path.is_empty() {
        ("the path is empty".to_owned(), stay)
    } else if path.contains('\0') {
        ("the path contains a NUL character".to_owned(), stay)
    } else if path.starts_with(['/', '\\']) || has_drive_letter(path) {
        (format!("{} is an absolute path", quoted(path)), stay)
    } else if path.starts_with('~') {
        (
            format!("{} starts with `~`, which is not expanded", quoted(path)),
            stay,
        )
    } else if path.contains('\\') {
        (
            format!("{} uses `\\` as a separator", quoted(path)),
            "separate directories with `/` on every operating system",
        )
    } else if path.split('/').any(|c| c == "..") {
        (
            format!("{} climbs out with `..`", quoted(path)),
            "a plugin reaches only its own directory; the operator can grant more in config.yaml",
        )
    } else {
        return None;
    };
    Some(problem)
}

fn has_drive_letter(path: &str) -> bool {
    let b = path.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Why `entry` is not `host:port`, with a hint.
pub(crate) fn net_problem(entry: &str) -> Option<(String, String)> {
    let example =
        "write `host:port`, like `api.example.com:443`, `*.example.com:*` or `[::1]:8080`";
    let Some((host, port)) = entry.rsplit_once(':') else {
        let hint = if entry.is_empty() {
            example.to_owned()
        } else {
            format!("add a port: `{entry}:443`, or `{entry}:*` for any port")
        };
        return Some((format!("{} has no port", quoted(entry)), hint));
    };
    let port_ok = port == "*" || port.parse::<u16>().is_ok_and(|p| p > 0);
    if !port_ok {
        return Some((
            format!(
                "the port {} is not a number from 1 to 65535 or `*`",
                quoted(port)
            ),
            example.to_owned(),
        ));
    }
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok())
    } else if host.contains(':') {
        return Some((
            format!("the IPv6 address {} must be in brackets", quoted(host)),
            format!("write `[{host}]:{port}`"),
        ));
    } else {
        host == "*" || is_host_name(host.strip_prefix("*.").unwrap_or(host))
    };
    if !host_ok {
        return Some((
            format!("{} is not a host name or address", quoted(host)),
            example.to_owned(),
        ));
    }
    None
}

/// A DNS name or an IPv4 address: dot-separated labels of letters, digits and inner hyphens.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Why `name` is not a portable environment variable name.
pub(crate) fn env_name_problem(name: &str) -> Option<String> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (!ok).then(|| format!("{} is not an environment variable name", quoted(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_entries() {
        for ok in [
            "api.example.com:443",
            "*:*",
            "*.example.com:8080",
            "10.0.0.1:53",
            "[::1]:443",
            "localhost:*",
        ] {
            assert_eq!(net_problem(ok), None, "{ok}");
        }
        for bad in [
            "example.com",
            "example.com:0",
            "example.com:65536",
            "example.com:http",
            ":80",
            "::1:443",
            "[::1:443",
            "exa mple.com:80",
            "-a.com:80",
            "",
        ] {
            assert!(net_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            net_problem("example.com").unwrap().1,
            "add a port: `example.com:443`, or `example.com:*` for any port"
        );
    }

    #[test]
    fn relative_paths() {
        for ok in ["data", "data/cache/", ".", "./x", "a..b/c"] {
            assert_eq!(relative_path_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "/etc",
            "\\x",
            "C:/x",
            "~/x",
            "a\\b",
            "../x",
            "a/../../b",
            "a/..",
        ] {
            assert!(relative_path_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        for ok in ["HOME", "_X", "MY_VAR_2"] {
            assert_eq!(env_name_problem(ok), None);
        }
        for bad in ["", "2X", "A-B", "A=B", "É"] {
            assert!(env_name_problem(bad).is_some(), "{bad}");
        }
    }
}
