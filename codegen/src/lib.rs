//! Code generation for respec's command surface.
//!
//! The pipeline (parse `commands.json`, validate, render, format, write when changed) lands
//! with the codegen work; the library never depends on this crate.
