//! Properties over generated input: valid manifests survive a round trip through YAML, and no
//! input, however broken, makes a parser panic.

use std::collections::{BTreeMap, HashSet};

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use semver::{BuildMetadata, Prerelease, Version, VersionReq};
use serde_json::Value;

use crate::regressions::{exercise_host_config, exercise_manifest};
use crate::*;

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,15}"
}

fn plugin_id() -> impl Strategy<Value = PluginId> {
    id().prop_map(|s| PluginId::new(s).unwrap())
}

/// Names without surrounding blanks, so that none is empty after trimming.
fn name() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("blank", |s| !s.trim().is_empty())
}

fn version() -> impl Strategy<Value = Version> {
    (
        0..1000u64,
        0..1000u64,
        0..1000u64,
        option::of("[a-z]{1,5}(\\.[1-9][0-9]{0,2})?"),
        option::of("[a-zA-Z0-9]{1,6}"),
    )
        .prop_map(|(major, minor, patch, pre, build)| Version {
            major,
            minor,
            patch,
            pre: pre.map_or(Prerelease::EMPTY, |p| Prerelease::new(&p).unwrap()),
            build: build.map_or(BuildMetadata::EMPTY, |b| BuildMetadata::new(&b).unwrap()),
        })
}

fn requirement() -> impl Strategy<Value = VersionReq> {
    prop_oneof![
        Just(VersionReq::STAR),
        (0..20u64).prop_map(|m| VersionReq::parse(&format!("^{m}")).unwrap()),
        (0..20u64, 0..20u64).prop_map(|(a, b)| VersionReq::parse(&format!(
            ">={a}.{b}, <{}",
            a + 1
        ))
        .unwrap()),
        version().prop_map(|v| VersionReq::parse(&format!("={v}")).unwrap()),
        (0..20u64, 0..20u64, 0..20u64)
            .prop_map(|(a, b, c)| VersionReq::parse(&format!("~{a}.{b}.{c}")).unwrap()),
    ]
}

fn unique_names(max: usize) -> impl Strategy<Value = Vec<String>> {
    vec(name(), 0..max).prop_map(|mut names| {
        let mut seen = HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names
    })
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn schema() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        btree_map("[a-z_]{1,8}", json(), 0..4).prop_map(|defaults| {
            let properties: serde_json::Map<String, Value> = defaults
                .into_iter()
                .map(|(k, d)| (k, serde_json::json!({ "default": d })))
                .collect();
            serde_json::json!({ "type": "object", "properties": properties })
        }),
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    (0..10_000_000_000u64, 0..1_000_000_000u32)
        .prop_filter("zero", |(s, n)| *s > 0 || *n > 0)
        .prop_map(|(s, n)| Duration(std::time::Duration::new(s, n)))
}

fn permissions() -> impl Strategy<Value = Permissions> {
    let path = "[a-z0-9_]{1,8}(/[a-z0-9_]{1,8}){0,2}/?";
    let host = prop_oneof![
        Just("*".to_owned()),
        "(\\*\\.)?[a-z0-9]{1,10}(\\.[a-z]{2,5}){0,2}",
        Just("[::1]".to_owned()),
        Just("10.0.0.1".to_owned()),
    ];
    let port = prop_oneof![
        Just("*".to_owned()),
        (1..=65535u16).prop_map(|p| p.to_string())
    ];
    (
        vec(path, 0..3),
        vec(path, 0..3),
        vec((host, port).prop_map(|(h, p)| format!("{h}:{p}")), 0..3),
        vec("[A-Z_][A-Z0-9_]{0,10}", 0..3),
        any::<bool>(),
    )
        .prop_map(|(read, write, net, env, storage)| Permissions {
            fs: FsPermissions { read, write },
            net,
            env,
            storage,
        })
}

fn wasm_settings() -> impl Strategy<Value = WasmSettings> {
    (
        prop_oneof![Just(WasmAbi::Component), Just(WasmAbi::Extism)],
        option::of((1..=u64::MAX).prop_map(ByteSize)),
        option::of(duration()),
        option::of(1..=u64::MAX),
    )
        .prop_map(|(abi, memory_max, timeout, fuel)| WasmSettings {
            abi,
            memory_max,
            timeout,
            fuel,
        })
}

fn process_settings() -> impl Strategy<Value = ProcessSettings> {
    let handshake = ("[A-Z_]{1,10}", name(), vec(any::<u32>(), 1..3)).prop_map(
        |(cookie_key, cookie_value, versions)| Handshake {
            cookie_key,
            cookie_value,
            versions,
        },
    );
    let restart = (
        prop_oneof![
            Just(RestartWhen::Always),
            Just(RestartWhen::OnFailure),
            Just(RestartWhen::Never)
        ],
        option::of(any::<u32>()),
        option::of(duration()),
    )
        .prop_map(|(policy, max, window)| RestartPolicy {
            policy,
            max,
            window,
        });
    (
        prop_oneof![Just(ProcessProtocol::Grpc), Just(ProcessProtocol::Stdio)],
        vec(any::<String>(), 0..3),
        btree_map("[A-Z_][A-Z0-9_]{0,8}", any::<String>(), 0..3),
        option::of(handshake),
        any::<bool>(),
        option::of(restart),
        prop_oneof![Just(Toggle::On), Just(Toggle::Off)],
        option::of(duration()),
        option::of(duration()),
    )
        .prop_map(
            |(protocol, args, env, handshake, auto_mtls, restart, sandbox, start, call)| {
                ProcessSettings {
                    protocol,
                    args,
                    env,
                    handshake,
                    auto_mtls,
                    restart,
                    sandbox,
                    start_timeout: start,
                    call_timeout: call,
                }
            },
        )
}

/// The runtime, a valid entry for it, its own section (or none) and an integrity digest.
type RuntimePart = (
    RuntimeKind,
    String,
    Option<WasmSettings>,
    Option<ProcessSettings>,
    Option<NativeSettings>,
    Option<Integrity>,
);

fn runtime_part() -> impl Strategy<Value = RuntimePart> {
    let file = "[a-z0-9_]{1,8}(/[a-z0-9_]{1,8}){0,2}\\.(wasm|so|bin)";
    let digest =
        option::of("[0-9a-f]{64}".prop_map(|h| Integrity::parse(&format!("sha256:{h}")).unwrap()));
    prop_oneof![
        "[a-zA-Z_:]{1,20}".prop_map(|e| (RuntimeKind::Builtin, e, None, None, None, None)),
        (file, option::of(wasm_settings()), digest.clone()).prop_map(|(e, w, d)| (
            RuntimeKind::Wasm,
            e,
            w,
            None,
            None,
            d
        )),
        (file, option::of(process_settings()), digest.clone()).prop_map(|(e, p, d)| (
            RuntimeKind::Process,
            e,
            None,
            p,
            None,
            d
        )),
        (
            file,
            option::of(prop_oneof![
                Just(NativeIsolation::None),
                Just(NativeIsolation::Process)
            ]),
            digest
        )
            .prop_map(|(e, i, d)| {
                let native = i.map(|isolation| NativeSettings { isolation });
                (RuntimeKind::Native, e, None, None, native, d)
            }),
    ]
}

fn provides() -> impl Strategy<Value = Vec<Provide>> {
    vec((id(), unique_names(3), any::<i32>()), 0..3).prop_map(|entries| {
        let mut seen = HashSet::new();
        entries
            .into_iter()
            .filter(|(point, ..)| seen.insert(point.clone()))
            .map(|(point, methods, priority)| Provide {
                point,
                methods,
                priority,
            })
            .collect()
    })
}

fn extension_points() -> impl Strategy<Value = Vec<ExtensionPointDecl>> {
    let cardinality = prop_oneof![Just(Cardinality::One), Just(Cardinality::Many)];
    let codec = prop_oneof![Just(Codec::Json), Just(Codec::Msgpack), Just(Codec::Raw)];
    vec((id(), version(), unique_names(3), cardinality, codec), 0..3).prop_map(|entries| {
        let mut seen = HashSet::new();
        entries
            .into_iter()
            .filter(|(id, ..)| seen.insert(id.clone()))
            .map(
                |(id, version, methods, cardinality, codec)| ExtensionPointDecl {
                    id,
                    version,
                    methods,
                    cardinality,
                    codec,
                },
            )
            .collect()
    })
}

/// A `ui:` panel with paths inside the plugin directory.
fn ui_panel() -> impl Strategy<Value = UiPanel> {
    let path = "[a-z][a-z0-9_-]{0,8}(/[a-z][a-z0-9_-]{0,8}){0,2}\\.(js|svg)";
    (path, option::of(name()), option::of(path)).prop_map(|(entry, title, icon)| UiPanel {
        entry,
        title,
        icon,
    })
}

prop_compose! {
    fn manifest()(
        (id, name, version, description, api) in (
            plugin_id(), option::of(name()), version(), option::of(any::<String>()), requirement()
        ),
        (runtime, entry, wasm, process, native, integrity) in runtime_part(),
        requires in btree_map(plugin_id(), requirement(), 0..3),
        optional in btree_map(plugin_id(), requirement(), 0..3),
        (provides, extension_points, subscribes) in (provides(), extension_points(), unique_names(3)),
        permissions in permissions(),
        schema in option::of(schema()),
        (lazy, ui, handoff) in (any::<bool>(), option::of(ui_panel()), any::<bool>()),
    ) -> Manifest {
        let requires: BTreeMap<_, _> = requires.into_iter().filter(|(d, _)| *d != id).collect();
        let optional = optional
            .into_iter()
            .filter(|(d, _)| *d != id && !requires.contains_key(d))
            .collect();
        Manifest {
            id,
            name,
            version,
            description,
            api,
            runtime,
            entry,
            integrity,
            platforms: BTreeMap::new(),
            requires,
            optional,
            provides,
            extension_points,
            subscribes,
            permissions,
            config: ConfigSection { schema },
            activation: if lazy { Activation::Lazy } else { Activation::Eager },
            wasm,
            process,
            native,
            ui,
            reload: ReloadSettings { handoff },
        }
    }
}

/// Characters that change the structure of YAML, for mutations that break documents in
/// interesting ways rather than only inside scalars.
const YAML_BYTES: &[u8] = b" \n\t:-?[]{},&*!|>'\"%@`#~0123456789abcxyzIDV.\\";

const VALID: &str = crate::manifest::tests::FULL;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_manifests_are_valid_and_round_trip(m in manifest()) {
        let valid = m.validate("generated");
        prop_assert!(valid.is_ok(), "generated an invalid manifest: {}", valid.unwrap_err());
        let text = m.to_yaml_string();
        match Manifest::from_yaml_str(&text, "written.yaml") {
            Ok(again) => prop_assert_eq!(again, m, "{}", text),
            Err(e) => prop_assert!(false, "does not parse back: {}\n{}", e, text),
        }
    }

    #[test]
    fn random_text_never_panics(text in any::<String>()) {
        exercise_manifest(&text);
        exercise_host_config(&text);
    }

    #[test]
    fn yaml_like_text_never_panics(bytes in vec(proptest::sample::select(YAML_BYTES), 0..200)) {
        let text = String::from_utf8(bytes).unwrap();
        exercise_manifest(&text);
        exercise_host_config(&text);
    }

    #[test]
    fn mutated_manifests_never_panic(
        edits in vec((any::<prop::sample::Index>(), 0..3u8, proptest::sample::select(YAML_BYTES)), 1..6)
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (at, kind, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => { bytes.remove(i); }
                _ if i < bytes.len() => bytes[i] = byte,
                _ => bytes.push(byte),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        exercise_manifest(&text);
        exercise_host_config(&text);
    }

    #[test]
    fn every_problem_has_a_file_and_a_message(text in "[a-z_ :\\[\\]{}\\-\n0-9.]{0,120}") {
        for result in [
            Manifest::from_yaml_str(&text, "m.yaml").err(),
            HostConfig::from_yaml_str(&text, "c.yaml").err(),
        ] {
            for problem in result.into_iter().flatten() {
                prop_assert!(problem.file == "m.yaml" || problem.file == "c.yaml");
                prop_assert!(!problem.message.is_empty());
                prop_assert!(!problem.to_string().contains('\n'), "{}", problem);
            }
        }
    }
}

/// What `from_yaml_str` reported before the strict fast path: always index, then deserialize.
fn indexed_manifest(text: &str) -> Result<Manifest, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let parsed =
        crate::parse::parse_indexed::<Manifest>(text, "m", crate::parse::Document::Manifest);
    let (m, index) = parsed.map_err(|e| e.to_string())?;
    let mut report = crate::validate::Report::new("m", crate::parse::Positions::Indexed(index));
    crate::validate::manifest::check(&m, &mut report);
    report.finish().map(|()| m).map_err(|e| e.to_string())
}

fn indexed_host_config(text: &str) -> Result<HostConfig, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let parsed =
        crate::parse::parse_indexed::<HostConfig>(text, "m", crate::parse::Document::HostConfig);
    let (c, index) = parsed.map_err(|e| e.to_string())?;
    let mut report = crate::validate::Report::new("m", crate::parse::Positions::Indexed(index));
    crate::validate::config::check(&c, &mut report);
    report.finish().map(|()| c).map_err(|e| e.to_string())
}

const PROCESS: &str = "id: sidecar\nversion: 1.0.0\nruntime: process\nentry: bin/sidecar\n\
                       process:\n  env:\n    A: '1'\n    B: '2'\n  args: [x]\n\
                       requires:\n  a: '1'\n  b: '2'\n";

/// Texts made from `base` by repeating, dropping or editing lines: many repeat a key.
fn edited(base: &'static str) -> impl Strategy<Value = String> {
    vec(
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            0..4u8,
            proptest::sample::select(YAML_BYTES),
        ),
        1..4,
    )
    .prop_map(move |edits| {
        let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
        for (at, to, kind, byte) in edits {
            let i = at.index(lines.len());
            match kind {
                0 => {
                    let line = lines[i].clone();
                    lines.insert(to.index(lines.len() + 1), line);
                }
                1 if lines.len() > 1 => {
                    lines.remove(i);
                }
                2 => {
                    let line = lines[i].clone();
                    lines.insert(i + 1, line);
                }
                _ => {
                    let line = &mut lines[i];
                    let j = to.index(line.len() + 1);
                    if line.is_char_boundary(j) {
                        line.insert(j, char::from(byte));
                    }
                }
            }
        }
        lines.join("\n") + "\n"
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_path_reports_what_the_indexed_path_does(
        text in prop_oneof![edited(VALID), edited(PROCESS)]
    ) {
        let fast = Manifest::from_yaml_str(&text, "m").map_err(|e| e.to_string());
        prop_assert_eq!(fast, indexed_manifest(&text), "{}", text);
    }

    #[test]
    fn the_fast_path_reports_what_the_indexed_path_does_for_configs(
        text in edited(crate::config::tests::EXTENDED)
    ) {
        let fast = HostConfig::from_yaml_str(&text, "m").map_err(|e| e.to_string());
        prop_assert_eq!(fast, indexed_host_config(&text), "{}", text);
    }
}
