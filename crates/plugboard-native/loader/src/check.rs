//! What can be checked without running plugin code: the file exists, matches `integrity:`,
//! and is a shared library for this machine.

use std::fs;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{LibrarySpec, LoadError};

/// Reads the whole entry, checks its digest and header, and returns its bytes: the bytes that
/// were checked are the bytes that get loaded, so the file cannot change in between.
pub(crate) fn read_verified(spec: &LibrarySpec) -> Result<Vec<u8>, LoadError> {
    let (plugin, path) = (spec.plugin.clone(), spec.path());
    exists(spec)?;
    let bytes = fs::read(path).map_err(|source| LoadError::Io {
        plugin: plugin.clone(),
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    check_header(&plugin, path, &bytes)?;
    check_integrity(spec, &bytes)?;
    Ok(bytes)
}

/// The cheap check for `plugboard list` and `validate`: existence, the ELF header, and the digest.
pub(crate) fn check(spec: &LibrarySpec) -> Result<(), LoadError> {
    exists(spec)?;
    let (plugin, path) = (spec.plugin.clone(), spec.path.clone());
    let io = |source| LoadError::Io {
        plugin: plugin.clone(),
        action: "read",
        path: path.clone(),
        source,
    };
    let mut header = Vec::with_capacity(64);
    fs::File::open(&path)
        .and_then(|f| f.take(64).read_to_end(&mut header))
        .map_err(io)?;
    check_header(&plugin, &path, &header)?;
    if spec.sha256.is_some() {
        read_verified(spec)?;
    }
    Ok(())
}

fn exists(spec: &LibrarySpec) -> Result<(), LoadError> {
    if !spec.path.is_file() {
        return Err(LoadError::Missing {
            plugin: spec.plugin.clone(),
            path: spec.path.clone(),
        });
    }
    Ok(())
}

fn check_integrity(spec: &LibrarySpec, bytes: &[u8]) -> Result<(), LoadError> {
    let Some(expected) = &spec.sha256 else {
        return Ok(());
    };
    let actual = hex::encode(Sha256::digest(bytes));
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(LoadError::Integrity {
            plugin: spec.plugin.clone(),
            path: spec.path.clone(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

/// The ELF machine number of this build's architecture, if it is one we know.
fn host_machine() -> Option<u16> {
    Some(match std::env::consts::ARCH {
        "x86" => 3,
        "arm" => 40,
        "x86_64" => 62,
        "aarch64" => 183,
        "riscv64" | "riscv32" => 243,
        "powerpc64" => 21,
        "s390x" => 22,
        "loongarch64" => 258,
        _ => return None,
    })
}

fn machine_name(machine: u16) -> String {
    match machine {
        3 => "x86".to_owned(),
        40 => "arm".to_owned(),
        62 => "x86_64".to_owned(),
        183 => "aarch64".to_owned(),
        243 => "riscv".to_owned(),
        21 => "powerpc64".to_owned(),
        22 => "s390x".to_owned(),
        258 => "loongarch64".to_owned(),
        other => format!("ELF machine {other}"),
    }
}

/// Checks the ELF header: magic, word size, byte order, type and machine. A mismatch found
/// here reads better than what `dlopen` says about it ("wrong ELF class", "invalid ELF header").
fn check_header(plugin: &str, path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let refuse = |reason: String| LoadError::Format {
        plugin: plugin.to_owned(),
        path: path.to_owned(),
        reason,
    };
    if !cfg!(target_os = "linux") {
        // Mach-O and PE are not checked here; `dlopen`/`LoadLibrary` report on them.
        return Ok(());
    }
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return Err(refuse("it is not an ELF file".to_owned()));
    }
    let class = if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    };
    if bytes[4] != class {
        return Err(refuse(format!(
            "it is a {}-bit library and this host is {}-bit",
            if bytes[4] == 1 { 32 } else { 64 },
            if class == 1 { 32 } else { 64 }
        )));
    }
    let little = cfg!(target_endian = "little");
    if (bytes[5] == 1) != little {
        return Err(refuse("its byte order is not this machine's".to_owned()));
    }
    let word = |at: usize| {
        let pair = [bytes[at], bytes[at + 1]];
        if little {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    };
    const ET_DYN: u16 = 3;
    if word(16) != ET_DYN {
        return Err(refuse(
            "it is an executable or object file, not a shared library (build a cdylib, or link with -shared)"
                .to_owned(),
        ));
    }
    let machine = word(18);
    if let Some(expected) = host_machine() {
        if machine != expected {
            return Err(refuse(format!(
                "it was built for {} and this host is {}",
                machine_name(machine),
                machine_name(expected)
            )));
        }
    }
    Ok(())
}
