//! Arbitrary bytes into the package reader (gzip or zstd by magic bytes, tar, the safety
//! checks, plugin.yaml).
//!
//! It may refuse anything, but never panic, and never write outside its destination: every
//! file it leaves must be inside the temporary directory it was given.
//!
//! Each input goes in twice: as it is (so zstd and gzip frames reach their decoders, with
//! seeds of both in `corpus/archive`), and as the plain tar inside a zstd frame made here, so
//! that the fuzzer's mutations of tar structure are also read through the zstd path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugboard_registry::{unpack, Limits};

fn check(bytes: &[u8]) {
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
    let _ = unpack(bytes, &dest, limits, "fuzz.tar.zst");
    let names: Vec<_> = std::fs::read_dir(root.path())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["pkg"], "the package wrote outside its destination");
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() <= 1 << 20 {
        let framed =
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest);
        check(&framed);
    }
});
