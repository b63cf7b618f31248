//! Code generation for respec's command surface.
//!
//! One pipeline, run by `cargo xtask codegen`: parse `commands.json` (serde) into a
//! checked model (`model`), render it with `quote` (`args`, `docs`, `render`), format
//! with prettyplease, add the `@generated` header, then compare with or write
//! `src/commands/generated/`. `spec` builds `commands.json` itself from the upstream
//! files, what live servers added to them (`live`, `cargo xtask spec --from-server`) and
//! the project's overrides (`cargo xtask spec`). The library never depends on this
//! crate.
//!
//! Problems in the input are reported by panicking with the file, the command and the
//! fix, which is what a developer running the task wants to read.

mod args;
mod docs;
pub mod live;
mod model;
mod names;
mod render;
pub mod spec;

use std::fs;
use std::path::{Path, PathBuf};

/// The project's command spec, relative to the project root.
pub const COMMANDS_JSON: &str = "commands.json";
/// The upstream specification files, relative to the project root.
pub const UPSTREAM_DIR: &str = "spec/upstream/commands";
/// What live servers added to the upstream files, relative to the project root.
pub const LIVE_DIR: &str = "spec/live";
/// The project's overrides, relative to the project root.
pub const OVERRIDES_JSON: &str = "spec/overrides.json";

/// A file the generator owns: its path below the project root and what it must hold.
#[derive(Debug)]
pub struct Output {
    pub path: PathBuf,
    pub contents: String,
}

/// Renders the generated sources from the text of `commands.json`.
#[must_use]
pub fn generate(commands_json: &str) -> Vec<Output> {
    let spec = model::parse(commands_json);
    render::render(&spec)
        .into_iter()
        .map(|(path, contents)| Output {
            path: PathBuf::from(path),
            contents,
        })
        .collect()
}

/// Renders `commands.json` from the upstream files and the overrides under `root`.
#[must_use]
pub fn generate_spec(root: &Path) -> Output {
    Output {
        path: PathBuf::from(COMMANDS_JSON),
        contents: spec::build(
            &root.join(UPSTREAM_DIR),
            &root.join(LIVE_DIR),
            &root.join(OVERRIDES_JSON),
        ),
    }
}

/// Renders the generated sources from `commands.json` under `root`.
///
/// # Panics
///
/// When `commands.json` cannot be read or is malformed.
#[must_use]
pub fn generate_sources(root: &Path) -> Vec<Output> {
    let path = root.join(COMMANDS_JSON);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    generate(&text)
}

/// The outputs whose file under `root` differs from what they must hold (newlines
/// normalised), or is missing.
#[must_use]
pub fn stale(root: &Path, outputs: &[Output]) -> Vec<PathBuf> {
    outputs
        .iter()
        .filter(|output| {
            fs::read_to_string(root.join(&output.path)).map_or(true, |current| {
                current.replace("\r\n", "\n") != output.contents
            })
        })
        .map(|output| output.path.clone())
        .collect()
}

/// Writes the outputs whose bytes changed; returns the paths written.
///
/// # Panics
///
/// When a file cannot be written.
#[must_use]
pub fn write(root: &Path, outputs: &[Output]) -> Vec<PathBuf> {
    let stale = stale(root, outputs);
    for output in outputs.iter().filter(|o| stale.contains(&o.path)) {
        let path = root.join(&output.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        fs::write(&path, &output.contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    stale
}
