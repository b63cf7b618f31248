//! Derive macros for respec: `#[derive(FromRedisValue)]` and `#[derive(ToRedisArgs)]`.
//!
//! Use them through respec (`use respec::FromRedisValue;`), which documents them. This
//! crate only turns the input into code: `attr` reads the `#[redis(...)]` attributes,
//! collecting every error; `case` applies `rename_all`; `expand` writes the impls.

mod attr;
mod case;
mod expand;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `respec::FromRedisValue`; documented on the re-export in respec.
#[proc_macro_derive(FromRedisValue, attributes(redis))]
pub fn derive_from_redis_value(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::from_redis_value(&input).into()
}

/// Derives `respec::ToRedisArgs`; documented on the re-export in respec.
#[proc_macro_derive(ToRedisArgs, attributes(redis))]
pub fn derive_to_redis_args(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::to_redis_args(&input).into()
}
