//! OCI registries as plugin sources: a package is an OCI artifact whose layer has Plugboard's
//! media type, with its minisign signature as a second layer.
//!
//! Artifacts pushed by other tools are accepted too: without a Plugboard layer, a layer titled
//! `*.tar.gz`, `*.tgz` or `*.tar.zst` (what `oras push pkg.tar.gz` writes), or else the only
//! layer, is the package. Plain HTTP is used for loopback registries (`127.0.0.1`,
//! `localhost`, `[::1]`) and HTTPS everywhere else.
//!
//! Registries that need a login get the credentials of a [`Login`]; a refusal names the
//! registry, where the credentials came from, and what to do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::{Client, Reference};
use semver::Version;

use crate::archive::Format;
use crate::auth::Login;
use crate::error::{Error, Result};
use crate::Digest;

/// The media type of a Plugboard package layer (`.tar.gz`).
pub const PACKAGE_MEDIA_TYPE: &str = "application/vnd.plugboard.plugin.package.v1.tar+gzip";
/// The media type of a Plugboard package layer compressed with zstd (`.tar.zst`).
pub const PACKAGE_ZSTD_MEDIA_TYPE: &str = "application/vnd.plugboard.plugin.package.v1.tar+zstd";
/// The media type of the signature layer.
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.plugboard.plugin.signature.v1+minisign";
/// The media type of the artifact's config blob (`{"id": ..., "version": ...}`).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.plugboard.plugin.config.v1+json";
/// The artifact type of the manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.plugboard.plugin.v1";

const TITLE: &str = "org.opencontainers.image.title";

/// A pulled artifact.
#[derive(Debug)]
pub(crate) struct Pulled {
    pub(crate) package: Vec<u8>,
    pub(crate) digest: Digest,
    pub(crate) signature: Option<String>,
}

/// OCI clients, one per registry host (each knows whether that host speaks plain HTTP).
#[derive(Default)]
pub(crate) struct Oci {
    clients: Mutex<HashMap<String, Client>>,
}

impl std::fmt::Debug for Oci {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oci").finish_non_exhaustive()
    }
}

fn is_loopback(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(h, port)| !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(registry, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.")
}

fn parse_ref(reference: &str) -> Result<Reference> {
    reference.parse().map_err(|e| Error::Oci {
        reference: reference.to_owned(),
        reason: format!("not an OCI reference ({e}); write oci://HOST[:PORT]/REPOSITORY:TAG"),
    })
}

/// Whether the registry refused the request for want of (valid) credentials.
fn is_refusal(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        _ => false,
    }
}

fn oci_err(reference: &str, login: &Login, e: OciDistributionError) -> Error {
    let text = e.to_string();
    let registry = reference.split('/').next().unwrap_or(reference);
    let reason = if is_refusal(&e) {
        if login.is_anonymous() {
            format!(
                "the registry {registry} requires a login ({text}), and no credentials are \
                 configured for it: add `auth:` (`username` and `password_env`, or `token_env`) \
                 to the source in config.yaml, or log in with `docker login {registry}`"
            )
        } else {
            format!(
                "the registry {registry} refused the credentials from {} ({text}): check the user \
                 name and the secret (or its permissions on this repository); nothing was changed",
                login.origin()
            )
        }
    } else if text.contains("404")
        || text.contains("MANIFEST_UNKNOWN")
        || text.contains("NAME_UNKNOWN")
    {
        format!("{text}; no such repository or tag in the registry")
    } else {
        text
    };
    Error::Oci {
        reference: reference.to_owned(),
        reason,
    }
}

impl Oci {
    fn client(&self, registry: &str) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(registry.to_owned())
            .or_insert_with(|| {
                let protocol = if is_loopback(registry) {
                    ClientProtocol::HttpsExcept(vec![registry.to_owned()])
                } else {
                    ClientProtocol::Https
                };
                Client::new(ClientConfig {
                    protocol,
                    ..Default::default()
                })
            })
            .clone()
    }

    /// The versions tagged in `repository` (`host/path`), ignoring tags that are not versions.
    pub(crate) async fn versions(&self, repository: &str, login: &Login) -> Result<Vec<Version>> {
        let text = format!("{repository}:latest");
        let reference = parse_ref(&text)?;
        let client = self.client(reference.registry());
        let tags = client
            .list_tags(&reference, &login.auth, None, None)
            .await
            .map_err(|e| oci_err(repository, login, e))?;
        Ok(tags
            .tags
            .iter()
            .filter_map(|t| Version::parse(t.trim_start_matches('v')).ok())
            .collect())
    }

    /// Pulls the package (and its signature, if any) at `reference` (`host/path:tag`).
    pub(crate) async fn pull(
        &self,
        reference_text: &str,
        max_bytes: u64,
        login: &Login,
    ) -> Result<Pulled> {
        let reference = parse_ref(reference_text)?;
        let client = self.client(reference.registry());
        let (manifest, _) = client
            .pull_image_manifest(&reference, &login.auth)
            .await
            .map_err(|e| oci_err(reference_text, login, e))?;
        let package_layer = pick_package(&manifest.layers).ok_or_else(|| Error::Oci {
            reference: reference_text.to_owned(),
            reason: format!(
                "the artifact has no plugin package layer (media type {PACKAGE_MEDIA_TYPE} or \
                 {PACKAGE_ZSTD_MEDIA_TYPE}, or a layer titled *.tar.gz or *.tar.zst); it holds: {}",
                manifest
                    .layers
                    .iter()
                    .map(|l| l.media_type.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        if package_layer.size < 0 || package_layer.size as u64 > max_bytes {
            return Err(Error::Oci {
                reference: reference_text.to_owned(),
                reason: format!(
                    "the package layer is larger than {} MiB; refusing it",
                    max_bytes >> 20
                ),
            });
        }
        let digest: Digest = package_layer.digest.parse().map_err(|e| Error::Oci {
            reference: reference_text.to_owned(),
            reason: format!("the package layer's digest: {e}"),
        })?;
        let mut package = Vec::new();
        client
            .pull_blob(&reference, package_layer, &mut package)
            .await
            .map_err(|e| oci_err(reference_text, login, e))?;
        let signature = match manifest.layers.iter().find(|l| is_signature(l)) {
            Some(layer) if layer.size <= 4096 => {
                let mut sig = Vec::new();
                client
                    .pull_blob(&reference, layer, &mut sig)
                    .await
                    .map_err(|e| oci_err(reference_text, login, e))?;
                Some(String::from_utf8_lossy(&sig).into_owned())
            }
            _ => None,
        };
        Ok(Pulled {
            package,
            digest,
            signature,
        })
    }

    /// Pushes a package (and its signature) to `reference` (`host/path:tag`); returns the
    /// manifest URL.
    pub(crate) async fn push(
        &self,
        reference_text: &str,
        package: &[u8],
        signature: Option<&str>,
        id: &str,
        version: &Version,
        login: &Login,
    ) -> Result<String> {
        let reference = parse_ref(reference_text)?;
        let client = self.client(reference.registry());
        let title = |name: String| Some(BTreeMap::from([(TITLE.to_owned(), name)]));
        let format = Format::detect(package).unwrap_or_default();
        let file = format!("{id}-{version}.{}", format.extension());
        let media_type = match format {
            Format::Gzip => PACKAGE_MEDIA_TYPE,
            Format::Zstd => PACKAGE_ZSTD_MEDIA_TYPE,
        };
        let mut layers = vec![ImageLayer::new(
            package.to_vec(),
            media_type.to_owned(),
            title(file.clone()),
        )];
        if let Some(sig) = signature {
            layers.push(ImageLayer::new(
                sig.as_bytes().to_vec(),
                SIGNATURE_MEDIA_TYPE.to_owned(),
                title(format!("{file}.minisig")),
            ));
        }
        let config = Config::new(
            serde_json::to_vec(&serde_json::json!({"id": id, "version": version.to_string()}))
                .unwrap_or_default(),
            CONFIG_MEDIA_TYPE.to_owned(),
            None,
        );
        let mut manifest = OciImageManifest::build(&layers, &config, None);
        manifest.artifact_type = Some(ARTIFACT_TYPE.to_owned());
        let pushed = client
            .push(&reference, &layers, config, &login.auth, Some(manifest))
            .await
            .map_err(|e| oci_err(reference_text, login, e))?;
        Ok(pushed.manifest_url)
    }
}

fn title(l: &OciDescriptor) -> &str {
    l.annotations
        .as_ref()
        .and_then(|a| a.get(TITLE))
        .map_or("", String::as_str)
}

fn is_signature(l: &OciDescriptor) -> bool {
    l.media_type == SIGNATURE_MEDIA_TYPE || title(l).ends_with(".minisig")
}

fn pick_package(layers: &[OciDescriptor]) -> Option<&OciDescriptor> {
    layers
        .iter()
        .find(|l| l.media_type == PACKAGE_MEDIA_TYPE || l.media_type == PACKAGE_ZSTD_MEDIA_TYPE)
        .or_else(|| {
            layers
                .iter()
                .find(|l| Format::from_file_name(title(l)).is_some())
        })
        .or_else(|| {
            let rest: Vec<_> = layers.iter().filter(|l| !is_signature(l)).collect();
            (rest.len() == 1).then(|| rest[0])
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        for h in ["localhost:5000", "127.0.0.1:5000", "127.0.0.1", "[::1]:80"] {
            assert!(super::is_loopback(h), "{h}");
        }
        assert!(!super::is_loopback("ghcr.io"));
        assert!(!super::is_loopback("example.com:5000"));
    }
}
