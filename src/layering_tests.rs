//! The layering ARCHITECTURE.md promises, checked on the source tree:
//! the core crate (`crates/core`) names no crate that does I/O, and the
//! top-level modules of this crate depend on each other without a cycle
//! (config below checks, orders and alert; the daemon below the CLI).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates that do I/O (sockets, a database, mail, the system resolver) or
/// run it (an async runtime). The core crate may name none of them.
const IO_CRATES: &[&str] = &[
    "tokio",
    "sqlx",
    "reqwest",
    "lettre",
    "hickory-resolver",
    "axum",
    "hyper",
    "tokio-cron-scheduler",
    "sd-notify",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_core_crate_depends_on_no_io_crate() {
    let text = std::fs::read_to_string(root().join("crates/core/Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let mut named = Vec::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) {
            named.extend(deps.keys().cloned());
        }
    }
    assert!(
        named.iter().any(|d| d == "hickory-proto"),
        "the manifest was not read: {named:?}"
    );
    let io: Vec<&String> = named
        .iter()
        .filter(|d| IO_CRATES.contains(&d.as_str()))
        .collect();
    assert!(
        io.is_empty(),
        "crates/core names crates that do I/O: {io:?}; gather in the certvigil crate and pass observations in"
    );
}

/// `crate::<module>` paths used in each top-level module of `src/`
/// (comments skipped), as edges module -> module.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = root().join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in all {
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = first.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" || top == "layering_tests" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                let after = &rest[at + "crate::".len()..];
                // `crate::{a, b::c}` names several modules at once.
                let names: Vec<&str> = if let Some(group) = after.strip_prefix('{') {
                    let group = group.split('}').next().unwrap_or("");
                    group
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap_or(""))
                        .collect()
                } else {
                    vec![
                        after
                            .split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                            .unwrap_or(""),
                    ]
                };
                for name in names {
                    if !name.is_empty() && name != top {
                        graph
                            .entry(top.clone())
                            .or_default()
                            .insert(name.to_string());
                    }
                }
                rest = after;
            }
        }
    }
    graph
}

/// A cycle through the graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_form_no_cycle() {
    let graph = module_graph();
    // The graph was read: config uses the CA catalogue, the CLI the daemon.
    assert!(graph["config"].contains("ca"), "{graph:?}");
    assert!(graph["cli"].contains("daemon"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
}

/// The modules `src/lib.rs` re-exports from the core crate.
const CORE: &[&str] = &["ca", "domain", "drift", "findings", "report"];

#[test]
fn config_depends_on_nothing_above_it() {
    let graph = module_graph();
    let above: Vec<&String> = graph["config"]
        .iter()
        .filter(|m| !CORE.contains(&m.as_str()))
        .collect();
    assert!(
        above.is_empty(),
        "config uses {above:?}; move the type it needs into the core crate"
    );
}

#[test]
fn nothing_depends_on_the_cli() {
    let graph = module_graph();
    let users: Vec<&String> = graph
        .iter()
        .filter(|(_, to)| to.contains("cli"))
        .map(|(from, _)| from)
        .collect();
    assert!(users.is_empty(), "{users:?} use the CLI");
}

#[test]
fn a_cycle_is_found() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph
        .entry("config".into())
        .or_default()
        .insert("orders".into());
    graph
        .entry("orders".into())
        .or_default()
        .insert("alert".into());
    graph
        .entry("alert".into())
        .or_default()
        .insert("config".into());
    assert_eq!(
        find_cycle(&graph).unwrap(),
        ["alert", "config", "orders", "alert"]
    );
}
