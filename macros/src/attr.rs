//! The `#[redis(...)]` attributes, parsed with every error collected.

use std::cell::RefCell;

use syn::{Attribute, LitStr, Path};

use crate::case::{RULES, RenameRule};

/// The attribute's name.
const REDIS: &str = "redis";
const RENAME: &str = "rename";
const RENAME_ALL: &str = "rename_all";
const DEFAULT: &str = "default";
const JSON: &str = "json";
const CRATE: &str = "crate";

/// Errors found so far; all are reported together.
#[derive(Default)]
pub(crate) struct Errors(RefCell<Vec<syn::Error>>);

impl Errors {
    pub(crate) fn push(&self, error: syn::Error) {
        self.0.borrow_mut().push(error);
    }

    /// All errors combined, or `None`.
    pub(crate) fn finish(self) -> Option<syn::Error> {
        self.0.into_inner().into_iter().reduce(|mut all, e| {
            all.combine(e);
            all
        })
    }
}

/// Attributes on the type.
#[derive(Default)]
pub(crate) struct Container {
    pub(crate) rename_all: Option<RenameRule>,
    pub(crate) json: bool,
    pub(crate) krate: Option<Path>,
}

/// Attributes on a field or a variant.
#[derive(Default)]
pub(crate) struct Member {
    pub(crate) rename: Option<String>,
    pub(crate) default: bool,
    pub(crate) json: bool,
}

/// Where an attribute sits, which decides what it may say.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Field,
    Variant,
}

pub(crate) fn container(attrs: &[Attribute], errors: &Errors) -> Container {
    let mut out = Container::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(REDIS)) {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(RENAME_ALL) {
                let value: LitStr = meta.value()?.parse()?;
                if let Some(rule) = RenameRule::parse(&value.value()) {
                    set_once(&mut out.rename_all, rule, &meta, errors);
                } else {
                    let accepted: Vec<&str> = RULES.iter().map(|(name, _)| *name).collect();
                    errors.push(syn::Error::new_spanned(
                        &value,
                        format!(
                            "unknown rename_all rule {:?}; expected one of: {}",
                            value.value(),
                            accepted.join(", ")
                        ),
                    ));
                }
            } else if meta.path.is_ident(JSON) {
                set_flag(&mut out.json, &meta, errors);
            } else if meta.path.is_ident(CRATE) {
                let value: LitStr = meta.value()?.parse()?;
                let path: Path = value.parse()?;
                set_once(&mut out.krate, path, &meta, errors);
            } else {
                errors.push(meta.error(format!(
                    "unknown redis attribute `{}` on a type; expected rename_all, json or crate",
                    path_text(&meta.path)
                )));
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = res {
            errors.push(e);
        }
    }
    out
}

pub(crate) fn member(attrs: &[Attribute], place: Place, errors: &Errors) -> Member {
    let mut out = Member::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(REDIS)) {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(RENAME) {
                let value: LitStr = meta.value()?.parse()?;
                set_once(&mut out.rename, value.value(), &meta, errors);
            } else if meta.path.is_ident(DEFAULT) && place == Place::Field {
                set_flag(&mut out.default, &meta, errors);
            } else if meta.path.is_ident(JSON) && place == Place::Field {
                set_flag(&mut out.json, &meta, errors);
            } else {
                let expected = match place {
                    Place::Field => "rename, default or json",
                    Place::Variant => "rename",
                };
                let on = match place {
                    Place::Field => "a field",
                    Place::Variant => "a variant",
                };
                errors.push(meta.error(format!(
                    "unknown redis attribute `{}` on {on}; expected {expected}",
                    path_text(&meta.path)
                )));
                skip_value(&meta)?;
            }
            Ok(())
        });
        if let Err(e) = res {
            errors.push(e);
        }
    }
    out
}

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &Errors,
) {
    if slot.is_some() {
        errors.push(meta.error(format!(
            "duplicate redis attribute `{}`",
            path_text(&meta.path)
        )));
    } else {
        *slot = Some(value);
    }
}

fn set_flag(slot: &mut bool, meta: &syn::meta::ParseNestedMeta<'_>, errors: &Errors) {
    if *slot {
        errors.push(meta.error(format!(
            "duplicate redis attribute `{}`",
            path_text(&meta.path)
        )));
    }
    *slot = true;
}

/// Consumes `= value` after an unknown attribute so parsing can go on to the next one.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    }
    Ok(())
}

fn path_text(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
