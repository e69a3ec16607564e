//! Finding plugins: the bundled and external directories, manifests and bare artifacts.
//!
//! Discovery reads files and nothing else: it never runs plugin code, so `plugboard list` can
//! show what a host would start without starting it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use plugboard_manifest::{Manifest, PluginId, RuntimeKind};
use semver::Version;
use serde::Serialize;

/// The file in the bundled directory that lists the plugins the application ships.
pub const BUNDLED_INDEX: &str = "bundled.index";

/// The manifest file name in a plugin directory.
pub const MANIFEST_FILE: &str = "plugin.yaml";

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "dir")]
pub enum Origin {
    /// The application's bundled directory.
    Bundled(PathBuf),
    /// A user's external directory.
    External(PathBuf),
    /// Registered in code by the application.
    Application,
}

impl Origin {
    /// A short label for tables: `bundled`, `external` or `application`.
    pub fn label(&self) -> &'static str {
        match self {
            Origin::Bundled(_) => "bundled",
            Origin::External(_) => "external",
            Origin::Application => "application",
        }
    }
}

/// A discovered plugin: its manifest and where it lives.
#[derive(Debug, Clone)]
pub struct Descriptor {
    /// The parsed manifest (or the default one for a bare artifact).
    pub manifest: Manifest,
    /// The plugin's directory. For a bare artifact, the directory that holds the file; `None`
    /// for plugins registered in code.
    pub dir: Option<PathBuf>,
    /// Which directory it was found in.
    pub origin: Origin,
    /// Whether it is a bare artifact with no manifest, described by defaults.
    pub bare: bool,
}

impl Descriptor {
    /// A plugin registered in code, with no directory.
    pub fn in_code(manifest: Manifest) -> Self {
        Self {
            manifest,
            dir: None,
            origin: Origin::Application,
            bare: false,
        }
    }

    /// The plugin's id.
    pub fn id(&self) -> &PluginId {
        &self.manifest.id
    }

    /// The plugin's version.
    pub fn version(&self) -> &Version {
        &self.manifest.version
    }

    /// The runtime kind.
    pub fn runtime(&self) -> RuntimeKind {
        self.manifest.runtime
    }

    /// The entry file's path, for runtimes whose entry is a file.
    pub fn entry_path(&self) -> Option<PathBuf> {
        match self.manifest.runtime {
            RuntimeKind::Builtin => None,
            _ => self.dir.as_ref().map(|d| d.join(&self.manifest.entry)),
        }
    }
}

/// A plugin that lost to another with the same id (the higher version wins).
#[derive(Debug, Clone, Serialize)]
pub struct Shadowed {
    /// The id both share.
    pub id: PluginId,
    /// The losing version.
    pub version: Version,
    /// Where the loser was.
    pub origin: Origin,
    /// Its directory.
    pub dir: Option<PathBuf>,
    /// The winning version.
    pub by_version: Version,
    /// Where the winner is.
    pub by_origin: Origin,
}

/// Something in a plugin directory that could not become a plugin.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The best id we can give it: the manifest's id when readable, else the directory name.
    pub name: String,
    /// The directory or file.
    pub path: PathBuf,
    /// Where it was found.
    pub origin: Origin,
    /// Why it was refused, and what to do.
    pub reason: String,
}

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The plugins to consider, one per id.
    pub plugins: Vec<Descriptor>,
    /// Plugins hidden by a higher version of the same id.
    pub shadowed: Vec<Shadowed>,
    /// Directories and files refused, with the reason.
    pub rejected: Vec<Rejected>,
}

/// Scans the bundled directory (if any) and the external directories.
///
/// Each immediate subdirectory holding a `plugin.yaml` is a plugin; a file with a bare-artifact
/// extension (`.wasm`, `.so`, ...) is a plugin described by defaults. In the bundled directory,
/// only plugins listed in its `bundled.index` are accepted, as GoCD does with its bundled
/// plugins: the application owns that directory, and anything else found there was not shipped
/// with it. A directory that does not exist is an empty one (a fresh install has no external
/// plugins yet).
pub fn discover(bundled: Option<&Path>, external: &[PathBuf]) -> Discovery {
    let mut found: Vec<Descriptor> = Vec::new();
    let mut rejected = Vec::new();
    if let Some(dir) = bundled {
        let origin = Origin::Bundled(dir.to_path_buf());
        let index = read_bundled_index(dir);
        for c in scan_dir(dir, &origin, &mut rejected) {
            match admit_bundled(&index, &c) {
                Ok(()) => found.push(c),
                Err(reason) => rejected.push(Rejected {
                    name: c.id().to_string(),
                    path: c.dir.clone().unwrap_or_default(),
                    origin: origin.clone(),
                    reason,
                }),
            }
        }
    }
    for dir in external {
        let origin = Origin::External(dir.clone());
        found.extend(scan_dir(dir, &origin, &mut rejected));
    }
    let (plugins, shadowed) = pick_highest(found);
    Discovery {
        plugins,
        shadowed,
        rejected,
    }
}

/// The ids (and optional pinned versions) listed in a bundled directory's index.
/// `None` when the file is missing or unreadable.
fn read_bundled_index(dir: &Path) -> Result<BTreeMap<String, Option<String>>, String> {
    let path = dir.join(BUNDLED_INDEX);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "the bundled directory {} has no {BUNDLED_INDEX}, so nothing in it is trusted; \
                 list the application's plugins there, one `id [version]` per line",
                dir.display()
            ))
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let id = parts.next().unwrap_or_default().to_owned();
            (id, parts.next().map(str::to_owned))
        })
        .collect())
}

fn admit_bundled(
    index: &Result<BTreeMap<String, Option<String>>, String>,
    d: &Descriptor,
) -> Result<(), String> {
    let index = index.as_ref().map_err(Clone::clone)?;
    match index.get(d.id().as_str()) {
        None => Err(format!(
            "{} was found in the bundled directory but the application did not ship it (it is not \
             in {BUNDLED_INDEX}); refused. Put user plugins in an external directory",
            d.id()
        )),
        Some(Some(pinned)) if *pinned != d.version().to_string() => Err(format!(
            "the bundled directory holds {} {} but the application shipped version {pinned}; refused",
            d.id(),
            d.version()
        )),
        Some(_) => Ok(()),
    }
}

fn scan_dir(dir: &Path, origin: &Origin, rejected: &mut Vec<Rejected>) -> Vec<Descriptor> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            rejected.push(Rejected {
                name: dir.display().to_string(),
                path: dir.to_path_buf(),
                origin: origin.clone(),
                reason: format!("cannot read the plugin directory: {e}"),
            });
            return out;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            let manifest_path = path.join(MANIFEST_FILE);
            if !manifest_path.is_file() {
                rejected.push(Rejected {
                    name,
                    path: path.clone(),
                    origin: origin.clone(),
                    reason: format!(
                        "no {MANIFEST_FILE} in this directory; add one (see docs/manifest.md)"
                    ),
                });
                continue;
            }
            match load_manifest(&manifest_path) {
                Ok(manifest) => out.push(Descriptor {
                    manifest,
                    dir: Some(path),
                    origin: origin.clone(),
                    bare: false,
                }),
                Err(reason) => rejected.push(Rejected {
                    name,
                    path,
                    origin: origin.clone(),
                    reason,
                }),
            }
        } else if plugboard_manifest::is_bare_artifact_name(&name) {
            match Manifest::for_bare_artifact(&name) {
                Ok(manifest) => out.push(Descriptor {
                    manifest,
                    dir: Some(dir.to_path_buf()),
                    origin: origin.clone(),
                    bare: true,
                }),
                Err(e) => rejected.push(Rejected {
                    name,
                    path,
                    origin: origin.clone(),
                    reason: e.to_string(),
                }),
            }
        }
    }
    out
}

/// Reads and parses one `plugin.yaml`, with every problem in the message. A manifest with
/// `platforms:` comes back with this host's platform's entry in `entry`.
///
/// # Errors
/// A message naming the file and each problem, or the platforms the plugin is built for when
/// this one is not among them.
pub fn load_manifest(path: &Path) -> Result<Manifest, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let manifest =
        Manifest::from_yaml_str(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    manifest
        .for_platform(&plugboard_manifest::current_platform())
        .map_err(|e| e.to_string())
}

/// Keeps the highest version of each id; bundled wins a tie (the application shipped it).
fn pick_highest(found: Vec<Descriptor>) -> (Vec<Descriptor>, Vec<Shadowed>) {
    let mut by_id: BTreeMap<PluginId, Descriptor> = BTreeMap::new();
    let mut shadowed = Vec::new();
    for d in found {
        let id = d.id().clone();
        match by_id.remove(&id) {
            None => {
                by_id.insert(id, d);
            }
            Some(prev) => {
                let (win, lose) = if d.version() > prev.version() {
                    (d, prev)
                } else {
                    (prev, d)
                };
                shadowed.push(Shadowed {
                    id: id.clone(),
                    version: lose.version().clone(),
                    origin: lose.origin.clone(),
                    dir: lose.dir.clone(),
                    by_version: win.version().clone(),
                    by_origin: win.origin.clone(),
                });
                by_id.insert(id, win);
            }
        }
    }
    (by_id.into_values().collect(), shadowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_platform_manifest_loads_with_this_platform_entry() {
        let dir = tempfile::tempdir().unwrap();
        let here = plugboard_manifest::current_platform();
        let path = dir.path().join(MANIFEST_FILE);
        fs::write(
            &path,
            format!(
                "id: tool\nversion: 1.0.0\nruntime: process\nplatforms:\n  {here}: bin/{here}/tool\n  freebsd-riscv64: bin/fb/tool\n"
            ),
        )
        .unwrap();
        assert_eq!(
            load_manifest(&path).unwrap().entry,
            format!("bin/{here}/tool")
        );
        fs::write(
            &path,
            "id: tool\nversion: 1.0.0\nruntime: process\nplatforms:\n  freebsd-riscv64: bin/fb/tool\n",
        )
        .unwrap();
        let err = load_manifest(&path).unwrap_err();
        assert!(
            err.contains(&format!("no entry for this platform, {here}"))
                && err.contains("built for freebsd-riscv64"),
            "{err}"
        );
    }
}
