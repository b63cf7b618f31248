//! The decoder under libFuzzer: the same checks as the suite's randomized test
//! (`tests/support/decode_check.rs`), on whatever bytes the fuzzer makes. The first two
//! bytes choose the limits and how the rest is split; the rest is fed to the decoder.

#![no_main]

#[path = "../../tests/support/decode_check.rs"]
mod decode_check;

use libfuzzer_sys::fuzz_target;
use respec::protocol::Limits;

fuzz_target!(|data: &[u8]| {
    let [limits, split, input @ ..] = data else {
        return;
    };
    let limits = if limits & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_bulk_len: usize::from(limits >> 1 & 0x0f),
            max_depth: 1 + usize::from(limits >> 5),
            max_aggregate_len: usize::from(split >> 4),
        }
    };
    let mut size = usize::from(split & 0x0f);
    decode_check::check(input, limits, None, || {
        size = size % 13 + 1;
        size
    });
});
