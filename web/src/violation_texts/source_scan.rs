//! The string literals of Rust sources outside their test code, for the
//! test that every description the services give has a German form. A
//! small lexer, enough for this workspace's sources: comments, strings,
//! raw strings, char literals and lifetimes, `#[cfg(test)]` modules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// `text` with each `{...}` as `{}`.
pub fn normalised(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        match (c, inside) {
            ('{', false) => {
                out.push_str("{}");
                inside = true;
            }
            ('}', true) => inside = false,
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// The string literals of the `.rs` files under `dir` outside test code,
/// each with its file.
pub fn literals_outside_tests(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    collect_rs(dir, &mut files);
    let mut test_files = HashSet::new();
    let mut sources = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let lexed = lex(&source);
        for name in test_modules(&lexed.code).file_modules {
            test_files.insert(module_file(&file, &name, "rs"));
            test_files.insert(module_file(&file, &name, "mod"));
        }
        sources.push((file, lexed));
    }
    for (file, lexed) in sources {
        if test_files.contains(&file) {
            continue;
        }
        let skipped = test_modules(&lexed.code).inline;
        for (at, literal) in lexed.literals {
            if !skipped.iter().any(|range| range.contains(&at)) {
                out.push((file.clone(), literal));
            }
        }
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file of module `name` declared (`mod name;`) in `file`: beside it
/// for `lib.rs`, `main.rs` and `mod.rs`, else in the folder named after
/// it; `kind` "rs" for `name.rs`, "mod" for `name/mod.rs`.
fn module_file(file: &Path, name: &str, kind: &str) -> PathBuf {
    let dir = file.parent().unwrap();
    let stem = file.file_stem().unwrap().to_str().unwrap();
    let base = if matches!(stem, "lib" | "main" | "mod") {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    match kind {
        "rs" => base.join(format!("{name}.rs")),
        _ => base.join(name).join("mod.rs"),
    }
}

/// A source split into its string literals (by where each starts, their
/// escapes resolved) and its code with literals and comments blanked out.
struct Lexed {
    literals: Vec<(usize, String)>,
    code: String,
}

fn lex(source: &str) -> Lexed {
    let chars: Vec<(usize, char)> = source.char_indices().collect();
    let mut literals = Vec::new();
    let mut code = String::with_capacity(source.len());
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = i;
        match c {
            '/' if at(i + 1) == Some('/') => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            '/' if at(i + 1) == Some('*') => {
                let mut depth = 0;
                loop {
                    match (at(i), at(i + 1)) {
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (Some(_), _) => i += 1,
                        (None, _) => break,
                    }
                }
            }
            'r' if matches!(at(i + 1), Some('"' | '#')) && !ident_before(&chars, i) => {
                let mut hashes = 0;
                i += 1;
                while at(i) == Some('#') {
                    hashes += 1;
                    i += 1;
                }
                if at(i) != Some('"') {
                    // `r#ident`, a raw identifier.
                    code.push(c);
                    i = start + 1;
                    continue;
                }
                i += 1;
                let mut text = String::new();
                while let Some(c) = at(i) {
                    if c == '"' && (1..=hashes).all(|k| at(i + k) == Some('#')) {
                        i += 1 + hashes;
                        break;
                    }
                    text.push(c);
                    i += 1;
                }
                literals.push((chars[start].0, text));
            }
            '"' => {
                i += 1;
                let mut text = String::new();
                while let Some(c) = at(i) {
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let escaped = at(i).unwrap_or_default();
                            i += 1;
                            match escaped {
                                'n' => text.push('\n'),
                                't' => text.push('\t'),
                                'r' => text.push('\r'),
                                '0' => text.push('\0'),
                                // A line continuation drops the line break
                                // and the next line's indentation.
                                '\n' => {
                                    while at(i).is_some_and(char::is_whitespace) {
                                        i += 1;
                                    }
                                }
                                'u' | 'x' => {
                                    // Not in any description; kept raw.
                                    text.push('\\');
                                    text.push(escaped);
                                }
                                other => text.push(other),
                            }
                        }
                        c => text.push(c),
                    }
                }
                literals.push((chars[start].0, text));
            }
            // A char literal ('x', '\n', '"'); a lifetime is left as code.
            '\'' if at(i + 1) == Some('\\') => {
                i += 2;
                while at(i).is_some_and(|c| c != '\'') {
                    i += 1;
                }
                i += 1;
            }
            '\'' if at(i + 2) == Some('\'') => i += 3,
            c => {
                code.push(c);
                i += 1;
                continue;
            }
        }
        // Blanked, keeping the code's byte offsets.
        let end = chars.get(i).map_or(source.len(), |&(at, _)| at);
        code.extend(std::iter::repeat_n(' ', end - chars[start].0));
    }
    Lexed { literals, code }
}

/// Whether the character before `i` continues an identifier (so an `r`
/// there is no raw string's start).
fn ident_before(chars: &[(usize, char)], i: usize) -> bool {
    i.checked_sub(1)
        .is_some_and(|before| chars[before].1.is_alphanumeric() || chars[before].1 == '_')
}

/// The `#[cfg(test)]` modules of a blanked source: the byte ranges of
/// those written inline, the names of those in files of their own.
struct TestModules {
    inline: Vec<std::ops::Range<usize>>,
    file_modules: Vec<String>,
}

fn test_modules(code: &str) -> TestModules {
    let mut modules = TestModules {
        inline: Vec::new(),
        file_modules: Vec::new(),
    };
    for (at, marker) in code.match_indices("#[cfg(test)]") {
        let mut rest = code[at + marker.len()..].trim_start();
        // Other attributes may follow.
        while rest.starts_with("#[") {
            let Some(close) = rest.find(']') else { break };
            rest = rest[close + 1..].trim_start();
        }
        let Some(after_mod) = rest.strip_prefix("mod ") else {
            continue;
        };
        let after_mod = after_mod.trim_start();
        let name: String = after_mod
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after_name = after_mod[name.len()..].trim_start();
        if after_name.starts_with(';') {
            modules.file_modules.push(name);
        } else if after_name.starts_with('{') {
            let open = code.len() - after_name.len();
            let mut depth = 0usize;
            let mut end = code.len();
            for (offset, c) in code[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + offset + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            modules.inline.push(at..end);
        }
    }
    modules
}

#[test]
fn the_lexer_reads_literals_and_skips_comments_chars_and_test_modules() {
    let source = r####"
// "in a comment"
/* "in /* a nested */ block" */
fn f<'a>(x: &'a str) -> char {
    let _ = r#"raw "quoted""#;
    let _ = "esc\"aped\
             continued";
    let _ = br"bytes";
    '"'
}
#[cfg(test)]
#[allow(unused)]
mod tests {
    fn g() { let _ = "in a test {}"; }
}
fn h() { let _ = "after"; }
"####;
    let lexed = lex(source);
    let skipped = test_modules(&lexed.code).inline;
    let kept: Vec<&str> = lexed
        .literals
        .iter()
        .filter(|(at, _)| !skipped.iter().any(|r| r.contains(at)))
        .map(|(_, text)| text.as_str())
        .collect();
    assert_eq!(
        kept,
        ["raw \"quoted\"", "esc\"apedcontinued", "bytes", "after"]
    );
    assert_eq!(lexed.code.len(), source.len());
}
