//! The impls the derives write.
//!
//! Every path is absolute (`::core::...`, and respec's path, `::respec` unless
//! `#[redis(crate = "...")]` says otherwise), the impl is `#[automatically_derived]` and
//! sits in an anonymous `const _` block, and each field adds its own bound so generic
//! types get exactly the bounds they need, reported at the field when unmet.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Fields, LitByteStr, LitStr, Path, Type, WherePredicate, parse_quote,
    parse_quote_spanned,
};

use crate::attr::{self, Container, Errors, Member, Place};

/// Which derive is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Derive {
    From,
    To,
}

impl Derive {
    fn trait_path(self, krate: &Path) -> TokenStream {
        match self {
            Derive::From => quote!(#krate::FromRedisValue),
            Derive::To => quote!(#krate::ToRedisArgs),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Derive::From => "FromRedisValue",
            Derive::To => "ToRedisArgs",
        }
    }
}

pub(crate) fn from_redis_value(input: &DeriveInput) -> TokenStream {
    expand(input, Derive::From)
}

pub(crate) fn to_redis_args(input: &DeriveInput) -> TokenStream {
    expand(input, Derive::To)
}

/// One field as the expansions see it.
struct FieldInfo<'a> {
    /// `self.name` or `self.0`.
    member: TokenStream,
    ty: &'a Type,
    /// The name on the wire, for named fields.
    wire_name: String,
    attrs: Member,
    optional: bool,
    span: Span,
    /// `true` for a named field, whose wire name is its key in a hash.
    named: bool,
    /// Where the field's name (or, for a tuple field, the field) is.
    name_span: Span,
}

fn expand(input: &DeriveInput, derive: Derive) -> TokenStream {
    let errors = Errors::default();
    let container = attr::container(&input.attrs, &errors);
    let krate: Path = container
        .krate
        .clone()
        .unwrap_or_else(|| parse_quote!(::respec));
    let owner = input.ident.to_string();
    let mut bounds: Vec<WherePredicate> = Vec::new();

    let body = match &input.data {
        Data::Struct(data) => {
            let fields = field_infos(&data.fields, &container, &errors);
            // Concrete field types need no bound: an unmet trait is then reported at the
            // field's own conversion, which is spanned at the field.
            for field in fields
                .iter()
                .filter(|f| mentions_type_param(f.ty, &input.generics))
            {
                bounds.push(field_bound(field, derive, &krate));
            }
            check_unique_names(&fields, &errors);
            if container.json {
                json_body(derive, &krate, &owner)
            } else {
                match (&data.fields, derive) {
                    (Fields::Named(_), Derive::To) => named_to(&fields, &owner, &krate),
                    (Fields::Named(_), Derive::From) => named_from(&fields, &owner, &krate),
                    (Fields::Unnamed(_), Derive::From) if fields.len() == 1 => newtype_from(&krate),
                    (Fields::Unnamed(_), Derive::From) => tuple_from(&fields, &owner, &krate),
                    (Fields::Unnamed(_), Derive::To) => tuple_to(&fields, &owner, &krate),
                    (Fields::Unit, _) => {
                        errors.push(syn::Error::new_spanned(
                            &input.ident,
                            format!("`#[derive({})]` does not support unit structs: they carry no value", derive.name()),
                        ));
                        TokenStream::new()
                    }
                }
            }
        }
        Data::Enum(data) => {
            if container.json {
                json_body(derive, &krate, &owner)
            } else {
                let mut variants = Vec::new();
                for variant in &data.variants {
                    if !matches!(variant.fields, Fields::Unit) {
                        errors.push(syn::Error::new_spanned(
                            &variant.fields,
                            format!(
                                "`#[derive({})]` supports enums of unit variants only; `{}` carries data (use `#[redis(json)]` on the enum to store it as JSON)",
                                derive.name(),
                                variant.ident
                            ),
                        ));
                        continue;
                    }
                    let attrs = attr::member(&variant.attrs, Place::Variant, &errors);
                    let wire_name = attrs.rename.clone().unwrap_or_else(|| {
                        let name = variant.ident.to_string();
                        container
                            .rename_all
                            .map_or(name.clone(), |rule| rule.variant(&name))
                    });
                    if let Some((first, _)) = variants.iter().find(|(_, name)| *name == wire_name) {
                        errors.push(syn::Error::new_spanned(
                            &variant.ident,
                            format!(
                                "variants `{first}` and `{}` both have the name `{wire_name}` on the wire",
                                variant.ident
                            ),
                        ));
                    }
                    variants.push((&variant.ident, wire_name));
                }
                if data.variants.is_empty() {
                    errors.push(syn::Error::new_spanned(
                        &input.ident,
                        format!("`#[derive({})]` needs at least one variant", derive.name()),
                    ));
                }
                match derive {
                    Derive::From => enum_from(&variants, &krate),
                    Derive::To => enum_to(&variants),
                }
            }
        }
        Data::Union(data) => {
            errors.push(syn::Error::new_spanned(
                data.union_token,
                format!("`#[derive({})]` does not support unions", derive.name()),
            ));
            TokenStream::new()
        }
    };

    let name = &input.ident;
    let mut generics = input.generics.clone();
    let trait_path = derive.trait_path(&krate);
    if let Some(error) = errors.finish() {
        // Still emit an impl, so that the one real error is not buried under errors
        // about the trait being missing wherever the type is used.
        let compile_errors = error.to_compile_error();
        let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
        let stub = match derive {
            Derive::From => quote! {
                fn from_redis_value(_: #krate::Value) -> #krate::Result<Self> {
                    ::core::unimplemented!()
                }
            },
            Derive::To => quote! {
                fn write_redis_args<W: #krate::RedisWrite + ?::core::marker::Sized>(&self, _: &mut W) {}
            },
        };
        return quote! {
            #compile_errors
            const _: () = {
                #[automatically_derived]
                impl #impl_generics #trait_path for #name #ty_generics #where_clause { #stub }
            };
        };
    }
    generics.make_where_clause().predicates.extend(bounds);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let method = match derive {
        Derive::From => quote! {
            fn from_redis_value(value: #krate::Value) -> #krate::Result<Self> {
                #body
            }
        },
        Derive::To => quote! {
            fn write_redis_args<W: #krate::RedisWrite + ?::core::marker::Sized>(&self, out: &mut W) {
                #body
            }
        },
    };
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #trait_path for #name #ty_generics #where_clause {
                #method
            }
        };
    }
}

fn field_infos<'a>(
    fields: &'a Fields,
    container: &Container,
    errors: &Errors,
) -> Vec<FieldInfo<'a>> {
    fields
        .iter()
        .enumerate()
        .map(|(idx, field)| {
            let attrs = attr::member(&field.attrs, Place::Field, errors);
            let (member, name) = if let Some(ident) = &field.ident {
                (quote!(#ident), ident.to_string())
            } else {
                let index = syn::Index::from(idx);
                (quote!(#index), idx.to_string())
            };
            if field.ident.is_none() && attrs.rename.is_some() {
                errors.push(syn::Error::new_spanned(
                    field,
                    "`rename` needs a named field",
                ));
            }
            let name = name.trim_start_matches("r#").to_owned();
            let wire_name = attrs.rename.clone().unwrap_or_else(|| {
                container
                    .rename_all
                    .map_or(name.clone(), |rule| rule.field(&name))
            });
            FieldInfo {
                member,
                ty: &field.ty,
                wire_name,
                optional: is_option(&field.ty),
                span: field.ty.span(),
                named: field.ident.is_some(),
                name_span: field
                    .ident
                    .as_ref()
                    .map_or_else(|| field.span(), syn::Ident::span),
                attrs,
            }
        })
        .collect()
}

/// `Option<...>` as written: such fields may be absent.
fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none()
        && path.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// `true` when `ty` names one of the type's generic type parameters.
fn mentions_type_param(ty: &Type, generics: &syn::Generics) -> bool {
    let params: Vec<String> = generics
        .type_params()
        .map(|p| p.ident.to_string())
        .collect();
    !params.is_empty() && names_any(quote!(#ty), &params)
}

fn names_any(tokens: TokenStream, names: &[String]) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => names.contains(&ident.to_string()),
        proc_macro2::TokenTree::Group(group) => names_any(group.stream(), names),
        _ => false,
    })
}

/// `T` of `Option<T>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let syn::PathArguments::AngleBracketed(args) = &path.path.segments.last()?.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) => Some(inner),
        _ => None,
    }
}

/// The bound a field needs, spanned at its type so an unmet bound is reported there.
fn field_bound(field: &FieldInfo<'_>, derive: Derive, krate: &Path) -> WherePredicate {
    // An `Option` field writes its value only when there is one: the bound is on what is
    // inside, since `Option` itself deliberately writes nothing.
    let ty = match derive {
        Derive::To if field.optional && !field.attrs.json => {
            option_inner(field.ty).unwrap_or(field.ty)
        }
        _ => field.ty,
    };
    match (field.attrs.json, derive) {
        (true, Derive::From) => {
            parse_quote_spanned!(field.span=> #ty: #krate::__private::serde::de::DeserializeOwned)
        }
        (true, Derive::To) => {
            parse_quote_spanned!(field.span=> #ty: #krate::__private::serde::Serialize)
        }
        (false, Derive::From) => parse_quote_spanned!(field.span=> #ty: #krate::FromRedisValue),
        (false, Derive::To) => parse_quote_spanned!(field.span=> #ty: #krate::ToRedisArgs),
    }
}

/// Refuses two named fields with one name on the wire: writing both and reading one
/// back would lose the other.
fn check_unique_names(fields: &[FieldInfo<'_>], errors: &Errors) {
    for (idx, field) in fields.iter().enumerate() {
        if field.named
            && let Some(first) = fields
                .get(..idx)
                .unwrap_or_default()
                .iter()
                .find(|other| other.named && other.wire_name == field.wire_name)
        {
            errors.push(syn::Error::new(
                field.name_span,
                format!(
                    "fields `{}` and `{}` both have the name `{}` on the wire",
                    first.member, field.member, field.wire_name
                ),
            ));
        }
    }
}

fn json_body(derive: Derive, krate: &Path, owner: &str) -> TokenStream {
    let what = format!("`{owner}`");
    match derive {
        Derive::From => quote!(#krate::__private::from_json::<Self>(&value)),
        Derive::To => quote!(#krate::__private::write_json(out, self, #what);),
    }
}

/// Converts one field's value.
fn convert(field: &FieldInfo<'_>, owner: &str, krate: &Path, value: &TokenStream) -> TokenStream {
    let ty = field.ty;
    let name = &field.wire_name;
    if field.attrs.json {
        quote_spanned!(field.span=> #krate::__private::from_json::<#ty>(&#value)?)
    } else {
        quote_spanned!(field.span=> #krate::__private::field::<#ty>(#value, #owner, #name)?)
    }
}

fn named_from(fields: &[FieldInfo<'_>], owner: &str, krate: &Path) -> TokenStream {
    let slots: Vec<_> = (0..fields.len())
        .map(|idx| quote::format_ident!("field_{idx}"))
        .collect();
    let declare = fields.iter().zip(&slots).map(|(field, slot)| {
        let ty = field.ty;
        quote!(let mut #slot: ::core::option::Option<#ty> = ::core::option::Option::None;)
    });
    let arms = fields.iter().zip(&slots).map(|(field, slot)| {
        let key = LitByteStr::new(field.wire_name.as_bytes(), field.span);
        let converted = convert(field, owner, krate, &quote!(value));
        quote!(::core::option::Option::Some(#key) => #slot = ::core::option::Option::Some(#converted),)
    });
    let finish = fields.iter().zip(&slots).map(|(field, slot)| {
        let member = &field.member;
        let name = &field.wire_name;
        let value = if field.optional || field.attrs.default {
            quote!(#slot.unwrap_or_default())
        } else {
            quote! {
                match #slot {
                    ::core::option::Option::Some(value) => value,
                    ::core::option::Option::None => {
                        return ::core::result::Result::Err(#krate::__private::missing_field(#owner, #name));
                    }
                }
            }
        };
        quote!(#member: #value,)
    });
    quote! {
        #(#declare)*
        for (key, value) in #krate::__private::pairs::<Self>(value)? {
            match #krate::__private::text(&key) {
                #(#arms)*
                _ => {}
            }
        }
        ::core::result::Result::Ok(Self { #(#finish)* })
    }
}

fn newtype_from(krate: &Path) -> TokenStream {
    quote!(#krate::FromRedisValue::from_redis_value(value).map(Self))
}

fn tuple_from(fields: &[FieldInfo<'_>], owner: &str, krate: &Path) -> TokenStream {
    let len = fields.len();
    let names: Vec<_> = (0..len)
        .map(|idx| quote::format_ident!("element_{idx}"))
        .collect();
    let converted = fields
        .iter()
        .zip(&names)
        .map(|(field, name)| convert(field, owner, krate, &quote!(#name)));
    quote! {
        let elements = #krate::__private::elements::<Self>(value, #len)?;
        let mut elements = elements.into_iter();
        #(let #names = elements.next().unwrap_or(#krate::Value::Nil);)*
        ::core::result::Result::Ok(Self(#(#converted),*))
    }
}

fn write_value(
    field: &FieldInfo<'_>,
    owner: &str,
    krate: &Path,
    value: &TokenStream,
) -> TokenStream {
    if field.attrs.json {
        let what = format!("field `{}` of `{owner}`", field.member);
        quote_spanned!(field.span=> #krate::__private::write_json(out, #value, #what);)
    } else {
        quote_spanned!(field.span=> #krate::ToRedisArgs::write_redis_args(#value, out);)
    }
}

fn named_to(fields: &[FieldInfo<'_>], owner: &str, krate: &Path) -> TokenStream {
    let writes = fields.iter().map(|field| {
        let member = &field.member;
        let key = LitByteStr::new(field.wire_name.as_bytes(), field.span);
        if field.optional && !field.attrs.json {
            let value = write_value(field, owner, krate, &quote!(value));
            quote! {
                if let ::core::option::Option::Some(value) = &self.#member {
                    out.write_arg(#key);
                    #value
                }
            }
        } else if field.optional {
            // A JSON `Option` is skipped when `None`, like any other.
            let value = write_value(field, owner, krate, &quote!(&self.#member));
            quote! {
                if self.#member.is_some() {
                    out.write_arg(#key);
                    #value
                }
            }
        } else {
            let value = write_value(field, owner, krate, &quote!(&self.#member));
            quote! {
                out.write_arg(#key);
                #value
            }
        }
    });
    quote!(#(#writes)*)
}

fn tuple_to(fields: &[FieldInfo<'_>], owner: &str, krate: &Path) -> TokenStream {
    let writes = fields.iter().map(|field| {
        let member = &field.member;
        write_value(field, owner, krate, &quote!(&self.#member))
    });
    quote!(#(#writes)*)
}

fn enum_from(variants: &[(&syn::Ident, String)], krate: &Path) -> TokenStream {
    let arms = variants.iter().map(|(ident, name)| {
        let key = LitByteStr::new(name.as_bytes(), ident.span());
        quote!(::core::option::Option::Some(#key) => ::core::result::Result::Ok(Self::#ident),)
    });
    let accepted = variants
        .iter()
        .map(|(ident, name)| LitStr::new(name, ident.span()));
    quote! {
        match #krate::__private::text(&value) {
            #(#arms)*
            _ => ::core::result::Result::Err(#krate::__private::unknown_variant::<Self>(&value, &[#(#accepted),*])),
        }
    }
}

fn enum_to(variants: &[(&syn::Ident, String)]) -> TokenStream {
    let arms = variants.iter().map(|(ident, name)| {
        let key = LitByteStr::new(name.as_bytes(), ident.span());
        quote!(Self::#ident => #key,)
    });
    quote! {
        let name: &[u8] = match self {
            #(#arms)*
        };
        out.write_arg(name);
    }
}
