//! Rust names from spec names: `CLIENT KILL` -> `client_kill` / `ClientKill`.

use proc_macro2::{Ident, Span};

/// Rust's keywords, strict and reserved: names that need another spelling.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// `true` for a Rust keyword.
#[must_use]
pub(crate) fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// The words of a spec name: runs of ASCII letters and digits.
fn words(name: &str) -> impl Iterator<Item = &str> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
}

/// `unix-time-seconds` -> `unix_time_seconds`; `ID` -> `id`.
#[must_use]
pub(crate) fn snake(name: &str) -> String {
    let joined = words(name)
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

/// `count-block` -> `CountBlock`; `BITFIELD_RO` -> `BitfieldRo`.
#[must_use]
pub(crate) fn camel(name: &str) -> String {
    words(name)
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// An identifier for `name`, with a `_` appended when it is a keyword.
#[must_use]
pub(crate) fn ident(name: &str) -> Ident {
    if is_keyword(name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// `true` when `token` can name a method or variant (`NX`, `BYSCORE`), unlike `*`, `~`
/// or `""`.
#[must_use]
pub(crate) fn is_word(token: &str) -> bool {
    !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && token.starts_with(|c: char| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(snake("CLIENT KILL"), "client_kill");
        assert_eq!(snake("RESTORE-ASKING"), "restore_asking");
        assert_eq!(snake("unix-time-seconds"), "unix_time_seconds");
        assert_eq!(camel("count-block"), "CountBlock");
        assert_eq!(camel("BITFIELD_RO"), "BitfieldRo");
        assert_eq!(camel("ID"), "Id");
        assert_eq!(ident("type").to_string(), "type_");
        assert!(is_word("NX") && is_word("FROMLONLAT") && !is_word("*") && !is_word("\"\""));
    }
}
