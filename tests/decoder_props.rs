//! Property tests of the decoder: any value, encoded and fed in any split, decodes to
//! itself; no byte sequence makes it panic.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use respec::protocol::{Decoder, Limits, encode_value};
use respec::{ServerError, Value};

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_split_decodes_to_the_same_values(
        values in vec(value(), 1..4),
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
