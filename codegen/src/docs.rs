//! Rustdoc for generated commands, from the spec: summary, syntax, since, complexity,
//! ACL categories, the reply described from `reply_schema`, history and a link.

use serde_json::Value;

use crate::model::{Arg, ArgKind, Command};

/// The command's syntax: `SET key value [NX | XX] [GET] [EX seconds | ...]`.
pub(crate) fn usage(command: &Command) -> String {
    let mut parts = vec![command.name.clone()];
    parts.extend(command.args.iter().map(arg_usage));
    parts.join(" ")
}

fn arg_usage(arg: &Arg) -> String {
    let shown = arg.display.as_deref().unwrap_or(&arg.name);
    let token = arg
        .wire_token()
        .map(|t| if t.is_empty() { "\"\"" } else { t });
    let body = match &arg.kind {
        ArgKind::PureToken => token.unwrap_or_default().to_owned(),
        ArgKind::OneOf(children) => {
            let inner = children
                .iter()
                .map(arg_usage)
                .collect::<Vec<_>>()
                .join(" | ");
            let inner = if arg.optional {
                inner
            } else {
                format!("<{inner}>")
            };
            match token {
                Some(token) => format!("{token} {inner}"),
                None => inner,
            }
        }
        ArgKind::Block(children) => {
            let inner = children.iter().map(arg_usage).collect::<Vec<_>>().join(" ");
            match token {
                Some(token) => format!("{token} {inner}"),
                None => inner,
            }
        }
        _ => match token {
            Some(token) => format!("{token} {shown}"),
            None => shown.to_owned(),
        },
    };
    let body = if arg.multiple {
        if arg.multiple_token {
            format!("{body} [{body} ...]")
        } else {
            let repeated = match (&arg.kind, token) {
                (ArgKind::Block(_) | ArgKind::OneOf(_), _) | (_, None) => body.clone(),
                (_, Some(token)) => body.strip_prefix(token).unwrap_or(&body).trim().to_owned(),
            };
            format!("{body} [{repeated} ...]")
        }
    } else {
        body
    };
    if arg.optional {
        format!("[{body}]")
    } else {
        body
    }
}

/// Escapes what rustdoc would read as links or HTML in prose from the spec; text in
/// backticks is left alone.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        if c == '`' {
            in_code = !in_code;
        }
        if !in_code && matches!(c, '[' | ']' | '<' | '>' | '*' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The spec's Markdown references (`` `SET` with the `!GET` argument ``) as plain text.
fn plain(text: &str) -> String {
    escape(&text.replace('!', ""))
}

/// ACL categories as the server reports them: the explicit ones plus those implied by
/// the flags.
pub(crate) fn acl_categories(command: &Command) -> Vec<String> {
    let has = |flag: &str| command.flags.iter().any(|f| f == flag);
    let mut categories: Vec<String> = command
        .acl_categories
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut add = |category: &str| {
        if !categories.iter().any(|c| c == category) {
            categories.push(category.to_owned());
        }
    };
    if has("WRITE") {
        add("write");
    }
    if has("READONLY") && !command.acl_categories.iter().any(|c| c == "SCRIPTING") {
        add("read");
    }
    if has("ADMIN") {
        add("admin");
        add("dangerous");
    }
    if has("PUBSUB") {
        add("pubsub");
    }
    if has("FAST") {
        add("fast");
    }
    if has("BLOCKING") {
        add("blocking");
    }
    if !has("FAST") {
        add("slow");
    }
    categories
}

/// The documentation page of a command.
pub(crate) fn link(command: &Command) -> String {
    let slug = command.name.to_ascii_lowercase().replace(' ', "-");
    let major: u32 = command
        .since
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(0);
    if major >= 8 {
        format!("https://valkey.io/commands/{slug}/")
    } else {
        format!("https://redis.io/docs/latest/commands/{slug}/")
    }
}

/// The full documentation of a command, one string per line.
pub(crate) fn command_doc(command: &Command) -> Vec<String> {
    let mut lines = vec![escape(&command.summary), String::new()];
    lines.push("```text".into());
    lines.push(usage(command));
    lines.push("```".into());
    lines.push(String::new());
    lines.push(format!("- Available since: {}", command.since));
    if let Some(provenance) = &command.provenance {
        lines.push(format!("- In the spec: {provenance} (`spec/live/`)"));
    }
    if let Some(complexity) = &command.complexity {
        lines.push(format!("- Time complexity: {}", escape(complexity)));
    }
    let categories = acl_categories(command)
        .iter()
        .map(|c| format!("`@{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    lines.push(format!("- ACL categories: {categories}"));
    if let Some(since) = &command.deprecated_since {
        let by = command
            .replaced_by
            .as_deref()
            .map(plain)
            .unwrap_or_default();
        lines.push(format!("- Deprecated since {since}: use {by}"));
    }
    lines.push(String::new());
    lines.push("# Reply".into());
    lines.push(String::new());
    lines.extend(reply_doc(command.reply_schema.as_ref()));
    if !command.history.is_empty() {
        lines.push(String::new());
        lines.push("# History".into());
        lines.push(String::new());
        for (version, text) in &command.history {
            lines.push(format!("- {version}: {}", plain(text)));
        }
    }
    lines.push(String::new());
    lines.push(format!("[Command reference]({})", link(command)));
    lines
}

fn reply_doc(schema: Option<&Value>) -> Vec<String> {
    let Some(schema) = schema else {
        return vec!["Depends on the arguments.".into()];
    };
    let alternatives = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array);
    match alternatives {
        Some(alternatives) => {
            let mut lines = Vec::new();
            if let Some(description) = schema.get("description").and_then(Value::as_str) {
                lines.push(escape(description));
                lines.push(String::new());
            }
            lines.push("One of:".into());
            lines.extend(
                alternatives
                    .iter()
                    .map(|alt| format!("- {}", describe(alt))),
            );
            lines
        }
        None => vec![describe(schema)],
    }
}

/// One reply shape in words: `bulk string: the value of the key`.
fn describe(schema: &Value) -> String {
    let shape = shape(schema);
    match schema.get("description").and_then(Value::as_str) {
        Some(description) => format!("{shape}: {}", escape(description.trim_end_matches('.'))),
        None => shape,
    }
}

fn shape(schema: &Value) -> String {
    if let Some(value) = schema.get("const") {
        return match value {
            Value::String(s) => format!("`{s}`"),
            other => format!("`{other}`"),
        };
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => "string".into(),
        Some("integer") => "integer".into(),
        Some("number") => "double".into(),
        Some("null") => "nil".into(),
        Some("object") => "map".into(),
        Some("array") => match schema.get("items") {
            Some(Value::Array(_)) => "array (a fixed tuple)".into(),
            Some(items) if items.get("oneOf").is_none() && items.get("anyOf").is_none() => {
                format!("array of {}", shape(items))
            }
            _ => "array".into(),
        },
        _ if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() => {
            "one of several shapes".into()
        }
        _ => "any reply".into(),
    }
}
