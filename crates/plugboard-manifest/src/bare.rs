//! Bare artifacts: a `.wasm` module or a shared library dropped into a plugin directory with no
//! `plugin.yaml` beside it. The defaults below make it a plugin with no dependencies, no
//! extension points and no permissions.

use semver::{Version, VersionReq};

use crate::validate::relative_path_problem;
use crate::values::quoted;
use crate::{Manifest, ManifestErrors, PluginId, Problem, RuntimeKind};

/// The runtime a bare artifact's file extension implies, and whether its stem may carry the
/// `lib` prefix of Unix shared libraries.
fn runtime_for(file_name: &str) -> Option<(RuntimeKind, &str, bool)> {
    let (stem, extension) = file_name.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    match extension.to_ascii_lowercase().as_str() {
        "wasm" => Some((RuntimeKind::Wasm, stem, false)),
        "so" | "dylib" => Some((RuntimeKind::Native, stem, true)),
        "dll" => Some((RuntimeKind::Native, stem, false)),
        _ => None,
    }
}

/// The id derived from a file stem: lower case, other characters replaced with `-`, without
/// leading punctuation, at most [`PluginId::MAX_LEN`] bytes.
fn id_from_stem(stem: &str) -> String {
    let mapped: String = stem
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '_' | '-') => c,
            _ => '-',
        })
        .collect();
    let trimmed = mapped.trim_start_matches(['.', '_', '-']);
    trimmed.chars().take(PluginId::MAX_LEN).collect()
}

/// Whether `name` is a file that [`Manifest::for_bare_artifact`] accepts: a plain file name
/// without control characters, usable as a manifest's `entry`, ending in `.wasm`, `.so`, `.dylib` or `.dll` (in any case) with a usable name before it.
pub fn is_bare_artifact_name(name: &str) -> bool {
    !name.contains(['/', '\\'])
        && !name.contains(char::is_control)
        && relative_path_problem(name).is_none()
        && runtime_for(name)
            .is_some_and(|(_, stem, lib)| !id_from_stem(strip_lib(stem, lib)).is_empty())
}

fn strip_lib(stem: &str, lib_prefix: bool) -> &str {
    match stem.strip_prefix("lib") {
        Some(rest) if lib_prefix && !rest.is_empty() => rest,
        _ => stem,
    }
}

impl Manifest {
    /// The manifest of an artifact found without one: `file_name` is the artifact's file name
    /// in the plugin directory.
    ///
    /// The id comes from the file name (`libtext_tools.so` gives `text_tools`, `My
    /// Filter.wasm` gives `my-filter`), the version is 0.0.0, the runtime follows the extension
    /// (`.wasm` is `wasm`; `.so`, `.dylib` and `.dll` are `native`), the entry is the file name,
    /// and nothing is provided, required or permitted.
    ///
    /// # Errors
    /// When `file_name` is a path rather than a name, contains control characters, would not be
    /// a valid `entry` (`C:x.wasm`, `~x.wasm`), has another extension, or leaves no usable id.
    ///
    /// ```
    /// use plugboard_manifest::{Manifest, RuntimeKind};
    ///
    /// let m = Manifest::for_bare_artifact("libtext_tools.so")?;
    /// assert_eq!((m.id.as_str(), m.runtime), ("text_tools", RuntimeKind::Native));
    /// # Ok::<(), plugboard_manifest::ManifestErrors>(())
    /// ```
    pub fn for_bare_artifact(file_name: &str) -> Result<Manifest, ManifestErrors> {
        let fail = |message: String, hint: &str| -> ManifestErrors {
            Problem::new(file_name, "", message).with_hint(hint).into()
        };
        if file_name.contains(['/', '\\']) {
            return Err(fail(
                format!("{} is a path, not a file name", quoted(file_name)),
                "pass the artifact's file name within its plugin directory",
            ));
        }
        if file_name.contains(char::is_control) {
            return Err(fail(
                format!("{} contains control characters", quoted(file_name)),
                "rename the file",
            ));
        }
        // The name becomes the entry: it must pass the checks of a written manifest's entry.
        if let Some((message, _)) = relative_path_problem(file_name) {
            return Err(fail(message, "rename the file"));
        }
        let Some((runtime, stem, lib)) = runtime_for(file_name) else {
            return Err(fail(
                format!(
                    "{} is not a plugin artifact that can run without a manifest",
                    quoted(file_name)
                ),
                "artifacts without a plugin.yaml end in .wasm, .so, .dylib or .dll; for anything else write a plugin.yaml",
            ));
        };
        let id = id_from_stem(strip_lib(stem, lib));
        let id = PluginId::new(id).map_err(|e| {
            fail(
                format!(
                    "no plugin id can be made from {}: {}",
                    quoted(file_name),
                    e.problem
                ),
                "rename the file so that its name starts with a letter or digit",
            )
        })?;
        Ok(Manifest {
            id,
            name: None,
            version: Version::new(0, 0, 0),
            description: None,
            api: VersionReq::STAR,
            runtime,
            entry: file_name.to_owned(),
            integrity: None,
            platforms: Default::default(),
            requires: Default::default(),
            optional: Default::default(),
            provides: Vec::new(),
            extension_points: Vec::new(),
            subscribes: Vec::new(),
            permissions: Default::default(),
            config: Default::default(),
            activation: Default::default(),
            wasm: None,
            process: None,
            native: None,
            ui: None,
            reload: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_runtimes_and_entries_come_from_the_file_name() {
        let cases = [
            ("libtext_tools.so", "text_tools", RuntimeKind::Native),
            ("libfoo.dylib", "foo", RuntimeKind::Native),
            ("foo.dll", "foo", RuntimeKind::Native),
            ("libfoo.dll", "libfoo", RuntimeKind::Native),
            ("lib.so", "lib", RuntimeKind::Native),
            ("My Filter.WASM", "my-filter", RuntimeKind::Wasm),
            ("_x.wasm", "x", RuntimeKind::Wasm),
            ("Ünïcode.wasm", "n-code", RuntimeKind::Wasm),
            ("v1.2.wasm", "v1.2", RuntimeKind::Wasm),
        ];
        for (file, id, runtime) in cases {
            let m = Manifest::for_bare_artifact(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(m.id.as_str(), id, "{file}");
            assert_eq!(m.runtime, runtime, "{file}");
            assert_eq!(m.entry, file);
            assert_eq!(m.version, Version::new(0, 0, 0));
            assert_eq!(m.permissions, Default::default());
            assert!(is_bare_artifact_name(file), "{file}");
            // The default descriptor passes the same checks as a written manifest.
            m.validate(file).unwrap();
        }
    }

    #[test]
    fn other_files_are_refused_with_their_name() {
        for file in [
            "plugin.yaml",
            "README",
            ".wasm",
            "dir/x.wasm",
            "---.so",
            "x.so.1",
            "a\0b.so",
            "i:x.dll",
            "~x.wasm",
        ] {
            assert!(!is_bare_artifact_name(file), "{file}");
            let err = Manifest::for_bare_artifact(file).unwrap_err();
            assert_eq!(err.first().file, file);
            let shown = file.escape_default().to_string();
            assert!(err.to_string().starts_with(&shown), "{err}");
        }
    }

    #[test]
    fn long_names_are_cut_to_the_id_limit() {
        let file = format!("{}.wasm", "a".repeat(300));
        let m = Manifest::for_bare_artifact(&file).unwrap();
        assert_eq!(m.id.as_str().len(), PluginId::MAX_LEN);
    }
}
