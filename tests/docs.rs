//! The README and `docs/` as a reader meets them, checked against this
//! binary: every `gameday COMMAND` and every flag they write in code exists
//! in that command's `--help`; every relative link reaches a file and, with
//! `#anchor`, a heading of it; the README's test command is the one `.ci/run`
//! runs; and the committed `gameday.schema.json` is what `gameday schema`
//! prints. Needs no Docker.
//!
//! How flags are read, in code spans and in shell code blocks (YAML and
//! other blocks are not commands): a fragment is cut at ` | `, `;`, `&&` and
//! `||`, a block line also at its ` #` comment. In a piece that runs
//! `gameday COMMAND` (or `.../gameday COMMAND`), every `-x`/`--flag` after it
//! must be a flag of COMMAND. A span that is only flags (`--seed N`) belongs
//! to the last `gameday COMMAND` written in code earlier in the same
//! paragraph, or, with none, must be a flag of some command (flags of other
//! tools are written after their tool's name, or listed in
//! [`OTHER_TOOLS_FLAGS`]). A piece that runs another program is not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use regex::Regex;

/// Flags of other tools that the pages write alone in a code span, where
/// the tool is named in the prose around them.
const OTHER_TOOLS_FLAGS: &[&str] = &[
    "--keep",          // scripts/datastores
    "--reps",          // bench/run
    "--only",          // bench/run
    "--queue-bypass",  // iptables NFQUEUE
    "--uts",           // docker run
    "--oom-score-adj", // docker run
    "--tlsverify",     // dockerd
    "--network",       // docker run
    "--workspace",     // cargo
    "--quick",         // cargo bench -- --quick
    "--locked",        // cargo install
    "--path",          // cargo install
    "--test",          // cargo test
    "--password",      // a HEALTHCHECK's argument that `gameday init` hides
];

/// The pages a reader is sent to: README.md and every docs/*.md.
fn pages() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| PathBuf::from("docs").join(p.file_name().expect("a file name")))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(root.join(&name))
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", name.display()));
            (name, text)
        })
        .collect()
}

/// A piece of code as the page writes it.
#[derive(Debug)]
struct Fragment {
    /// 1-based line of its start.
    line: usize,
    text: String,
    /// Its paragraph (spans) or block, counted from the top of the page.
    paragraph: usize,
    /// A code block's language (`None`: an inline span).
    block: Option<String>,
}

/// The page's code: each line of each fenced block, and each inline span
/// (which may run over several lines). Also returns the text outside code,
/// for links, with code replaced by spaces.
fn code_and_prose(text: &str) -> (Vec<Fragment>, String) {
    let mut fragments = Vec::new();
    let mut prose = String::new();
    let mut paragraph = 0;
    let mut fence: Option<(String, String)> = None; // (marker, language)
    let mut pending = String::new(); // prose lines of the current paragraph
    let mut pending_start = 1;
    let flush = |pending: &mut String,
                 start: usize,
                 paragraph: usize,
                 fragments: &mut Vec<Fragment>,
                 prose: &mut String| {
        let (spans, rest) = inline_spans(pending, start, paragraph);
        fragments.extend(spans);
        prose.push_str(&rest);
        pending.clear();
    };
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = line.trim_start();
        if let Some((marker, lang)) = &fence {
            if trimmed.starts_with(marker.as_str()) && trimmed.trim_matches('`').is_empty() {
                fence = None;
            } else {
                fragments.push(Fragment {
                    line: number,
                    text: line.to_string(),
                    paragraph,
                    block: Some(lang.clone()),
                });
            }
            prose.push('\n');
            continue;
        }
        if trimmed.starts_with("```") {
            flush(
                &mut pending,
                pending_start,
                paragraph,
                &mut fragments,
                &mut prose,
            );
            paragraph += 1;
            let marker: String = trimmed.chars().take_while(|c| *c == '`').collect();
            let lang = trimmed[marker.len()..].trim().to_string();
            fence = Some((marker, lang));
            prose.push('\n');
            continue;
        }
        if trimmed.is_empty() {
            flush(
                &mut pending,
                pending_start,
                paragraph,
                &mut fragments,
                &mut prose,
            );
            paragraph += 1;
            prose.push('\n');
            continue;
        }
        if pending.is_empty() {
            pending_start = number;
        }
        pending.push_str(line);
        pending.push('\n');
    }
    flush(
        &mut pending,
        pending_start,
        paragraph,
        &mut fragments,
        &mut prose,
    );
    (fragments, prose)
}

/// The inline code spans of a paragraph starting at line `start`, and the
/// paragraph with them blanked out.
fn inline_spans(text: &str, start: usize, paragraph: usize) -> (Vec<Fragment>, String) {
    let mut spans = Vec::new();
    let mut rest = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut line = start;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            if chars[i] == '\n' {
                line += 1;
            }
            rest.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        let open_line = line;
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let n = chars[j..].iter().take_while(|c| **c == '`').count();
                if n == run {
                    close = Some(j);
                    break;
                }
                j += n;
            } else {
                j += 1;
            }
        }
        let Some(close) = close else {
            // An unmatched backtick is text.
            rest.extend(&chars[i..i + run]);
            i += run;
            continue;
        };
        let body: String = chars[i + run..close].iter().collect();
        line += body.matches('\n').count();
        rest.extend(body.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
        spans.push(Fragment {
            line: open_line,
            text: body.replace('\n', " ").trim().to_string(),
            paragraph,
            block: None,
        });
        i = close + run;
    }
    (spans, rest)
}

/// The flags one `--help` lists.
fn flags_in_help(help: &str) -> BTreeSet<String> {
    let re = Regex::new(r"(?m)^\s+(?:(-[A-Za-z]), )?(--[a-z][a-z0-9-]*)").expect("a regex");
    let mut flags = BTreeSet::new();
    for c in re.captures_iter(help) {
        if let Some(short) = c.get(1) {
            flags.insert(short.as_str().to_string());
        }
        flags.insert(c[2].to_string());
    }
    flags
}

/// Each command's flags, read from the built binary's `--help` as needed;
/// `None` for a word that is not a command.
#[derive(Default)]
struct Helps(BTreeMap<String, Option<BTreeSet<String>>>);

impl Helps {
    fn flags(&mut self, command: &str) -> Option<&BTreeSet<String>> {
        self.0
            .entry(command.to_string())
            .or_insert_with(|| {
                let mut cmd = Command::cargo_bin("gameday").expect("the gameday binary");
                if !command.is_empty() {
                    cmd.arg(command);
                }
                let out = cmd.arg("--help").output().expect("gameday runs");
                let help = String::from_utf8_lossy(&out.stdout).to_string();
                let mut flags = out.status.success().then(|| flags_in_help(&help))?;
                // A command with subcommands (`helper status|install`): the
                // flags of any of them.
                if !command.is_empty() {
                    for sub in Helps::commands_in(&help) {
                        let out = Command::cargo_bin("gameday")
                            .expect("the gameday binary")
                            .args([command, &sub, "--help"])
                            .output()
                            .expect("gameday runs");
                        flags.extend(flags_in_help(&String::from_utf8_lossy(&out.stdout)));
                    }
                }
                Some(flags)
            })
            .as_ref()
    }

    /// The subcommands a `--help` lists (none without a Commands section).
    fn commands_in(help: &str) -> Vec<String> {
        let Some(section) = help
            .split("Commands:")
            .nth(1)
            .and_then(|s| s.split("Options:").next())
        else {
            return Vec::new();
        };
        let re = Regex::new(r"(?m)^  ([a-z][a-z-]*)\s").expect("a regex");
        re.captures_iter(section)
            .map(|c| c[1].to_string())
            .filter(|c| c != "help")
            .collect()
    }

    /// The commands `gameday --help` lists.
    fn listed_commands() -> Vec<String> {
        let out = Command::cargo_bin("gameday")
            .expect("the gameday binary")
            .arg("--help")
            .output()
            .expect("gameday runs");
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        let section = help
            .split("Commands:")
            .nth(1)
            .and_then(|s| s.split("Options:").next())
            .expect("gameday --help lists its commands");
        let re = Regex::new(r"(?m)^  ([a-z][a-z-]*)\s").expect("a regex");
        re.captures_iter(section)
            .map(|c| c[1].to_string())
            .filter(|c| c != "help")
            .collect()
    }
}

/// A piece of a fragment: one command, cut at pipes and separators.
fn pieces(fragment: &Fragment) -> Vec<String> {
    let mut text = fragment.text.replace("\\|", "/");
    if fragment.block.is_some()
        && let Some(at) = text.find(" #")
    {
        text.truncate(at);
    }
    if fragment.block.is_some() && text.trim_start().starts_with('#') {
        return Vec::new();
    }
    let mut out = vec![text];
    for sep in [" | ", "||", "&&", ";"] {
        out = out
            .iter()
            .flat_map(|p| p.split(sep).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    out
}

/// Is this block one of shell commands?
fn is_shell(lang: &str) -> bool {
    matches!(lang, "" | "sh" | "bash" | "shell" | "console")
}

/// A word as a flag: `--seed`, `-o`; `None` for anything else.
fn as_flag(token: &str) -> Option<String> {
    let token = token.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')' | ',' | '.' | '"'));
    let name = token.split('=').next().unwrap_or(token);
    let long = Regex::new(r"^--[a-z][a-z0-9-]*$").expect("a regex");
    let short = Regex::new(r"^-[A-Za-z]$").expect("a regex");
    (long.is_match(name) || short.is_match(name)).then(|| name.to_string())
}

/// What a piece runs: `Some((command, flags after it))` for `gameday
/// COMMAND ...` (command `""` for `gameday --version`).
fn gameday_invocation(piece: &str) -> Option<(String, Vec<String>)> {
    let tokens: Vec<&str> = piece.split_whitespace().collect();
    let at = tokens.iter().position(|t| {
        let t = t.trim_start_matches(['[', '(', '$']);
        t == "gameday" || t.ends_with("/gameday")
    })?;
    let next = tokens.get(at + 1)?;
    let word = Regex::new(r"^[a-z][a-z0-9-]*$").expect("a regex");
    let (command, from) = if word.is_match(next) {
        (next.to_string(), at + 2)
    } else if next.starts_with('-') {
        (String::new(), at + 1)
    } else {
        return None;
    };
    let flags = tokens[from..].iter().filter_map(|t| as_flag(t)).collect();
    Some((command, flags))
}

#[test]
fn every_command_and_flag_the_pages_write_exists() {
    let mut helps = Helps::default();
    let all_commands = Helps::listed_commands();
    let mut problems = Vec::new();
    for (page, text) in pages() {
        let (fragments, _) = code_and_prose(&text);
        // The last `gameday COMMAND` written in each paragraph so far.
        let mut last_command: BTreeMap<usize, String> = BTreeMap::new();
        for fragment in &fragments {
            if fragment
                .block
                .as_deref()
                .is_some_and(|lang| !is_shell(lang))
            {
                continue;
            }
            let at = format!("{}:{}", page.display(), fragment.line);
            for piece in pieces(fragment) {
                if let Some((command, flags)) = gameday_invocation(&piece) {
                    let shown = if command.is_empty() {
                        "gameday".to_string()
                    } else {
                        format!("gameday {command}")
                    };
                    let Some(known) = helps.flags(&command) else {
                        problems.push(format!(
                            "{at}: `{shown}` is not a command of this binary (in `{}`)",
                            piece.trim()
                        ));
                        continue;
                    };
                    for flag in flags {
                        if !known.contains(&flag) {
                            problems.push(format!(
                                "{at}: `{flag}` is not a flag of `{shown}` (in `{}`; its flags: {})",
                                piece.trim(),
                                known.iter().cloned().collect::<Vec<_>>().join(", ")
                            ));
                        }
                    }
                    if !command.is_empty() {
                        last_command.insert(fragment.paragraph, command);
                    }
                    continue;
                }
                // A span that is only flags (`--seed N`).
                if fragment.block.is_some() || !piece.trim_start().starts_with('-') {
                    continue;
                }
                let flags: Vec<String> = piece.split_whitespace().filter_map(as_flag).collect();
                for flag in flags {
                    if OTHER_TOOLS_FLAGS.contains(&flag.as_str()) {
                        continue;
                    }
                    match last_command.get(&fragment.paragraph).cloned() {
                        Some(command) => {
                            let known = helps.flags(&command).expect("seen before");
                            if !known.contains(&flag) {
                                problems.push(format!(
                                    "{at}: `{flag}` is not a flag of `gameday {command}`, the command this paragraph names last"
                                ));
                            }
                        }
                        None => {
                            let anywhere = all_commands
                                .iter()
                                .any(|c| helps.flags(c).is_some_and(|f| f.contains(&flag)));
                            if !anywhere {
                                problems.push(format!(
                                    "{at}: `{flag}` is a flag of no gameday command (name its tool before it, or its command in the paragraph)"
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens; a repeated one gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

#[test]
fn every_relative_link_reaches_a_file_and_a_heading() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let link = Regex::new(r"\]\(([^)\s]+)\)").expect("a regex");
    let mut problems = Vec::new();
    for (page, text) in pages() {
        let (_, prose) = code_and_prose(&text);
        for (i, line) in prose.lines().enumerate() {
            for c in link.captures_iter(line) {
                let target = &c[1];
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let at = format!("{}:{}", page.display(), i + 1);
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target, None),
                };
                let file = if path.is_empty() {
                    root.join(&page)
                } else {
                    root.join(page.parent().unwrap_or(Path::new(""))).join(path)
                };
                if !file.exists() {
                    problems.push(format!("{at}: `{target}`: no file {}", file.display()));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                let heads = std::fs::read_to_string(&file)
                    .map(|t| anchors(&t))
                    .unwrap_or_default();
                if !heads.contains(anchor) {
                    problems.push(format!(
                        "{at}: `{target}`: no heading `#{anchor}` in {} (its anchors: {})",
                        path_or_self(path, &page),
                        heads.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

fn path_or_self(path: &str, page: &Path) -> String {
    if path.is_empty() {
        page.display().to_string()
    } else {
        path.to_string()
    }
}

#[test]
fn the_readme_test_command_is_the_one_ci_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    let (fragments, _) = code_and_prose(&readme);
    let command = fragments
        .iter()
        .filter(|f| f.block.is_some())
        .map(|f| f.text.split(" #").next().unwrap_or("").trim().to_string())
        .find(|t| t.starts_with("cargo test"))
        .expect("README.md has a code block line starting with `cargo test`");
    assert!(
        ci.lines().any(|l| l.trim() == command),
        "README.md's test command `{command}` is not a line of .ci/run: CI must run what the README tells people to run"
    );
    let demo = fragments
        .iter()
        .filter(|f| f.block.is_some())
        .find(|f| f.text.trim_start().starts_with("scripts/demo"))
        .expect("README.md has a code block line running scripts/demo");
    let script = demo.text.split_whitespace().next().expect("a command");
    assert!(
        root.join(script).is_file(),
        "README.md:{}: `{script}` is not a file",
        demo.line
    );
}

#[test]
fn the_committed_schema_is_what_gameday_schema_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(root.join("gameday.schema.json")).unwrap_or_default();
    let out = Command::cargo_bin("gameday")
        .expect("the gameday binary")
        .arg("schema")
        .output()
        .expect("gameday schema runs");
    assert!(out.status.success(), "gameday schema failed");
    let printed = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        committed == printed,
        "gameday.schema.json (which the gameday files' `$schema` comments name) is not what \
         `gameday schema` prints: regenerate it with `cargo run -- schema > gameday.schema.json` \
         and commit it"
    );
}

#[test]
fn the_flag_reader_names_the_wrong_command() {
    // A flag written for the wrong command is found, at its line.
    let text = "Intro.\n\n```sh\ngameday history --index\n```\n\nSee `gameday plan --seed 7`\nand `--out DIR`.\n";
    let (fragments, _) = code_and_prose(text);
    let block = fragments
        .iter()
        .find(|f| f.block.is_some())
        .expect("a block line");
    assert_eq!(block.line, 4);
    assert_eq!(
        gameday_invocation(&pieces(block)[0]),
        Some(("history".to_string(), vec!["--index".to_string()]))
    );
    let mut helps = Helps::default();
    assert!(
        !helps
            .flags("history")
            .expect("history is a command")
            .contains("--index")
    );
    let spans: Vec<&Fragment> = fragments.iter().filter(|f| f.block.is_none()).collect();
    assert_eq!(spans[0].text, "gameday plan --seed 7");
    assert_eq!((spans[1].line, spans[1].paragraph), (8, spans[0].paragraph));
    assert!(
        !helps
            .flags("plan")
            .expect("plan is a command")
            .contains("--out")
    );
    assert!(helps.flags("no-such-command").is_none());
}
