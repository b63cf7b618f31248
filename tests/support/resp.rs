//! RESP written the way a server may write it, for the decoder's randomized tests: every
//! type of both protocols, nulls in each of their three spellings, and RESP3 attributes
//! before any element, which the library's own encoder never writes. A small seeded
//! generator makes the same inputs again from the seed a failure prints.

use bytes::Bytes;
use respec::{ServerError, Value};

/// A splitmix64 generator: fast, and the same sequence from the same seed everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is `0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// `true` one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// Up to `max - 1` random bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// Up to `max - 1` bytes that may sit in a line: anything but CR and LF.
    pub fn line(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max);
        (0..len)
            .map(|_| match self.next_u64() as u8 {
                b'\r' | b'\n' => b'x',
                b => b,
            })
            .collect()
    }
}

/// A value of any type, nested up to `depth` levels.
pub fn value(rng: &mut Rng, depth: usize) -> Value {
    let kinds = if depth == 0 { 11 } else { 15 };
    match rng.below(kinds) {
        0 => Value::Nil,
        1 => Value::SimpleString(Bytes::from(rng.line(12))),
        2 => Value::BulkString(Bytes::from(rng.bytes(40))),
        3 => Value::Int(match rng.below(4) {
            0 => i64::MIN,
            1 => i64::MAX,
            _ => rng.next_u64() as i64 >> rng.below(64),
        }),
        4 => Value::Double(match rng.below(6) {
            0 => f64::INFINITY,
            1 => f64::NEG_INFINITY,
            2 => f64::NAN,
            _ => f64::from_bits(rng.next_u64()),
        }),
        5 => Value::Boolean(rng.one_in(2)),
        6 => {
            let digits: String = (0..=rng.below(50))
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            let sign = if rng.one_in(2) { "-" } else { "" };
            Value::BigNumber(Bytes::from(format!("{sign}{digits}")))
        }
        7 => {
            let mut format = rng.line(4);
            format.resize(3, b'x');
            Value::VerbatimString {
                format: [format[0], format[1], format[2]],
                text: Bytes::from(rng.bytes(20)),
            }
        }
        8 => {
            let message = String::from_utf8_lossy(&rng.line(20)).into_owned();
            Value::ServerError(ServerError::new(format!("ERR {message}")))
        }
        // Short text, as typed conversions like to read.
        9 => Value::BulkString(Bytes::from(rng.below(1000).to_string())),
        10 => Value::BulkString(Bytes::from_static(
            ["a", "b", "é", "\u{1f600}", "\u{ff}"][rng.below(5)].as_bytes(),
        )),
        kind => {
            let len = rng.below(6);
            let mut items = || (0..len).map(|_| value(rng, depth - 1)).collect::<Vec<_>>();
            match kind {
                11 => Value::Array(items()),
                12 => Value::Set(items()),
                13 => Value::Push(items()),
                _ => Value::Map(
                    (0..len)
                        .map(|_| (value(rng, depth - 1), value(rng, depth - 1)))
                        .collect(),
                ),
            }
        }
    }
}

/// Writes `value` as a server might, choosing among equivalent spellings (three nulls,
/// simple or blob errors) and putting an attribute before an element one time in
/// `attribute_odds` (never, when `0`). Decoding it gives `value` back.
pub fn write(rng: &mut Rng, value: &Value, attribute_odds: usize, out: &mut Vec<u8>) {
    if attribute_odds > 0 && rng.one_in(attribute_odds) {
        let pairs = rng.below(3);
        out.extend_from_slice(format!("|{pairs}\r\n").as_bytes());
        for _ in 0..pairs {
            let key = Value::SimpleString(Bytes::from(rng.line(8)));
            write(rng, &key, 0, out);
            let annotation = self::value(rng, 1);
            write(rng, &annotation, attribute_odds * 2, out);
        }
    }
    let line = |out: &mut Vec<u8>, kind: u8, body: &[u8]| {
        out.push(kind);
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    };
    let blob = |out: &mut Vec<u8>, kind: u8, body: &[u8]| {
        out.extend_from_slice(format!("{}{}\r\n", char::from(kind), body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    };
    match value {
        Value::Nil => out.extend_from_slice([&b"_\r\n"[..], b"$-1\r\n", b"*-1\r\n"][rng.below(3)]),
        Value::SimpleString(s) => line(out, b'+', s),
        Value::BulkString(s) => blob(out, b'$', s),
        Value::Int(n) => line(out, b':', n.to_string().as_bytes()),
        Value::Double(d) => {
            let text = if d.is_nan() {
                "nan".to_owned()
            } else if d.is_infinite() {
                if *d > 0.0 { "inf" } else { "-inf" }.to_owned()
            } else {
                format!("{d:e}")
            };
            line(out, b',', text.as_bytes());
        }
        Value::Boolean(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
        Value::BigNumber(digits) => line(out, b'(', digits),
        Value::VerbatimString { format, text } => {
            let mut body = format.to_vec();
            body.push(b':');
            body.extend_from_slice(text);
            blob(out, b'=', &body);
        }
        Value::ServerError(e) => {
            let text = e.to_string();
            if rng.one_in(2) {
                line(out, b'-', text.as_bytes());
            } else {
                blob(out, b'!', text.as_bytes());
            }
        }
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            let kind = match value {
                Value::Set(_) => '~',
                Value::Push(_) => '>',
                _ => '*',
            };
            out.extend_from_slice(format!("{kind}{}\r\n", items.len()).as_bytes());
            for item in items {
                write(rng, item, attribute_odds, out);
            }
        }
        Value::Map(pairs) => {
            out.extend_from_slice(format!("%{}\r\n", pairs.len()).as_bytes());
            for (key, value) in pairs {
                write(rng, key, attribute_odds, out);
                write(rng, value, attribute_odds, out);
            }
        }
        other => panic!("the test writer does not know {other:?}"),
    }
}
