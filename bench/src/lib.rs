//! Benchmarks for respec: criterion micro-benchmarks in `benches/`, run with
//! `cargo xtask bench`.
