//! Conversions between Rust types and the protocol: [`ToRedisArgs`] for arguments and
//! [`FromRedisValue`] for replies.

mod from_value;
mod to_args;

pub(crate) use from_value::into_pairs;
pub use from_value::{FromRedisValue, from_redis_value};
pub use to_args::{RedisWrite, ToRedisArgs};
