//! `plugboard call`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;
use plugboard::PluginState;

use super::{build_host, config_path, control, read_input};
use crate::progress::StartProgress;
use crate::{Failure, Outcome, Register};

/// Arguments of `call`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plugin's id.
    id: String,
    /// The method to call; with --proto, `Service/Method` of the plugin's own gRPC service.
    method: String,
    /// Call a method of a process plugin's own gRPC service, described by this .proto file,
    /// with --input as JSON (as grpcurl does); the answer is printed as JSON.
    #[arg(long, value_name = "FILE")]
    proto: Option<PathBuf>,
    /// A directory the .proto file's imports are relative to (repeatable).
    #[arg(long, value_name = "DIR", requires = "proto")]
    import_path: Vec<PathBuf>,
    /// The payload, passed as these exact bytes.
    #[arg(long, conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the payload from this file, unchanged.
    #[arg(long, value_name = "FILE")]
    input_file: Option<PathBuf>,
    /// Print a JSON object: {plugin, method, ok, output | error}.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: Args, global: Option<PathBuf>, register: Register) -> Outcome {
    let path = config_path(None, global)?;
    let payload = read_input(args.input.clone(), args.input_file.clone())?;
    if let Some(proto) = args.proto.clone() {
        return call_proto(&args, &path, &proto, &payload, register).await;
    }
    let request = control::Request::Call {
        id: args.id.clone(),
        method: args.method.clone(),
        payload,
        json: args.json,
    };
    if let Some(done) = control::forward(&path, &request) {
        return done;
    }
    let control::Request::Call { payload, .. } = request else {
        unreachable!("built above as a call")
    };
    let host = build_host(&path, register)?;
    if host.descriptor(&args.id).is_none() {
        return Err(Failure::Input(anyhow!(
            "no plugin {:?} in this host; `plugboard list` shows the plugins it knows",
            args.id
        )));
    }
    let progress = StartProgress::begin(&host, "starting");
    let state = host.start_plugin(&args.id).await;
    progress.finish().await;
    let state = state.map_err(|e| Failure::Runtime(anyhow!(e)))?;
    let result = if state == PluginState::Active {
        host.call(&args.id, &args.method, &payload)
            .await
            .map_err(|e| anyhow!(e))
    } else {
        let reason = host
            .status(&args.id)
            .and_then(|s| s.reason)
            .unwrap_or_default();
        Err(anyhow!("plugin {} is {state}: {reason}", args.id))
    };
    host.stop().await;
    write_result(
        &args.id,
        &args.method,
        result,
        args.json,
        &mut std::io::stdout().lock(),
    )
}

/// `call ID Service/Method --proto FILE --input JSON`: starts the plugin, calls the method of
/// its own gRPC server with a message built from the JSON, and prints the answer as JSON.
async fn call_proto(
    args: &Args,
    config: &std::path::Path,
    proto: &std::path::Path,
    payload: &[u8],
    register: Register,
) -> Outcome {
    use plugboard::process::DynamicMethod;
    let method = DynamicMethod::find(proto, &args.import_path, &args.method)
        .map_err(|e| Failure::Input(anyhow!(e)))?;
    let input = std::str::from_utf8(payload)
        .map_err(|_| Failure::Input(anyhow!("--input must be JSON text for --proto")))?
        .to_owned();
    let host = build_host(config, register)?;
    if host.descriptor(&args.id).is_none() {
        return Err(Failure::Input(anyhow!(
            "no plugin {:?} in this host; `plugboard list` shows the plugins it knows",
            args.id
        )));
    }
    let state = host
        .start_plugin(&args.id)
        .await
        .map_err(|e| Failure::Runtime(anyhow!(e)))?;
    let result = match super::process_runtime().grpc_channel(&args.id) {
        _ if state != PluginState::Active => {
            let reason = host
                .status(&args.id)
                .and_then(|s| s.reason)
                .unwrap_or_default();
            Err(anyhow!("plugin {} is {state}: {reason}", args.id))
        }
        None => Err(anyhow!(
            "plugin {} is not a process plugin on the grpc protocol; --proto calls a go-plugin plugin's own gRPC service",
            args.id
        )),
        Some(channel) => method
            .call_json(channel, &input, std::time::Duration::from_secs(30))
            .await
            .map(|mut out| {
                out.push('\n');
                out.into_bytes()
            })
            .map_err(|e| anyhow!(e)),
    };
    host.stop().await;
    write_result(
        &args.id,
        &args.method,
        result,
        args.json,
        &mut std::io::stdout().lock(),
    )
}

/// Calls `method` of plugin `id` on a running host (started lazily if it is lazy), writing the
/// result to `o` as `call` does.
pub(crate) async fn render(
    host: &plugboard::Host,
    id: &str,
    method: &str,
    payload: &[u8],
    json: bool,
    o: &mut (dyn Write + Send),
) -> Outcome {
    if host.descriptor(id).is_none() {
        return Err(Failure::Input(anyhow!(
            "no plugin {id:?} in the running host; `plugboard list` shows the plugins it knows"
        )));
    }
    let result = host.call(id, method, payload).await.map_err(|e| anyhow!(e));
    write_result(id, method, result, json, o)
}

fn write_result(
    id: &str,
    method: &str,
    result: anyhow::Result<Vec<u8>>,
    json: bool,
    o: &mut dyn Write,
) -> Outcome {
    let args = (id, method);
    if json {
        let body = match &result {
            Ok(out) => serde_json::json!({
                "plugin": args.0,
                "method": args.1,
                "ok": true,
                "output": serde_json::from_slice::<serde_json::Value>(out)
                    .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(out).into_owned())),
            }),
            Err(e) => serde_json::json!({
                "plugin": args.0,
                "method": args.1,
                "ok": false,
                "error": format!("{e:#}"),
            }),
        };
        let _ = writeln!(o, "{body}");
        return result.map(drop).map_err(Failure::Runtime);
    }
    let out = result.map_err(Failure::Runtime)?;
    o.write_all(&out)
        .and_then(|()| o.flush())
        .map_err(|e| Failure::Runtime(anyhow!("cannot write the result: {e}")))
}
