//! Choosing and fetching a package for the installer: the lock entry or the newest matching
//! version of the source, then the bytes from the cache or the network.

use std::fs;
use std::sync::Arc;

use semver::{Version, VersionReq};

use crate::auth::Login;
use crate::error::{Error, Result};
use crate::fetch::{Fetched, Redirect};
use crate::index::{current_platform, newest_matching, Index};
use crate::install::{Artifact, Installer, Want};
use crate::source::{join_url, split_tag, Scheme, Template};
use crate::Digest;

impl Installer {
    /// Chooses the package: the lock entry, or the newest matching version of the source.
    pub(crate) async fn artifact(&self, want: &Want) -> Result<Artifact> {
        let source_name = self.source_name(want);
        if let Some(l) = self.lock.plugins.get(&want.id) {
            let fits = want.version.as_ref().is_none_or(|r| r.matches(&l.version));
            // A plugin moved to another source in config.yaml is resolved there again.
            let same_source = l.source_name.is_none()
                || l.source_name == source_name
                || self.direct.contains_key(&want.id);
            if fits && same_source && !self.wants_update(&want.id) {
                return Ok(Artifact {
                    source: l.source_name.clone(),
                    version: Some(l.version.clone()),
                    url: l.source.clone(),
                    expected: Some(l.digest),
                    locked_key: Some(l.key.clone()),
                });
            }
        }
        if let Some(url) = self.direct.get(&want.id) {
            return Ok(Artifact {
                source: None,
                version: None,
                url: url.clone(),
                expected: None,
                locked_key: None,
            });
        }
        if self.options.offline {
            return Err(Error::Config(format!(
                "{}: offline, and plugboard.lock has no entry for it{}; run `plugboard install` \
                 while online first",
                want.id,
                want.version
                    .as_ref()
                    .map(|r| format!(" matching {r}"))
                    .unwrap_or_default()
            )));
        }
        let source = self.source_for(want)?;
        let template = &source.template;
        let name = Some(source.name.clone());
        if template.scheme() == Scheme::Oci {
            let repo = template.oci_repository(&want.id)?;
            let login = source.login(registry_of(&repo))?;
            let versions = self.oci.versions(&repo, &login).await?;
            let version = newest_matching(&versions, want.version.as_ref())
                .cloned()
                .ok_or_else(|| no_version(want, &repo, &versions))?;
            let url = template.package_url(&want.id, &version)?;
            return Ok(Artifact {
                source: name,
                version: Some(version),
                url,
                expected: None,
                locked_key: None,
            });
        }
        if let Some(index_url) = template.index_url(&want.id) {
            if let Some(index) = self.index(&index_url, template).await? {
                let Some((version, entry)) =
                    index.newest(&want.id, want.version.as_ref(), &current_platform())
                else {
                    return Err(Error::Resolve {
                        id: want.id.clone(),
                        reason: format!(
                            "no version{} for {} in {index_url} (versions listed: {})",
                            want.version
                                .as_ref()
                                .map(|r| format!(" matching {r}"))
                                .unwrap_or_default(),
                            current_platform(),
                            list_or_none(&index.versions(&want.id))
                        ),
                    });
                };
                let url = join_url(&index_url, &entry.file);
                if url.starts_with("file://") && !index_url.starts_with("file://") {
                    return Err(Error::Format {
                        path: index_url,
                        reason: format!(
                            "{} {version} points to a local file ({url}); a remote index may only \
                             name remote packages",
                            want.id
                        ),
                    });
                }
                return Ok(Artifact {
                    source: name,
                    version: Some(version.clone()),
                    url,
                    expected: Some(entry.digest),
                    locked_key: None,
                });
            }
        }
        // No index: an exact version names its package; anything else is the newest, where
        // the server's redirect for "latest" says which that is.
        if let Some(exact) = want.version.as_ref().and_then(exact_version) {
            return Ok(Artifact {
                source: name,
                url: template.package_url(&want.id, &exact)?,
                version: Some(exact),
                expected: None,
                locked_key: None,
            });
        }
        let index = template
            .index_url(&want.id)
            .unwrap_or_else(|| template.raw().to_owned());
        let no_index = |why: String| Error::Resolve {
            id: want.id.clone(),
            reason: format!(
                "the registry serves no index.json ({index}) to choose a version from, and {why}; \
                 serve an index.json (`plugboard publish --to DIR` writes one), or give an exact \
                 version (`version: '=1.2.3'`) in the plugins: entry"
            ),
        };
        let latest = template
            .latest_url(&want.id)
            .map_err(|_| no_index(format!("the template {} needs {{version}}", template.raw())))?;
        if !latest.starts_with("http") {
            return Err(no_index(format!("{latest} cannot redirect")));
        }
        let url = match self.fetcher.redirect(&latest).await? {
            Redirect::To(url) => url,
            Redirect::Direct if !latest.to_ascii_lowercase().contains("latest") => latest.clone(),
            Redirect::Direct => {
                return Err(no_index(format!(
                    "{latest} answered with a file rather than a redirect to a version, so \
                     plugboard.lock could not pin it"
                )))
            }
            Redirect::NotFound => {
                return Err(no_index(format!(
                    "{latest} (the newest package, from the template {}) is not found either (404)",
                    template.raw()
                )))
            }
        };
        tracing::debug!("{}: {latest} redirects to {url}", want.id);
        Ok(Artifact {
            source: name,
            url,
            version: None,
            expected: None,
            locked_key: None,
        })
    }

    async fn index(&self, url: &str, template: &Template) -> Result<Option<Arc<Index>>> {
        let mut indexes = self.indexes.lock().await;
        if let Some(found) = indexes.get(url) {
            return Ok(found.clone());
        }
        let index = match self.fetcher.get(url, "index.json").await {
            Ok(Fetched::Bytes(b)) => Some(Arc::new(Index::parse(&b, url)?)),
            Ok(Fetched::NotFound) => None,
            Err(Error::Http { url, reason }) => {
                return Err(Error::http(
                    url,
                    format!("{reason} (from the template {})", template.raw()),
                ))
            }
            Err(e) => return Err(e),
        };
        indexes.insert(url.to_owned(), index.clone());
        Ok(index)
    }

    /// The package bytes and signature: from the cache when the digest is known and cached,
    /// else from the source.
    pub(crate) async fn bytes(
        &self,
        id: &str,
        artifact: &Artifact,
        label: &str,
    ) -> Result<(Vec<u8>, Option<String>, bool)> {
        if let Some(d) = &artifact.expected {
            if let Some((bytes, sig)) = self.cache_get(d) {
                return Ok((bytes, sig, true));
            }
        }
        if self.options.offline && !artifact.url.starts_with("file://") {
            return Err(Error::Config(format!(
                "{id}: offline, and its package ({}) is not in the cache {}; run `plugboard install` while online",
                artifact.url,
                self.cache_dir.display()
            )));
        }
        if let Some(reference) = artifact.url.strip_prefix("oci://") {
            let progress = self.options.fetch.progress.as_deref();
            if let Some(p) = progress {
                p.started(label, None);
            }
            let login = self.login_for(artifact.source.as_deref(), registry_of(reference))?;
            let pulled = self.pull_with_retries(reference, &login).await;
            if let Some(p) = progress {
                if let Ok(pulled) = &pulled {
                    p.advanced(label, pulled.package.len() as u64);
                }
                p.finished(label);
            }
            let pulled = pulled?;
            if Digest::of(&pulled.package) != pulled.digest {
                return Err(Error::DigestMismatch {
                    id: id.to_owned(),
                    package: artifact.url.clone(),
                    expected: pulled.digest.to_string(),
                    actual: Digest::of(&pulled.package).to_string(),
                });
            }
            return Ok((pulled.package, pulled.signature, false));
        }
        let template = artifact
            .source
            .as_deref()
            .and_then(|n| self.sources.get(n))
            .map_or("", |s| s.template.raw());
        let bytes = match self.fetcher.get(&artifact.url, label).await? {
            Fetched::Bytes(b) => b,
            Fetched::NotFound => {
                if artifact.url.starts_with("file://") {
                    return Err(Error::http(
                        &artifact.url,
                        format!("no such file: no package for {id} there"),
                    ));
                }
                return Err(Error::http(
                    &artifact.url,
                    format!(
                        "404 Not Found: no package for {id} there (URL made from the template {template}); \
                         check registry: in config.yaml and that the version is published"
                    ),
                ));
            }
        };
        let sig_url = format!("{}.minisig", artifact.url);
        let signature = match self
            .fetcher
            .get(&sig_url, &format!("{label} signature"))
            .await?
        {
            Fetched::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Fetched::NotFound => None,
        };
        Ok((bytes, signature, false))
    }

    fn cache_get(&self, digest: &Digest) -> Option<(Vec<u8>, Option<String>)> {
        let path = self.cache_dir.join(format!("{}.tar.gz", digest.hex()));
        let bytes = fs::read(path).ok()?;
        if &Digest::of(&bytes) != digest {
            return None; // A damaged cache entry is fetched again.
        }
        let sig = fs::read_to_string(self.cache_dir.join(format!("{}.minisig", digest.hex()))).ok();
        Some((bytes, sig))
    }

    /// Pulls from an OCI registry, retrying with backoff like HTTP downloads; a registry that
    /// answers "no such repository or tag" is not asked again.
    async fn pull_with_retries(
        &self,
        reference: &str,
        login: &Login,
    ) -> Result<crate::oci::Pulled> {
        let fetch = &self.options.fetch;
        let mut pause = fetch.backoff;
        let mut attempt = 1;
        loop {
            match self
                .oci
                .pull(reference, fetch.max_download_bytes, login)
                .await
            {
                Ok(p) => return Ok(p),
                Err(Error::Oci { reason, .. })
                    if attempt < fetch.attempts && transient(&reason) =>
                {
                    tracing::warn!("oci://{reference}: {reason}; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The credentials for `registry`: those of the named source, else Docker's.
    fn login_for(&self, source: Option<&str>, registry: &str) -> Result<Login> {
        match source.and_then(|n| self.sources.get(n)) {
            Some(s) => s.login(registry),
            None => Login::resolve(registry, None, ""),
        }
    }

    pub(crate) fn cache_put(&self, digest: &Digest, bytes: &[u8], sig: Option<&str>) {
        // The cache only saves downloads: failing to write it is not an install failure.
        let write = || -> std::io::Result<()> {
            fs::create_dir_all(&self.cache_dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(&self.cache_dir)?;
            std::io::Write::write_all(&mut tmp, bytes)?;
            tmp.persist(self.cache_dir.join(format!("{}.tar.gz", digest.hex())))?;
            if let Some(sig) = sig {
                fs::write(
                    self.cache_dir.join(format!("{}.minisig", digest.hex())),
                    sig,
                )?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(
                "cannot write the package cache {}: {e}",
                self.cache_dir.display()
            );
        }
    }
}

/// Whether an OCI failure may go away on its own (a network or server error), as opposed to
/// an answer (no such tag, not a package) that asking again would only repeat.
fn transient(reason: &str) -> bool {
    const ANSWERS: [&str; 6] = [
        "no such repository",
        "not an OCI reference",
        "refusing",
        "no plugin package layer",
        "requires a login",
        "refused the credentials",
    ];
    !ANSWERS.iter().any(|a| reason.contains(a))
}

/// `host[:port]` of an OCI reference or repository (`host/path[:tag]`).
fn registry_of(reference: &str) -> &str {
    let (repo, _) = split_tag(reference);
    repo.split('/').next().unwrap_or(repo)
}

fn exact_version(req: &VersionReq) -> Option<Version> {
    match req.comparators.as_slice() {
        [c] if c.op == semver::Op::Exact => Some(Version {
            major: c.major,
            minor: c.minor?,
            patch: c.patch?,
            pre: c.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }),
        _ => None,
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn no_version(want: &Want, repo: &str, versions: &[Version]) -> Error {
    let listed: Vec<String> = versions.iter().map(ToString::to_string).collect();
    Error::Resolve {
        id: want.id.clone(),
        reason: format!(
            "no version{} tagged in oci://{repo} (tags that are versions: {})",
            want.version
                .as_ref()
                .map(|r| format!(" matching {r}"))
                .unwrap_or_default(),
            list_or_none(&listed)
        ),
    }
}
