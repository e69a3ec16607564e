//! Plain-text tables and status lines.

use plugboard::PluginStatus;

/// Renders rows as left-aligned columns separated by two spaces.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// The status table of `run` and `list`, followed by the reasons of disabled and failed
/// plugins and other notes.
pub(crate) fn status_table(statuses: &[PluginStatus], with_source: bool) -> String {
    let mut header = vec!["ID", "VERSION", "RUNTIME", "STATE", "HEALTH", "START"];
    if with_source {
        header.push("SOURCE");
    }
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|s| {
            let mut r = vec![
                s.id.clone(),
                s.version.clone().unwrap_or_else(|| "-".into()),
                match (&s.runtime, s.bare) {
                    (Some(r), true) => format!("{r} (bare)"),
                    (Some(r), false) => r.clone(),
                    (None, _) => "-".into(),
                },
                s.state.to_string(),
                s.health.map_or_else(|| "-".into(), |h| h.to_string()),
                s.start_ms
                    .map_or_else(|| "-".into(), |ms| format!("{ms:.1}ms")),
            ];
            if with_source {
                r.push(format!("{} {}", s.origin, s.source));
            }
            r
        })
        .collect();
    let mut out = table(&header, &rows);
    let notes: Vec<String> = statuses
        .iter()
        .flat_map(|s| {
            let mut n = Vec::new();
            if let Some(r) = &s.reason {
                n.push(format!("{} ({}): {}", s.id, s.state, r.replace('\n', "\n    ")));
            }
            if s.bare {
                n.push(format!(
                    "{}: a bare artifact with no plugin.yaml; described by defaults (version 0.0.0, no permissions)",
                    s.id
                ));
            }
            n.extend(s.shadowed.iter().map(|sh| format!("{}: {sh}", s.id)));
            n.extend(s.warnings.iter().map(|w| format!("{}: warning: {w}", s.id)));
            if let (Some(h), Some(m)) = (s.health, &s.health_message) {
                n.push(format!("{}: {h}: {m}", s.id));
            }
            n
        })
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}
