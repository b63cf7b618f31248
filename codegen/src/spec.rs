//! `commands.json` from the upstream specification files and the project's overrides.
//!
//! Each upstream object is kept as it is, under its full name (`"CLIENT KILL"`), and
//! gains a `"respec"` object with what the project decides: the Rust method name, which
//! surface the command belongs to (or why it is excluded) and reply-type hints.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// What `spec/overrides.json` holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Overrides {
    /// Full command name -> method name, where the mechanical one will not do.
    rename: BTreeMap<String, String>,
    /// Full command name -> why it gets no typed method.
    exclude: BTreeMap<String, String>,
    /// Full command name -> top-level arguments whose type the project changes, and why.
    retype: BTreeMap<String, Retype>,
    /// Full command name -> reply types of the plain and the `_options` methods.
    reply: BTreeMap<String, ReplyHint>,
    /// Full command name -> what a successful run changes of its connection's state.
    connection_state: BTreeMap<String, StateChange>,
    /// Full command name -> the rule key extraction follows beyond the key specs.
    key_extraction: BTreeMap<String, KeyRule>,
    /// Full command name -> cluster routing tips the spec lacks.
    cluster: BTreeMap<String, ClusterTips>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterTips {
    /// Added to the command's `command_tips`: `REQUEST_POLICY:...`, `RESPONSE_POLICY:...`,
    /// `NONDETERMINISTIC_OUTPUT_ORDER`.
    tips: Vec<String>,
    #[allow(dead_code)] // Read by people: every decision says why.
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    /// `database`, `user`, `protocol` or `everything`.
    changes: String,
    #[allow(dead_code)] // Read by people: every decision says why.
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRule {
    /// `sort-store` or `migrate`.
    rule: String,
    #[allow(dead_code)] // Read by people: every decision says why.
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Retype {
    args: BTreeMap<String, String>,
    #[allow(dead_code)] // Read by people: every change says why.
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyHint {
    plain: Option<String>,
    options: Option<String>,
}

/// The mechanical method name: `CLIENT KILL` -> `client_kill`, `RESTORE-ASKING` ->
/// `restore_asking`.
#[must_use]
pub fn method_name(full_name: &str) -> String {
    crate::names::snake(full_name)
}

/// The vendored command files in `upstream_dir`, by full name (`CLIENT KILL`), each
/// object as it is.
///
/// # Panics
///
/// On an unreadable or malformed file, naming it.
#[must_use]
pub fn vendored(upstream_dir: &Path) -> BTreeMap<String, Map<String, Value>> {
    let mut files: Vec<_> = fs::read_dir(upstream_dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", upstream_dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();

    let mut commands = BTreeMap::new();
    for path in &files {
        let object: Map<String, Value> =
            serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut entries = object.into_iter();
        let (Some((key, Value::Object(command))), None) = (entries.next(), entries.next()) else {
            panic!(
                "{}: expected one object keyed by the command name",
                path.display()
            );
        };
        let full_name = match command.get("container").and_then(Value::as_str) {
            Some(container) => format!("{container} {key}"),
            None => key,
        };
        let first = commands.insert(full_name.clone(), command).is_none();
        assert!(first, "{}: a second entry for {full_name}", path.display());
    }
    commands
}

/// The files of `live_dir` (what `cargo xtask spec --from-server URL --write` kept),
/// sorted by name, parsed; none when the folder is missing.
///
/// # Panics
///
/// On an unreadable or malformed file, naming it.
#[must_use]
pub fn live_files(live_dir: &Path) -> Vec<(String, Value)> {
    let Ok(entries) = fs::read_dir(live_dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let value: Value = serde_json::from_str(&read(&path))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.unwrap_or_default(), value)
        })
        .collect()
}

/// Builds the text of `commands.json` from the upstream files in `upstream_dir`, what a
/// live server added to them (`live_dir`), and the overrides file.
///
/// # Panics
///
/// On unreadable or malformed input, and on an override that names no command, with a
/// message naming the file and the entry.
#[must_use]
pub fn build(upstream_dir: &Path, live_dir: &Path, overrides_path: &Path) -> String {
    let overrides: Overrides = serde_json::from_str(&read(overrides_path))
        .unwrap_or_else(|e| panic!("{}: {e}", overrides_path.display()));

    let mut parsed = vendored(upstream_dir);
    let mut live_sources = Vec::new();
    for (file, live) in live_files(live_dir) {
        crate::live::merge(&mut parsed, &live);
        live_sources.push(format!("spec/live/{file}"));
    }
    let containers: BTreeSet<String> = parsed
        .values()
        .filter_map(|command| command.get("container")?.as_str().map(str::to_owned))
        .collect();

    let mut commands = BTreeMap::new();
    for (full_name, mut command) in parsed {
        // A container is only a prefix for its subcommands, unless it runs on its own
        // too, as COMMAND does.
        let is_container = containers.contains(&full_name) && !command.contains_key("function");
        let only_sentinel = command
            .get("command_flags")
            .and_then(Value::as_array)
            .is_some_and(|flags| flags.iter().any(|f| f == "ONLY_SENTINEL"));
        let method = overrides
            .rename
            .get(&full_name)
            .cloned()
            .unwrap_or_else(|| method_name(&full_name));
        let mut annotations = Map::new();
        annotations.insert("method".into(), json!(method));
        let surface = if is_container {
            "container"
        } else if let Some(reason) = overrides.exclude.get(&full_name) {
            annotations.insert("excluded".into(), json!(reason));
            "excluded"
        } else if only_sentinel {
            "sentinel"
        } else {
            "commands"
        };
        annotations.insert("surface".into(), json!(surface));
        if let Some(provenance) = command.remove("provenance") {
            annotations.insert("provenance".into(), provenance);
        }
        if let Some(hint) = overrides.reply.get(&full_name) {
            if let Some(plain) = &hint.plain {
                annotations.insert("reply".into(), json!(plain));
            }
            if let Some(options) = &hint.options {
                annotations.insert("options_reply".into(), json!(options));
            }
        }
        if let Some(state) = overrides.connection_state.get(&full_name) {
            annotations.insert("connection_state".into(), json!(state.changes));
        }
        if let Some(keys) = overrides.key_extraction.get(&full_name) {
            annotations.insert("key_extraction".into(), json!(keys.rule));
        }
        if let Some(cluster) = overrides.cluster.get(&full_name) {
            let tips = command
                .entry("command_tips")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap_or_else(|| panic!("{full_name}: command_tips is not an array"));
            for tip in &cluster.tips {
                assert!(
                    !tips.iter().any(|t| t == tip),
                    "{}: {full_name} has the tip {tip} already",
                    overrides_path.display()
                );
                tips.push(json!(tip));
            }
            annotations.insert("cluster_tips".into(), json!(cluster.tips));
        }
        if let Some(retype) = overrides.retype.get(&full_name) {
            let arguments = command
                .get_mut("arguments")
                .and_then(Value::as_array_mut)
                .unwrap_or_else(|| {
                    panic!(
                        "{}: {full_name} has no arguments to retype",
                        overrides_path.display()
                    )
                });
            for (name, new_type) in &retype.args {
                let arg = arguments
                    .iter_mut()
                    .find(|arg| arg.get("name").and_then(Value::as_str) == Some(name))
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: {full_name} has no argument {name:?}",
                            overrides_path.display()
                        )
                    });
                arg["type"] = json!(new_type);
            }
            annotations.insert("retyped".into(), json!(retype.args));
        }
        command.insert("respec".into(), Value::Object(annotations));
        commands.insert(full_name, Value::Object(command));
    }

    for name in overrides
        .rename
        .keys()
        .chain(overrides.exclude.keys())
        .chain(overrides.retype.keys())
        .chain(overrides.reply.keys())
        .chain(overrides.connection_state.keys())
        .chain(overrides.key_extraction.keys())
        .chain(overrides.cluster.keys())
    {
        assert!(
            commands.contains_key(name),
            "{}: {name:?} names no command in {}",
            overrides_path.display(),
            upstream_dir.display()
        );
    }

    let mut source =
        "Valkey 8.0.1, src/commands (BSD-3-Clause: see spec/upstream/LICENSE)".to_owned();
    for live in &live_sources {
        source = format!("{source}, plus what {live} adds");
    }
    source.push_str(", with spec/overrides.json applied by `cargo xtask spec`");
    let document = json!({
        "source": source,
        "commands": commands,
    });
    let mut text = serde_json::to_string_pretty(&document).expect("JSON serialises");
    text.push('\n');
    text
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}
