//! `sdk/c/plugboard.h` and the Rust declarations agree: a C program compiled against the
//! header prints the size and field offsets of each struct, which must equal Rust's.

use std::mem::{offset_of, size_of};
use std::process::Command;

use plugboard_native::abi::{Buf, HostTable, PluginDescriptor, Str, ABI_VERSION, ENTRY_SYMBOL};

use crate::plugins::workspace;

#[test]
fn the_header_and_the_rust_declarations_have_the_same_layout() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("layout.c");
    std::fs::write(
        &src,
        r#"#include <stdio.h>
#include <stddef.h>
#include "plugboard.h"
#define F(T, f) printf("%zu ", offsetof(T, f));
int main(void) {
    printf("%u %s ", PLUGBOARD_ABI_VERSION, PLUGBOARD_ENTRY_SYMBOL);
    printf("%zu %zu %zu %zu ", sizeof(PlugboardStr), sizeof(PlugboardBuf), sizeof(PlugboardHost), sizeof(PlugboardPlugin));
    F(PlugboardBuf, cap)
    F(PlugboardHost, ctx) F(PlugboardHost, log) F(PlugboardHost, config) F(PlugboardHost, storage_get)
    F(PlugboardHost, storage_put) F(PlugboardHost, storage_delete) F(PlugboardHost, publish)
    F(PlugboardHost, report_health) F(PlugboardHost, call) F(PlugboardHost, free) F(PlugboardHost, reserve)
    F(PlugboardPlugin, id) F(PlugboardPlugin, version) F(PlugboardPlugin, boot) F(PlugboardPlugin, start)
    F(PlugboardPlugin, stop) F(PlugboardPlugin, call) F(PlugboardPlugin, destroy)
    return 0;
}
"#,
    )
    .unwrap();
    let exe = dir.path().join("layout");
    let status = Command::new("cc")
        .arg("-I")
        .arg(workspace().join("sdk/c"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let out = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    let rust = [
        ABI_VERSION.to_string(),
        ENTRY_SYMBOL.to_owned(),
        size_of::<Str>().to_string(),
        size_of::<Buf>().to_string(),
        size_of::<HostTable>().to_string(),
        size_of::<PluginDescriptor>().to_string(),
        offset_of!(Buf, cap).to_string(),
        offset_of!(HostTable, ctx).to_string(),
        offset_of!(HostTable, log).to_string(),
        offset_of!(HostTable, config).to_string(),
        offset_of!(HostTable, storage_get).to_string(),
        offset_of!(HostTable, storage_put).to_string(),
        offset_of!(HostTable, storage_delete).to_string(),
        offset_of!(HostTable, publish).to_string(),
        offset_of!(HostTable, report_health).to_string(),
        offset_of!(HostTable, call).to_string(),
        offset_of!(HostTable, free).to_string(),
        offset_of!(HostTable, reserve).to_string(),
        offset_of!(PluginDescriptor, id).to_string(),
        offset_of!(PluginDescriptor, version).to_string(),
        offset_of!(PluginDescriptor, boot).to_string(),
        offset_of!(PluginDescriptor, start).to_string(),
        offset_of!(PluginDescriptor, stop).to_string(),
        offset_of!(PluginDescriptor, call).to_string(),
        offset_of!(PluginDescriptor, destroy).to_string(),
    ]
    .join(" ");
    assert_eq!(out.trim(), rust);
}
