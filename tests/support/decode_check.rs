//! The decoder's checks, shared by the randomized test in the suite
//! (`tests/decoder_fuzz.rs`) and the coverage-guided fuzz target (`fuzz/`), which
//! includes this file by path: it depends on std, bytes and respec alone.

use std::collections::BTreeMap;
use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use respec::protocol::{Decoder, Limits, ProtocolError};
use respec::{FromRedisValue, Value, from_redis_value};

/// Values compared by their full `Debug` form, so that NaN equals NaN.
pub fn show<T: Debug>(values: &T) -> String {
    format!("{values:?}")
}

/// What decoding a whole input gives: the values, or the first error with the values
/// before it.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    values: String,
    error: Option<ProtocolError>,
    /// Bytes left over that hold no whole frame.
    left: usize,
}

/// Decodes `input` fed in the pieces `pieces` gives.
pub fn decode(input: &[u8], limits: Limits, mut pieces: impl FnMut() -> usize) -> Outcome {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut values = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = pieces().clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(value)) => values.push(value),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        values: show(&values),
                        error: Some(error),
                        left: 0,
                    };
                }
            }
        }
    }
    Outcome {
        values: show(&values),
        error: None,
        left: buf.len(),
    }
}

/// Converts each frame of `input` to `T` from the frame and from its built value, and
/// returns where the two differ.
fn frame_path_differs<T: FromRedisValue + Debug>(input: &[u8], limits: Limits) -> Option<String> {
    frame_path_differs_by::<T>(input, limits, |v| format!("{v:?}"))
}

fn frame_path_differs_by<T: FromRedisValue>(
    input: &[u8],
    limits: Limits,
    show: impl Fn(&T) -> String,
) -> Option<String> {
    let show = |r: respec::Result<T>| match r {
        Ok(v) => format!("Ok({})", show(&v)),
        Err(e) => format!("Err({:?}: {e})", e.kind()),
    };
    let mut values = Decoder::with_limits(limits);
    let mut frames = Decoder::with_limits(limits);
    let mut by_value = BytesMut::from(input);
    let mut by_frame = BytesMut::from(input);
    loop {
        let Ok(Some(value)) = values.decode(&mut by_value) else {
            return None;
        };
        let Ok(Some(direct)) =
            frames.decode_with(&mut by_frame, |frame| show(T::from_frame(frame)))
        else {
            return Some("the frame path found no frame where the value path found one".into());
        };
        let via_value = show(from_redis_value::<T>(value.clone()));
        if direct != via_value {
            return Some(format!(
                "{}: from the frame {direct}, from the value {via_value}, for {value:?}",
                std::any::type_name::<T>()
            ));
        }
    }
}

/// Every check, on one input, panicking at the first that fails: fed whole, a byte at a
/// time, and in the pieces `pieces` gives, the input decodes to the same values or the
/// same error; a valid input (written from `expected`) decodes to what it was written
/// from; and typed conversions from each frame agree with those from its value.
pub fn check(
    input: &[u8],
    limits: Limits,
    expected: Option<&[Value]>,
    pieces: impl FnMut() -> usize,
) {
    let whole = decode(input, limits, || usize::MAX);
    let byte_by_byte = decode(input, limits, || 1);
    assert_eq!(byte_by_byte, whole, "fed a byte at a time");
    let in_pieces = decode(input, limits, pieces);
    assert_eq!(in_pieces, whole, "fed in random pieces");
    if let Some(expected) = expected {
        assert_eq!(whole.error, None, "a valid input was refused");
        assert_eq!(whole.values, show(&expected), "decoded to something else");
        assert_eq!(whole.left, 0, "bytes left over");
    }
    let differs = None
        .or_else(|| frame_path_differs::<Value>(input, limits))
        .or_else(|| frame_path_differs::<()>(input, limits))
        .or_else(|| frame_path_differs::<String>(input, limits))
        .or_else(|| frame_path_differs::<Option<String>>(input, limits))
        .or_else(|| frame_path_differs::<i64>(input, limits))
        .or_else(|| frame_path_differs::<Option<i64>>(input, limits))
        .or_else(|| frame_path_differs::<f64>(input, limits))
        .or_else(|| frame_path_differs::<bool>(input, limits))
        .or_else(|| frame_path_differs::<Bytes>(input, limits))
        .or_else(|| frame_path_differs::<Vec<String>>(input, limits))
        .or_else(|| frame_path_differs::<Vec<Option<String>>>(input, limits))
        .or_else(|| frame_path_differs::<Vec<Vec<u8>>>(input, limits))
        .or_else(|| frame_path_differs::<Vec<(String, i64)>>(input, limits))
        .or_else(|| frame_path_differs::<BTreeMap<String, String>>(input, limits))
        .or_else(|| frame_path_differs::<BTreeMap<String, Vec<Option<i64>>>>(input, limits))
        .or_else(|| {
            frame_path_differs_by::<std::collections::HashMap<String, Value>>(input, limits, |m| {
                format!("{:?}", m.iter().collect::<BTreeMap<_, _>>())
            })
        });
    if let Some(difference) = differs {
        panic!("the frame and value paths disagree: {difference}");
    }
}
