//! The layout holds: no import circles in actors/src, between folders or between modules.
//!
//! Reads every `.rs` file under `actors/src` as text, up to its first `#[cfg(test)]` (tests may reach across),
//! and takes each `crate::a::b` path outside comments as an import of module `a::b` (of `a` when `a` is a
//! file). Two checks: the top-level folders (`cache/`, `commands/`, ...) import each other in one direction
//! only, and no module imports one that imports it back, in any number of steps. A failure prints the
//! circle and the import lines that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One `crate::` path in a file: the module it names, and the line it stands on.
struct Import {
    to: String,
    file: PathBuf,
    line: usize,
    text: String,
}

/// Every module (`cache::oncall`, `ports`) with the imports of its non-test code.
fn read_tree(src: &Path) -> BTreeMap<String, Vec<Import>> {
    let folders: BTreeSet<String> = std::fs::read_dir(src)
        .expect("actors/src is readable")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut modules = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a folder of actors/src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src)
                    .expect("under src")
                    .with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts.last().is_some_and(|p| p == "mod") {
                    parts.pop();
                }
                if parts == ["lib"] {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("a source file is readable");
                modules.insert(parts.join("::"), imports(&path, &text, &folders));
            }
        }
    }
    modules
}

/// The `crate::` paths of a file's code before its tests, each cut to the module it names.
fn imports(file: &Path, text: &str, folders: &BTreeSet<String>) -> Vec<Import> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        for (at, _) in code.match_indices("crate::") {
            let path: Vec<&str> = code[at + "crate::".len()..]
                .split("::")
                .map(|seg| {
                    let end = seg
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(seg.len());
                    &seg[..end]
                })
                .take_while(|seg| !seg.is_empty())
                .collect();
            let Some(&top) = path.first() else { continue };
            let to = match path.get(1) {
                Some(inner) if folders.contains(top) => format!("{top}::{inner}"),
                _ => top.to_string(),
            };
            found.push(Import {
                to,
                file: file.to_path_buf(),
                line: n + 1,
                text: code.to_string(),
            });
        }
    }
    found
}

fn folder_of(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// A circle in `edges`, as the nodes in order (the first again at the end), if there is one.
fn find_circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

/// The circle and, for each step of it, the import lines that make it.
fn explain(
    circle: &[String],
    modules: &BTreeMap<String, Vec<Import>>,
    step: impl Fn(&str, &Import, &str) -> bool,
) -> String {
    let mut out = format!("import circle: {}\n", circle.join(" -> "));
    for pair in circle.windows(2) {
        for (module, imports) in modules {
            for i in imports.iter().filter(|i| {
                step(module, i, &pair[0]) && {
                    let to = &i.to;
                    to == &pair[1] || folder_of(to) == pair[1]
                }
            }) {
                out += &format!("  {}:{}: {}\n", i.file.display(), i.line, i.text);
            }
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn folders_import_each_other_one_way_only() {
    let modules = read_tree(&src());
    let is_folder = |m: &str| src().join(folder_of(m)).is_dir();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, imports) in &modules {
        let from = folder_of(module);
        if !is_folder(module) {
            continue;
        }
        for i in imports {
            let to = folder_of(&i.to);
            if to != from && is_folder(to) {
                edges.entry(from.into()).or_default().insert(to.into());
            }
        }
    }
    if let Some(circle) = find_circle(&edges) {
        panic!(
            "{}",
            explain(&circle, &modules, |module, _, from| folder_of(module)
                == from)
        );
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let modules = read_tree(&src());
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, imports) in &modules {
        let deps = edges.entry(module.clone()).or_default();
        for i in imports.iter().filter(|i| &i.to != module) {
            deps.insert(i.to.clone());
        }
    }
    if let Some(circle) = find_circle(&edges) {
        panic!(
            "{}",
            explain(&circle, &modules, |module, _, from| module == from)
        );
    }
}

#[test]
fn a_circle_is_found_and_shown() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    let circle = find_circle(&edges).expect("a -> b -> c -> a");
    assert_eq!(circle.first(), circle.last());
    assert_eq!(circle.len(), 4);
    let mut line = BTreeMap::new();
    line.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    assert_eq!(find_circle(&line), None);

    let folders = BTreeSet::from(["pager".to_string()]);
    let found = imports(
        Path::new("x.rs"),
        "use crate::pager::page::{PageKey};\n// crate::ports\nuse crate::ports::X;\n#[cfg(test)]\nuse crate::utc;\n",
        &folders,
    );
    let to: Vec<&str> = found.iter().map(|i| i.to.as_str()).collect();
    assert_eq!(to, ["pager::page", "ports"]);
}
