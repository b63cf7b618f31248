//! `FromRedisValue` and `ToRedisArgs`, one row per impl, error messages included.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use respec::protocol::{Decoder, encode_value};
use respec::{ErrorKind, FromRedisValue, ServerError, ToRedisArgs, Value, from_redis_value};

fn bulk(s: &str) -> Value {
    Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
}

fn simple(s: &str) -> Value {
    Value::SimpleString(Bytes::copy_from_slice(s.as_bytes()))
}

/// Converts `value` the way a connection converts a reply: encoded, decoded, and read
/// straight from the decoded frame.
fn via_frame<T: FromRedisValue>(value: &Value) -> respec::Result<T> {
    let mut buf = BytesMut::new();
    encode_value(&mut buf, value);
    let converted = Decoder::new()
        .decode_with(&mut buf, |frame| T::from_frame(frame))
        .expect("valid RESP")
        .expect("a whole frame");
    assert!(buf.is_empty());
    converted
}

/// Both conversion paths give `expected`.
#[track_caller]
fn ok<T: FromRedisValue + PartialEq + Debug>(value: Value, expected: &T) {
    let shown = format!("{value:?}");
    match via_frame::<T>(&value) {
        Ok(got) => assert_eq!(&got, expected, "from the frame of {shown}"),
        Err(e) => panic!("the frame of {shown} should convert: {e}"),
    }
    match from_redis_value::<T>(value) {
        Ok(got) => assert_eq!(&got, expected, "from {shown}"),
        Err(e) => panic!("{shown} should convert: {e}"),
    }
}

/// Both conversion paths fail with `message`.
#[track_caller]
fn err<T: FromRedisValue + Debug>(value: Value, message: &str) {
    for e in [
        via_frame::<T>(&value).expect_err(message),
        from_redis_value::<T>(value).expect_err(message),
    ] {
        assert_eq!(e.kind(), ErrorKind::Conversion, "{e}");
        assert_eq!(e.to_string(), message);
    }
}

#[test]
fn value_and_unit() {
    ok(Value::Int(3), &Value::Int(3));
    ok(Value::Nil, &());
    ok(bulk("anything"), &());
}

#[test]
fn booleans() {
    ok(Value::Boolean(true), &true);
    ok(Value::Int(0), &false);
    ok(Value::Int(1), &true);
    ok(Value::Int(2), &true);
    ok(bulk("1"), &true);
    ok(bulk("0"), &false);
    ok(simple("OK"), &true);
    ok(Value::Nil, &false);
    err::<bool>(bulk("yes"), r#"cannot convert bulk string "yes" to bool"#);
    err::<bool>(Value::Double(1.0), "cannot convert double 1.0 to bool");
}

#[test]
fn integers_of_every_width() {
    ok(Value::Int(-5), &-5i8);
    ok(Value::Int(300), &300i16);
    ok(Value::Int(-70_000), &-70_000i32);
    ok(Value::Int(i64::MIN), &i64::MIN);
    ok(Value::Int(7), &7i128);
    ok(Value::Int(7), &7isize);
    ok(Value::Int(255), &255u8);
    ok(Value::Int(65_535), &65_535u16);
    ok(Value::Int(7), &7u32);
    ok(Value::Int(i64::MAX), &(i64::MAX as u64));
    ok(Value::Int(7), &7u128);
    ok(Value::Int(7), &7usize);
    ok(bulk("18446744073709551615"), &u64::MAX);
    ok(bulk("-12"), &-12i64);
    ok(simple("42"), &42u8);
    ok(
        Value::BigNumber(Bytes::from_static(
            b"170141183460469231731687303715884105727",
        )),
        &i128::MAX,
    );
    ok(Value::Double(3.0), &3i32);
    ok(Value::Boolean(true), &1u8);
    err::<u8>(
        Value::Int(256),
        "cannot convert integer 256 to u8 (out of range)",
    );
    err::<u32>(
        Value::Int(-1),
        "cannot convert integer -1 to u32 (out of range)",
    );
    err::<i64>(bulk("12x"), r#"cannot convert bulk string "12x" to i64"#);
    err::<i64>(Value::Double(1.5), "cannot convert double 1.5 to i64");
    err::<i8>(
        Value::Double(1e10),
        "cannot convert double 10000000000.0 to i8 (out of range)",
    );
    err::<i64>(Value::Nil, "cannot convert nil to i64");
}

#[test]
fn floats() {
    ok(Value::Double(1.5), &1.5f64);
    ok(Value::Int(2), &2.0f64);
    ok(bulk("0.25"), &0.25f32);
    ok(bulk("inf"), &f64::INFINITY);
    ok(bulk("-inf"), &f64::NEG_INFINITY);
    ok(Value::Double(f64::NEG_INFINITY), &f64::NEG_INFINITY);
    assert!(from_redis_value::<f64>(bulk("nan")).unwrap().is_nan());
    err::<f64>(bulk("one"), r#"cannot convert bulk string "one" to f64"#);
}

#[test]
fn strings_and_bytes() {
    ok(bulk("héllo"), &"héllo".to_owned());
    ok(simple("OK"), &"OK".to_owned());
    ok(
        Value::VerbatimString {
            format: *b"txt",
            text: Bytes::from_static(b"text"),
        },
        &"text".to_owned(),
    );
    ok(Value::Int(-3), &"-3".to_owned());
    ok(Value::Double(0.1), &"0.1".to_owned());
    ok(
        Value::BigNumber(Bytes::from_static(b"123")),
        &"123".to_owned(),
    );
    err::<String>(
        Value::BulkString(Bytes::from_static(b"\xff\xfe")),
        r#"cannot convert bulk string "\xff\xfe" to String (invalid UTF-8)"#,
    );
    err::<String>(Value::Array(vec![]), "cannot convert array [] to String");

    ok(
        Value::BulkString(Bytes::from_static(b"\x00\xff")),
        &vec![0u8, 255],
    );
    ok(
        Value::BulkString(Bytes::from_static(b"\x00\xff")),
        &Bytes::from_static(b"\x00\xff"),
    );
    ok(simple("PONG"), &Bytes::from_static(b"PONG"));
    err::<Bytes>(Value::Int(1), "cannot convert integer 1 to Bytes");
    err::<Vec<u8>>(Value::Int(1), "cannot convert integer 1 to Vec<u8>");
}

#[test]
fn long_values_are_cut_in_messages() {
    let e = from_redis_value::<i64>(bulk(&"x".repeat(10_000))).unwrap_err();
    let text = e.to_string();
    assert!(text.len() < 150, "{text}");
    assert!(text.ends_with("... (10000 bytes) to i64"), "{text}");
}

#[test]
fn options() {
    ok(Value::Nil, &None::<String>);
    ok(bulk("x"), &Some("x".to_owned()));
    ok(
        Value::Array(vec![bulk("1"), Value::Nil]),
        &vec![Some(1), None],
    );
    err::<Option<i64>>(bulk("x"), r#"cannot convert bulk string "x" to i64"#);
}

#[test]
fn sequences() {
    let ints = Value::Array(vec![Value::Int(1), bulk("2"), Value::Int(3)]);
    ok(ints.clone(), &vec![1i64, 2, 3]);
    ok(Value::Set(vec![Value::Int(1)]), &vec![1u8]);
    ok(ints.clone(), &[1i64, 2, 3]);
    err::<[i64; 2]>(
        ints.clone(),
        r#"cannot convert array [1, "2", 3] to [i64; 2] (expected 2 elements)"#,
    );
    err::<Vec<i64>>(Value::Nil, "cannot convert nil to Vec<i64>");
    err::<Vec<i64>>(
        Value::Array(vec![Value::Int(1), bulk("x")]),
        r#"cannot convert bulk string "x" to i64"#,
    );
    // A map flattens to keys and values, as RESP2 sends it.
    ok(
        Value::Map(vec![(bulk("a"), bulk("1"))]),
        &vec!["a".to_owned(), "1".to_owned()],
    );
}

#[test]
fn tuples() {
    ok(Value::Array(vec![Value::Int(1)]), &(1i64,));
    ok(
        Value::Array(vec![bulk("a"), Value::Int(2), Value::Nil]),
        &("a".to_owned(), 2u8, None::<String>),
    );
    let twelve = Value::Array((1..=12).map(Value::Int).collect());
    ok(
        twelve,
        &(
            1u8, 2u8, 3u8, 4u8, 5u8, 6u8, 7u8, 8u8, 9u8, 10u8, 11u8, 12u8,
        ),
    );
    err::<(i64, i64)>(
        Value::Array(vec![Value::Int(1)]),
        "cannot convert array [1] to (i64, i64) (expected 2 elements)",
    );
    // Pairs, flat (RESP2 WITHSCORES) and nested (RESP3), convert alike.
    let expected = vec![("m".to_owned(), 1.5f64), ("n".to_owned(), 2.0)];
    ok(
        Value::Array(vec![bulk("m"), bulk("1.5"), bulk("n"), bulk("2")]),
        &expected.clone(),
    );
    ok(
        Value::Array(vec![
            Value::Array(vec![bulk("m"), Value::Double(1.5)]),
            Value::Array(vec![bulk("n"), Value::Double(2.0)]),
        ]),
        &expected.clone(),
    );
    ok(
        Value::Map(vec![
            (bulk("m"), Value::Double(1.5)),
            (bulk("n"), Value::Double(2.0)),
        ]),
        &expected,
    );
    err::<Vec<(String, i64)>>(
        Value::Array(vec![bulk("a"), bulk("1"), bulk("b")]),
        r#"cannot convert array ["a", "1", "b"] to Vec<(String, i64)> (length is not a multiple of 2)"#,
    );
}

#[test]
fn maps() {
    let expected = HashMap::from([("a".to_owned(), 1i64), ("b".to_owned(), 2)]);
    ok(
        Value::Map(vec![(bulk("a"), Value::Int(1)), (bulk("b"), Value::Int(2))]),
        &expected.clone(),
    );
    ok(
        Value::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]),
        &expected.clone(),
    );
    ok(
        Value::Array(vec![
            Value::Array(vec![bulk("a"), Value::Int(1)]),
            Value::Array(vec![bulk("b"), Value::Int(2)]),
        ]),
        &expected,
    );
    ok(
        Value::Array(vec![bulk("b"), bulk("2"), bulk("a"), bulk("1")]),
        &BTreeMap::from([("a".to_owned(), 1u8), ("b".to_owned(), 2)]),
    );
    err::<HashMap<String, String>>(
        Value::Array(vec![bulk("a")]),
        r#"cannot convert array ["a"] to HashMap<String, String> (odd number of elements for key/value pairs)"#,
    );
    err::<BTreeMap<String, String>>(
        Value::Int(1),
        "cannot convert integer 1 to BTreeMap<String, String>",
    );
}

#[test]
fn sets() {
    ok(
        Value::Set(vec![bulk("x"), bulk("y")]),
        &HashSet::from(["x".to_owned(), "y".to_owned()]),
    );
    ok(
        Value::Array(vec![Value::Int(2), Value::Int(1), Value::Int(2)]),
        &BTreeSet::from([1u8, 2]),
    );
    err::<HashSet<String>>(
        bulk("x"),
        r#"cannot convert bulk string "x" to HashSet<String>"#,
    );
}

#[test]
fn error_replies_inside_aggregates_are_errors() {
    let value = Value::Array(vec![
        Value::Int(1),
        Value::ServerError(ServerError::new("ERR boom")),
    ]);
    for e in [
        via_frame::<Vec<i64>>(&value).unwrap_err(),
        from_redis_value::<Vec<i64>>(value.clone()).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Server);
        assert_eq!(e.to_string(), "ERR boom");
    }
    // Value keeps them, so nothing is lost.
    ok(value.clone(), &value);
}

#[test]
fn what_the_frame_path_reads_directly() {
    // The shapes typed replies read straight from the frame, and their near misses,
    // which go the general way; `ok` and `err` check both paths.
    let list = |items: &[&str]| Value::Array(items.iter().map(|s| bulk(s)).collect());
    ok(list(&["a", "b"]), &vec!["a".to_owned(), "b".to_owned()]);
    ok(list(&[]), &Vec::<String>::new());
    ok(
        Value::Push(vec![simple("x"), bulk("y")]),
        &vec!["x".to_owned(), "y".to_owned()],
    );
    ok(
        Value::Array(vec![bulk("a"), Value::Nil, Value::Int(3)]),
        &vec![Some("a".to_owned()), None, Some("3".to_owned())],
    );
    ok(
        Value::Array(vec![Value::Nil, list(&["1"])]),
        &vec![None, Some(vec![1u16])],
    );
    ok(bulk("bytes"), &b"bytes".to_vec());
    ok(
        Value::Map(vec![(bulk("k"), list(&["v", "w"]))]),
        &HashMap::from([("k".to_owned(), vec!["v".to_owned(), "w".to_owned()])]),
    );
    ok(
        Value::Array(vec![list(&["k", "v"])]),
        &HashMap::from([("k".to_owned(), "v".to_owned())]),
    );
    ok(
        Value::Array(vec![bulk("m"), bulk("1.5"), bulk("n"), bulk("2")]),
        &vec![("m".to_owned(), 1.5f64), ("n".to_owned(), 2.0)],
    );
    ok(Value::Int(-7), &-7i64);
    ok(bulk("42"), &42u64);
    err::<u8>(
        Value::Int(300),
        "cannot convert integer 300 to u8 (out of range)",
    );
    err::<Vec<String>>(
        Value::Array(vec![
            bulk("ok"),
            Value::BulkString(Bytes::from_static(b"\xff")),
        ]),
        r#"cannot convert bulk string "\xff" to String (invalid UTF-8)"#,
    );
    err::<HashMap<String, i64>>(
        Value::Array(vec![bulk("a"), bulk("x")]),
        r#"cannot convert bulk string "x" to i64"#,
    );
}

fn args(value: impl ToRedisArgs) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    value.write_redis_args(&mut out);
    out
}

fn strs(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
#[allow(clippy::needless_borrows_for_generic_args)] // The impls for references are under test.
fn arguments() {
    assert_eq!(args("a"), strs(&["a"]));
    assert_eq!(args(String::from("b")), strs(&["b"]));
    assert_eq!(args(&b"\x00\xff"[..]), vec![vec![0, 255]]);
    assert_eq!(args(vec![1u8, 2]), vec![vec![1, 2]]);
    assert_eq!(args([7u8; 3]), vec![vec![7, 7, 7]]);
    assert_eq!(args(Bytes::from_static(b"c")), strs(&["c"]));
    assert_eq!(args(bytes::BytesMut::from("d")), strs(&["d"]));
    assert_eq!(args(5u8), strs(&["5"]));
    assert_eq!(args(-5i8), strs(&["-5"]));
    assert_eq!(args(i16::MIN), strs(&["-32768"]));
    assert_eq!(args(u32::MAX), strs(&["4294967295"]));
    assert_eq!(args(i64::MIN), strs(&["-9223372036854775808"]));
    assert_eq!(args(u64::MAX), strs(&["18446744073709551615"]));
    assert_eq!(
        args(i128::MIN),
        strs(&["-170141183460469231731687303715884105728"])
    );
    assert_eq!(
        args(u128::MAX),
        strs(&["340282366920938463463374607431768211455"])
    );
    assert_eq!(args(-3isize), strs(&["-3"]));
    assert_eq!(args(3usize), strs(&["3"]));
    assert_eq!(args(0.1f64), strs(&["0.1"]));
    assert_eq!(args(0.1f32), strs(&["0.1"]));
    assert_eq!(args(1e300), strs(&["1e300"]));
    assert_eq!(args(f64::INFINITY), strs(&["inf"]));
    assert_eq!(args(f64::NEG_INFINITY), strs(&["-inf"]));
    assert_eq!(args(true), strs(&["1"]));
    assert_eq!(args(false), strs(&["0"]));
    assert_eq!(args(&&"ref"), strs(&["ref"]));
    assert_eq!(args(Box::new(9)), strs(&["9"]));
    assert_eq!(args(["x", "y"]), strs(&["x", "y"]));
    assert_eq!(args(&["x", "y"][..]), strs(&["x", "y"]));
    assert_eq!(args(vec![1i64, 2]), strs(&["1", "2"]));
    assert_eq!(args(("k", 1, 2.5)), strs(&["k", "1", "2.5"]));
    assert_eq!(
        args((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)),
        strs(&[
            "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"
        ])
    );
    assert_eq!(
        args(BTreeMap::from([("b", 2), ("a", 1)])),
        strs(&["a", "1", "b", "2"])
    );
    assert_eq!(args(HashMap::from([("a", 1)])), strs(&["a", "1"]));
    assert_eq!(args(BTreeSet::from(["z", "y"])), strs(&["y", "z"]));
    assert_eq!(args(HashSet::from(["s"])), strs(&["s"]));
    assert_eq!(
        args(vec![("f1", "v1"), ("f2", "v2")]),
        strs(&["f1", "v1", "f2", "v2"])
    );
}

#[test]
fn bool_and_float_arguments_round_trip() {
    for b in [true, false] {
        let arg = args(b).remove(0);
        ok(Value::BulkString(Bytes::from(arg)), &b);
    }
    for f in [
        0.1,
        -2.5e-300,
        1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
        123_456.789,
    ] {
        let arg = args(f).remove(0);
        ok(Value::BulkString(Bytes::from(arg)), &f);
    }
}
