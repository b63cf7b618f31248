//! What the code of `#[derive(FromRedisValue)]` and `#[derive(ToRedisArgs)]` calls.
//!
//! Hidden from the docs and not covered by semver: only the derives use it.

use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;

pub use crate::types::FromRedisValue;

/// The key/value pairs of a map reply: a RESP3 map or a RESP2 flat array.
pub fn pairs<T: ?Sized>(value: Value) -> Result<Vec<(Value, Value)>> {
    crate::types::into_pairs::<T>(value)
}

/// The bytes of a key or a unit variant's name, when the value is a string.
#[must_use]
pub fn text(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(s) | Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => {
            Some(s)
        }
        _ => None,
    }
}

/// Converts one field, naming the struct and the field in the error.
pub fn field<T: FromRedisValue>(value: Value, owner: &str, field: &str) -> Result<T> {
    T::from_redis_value(value).map_err(|e| in_field(e, owner, field))
}

fn in_field(e: Error, owner: &str, field: &str) -> Error {
    if e.kind() == ErrorKind::Conversion {
        Error::new(
            ErrorKind::Conversion,
            format!("field `{field}` of `{owner}`: {e}"),
        )
    } else {
        e
    }
}

/// A required field is absent from the reply.
#[must_use]
pub fn missing_field(owner: &str, field: &str) -> Error {
    Error::new(
        ErrorKind::Conversion,
        format!("cannot convert to `{owner}`: the reply has no field `{field}`"),
    )
}

/// The elements of an array reply of exactly `len` elements, for tuple structs.
pub fn elements<T: ?Sized>(value: Value, len: usize) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) | Value::Push(items) if items.len() == len => {
            Ok(items)
        }
        Value::Array(_) | Value::Set(_) | Value::Push(_) => Err(Error::conversion_detail::<T>(
            &value,
            Some(format!("expected {len} elements").into()),
        )),
        value => Err(Error::conversion::<T>(&value)),
    }
}

/// A string that names none of an enum's variants.
#[must_use]
pub fn unknown_variant<T: ?Sized>(value: &Value, accepted: &[&str]) -> Error {
    Error::conversion_detail::<T>(
        value,
        Some(format!("expected one of: {}", accepted.join(", ")).into()),
    )
}

// Without the `json` feature these do not exist, so `#[redis(json)]` fails to compile
// rather than failing at run time; the derive's docs name the feature.
#[cfg(feature = "json")]
pub use json::{from_json, write_json};
#[cfg(feature = "json")]
pub use serde;

#[cfg(feature = "json")]
mod json {
    use std::any::type_name;

    use super::{Error, ErrorKind, Result, Value};

    /// Decodes a bulk string holding JSON; nil reads as JSON `null`, so an `Option`
    /// becomes `None`.
    pub fn from_json<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T> {
        let bytes = match value {
            Value::Nil => &b"null"[..],
            other => match super::text(other) {
                Some(bytes) => bytes,
                None => return Err(Error::conversion::<T>(other)),
            },
        };
        serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Conversion,
                format!("cannot decode JSON into {}: {e}", short(type_name::<T>())),
            )
        })
    }

    /// Writes a value as one JSON argument. What JSON cannot hold (a map whose keys are
    /// not strings, say) is never written as something else: the argument is refused,
    /// naming `what` (the field or the type), and the command is not sent.
    pub fn write_json<T, W>(out: &mut W, value: &T, what: &str)
    where
        T: serde::Serialize + ?Sized,
        W: crate::RedisWrite + ?Sized,
    {
        match serde_json::to_vec(value) {
            Ok(json) => out.write_arg(&json),
            Err(e) => out.invalid_argument(&format!("{what} cannot be written as JSON: {e}")),
        }
    }

    fn short(name: &str) -> &str {
        name.rsplit("::").next().unwrap_or(name)
    }
}
