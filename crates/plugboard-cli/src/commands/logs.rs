//! `plugboard logs`.

use std::path::PathBuf;

use anyhow::anyhow;

use super::{build_host, config_path};
use crate::{Failure, Outcome, Register};

/// Arguments of `logs`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plugin's id.
    id: String,
}

pub(crate) fn run(args: Args, global: Option<PathBuf>, register: Register) -> Outcome {
    let path = config_path(None, global)?;
    let host = build_host(&path, register)?;
    if host.descriptor(&args.id).is_none() {
        return Err(Failure::Input(anyhow!(
            "no plugin {:?} in this host; `plugboard list` shows the plugins it knows",
            args.id
        )));
    }
    match host.read_log(&args.id) {
        Ok(text) => {
            print!("{text}");
            Ok(())
        }
        Err(plugboard::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            eprintln!(
                "{} has not written a log yet (looked in {})",
                args.id,
                host.log_dir().display()
            );
            Ok(())
        }
        Err(e) => Err(Failure::Runtime(anyhow!(e))),
    }
}
