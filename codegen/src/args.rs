//! How each argument of the spec becomes Rust: parameter types, owned types for options,
//! enums for `oneof`, structs for `block`, and the code that writes it into a `Cmd`.
//!
//! Code emitted here writes through a variable `cmd: &mut Cmd`.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::model::{Arg, ArgKind};
use crate::names::{camel, ident, is_keyword, is_word, snake};

/// The generated types (enums and structs), gathered across all commands.
#[derive(Default)]
pub(crate) struct Types {
    pub(crate) items: Vec<TokenStream>,
    names: BTreeSet<String>,
    /// Types that could not have their natural name, and the name they got.
    renamed: BTreeMap<String, String>,
}

/// How one argument is represented.
#[derive(Clone)]
pub(crate) enum Repr {
    /// A key: `impl ToRedisArgs` marked as a key; owned as `Args`.
    Key,
    /// A string or pattern: `impl ToRedisArgs`; owned as `Args`.
    Text,
    /// An integer or Unix time: `i64`.
    Int,
    /// A double: `f64`.
    Double,
    /// A fixed word; optional ones are `bool` flags.
    Token,
    /// A `oneof`: a generated enum.
    Enum(Ident),
    /// A `block`: a generated struct.
    Struct(Ident),
    /// A repeated block of plain fields (`score member ...`): flattened tuples through
    /// `impl ToRedisArgs`, with the key fields marked by position.
    Flat {
        width: usize,
        key_positions: Vec<usize>,
    },
}

/// A parameter of a function: its name and type, how to write it, and how to turn it
/// into the owned form a struct field holds.
pub(crate) struct Param {
    pub(crate) name: Ident,
    pub(crate) ty: TokenStream,
}

pub(crate) fn token_write(arg: &Arg) -> TokenStream {
    match arg.wire_token() {
        Some(token) => quote!(cmd.arg(#token);),
        None => quote!(),
    }
}

/// A name for a method or variant: from the token where it is a word that is no
/// keyword (`nx`, `byscore`), else from the argument's name.
pub(crate) fn choice_name(arg: &Arg) -> String {
    let from_token = arg
        .token
        .as_deref()
        .or_else(|| match &arg.kind {
            // A block without a token of its own is named for its first field's token
            // when that field is always there: GEOSEARCH's `circle` block starts with
            // `BYRADIUS`.
            ArgKind::Block(children) => children
                .first()
                .filter(|c| !c.optional)
                .and_then(|c| c.token.as_deref()),
            _ => None,
        })
        .filter(|token| is_word(token))
        .map(snake)
        .filter(|name| !is_keyword(name));
    from_token.unwrap_or_else(|| snake(&arg.name))
}

/// `true` when a block can be passed as its fields, one parameter each: every field is
/// required (optional pure tokens become `bool` parameters), and nested blocks are
/// flattenable too.
pub(crate) fn flattenable(children: &[Arg]) -> bool {
    children.iter().all(|child| match &child.kind {
        ArgKind::PureToken => true,
        _ if child.optional => false,
        ArgKind::Block(grandchildren) => !child.multiple && flattenable(grandchildren),
        _ => true,
    })
}

/// An integer count (`numkeys`, `numfields`) right before the repeated argument it
/// counts: the generated code counts that argument's items itself, and takes no
/// parameter for the count. `Some(width)`: how many arguments one item writes (two for
/// `MSETEX`'s key-value pairs).
pub(crate) fn count_of_next(args: &[Arg], idx: usize) -> Option<usize> {
    let (arg, next) = (args.get(idx)?, args.get(idx + 1)?);
    let counts = matches!(arg.kind, ArgKind::Integer)
        && arg.name.starts_with("num")
        && !arg.optional
        && next.multiple
        && !next.multiple_token;
    if !counts {
        return None;
    }
    match &next.kind {
        ArgKind::Key => Some(1),
        ArgKind::String | ArgKind::Pattern if !next.optional => Some(1),
        ArgKind::Block(children)
            if !next.optional && next.token.is_none() && plain_fields(children) =>
        {
            Some(children.len())
        }
        _ => None,
    }
}

/// `true` when every field is a plain required scalar, one argument each: such a block
/// repeated is written flat, from tuples.
fn plain_fields(children: &[Arg]) -> bool {
    children.iter().all(|child| {
        !child.optional
            && !child.multiple
            && child.token.is_none()
            && matches!(
                child.kind,
                ArgKind::Key
                    | ArgKind::String
                    | ArgKind::Pattern
                    | ArgKind::Integer
                    | ArgKind::Double
                    | ArgKind::UnixTime
            )
    })
}

/// A repeated block whose fields are all plain required scalars, written flat.
fn flat_block(arg: &Arg) -> Option<Repr> {
    let ArgKind::Block(children) = &arg.kind else {
        return None;
    };
    if !arg.multiple || arg.multiple_token {
        return None;
    }
    plain_fields(children).then(|| Repr::Flat {
        width: children.len(),
        key_positions: children
            .iter()
            .enumerate()
            .filter(|(_, child)| matches!(child.kind, ArgKind::Key))
            .map(|(idx, _)| idx)
            .collect(),
    })
}

impl Types {
    /// Takes `name` for a new type. An argument whose natural type name is taken (an
    /// argument called `options` meets the command's own `...Options`) gets `Arg`
    /// appended.
    fn claim(&mut self, name: &str) -> Ident {
        if self.names.insert(name.to_owned()) {
            return format_ident!("{name}");
        }
        let other = format!("{name}Arg");
        assert!(
            self.names.insert(other.clone()),
            "two generated types are both named {name}, and {other} is taken too"
        );
        self.renamed.insert(name.to_owned(), other.clone());
        format_ident!("{other}")
    }

    /// Reserves a name for a type rendered elsewhere (a command's options struct).
    pub(crate) fn reserve(&mut self, name: &str) {
        assert!(
            self.names.insert(name.to_owned()),
            "the type name {name} is taken"
        );
    }

    /// The name a type generated for `natural` ended up with.
    fn resolved(&self, natural: &str) -> Ident {
        format_ident!(
            "{}",
            self.renamed.get(natural).map_or(natural, String::as_str)
        )
    }

    /// Decides how `arg` is represented, generating its enum or struct (named
    /// `{prefix}{ArgName}`) on the way.
    pub(crate) fn repr(&mut self, arg: &Arg, prefix: &str) -> Repr {
        match &arg.kind {
            ArgKind::Key => Repr::Key,
            ArgKind::String | ArgKind::Pattern => Repr::Text,
            ArgKind::Integer | ArgKind::UnixTime => Repr::Int,
            ArgKind::Double => Repr::Double,
            ArgKind::PureToken => Repr::Token,
            ArgKind::OneOf(children) => {
                let name = format!("{prefix}{}", camel(&arg.name));
                Repr::Enum(self.render_enum(&name, arg, children))
            }
            ArgKind::Block(children) => {
                if let Some(flat) = flat_block(arg) {
                    return flat;
                }
                let name = format!("{prefix}{}", camel(&arg.name));
                Repr::Struct(self.render_struct(&name, arg, children))
            }
        }
    }

    fn render_enum(&mut self, name: &str, arg: &Arg, children: &[Arg]) -> Ident {
        let ty = self.claim(name);
        let mut variants = Vec::new();
        let mut arms = Vec::new();
        let mut constructors = Vec::new();
        let mut seen = BTreeSet::new();
        for child in children {
            let mut variant_name = camel(&choice_name(child));
            if !seen.insert(variant_name.clone()) {
                variant_name = camel(&child.name);
                assert!(
                    seen.insert(variant_name.clone()),
                    "{name}: two variants named {variant_name}"
                );
            }
            let variant = format_ident!("{variant_name}");
            let doc = variant_doc(child);
            let child_repr = self.repr(child, name);
            if matches!(child_repr, Repr::Token) && !child.multiple {
                let token = child.wire_token().unwrap_or_default();
                variants.push(quote!(#[doc = #doc] #variant,));
                arms.push(quote!(Self::#variant => { cmd.arg(#token); }));
                continue;
            }
            let owned = owned_type(child, &child_repr);
            variants.push(quote!(#[doc = #doc] #variant(#owned),));
            let write = write_owned(child, &child_repr, &quote!(chosen));
            arms.push(quote!(Self::#variant(chosen) => { #write }));
            // A constructor where building the variant by hand would be a chore.
            let ctor = ident(&snake(&variant_name));
            match (&child_repr, child.multiple) {
                (Repr::Key | Repr::Text, _) => {
                    let build = if matches!(child_repr, Repr::Key) {
                        quote!(keys)
                    } else {
                        quote!(new)
                    };
                    constructors.push(quote! {
                        #[doc = concat!(" `", stringify!(#variant), "` from any arguments.")]
                        #[must_use]
                        pub fn #ctor(value: impl crate::ToRedisArgs) -> Self {
                            Self::#variant(crate::Args::#build(value))
                        }
                    });
                }
                (Repr::Struct(struct_ty), false) => {
                    if let ArgKind::Block(fields) = &child.kind
                        && flattenable(fields)
                    {
                        let (params, value) = self.flat_params(fields, struct_ty);
                        let params = params.iter().map(|p| {
                            let (n, t) = (&p.name, &p.ty);
                            quote!(#n: #t)
                        });
                        constructors.push(quote! {
                            #[doc = concat!(" `", stringify!(#variant), "` from its fields.")]
                            #[must_use]
                            pub fn #ctor(#(#params),*) -> Self {
                                Self::#variant(#value)
                            }
                        });
                    }
                }
                _ => {}
            }
        }
        let doc = format!(" The choices of the `{}` argument.", arg.name);
        self.items.push(quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq)]
            pub enum #ty {
                #(#variants)*
            }

            impl #ty {
                #(#constructors)*

                pub(crate) fn write_to(&self, cmd: &mut crate::Cmd) {
                    match self {
                        #(#arms)*
                    }
                }
            }
        });
        ty
    }

    /// A struct for a block: required fields in `new`, optional ones through builder
    /// methods, all written in order by `write_to`.
    fn render_struct(&mut self, name: &str, arg: &Arg, children: &[Arg]) -> Ident {
        let ty = self.claim(name);
        let group = self.group(children, name, &quote!(self));
        let doc = format!(" The `{}` block of arguments.", arg.name);
        let Group {
            field_names: _,
            fields,
            required_params,
            required_init,
            optional_init,
            builders,
            writes,
        } = group;
        let params = required_params.iter().map(|p| {
            let (n, t) = (&p.name, &p.ty);
            quote!(#n: #t)
        });
        self.items.push(quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq)]
            pub struct #ty {
                #(#fields)*
            }

            impl #ty {
                /// The block with its required fields; the optional ones are set by
                /// the builder methods.
                #[allow(clippy::new_without_default)]
                #[must_use]
                pub fn new(#(#params),*) -> Self {
                    Self { #(#required_init)* #(#optional_init)* }
                }

                #(#builders)*

                // A block of fixed words only has nothing of its own to write.
                #[allow(clippy::unused_self)]
                pub(crate) fn write_to(&self, cmd: &mut crate::Cmd) {
                    #(#writes)*
                }
            }
        });
        ty
    }

    /// Parameters for the fields of a flattenable block, and the expression that builds
    /// the block's struct from them.
    fn flat_params(&mut self, fields: &[Arg], struct_ty: &Ident) -> (Vec<Param>, TokenStream) {
        let mut params = Vec::new();
        let mut inits = Vec::new();
        let mut used = BTreeSet::new();
        for (idx, field) in fields.iter().enumerate() {
            if count_of_next(fields, idx).is_some() && !fields[idx + 1].optional {
                continue;
            }
            let field_name = ident(&snake(&field.name));
            let param_name = unique(&snake(&field.name), &mut used);
            // The block's fields were generated with the block's name as their prefix.
            let repr = self.repr_existing(field, &struct_ty.to_string());
            if matches!(repr, Repr::Token) {
                if field.optional {
                    params.push(Param {
                        name: param_name.clone(),
                        ty: quote!(bool),
                    });
                    inits.push(field_init(&field_name, &quote!(#param_name)));
                }
                continue;
            }
            let p = param(field, &repr, &param_name);
            let owned = to_owned(field, &repr, &param_name);
            params.push(p);
            inits.push(field_init(&field_name, &owned));
        }
        (params, quote!(#struct_ty { #(#inits)* }))
    }

    /// The representation of a field whose types were generated already.
    fn repr_existing(&mut self, arg: &Arg, prefix: &str) -> Repr {
        let name = format!("{prefix}{}", camel(&arg.name));
        match &arg.kind {
            ArgKind::OneOf(_) => Repr::Enum(self.resolved(&name)),
            ArgKind::Block(_) => {
                flat_block(arg).unwrap_or_else(|| Repr::Struct(self.resolved(&name)))
            }
            _ => self.repr(arg, prefix),
        }
    }

    /// Fields, `new` parameters, builder methods and writes for a group of arguments
    /// stored in a struct reached through `owner` (`self`, or `options`).
    pub(crate) fn group(&mut self, args: &[Arg], prefix: &str, owner: &TokenStream) -> Group {
        let mut group = Group::default();
        let mut used_fields = BTreeSet::new();
        let mut used_builders: BTreeSet<String> =
            ["new", "write_to", "default"].map(str::to_owned).into();
        let mut counted_width = None;
        for (idx, arg) in args.iter().enumerate() {
            if let Some(width) = count_of_next(args, idx)
                && !args[idx + 1].optional
            {
                // No field for the count: it is written from the items that follow.
                counted_width = Some((width, token_write(arg)));
                continue;
            }
            let repr = self.repr(arg, prefix);
            let field = unique(&snake(&arg.name), &mut used_fields);
            group.field_names.push(field.clone());
            if !arg.optional {
                if matches!(repr, Repr::Token) {
                    group.writes.push(token_write(arg));
                    continue;
                }
                let field_ty = owned_type(arg, &repr);
                group.fields.push(quote!(pub(crate) #field: #field_ty,));
                group.required_params.push(param(arg, &repr, &field));
                let init = to_owned(arg, &repr, &field);
                group.required_init.push(field_init(&field, &init));
                if let Some((width, token)) = counted_width.take() {
                    group.writes.push(quote! {
                        #token
                        cmd.arg(#owner.#field.arg_count() / #width);
                    });
                }
                let write = write_owned(arg, &repr, &quote!(&#owner.#field));
                group.writes.push(write);
                continue;
            }
            let stored = optional_type(arg, &repr);
            group.fields.push(quote!(pub(crate) #field: #stored,));
            let empty = if matches!(repr, Repr::Token) {
                quote!(false)
            } else if arg.multiple {
                quote!(<#stored>::default())
            } else {
                quote!(None)
            };
            group.optional_init.push(quote!(#field: #empty,));
            group
                .writes
                .push(write_optional(arg, &repr, &quote!(#owner.#field)));
            group
                .builders
                .extend(self.builders(arg, &repr, &field, prefix, &mut used_builders));
        }
        group
    }

    /// Builder methods that set the optional argument `arg`, stored in `field`.
    fn builders(
        &mut self,
        arg: &Arg,
        repr: &Repr,
        field: &Ident,
        prefix: &str,
        used: &mut BTreeSet<String>,
    ) -> Vec<TokenStream> {
        let mut out = Vec::new();
        let mut claim = |name: String| -> Option<Ident> {
            let name = if is_keyword(&name) {
                format!("{name}_")
            } else {
                name
            };
            used.insert(name.clone()).then(|| format_ident!("{name}"))
        };
        let doc = builder_doc(arg);
        let name = claim(choice_name(arg)).or_else(|| claim(snake(&arg.name)));
        let Some(name) = name else {
            panic!("{prefix}: no free builder name for argument {:?}", arg.name);
        };
        let multiple = arg.multiple;
        match repr {
            Repr::Token => out.push(quote! {
                #[doc = #doc]
                #[must_use]
                pub fn #name(mut self) -> Self {
                    self.#field = true;
                    self
                }
            }),
            Repr::Key | Repr::Text | Repr::Flat { .. } => {
                let build = if matches!(repr, Repr::Key) {
                    quote!(keys)
                } else {
                    quote!(new)
                };
                let push = if matches!(repr, Repr::Key) {
                    quote!(push_keys)
                } else {
                    quote!(push)
                };
                let body = if multiple && arg.multiple_token {
                    quote!(self.#field.push(crate::Args::#build(value));)
                } else if multiple {
                    quote!(self.#field.#push(value);)
                } else {
                    quote!(self.#field = Some(crate::Args::#build(value));)
                };
                out.push(quote! {
                    #[doc = #doc]
                    #[must_use]
                    pub fn #name(mut self, value: impl crate::ToRedisArgs) -> Self {
                        #body
                        self
                    }
                });
            }
            Repr::Int | Repr::Double | Repr::Enum(_) | Repr::Struct(_) => {
                let ty = match repr {
                    Repr::Int => quote!(i64),
                    Repr::Double => quote!(f64),
                    Repr::Enum(ty) | Repr::Struct(ty) => quote!(#ty),
                    _ => unreachable!(),
                };
                let body = if multiple {
                    quote!(self.#field.push(value);)
                } else {
                    quote!(self.#field = Some(value);)
                };
                out.push(quote! {
                    #[doc = #doc]
                    #[must_use]
                    pub fn #name(mut self, value: #ty) -> Self {
                        #body
                        self
                    }
                });
            }
        }
        // Shortcuts: one builder per choice of a oneof (`nx()`, `ex(10)`), and a
        // builder taking a block's fields (`limit(0, 10)`).
        match (&arg.kind, repr, multiple) {
            (ArgKind::OneOf(choices), Repr::Enum(enum_ty), false) => {
                let enum_prefix = enum_ty.to_string();
                let mut seen_variants = BTreeSet::new();
                for choice in choices {
                    let mut variant_name = camel(&choice_name(choice));
                    if !seen_variants.insert(variant_name.clone()) {
                        variant_name = camel(&choice.name);
                        seen_variants.insert(variant_name.clone());
                    }
                    let variant = format_ident!("{variant_name}");
                    let doc = builder_doc(choice);
                    let choice_repr = self.repr_existing(choice, &enum_prefix);
                    let value = match (&choice_repr, choice.multiple) {
                        (Repr::Token, false) => Some((quote!(), quote!(#enum_ty::#variant))),
                        (Repr::Int, false) => {
                            Some((quote!(value: i64), quote!(#enum_ty::#variant(value))))
                        }
                        (Repr::Double, false) => {
                            Some((quote!(value: f64), quote!(#enum_ty::#variant(value))))
                        }
                        (Repr::Text, _) => Some((
                            quote!(value: impl crate::ToRedisArgs),
                            quote!(#enum_ty::#variant(crate::Args::new(value))),
                        )),
                        (Repr::Key, _) => Some((
                            quote!(value: impl crate::ToRedisArgs),
                            quote!(#enum_ty::#variant(crate::Args::keys(value))),
                        )),
                        _ => None,
                    };
                    let Some((params, value)) = value else {
                        continue;
                    };
                    let Some(method) = claim(choice_name(choice)) else {
                        continue;
                    };
                    out.push(quote! {
                        #[doc = #doc]
                        #[must_use]
                        pub fn #method(mut self, #params) -> Self {
                            self.#field = Some(#value);
                            self
                        }
                    });
                }
            }
            (ArgKind::Block(fields), Repr::Struct(struct_ty), false) if flattenable(fields) => {
                let (params, value) = self.flat_params(fields, struct_ty);
                let params = params.iter().map(|p| {
                    let (n, t) = (&p.name, &p.ty);
                    quote!(#n: #t)
                });
                // The flat builder takes the plain name; the one taking the struct is
                // renamed `{name}_block`.
                out.pop();
                let Some(block_name) = claim(format!("{name}_block")) else {
                    panic!("{prefix}: no free builder name for {name}_block");
                };
                out.push(quote! {
                    #[doc = #doc]
                    #[must_use]
                    pub fn #name(mut self, #(#params),*) -> Self {
                        self.#field = Some(#value);
                        self
                    }

                    #[doc = #doc]
                    #[must_use]
                    pub fn #block_name(mut self, value: #struct_ty) -> Self {
                        self.#field = Some(value);
                        self
                    }
                });
            }
            _ => {}
        }
        out
    }
}

/// What a group of arguments turns into.
#[derive(Default)]
pub(crate) struct Group {
    /// The field of each argument, in order.
    pub(crate) field_names: Vec<Ident>,
    pub(crate) fields: Vec<TokenStream>,
    pub(crate) required_params: Vec<Param>,
    pub(crate) required_init: Vec<TokenStream>,
    pub(crate) optional_init: Vec<TokenStream>,
    pub(crate) builders: Vec<TokenStream>,
    pub(crate) writes: Vec<TokenStream>,
}

/// `field: value,`, or `field,` where the value is a variable of the same name.
fn field_init(field: &Ident, value: &TokenStream) -> TokenStream {
    if *field == value.to_string() {
        quote!(#field,)
    } else {
        quote!(#field: #value,)
    }
}

pub(crate) fn unique(name: &str, used: &mut BTreeSet<String>) -> Ident {
    let mut candidate = name.to_owned();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    ident(&candidate)
}

/// The type a struct field or enum variant holds for `arg`.
pub(crate) fn owned_type(arg: &Arg, repr: &Repr) -> TokenStream {
    let base = match repr {
        Repr::Key | Repr::Text | Repr::Flat { .. } => quote!(crate::Args),
        Repr::Int => quote!(i64),
        Repr::Double => quote!(f64),
        Repr::Token => quote!(bool),
        Repr::Enum(ty) | Repr::Struct(ty) => quote!(#ty),
    };
    let accumulates =
        matches!(repr, Repr::Key | Repr::Text | Repr::Flat { .. }) && !arg.multiple_token;
    if arg.multiple && !accumulates {
        quote!(::std::vec::Vec<#base>)
    } else {
        base
    }
}

/// The stored type of an optional argument: `bool` for tokens, the accumulating form
/// for repeated ones, `Option` otherwise.
fn optional_type(arg: &Arg, repr: &Repr) -> TokenStream {
    if matches!(repr, Repr::Token) {
        return quote!(bool);
    }
    let owned = owned_type(arg, repr);
    if arg.multiple {
        owned
    } else {
        quote!(::core::option::Option<#owned>)
    }
}

/// Writes an owned value; `value` is an expression of type `&T`.
pub(crate) fn write_owned(arg: &Arg, repr: &Repr, value: &TokenStream) -> TokenStream {
    let token = token_write(arg);
    match repr {
        Repr::Token => token,
        Repr::Key | Repr::Text | Repr::Flat { .. } if arg.multiple_token => quote! {
            for item in #value { #token cmd.append(item); }
        },
        Repr::Key | Repr::Text | Repr::Flat { .. } => quote!(#token cmd.append(#value);),
        Repr::Int | Repr::Double if arg.multiple && arg.multiple_token => quote! {
            for item in #value { #token cmd.arg(item); }
        },
        Repr::Int | Repr::Double => quote!(#token cmd.arg(#value);),
        Repr::Enum(_) | Repr::Struct(_) if arg.multiple && arg.multiple_token => quote! {
            for item in #value { #token item.write_to(cmd); }
        },
        Repr::Enum(_) | Repr::Struct(_) if arg.multiple => quote! {
            #token
            for item in #value { item.write_to(cmd); }
        },
        Repr::Enum(_) | Repr::Struct(_) => {
            // `&self.field` needs parentheses before a method call; a plain binding does not.
            if value.to_string().starts_with('&') {
                quote!(#token (#value).write_to(cmd);)
            } else {
                quote!(#token #value.write_to(cmd);)
            }
        }
    }
}

/// Writes an optional field when it is set; `place` names the field.
fn write_optional(arg: &Arg, repr: &Repr, place: &TokenStream) -> TokenStream {
    if matches!(repr, Repr::Token) {
        let token = token_write(arg);
        return quote!(if #place { #token });
    }
    if arg.multiple {
        let write = write_owned(arg, repr, &quote!(&#place));
        return quote!(if !#place.is_empty() { #write });
    }
    let write = write_owned(arg, repr, &quote!(chosen));
    quote!(if let Some(chosen) = &#place { #write })
}

/// The parameter taking a required `arg` in a function.
pub(crate) fn param(arg: &Arg, repr: &Repr, name: &Ident) -> Param {
    let ty = match repr {
        Repr::Key | Repr::Text | Repr::Flat { .. } if arg.multiple_token => {
            quote!(impl ::core::iter::IntoIterator<Item = impl crate::ToRedisArgs>)
        }
        Repr::Key | Repr::Text | Repr::Flat { .. } => quote!(impl crate::ToRedisArgs),
        Repr::Int if arg.multiple => quote!(impl ::core::iter::IntoIterator<Item = i64>),
        Repr::Double if arg.multiple => quote!(impl ::core::iter::IntoIterator<Item = f64>),
        Repr::Int => quote!(i64),
        Repr::Double => quote!(f64),
        Repr::Token => quote!(bool),
        Repr::Enum(ty) | Repr::Struct(ty) if arg.multiple => {
            quote!(impl ::core::iter::IntoIterator<Item = #ty>)
        }
        Repr::Enum(ty) | Repr::Struct(ty) => quote!(#ty),
    };
    Param {
        name: name.clone(),
        ty,
    }
}

/// Converts a parameter into the owned form a field holds.
pub(crate) fn to_owned(arg: &Arg, repr: &Repr, name: &Ident) -> TokenStream {
    match repr {
        Repr::Key if arg.multiple_token => {
            quote!(#name.into_iter().map(crate::Args::keys).collect())
        }
        Repr::Text | Repr::Flat { .. } if arg.multiple_token => {
            quote!(#name.into_iter().map(crate::Args::new).collect())
        }
        Repr::Key => quote!(crate::Args::keys(#name)),
        Repr::Flat { key_positions, .. } if !key_positions.is_empty() => {
            panic!(
                "argument {:?}: a stored repeated block holding keys is not supported",
                arg.name
            )
        }
        Repr::Text | Repr::Flat { .. } => quote!(crate::Args::new(#name)),
        _ if arg.multiple => quote!(#name.into_iter().collect()),
        _ => quote!(#name),
    }
}

/// Writes a required parameter straight into the command.
pub(crate) fn write_param(arg: &Arg, repr: &Repr, name: &Ident) -> TokenStream {
    let token = token_write(arg);
    match repr {
        Repr::Token => token,
        Repr::Key if arg.multiple_token => quote!(for item in #name { #token cmd.key(item); }),
        Repr::Text if arg.multiple_token => quote!(for item in #name { #token cmd.arg(item); }),
        Repr::Key => quote!(#token cmd.key(#name);),
        Repr::Flat {
            width,
            key_positions,
        } if !key_positions.is_empty() => quote! {
            #token
            {
                let group_start = cmd.arg_count();
                cmd.arg(#name);
                cmd.mark_keys_in_groups(group_start, #width, &[#(#key_positions),*]);
            }
        },
        Repr::Int | Repr::Double if arg.multiple_token => {
            quote!(for item in #name { #token cmd.arg(item); })
        }
        Repr::Int | Repr::Double if arg.multiple => {
            quote!(#token for item in #name { cmd.arg(item); })
        }
        Repr::Text | Repr::Flat { .. } | Repr::Int | Repr::Double => quote!(#token cmd.arg(#name);),
        Repr::Enum(_) | Repr::Struct(_) if arg.multiple_token => {
            quote!(for item in #name { #token item.write_to(cmd); })
        }
        Repr::Enum(_) | Repr::Struct(_) if arg.multiple => {
            quote!(#token for item in #name { item.write_to(cmd); })
        }
        Repr::Enum(_) | Repr::Struct(_) => quote!(#token #name.write_to(cmd);),
    }
}

fn variant_doc(arg: &Arg) -> String {
    match arg.wire_token() {
        Some("") => " An empty argument.".to_owned(),
        Some(token) if matches!(arg.kind, ArgKind::PureToken) => format!(" `{token}`."),
        Some(token) => format!(
            " `{token} {}`.",
            arg.display.as_deref().unwrap_or(&arg.name)
        ),
        None => format!(" `{}`.", arg.display.as_deref().unwrap_or(&arg.name)),
    }
}

fn builder_doc(arg: &Arg) -> String {
    let shown = arg.display.as_deref().unwrap_or(&arg.name);
    let what = match (arg.wire_token(), &arg.kind) {
        (Some(token), ArgKind::PureToken) => format!(" Adds `{token}`."),
        (Some(token), _) => format!(" Adds `{token} {shown}`."),
        (None, _) => format!(" Sets `{shown}`."),
    };
    if arg.multiple {
        format!("{what} Each call adds one more.")
    } else {
        what
    }
}
