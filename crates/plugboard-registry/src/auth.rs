//! Credentials for OCI registries: from a source's `auth:` in `config.yaml` (whose secrets are
//! environment variables), else from Docker's `config.json` (`docker login` writes it), else
//! none.
//!
//! Basic credentials also serve the distribution registry's token flow: when the registry
//! answers with a `Bearer` challenge, `oci-client` trades them for a token at the realm it
//! names; a `Basic` challenge gets them as they are.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use oci_client::secrets::RegistryAuth;
use plugboard_manifest::AuthConfig;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The credentials used for one registry, and where they came from (for error messages).
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub(crate) auth: RegistryAuth,
    from: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        let kind = match &self.auth {
            RegistryAuth::Anonymous => "anonymous",
            RegistryAuth::Basic(..) => "basic",
            RegistryAuth::Bearer(_) => "bearer",
        };
        f.debug_struct("Login")
            .field("kind", &kind)
            .field("from", &self.from)
            .finish()
    }
}

impl Default for Login {
    fn default() -> Self {
        Self::anonymous()
    }
}

impl Login {
    /// No credentials.
    pub fn anonymous() -> Self {
        Self {
            auth: RegistryAuth::Anonymous,
            from: String::new(),
        }
    }

    /// A user name and password (basic auth, or the registry's token exchange); `from` says
    /// where they came from in messages.
    pub fn basic(username: &str, password: &str, from: &str) -> Self {
        Self {
            auth: RegistryAuth::Basic(username.to_owned(), password.to_owned()),
            from: from.to_owned(),
        }
    }

    /// A bearer token, sent as it is.
    pub fn bearer(token: &str, from: &str) -> Self {
        Self {
            auth: RegistryAuth::Bearer(token.to_owned()),
            from: from.to_owned(),
        }
    }

    /// The credentials for `registry` (`host[:port]`): from `auth` (the source's `auth:`,
    /// which `at` names in messages, like `sources.corp.auth`), else from Docker's
    /// `config.json`, else none.
    ///
    /// # Errors
    /// An environment variable that `auth` names is not set, or Docker's `config.json` is not
    /// valid JSON.
    pub fn resolve(registry: &str, auth: Option<&AuthConfig>, at: &str) -> Result<Self> {
        match auth {
            Some(auth) => Self::from_config(auth, at),
            None => Ok(docker_login(registry)?.unwrap_or_default()),
        }
    }

    fn from_config(auth: &AuthConfig, at: &str) -> Result<Self> {
        let var = |key: &str, name: &str| -> Result<String> {
            match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(Error::Config(format!(
                    "{at}.{key}: the environment variable {name} is not set (or empty); export it \
                     with the secret before running plugboard"
                ))),
            }
        };
        if let Some(name) = &auth.token_env {
            let token = var("token_env", name)?;
            return Ok(Self::bearer(&token, &format!("{at} (token from ${name})")));
        }
        let user = match (&auth.username, &auth.username_env) {
            (Some(u), _) => u.clone(),
            (None, Some(name)) => var("username_env", name)?,
            (None, None) => {
                return Err(Error::Config(format!(
                    "{at}: no user name; add `username:` or `username_env:`"
                )))
            }
        };
        let Some(name) = &auth.password_env else {
            return Err(Error::Config(format!(
                "{at}: no password; add `password_env:` naming the environment variable that holds it"
            )));
        };
        let password = var("password_env", name)?;
        Ok(Self::basic(
            &user,
            &password,
            &format!("{at} (user {user}, password from ${name})"),
        ))
    }

    /// Whether these are no credentials at all.
    pub fn is_anonymous(&self) -> bool {
        self.auth == RegistryAuth::Anonymous
    }

    /// Where the credentials came from, for messages.
    pub fn origin(&self) -> &str {
        &self.from
    }
}

/// One entry of `auths` in Docker's `config.json`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct DockerAuth {
    /// base64 of `user:password`.
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// A registry token, sent as a bearer token.
    registrytoken: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DockerConfig {
    auths: BTreeMap<String, DockerAuth>,
}

/// Docker's `config.json`: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".docker").join("config.json"))
}

/// `host[:port]` of an `auths` key, which may be a bare host or a URL
/// (`https://index.docker.io/v1/`).
fn auths_host(key: &str) -> &str {
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Docker Hub goes by several names.
fn same_registry(a: &str, b: &str) -> bool {
    const HUB: [&str; 4] = [
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "registry.hub.docker.com",
    ];
    a.eq_ignore_ascii_case(b) || (HUB.contains(&a) && HUB.contains(&b))
}

/// The login `docker login` stored for `registry`, if any.
fn docker_login(registry: &str) -> Result<Option<Login>> {
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let config: DockerConfig = serde_json::from_slice(&text).map_err(|e| Error::Format {
        path: path.display().to_string(),
        reason: format!("not a Docker config.json: {e}"),
    })?;
    let Some(entry) = config
        .auths
        .iter()
        .find(|(k, _)| same_registry(auths_host(k), registry))
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    let from = format!("{} (auths.{registry})", path.display());
    if let Some(token) = entry.registrytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Login::bearer(token, &from)));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Login::basic(u, p, &format!("{from}, user {u}"))));
    }
    if let Some(encoded) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = crate::signature::base64_decode(encoded.trim())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| t.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
        let Some((user, password)) = decoded else {
            return Err(Error::Format {
                path: path.display().to_string(),
                reason: format!(
                    "auths.{registry}.auth is not base64 of `user:password`; run `docker login {registry}` again"
                ),
            });
        };
        return Ok(Some(Login::basic(
            &user,
            &password,
            &format!("{from}, user {user}"),
        )));
    }
    // An entry with only an identity token (an OAuth refresh token) or a credential helper's
    // placeholder: nothing plugboard can send.
    tracing::debug!(
        "{}: the entry for {registry} holds no user name and password",
        path.display()
    );
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_keys_are_hosts_or_urls() {
        assert_eq!(auths_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(auths_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(auths_host("http://ghcr.io"), "ghcr.io");
        assert!(same_registry("docker.io", "index.docker.io"));
        assert!(!same_registry("ghcr.io", "docker.io"));
    }

    #[test]
    fn a_login_never_prints_its_secret() {
        let l = Login::basic("u", "hunter2", "test");
        assert!(!format!("{l:?}").contains("hunter2"));
    }
}
