//! The layering of `src/` is what ARCHITECTURE.md says it is.
//!
//! ARCHITECTURE.md lists the modules of the library in layers, lowest first (its
//! "Layers" section). Every path into the crate that a module's code names (`use
//! crate::...`, `use super::...`, an inline `crate::x::y`) must lead to a module on an
//! earlier line. Public re-exports are namespaces, not uses, and are followed to where
//! the item lives. Tests are left out: a module's tests may use anything.
//!
//! Also here: patterns that must not appear anywhere in `src/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Text that must not appear in `src/`, with the reason.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "Instant::now() +",
        "adding a user's duration to an instant can panic: use deadline::after",
    ),
    (
        "Duration::from_secs_f64(",
        "panics on a negative, infinite or huge f64: use deadline::from_secs",
    ),
];

#[test]
fn modules_use_only_the_layers_below_them() {
    let layers = layers_from_architecture();
    let sources = Sources::read();
    let mut problems = Vec::new();

    let listed: BTreeSet<&str> = layers.keys().map(String::as_str).collect();
    for unit in &listed {
        if !sources
            .files
            .values()
            .any(|file| file.module.starts_with_unit(unit))
        {
            problems.push(format!(
                "ARCHITECTURE.md lists `{unit}`, which is no module"
            ));
        }
    }

    for (path, file) in &sources.files {
        let Some(unit) = unit_of(&file.module, &listed) else {
            if !file.module.is_root() {
                problems.push(format!(
                    "{}: module `{}` is in no layer of ARCHITECTURE.md",
                    path.display(),
                    file.module
                ));
            }
            continue;
        };
        for used in &file.uses {
            let Some(target) = sources.resolve(&used.path) else {
                continue;
            };
            let Some(target_unit) = unit_of(&target, &listed) else {
                continue;
            };
            if target_unit != unit && layers[target_unit] >= layers[unit] {
                problems.push(format!(
                    "{}:{}: `{unit}` uses `{}` (in `{target_unit}`), which is not below it",
                    path.display(),
                    used.line,
                    used.path.join("::"),
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the layering of ARCHITECTURE.md is broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn forbidden_patterns_do_not_appear() {
    let mut found = Vec::new();
    for path in rust_files(&Path::new(ROOT).join("src")) {
        let text = fs::read_to_string(&path).unwrap();
        for (idx, line) in text.lines().enumerate() {
            for (pattern, why) in FORBIDDEN {
                if line.contains(pattern) {
                    found.push(format!(
                        "{}:{}: `{pattern}`: {why}",
                        path.display(),
                        idx + 1
                    ));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_checker_sees_what_it_must() {
    let code = "use crate::a::{b::C, d};\n// use crate::hidden;\nlet s = \"crate::no\";\n\
                fn f() { super::x::y(); $crate::m::n; }\npub use crate::shown::Name;\n\
                #[cfg(test)]\nmod tests {\n    use crate::anything;\n}\n";
    let file = SourceFile::parse(Module::from_path("one/two.rs"), code);
    let uses: Vec<String> = file.uses.iter().map(|u| u.path.join("::")).collect();
    assert_eq!(uses, ["a::b::C", "a::d", "one::x::y"]);
    assert_eq!(
        file.uses.iter().map(|u| u.line).collect::<Vec<_>>(),
        [1, 1, 4]
    );
    assert_eq!(file.reexports["Name"], ["shown", "Name"]);
    let listed = BTreeSet::from(["one", "one::two::deep"]);
    assert_eq!(
        unit_of(&Module::from_path("one/two.rs"), &listed),
        Some("one")
    );
    assert_eq!(unit_of(&Module::from_path("lib.rs"), &listed), None);
}

/// The layer of every module ARCHITECTURE.md lists, counted from 0 at the bottom.
fn layers_from_architecture() -> BTreeMap<String, usize> {
    let text = fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let section = text
        .split("\n## Layers\n")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let block = section
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the Layers section lists the layers in a ```text block");
    let mut layers = BTreeMap::new();
    for (idx, line) in block.lines().enumerate() {
        let names = line.split('#').next().unwrap_or_default();
        for name in names.split_whitespace() {
            let previous = layers.insert(name.to_owned(), idx);
            assert!(previous.is_none(), "`{name}` is listed twice");
        }
    }
    layers
}

/// The listed unit a module belongs to: the longest listed name it starts with.
fn unit_of<'a>(module: &Module, listed: &BTreeSet<&'a str>) -> Option<&'a str> {
    listed
        .iter()
        .filter(|unit| module.starts_with_unit(unit))
        .max_by_key(|unit| unit.len())
        .copied()
}

/// A module path inside the crate: `["pool", "tokio"]`; empty for the crate root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Module(Vec<String>);

impl Module {
    /// The module a file under `src/` is: `pool/mod.rs` is `pool`, `lib.rs` the root.
    fn from_path(relative: &str) -> Module {
        let mut segments: Vec<String> = relative
            .trim_end_matches(".rs")
            .split('/')
            .map(str::to_owned)
            .collect();
        if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
            segments.pop();
        }
        Module(segments)
    }

    fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    fn starts_with_unit(&self, unit: &str) -> bool {
        let unit: Vec<&str> = unit.split("::").collect();
        self.0.len() >= unit.len() && self.0.iter().zip(&unit).all(|(a, b)| a == b)
    }

    /// A path as written in this module, made absolute: `super::x` from `a::b` is `a::x`,
    /// and `x::y` (a child module, or another crate) is `a::b::x::y`.
    fn absolute(&self, written: &[String]) -> Option<Vec<String>> {
        let (first, rest) = written.split_first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.0.clone(),
            "super" => self.0.get(..self.0.len().checked_sub(1)?)?.to_vec(),
            _ => {
                let mut path = self.0.clone();
                path.extend(written.iter().cloned());
                return Some(path);
            }
        };
        let mut rest = rest;
        while let Some(("super", more)) = rest.split_first().map(|(s, m)| (s.as_str(), m)) {
            base.pop();
            rest = more;
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }
}

impl std::fmt::Display for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("::"))
    }
}

/// Every file of `src/`, read.
struct Sources {
    files: BTreeMap<PathBuf, SourceFile>,
    /// The paths each name a module re-exports may stand for (a derive macro and its
    /// trait share a name).
    modules: BTreeMap<Module, BTreeMap<String, Vec<Vec<String>>>>,
}

impl Sources {
    fn read() -> Sources {
        let src = Path::new(ROOT).join("src");
        let mut files = BTreeMap::new();
        let mut modules = BTreeMap::new();
        for path in rust_files(&src) {
            let relative = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let file = SourceFile::parse(
                Module::from_path(&relative),
                &fs::read_to_string(&path).unwrap(),
            );
            let names = modules
                .entry(file.module.clone())
                .or_insert_with(BTreeMap::new);
            for (name, path) in &file.reexports {
                names
                    .entry(name.clone())
                    .or_insert_with(Vec::new)
                    .push(path.clone());
            }
            files.insert(path.strip_prefix(ROOT).unwrap().to_owned(), file);
        }
        Sources { files, modules }
    }

    /// The module an absolute path leads to, following re-exports: the longest prefix
    /// that is a module, or where a name it re-exports leads.
    fn resolve(&self, path: &[String]) -> Option<Module> {
        self.resolve_within(path, 8)
    }

    fn resolve_within(&self, path: &[String], hops: usize) -> Option<Module> {
        let split = (0..=path.len())
            .rev()
            .find(|&len| self.modules.contains_key(&Module(path[..len].to_vec())))?;
        let module = Module(path[..split].to_vec());
        let reexported = path
            .get(split)
            .and_then(|name| self.modules[&module].get(name))
            .filter(|_| hops > 0);
        for target in reexported.into_iter().flatten() {
            let mut followed = target.clone();
            followed.extend(path[split + 1..].iter().cloned());
            // A re-export of another crate's item leads to no module of this one.
            match self.resolve_within(&followed, hops - 1) {
                Some(found) if found.0.len() >= target.len() - 1 => return Some(found),
                _ => {}
            }
        }
        Some(module)
    }
}

/// One file: the module it is, the paths its code uses, the names it re-exports.
struct SourceFile {
    module: Module,
    uses: Vec<Use>,
    reexports: BTreeMap<String, Vec<String>>,
}

/// A path into the crate, made absolute, and the line it is on.
struct Use {
    path: Vec<String>,
    line: usize,
}

impl SourceFile {
    fn parse(module: Module, text: &str) -> SourceFile {
        let code = code_only(text);
        let mut file = SourceFile {
            module,
            uses: Vec::new(),
            reexports: BTreeMap::new(),
        };
        let mut rest = code.as_str();
        let mut offset = 0;
        while let Some(at) = find_word(rest, "use") {
            let before = rest[..at].trim_end();
            let public = before.ends_with("pub") || before.ends_with("pub(crate)");
            let Some(len) = rest[at..].find(';') else {
                break;
            };
            let tree = &rest[at + 3..at + len];
            let line = line_of(&code, offset + at);
            for (written, alias) in expand_use_tree(tree) {
                let Some(path) = file.module.absolute(&written) else {
                    continue;
                };
                if public {
                    file.reexports.insert(alias, path.clone());
                }
                // `pub use` only names an item in another place; `pub(crate) use` may
                // also be used here, so it counts as a use.
                if !before.ends_with("pub") {
                    file.uses.push(Use { path, line });
                }
            }
            // What is left of the code with the `use` declaration taken out.
            let (head, tail) = rest.split_at(at + len);
            file.scan_inline(head[..at].as_ref(), &code, offset);
            offset += at + len;
            rest = tail;
        }
        file.scan_inline(rest, &code, offset);
        file
    }

    /// Paths written inline: `crate::x::y(...)`, `super::z`; not `$crate::` in macros.
    fn scan_inline(&mut self, part: &str, code: &str, offset: usize) {
        for start in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(found) = part[from..].find(start) {
                let at = from + found;
                from = at + start.len();
                let prev = part[..at].chars().next_back();
                if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                    continue;
                }
                let written: Vec<String> = part[at..]
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or_default()
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(path) = self.module.absolute(&written) {
                    let line = line_of(code, offset + at);
                    self.uses.push(Use { path, line });
                }
            }
        }
    }
}

/// The code of a file without its comments, the contents of its string and char
/// literals, and its tests (the `#[cfg(test)] mod tests` at the end); line breaks are
/// kept so that lines still count.
fn code_only(text: &str) -> String {
    let text = match text.find("\n#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut idx = 0;
    while idx < chars.len() {
        let rest = &chars[idx..];
        if rest.starts_with(&['/', '/']) {
            while idx < chars.len() && chars[idx] != '\n' {
                idx += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            idx += 2;
            while idx < chars.len() && !chars[idx..].starts_with(&['*', '/']) {
                if chars[idx] == '\n' {
                    out.push('\n');
                }
                idx += 1;
            }
            idx += 2;
        } else if chars[idx] == 'r' && matches!(rest.get(1), Some('"' | '#')) && is_raw_start(rest)
        {
            let hashes = rest[1..].iter().take_while(|&&c| c == '#').count();
            idx += 2 + hashes;
            let mut close = vec!['"'];
            close.extend(std::iter::repeat_n('#', hashes));
            while idx < chars.len() && !chars[idx..].starts_with(&close) {
                if chars[idx] == '\n' {
                    out.push('\n');
                }
                idx += 1;
            }
            idx += close.len();
            out.push_str("\"\"");
        } else if chars[idx] == '"' {
            idx += 1;
            while idx < chars.len() && chars[idx] != '"' {
                if chars[idx] == '\\' {
                    idx += 1;
                }
                if chars.get(idx) == Some(&'\n') {
                    out.push('\n');
                }
                idx += 1;
            }
            idx += 1;
            out.push_str("\"\"");
        } else if chars[idx] == '\'' && is_char_literal(rest) {
            idx += 1;
            while idx < chars.len() && chars[idx] != '\'' {
                if chars[idx] == '\\' {
                    idx += 1;
                }
                idx += 1;
            }
            idx += 1;
            out.push_str("' '");
        } else {
            out.push(chars[idx]);
            idx += 1;
        }
    }
    out
}

/// `r"` or `r#"`, not an identifier ending in r.
fn is_raw_start(rest: &[char]) -> bool {
    let hashes = rest[1..].iter().take_while(|&&c| c == '#').count();
    rest.get(1 + hashes) == Some(&'"')
}

/// `'x'` or `'\n'`, not a lifetime `'a`.
fn is_char_literal(rest: &[char]) -> bool {
    rest.get(1) == Some(&'\\') || rest.get(2) == Some(&'\'')
}

/// Where `word` appears as a whole word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if boundary(before) && boundary(after) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

fn line_of(code: &str, offset: usize) -> usize {
    code[..offset.min(code.len())].matches('\n').count() + 1
}

/// The paths a use tree names, each with the name it is known by:
/// `a::{b::C, d as e}` gives `a::b::C` (`C`) and `a::d` (`e`).
fn expand_use_tree(tree: &str) -> Vec<(Vec<String>, String)> {
    let tree: String = tree
        .chars()
        .filter(|c| !c.is_whitespace() || *c == ' ')
        .collect();
    let tree = tree.trim();
    let mut out = Vec::new();
    expand_into(&[], tree, &mut out);
    out
}

fn expand_into(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let base = tree[..open].trim_end_matches("::");
        let mut path = prefix.to_vec();
        path.extend(
            base.split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (idx, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_into(&path, &inner[start..idx], out);
                    start = idx + 1;
                }
                _ => {}
            }
        }
        expand_into(&path, &inner[start..], out);
        return;
    }
    if tree.is_empty() || tree.ends_with('*') {
        return;
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((path, alias)) => (path.trim(), Some(alias.trim())),
        None => (tree, None),
    };
    let mut full = prefix.to_vec();
    full.extend(path.split("::").map(str::to_owned));
    if full.last().is_some_and(|last| last == "self") {
        full.pop();
    }
    let name = alias.map_or_else(|| full.last().cloned().unwrap_or_default(), str::to_owned);
    out.push((full, name));
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}
