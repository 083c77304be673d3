//! The layering ARCHITECTURE.md promises, checked on the sources: each
//! top-level module of `src/` imports (`crate::...`) only modules below it
//! in the order below, so no import runs up the house and no two folders
//! import each other. Test modules (`#[cfg(test)] mod tests` and what
//! follows it) are not counted.

use std::collections::BTreeSet;
use std::path::Path;

/// From the top: a module may use only the ones after it.
const ORDER: &[&str] = &[
    "cli", "room", "run", "safety", "notify", "report", "record", "plan", "expect", "fault",
    "worker", "probe", "init", "docker", "gameday", "redact", "exit",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names as `crate::NAME`.
fn used(text: &str) -> BTreeSet<String> {
    let code = text
        .find("#[cfg(test)]\nmod tests {")
        .map_or(text, |at| &text[..at]);
    code.match_indices("crate::")
        .map(|(at, _)| {
            code[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| ORDER.contains(&m.as_str()))
        .collect()
}

#[test]
fn every_module_imports_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        let Some(rank) = ORDER.iter().position(|m| *m == module) else {
            // lib.rs, main.rs and testing.rs stand outside the layers.
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for other in used(&text) {
            let theirs = ORDER.iter().position(|m| *m == other).unwrap();
            if theirs < rank {
                upward.push(format!("{} uses crate::{other}", rel.display()));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run up the layers of ARCHITECTURE.md:\n{}",
        upward.join("\n")
    );
}

#[test]
fn every_top_level_module_has_its_place() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let outside = ["lib", "main", "testing", "snapshots"];
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let module = name.trim_end_matches(".rs");
        assert!(
            ORDER.contains(&module) || outside.contains(&module),
            "src/{name} has no place in the layers: add it to ORDER here and to ARCHITECTURE.md"
        );
    }
}
