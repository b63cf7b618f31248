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

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use bytes::Bytes;
use respec::Value;
use respec::protocol::Limits;
use support::decode_check::check;
use support::resp::{Rng, value, write};

/// Cases a run tries unless told otherwise: a few seconds on a slow machine.
const DEFAULT_CASES: usize = 20_000;

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
            check(&input, limits, expected.as_deref(), || {
                1 + case_rng.below(24)
            });
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
