//! A bounded randomized run over the decoder, in the normal suite: random bytes, valid
//! RESP2 and RESP3 frames of every type (attributes, pushes, maps, sets, big numbers,
//! verbatim strings), and mutations of them, each fed whole, a byte at a time and in
//! random pieces, under the default limits and under tiny ones. For every input:
//!
//! - nothing panics;
//! - every way of feeding it gives the same values, or the same error;
//! - a valid frame decodes to the value it was written from;
//! - each typed conversion gives the same result from the frame as from the built value.
//!
//! Set `RESPEC_FUZZ_SEED` to replay a run and `RESPEC_FUZZ_CASES` to run more cases. A
//! failure prints the seed, the case and the input. `cargo xtask fuzz` runs the
//! coverage-guided fuzzer for longer, where a nightly toolchain is present.

mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use bytes::{Bytes, BytesMut};
use respec::protocol::{Decoder, Limits, ProtocolError};
use respec::{FromRedisValue, Value, from_redis_value};
use support::resp::{Rng, value, write};

/// Cases a run tries unless told otherwise: a few seconds on a slow machine.
const DEFAULT_CASES: usize = 20_000;

/// Values compared by their full `Debug` form, so that NaN equals NaN.
fn show<T: Debug>(values: &T) -> String {
    format!("{values:?}")
}

/// What decoding a whole input gives: the values, or the first error with the values
/// before it.
#[derive(Debug, PartialEq)]
struct Outcome {
    values: String,
    error: Option<ProtocolError>,
    /// Bytes left over that hold no whole frame.
    left: usize,
}

/// Decodes `input` fed in the pieces `pieces` gives.
fn decode(input: &[u8], limits: Limits, mut pieces: impl FnMut() -> usize) -> Outcome {
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

/// Every check, on one input; `expected` is what a valid input was written from.
fn check(input: &[u8], limits: Limits, expected: Option<&[Value]>, rng: &mut Rng) {
    let whole = decode(input, limits, || usize::MAX);
    let byte_by_byte = decode(input, limits, || 1);
    assert_eq!(byte_by_byte, whole, "fed a byte at a time");
    let mut split = rng.clone();
    let pieces = decode(input, limits, || 1 + split.below(24));
    assert_eq!(pieces, whole, "fed in random pieces");
    if let Some(expected) = expected {
        assert_eq!(whole.error, None, "a valid input was refused");
        assert_eq!(whole.values, show(&expected), "decoded to something else");
        assert_eq!(whole.left, 0, "bytes left over");
    }
    let differs = None
        .or_else(|| frame_path_differs::<Value>(input, limits))
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

/// Changes a few bytes of `input`: overwrites, insertions, deletions.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..=rng.below(3) {
        if input.is_empty() {
            input.push(rng.next_u64() as u8);
            continue;
        }
        let at = rng.below(input.len());
        let byte = [b'\r', b'\n', b'*', b'|', b'$', b'%', b'-', b'0', b'9', b'_']
            .get(rng.below(14))
            .copied()
            .unwrap_or(rng.next_u64() as u8);
        match rng.below(3) {
            0 => input[at] = byte,
            1 => input.insert(at, byte),
            _ => {
                input.remove(at);
            }
        }
    }
}

fn tiny_limits(rng: &mut Rng) -> Limits {
    Limits {
        max_bulk_len: rng.below(12),
        max_depth: 1 + rng.below(3),
        max_aggregate_len: rng.below(5),
    }
}

fn seed() -> u64 {
    match std::env::var("RESPEC_FUZZ_SEED") {
        Ok(seed) => seed.parse().expect("RESPEC_FUZZ_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}

#[test]
fn random_and_mutated_inputs_decode_the_same_however_they_arrive() {
    let seed = seed();
    let cases: usize = std::env::var("RESPEC_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut rng = Rng::new(seed);
    for case in 0..cases {
        let mut case_rng = Rng::new(rng.next_u64());
        let kind = case % 4;
        let (input, expected) = match kind {
            // Random bytes, or bytes built from RESP's own pieces.
            0 => {
                let input = if case_rng.one_in(2) {
                    case_rng.bytes(64)
                } else {
                    let pieces: [&[u8]; 12] = [
                        b"*", b"%", b"|", b"$", b">", b"~", b":", b"_", b"\r\n", b"-1", b"2", b"+a",
                    ];
                    let count = case_rng.below(30);
                    (0..count)
                        .flat_map(|_| pieces[case_rng.below(pieces.len())].to_vec())
                        .collect()
                };
                (input, None)
            }
            // Valid frames, a few back to back, attributes anywhere.
            1 | 2 => {
                let count = 1 + case_rng.below(3);
                let values: Vec<Value> = (0..count).map(|_| value(&mut case_rng, 3)).collect();
                let mut input = Vec::new();
                for v in &values {
                    write(&mut case_rng, v, 4, &mut input);
                }
                (input, Some(values))
            }
            // Valid frames, mutated.
            _ => {
                let mut input = Vec::new();
                let written = value(&mut case_rng, 3);
                write(&mut case_rng, &written, 4, &mut input);
                mutate(&mut case_rng, &mut input);
                (input, None)
            }
        };
        let tiny = case_rng.one_in(3);
        let limits = if tiny {
            tiny_limits(&mut case_rng)
        } else {
            Limits::default()
        };
        let expected = expected.filter(|_| !tiny);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            check(&input, limits, expected.as_deref(), &mut case_rng);
        }));
        if let Err(panic) = outcome {
            eprintln!(
                "decoder fuzz failed: seed {seed}, case {case}, limits {limits:?}\ninput: {:?}\n\
                 replay with RESPEC_FUZZ_SEED={seed}",
                Bytes::from(input)
            );
            resume_unwind(panic);
        }
    }
    eprintln!("{cases} cases from seed {seed}");
}
