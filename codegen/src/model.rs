//! `commands.json`, parsed and checked: the model the renderer works from.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

/// The whole spec, commands sorted by full name.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) commands: Vec<Command>,
}

/// Which generated surface a command belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Surface {
    /// `Commands`, `AsyncCommands` and `Pipeline`.
    Commands,
    /// `SentinelCommands` and `AsyncSentinelCommands`.
    Sentinel,
    /// No typed method; the reason is in `excluded`.
    Excluded,
    /// Only a prefix for subcommands.
    Container,
}

/// The type a method returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    Unit,
    Bool,
    Int,
    Double,
    Text,
    OptionalInt,
    OptionalDouble,
    /// `RV: FromRedisValue`, chosen by the caller.
    Generic,
}

impl Reply {
    fn parse(hint: &str, command: &str) -> Reply {
        match hint {
            "()" => Reply::Unit,
            "bool" => Reply::Bool,
            "i64" => Reply::Int,
            "f64" => Reply::Double,
            "String" => Reply::Text,
            "Option<i64>" => Reply::OptionalInt,
            "Option<f64>" => Reply::OptionalDouble,
            "generic" => Reply::Generic,
            other => panic!("commands.json: {command}: unknown reply hint {other:?}"),
        }
    }

    /// The reply type the schema fixes, or `Generic` where it carries the user's data or
    /// varies.
    fn from_schema(schema: Option<&Value>) -> Reply {
        let Some(schema) = schema else {
            return Reply::Generic;
        };
        if let Some(alternatives) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            let (nulls, others): (Vec<&Value>, Vec<&Value>) = alternatives
                .iter()
                .partition(|alt| alt.get("type").and_then(Value::as_str) == Some("null"));
            if !nulls.is_empty() {
                return match Reply::all_of(&others) {
                    Reply::Int => Reply::OptionalInt,
                    Reply::Double => Reply::OptionalDouble,
                    _ => Reply::Generic,
                };
            }
            return Reply::all_of(&others);
        }
        Reply::all_of(&[schema])
    }

    /// The one fixed type all of `schemas` share, else `Generic`.
    fn all_of(schemas: &[&Value]) -> Reply {
        let kinds: BTreeSet<&str> = schemas.iter().map(|s| Reply::kind(s)).collect();
        let consts_are_bits = schemas.iter().all(|s| {
            s.get("const")
                .is_some_and(|c| c.as_i64() == Some(0) || c.as_i64() == Some(1))
        });
        match kinds.iter().copied().collect::<Vec<_>>()[..] {
            ["ok"] => Reply::Unit,
            ["int"] if consts_are_bits && schemas.len() == 2 => Reply::Bool,
            ["int"] => Reply::Int,
            ["number"] => Reply::Double,
            ["text"] => Reply::Text,
            _ => Reply::Generic,
        }
    }

    fn kind(schema: &Value) -> &'static str {
        match schema.get("const") {
            Some(Value::String(s)) if s == "OK" => return "ok",
            Some(Value::String(_)) => return "text",
            Some(Value::Number(_)) => return "int",
            _ => {}
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") => "int",
            Some("number") => "number",
            _ => "other",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Command {
    /// `GET`, `CLIENT KILL`.
    pub(crate) name: String,
    pub(crate) method: String,
    pub(crate) surface: Surface,
    pub(crate) excluded: Option<String>,
    pub(crate) summary: String,
    pub(crate) complexity: Option<String>,
    pub(crate) group: String,
    pub(crate) since: String,
    pub(crate) arity: i64,
    pub(crate) flags: Vec<String>,
    pub(crate) acl_categories: Vec<String>,
    pub(crate) tips: Vec<String>,
    pub(crate) key_specs: Vec<KeySpec>,
    pub(crate) reply_schema: Option<Value>,
    pub(crate) history: Vec<(String, String)>,
    pub(crate) deprecated_since: Option<String>,
    pub(crate) replaced_by: Option<String>,
    pub(crate) args: Vec<Arg>,
    /// The reply of the method without options.
    pub(crate) reply: Reply,
    /// The reply of the `_options` method.
    pub(crate) options_reply: Reply,
    /// What a successful run changes of its connection (`spec/overrides.json`).
    pub(crate) connection_state: Option<String>,
    /// The rule key extraction follows beyond the key specs (`spec/overrides.json`).
    pub(crate) key_extraction: Option<String>,
    /// Where a command the vendored files lack came from.
    pub(crate) provenance: Option<String>,
}

impl Command {
    /// `true` when some argument is optional, so an options type and an `_options` method
    /// exist.
    pub(crate) fn has_options(&self) -> bool {
        self.args.iter().any(|arg| arg.optional)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub(crate) name: String,
    pub(crate) kind: ArgKind,
    pub(crate) token: Option<String>,
    pub(crate) optional: bool,
    pub(crate) multiple: bool,
    pub(crate) multiple_token: bool,
    pub(crate) display: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum ArgKind {
    Key,
    String,
    Pattern,
    Integer,
    Double,
    UnixTime,
    PureToken,
    OneOf(Vec<Arg>),
    Block(Vec<Arg>),
}

impl Arg {
    /// The token as sent: `""` in the spec means an empty argument.
    pub(crate) fn wire_token(&self) -> Option<&str> {
        self.token
            .as_deref()
            .map(|token| if token == "\"\"" { "" } else { token })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeySpec {
    pub(crate) flags: Vec<String>,
    pub(crate) begin_search: BeginSearch,
    pub(crate) find_keys: FindKeys,
    /// Free-text notes, kept in commands.json for readers; not generated from.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BeginSearch {
    Index { pos: i64 },
    Keyword { keyword: String, startfrom: i64 },
    Unknown(()),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FindKeys {
    Range {
        lastkey: i64,
        step: i64,
        limit: i64,
    },
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        step: i64,
    },
    Unknown(()),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[allow(dead_code)]
    source: String,
    commands: BTreeMap<String, RawCommand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    summary: String,
    complexity: Option<String>,
    group: String,
    since: String,
    arity: i64,
    #[allow(dead_code)]
    container: Option<String>,
    #[allow(dead_code)]
    function: Option<String>,
    #[allow(dead_code)]
    get_keys_function: Option<String>,
    #[serde(default)]
    history: Vec<(String, String)>,
    deprecated_since: Option<String>,
    replaced_by: Option<String>,
    #[allow(dead_code)]
    doc_flags: Option<Vec<String>>,
    #[serde(default)]
    command_flags: Vec<String>,
    #[serde(default)]
    acl_categories: Vec<String>,
    #[serde(default)]
    command_tips: Vec<String>,
    #[serde(default)]
    key_specs: Vec<KeySpec>,
    reply_schema: Option<Value>,
    #[serde(default)]
    arguments: Vec<RawArg>,
    respec: Annotations,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Annotations {
    method: String,
    /// Arguments whose upstream type the overrides changed (recorded for readers).
    #[allow(dead_code)]
    retyped: Option<BTreeMap<String, String>>,
    surface: Surface,
    excluded: Option<String>,
    reply: Option<String>,
    options_reply: Option<String>,
    connection_state: Option<String>,
    key_extraction: Option<String>,
    /// Cluster routing tips the overrides added (recorded for readers; the tips
    /// themselves are among `command_tips`).
    #[allow(dead_code)]
    cluster_tips: Option<Vec<String>>,
    /// Where a command the vendored files lack came from: `from a live Valkey 9.1.2`.
    provenance: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArg {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    token: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    optional: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    multiple: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    multiple_token: bool,
    #[serde(default)]
    arguments: Vec<RawArg>,
    key_spec_index: Option<usize>,
    #[allow(dead_code)]
    since: Option<String>,
    #[allow(dead_code)]
    deprecated_since: Option<String>,
    display: Option<String>,
    /// Where an argument the vendored files lack came from (recorded for readers).
    #[allow(dead_code)]
    provenance: Option<String>,
}

/// Parses and checks `commands.json`.
///
/// # Panics
///
/// On anything malformed, naming the command and what is wrong.
#[must_use]
pub(crate) fn parse(text: &str) -> Spec {
    let raw: RawSpec = serde_json::from_str(text).unwrap_or_else(|e| panic!("commands.json: {e}"));
    let mut methods = BTreeMap::new();
    let mut commands = Vec::with_capacity(raw.commands.len());
    for (name, raw) in raw.commands {
        let args = raw
            .arguments
            .into_iter()
            .map(|arg| convert_arg(arg, &name, raw.key_specs.len()))
            .collect::<Vec<_>>();
        let schema_reply = Reply::from_schema(raw.reply_schema.as_ref());
        let reply = raw
            .respec
            .reply
            .as_deref()
            .map_or(schema_reply, |hint| Reply::parse(hint, &name));
        let options_reply = raw
            .respec
            .options_reply
            .as_deref()
            .map_or(reply, |hint| Reply::parse(hint, &name));
        let command = Command {
            method: raw.respec.method,
            surface: raw.respec.surface,
            excluded: raw.respec.excluded,
            summary: raw.summary,
            complexity: raw.complexity,
            group: raw.group,
            since: raw.since,
            arity: raw.arity,
            flags: raw.command_flags,
            acl_categories: raw.acl_categories,
            tips: raw.command_tips,
            key_specs: raw.key_specs,
            reply_schema: raw.reply_schema,
            history: raw.history,
            deprecated_since: raw.deprecated_since,
            replaced_by: raw.replaced_by,
            args,
            reply,
            options_reply,
            connection_state: raw.respec.connection_state,
            key_extraction: raw.respec.key_extraction,
            provenance: raw.respec.provenance,
            name,
        };
        assert_eq!(
            command.surface == Surface::Excluded,
            command.excluded.is_some(),
            "commands.json: {}: an excluded command needs a reason, and only it",
            command.name
        );
        if matches!(command.surface, Surface::Commands | Surface::Sentinel) {
            let mut names = vec![command.method.clone()];
            if command.has_options() {
                names.push(format!("{}_options", command.method));
            }
            for method in names {
                assert!(
                    !crate::names::is_keyword(&method),
                    "commands.json: {}: the method name {method:?} is a Rust keyword; rename it in spec/overrides.json",
                    command.name
                );
                if let Some(other) = methods.insert(method.clone(), command.name.clone()) {
                    panic!(
                        "commands.json: {} and {other} both want the method {method:?}; rename one in spec/overrides.json",
                        command.name
                    );
                }
            }
        }
        commands.push(command);
    }
    Spec { commands }
}

fn convert_arg(raw: RawArg, command: &str, n_key_specs: usize) -> Arg {
    let children: Vec<Arg> = raw
        .arguments
        .into_iter()
        .map(|child| convert_arg(child, command, n_key_specs))
        .collect();
    let kind = match raw.kind.as_str() {
        "key" => ArgKind::Key,
        "string" => ArgKind::String,
        "pattern" => ArgKind::Pattern,
        "integer" => ArgKind::Integer,
        "double" => ArgKind::Double,
        "unix-time" => ArgKind::UnixTime,
        "pure-token" => ArgKind::PureToken,
        "oneof" => ArgKind::OneOf(children.clone()),
        "block" => ArgKind::Block(children.clone()),
        other => panic!(
            "commands.json: {command}: argument {:?} has unknown type {other:?}",
            raw.name
        ),
    };
    let what = || format!("commands.json: {command}: argument {:?}", raw.name);
    match &kind {
        ArgKind::OneOf(c) | ArgKind::Block(c) => assert!(!c.is_empty(), "{}: no children", what()),
        _ => assert!(children.is_empty(), "{}: children on a scalar", what()),
    }
    // A few upstream pure tokens (SENTINEL SIMULATE-FAILURE's modes) have no token: the
    // word sent is the name, in capitals.
    let token = match (&kind, raw.token) {
        (ArgKind::PureToken, None) => Some(raw.name.to_ascii_uppercase()),
        (_, token) => token,
    };
    if matches!(kind, ArgKind::Key) {
        let index = raw
            .key_spec_index
            .unwrap_or_else(|| panic!("{}: a key without a key spec", what()));
        assert!(
            index < n_key_specs,
            "{}: key_spec_index {index} out of range",
            what()
        );
    }
    assert!(
        !raw.multiple_token || (raw.multiple && token.is_some()),
        "{}: multiple_token without multiple and a token",
        what()
    );
    let mut seen = BTreeSet::new();
    for child in kind_children(&kind) {
        assert!(
            seen.insert(crate::names::snake(&child.name)),
            "{}: two children named {:?}",
            what(),
            child.name
        );
    }
    Arg {
        name: raw.name,
        kind,
        token,
        optional: raw.optional,
        multiple: raw.multiple,
        multiple_token: raw.multiple_token,
        display: raw.display,
    }
}

fn kind_children(kind: &ArgKind) -> &[Arg] {
    match kind {
        ArgKind::OneOf(c) | ArgKind::Block(c) => c,
        _ => &[],
    }
}

/// A boolean, also written as the string `"true"` or `"false"`, as CLIENT CAPA's
/// `multiple` is upstream.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean, found {other}"
        ))),
    }
}
