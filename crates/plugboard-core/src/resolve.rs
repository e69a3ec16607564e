//! Dependency resolution: which plugins can start, in what order, and why the others cannot.
//!
//! Like PF4J's `DependencyResolver`, the resolver reports every problem at once (each missing
//! dependency with the version that was found, each cycle with its full path), disables what
//! cannot start and everything that requires it, and lets all other plugins go on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use plugboard_manifest::{Manifest, PluginId};
use semver::{Version, VersionReq};
use serde::Serialize;

/// Why a plugin cannot start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// The host configuration sets `enabled: false`.
    DisabledByConfig,
    /// The host configuration asks for a version this plugin does not have.
    ConfigVersion {
        /// The configured requirement.
        requirement: VersionReq,
        /// The version present.
        found: Version,
    },
    /// The plugin needs a plugin API version this host does not implement.
    ApiMismatch {
        /// The manifest's `api`.
        required: VersionReq,
        /// The host's API version.
        host: Version,
    },
    /// A required plugin is not installed.
    Missing {
        /// The dependency.
        dependency: PluginId,
        /// The required version.
        requirement: VersionReq,
    },
    /// A required plugin is installed in a version that does not match.
    WrongVersion {
        /// The dependency.
        dependency: PluginId,
        /// The required version.
        requirement: VersionReq,
        /// The version installed.
        found: Version,
    },
    /// The plugin is part of a dependency cycle.
    Cycle {
        /// The cycle, starting and ending with this plugin.
        path: Vec<PluginId>,
    },
    /// Its runtime cannot load it (missing runtime, missing entry, failed integrity check).
    Unavailable {
        /// What the runtime said.
        message: String,
    },
    /// A required plugin is installed but cannot start itself.
    DependencyDisabled {
        /// The dependency.
        dependency: PluginId,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::DisabledByConfig => write!(f, "disabled in the host configuration (enabled: false)"),
            Problem::ConfigVersion { requirement, found } => write!(
                f,
                "the host configuration requires version {requirement}, but {found} is installed; install a matching version or change the requirement"
            ),
            Problem::ApiMismatch { required, host } => write!(
                f,
                "needs plugin API {required}, but this host implements {host}; use a plugin build for API {}",
                host.major
            ),
            Problem::Missing { dependency, requirement } => write!(
                f,
                "requires {dependency} {requirement}, which is not installed; install it or remove it from `requires`"
            ),
            Problem::WrongVersion { dependency, requirement, found } => write!(
                f,
                "requires {dependency} {requirement}, but version {found} is installed; install a matching version"
            ),
            Problem::Cycle { path } => {
                let p: Vec<&str> = path.iter().map(PluginId::as_str).collect();
                write!(f, "dependency cycle: {}; break it by making one of these dependencies `optional`", p.join(" -> "))
            }
            Problem::Unavailable { message } => f.write_str(message),
            Problem::DependencyDisabled { dependency } => {
                write!(f, "requires {dependency}, which cannot start")
            }
        }
    }
}

/// The outcome of resolution.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Plugins that can start, each after everything it depends on.
    pub order: Vec<PluginId>,
    /// For each plugin that can start: what it waits for (required and present optional
    /// dependencies).
    pub waits_for: BTreeMap<PluginId, Vec<PluginId>>,
    /// Plugins that cannot start, with every reason.
    pub disabled: BTreeMap<PluginId, Vec<Problem>>,
    /// Things worth an operator's attention that do not stop anything.
    pub warnings: Vec<(PluginId, String)>,
}

impl Resolution {
    /// The reasons `id` is disabled, joined into one line; `None` if it can start.
    pub fn reason(&self, id: &str) -> Option<String> {
        self.disabled.get(id).map(|ps| {
            ps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// What the resolver needs to know about the host configuration.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    /// Plugins the operator disabled.
    pub disabled: BTreeSet<PluginId>,
    /// Version requirements the operator set.
    pub versions: BTreeMap<PluginId, VersionReq>,
    /// Plugins their runtime cannot load, with the runtime's message.
    pub unavailable: BTreeMap<PluginId, String>,
}

/// Resolves `plugins` against each other and the host's plugin API version `api`.
pub fn resolve(plugins: &[&Manifest], api: &Version, constraints: &Constraints) -> Resolution {
    let by_id: BTreeMap<&PluginId, &Manifest> = plugins.iter().map(|m| (&m.id, *m)).collect();
    let mut res = Resolution::default();
    let mut problems: BTreeMap<PluginId, Vec<Problem>> = BTreeMap::new();

    for m in plugins {
        let mut own = Vec::new();
        if constraints.disabled.contains(&m.id) {
            own.push(Problem::DisabledByConfig);
        }
        if let Some(req) = constraints.versions.get(&m.id) {
            if !req.matches(&m.version) {
                own.push(Problem::ConfigVersion {
                    requirement: req.clone(),
                    found: m.version.clone(),
                });
            }
        }
        if let Some(message) = constraints.unavailable.get(&m.id) {
            own.push(Problem::Unavailable {
                message: message.clone(),
            });
        }
        if !m.api.matches(api) {
            own.push(Problem::ApiMismatch {
                required: m.api.clone(),
                host: api.clone(),
            });
        }
        for (dep, req) in &m.requires {
            match by_id.get(dep) {
                None => own.push(Problem::Missing {
                    dependency: dep.clone(),
                    requirement: req.clone(),
                }),
                Some(d) if !req.matches(&d.version) => own.push(Problem::WrongVersion {
                    dependency: dep.clone(),
                    requirement: req.clone(),
                    found: d.version.clone(),
                }),
                Some(_) => {}
            }
        }
        for (dep, req) in &m.optional {
            if let Some(d) = by_id.get(dep) {
                if !req.matches(&d.version) {
                    res.warnings.push((
                        m.id.clone(),
                        format!(
                            "optional dependency {dep} {req} is installed as {}; it will not be used",
                            d.version
                        ),
                    ));
                }
            }
        }
        if !own.is_empty() {
            problems.insert(m.id.clone(), own);
        }
    }

    // Cycles among required dependencies that are present in a matching version.
    let required_edges = |m: &Manifest| -> Vec<PluginId> {
        m.requires
            .iter()
            .filter(|(d, req)| by_id.get(d).is_some_and(|dm| req.matches(&dm.version)))
            .map(|(d, _)| d.clone())
            .collect()
    };
    let graph: BTreeMap<PluginId, Vec<PluginId>> = plugins
        .iter()
        .map(|m| (m.id.clone(), required_edges(m)))
        .collect();
    for scc in strongly_connected(&graph) {
        let cyclic = scc.len() > 1 || graph[&scc[0]].contains(&scc[0]);
        if !cyclic {
            continue;
        }
        let members: BTreeSet<&PluginId> = scc.iter().collect();
        for id in &scc {
            let path = cycle_through(id, &graph, &members);
            problems
                .entry(id.clone())
                .or_default()
                .push(Problem::Cycle { path });
        }
    }

    // Anything that requires a disabled plugin is disabled too, transitively. A dependency
    // already blamed (wrong version, on the plugin's cycle) is not blamed twice. Plugins are
    // visited by id so that the reasons come out in the same order whatever the input order.
    loop {
        let mut changed = false;
        for m in by_id.values() {
            for dep in m.requires.keys() {
                if problems.contains_key(dep)
                    && !problems.get(&m.id).is_some_and(|ps| {
                        ps.iter().any(|p| matches!(p, Problem::DependencyDisabled { dependency } if dependency == dep)
                            || matches!(p, Problem::WrongVersion { dependency, .. } if dependency == dep)
                            || matches!(p, Problem::Cycle { path } if path.contains(dep)))
                    })
                {
                    problems
                        .entry(m.id.clone())
                        .or_default()
                        .push(Problem::DependencyDisabled { dependency: dep.clone() });
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }

    // Order the rest: required edges plus optional ones to plugins that can start.
    let enabled: BTreeSet<&PluginId> = plugins
        .iter()
        .map(|m| &m.id)
        .filter(|id| !problems.contains_key(*id))
        .collect();
    let mut waits: BTreeMap<PluginId, BTreeSet<PluginId>> = BTreeMap::new();
    for m in plugins.iter().filter(|m| enabled.contains(&m.id)) {
        let mut w: BTreeSet<PluginId> = m.requires.keys().cloned().collect();
        for (dep, req) in &m.optional {
            if enabled.contains(dep) && req.matches(&by_id[dep].version) && dep != &m.id {
                w.insert(dep.clone());
            }
        }
        waits.insert(m.id.clone(), w);
    }
    // Optional edges can still close a cycle; such edges lose their ordering, with a warning.
    let as_graph: BTreeMap<PluginId, Vec<PluginId>> = waits
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
        .collect();
    for scc in strongly_connected(&as_graph) {
        if scc.len() < 2 {
            continue;
        }
        let members: BTreeSet<PluginId> = scc.iter().cloned().collect();
        for id in &scc {
            let optional: Vec<PluginId> = by_id[id]
                .optional
                .keys()
                .filter(|d| members.contains(*d))
                .cloned()
                .collect();
            for dep in optional {
                if let Some(w) = waits.get_mut(id) {
                    w.remove(&dep);
                }
                res.warnings.push((
                    id.clone(),
                    format!("optional dependency {dep} is part of a cycle; the two may start in any order"),
                ));
            }
        }
    }

    res.order = topological(&waits);
    res.waits_for = waits
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    res.disabled = problems;
    res
}

/// Kahn's algorithm, smallest id first among the ready ones, so the order is deterministic.
fn topological(waits: &BTreeMap<PluginId, BTreeSet<PluginId>>) -> Vec<PluginId> {
    let mut remaining: BTreeMap<&PluginId, usize> =
        waits.iter().map(|(k, v)| (k, v.len())).collect();
    let mut dependents: BTreeMap<&PluginId, Vec<&PluginId>> = BTreeMap::new();
    for (k, v) in waits {
        for d in v {
            dependents.entry(d).or_default().push(k);
        }
    }
    let mut ready: BTreeSet<&PluginId> = remaining
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut order = Vec::with_capacity(waits.len());
    while let Some(next) = ready.pop_first() {
        order.push(next.clone());
        for dep in dependents.get(next).into_iter().flatten() {
            let n = remaining.get_mut(dep).expect("every dependent is a node");
            *n -= 1;
            if *n == 0 {
                ready.insert(dep);
            }
        }
    }
    order
}

/// Tarjan's strongly connected components, iterative so that a long chain cannot overflow the
/// stack. Edges to ids that are not nodes are ignored.
fn strongly_connected(graph: &BTreeMap<PluginId, Vec<PluginId>>) -> Vec<Vec<PluginId>> {
    let ids: Vec<&PluginId> = graph.keys().collect();
    let index_of: BTreeMap<&PluginId, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let adj: Vec<Vec<usize>> = ids
        .iter()
        .map(|id| {
            graph[*id]
                .iter()
                .filter_map(|d| index_of.get(d).copied())
                .collect()
        })
        .collect();
    let n = ids.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&w) = adj[v].get(*edge) {
                *edge += 1;
                if index[w] == usize::MAX {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut scc = Vec::new();
                    loop {
                        let w = stack.pop().expect("v is on the stack");
                        on_stack[w] = false;
                        scc.push(ids[w].clone());
                        if w == v {
                            break;
                        }
                    }
                    scc.sort();
                    out.push(scc);
                }
            }
        }
    }
    out
}

/// A shortest cycle from `start` back to itself inside one strongly connected component.
fn cycle_through(
    start: &PluginId,
    graph: &BTreeMap<PluginId, Vec<PluginId>>,
    members: &BTreeSet<&PluginId>,
) -> Vec<PluginId> {
    // Breadth-first search for the shortest way back to `start`.
    let mut prev: BTreeMap<&PluginId, &PluginId> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen: BTreeSet<&PluginId> = BTreeSet::new();
    while let Some(v) = queue.pop_front() {
        for w in &graph[v] {
            if !members.contains(w) {
                continue;
            }
            if w == start {
                let mut back = Vec::new();
                let mut cur = v;
                while cur != start {
                    back.push(cur.clone());
                    cur = prev[cur];
                }
                back.reverse();
                let mut path = Vec::with_capacity(back.len() + 2);
                path.push(start.clone());
                path.extend(back);
                path.push(start.clone());
                return path;
            }
            if seen.insert(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start.clone(), start.clone()]
}

#[cfg(test)]
mod tests;
