//! The generated files, rendered from the model.

use std::collections::BTreeSet;

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use crate::args::{
    Repr, Types, count_of_next, flattenable, param, token_write, unique, write_param,
};
use crate::docs::{command_doc, escape};
use crate::model::{Arg, ArgKind, BeginSearch, Command, FindKeys, Reply, Spec, Surface};
use crate::names::{camel, snake};

/// Generated files: path below the project root, and contents.
pub(crate) fn render(spec: &Spec) -> Vec<(&'static str, String)> {
    let mut types = Types::default();
    let mut constructors = Vec::new();
    let mut writers = Vec::new();
    let mut sync = Vec::new();
    let mut asynch = Vec::new();
    let mut sentinel_sync = Vec::new();
    let mut sentinel_futures = Vec::new();
    let mut pipeline = Vec::new();
    // A command's place in the table, which is in the spec's order.
    for (entry, command) in spec.commands.iter().enumerate() {
        if !matches!(command.surface, Surface::Commands | Surface::Sentinel) {
            continue;
        }
        let out = render_command(&mut types, command, entry);
        constructors.push(out.constructors);
        writers.push(out.writers);
        if command.surface == Surface::Commands {
            sync.push(out.sync);
            asynch.push(out.asynch);
            pipeline.push(out.pipeline);
        } else {
            sentinel_sync.push(out.sync);
            sentinel_futures.push(out.asynch);
        }
    }
    let items = &types.items;
    let types_file = quote! {
        //! Options, choices and blocks of arguments of the generated commands.
        #![allow(clippy::struct_excessive_bools, clippy::doc_markdown, clippy::large_enum_variant, clippy::needless_pass_by_value, clippy::needless_borrows_for_generic_args, clippy::needless_borrow)]
        #(#items)*
    };
    let constructors_file = quote! {
        //! One function per command, building its `Cmd`.
        #![allow(deprecated, clippy::wildcard_imports, clippy::too_many_arguments, clippy::doc_markdown, clippy::fn_params_excessive_bools, clippy::needless_pass_by_value)]
        use super::*;
        #(#constructors)*

        /// What each constructor writes, name and arguments, into a command begun
        /// elsewhere: a pipeline has its commands written straight into its batch.
        pub(crate) mod write_args {
            use super::*;
            #(#writers)*
        }
    };
    let sync_file = quote! {
        //! The sync command surfaces: `Commands` and `SentinelCommands`.
        #![allow(deprecated, clippy::wildcard_imports, clippy::too_many_arguments, clippy::doc_markdown, clippy::fn_params_excessive_bools, clippy::too_many_lines)]
        use super::*;

        /// Every command as a typed method, for every [`ConnectionLike`](crate::ConnectionLike).
        ///
        /// Replies the protocol fixes come back typed (`incr` gives an `i64`, `set` a
        /// `()`); replies that carry your data are converted to the type you ask for
        /// (`let v: Option<String> = con.get("k")?;`).
        pub trait Commands: crate::ConnectionLike {
            #(#sync)*
        }

        impl<C: crate::ConnectionLike + ?Sized> Commands for C {}

        /// The commands only a Sentinel answers, as typed methods.
        pub trait SentinelCommands: crate::ConnectionLike {
            #(#sentinel_sync)*
        }

        impl<C: crate::ConnectionLike + ?Sized> SentinelCommands for C {}
    };
    let async_file = quote! {
        //! The async command surfaces: `AsyncCommands` and `AsyncSentinelCommands`.
        #![allow(deprecated, clippy::wildcard_imports, clippy::too_many_arguments, clippy::doc_markdown, clippy::fn_params_excessive_bools, clippy::too_many_lines)]
        use super::*;

        /// Every command as a typed method returning a future, for every
        /// [`AsyncConnectionLike`](crate::AsyncConnectionLike). The arguments are encoded
        /// when the method is called; the future only sends and waits.
        pub trait AsyncCommands: crate::AsyncConnectionLike {
            #(#asynch)*
        }

        impl<C: crate::AsyncConnectionLike + ?Sized> AsyncCommands for C {}

        /// The commands only a Sentinel answers, as typed async methods.
        pub trait AsyncSentinelCommands: crate::AsyncConnectionLike {
            #(#sentinel_futures)*
        }

        impl<C: crate::AsyncConnectionLike + ?Sized> AsyncSentinelCommands for C {}
    };
    let pipeline_file = quote! {
        //! Every command as a chainable method of `Pipeline`.
        #![allow(deprecated, clippy::wildcard_imports, clippy::too_many_arguments, clippy::doc_markdown, clippy::fn_params_excessive_bools, clippy::too_many_lines)]
        use super::*;

        impl crate::Pipeline {
            #(#pipeline)*
        }
    };
    let table_file = render_table(spec);
    vec![
        ("src/commands/generated/types.rs", format_file(types_file)),
        (
            "src/commands/generated/constructors.rs",
            format_file(constructors_file),
        ),
        ("src/commands/generated/sync.rs", format_file(sync_file)),
        ("src/commands/generated/asynch.rs", format_file(async_file)),
        (
            "src/commands/generated/pipeline.rs",
            format_file(pipeline_file),
        ),
        ("src/table/generated.rs", format_file(table_file)),
    ]
}

/// Formats with prettyplease and puts the `@generated` header first.
fn format_file(tokens: TokenStream) -> String {
    let file: syn::File =
        syn::parse2(tokens).unwrap_or_else(|e| panic!("generated code does not parse: {e}"));
    format!(
        "// @generated by `cargo xtask codegen` from commands.json. Do not edit: edit commands.json (or spec/overrides.json) and regenerate.\n\n{}",
        prettyplease::unparse(&file)
    )
}

struct Rendered {
    constructors: TokenStream,
    writers: TokenStream,
    sync: TokenStream,
    asynch: TokenStream,
    pipeline: TokenStream,
}

/// The writes of a required repeated argument whose items a count before it gives:
/// the argument is encoded first (`prelude`), its items counted into the count's place,
/// then it is written, its keys marked.
fn counted(count: &Arg, arg: &Arg, width: usize, name: &Ident, sig: &mut Signature) -> TokenStream {
    let key_positions: Vec<usize> = match &arg.kind {
        ArgKind::Key => vec![0],
        ArgKind::Block(children) => children
            .iter()
            .enumerate()
            .filter(|(_, child)| matches!(child.kind, ArgKind::Key))
            .map(|(idx, _)| idx)
            .collect(),
        _ => Vec::new(),
    };
    if matches!(arg.kind, ArgKind::Key) {
        sig.prelude
            .push(quote!(let #name = crate::Args::keys(#name);));
    } else {
        sig.prelude
            .push(quote!(let #name = crate::Args::new(#name);));
    }
    let token = token_write(count);
    if width == 1 {
        sig.writes.push(quote!(#token cmd.arg(#name.arg_count());));
    } else {
        sig.writes
            .push(quote!(#token cmd.arg(#name.arg_count() / #width);));
    }
    if key_positions.is_empty() || matches!(arg.kind, ArgKind::Key) {
        quote!(cmd.append(&#name);)
    } else {
        quote! {
            {
                let group_start = cmd.arg_count();
                cmd.append(&#name);
                cmd.mark_keys_in_groups(group_start, #width, &[#(#key_positions),*]);
            }
        }
    }
}

/// A command's name as the generated code writes it: each word as a bulk string, all in
/// one byte-string literal, and how many words that is.
fn encode_name(name: &str) -> (Literal, usize) {
    let mut encoded = Vec::new();
    let mut words = 0;
    for word in name.split_ascii_whitespace() {
        encoded.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
        words += 1;
    }
    (Literal::byte_string(&encoded), words)
}

fn reply_tokens(reply: Reply) -> (TokenStream, TokenStream) {
    match reply {
        Reply::Unit => (quote!(), quote!(())),
        Reply::Bool => (quote!(), quote!(bool)),
        Reply::Int => (quote!(), quote!(i64)),
        Reply::Double => (quote!(), quote!(f64)),
        Reply::Text => (quote!(), quote!(::std::string::String)),
        Reply::OptionalInt => (quote!(), quote!(::core::option::Option<i64>)),
        Reply::OptionalDouble => (quote!(), quote!(::core::option::Option<f64>)),
        Reply::Generic => (quote!(<RV: crate::FromRedisValue>), quote!(RV)),
    }
}

fn doc_attrs(lines: &[String]) -> TokenStream {
    let lines = lines.iter().map(|line| {
        let line = if line.is_empty() {
            String::new()
        } else {
            format!(" {line}")
        };
        quote!(#[doc = #line])
    });
    quote!(#(#lines)*)
}

/// Parameters and writes for the required arguments of a command, in wire order, with
/// the writes of the optional ones (from `options`) in their places.
struct Signature {
    params: Vec<(Ident, TokenStream)>,
    prelude: Vec<TokenStream>,
    writes: Vec<TokenStream>,
}

fn signature(
    types: &mut Types,
    command: &Command,
    prefix: &str,
    option_writes: &[TokenStream],
    option_fields: &[Ident],
) -> Signature {
    let args = &command.args;
    let mut used: BTreeSet<String> = ["cmd", "out", "options", "item", "chosen", "group_start"]
        .map(str::to_owned)
        .into();
    let mut sig = Signature {
        params: Vec::new(),
        prelude: Vec::new(),
        writes: Vec::new(),
    };
    let mut optional_idx = 0;
    let mut pending: Option<(Ident, TokenStream)> = None;
    for (idx, arg) in args.iter().enumerate() {
        if let Some(width) = count_of_next(args, idx) {
            let items = &args[idx + 1];
            if items.optional {
                // EVAL's keys, in its options: counted from the field.
                let field = &option_fields[optional_idx];
                sig.writes
                    .push(quote!(cmd.arg(options.#field.arg_count());));
            } else {
                let name = unique(&snake(&items.name), &mut used);
                let write = counted(arg, items, width, &name, &mut sig);
                pending = Some((name, write));
            }
            continue;
        }
        if arg.optional {
            sig.writes.push(option_writes[optional_idx].clone());
            optional_idx += 1;
            continue;
        }
        if let Some((name, write)) = pending.take() {
            sig.params.push((name, quote!(impl crate::ToRedisArgs)));
            sig.writes.push(write);
            continue;
        }
        required(types, arg, prefix, &mut used, &mut sig);
    }
    sig
}

/// A required argument: parameters, flattening blocks that can be.
fn required(
    types: &mut Types,
    arg: &Arg,
    prefix: &str,
    used: &mut BTreeSet<String>,
    sig: &mut Signature,
) {
    if let ArgKind::Block(children) = &arg.kind
        && !arg.multiple
        && flattenable(children)
    {
        if let Some(token) = arg.wire_token() {
            sig.writes.push(quote!(cmd.arg(#token);));
        }
        let nested_prefix = format!("{prefix}{}", camel(&arg.name));
        let mut pending: Option<(Ident, TokenStream)> = None;
        for (idx, child) in children.iter().enumerate() {
            if let Some(width) = count_of_next(children, idx) {
                let items = &children[idx + 1];
                let name = unique(&snake(&items.name), used);
                let write = counted(child, items, width, &name, sig);
                pending = Some((name, write));
                continue;
            }
            if let Some((name, write)) = pending.take() {
                sig.params.push((name, quote!(impl crate::ToRedisArgs)));
                sig.writes.push(write);
                continue;
            }
            if matches!(child.kind, ArgKind::PureToken) && child.optional {
                let name = unique(&snake(&child.name), used);
                let token = child.wire_token().unwrap_or_default();
                sig.params.push((name.clone(), quote!(bool)));
                sig.writes.push(quote!(if #name { cmd.arg(#token); }));
            } else {
                required(types, child, &nested_prefix, used, sig);
            }
        }
        return;
    }
    let repr = types.repr(arg, prefix);
    if matches!(repr, Repr::Token) {
        // A required fixed word takes no parameter: it is always written.
        let token = arg.wire_token().unwrap_or_default();
        sig.writes.push(quote!(cmd.arg(#token);));
        return;
    }
    let name = unique(&snake(&arg.name), used);
    let p = param(arg, &repr, &name);
    sig.writes.push(write_param(arg, &repr, &name));
    sig.params.push((p.name, p.ty));
}

fn render_command(types: &mut Types, command: &Command, entry: usize) -> Rendered {
    let prefix = camel(&command.name);
    let method = format_ident!("{}", command.method);
    let options_method = format_ident!("{}_options", command.method);
    let options_ty = format_ident!("{prefix}Options");
    let name_lit = command.name.as_str();

    let optional_args: Vec<Arg> = command
        .args
        .iter()
        .filter(|a| a.optional)
        .cloned()
        .collect();
    if !optional_args.is_empty() {
        types.reserve(&options_ty.to_string());
    }
    let options_group = if optional_args.is_empty() {
        None
    } else {
        Some(types.group(&optional_args, &prefix, &quote!(options)))
    };
    let (option_writes, option_fields) = options_group
        .as_ref()
        .map(|g| (g.writes.clone(), g.field_names.clone()))
        .unwrap_or_default();
    let sig = signature(types, command, &prefix, &option_writes, &option_fields);

    let deprecated = command.deprecated_since.as_ref().map(|since| {
        let note = format!(
            "use {}",
            command
                .replaced_by
                .as_deref()
                .unwrap_or("its replacement")
                .replace('!', "")
        );
        quote!(#[deprecated(since = #since, note = #note)])
    });
    let full_doc = doc_attrs(&command_doc(command));
    // The sync trait whose method carries the full documentation.
    let surface_trait = if command.surface == Surface::Sentinel {
        "SentinelCommands"
    } else {
        "Commands"
    };
    let see = format!(
        " Builds `{name_lit}`; see [`{surface_trait}::{method}`](crate::{surface_trait}::{method}) for the command."
    );
    let summary = escape(&command.summary);

    let params: Vec<TokenStream> = sig.params.iter().map(|(n, t)| quote!(#n: #t)).collect();
    let arg_names: Vec<&Ident> = sig.params.iter().map(|(n, _)| n).collect();
    let prelude = &sig.prelude;
    let writes = &sig.writes;

    let mut constructors = Vec::new();
    let mut sync = Vec::new();
    let mut asynch = Vec::new();
    let mut pipeline = Vec::new();

    // The constructor that writes everything; without options it is the only one.
    let (ctor_name, ctor_params, ctor_args) = if options_group.is_some() {
        let mut p = params.clone();
        p.push(quote!(options: #options_ty));
        let mut a: Vec<TokenStream> = arg_names.iter().map(|n| quote!(#n)).collect();
        a.push(quote!(options));
        (options_method.clone(), p, a)
    } else {
        (
            method.clone(),
            params.clone(),
            arg_names.iter().map(|n| quote!(#n)).collect(),
        )
    };
    // The name's words, encoded here once instead of on every call.
    let (encoded_name, name_words) = encode_name(name_lit);
    let args_writer = quote! {
        pub(crate) fn #ctor_name(cmd: &mut crate::Cmd, #(#ctor_params),*) {
            #(#prelude)*
            cmd.write_encoded_name(#encoded_name, #name_words, &crate::table::COMMANDS[#entry]);
            #(#writes)*
        }
    };
    // Room for the name and a few short arguments.
    let room = name_lit.len() + 64;
    let body = quote! {
        let mut out = crate::Cmd::with_capacity(#room);
        write_args::#ctor_name(&mut out, #(#ctor_args),*);
        out
    };
    let ctor_doc = if options_group.is_some() {
        format!(
            " Builds `{name_lit}` with its options; see [`{options_method}`](crate::{surface_trait}::{options_method})."
        )
    } else {
        see.clone()
    };
    constructors.push(quote! {
        #[doc = #ctor_doc]
        #deprecated
        #[must_use]
        pub fn #ctor_name(#(#ctor_params),*) -> crate::Cmd {
            #body
        }
    });
    if let Some(group) = &options_group {
        let fields = &group.fields;
        let builders = &group.builders;
        let options_doc =
            format!(" The optional arguments of `{name_lit}`, set with builder methods.");
        types.items.push(quote! {
            #[doc = #options_doc]
            #[derive(Debug, Clone, Default, PartialEq)]
            pub struct #options_ty {
                #(#fields)*
            }

            impl #options_ty {
                #(#builders)*
            }
        });
        // The plain constructor sends no options.
        constructors.push(quote! {
            #[doc = #see]
            #deprecated
            #[must_use]
            pub fn #method(#(#params),*) -> crate::Cmd {
                #options_method(#(#arg_names,)* #options_ty::default())
            }
        });
    }

    let mut surface = |name: &Ident,
                       params: &[TokenStream],
                       args: &[TokenStream],
                       writer_args: &[TokenStream],
                       reply: Reply,
                       doc: TokenStream| {
        let (generics, ret) = reply_tokens(reply);
        sync.push(quote! {
            #doc
            #deprecated
            fn #name #generics (&mut self, #(#params),*) -> crate::Result<#ret> {
                #name(#(#args),*).query(self)
            }
        });
        let async_doc = format!(
            " {summary} The async twin of [`{surface_trait}::{name}`](crate::{surface_trait}::{name})."
        );
        asynch.push(quote! {
            #[doc = #async_doc]
            #deprecated
            fn #name #generics (&mut self, #(#params),*) -> impl ::core::future::Future<Output = crate::Result<#ret>> + Send {
                let cmd = #name(#(#args),*);
                async move { self.req_command(&cmd).await }
            }
        });
        let queue = if writer_args.is_empty() {
            quote!(self.queue(write_args::#ctor_name))
        } else {
            quote!(self.queue(|cmd| write_args::#ctor_name(cmd, #(#writer_args),*)))
        };
        let pipe_doc = format!(" {summary} Queues [`Commands::{name}`](crate::Commands::{name}).");
        pipeline.push(quote! {
            #[doc = #pipe_doc]
            #deprecated
            pub fn #name(&mut self, #(#params),*) -> &mut Self {
                #queue
            }
        });
    };
    let plain_args: Vec<TokenStream> = arg_names.iter().map(|n| quote!(#n)).collect();
    // The plain method writes what its options twin writes with no options.
    let mut plain_writer_args = plain_args.clone();
    if options_group.is_some() {
        plain_writer_args.push(quote!(#options_ty::default()));
    }
    surface(
        &method,
        &params,
        &plain_args,
        &plain_writer_args,
        command.reply,
        full_doc,
    );
    if options_group.is_some() {
        let doc = format!(
            " `{name_lit}` with options: see [`{method}`](Self::{method}) and [`{options_ty}`]."
        );
        let doc = quote!(#[doc = #doc]);
        surface(
            &options_method,
            &ctor_params,
            &ctor_args,
            &ctor_args,
            command.options_reply,
            doc,
        );
    }

    Rendered {
        constructors: quote!(#(#constructors)*),
        writers: args_writer,
        sync: quote!(#(#sync)*),
        asynch: quote!(#(#asynch)*),
        pipeline: quote!(#(#pipeline)*),
    }
}

fn flags_expr(ty: &TokenStream, flags: &[String]) -> TokenStream {
    let mut expr = quote!(#ty::EMPTY);
    for flag in flags {
        let flag = format_ident!("{}", flag.to_ascii_uppercase());
        expr = quote!(#expr.union(#ty::#flag));
    }
    expr
}

/// Where a `BLOCKING` command says how long it may block, from its arguments: the
/// integer or double named `timeout`, or the one that follows a `BLOCK` token. A double
/// counts seconds and an integer milliseconds, as every such command in the spec does.
/// Its place is after its token, at a fixed position when only single words come before
/// it, or else last.
fn blocking_timeout(command: &Command) -> TokenStream {
    if !command.flags.iter().any(|flag| flag == "BLOCKING") {
        return quote!(None);
    }
    let found = command.args.iter().enumerate().find(|(_, arg)| {
        matches!(arg.kind, ArgKind::Integer | ArgKind::Double)
            && (arg.name == "timeout" || arg.token.as_deref() == Some("BLOCK"))
    });
    let Some((idx, arg)) = found else {
        panic!(
            "{}: a BLOCKING command with no argument codegen knows as its timeout; teach \
             `blocking_timeout` in codegen/src/render.rs where it is",
            command.name
        );
    };
    let unit = if matches!(arg.kind, ArgKind::Double) {
        quote!(TimeUnit::Seconds)
    } else {
        quote!(TimeUnit::Milliseconds)
    };
    let one_word = |arg: &Arg| {
        !arg.optional
            && !arg.multiple
            && arg.token.is_none()
            && match &arg.kind {
                ArgKind::OneOf(choices) => choices
                    .iter()
                    .all(|c| matches!(c.kind, ArgKind::PureToken) && !c.optional),
                ArgKind::Block(_) => false,
                _ => true,
            }
    };
    let position = if let Some(token) = arg.wire_token() {
        quote!(ArgPosition::After(#token))
    } else if command
        .args
        .get(..idx)
        .unwrap_or_default()
        .iter()
        .all(one_word)
    {
        let at = command.name.split(' ').count() + idx;
        quote!(ArgPosition::At(#at))
    } else if idx + 1 == command.args.len() {
        quote!(ArgPosition::Last)
    } else {
        panic!(
            "{}: codegen cannot place the timeout argument `{}`",
            command.name, arg.name
        );
    };
    quote!(Some(BlockingTimeout { position: #position, unit: #unit }))
}

fn render_table(spec: &Spec) -> TokenStream {
    let entries = spec.commands.iter().map(|command| {
        let name = &command.name;
        let arity = command.arity as i32;
        let flags = flags_expr(&quote!(CommandFlags), &command.flags);
        let group = &command.group;
        let since = &command.since;
        let key_specs = command.key_specs.iter().map(|spec| {
            let flags = flags_expr(&quote!(KeySpecFlags), &spec.flags);
            let begin = match &spec.begin_search {
                BeginSearch::Index { pos } => {
                    let pos = *pos as usize;
                    quote!(BeginSearch::Index(#pos))
                }
                BeginSearch::Keyword { keyword, startfrom } => {
                    let startfrom = *startfrom as isize;
                    quote!(BeginSearch::Keyword { keyword: #keyword, start_from: #startfrom })
                }
                BeginSearch::Unknown(()) => quote!(BeginSearch::Unknown),
            };
            let find = match &spec.find_keys {
                FindKeys::Range { lastkey, step, limit } => {
                    let (lastkey, step, limit) = (*lastkey as isize, *step as usize, *limit as usize);
                    quote!(FindKeys::Range { last_key: #lastkey, step: #step, limit: #limit })
                }
                FindKeys::Keynum { keynumidx, firstkey, step } => {
                    let (keynumidx, firstkey, step) = (*keynumidx as usize, *firstkey as usize, *step as usize);
                    quote!(FindKeys::KeyNum { key_num_idx: #keynumidx, first_key: #firstkey, step: #step })
                }
                FindKeys::Unknown(()) => quote!(FindKeys::Unknown),
            };
            quote!(KeySpec { flags: #flags, begin_search: #begin, find_keys: #find })
        });
        let policy = |kind: &str| {
            command.tips.iter().find_map(|tip| tip.strip_prefix(kind)).map(|value| format_ident!("{}", camel(value)))
        };
        let request = policy("REQUEST_POLICY:").map_or(quote!(None), |p| quote!(Some(RequestPolicy::#p)));
        let response = policy("RESPONSE_POLICY:").map_or(quote!(None), |p| quote!(Some(ResponsePolicy::#p)));
        let nondeterministic_output = command.tips.iter().any(|t| t == "NONDETERMINISTIC_OUTPUT");
        let nondeterministic_order = command.tips.iter().any(|t| t == "NONDETERMINISTIC_OUTPUT_ORDER");
        let blocking_timeout = blocking_timeout(command);
        let subcommands = spec
            .commands
            .iter()
            .any(|other| other.name.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with(' ')));
        let connection_state = command.connection_state.as_deref().map_or(quote!(None), |state| {
            let variant = format_ident!("{}", camel(state));
            quote!(Some(ConnectionState::#variant))
        });
        let key_extraction = command.key_extraction.as_deref().map_or(quote!(None), |rule| {
            let variant = format_ident!("{}", camel(&rule.replace('-', "_")));
            quote!(Some(KeyRule::#variant))
        });
        quote! {
            CommandInfo {
                name: #name,
                arity: #arity,
                flags: #flags,
                key_specs: &[#(#key_specs),*],
                request_policy: #request,
                response_policy: #response,
                nondeterministic_output: #nondeterministic_output,
                nondeterministic_output_order: #nondeterministic_order,
                group: #group,
                since: #since,
                blocking_timeout: #blocking_timeout,
                subcommands: #subcommands,
                connection_state: #connection_state,
                key_rule: #key_extraction,
            }
        }
    });
    let count = spec.commands.len();
    quote! {
        //! The command table: every command and subcommand of the spec, sorted by name.
        #![allow(clippy::wildcard_imports)]
        use super::*;

        pub(crate) static COMMANDS: [CommandInfo; #count] = [#(#entries),*];
    }
}

#[cfg(test)]
mod tests {
    use super::encode_name;

    #[test]
    fn names_are_encoded_a_bulk_string_a_word() {
        let (one, words) = encode_name("GET");
        assert_eq!(one.to_string(), r#"b"$3\r\nGET\r\n""#);
        assert_eq!(words, 1);
        let (two, words) = encode_name("CLIENT LIST");
        assert_eq!(two.to_string(), r#"b"$6\r\nCLIENT\r\n$4\r\nLIST\r\n""#);
        assert_eq!(words, 2);
    }
}
