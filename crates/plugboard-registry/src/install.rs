//! Installing plugins: resolve a version, fetch the package (or take it from the cache), check
//! its digest and signature, unpack it beside its destination, and rename it into place, all
//! plugins of one install together; then record them in `plugboard.lock`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use plugboard_manifest::{current_platform, HostConfig, Manifest};
use semver::{Version, VersionReq};
use tempfile::TempDir;

use crate::archive::{self, Limits};
use crate::error::{Error, Result};
use crate::fetch::{FetchOptions, Fetcher};
use crate::index::Index;
use crate::lockfile::{LockedPlugin, Lockfile};
use crate::oci::Oci;
use crate::signature::KeyRing;
use crate::source::Source;
use crate::Digest;

/// How an install behaves.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Use only the lockfile and the local cache; never touch the network.
    pub offline: bool,
    /// Plugins whose lock entries are ignored, so that they move to the newest matching
    /// version (`plugboard update`).
    pub update: BTreeSet<String>,
    /// Ignore every lock entry.
    pub update_all: bool,
    /// Downloads in flight at once. Default 8.
    pub parallel: usize,
    /// Limits on packages.
    pub limits: Limits,
    /// Network settings.
    pub fetch: FetchOptions,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            offline: false,
            update: BTreeSet::new(),
            update_all: false,
            parallel: 8,
            limits: Limits::default(),
            fetch: FetchOptions::default(),
        }
    }
}

/// One plugin to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The plugin id.
    pub id: String,
    /// The version requirement (any version when `None`).
    pub version: Option<VersionReq>,
    /// The source to install it from: `registry` or a name in `sources:`. `None`: the source
    /// its `plugins:` entry names, else the configuration's default source.
    pub source: Option<String>,
}

impl Want {
    /// Any version of `id`, from its default source.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            version: None,
            source: None,
        }
    }

    /// The versions of `id` that match `version`, from its default source.
    pub fn matching(id: impl Into<String>, version: VersionReq) -> Self {
        Self {
            id: id.into(),
            version: Some(version),
            source: None,
        }
    }
}

/// What an install did for one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The plugin id.
    pub id: String,
    /// The version now installed.
    pub version: Version,
    /// Where its package came from (a URL).
    pub source: String,
    /// The configured source it came from (`registry` or a name in `sources:`); `None` for a
    /// package file.
    pub source_name: Option<String>,
    /// The platform whose entry the package's `platforms:` gave, when it has several.
    pub platform: Option<String>,
    /// The package's digest.
    pub digest: Digest,
    /// The key that signed it, if signed.
    pub key: Option<String>,
    /// Whether the package came from the local cache.
    pub from_cache: bool,
    /// The plugin that required it, for dependencies.
    pub required_by: Option<String>,
}

/// What an install did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Plugins installed (or replaced).
    pub installed: Vec<Installed>,
    /// Plugins already present at a matching version: `(id, version)`.
    pub unchanged: Vec<(String, Version)>,
}

/// A package fetched, verified and unpacked into a staging directory.
struct Staged {
    dir: TempDir,
    manifest: Manifest,
    installed: Installed,
}

/// Where a package is to come from.
pub(crate) struct Artifact {
    /// The configured source, `None` for a package file.
    pub(crate) source: Option<String>,
    pub(crate) version: Option<Version>,
    pub(crate) url: String,
    pub(crate) expected: Option<Digest>,
    pub(crate) locked_key: Option<Option<String>>,
}

/// Installs plugins for one host configuration.
pub struct Installer {
    pub(crate) config_path: PathBuf,
    pub(crate) config: HostConfig,
    pub(crate) install_dir: PathBuf,
    pub(crate) cache_dir: PathBuf,
    pub(crate) lock_path: PathBuf,
    pub(crate) lock: Lockfile,
    /// `registry` (when it has a URL) and `sources:`, by name.
    pub(crate) sources: BTreeMap<String, Source>,
    /// Keys a package file installed directly is checked against: every trusted key of the
    /// configuration.
    pub(crate) file_keys: KeyRing,
    pub(crate) fetcher: Fetcher,
    pub(crate) oci: Oci,
    pub(crate) options: InstallOptions,
    pub(crate) indexes: tokio::sync::Mutex<BTreeMap<String, Option<Arc<Index>>>>,
    /// Package URLs given for plugins directly (local package files), by id.
    pub(crate) direct: BTreeMap<String, String>,
}

impl std::fmt::Debug for Installer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installer")
            .field("config", &self.config_path)
            .field("install_dir", &self.install_dir)
            .finish_non_exhaustive()
    }
}

impl Installer {
    /// An installer for the configuration at `config_path`, already parsed as `config`
    /// (relative paths are resolved against the file's directory here).
    ///
    /// # Errors
    /// No external plugin directory, untrusted key texts, an unreadable lockfile.
    pub fn new(config_path: &Path, config: &HostConfig, options: InstallOptions) -> Result<Self> {
        let base = config_path.parent().unwrap_or(Path::new("."));
        let mut config = config.clone();
        config.resolve_paths(base);
        let install_dir = config
            .directories
            .external
            .first()
            .cloned()
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: no external plugin directory to install into; add for example\n  \
                 directories:\n    external: [plugins]",
                    config_path.display()
                ))
            })?;
        let state = config
            .state_dir
            .clone()
            .unwrap_or_else(|| base.join(".plugboard"));
        let lock_path = Lockfile::path_for(config_path);
        let lock = Lockfile::load(&lock_path)?;
        let mut sources = BTreeMap::new();
        for (name, source) in config.all_sources() {
            sources.insert(name.clone(), Source::new(&name, &source)?);
        }
        let mut file_keys = KeyRing::from_texts(&config.registry.trusted_keys)?;
        for source in sources.values() {
            file_keys.extend(&source.keys);
        }
        let offline = options.offline || config.registry.offline;
        Ok(Self {
            config_path: config_path.to_owned(),
            install_dir,
            cache_dir: state.join("cache").join("packages"),
            lock_path,
            lock,
            sources,
            file_keys,
            fetcher: Fetcher::new(options.fetch.clone())?,
            oci: Oci::default(),
            options: InstallOptions { offline, ..options },
            indexes: tokio::sync::Mutex::new(BTreeMap::new()),
            direct: BTreeMap::new(),
            config,
        })
    }

    /// The directory plugins are installed into (the first external directory).
    pub fn install_dir(&self) -> &Path {
        &self.install_dir
    }

    /// The lockfile as it stands.
    pub fn lockfile(&self) -> &Lockfile {
        &self.lock
    }

    /// The plugins listed in `plugins:` that are enabled, as wants.
    pub fn listed(&self) -> Vec<Want> {
        self.config
            .plugins
            .iter()
            .filter(|p| p.enabled)
            .map(|p| Want {
                id: p.id.to_string(),
                version: p.version.clone(),
                source: p.source.clone(),
            })
            .collect()
    }

    /// The name of the source `want` is installed from: its own, its `plugins:` entry's, or
    /// the configuration's default.
    pub(crate) fn source_name(&self, want: &Want) -> Option<String> {
        want.source
            .clone()
            .or_else(|| self.config.plugin(&want.id).and_then(|p| p.source.clone()))
            .or_else(|| self.config.default_source().map(str::to_owned))
    }

    /// The source `want` is installed from.
    ///
    /// # Errors
    /// No source is configured, the configuration names none for it among several, or it
    /// names one that does not exist.
    pub(crate) fn source_for(&self, want: &Want) -> Result<&Source> {
        let names = || {
            self.sources
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.source_name(want) {
            Some(name) => self.sources.get(&name).ok_or_else(|| {
                Error::Config(format!(
                    "{}: no source named {name:?} in {} (sources: {}); add it under `sources:`",
                    want.id,
                    self.config_path.display(),
                    if self.sources.is_empty() {
                        "none".into()
                    } else {
                        names()
                    }
                ))
            }),
            None if self.sources.is_empty() => Err(Error::Config(format!(
                "{}: not installed, and {} configures no registry to install it from; add \
                 `registry: {{url: ...}}`",
                want.id,
                self.config_path.display()
            ))),
            None => Err(Error::Config(format!(
                "{}: {} lists several sources ({}) and no `registry:`; say which one with \
                 `{{id: {}, source: NAME}}` in plugins:",
                want.id,
                self.config_path.display(),
                names(),
                want.id
            ))),
        }
    }

    /// The listed plugins found in no plugin directory.
    pub fn missing(&self) -> Vec<Want> {
        let present = self.present();
        self.listed()
            .into_iter()
            .filter(|w| !present.contains_key(&w.id))
            .collect()
    }

    /// Every plugin in the configured directories: id -> (version, directory).
    fn present(&self) -> BTreeMap<String, (Version, PathBuf)> {
        let mut found = BTreeMap::new();
        let dirs = self
            .config
            .directories
            .bundled
            .iter()
            .chain(&self.config.directories.external);
        for dir in dirs {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let Ok(text) = fs::read_to_string(path.join(archive::MANIFEST_FILE)) else {
                    continue;
                };
                if let Ok(m) = Manifest::from_yaml_str(&text, "plugin.yaml") {
                    found
                        .entry(m.id.to_string())
                        .or_insert((m.version.clone(), path));
                }
            }
        }
        found
    }

    pub(crate) fn wants_update(&self, id: &str) -> bool {
        self.options.update_all || self.options.update.contains(id)
    }

    /// Installs `wants` and the plugins they require, then writes the lockfile. Either every
    /// plugin is installed, or none is and the previous versions stay in place.
    ///
    /// # Errors
    /// The first plugin that could not be resolved, fetched, verified or unpacked.
    pub async fn install(&mut self, wants: Vec<Want>) -> Result<Report> {
        for w in &wants {
            check_id(&w.id)?;
        }
        fs::create_dir_all(&self.install_dir).map_err(|e| Error::io(&self.install_dir, e))?;
        let present = self.present();
        let mut report = Report::default();
        let mut staged: BTreeMap<String, Staged> = BTreeMap::new();
        let mut queued: BTreeSet<String> = BTreeSet::new();
        let mut round: Vec<(Want, Option<String>)> = Vec::new();
        for w in wants {
            if queued.insert(w.id.clone()) {
                round.push((w, None));
            }
        }
        while !round.is_empty() {
            let mut todo = Vec::new();
            for (want, by) in round.drain(..) {
                if let Some(v) = self.already_satisfied(&want, &present) {
                    report.unchanged.push((want.id.clone(), v));
                } else {
                    todo.push((want, by));
                }
            }
            let this = &*self;
            let results: Vec<Result<Staged>> = stream::iter(todo)
                .map(|(want, by)| async move { this.stage(&want, by).await })
                .buffer_unordered(this.options.parallel.max(1))
                .collect()
                .await;
            let mut next = Vec::new();
            for result in results {
                let s = result?;
                for (dep, req) in &s.manifest.requires {
                    let dep = dep.to_string();
                    let have = staged
                        .get(&dep)
                        .map(|d| d.installed.version.clone())
                        .or_else(|| present.get(&dep).map(|(v, _)| v.clone()));
                    match have {
                        Some(v) if req.matches(&v) => {}
                        Some(v) if staged.contains_key(&dep) => {
                            return Err(Error::Resolve {
                                id: dep,
                                reason: format!(
                                    "{} requires {req}, but {v} is being installed",
                                    s.installed.id
                                ),
                            })
                        }
                        _ => {
                            if queued.insert(dep.clone()) {
                                // A dependency comes from its own `plugins:` entry's source,
                                // else from the source of the plugin that requires it.
                                let source = self
                                    .config
                                    .plugin(&dep)
                                    .and_then(|p| p.source.clone())
                                    .or_else(|| s.installed.source_name.clone());
                                next.push((
                                    Want {
                                        id: dep,
                                        version: Some(req.clone()),
                                        source,
                                    },
                                    Some(s.installed.id.clone()),
                                ));
                            }
                        }
                    }
                }
                staged.insert(s.installed.id.clone(), s);
            }
            round = next;
        }
        self.commit(staged, &mut report)?;
        Ok(report)
    }

    /// Installs local package files (and what they require, from the registry). Each file's
    /// signature is `<file>.minisig`, checked like a download's; the lockfile records the
    /// file's `file://` URL.
    ///
    /// # Errors
    /// As [`Installer::install`], and an unreadable or invalid package file.
    pub async fn install_packages(&mut self, paths: &[PathBuf]) -> Result<Report> {
        let mut wants = Vec::new();
        for path in paths {
            let abs = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
            let bytes = fs::read(&abs).map_err(|e| Error::io(&abs, e))?;
            let manifest =
                archive::inspect(&bytes, self.options.limits, &abs.display().to_string())?;
            let id = manifest.id.to_string();
            let exact = format!("={}", manifest.version);
            self.direct
                .insert(id.clone(), format!("file://{}", abs.display()));
            self.options.update.insert(id.clone());
            wants.push(Want {
                id,
                version: exact.parse().ok(),
                source: None,
            });
        }
        self.install(wants).await
    }

    fn already_satisfied(
        &self,
        want: &Want,
        present: &BTreeMap<String, (Version, PathBuf)>,
    ) -> Option<Version> {
        let (version, dir) = present.get(&want.id)?;
        if want.version.as_ref().is_some_and(|r| !r.matches(version)) {
            return None;
        }
        if dir.parent() != Some(self.install_dir.as_path()) {
            // Bundled, or in another directory the operator manages: not ours to replace.
            return Some(version.clone());
        }
        if self.wants_update(&want.id) {
            return None;
        }
        match self.lock.plugins.get(&want.id) {
            Some(l) if &l.version == version => Some(version.clone()),
            // Installed by hand: leave it.
            None => Some(version.clone()),
            Some(_) => None,
        }
    }

    async fn stage(&self, want: &Want, required_by: Option<String>) -> Result<Staged> {
        let artifact = self.artifact(want).await?;
        let label = format!(
            "{}{}",
            want.id,
            artifact
                .version
                .as_ref()
                .map(|v| format!("@{v}"))
                .unwrap_or_default()
        );
        let (bytes, signature, from_cache) = self.bytes(&want.id, &artifact, &label).await?;
        let digest = Digest::of(&bytes);
        if let Some(expected) = artifact.expected {
            if expected != digest {
                return Err(Error::DigestMismatch {
                    id: want.id.clone(),
                    package: artifact.url.clone(),
                    expected: expected.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let source = artifact.source.as_deref().and_then(|n| self.sources.get(n));
        let (keys, allow_unsigned, section) = match source {
            Some(s) => (&s.keys, s.allow_unsigned, s.at.as_str()),
            None => (
                &self.file_keys,
                self.config.registry.allow_unsigned,
                plugboard_manifest::REGISTRY_SOURCE,
            ),
        };
        let at = format!("under {section}:");
        // The key ring does not know which source it serves; the message should.
        let verify = |sig: &str| {
            keys.verify(&bytes, sig, &artifact.url)
                .map_err(|e| match e {
                    Error::Signature { package, reason } => Error::Signature {
                        package,
                        reason: reason.replace(
                            "trusted_keys of this source",
                            &format!("{section}.trusted_keys"),
                        ),
                    },
                    other => other,
                })
        };
        let verified = match &signature {
            Some(sig) => match verify(sig) {
                Ok(v) => Some(v),
                Err(Error::Signature { reason, .. })
                    if allow_unsigned && reason.contains("not trusted") =>
                {
                    tracing::warn!(
                        "{}: {reason}; accepted because allow_unsigned is set",
                        artifact.url
                    );
                    None
                }
                Err(e) => return Err(e),
            },
            None if allow_unsigned => None,
            None => {
                return Err(Error::signature(
                    &artifact.url,
                    format!(
                    "{} is not signed (no {}.minisig); refusing it. Ask its publisher to sign it \
                         (`plugboard publish --key`), or set `allow_unsigned: true` {at} \
                         in config.yaml to accept unsigned packages from this source",
                    want.id, artifact.url
                ),
                ))
            }
        };
        if let Some(Some(locked_key)) = &artifact.locked_key {
            if verified.as_ref().map(|v| v.key.to_string()).as_ref() != Some(locked_key) {
                return Err(Error::signature(
                    &artifact.url,
                    format!("plugboard.lock records a signature by key {locked_key}, and this package does not have one; refusing it"),
                ));
            }
        }
        if !from_cache {
            self.cache_put(&digest, &bytes, signature.as_deref());
        }
        let staging = tempfile::Builder::new()
            .prefix(&format!(".plugboard-staging-{}-", want.id))
            .tempdir_in(&self.install_dir)
            .map_err(|e| Error::io(&self.install_dir, e))?;
        // Unpacking is blocking file work: off the async workers, so downloads keep flowing.
        let (limits, url) = (self.options.limits, artifact.url.clone());
        let (dir, manifest) = tokio::task::spawn_blocking(move || {
            archive::unpack(&bytes, staging.path(), limits, &url).map(|m| (staging, m))
        })
        .await
        .map_err(|e| Error::archive(&artifact.url, format!("unpacking stopped: {e}")))??;
        if manifest.id.as_str() != want.id {
            return Err(Error::archive(
                &artifact.url,
                format!("the package holds plugin {}, not {}", manifest.id, want.id),
            ));
        }
        if let Some(v) = &artifact.version {
            if &manifest.version != v {
                return Err(Error::archive(
                    &artifact.url,
                    format!("the package holds version {}, not {v}", manifest.version),
                ));
            }
        }
        if let Some(req) = &want.version {
            if !req.matches(&manifest.version) {
                return Err(Error::Resolve {
                    id: want.id.clone(),
                    reason: format!(
                        "{} holds version {}, which does not match {req}",
                        artifact.url, manifest.version
                    ),
                });
            }
        }
        if let Some(v) = &verified {
            v.check_names(&want.id, &manifest.version.to_string(), &artifact.url)?;
        }
        // A package for several platforms must hold an entry for this one.
        let here = current_platform();
        manifest.for_platform(&here).map_err(|e| Error::Resolve {
            id: want.id.clone(),
            reason: format!("{}: {e}", artifact.url),
        })?;
        let platform = manifest.platforms.contains_key(&here).then_some(here);
        Ok(Staged {
            installed: Installed {
                id: want.id.clone(),
                version: manifest.version.clone(),
                source_name: artifact.source.clone(),
                platform,
                source: artifact.url,
                digest,
                key: verified.map(|v| v.key.to_string()),
                from_cache,
                required_by,
            },
            dir,
            manifest,
        })
    }

    /// Renames every staged plugin into place, keeping the previous versions until all are in.
    fn commit(&mut self, staged: BTreeMap<String, Staged>, report: &mut Report) -> Result<()> {
        let mut moved: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        let mut done = Vec::new();
        let undo = |moved: &[(PathBuf, Option<PathBuf>)]| {
            for (target, old) in moved.iter().rev() {
                let _ = fs::remove_dir_all(target);
                if let Some(old) = old {
                    let _ = fs::rename(old, target);
                }
            }
        };
        for (id, s) in staged {
            let target = self.install_dir.join(&id);
            let old = if fs::symlink_metadata(&target).is_ok() {
                let old = self
                    .install_dir
                    .join(format!(".plugboard-old-{id}-{}", std::process::id()));
                let _ = fs::remove_dir_all(&old);
                if let Err(e) = fs::rename(&target, &old) {
                    undo(&moved);
                    return Err(Error::io(&target, e));
                }
                Some(old)
            } else {
                None
            };
            let staging = s.dir.keep();
            if let Err(e) = fs::rename(&staging, &target) {
                let _ = fs::remove_dir_all(&staging);
                if let Some(old) = &old {
                    let _ = fs::rename(old, &target);
                }
                undo(&moved);
                return Err(Error::io(&target, e));
            }
            moved.push((target, old));
            done.push(s.installed);
        }
        let mut lock = self.lock.clone();
        for i in &done {
            lock.plugins.insert(
                i.id.clone(),
                LockedPlugin {
                    version: i.version.clone(),
                    source: i.source.clone(),
                    source_name: i.source_name.clone(),
                    digest: i.digest,
                    key: i.key.clone(),
                },
            );
        }
        if !done.is_empty() || !self.lock_path.exists() {
            if let Err(e) = lock.save(&self.lock_path) {
                undo(&moved);
                return Err(e);
            }
        }
        for (_, old) in moved {
            if let Some(old) = old {
                let _ = fs::remove_dir_all(old);
            }
        }
        self.lock = lock;
        report.installed = done;
        Ok(())
    }

    /// Removes installed plugins from the install directory and the lockfile.
    ///
    /// # Errors
    /// A plugin that is not installed in the install directory, or a file that cannot be
    /// removed.
    pub fn uninstall(&mut self, ids: &[String]) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for id in ids {
            check_id(id)?;
            let dir = self.install_dir.join(id);
            if !dir.join(archive::MANIFEST_FILE).is_file() {
                return Err(Error::Config(format!(
                    "{id}: not installed in {}; `plugboard list` shows where each plugin is",
                    self.install_dir.display()
                )));
            }
            let trash = self
                .install_dir
                .join(format!(".plugboard-old-{id}-{}", std::process::id()));
            fs::rename(&dir, &trash).map_err(|e| Error::io(&dir, e))?;
            fs::remove_dir_all(&trash).map_err(|e| Error::io(&trash, e))?;
            self.lock.plugins.remove(id);
            removed.push(id.clone());
        }
        self.lock.save(&self.lock_path)?;
        Ok(removed)
    }
}

/// A plugin id names a directory under the install directory: it must be a valid id, so that
/// it cannot name anything else (`../x`).
fn check_id(id: &str) -> Result<()> {
    plugboard_manifest::PluginId::new(id)
        .map(drop)
        .map_err(|e| Error::Config(format!("{id:?} is not a plugin id: {e}")))
}
