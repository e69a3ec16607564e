//! The control socket of a running host: `plugboard list`, `info` and `call` ask the host that
//! `plugboard run` serves, when there is one, instead of starting their own.
//!
//! The socket is `control.sock` in the host's state directory, readable and writable by its
//! owner only. One request per connection: a JSON object on one line; the answer is a JSON
//! object on one line with the command's exit code, standard output (as bytes) and error
//! message. A second `plugboard run` on the same state directory finds the socket answering and
//! refuses to start (the two would share storage and logs).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use plugboard::manifest::HostConfig;
use plugboard::Host;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::{Failure, Outcome};

/// The socket's file name in the state directory.
pub(crate) const SOCKET: &str = "control.sock";

/// The longest request the host reads: a `call` payload up to 16 MiB, JSON-encoded.
const MAX_REQUEST: u64 = 64 << 20;

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    List {
        json: bool,
    },
    Info {
        id: String,
        json: bool,
    },
    Call {
        id: String,
        method: String,
        payload: Vec<u8>,
        json: bool,
    },
}

/// What the host answers.
#[derive(Debug, Serialize, Deserialize)]
struct Response {
    /// The exit code the command has (0, 1 or 2).
    code: u8,
    stdout: Vec<u8>,
    /// The error, when `code` is not 0.
    error: Option<String>,
    /// The host's process id, for the client's note.
    pid: u32,
}

/// The control socket's path for the host configured by `config`, without building the host.
pub(crate) fn socket_for_config(config: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(config).ok()?;
    let mut cfg = HostConfig::from_yaml_str(&text, &config.display().to_string()).ok()?;
    let base = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    cfg.resolve_paths(&std::path::absolute(&base).unwrap_or(base));
    Some(cfg.state_dir?.join(SOCKET))
}

/// Sends `request` to the host running with `config`, if one is, and replays its answer:
/// `Some(outcome)` when a running host answered, `None` when none runs (the caller then
/// builds its own host).
pub(crate) fn forward(config: &Path, request: &Request) -> Option<Outcome> {
    let socket = socket_for_config(config)?;
    let stream = StdUnixStream::connect(&socket).ok()?;
    Some(exchange(stream, request))
}

fn exchange(mut stream: StdUnixStream, request: &Request) -> Outcome {
    let line = serde_json::to_string(request).map_err(|e| Failure::Runtime(e.into()))?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| Failure::Runtime(anyhow!("the running host's control socket: {e}")))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| Failure::Runtime(anyhow!("the running host's control socket: {e}")))?;
    let response: Response = serde_json::from_str(&answer).map_err(|e| {
        Failure::Runtime(anyhow!(
            "the running host sent an answer this plugboard does not understand ({e}); are both the same version?"
        ))
    })?;
    eprintln!("(answered by the running host, pid {})", response.pid);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&response.stdout);
    let _ = stdout.flush();
    let error = || anyhow!(response.error.clone().unwrap_or_default());
    match response.code {
        0 => Ok(()),
        2 => Err(Failure::Input(error())),
        _ => Err(Failure::Runtime(error())),
    }
}

/// A running control socket; dropping it stops serving and removes the file.
#[derive(Debug)]
pub(crate) struct ControlServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Serves `host`'s control socket in its state directory.
///
/// # Errors
/// When another host already answers on that socket, or the socket cannot be created.
pub(crate) fn serve(host: &Host) -> Result<ControlServer, Failure> {
    let path = host.state_dir().join(SOCKET);
    if StdUnixStream::connect(&path).is_ok() {
        return Err(Failure::Input(anyhow!(
            "another plugboard host is already running with the state directory {}; stop it first, or give this one another state_dir",
            host.state_dir().display()
        )));
    }
    // A socket file left by a host that died: nobody answers on it.
    let _ = std::fs::remove_file(&path);
    std::fs::create_dir_all(host.state_dir()).map_err(|e| {
        Failure::Runtime(anyhow!("cannot create {}: {e}", host.state_dir().display()))
    })?;
    let listener = tokio::net::UnixListener::bind(&path).map_err(|e| {
        Failure::Runtime(anyhow!(
            "cannot create the control socket {}: {e}",
            path.display()
        ))
    })?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Failure::Runtime(anyhow!("cannot restrict {}: {e}", path.display())))?;
    }
    let host = host.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let host = host.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(&host, stream).await {
                    tracing::debug!("control socket: {e}");
                }
            });
        }
    });
    Ok(ControlServer { path, task })
}

async fn answer(host: &Host, stream: tokio::net::UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    // An oversize request is cut at the limit, and then is not valid JSON: refused below.
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::other("no request within 10 s"))??;
    let mut stdout = Vec::new();
    let outcome = match serde_json::from_str::<Request>(&line) {
        Ok(request) => run(host, request, &mut stdout).await,
        Err(e) => Err(Failure::Input(anyhow!("not a control request: {e}"))),
    };
    let (code, error) = match outcome {
        Ok(()) => (0, None),
        Err(Failure::Input(e)) => (2, Some(format!("{e:#}"))),
        Err(Failure::Runtime(e)) => (1, Some(format!("{e:#}"))),
    };
    let response = Response {
        code,
        stdout,
        error,
        pid: std::process::id(),
    };
    let mut bytes = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    write.shutdown().await
}

async fn run(host: &Host, request: Request, out: &mut Vec<u8>) -> Outcome {
    match request {
        Request::List { json } => super::list::render(&host.statuses(), json, out),
        Request::Info { id, json } => super::info::render(host, &id, json, out),
        Request::Call {
            id,
            method,
            payload,
            json,
        } => super::call::render(host, &id, &method, &payload, json, out).await,
    }
}
