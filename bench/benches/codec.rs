//! Micro-benchmarks of the codec and the conversions, with heap allocations per
//! operation counted by a counting global allocator and printed before the timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use respec::protocol::{Decoder, encode_command, encode_value};
use respec::{FromRedisValue, Value, cmd};

/// Counts every allocation (and reallocation) made through it.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds the
// `GlobalAlloc` contract; the counter has no effect on the memory handed out.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's `layout` contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`; the contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Heap allocations per call of `f`, averaged over `runs` calls after one warm-up.
fn allocations_per_op(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..runs {
        f();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / runs as f64
}

/// `*1000` of 32-byte bulk strings: an `LRANGE` reply.
fn array_of_bulks(len: usize) -> Vec<u8> {
    let items = (0..len)
        .map(|i| Value::BulkString(Bytes::from(format!("{i:0>32}"))))
        .collect();
    let mut buf = BytesMut::new();
    encode_value(&mut buf, &Value::Array(items));
    buf.to_vec()
}

/// An HGETALL reply under RESP2: field, value, field, value...
fn hash_of_pairs(len: usize) -> Value {
    Value::Array(
        (0..len)
            .flat_map(|i| {
                [
                    Value::BulkString(Bytes::from(format!("field:{i}"))),
                    Value::BulkString(Bytes::from(format!("{i:0>32}"))),
                ]
            })
            .collect(),
    )
}

fn decode_once(decoder: &mut Decoder, buf: &mut BytesMut, wire: &[u8]) -> Value {
    buf.extend_from_slice(wire);
    decoder
        .decode(buf)
        .expect("valid RESP")
        .expect("a whole frame")
}

/// Decodes `wire` and converts it straight from the frame, as a connection does.
fn decode_as<T: FromRedisValue>(decoder: &mut Decoder, buf: &mut BytesMut, wire: &[u8]) -> T {
    buf.extend_from_slice(wire);
    decoder
        .decode_with(buf, |frame| T::from_frame(frame))
        .expect("valid RESP")
        .expect("a whole frame")
        .expect("converts")
}

const TEN_ARGS: [&[u8]; 10] = [
    b"MSET", b"key:1", b"value-1", b"key:2", b"value-2", b"key:3", b"value-3", b"key:4",
    b"value-4", b"key:5",
];

fn build_and_pack(out: &mut Vec<u8>) {
    out.clear();
    cmd("MSET")
        .key("key:1")
        .arg("value-1")
        .key("key:2")
        .arg("value-2")
        .key("key:3")
        .arg("value-3")
        .key("key:4")
        .arg(4)
        .key("key:5")
        .write_packed(out);
}

/// What a pipelined client does before its write: queue 100 `SET`s and pack them.
fn build_pipeline(out: &mut Vec<u8>) {
    out.clear();
    let mut pipe = respec::pipe();
    for _ in 0..100 {
        pipe.set("bench:kp", b"0123456789abcdef").ignore();
    }
    pipe.write_packed(out);
}

fn report_allocations() {
    let wire = array_of_bulks(1000);
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(wire.len());
    let decode = allocations_per_op(1000, || {
        black_box(decode_once(&mut decoder, &mut buf, &wire));
    });

    let mut out = Vec::with_capacity(1024);
    let encode = allocations_per_op(1000, || {
        out.clear();
        encode_command(&mut out, TEN_ARGS);
        black_box(&out);
    });
    let build = allocations_per_op(1000, || {
        build_and_pack(&mut out);
        black_box(&out);
    });
    let eight = allocations_per_op(1000, || {
        out.clear();
        encode_command(&mut out, TEN_ARGS[..8].iter().copied());
        black_box(&out);
    });
    let value = decode_once(&mut decoder, &mut buf, &wire);
    let to_strings = allocations_per_op(1000, || {
        black_box(Vec::<String>::from_redis_value(value.clone()).expect("strings"));
    });
    let hash = hash_of_pairs(100);
    let to_map = allocations_per_op(1000, || {
        black_box(HashMap::<String, String>::from_redis_value(hash.clone()).expect("map"));
    });
    let map_wire = {
        let mut wire = BytesMut::new();
        encode_value(&mut wire, &hash);
        wire.to_vec()
    };
    let decode_strings = allocations_per_op(1000, || {
        black_box(decode_as::<Vec<String>>(&mut decoder, &mut buf, &wire));
    });
    let decode_map = allocations_per_op(1000, || {
        black_box(decode_as::<HashMap<String, String>>(
            &mut decoder,
            &mut buf,
            &map_wire,
        ));
    });
    let oks = b"+OK\r\n".repeat(100);
    let small = allocations_per_op(1000, || {
        buf.extend_from_slice(&oks);
        while let Some(value) = decoder.decode(&mut buf).expect("valid RESP") {
            black_box(value);
        }
    });
    let pipeline = allocations_per_op(1000, || build_pipeline(&mut out));
    println!("heap allocations per operation:");
    println!("  decode *1000 of 32-byte bulks        {decode:>8.1}");
    println!("  encode 8-arg command (slices)        {eight:>8.1}");
    println!("  encode 10-arg command (slices)       {encode:>8.1}");
    println!("  build Cmd + pack 10 args             {build:>8.1}");
    println!("  Vec<String> from 1000 bulks          {to_strings:>8.1}");
    println!("  HashMap<String, String> from 100     {to_map:>8.1}");
    println!("  decode into Vec<String>, 1000        {decode_strings:>8.1}");
    println!("  decode into HashMap, 100 pairs       {decode_map:>8.1}");
    println!("  decode 100 +OK replies one by one    {small:>8.1}");
    println!("  build 100 SETs in a pipeline, pack   {pipeline:>8.1}");
}

fn benches(c: &mut Criterion) {
    let wire = array_of_bulks(1000);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("array of 1000 x 32-byte bulks", |b| {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::with_capacity(wire.len());
        b.iter(|| black_box(decode_once(&mut decoder, &mut buf, &wire)));
    });
    group.finish();

    // A pipeline's replies: many small frames, each decoded on its own.
    let oks = b"+OK\r\n".repeat(100);
    group_small_frames(c, &oks);

    // What a connection does for a typed reply: decode and convert from the frame.
    let mut group = c.benchmark_group("decode into");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("Vec<String> from 1000 x 32-byte bulks", |b| {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::with_capacity(wire.len());
        b.iter(|| black_box(decode_as::<Vec<String>>(&mut decoder, &mut buf, &wire)));
    });
    let mut map_wire = BytesMut::new();
    encode_value(&mut map_wire, &hash_of_pairs(100));
    group.throughput(Throughput::Bytes(map_wire.len() as u64));
    group.bench_function("HashMap<String, String> from 100 pairs", |b| {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::with_capacity(map_wire.len());
        b.iter(|| {
            black_box(decode_as::<HashMap<String, String>>(
                &mut decoder,
                &mut buf,
                &map_wire,
            ))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("encode");
    group.bench_function("10-arg command into a reused buffer", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            encode_command(&mut out, black_box(TEN_ARGS));
            black_box(&out);
        });
    });
    group.bench_function("build Cmd with 10 args and pack", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            build_and_pack(&mut out);
            black_box(&out);
        });
    });
    group.finish();

    let mut group = c.benchmark_group("pipeline");
    group.bench_function("build 100 SETs and pack them", |b| {
        let mut out = Vec::with_capacity(8 * 1024);
        b.iter(|| {
            build_pipeline(&mut out);
            black_box(&out);
        });
    });
    group.finish();

    let mut group = c.benchmark_group("convert");
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let list = decode_once(&mut decoder, &mut buf, &wire);
    group.bench_function("Vec<String> from 1000 bulks", |b| {
        b.iter(|| black_box(Vec::<String>::from_redis_value(list.clone()).expect("strings")));
    });
    let hash = hash_of_pairs(100);
    group.bench_function("HashMap<String, String> from 100 pairs", |b| {
        b.iter(|| {
            black_box(HashMap::<String, String>::from_redis_value(hash.clone()).expect("map"))
        });
    });
    group.finish();
}

fn group_small_frames(c: &mut Criterion, oks: &[u8]) {
    let mut group = c.benchmark_group("decode small");
    group.bench_function("100 +OK replies, one by one", |b| {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::with_capacity(oks.len());
        b.iter(|| {
            buf.extend_from_slice(oks);
            while let Some(value) = decoder.decode(&mut buf).expect("valid RESP") {
                black_box(value);
            }
        });
    });
    group.finish();
}

fn main() {
    report_allocations();
    let mut criterion = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
