//! Located diagnostics for gameday files: what went wrong, where
//! (`FILE:LINE:COL`), the offending line with a caret, and a hint. Rendering
//! is plain text so it reads the same in a terminal, a CI log and a snapshot.

use std::fmt::Write as _;

use super::yaml::Pos;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            pos,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

/// All diagnostics of one file, ready to print.
#[derive(Debug, Clone)]
pub struct FileDiagnostics {
    pub file: String,
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl FileDiagnostics {
    /// `FILE:LINE:COL: message`, then the line with a caret under the spot,
    /// then `= hint: ...`. Diagnostics come sorted by position.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let lines: Vec<&str> = self.source.lines().collect();
        for d in &self.diagnostics {
            if d.pos.line == 0 {
                let _ = writeln!(out, "{}: {}", self.file, d.message);
            } else {
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {}",
                    self.file, d.pos.line, d.pos.col, d.message
                );
                if let Some(line) = lines.get(d.pos.line as usize - 1) {
                    let number = d.pos.line.to_string();
                    let pad = " ".repeat(number.len());
                    let shown: String = line.chars().take(160).collect();
                    let col = (d.pos.col as usize).saturating_sub(1);
                    let width = token_width(line, col);
                    let _ = writeln!(out, "{pad} |");
                    let _ = writeln!(out, "{number} | {shown}");
                    let _ = writeln!(
                        out,
                        "{pad} | {}{}",
                        " ".repeat(col.min(160)),
                        "^".repeat(width)
                    );
                }
            }
            if let Some(hint) = &d.hint {
                let _ = writeln!(out, "  = hint: {hint}");
            }
            out.push('\n');
        }
        let n = self.diagnostics.len();
        let _ = writeln!(
            out,
            "{}: {} error{}",
            self.file,
            n,
            if n == 1 { "" } else { "s" }
        );
        out
    }
}

/// How many characters of `line` starting at `col` make up the token there:
/// a quoted string up to its closing quote, otherwise up to the next YAML
/// punctuation. At least one.
fn token_width(line: &str, col: usize) -> usize {
    let rest: Vec<char> = line.chars().skip(col).collect();
    let Some(first) = rest.first().copied() else {
        return 1;
    };
    let width = if first == '"' || first == '\'' {
        rest.iter()
            .skip(1)
            .position(|c| *c == first)
            .map(|p| p + 2)
            .unwrap_or(rest.len())
    } else {
        let stop = rest
            .iter()
            .position(|c| matches!(c, ':' | ',' | '}' | ']' | '#' | '{' | '['))
            .unwrap_or(rest.len());
        rest[..stop]
            .iter()
            .collect::<String>()
            .trim_end()
            .chars()
            .count()
    };
    width.clamp(1, 80)
}

/// The candidate closest to `word` by edit distance, if it is close enough to
/// be what the user meant.
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word_lower, &c.to_ascii_lowercase()), c))
        .filter(|(dist, c)| *dist <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(dist, _)| *dist)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_close_words_only() {
        let keys = ["duration", "description", "expected"];
        assert_eq!(nearest("duraton", keys), Some("duration"));
        assert_eq!(nearest("expectd", keys), Some("expected"));
        assert_eq!(nearest("zzz", keys), None);
    }

    #[test]
    fn token_width_covers_quoted_and_plain_tokens() {
        assert_eq!(token_width("  duraton: 20s", 2), 7);
        assert_eq!(token_width(r#"  x: "a b c" "#, 5), 7);
        assert_eq!(token_width("", 0), 1);
    }
}
