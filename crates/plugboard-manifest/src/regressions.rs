//! The fuzzers' seed corpus and crash reproducers, replayed on stable Rust, and the examples of
//! the reference documentation.
//!
//! `fuzz/corpus/<target>/` holds a few valid documents that seed the fuzzers, and
//! `fuzz/artifacts/<target>/` (when present) the inputs that once crashed a target. Each file
//! goes through the same steps as the fuzz targets, so that a fixed crash stays fixed without a
//! nightly toolchain.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{is_bare_artifact_name, HostConfig, Manifest};

/// What the `manifest` fuzz target does with its input.
pub(crate) fn exercise_manifest(text: &str) {
    if let Ok(manifest) = Manifest::from_yaml_str(text, "fuzz.yaml") {
        let written = manifest.to_yaml_string();
        match Manifest::from_yaml_str(&written, "written.yaml") {
            Ok(again) => assert_eq!(again, manifest, "round trip changed it:\n{written}"),
            Err(e) => panic!("a written manifest does not parse back:\n{written}\n{e}"),
        }
    }
    let first_line = text.lines().next().unwrap_or_default();
    if let Ok(manifest) = Manifest::for_bare_artifact(first_line) {
        assert!(is_bare_artifact_name(first_line));
        manifest
            .validate(first_line)
            .expect("bare-artifact defaults are valid");
    }
}

/// What the `host_config` fuzz target does with its input.
pub(crate) fn exercise_host_config(text: &str) {
    if let Ok(config) = HostConfig::from_yaml_str(text, "fuzz.yaml") {
        let written = config.to_yaml_string();
        match HostConfig::from_yaml_str(&written, "written.yaml") {
            Ok(again) => assert_eq!(again, config, "round trip changed it:\n{written}"),
            Err(e) => panic!("a written configuration does not parse back:\n{written}\n{e}"),
        }
    }
}

/// The complete examples of the reference pages: the first `yaml` block of
/// `docs/manifest.md`, the first two of `docs/config.md`.
#[test]
fn documented_examples_parse() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let blocks = |page: &str| -> Vec<String> {
        let Ok(text) = fs::read_to_string(docs.join(page)) else {
            eprintln!("no {page} beside the crate");
            return Vec::new();
        };
        text.split("```yaml\n")
            .skip(1)
            .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_owned()))
            .collect()
    };
    if let Some(example) = blocks("manifest.md").first() {
        if let Err(e) = Manifest::from_yaml_str(example, "docs/manifest.md") {
            panic!("{e}");
        }
    }
    for example in blocks("config.md").iter().take(2) {
        if let Err(e) = HostConfig::from_yaml_str(example, "docs/config.md") {
            panic!("{e}");
        }
    }
    // The examples of `platforms:` and `sources:`, which are complete documents too.
    for example in blocks("manifest.md")
        .iter()
        .filter(|b| b.starts_with("id:") && b.contains("platforms:"))
    {
        if let Err(e) = Manifest::from_yaml_str(example, "docs/manifest.md") {
            panic!("{e}");
        }
    }
    for example in blocks("config.md")
        .iter()
        .filter(|b| b.starts_with("sources:"))
    {
        if let Err(e) = HostConfig::from_yaml_str(example, "docs/config.md") {
            panic!("{e}");
        }
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn seed_corpus_documents_are_valid() {
    let corpus = fuzz_dir().join("corpus");
    let mut seen = 0;
    for path in files_in(&corpus.join("manifest")) {
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = fs::read_to_string(&path).unwrap();
            if let Err(e) = Manifest::from_yaml_str(&text, &path.display().to_string()) {
                panic!("{e}");
            }
            seen += 1;
        }
    }
    for path in files_in(&corpus.join("host_config")) {
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = fs::read_to_string(&path).unwrap();
            if let Err(e) = HostConfig::from_yaml_str(&text, &path.display().to_string()) {
                panic!("{e}");
            }
            seen += 1;
        }
    }
    // The corpus lives outside the crate: say so rather than pass on an empty directory when
    // the crate is built from a package without it.
    if seen == 0 {
        eprintln!("no seed corpus under {}", corpus.display());
    }
}

#[test]
fn corpus_and_crash_reproducers_do_not_panic() {
    let fuzz = fuzz_dir();
    for kind in ["corpus", "artifacts"] {
        for target in ["manifest", "host_config"] {
            for path in files_in(&fuzz.join(kind).join(target)) {
                let bytes = fs::read(&path).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                eprintln!("replaying {}", path.display());
                exercise_manifest(&text);
                exercise_host_config(&text);
            }
        }
    }
}
