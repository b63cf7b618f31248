//! [`ToRedisArgs`]: Rust values into command arguments.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::{Bytes, BytesMut};

use crate::protocol::{DecimalBuf, FloatBuf};

/// Where [`ToRedisArgs`] writes arguments: a [`Cmd`](crate::Cmd), or anything else that
/// collects them.
pub trait RedisWrite {
    /// Appends one argument.
    fn write_arg(&mut self, arg: &[u8]);

    /// Records that a value could not be written as arguments, for `reason`: a
    /// `#[redis(json)]` field that JSON cannot hold, say. A [`Cmd`](crate::Cmd) (and a
    /// [`Pipeline`](crate::Pipeline)) keeps the first reason, and sending it then fails
    /// with an [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error naming
    /// it, before anything goes on the wire. A sink that cannot keep it ignores it, which
    /// is what this method does unless overridden.
    fn invalid_argument(&mut self, reason: &str) {
        let _ = reason;
    }
}

/// Collects arguments one `Vec<u8>` each; handy to see what a value writes. An invalid
/// argument cannot be recorded here, and is left out.
impl RedisWrite for Vec<Vec<u8>> {
    fn write_arg(&mut self, arg: &[u8]) {
        self.push(arg.to_vec());
    }
}

/// Turns a value into zero or more command arguments.
///
/// Scalars write one argument: strings and bytes as they are, integers in decimal, floats
/// in the shortest form that reads back to the same number (`0.1`, `1e300`, `inf`), and
/// `bool` as `1` or `0`, which is what [`FromRedisValue`](crate::FromRedisValue) reads back
/// as `bool`. Collections write their elements in turn: slices, `Vec`s, arrays, tuples
/// and sets one argument per element, maps a key then a value per entry. `Vec<u8>`,
/// `&[u8]` and `[u8; N]` are byte strings: one argument, not one per byte.
///
/// There is deliberately no implementation for `Option<T>`. A `None` has no faithful
/// encoding: writing an empty string, `"None"` or nothing at all each silently stores
/// something other than what the caller meant, which is why redis-py 3.0 stopped coercing
/// `None` and raises instead. Decide at the call site what an absent value means.
///
/// # Examples
///
/// ```
/// use respec::ToRedisArgs;
///
/// let mut args: Vec<Vec<u8>> = Vec::new();
/// ("key", 42, 0.5, true, &b"\x00raw"[..]).write_redis_args(&mut args);
/// assert_eq!(args, [&b"key"[..], b"42", b"0.5", b"1", b"\x00raw"]);
/// ```
pub trait ToRedisArgs {
    /// Writes this value's arguments to `out`.
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W);

    /// Writes a slice of this type. Only `u8` overrides it, so that byte slices are one
    /// argument while other slices are one argument per element.
    #[doc(hidden)]
    fn write_args_from_slice<W: RedisWrite + ?Sized>(items: &[Self], out: &mut W)
    where
        Self: Sized,
    {
        for item in items {
            item.write_redis_args(out);
        }
    }
}

impl<T: ToRedisArgs + ?Sized> ToRedisArgs for &T {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        (**self).write_redis_args(out);
    }
}

impl<T: ToRedisArgs + ?Sized> ToRedisArgs for Box<T> {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        (**self).write_redis_args(out);
    }
}

impl ToRedisArgs for str {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(self.as_bytes());
    }
}

impl ToRedisArgs for String {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(self.as_bytes());
    }
}

impl ToRedisArgs for Bytes {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(self);
    }
}

impl ToRedisArgs for BytesMut {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(self);
    }
}

impl ToRedisArgs for bool {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(if *self { b"1" } else { b"0" });
    }
}

macro_rules! to_args_for_int {
    ($($t:ty => $format:ident as $wide:ty $({ $($extra:item)* })?),* $(,)?) => {$(
        impl ToRedisArgs for $t {
            fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
                out.write_arg(DecimalBuf::new().$format(<$wide>::from(*self)));
            }
            $($($extra)*)?
        }
    )*};
}

to_args_for_int!(
    i8 => format_i64 as i64,
    i16 => format_i64 as i64,
    i32 => format_i64 as i64,
    i64 => format_i64 as i64,
    i128 => format_i128 as i128,
    u16 => format_u64 as u64,
    u32 => format_u64 as u64,
    u64 => format_u64 as u64,
    u128 => format_u128 as u128,
    u8 => format_u64 as u64 {
        fn write_args_from_slice<W: RedisWrite + ?Sized>(items: &[Self], out: &mut W) {
            out.write_arg(items);
        }
    },
);

impl ToRedisArgs for isize {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        // isize is at most 64 bits wide on every supported target.
        out.write_arg(DecimalBuf::new().format_i128(*self as i128));
    }
}

impl ToRedisArgs for usize {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(DecimalBuf::new().format_u128(*self as u128));
    }
}

impl ToRedisArgs for f64 {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(FloatBuf::new().format_f64(*self));
    }
}

impl ToRedisArgs for f32 {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(FloatBuf::new().format_f32(*self));
    }
}

impl<T: ToRedisArgs> ToRedisArgs for [T] {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        T::write_args_from_slice(self, out);
    }
}

impl<T: ToRedisArgs> ToRedisArgs for Vec<T> {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        T::write_args_from_slice(self, out);
    }
}

impl<T: ToRedisArgs, const N: usize> ToRedisArgs for [T; N] {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        T::write_args_from_slice(self, out);
    }
}

impl<T: ToRedisArgs, S> ToRedisArgs for HashSet<T, S> {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        for item in self {
            item.write_redis_args(out);
        }
    }
}

impl<T: ToRedisArgs> ToRedisArgs for BTreeSet<T> {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        for item in self {
            item.write_redis_args(out);
        }
    }
}

impl<K: ToRedisArgs, V: ToRedisArgs, S> ToRedisArgs for HashMap<K, V, S> {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        for (k, v) in self {
            k.write_redis_args(out);
            v.write_redis_args(out);
        }
    }
}

impl<K: ToRedisArgs, V: ToRedisArgs> ToRedisArgs for BTreeMap<K, V> {
    fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
        for (k, v) in self {
            k.write_redis_args(out);
            v.write_redis_args(out);
        }
    }
}

macro_rules! to_args_for_tuple {
    ($($name:ident)+) => {
        impl<$($name: ToRedisArgs),+> ToRedisArgs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn write_redis_args<W: RedisWrite + ?Sized>(&self, out: &mut W) {
                let ($($name,)+) = self;
                $($name.write_redis_args(out);)+
            }
        }
    };
}

to_args_for_tuple!(A);
to_args_for_tuple!(A B);
to_args_for_tuple!(A B C);
to_args_for_tuple!(A B C D);
to_args_for_tuple!(A B C D E);
to_args_for_tuple!(A B C D E F);
to_args_for_tuple!(A B C D E F G);
to_args_for_tuple!(A B C D E F G H);
to_args_for_tuple!(A B C D E F G H I);
to_args_for_tuple!(A B C D E F G H I J);
to_args_for_tuple!(A B C D E F G H I J K);
to_args_for_tuple!(A B C D E F G H I J K L);
