//! Tests of the resolver: the order it gives, and every problem it reports at once.

use std::collections::{BTreeMap, BTreeSet};

use plugboard_manifest::{Manifest, PluginId};
use proptest::prelude::*;
use semver::{Version, VersionReq};

use super::{resolve, Constraints, Problem, Resolution};

const HOST_API: Version = Version::new(1, 0, 0);

fn id(s: &str) -> PluginId {
    PluginId::new(s).expect("a valid id")
}

fn req(s: &str) -> VersionReq {
    VersionReq::parse(s).expect("a valid requirement")
}

fn ver(s: &str) -> Version {
    Version::parse(s).expect("a valid version")
}

/// A plugin built in code. Dependencies are set directly on the fields, so that the resolver
/// sees shapes (a self-dependency) that manifest validation would refuse in a `plugin.yaml`.
fn plugin(name: &str, version: &str) -> Manifest {
    Manifest::from_yaml_str(
        &format!("id: {name}\nversion: {version}\nruntime: builtin\nentry: {name}\n"),
        "test",
    )
    .expect("a valid manifest")
}

fn requires(mut m: Manifest, deps: &[(&str, &str)]) -> Manifest {
    for (d, r) in deps {
        m.requires.insert(id(d), req(r));
    }
    m
}

fn optional(mut m: Manifest, deps: &[(&str, &str)]) -> Manifest {
    for (d, r) in deps {
        m.optional.insert(id(d), req(r));
    }
    m
}

fn run(plugins: &[Manifest]) -> Resolution {
    run_with(plugins, &Constraints::default())
}

fn run_with(plugins: &[Manifest], constraints: &Constraints) -> Resolution {
    let refs: Vec<&Manifest> = plugins.iter().collect();
    resolve(&refs, &HOST_API, constraints)
}

fn order(res: &Resolution) -> Vec<&str> {
    res.order.iter().map(PluginId::as_str).collect()
}

fn waits<'a>(res: &'a Resolution, of: &str) -> Vec<&'a str> {
    res.waits_for[of].iter().map(PluginId::as_str).collect()
}

fn problems<'a>(res: &'a Resolution, of: &str) -> &'a [Problem] {
    res.disabled
        .get(of)
        .unwrap_or_else(|| panic!("{of} is not disabled: {res:?}"))
}

fn cycle(path: &[&str]) -> Problem {
    Problem::Cycle {
        path: path.iter().map(|s| id(s)).collect(),
    }
}

fn dep_disabled(d: &str) -> Problem {
    Problem::DependencyDisabled { dependency: id(d) }
}

#[test]
fn no_plugins_resolve_to_nothing() {
    let res = run(&[]);
    assert!(res.order.is_empty());
    assert!(res.disabled.is_empty());
    assert!(res.warnings.is_empty());
}

#[test]
fn a_chain_starts_from_its_root() {
    let res = run(&[
        requires(plugin("c", "1.0.0"), &[("b", "^1")]),
        requires(plugin("b", "1.0.0"), &[("a", "^1")]),
        plugin("a", "1.0.0"),
    ]);
    assert_eq!(order(&res), ["a", "b", "c"]);
    assert!(res.disabled.is_empty());
    assert_eq!(waits(&res, "c"), ["b"]);
    assert_eq!(waits(&res, "b"), ["a"]);
    assert!(waits(&res, "a").is_empty());
}

#[test]
fn a_long_chain_does_not_overflow_the_stack() {
    let n = 5000;
    let mut plugins = vec![plugin("p0", "1.0.0")];
    for i in 1..n {
        plugins.push(requires(
            plugin(&format!("p{i}"), "1.0.0"),
            &[(&format!("p{}", i - 1), "^1")],
        ));
    }
    let res = run(&plugins);
    let expected: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    assert_eq!(order(&res), expected);
}

#[test]
fn a_diamond_starts_its_base_once_and_its_top_last() {
    let res = run(&[
        requires(plugin("top", "1.0.0"), &[("left", "^1"), ("right", "^1")]),
        requires(plugin("left", "1.0.0"), &[("base", "^1")]),
        requires(plugin("right", "1.0.0"), &[("base", "^1")]),
        plugin("base", "1.0.0"),
    ]);
    // Smallest id first among the ready ones: deterministic.
    assert_eq!(order(&res), ["base", "left", "right", "top"]);
    assert_eq!(waits(&res, "top"), ["left", "right"]);
    assert!(res.disabled.is_empty());
}

#[test]
fn independent_plugins_are_ordered_by_id() {
    let res = run(&[
        plugin("zeta", "1.0.0"),
        plugin("alpha", "2.0.0"),
        plugin("mid", "0.1.0"),
    ]);
    assert_eq!(order(&res), ["alpha", "mid", "zeta"]);
}

#[test]
fn a_self_dependency_is_a_cycle_of_one() {
    let res = run(&[
        requires(plugin("narcissus", "1.0.0"), &[("narcissus", "^1")]),
        requires(plugin("echo", "1.0.0"), &[("narcissus", "^1")]),
        plugin("bystander", "1.0.0"),
    ]);
    assert_eq!(
        problems(&res, "narcissus"),
        [cycle(&["narcissus", "narcissus"])]
    );
    assert_eq!(problems(&res, "echo"), [dep_disabled("narcissus")]);
    assert_eq!(order(&res), ["bystander"]);
    assert_eq!(
        res.reason("narcissus").unwrap(),
        "dependency cycle: narcissus -> narcissus; break it by making one of these dependencies `optional`"
    );
}

#[test]
fn a_self_dependency_on_another_version_is_a_wrong_version_not_a_cycle() {
    let res = run(&[requires(plugin("a", "1.0.0"), &[("a", "^2")])]);
    assert_eq!(
        problems(&res, "a"),
        [Problem::WrongVersion {
            dependency: id("a"),
            requirement: req("^2"),
            found: ver("1.0.0"),
        }]
    );
}

#[test]
fn a_two_cycle_reports_its_path_from_each_member() {
    let res = run(&[
        requires(plugin("a", "1.0.0"), &[("b", "^1")]),
        requires(plugin("b", "1.0.0"), &[("a", "^1")]),
        plugin("c", "1.0.0"),
    ]);
    // Only the cycle: the members do not also blame each other as disabled dependencies.
    assert_eq!(problems(&res, "a"), [cycle(&["a", "b", "a"])]);
    assert_eq!(problems(&res, "b"), [cycle(&["b", "a", "b"])]);
    assert_eq!(order(&res), ["c"]);
    assert_eq!(
        res.reason("a").unwrap(),
        "dependency cycle: a -> b -> a; break it by making one of these dependencies `optional`"
    );
}

#[test]
fn a_three_cycle_reports_its_full_path_and_disables_what_hangs_off_it() {
    let res = run(&[
        requires(plugin("a", "1.0.0"), &[("b", "^1")]),
        requires(plugin("b", "1.0.0"), &[("c", "^1")]),
        requires(plugin("c", "1.0.0"), &[("a", "^1")]),
        requires(plugin("hanger", "1.0.0"), &[("b", "^1")]),
        requires(plugin("upstream", "1.0.0"), &[]),
    ]);
    assert_eq!(problems(&res, "a"), [cycle(&["a", "b", "c", "a"])]);
    assert_eq!(problems(&res, "b"), [cycle(&["b", "c", "a", "b"])]);
    assert_eq!(problems(&res, "c"), [cycle(&["c", "a", "b", "c"])]);
    assert_eq!(problems(&res, "hanger"), [dep_disabled("b")]);
    assert_eq!(order(&res), ["upstream"]);
}

#[test]
fn a_cycle_through_a_wrong_version_is_no_cycle() {
    // b wants a 2.x, which is not installed: the edge b -> a does not close a cycle.
    let res = run(&[
        requires(plugin("a", "1.0.0"), &[("b", "^1")]),
        requires(plugin("b", "1.0.0"), &[("a", "^2")]),
    ]);
    assert_eq!(
        problems(&res, "b"),
        [Problem::WrongVersion {
            dependency: id("a"),
            requirement: req("^2"),
            found: ver("1.0.0"),
        }]
    );
    assert_eq!(problems(&res, "a"), [dep_disabled("b")]);
    assert!(res.order.is_empty());
}

#[test]
fn a_cycle_is_reported_for_each_member_of_a_larger_component() {
    // Two cycles sharing `hub`: every member has a shortest cycle through itself.
    let res = run(&[
        requires(plugin("hub", "1.0.0"), &[("x", "^1"), ("y", "^1")]),
        requires(plugin("x", "1.0.0"), &[("hub", "^1")]),
        requires(plugin("y", "1.0.0"), &[("hub", "^1")]),
    ]);
    assert_eq!(
        problems(&res, "hub"),
        [cycle(&["hub", "x", "hub"]), dep_disabled("y")]
    );
    assert_eq!(problems(&res, "x"), [cycle(&["x", "hub", "x"])]);
    assert_eq!(problems(&res, "y"), [cycle(&["y", "hub", "y"])]);
}

#[test]
fn missing_and_wrong_version_dependencies_are_reported_together() {
    let res = run(&[
        requires(
            plugin("needy", "1.0.0"),
            &[
                ("absent", ">=1.2"),
                ("old", "^2"),
                ("fine", "^1"),
                ("gone", "*"),
            ],
        ),
        plugin("old", "1.4.0"),
        plugin("fine", "1.0.0"),
    ]);
    // Every problem at once, in the order of the `requires` map.
    assert_eq!(
        problems(&res, "needy"),
        [
            Problem::Missing {
                dependency: id("absent"),
                requirement: req(">=1.2"),
            },
            Problem::Missing {
                dependency: id("gone"),
                requirement: req("*"),
            },
            Problem::WrongVersion {
                dependency: id("old"),
                requirement: req("^2"),
                found: ver("1.4.0"),
            },
        ]
    );
    assert_eq!(order(&res), ["fine", "old"]);
    let reason = res.reason("needy").unwrap();
    let each: Vec<String> = problems(&res, "needy")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(reason, each.join("; "));
    assert!(
        reason.contains("requires absent >=1.2, which is not installed"),
        "{reason}"
    );
    assert!(
        reason.contains("requires old ^2, but version 1.4.0 is installed"),
        "{reason}"
    );
    assert_eq!(res.reason("fine"), None);
}

#[test]
fn own_problems_and_dependency_problems_are_all_kept() {
    let mut needy = requires(
        plugin("needy", "1.0.0"),
        &[("absent", "^1"), ("broken", "^1")],
    );
    needy.api = req("^2");
    let broken = requires(plugin("broken", "1.0.0"), &[("nowhere", "^1")]);
    let constraints = Constraints {
        disabled: [id("needy")].into(),
        ..Constraints::default()
    };
    let res = run_with(&[needy, broken], &constraints);
    assert_eq!(
        problems(&res, "needy"),
        [
            Problem::DisabledByConfig,
            Problem::ApiMismatch {
                required: req("^2"),
                host: HOST_API,
            },
            Problem::Missing {
                dependency: id("absent"),
                requirement: req("^1"),
            },
            dep_disabled("broken"),
        ]
    );
}

#[test]
fn disabling_is_transitive_with_a_reason_at_each_step() {
    let res = run(&[
        requires(plugin("a", "1.0.0"), &[("missing", "^1")]),
        requires(plugin("b", "1.0.0"), &[("a", "^1")]),
        requires(plugin("c", "1.0.0"), &[("b", "^1")]),
        requires(plugin("d", "1.0.0"), &[("c", "^1"), ("ok", "^1")]),
        requires(plugin("e", "1.0.0"), &[("ok", "^1")]),
        plugin("ok", "1.0.0"),
    ]);
    assert_eq!(
        problems(&res, "a"),
        [Problem::Missing {
            dependency: id("missing"),
            requirement: req("^1"),
        }]
    );
    assert_eq!(problems(&res, "b"), [dep_disabled("a")]);
    assert_eq!(problems(&res, "c"), [dep_disabled("b")]);
    assert_eq!(problems(&res, "d"), [dep_disabled("c")]);
    assert_eq!(res.reason("c").unwrap(), "requires b, which cannot start");
    assert_eq!(order(&res), ["ok", "e"]);
    assert!(!res.waits_for.contains_key(&id("d")));
}

#[test]
fn a_present_optional_dependency_starts_first() {
    let res = run(&[
        optional(plugin("a", "1.0.0"), &[("z", "^1")]),
        plugin("z", "1.0.0"),
    ]);
    assert_eq!(order(&res), ["z", "a"]);
    assert_eq!(waits(&res, "a"), ["z"]);
    assert!(res.warnings.is_empty(), "{:?}", res.warnings);
}

#[test]
fn an_absent_optional_dependency_is_no_problem() {
    let res = run(&[optional(plugin("a", "1.0.0"), &[("ghost", "^1")])]);
    assert_eq!(order(&res), ["a"]);
    assert!(waits(&res, "a").is_empty());
    assert!(res.disabled.is_empty());
    assert!(res.warnings.is_empty(), "{:?}", res.warnings);
}

#[test]
fn an_optional_dependency_in_the_wrong_version_is_a_warning_and_not_waited_for() {
    let res = run(&[
        optional(plugin("a", "1.0.0"), &[("z", "^2")]),
        plugin("z", "1.5.0"),
    ]);
    assert_eq!(order(&res), ["a", "z"]);
    assert!(waits(&res, "a").is_empty());
    assert!(res.disabled.is_empty());
    assert_eq!(
        res.warnings,
        [(
            id("a"),
            "optional dependency z ^2 is installed as 1.5.0; it will not be used".to_owned()
        )]
    );
}

#[test]
fn a_disabled_optional_dependency_is_not_waited_for() {
    let constraints = Constraints {
        disabled: [id("z")].into(),
        ..Constraints::default()
    };
    let res = run_with(
        &[
            optional(plugin("a", "1.0.0"), &[("z", "^1")]),
            plugin("z", "1.0.0"),
        ],
        &constraints,
    );
    assert_eq!(order(&res), ["a"]);
    assert!(waits(&res, "a").is_empty());
    assert_eq!(problems(&res, "z"), [Problem::DisabledByConfig]);
}

#[test]
fn an_optional_edge_closing_a_cycle_with_a_required_one_loses_its_ordering() {
    // a requires b; b would like a: the required edge wins, with a warning for the optional one.
    let res = run(&[
        requires(plugin("a", "1.0.0"), &[("b", "^1")]),
        optional(plugin("b", "1.0.0"), &[("a", "^1")]),
    ]);
    assert!(res.disabled.is_empty(), "{:?}", res.disabled);
    assert_eq!(order(&res), ["b", "a"]);
    assert_eq!(waits(&res, "a"), ["b"]);
    assert!(waits(&res, "b").is_empty());
    assert_eq!(
        res.warnings,
        [(
            id("b"),
            "optional dependency a is part of a cycle; the two may start in any order".to_owned()
        )]
    );
}

#[test]
fn a_cycle_of_optional_edges_alone_starts_everything() {
    let res = run(&[
        optional(plugin("a", "1.0.0"), &[("b", "^1")]),
        optional(plugin("b", "1.0.0"), &[("a", "^1")]),
        optional(plugin("self", "1.0.0"), &[("self", "^1")]),
    ]);
    assert!(res.disabled.is_empty());
    assert_eq!(order(&res), ["a", "b", "self"]);
    assert!(waits(&res, "self").is_empty());
    assert_eq!(res.warnings.len(), 2, "{:?}", res.warnings);
}

#[test]
fn an_api_mismatch_disables_the_plugin_and_its_dependents() {
    let mut future = plugin("future", "1.0.0");
    future.api = req("^2");
    let mut current = plugin("current", "1.0.0");
    current.api = req("^1");
    let res = run(&[
        future,
        current,
        requires(plugin("user", "1.0.0"), &[("future", "*")]),
    ]);
    assert_eq!(
        problems(&res, "future"),
        [Problem::ApiMismatch {
            required: req("^2"),
            host: HOST_API,
        }]
    );
    assert_eq!(problems(&res, "user"), [dep_disabled("future")]);
    assert_eq!(order(&res), ["current"]);
    let reason = res.reason("future").unwrap();
    assert!(
        reason.contains("needs plugin API ^2, but this host implements 1.0.0"),
        "{reason}"
    );
    assert!(reason.contains("build for API 1"), "{reason}");
}

#[test]
fn configuration_can_disable_a_plugin_or_pin_its_version() {
    let constraints = Constraints {
        disabled: [id("off")].into(),
        versions: [(id("pinned"), req("^2")), (id("matching"), req("~1.2"))].into(),
        ..Constraints::default()
    };
    let res = run_with(
        &[
            plugin("off", "1.0.0"),
            plugin("pinned", "1.0.0"),
            plugin("matching", "1.2.7"),
            requires(plugin("dependent", "1.0.0"), &[("off", "^1")]),
        ],
        &constraints,
    );
    assert_eq!(problems(&res, "off"), [Problem::DisabledByConfig]);
    assert_eq!(
        problems(&res, "pinned"),
        [Problem::ConfigVersion {
            requirement: req("^2"),
            found: ver("1.0.0"),
        }]
    );
    assert_eq!(problems(&res, "dependent"), [dep_disabled("off")]);
    assert_eq!(order(&res), ["matching"]);
    assert_eq!(
        res.reason("off").unwrap(),
        "disabled in the host configuration (enabled: false)"
    );
    assert!(res
        .reason("pinned")
        .unwrap()
        .contains("requires version ^2, but 1.0.0 is installed"));
}

#[test]
fn a_plugin_its_runtime_cannot_load_is_unavailable() {
    let constraints = Constraints {
        unavailable: [(id("ghost"), "no wasm runtime here".to_owned())].into(),
        ..Constraints::default()
    };
    let res = run_with(
        &[
            plugin("ghost", "1.0.0"),
            requires(plugin("haunted", "1.0.0"), &[("ghost", "^1")]),
            optional(plugin("brave", "1.0.0"), &[("ghost", "^1")]),
        ],
        &constraints,
    );
    assert_eq!(
        problems(&res, "ghost"),
        [Problem::Unavailable {
            message: "no wasm runtime here".to_owned(),
        }]
    );
    assert_eq!(res.reason("ghost").unwrap(), "no wasm runtime here");
    assert_eq!(problems(&res, "haunted"), [dep_disabled("ghost")]);
    assert_eq!(order(&res), ["brave"]);
}

#[test]
fn constraints_on_plugins_that_are_not_installed_are_ignored() {
    let constraints = Constraints {
        disabled: [id("nobody")].into(),
        versions: [(id("nobody"), req("^9"))].into(),
        unavailable: [(id("nobody"), "x".to_owned())].into(),
    };
    let res = run_with(&[plugin("a", "1.0.0")], &constraints);
    assert_eq!(order(&res), ["a"]);
    assert!(res.disabled.is_empty());
}

#[test]
fn problems_serialize_with_a_tag() {
    let json = serde_json::to_value(Problem::WrongVersion {
        dependency: id("old"),
        requirement: req("^2"),
        found: ver("1.4.0"),
    })
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"problem": "wrong_version", "dependency": "old", "requirement": "^2", "found": "1.4.0"})
    );
}

// ---------------------------------------------------------------------------------------------
// Properties on random graphs.

/// One random plugin: its major version, and edges to other plugins by index. An index at or
/// past the number of plugins names one that is not installed.
#[derive(Debug, Clone)]
struct Spec {
    major: u64,
    /// (target, whether the requirement matches the target's version)
    requires: Vec<(usize, bool)>,
    optional: Vec<(usize, bool)>,
    api_ok: bool,
    config_disabled: bool,
    /// None: no version constraint; Some(true) a matching one; Some(false) one that does not.
    config_version: Option<bool>,
    unavailable: bool,
}

fn spec(n: usize) -> impl Strategy<Value = Spec> {
    // Up to two targets past `n`: dependencies that are not installed.
    let edge = (0..n + 2, prop::bool::weighted(0.85));
    (
        1u64..=3,
        prop::collection::vec(edge.clone(), 0..=3),
        prop::collection::vec(edge, 0..=2),
        prop::bool::weighted(0.95),
        prop::bool::weighted(0.05),
        prop::option::weighted(0.1, any::<bool>()),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(major, requires, optional, api_ok, config_disabled, config_version, unavailable)| {
                Spec {
                    major,
                    requires,
                    optional,
                    api_ok,
                    config_disabled,
                    config_version,
                    unavailable,
                }
            },
        )
}

fn graph() -> impl Strategy<Value = Vec<Spec>> {
    (1usize..=12).prop_flat_map(|n| prop::collection::vec(spec(n), n))
}

fn name(i: usize) -> String {
    format!("p{i}")
}

/// Builds the manifests and constraints a random graph describes.
fn build(specs: &[Spec]) -> (Vec<Manifest>, Constraints) {
    let n = specs.len();
    let requirement = |target: usize, matching: bool| -> VersionReq {
        // A target that is not installed gets any requirement; it is missing either way.
        let major = specs.get(target).map_or(1, |s| s.major);
        if matching {
            req(&format!("^{major}"))
        } else {
            req(&format!("^{}", major + 10))
        }
    };
    let mut constraints = Constraints::default();
    let manifests = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut m = plugin(&name(i), &format!("{}.0.0", s.major));
            for &(t, matching) in &s.requires {
                m.requires.insert(id(&name(t)), requirement(t, matching));
            }
            for &(t, matching) in &s.optional {
                // Manifest validation forbids a plugin both required and optional.
                if t < n + 2 && !m.requires.contains_key(name(t).as_str()) {
                    m.optional.insert(id(&name(t)), requirement(t, matching));
                }
            }
            if !s.api_ok {
                m.api = req("^2");
            }
            if s.config_disabled {
                constraints.disabled.insert(m.id.clone());
            }
            if let Some(matching) = s.config_version {
                constraints
                    .versions
                    .insert(m.id.clone(), requirement(i, matching));
            }
            if s.unavailable {
                constraints
                    .unavailable
                    .insert(m.id.clone(), "unavailable".to_owned());
            }
            m
        })
        .collect();
    (manifests, constraints)
}

/// The required edges whose target is installed in a matching version: the graph on which
/// cycles are reported.
fn matching_required_edges(manifests: &[Manifest]) -> BTreeMap<PluginId, BTreeSet<PluginId>> {
    let version: BTreeMap<&PluginId, &Version> =
        manifests.iter().map(|m| (&m.id, &m.version)).collect();
    manifests
        .iter()
        .map(|m| {
            let edges = m
                .requires
                .iter()
                .filter(|(d, r)| version.get(d).is_some_and(|v| r.matches(v)))
                .map(|(d, _)| d.clone())
                .collect();
            (m.id.clone(), edges)
        })
        .collect()
}

/// Whether `from` reaches itself in one or more steps: a plain depth-first search, independent
/// of the resolver's Tarjan and breadth-first search.
fn on_a_cycle(edges: &BTreeMap<PluginId, BTreeSet<PluginId>>, from: &PluginId) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&PluginId> = edges[from].iter().collect();
    while let Some(v) = stack.pop() {
        if v == from {
            return true;
        }
        if seen.insert(v) {
            stack.extend(edges[v].iter());
        }
    }
    false
}

/// Which plugins cannot start, computed from the rules directly: own problems and cycles, then
/// anything that requires a disabled plugin, to a fixed point.
fn expected_disabled(manifests: &[Manifest], constraints: &Constraints) -> BTreeSet<PluginId> {
    let version: BTreeMap<&PluginId, &Version> =
        manifests.iter().map(|m| (&m.id, &m.version)).collect();
    let edges = matching_required_edges(manifests);
    let mut out: BTreeSet<PluginId> = manifests
        .iter()
        .filter(|m| {
            constraints.disabled.contains(&m.id)
                || constraints.unavailable.contains_key(&m.id)
                || constraints
                    .versions
                    .get(&m.id)
                    .is_some_and(|r| !r.matches(&m.version))
                || !m.api.matches(&HOST_API)
                || m.requires
                    .iter()
                    .any(|(d, r)| version.get(d).is_none_or(|v| !r.matches(v)))
                || on_a_cycle(&edges, &m.id)
        })
        .map(|m| m.id.clone())
        .collect();
    loop {
        let more: Vec<PluginId> = manifests
            .iter()
            .filter(|m| !out.contains(&m.id) && m.requires.keys().any(|d| out.contains(d)))
            .map(|m| m.id.clone())
            .collect();
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_graphs_resolve_consistently(specs in graph()) {
        let (manifests, constraints) = build(&specs);
        let res = run_with(&manifests, &constraints);
        let all: BTreeSet<&PluginId> = manifests.iter().map(|m| &m.id).collect();
        let by_id: BTreeMap<&PluginId, &Manifest> = manifests.iter().map(|m| (&m.id, m)).collect();

        // (a) The order holds exactly the plugins that are not disabled, each once.
        let ordered: BTreeSet<&PluginId> = res.order.iter().collect();
        prop_assert_eq!(ordered.len(), res.order.len(), "duplicates in {:?}", res.order);
        for p in &all {
            prop_assert!(
                ordered.contains(p) != res.disabled.contains_key(*p),
                "{} is {} in the order and {} disabled",
                p,
                if ordered.contains(p) { "" } else { "not" },
                if res.disabled.contains_key(*p) { "" } else { "not" },
            );
        }
        prop_assert!(res.disabled.keys().all(|p| all.contains(p)));
        prop_assert!(res.disabled.values().all(|ps| !ps.is_empty()));
        prop_assert_eq!(
            res.waits_for.keys().collect::<BTreeSet<_>>(),
            ordered.clone(),
        );

        // (b) Every required dependency and everything waited for starts earlier.
        let pos: BTreeMap<&PluginId, usize> =
            res.order.iter().enumerate().map(|(i, p)| (p, i)).collect();
        for (i, p) in res.order.iter().enumerate() {
            for d in by_id[p].requires.keys().chain(&res.waits_for[p]) {
                let at = pos.get(d);
                prop_assert!(
                    at.is_some_and(|&j| j < i),
                    "{} (at {}) depends on {}, at {:?}; order {:?}", p, i, d, at, res.order
                );
            }
        }

        // (c) Exactly the plugins on a cycle of matching required edges report a cycle, and its
        // path is a real cycle through the plugin.
        let edges = matching_required_edges(&manifests);
        for m in &manifests {
            let cycles: Vec<&Vec<PluginId>> = res
                .disabled
                .get(&m.id)
                .into_iter()
                .flatten()
                .filter_map(|p| match p {
                    Problem::Cycle { path } => Some(path),
                    _ => None,
                })
                .collect();
            if on_a_cycle(&edges, &m.id) {
                prop_assert_eq!(cycles.len(), 1, "{} is on a cycle: {:?}", m.id, res.disabled.get(&m.id));
                let path = cycles[0];
                prop_assert!(path.len() >= 2, "{:?}", path);
                prop_assert_eq!(&path[0], &m.id);
                prop_assert_eq!(path.last(), Some(&m.id));
                for w in path.windows(2) {
                    prop_assert!(
                        edges[&w[0]].contains(&w[1]),
                        "{} -> {} in {:?} is not a required, matching edge", w[0], w[1], path
                    );
                }
            } else {
                prop_assert!(cycles.is_empty(), "{} is on no cycle, yet {:?}", m.id, cycles);
            }
        }

        // (d) Nothing that starts requires something that does not.
        for p in &res.order {
            for d in by_id[p].requires.keys() {
                prop_assert!(!res.disabled.contains_key(d), "{} requires disabled {}", p, d);
                prop_assert!(all.contains(d), "{} requires missing {}", p, d);
            }
        }

        // And the disabled set is exactly what the rules say, computed independently.
        let expected = expected_disabled(&manifests, &constraints);
        let actual: BTreeSet<PluginId> = res.disabled.keys().cloned().collect();
        prop_assert_eq!(actual, expected);
    }

    #[test]
    fn resolution_does_not_depend_on_input_order(specs in graph(), seed in any::<u64>()) {
        let (manifests, constraints) = build(&specs);
        let forward = run_with(&manifests, &constraints);
        let mut shuffled = manifests.clone();
        // A cheap deterministic shuffle.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let j = usize::try_from(s % (i as u64 + 1)).unwrap();
            shuffled.swap(i, j);
        }
        let other = run_with(&shuffled, &constraints);
        prop_assert_eq!(&forward.order, &other.order);
        prop_assert_eq!(&forward.disabled, &other.disabled);
        prop_assert_eq!(&forward.waits_for, &other.waits_for);
    }
}
