//! Benchmarks for respec.
