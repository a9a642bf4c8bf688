//! Tidy checks of the tree against what it says about itself (as rust-analyzer's tidy
//! tests do):
//!
//! - every file path and every type, function and module that ARCHITECTURE.md names in
//!   backticks still exists, so the map cannot drift from the code;
//! - the adapter's pure core (`bot-adapter/core`) depends on no IO crate and imports
//!   none: no sqlx, no tokio, no axum, no reqwest.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of the repository but build output and VCS data, relative to the root.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !(name == "target" || name.starts_with('.')) {
                    dirs.push(path);
                }
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out
}

/// What the Rust sources declare: type, trait, function, constant, module and macro
/// names, enum variants, and the module files (`ledger::session` for
/// `ledger/src/session.rs`).
struct Declared {
    names: HashSet<String>,
    modules: HashSet<String>,
}

const CRATES: &[(&str, &str)] = &[
    ("ledger", "ledger/src"),
    ("store", "store/src"),
    ("projections", "projections/src"),
    ("bot_core", "bot-adapter/core/src"),
    ("bot_adapter", "bot-adapter/src"),
    ("simulation", "bot-adapter/simulation/src"),
    ("bench", "benches/src"),
    ("croupier", "src"),
];

fn declared(root: &Path, files: &[PathBuf]) -> Declared {
    let mut names = HashSet::new();
    let mut modules = HashSet::new();
    let keywords = [
        "struct ",
        "enum ",
        "trait ",
        "type ",
        "fn ",
        "const ",
        "static ",
        "mod ",
        "macro_rules! ",
    ];
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sql"))
    {
        declare_tables(
            &std::fs::read_to_string(root.join(file)).unwrap(),
            &mut names,
        );
    }
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for line in text.lines() {
            let trimmed = line.trim_start();
            for keyword in keywords {
                if let Some(at) = trimmed.find(keyword) {
                    let before = &trimmed[..at];
                    let prefix_ok = before.is_empty()
                        || before.ends_with(' ')
                            && before.split_whitespace().all(|w| {
                                ["pub", "pub(crate)", "async", "unsafe", "const", "impl"]
                                    .contains(&w)
                                    || w.starts_with("pub(")
                            });
                    if prefix_ok {
                        let name: String = trimmed[at + keyword.len()..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        names.insert(name);
                    }
                }
            }
            // An enum variant: a capitalised word alone, or opening its fields.
            let word: String = trimmed
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if word.starts_with(|c: char| c.is_ascii_uppercase()) {
                let rest = trimmed[word.len()..].trim_start();
                if rest.is_empty() || rest.starts_with(['{', '(', ',', '=']) {
                    names.insert(word);
                }
            }
        }
        declare_tables(&text, &mut names);
        for (krate, dir) in CRATES {
            if let Ok(inner) = file.strip_prefix(dir) {
                let mut path = inner.with_extension("");
                if path
                    .file_name()
                    .is_some_and(|n| n == "mod" || n == "lib" || n == "main")
                {
                    path.pop();
                }
                let mut module = (*krate).to_owned();
                for part in path.iter() {
                    module.push_str("::");
                    module.push_str(&part.to_string_lossy());
                }
                modules.insert(module);
            }
        }
    }
    Declared { names, modules }
}

/// Tables and functions that SQL creates (in migrations, or in SQL inside Rust).
fn declare_tables(text: &str, names: &mut HashSet<String>) {
    let upper = text.to_ascii_uppercase();
    for keyword in [
        "CREATE TABLE ",
        "CREATE OR REPLACE FUNCTION ",
        "CREATE FUNCTION ",
    ] {
        for (at, _) in upper.match_indices(keyword) {
            let rest = text[at + keyword.len()..].trim_start();
            let rest = rest
                .strip_prefix("IF NOT EXISTS ")
                .or_else(|| rest.strip_prefix("if not exists "))
                .unwrap_or(rest);
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
}

/// The spans between backticks outside fenced code blocks.
fn cited(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            out.push(inside.to_owned());
        }
        // An odd last span (a backtick pair broken across lines) is not checked.
    }
    out
}

/// Names the standard library and the chosen dependencies declare, which the document
/// may cite as they are.
const EXTERNAL: &[&str] = &[
    "FromStr",
    "Display",
    "Debug",
    "Default",
    "Clone",
    "Option",
    "Result",
    "Vec",
    "String",
    "HashMap",
    "BTreeMap",
    "Instant",
    "Duration",
    "Cow",
    "Arc",
    "Mutex",
    "Serialize",
    "Deserialize",
    "Decimal",
    "Uuid",
    "AnyPool",
    "PgPool",
    "SqlitePool",
    "Router",
    "Session",
];

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// What is wrong with one cited span, if it names something that does not exist.
fn problem(span: &str, files: &[PathBuf], declared: &Declared) -> Option<String> {
    let span = span.trim();
    // `/balance`, `/healthz`: bot commands and HTTP routes, not files.
    let file_like = !span.starts_with('/')
        && !span.contains([' ', '*', '{', '<', '(', ':'])
        && (span.contains('/')
            || [".rs", ".md", ".toml", ".sql", ".py", ".json", ".sh"]
                .iter()
                .any(|e| span.ends_with(e)));
    if file_like {
        let path = span.trim_end_matches('/');
        let found = if span.contains('/') {
            files.iter().any(|f| {
                let f = f.to_string_lossy();
                f == path || f.starts_with(&format!("{path}/")) || f.contains(&format!("/{path}/"))
            })
        } else {
            files
                .iter()
                .any(|f| f.file_name().is_some_and(|n| n == path))
        };
        return (!found).then(|| format!("no file or folder '{span}'"));
    }
    // `Type`, `Type::function(...)`, `module::path`, `function(...) -> ...`: the words
    // before the first '(' or space.
    let head = span.split(['(', ' ', '<']).next().unwrap_or_default();
    let words: Vec<&str> = head.split("::").collect();
    if words.is_empty() || !words.iter().all(|w| is_identifier(w)) {
        return None;
    }
    if words.len() >= 2 && words[0].chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        if CRATES.iter().any(|(k, _)| *k == words[0]) {
            // A module path, possibly ending in an item.
            let module = words.join("::");
            let parent = words[..words.len() - 1].join("::");
            let last = words[words.len() - 1];
            let ok = declared.modules.contains(&module)
                || declared.modules.contains(&parent) && declared.names.contains(last);
            return (!ok).then(|| format!("no module or item '{head}'"));
        }
        return None;
    }
    let camel = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_uppercase()) && w.chars().any(|c| c.is_ascii_lowercase())
    };
    if !camel(words[0]) {
        // A bare `function(...)`: only when written as a call.
        if words.len() == 1 && span.starts_with(&format!("{head}(")) {
            return (!declared.names.contains(head)).then(|| format!("no function '{head}'"));
        }
        return None;
    }
    let missing: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !declared.names.contains(*w) && !EXTERNAL.contains(w))
        .collect();
    (!missing.is_empty()).then(|| format!("'{head}': nothing declares {}", missing.join(", ")))
}

fn problems(doc: &str, files: &[PathBuf], declared: &Declared) -> Vec<String> {
    let mut out: Vec<String> = cited(doc)
        .iter()
        .filter_map(|span| problem(span, files, declared))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_path_and_name_architecture_md_cites_exists() {
    let root = root();
    let files = files(&root);
    let declared = declared(&root, &files);
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    assert!(cited(&doc).len() > 100, "ARCHITECTURE.md cites the code");
    let found = problems(&doc, &files, &declared);
    assert!(
        found.is_empty(),
        "ARCHITECTURE.md is stale:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_tidy_check_catches_a_missing_file_type_function_and_module() {
    let root = root();
    let files = files(&root);
    let declared = declared(&root, &files);
    let doc = "`ledger/src/decide.rs` `Ledger::decide` `PlayerState` `store::group_commit` \
               `bot-adapter/src/gone.rs` `Vanished` `Ledger::vanished` `store::vanished` \
               `vanished(x)`\n```\n`Fenced`\n```\n";
    assert_eq!(
        problems(doc, &files, &declared),
        [
            "'Ledger::vanished': nothing declares vanished",
            "'Vanished': nothing declares Vanished",
            "no file or folder 'bot-adapter/src/gone.rs'",
            "no function 'vanished'",
            "no module or item 'store::vanished'",
        ]
    );
}

#[test]
fn the_adapter_core_depends_on_no_io_crate() {
    let root = root();
    let io = ["sqlx", "tokio", "axum", "reqwest", "hyper"];
    let manifest = std::fs::read_to_string(root.join("bot-adapter/core/Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("bot-core has dependencies")
        .split("\n[")
        .next()
        .unwrap();
    for line in dependencies.lines() {
        let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
        assert!(
            !io.contains(&name),
            "bot-adapter/core depends on {name}: the core must do no IO"
        );
    }
    let forbidden = [
        "sqlx::",
        "tokio::",
        "axum::",
        "reqwest::",
        "client_reqwest",
        "AsyncTelegramApi",
        "std::net",
        "std::fs",
    ];
    for file in files(&root.join("bot-adapter/core/src")) {
        let text = std::fs::read_to_string(root.join("bot-adapter/core/src").join(&file)).unwrap();
        for word in forbidden {
            assert!(
                !text.contains(word),
                "bot-adapter/core/src/{} uses {word}: the core must do no IO",
                file.display()
            );
        }
    }
}
