//! RESP encoding: commands (arrays of bulk strings) and, for servers written in tests and
//! tools, any [`Value`].
//!
//! Everything writes into a caller's buffer that is meant to be reused; numbers are
//! formatted on the stack, so encoding allocates only when the buffer has to grow.

use std::fmt::{self, Write as _};

use bytes::BufMut;

use crate::value::Value;

/// Writes the header of an array of `len` elements: `*<len>\r\n`.
pub fn write_array_header(dst: &mut impl BufMut, len: usize) {
    write_header(dst, b'*', len);
}

/// Writes one bulk string: `$<len>\r\n<data>\r\n`.
pub fn write_bulk(dst: &mut impl BufMut, data: &[u8]) {
    write_header(dst, b'$', data.len());
    dst.put_slice(data);
    dst.put_slice(b"\r\n");
}

#[inline]
fn write_header(dst: &mut impl BufMut, kind: u8, len: usize) {
    // Most arguments and commands are short: their header is written in one piece, by
    // code small enough to inline where arguments are written.
    match u8::try_from(len) {
        Ok(small @ 0..10) => dst.put_slice(&[kind, b'0' + small, b'\r', b'\n']),
        Ok(small @ 10..100) => {
            dst.put_slice(&[kind, b'0' + small / 10, b'0' + small % 10, b'\r', b'\n']);
        }
        _ => write_long_header(dst, kind, len),
    }
}

#[cold]
#[inline(never)]
fn write_long_header(dst: &mut impl BufMut, kind: u8, len: usize) {
    let mut digits = DecimalBuf::new();
    dst.put_u8(kind);
    dst.put_slice(digits.format_u64(len as u64));
    dst.put_slice(b"\r\n");
}

/// Encodes a command as the server expects it: an array of bulk strings.
///
/// # Examples
///
/// ```
/// let mut buf = Vec::new();
/// respec::protocol::encode_command(&mut buf, [&b"GET"[..], b"key"]);
/// assert_eq!(buf, b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
/// ```
pub fn encode_command<'a, I>(dst: &mut impl BufMut, args: I)
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: ExactSizeIterator,
{
    let args = args.into_iter();
    write_array_header(dst, args.len());
    for arg in args {
        write_bulk(dst, arg);
    }
}

/// Encodes `value` in RESP3, the form a RESP3 server would send it in.
///
/// The client itself only ever sends commands ([`encode_command`]); this is for tests,
/// proxies and fake servers that need to produce replies.
pub fn encode_value(dst: &mut impl BufMut, value: &Value) {
    match value {
        Value::Nil => dst.put_slice(b"_\r\n"),
        Value::SimpleString(s) => write_line(dst, b'+', s),
        Value::ServerError(e) => write_line(dst, b'-', e.to_string().as_bytes()),
        Value::BulkString(s) => write_bulk(dst, s),
        Value::VerbatimString { format, text } => {
            write_header(dst, b'=', text.len() + 4);
            dst.put_slice(format);
            dst.put_u8(b':');
            dst.put_slice(text);
            dst.put_slice(b"\r\n");
        }
        Value::Int(n) => write_line(dst, b':', DecimalBuf::new().format_i64(*n)),
        Value::Double(d) => write_line(dst, b',', FloatBuf::new().format_f64(*d)),
        Value::Boolean(b) => dst.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Value::BigNumber(n) => write_line(dst, b'(', n),
        Value::Array(items) => write_items(dst, b'*', items),
        Value::Set(items) => write_items(dst, b'~', items),
        Value::Push(items) => write_items(dst, b'>', items),
        Value::Map(pairs) => {
            write_header(dst, b'%', pairs.len());
            for (k, v) in pairs {
                encode_value(dst, k);
                encode_value(dst, v);
            }
        }
    }
}

fn write_line(dst: &mut impl BufMut, kind: u8, body: &[u8]) {
    dst.put_u8(kind);
    dst.put_slice(body);
    dst.put_slice(b"\r\n");
}

fn write_items(dst: &mut impl BufMut, kind: u8, items: &[Value]) {
    write_header(dst, kind, items.len());
    for item in items {
        encode_value(dst, item);
    }
}

/// Formats integers in decimal on the stack.
#[derive(Debug)]
pub(crate) struct DecimalBuf {
    /// Room for `u128::MAX` (39 digits) and a sign.
    bytes: [u8; 40],
}

// The buffer holds 39 digits and a sign, the most any integer up to 128 bits needs, so
// `fill` never runs off its start and every slice below is in range.
#[allow(clippy::indexing_slicing)]
impl DecimalBuf {
    pub(crate) fn new() -> Self {
        DecimalBuf { bytes: [0; 40] }
    }

    pub(crate) fn format_u64(&mut self, n: u64) -> &[u8] {
        self.format_u128(u128::from(n))
    }

    pub(crate) fn format_i64(&mut self, n: i64) -> &[u8] {
        self.format_i128(i128::from(n))
    }

    pub(crate) fn format_i128(&mut self, n: i128) -> &[u8] {
        let start = self.fill(n.unsigned_abs());
        if n < 0 {
            let sign = start - 1;
            self.bytes[sign] = b'-';
            &self.bytes[sign..]
        } else {
            &self.bytes[start..]
        }
    }

    pub(crate) fn format_u128(&mut self, n: u128) -> &[u8] {
        let start = self.fill(n);
        &self.bytes[start..]
    }

    /// Writes the digits of `n` at the end of the buffer; returns where they start.
    fn fill(&mut self, mut n: u128) -> usize {
        let mut pos = self.bytes.len();
        // Narrow to u64 as soon as possible: 128-bit division is slow.
        while n > u128::from(u64::MAX) {
            pos -= 1;
            self.bytes[pos] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let mut n = n as u64;
        loop {
            pos -= 1;
            self.bytes[pos] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return pos;
            }
        }
    }
}

/// Formats floats on the stack in the shortest form that reads back to the same value,
/// in a syntax the server's `strtod` accepts: `1.5`, `1e300`, `inf`, `-inf`.
#[derive(Debug)]
pub(crate) struct FloatBuf {
    bytes: [u8; 48],
    len: usize,
}

impl FloatBuf {
    pub(crate) fn new() -> Self {
        FloatBuf {
            bytes: [0; 48],
            len: 0,
        }
    }

    pub(crate) fn format_f64(&mut self, v: f64) -> &[u8] {
        let plain = v == 0.0 || (1e-5..1e16).contains(&v.abs());
        self.format(v.is_nan(), v.is_infinite(), v < 0.0, |w| {
            if plain {
                write!(w, "{v}")
            } else {
                write!(w, "{v:e}")
            }
        })
    }

    pub(crate) fn format_f32(&mut self, v: f32) -> &[u8] {
        let plain = v == 0.0 || (1e-5..1e16).contains(&v.abs());
        self.format(v.is_nan(), v.is_infinite(), v < 0.0, |w| {
            if plain {
                write!(w, "{v}")
            } else {
                write!(w, "{v:e}")
            }
        })
    }

    fn format(
        &mut self,
        is_nan: bool,
        is_infinite: bool,
        is_negative: bool,
        write: impl FnOnce(&mut Self) -> fmt::Result,
    ) -> &[u8] {
        if is_nan {
            return b"nan";
        }
        if is_infinite {
            return if is_negative { b"-inf" } else { b"inf" };
        }
        self.len = 0;
        // The shortest round-trip forms are at most 24 bytes: this cannot fail.
        let _ = write(self);
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Write for FloatBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let mut buf = DecimalBuf::new();
        assert_eq!(buf.format_u64(0), b"0");
        assert_eq!(buf.format_i64(-1), b"-1");
        assert_eq!(buf.format_i64(i64::MIN), b"-9223372036854775808");
        assert_eq!(
            buf.format_u128(u128::MAX),
            b"340282366920938463463374607431768211455"
        );
        assert_eq!(
            buf.format_i128(i128::MIN),
            b"-170141183460469231731687303715884105728"
        );
    }

    #[test]
    fn floats_are_shortest_and_round_trip() {
        let mut buf = FloatBuf::new();
        assert_eq!(buf.format_f64(0.1), b"0.1");
        assert_eq!(buf.format_f64(1.0), b"1");
        assert_eq!(buf.format_f64(-0.0), b"-0");
        assert_eq!(buf.format_f64(1e300), b"1e300");
        assert_eq!(buf.format_f64(1.5e-7), b"1.5e-7");
        assert_eq!(buf.format_f64(f64::INFINITY), b"inf");
        assert_eq!(buf.format_f64(f64::NEG_INFINITY), b"-inf");
        assert_eq!(buf.format_f64(f64::NAN), b"nan");
        assert_eq!(buf.format_f32(0.1), b"0.1");
        for v in [
            f64::MAX,
            f64::MIN_POSITIVE,
            -1.234_567_890_123_456_7e-300,
            1e16,
        ] {
            let text = std::str::from_utf8(buf.format_f64(v)).unwrap().to_owned();
            assert_eq!(text.parse::<f64>().unwrap(), v, "{text}");
        }
    }

    #[test]
    fn commands() {
        let mut buf = Vec::new();
        encode_command(&mut buf, [&b"SET"[..], b"k", b""]);
        assert_eq!(buf, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn headers_of_every_width() {
        // Lengths below 100 take a short path; the rest the general one.
        for len in [0, 1, 9, 10, 42, 99, 100, 101, 255, 256, 1000, 65_536] {
            let data = vec![b'x'; len];
            let mut buf = Vec::new();
            write_bulk(&mut buf, &data);
            let mut expected = format!("${len}\r\n").into_bytes();
            expected.extend_from_slice(&data);
            expected.extend_from_slice(b"\r\n");
            assert_eq!(buf, expected, "{len}");

            let mut buf = Vec::new();
            write_array_header(&mut buf, len);
            assert_eq!(buf, format!("*{len}\r\n").into_bytes(), "{len}");
        }
    }
}
