//! Every example plugin that declares a panel has a valid `ui:` section whose files exist
//! inside its directory.

use std::path::Path;

use plugboard::manifest::Manifest;

fn manifests(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("node_modules") && !path.ends_with(".plugboard") {
            manifests(&path, out);
        } else if path.file_name().is_some_and(|n| n == "plugin.yaml") {
            out.push(path);
        }
    }
}

#[test]
fn example_panels_are_declared_and_present() {
    let mut found = Vec::new();
    manifests(&crate::support::repo().join("examples"), &mut found);
    let mut panels = Vec::new();
    for path in found {
        let text = std::fs::read_to_string(&path).expect("read a manifest");
        let m = Manifest::from_yaml_str(&text, &path.display().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let Some(ui) = m.ui else { continue };
        let dir = path.parent().expect("a plugin directory");
        for file in [Some(&ui.entry), ui.icon.as_ref()].into_iter().flatten() {
            assert!(
                dir.join(file).is_file(),
                "{}: {file} is missing",
                path.display()
            );
        }
        panels.push(m.id.to_string());
    }
    panels.sort();
    assert_eq!(panels, ["text-tools", "vowels", "word-count", "word-stats"]);
}
