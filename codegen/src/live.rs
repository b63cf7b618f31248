//! The command spec as a live server tells it (`COMMAND DOCS` and `COMMAND INFO`),
//! compared with the vendored files, and what it adds to them.
//!
//! `cargo xtask spec --from-server URL` fetches the two replies (as JSON), and this
//! module turns them into the vendored files' shape ([`LiveSpec::from_replies`]), says
//! command by command what the vendored spec lacks or has otherwise ([`compare`]), and,
//! with `--write`, keeps what it lacks in `spec/live/` ([`additions`]), which
//! [`crate::spec::build`] merges into `commands.json`. The vendored files stay
//! authoritative: the live part only adds commands, subcommands and arguments, each
//! marked with where it came from; changed flags, key specs and tips are reported, not
//! merged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// Flags `COMMAND INFO` reports that the spec files do not carry: worked out by the
/// server from the key specs.
const DERIVED_FLAGS: &[&str] = &["MOVABLEKEYS"];

/// A server's commands in the vendored files' shape, by full name (`CLIENT KILL`).
#[derive(Debug)]
pub struct LiveSpec {
    /// Who answered: `Valkey 9.1.2`.
    pub server: String,
    pub commands: BTreeMap<String, Map<String, Value>>,
}

impl LiveSpec {
    /// Builds the spec from the replies to `COMMAND DOCS` (a map of name to docs) and
    /// `COMMAND INFO` (an array of entries), both as RESP3 sends them, in JSON.
    ///
    /// # Panics
    ///
    /// On a reply not in the shape a server sends, naming the command.
    #[must_use]
    pub fn from_replies(server: &str, docs: &Value, info: &Value) -> LiveSpec {
        let mut infos = BTreeMap::new();
        for entry in info.as_array().expect("COMMAND INFO answers an array") {
            collect_info(entry, &mut infos);
        }
        let mut commands = BTreeMap::new();
        let docs = docs.as_object().expect("COMMAND DOCS answers a map");
        for (name, doc) in docs {
            collect_docs(name, doc, None, &infos, &mut commands);
        }
        LiveSpec {
            server: server.to_owned(),
            commands,
        }
    }
}

/// `COMMAND INFO`'s facts of one command and its subcommands, by full name.
fn collect_info<'a>(entry: &'a Value, out: &mut BTreeMap<String, &'a [Value]>) {
    let fields = entry.as_array().expect("a COMMAND INFO entry is an array");
    let name = fields
        .first()
        .and_then(Value::as_str)
        .expect("a COMMAND INFO entry starts with the name");
    out.insert(full_name(name), fields);
    if let Some(subcommands) = fields.get(9).and_then(Value::as_array) {
        for sub in subcommands {
            collect_info(sub, out);
        }
    }
}

/// `client|kill` -> `CLIENT KILL`.
fn full_name(name: &str) -> String {
    name.replace('|', " ").to_ascii_uppercase()
}

fn collect_docs(
    name: &str,
    doc: &Value,
    container: Option<&str>,
    infos: &BTreeMap<String, &[Value]>,
    out: &mut BTreeMap<String, Map<String, Value>>,
) {
    let full = full_name(name);
    let mut command = Map::new();
    for field in ["summary", "complexity", "group", "since"] {
        if let Some(value) = doc.get(field) {
            command.insert(field.into(), value.clone());
        }
    }
    if let Some(container) = container {
        command.insert("container".into(), json!(container));
    }
    if let Some(history) = doc.get("history").and_then(Value::as_array)
        && !history.is_empty()
    {
        command.insert("history".into(), Value::Array(history.clone()));
    }
    for field in ["deprecated_since", "replaced_by"] {
        if let Some(value) = doc.get(field) {
            command.insert(field.into(), value.clone());
        }
    }
    if let Some(flags) = doc.get("doc_flags").and_then(Value::as_array)
        && !flags.is_empty()
    {
        command.insert("doc_flags".into(), upper_all(flags, ""));
    }
    let info = infos
        .get(&full)
        .unwrap_or_else(|| panic!("{full}: in COMMAND DOCS but not in COMMAND INFO"));
    command.insert("arity".into(), info.get(1).cloned().unwrap_or(json!(0)));
    let flags = info
        .get(2)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let flags: Vec<Value> = upper_all(&flags, "")
        .as_array()
        .into_iter()
        .flatten()
        .filter(|flag| !DERIVED_FLAGS.iter().any(|derived| flag == derived))
        .cloned()
        .collect();
    if !flags.is_empty() {
        command.insert("command_flags".into(), Value::Array(flags));
    }
    if let Some(acl) = info.get(6).and_then(Value::as_array)
        && !acl.is_empty()
    {
        command.insert("acl_categories".into(), upper_all(acl, "@"));
    }
    if let Some(tips) = info.get(7).and_then(Value::as_array)
        && !tips.is_empty()
    {
        command.insert("command_tips".into(), upper_all(tips, ""));
    }
    if let Some(specs) = info.get(8).and_then(Value::as_array)
        && !specs.is_empty()
    {
        let specs = specs.iter().map(|spec| key_spec(&full, spec)).collect();
        command.insert("key_specs".into(), Value::Array(specs));
    }
    if let Some(arguments) = doc.get("arguments").and_then(Value::as_array) {
        let arguments = arguments.iter().map(argument).collect();
        command.insert("arguments".into(), Value::Array(arguments));
    }
    if let Some(subcommands) = doc.get("subcommands").and_then(Value::as_object) {
        for (sub, sub_doc) in subcommands {
            collect_docs(sub, sub_doc, Some(&full), infos, out);
        }
    }
    out.insert(full, command);
}

/// Every string in `values` in capitals, without `prefix`.
fn upper_all(values: &[Value], prefix: &str) -> Value {
    values
        .iter()
        .filter_map(Value::as_str)
        .map(|v| json!(v.strip_prefix(prefix).unwrap_or(v).to_ascii_uppercase()))
        .collect()
}

/// One key spec as the spec files write it: `{"index": {"pos": 1}}` for `COMMAND
/// INFO`'s `{"type": "index", "spec": {"index": 1}}`, and so on.
fn key_spec(command: &str, spec: &Value) -> Value {
    let part = |name: &str| -> (&str, &Value) {
        let part = spec
            .get(name)
            .unwrap_or_else(|| panic!("{command}: a key spec without {name}"));
        let kind = part
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        (kind, part.get("spec").unwrap_or(&Value::Null))
    };
    let num = |spec: &Value, field: &str| spec.get(field).cloned().unwrap_or(json!(0));
    let begin = match part("begin_search") {
        ("index", s) => json!({"index": {"pos": num(s, "index")}}),
        ("keyword", s) => json!({"keyword": {
            "keyword": s.get("keyword").cloned().unwrap_or(json!("")),
            "startfrom": num(s, "startfrom"),
        }}),
        _ => json!({"unknown": null}),
    };
    let find = match part("find_keys") {
        ("range", s) => json!({"range": {
            "lastkey": num(s, "lastkey"),
            "step": num(s, "keystep"),
            "limit": num(s, "limit"),
        }}),
        ("keynum", s) => json!({"keynum": {
            "keynumidx": num(s, "keynumidx"),
            "firstkey": num(s, "firstkey"),
            "step": num(s, "keystep"),
        }}),
        _ => json!({"unknown": null}),
    };
    let flags = spec
        .get("flags")
        .and_then(Value::as_array)
        .map_or(json!([]), |flags| upper_all(flags, ""));
    let mut out = json!({"flags": flags, "begin_search": begin, "find_keys": find});
    if let Some(notes) = spec.get("notes") {
        out["notes"] = notes.clone();
    }
    out
}

/// One argument as the spec files write it: flags as booleans, the display text only
/// where it is not the name.
fn argument(doc: &Value) -> Value {
    let mut out = Map::new();
    let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
    out.insert("name".into(), json!(name));
    for field in [
        "type",
        "key_spec_index",
        "token",
        "since",
        "deprecated_since",
    ] {
        if let Some(value) = doc.get(field) {
            out.insert(field.into(), value.clone());
        }
    }
    if let Some(display) = doc.get("display_text").and_then(Value::as_str)
        && display != name
    {
        out.insert("display".into(), json!(display));
    }
    for flag in doc
        .get("flags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if matches!(flag, "optional" | "multiple" | "multiple_token") {
            out.insert(flag.into(), json!(true));
        }
    }
    if let Some(children) = doc.get("arguments").and_then(Value::as_array) {
        out.insert("arguments".into(), children.iter().map(argument).collect());
    }
    Value::Object(out)
}

/// What a live server has that the vendored spec does not, or has otherwise.
#[derive(Debug, Default)]
pub struct Report {
    pub new_commands: Vec<(String, String)>,
    /// Command, the argument's path, and its `since`.
    pub new_arguments: Vec<(String, String, String)>,
    /// Command and the argument's path: arguments the vendored spec names or arranges
    /// otherwise (they have no `since`), not merged.
    pub other_arguments: Vec<(String, String)>,
    /// Command, the argument's path, and whether the server made it optional (else
    /// required). A command whose arguments changed so gets none of its new arguments
    /// merged: they may need the new arrangement (`GEOSEARCH ... BYPOLYGON` comes
    /// without `FROM...`, which the vendored spec requires).
    pub changed_optional: Vec<(String, String, bool)>,
    /// Command, flags added, flags gone.
    pub changed_flags: Vec<(String, Vec<String>, Vec<String>)>,
    pub changed_key_specs: Vec<String>,
    /// Command, tips added, tips gone.
    pub changed_tips: Vec<(String, Vec<String>, Vec<String>)>,
    /// Command, vendored arity, live arity.
    pub changed_arity: Vec<(String, i64, i64)>,
    /// Vendored commands the server does not have.
    pub missing_on_server: Vec<String>,
}

impl Report {
    /// The report as text, a line a finding, grouped by kind.
    #[must_use]
    pub fn render(&self, server: &str) -> String {
        let mut out =
            format!("What a live {server} has that the vendored spec lacks or has otherwise:\n");
        let mut section = |title: &str, lines: Vec<String>| {
            let _ = writeln!(out, "\n{title} ({}):", lines.len());
            for line in lines {
                let _ = writeln!(out, "  {line}");
            }
        };
        section(
            "new commands and subcommands",
            self.new_commands
                .iter()
                .map(|(name, since)| format!("{name} (since {since})"))
                .collect(),
        );
        section(
            "new arguments",
            self.new_arguments
                .iter()
                .map(|(name, path, since)| format!("{name}: {path} (since {since})"))
                .collect(),
        );
        section(
            "arguments named or arranged otherwise (not merged)",
            self.other_arguments
                .iter()
                .map(|(name, path)| format!("{name}: {path}"))
                .collect(),
        );
        section(
            "arguments made optional or required (the command's new arguments not merged)",
            self.changed_optional
                .iter()
                .map(|(name, path, optional)| {
                    let now = if *optional { "optional" } else { "required" };
                    format!("{name}: {path} is {now}")
                })
                .collect(),
        );
        section(
            "changed flags",
            self.changed_flags
                .iter()
                .map(|(name, added, gone)| format!("{name}: +{added:?} -{gone:?}"))
                .collect(),
        );
        section("changed key specs", self.changed_key_specs.clone());
        section(
            "changed tips",
            self.changed_tips
                .iter()
                .map(|(name, added, gone)| format!("{name}: +{added:?} -{gone:?}"))
                .collect(),
        );
        section(
            "changed arity",
            self.changed_arity
                .iter()
                .map(|(name, ours, theirs)| format!("{name}: {ours} -> {theirs}"))
                .collect(),
        );
        section(
            "in the vendored spec, not on this server",
            self.missing_on_server.clone(),
        );
        out
    }
}

/// Compares the live spec with the vendored commands (by full name, in the files'
/// shape).
#[must_use]
pub fn compare(vendored: &BTreeMap<String, Map<String, Value>>, live: &LiveSpec) -> Report {
    let mut report = Report::default();
    // Some flags are never in COMMAND INFO (SENTINEL, PROTECTED...): compare the others.
    let reported: BTreeSet<String> = live
        .commands
        .values()
        .flat_map(|command| strings(command, "command_flags"))
        .collect();
    for (name, theirs) in &live.commands {
        let Some(ours) = vendored.get(name) else {
            report
                .new_commands
                .push((name.clone(), text(theirs, "since")));
            continue;
        };
        let mut changed = Vec::new();
        optionality(args(ours), args(theirs), "", &mut changed);
        let mergeable = changed.is_empty();
        for (path, optional) in changed {
            report.changed_optional.push((name.clone(), path, optional));
        }
        let mut new_args = Vec::new();
        new_arguments(args(ours), args(theirs), "", &mut new_args);
        for (path, since) in new_args {
            match since {
                Some(since) if mergeable => {
                    report.new_arguments.push((name.clone(), path, since));
                }
                _ => report.other_arguments.push((name.clone(), path)),
            }
        }
        let flags = |command: &Map<String, Value>| -> BTreeSet<String> {
            strings(command, "command_flags")
                .intersection(&reported)
                .cloned()
                .collect()
        };
        let (added, gone) = difference(&flags(ours), &flags(theirs));
        if !added.is_empty() || !gone.is_empty() {
            report.changed_flags.push((name.clone(), added, gone));
        }
        if key_specs(ours) != key_specs(theirs) {
            report.changed_key_specs.push(name.clone());
        }
        let (added, gone) = difference(
            &strings(ours, "command_tips"),
            &strings(theirs, "command_tips"),
        );
        if !added.is_empty() || !gone.is_empty() {
            report.changed_tips.push((name.clone(), added, gone));
        }
        let arity = |c: &Map<String, Value>| c.get("arity").and_then(Value::as_i64).unwrap_or(0);
        if arity(ours) != arity(theirs) {
            report
                .changed_arity
                .push((name.clone(), arity(ours), arity(theirs)));
        }
    }
    report.missing_on_server = vendored
        .keys()
        .filter(|name| !live.commands.contains_key(*name))
        .cloned()
        .collect();
    report
}

fn text(command: &Map<String, Value>, field: &str) -> String {
    command
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

fn args(command: &Map<String, Value>) -> &[Value] {
    command
        .get("arguments")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn arg_name(arg: &Value) -> &str {
    arg.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// Whether two arguments are the same one: names are compared ignoring case, as the
/// files and servers write some (`BCAST`, `bcast`) differently.
fn same_arg(a: &Value, b: &Value) -> bool {
    arg_name(a).eq_ignore_ascii_case(arg_name(b))
}

/// The `since` of an argument that is new: without one, an argument the vendored spec
/// lacks is one it names or arranges otherwise (`BGSAVE`'s `SCHEDULE` inside an
/// `operation` choice), which is reported but never merged.
fn new_since(arg: &Value) -> Option<&str> {
    arg.get("since").and_then(Value::as_str)
}

/// The arguments of `theirs` that `ours` lacks, as paths (`condition/ifeq`), with their
/// `since`.
fn new_arguments(
    ours: &[Value],
    theirs: &[Value],
    prefix: &str,
    out: &mut Vec<(String, Option<String>)>,
) {
    for arg in theirs {
        let path = format!("{prefix}{}", arg_name(arg));
        match ours.iter().find(|o| same_arg(o, arg)) {
            None => out.push((path, new_since(arg).map(str::to_owned))),
            Some(mine) => new_arguments(children(mine), children(arg), &format!("{path}/"), out),
        }
    }
}

/// The arguments both have whose optionality differs, as paths, with `true` where the
/// server made one optional.
fn optionality(ours: &[Value], theirs: &[Value], prefix: &str, out: &mut Vec<(String, bool)>) {
    let optional = |arg: &Value| {
        arg.get("optional")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    for arg in theirs {
        if let Some(mine) = ours.iter().find(|o| same_arg(o, arg)) {
            let path = format!("{prefix}{}", arg_name(mine));
            if optional(mine) != optional(arg) {
                out.push((path.clone(), optional(arg)));
            }
            optionality(children(mine), children(arg), &format!("{path}/"), out);
        }
    }
}

fn children(arg: &Value) -> &[Value] {
    arg.get("arguments")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The strings of a list field, as a set.
fn strings(command: &Map<String, Value>, field: &str) -> BTreeSet<String> {
    command
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// What `theirs` has that `ours` lacks, and the other way round.
fn difference(ours: &BTreeSet<String>, theirs: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (
        theirs.difference(ours).cloned().collect(),
        ours.difference(theirs).cloned().collect(),
    )
}

/// The key specs without their notes (free text) and with their flags in order, for
/// comparing.
fn key_specs(command: &Map<String, Value>) -> Vec<Value> {
    command
        .get("key_specs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|spec| {
            let mut spec = spec.clone();
            if let Some(spec) = spec.as_object_mut() {
                spec.remove("notes");
                if let Some(Value::Array(flags)) = spec.get_mut("flags") {
                    flags.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                }
            }
            spec
        })
        .collect()
}

/// What `spec/live/` keeps of a live spec: the commands the vendored spec lacks, whole,
/// and the arguments it lacks, each with the path of its parent and the sibling it
/// follows, so the merge can put it in place.
#[must_use]
pub fn additions(vendored: &BTreeMap<String, Map<String, Value>>, live: &LiveSpec) -> Value {
    let mut commands = Map::new();
    let mut arguments = Map::new();
    for (name, theirs) in &live.commands {
        let Some(ours) = vendored.get(name) else {
            commands.insert(name.clone(), Value::Object(theirs.clone()));
            continue;
        };
        let mut changed = Vec::new();
        optionality(args(ours), args(theirs), "", &mut changed);
        if !changed.is_empty() {
            continue;
        }
        let mut placed = Vec::new();
        placements(args(ours), args(theirs), &[], &mut placed);
        if !placed.is_empty() {
            arguments.insert(name.clone(), Value::Array(placed));
        }
    }
    json!({
        "source": format!(
            "COMMAND DOCS and COMMAND INFO of a live {} (BSD-3-Clause: see spec/upstream/LICENSE), \
             written by `cargo xtask spec --from-server URL --write`",
            live.server
        ),
        "server": live.server,
        "commands": commands,
        "arguments": arguments,
    })
}

/// Each new argument of `theirs` (one with a `since`) that `ours` lacks, with where it
/// goes: its parent's path and the sibling it follows, by the vendored names.
fn placements(ours: &[Value], theirs: &[Value], parent: &[&str], out: &mut Vec<Value>) {
    let mut after: Option<&str> = None;
    for arg in theirs {
        match ours.iter().find(|o| same_arg(o, arg)) {
            None => {
                if new_since(arg).is_some() {
                    out.push(json!({"parent": parent, "after": after, "argument": arg}));
                    after = Some(arg_name(arg));
                }
            }
            Some(mine) => {
                let mut path = parent.to_vec();
                path.push(arg_name(mine));
                placements(children(mine), children(arg), &path, out);
                after = Some(arg_name(mine));
            }
        }
    }
}

/// Applies one `spec/live/` file to the vendored commands: its commands where the
/// vendored spec has none of that name, and its arguments where the command has none of
/// that name, each marked `"provenance": "from a live <server>"`. Returns the names of
/// the commands added whole.
///
/// # Panics
///
/// When an argument's parent is not there, naming the file's entry.
pub fn merge(commands: &mut BTreeMap<String, Map<String, Value>>, live: &Value) -> Vec<String> {
    let server = live
        .get("server")
        .and_then(Value::as_str)
        .unwrap_or("server");
    let provenance = json!(format!("from a live {server}"));
    let mut added = Vec::new();
    for (name, command) in live
        .get("commands")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if commands.contains_key(name) {
            continue;
        }
        let mut command = command.as_object().cloned().unwrap_or_default();
        command.insert("provenance".into(), provenance.clone());
        commands.insert(name.clone(), command);
        added.push(name.clone());
    }
    for (name, placed) in live
        .get("arguments")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Some(command) = commands.get_mut(name) else {
            continue;
        };
        for placement in placed.as_array().into_iter().flatten() {
            let parent: Vec<&str> = placement
                .get("parent")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let after = placement.get("after").and_then(Value::as_str);
            let mut argument = placement.get("argument").cloned().unwrap_or(Value::Null);
            argument["provenance"] = provenance.clone();
            let siblings = children_at(command, &parent)
                .unwrap_or_else(|| panic!("spec/live: {name}: no argument {}", parent.join("/")));
            if siblings.iter().any(|s| same_arg(s, &argument)) {
                continue;
            }
            let at = after
                .and_then(|after| {
                    siblings
                        .iter()
                        .position(|s| arg_name(s).eq_ignore_ascii_case(after))
                })
                .map_or(0, |idx| idx + 1);
            siblings.insert(at, argument);
        }
    }
    added
}

/// The argument list at `path` below `command`, made if the command has none yet.
fn children_at<'a>(
    command: &'a mut Map<String, Value>,
    path: &[&str],
) -> Option<&'a mut Vec<Value>> {
    let mut list = command
        .entry("arguments")
        .or_insert_with(|| json!([]))
        .as_array_mut()?;
    for step in path {
        let arg = list
            .iter_mut()
            .find(|arg| arg_name(arg).eq_ignore_ascii_case(step))?;
        list = arg.get_mut("arguments")?.as_array_mut()?;
    }
    Some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_reply() -> (Value, Value) {
        let docs = json!({
            "hsetex": {
                "summary": "Sets fields with an expiry.",
                "since": "9.0.0",
                "group": "hash",
                "complexity": "O(N)",
                "arguments": [
                    {"name": "key", "type": "key", "display_text": "key", "key_spec_index": 0},
                    {"name": "keepttl", "type": "pure-token", "display_text": "keepttl",
                     "token": "KEEPTTL", "flags": ["optional"]},
                ],
            },
            "set": {
                "summary": "Sets a key.",
                "since": "1.0.0",
                "group": "string",
                "arguments": [
                    {"name": "key", "type": "key", "display_text": "key", "key_spec_index": 0},
                    {"name": "condition", "type": "oneof", "flags": ["optional"], "arguments": [
                        {"name": "nx", "type": "pure-token", "token": "NX"},
                        {"name": "comparison-value", "type": "string", "token": "IFEQ",
                         "since": "8.1.0"},
                    ]},
                    {"name": "get", "type": "pure-token", "token": "GET", "flags": ["optional"]},
                    {"name": "expiry", "type": "integer", "token": "EX", "flags": ["optional"]},
                ],
            },
            "commandlog": {
                "summary": "A container.",
                "since": "8.1.0",
                "group": "server",
                "subcommands": {
                    "commandlog|len": {"summary": "Length.", "since": "8.1.0", "group": "server"},
                },
            },
        });
        let spec = |index: i64| {
            json!([{"flags": ["RW", "insert"],
                    "begin_search": {"type": "index", "spec": {"index": index}},
                    "find_keys": {"type": "range", "spec": {"lastkey": 0, "keystep": 1, "limit": 0}}}])
        };
        let info = json!([
            [
                "hsetex",
                -6,
                ["write", "denyoom", "fast"],
                1,
                1,
                1,
                ["@write", "@hash"],
                [],
                spec(1),
                []
            ],
            [
                "set",
                -3,
                ["write", "movablekeys"],
                1,
                1,
                1,
                ["@write"],
                ["request_policy:all_shards"],
                spec(1),
                []
            ],
            [
                "commandlog",
                -2,
                [],
                0,
                0,
                0,
                [],
                [],
                [],
                [[
                    "commandlog|len",
                    3,
                    ["admin"],
                    0,
                    0,
                    0,
                    ["@admin"],
                    ["nondeterministic_output"],
                    [],
                    []
                ],]
            ],
        ]);
        (docs, info)
    }

    fn vendored() -> BTreeMap<String, Map<String, Value>> {
        let set = json!({
            "summary": "Sets a key.", "since": "1.0.0", "group": "string", "arity": -3,
            "command_flags": ["WRITE"],
            "key_specs": [{"flags": ["RW", "INSERT"], "begin_search": {"index": {"pos": 1}},
                           "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}],
            "arguments": [
                {"name": "key", "type": "key", "key_spec_index": 0},
                {"name": "condition", "type": "oneof", "optional": true, "arguments": [
                    {"name": "nx", "type": "pure-token", "token": "NX"},
                ]},
                {"name": "GET", "type": "pure-token", "token": "GET", "optional": true},
                {"name": "seconds", "type": "integer", "token": "EX", "optional": true},
            ],
        });
        BTreeMap::from([
            ("SET".to_owned(), set.as_object().unwrap().clone()),
            ("GONE".to_owned(), Map::new()),
        ])
    }

    #[test]
    fn replies_take_the_shape_of_the_spec_files() {
        let (docs, info) = live_reply();
        let live = LiveSpec::from_replies("Valkey 9.1.2", &docs, &info);
        let hsetex = &live.commands["HSETEX"];
        assert_eq!(hsetex["arity"], json!(-6));
        assert_eq!(hsetex["command_flags"], json!(["WRITE", "DENYOOM", "FAST"]));
        assert_eq!(hsetex["acl_categories"], json!(["WRITE", "HASH"]));
        assert_eq!(
            hsetex["key_specs"][0],
            json!({"flags": ["RW", "INSERT"], "begin_search": {"index": {"pos": 1}},
                   "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}})
        );
        assert_eq!(
            hsetex["arguments"][1],
            json!({"name": "keepttl", "type": "pure-token", "token": "KEEPTTL", "optional": true})
        );
        assert_eq!(
            live.commands["SET"]["command_flags"],
            json!(["WRITE"]),
            "derived flags dropped"
        );
        let len = &live.commands["COMMANDLOG LEN"];
        assert_eq!(len["container"], json!("COMMANDLOG"));
        assert_eq!(len["command_tips"], json!(["NONDETERMINISTIC_OUTPUT"]));
    }

    #[test]
    fn the_report_names_what_the_vendored_spec_lacks() {
        let (docs, info) = live_reply();
        let live = LiveSpec::from_replies("Valkey 9.1.2", &docs, &info);
        let report = compare(&vendored(), &live);
        let new: Vec<&str> = report
            .new_commands
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(new, ["COMMANDLOG", "COMMANDLOG LEN", "HSETEX"]);
        assert_eq!(
            report.new_arguments,
            [(
                "SET".to_owned(),
                "condition/comparison-value".to_owned(),
                "8.1.0".to_owned()
            )]
        );
        // Named otherwise, and without a `since`: reported, not taken for new.
        assert_eq!(
            report.other_arguments,
            [("SET".to_owned(), "expiry".to_owned())]
        );
        assert_eq!(report.changed_tips[0].1, ["REQUEST_POLICY:ALL_SHARDS"]);
        assert!(report.changed_key_specs.is_empty());
        assert_eq!(report.missing_on_server, ["GONE"]);
        let text = report.render("Valkey 9.1.2");
        assert!(
            text.contains("SET: condition/comparison-value (since 8.1.0)"),
            "{text}"
        );
    }

    #[test]
    fn the_merge_only_adds_and_marks_what_it_adds() {
        let (docs, info) = live_reply();
        let live = LiveSpec::from_replies("Valkey 9.1.2", &docs, &info);
        let mut commands = vendored();
        let kept = additions(&commands, &live);
        let added = merge(&mut commands, &kept);
        assert_eq!(added, ["COMMANDLOG", "COMMANDLOG LEN", "HSETEX"]);
        assert_eq!(
            commands["HSETEX"]["provenance"],
            json!("from a live Valkey 9.1.2")
        );
        let condition = &commands["SET"]["arguments"][1]["arguments"];
        assert_eq!(condition[1]["name"], json!("comparison-value"));
        let names: Vec<&Value> = commands["SET"]["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| &arg["name"])
            .collect();
        assert_eq!(
            names,
            [
                &json!("key"),
                &json!("condition"),
                &json!("GET"),
                &json!("seconds")
            ]
        );
        assert_eq!(
            condition[1]["provenance"],
            json!("from a live Valkey 9.1.2")
        );
        // The vendored facts stay: SET keeps its own flags and has no tips added.
        assert_eq!(commands["SET"]["command_flags"], json!(["WRITE"]));
        assert!(commands["SET"].get("command_tips").is_none());
        // Merging again changes nothing.
        let before = commands.clone();
        assert!(merge(&mut commands, &kept).is_empty());
        assert_eq!(commands, before);
    }

    #[test]
    fn a_command_whose_arguments_changed_gets_no_new_ones() {
        let docs = json!({"geo": {"summary": "s", "since": "1.0.0", "group": "geo", "arguments": [
            {"name": "from", "type": "string", "flags": ["optional"]},
            {"name": "by", "type": "oneof", "arguments": [
                {"name": "radius", "type": "double", "token": "BYRADIUS"},
                {"name": "polygon", "type": "double", "token": "BYPOLYGON", "since": "9.0.0"},
            ]},
        ]}});
        let info = json!([["geo", -3, ["readonly"], 0, 0, 0, [], [], [], []]]);
        let live = LiveSpec::from_replies("Valkey 9.1.2", &docs, &info);
        let ours = json!({"summary": "s", "since": "1.0.0", "group": "geo", "arguments": [
            {"name": "from", "type": "string"},
            {"name": "by", "type": "oneof", "arguments": [
                {"name": "radius", "type": "double", "token": "BYRADIUS"},
            ]},
        ]});
        let vendored = BTreeMap::from([("GEO".to_owned(), ours.as_object().unwrap().clone())]);
        let report = compare(&vendored, &live);
        assert_eq!(
            report.changed_optional,
            [("GEO".to_owned(), "from".to_owned(), true)]
        );
        assert!(report.new_arguments.is_empty());
        assert_eq!(
            report.other_arguments,
            [("GEO".to_owned(), "by/polygon".to_owned())]
        );
        assert_eq!(additions(&vendored, &live)["arguments"], json!({}));
    }
}
