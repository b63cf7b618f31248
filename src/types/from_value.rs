//! [`FromRedisValue`]: replies into Rust types.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::protocol::{FloatBuf, Frame};
use crate::value::Value;

/// Converts a reply into a Rust type.
///
/// The conversions accept what either protocol sends for the same command, so code does
/// not change between RESP2 and RESP3:
///
/// | target | accepts |
/// | --- | --- |
/// | [`Value`] | anything, unchanged |
/// | `()` | anything, discarded |
/// | `bool` | booleans; integers (0 is `false`); bulk `"1"`/`"0"`; `OK` as `true`; nil as `false` |
/// | integers | integers in range; numeric strings; integral doubles; booleans as 1/0 |
/// | `f32`, `f64` | doubles, integers, numeric strings (`inf`, `-inf`, `nan` included) |
/// | `String` | UTF-8 strings of every kind; integers, doubles and big numbers as text |
/// | `Vec<u8>`, [`Bytes`] | strings of every kind ([`Bytes`] without copying) |
/// | `Option<T>` | nil as `None`, anything else as `T` |
/// | `Vec<T>` | arrays, sets, pushes; a map as its keys and values in turn |
/// | `[T; N]`, tuples | aggregates of exactly that length |
/// | `Vec<(A, B)>` | an array of pairs, or a flat array `a1 b1 a2 b2` (RESP2 `WITHSCORES`) |
/// | `HashMap`, `BTreeMap` | maps; flat key/value arrays (RESP2 `HGETALL`); arrays of pairs |
/// | `HashSet`, `BTreeSet` | sets and arrays |
///
/// A value that does not fit is an [`ErrorKind::Conversion`](crate::ErrorKind::Conversion)
/// error naming the target type and showing the value, cut short. An error reply found
/// inside an aggregate is returned as that error.
///
/// # Examples
///
/// ```
/// use respec::{FromRedisValue, Value};
///
/// let reply = Value::Array(vec![Value::BulkString("7".into()), Value::Nil]);
/// let (n, missing): (i64, Option<String>) = FromRedisValue::from_redis_value(reply)?;
/// assert_eq!((n, missing), (7, None));
/// # Ok::<(), respec::Error>(())
/// ```
pub trait FromRedisValue: Sized {
    /// Converts `value`.
    fn from_redis_value(value: Value) -> Result<Self>;

    /// Converts the elements of an aggregate. Tuples override this to also accept a flat
    /// sequence (`a1 b1 a2 b2`) where RESP2 sends pairs flattened.
    #[doc(hidden)]
    fn from_redis_values(values: Vec<Value>) -> Result<Vec<Self>> {
        values.into_iter().map(Self::from_redis_value).collect()
    }

    /// Converts a whole bulk string into a sequence; only `u8` can, making `Vec<u8>` a
    /// byte string rather than a list of numbers.
    #[doc(hidden)]
    fn from_byte_string(bytes: Bytes) -> Result<Vec<Self>, Bytes> {
        Err(bytes)
    }

    /// Converts the next element of a decoded frame. This is how connections convert
    /// replies: the default builds the element as a [`Value`] and converts that, while
    /// strings, numbers, options, sequences and maps read the frame's bytes directly and
    /// fall back to the default for anything else, so both paths give the same results
    /// and the same errors.
    #[doc(hidden)]
    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        Self::from_redis_value(frame.value()?)
    }

    /// Converts the `len` entries of an aggregate whose header was just read from
    /// `frame`: the frame twin of `from_redis_values`, which tuples override likewise.
    #[doc(hidden)]
    fn seq_from_frame(frame: &mut Frame<'_>, len: usize) -> Result<Vec<Self>> {
        let mut out = Vec::with_capacity(len.min(frame.remaining()));
        for _ in 0..len {
            out.push(Self::from_frame(frame)?);
        }
        Ok(out)
    }
}

impl FromRedisValue for Value {
    fn from_redis_value(value: Value) -> Result<Self> {
        Ok(value)
    }
}

impl FromRedisValue for () {
    fn from_redis_value(_: Value) -> Result<Self> {
        Ok(())
    }

    /// Passes over the reply without building anything of it.
    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        frame.skip_element();
        Ok(())
    }
}

impl FromRedisValue for bool {
    fn from_redis_value(value: Value) -> Result<Self> {
        match value {
            Value::Boolean(b) => Ok(b),
            Value::Int(n) => Ok(n != 0),
            Value::Nil => Ok(false),
            Value::SimpleString(ref s) if s.as_ref() == b"OK" => Ok(true),
            Value::BulkString(ref s) | Value::SimpleString(ref s) => match s.as_ref() {
                b"1" => Ok(true),
                b"0" => Ok(false),
                _ => Err(Error::conversion::<bool>(&value)),
            },
            _ => Err(Error::conversion::<bool>(&value)),
        }
    }
}

/// The text of a string-like value, for parsing numbers from it.
fn numeric_text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(s) | Value::SimpleString(s) | Value::BigNumber(s) => {
            std::str::from_utf8(s).ok()
        }
        _ => None,
    }
}

macro_rules! from_value_for_int {
    ($($t:ty $({ $($extra:item)* })?),*) => {$(
        impl FromRedisValue for $t {
            fn from_redis_value(value: Value) -> Result<Self> {
                let out_of_range = || Some(Cow::Borrowed("out of range"));
                match value {
                    Value::Int(n) => <$t>::try_from(n)
                        .map_err(|_| Error::conversion_detail::<$t>(&value, out_of_range())),
                    Value::Boolean(b) => Ok(<$t>::from(b)),
                    Value::Double(d) if d.fract() == 0.0 => {
                        // `as` saturates, so a value at the edge is checked by converting back.
                        let n = d as i128;
                        <$t>::try_from(n)
                            .ok()
                            .filter(|_| n as f64 == d)
                            .ok_or_else(|| Error::conversion_detail::<$t>(&value, out_of_range()))
                    }
                    _ => numeric_text(&value)
                        .and_then(|text| text.parse().ok())
                        .ok_or_else(|| Error::conversion::<$t>(&value)),
                }
            }

            fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
                match frame.next_int() {
                    Some(n) => Self::from_redis_value(Value::Int(n)),
                    None => Self::from_redis_value(frame.value()?),
                }
            }

            $($($extra)*)?
        }
    )*};
}

from_value_for_int!(
    i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize,
    u8 {
        /// A bulk string is a `Vec<u8>` of its bytes, not a list of numbers.
        fn from_byte_string(bytes: Bytes) -> Result<Vec<Self>, Bytes> {
            Ok(Vec::from(bytes))
        }
    }
);

macro_rules! from_value_for_float {
    ($($t:ty),*) => {$(
        impl FromRedisValue for $t {
            fn from_redis_value(value: Value) -> Result<Self> {
                match value {
                    Value::Double(d) => Ok(d as $t),
                    Value::Int(n) => Ok(n as $t),
                    _ => numeric_text(&value)
                        .and_then(|text| text.parse().ok())
                        .ok_or_else(|| Error::conversion::<$t>(&value)),
                }
            }
        }
    )*};
}

from_value_for_float!(f32, f64);

impl FromRedisValue for String {
    fn from_redis_value(value: Value) -> Result<Self> {
        match value {
            Value::BulkString(s)
            | Value::SimpleString(s)
            | Value::BigNumber(s)
            | Value::VerbatimString { text: s, .. } => match String::from_utf8(Vec::from(s)) {
                Ok(text) => Ok(text),
                Err(e) => Err(Error::conversion_detail::<String>(
                    &Value::BulkString(Bytes::from(e.into_bytes())),
                    Some("invalid UTF-8".into()),
                )),
            },
            Value::Int(n) => Ok(n.to_string()),
            Value::Double(d) => {
                Ok(String::from_utf8_lossy(FloatBuf::new().format_f64(d)).into_owned())
            }
            _ => Err(Error::conversion::<String>(&value)),
        }
    }

    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        if let Some(text) = frame.peek_str() {
            let text = text.to_owned();
            frame.skip_scalar();
            return Ok(text);
        }
        Self::from_redis_value(frame.value()?)
    }
}

impl FromRedisValue for Bytes {
    fn from_redis_value(value: Value) -> Result<Self> {
        match value {
            Value::BulkString(s)
            | Value::SimpleString(s)
            | Value::BigNumber(s)
            | Value::VerbatimString { text: s, .. } => Ok(s),
            _ => Err(Error::conversion::<Bytes>(&value)),
        }
    }

    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        match frame.next_bulk() {
            Some(bytes) => Ok(bytes),
            None => Self::from_redis_value(frame.value()?),
        }
    }
}

impl<T: FromRedisValue> FromRedisValue for Option<T> {
    fn from_redis_value(value: Value) -> Result<Self> {
        match value {
            Value::Nil => Ok(None),
            value => T::from_redis_value(value).map(Some),
        }
    }

    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        if frame.next_null() {
            return Ok(None);
        }
        T::from_frame(frame).map(Some)
    }
}

/// The elements of a sequence-like value; a map gives its keys and values in turn.
fn into_elements<Target: ?Sized>(value: Value) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) | Value::Push(items) => Ok(items),
        Value::Map(pairs) => Ok(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        value => Err(Error::conversion::<Target>(&value)),
    }
}

impl<T: FromRedisValue> FromRedisValue for Vec<T> {
    fn from_redis_value(value: Value) -> Result<Self> {
        match value {
            Value::BulkString(bytes) => T::from_byte_string(bytes)
                .map_err(|bytes| Error::conversion::<Self>(&Value::BulkString(bytes))),
            value => T::from_redis_values(into_elements::<Self>(value)?),
        }
    }

    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        match frame.next_aggregate(b"*~>") {
            Some(len) => T::seq_from_frame(frame, len),
            None => Self::from_redis_value(frame.value()?),
        }
    }
}

impl<T: FromRedisValue, const N: usize> FromRedisValue for [T; N] {
    fn from_redis_value(value: Value) -> Result<Self> {
        let items = match value {
            Value::Array(items) | Value::Set(items) | Value::Push(items) if items.len() == N => {
                items
            }
            Value::Array(_) | Value::Set(_) | Value::Push(_) => {
                let detail = format!("expected {N} elements");
                return Err(Error::conversion_detail::<Self>(
                    &value,
                    Some(detail.into()),
                ));
            }
            value => return Err(Error::conversion::<Self>(&value)),
        };
        let converted = items
            .into_iter()
            .map(T::from_redis_value)
            .collect::<Result<Vec<T>>>()?;
        // The length was checked above.
        converted
            .try_into()
            .map_err(|_| Error::invalid_input("array length changed during conversion"))
    }
}

/// Splits a sequence into key/value pairs: an array of two-element arrays (RESP3), or a
/// flat `k1 v1 k2 v2` sequence (RESP2).
pub(crate) fn into_pairs<Target: ?Sized>(value: Value) -> Result<Vec<(Value, Value)>> {
    let items = match value {
        Value::Map(pairs) => return Ok(pairs),
        Value::Array(items) | Value::Set(items) | Value::Push(items) => items,
        value => return Err(Error::conversion::<Target>(&value)),
    };
    if matches!(items.first(), Some(Value::Array(first)) if first.len() == 2) {
        return items
            .into_iter()
            .map(|item| match item {
                Value::Array(pair) => {
                    let mut pair = pair.into_iter();
                    match (pair.next(), pair.next(), pair.next()) {
                        (Some(k), Some(v), None) => Ok((k, v)),
                        _ => Err(Error::conversion_detail::<Target>(
                            &Value::Array(pair.collect()),
                            Some("expected a key/value pair".into()),
                        )),
                    }
                }
                other => Err(Error::conversion_detail::<Target>(
                    &other,
                    Some("expected a key/value pair".into()),
                )),
            })
            .collect();
    }
    if items.len() % 2 != 0 {
        return Err(Error::conversion_detail::<Target>(
            &Value::Array(items),
            Some("odd number of elements for key/value pairs".into()),
        ));
    }
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        pairs.push((k, v));
    }
    Ok(pairs)
}

impl<K, V, S> FromRedisValue for HashMap<K, V, S>
where
    K: FromRedisValue + Eq + Hash,
    V: FromRedisValue,
    S: BuildHasher + Default,
{
    fn from_redis_value(value: Value) -> Result<Self> {
        let pairs = into_pairs::<Self>(value)?;
        let mut map = HashMap::with_capacity_and_hasher(pairs.len(), S::default());
        for (k, v) in pairs {
            map.insert(K::from_redis_value(k)?, V::from_redis_value(v)?);
        }
        Ok(map)
    }

    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        let Some(len) = frame.next_pairs() else {
            return Self::from_redis_value(frame.value()?);
        };
        let mut map = HashMap::with_capacity_and_hasher(len.min(frame.remaining()), S::default());
        for _ in 0..len {
            let k = K::from_frame(frame)?;
            map.insert(k, V::from_frame(frame)?);
        }
        Ok(map)
    }
}

impl<K, V> FromRedisValue for BTreeMap<K, V>
where
    K: FromRedisValue + Ord,
    V: FromRedisValue,
{
    fn from_redis_value(value: Value) -> Result<Self> {
        into_pairs::<Self>(value)?
            .into_iter()
            .map(|(k, v)| Ok((K::from_redis_value(k)?, V::from_redis_value(v)?)))
            .collect()
    }

    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        let Some(len) = frame.next_pairs() else {
            return Self::from_redis_value(frame.value()?);
        };
        (0..len)
            .map(|_| Ok((K::from_frame(frame)?, V::from_frame(frame)?)))
            .collect()
    }
}

/// The members of a set-like value.
fn into_members<Target: ?Sized>(value: Value) -> Result<Vec<Value>> {
    match value {
        Value::Set(items) | Value::Array(items) => Ok(items),
        value => Err(Error::conversion::<Target>(&value)),
    }
}

impl<T, S> FromRedisValue for HashSet<T, S>
where
    T: FromRedisValue + Eq + Hash,
    S: BuildHasher + Default,
{
    fn from_redis_value(value: Value) -> Result<Self> {
        into_members::<Self>(value)?
            .into_iter()
            .map(T::from_redis_value)
            .collect()
    }

    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        match frame.next_aggregate(b"*~") {
            Some(len) => (0..len).map(|_| T::from_frame(frame)).collect(),
            None => Self::from_redis_value(frame.value()?),
        }
    }
}

impl<T: FromRedisValue + Ord> FromRedisValue for BTreeSet<T> {
    fn from_redis_value(value: Value) -> Result<Self> {
        into_members::<Self>(value)?
            .into_iter()
            .map(T::from_redis_value)
            .collect()
    }

    fn from_frame(frame: &mut Frame<'_>) -> Result<Self> {
        match frame.next_aggregate(b"*~") {
            Some(len) => (0..len).map(|_| T::from_frame(frame)).collect(),
            None => Self::from_redis_value(frame.value()?),
        }
    }
}

macro_rules! from_value_for_tuple {
    ($n:literal: $($name:ident)+) => {
        impl<$($name: FromRedisValue),+> FromRedisValue for ($($name,)+) {
            fn from_redis_value(value: Value) -> Result<Self> {
                match value {
                    Value::Array(items) | Value::Set(items) | Value::Push(items)
                        if items.len() == $n =>
                    {
                        let mut items = items.into_iter();
                        Ok(($($name::from_redis_value(
                            items.next().unwrap_or(Value::Nil),
                        )?,)+))
                    }
                    Value::Array(_) | Value::Set(_) | Value::Push(_) => {
                        Err(Error::conversion_detail::<Self>(
                            &value,
                            Some(concat!("expected ", $n, " elements").into()),
                        ))
                    }
                    value => Err(Error::conversion::<Self>(&value)),
                }
            }

            #[allow(clippy::modulo_one)] // The 1-tuple shares this code.
            fn from_redis_values(values: Vec<Value>) -> Result<Vec<Self>> {
                // RESP3 sends each tuple as an array; RESP2 often flattens them.
                if values.first().is_none_or(|first| matches!(first, Value::Array(_))) {
                    return values.into_iter().map(Self::from_redis_value).collect();
                }
                if values.len() % $n != 0 {
                    return Err(Error::conversion_detail::<Vec<Self>>(
                        &Value::Array(values),
                        Some(concat!("length is not a multiple of ", $n).into()),
                    ));
                }
                let mut out = Vec::with_capacity(values.len() / $n);
                let mut items = values.into_iter();
                while items.len() > 0 {
                    out.push(($($name::from_redis_value(
                        items.next().unwrap_or(Value::Nil),
                    )?,)+));
                }
                Ok(out)
            }

            fn seq_from_frame(frame: &mut Frame<'_>, len: usize) -> Result<Vec<Self>> {
                // Whether the tuples come nested or flat shows only in the values.
                let values = (0..len)
                    .map(|_| frame.value())
                    .collect::<Result<Vec<Value>, _>>()?;
                Self::from_redis_values(values)
            }
        }
    };
}

from_value_for_tuple!(1: A);
from_value_for_tuple!(2: A B);
from_value_for_tuple!(3: A B C);
from_value_for_tuple!(4: A B C D);
from_value_for_tuple!(5: A B C D E);
from_value_for_tuple!(6: A B C D E F);
from_value_for_tuple!(7: A B C D E F G);
from_value_for_tuple!(8: A B C D E F G H);
from_value_for_tuple!(9: A B C D E F G H I);
from_value_for_tuple!(10: A B C D E F G H I J);
from_value_for_tuple!(11: A B C D E F G H I J K);
from_value_for_tuple!(12: A B C D E F G H I J K L);

/// Converts a reply, as `T::from_redis_value` does; reads well at call sites.
///
/// # Examples
///
/// ```
/// let n: u16 = respec::from_redis_value(respec::Value::Int(80))?;
/// assert_eq!(n, 80);
/// # Ok::<(), respec::Error>(())
/// ```
pub fn from_redis_value<T: FromRedisValue>(value: Value) -> Result<T> {
    T::from_redis_value(value)
}
