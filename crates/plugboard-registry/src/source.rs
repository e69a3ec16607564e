//! The registry URL template of `config.yaml` and the places it names.

use std::path::PathBuf;

use plugboard_manifest::{AuthConfig, RegistryConfig, SourceConfig, REGISTRY_SOURCE};
use semver::Version;

use crate::auth::Login;
use crate::error::{Error, Result};
use crate::index::INDEX_FILE;
use crate::signature::KeyRing;

/// A configured source: `registry:` or an entry of `sources:`, with what its packages must
/// satisfy.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// `registry`, or the name in `sources:`.
    pub(crate) name: String,
    /// Where it is in config.yaml, for messages: `registry` or `sources.NAME`.
    pub(crate) at: String,
    pub(crate) template: Template,
    pub(crate) keys: KeyRing,
    pub(crate) allow_unsigned: bool,
    auth: Option<AuthConfig>,
}

impl Source {
    pub(crate) fn new(name: &str, config: &SourceConfig) -> Result<Self> {
        let at = if name == REGISTRY_SOURCE {
            REGISTRY_SOURCE.to_owned()
        } else {
            format!("sources.{name}")
        };
        Ok(Self {
            name: name.to_owned(),
            template: Template::for_source(config)?,
            keys: KeyRing::from_texts_at(&config.trusted_keys, &format!("{at}.trusted_keys"))?,
            allow_unsigned: config.allow_unsigned,
            auth: config.auth.clone(),
            at,
        })
    }

    /// The credentials for the OCI registry `registry` (`host[:port]`): the source's `auth:`,
    /// else Docker's `config.json`, else none.
    pub(crate) fn login(&self, registry: &str) -> Result<Login> {
        Login::resolve(registry, self.auth.as_ref(), &format!("{}.auth", self.at))
    }
}

/// How a template reaches its packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://` or `https://`.
    Http,
    /// `oci://host[:port]/repository/...:tag`.
    Oci,
    /// `file:///path`.
    File,
}

/// A registry URL template with the values of its fixed placeholders.
#[derive(Debug, Clone)]
pub struct Template {
    raw: String,
    name: String,
    repository: String,
    tag: String,
    scheme: Scheme,
}

impl Template {
    /// The template of `registry:`.
    ///
    /// # Errors
    /// No URL configured, or an unsupported scheme.
    pub fn new(registry: &RegistryConfig) -> Result<Self> {
        Self::from_parts(
            &registry.url,
            &registry.name,
            &registry.repository,
            &registry.tag,
        )
    }

    /// The template of a source (`registry:` or an entry of `sources:`).
    ///
    /// # Errors
    /// No URL configured, or an unsupported scheme.
    pub fn for_source(source: &SourceConfig) -> Result<Self> {
        Self::from_parts(&source.url, &source.name, &source.repository, &source.tag)
    }

    /// A template from its URL and placeholder values.
    ///
    /// # Errors
    /// No URL, or an unsupported scheme.
    pub fn from_parts(url: &str, name: &str, repository: &str, tag: &str) -> Result<Self> {
        if url.is_empty() {
            return Err(Error::Config(
                "no registry is configured; add to config.yaml for example\n  registry:\n    url: \
                 'https://github.com/{name}/{repository}/releases/download/{tag}'\n    name: OWNER\n    \
                 repository: REPO"
                    .into(),
            ));
        }
        let scheme = match url.split_once("://").map(|(s, _)| s.to_ascii_lowercase()) {
            Some(s) if s == "http" || s == "https" => Scheme::Http,
            Some(s) if s == "oci" => Scheme::Oci,
            Some(s) if s == "file" => Scheme::File,
            _ => {
                return Err(Error::Config(format!(
                    "registry.url {url:?}: use an https, http, oci or file URL"
                )))
            }
        };
        Ok(Self {
            raw: url.to_owned(),
            name: name.to_owned(),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            scheme,
        })
    }

    /// The template as written.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Its scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Replaces the placeholders in `text`; `{version}` needs a version.
    fn fill(&self, text: &str, plugin: &str, version: Option<&Version>) -> Result<String> {
        let mut out = text
            .replace("{name}", &self.name)
            .replace("{repository}", &self.repository)
            .replace("{tag}", &self.tag)
            .replace("{plugin}", plugin)
            .replace("{os}", std::env::consts::OS)
            .replace("{arch}", std::env::consts::ARCH);
        if out.contains("{version}") {
            let Some(v) = version else {
                return Err(Error::Resolve {
                    id: plugin.to_owned(),
                    reason: format!(
                        "the template {} needs {{version}} and no index says which versions exist; \
                         give an exact version (`version: '=1.2.3'`) in the plugins: entry",
                        self.raw
                    ),
                });
            };
            out = out.replace("{version}", &v.to_string());
        }
        Ok(out)
    }

    /// Whether the template names a package file (its last path segment holds `{plugin}`), as
    /// opposed to a directory of packages with an `index.json`.
    pub fn names_package(&self) -> bool {
        let path = self.raw.split_once("://").map_or("", |(_, r)| r);
        path.rsplit('/')
            .next()
            .is_some_and(|last| last.contains("{plugin}"))
    }

    /// The URL of the index that lists `plugin`'s versions: `index.json` in the template's
    /// directory. `None` when that directory depends on the version.
    pub fn index_url(&self, plugin: &str) -> Option<String> {
        let dir = if self.names_package() {
            self.raw.rsplit_once('/').map(|(d, _)| d)?
        } else {
            self.raw.trim_end_matches('/')
        };
        if dir.contains("{version}") {
            return None;
        }
        self.fill(&format!("{dir}/{INDEX_FILE}"), plugin, None).ok()
    }

    /// The package URL of `plugin` at `version`: the template itself when it names a file,
    /// else `<directory>/<plugin>-<version>.tar.gz`.
    ///
    /// # Errors
    /// The template needs a version that was not given.
    pub fn package_url(&self, plugin: &str, version: &Version) -> Result<String> {
        if self.scheme == Scheme::Oci {
            let filled = self.fill(&self.raw, plugin, Some(version))?;
            // Without a tag in the template, the version is the tag.
            let rest = filled.split_once("://").map_or("", |(_, r)| r);
            match split_tag(rest) {
                (_, Some(_)) => Ok(filled),
                (_, None) => Ok(format!("{filled}:{version}")),
            }
        } else if self.names_package() {
            self.fill(&self.raw, plugin, Some(version))
        } else {
            let dir = self.raw.trim_end_matches('/');
            self.fill(
                &format!("{dir}/{plugin}-{version}.tar.gz"),
                plugin,
                Some(version),
            )
        }
    }

    /// The URL of `plugin`'s newest package where no index lists versions: the template
    /// itself when it names a file, else `<directory>/<plugin>.tar.gz`. A server that serves
    /// "latest" answers it with a redirect to a concrete version, as GitHub's
    /// `/releases/latest/download/` does.
    ///
    /// # Errors
    /// The template needs `{version}`.
    pub fn latest_url(&self, plugin: &str) -> Result<String> {
        if self.names_package() {
            self.fill(&self.raw, plugin, None)
        } else {
            let dir = self.raw.trim_end_matches('/');
            self.fill(&format!("{dir}/{plugin}.tar.gz"), plugin, None)
        }
    }

    /// For an OCI template: the repository of `plugin` (`host/path`, without a tag) and whether
    /// the template puts the version in the tag.
    ///
    /// # Errors
    /// Not an OCI template.
    pub fn oci_repository(&self, plugin: &str) -> Result<String> {
        let rest = self.raw.split_once("://").map_or("", |(_, r)| r);
        let (repo, _tag) = split_tag(rest);
        let filled = self.fill(repo, plugin, None)?;
        Ok(filled)
    }
}

/// Splits `host/repo:tag` into the repository and the tag (a `:` after the last `/`).
pub(crate) fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let slash = reference.rfind('/').unwrap_or(0);
    match reference[slash..].find(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

/// Joins a possibly relative `file` onto the directory of `base` (a URL).
pub(crate) fn join_url(base: &str, file: &str) -> String {
    if file.contains("://") {
        return file.to_owned();
    }
    match base.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{file}"),
        None => file.to_owned(),
    }
}

/// The local path of a `file://` URL.
pub(crate) fn file_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("file://").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_layout() {
        let t = Template::from_parts(
            "https://github.com/{name}/{repository}/releases/download/{tag}",
            "acme",
            "plugins",
            "latest",
        )
        .unwrap();
        assert!(!t.names_package());
        assert_eq!(
            t.index_url("a").unwrap(),
            "https://github.com/acme/plugins/releases/download/latest/index.json"
        );
        assert_eq!(
            t.package_url("a", &Version::new(1, 0, 0)).unwrap(),
            "https://github.com/acme/plugins/releases/download/latest/a-1.0.0.tar.gz"
        );
    }

    #[test]
    fn package_template_and_oci() {
        let t = Template::from_parts(
            "http://h/{plugin}/{plugin}-{version}-{os}-{arch}.tar.gz",
            "",
            "",
            "latest",
        )
        .unwrap();
        assert!(t.names_package());
        assert_eq!(t.index_url("p").unwrap(), "http://h/p/index.json");
        let url = t.package_url("p", &Version::new(2, 0, 0)).unwrap();
        assert!(url.starts_with("http://h/p/p-2.0.0-"), "{url}");
        let o = Template::from_parts(
            "oci://127.0.0.1:5000/plugins/{plugin}:{version}",
            "",
            "",
            "",
        )
        .unwrap();
        assert_eq!(o.oci_repository("p").unwrap(), "127.0.0.1:5000/plugins/p");
        let untagged =
            Template::from_parts("oci://127.0.0.1:5000/plugins/{plugin}", "", "", "").unwrap();
        assert_eq!(
            untagged.package_url("p", &Version::new(1, 2, 0)).unwrap(),
            "oci://127.0.0.1:5000/plugins/p:1.2.0"
        );
        assert_eq!(split_tag("h:1/a/b:1.0"), ("h:1/a/b", Some("1.0")));
        assert_eq!(split_tag("h:1/a/b"), ("h:1/a/b", None));
        assert_eq!(
            join_url("http://h/x/index.json", "a.tgz"),
            "http://h/x/a.tgz"
        );
    }
}
