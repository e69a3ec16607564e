//! The WASI sandbox of a plugin, deny by default: exactly the effective `permissions` (the
//! manifest's request narrowed by the host's `grant`), and nothing else.
//!
//! - `fs.read` / `fs.write`: each directory (relative to the plugin's directory) is preopened
//!   under the same name, read-only or read-write. Nothing else of the file system exists for
//!   the guest.
//! - `env`: only the listed variables, with the host's values.
//! - `net`: TCP connections only to the listed `host:port` pairs (resolved when the plugin
//!   loads); every other address is refused, and the refusal is logged in the plugin's log
//!   with the permission that would allow it. No listening sockets, no UDP.
//! - Clocks and randomness are always available; stdin is empty; stdout and stderr are
//!   discarded.

use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use plugboard_core::manifest::{LogLevel, Permissions};
use plugboard_core::HostApi;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::LoadError;

/// The sandbox of one plugin, computed once at load; each new instance gets a context built
/// from it.
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    dirs: Vec<(std::path::PathBuf, String, FsPerms)>,
    env: Vec<(String, String)>,
    net: Option<Arc<HashSet<SocketAddr>>>,
    host: HostApi,
}

fn guest_name(dir: &str) -> String {
    let trimmed = dir.trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        ".".to_owned()
    } else {
        trimmed.to_owned()
    }
}

impl Sandbox {
    /// The sandbox for `perms`, with directories relative to `plugin_dir`.
    pub(crate) fn new(
        host: &HostApi,
        perms: &Permissions,
        plugin_dir: &Path,
    ) -> Result<Self, LoadError> {
        let plugin = host.id().to_string();
        let mut dirs = Vec::new();
        for (list, mode) in [
            (&perms.fs.write, FsPerms::ReadWrite),
            (&perms.fs.read, FsPerms::ReadOnly),
        ] {
            for d in list {
                let name = guest_name(d);
                if dirs.iter().any(|(_, n, _)| *n == name) {
                    continue; // read-write wins over read-only for the same directory
                }
                let path = plugin_dir.join(&name);
                if !path.is_dir() {
                    return Err(LoadError::Sandbox {
                        plugin,
                        message: format!(
                            "`permissions.fs` grants {d:?}, but {} is not a directory; create it or remove the entry",
                            path.display()
                        ),
                    });
                }
                dirs.push((path, name, mode));
            }
        }
        let env = perms
            .env
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
            .collect();
        let net = if perms.net.is_empty() {
            None
        } else {
            let mut allowed = HashSet::new();
            for entry in &perms.net {
                match entry.to_socket_addrs() {
                    Ok(addrs) => allowed.extend(addrs),
                    Err(e) => host.log(
                        LogLevel::Warning,
                        &format!("`permissions.net` entry {entry:?} does not resolve ({e}); connections to it will be refused"),
                    ),
                }
            }
            Some(Arc::new(allowed))
        };
        Ok(Self {
            dirs,
            env,
            net,
            host: host.clone(),
        })
    }

    /// A WASI context builder configured with this sandbox.
    pub(crate) fn builder(&self) -> Result<WasiCtxBuilder, LoadError> {
        let mut b = WasiCtxBuilder::new();
        for (path, name, mode) in &self.dirs {
            b.preopened_dir(path, name, *mode)
                .map_err(|e| LoadError::Sandbox {
                    plugin: self.host.id().to_string(),
                    message: format!("cannot open {} for `permissions.fs`: {e}", path.display()),
                })?;
        }
        for (k, v) in &self.env {
            b.env(k, v);
        }
        let allowed = self.net.clone();
        let host = self.host.clone();
        b.allow_tcp(allowed.is_some())
            .allow_udp(false)
            .allow_ip_name_lookup(allowed.is_some());
        b.socket_addr_check(move |addr, use_| {
            let ok = match use_ {
                // `connect` binds implicitly to the wildcard address first.
                SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                SocketAddrUse::TcpConnect => allowed.as_ref().is_some_and(|a| a.contains(&addr)),
                _ => false,
            };
            if !ok && !matches!(use_, SocketAddrUse::TcpBind) {
                host.log(
                    LogLevel::Warning,
                    &format!(
                        "denied: {use_:?} to {addr}; add \"{addr}\" (or its host name and port) to `permissions.net` in plugin.yaml to allow it"
                    ),
                );
            }
            Box::pin(async move { ok })
        });
        Ok(b)
    }

    /// One line for the plugin's log describing what the sandbox grants.
    pub(crate) fn describe(&self) -> String {
        let dirs: Vec<String> = self
            .dirs
            .iter()
            .map(|(_, n, m)| {
                format!(
                    "{n} ({})",
                    if *m == FsPerms::ReadOnly {
                        "read"
                    } else {
                        "read-write"
                    }
                )
            })
            .collect();
        format!(
            "sandbox: fs [{}] (other paths need `permissions.fs`), env [{}] (others need `permissions.env`), net {} (others need `permissions.net`)",
            dirs.join(", "),
            self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", "),
            self.net.as_ref().map_or_else(|| "none".to_owned(), |a| format!("{} address(es)", a.len()))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::guest_name;

    #[test]
    fn granted_directories_keep_their_name_in_the_guest() {
        assert_eq!(guest_name("data/"), "data");
        assert_eq!(guest_name("data/cache//"), "data/cache");
        assert_eq!(guest_name("./"), ".");
        assert_eq!(guest_name(""), ".");
    }
}
