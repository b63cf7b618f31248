//! `rename_all` rules, with the names serde accepts.

/// A `rename_all` rule.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

/// The accepted spellings, for parsing and for the error listing them.
pub(crate) const RULES: &[(&str, RenameRule)] = &[
    ("lowercase", RenameRule::Lower),
    ("UPPERCASE", RenameRule::Upper),
    ("PascalCase", RenameRule::Pascal),
    ("camelCase", RenameRule::Camel),
    ("snake_case", RenameRule::Snake),
    ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
    ("kebab-case", RenameRule::Kebab),
    ("SCREAMING-KEBAB-CASE", RenameRule::ScreamingKebab),
];

impl RenameRule {
    pub(crate) fn parse(name: &str) -> Option<RenameRule> {
        RULES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, rule)| *rule)
    }

    /// Renames a field, written in `snake_case`.
    pub(crate) fn field(self, name: &str) -> String {
        let words: Vec<&str> = name.split('_').filter(|w| !w.is_empty()).collect();
        self.join(&words)
    }

    /// Renames a variant, written in `PascalCase`.
    pub(crate) fn variant(self, name: &str) -> String {
        let mut words = Vec::new();
        let mut start = 0;
        for (idx, c) in name.char_indices().skip(1) {
            if c.is_uppercase() {
                words.push(&name[start..idx]);
                start = idx;
            }
        }
        words.push(&name[start..]);
        self.join(&words)
    }

    fn join(self, words: &[&str]) -> String {
        let lower = || words.iter().map(|w| w.to_lowercase());
        let upper = || words.iter().map(|w| w.to_uppercase());
        let capitalised = || {
            words.iter().map(|w| {
                let mut chars = w.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().collect::<String>() + &chars.as_str().to_lowercase()
                })
            })
        };
        match self {
            RenameRule::Lower => lower().collect(),
            RenameRule::Upper => upper().collect(),
            RenameRule::Pascal => capitalised().collect(),
            RenameRule::Camel => {
                let mut out: String = lower().next().unwrap_or_default();
                out.extend(capitalised().skip(1));
                out
            }
            RenameRule::Snake => lower().collect::<Vec<_>>().join("_"),
            RenameRule::ScreamingSnake => upper().collect::<Vec<_>>().join("_"),
            RenameRule::Kebab => lower().collect::<Vec<_>>().join("-"),
            RenameRule::ScreamingKebab => upper().collect::<Vec<_>>().join("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_variants() {
        let cases = [
            (
                "lowercase",
                "display_name",
                "displayname",
                "DisplayName",
                "displayname",
            ),
            (
                "UPPERCASE",
                "display_name",
                "DISPLAYNAME",
                "DisplayName",
                "DISPLAYNAME",
            ),
            (
                "PascalCase",
                "display_name",
                "DisplayName",
                "DisplayName",
                "DisplayName",
            ),
            (
                "camelCase",
                "display_name",
                "displayName",
                "DisplayName",
                "displayName",
            ),
            (
                "snake_case",
                "display_name",
                "display_name",
                "DisplayName",
                "display_name",
            ),
            (
                "SCREAMING_SNAKE_CASE",
                "display_name",
                "DISPLAY_NAME",
                "DisplayName",
                "DISPLAY_NAME",
            ),
            (
                "kebab-case",
                "display_name",
                "display-name",
                "DisplayName",
                "display-name",
            ),
            (
                "SCREAMING-KEBAB-CASE",
                "display_name",
                "DISPLAY-NAME",
                "DisplayName",
                "DISPLAY-NAME",
            ),
        ];
        for (rule, field, renamed_field, variant, renamed_variant) in cases {
            let rule = RenameRule::parse(rule).unwrap();
            assert_eq!(rule.field(field), renamed_field);
            assert_eq!(rule.variant(variant), renamed_variant);
        }
        assert!(RenameRule::parse("Title Case").is_none());
    }
}
