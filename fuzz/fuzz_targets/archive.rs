//! Arbitrary bytes into the package reader (gzip, tar, the safety checks, plugin.yaml).
//!
//! It may refuse anything, but never panic, and never write outside its destination: every
//! file it leaves must be inside the temporary directory it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugboard_registry::{unpack, Limits};

fuzz_target!(|data: &[u8]| {
    let Ok(root) = tempfile::tempdir() else {
        return;
    };
    let dest = root.path().join("pkg");
    if std::fs::create_dir(&dest).is_err() {
        return;
    }
    let limits = Limits {
        max_unpacked_bytes: 4 << 20,
        max_entries: 256,
    };
    let _ = unpack(data, &dest, limits, "fuzz.tar.gz");
    let names: Vec<_> = std::fs::read_dir(root.path())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["pkg"], "the package wrote outside its destination");
});
