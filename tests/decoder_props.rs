//! Property tests of the decoder: any value, encoded and fed in any split, decodes to
//! itself; no byte sequence makes it panic; typed conversion straight from the frame
//! agrees with conversion from the built value.

mod support;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use respec::protocol::{Decoder, Limits, encode_value};
use respec::{FromRedisValue, ServerError, Value, from_redis_value};

/// A line body: no CR or LF.
fn line() -> impl Strategy<Value = Bytes> {
    vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..20,
    )
    .prop_map(Bytes::from)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        line().prop_map(Value::SimpleString),
        vec(any::<u8>(), 0..40).prop_map(|b| Value::BulkString(Bytes::from(b))),
        (
            any::<[u8; 3]>()
                .prop_filter("no CR/LF", |f| !f.contains(&b'\r') && !f.contains(&b'\n')),
            vec(any::<u8>(), 0..20)
        )
            .prop_map(|(format, text)| Value::VerbatimString {
                format,
                text: Bytes::from(text)
            }),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Double),
        Just(Value::Double(f64::INFINITY)),
        Just(Value::Double(f64::NEG_INFINITY)),
        any::<bool>().prop_map(Value::Boolean),
        "-?[0-9]{1,60}".prop_map(|s| Value::BigNumber(Bytes::from(s))),
        "[A-Z]{1,10} [ -~]{0,30}".prop_map(|s| Value::ServerError(ServerError::new(s))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec(inner.clone(), 0..8).prop_map(Value::Set),
            vec(inner.clone(), 0..8).prop_map(Value::Push),
            vec((inner.clone(), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

/// Values shaped like what typed replies hold: short strings, many of them numeric, with
/// nils and integers among them, in arrays, sets and maps.
fn stringy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => "[a-c0-9.]{0,3}".prop_map(|s| Value::BulkString(Bytes::from(s))),
        1 => "[a-c]{0,3}".prop_map(|s| Value::SimpleString(Bytes::from(s))),
        1 => Just(Value::Nil),
        1 => (-3i64..300).prop_map(Value::Int),
        1 => Just(Value::BulkString(Bytes::from_static(b"\xff"))),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec(inner.clone(), 0..6).prop_map(Value::Set),
            vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

/// Long arrays of strings, much of them multi-byte text, some of them thousands of bytes
/// long, and in half the arrays a few that are not UTF-8: a stray byte, a character cut
/// short. The frame path checks text a stretch of the frame at a time; no stretch may let
/// a bad string through or turn a good one away.
fn texty() -> impl Strategy<Value = Value> {
    let good = prop_oneof![
        8 => "[a-z\u{e9}\u{20ac}\u{1f600} ]{0,40}".prop_map(String::into_bytes),
        1 => ("[a-z\u{e9}]{1,8}", 200usize..800).prop_map(|(s, n)| s.repeat(n).into_bytes()),
    ];
    let bad = prop_oneof![
        Just(b"\xff".to_vec()),
        Just(vec![0xc3]),
        ("[a-z]{0,10}", 1usize..4).prop_map(|(s, cut)| {
            let mut b = format!("{s}\u{1f600}").into_bytes();
            b.truncate(b.len() - cut);
            b
        }),
    ];
    let mixed = prop_oneof![20 => good.clone(), 1 => bad];
    let bulk = |b: Vec<u8>| Value::BulkString(Bytes::from(b));
    prop_oneof![
        vec(good.prop_map(bulk), 0..300).prop_map(Value::Array),
        vec(mixed.prop_map(bulk), 0..300).prop_map(Value::Array),
    ]
}

/// Converts `value` to `T` from its decoded frame and from the value itself, and checks
/// that both give the same value or the same error. The value is written with RESP3
/// attributes before some of its elements, chosen by `seed`, as a server may send them.
fn both_paths_agree<T: FromRedisValue + std::fmt::Debug>(
    value: &Value,
    seed: u64,
) -> Result<(), TestCaseError> {
    both_paths_agree_by::<T>(value, seed, |v| format!("{v:?}"))
}

/// As [`both_paths_agree`], comparing successes by what `show` makes of them.
fn both_paths_agree_by<T: FromRedisValue>(
    value: &Value,
    seed: u64,
    show: impl Fn(&T) -> String,
) -> Result<(), TestCaseError> {
    let mut written = Vec::new();
    support::resp::write(&mut support::resp::Rng::new(seed), value, 3, &mut written);
    let mut buf = BytesMut::from(&written[..]);
    let from_frame = Decoder::new()
        .decode_with(&mut buf, |frame| T::from_frame(frame))
        .unwrap()
        .unwrap();
    let from_value = from_redis_value::<T>(value.clone());
    let show = |r: &respec::Result<T>| match r {
        Ok(v) => format!("Ok({})", show(v)),
        Err(e) => format!("Err({:?}: {e})", e.kind()),
    };
    prop_assert_eq!(
        show(&from_frame),
        show(&from_value),
        "converting {:?}",
        value
    );
    Ok(())
}

/// Values compared through their full `Debug` form, so that NaN equals NaN.
fn same(a: &[Value], b: &[Value]) -> bool {
    format!("{a:#?}") == format!("{b:#?}") && a.len() == b.len()
}

/// Feeds `bytes` in chunks of the given sizes (cycled), decoding after each chunk; returns
/// the values and how many bytes were left undecoded.
fn decode_in_chunks(
    bytes: &[u8],
    sizes: &[usize],
) -> Result<(Vec<Value>, usize), respec::protocol::ProtocolError> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(v) = decoder.decode(&mut buf)? {
            out.push(v);
        }
    }
    Ok((out, buf.len()))
}

/// What a pipeline's replies mostly are (`+OK`, `+QUEUED`, `:n`), among any others.
fn pipeline_reply() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop_oneof![Just("OK"), Just("QUEUED"), Just("PONG"), Just("OKAY")]
            .prop_map(|s| Value::SimpleString(Bytes::from_static(s.as_bytes()))),
        3 => any::<i64>().prop_map(Value::Int),
        1 => value(),
    ]
}

#[test]
fn malformed_short_lines_are_refused() {
    for bytes in [
        &b"+OK\n"[..],
        b"+OK\rX\n",
        b":\r\n",
        b":12x\r\n",
        b":99999999999999999999\r\n",
        b":-\r\n",
    ] {
        let mut buf = BytesMut::from(bytes);
        let got = Decoder::new().decode(&mut buf);
        assert!(
            got.is_err(),
            "{:?} gave {got:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // Whole lines only: a line cut short waits for the rest.
    let mut buf = BytesMut::from(&b":12"[..]);
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"3\r\n+OK\r");
    assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Value::Int(123)));
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\n");
    assert_eq!(
        decoder.decode(&mut buf).unwrap(),
        Some(Value::SimpleString(Bytes::from_static(b"OK")))
    );
    assert!(buf.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_split_decodes_to_the_same_values(
        // A few values of any shape, or a pipeline's worth of mostly short replies.
        values in prop_oneof![vec(value(), 1..4), vec(pipeline_reply(), 1..60)],
        sizes in vec(1usize..64, 1..8),
    ) {
        let mut encoded = BytesMut::new();
        for v in &values {
            encode_value(&mut encoded, v);
        }
        let (decoded, left) = decode_in_chunks(&encoded, &sizes).unwrap();
        prop_assert_eq!(left, 0);
        prop_assert!(same(&decoded, &values), "{decoded:?} != {values:?}");
    }

    #[test]
    fn typed_reads_from_the_frame_match_the_value_path(v in prop_oneof![stringy(), value()], seed in any::<u64>()) {
        both_paths_agree::<Value>(&v, seed)?;
        both_paths_agree::<String>(&v, seed)?;
        both_paths_agree::<Option<i64>>(&v, seed)?;
        both_paths_agree::<Vec<u8>>(&v, seed)?;
        both_paths_agree::<Bytes>(&v, seed)?;
        both_paths_agree::<Vec<String>>(&v, seed)?;
        both_paths_agree::<Vec<Option<String>>>(&v, seed)?;
        both_paths_agree::<Vec<Vec<String>>>(&v, seed)?;
        both_paths_agree::<Vec<(String, u8)>>(&v, seed)?;
        both_paths_agree::<Vec<u16>>(&v, seed)?;
        both_paths_agree::<BTreeMap<String, String>>(&v, seed)?;
        both_paths_agree::<BTreeMap<String, Vec<Option<String>>>>(&v, seed)?;
        // Hashed collections iterate in a different order each time: compare them sorted.
        both_paths_agree_by::<HashSet<String>>(&v, seed, |set| format!("{:?}", set.iter().collect::<BTreeSet<_>>()))?;
        both_paths_agree_by::<HashMap<String, String>>(&v, seed, |map| format!("{:?}", map.iter().collect::<BTreeMap<_, _>>()))?;
    }

    #[test]
    fn one_byte_at_a_time(v in value()) {
        let mut encoded = BytesMut::new();
        encode_value(&mut encoded, &v);
        let (decoded, left) = decode_in_chunks(&encoded, &[1]).unwrap();
        prop_assert_eq!(left, 0);
        prop_assert!(same(&decoded, std::slice::from_ref(&v)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256), sizes in vec(1usize..16, 1..4)) {
        let _ = decode_in_chunks(&bytes, &sizes);
    }

    #[test]
    fn arbitrary_resp_like_bytes_never_panic(
        parts in vec(prop_oneof![
            Just(b"*".to_vec()), Just(b"%".to_vec()), Just(b"|".to_vec()), Just(b"$".to_vec()),
            Just(b"~".to_vec()), Just(b">".to_vec()), Just(b"=".to_vec()), Just(b"!".to_vec()),
            Just(b":".to_vec()), Just(b",".to_vec()), Just(b"(".to_vec()), Just(b"#".to_vec()),
            Just(b"_".to_vec()), Just(b"+".to_vec()), Just(b"-".to_vec()),
            Just(b"\r\n".to_vec()), Just(b"-1".to_vec()), Just(b"?".to_vec()),
            (0u32..5).prop_map(|n| n.to_string().into_bytes()),
            vec(any::<u8>(), 0..4),
        ], 0..40),
    ) {
        let bytes = parts.concat();
        let _ = decode_in_chunks(&bytes, &[3]);
        let _ = decode_in_chunks(&bytes, &[1]);
    }

    #[test]
    fn mutated_encodings_never_panic(v in value(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut encoded = BytesMut::new();
        encode_value(&mut encoded, &v);
        let mut bytes = encoded.to_vec();
        for (idx, byte) in flips {
            let i = idx.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = decode_in_chunks(&bytes, &[7]);
    }

    #[test]
    fn tight_limits_reject_without_panicking(v in value()) {
        let mut encoded = BytesMut::new();
        encode_value(&mut encoded, &v);
        let mut decoder = Decoder::with_limits(Limits { max_bulk_len: 8, max_depth: 2, max_aggregate_len: 3 });
        let _ = decoder.decode(&mut encoded);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn text_read_a_stretch_at_a_time_matches_the_value_path(v in texty(), seed in any::<u64>()) {
        both_paths_agree::<Vec<String>>(&v, seed)?;
        both_paths_agree::<Vec<Option<String>>>(&v, seed)?;
        both_paths_agree::<Vec<(String, String)>>(&v, seed)?;
        both_paths_agree::<BTreeMap<String, String>>(&v, seed)?;
        both_paths_agree::<Vec<Vec<u8>>>(&v, seed)?;
    }
}
