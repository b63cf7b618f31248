//! Derive macros for respec.
//!
//! `#[derive(FromRedisValue)]` and `#[derive(ToRedisArgs)]` live here once the derive work
//! lands; until then the crate is empty so that the workspace layout is final.
