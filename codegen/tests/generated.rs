//! The committed `commands.json` and generated sources match what the generators make,
//! and every command that is not excluded has its methods on every surface.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen lives one level below the project root")
        .to_owned()
}

#[test]
fn commands_json_is_fresh() {
    let root = root();
    let stale = respec_codegen::stale(&root, &[respec_codegen::generate_spec(&root)]);
    assert!(
        stale.is_empty(),
        "commands.json is stale against spec/: run `cargo xtask spec` and commit"
    );
}

#[test]
fn generated_sources_are_fresh() {
    let root = root();
    let stale = respec_codegen::stale(&root, &respec_codegen::generate_sources(&root));
    assert!(
        stale.is_empty(),
        "{stale:?} are stale against commands.json: run `cargo xtask codegen` and commit"
    );
}

/// The method names of a trait or inherent impl in a generated file.
fn methods(file: &str, owner: &str) -> BTreeSet<String> {
    let path = root().join("src/commands/generated").join(file);
    let text = std::fs::read_to_string(&path).expect("generated file is readable");
    let parsed = syn::parse_file(&text).expect("generated file parses");
    let mut names = BTreeSet::new();
    for item in parsed.items {
        match item {
            syn::Item::Trait(t) if t.ident == owner => {
                for item in t.items {
                    if let syn::TraitItem::Fn(f) = item {
                        names.insert(f.sig.ident.to_string());
                    }
                }
            }
            syn::Item::Impl(i)
                if i.trait_.is_none() && quote::quote!(#i.self_ty).to_string().contains(owner) =>
            {
                for item in i.items {
                    if let syn::ImplItem::Fn(f) = item {
                        names.insert(f.sig.ident.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    names
}

#[test]
fn every_command_has_its_methods_on_every_surface() {
    let text = std::fs::read_to_string(root().join("commands.json")).expect("commands.json");
    let spec: serde_json::Value = serde_json::from_str(&text).expect("commands.json parses");
    let sync = methods("sync.rs", "Commands");
    let asynch = methods("asynch.rs", "AsyncCommands");
    let pipeline = methods("pipeline.rs", "Pipeline");
    let sentinel = methods("sync.rs", "SentinelCommands");
    let sentinel_async = methods("asynch.rs", "AsyncSentinelCommands");

    let (mut n_commands, mut n_sentinel, mut n_excluded) = (0, 0, 0);
    for (name, command) in spec["commands"].as_object().expect("commands") {
        let method = command["respec"]["method"].as_str().expect("a method name");
        let mut wanted = vec![method.to_owned()];
        let has_options = command["arguments"]
            .as_array()
            .is_some_and(|args| args.iter().any(|a| a["optional"] == true));
        if has_options {
            wanted.push(format!("{method}_options"));
        }
        let surfaces: Vec<(&str, &BTreeSet<String>)> = match command["respec"]["surface"].as_str() {
            Some("commands") => {
                n_commands += 1;
                vec![
                    ("Commands", &sync),
                    ("AsyncCommands", &asynch),
                    ("Pipeline", &pipeline),
                ]
            }
            Some("sentinel") => {
                n_sentinel += 1;
                vec![
                    ("SentinelCommands", &sentinel),
                    ("AsyncSentinelCommands", &sentinel_async),
                ]
            }
            Some("excluded") => {
                n_excluded += 1;
                assert!(
                    command["respec"]["excluded"].is_string(),
                    "{name}: an exclusion needs a reason"
                );
                assert!(
                    !sync.contains(method),
                    "{name} is excluded but has a method"
                );
                continue;
            }
            _ => continue,
        };
        for (surface, names) in surfaces {
            for method in &wanted {
                assert!(
                    names.contains(method),
                    "{name}: {surface} has no method {method}"
                );
            }
        }
    }
    println!(
        "{n_commands} commands on Commands, AsyncCommands and Pipeline; {n_sentinel} on the Sentinel surfaces; {n_excluded} excluded with a reason"
    );
    assert!(n_commands > 300, "only {n_commands} commands");
}
