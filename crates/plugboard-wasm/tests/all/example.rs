//! The example in examples/wasm-c: built from its C source as the README says, loaded from
//! its plugin directory, called.

use std::path::Path;
use std::process::Command;

use crate::support::{tool_missing, Fixture};

#[tokio::test(flavor = "multi_thread")]
async fn the_c_vowel_counter_example_builds_and_answers() {
    if tool_missing("clang", "apt-get install clang lld") {
        return;
    }
    let f = Fixture::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/wasm-c");
    let dir = f.plugin_dir("vowels");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root.join("plugins/vowels/plugin.yaml"),
        dir.join("plugin.yaml"),
    )
    .unwrap();
    let status = Command::new("clang")
        .args([
            "--target=wasm32",
            "-nostdlib",
            "-O2",
            "-Wl,--no-entry",
            "-o",
        ])
        .arg(dir.join("vowels.wasm"))
        .arg(root.join("vowels.c"))
        .status()
        .unwrap();
    assert!(status.success(), "clang failed on examples/wasm-c/vowels.c");
    let host = f.start().await;
    let line = "\"Plugboard runs WebAssembly\"";
    let vowels = line.chars().filter(|c| "aeiouAEIOU".contains(*c)).count();
    let reply = host.call("vowels", "count", line.as_bytes()).await.unwrap();
    assert_eq!(
        String::from_utf8(reply).unwrap(),
        format!("{{\"vowels\": {vowels}}}")
    );
    assert!(host
        .read_log("vowels")
        .unwrap()
        .contains("counted the vowels of a line"));
    host.stop().await;
}
